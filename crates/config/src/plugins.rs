//! `[security.wasm]` (SPEC W2) and `[plugins]` (SPEC W1, W3): how WASM plugins are metered, which
//! publishers are trusted, and what each installed plugin is granted.

use std::collections::BTreeMap;

use rampart_core::SecretRef;

/// `[security.wasm]`, checked: the limits every plugin call runs under (a plugin's manifest can
/// only lower them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WasmConfig {
    /// `fuel_limit` (default 10 000 000): fuel units (roughly WASM instructions) one call may
    /// burn; a tight loop traps when they are gone.
    pub fuel_limit: u64,
    /// `epoch_timeout_ms` (default 5000): wall-clock limit of one call, enforced by the epoch
    /// watchdog in WASM code and by the host functions while they wait.
    pub epoch_timeout_ms: u64,
    /// `max_memory_pages` (default 256 = 16 MiB): the most 64 KiB linear-memory pages a plugin
    /// instance may have.
    pub max_memory_pages: u32,
}

impl Default for WasmConfig {
    fn default() -> Self {
        Self {
            fuel_limit: DEFAULT_FUEL_LIMIT,
            epoch_timeout_ms: DEFAULT_EPOCH_TIMEOUT_MS,
            max_memory_pages: DEFAULT_MAX_MEMORY_PAGES,
        }
    }
}

/// Default `[security.wasm] fuel_limit`.
pub const DEFAULT_FUEL_LIMIT: u64 = 10_000_000;
/// Default `[security.wasm] epoch_timeout_ms`.
pub const DEFAULT_EPOCH_TIMEOUT_MS: u64 = 5000;
/// Default `[security.wasm] max_memory_pages` (16 MiB).
pub const DEFAULT_MAX_MEMORY_PAGES: u32 = 256;

/// The largest `fuel_limit` accepted.
///
/// # Security
/// Fuel is the bound on CPU per call; an effectively unlimited value would leave only the wall
/// clock.
pub const MAX_FUEL_LIMIT: u64 = 10_000_000_000;
/// The largest `epoch_timeout_ms` accepted (the tool registry's outer bound, 300 s).
///
/// # Security
/// A plugin call holds its agent's turn for at most this long.
pub const MAX_EPOCH_TIMEOUT_MS: u64 = 300_000;
/// The largest `max_memory_pages` accepted (4096 pages = 256 MiB).
///
/// # Security
/// Bounds the memory one plugin instance can take from the gateway.
pub const MAX_MEMORY_PAGES_CEILING: u32 = 4096;

/// The host functions a grant may name (see `docs/plugins.md`).
pub const HOST_FUNCTIONS: &[&str] = &["log", "kv", "http_fetch"];

/// The most trusted keys and grants accepted.
///
/// # Security
/// Bounds the work of parsing a hostile or mistaken configuration.
pub const MAX_PLUGIN_LIST_ENTRIES: usize = 256;

/// `[plugins]`, checked.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PluginsConfig {
    /// `enabled` (default `true`): load the plugins installed under `$RAMPART_HOME/plugins`.
    pub enabled: bool,
    /// `require_signed` (default `true`): refuse a plugin unless it carries a valid signature by
    /// one of `trusted_keys`.
    pub require_signed: bool,
    /// `trusted_keys` (default empty): publisher public keys, `ed25519:` + base64 of 32 bytes.
    /// The only keys a signature is checked against; a key a plugin carries is never trusted.
    pub trusted_keys: Vec<String>,
    /// `[plugins.grants.NAME]`: what the owner grants the plugin called NAME. A plugin with no
    /// grant gets no host function at all.
    pub grants: BTreeMap<String, PluginGrant>,
}

impl Default for PluginsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            require_signed: true,
            trusted_keys: Vec::new(),
            grants: BTreeMap::new(),
        }
    }
}

/// `[plugins.grants.NAME]`.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct PluginGrant {
    /// `host_functions` (default empty): which of [`HOST_FUNCTIONS`] the plugin may import; it
    /// gets those it both requests in its manifest and is granted here.
    pub host_functions: Vec<String>,
    /// `secrets` (default empty): the values behind the secret names the manifest declares, as
    /// references (`vault:NAME`, `env:VAR`). The host puts them into requests; the guest never
    /// sees them.
    pub secrets: BTreeMap<String, SecretRef>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWasm {
    fuel_limit: Option<u64>,
    epoch_timeout_ms: Option<u64>,
    max_memory_pages: Option<u32>,
}

impl RawWasm {
    /// Checks the values; the error names the key.
    pub(crate) fn into_config(self) -> Result<WasmConfig, (&'static str, String)> {
        let fuel_limit = self.fuel_limit.unwrap_or(DEFAULT_FUEL_LIMIT);
        if fuel_limit == 0 || fuel_limit > MAX_FUEL_LIMIT {
            return Err((
                "fuel_limit",
                format!("must be between 1 and {MAX_FUEL_LIMIT}"),
            ));
        }
        let epoch_timeout_ms = self.epoch_timeout_ms.unwrap_or(DEFAULT_EPOCH_TIMEOUT_MS);
        if epoch_timeout_ms == 0 || epoch_timeout_ms > MAX_EPOCH_TIMEOUT_MS {
            return Err((
                "epoch_timeout_ms",
                format!("must be between 1 and {MAX_EPOCH_TIMEOUT_MS}"),
            ));
        }
        let max_memory_pages = self.max_memory_pages.unwrap_or(DEFAULT_MAX_MEMORY_PAGES);
        if max_memory_pages == 0 || max_memory_pages > MAX_MEMORY_PAGES_CEILING {
            return Err((
                "max_memory_pages",
                format!("must be between 1 and {MAX_MEMORY_PAGES_CEILING}"),
            ));
        }
        Ok(WasmConfig {
            fuel_limit,
            epoch_timeout_ms,
            max_memory_pages,
        })
    }
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPlugins {
    enabled: Option<bool>,
    require_signed: Option<bool>,
    trusted_keys: Option<Vec<String>>,
    grants: Option<BTreeMap<String, RawGrant>>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGrant {
    host_functions: Option<Vec<String>>,
    secrets: Option<BTreeMap<String, SecretRef>>,
}

/// True for `ed25519:` followed by 44 characters of padded standard base64 (32 bytes).
fn looks_like_public_key(s: &str) -> bool {
    s.strip_prefix("ed25519:").is_some_and(|b| {
        b.len() == 44
            && b.ends_with('=')
            && b[..43]
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'+' || c == b'/')
    })
}

/// Plugin and secret names: `[a-z0-9_]`, 1 to 32 characters.
pub(crate) fn valid_plugin_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
}

impl RawPlugins {
    /// Checks the values; the error names the key (relative to `plugins.`).
    pub(crate) fn into_config(self) -> Result<PluginsConfig, (String, String)> {
        let trusted_keys = self.trusted_keys.unwrap_or_default();
        if trusted_keys.len() > MAX_PLUGIN_LIST_ENTRIES {
            return Err((
                "trusted_keys".to_owned(),
                format!("at most {MAX_PLUGIN_LIST_ENTRIES} entries"),
            ));
        }
        for k in &trusted_keys {
            if !looks_like_public_key(k) {
                return Err((
                    "trusted_keys".to_owned(),
                    format!("{k:?} is not \"ed25519:\" + base64 of a 32-byte public key"),
                ));
            }
        }
        let raw_grants = self.grants.unwrap_or_default();
        if raw_grants.len() > MAX_PLUGIN_LIST_ENTRIES {
            return Err((
                "grants".to_owned(),
                format!("at most {MAX_PLUGIN_LIST_ENTRIES} entries"),
            ));
        }
        let mut grants = BTreeMap::new();
        for (name, g) in raw_grants {
            if !valid_plugin_name(&name) {
                return Err((
                    format!("grants.{name}"),
                    "plugin names are 1 to 32 of [a-z0-9_]".to_owned(),
                ));
            }
            let host_functions = g.host_functions.unwrap_or_default();
            for f in &host_functions {
                if !HOST_FUNCTIONS.contains(&f.as_str()) {
                    return Err((
                        format!("grants.{name}.host_functions"),
                        format!("{f:?} is not one of {HOST_FUNCTIONS:?}"),
                    ));
                }
            }
            let secrets = g.secrets.unwrap_or_default();
            for s in secrets.keys() {
                if !valid_plugin_name(s) {
                    return Err((
                        format!("grants.{name}.secrets.{s}"),
                        "secret names are 1 to 32 of [a-z0-9_]".to_owned(),
                    ));
                }
            }
            grants.insert(
                name,
                PluginGrant {
                    host_functions,
                    secrets,
                },
            );
        }
        let d = PluginsConfig::default();
        Ok(PluginsConfig {
            enabled: self.enabled.unwrap_or(d.enabled),
            require_signed: self.require_signed.unwrap_or(d.require_signed),
            trusted_keys,
            grants,
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::Config;

    fn parse(s: &str) -> Result<Config, crate::ConfigError> {
        Config::from_toml_str(s, "config.toml")
    }

    #[test]
    fn wasm_and_plugin_defaults_are_the_secure_ones() {
        let c = parse("").unwrap();
        assert_eq!(c.security.wasm.fuel_limit, 10_000_000);
        assert_eq!(c.security.wasm.epoch_timeout_ms, 5000);
        assert_eq!(c.security.wasm.max_memory_pages, 256);
        assert!(c.plugins.enabled);
        assert!(c.plugins.require_signed);
        assert!(c.plugins.trusted_keys.is_empty());
        assert!(c.plugins.grants.is_empty());
    }

    #[test]
    fn every_wasm_and_plugin_key_is_read() {
        let key = format!("ed25519:{}=", "A".repeat(43));
        let c = parse(&format!(
            "[security.wasm]\nfuel_limit = 5000\nepoch_timeout_ms = 200\nmax_memory_pages = 8\n\
             [plugins]\nenabled = false\nrequire_signed = false\ntrusted_keys = [\"{key}\"]\n\
             [plugins.grants.weather]\nhost_functions = [\"log\", \"http_fetch\"]\n\
             secrets = {{ api_key = \"vault:weather_key\" }}\n"
        ))
        .unwrap();
        assert_eq!(c.security.wasm.fuel_limit, 5000);
        assert_eq!(c.security.wasm.epoch_timeout_ms, 200);
        assert_eq!(c.security.wasm.max_memory_pages, 8);
        assert!(!c.plugins.enabled);
        assert!(!c.plugins.require_signed);
        assert_eq!(c.plugins.trusted_keys, vec![key]);
        let g = &c.plugins.grants["weather"];
        assert_eq!(
            g.host_functions,
            vec!["log".to_owned(), "http_fetch".to_owned()]
        );
        assert!(
            matches!(&g.secrets["api_key"], rampart_core::SecretRef::Vault(n) if n == "weather_key")
        );
    }

    #[test]
    fn bad_wasm_and_plugin_values_name_their_key() {
        for (bad, key) in [
            (
                "[security.wasm]\nfuel_limit = 0\n",
                "security.wasm.fuel_limit",
            ),
            (
                "[security.wasm]\nepoch_timeout_ms = 999999999\n",
                "security.wasm.epoch_timeout_ms",
            ),
            (
                "[security.wasm]\nmax_memory_pages = 100000\n",
                "security.wasm.max_memory_pages",
            ),
            (
                "[plugins]\ntrusted_keys = [\"ssh-ed25519 AAAA\"]\n",
                "plugins.trusted_keys",
            ),
            (
                "[plugins.grants.w]\nhost_functions = [\"wasi_fs\"]\n",
                "plugins.grants.w.host_functions",
            ),
            ("[plugins.grants.\"../x\"]\n", "plugins.grants.../x"),
            ("[security.wasm]\nfuel = 1\n", "fuel"),
            ("[plugins]\nallow_unsigned = true\n", "allow_unsigned"),
        ] {
            let err = parse(bad).unwrap_err().to_string();
            assert!(err.contains(key), "{bad}: {err}");
        }
    }
}
