//! The error type of this crate.

/// Why a value could not be parsed into one of the core types.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CoreError {
    /// An agent name was empty, too long, or used characters outside `[a-z0-9_-]`.
    #[error(
        "invalid agent name {0:?}: use 1-64 characters from a-z, 0-9, '-' and '_', starting with a letter or digit"
    )]
    InvalidAgentName(String),
    /// A role name was not one of `owner`, `admin`, `user`, `viewer`.
    #[error("unknown role {0:?}: expected owner, admin, user or viewer")]
    UnknownRole(String),
    /// A secret reference had an empty name after its `vault:` or `env:` prefix.
    #[error("empty name in secret reference {0:?}")]
    EmptySecretName(String),
}
