//! [`FetchPolicy`]: the `[web.fetch]` configuration and the agent's `network` list, parsed once,
//! and the checks every URL and every resolved address go through.

use std::net::IpAddr;
use std::time::Duration;

use url::{Host, Url};

use crate::NetError;
use crate::classify::{classify, is_local_name, is_metadata_host, normalise_name};

/// Longest URL accepted, in bytes.
///
/// # Security
/// Bounds parsing work and the size of errors and audit events; real pages rarely exceed 2 KB.
pub const MAX_URL_LEN: usize = 8192;

/// Highest `max_redirects` honoured, whatever the configuration says.
///
/// # Security
/// Each redirect is a new resolution and connection; this bounds the work one call can cause.
pub const MAX_REDIRECTS_CEILING: u32 = 10;

/// Default largest response body read, in bytes (the rest is not read).
///
/// # Security
/// Bounds memory and bandwidth per fetch; a page larger than this is truncated, not refused.
pub const DEFAULT_MAX_BODY_BYTES: usize = 2 * 1024 * 1024;

/// Default most characters of text handed back (SPEC T6: output capped before the model).
///
/// # Security
/// Keeps one page from flooding the model's context (cost, and room for injected text).
pub const DEFAULT_MAX_TEXT_CHARS: usize = 50_000;

/// Default limit on the whole fetch, redirects included.
///
/// # Security
/// A slow or stalling server can't hold a tool call (and the agent's turn) open.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);

/// Default limit on each TCP (and TLS) connect.
///
/// # Security
/// Unroutable addresses fail fast instead of eating the whole timeout.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// CONTRACT `[web.fetch]`, as written in `config.toml`. `Default` is the secure configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchConfig {
    /// Refuse loopback, private, link-local and every other non-public address.
    pub block_private_ips: bool,
    /// Refuse cloud metadata endpoints (by address and by name), even when `allow_private`
    /// lists them.
    pub block_metadata_endpoints: bool,
    /// Redirects followed, each re-checked from scratch (capped at [`MAX_REDIRECTS_CEILING`]).
    pub max_redirects: u32,
    /// Hosts that may be fetched; empty means any public host. `*.example.com` matches
    /// subdomains of `example.com` (not `example.com` itself).
    pub allowed_hosts: Vec<String>,
    /// Explicit `host:port` exceptions to `block_private_ips`, e.g. `"127.0.0.1:8123"`. Only
    /// that exact host and port are excepted; a redirect from there elsewhere is checked anew.
    pub allow_private: Vec<String>,
}

impl Default for FetchConfig {
    fn default() -> Self {
        Self {
            block_private_ips: true,
            block_metadata_endpoints: true,
            max_redirects: 3,
            allowed_hosts: Vec::new(),
            allow_private: Vec::new(),
        }
    }
}

/// Size and time limits of a fetch. `Default` uses the `DEFAULT_*` constants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchLimits {
    /// Largest body read ([`DEFAULT_MAX_BODY_BYTES`]).
    pub max_body_bytes: usize,
    /// Most characters of text returned ([`DEFAULT_MAX_TEXT_CHARS`]).
    pub max_text_chars: usize,
    /// Limit on the whole fetch ([`DEFAULT_TIMEOUT`]).
    pub timeout: Duration,
    /// Limit on each connect ([`DEFAULT_CONNECT_TIMEOUT`]).
    pub connect_timeout: Duration,
}

impl Default for FetchLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_text_chars: DEFAULT_MAX_TEXT_CHARS,
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Exact(String),
    SubdomainOf(String),
}

impl HostPattern {
    fn parse(entry: &str) -> Result<Self, NetError> {
        let entry = entry.trim();
        match entry.strip_prefix("*.") {
            Some(rest) => Ok(Self::SubdomainOf(parse_host_key(rest, entry)?)),
            None => Ok(Self::Exact(parse_host_key(entry, entry)?)),
        }
    }

    fn matches(&self, key: &str) -> bool {
        match self {
            Self::Exact(h) => h == key,
            Self::SubdomainOf(h) => key
                .strip_suffix(h.as_str())
                .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
        }
    }
}

/// Parses a bare host (no port, path or credentials) the way URLs are parsed, so that a
/// configured `EXAMPLE.com.` or `0x7f.1` means the same as it would in a URL.
fn parse_host_key(host: &str, entry: &str) -> Result<String, NetError> {
    let bad = || NetError::InvalidConfig(format!("{entry:?} is not a host name"));
    if host.is_empty() || host.contains(['/', '@', '?', '#', '\\']) {
        return Err(bad());
    }
    let url = Url::parse(&format!("http://{host}/")).map_err(|_| bad())?;
    if url.port().is_some() || url.path() != "/" {
        return Err(bad());
    }
    url.host().map(|h| host_key(&h)).ok_or_else(bad)
}

/// The comparable form of a URL host: names lower-cased without trailing dots, addresses in
/// their canonical text (IPv6 without brackets).
fn host_key(host: &Host<&str>) -> String {
    match host {
        Host::Domain(d) => normalise_name(d),
        Host::Ipv4(ip) => ip.to_string(),
        Host::Ipv6(ip) => ip.to_string(),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct PrivateException {
    host: String,
    port: u16,
}

impl PrivateException {
    fn parse(entry: &str) -> Result<Self, NetError> {
        let bad =
            || NetError::InvalidConfig(format!("allow_private entry {entry:?} must be host:port"));
        let (host, port) = entry.trim().rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port.parse().map_err(|_| bad())?;
        if port == 0 {
            return Err(bad());
        }
        Ok(Self {
            host: parse_host_key(host, entry)?,
            port,
        })
    }
}

/// What the URL's host is, once parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetHost {
    /// A DNS name (lower-case, IDNA-encoded, trailing dots kept as in the URL).
    Name(String),
    /// An address literal (however the URL spelled it: `0x7f.1` is `127.0.0.1` here).
    Ip(IpAddr),
}

/// A URL that passed every check that can be made without DNS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The parsed URL (fragment removed).
    pub url: Url,
    /// Its host.
    pub host: TargetHost,
    /// The effective port.
    pub port: u16,
    /// True when `host:port` is listed in `allow_private`.
    pub private_exception: bool,
    key: String,
}

impl Target {
    /// The host in comparable form (for messages and audit).
    #[must_use]
    pub fn host_key(&self) -> &str {
        &self.key
    }
}

/// `[web.fetch]` plus the agent's `[capabilities] network` list, parsed and ready to check URLs
/// and addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchPolicy {
    block_private_ips: bool,
    block_metadata_endpoints: bool,
    max_redirects: u32,
    allowed_hosts: Vec<HostPattern>,
    network: Vec<HostPattern>,
    allow_private: Vec<PrivateException>,
    limits: FetchLimits,
}

impl FetchPolicy {
    /// Parses the configuration. `agent_network` is the agent's `[capabilities] network` list
    /// (empty = any public host); a URL's host must satisfy both it and `allowed_hosts`.
    ///
    /// # Errors
    /// [`NetError::InvalidConfig`] naming the first entry that doesn't parse.
    pub fn new(
        config: &FetchConfig,
        agent_network: &[String],
        limits: FetchLimits,
    ) -> Result<Self, NetError> {
        Ok(Self {
            block_private_ips: config.block_private_ips,
            block_metadata_endpoints: config.block_metadata_endpoints,
            max_redirects: config.max_redirects.min(MAX_REDIRECTS_CEILING),
            allowed_hosts: parse_all(&config.allowed_hosts, HostPattern::parse)?,
            network: parse_all(agent_network, HostPattern::parse)?,
            allow_private: parse_all(&config.allow_private, PrivateException::parse)?,
            limits,
        })
    }

    /// The redirects followed per fetch.
    #[must_use]
    pub fn max_redirects(&self) -> u32 {
        self.max_redirects
    }

    /// The size and time limits.
    #[must_use]
    pub fn limits(&self) -> &FetchLimits {
        &self.limits
    }

    /// Every check that needs no DNS: length, parse, scheme, credentials, allowed hosts,
    /// refused names, and the classification of an address literal.
    ///
    /// # Errors
    /// The [`NetError`] naming the first check that failed.
    pub fn preflight(&self, url: &str) -> Result<Target, NetError> {
        if url.len() > MAX_URL_LEN {
            return Err(NetError::InvalidUrl(format!(
                "longer than {MAX_URL_LEN} bytes"
            )));
        }
        let url = Url::parse(url).map_err(|e| NetError::InvalidUrl(e.to_string()))?;
        self.preflight_url(url)
    }

    /// [`preflight`](Self::preflight) for an already parsed URL (a redirect target).
    ///
    /// # Errors
    /// As `preflight`.
    pub fn preflight_url(&self, mut url: Url) -> Result<Target, NetError> {
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(NetError::SchemeNotAllowed(url.scheme().to_owned()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(NetError::CredentialsInUrl);
        }
        url.set_fragment(None);
        let host = url
            .host()
            .ok_or_else(|| NetError::InvalidUrl("no host".to_owned()))?;
        let key = host_key(&host);
        let target_host = match host {
            Host::Domain(d) => TargetHost::Name(d.to_owned()),
            Host::Ipv4(ip) => TargetHost::Ip(IpAddr::V4(ip)),
            Host::Ipv6(ip) => TargetHost::Ip(IpAddr::V6(ip)),
        };
        let port = url
            .port_or_known_default()
            .ok_or_else(|| NetError::InvalidUrl("no port".to_owned()))?;
        for list in [&self.allowed_hosts, &self.network] {
            if !list.is_empty() && !list.iter().any(|p| p.matches(&key)) {
                return Err(NetError::HostNotAllowed(key));
            }
        }
        let private_exception = self
            .allow_private
            .iter()
            .any(|e| e.host == key && e.port == port);
        let target = Target {
            url,
            host: target_host,
            port,
            private_exception,
            key,
        };
        match &target.host {
            TargetHost::Name(name) => {
                if self.block_metadata_endpoints && is_metadata_host(name) {
                    return Err(NetError::BlockedHost {
                        host: target.key,
                        reason: "cloud metadata service",
                    });
                }
                if self.block_private_ips && !private_exception && is_local_name(name) {
                    return Err(NetError::BlockedHost {
                        host: target.key,
                        reason: "local-only name",
                    });
                }
            }
            TargetHost::Ip(ip) => self.check_addr(&target, *ip)?,
        }
        Ok(target)
    }

    /// Checks one address the target's host resolved to (or is).
    ///
    /// # Errors
    /// [`NetError::BlockedAddress`] with the classification.
    pub fn check_addr(&self, target: &Target, addr: IpAddr) -> Result<(), NetError> {
        let class = classify(addr);
        let blocked = (class.is_metadata() && self.block_metadata_endpoints)
            || (!class.is_public() && self.block_private_ips && !target.private_exception);
        if blocked {
            return Err(NetError::BlockedAddress {
                host: target.key.clone(),
                addr,
                class,
            });
        }
        Ok(())
    }
}

fn parse_all<T>(
    entries: &[String],
    parse: impl Fn(&str) -> Result<T, NetError>,
) -> Result<Vec<T>, NetError> {
    entries.iter().map(|e| parse(e)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(config: &FetchConfig, network: &[&str]) -> FetchPolicy {
        let network: Vec<String> = network.iter().map(|s| (*s).to_owned()).collect();
        FetchPolicy::new(config, &network, FetchLimits::default()).unwrap()
    }

    #[test]
    fn host_lists_match_exactly_or_by_subdomain() {
        let p = policy(
            &FetchConfig {
                allowed_hosts: vec!["Example.COM.".into(), "*.docs.rs".into()],
                ..FetchConfig::default()
            },
            &[],
        );
        assert!(p.preflight("https://example.com/x").is_ok());
        assert!(p.preflight("https://EXAMPLE.com./x").is_ok());
        assert!(p.preflight("https://serde.docs.rs/").is_ok());
        assert!(matches!(
            p.preflight("https://docs.rs/"),
            Err(NetError::HostNotAllowed(_))
        ));
        assert!(matches!(
            p.preflight("https://evildocs.rs/"),
            Err(NetError::HostNotAllowed(_))
        ));
        assert!(matches!(
            p.preflight("https://example.com.evil.net/"),
            Err(NetError::HostNotAllowed(_))
        ));
    }

    #[test]
    fn agent_network_narrows_further() {
        let p = policy(
            &FetchConfig {
                allowed_hosts: vec!["a.example".into(), "b.example".into()],
                ..FetchConfig::default()
            },
            &["b.example"],
        );
        assert!(matches!(
            p.preflight("https://a.example/"),
            Err(NetError::HostNotAllowed(_))
        ));
        assert!(p.preflight("https://b.example/").is_ok());
    }

    #[test]
    fn bad_config_entries_are_named() {
        for bad in [
            "127.0.0.1",
            "host:0",
            "host:99999",
            "user@host:80",
            "h/x:1",
            ":80",
        ] {
            let r = FetchPolicy::new(
                &FetchConfig {
                    allow_private: vec![bad.into()],
                    ..FetchConfig::default()
                },
                &[],
                FetchLimits::default(),
            );
            assert!(matches!(r, Err(NetError::InvalidConfig(_))), "{bad}");
        }
        let ok = policy(
            &FetchConfig {
                allow_private: vec!["[::1]:8080".into(), "Intranet.LAN:443".into()],
                ..FetchConfig::default()
            },
            &[],
        );
        assert!(
            ok.preflight("http://[::1]:8080/")
                .unwrap()
                .private_exception
        );
        assert!(
            ok.preflight("https://intranet.lan/")
                .unwrap()
                .private_exception
        );
        assert!(ok.preflight("http://[::1]:8081/").is_err());
    }

    #[test]
    fn max_redirects_is_capped() {
        let p = policy(
            &FetchConfig {
                max_redirects: 1000,
                ..FetchConfig::default()
            },
            &[],
        );
        assert_eq!(p.max_redirects(), MAX_REDIRECTS_CEILING);
    }
}
