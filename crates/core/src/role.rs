//! Roles of the gateway's users.

use std::fmt;
use std::str::FromStr;

use crate::CoreError;

/// A user's role. Roles are totally ordered: `Owner > Admin > User > Viewer`, so "at least admin"
/// is `role >= Role::Admin`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read-only access to agents and data.
    Viewer,
    /// Creates and messages agents.
    User,
    /// Manages agents, reads the audit trail, decides approvals.
    Admin,
    /// Full access: users and global configuration.
    Owner,
}

impl Role {
    /// The lowercase name used in config files and the API.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::User => "user",
            Self::Admin => "admin",
            Self::Owner => "owner",
        }
    }
}

impl FromStr for Role {
    type Err = CoreError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "viewer" => Ok(Self::Viewer),
            "user" => Ok(Self::User),
            "admin" => Ok(Self::Admin),
            "owner" => Ok(Self::Owner),
            other => Err(CoreError::UnknownRole(other.chars().take(40).collect())),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Role {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_owner_admin_user_viewer() {
        assert!(Role::Owner > Role::Admin && Role::Admin > Role::User && Role::User > Role::Viewer);
    }

    #[test]
    fn round_trips_names() {
        for r in [Role::Viewer, Role::User, Role::Admin, Role::Owner] {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        assert!("root".parse::<Role>().is_err());
    }
}
