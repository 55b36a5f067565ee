//! The process's secrets: the unlocked vault (if any) and the resolution chain over it.

use std::path::Path;

use rampart_audit::CheckpointKey;
use rampart_config::{Config, ProviderConfig, ProviderKind, SecretRef};
use rampart_vault::ExposeSecret as _;
use rampart_vault::passphrase::PassphraseReader;
use rampart_vault::{PassphraseOptions, Resolver, SecretString, Setting, Vault, VaultError};

use crate::exit::CliError;
use crate::home::Home;

/// The vault entry holding the audit trail's Ed25519 checkpoint key (base64 of 32 bytes).
pub(crate) const AUDIT_KEY_ENTRY: &str = "audit_signing_key";

/// The vault entry and environment variable of the gateway's API key.
pub(crate) const API_KEY_SETTING: Setting<'static> = Setting {
    vault_name: "api_key",
    env_var: "RAMPART_API_KEY",
};

/// Owns the unlocked vault for the life of the process; `None` when the home has no vault.
pub(crate) struct Secrets {
    vault: Option<Vault>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("vault_unlocked", &self.vault.is_some())
            .finish()
    }
}

/// Maps a vault error to the contract's exit code (2 for what the user must fix, 1 otherwise).
pub(crate) fn vault_error(e: VaultError) -> CliError {
    if e.exit_code() == 2 {
        CliError::usage(e)
    } else {
        CliError::runtime(e)
    }
}

/// Does the config name any `vault:` reference?
fn references_vault(config: &Config) -> Option<String> {
    let refs = config
        .api_key
        .iter()
        .chain(config.providers.values().filter_map(|p| p.api_key.as_ref()));
    refs.into_iter().find_map(|r| match r {
        SecretRef::Vault(name) => Some(name.clone()),
        _ => None,
    })
}

impl Secrets {
    /// Already-unlocked secrets (the demo creates its vault itself).
    pub(crate) fn with_vault(vault: Option<Vault>) -> Self {
        Self { vault }
    }

    /// Unlocks the home's vault when there is one, reading the passphrase from the contract's
    /// sources (stdin with `--passphrase-stdin`, `RAMPART_VAULT_PASSPHRASE`, a no-echo prompt).
    /// A config that refers to `vault:NAME` without a vault is a configuration error.
    pub(crate) fn unlock(home: &Home, config: &Config, from_stdin: bool) -> Result<Self, CliError> {
        let path = rampart_vault::vault_path(&home.dir);
        if !path.exists() {
            if let Some(name) = references_vault(config) {
                return Err(CliError::usage(anyhow::anyhow!(
                    "the config refers to \"vault:{name}\" but there is no vault at {}: run `rampart init`",
                    path.display()
                )));
            }
            return Ok(Self { vault: None });
        }
        Ok(Self {
            vault: Some(open_vault(&path, from_stdin)?),
        })
    }

    /// `"unlocked"` or `"absent"`, for the health detail.
    pub(crate) fn vault_state(&self) -> &'static str {
        if self.vault.is_some() {
            "unlocked"
        } else {
            "absent"
        }
    }

    /// The audit trail's checkpoint key from the vault, created (and saved) on first use.
    pub(crate) fn audit_key(&mut self) -> Result<CheckpointKey, CliError> {
        let vault = self.vault.as_mut().ok_or_else(|| {
            CliError::usage(anyhow::anyhow!(
                "the audit trail signs its checkpoints with a key kept in the vault, and this home has none: \
                 run `rampart init`, or set [audit] enabled = false (not recommended)"
            ))
        })?;
        audit_key_in(vault)
    }

    /// The resolver over the vault and the environment.
    /// The unlocked vault, for the leak guard (which must know every value to redact it).
    pub(crate) fn vault_mut(&mut self) -> Option<&mut Vault> {
        self.vault.as_mut()
    }

    /// The unlocked vault, read-only.
    pub(crate) fn vault(&self) -> Option<&Vault> {
        self.vault.as_ref()
    }

    pub(crate) fn resolver(&self) -> Resolver<'_> {
        Resolver::new(self.vault.as_ref())
    }

    /// The gateway's API key: vault `api_key` > config `api_key` > `RAMPART_API_KEY`; `None` if
    /// no source has one.
    pub(crate) fn api_key(&self, config: &Config) -> Result<Option<SecretString>, CliError> {
        optional(
            self.resolver()
                .resolve_setting(API_KEY_SETTING, config.api_key.as_ref()),
        )
        .map_err(|e| CliError::usage(anyhow::anyhow!("api_key: {e}")))
    }

    /// A provider's key: vault `<kind>_api_key` > config > `OPENAI_API_KEY`/`ANTHROPIC_API_KEY`.
    pub(crate) fn provider_key(
        &self,
        name: &str,
        p: &ProviderConfig,
    ) -> Result<Option<SecretString>, CliError> {
        let setting = match p.kind {
            ProviderKind::Openai => Setting {
                vault_name: "openai_api_key",
                env_var: "OPENAI_API_KEY",
            },
            ProviderKind::Anthropic => Setting {
                vault_name: "anthropic_api_key",
                env_var: "ANTHROPIC_API_KEY",
            },
            ProviderKind::Scripted => return Ok(None),
        };
        optional(self.resolver().resolve_setting(setting, p.api_key.as_ref()))
            .map_err(|e| CliError::usage(anyhow::anyhow!("providers.{name}.api_key: {e}")))
    }
}

/// The checkpoint key stored in `vault`, generated and saved there if missing.
pub(crate) fn audit_key_in(vault: &mut Vault) -> Result<CheckpointKey, CliError> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    if let Some(stored) = vault.get(AUDIT_KEY_ENTRY) {
        let bytes = zeroize::Zeroizing::new(b64.decode(stored.expose_secret()).map_err(|_| {
            CliError::usage(anyhow::anyhow!(
                "vault entry {AUDIT_KEY_ENTRY} is not base64"
            ))
        })?);
        return CheckpointKey::from_bytes(&bytes)
            .map_err(|e| CliError::usage(anyhow::anyhow!("vault entry {AUDIT_KEY_ENTRY}: {e}")));
    }
    let key = CheckpointKey::generate().map_err(CliError::runtime)?;
    let encoded = b64.encode(key.to_bytes().as_slice());
    vault
        .set(AUDIT_KEY_ENTRY, SecretString::from(encoded))
        .map_err(vault_error)?;
    vault.save().map_err(vault_error)?;
    Ok(key)
}

/// "No source has a value" is not an error for optional settings.
fn optional(r: Result<SecretString, VaultError>) -> Result<Option<SecretString>, VaultError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(VaultError::NotConfigured { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Reads the passphrase and opens the vault at `path` (one key derivation).
pub(crate) fn open_vault(path: &Path, from_stdin: bool) -> Result<Vault, CliError> {
    let mut reader = PassphraseReader::from_process();
    let pass = reader
        .passphrase(PassphraseOptions {
            from_stdin,
            confirm: false,
        })
        .map_err(vault_error)?;
    Vault::open(path, &pass).map_err(vault_error)
}
