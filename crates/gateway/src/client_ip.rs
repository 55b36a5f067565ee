//! Who the client is, for rate limiting and logs (SPEC N6).
//!
//! The TCP peer is the client, unless the peer is one of `trusted_proxies`: then the right-most
//! address in `X-Forwarded-For` (or `Forwarded: for=`) that is not itself a trusted proxy is. A
//! client talking to the gateway directly can put anything in those headers, so they are ignored
//! from every other peer.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use http::HeaderMap;
use rampart_config::TrustedProxy;

/// The client address a request is accounted to, as an extractor: resolved from the request's
/// peer and headers under the current `trusted_proxies`, as the rate limit resolves it. (Not
/// stored in the request by the edge: only the webhook route needs it, and every request would
/// otherwise pay for one more extension.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl axum::extract::FromRequestParts<std::sync::Arc<crate::AppState>> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        state: &std::sync::Arc<crate::AppState>,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(resolve(
            peer(&parts.extensions),
            &parts.headers,
            &state.edge.settings().trusted_proxies,
        )))
    }
}

/// The most forwarded hops examined.
///
/// # Security
/// The header is attacker-sized; walking it is bounded.
pub const MAX_FORWARDED_HOPS: usize = 32;

/// The peer of a request (from `ConnectInfo`), if known.
pub(crate) fn peer(ext: &http::Extensions) -> Option<SocketAddr> {
    ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0)
}

/// The client for a request from `peer` with `headers`.
#[must_use]
pub fn resolve(peer: Option<SocketAddr>, headers: &HeaderMap, proxies: &[TrustedProxy]) -> IpAddr {
    let unknown = IpAddr::from([0, 0, 0, 0]);
    let Some(peer) = peer else {
        return unknown;
    };
    let trusted = |ip: IpAddr| proxies.iter().any(|p| p.contains(ip));
    let peer_ip = canonical(peer.ip());
    if !trusted(peer_ip) {
        return peer_ip;
    }
    let hops = forwarded_hops(headers);
    // Right to left: the first hop not added by one of our proxies is the client.
    for hop in hops.iter().rev().take(MAX_FORWARDED_HOPS) {
        let ip = canonical(*hop);
        if !trusted(ip) {
            return ip;
        }
    }
    hops.first().copied().map_or(peer_ip, canonical)
}

/// IPv4-mapped IPv6 as IPv4, so one client has one key.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 @ IpAddr::V4(_) => v4,
    }
}

/// Addresses from `X-Forwarded-For`, else from `Forwarded` (`for=`), left to right.
fn forwarded_hops(headers: &HeaderMap) -> Vec<IpAddr> {
    let mut hops = Vec::new();
    for v in headers.get_all("x-forwarded-for") {
        let Ok(v) = v.to_str() else { continue };
        hops.extend(v.split(',').filter_map(|s| parse_hop(s.trim())));
    }
    if hops.is_empty() {
        for v in headers.get_all(http::header::FORWARDED) {
            let Ok(v) = v.to_str() else { continue };
            for element in v.split(',') {
                for pair in element.split(';') {
                    let Some((k, val)) = pair.trim().split_once('=') else {
                        continue;
                    };
                    if k.trim().eq_ignore_ascii_case("for")
                        && let Some(ip) = parse_hop(val.trim().trim_matches('"'))
                    {
                        hops.push(ip);
                    }
                }
            }
        }
    }
    hops.truncate(MAX_FORWARDED_HOPS * 4);
    hops
}

/// `1.2.3.4`, `1.2.3.4:5`, `[::1]`, `[::1]:5`, `::1`.
fn parse_hop(s: &str) -> Option<IpAddr> {
    if let Ok(ip) = s.parse() {
        return Some(ip);
    }
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Some(sa.ip());
    }
    s.strip_prefix('[')
        .and_then(|r| r.split_once(']'))
        .and_then(|(ip, _)| ip.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn forwarded_headers_are_ignored_from_untrusted_peers() {
        let peer: SocketAddr = "198.51.100.7:4000".parse().unwrap();
        let h = headers(&[("x-forwarded-for", "1.2.3.4"), ("forwarded", "for=5.6.7.8")]);
        assert_eq!(resolve(Some(peer), &h, &[]), peer.ip());
        let proxies = ["10.0.0.0/8".parse().unwrap()];
        assert_eq!(resolve(Some(peer), &h, &proxies), peer.ip());
    }

    #[test]
    fn trusted_proxy_hops_are_skipped_from_the_right() {
        let proxies: Vec<TrustedProxy> = vec!["10.0.0.0/8".parse().unwrap()];
        let peer: SocketAddr = "10.0.0.1:4000".parse().unwrap();
        // The client spoofed 6.6.6.6; our proxy appended the real address, then another proxy hop.
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.9, 10.0.0.2")]);
        assert_eq!(
            resolve(Some(peer), &h, &proxies),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        let h = headers(&[("forwarded", "for=\"[2001:db8::1]:443\";proto=https")]);
        assert_eq!(
            resolve(Some(peer), &h, &proxies),
            "2001:db8::1".parse::<IpAddr>().unwrap()
        );
        // No header: the proxy itself.
        assert_eq!(resolve(Some(peer), &HeaderMap::new(), &proxies), peer.ip());
    }
}
