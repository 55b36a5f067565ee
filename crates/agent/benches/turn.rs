//! Benchmarks: one scripted agent turn with a tool call (the loop's own overhead: store writes,
//! registry, events), and the SSE parser that every streamed provider answer goes through.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Bench setup: a failure aborts the bench.
#![allow(missing_docs)] // criterion_group! generates an undocumented pub fn.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rampart_agent::provider::sse::SseParser;
use rampart_agent::{
    AgentManifest, ProviderKind, ProviderSpec, Runtime, RuntimeOptions, TurnRequest,
};
use rampart_store::Store;

fn turn(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let home = tempfile::tempdir().unwrap();
    let runtime = rt.block_on(async {
        let mut opts = RuntimeOptions::new(home.path(), Store::open_in_memory().unwrap());
        opts.providers.insert(
            "default".into(),
            ProviderSpec {
                kind: ProviderKind::Scripted,
                base_url: None,
                api_key: None,
            },
        );
        let runtime = Runtime::new(opts).unwrap();
        runtime
            .create_agent(
                AgentManifest::parse(
                    "name = \"b\"\nmodel = \"default/s\"\n[capabilities]\ntools = [\"clock\"]\n",
                )
                .unwrap(),
            )
            .await
            .unwrap();
        runtime
    });
    let request = |msg: &str| TurnRequest {
        agent: "b".parse().unwrap(),
        session_id: None,
        message: msg.to_owned(),
    };
    c.bench_function("scripted turn with clock tool (new session)", |b| {
        b.iter(|| {
            rt.block_on(runtime.run_turn(request("what time is it"), None))
                .unwrap()
        });
    });
    c.bench_function("scripted echo turn (new session)", |b| {
        b.iter(|| {
            rt.block_on(runtime.run_turn(request("echo hi"), None))
                .unwrap()
        });
    });
}

fn sse(c: &mut Criterion) {
    let mut stream = String::new();
    for i in 0..1000 {
        stream.push_str(&format!(
            "data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"token {i} \"}}}}]}}\n\n"
        ));
    }
    let bytes = stream.into_bytes();
    let mut g = c.benchmark_group("sse");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("parse 1000 events in 1 KiB reads", |b| {
        b.iter(|| {
            let mut p = SseParser::new();
            let mut n = 0;
            for chunk in bytes.chunks(1024) {
                n += p.push(chunk).unwrap().len();
            }
            assert_eq!(n, 1000);
        });
    });
    g.finish();
}

criterion_group!(benches, turn, sse);
criterion_main!(benches);
