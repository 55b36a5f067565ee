//! `audit show` and `audit export` helpers: filters, limits and export formats.
// Test helpers below panic on setup failure, which is the right outcome in a test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rampart_audit::{
    Actor, AuditSink, CheckpointKey, Event, EventKind, ExportFormat, KeyId, Outcome, Query, Record,
    SinkOptions, checkpoints_path_for, export, query, verify,
};

fn build() -> (
    tempfile::TempDir,
    std::path::PathBuf,
    rampart_audit::PublicKey,
) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let key = CheckpointKey::generate().unwrap();
    let public = key.public_key();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (sink, _) = AuditSink::open(&log, key, SinkOptions::default()).unwrap();
        for i in 0..30u64 {
            let agent = if i % 2 == 0 { "alpha" } else { "beta" };
            let rec = if i % 3 == 0 {
                Record::new(Event::AuthFailed {
                    method: "bearer".into(),
                    reason: "invalid".into(),
                    target: format!("/api/{i}"),
                })
                .actor(Actor::Key(KeyId::of(b"some-api-key")))
                .outcome(Outcome::Denied)
            } else {
                Record::new(Event::FileAccess {
                    op: rampart_audit::FileOp::Read,
                    path: format!("notes/{i}.txt"),
                })
                .agent(agent.parse().unwrap())
            };
            sink.record(rec).await.unwrap();
        }
        sink.shutdown().await.unwrap();
    });
    (dir, log, public)
}

#[test]
fn show_filters_by_event_agent_and_limit() {
    let (_dir, log, _) = build();
    let auth = query(
        &log,
        &Query {
            event: Some("auth_failed".into()),
            ..Query::default()
        },
    )
    .unwrap();
    assert_eq!(auth.len(), 10);
    assert!(auth.iter().all(|e| e.kind() == Some(EventKind::AuthFailed)));
    assert!(
        auth.iter()
            .all(|e| e.actor.starts_with("key:") && !e.actor.contains("some-api-key"))
    );

    let alpha = query(
        &log,
        &Query {
            agent: Some("alpha".into()),
            limit: Some(3),
            ..Query::default()
        },
    )
    .unwrap();
    // The newest three, oldest first.
    let seqs: Vec<u64> = alpha.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, vec![23, 27, 29]);
    assert!(alpha.iter().all(|e| e.agent.as_deref() == Some("alpha")));

    let none = query(
        &log,
        &Query {
            event: Some("tool_call".into()),
            ..Query::default()
        },
    )
    .unwrap();
    assert!(none.is_empty());
    let all = query(&log, &Query::default()).unwrap();
    assert_eq!(all.len(), 31);
}

#[test]
fn export_jsonl_is_byte_identical_and_verifiable() {
    let (dir, log, public) = build();
    let mut out = Vec::new();
    assert_eq!(export(&log, ExportFormat::Jsonl, &mut out).unwrap(), 31);
    assert_eq!(out, std::fs::read(&log).unwrap());
    let copy = dir.path().join("copy.jsonl");
    std::fs::write(&copy, &out).unwrap();
    std::fs::copy(checkpoints_path_for(&log), checkpoints_path_for(&copy)).unwrap();
    assert!(
        verify(&copy, &checkpoints_path_for(&copy), Some(&public))
            .unwrap()
            .is_ok()
    );
}

#[test]
fn export_json_is_one_array_of_entries() {
    let (_dir, log, _) = build();
    let mut out = Vec::new();
    export(&log, "json".parse().unwrap(), &mut out).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), 31);
    assert_eq!(arr[0]["event"], "log_created");
    assert_eq!(arr[4]["event"], "auth_failed");
    assert_eq!(arr[4]["detail"]["target"], "/api/3");
    assert!("xml".parse::<ExportFormat>().is_err());
}
