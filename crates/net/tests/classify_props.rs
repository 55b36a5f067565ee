//! Property tests: the classifier agrees with independent range definitions (`std::net`
//! predicates and `ipnet` prefixes), and every textual form of a blocked IPv4 address is
//! blocked by the URL check.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};
use proptest::prelude::*;
use rampart_net::{
    FetchConfig, FetchLimits, FetchPolicy, METADATA_IPV4, METADATA_IPV6, NetError, classify,
};

fn v4nets(list: &[&str]) -> Vec<Ipv4Net> {
    list.iter()
        .map(|n| n.parse().expect("valid prefix"))
        .collect()
}

fn v6nets(list: &[&str]) -> Vec<Ipv6Net> {
    list.iter()
        .map(|n| n.parse().expect("valid prefix"))
        .collect()
}

/// IPv4 non-public, from the IANA special-purpose registry, written independently of the
/// classifier: std's predicates where they exist, `ipnet` prefixes for the rest.
fn reference_v4_blocked(ip: Ipv4Addr) -> bool {
    let extra = v4nets(&[
        "0.0.0.0/8",
        "100.64.0.0/10",
        "192.0.0.0/24",
        "198.18.0.0/15",
        "192.88.99.0/24",
        "240.0.0.0/4",
    ]);
    ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || ip.is_unspecified()
        || extra.iter().any(|n| n.contains(&ip))
        || METADATA_IPV4.iter().any(|(m, _)| *m == ip)
}

fn embedded_v4(bits: u128, shift: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::try_from((bits >> shift) & 0xffff_ffff).expect("masked to 32 bits"))
}

fn reference_v6_blocked(ip: Ipv6Addr) -> bool {
    let bits = u128::from(ip);
    let within = |list: &[&str]| v6nets(list).iter().any(|n| n.contains(&ip));
    if METADATA_IPV6.iter().any(|(m, _)| *m == ip) {
        return true;
    }
    if let Some(v4) = ip.to_ipv4_mapped() {
        return reference_v4_blocked(v4);
    }
    if within(&["64:ff9b::/96"]) {
        return reference_v4_blocked(embedded_v4(bits, 0));
    }
    if within(&["2002::/16"]) {
        return reference_v4_blocked(embedded_v4(bits, 80));
    }
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_unique_local()
        || ip.is_unicast_link_local()
        || within(&[
            "::/96",
            "64:ff9b:1::/48",
            "100::/64",
            "2001::/23",
            "2001:db8::/32",
            "3fff::/20",
            "fec0::/10",
        ])
        || !within(&["2000::/3"])
}

/// Addresses spread over every interesting prefix, plus uniformly random ones.
fn any_v4() -> impl Strategy<Value = Ipv4Addr> {
    let nets = v4nets(&[
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "255.255.255.0/24",
        "168.63.129.0/24",
        "100.100.100.0/24",
        "172.0.0.0/8",
        "100.0.0.0/8",
    ]);
    prop_oneof![
        any::<u32>().prop_map(Ipv4Addr::from),
        (0..nets.len(), any::<u32>()).prop_map(move |(i, r)| {
            let n = nets[i];
            let host_mask = !u32::from(n.netmask());
            Ipv4Addr::from(u32::from(n.network()) | (r & host_mask))
        }),
    ]
}

fn any_v6() -> impl Strategy<Value = Ipv6Addr> {
    let nets = v6nets(&[
        "::/96",
        "::ffff:0:0/96",
        "64:ff9b::/96",
        "64:ff9b:1::/48",
        "100::/64",
        "2001::/23",
        "2001::/32",
        "2001:db8::/32",
        "2002::/16",
        "3fff::/20",
        "fc00::/7",
        "fe80::/10",
        "fec0::/10",
        "ff00::/8",
        "2000::/3",
        "2000::/3",
        "fd00:ec2::/120",
        "::/120",
    ]);
    prop_oneof![
        any::<u128>().prop_map(Ipv6Addr::from),
        (0..nets.len(), any::<u128>()).prop_map(move |(i, r)| {
            let n = nets[i];
            let host_mask = !u128::from(n.netmask());
            Ipv6Addr::from(u128::from(n.network()) | (r & host_mask))
        }),
        any_v4().prop_map(|v4| v4.to_ipv6_mapped()),
    ]
}

fn policy() -> FetchPolicy {
    FetchPolicy::new(&FetchConfig::default(), &[], FetchLimits::default()).expect("defaults")
}

/// Every textual form of an IPv4 address that a URL parser might accept.
fn forms(ip: Ipv4Addr, radix_pick: [u8; 4]) -> Vec<String> {
    let n = u32::from(ip);
    let o = ip.octets();
    let per_octet =
        |f: &dyn Fn(u8) -> String| o.iter().map(|b| f(*b)).collect::<Vec<_>>().join(".");
    let mixed = o
        .iter()
        .zip(radix_pick)
        .map(|(b, r)| match r % 3 {
            0 => b.to_string(),
            1 => format!("0x{b:x}"),
            _ => format!("0{b:o}"),
        })
        .collect::<Vec<_>>()
        .join(".");
    let seg = ip.to_ipv6_mapped().segments();
    vec![
        ip.to_string(),
        format!("{ip}."),
        n.to_string(),
        format!("0x{n:x}"),
        format!("0X{n:X}"),
        format!("0{n:o}"),
        per_octet(&|b| format!("0x{b:02x}")),
        per_octet(&|b| format!("0{b:o}")),
        mixed,
        format!(
            "{}.{}.{}",
            o[0],
            o[1],
            (u32::from(o[2]) << 8) | u32::from(o[3])
        ),
        format!("{}.{}", o[0], n & 0x00ff_ffff),
        format!("0x{:x}.{}", o[0], n & 0x00ff_ffff),
        ip.to_string()
            .bytes()
            .map(|b| format!("%{b:02x}"))
            .collect(),
        format!("[::ffff:{ip}]"),
        format!("[::ffff:{:x}:{:x}]", seg[6], seg[7]),
        format!("[0:0:0:0:0:ffff:{ip}]"),
        format!("[64:ff9b::{ip}]"),
        format!("[64:ff9b::{:x}:{:x}]", seg[6], seg[7]),
        format!("[2002:{:x}:{:x}::1]", seg[6], seg[7]),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn v4_verdict_matches_reference(ip in any_v4()) {
        let c = classify(IpAddr::V4(ip));
        prop_assert_eq!(!c.is_public(), reference_v4_blocked(ip), "{} -> {:?}", ip, c);
    }

    #[test]
    fn v6_verdict_matches_reference(ip in any_v6()) {
        let c = classify(IpAddr::V6(ip));
        prop_assert_eq!(!c.is_public(), reference_v6_blocked(ip), "{} -> {:?}", ip, c);
    }

    #[test]
    fn every_form_of_a_blocked_v4_address_is_blocked(
        ip in any_v4().prop_filter("blocked only", |ip| reference_v4_blocked(*ip)),
        radix in any::<[u8; 4]>(),
        port in prop::option::of(1u16..),
    ) {
        let p = policy();
        for form in forms(ip, radix) {
            let url = match port {
                Some(port) => format!("http://{form}:{port}/"),
                None => format!("http://{form}/"),
            };
            match p.preflight(&url) {
                Err(NetError::BlockedAddress { .. }) => {}
                other => prop_assert!(false, "{} ({}) gave {:?}", url, ip, other),
            }
        }
    }

    #[test]
    fn every_form_of_a_public_v4_address_is_the_same_address(
        ip in any_v4().prop_filter("public only", |ip| !reference_v4_blocked(*ip)),
        radix in any::<[u8; 4]>(),
    ) {
        // The other half of the property: the forms really denote `ip` (so the test above is
        // not passing because the forms are garbage).
        let p = policy();
        for form in forms(ip, radix).into_iter().filter(|f| !f.starts_with('[')) {
            let target = p.preflight(&format!("http://{form}/"));
            prop_assert!(
                matches!(&target, Ok(t) if t.host == rampart_net::TargetHost::Ip(IpAddr::V4(ip))),
                "{} ({}) gave {:?}", form, ip, target
            );
        }
    }
}
