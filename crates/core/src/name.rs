//! Agent names.

use std::fmt;
use std::str::FromStr;

use crate::CoreError;

/// The longest agent name accepted.
///
/// # Security
/// Names become directory names (`agents/NAME/`, `workspace/NAME/`) and URL path segments; a short
/// bound keeps them well inside every filesystem's component limit.
pub const MAX_AGENT_NAME_LEN: usize = 64;

/// A validated agent name: 1–64 characters of `[a-z0-9_-]`, starting with a letter or digit.
///
/// # Security
/// The alphabet excludes `/`, `\`, `.`, NUL and uppercase, so a name can never be a path traversal,
/// a hidden file, or two names that differ only by case on a case-insensitive filesystem.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct AgentName(String);

impl AgentName {
    /// The name as a string slice.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for AgentName {
    type Err = CoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok_char =
            |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
        let first_ok = s
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if first_ok && s.len() <= MAX_AGENT_NAME_LEN && s.chars().all(ok_char) {
            Ok(Self(s.to_owned()))
        } else {
            Err(CoreError::InvalidAgentName(s.chars().take(80).collect()))
        }
    }
}

impl<'de> serde::Deserialize<'de> for AgentName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for AgentName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for AgentName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_names() {
        for ok in ["a", "assistant", "web-2", "x_y", &"a".repeat(64)] {
            assert!(ok.parse::<AgentName>().is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_traversal_and_odd_names() {
        for bad in [
            "",
            "..",
            ".",
            "a/b",
            "a\\b",
            "../x",
            "A",
            "-x",
            "_x",
            "a b",
            "a\0b",
            "é",
            &"a".repeat(65),
        ] {
            assert!(bad.parse::<AgentName>().is_err(), "{bad:?}");
        }
    }
}
