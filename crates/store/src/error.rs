//! The error type of this crate.

/// Why a store operation failed.
///
/// Messages never contain stored message content: callers may show them to API clients.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// SQLite reported an error (I/O, corruption, constraint, busy past the timeout).
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The directory for the database file could not be created.
    #[error("cannot create the database directory: {0}")]
    Io(#[from] std::io::Error),
    /// The database was written by a newer Rampart whose schema this build does not know.
    #[error("database schema version {found} is newer than this build supports ({supported})")]
    SchemaTooNew {
        /// The `user_version` found in the file.
        found: i64,
        /// The newest version this build can migrate to.
        supported: i64,
    },
    /// The session does not exist for this agent.
    #[error("session not found")]
    SessionNotFound,
    /// A session id was empty, too long or used characters outside `[A-Za-z0-9_.:-]`.
    #[error(
        "invalid session id: use 1-{max} characters from A-Z, a-z, 0-9, '_', '.', ':' and '-'",
        max = crate::MAX_SESSION_ID_LEN
    )]
    InvalidSessionId,
    /// One message was larger than [`crate::MAX_MESSAGE_BYTES`] once encoded.
    #[error("message too large to store ({size} bytes, limit {limit})")]
    MessageTooLarge {
        /// The encoded size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A message could not be encoded as JSON.
    #[error("cannot encode message: {0}")]
    Encode(#[from] serde_json::Error),
    /// The operating system's random number generator failed.
    #[error("random number generator failed")]
    Random,
}
