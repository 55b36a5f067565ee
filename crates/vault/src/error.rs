//! The error type of this crate.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong opening, saving or reading the vault, reading a passphrase or
/// resolving a secret reference.
///
/// No variant ever carries a secret value or a passphrase: only names, paths, lengths and fixed
/// reasons. [`VaultError::exit_code`] gives the CLI exit code Rampart uses for each.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VaultError {
    /// There is no vault file at this path (run `rampart init`).
    #[error("no vault at {}: run `rampart init` first", path.display())]
    NotFound {
        /// Where the vault was looked for.
        path: PathBuf,
    },
    /// `create` refused to overwrite an existing vault.
    #[error("a vault already exists at {}", path.display())]
    AlreadyExists {
        /// The existing vault.
        path: PathBuf,
    },
    /// Reading or writing a file failed (the previous vault, if any, is untouched).
    #[error("{context} {}: {source}", path.display())]
    Io {
        /// What was being done.
        context: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The vault file is larger than [`crate::MAX_FILE_LEN`].
    #[error("vault file is {len} bytes, larger than the limit of {max}")]
    FileTooLarge {
        /// The file's size.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// The file is not a well-formed vault file (JSON shape, base64, field lengths).
    #[error("not a valid vault file: {0}")]
    Malformed(&'static str),
    /// The file's `version` is not one this build can read.
    #[error("unsupported vault format version {0} (this build reads version 1)")]
    UnsupportedVersion(u32),
    /// The file names a key-derivation function other than `pbkdf2-hmac-sha256`.
    #[error("unsupported key-derivation function in vault header")]
    UnsupportedKdf,
    /// The file names a cipher other than `aes-256-gcm`.
    #[error("unsupported cipher in vault header")]
    UnsupportedCipher,
    /// The header asks for fewer PBKDF2 iterations than the caller's floor: a downgrade is refused.
    #[error(
        "vault header asks for {iterations} PBKDF2 iterations, fewer than the minimum {minimum}: refusing a weakened vault"
    )]
    WeakKdf {
        /// Iterations in the header.
        iterations: u32,
        /// The minimum this caller accepts.
        minimum: u32,
    },
    /// The header asks for more PBKDF2 iterations than [`crate::MAX_ITERATIONS`].
    #[error("vault header asks for {iterations} PBKDF2 iterations, more than the limit {maximum}")]
    KdfTooExpensive {
        /// Iterations in the header.
        iterations: u32,
        /// The limit.
        maximum: u32,
    },
    /// Authenticated decryption failed: the passphrase is wrong, or some byte of the file (header,
    /// nonce or ciphertext) was changed. AES-GCM cannot tell the two apart, and neither do we.
    #[error("wrong passphrase or damaged vault")]
    WrongPassphraseOrDamaged,
    /// The decrypted contents are not a valid entry list. Only a writer bug can cause this: the
    /// contents are authenticated.
    #[error("vault contents are corrupt: {0}")]
    CorruptPayload(&'static str),
    /// An entry name is empty, too long, or uses characters outside `[A-Za-z0-9._-]`.
    #[error("invalid secret name {0:?}: use 1-128 characters from A-Z, a-z, 0-9, '.', '_' and '-'")]
    InvalidName(String),
    /// A secret value is longer than [`crate::MAX_VALUE_LEN`].
    #[error("the value of {name:?} is {len} bytes, larger than the limit of {max}")]
    ValueTooLarge {
        /// The entry's name.
        name: String,
        /// The value's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The vault already holds [`crate::MAX_ENTRIES`] entries.
    #[error("the vault already holds the maximum of {max} entries")]
    TooManyEntries {
        /// The limit.
        max: usize,
    },
    /// A new passphrase is shorter than [`crate::MIN_PASSPHRASE_LEN`].
    #[error("the passphrase must be at least {min} bytes long")]
    PassphraseTooShort {
        /// The minimum.
        min: usize,
    },
    /// A passphrase is longer than [`crate::MAX_PASSPHRASE_LEN`].
    #[error("the passphrase is longer than {max} bytes")]
    PassphraseTooLong {
        /// The limit.
        max: usize,
    },
    /// A passphrase source gave an empty passphrase.
    #[error("empty passphrase from {source_name}")]
    EmptyPassphrase {
        /// Which source: `stdin`, an environment variable's name, or `prompt`.
        source_name: &'static str,
    },
    /// A passphrase is not valid UTF-8.
    #[error("the passphrase from {source_name} is not valid UTF-8")]
    PassphraseNotUtf8 {
        /// Which source.
        source_name: &'static str,
    },
    /// `--passphrase-stdin` was given but stdin ended before the expected line.
    #[error("--passphrase-stdin: stdin has no {line} line")]
    MissingStdinLine {
        /// `first` or `second`.
        line: &'static str,
    },
    /// No passphrase source: no `--passphrase-stdin`, no environment variable, and stdin is not a
    /// terminal to prompt on. Returned instead of waiting forever.
    #[error(
        "no vault passphrase: stdin is not a terminal; use --passphrase-stdin or set {env_var}"
    )]
    NoPassphraseSource {
        /// The environment variable that would have supplied it.
        env_var: &'static str,
    },
    /// The two prompted passphrases differ.
    #[error("the passphrases do not match")]
    PassphraseMismatch,
    /// The system random generator failed.
    #[error("the system random number generator failed")]
    Rng,
    /// A `vault:NAME` reference was resolved without an unlocked vault.
    #[error("secret {name:?} is in the vault, but the vault is not unlocked")]
    VaultLocked {
        /// The entry's name.
        name: String,
    },
    /// A `vault:NAME` reference names an entry the vault does not hold.
    #[error("the vault holds no secret named {name:?} (add it with `rampart vault set {name}`)")]
    SecretNotFound {
        /// The entry's name.
        name: String,
    },
    /// An `env:VAR` reference names a variable that is unset, empty or not UTF-8.
    #[error("environment variable {var} is not set")]
    EnvNotSet {
        /// The variable's name.
        var: String,
    },
    /// A setting has no value in the vault, the config file or the environment.
    #[error(
        "no value for {vault_name:?}: not in the vault, not in the config file, and {env_var} is not set"
    )]
    NotConfigured {
        /// The vault entry that was looked up.
        vault_name: String,
        /// The environment variable that was looked up.
        env_var: String,
    },
}

impl VaultError {
    /// The CLI exit code for this error, following CONTRACT.md: `2` for a usage or configuration
    /// problem the user must fix (wrong passphrase, no passphrase source, bad name, missing secret,
    /// damaged or unsupported vault file), `1` for a runtime failure (I/O, random generator).
    #[must_use]
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Io { .. } | Self::Rng => 1,
            _ => 2,
        }
    }
}
