//! Turning a secret reference into its value: the resolution chain (SPEC V3).
//!
//! Two rules, the second built on the first:
//!
//! 1. **An explicit reference is followed exactly, with no fallback** ([`Resolver::resolve`]).
//!    `vault:NAME` is served by the vault only; `env:VAR` by that variable only; a literal is
//!    itself. A missing entry or variable is an error naming where it looked. Falling back would
//!    let a stray or planted environment variable silently stand in for a vault secret (a peer's
//!    shared secret, a webhook token), and would hide typos.
//! 2. **A setting is looked up vault > config file > environment** ([`Resolver::resolve_setting`]).
//!    Each secret setting has a well-known vault entry name and environment variable. The vault
//!    entry wins if the vault holds it; otherwise the config file's value, if one is written, is
//!    followed by rule 1 (so its failure is an error, not a fall-through); otherwise the
//!    environment variable. Precedence follows trust: the vault can only be written by someone
//!    holding the passphrase, the config file by the owner of the home, the environment by
//!    whoever started the process.
//!
//! Errors carry names (entries, variables), never values. Empty environment variables count as
//! unset.

use std::fmt;

use rampart_core::SecretRef;
use secrecy::SecretString;

use crate::{Vault, VaultError};

/// The environment lookup: a variable's value, if set.
type EnvFn<'a> = dyn Fn(&str) -> Option<String> + 'a;

/// A secret setting's well-known names, for [`Resolver::resolve_setting`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting<'a> {
    /// The vault entry that overrides the config file, e.g. `openai_api_key`.
    pub vault_name: &'a str,
    /// The environment variable used when neither the vault nor the config file has a value,
    /// e.g. `OPENAI_API_KEY`.
    pub env_var: &'a str,
}

/// Resolves secret references against an (optionally) unlocked vault and the environment.
pub struct Resolver<'a> {
    vault: Option<&'a Vault>,
    env: Box<EnvFn<'a>>,
}

impl fmt::Debug for Resolver<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolver")
            .field("vault", &self.vault)
            .finish_non_exhaustive()
    }
}

impl<'a> Resolver<'a> {
    /// A resolver over `vault` (`None` when it is not unlocked) and the process environment.
    #[must_use]
    pub fn new(vault: Option<&'a Vault>) -> Self {
        Self::with_env(vault, |k| std::env::var(k).ok())
    }

    /// A resolver with an explicit environment lookup (for tests and embedding).
    pub fn with_env(vault: Option<&'a Vault>, env: impl Fn(&str) -> Option<String> + 'a) -> Self {
        Self {
            vault,
            env: Box::new(env),
        }
    }

    /// Follows one explicit reference exactly (rule 1).
    ///
    /// # Errors
    /// [`VaultError::VaultLocked`], [`VaultError::SecretNotFound`], [`VaultError::InvalidName`],
    /// [`VaultError::EnvNotSet`].
    pub fn resolve(&self, reference: &SecretRef) -> Result<SecretString, VaultError> {
        match reference {
            SecretRef::Vault(name) => {
                crate::validate_name(name)?;
                let vault = self
                    .vault
                    .ok_or_else(|| VaultError::VaultLocked { name: name.clone() })?;
                vault
                    .get(name)
                    .cloned()
                    .ok_or_else(|| VaultError::SecretNotFound { name: name.clone() })
            }
            SecretRef::Env(var) => self
                .env(var)
                .ok_or_else(|| VaultError::EnvNotSet { var: var.clone() }),
            SecretRef::Literal(value) => Ok(value.clone()),
            // `SecretRef` is non-exhaustive: a form this crate does not know resolves to nothing.
            _ => Err(VaultError::NotConfigured {
                vault_name: String::new(),
                env_var: String::new(),
            }),
        }
    }

    /// Looks a setting up in the chain vault > config file > environment (rule 2). `configured`
    /// is the setting's value in the config file, if written.
    ///
    /// # Errors
    /// What [`resolve`](Self::resolve) returns for the configured reference, or
    /// [`VaultError::NotConfigured`] when no source has a value.
    pub fn resolve_setting(
        &self,
        setting: Setting<'_>,
        configured: Option<&SecretRef>,
    ) -> Result<SecretString, VaultError> {
        if let Some(value) = self.vault.and_then(|v| v.get(setting.vault_name)) {
            return Ok(value.clone());
        }
        if let Some(reference) = configured {
            return self.resolve(reference);
        }
        self.env(setting.env_var)
            .ok_or_else(|| VaultError::NotConfigured {
                vault_name: setting.vault_name.to_owned(),
                env_var: setting.env_var.to_owned(),
            })
    }

    fn env(&self, var: &str) -> Option<SecretString> {
        (self.env)(var)
            .filter(|v| !v.is_empty())
            .map(SecretString::from)
    }
}

/// Follows one explicit reference with the process environment: shorthand for
/// `Resolver::new(vault).resolve(reference)`.
///
/// # Errors
/// As [`Resolver::resolve`].
pub fn resolve(reference: &SecretRef, vault: Option<&Vault>) -> Result<SecretString, VaultError> {
    Resolver::new(vault).resolve(reference)
}
