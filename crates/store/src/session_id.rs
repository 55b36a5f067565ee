//! Session identifiers.

use std::fmt;
use std::str::FromStr;

use ring::rand::{SecureRandom, SystemRandom};

use crate::StoreError;

/// The longest session id accepted from a client.
///
/// # Security
/// Session ids arrive in API requests and are stored and logged; a bound keeps a hostile client from
/// making every row and log line arbitrarily large.
pub const MAX_SESSION_ID_LEN: usize = 256;

/// A validated session id: 1–256 characters from `[A-Za-z0-9_.:-]`.
///
/// Generated ids are 128 random bits from the operating system's CSPRNG, hex-encoded (32
/// characters), so knowing one session id tells nothing about another.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct SessionId(String);

impl SessionId {
    /// A fresh random session id (128 bits, hex).
    ///
    /// # Errors
    /// [`StoreError::Random`] if the system random number generator fails.
    pub fn generate() -> Result<Self, StoreError> {
        let mut bytes = [0u8; 16];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| StoreError::Random)?;
        Ok(Self(hex::encode(bytes)))
    }

    /// The id as a string slice.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for SessionId {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-');
        if !s.is_empty() && s.len() <= MAX_SESSION_ID_LEN && s.chars().all(ok) {
            Ok(Self(s.to_owned()))
        } else {
            Err(StoreError::InvalidSessionId)
        }
    }
}

impl<'de> serde::Deserialize<'de> for SessionId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_128_bit_hex_and_distinct() {
        let a = SessionId::generate().unwrap();
        let b = SessionId::generate().unwrap();
        assert_eq!(a.as_str().len(), 32);
        assert!(a.as_str().chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert_eq!(a.as_str().parse::<SessionId>().unwrap(), a);
    }

    #[test]
    fn refuses_hostile_ids() {
        let long = "a".repeat(MAX_SESSION_ID_LEN + 1);
        for bad in [
            "",
            "a b",
            "../x",
            "a/b",
            "x\n",
            "a\0",
            "é",
            "a;drop",
            long.as_str(),
        ] {
            assert!(bad.parse::<SessionId>().is_err(), "{bad:?}");
        }
        assert!("a".repeat(MAX_SESSION_ID_LEN).parse::<SessionId>().is_ok());
        assert!("chat-1.2:x_Y".parse::<SessionId>().is_ok());
    }
}
