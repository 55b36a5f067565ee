//! The typed configuration and its raw serde form.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use rampart_core::SecretRef;

use crate::channels::{ChannelsConfig, RawChannels};
use crate::edge::{EdgeConfig, RawEdge, RawWebhook};
use crate::exec::{
    DEFAULT_APPROVAL_TTL_SECS, DockerConfig, RawDocker, RawShell, ShellConfig,
    check_approval_required, check_approval_ttl,
};
use crate::headers::RawHeaders;
use crate::plugins::{PluginsConfig, RawPlugins, RawWasm, WasmConfig};
use crate::users::{RawUser, UserConfig, into_users};
use crate::web::{RawWeb, WebFetchConfig};
use crate::{ConfigError, ProviderConfig, SecurityHeaders};

/// The whole configuration, parsed and checked.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Config {
    /// The gateway's API key (`api_key`). `None` means no key is configured: every protected
    /// route then answers 401, and binding a non-loopback address is refused (SPEC A3).
    pub api_key: Option<SecretRef>,
    /// Where the gateway listens (`api_listen`). Default `127.0.0.1:4200`: loopback only (SPEC N1).
    pub api_listen: SocketAddr,
    /// Whether requests from loopback need the key too (`api_require_auth_local`). Default
    /// `true`: a reverse proxy on the same host makes every request look local (SPEC A4).
    pub api_require_auth_local: bool,
    /// `[providers.NAME]` tables.
    pub providers: BTreeMap<String, ProviderConfig>,
    /// `[security]`.
    pub security: SecurityConfig,
    /// `[agents]`: limits of the agent loop.
    pub agents: AgentsConfig,
    /// `[audit]`: the tamper-evident audit trail.
    pub audit: AuditConfig,
    /// `[web.fetch]`: what `web_fetch` may reach.
    pub web_fetch: WebFetchConfig,
    /// `[plugins]`: trusted publisher keys and what each WASM plugin is granted (SPEC W1, W3).
    pub plugins: PluginsConfig,
    /// Rate limits, trusted proxies, WebSocket origins, the webhook trigger (SPEC N2, N3, N6, N7).
    pub edge: EdgeConfig,
    /// `[channels.NAME]`: chat channels, their allowlists and per-user limits (SPEC P1–P3, R5).
    pub channels: ChannelsConfig,
    /// `[[users]]`: people, roles and API key hashes (SPEC A5). Default none.
    pub users: Vec<UserConfig>,
    /// `[network]`: the peer protocol; `None` (off) unless the section sets `shared_secret`.
    pub network: Option<crate::NetworkConfig>,
}

/// `[audit]` (SPEC D1).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct AuditConfig {
    /// `enabled` (default `true`). Turning it off is possible but `start` logs a warning: every
    /// security decision then goes unrecorded.
    pub enabled: bool,
    /// `log_path` (default `audit.jsonl`, relative to the home).
    pub log_path: PathBuf,
}

/// `[security]`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SecurityConfig {
    /// `[security.headers]`, put on every response (SPEC N4).
    pub headers: SecurityHeaders,
    /// `prompt_injection_scan` (default `true`): run the injection detector on every inbound
    /// message (SPEC I1). Off, messages are still sanitized and size-checked.
    pub prompt_injection_scan: bool,
    /// `allow_symlinks` (default `false`): whether file tools follow symlinks that stay inside the
    /// workspace. Links out of the workspace are refused either way.
    pub allow_symlinks: bool,
    /// `approval_required` (default `["shell_exec"]`): tools whose every call waits for a
    /// human's approval of its exact arguments (SPEC A7).
    pub approval_required: Vec<String>,
    /// `approval_ttl_secs` (default 600): how long an approval request stays usable.
    pub approval_ttl_secs: i64,
    /// `[security.shell]`: how `shell_exec` runs commands (SPEC T3).
    pub shell: ShellConfig,
    /// `[security.docker]`: the container option (SPEC T4; off by default).
    pub docker: DockerConfig,
    /// `[security.wasm]`: the metering of every WASM plugin call (SPEC W2).
    pub wasm: WasmConfig,
}

/// `[agents]`: limits that apply to every agent.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct AgentsConfig {
    /// `max_turns`: model calls per user message before the loop stops (default 8).
    pub max_turns: usize,
}

/// The default and the ceiling of `[agents] max_turns`.
///
/// # Security
/// A model that keeps calling tools must not run (and bill) forever; even a configured value is
/// capped at [`MAX_TURNS_CEILING`].
pub const DEFAULT_MAX_TURNS: usize = 8;
/// The largest `max_turns` accepted.
pub const MAX_TURNS_CEILING: usize = 64;

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    api_key: Option<SecretRef>,
    api_listen: Option<String>,
    api_require_auth_local: Option<bool>,
    #[serde(default)]
    providers: BTreeMap<String, ProviderConfig>,
    security: Option<RawSecurity>,
    agents: Option<RawAgents>,
    audit: Option<RawAudit>,
    web: Option<RawWeb>,
    plugins: Option<RawPlugins>,
    api_rate_limit: Option<u32>,
    api_rate_burst: Option<u32>,
    trusted_proxies: Option<Vec<String>>,
    ws_allowed_origins: Option<Vec<String>>,
    webhook_trigger: Option<RawWebhook>,
    channels: Option<RawChannels>,
    users: Option<Vec<RawUser>>,
    network: Option<crate::network::RawNetwork>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecurity {
    headers: Option<RawHeaders>,
    prompt_injection_scan: Option<bool>,
    strict_path_validation: Option<bool>,
    allow_symlinks: Option<bool>,
    approval_required: Option<Vec<String>>,
    approval_ttl_secs: Option<i64>,
    shell: Option<RawShell>,
    docker: Option<RawDocker>,
    wasm: Option<RawWasm>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAudit {
    enabled: Option<bool>,
    log_path: Option<PathBuf>,
    hash_algorithm: Option<String>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAgents {
    max_turns: Option<usize>,
}

impl Config {
    /// Reads and parses `path`.
    ///
    /// # Errors
    /// [`ConfigError::Read`] when the file can't be read, otherwise as [`Config::from_toml_str`].
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let file = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        Self::from_toml_str(&text, &file)
    }

    /// Parses TOML text; `file` names the source in error messages.
    ///
    /// # Errors
    /// [`ConfigError::Parse`] (with the line) for syntax errors, unknown keys and wrong types;
    /// [`ConfigError::Invalid`] for values that parse but are unacceptable.
    pub fn from_toml_str(text: &str, file: &str) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| parse_error(&e, text, file))?;
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            file: file.to_owned(),
            key: key.to_owned(),
            message,
        };

        let api_listen = match raw.api_listen {
            None => SocketAddr::from(([127, 0, 0, 1], 4200)),
            Some(s) => s.parse().map_err(|_| {
                invalid(
                    "api_listen",
                    format!("{s:?} is not an address like \"127.0.0.1:4200\""),
                )
            })?,
        };
        for (name, provider) in &raw.providers {
            if let Some(url) = &provider.base_url
                && !(url.starts_with("http://") || url.starts_with("https://"))
            {
                return Err(invalid(
                    &format!("providers.{name}.base_url"),
                    "must start with http:// or https://".to_owned(),
                ));
            }
        }
        let security = raw.security.unwrap_or_default();
        if security.strict_path_validation == Some(false) {
            return Err(invalid(
                "security.strict_path_validation",
                "cannot be turned off: file tools always stay inside the agent's workspace"
                    .to_owned(),
            ));
        }
        let web_fetch = match raw.web.unwrap_or_default().fetch {
            None => WebFetchConfig::default(),
            Some(f) => f
                .into_config()
                .map_err(|(key, msg)| invalid(&format!("web.fetch.{key}"), msg))?,
        };
        let audit = raw.audit.unwrap_or_default();
        if let Some(alg) = audit.hash_algorithm.as_deref()
            && alg != "sha256"
        {
            return Err(invalid(
                "audit.hash_algorithm",
                format!("{alg:?} is not supported; use \"sha256\""),
            ));
        }
        let log_path = audit
            .log_path
            .unwrap_or_else(|| PathBuf::from("audit.jsonl"));
        if log_path.as_os_str().is_empty() {
            return Err(invalid("audit.log_path", "must not be empty".to_owned()));
        }
        let headers = match security.headers {
            None => SecurityHeaders::default(),
            Some(h) => h
                .into_headers()
                .map_err(|(key, msg)| invalid(&format!("security.headers.{key}"), msg))?,
        };
        let approval_required = security
            .approval_required
            .unwrap_or_else(|| vec!["shell_exec".to_owned()]);
        check_approval_required(&approval_required)
            .map_err(|(key, msg)| invalid(&format!("security.{key}"), msg))?;
        let approval_ttl_secs = check_approval_ttl(
            security
                .approval_ttl_secs
                .unwrap_or(DEFAULT_APPROVAL_TTL_SECS),
        )
        .map_err(|(key, msg)| invalid(&format!("security.{key}"), msg))?;
        let shell = security
            .shell
            .unwrap_or_default()
            .into_config()
            .map_err(|(key, msg)| invalid(&format!("security.shell.{key}"), msg))?;
        let docker = security
            .docker
            .unwrap_or_default()
            .into_config()
            .map_err(|(key, msg)| invalid(&format!("security.docker.{key}"), msg))?;
        let wasm = security
            .wasm
            .unwrap_or_default()
            .into_config()
            .map_err(|(key, msg)| invalid(&format!("security.wasm.{key}"), msg))?;
        let plugins = raw
            .plugins
            .unwrap_or_default()
            .into_config()
            .map_err(|(key, msg)| invalid(&format!("plugins.{key}"), msg))?;
        let max_turns = raw
            .agents
            .and_then(|a| a.max_turns)
            .unwrap_or(DEFAULT_MAX_TURNS);
        if max_turns == 0 || max_turns > MAX_TURNS_CEILING {
            return Err(invalid(
                "agents.max_turns",
                format!("must be between 1 and {MAX_TURNS_CEILING}"),
            ));
        }
        let edge = RawEdge {
            api_rate_limit: raw.api_rate_limit,
            api_rate_burst: raw.api_rate_burst,
            trusted_proxies: raw.trusted_proxies,
            ws_allowed_origins: raw.ws_allowed_origins,
            webhook_trigger: raw.webhook_trigger,
        }
        .into_edge()
        .map_err(|(key, msg)| invalid(&key, msg))?;
        let channels = raw
            .channels
            .unwrap_or_default()
            .into_config()
            .map_err(|(key, msg)| invalid(&key, msg))?;
        let users =
            into_users(raw.users.unwrap_or_default()).map_err(|(key, msg)| invalid(&key, msg))?;
        let network = raw
            .network
            .unwrap_or_default()
            .into_config()
            .map_err(|(key, msg)| invalid(&format!("network.{key}"), msg))?;
        Ok(Self {
            network,
            edge,
            users,
            channels,
            api_key: raw.api_key,
            api_listen,
            api_require_auth_local: raw.api_require_auth_local.unwrap_or(true),
            providers: raw.providers,
            security: SecurityConfig {
                headers,
                prompt_injection_scan: security.prompt_injection_scan.unwrap_or(true),
                allow_symlinks: security.allow_symlinks.unwrap_or(false),
                approval_required,
                approval_ttl_secs,
                shell,
                docker,
                wasm,
            },
            agents: AgentsConfig { max_turns },
            audit: AuditConfig {
                enabled: audit.enabled.unwrap_or(true),
                log_path,
            },
            web_fetch,
            plugins,
        })
    }

    /// A path from the config, made absolute against `home` when relative.
    #[must_use]
    pub fn home_relative(home: &Path, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            home.join(path)
        }
    }
}

/// Turns a TOML/serde error into `file:line: message`, with the line taken from the error's span.
fn parse_error(e: &toml::de::Error, text: &str, file: &str) -> ConfigError {
    let line = e.span().map_or(1, |span| {
        text.get(..span.start)
            .map_or(1, |before| before.matches('\n').count() + 1)
    });
    let message = e.message().trim().replace("unknown field", "unknown key");
    ConfigError::Parse {
        file: file.to_owned(),
        line,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_and_approval_defaults_are_the_secure_ones() {
        let c = parse("").unwrap();
        assert_eq!(c.security.approval_required, vec!["shell_exec".to_owned()]);
        assert_eq!(c.security.approval_ttl_secs, 600);
        assert!(!c.security.shell.allow_shell);
        assert!(c.security.shell.env_passthrough.is_empty());
        assert!(!c.security.docker.enabled);
        assert_eq!(c.security.docker.network, "none");
        assert!(c.security.docker.read_only_root);
        assert_eq!(c.security.docker.pids_limit, 100);
    }

    #[test]
    fn exec_keys_are_read_and_checked() {
        let c = parse(
            "[security]\napproval_required = []\napproval_ttl_secs = 60\n[security.shell]\n\
             allowed_programs = [\"echo\"]\nenv_passthrough = [\"LANG\"]\n[security.docker]\n\
             enabled = true\nmemory_limit = \"256m\"\n",
        )
        .unwrap();
        assert!(c.security.approval_required.is_empty());
        assert_eq!(c.security.approval_ttl_secs, 60);
        assert_eq!(c.security.shell.allowed_programs, vec!["echo".to_owned()]);
        assert_eq!(c.security.docker.memory_limit, "256m");
        for (bad, key) in [
            (
                "[security.shell]\nallowed_programs = [\"/bin/sh\"]\n",
                "security.shell.allowed_programs",
            ),
            (
                "[security.shell]\ntimeout_secs = 0\n",
                "security.shell.timeout_secs",
            ),
            (
                "[security.docker]\nnetwork = \"host\"\n",
                "security.docker.network",
            ),
            (
                "[security.docker]\nimage = \"--privileged\"\n",
                "security.docker.image",
            ),
            (
                "[security.docker]\nmemory_limit = \"lots\"\n",
                "security.docker.memory_limit",
            ),
            (
                "[security]\napproval_ttl_secs = 0\n",
                "security.approval_ttl_secs",
            ),
        ] {
            let err = parse(bad).unwrap_err().to_string();
            assert!(err.contains(key), "{bad}: {err}");
        }
        let err = parse("[security.docker]\nprivileged = true\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("privileged"), "{err}");
    }

    fn parse(s: &str) -> Result<Config, ConfigError> {
        Config::from_toml_str(s, "config.toml")
    }

    #[test]
    fn empty_file_gives_secure_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.api_listen, SocketAddr::from(([127, 0, 0, 1], 4200)));
        assert!(c.api_require_auth_local);
        assert!(c.api_key.is_none());
        assert_eq!(c.security.headers.x_frame_options, "DENY");
        assert_eq!(c.agents.max_turns, DEFAULT_MAX_TURNS);
        assert!(c.security.prompt_injection_scan);
        assert!(c.audit.enabled);
        assert_eq!(c.audit.log_path, PathBuf::from("audit.jsonl"));
    }

    #[test]
    fn web_fetch_and_path_settings() {
        let c = parse("[web.fetch]\nmax_redirects = 2\nallow_private = [\"127.0.0.1:8123\"]\n")
            .unwrap();
        assert_eq!(c.web_fetch.max_redirects, 2);
        assert!(c.web_fetch.block_private_ips && c.web_fetch.block_metadata_endpoints);
        assert!(!c.security.allow_symlinks);
        assert!(parse("[web.fetch]\nmax_redirects = 50\n").is_err());
        assert!(parse("[web.fetch]\nallow_private = [\"127.0.0.1\"]\n").is_err());
        assert!(parse("[web.fetch]\nblock_privte_ips = false\n").is_err());
        let err = parse("[security]\nstrict_path_validation = false\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("security.strict_path_validation"), "{err}");
    }

    #[test]
    fn audit_hash_algorithm_must_be_sha256() {
        assert!(parse("[audit]\nhash_algorithm = \"sha256\"\n").is_ok());
        let err = parse("[audit]\nhash_algorithm = \"md5\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("audit.hash_algorithm"), "{err}");
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let err = parse(
            "api_listen = \"127.0.0.1:1\"\n\n[security.headers]\ncsp = \"x\"\nframe = \"DENY\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("config.toml:5:"), "{err}");
        assert!(err.contains("unknown key `frame`"), "{err}");
    }

    #[test]
    fn unknown_table_is_refused() {
        let err = parse("[securty]\nallow_symlinks = true\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("securty"), "{err}");
    }

    #[test]
    fn header_injection_is_refused() {
        let err = parse("[security.headers]\ncsp = \"a\\r\\nSet-Cookie: x=1\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("security.headers.csp"), "{err}");
    }

    #[test]
    fn bad_listen_and_bad_provider_url_are_refused() {
        assert!(parse("api_listen = \"localhost\"").is_err());
        assert!(
            parse("[providers.x]\nkind = \"openai\"\nbase_url = \"file:///etc/passwd\"\n").is_err()
        );
        assert!(parse("[providers.x]\nkind = \"gpt\"\n").is_err());
        assert!(parse("[agents]\nmax_turns = 0\n").is_err());
        assert!(parse("[agents]\nmax_turns = 1000\n").is_err());
    }

    #[test]
    fn error_never_echoes_a_literal_secret() {
        // A literal api_key on a line with a type error elsewhere must not be printed back.
        let err = parse("api_key = \"sk-live-SECRET\"\napi_require_auth_local = \"no\"\n")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("SECRET"), "{err}");
    }

    #[test]
    fn providers_parse() {
        let c = parse("[providers.default]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:1/v1\"\napi_key = \"env:K\"\n")
            .unwrap();
        let p = &c.providers["default"];
        assert_eq!(p.kind, crate::ProviderKind::Openai);
        assert_eq!(p.effective_base_url(), Some("http://127.0.0.1:1/v1"));
        assert!(matches!(p.api_key, Some(SecretRef::Env(ref v)) if v == "K"));
    }
}
