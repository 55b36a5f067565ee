//! Durability and concurrency: acknowledged entries survive SIGKILL, torn lines are recovered,
//! concurrent appenders make one gap-free chain, and the sink refuses unsafe files.
// Test helpers below panic on setup failure, which is the right outcome in a test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use rampart_audit::{
    AuditError, AuditSink, CheckpointKey, Event, EventKind, Outcome, Query, Record, SinkOptions,
    checkpoints_path_for, query, verify,
};

const CHILD_ENV: &str = "RAMPART_AUDIT_TEST_CHILD_DIR";
const CHILD_KEY_ENV: &str = "RAMPART_AUDIT_TEST_CHILD_KEY";

fn event(i: u64) -> Record {
    Record::new(Event::RateLimited {
        scope: "ip".into(),
        key: format!("198.51.100.{}", i % 250),
    })
    .outcome(Outcome::Blocked)
}

fn small_opts() -> SinkOptions {
    SinkOptions {
        checkpoint_every: 50,
        checkpoint_interval: Duration::from_millis(20),
        ..SinkOptions::default()
    }
}

/// Not a test on its own: the body of the child process of
/// `sigkill_mid_stream_keeps_everything_acknowledged`. Without the environment variable it
/// returns at once.
#[test]
fn child_writer() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let key =
        CheckpointKey::from_bytes(&hex::decode(std::env::var(CHILD_KEY_ENV).unwrap()).unwrap())
            .unwrap();
    let log = Path::new(&dir).join("audit.jsonl");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (sink, _) = AuditSink::open(&log, key, small_opts()).unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for t in 0..16u64 {
            let sink = sink.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                for i in 0.. {
                    let seq = sink.record(event(t * 1_000_000 + i)).await.unwrap();
                    tx.send(seq).unwrap();
                }
            });
        }
        let mut out = std::io::stdout().lock();
        while let Some(seq) = rx.recv().await {
            writeln!(out, "ack {seq}").unwrap();
            out.flush().unwrap();
        }
    });
}

#[test]
fn sigkill_mid_stream_keeps_everything_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let key = CheckpointKey::generate().unwrap();
    let public = key.public_key();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_writer", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir.path())
        .env(CHILD_KEY_ENV, hex::encode(key.to_bytes().as_ref()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut acked = Vec::new();
    let mut line = String::new();
    while acked.len() < 3000 {
        line.clear();
        if reader.read_line(&mut line).unwrap() == 0 {
            break;
        }
        if let Some(seq) = line.trim().strip_prefix("ack ") {
            acked.push(seq.parse::<u64>().unwrap());
        }
    }
    child.kill().unwrap(); // SIGKILL
    // Acknowledgements printed before the kill are still in the pipe.
    for l in reader.lines() {
        if let Some(seq) = l.unwrap().trim().strip_prefix("ack ") {
            acked.push(seq.parse().unwrap());
        }
    }
    child.wait().unwrap();
    assert!(
        acked.len() >= 3000,
        "child acknowledged only {}",
        acked.len()
    );

    let log = dir.path().join("audit.jsonl");
    let cps = checkpoints_path_for(&log);
    let r = verify(&log, &cps, Some(&public)).unwrap();
    assert!(r.is_ok(), "{r}");
    let (head, _) = r.head.unwrap();
    let max_acked = *acked.iter().max().unwrap();
    // The chain is gap-free from 0 to head, so every acknowledged seq <= head is present.
    assert!(
        max_acked <= head,
        "acked {max_acked} but the log ends at {head}"
    );
    assert!(r.checkpoints >= 2);

    // The log reopens where it stopped and keeps going.
    let key = CheckpointKey::from_bytes(key.to_bytes().as_ref()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (sink, report) = AuditSink::open(&log, key, small_opts()).unwrap();
        let next = report.head_seq + 1;
        assert_eq!(sink.record(event(0)).await.unwrap(), next);
        sink.shutdown().await.unwrap();
    });
    let r = verify(&log, &cps, Some(&public)).unwrap();
    assert!(r.is_ok(), "{r}");
    assert_eq!(r.entries_after_last_checkpoint, 0);
}

#[test]
fn concurrent_appenders_make_one_gap_free_chain() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let key = CheckpointKey::generate().unwrap();
    let public = key.public_key();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut seqs = rt.block_on(async {
        // A tiny queue forces backpressure on most of the callers.
        let opts = SinkOptions {
            queue_capacity: 8,
            max_batch: 64,
            ..SinkOptions::default()
        };
        let (sink, _) = AuditSink::open(&log, key, opts).unwrap();
        let mut tasks = Vec::new();
        for t in 0..64u64 {
            let sink = sink.clone();
            tasks.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                for i in 0..100 {
                    mine.push(sink.record(event(t * 100 + i)).await.unwrap());
                }
                mine
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        sink.shutdown().await.unwrap();
        all
    });
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=6400).collect::<Vec<u64>>());
    let r = verify(&log, &checkpoints_path_for(&log), Some(&public)).unwrap();
    assert!(r.is_ok(), "{r}");
    assert_eq!(r.entries, 6401);
}

#[test]
fn record_blocking_works_from_plain_threads() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let key = CheckpointKey::generate().unwrap();
    let public = key.public_key();
    let (sink, _) = AuditSink::open(&log, key, SinkOptions::default()).unwrap();
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let sink = sink.clone();
            std::thread::spawn(move || {
                (0..50)
                    .map(|i| sink.record_blocking(event(t * 50 + i)).unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut seqs: Vec<u64> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=200).collect::<Vec<u64>>());
    drop(sink); // the writer signs a final checkpoint when the last handle goes
    let cps = checkpoints_path_for(&log);
    // The writer finishes asynchronously after the last handle is dropped.
    let mut r = verify(&log, &cps, Some(&public)).unwrap();
    for _ in 0..100 {
        if r.entries_after_last_checkpoint == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
        r = verify(&log, &cps, Some(&public)).unwrap();
    }
    assert!(r.is_ok(), "{r}");
    assert_eq!(r.entries_after_last_checkpoint, 0);
}

fn write_some(log: &Path, key: CheckpointKey, n: u64) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (sink, _) = AuditSink::open(log, key, SinkOptions::default()).unwrap();
        for i in 0..n {
            sink.record(event(i)).await.unwrap();
        }
        sink.shutdown().await.unwrap();
    });
}

fn same(key: &CheckpointKey) -> CheckpointKey {
    CheckpointKey::from_bytes(key.to_bytes().as_ref()).unwrap()
}

#[test]
fn torn_last_line_is_reported_then_set_aside_and_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let cps = checkpoints_path_for(&log);
    let key = CheckpointKey::generate().unwrap();
    let public = key.public_key();
    write_some(&log, same(&key), 5);
    let torn = b"{\"seq\":6,\"ts\":\"2026-11-";
    std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .unwrap()
        .write_all(torn)
        .unwrap();

    let r = verify(&log, &cps, Some(&public)).unwrap();
    assert!(r.is_ok(), "a torn tail was never acknowledged: {r}");
    assert_eq!(r.torn_log_bytes, torn.len() as u64);

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (sink, report) = AuditSink::open(&log, same(&key), SinkOptions::default()).unwrap();
        let rec = report.recovered.expect("recovery reported");
        assert_eq!(rec.torn_bytes, torn.len() as u64);
        assert_eq!(std::fs::read(&rec.moved_to).unwrap(), torn);
        assert_eq!(report.head_seq, 6, "the log_recovered entry is seq 6");
        assert_eq!(sink.record(event(9)).await.unwrap(), 7);
        sink.shutdown().await.unwrap();
    });
    let r = verify(&log, &cps, Some(&public)).unwrap();
    assert!(r.is_ok(), "{r}");
    assert_eq!(r.torn_log_bytes, 0);
    let recovered = query(
        &log,
        &Query {
            event: Some(EventKind::LogRecovered.as_str().into()),
            ..Query::default()
        },
    )
    .unwrap();
    assert_eq!(recovered.len(), 1);
    assert_eq!(recovered[0].detail_value()["torn_bytes"], torn.len());
}

#[test]
fn torn_checkpoint_line_is_recovered_too() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let cps = checkpoints_path_for(&log);
    let key = CheckpointKey::generate().unwrap();
    let public = key.public_key();
    write_some(&log, same(&key), 3);
    std::fs::OpenOptions::new()
        .append(true)
        .open(&cps)
        .unwrap()
        .write_all(b"{\"v\":1,\"log")
        .unwrap();
    let r = verify(&log, &cps, Some(&public)).unwrap();
    assert!(r.is_ok(), "{r}");
    assert!(r.torn_checkpoint_bytes > 0);
    write_some(&log, same(&key), 2);
    let r = verify(&log, &cps, Some(&public)).unwrap();
    assert!(r.is_ok(), "{r}");
    // 4 written entries + 2 more + the log_recovered entry noting the set-aside bytes.
    assert_eq!((r.torn_checkpoint_bytes, r.entries), (0, 7));
    let noted = query(
        &log,
        &Query {
            event: Some("log_recovered".into()),
            ..Query::default()
        },
    )
    .unwrap();
    assert_eq!(noted.len(), 1);
}

#[test]
fn reopening_resumes_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let key = CheckpointKey::generate().unwrap();
    let public = key.public_key();
    write_some(&log, same(&key), 3);
    write_some(&log, same(&key), 4);
    let r = verify(&log, &checkpoints_path_for(&log), Some(&public)).unwrap();
    assert!(r.is_ok(), "{r}");
    assert_eq!(r.head.unwrap().0, 7);
}

#[test]
fn open_refuses_unsafe_files() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let cps = checkpoints_path_for(&log);
    let key = CheckpointKey::generate().unwrap();
    write_some(&log, same(&key), 5);

    // Another key cannot take over the log.
    let other = CheckpointKey::generate().unwrap();
    assert!(matches!(
        AuditSink::open(&log, other, SinkOptions::default()),
        Err(AuditError::Refused { .. })
    ));

    // A second writer is locked out.
    let (sink, _) = AuditSink::open(&log, same(&key), SinkOptions::default()).unwrap();
    assert!(matches!(
        AuditSink::open(&log, same(&key), SinkOptions::default()),
        Err(AuditError::Locked(_))
    ));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async { sink.shutdown().await.unwrap() });

    // A log shorter than its signed head (tail deleted) is not silently extended.
    let full = std::fs::read_to_string(&log).unwrap();
    let cut: String = full.lines().take(4).map(|l| format!("{l}\n")).collect();
    std::fs::write(&log, &cut).unwrap();
    let err = AuditSink::open(&log, same(&key), SinkOptions::default()).unwrap_err();
    assert!(err.to_string().contains("deleted"), "{err}");
    std::fs::write(&log, &full).unwrap();

    // Checkpoints deleted: refused (a new checkpoint would bless whatever the log now holds).
    let cps_bytes = std::fs::read(&cps).unwrap();
    std::fs::remove_file(&cps).unwrap();
    assert!(matches!(
        AuditSink::open(&log, same(&key), SinkOptions::default()),
        Err(AuditError::Refused { .. })
    ));
    std::fs::write(&cps, &cps_bytes).unwrap();

    // The log deleted but its checkpoints left: refused rather than starting afresh.
    std::fs::remove_file(&log).unwrap();
    assert!(matches!(
        AuditSink::open(&log, same(&key), SinkOptions::default()),
        Err(AuditError::Refused { .. })
    ));
}

#[test]
fn shut_down_sink_refuses_records() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let (sink, _) = AuditSink::open(
        &log,
        CheckpointKey::generate().unwrap(),
        SinkOptions::default(),
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let clone = sink.clone();
        sink.shutdown().await.unwrap();
        assert!(matches!(
            clone.record(event(1)).await,
            Err(AuditError::Closed)
        ));
        assert!(matches!(sink.shutdown().await, Err(AuditError::Closed)));
    });
}

#[test]
fn interval_checkpoint_signs_a_quiet_head() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let opts = SinkOptions {
        checkpoint_every: 1_000_000,
        checkpoint_interval: Duration::from_millis(50),
        ..SinkOptions::default()
    };
    let (sink, _) = AuditSink::open(&log, CheckpointKey::generate().unwrap(), opts).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut latest = sink.latest_checkpoint();
        let seq = sink.record(event(1)).await.unwrap();
        let cp = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                latest.changed().await.unwrap();
                if let Some(cp) = latest.borrow_and_update().clone()
                    && cp.seq == seq
                {
                    return cp;
                }
            }
        })
        .await
        .expect("no interval checkpoint");
        assert_eq!(cp.log_id, sink.log_id());
        assert!(cp.verify_signature(&sink.public_key()));
        sink.shutdown().await.unwrap();
    });
}

#[test]
fn attacker_sized_strings_are_shortened_not_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let key = CheckpointKey::generate().unwrap();
    let public = key.public_key();
    let (sink, _) = AuditSink::open(&log, key, SinkOptions::default()).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let huge = "A".repeat(1 << 20);
        let rec = Record::new(Event::MessageDropped {
            channel: "telegram".into(),
            user_id: huge.clone(),
            reason: "not_allowlisted\n{\"seq\":99}".into(),
        })
        .actor(rampart_audit::Actor::Channel {
            channel: "telegram".into(),
            user_id: huge,
        });
        sink.record(rec).await.unwrap();
        sink.shutdown().await.unwrap();
    });
    let r = verify(&log, &checkpoints_path_for(&log), Some(&public)).unwrap();
    assert!(r.is_ok(), "{r}");
    assert_eq!(r.entries, 2, "the injected newline did not forge a line");
    let e = &query(&log, &Query::default()).unwrap()[1];
    assert!(e.detail.get().len() < 4096 && e.detail.get().contains("[truncated]"));
    assert!(e.actor.len() < 2048);
}
