//! # rampart-vault
//!
//! The encrypted credential vault (SPEC V1–V7): where API keys, bot tokens and shared secrets
//! live, encrypted at rest in `$RAMPART_HOME/credentials/vault.json`, and the types that keep them
//! from leaking once decrypted.
//!
//! - [`Vault`] owns the decrypted entries; there is no global. [`Vault::create`] makes a new vault,
//!   [`Vault::open`] unlocks one (one PBKDF2 derivation, ~0.5 s by design), [`Vault::set`] /
//!   [`Vault::remove`] change it in memory and [`Vault::save`] writes it atomically.
//!   [`Vault::change_passphrase`] re-encrypts under a new salt and key (V6).
//! - Crypto (all from `ring`): the key is PBKDF2-HMAC-SHA256 of the passphrase with a 32-byte
//!   random salt and 600,000 iterations; the entries are sealed with AES-256-GCM under a fresh
//!   random 12-byte nonce on every save; the file's header (version, KDF, iterations, salt,
//!   cipher) is the AEAD associated data, so changing any byte of the file is detected.
//! - Every failure is a typed [`VaultError`]; a wrong passphrase and a damaged file are the same
//!   error, [`VaultError::WrongPassphraseOrDamaged`] ("wrong passphrase or damaged vault").
//! - [`passphrase`]: the non-interactive passphrase sources of the contract (stdin, environment,
//!   no-echo prompt, never a hang). [`resolve`]: turning `vault:` / `env:` / literal references
//!   into values, with the chain vault > config file > environment.
//! - Secrets are [`SecretString`]s: zeroized on drop, no `Debug`/`Display`/`Serialize` of the
//!   value; compare them with [`constant_time_eq`].
//!
//! ## Trust assumptions
//! The vault protects secrets on disk and in backups, and detects tampering with the file. It
//! does not protect against someone who can read the memory of the running gateway (root, a
//! debugger) or who records the passphrase as it is typed. `docs/vault.md` has the file format
//! and the full threat model.
//!
//! ## Example
//! ```
//! use rampart_vault::{KdfParams, Vault, SecretString, ExposeSecret};
//!
//! let home = tempfile::tempdir()?;
//! let path = rampart_vault::vault_path(home.path());
//! let pass = SecretString::from("correct horse battery staple".to_owned());
//! // Real code uses `Vault::create(&path, &pass)` and `Vault::open(&path, &pass)` (600,000
//! // iterations); the insecure test parameters only keep this example fast.
//! let fast = KdfParams::insecure_for_tests(1_000);
//!
//! let mut vault = Vault::create_with(&path, &pass, fast)?;
//! vault.set("openai_api_key", SecretString::from("sk-example".to_owned()))?;
//! vault.save()?;
//!
//! let vault = Vault::open_with(&path, &pass, fast)?;
//! assert_eq!(vault.names(), ["openai_api_key"]);
//! assert_eq!(vault.get("openai_api_key").unwrap().expose_secret(), "sk-example");
//! assert!(!format!("{vault:?}").contains("sk-example"));
//!
//! let wrong = SecretString::from("not the passphrase".to_owned());
//! assert!(matches!(
//!     Vault::open_with(&path, &wrong, fast),
//!     Err(rampart_vault::VaultError::WrongPassphraseOrDamaged)
//! ));
//! // A real `open` refuses this low-iteration vault outright: a downgrade is never accepted.
//! assert!(matches!(Vault::open(&path, &pass), Err(rampart_vault::VaultError::WeakKdf { .. })));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]

mod atomic;
mod entries;
mod error;
mod format;
mod kdf;
pub mod passphrase;
pub mod resolve;
mod secret;
mod vault;

pub use entries::{MAX_ENTRIES, MAX_NAME_LEN, MAX_PAYLOAD_LEN, MAX_VALUE_LEN, validate_name};
pub use error::VaultError;
pub use format::{
    CIPHER_NAME, FORMAT_VERSION, KDF_NAME, MAX_FILE_LEN, NONCE_LEN, SALT_LEN, TAG_LEN, VaultFile,
};
pub use kdf::{DEFAULT_ITERATIONS, KdfParams, MAX_ITERATIONS, MIN_ITERATIONS};
pub use passphrase::{PassphraseOptions, PassphraseReader};
pub use resolve::{Resolver, Setting};
pub use secrecy::{ExposeSecret, SecretString};
pub use secret::constant_time_eq;

/// Entry points for the fuzz targets in `fuzz/` (not part of the supported API).
#[doc(hidden)]
pub mod fuzzing {
    /// Decodes a decrypted entry list, as [`crate::Vault::open`] does after authentication.
    /// Returns the number of entries.
    ///
    /// # Errors
    /// [`crate::VaultError::CorruptPayload`].
    pub fn decode_entries(plain: &[u8]) -> Result<usize, crate::VaultError> {
        crate::entries::decode(plain).map(|e| e.len())
    }
}

pub use vault::{MAX_PASSPHRASE_LEN, MIN_PASSPHRASE_LEN, VAULT_FILE, Vault, vault_path};
