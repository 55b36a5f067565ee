//! `[channels.NAME]`: who may talk to the agents over a chat channel (SPEC P1–P3, R5).
//!
//! `[channels.telegram]` and `[channels.webchat]` exist; any other table under `[channels]` is an
//! error naming it, so a channel that is configured but not built can never look as if it were
//! running.

use std::num::NonZeroU32;

use rampart_core::{AgentName, SecretRef};

/// The default `rate_limit_per_user`: messages per minute one channel user may send.
///
/// # Security
/// Every answered message runs the model. Ten a minute is faster than a person types and slow
/// enough that a paired account that is stolen or scripted cannot run up a provider bill.
pub const DEFAULT_CHANNEL_RATE_LIMIT: u32 = 10;
/// The largest `rate_limit_per_user` accepted.
pub const MAX_CHANNEL_RATE_LIMIT: u32 = 10_000;
/// The most entries `allowed_users` may have.
///
/// # Security
/// The list is held in memory and looked up on every message; a bound keeps a mistaken paste
/// (or a generated file) from making the config itself a memory problem.
pub const MAX_ALLOWED_USERS: usize = 4096;
/// The longest channel user id accepted (SPEC I2).
pub const MAX_CHANNEL_ID_LEN: usize = 256;
/// The default Telegram Bot API base URL.
pub const DEFAULT_TELEGRAM_API_BASE_URL: &str = "https://api.telegram.org";

/// `allowlist`: who a channel answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AllowlistMode {
    /// Only `allowed_users` and users who paired (the default).
    #[default]
    Closed,
    /// Everyone on the channel (opt-in).
    Open,
}

/// The settings every channel shares: allowlist, rate limit, agent.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ChannelAccess {
    /// `allowlist` (default `"closed"`).
    pub allowlist: AllowlistMode,
    /// `allowed_users`: the channel's verified user ids that may talk to the agent without
    /// pairing (default none). Users who pair are added in the store, not here.
    pub allowed_users: Vec<String>,
    /// `rate_limit_per_user`: messages a minute per channel user id (default 10, SPEC P3).
    pub rate_limit_per_user: NonZeroU32,
    /// `default_agent`: the agent that answers the channel (default `assistant`).
    pub default_agent: AgentName,
}

/// `[channels.telegram]` (SPEC R5).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TelegramConfig {
    /// `enabled` (default `false`).
    pub enabled: bool,
    /// `bot_token`: a secret reference; resolved vault `telegram_bot_token` > this > the
    /// environment variable `TELEGRAM_BOT_TOKEN`. `None`: only the vault and the environment.
    pub bot_token: Option<SecretRef>,
    /// `api_base_url` (default `https://api.telegram.org`, no trailing slash); requests go to
    /// `{api_base_url}/bot{token}/METHOD`. Plain `http://` only to a loopback host (tests, a local
    /// proxy): anything else would send the bot token in clear text.
    pub api_base_url: String,
    /// The shared channel settings.
    pub access: ChannelAccess,
}

/// `[channels.webchat]`: the gateway's own WebSocket chat (`GET /api/agents/{name}/ws`). Always
/// on; the table only tightens or loosens who is answered.
///
/// The webchat user id is the authenticated principal's name (a `[[users]]` name, or `api_key`
/// for the gateway's own key, or `local` for the loopback bypass), never anything the client
/// sends. In closed mode (the default) the allowlist is: every enabled `[[users]]` entry with
/// role `user` or above (a viewer may not send messages anyway), the gateway's `api_key`, `allowed_users`, `channel_bindings = { webchat = "…" }` and principals who
/// paired. `local` is not on it unless listed.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct WebchatConfig {
    /// `allowlist`, `allowed_users` (principal names), `rate_limit_per_user`. The agent is the
    /// one in the socket's URL; `default_agent` is not a key here.
    pub access: ChannelAccess,
}

impl Default for ChannelAccess {
    /// The secure defaults: closed, nobody listed, [`DEFAULT_CHANNEL_RATE_LIMIT`] a minute, agent
    /// `assistant`.
    fn default() -> Self {
        Self {
            allowlist: AllowlistMode::Closed,
            allowed_users: Vec::new(),
            rate_limit_per_user: NonZeroU32::new(DEFAULT_CHANNEL_RATE_LIMIT)
                .unwrap_or(NonZeroU32::MIN),
            default_agent: default_agent(),
        }
    }
}

#[allow(clippy::expect_used, reason = "a constant that is a valid agent name")]
fn default_agent() -> AgentName {
    "assistant".parse().expect("a valid agent name")
}

/// `[channels]`.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct ChannelsConfig {
    /// `[channels.telegram]`, when the table is present.
    pub telegram: Option<TelegramConfig>,
    /// `[channels.webchat]`; the defaults when the table is absent.
    pub webchat: WebchatConfig,
}

impl ChannelsConfig {
    /// The shared settings of the channel called `name`, when it is configured and enabled.
    #[must_use]
    pub fn enabled_access(&self, name: &str) -> Option<&ChannelAccess> {
        match name {
            "telegram" => self
                .telegram
                .as_ref()
                .filter(|t| t.enabled)
                .map(|t| &t.access),
            _ => None,
        }
    }
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawChannels {
    telegram: Option<RawTelegram>,
    webchat: Option<RawWebchat>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebchat {
    allowlist: Option<String>,
    allowed_users: Option<Vec<String>>,
    rate_limit_per_user: Option<u32>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTelegram {
    enabled: Option<bool>,
    bot_token: Option<SecretRef>,
    api_base_url: Option<String>,
    allowlist: Option<String>,
    allowed_users: Option<Vec<String>>,
    rate_limit_per_user: Option<u32>,
    default_agent: Option<String>,
}

impl RawChannels {
    /// Checks and types `[channels]`; errors are `(dotted key, message)`.
    pub(crate) fn into_config(self) -> Result<ChannelsConfig, (String, String)> {
        let telegram = match self.telegram {
            None => None,
            Some(t) => Some(
                t.into_config()
                    .map_err(|(k, m)| (format!("channels.telegram.{k}"), m))?,
            ),
        };
        let webchat = match self.webchat {
            None => WebchatConfig::default(),
            Some(w) => WebchatConfig {
                access: access(
                    w.allowlist.as_deref(),
                    w.allowed_users,
                    w.rate_limit_per_user,
                    None,
                )
                .map_err(|(k, m)| (format!("channels.webchat.{k}"), m))?,
            },
        };
        Ok(ChannelsConfig { telegram, webchat })
    }
}

impl RawTelegram {
    fn into_config(self) -> Result<TelegramConfig, (String, String)> {
        let api_base_url = check_base_url(
            self.api_base_url
                .as_deref()
                .unwrap_or(DEFAULT_TELEGRAM_API_BASE_URL),
        )
        .map_err(|m| ("api_base_url".to_owned(), m))?;
        Ok(TelegramConfig {
            enabled: self.enabled.unwrap_or(false),
            bot_token: self.bot_token,
            api_base_url,
            access: access(
                self.allowlist.as_deref(),
                self.allowed_users,
                self.rate_limit_per_user,
                self.default_agent,
            )?,
        })
    }
}

fn access(
    allowlist: Option<&str>,
    allowed_users: Option<Vec<String>>,
    rate: Option<u32>,
    agent: Option<String>,
) -> Result<ChannelAccess, (String, String)> {
    let allowlist = match allowlist {
        None | Some("closed") => AllowlistMode::Closed,
        Some("open") => AllowlistMode::Open,
        Some(other) => {
            return Err((
                "allowlist".to_owned(),
                format!("{other:?} is not \"closed\" or \"open\""),
            ));
        }
    };
    let allowed_users = allowed_users.unwrap_or_default();
    if allowed_users.len() > MAX_ALLOWED_USERS {
        return Err((
            "allowed_users".to_owned(),
            format!("at most {MAX_ALLOWED_USERS} entries"),
        ));
    }
    for u in &allowed_users {
        if u.is_empty()
            || u.len() > MAX_CHANNEL_ID_LEN
            || u.chars().any(|c| c.is_control() || c.is_whitespace())
        {
            return Err((
                "allowed_users".to_owned(),
                format!(
                    "{:?} is not a user id (1-{MAX_CHANNEL_ID_LEN} characters, no spaces)",
                    u.chars().take(40).collect::<String>()
                ),
            ));
        }
    }
    let rate = rate.unwrap_or(DEFAULT_CHANNEL_RATE_LIMIT);
    let rate_limit_per_user = NonZeroU32::new(rate)
        .filter(|r| r.get() <= MAX_CHANNEL_RATE_LIMIT)
        .ok_or_else(|| {
            (
                "rate_limit_per_user".to_owned(),
                format!("must be between 1 and {MAX_CHANNEL_RATE_LIMIT}"),
            )
        })?;
    let agent = agent.unwrap_or_else(|| "assistant".to_owned());
    let default_agent = agent.parse::<AgentName>().map_err(|_| {
        (
            "default_agent".to_owned(),
            format!("{agent:?} is not an agent name"),
        )
    })?;
    Ok(ChannelAccess {
        allowlist,
        allowed_users,
        rate_limit_per_user,
        default_agent,
    })
}

/// An `https://` URL, or `http://` to a loopback host; returned without a trailing slash.
fn check_base_url(url: &str) -> Result<String, String> {
    let url = url.trim_end_matches('/');
    let rest = if let Some(rest) = url.strip_prefix("https://") {
        rest
    } else if let Some(rest) = url.strip_prefix("http://") {
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
        let name = if let Some(v6) = host.strip_prefix('[') {
            v6.split(']').next().unwrap_or("")
        } else {
            host.split(':').next().unwrap_or("")
        };
        let loopback = name == "localhost"
            || name
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if !loopback {
            return Err(
                "must be https:// (plain http:// only to a loopback host): the bot token is part of every request URL"
                    .to_owned(),
            );
        }
        rest
    } else {
        return Err("must start with https://".to_owned());
    };
    if rest.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{url:?} is not a URL"));
    }
    if rest.contains(['?', '#']) {
        return Err("must not have a query or fragment".to_owned());
    }
    Ok(url.to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use crate::Config;

    fn parse(s: &str) -> Result<Config, crate::ConfigError> {
        Config::from_toml_str(s, "config.toml")
    }

    #[test]
    fn telegram_defaults_are_the_secure_ones() {
        let c = parse("").unwrap();
        assert!(c.channels.telegram.is_none());
        let c = parse("[channels.telegram]\n").unwrap();
        let t = c.channels.telegram.unwrap();
        assert!(!t.enabled);
        assert!(t.bot_token.is_none());
        assert_eq!(t.api_base_url, "https://api.telegram.org");
        assert_eq!(t.access.allowlist, super::AllowlistMode::Closed);
        assert!(t.access.allowed_users.is_empty());
        assert_eq!(t.access.rate_limit_per_user.get(), 10);
        assert_eq!(t.access.default_agent.as_str(), "assistant");
    }

    #[test]
    fn telegram_keys_are_read() {
        let c = parse(
            "[channels.telegram]\nenabled = true\nbot_token = \"env:TG\"\n\
             api_base_url = \"http://127.0.0.1:9999/\"\nallowlist = \"open\"\n\
             allowed_users = [\"42\"]\nrate_limit_per_user = 3\ndefault_agent = \"helper\"\n",
        )
        .unwrap();
        let t = c.channels.telegram.as_ref().unwrap();
        assert!(t.enabled);
        assert!(matches!(t.bot_token, Some(rampart_core::SecretRef::Env(ref v)) if v == "TG"));
        assert_eq!(t.api_base_url, "http://127.0.0.1:9999");
        assert_eq!(t.access.allowlist, super::AllowlistMode::Open);
        assert_eq!(t.access.allowed_users, vec!["42".to_owned()]);
        assert_eq!(t.access.rate_limit_per_user.get(), 3);
        assert_eq!(t.access.default_agent.as_str(), "helper");
        assert!(c.channels.enabled_access("telegram").is_some());
        assert!(c.channels.enabled_access("discord").is_none());
    }

    #[test]
    fn webchat_keys_are_read_and_default_closed() {
        let c = parse("").unwrap();
        assert_eq!(
            c.channels.webchat.access.allowlist,
            super::AllowlistMode::Closed
        );
        assert!(c.channels.webchat.access.allowed_users.is_empty());
        assert_eq!(c.channels.webchat.access.rate_limit_per_user.get(), 10);
        let c = parse(
            "[channels.webchat]\nallowlist = \"open\"\nallowed_users = [\"local\"]\n\
             rate_limit_per_user = 4\n",
        )
        .unwrap();
        let w = &c.channels.webchat.access;
        assert_eq!(w.allowlist, super::AllowlistMode::Open);
        assert_eq!(w.allowed_users, vec!["local".to_owned()]);
        assert_eq!(w.rate_limit_per_user.get(), 4);
        for (bad, key) in [
            ("default_agent = \"x\"", "default_agent"),
            ("enabled = false", "enabled"),
            (
                "rate_limit_per_user = 0",
                "channels.webchat.rate_limit_per_user",
            ),
            ("allowlist = \"all\"", "channels.webchat.allowlist"),
        ] {
            let err = parse(&format!("[channels.webchat]\n{bad}\n"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(key), "{bad}: {err}");
        }
    }

    #[test]
    fn bad_channel_settings_are_refused() {
        for (bad, key) in [
            ("allowlist = \"everyone\"", "channels.telegram.allowlist"),
            ("allowed_users = [\"\"]", "channels.telegram.allowed_users"),
            (
                "allowed_users = [\"a b\"]",
                "channels.telegram.allowed_users",
            ),
            (
                "rate_limit_per_user = 0",
                "channels.telegram.rate_limit_per_user",
            ),
            (
                "default_agent = \"../x\"",
                "channels.telegram.default_agent",
            ),
            (
                "api_base_url = \"http://api.telegram.org\"",
                "channels.telegram.api_base_url",
            ),
            (
                "api_base_url = \"ftp://x\"",
                "channels.telegram.api_base_url",
            ),
            (
                "api_base_url = \"http://127.0.0.1.evil.com\"",
                "channels.telegram.api_base_url",
            ),
        ] {
            let err = parse(&format!("[channels.telegram]\n{bad}\n"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(key), "{bad}: {err}");
        }
        let err = parse("[channels.telegram]\nallow_list = \"open\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("allow_list"), "{err}");
        let err = parse("[channels.discord]\nenabled = true\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("discord"), "{err}");
    }
}
