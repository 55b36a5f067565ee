//! The error type of this crate.

use std::io;
use std::path::PathBuf;

/// Why an audit operation failed.
///
/// Tampering found by [`crate::verify`] is *not* an error: it is a [`crate::Problem`] inside the
/// [`crate::VerifyReport`]. Errors are for I/O, misuse and a sink that can no longer write.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// A file operation failed; `context` says which one.
    #[error("audit {context} {path:?}: {source}")]
    Io {
        /// What was being done ("open log", "append", "fsync", ...).
        context: &'static str,
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Another process (or another sink in this process) holds the log open for writing.
    #[error("audit log {0:?} is locked by another writer")]
    Locked(PathBuf),
    /// The existing log or checkpoints file is not in a state the sink may append to
    /// (unreadable head, foreign checkpoints, a signed head the log no longer contains, ...).
    /// Run `rampart audit verify` to see the whole picture.
    #[error("audit log {path:?} refused: {reason}")]
    Refused {
        /// The log file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// An entry would exceed [`crate::MAX_LINE_BYTES`] even after long strings were shortened.
    #[error("audit entry too large: {0} bytes")]
    EntryTooLarge(usize),
    /// A write or fsync failed earlier; the sink refuses every further record (fail closed)
    /// because what reached the disk is unknown. Reopen the log to recover.
    #[error("audit sink failed earlier and refuses further records: {0}")]
    Poisoned(String),
    /// The sink was shut down (or its writer thread is gone).
    #[error("audit sink is closed")]
    Closed,
    /// A blocking call (`record_blocking`) was made from inside an async runtime, where it could
    /// deadlock the executor; use the async method there.
    #[error("blocking audit call made from inside an async runtime; use the async method")]
    BlockingInAsync,
    /// A public or signing key in text or byte form could not be parsed.
    #[error("invalid audit key: {0}")]
    InvalidKey(&'static str),
    /// An export format name was not `json` or `jsonl`.
    #[error("unknown export format {0:?}: expected json or jsonl")]
    UnknownFormat(String),
    /// An event name was not one of the known [`crate::EventKind`]s.
    #[error("unknown audit event {0:?}")]
    UnknownEvent(String),
    /// A log line is not a well-formed entry.
    #[error("malformed audit entry: {0}")]
    MalformedEntry(String),
    /// The operating system's random number generator failed.
    #[error("random number generator failed")]
    Rng,
}

impl AuditError {
    pub(crate) fn io(context: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            context,
            path: path.into(),
            source,
        }
    }
}
