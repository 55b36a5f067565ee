//! `[web.fetch]`: what the `web_fetch` tool may reach (SPEC T2).

/// `[web.fetch]`, checked. Defaults block every non-public address and every metadata endpoint.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct WebFetchConfig {
    /// `block_private_ips` (default `true`): refuse loopback, RFC 1918, link-local, CGNAT, ULA and
    /// every other non-public address, however the URL spells it.
    pub block_private_ips: bool,
    /// `block_metadata_endpoints` (default `true`): refuse cloud metadata endpoints by address and
    /// by name, even when `allow_private` lists them.
    pub block_metadata_endpoints: bool,
    /// `max_redirects` (default 3, at most 10): each redirect is re-checked from scratch.
    pub max_redirects: u32,
    /// `allowed_hosts` (default empty = any public host).
    pub allowed_hosts: Vec<String>,
    /// `allow_private` (default empty): exact `host:port` exceptions for intranet services.
    pub allow_private: Vec<String>,
}

impl Default for WebFetchConfig {
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

/// The most redirects `max_redirects` may allow.
///
/// # Security
/// Every hop is a fresh chance to point the fetch somewhere new; a short chain bounds the work and
/// the surface.
pub const MAX_REDIRECTS_CEILING: u32 = 10;

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWeb {
    pub(crate) fetch: Option<RawFetch>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFetch {
    block_private_ips: Option<bool>,
    block_metadata_endpoints: Option<bool>,
    max_redirects: Option<u32>,
    allowed_hosts: Option<Vec<String>>,
    allow_private: Option<Vec<String>>,
}

impl RawFetch {
    /// Checks the values; the error names the key.
    pub(crate) fn into_config(self) -> Result<WebFetchConfig, (&'static str, String)> {
        let d = WebFetchConfig::default();
        let max_redirects = self.max_redirects.unwrap_or(d.max_redirects);
        if max_redirects > MAX_REDIRECTS_CEILING {
            return Err((
                "max_redirects",
                format!("must be at most {MAX_REDIRECTS_CEILING}"),
            ));
        }
        let allow_private = self.allow_private.unwrap_or_default();
        for entry in &allow_private {
            let port_ok = entry
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
            if !port_ok {
                return Err(("allow_private", format!("{entry:?} is not \"host:port\"")));
            }
        }
        Ok(WebFetchConfig {
            block_private_ips: self.block_private_ips.unwrap_or(d.block_private_ips),
            block_metadata_endpoints: self
                .block_metadata_endpoints
                .unwrap_or(d.block_metadata_endpoints),
            max_redirects,
            allowed_hosts: self.allowed_hosts.unwrap_or_default(),
            allow_private,
        })
    }
}
