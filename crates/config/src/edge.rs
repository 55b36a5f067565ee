//! The gateway's edge settings: rate limits, trusted proxies, the WebSocket origin allowlist and
//! the webhook trigger (SPEC N2, N3, N6, N7).

use std::net::IpAddr;
use std::num::NonZeroU32;

/// The default `api_rate_limit`: requests per minute per client IP.
///
/// # Security
/// 100 a minute is far above what a person at a chat client sends and low enough that a single
/// address cannot run up a provider bill or starve other clients.
pub const DEFAULT_API_RATE_LIMIT: u32 = 100;
/// The default `api_rate_burst`: cells a client may spend at once before the rate applies. A
/// minute's worth: a chat client that opens with a flurry of reads and a few messages is served,
/// a flood is not (the long-run rate stays `api_rate_limit`).
pub const DEFAULT_API_RATE_BURST: u32 = 100;
/// The default `[webhook_trigger] rate_limit_per_minute`.
pub const DEFAULT_WEBHOOK_RATE_LIMIT: u32 = 30;
/// The default `[webhook_trigger] token_env`.
pub const DEFAULT_WEBHOOK_TOKEN_ENV: &str = "RAMPART_WEBHOOK_TOKEN";
/// The most entries `trusted_proxies` and `ws_allowed_origins` may each have.
pub const MAX_EDGE_LIST_ENTRIES: usize = 256;

/// One `trusted_proxies` entry: an address or a CIDR block (`10.0.0.0/8`, `::1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrustedProxy {
    addr: IpAddr,
    prefix: u8,
}

impl TrustedProxy {
    /// Whether `ip` is inside this entry. IPv4-mapped IPv6 peers are compared as IPv4.
    #[must_use]
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 @ IpAddr::V4(_) => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl std::str::FromStr for TrustedProxy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, prefix) = s.split_once('/').map_or((s, None), |(a, p)| (a, Some(p)));
        let addr: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("{s:?} is not an IP address or CIDR block"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0..={max}"))?,
        };
        Ok(Self { addr, prefix })
    }
}

/// The edge settings, parsed.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct EdgeConfig {
    /// `api_rate_limit`: requests per minute per client IP (default 100, SPEC N2). A message to an
    /// agent costs more than one request (see the gateway's rate-limit docs).
    pub api_rate_limit: NonZeroU32,
    /// `api_rate_burst`: how many cells a client may spend back to back (default 100).
    pub api_rate_burst: NonZeroU32,
    /// `trusted_proxies`: peers whose `X-Forwarded-For` / `Forwarded` header names the client
    /// (default none: the TCP peer is the client, and those headers are ignored) (SPEC N6).
    pub trusted_proxies: Vec<TrustedProxy>,
    /// `ws_allowed_origins`: `Origin` values a WebSocket upgrade may carry, e.g.
    /// `"https://chat.example.com"`. Empty (the default): only the gateway's own origin (the
    /// `Host` the request was sent to), and clients that send no `Origin` (non-browsers).
    pub ws_allowed_origins: Vec<String>,
    /// `[webhook_trigger]` (SPEC N7).
    pub webhook_trigger: WebhookTriggerConfig,
}

/// `[webhook_trigger]`: `POST /hooks/{agent}` with a shared token.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct WebhookTriggerConfig {
    /// `enabled` (default `false`: the route answers 404).
    pub enabled: bool,
    /// `token_env`: the environment variable holding the token (default `RAMPART_WEBHOOK_TOKEN`).
    pub token_env: String,
    /// `rate_limit_per_minute` (default 30), per client IP, on top of `api_rate_limit`.
    pub rate_limit_per_minute: NonZeroU32,
}

impl Default for EdgeConfig {
    fn default() -> Self {
        Self {
            api_rate_limit: nz(DEFAULT_API_RATE_LIMIT),
            api_rate_burst: nz(DEFAULT_API_RATE_BURST),
            trusted_proxies: Vec::new(),
            ws_allowed_origins: Vec::new(),
            webhook_trigger: WebhookTriggerConfig::default(),
        }
    }
}

impl Default for WebhookTriggerConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            token_env: DEFAULT_WEBHOOK_TOKEN_ENV.to_owned(),
            rate_limit_per_minute: nz(DEFAULT_WEBHOOK_RATE_LIMIT),
        }
    }
}

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

/// The raw `[webhook_trigger]` table.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWebhook {
    enabled: Option<bool>,
    token_env: Option<String>,
    rate_limit_per_minute: Option<u32>,
}

/// The raw top-level edge keys, gathered by the caller.
#[derive(Debug, Default)]
pub(crate) struct RawEdge {
    pub(crate) api_rate_limit: Option<u32>,
    pub(crate) api_rate_burst: Option<u32>,
    pub(crate) trusted_proxies: Option<Vec<String>>,
    pub(crate) ws_allowed_origins: Option<Vec<String>>,
    pub(crate) webhook_trigger: Option<RawWebhook>,
}

impl RawEdge {
    /// Checks and types the edge keys; errors are `(dotted key, message)`.
    pub(crate) fn into_edge(self) -> Result<EdgeConfig, (String, String)> {
        let positive = |key: &str, v: Option<u32>, default: u32| {
            NonZeroU32::new(v.unwrap_or(default))
                .ok_or_else(|| (key.to_owned(), "must be at least 1".to_owned()))
        };
        let api_rate_limit = positive(
            "api_rate_limit",
            self.api_rate_limit,
            DEFAULT_API_RATE_LIMIT,
        )?;
        let api_rate_burst = positive(
            "api_rate_burst",
            self.api_rate_burst,
            DEFAULT_API_RATE_BURST,
        )?;
        let proxies = self.trusted_proxies.unwrap_or_default();
        let origins = self.ws_allowed_origins.unwrap_or_default();
        for (key, list) in [
            ("trusted_proxies", &proxies),
            ("ws_allowed_origins", &origins),
        ] {
            if list.len() > MAX_EDGE_LIST_ENTRIES {
                return Err((
                    key.to_owned(),
                    format!("at most {MAX_EDGE_LIST_ENTRIES} entries"),
                ));
            }
        }
        let trusted_proxies = proxies
            .iter()
            .map(|p| p.parse())
            .collect::<Result<Vec<TrustedProxy>, _>>()
            .map_err(|m| ("trusted_proxies".to_owned(), m))?;
        let ws_allowed_origins = origins
            .into_iter()
            .map(|o| {
                let o = o.trim_end_matches('/').to_ascii_lowercase();
                if (o.starts_with("http://") || o.starts_with("https://"))
                    && !o.contains(char::is_whitespace)
                {
                    Ok(o)
                } else {
                    Err((
                        "ws_allowed_origins".to_owned(),
                        format!("{o:?} is not an origin like \"https://chat.example.com\""),
                    ))
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let raw = self.webhook_trigger.unwrap_or_default();
        let token_env = raw
            .token_env
            .unwrap_or_else(|| DEFAULT_WEBHOOK_TOKEN_ENV.to_owned());
        if token_env.is_empty()
            || !token_env
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err((
                "webhook_trigger.token_env".to_owned(),
                "must be an environment variable name (letters, digits, _)".to_owned(),
            ));
        }
        Ok(EdgeConfig {
            api_rate_limit,
            api_rate_burst,
            trusted_proxies,
            ws_allowed_origins,
            webhook_trigger: WebhookTriggerConfig {
                enabled: raw.enabled.unwrap_or(false),
                token_env,
                rate_limit_per_minute: positive(
                    "webhook_trigger.rate_limit_per_minute",
                    raw.rate_limit_per_minute,
                    DEFAULT_WEBHOOK_RATE_LIMIT,
                )?,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_membership() {
        let net: TrustedProxy = "10.1.0.0/16".parse().unwrap();
        assert!(net.contains("10.1.200.3".parse().unwrap()));
        assert!(!net.contains("10.2.0.1".parse().unwrap()));
        assert!(net.contains("::ffff:10.1.0.9".parse().unwrap()));
        let one: TrustedProxy = "::1".parse().unwrap();
        assert!(one.contains("::1".parse().unwrap()));
        assert!(!one.contains("127.0.0.1".parse().unwrap()));
        let all: TrustedProxy = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("192.0.2.1".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<TrustedProxy>().is_err());
        assert!("example.com".parse::<TrustedProxy>().is_err());
    }

    #[test]
    fn edge_keys_parse_and_default() {
        let c = crate::Config::from_toml_str("", "config.toml").unwrap();
        assert_eq!(c.edge.api_rate_limit.get(), DEFAULT_API_RATE_LIMIT);
        assert!(c.edge.trusted_proxies.is_empty());
        assert!(!c.edge.webhook_trigger.enabled);
        let c = crate::Config::from_toml_str(
            "api_rate_limit = 5\napi_rate_burst = 2\ntrusted_proxies = [\"10.0.0.0/8\"]\n\
             ws_allowed_origins = [\"https://Chat.example.com/\"]\n\
             [webhook_trigger]\nenabled = true\ntoken_env = \"HOOK_TOKEN\"\nrate_limit_per_minute = 3\n",
            "config.toml",
        )
        .unwrap();
        assert_eq!(c.edge.api_rate_limit.get(), 5);
        assert_eq!(c.edge.api_rate_burst.get(), 2);
        assert!(c.edge.trusted_proxies[0].contains("10.9.9.9".parse().unwrap()));
        assert_eq!(c.edge.ws_allowed_origins, ["https://chat.example.com"]);
        assert!(c.edge.webhook_trigger.enabled);
        assert_eq!(c.edge.webhook_trigger.token_env, "HOOK_TOKEN");
        assert_eq!(c.edge.webhook_trigger.rate_limit_per_minute.get(), 3);
        for bad in [
            "api_rate_limit = 0",
            "trusted_proxies = [\"proxy.local\"]",
            "ws_allowed_origins = [\"*\"]",
            "[webhook_trigger]\ntoken_env = \"A B\"",
            "[webhook_trigger]\nsecret = \"x\"",
        ] {
            assert!(
                crate::Config::from_toml_str(bad, "config.toml").is_err(),
                "{bad}"
            );
        }
    }
}
