//! Fuzzes the SSRF checks: URL parsing + preflight on arbitrary text, and the address
//! classifier on arbitrary IPv6 bits. Invariants: no panic; no allowed verdict for a blocked
//! address, however it is spelled or embedded.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use rampart_net::{FetchConfig, FetchLimits, FetchPolicy, TargetHost, classify, html_to_text};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => addresses(rest),
        1 => urls(rest),
        _ => {
            let _ = html_to_text(&String::from_utf8_lossy(rest), 1000);
        }
    }
});

fn addresses(rest: &[u8]) {
    let mut b = [0u8; 16];
    let n = rest.len().min(16);
    b[..n].copy_from_slice(&rest[..n]);
    let v6 = Ipv6Addr::from(b);
    let c6 = classify(IpAddr::V6(v6));
    let v4 = Ipv4Addr::new(b[12], b[13], b[14], b[15]);
    let c4 = classify(IpAddr::V4(v4));
    if !c4.is_public() {
        // Every embedding of a blocked IPv4 address is blocked too.
        let bits = u128::from(u32::from(v4));
        let mapped = v4.to_ipv6_mapped();
        let nat64 = Ipv6Addr::from((0x0064_ff9b_u128 << 96) | bits);
        let six_to_four = Ipv6Addr::from((0x2002_u128 << 112) | (bits << 80));
        for wrapped in [mapped, nat64, six_to_four] {
            assert!(
                !classify(IpAddr::V6(wrapped)).is_public(),
                "{wrapped} hides {v4}"
            );
        }
    }
    // The classifier must answer for any 128 bits without panicking.
    let _ = c6.is_public();
}

fn urls(rest: &[u8]) {
    let text = String::from_utf8_lossy(rest);
    let Ok(policy) = FetchPolicy::new(&FetchConfig::default(), &[], FetchLimits::default()) else {
        return;
    };
    let verdict = policy.preflight(&text);
    // Judge the address independently of preflight: whatever the URL parser says the host
    // is, a non-public address must not pass.
    if let Ok(url) = url::Url::parse(&text) {
        let ip = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        };
        if let Some(ip) = ip {
            if !classify(ip).is_public() {
                assert!(verdict.is_err(), "{text:?} ({ip}) was allowed");
            }
        }
    }
    if let Ok(target) = verdict {
        if let TargetHost::Ip(ip) = target.host {
            assert!(classify(ip).is_public(), "{text:?} allowed {ip}");
        }
    }
}
