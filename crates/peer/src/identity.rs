//! Names and keys: [`NodeName`], [`PeerAddress`] (`agent@node`), the node's static X25519
//! [`NodeIdentity`], a peer's [`PublicKey`], and the PSK derived from the shared secret.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use rampart_core::AgentName;
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use crate::PeerError;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The longest node name accepted.
///
/// # Security
/// Node names go into audit entries, log lines and `agent@node` addresses; the same short
/// alphabet and bound as agent names keeps them unambiguous and unable to forge either.
pub const MAX_NODE_NAME_LEN: usize = 64;

/// A validated node name: 1–64 characters of `[a-z0-9_-]`, starting with a letter or digit.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct NodeName(String);

impl NodeName {
    /// The name as a string slice.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for NodeName {
    type Err = PeerError;

    fn from_str(s: &str) -> Result<Self, PeerError> {
        let ok = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
        let first = s
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if first && s.len() <= MAX_NODE_NAME_LEN && s.chars().all(ok) {
            Ok(Self(s.to_owned()))
        } else {
            Err(PeerError::InvalidNodeName(s.chars().take(80).collect()))
        }
    }
}

impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `agent@node`: an agent on a named node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerAddress {
    /// The agent.
    pub agent: AgentName,
    /// The node it runs on.
    pub node: NodeName,
}

impl FromStr for PeerAddress {
    type Err = PeerError;

    fn from_str(s: &str) -> Result<Self, PeerError> {
        let bad = || PeerError::InvalidAddress(s.chars().take(80).collect());
        let (agent, node) = s.split_once('@').ok_or_else(bad)?;
        Ok(Self {
            agent: agent.parse().map_err(|_| bad())?,
            node: node.parse().map_err(|_| bad())?,
        })
    }
}

impl fmt::Display for PeerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.agent, self.node)
    }
}

/// A node's static X25519 public key, as Noise authenticated it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(pub(crate) [u8; 32]);

impl PublicKey {
    /// The raw bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Constant-time equality (keys are public, but comparisons on the authentication path are
    /// constant-time throughout, so no reviewer has to argue case by case).
    #[must_use]
    pub fn ct_eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }

    pub(crate) fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; 32]>::try_from(bytes).ok().map(Self)
    }
}

impl FromStr for PublicKey {
    type Err = PeerError;

    fn from_str(s: &str) -> Result<Self, PeerError> {
        let bytes = B64
            .decode(s.trim())
            .map_err(|_| PeerError::InvalidKey("not base64"))?;
        Self::from_slice(&bytes).ok_or(PeerError::InvalidKey("not 32 bytes"))
    }
}

impl fmt::Display for PublicKey {
    /// Standard padded base64, as `peers list` shows it and `[network.pins]` takes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&B64.encode(self.0))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

/// This node's static X25519 key pair (generated at `rampart init`, kept in the vault).
pub struct NodeIdentity {
    private: Zeroizing<[u8; 32]>,
    public: PublicKey,
}

impl fmt::Debug for NodeIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeIdentity")
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

impl NodeIdentity {
    /// A fresh key pair from the operating system's random source.
    ///
    /// # Errors
    /// [`PeerError::InvalidKey`] if the random source fails.
    pub fn generate() -> Result<Self, PeerError> {
        let mut private = Zeroizing::new([0u8; 32]);
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), private.as_mut())
            .map_err(|_| PeerError::InvalidKey("the random source failed"))?;
        Ok(Self::from_private(private))
    }

    /// The key pair of a stored private key.
    ///
    /// # Errors
    /// [`PeerError::InvalidKey`] unless `bytes` is 32 bytes.
    pub fn from_private_bytes(bytes: &[u8]) -> Result<Self, PeerError> {
        let private = Zeroizing::new(
            <[u8; 32]>::try_from(bytes).map_err(|_| PeerError::InvalidKey("not 32 bytes"))?,
        );
        Ok(Self::from_private(private))
    }

    /// The key pair of a stored private key in base64 (the vault's form).
    ///
    /// # Errors
    /// [`PeerError::InvalidKey`].
    pub fn from_base64(text: &str) -> Result<Self, PeerError> {
        let bytes = Zeroizing::new(
            B64.decode(text.trim())
                .map_err(|_| PeerError::InvalidKey("not base64"))?,
        );
        Self::from_private_bytes(&bytes)
    }

    fn from_private(private: Zeroizing<[u8; 32]>) -> Self {
        let public = curve25519_dalek::MontgomeryPoint::mul_base_clamped(*private).to_bytes();
        Self {
            private,
            public: PublicKey(public),
        }
    }

    /// The private key in base64, for storing in the vault.
    #[must_use]
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(B64.encode(self.private.as_ref()))
    }

    /// The public key peers see and pin.
    #[must_use]
    pub fn public(&self) -> PublicKey {
        self.public
    }

    pub(crate) fn private(&self) -> &[u8; 32] {
        &self.private
    }
}

/// The HKDF salt and info that turn the shared secret into the Noise PSK.
const PSK_SALT: &[u8] = b"rampart-peer/1 psk salt";
const PSK_INFO: &[u8] = b"rampart-peer/1 noise psk";

/// The least number of bytes a shared secret must have.
///
/// # Security
/// The first handshake message is encrypted under the PSK, so a captured one allows an offline
/// guess at the secret; 32 bytes (what `rampart keygen` prints is 44 characters of base64) puts
/// that out of reach. Shorter secrets are refused at start-up.
pub const MIN_SHARED_SECRET_BYTES: usize = 32;

/// The 32-byte Noise PSK: HKDF-SHA256 over the shared secret with a fixed Rampart salt and info,
/// so the raw secret is never used as a key and the PSK is bound to this protocol version.
///
/// # Errors
/// [`PeerError::InvalidKey`] when the secret is shorter than [`MIN_SHARED_SECRET_BYTES`].
pub fn derive_psk(secret: &[u8]) -> Result<Zeroizing<[u8; 32]>, PeerError> {
    if secret.len() < MIN_SHARED_SECRET_BYTES {
        return Err(PeerError::InvalidKey(
            "the shared secret must be at least 32 bytes (use `rampart keygen`)",
        ));
    }
    struct Len32;
    impl ring::hkdf::KeyType for Len32 {
        fn len(&self) -> usize {
            32
        }
    }
    let prk = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, PSK_SALT).extract(secret);
    let mut out = Zeroizing::new([0u8; 32]);
    prk.expand(&[PSK_INFO], Len32)
        .and_then(|okm| okm.fill(out.as_mut()))
        .map_err(|_| PeerError::InvalidKey("key derivation failed"))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn names_and_addresses_parse_strictly() {
        assert!("home".parse::<NodeName>().is_ok());
        for bad in ["", "Home", "a b", "a@b", "../x", &"a".repeat(65)] {
            assert!(bad.parse::<NodeName>().is_err(), "{bad}");
        }
        let a: PeerAddress = "assistant@laptop".parse().unwrap();
        assert_eq!(a.agent.as_str(), "assistant");
        assert_eq!(a.node.as_str(), "laptop");
        assert_eq!(a.to_string(), "assistant@laptop");
        for bad in ["assistant", "@b", "a@", "a@b@c", "A@b"] {
            assert!(bad.parse::<PeerAddress>().is_err(), "{bad}");
        }
    }

    #[test]
    fn identity_round_trips_through_base64() {
        let id = NodeIdentity::generate().unwrap();
        let again = NodeIdentity::from_base64(&id.to_base64()).unwrap();
        assert!(id.public().ct_eq(&again.public()));
        let key: PublicKey = id.public().to_string().parse().unwrap();
        assert_eq!(key, id.public());
        assert!(!format!("{id:?}").contains(id.to_base64().as_str()));
    }

    #[test]
    fn psk_depends_on_the_secret_and_refuses_short_ones() {
        let a = derive_psk(&[1u8; 32]).unwrap();
        let b = derive_psk(&[2u8; 32]).unwrap();
        assert_ne!(*a, *b);
        assert_ne!(*a, [1u8; 32]);
        assert!(derive_psk(b"short").is_err());
    }
}
