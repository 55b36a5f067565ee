//! The checkpoint signing key and its public half.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use zeroize::Zeroizing;

use crate::AuditError;

/// Prefix of the text form of a public key.
const PUBLIC_PREFIX: &str = "ed25519:";

/// The Ed25519 key that signs checkpoints.
///
/// The binary keeps its 32 secret bytes in the vault ([`CheckpointKey::to_bytes`] /
/// [`CheckpointKey::from_bytes`]). The key is zeroized on drop and never printed: `Debug` shows only
/// the public half.
pub struct CheckpointKey(SigningKey);

impl CheckpointKey {
    /// A new key from the operating system's random number generator.
    ///
    /// # Errors
    /// [`AuditError::Rng`] if the OS generator fails.
    pub fn generate() -> Result<Self, AuditError> {
        use rand::TryRngCore as _;
        let mut seed = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng
            .try_fill_bytes(seed.as_mut())
            .map_err(|_| AuditError::Rng)?;
        Ok(Self(SigningKey::from_bytes(&seed)))
    }

    /// The key from its 32 secret bytes.
    ///
    /// # Errors
    /// [`AuditError::InvalidKey`] unless `bytes` is exactly 32 bytes long.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, AuditError> {
        let seed: Zeroizing<[u8; 32]> = Zeroizing::new(
            bytes
                .try_into()
                .map_err(|_| AuditError::InvalidKey("a checkpoint signing key is 32 bytes"))?,
        );
        Ok(Self(SigningKey::from_bytes(&seed)))
    }

    /// The 32 secret bytes, for storing in the vault.
    #[must_use]
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }

    /// The public key that verifies this key's checkpoints.
    #[must_use]
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    pub(crate) fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.0.sign(msg).to_bytes()
    }
}

impl fmt::Debug for CheckpointKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CheckpointKey(public: {})", self.public_key())
    }
}

/// A checkpoint public key. Text form: `ed25519:` followed by the standard padded base64 of the 32
/// key bytes; [`FromStr`] also accepts the base64 alone. This is what
/// `rampart audit verify --public-key K` takes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// The 32 key bytes.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The key from its 32 bytes.
    ///
    /// # Errors
    /// [`AuditError::InvalidKey`] if the bytes are not a valid Ed25519 point.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, AuditError> {
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| AuditError::InvalidKey("an Ed25519 public key is 32 bytes"))?;
        VerifyingKey::from_bytes(&arr)
            .map(Self)
            .map_err(|_| AuditError::InvalidKey("not a valid Ed25519 public key"))
    }

    /// Whether `sig` is this key's signature over `msg` (strict verification: no malleable or
    /// small-order forms).
    pub(crate) fn verify(&self, msg: &[u8], sig: &[u8; 64]) -> bool {
        self.0
            .verify_strict(msg, &Signature::from_bytes(sig))
            .is_ok()
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PUBLIC_PREFIX}{}", STANDARD.encode(self.0.as_bytes()))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

impl FromStr for PublicKey {
    type Err = AuditError;

    fn from_str(s: &str) -> Result<Self, AuditError> {
        let b64 = s.trim();
        let b64 = b64.strip_prefix(PUBLIC_PREFIX).unwrap_or(b64);
        if b64.len() > 64 {
            return Err(AuditError::InvalidKey("public key text too long"));
        }
        let bytes = STANDARD
            .decode(b64)
            .map_err(|_| AuditError::InvalidKey("public key is not base64"))?;
        Self::from_bytes(&bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_round_trips_and_signs() {
        let k = CheckpointKey::generate().unwrap();
        let k2 = CheckpointKey::from_bytes(k.to_bytes().as_ref()).unwrap();
        assert_eq!(k.public_key(), k2.public_key());
        let text = k.public_key().to_string();
        assert!(text.starts_with("ed25519:"));
        let parsed: PublicKey = text.parse().unwrap();
        assert_eq!(parsed, k.public_key());
        assert_eq!(
            text["ed25519:".len()..].parse::<PublicKey>().unwrap(),
            parsed
        );
        let sig = k.sign(b"msg");
        assert!(parsed.verify(b"msg", &sig));
        assert!(!parsed.verify(b"msh", &sig));
        let other = CheckpointKey::generate().unwrap().public_key();
        assert!(!other.verify(b"msg", &sig));
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let k = CheckpointKey::from_bytes(&[7u8; 32]).unwrap();
        let dbg = format!("{k:?}");
        assert!(!dbg.contains(&STANDARD.encode([7u8; 32])));
        assert!(!dbg.contains(&hex::encode([7u8; 32])));
    }

    #[test]
    fn rejects_bad_public_keys() {
        assert!("ed25519:!!!".parse::<PublicKey>().is_err());
        assert!("ed25519:AAAA".parse::<PublicKey>().is_err());
        assert!(CheckpointKey::from_bytes(&[1u8; 31]).is_err());
    }
}
