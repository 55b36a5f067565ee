//! Where a secret comes from.

use std::fmt;
use std::str::FromStr;

use secrecy::SecretString;

use crate::CoreError;

/// A reference to a secret as written in `config.toml`.
///
/// - `vault:NAME` — the entry `NAME` of the encrypted vault;
/// - `env:VAR` — the environment variable `VAR`;
/// - anything else — the literal value (works, but `rampart doctor` warns: it sits in plain text).
///
/// The literal is held as a [`SecretString`]: `Debug` prints `vault:NAME`, `env:VAR` or
/// `literal(redacted)`, never the value. Resolution (vault > config > environment, SPEC V3) lives in
/// the vault crate, which owns the decrypted values.
#[derive(Clone)]
#[non_exhaustive]
pub enum SecretRef {
    /// `vault:NAME`.
    Vault(String),
    /// `env:VAR`.
    Env(String),
    /// A literal value from the config file.
    Literal(SecretString),
}

impl SecretRef {
    /// True for a literal value written in the config file.
    #[must_use]
    pub fn is_literal(&self) -> bool {
        matches!(self, Self::Literal(_))
    }
}

impl FromStr for SecretRef {
    type Err = CoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let named = |name: &str, make: fn(String) -> Self| {
            if name.is_empty() {
                Err(CoreError::EmptySecretName(
                    s.split(':').next().unwrap_or_default().to_owned(),
                ))
            } else {
                Ok(make(name.to_owned()))
            }
        };
        if let Some(name) = s.strip_prefix("vault:") {
            named(name, Self::Vault)
        } else if let Some(var) = s.strip_prefix("env:") {
            named(var, Self::Env)
        } else {
            Ok(Self::Literal(SecretString::from(s.to_owned())))
        }
    }
}

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Vault(n) => write!(f, "vault:{n}"),
            Self::Env(v) => write!(f, "env:{v}"),
            Self::Literal(_) => f.write_str("literal(redacted)"),
        }
    }
}

impl<'de> serde::Deserialize<'de> for SecretRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn parses_the_three_forms() {
        assert!(matches!("vault:api_key".parse(), Ok(SecretRef::Vault(n)) if n == "api_key"));
        assert!(matches!("env:KEY".parse(), Ok(SecretRef::Env(n)) if n == "KEY"));
        match "s3cret".parse::<SecretRef>() {
            Ok(SecretRef::Literal(v)) => assert_eq!(v.expose_secret(), "s3cret"),
            other => panic!("unexpected {other:?}"),
        }
        assert!("vault:".parse::<SecretRef>().is_err());
        assert!("env:".parse::<SecretRef>().is_err());
    }

    #[test]
    fn debug_never_shows_a_literal() {
        let r: SecretRef = "hunter2-very-secret"
            .parse()
            .unwrap_or_else(|_| unreachable!());
        assert!(!format!("{r:?}").contains("hunter2"));
    }
}
