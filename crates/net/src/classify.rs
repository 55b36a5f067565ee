//! The address classifier: is this IP address one that an untrusted fetch may connect to?
//!
//! Every IPv6 form that *carries* an IPv4 address (IPv4-mapped, NAT64, 6to4) is unwrapped and the
//! IPv4 address judged instead, so `[::ffff:127.0.0.1]`, `[64:ff9b::7f00:1]` and `[2002:7f00:1::]`
//! are all loopback. Forms that are deprecated or only meaningful on a private network
//! (IPv4-compatible `::a.b.c.d`, local-use NAT64 `64:ff9b:1::/48`, Teredo `2001::/32`) are refused
//! outright. Outside the named ranges, IPv6 is public only inside global unicast `2000::/3`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Cloud metadata services reachable by IPv4 address. Each one hands out credentials or
/// instance secrets to whoever asks from inside the machine.
pub const METADATA_IPV4: &[(Ipv4Addr, &str)] = &[
    (
        Ipv4Addr::new(169, 254, 169, 254),
        "AWS/GCP/Azure/OCI/DigitalOcean instance metadata",
    ),
    (
        Ipv4Addr::new(169, 254, 170, 2),
        "AWS ECS task metadata and credentials",
    ),
    (
        Ipv4Addr::new(169, 254, 170, 23),
        "AWS EKS pod identity agent",
    ),
    (Ipv4Addr::new(169, 254, 0, 23), "Tencent Cloud metadata"),
    (Ipv4Addr::new(100, 100, 100, 200), "Alibaba Cloud metadata"),
    (
        Ipv4Addr::new(168, 63, 129, 16),
        "Azure WireServer (a public address!)",
    ),
    (
        Ipv4Addr::new(192, 0, 0, 192),
        "Oracle Cloud legacy metadata",
    ),
];

/// Cloud metadata services reachable by IPv6 address.
pub const METADATA_IPV6: &[(Ipv6Addr, &str)] = &[
    (
        Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254),
        "AWS instance metadata (IPv6)",
    ),
    (
        Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0023),
        "AWS EKS pod identity agent (IPv6)",
    ),
    (
        Ipv6Addr::new(0xfd20, 0x00ce, 0, 0, 0, 0, 0, 0x0254),
        "GCP instance metadata (IPv6)",
    ),
];

/// Host names of metadata services (compared after lower-casing and dropping trailing dots).
/// Some resolve to public addresses, so the address check alone would not catch them.
pub const METADATA_HOSTS: &[&str] = &[
    "metadata.google.internal",
    "metadata.goog",
    "metadata",
    "instance-data",
    "instance-data.ec2.internal",
    "metadata.tencentyun.com",
    "metadata.platformequinix.com",
    "metadata.packet.net",
    "metadata.azure.internal",
];

/// Which special-purpose range an address falls in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Range {
    /// An ordinary, globally routable address.
    Public,
    /// A cloud metadata endpoint ([`METADATA_IPV4`], [`METADATA_IPV6`]).
    Metadata,
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// RFC 1918: `10/8`, `172.16/12`, `192.168/16`.
    Private,
    /// `169.254/16`, `fe80::/10`.
    LinkLocal,
    /// Carrier-grade NAT shared space `100.64/10` (RFC 6598).
    SharedCgnat,
    /// `0.0.0.0`, `::`.
    Unspecified,
    /// `0.0.0.0/8` "this network" (Linux connects `0.x.y.z` to the local host).
    ThisNetwork,
    /// `255.255.255.255`.
    Broadcast,
    /// `224/4`, `ff00::/8`.
    Multicast,
    /// TEST-NET-1/2/3, `2001:db8::/32`, `3fff::/20`.
    Documentation,
    /// `198.18/15`, `2001:2::/48`.
    Benchmarking,
    /// `240/4` and other reserved space (incl. the deprecated 6to4 relay anycast `192.88.99/24`).
    Reserved,
    /// `192.0.0/24`, `2001::/23` (IETF protocol assignments).
    IetfProtocol,
    /// `fc00::/7` unique local addresses.
    UniqueLocal,
    /// `fec0::/10` deprecated site-local addresses.
    SiteLocal,
    /// `::a.b.c.d` deprecated IPv4-compatible addresses.
    Ipv4Compatible,
    /// `64:ff9b:1::/48` local-use NAT64 (RFC 8215).
    Nat64Local,
    /// `2001::/32` Teredo tunnels: the real endpoint is chosen by a relay.
    Teredo,
    /// `100::/64` discard-only.
    Discard,
    /// IPv6 outside global unicast `2000::/3` not covered above.
    NotGlobalUnicast,
}

/// How an IPv4 address was embedded in the IPv6 address that carried it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Embedding {
    /// `::ffff:a.b.c.d`.
    Ipv4Mapped,
    /// `64:ff9b::a.b.c.d` (RFC 6052 well-known NAT64 prefix).
    Nat64,
    /// `2002:AABB:CCDD::/48` (6to4).
    SixToFour,
}

/// The classifier's verdict on one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Classification {
    /// The range the (possibly unwrapped) address is in.
    pub range: Range,
    /// Set when the verdict is about an IPv4 address found inside an IPv6 one.
    pub embedded: Option<(Embedding, Ipv4Addr)>,
}

impl Classification {
    /// True only for ordinary global addresses.
    #[must_use]
    pub fn is_public(&self) -> bool {
        self.range == Range::Public
    }

    /// True for cloud metadata endpoints.
    #[must_use]
    pub fn is_metadata(&self) -> bool {
        self.range == Range::Metadata
    }
}

/// Classifies any IP address.
///
/// ```
/// use rampart_net::{classify, Range};
///
/// assert_eq!(classify("127.0.0.1".parse().unwrap()).range, Range::Loopback);
/// assert_eq!(classify("::ffff:10.0.0.1".parse().unwrap()).range, Range::Private);
/// assert!(classify("169.254.169.254".parse().unwrap()).is_metadata());
/// assert!(classify("93.184.215.14".parse().unwrap()).is_public());
/// ```
#[must_use]
pub fn classify(ip: IpAddr) -> Classification {
    match ip {
        IpAddr::V4(v4) => plain(classify_v4(v4)),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn plain(range: Range) -> Classification {
    Classification {
        range,
        embedded: None,
    }
}

/// Classifies an IPv4 address.
#[must_use]
pub fn classify_v4(ip: Ipv4Addr) -> Range {
    if METADATA_IPV4.iter().any(|(m, _)| *m == ip) {
        return Range::Metadata;
    }
    let [a, b, c, _] = ip.octets();
    match (a, b, c) {
        _ if ip.is_unspecified() => Range::Unspecified,
        (0, _, _) => Range::ThisNetwork,
        (127, _, _) => Range::Loopback,
        (10, _, _) | (172, 16..=31, _) | (192, 168, _) => Range::Private,
        (169, 254, _) => Range::LinkLocal,
        (100, 64..=127, _) => Range::SharedCgnat,
        (192, 0, 0) => Range::IetfProtocol,
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => Range::Documentation,
        (198, 18..=19, _) => Range::Benchmarking,
        (192, 88, 99) => Range::Reserved,
        _ if ip.is_broadcast() => Range::Broadcast,
        (224..=239, _, _) => Range::Multicast,
        (240..=255, _, _) => Range::Reserved,
        _ => Range::Public,
    }
}

/// Classifies an IPv6 address, unwrapping embedded IPv4 where the form carries one.
#[must_use]
pub fn classify_v6(ip: Ipv6Addr) -> Classification {
    if METADATA_IPV6.iter().any(|(m, _)| *m == ip) {
        return plain(Range::Metadata);
    }
    let seg = ip.segments();
    let bits = u128::from(ip);
    let low32 = Ipv4Addr::from((bits & 0xffff_ffff) as u32);
    let embedded = |via: Embedding, v4: Ipv4Addr| -> Classification {
        match classify_v4(v4) {
            Range::Public => plain(Range::Public),
            range => Classification {
                range,
                embedded: Some((via, v4)),
            },
        }
    };
    if ip.is_unspecified() {
        return plain(Range::Unspecified);
    }
    if ip.is_loopback() {
        return plain(Range::Loopback);
    }
    // ::ffff:0:0/96
    if bits >> 32 == 0xffff {
        return embedded(Embedding::Ipv4Mapped, low32);
    }
    // ::/96 (the two special addresses were handled above)
    if bits >> 32 == 0 {
        return Classification {
            range: Range::Ipv4Compatible,
            embedded: None,
        };
    }
    // 64:ff9b::/96
    if bits >> 32 == 0x0064_ff9b_0000_0000_0000_0000 {
        return embedded(Embedding::Nat64, low32);
    }
    // 64:ff9b:1::/48
    if seg[0] == 0x64 && seg[1] == 0xff9b && seg[2] == 1 {
        return plain(Range::Nat64Local);
    }
    // 2002::/16: the IPv4 address is in bits 16..48.
    if seg[0] == 0x2002 {
        let v4 = Ipv4Addr::from(((bits >> 80) & 0xffff_ffff) as u32);
        return embedded(Embedding::SixToFour, v4);
    }
    let range = match seg {
        [0x2001, 0, ..] => Range::Teredo,
        [0x2001, 0x0db8, ..] => Range::Documentation,
        [0x2001, 2, 0, ..] => Range::Benchmarking,
        [0x2001, b, ..] if b < 0x200 => Range::IetfProtocol,
        [0x3fff, b, ..] if b < 0x1000 => Range::Documentation,
        [0x0100, 0, 0, 0, ..] => Range::Discard,
        [s, ..] if s & 0xfe00 == 0xfc00 => Range::UniqueLocal,
        [s, ..] if s & 0xffc0 == 0xfe80 => Range::LinkLocal,
        [s, ..] if s & 0xffc0 == 0xfec0 => Range::SiteLocal,
        [s, ..] if s & 0xff00 == 0xff00 => Range::Multicast,
        [s, ..] if s & 0xe000 == 0x2000 => Range::Public,
        _ => Range::NotGlobalUnicast,
    };
    plain(range)
}

/// True for host names that name metadata services ([`METADATA_HOSTS`]). `host` is compared
/// lower-cased with trailing dots removed.
#[must_use]
pub fn is_metadata_host(host: &str) -> bool {
    let host = normalise_name(host);
    METADATA_HOSTS.contains(&host.as_str())
}

/// True for names that by definition never leave the local network: `localhost` and
/// `*.localhost` (RFC 6761), `*.local` (mDNS), `*.internal`, `*.home.arpa` (RFC 8375).
#[must_use]
pub fn is_local_name(host: &str) -> bool {
    let host = normalise_name(host);
    host == "localhost"
        || [".localhost", ".local", ".internal", ".home.arpa"]
            .iter()
            .any(|suffix| host.ends_with(suffix))
        || host == "local"
        || host == "internal"
        || host == "home.arpa"
}

/// Lower-cases and strips trailing dots (`Example.COM..` → `example.com`).
pub(crate) fn normalise_name(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(s: &str) -> Range {
        classify(s.parse().unwrap()).range
    }

    #[test]
    fn known_ranges() {
        for (ip, want) in [
            ("127.0.0.1", Range::Loopback),
            ("127.255.255.254", Range::Loopback),
            ("0.0.0.0", Range::Unspecified),
            ("0.1.2.3", Range::ThisNetwork),
            ("10.1.2.3", Range::Private),
            ("172.16.0.1", Range::Private),
            ("172.31.255.255", Range::Private),
            ("172.32.0.1", Range::Public),
            ("192.168.0.1", Range::Private),
            ("169.254.1.1", Range::LinkLocal),
            ("169.254.169.254", Range::Metadata),
            ("100.64.0.1", Range::SharedCgnat),
            ("100.127.255.255", Range::SharedCgnat),
            ("100.128.0.1", Range::Public),
            ("100.100.100.200", Range::Metadata),
            ("168.63.129.16", Range::Metadata),
            ("192.0.0.8", Range::IetfProtocol),
            ("192.0.2.1", Range::Documentation),
            ("198.51.100.7", Range::Documentation),
            ("203.0.113.9", Range::Documentation),
            ("198.18.0.1", Range::Benchmarking),
            ("198.19.255.255", Range::Benchmarking),
            ("224.0.0.1", Range::Multicast),
            ("239.255.255.250", Range::Multicast),
            ("240.0.0.1", Range::Reserved),
            ("255.255.255.255", Range::Broadcast),
            ("8.8.8.8", Range::Public),
            ("::", Range::Unspecified),
            ("::1", Range::Loopback),
            ("::ffff:127.0.0.1", Range::Loopback),
            ("::ffff:169.254.169.254", Range::Metadata),
            ("::127.0.0.1", Range::Ipv4Compatible),
            ("64:ff9b::10.0.0.1", Range::Private),
            ("64:ff9b::8.8.8.8", Range::Public),
            ("64:ff9b:1::1", Range::Nat64Local),
            ("2002:7f00:1::", Range::Loopback),
            ("2002:a9fe:a9fe::1", Range::Metadata),
            ("2002:808:808::1", Range::Public),
            ("2001:0:4136:e378:8000:63bf:80ff:fffe", Range::Teredo),
            ("2001:db8::1", Range::Documentation),
            ("3fff::1", Range::Documentation),
            ("2001:2::1", Range::Benchmarking),
            ("100::1", Range::Discard),
            ("fc00::1", Range::UniqueLocal),
            ("fd00:ec2::254", Range::Metadata),
            ("fd12::1", Range::UniqueLocal),
            ("fe80::1", Range::LinkLocal),
            ("fec0::1", Range::SiteLocal),
            ("ff02::1", Range::Multicast),
            ("5f00::1", Range::NotGlobalUnicast),
            ("2606:4700::1111", Range::Public),
        ] {
            assert_eq!(range(ip), want, "{ip}");
        }
    }

    #[test]
    fn names() {
        assert!(is_metadata_host("Metadata.Google.Internal."));
        assert!(is_local_name("LOCALHOST.."));
        assert!(is_local_name("printer.local"));
        assert!(!is_local_name("example.com"));
        assert!(!is_local_name("notlocalhost"));
    }
}
