//! The on-disk format of `credentials/vault.json` (CONTRACT.md "The vault file").
//!
//! ```text
//! {"version":1,"kdf":{"name":"pbkdf2-hmac-sha256","iterations":600000,"salt":"<b64 32 bytes>"},
//!  "cipher":"aes-256-gcm","nonce":"<b64 12 bytes>","ciphertext":"<b64>"}
//! ```
//! Binary fields are standard padded base64, decoded strictly (canonical padding, no trailing
//! bits). Unknown fields are refused: a field this reader does not know is a field it cannot
//! authenticate. Everything but the nonce and ciphertext is bound to the ciphertext as AES-GCM
//! associated data by [`VaultFile::associated_data`]; the nonce is bound by GCM itself.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::VaultError;

/// The format version this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;
/// The only key-derivation function of format version 1.
pub const KDF_NAME: &str = "pbkdf2-hmac-sha256";
/// The only cipher of format version 1.
pub const CIPHER_NAME: &str = "aes-256-gcm";
/// Salt length in bytes (SPEC V2).
pub const SALT_LEN: usize = 32;
/// AES-GCM nonce length in bytes (SPEC V2).
pub const NONCE_LEN: usize = 12;
/// AES-GCM tag length in bytes.
pub const TAG_LEN: usize = 16;

/// The largest vault file this build reads.
///
/// # Security
/// The file is read whole into memory before anything is authenticated; the limit stops a planted
/// multi-gigabyte file from exhausting memory. 16 MiB holds [`crate::MAX_PAYLOAD_LEN`] in base64.
pub const MAX_FILE_LEN: usize = 16 * 1024 * 1024;

/// Domain separator at the start of the associated data.
const AAD_MAGIC: &[u8] = b"rampart-vault\0";

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    version: u32,
    kdf: RawKdf,
    cipher: String,
    nonce: String,
    ciphertext: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKdf {
    name: String,
    iterations: u32,
    salt: String,
}

/// A parsed vault file: the header, the nonce and the ciphertext, not yet authenticated.
///
/// Parsing checks shape only (JSON, base64, lengths, known version, KDF and cipher); the iteration
/// floor and ceiling are checked when opening, and authenticity by AES-GCM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultFile {
    iterations: u32,
    salt: [u8; SALT_LEN],
    nonce: [u8; NONCE_LEN],
    ciphertext: Vec<u8>,
}

impl VaultFile {
    /// Builds a file from its parts (the ciphertext includes the GCM tag).
    pub(crate) fn new(
        iterations: u32,
        salt: [u8; SALT_LEN],
        nonce: [u8; NONCE_LEN],
        ciphertext: Vec<u8>,
    ) -> Self {
        Self {
            iterations,
            salt,
            nonce,
            ciphertext,
        }
    }

    /// Parses the bytes of a vault file. Never panics, whatever the input.
    ///
    /// # Errors
    /// [`VaultError::FileTooLarge`], [`VaultError::Malformed`], [`VaultError::UnsupportedVersion`],
    /// [`VaultError::UnsupportedKdf`], [`VaultError::UnsupportedCipher`].
    pub fn parse(bytes: &[u8]) -> Result<Self, VaultError> {
        if bytes.len() > MAX_FILE_LEN {
            return Err(VaultError::FileTooLarge {
                len: bytes.len() as u64,
                max: MAX_FILE_LEN,
            });
        }
        let raw: RawFile = serde_json::from_slice(bytes)
            .map_err(|_| VaultError::Malformed("not a JSON object with the vault's fields"))?;
        if raw.version != FORMAT_VERSION {
            return Err(VaultError::UnsupportedVersion(raw.version));
        }
        if raw.kdf.name != KDF_NAME {
            return Err(VaultError::UnsupportedKdf);
        }
        if raw.cipher != CIPHER_NAME {
            return Err(VaultError::UnsupportedCipher);
        }
        let salt = decode_fixed::<SALT_LEN>(&raw.kdf.salt, "salt is not 32 bytes of base64")?;
        let nonce = decode_fixed::<NONCE_LEN>(&raw.nonce, "nonce is not 12 bytes of base64")?;
        let ciphertext = STANDARD
            .decode(raw.ciphertext.as_bytes())
            .map_err(|_| VaultError::Malformed("ciphertext is not base64"))?;
        if ciphertext.len() < TAG_LEN {
            return Err(VaultError::Malformed("ciphertext is shorter than its tag"));
        }
        Ok(Self {
            iterations: raw.kdf.iterations,
            salt,
            nonce,
            ciphertext,
        })
    }

    /// Serializes the file: compact JSON, fields in the contract's order, no trailing newline.
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let raw = RawFile {
            version: FORMAT_VERSION,
            kdf: RawKdf {
                name: KDF_NAME.to_owned(),
                iterations: self.iterations,
                salt: STANDARD.encode(self.salt),
            },
            cipher: CIPHER_NAME.to_owned(),
            nonce: STANDARD.encode(self.nonce),
            ciphertext: STANDARD.encode(&self.ciphertext),
        };
        // Serializing plain strings and integers into a Vec cannot fail.
        serde_json::to_vec(&raw).unwrap_or_default()
    }

    /// The PBKDF2 iteration count the header asks for (not yet authenticated).
    #[must_use]
    pub fn iterations(&self) -> u32 {
        self.iterations
    }

    /// The salt.
    #[must_use]
    pub fn salt(&self) -> &[u8; SALT_LEN] {
        &self.salt
    }

    /// The nonce of the last save.
    #[must_use]
    pub fn nonce(&self) -> &[u8; NONCE_LEN] {
        &self.nonce
    }

    /// The ciphertext with its 16-byte tag.
    #[must_use]
    pub fn ciphertext(&self) -> &[u8] {
        &self.ciphertext
    }

    /// The associated data that binds the header to the ciphertext: an unambiguous encoding of
    /// the version, KDF name, iteration count, salt and cipher name (fixed-width integers and
    /// length-prefixed strings after a domain separator).
    #[must_use]
    pub fn associated_data(&self) -> Vec<u8> {
        header_aad(self.iterations, &self.salt)
    }
}

/// The associated data for a header with this count and salt (see [`VaultFile::associated_data`]).
pub(crate) fn header_aad(iterations: u32, salt: &[u8; SALT_LEN]) -> Vec<u8> {
    let mut aad =
        Vec::with_capacity(AAD_MAGIC.len() + 4 + 1 + KDF_NAME.len() + 4 + 1 + 32 + 1 + 16);
    aad.extend_from_slice(AAD_MAGIC);
    aad.extend_from_slice(&FORMAT_VERSION.to_be_bytes());
    push_prefixed(&mut aad, KDF_NAME.as_bytes());
    aad.extend_from_slice(&iterations.to_be_bytes());
    push_prefixed(&mut aad, salt);
    push_prefixed(&mut aad, CIPHER_NAME.as_bytes());
    aad
}

fn push_prefixed(out: &mut Vec<u8>, field: &[u8]) {
    // Every field here is a constant or 32 bytes: its length fits a byte.
    out.push(u8::try_from(field.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(field);
}

fn decode_fixed<const N: usize>(b64: &str, reason: &'static str) -> Result<[u8; N], VaultError> {
    // Reject long input before decoding anything.
    if b64.len() != N.div_ceil(3) * 4 {
        return Err(VaultError::Malformed(reason));
    }
    let bytes = STANDARD
        .decode(b64.as_bytes())
        .map_err(|_| VaultError::Malformed(reason))?;
    bytes.try_into().map_err(|_| VaultError::Malformed(reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> VaultFile {
        VaultFile::new(600_000, [7; SALT_LEN], [9; NONCE_LEN], vec![1; 40])
    }

    #[test]
    fn round_trips_in_the_contract_layout() {
        let bytes = sample().to_bytes();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.starts_with(
            r#"{"version":1,"kdf":{"name":"pbkdf2-hmac-sha256","iterations":600000,"salt":""#
        ));
        assert!(text.contains(r#""cipher":"aes-256-gcm","nonce":""#));
        assert_eq!(VaultFile::parse(&bytes).unwrap(), sample());
    }

    #[test]
    fn refuses_unknown_fields_versions_and_algorithms() {
        let text = String::from_utf8(sample().to_bytes()).unwrap();
        let extra = text.replacen('{', r#"{"extra":1,"#, 1);
        assert!(matches!(
            VaultFile::parse(extra.as_bytes()),
            Err(VaultError::Malformed(_))
        ));
        let v2 = text.replace(r#""version":1"#, r#""version":2"#);
        assert!(matches!(
            VaultFile::parse(v2.as_bytes()),
            Err(VaultError::UnsupportedVersion(2))
        ));
        let kdf = text.replace("pbkdf2-hmac-sha256", "pbkdf2-hmac-sha1");
        assert!(matches!(
            VaultFile::parse(kdf.as_bytes()),
            Err(VaultError::UnsupportedKdf)
        ));
        let cipher = text.replace("aes-256-gcm", "aes-128-gcm");
        assert!(matches!(
            VaultFile::parse(cipher.as_bytes()),
            Err(VaultError::UnsupportedCipher)
        ));
        let dup = text.replacen(r#""version":1,"#, r#""version":1,"version":1,"#, 1);
        assert!(VaultFile::parse(dup.as_bytes()).is_err());
    }

    #[test]
    fn refuses_oversized_files_before_parsing() {
        let big = vec![b' '; MAX_FILE_LEN + 1];
        assert!(matches!(
            VaultFile::parse(&big),
            Err(VaultError::FileTooLarge { .. })
        ));
    }

    #[test]
    fn aad_changes_with_every_header_field() {
        let a = header_aad(600_000, &[1; SALT_LEN]);
        assert_ne!(a, header_aad(600_001, &[1; SALT_LEN]));
        assert_ne!(a, header_aad(600_000, &[2; SALT_LEN]));
    }
}
