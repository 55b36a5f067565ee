//! The error type of this crate.

use std::path::PathBuf;

/// Why a configuration could not be loaded.
///
/// Every message names the file and, where there is one, the line; none contains a secret value
/// (secret references are only ever printed as `vault:NAME` / `env:VAR`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The path that was read.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The TOML did not parse or did not match the schema (unknown key, wrong type, …).
    #[error("{file}:{line}: {message}")]
    Parse {
        /// The file name used in messages.
        file: String,
        /// 1-based line of the offending key or value.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A value parsed but is not acceptable (for example a header value with a newline).
    #[error("{file}: {key}: {message}")]
    Invalid {
        /// The file name used in messages.
        file: String,
        /// Dotted key, e.g. `security.headers.csp`.
        key: String,
        /// What is wrong.
        message: String,
    },
}
