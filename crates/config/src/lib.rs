//! # rampart-config
//!
//! `config.toml` is parsed **once**, at start-up or on reload, into a typed [`Config`]. After that
//! no code looks at raw TOML: a value that exists in a `Config` has already been checked.
//!
//! Rules this crate enforces:
//! - **Unknown keys are errors**, naming the key and its line, so a misspelt security setting
//!   (`api_requre_auth_local = false`) can never be silently ignored.
//! - **Every default is the secure one**, and each is documented on its field: loopback bind,
//!   authentication required even from loopback, strict security headers.
//! - **Secrets are references** ([`SecretRef`]): `vault:NAME`, `env:VAR` or a literal. This crate
//!   never resolves them; the vault crate does (vault > config file > environment).
//!
//! ```
//! let cfg = rampart_config::Config::from_toml_str(r#"
//! api_key = "env:RAMPART_API_KEY"
//! [providers.default]
//! kind = "scripted"
//! "#, "config.toml").unwrap();
//! assert_eq!(cfg.api_listen.to_string(), "127.0.0.1:4200");
//! assert!(cfg.api_require_auth_local);
//!
//! let err = rampart_config::Config::from_toml_str("api_requre_auth_local = false", "config.toml")
//!     .unwrap_err();
//! assert!(err.to_string().contains("config.toml:1"));
//! assert!(err.to_string().contains("api_requre_auth_local"));
//! ```

#![forbid(unsafe_code)]

mod channels;
mod edge;
mod error;
mod exec;
mod headers;
mod model;
mod network;
mod plugins;
mod provider;
mod template;
mod users;
mod web;

pub use channels::{
    AllowlistMode, ChannelAccess, ChannelsConfig, DEFAULT_CHANNEL_RATE_LIMIT,
    DEFAULT_TELEGRAM_API_BASE_URL, MAX_ALLOWED_USERS, MAX_CHANNEL_ID_LEN, MAX_CHANNEL_RATE_LIMIT,
    TelegramConfig, WebchatConfig,
};
pub use edge::{
    DEFAULT_API_RATE_BURST, DEFAULT_API_RATE_LIMIT, DEFAULT_WEBHOOK_RATE_LIMIT,
    DEFAULT_WEBHOOK_TOKEN_ENV, EdgeConfig, MAX_EDGE_LIST_ENTRIES, TrustedProxy,
    WebhookTriggerConfig,
};
pub use error::ConfigError;
pub use exec::{
    DEFAULT_ALLOWED_PROGRAMS, DEFAULT_APPROVAL_TTL_SECS, DockerConfig, MAX_APPROVAL_TTL_SECS,
    MAX_EXEC_LIST_ENTRIES, MAX_EXEC_TIMEOUT_SECS, ShellConfig,
};
pub use headers::SecurityHeaders;
pub use model::{
    AgentsConfig, AuditConfig, Config, DEFAULT_MAX_TURNS, MAX_TURNS_CEILING, SecurityConfig,
};
pub use network::{DEFAULT_PEER_LISTEN, MAX_PEERS, NetworkConfig};
pub use plugins::{
    DEFAULT_EPOCH_TIMEOUT_MS, DEFAULT_FUEL_LIMIT, DEFAULT_MAX_MEMORY_PAGES, HOST_FUNCTIONS,
    MAX_EPOCH_TIMEOUT_MS, MAX_FUEL_LIMIT, MAX_MEMORY_PAGES_CEILING, MAX_PLUGIN_LIST_ENTRIES,
    PluginGrant, PluginsConfig, WasmConfig,
};
pub use provider::{ProviderConfig, ProviderKind};
pub use rampart_core::SecretRef;
pub use template::{TemplateOptions, default_config_toml};
pub use users::{
    KeyHash, MAX_CHANNEL_BINDINGS, MAX_USER_FIELD_LEN, MAX_USERS, MIN_BCRYPT_COST, UserConfig,
};
pub use web::{MAX_REDIRECTS_CEILING, WebFetchConfig};
