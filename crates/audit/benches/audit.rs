//! Throughput of the audit trail: durable appends per second with group commit (many concurrent
//! appenders, every append fsynced before it is acknowledged) and verified entries per second.
//!
//! Run: `cargo bench -p rampart-audit --bench audit`. Targets on the project machine:
//! ≥ 50,000 appends/s and ≥ 500,000 verified entries/s.

// criterion_group! generates an undocumented pub fn.
#![allow(missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rampart_audit::{
    Actor, AuditSink, CheckpointKey, Event, Outcome, Record, SinkOptions, checkpoints_path_for,
    verify,
};

fn record(i: u64) -> Record {
    Record::new(Event::tool_call(
        "file_read",
        &serde_json::json!({"path": format!("notes/{i}.txt")}),
        None,
    ))
    .agent("researcher".parse().expect("valid agent name"))
    .actor(Actor::User("alice".into()))
    .outcome(Outcome::Ok)
}

fn appends(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut group = c.benchmark_group("durable_append");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    for tasks in [1u64, 64, 512] {
        group.throughput(Throughput::Elements(1));
        group.bench_with_input(
            BenchmarkId::new("concurrent_tasks", tasks),
            &tasks,
            |b, &tasks| {
                let dir = tempfile::tempdir().expect("tempdir");
                let log = dir.path().join("audit.jsonl");
                let key = CheckpointKey::generate().expect("key");
                let (sink, _) = AuditSink::open(&log, key, SinkOptions::default()).expect("open");
                b.iter_custom(|iters| {
                    let per_task = iters.div_ceil(tasks);
                    let start = Instant::now();
                    rt.block_on(async {
                        let mut handles = Vec::new();
                        for t in 0..tasks {
                            let sink = sink.clone();
                            handles.push(tokio::spawn(async move {
                                for i in 0..per_task {
                                    black_box(
                                        sink.record(record(t * per_task + i))
                                            .await
                                            .expect("append"),
                                    );
                                }
                            }));
                        }
                        for h in handles {
                            h.await.expect("task");
                        }
                    });
                    // Report time per append actually made (per_task * tasks >= iters).
                    start
                        .elapsed()
                        .mul_f64(iters as f64 / (per_task * tasks) as f64)
                });
                rt.block_on(sink.shutdown()).expect("shutdown");
            },
        );
    }
    group.finish();
}

fn verifying(c: &mut Criterion) {
    const ENTRIES: u64 = 200_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("audit.jsonl");
    let key = CheckpointKey::generate().expect("key");
    let public = key.public_key();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let (sink, _) = AuditSink::open(&log, key, SinkOptions::default()).expect("open");
        let mut handles = Vec::new();
        for t in 0..256u64 {
            let sink = sink.clone();
            handles.push(tokio::spawn(async move {
                for i in 0..ENTRIES / 256 {
                    sink.record(record(t * 1000 + i)).await.expect("append");
                }
            }));
        }
        for h in handles {
            h.await.expect("task");
        }
        sink.shutdown().await.expect("shutdown");
    });
    let cps = checkpoints_path_for(&log);
    let total = verify(&log, &cps, Some(&public)).expect("verify").entries;
    let mut group = c.benchmark_group("verify");
    group.sample_size(10);
    group.throughput(Throughput::Elements(total));
    group.bench_function(BenchmarkId::new("entries", total), |b| {
        b.iter(|| {
            let r = verify(&log, &cps, Some(&public)).expect("verify");
            assert!(r.is_ok());
            black_box(r)
        });
    });
    group.finish();

    // Where verify's time goes: parsing one line, and hashing one entry.
    let line = std::fs::read_to_string(&log).expect("log");
    let line = line.lines().nth(1000).expect("line").as_bytes().to_vec();
    let entry = rampart_audit::Entry::parse_line(&line).expect("entry");
    let mut group = c.benchmark_group("entry");
    group.throughput(Throughput::Elements(1));
    group.bench_function("parse_line", |b| {
        b.iter(|| black_box(rampart_audit::Entry::parse_line(black_box(&line)).expect("parse")));
    });
    group.bench_function("computed_hash", |b| {
        b.iter(|| black_box(black_box(&entry).computed_hash()));
    });
    group.finish();
}

criterion_group!(benches, appends, verifying);
criterion_main!(benches);
