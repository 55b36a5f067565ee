//! Taint (SPEC T7): once a session has taken in content from an untrusted source, what that
//! content asks for must not run a dangerous tool without a human.

use std::collections::BTreeSet;

/// The most distinct hosts remembered per session.
///
/// # Security
/// Bounds memory per session. Past the bound no new host is remembered, so every further new
/// host keeps requiring approval while the session is tainted (fails closed).
pub const MAX_SEEN_HOSTS: usize = 256;

/// The most distinct taint sources remembered (for the label) per session.
pub const MAX_TAINT_SOURCES: usize = 16;

/// One session's taint label and the hosts it has already reached.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionTaint {
    /// Where untrusted content came from (`web_fetch`, `file_read`, …), first ones first.
    pub sources: Vec<String>,
    /// Hosts fetched in this session (lowercase).
    pub seen_hosts: BTreeSet<String>,
}

impl SessionTaint {
    /// True once any untrusted content entered the session.
    #[must_use]
    pub fn is_tainted(&self) -> bool {
        !self.sources.is_empty()
    }

    /// Labels the session with `source`.
    pub fn add_source(&mut self, source: &str) {
        if self.sources.len() < MAX_TAINT_SOURCES && !self.sources.iter().any(|s| s == source) {
            self.sources.push(source.to_owned());
        }
    }

    /// Remembers a host the session reached.
    pub fn add_host(&mut self, host: &str) {
        if self.seen_hosts.len() < MAX_SEEN_HOSTS {
            self.seen_hosts.insert(host.to_ascii_lowercase());
        }
    }
}

/// The host of an `http(s)://` URL, lowercase, without user info or port; `None` when the text
/// is not such a URL. Only for policy bookkeeping: `rampart-net` does the real, strict parsing
/// before anything is fetched.
#[must_use]
pub fn url_host(url: &str) -> Option<String> {
    let lower = url.trim().to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))?;
    let authority = rest.split(['/', '?', '#', '\\']).next()?;
    let host_port = authority.rsplit('@').next()?;
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next()?
    } else {
        host_port.split(':').next()?
    };
    let host = host.trim_end_matches('.');
    (!host.is_empty()).then(|| host.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_extracted_without_userinfo_or_port() {
        assert_eq!(
            url_host("https://Example.com/x").as_deref(),
            Some("example.com")
        );
        assert_eq!(
            url_host("http://user:pw@evil.test:8080/?q").as_deref(),
            Some("evil.test")
        );
        assert_eq!(
            url_host("https://good.test@evil.test/").as_deref(),
            Some("evil.test")
        );
        assert_eq!(url_host("https://[::1]:80/").as_deref(), Some("::1"));
        assert_eq!(url_host("ftp://x"), None);
        assert_eq!(url_host("https:///"), None);
    }
}
