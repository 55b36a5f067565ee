//! Benchmarks for the per-request checks of `web_fetch`: address classification, URL preflight
//! and HTML reduction. Run: `cargo bench -p rampart-net --bench classify`.

// criterion_group! generates an undocumented pub fn.
#![allow(missing_docs)]

use std::hint::black_box;
use std::net::IpAddr;

use criterion::{Criterion, criterion_group, criterion_main};
use rampart_net::{FetchConfig, FetchLimits, FetchPolicy, classify, html_to_text};

fn bench(c: &mut Criterion) {
    let addrs: Vec<IpAddr> = [
        "8.8.8.8",
        "127.0.0.1",
        "::ffff:10.0.0.1",
        "2606:4700::1111",
        "2002:a9fe:a9fe::1",
    ]
    .iter()
    .map(|a| a.parse().expect("valid address"))
    .collect();
    c.bench_function("classify 5 addresses", |b| {
        b.iter(|| {
            addrs
                .iter()
                .filter(|a| classify(black_box(**a)).is_public())
                .count()
        });
    });
    let policy = FetchPolicy::new(
        &FetchConfig {
            allowed_hosts: vec!["example.com".into(), "*.docs.rs".into()],
            ..FetchConfig::default()
        },
        &[],
        FetchLimits::default(),
    )
    .expect("valid config");
    c.bench_function("preflight allowed URL", |b| {
        b.iter(|| {
            policy.preflight(black_box(
                "https://serde.docs.rs/serde/trait.Serialize.html?x=1",
            ))
        });
    });
    c.bench_function("preflight hex loopback URL", |b| {
        b.iter(|| policy.preflight(black_box("http://0x7f.1:8080/admin")));
    });
    let page = "<html><head><script>var x = 1;</script></head><body>".to_owned()
        + &"<p>Some <b>bold</b> text &amp; an <a href=\"/x\">link</a>.</p>\n".repeat(20_000)
        + "</body></html>";
    c.bench_function("html_to_text 1.2 MB page", |b| {
        b.iter(|| html_to_text(black_box(&page), usize::MAX).0.len());
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
