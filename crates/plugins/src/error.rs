//! The crate's one error type.

use std::path::PathBuf;

/// Why a plugin could not be installed, loaded or called. Messages name the plugin's own
/// identifiers and paths only; they never carry a secret value or guest memory.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PluginError {
    /// `plugin.toml` did not parse or broke a rule.
    #[error("manifest: {0}")]
    Manifest(String),
    /// The plugin is unsigned and `[plugins] require_signed = true`.
    #[error("plugin {0:?} is not signed and [plugins] require_signed = true")]
    Unsigned(String),
    /// The signature is by a key that is not in `[plugins] trusted_keys`.
    #[error("plugin {plugin:?} is signed by {key}, which is not in [plugins] trusted_keys")]
    UntrustedKey {
        /// The plugin.
        plugin: String,
        /// The key named by the signature file (not trusted for anything).
        key: String,
    },
    /// The signature does not match the manifest and the code: one of them was changed after
    /// signing, or the signature file is corrupt.
    #[error("plugin {0:?}: the signature does not match plugin.toml and the code (tampered?)")]
    BadSignature(String),
    /// The signature file did not parse.
    #[error("plugin {plugin:?}: signature file: {detail}")]
    SignatureFormat {
        /// The plugin.
        plugin: String,
        /// What was wrong.
        detail: String,
    },
    /// The install-time scan of descriptions found an injection attempt (SPEC I3).
    #[error("plugin {plugin:?}: injection scan flagged {field}: {categories}")]
    Injection {
        /// The plugin.
        plugin: String,
        /// Which text (`description`, `tools.NAME.description`, ...).
        field: String,
        /// The finding categories.
        categories: String,
    },
    /// The module imports something that is not a granted host function (SPEC W1).
    #[error("plugin {plugin:?} imports {module}::{name}, which is not granted{hint}")]
    UngrantedImport {
        /// The plugin.
        plugin: String,
        /// The import's module.
        module: String,
        /// The import's name.
        name: String,
        /// How to grant it, when it could be granted.
        hint: String,
    },
    /// The module is not valid WebAssembly, or lacks an export the ABI needs.
    #[error("plugin {plugin:?}: {detail}")]
    Module {
        /// The plugin.
        plugin: String,
        /// What was wrong.
        detail: String,
    },
    /// The call ran out of fuel (SPEC W2).
    #[error("plugin {0:?} ran out of fuel ([security.wasm] fuel_limit)")]
    OutOfFuel(String),
    /// The call ran past its deadline (SPEC W2).
    #[error("plugin {0:?} ran past its deadline ([security.wasm] epoch_timeout_ms)")]
    Deadline(String),
    /// The instance asked for more memory or table space than allowed (SPEC W2).
    #[error("plugin {0:?} exceeded its memory limit ([security.wasm] max_memory_pages)")]
    MemoryLimit(String),
    /// The guest trapped (unreachable, out-of-bounds access, ...) or broke the ABI.
    #[error("plugin {plugin:?} trapped: {detail}")]
    Trap {
        /// The plugin.
        plugin: String,
        /// The trap.
        detail: String,
    },
    /// The input or the output was larger than the ABI allows.
    #[error("plugin {plugin:?}: {what} is larger than {limit} bytes")]
    TooLarge {
        /// The plugin.
        plugin: String,
        /// Which buffer.
        what: &'static str,
        /// The cap.
        limit: usize,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Anything else in the host (engine creation, a name clash).
    #[error("{0}")]
    Host(String),
}

impl PluginError {
    /// An I/O error on `path`.
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// The short reason recorded in the audit trail (`plugin_trap`, `plugin_load`).
    #[must_use]
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Manifest(_) => "manifest",
            Self::Unsigned(_) => "unsigned",
            Self::UntrustedKey { .. } => "untrusted_key",
            Self::BadSignature(_) => "bad_signature",
            Self::SignatureFormat { .. } => "signature_format",
            Self::Injection { .. } => "injection",
            Self::UngrantedImport { .. } => "ungranted_import",
            Self::Module { .. } => "module",
            Self::OutOfFuel(_) => "out_of_fuel",
            Self::Deadline(_) => "deadline",
            Self::MemoryLimit(_) => "memory_limit",
            Self::Trap { .. } => "trap",
            Self::TooLarge { .. } => "too_large",
            Self::Io { .. } => "io",
            Self::Host(_) => "host",
        }
    }
}
