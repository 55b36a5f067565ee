//! Peer link benchmarks on loopback: the cost of a handshake (TCP connect, the three Noise
//! messages, registering the link), and messages per second over one link — one request and
//! its reply at a time, and `MAX_INFLIGHT_PER_LINK` (8) in flight, the most a receiver runs at
//! once from one link (more are refused `busy` by design).
//!
//! Run: `cargo bench -p rampart-peer --bench peer_link`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    reason = "benchmark"
)]

use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rampart_peer::{
    InboundHandler, InboundRefusal, InboundRequest, MemoryPins, NodeIdentity, PeerConfig, PeerNode,
};

#[derive(Debug)]
struct Echo;

#[async_trait::async_trait]
impl InboundHandler for Echo {
    async fn handle(&self, r: InboundRequest) -> Result<String, InboundRefusal> {
        Ok(r.text)
    }
}

const INFLIGHT: usize = rampart_peer::config::MAX_INFLIGHT_PER_LINK;

const SECRET: &[u8] = b"benchmark shared secret, thirty-two bytes or more";

fn node(name: &str) -> Arc<PeerNode> {
    let mut cfg = PeerConfig::new(name.parse().unwrap());
    cfg.listen_addr = Some("127.0.0.1:0".parse().unwrap());
    PeerNode::new(
        cfg,
        NodeIdentity::generate().unwrap(),
        SECRET,
        Arc::new(MemoryPins::default()),
        None,
    )
    .unwrap()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (a, b, addr) = rt.block_on(async {
        let a = node("a");
        let b = node("b");
        let addr = b.start(Arc::new(Echo)).await.unwrap().unwrap().to_string();
        a.start(Arc::new(Echo)).await.unwrap();
        (a, b, addr)
    });

    let mut g = c.benchmark_group("peer");
    g.bench_function("handshake", |bench| {
        bench.iter(|| rt.block_on(a.connect(&addr)).unwrap());
    });

    let from = "bench".parse().unwrap();
    let to = "echo@b".parse().unwrap();
    let text = "x".repeat(256);
    g.throughput(Throughput::Elements(1));
    g.bench_function("request_reply_256B", |bench| {
        bench.iter(|| rt.block_on(a.send(&from, &to, &text)).unwrap());
    });
    g.throughput(Throughput::Elements(INFLIGHT as u64));
    g.bench_function("request_reply_256B_8_in_flight", |bench| {
        bench.iter(|| {
            rt.block_on(async {
                let mut set = tokio::task::JoinSet::new();
                for _ in 0..INFLIGHT {
                    let (a, from, to, text) = (a.clone(), from.clone(), to.clone(), text.clone());
                    set.spawn(async move { a.send(&from, &to, &text).await });
                }
                while let Some(r) = set.join_next().await {
                    r.unwrap().unwrap();
                }
            });
        });
    });
    g.finish();
    drop(b);
}

criterion_group!(benches, bench);
criterion_main!(benches);
