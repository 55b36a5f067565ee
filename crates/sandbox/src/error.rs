//! The error type of this crate.

use std::io;

use crate::PathRejection;

/// Longest excerpt of an untrusted path kept in an error, in characters.
///
/// # Security
/// Errors end up in audit events and in the model's context; an attacker-chosen path must not
/// be able to make them arbitrarily large.
pub const MAX_SHOWN_PATH_CHARS: usize = 200;

/// Shortens untrusted path text for an error message (the `Debug` form escapes control bytes).
pub(crate) fn shown(text: &str) -> String {
    text.chars().take(MAX_SHOWN_PATH_CHARS).collect()
}

/// Why a workspace operation was refused or failed. Every variant names the path as the caller
/// gave it (shortened), never an absolute host path, so it is safe to show to the model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SandboxError {
    /// The path text was refused before any file was touched.
    #[error("invalid path {path:?}: {reason}")]
    InvalidPath {
        /// The path as given (shortened).
        path: String,
        /// Which rule it broke.
        reason: PathRejection,
    },
    /// A component of the path is a symbolic link and `allow_symlinks` is false.
    #[error("{path:?} goes through a symbolic link, which this workspace does not follow")]
    SymlinkRefused {
        /// The path as given.
        path: String,
    },
    /// The file has more than one hard link, so it may be the same file as one outside the
    /// workspace.
    #[error("{path:?} has {links} hard links; files linked from elsewhere are refused")]
    HardLinkRefused {
        /// The path as given.
        path: String,
        /// The link count seen on the open file.
        links: u64,
    },
    /// Nothing exists at the path.
    #[error("{path:?} does not exist")]
    NotFound {
        /// The path as given.
        path: String,
    },
    /// The path names something that is not a regular file (a directory, FIFO, socket, device).
    #[error("{path:?} is not a regular file")]
    NotAFile {
        /// The path as given.
        path: String,
    },
    /// A directory was needed (a parent component, or the target of `list`).
    #[error("{path:?} is not a directory")]
    NotADirectory {
        /// The path as given.
        path: String,
    },
    /// A directory to delete still has entries.
    #[error("directory {path:?} is not empty")]
    DirectoryNotEmpty {
        /// The path as given.
        path: String,
    },
    /// The file is larger than the read limit, or the content larger than the write limit.
    #[error("{path:?} is too large: {size} bytes, limit {limit}")]
    TooLarge {
        /// The path as given.
        path: String,
        /// The size seen (for reads, at least this many bytes).
        size: u64,
        /// The configured limit.
        limit: u64,
    },
    /// A directory listing had more entries than the limit.
    #[error("{path:?} has more than {limit} entries")]
    TooManyEntries {
        /// The path as given.
        path: String,
        /// The configured limit.
        limit: usize,
    },
    /// The workspace root itself could not be opened or created.
    #[error("cannot open the workspace: {0}")]
    Workspace(#[source] io::Error),
    /// Another I/O error.
    #[error("I/O error on {path:?}: {source}")]
    Io {
        /// The path as given.
        path: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}
