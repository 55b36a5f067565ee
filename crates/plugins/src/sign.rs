//! Publisher signatures (SPEC W3): Ed25519 over the manifest and the code's SHA-256, checked
//! against the owner's trust store only.
//!
//! The signed message is
//! `"rampart-plugin-signature/v1\n" || SHA-256(plugin.toml bytes) || SHA-256(plugin.wasm bytes)`,
//! so changing either file, or swapping in another plugin's code, breaks the signature.
//!
//! `plugin.sig` is TOML: `key = "ed25519:…"` and `signature = "<base64 of 64 bytes>"`. The key
//! named there only says which trusted key to try; it is never trusted because it is there.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::PluginError;

const DOMAIN: &[u8] = b"rampart-plugin-signature/v1\n";
const PUBLIC_PREFIX: &str = "ed25519:";
const SECRET_PREFIX: &str = "ed25519-secret:";

/// The SHA-256 of `bytes`, in hex.
#[must_use]
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn message(manifest: &[u8], code: &[u8]) -> Vec<u8> {
    let mut m = DOMAIN.to_vec();
    m.extend_from_slice(&Sha256::digest(manifest));
    m.extend_from_slice(&Sha256::digest(code));
    m
}

/// Formats a public key as `ed25519:<base64>`.
#[must_use]
pub fn public_key_text(key: &VerifyingKey) -> String {
    format!("{PUBLIC_PREFIX}{}", B64.encode(key.as_bytes()))
}

/// Parses `ed25519:<base64>`.
///
/// # Errors
/// A description of what is wrong.
pub fn parse_public_key(s: &str) -> Result<VerifyingKey, String> {
    let b = s
        .trim()
        .strip_prefix(PUBLIC_PREFIX)
        .ok_or_else(|| format!("a public key starts with {PUBLIC_PREFIX:?}"))?;
    let bytes: [u8; 32] = B64
        .decode(b)
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| "not base64 of 32 bytes".to_owned())?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| "not a valid Ed25519 point".to_owned())
}

/// The publisher keys the owner trusts (`[plugins] trusted_keys`).
#[derive(Clone, Debug, Default)]
pub struct TrustStore {
    keys: Vec<VerifyingKey>,
}

impl TrustStore {
    /// Parses the configured keys.
    ///
    /// # Errors
    /// [`PluginError::Host`] naming the key that does not parse.
    pub fn new(keys: &[String]) -> Result<Self, PluginError> {
        let keys = keys
            .iter()
            .map(|k| {
                parse_public_key(k)
                    .map_err(|e| PluginError::Host(format!("[plugins] trusted_keys {k:?}: {e}")))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { keys })
    }

    /// True when `key` is trusted.
    #[must_use]
    pub fn contains(&self, key: &VerifyingKey) -> bool {
        self.keys.iter().any(|k| k == key)
    }
}

/// A publisher's signing key (`rampart plugins keygen`).
pub struct PublisherKey(SigningKey);

impl std::fmt::Debug for PublisherKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublisherKey({})", self.public_text())
    }
}

impl PublisherKey {
    /// A new random key from the OS generator.
    ///
    /// # Errors
    /// [`PluginError::Host`] if the OS generator fails.
    pub fn generate() -> Result<Self, PluginError> {
        use rand::TryRngCore as _;
        let mut seed = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng
            .try_fill_bytes(seed.as_mut())
            .map_err(|_| PluginError::Host("the OS random generator failed".to_owned()))?;
        Ok(Self(SigningKey::from_bytes(&seed)))
    }

    /// The key file's text: `ed25519-secret:<base64 of the 32-byte seed>` and a newline.
    #[must_use]
    pub fn to_file_text(&self) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "{SECRET_PREFIX}{}\n",
            B64.encode(self.0.to_bytes())
        ))
    }

    /// Parses a key file.
    ///
    /// # Errors
    /// A description of what is wrong (never the key).
    pub fn from_file_text(text: &str) -> Result<Self, String> {
        let b = text
            .trim()
            .strip_prefix(SECRET_PREFIX)
            .ok_or_else(|| format!("a publisher key file starts with {SECRET_PREFIX:?}"))?;
        let bytes = Zeroizing::new(B64.decode(b).map_err(|_| "not base64".to_owned())?);
        let seed: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| "not 32 bytes".to_owned())?;
        let key = SigningKey::from_bytes(&seed);
        let mut seed = seed;
        zeroize::Zeroize::zeroize(&mut seed);
        Ok(Self(key))
    }

    /// The public half as `ed25519:<base64>`.
    #[must_use]
    pub fn public_text(&self) -> String {
        public_key_text(&self.0.verifying_key())
    }

    /// The `plugin.sig` text for these files.
    #[must_use]
    pub fn sign(&self, manifest: &[u8], code: &[u8]) -> String {
        let sig = self.0.sign(&message(manifest, code));
        format!(
            "key = \"{}\"\nsignature = \"{}\"\n",
            self.public_text(),
            B64.encode(sig.to_bytes())
        )
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSig {
    key: String,
    signature: String,
}

/// Checks `plugin.sig` (if any) against the trust store. Returns the trusted publisher key
/// that signed, or `None` for a plugin accepted unsigned (only when `require_signed` is off).
///
/// A signature that is present but wrong is refused even when signatures are not required:
/// it means the files were changed after signing.
///
/// # Errors
/// [`PluginError::Unsigned`], [`PluginError::UntrustedKey`], [`PluginError::BadSignature`],
/// [`PluginError::SignatureFormat`].
pub fn verify(
    plugin: &str,
    manifest: &[u8],
    code: &[u8],
    sig: Option<&str>,
    trust: &TrustStore,
    require_signed: bool,
) -> Result<Option<String>, PluginError> {
    let Some(sig) = sig else {
        return if require_signed {
            Err(PluginError::Unsigned(plugin.to_owned()))
        } else {
            Ok(None)
        };
    };
    let format = |detail: String| PluginError::SignatureFormat {
        plugin: plugin.to_owned(),
        detail,
    };
    let raw: RawSig = toml::from_str(sig).map_err(|e| format(e.message().to_owned()))?;
    let named = parse_public_key(&raw.key).map_err(format)?;
    let signature: [u8; 64] = B64
        .decode(raw.signature.trim())
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| format("signature: not base64 of 64 bytes".to_owned()))?;
    let signature = Signature::from_bytes(&signature);
    if !trust.contains(&named) {
        if require_signed {
            return Err(PluginError::UntrustedKey {
                plugin: plugin.to_owned(),
                key: public_key_text(&named),
            });
        }
        // Not required and not trusted: the signature proves nothing to us, so the plugin is
        // treated exactly like an unsigned one.
        return Ok(None);
    }
    named
        .verify_strict(&message(manifest, code), &signature)
        .map_err(|_| PluginError::BadSignature(plugin.to_owned()))?;
    Ok(Some(public_key_text(&named)))
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// A hostile signature file never panics the verifier and never passes it.
        #[test]
        fn arbitrary_signature_files_are_never_accepted(sig in "(?s).{0,300}") {
            let k = PublisherKey::from_file_text(&format!("{SECRET_PREFIX}{}", B64.encode([7u8; 32]))).unwrap();
            let trust = TrustStore::new(&[k.public_text()]).unwrap();
            let r = verify("p", b"m", b"c", Some(&sig), &trust, true);
            proptest::prop_assert!(r.is_err());
        }
    }

    #[test]
    fn sign_verify_and_every_refusal() {
        let k = PublisherKey::generate().unwrap();
        let other = PublisherKey::generate().unwrap();
        let trust = TrustStore::new(&[k.public_text()]).unwrap();
        let (m, c) = (b"name = \"p\"".as_slice(), b"\0asm".as_slice());
        let sig = k.sign(m, c);
        assert_eq!(
            verify("p", m, c, Some(&sig), &trust, true).unwrap(),
            Some(k.public_text())
        );
        let tampered = verify("p", m, b"\0asX", Some(&sig), &trust, true).unwrap_err();
        assert!(
            matches!(tampered, PluginError::BadSignature(_)),
            "{tampered}"
        );
        let tampered = verify("p", b"name = \"q\"", c, Some(&sig), &trust, false).unwrap_err();
        assert!(
            matches!(tampered, PluginError::BadSignature(_)),
            "{tampered}"
        );
        let unknown = verify("p", m, c, Some(&other.sign(m, c)), &trust, true).unwrap_err();
        assert!(
            matches!(unknown, PluginError::UntrustedKey { .. }),
            "{unknown}"
        );
        // A forger who names a trusted key but signs with their own is caught by the math.
        let forged = other
            .sign(m, c)
            .replace(&other.public_text(), &k.public_text());
        let forged = verify("p", m, c, Some(&forged), &trust, true).unwrap_err();
        assert!(matches!(forged, PluginError::BadSignature(_)), "{forged}");
        let unsigned = verify("p", m, c, None, &trust, true).unwrap_err();
        assert!(matches!(unsigned, PluginError::Unsigned(_)), "{unsigned}");
        assert_eq!(verify("p", m, c, None, &trust, false).unwrap(), None);
        let back = PublisherKey::from_file_text(&k.to_file_text()).unwrap();
        assert_eq!(back.public_text(), k.public_text());
        assert!(!format!("{back:?}").contains("secret"));
    }
}
