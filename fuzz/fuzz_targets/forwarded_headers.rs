//! Fuzzes the forwarded-header parser of the gateway's client resolution (SPEC N6):
//! `X-Forwarded-For` and `Forwarded` values of arbitrary bytes, from a trusted proxy or an
//! untrusted peer. Invariants: no panic; an untrusted peer is always its own client, whatever
//! the headers say; with no proxies configured the peer is the client; with no peer the client
//! is unknown (`0.0.0.0`).
#![no_main]

use std::net::{IpAddr, SocketAddr};

use http::{HeaderMap, HeaderValue, header};
use libfuzzer_sys::fuzz_target;
use rampart_config::TrustedProxy;
use rampart_gateway::client_ip::resolve;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let proxies: Vec<TrustedProxy> = ["10.0.0.0/8", "127.0.0.1/32", "::1/128"]
        .iter()
        .map(|p| p.parse().expect("a valid proxy"))
        .collect();
    let peer: SocketAddr = match mode % 4 {
        0 => "10.1.2.3:4000",
        1 => "[::1]:4000",
        2 => "[::ffff:10.0.0.9]:4000",
        _ => "198.51.100.7:4000",
    }
    .parse()
    .expect("a valid peer");
    // Header values are split at 0xff bytes; which header each goes to comes from `mode`.
    let mut headers = HeaderMap::new();
    for (i, value) in rest.split(|b| *b == 0xff).take(8).enumerate() {
        let Ok(v) = HeaderValue::from_bytes(value) else {
            continue;
        };
        let xff = (mode >> (2 + (i % 6))) & 1 == 1;
        if xff {
            headers.append("x-forwarded-for", v);
        } else {
            headers.append(header::FORWARDED, v);
        }
    }
    let trusted = |ip: IpAddr| proxies.iter().any(|p| p.contains(ip));
    let peer_ip = match peer.ip() {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(peer.ip(), IpAddr::V4),
        v4 => v4,
    };
    let client = resolve(Some(peer), &headers, &proxies);
    if !trusted(peer_ip) {
        assert_eq!(client, peer_ip, "an untrusted peer's headers were honoured");
    }
    assert_eq!(resolve(Some(peer), &headers, &[]), peer_ip, "no proxies: the peer");
    assert_eq!(
        resolve(None, &headers, &proxies),
        IpAddr::from([0, 0, 0, 0]),
        "no peer: unknown"
    );
});
