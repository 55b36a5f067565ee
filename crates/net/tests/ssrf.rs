//! SSRF attack tests: every URL family aimed at canary servers on loopback must be refused
//! before any connection is made, redirects are re-checked, and DNS answers are pinned.

mod support;

use std::sync::Arc;
use std::time::Duration;

use rampart_net::{FetchConfig, FetchLimits, FetchPolicy, Fetcher, NetError};
use support::{Canary, ScriptedResolver, ok, page, redirect};

fn fetcher(config: &FetchConfig, resolver: Arc<ScriptedResolver>) -> Fetcher {
    let policy = FetchPolicy::new(config, &[], FetchLimits::default()).expect("valid config");
    Fetcher::with_resolver(policy, resolver)
}

fn hostile_resolver() -> Arc<ScriptedResolver> {
    Arc::new(ScriptedResolver::new(&[
        ("evil.test", &["127.0.0.1"]),
        ("mixed.test", &["93.184.215.14", "127.0.0.1"]),
        ("meta.test", &["169.254.169.254"]),
        ("v6loop.test", &["::1"]),
        ("mapped.test", &["::ffff:127.0.0.1"]),
        ("nat64.test", &["64:ff9b::7f00:1"]),
        ("zero.test", &["0.0.0.0"]),
        ("rfc1918.test", &["10.1.2.3"]),
        ("azure.test", &["168.63.129.16"]),
        ("ec2v6.test", &["fd00:ec2::254"]),
    ]))
}

/// The error must come from the policy, not from a failed connection.
fn is_policy_refusal(e: &NetError) -> bool {
    matches!(
        e,
        NetError::BlockedAddress { .. }
            | NetError::BlockedHost { .. }
            | NetError::SchemeNotAllowed(_)
            | NetError::CredentialsInUrl
            | NetError::HostNotAllowed(_)
            | NetError::InvalidUrl(_)
    )
}

fn ssrf_urls(p: u16) -> Vec<String> {
    [
        // Loopback, in every spelling the WHATWG parser accepts.
        "http://127.0.0.1:{P}/",
        "http://127.1:{P}/",
        "http://127.0.1:{P}/",
        "http://2130706433:{P}/",
        "http://0x7f000001:{P}/",
        "http://0x7f.0x0.0x0.0x1:{P}/",
        "http://0177.0.0.1:{P}/",
        "http://017700000001:{P}/",
        "http://0177.1:{P}/",
        "http://0x7f.1:{P}/",
        "http://127.000.000.001:{P}/",
        "http://127.0.0.1.:{P}/",
        "http://127%2e0%2e0%2e1:{P}/",
        "http://%31%32%37.0.0.1:{P}/",
        "http://\u{2460}\u{2461}\u{2466}.0.0.1:{P}/",
        "http://\u{ff11}\u{ff12}\u{ff17}\u{ff0e}\u{ff10}\u{ff0e}\u{ff10}\u{ff0e}\u{ff11}:{P}/",
        "HTTP://127.0.0.1:{P}/",
        "http:127.0.0.1:{P}/",
        "http:/\\127.0.0.1:{P}/",
        " http://127.0.0.1:{P}/ ",
        "http://127.0.0.\t1:{P}/",
        "http://localhost:{P}/",
        "http://LocalHost:{P}/",
        "http://localhost.:{P}/",
        "http://app.localhost:{P}/",
        "http://printer.local:{P}/",
        // IPv6 loopback and IPv4 carried in IPv6.
        "http://[::1]:{P}/",
        "http://[0:0:0:0:0:0:0:1]:{P}/",
        "http://[::ffff:127.0.0.1]:{P}/",
        "http://[::ffff:7f00:1]:{P}/",
        "http://[0:0:0:0:0:ffff:127.0.0.1]:{P}/",
        "http://[::ffff:0:127.0.0.1]:{P}/",
        "http://[::127.0.0.1]:{P}/",
        "http://[64:ff9b::127.0.0.1]:{P}/",
        "http://[64:ff9b::7f00:1]:{P}/",
        "http://[64:ff9b:1::7f00:1]:{P}/",
        "http://[2002:7f00:1::1]:{P}/",
        "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]:{P}/",
        // Unspecified ("this host" on Linux).
        "http://0.0.0.0:{P}/",
        "http://0:{P}/",
        "http://[::]:{P}/",
        // Private, shared and special ranges.
        "http://10.0.0.1:{P}/",
        "http://172.16.0.1:{P}/",
        "http://192.168.0.1:{P}/",
        "http://100.64.0.1:{P}/",
        "http://255.255.255.255:{P}/",
        "http://224.0.0.1:{P}/",
        "http://192.0.2.1:{P}/",
        "http://198.51.100.1:{P}/",
        "http://203.0.113.1:{P}/",
        "http://198.18.0.1:{P}/",
        "http://240.0.0.1:{P}/",
        "http://[ff02::1]:{P}/",
        "http://[fc00::1]:{P}/",
        "http://[fd12:3456::1]:{P}/",
        "http://[fe80::1]:{P}/",
        "http://[fec0::1]:{P}/",
        "http://[2001:db8::1]:{P}/",
        // Cloud metadata.
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "http://169.254.169.254./latest/meta-data/",
        "http://2852039166/latest/meta-data/",
        "http://0xa9fea9fe/",
        "http://0251.0376.0251.0376/",
        "http://[::ffff:169.254.169.254]/",
        "http://[::ffff:a9fe:a9fe]/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://100.100.100.200/latest/meta-data/",
        "http://168.63.129.16/machine?comp=goalstate",
        "http://169.254.170.2/v2/credentials",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://METADATA.google.internal./computeMetadata/v1/",
        "http://metadata/computeMetadata/v1/",
        // Userinfo and delimiter tricks.
        "http://example.com@127.0.0.1:{P}/",
        "http://user:pass@127.0.0.1:{P}/",
        "http://example.com:80@127.0.0.1:{P}/",
        "http://127.0.0.1:{P}#@example.com/",
        "http://127.0.0.1:{P}\\@example.com/",
        "http://127.0.0.1:{P}?@example.com/",
        // Other schemes.
        "file:///etc/passwd",
        "gopher://127.0.0.1:{P}/_GET%20/",
        "ftp://127.0.0.1:{P}/",
        "dict://127.0.0.1:{P}/",
        "ws://127.0.0.1:{P}/",
        "https://127.0.0.1:{P}/",
        // Names that resolve somewhere refused (every answer is checked).
        "http://evil.test:{P}/",
        "http://mixed.test:{P}/",
        "http://meta.test/",
        "http://v6loop.test:{P}/",
        "http://mapped.test:{P}/",
        "http://nat64.test:{P}/",
        "http://zero.test:{P}/",
        "http://rfc1918.test:{P}/",
        "http://azure.test/",
        "http://ec2v6.test/",
    ]
    .iter()
    .map(|u| u.replace("{P}", &p.to_string()))
    .collect()
}

#[tokio::test]
async fn every_ssrf_url_is_refused_with_zero_canary_hits() {
    let canary = Canary::start(page("<p>canary</p>")).await;
    let f = fetcher(&FetchConfig::default(), hostile_resolver());
    let urls = ssrf_urls(canary.port);
    assert!(urls.len() >= 60, "only {} URLs", urls.len());
    for url in &urls {
        match f.fetch(url).await {
            Ok(r) => panic!("{url:?} was fetched: {r:?}"),
            Err(e) => assert!(
                is_policy_refusal(&e),
                "{url:?} failed for another reason: {e}"
            ),
        }
    }
    assert_eq!(canary.hits(), 0, "a refused URL reached the canary");
}

#[tokio::test]
async fn metadata_stays_blocked_when_private_ips_are_allowed() {
    let canary = Canary::start(page("x")).await;
    let config = FetchConfig {
        block_private_ips: false,
        allow_private: vec![
            "169.254.169.254:80".into(),
            "metadata.google.internal:80".into(),
        ],
        ..FetchConfig::default()
    };
    let f = fetcher(&config, hostile_resolver());
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/",
        "http://100.100.100.200/",
        "http://168.63.129.16/",
        "http://metadata.google.internal/",
        "http://meta.test/",
        "http://azure.test/",
    ] {
        let e = f.fetch(url).await.expect_err(url);
        assert!(is_policy_refusal(&e), "{url}: {e}");
    }
    assert_eq!(canary.hits(), 0);
}

#[tokio::test]
async fn an_allow_private_exception_lets_exactly_that_host_and_port_through() {
    let canary = Canary::start(page(
        "<html><head><title>Intranet</title><script>steal()</script></head><body><h1>Status</h1><p>All &amp; well</p></body></html>",
    ))
    .await;
    let config = FetchConfig {
        allow_private: vec![format!("127.0.0.1:{}", canary.port)],
        ..FetchConfig::default()
    };
    let f = fetcher(&config, hostile_resolver());
    let r = f
        .fetch(&format!("http://127.0.0.1:{}/status", canary.port))
        .await
        .expect("the exception allows this fetch");
    assert_eq!(r.status, 200);
    assert_eq!(r.text, "Intranet\nStatus\nAll & well");
    assert_eq!(r.remote_addr, Some(canary.addr));
    assert!(!r.truncated);
    assert_eq!(canary.hits(), 1);
    // Another spelling of the same address and port is the same target.
    f.fetch(&format!("http://0x7f.1:{}/", canary.port))
        .await
        .expect("same host:port");
    assert_eq!(canary.hits(), 2);
    // The exception is for that port only, and for that host only.
    for url in [
        format!("http://127.0.0.1:{}/", canary.port + 1),
        format!("http://localhost:{}/", canary.port),
        format!("http://[::1]:{}/", canary.port),
    ] {
        let e = f.fetch(&url).await.expect_err(&url);
        assert!(is_policy_refusal(&e), "{url}: {e}");
    }
    assert_eq!(canary.hits(), 2);
}

#[tokio::test]
async fn an_exception_by_name_uses_the_checked_resolution() {
    let canary = Canary::start(page("<p>named</p>")).await;
    let resolver = Arc::new(ScriptedResolver::new(&[("intranet.test", &["127.0.0.1"])]));
    let config = FetchConfig {
        allow_private: vec![format!("intranet.test:{}", canary.port)],
        ..FetchConfig::default()
    };
    let f = fetcher(&config, Arc::clone(&resolver));
    let r = f
        .fetch(&format!("http://INTRANET.test:{}/", canary.port))
        .await
        .unwrap();
    assert_eq!(r.text, "named");
    assert_eq!(resolver.calls(), 1);
}

#[tokio::test]
async fn redirects_from_an_allowed_intranet_server_to_private_addresses_are_refused() {
    let canary = Canary::start(page("<p>secret</p>")).await;
    let c = canary.port;
    let targets: Vec<String> = vec![
        format!("http://127.0.0.1:{c}/secret"),
        format!("http://localhost:{c}/"),
        format!("http://[::1]:{c}/"),
        format!("http://[::ffff:127.0.0.1]:{c}/"),
        format!("http://2130706433:{c}/"),
        format!("http://evil.test:{c}/"),
        format!("//127.0.0.1:{c}/"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://metadata.google.internal/".to_owned(),
        "file:///etc/passwd".to_owned(),
        format!("gopher://127.0.0.1:{c}/"),
    ];
    let table = targets.clone();
    let server = Canary::start(Arc::new(move |path: &str| {
        let i: usize = path.trim_start_matches('/').parse().unwrap_or(0);
        redirect(&table[i.min(table.len() - 1)])
    }))
    .await;
    let config = FetchConfig {
        allow_private: vec![format!("127.0.0.1:{}", server.port)],
        ..FetchConfig::default()
    };
    let f = fetcher(&config, hostile_resolver());
    for (i, target) in targets.iter().enumerate() {
        let e = f
            .fetch(&format!("http://127.0.0.1:{}/{i}", server.port))
            .await
            .expect_err(target);
        assert!(is_policy_refusal(&e), "redirect to {target}: {e}");
    }
    assert_eq!(
        server.hits(),
        targets.len(),
        "each chain started at the allowed server"
    );
    assert_eq!(canary.hits(), 0, "a redirect reached the private canary");
}

#[tokio::test]
async fn a_redirect_chain_is_rechecked_at_every_hop_and_counted() {
    let canary = Canary::start(page("<p>secret</p>")).await;
    let c = canary.port;
    let server = Canary::start(Arc::new(move |path: &str| match path {
        "/a" => redirect("/b"),
        "/b" => redirect("/c"),
        "/c" => redirect(&format!("http://127.0.0.1:{c}/")),
        "/loop" => redirect("/loop"),
        _ => ok("text/plain", "done"),
    }))
    .await;
    let config = FetchConfig {
        allow_private: vec![format!("127.0.0.1:{}", server.port)],
        max_redirects: 3,
        ..FetchConfig::default()
    };
    let f = fetcher(&config, hostile_resolver());
    let base = format!("http://127.0.0.1:{}", server.port);
    // Two hops on the allowed server are fine; the third leaves it for a private address.
    let e = f.fetch(&format!("{base}/a")).await.unwrap_err();
    assert!(matches!(e, NetError::BlockedAddress { .. }), "{e}");
    assert_eq!(server.hits(), 3);
    assert_eq!(canary.hits(), 0);
    // A loop is cut at max_redirects: the first request plus three redirects.
    let e = f.fetch(&format!("{base}/loop")).await.unwrap_err();
    assert!(matches!(e, NetError::TooManyRedirects(3)), "{e}");
    assert_eq!(server.hits(), 3 + 4);
    // Entering mid-chain ends the same way: the private hop is refused, not the count.
    let e = f.fetch(&format!("{base}/c")).await.unwrap_err();
    assert!(matches!(e, NetError::BlockedAddress { .. }), "{e}");
    assert_eq!(canary.hits(), 0);
}

#[tokio::test]
async fn redirects_that_stay_allowed_are_followed_and_reported() {
    let server = Canary::start(Arc::new(|path: &str| match path {
        "/start" => redirect("/end"),
        _ => ok("text/plain", "arrived"),
    }))
    .await;
    let config = FetchConfig {
        allow_private: vec![format!("127.0.0.1:{}", server.port)],
        ..FetchConfig::default()
    };
    let f = fetcher(&config, hostile_resolver());
    let r = f
        .fetch(&format!("http://127.0.0.1:{}/start", server.port))
        .await
        .unwrap();
    assert_eq!(r.text, "arrived");
    assert_eq!(
        r.redirects,
        [format!("http://127.0.0.1:{}/end", server.port)]
    );
    assert_eq!(r.url, format!("http://127.0.0.1:{}/end", server.port));
    // With redirects off, the first hop is the last.
    let none = FetchConfig {
        max_redirects: 0,
        ..config
    };
    let e = fetcher(&none, hostile_resolver())
        .fetch(&format!("http://127.0.0.1:{}/start", server.port))
        .await
        .unwrap_err();
    assert!(matches!(e, NetError::TooManyRedirects(0)));
}

#[tokio::test]
async fn dns_rebinding_cannot_move_the_connection_after_the_check() {
    // The name first resolves to the allowed server, then (a rebinding attacker's second
    // answer) to another loopback address on the same port where an evil server listens.
    let good = Canary::start(page("<p>good</p>")).await;
    let evil_bind = format!("127.0.0.2:{}", good.port).parse().unwrap();
    let evil = Canary::start_on(evil_bind, page("<p>evil</p>")).await;
    let resolver = Arc::new(ScriptedResolver::new(&[("rebind.test", &["127.0.0.1"])]));
    resolver.answer("rebind.test", &["127.0.0.2"]);
    let config = FetchConfig {
        allow_private: vec![format!("rebind.test:{}", good.port)],
        ..FetchConfig::default()
    };
    let f = fetcher(&config, Arc::clone(&resolver));
    let r = f
        .fetch(&format!("http://rebind.test:{}/", good.port))
        .await
        .unwrap();
    assert_eq!(r.text, "good");
    assert_eq!(resolver.calls(), 1, "the name was resolved more than once");
    assert_eq!((good.hits(), evil.hits()), (1, 0));

    // And a name whose (only) answer flips to metadata on the next lookup is refused then.
    let resolver = Arc::new(ScriptedResolver::new(&[("flip.test", &["127.0.0.1"])]));
    resolver.answer("flip.test", &["169.254.169.254"]);
    let config = FetchConfig {
        allow_private: vec![format!("flip.test:{}", good.port)],
        ..FetchConfig::default()
    };
    let f = fetcher(&config, Arc::clone(&resolver));
    f.fetch(&format!("http://flip.test:{}/", good.port))
        .await
        .unwrap();
    let e = f
        .fetch(&format!("http://flip.test:{}/", good.port))
        .await
        .unwrap_err();
    assert!(matches!(e, NetError::BlockedAddress { .. }), "{e}");
    assert_eq!(good.hits(), 2);
}

#[tokio::test]
async fn host_lists_are_applied_before_any_lookup() {
    let resolver = hostile_resolver();
    let config = FetchConfig {
        allowed_hosts: vec!["example.com".into()],
        ..FetchConfig::default()
    };
    let f = fetcher(&config, Arc::clone(&resolver));
    let e = f.fetch("http://evil.test/").await.unwrap_err();
    assert!(matches!(e, NetError::HostNotAllowed(_)));
    let policy = FetchPolicy::new(
        &FetchConfig::default(),
        &["docs.rs".to_owned()],
        FetchLimits::default(),
    )
    .unwrap();
    let f = Fetcher::with_resolver(policy, Arc::clone(&resolver) as _);
    let e = f.fetch("http://mixed.test/").await.unwrap_err();
    assert!(matches!(e, NetError::HostNotAllowed(_)));
    assert_eq!(resolver.calls(), 0);
}

#[tokio::test]
async fn size_time_and_content_limits_hold() {
    let big = "<p>".to_owned() + &"word ".repeat(50_000) + "</p>";
    let server = Canary::start(Arc::new(move |path: &str| match path {
        "/big" => ok("text/html", &big),
        "/bin" => ok("application/octet-stream", "\u{7f}ELF"),
        "/sniff" => {
            "HTTP/1.1 200 OK\r\nContent-Length: 4\r\nConnection: close\r\n\r\nA\0B\0".to_owned()
        }
        "/json" => ok("application/json", "{\"a\":1}"),
        "/stall" => String::new(),
        _ => ok("text/plain", "x"),
    }))
    .await;
    let config = FetchConfig {
        allow_private: vec![format!("127.0.0.1:{}", server.port)],
        ..FetchConfig::default()
    };
    let limits = FetchLimits {
        max_body_bytes: 10_000,
        max_text_chars: 1_000,
        timeout: Duration::from_millis(800),
        ..FetchLimits::default()
    };
    let f = Fetcher::with_resolver(
        FetchPolicy::new(&config, &[], limits).unwrap(),
        hostile_resolver(),
    );
    let base = format!("http://127.0.0.1:{}", server.port);
    let r = f.fetch(&format!("{base}/big")).await.unwrap();
    assert!(r.truncated);
    assert_eq!(r.text.chars().count(), 1_000);
    assert!(matches!(
        f.fetch(&format!("{base}/bin")).await,
        Err(NetError::UnsupportedContent(_))
    ));
    assert!(matches!(
        f.fetch(&format!("{base}/sniff")).await,
        Err(NetError::UnsupportedContent(_))
    ));
    assert_eq!(
        f.fetch(&format!("{base}/json")).await.unwrap().text,
        "{\"a\":1}"
    );
    assert!(matches!(
        f.fetch(&format!("{base}/stall")).await,
        Err(NetError::Timeout)
    ));
}
