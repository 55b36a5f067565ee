//! Attack tests: every way of tampering with the log or its checkpoints must be caught by
//! `verify`, naming the first bad entry.
// Test helpers below panic on setup failure, which is the right outcome in a test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use rampart_audit::{
    Actor, AuditSink, CheckpointKey, Entry, Event, Hash, KeyTrust, Outcome, Problem, PublicKey,
    Record, SinkOptions, VerifyOptions, checkpoints_path_for, verify, verify_with,
};
use serde_json::Value;

struct Fixture {
    _dir: tempfile::TempDir,
    log: PathBuf,
    cps: PathBuf,
    public: PublicKey,
}

fn opts(every: u64) -> SinkOptions {
    SinkOptions {
        checkpoint_every: every,
        ..SinkOptions::default()
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A log of `n` entries after seq 0 (mixed kinds, agents and actors), checkpointed every
/// `every` entries and on shutdown.
fn build(n: u64, every: u64) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let key = CheckpointKey::generate().unwrap();
    let public = key.public_key();
    rt().block_on(async {
        let (sink, _) = AuditSink::open(&log, key, opts(every)).unwrap();
        for i in 0..n {
            sink.record(sample(i)).await.unwrap();
        }
        sink.shutdown().await.unwrap();
    });
    let cps = checkpoints_path_for(&log);
    Fixture {
        _dir: dir,
        log,
        cps,
        public,
    }
}

fn sample(i: u64) -> Record {
    let agent = "researcher".parse().unwrap();
    match i % 4 {
        0 => Record::new(Event::tool_call(
            "file_read",
            &serde_json::json!({"path": format!("f{i}")}),
            None,
        ))
        .agent(agent)
        .actor(Actor::User("alice".into())),
        1 => Record::new(Event::AuthFailed {
            method: "bearer".into(),
            reason: "invalid".into(),
            target: "/api/agents".into(),
        })
        .actor(Actor::Ip("203.0.113.9".parse().unwrap()))
        .outcome(Outcome::Denied),
        2 => Record::new(Event::ModelCall {
            provider: "default".into(),
            model: "gpt".into(),
            input_tokens: 10 + i,
            output_tokens: 3,
        })
        .agent(agent),
        _ => Record::new(Event::MessageDropped {
            channel: "telegram".into(),
            user_id: "42".into(),
            reason: "not_allowlisted".into(),
        })
        .actor(Actor::Channel {
            channel: "telegram".into(),
            user_id: "42".into(),
        })
        .outcome(Outcome::Blocked),
    }
}

fn lines(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write_lines(p: &Path, lines: &[String]) {
    let mut s = lines.join("\n");
    if !lines.is_empty() {
        s.push('\n');
    }
    std::fs::write(p, s).unwrap();
}

fn check(f: &Fixture) -> rampart_audit::VerifyReport {
    verify(&f.log, &f.cps, Some(&f.public)).unwrap()
}

/// Recomputes every `prev` and `hash` from entry `from` on, as an attacker without the key can.
fn rechain(lines: &mut [String], from: usize) {
    let mut prev = if from == 0 {
        Hash::ZERO
    } else {
        Entry::parse_line(lines[from - 1].as_bytes()).unwrap().hash
    };
    for line in &mut lines[from..] {
        let mut e = Entry::parse_line(line.as_bytes()).unwrap();
        e.prev = prev;
        e.hash = e.computed_hash();
        prev = e.hash;
        let bytes = e.to_line();
        *line = String::from_utf8(bytes).unwrap().trim_end().to_owned();
    }
}

#[test]
fn untouched_log_verifies() {
    let f = build(20, 7);
    let r = check(&f);
    assert!(r.is_ok(), "{r}");
    assert_eq!(r.entries, 21);
    assert_eq!(r.head.unwrap().0, 20);
    assert_eq!(r.entries_after_last_checkpoint, 0);
    assert_eq!(r.key, KeyTrust::Pinned);
    // seq 0, 7, 14 and the shutdown checkpoint at 20.
    assert_eq!(r.checkpoints, 4);
}

#[test]
fn editing_any_field_of_any_entry_fails_at_that_entry() {
    let f = build(8, 3);
    let original = lines(&f.log);
    let fields = [
        "seq", "ts", "event", "agent", "actor", "outcome", "detail", "prev", "hash",
    ];
    for i in 0..original.len() {
        for field in fields {
            let mut v: Value = serde_json::from_str(&original[i]).unwrap();
            let new = match field {
                "seq" => Value::from(v["seq"].as_u64().unwrap() + 100),
                "ts" => Value::from("2001-01-01T00:00:00Z"),
                "event" => Value::from(if v["event"] == "auth_failed" {
                    "tool_call"
                } else {
                    "auth_failed"
                }),
                "agent" => {
                    if v["agent"].is_null() {
                        Value::from("intruder")
                    } else {
                        Value::Null
                    }
                }
                "actor" => Value::from("user:mallory"),
                "outcome" => Value::from(if v["outcome"] == "ok" { "denied" } else { "ok" }),
                "detail" => serde_json::json!({"forged": true}),
                "prev" | "hash" => {
                    let mut h = v[field].as_str().unwrap().to_owned();
                    let c = if h.starts_with('0') { "1" } else { "0" };
                    h.replace_range(0..1, c);
                    Value::from(h)
                }
                _ => unreachable!(),
            };
            v[field] = new;
            let mut tampered = original.clone();
            tampered[i] = serde_json::to_string(&v).unwrap();
            write_lines(&f.log, &tampered);
            let r = check(&f);
            let p = r
                .problem
                .as_ref()
                .unwrap_or_else(|| panic!("edit of {field} in entry {i} passed"));
            assert_eq!(p.seq(), Some(i as u64), "{field} of entry {i}: {p}");
        }
    }
    // Re-encoding alone (key order, escapes) is not tampering.
    let reencoded: Vec<String> = original
        .iter()
        .map(|l| serde_json::to_string(&serde_json::from_str::<Value>(l).unwrap()).unwrap())
        .collect();
    write_lines(&f.log, &reencoded);
    assert!(check(&f).is_ok());
}

#[test]
fn flipping_any_byte_fails_at_that_entry() {
    let f = build(5, 2);
    let original = std::fs::read(&f.log).unwrap();
    let starts: Vec<usize> = std::iter::once(0)
        .chain(
            original
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .map(|(i, _)| i + 1),
        )
        .collect();
    for pos in 0..original.len() {
        let mut t = original.clone();
        t[pos] ^= 0x01;
        std::fs::write(&f.log, &t).unwrap();
        let r = check(&f);
        let entry = starts.iter().rposition(|&s| s <= pos).unwrap() as u64;
        let p = r
            .problem
            .unwrap_or_else(|| panic!("flip at byte {pos} passed"));
        assert_eq!(p.seq(), Some(entry), "flip at byte {pos}: {p}");
    }
}

#[test]
fn deleting_the_last_entry_or_the_last_n_is_detected() {
    let f = build(30, 10);
    let original = lines(&f.log);
    for n in [1, 2, 5, 10, 25] {
        write_lines(&f.log, &original[..original.len() - n]);
        let r = check(&f);
        let head = (original.len() - n - 1) as u64;
        assert_eq!(
            r.problem,
            Some(Problem::Truncated {
                head_seq: head,
                signed_seq: 30
            }),
            "deleting {n}"
        );
        assert_eq!(r.problem.unwrap().seq(), Some(head + 1));
    }
    // Deleting everything but seq 0 as well.
    write_lines(&f.log, &original[..1]);
    assert!(matches!(
        check(&f).problem,
        Some(Problem::Truncated { head_seq: 0, .. })
    ));
}

#[test]
fn deleting_entries_in_the_middle_is_detected() {
    let f = build(10, 100);
    let mut l = lines(&f.log);
    l.remove(4);
    write_lines(&f.log, &l);
    assert_eq!(
        check(&f).problem,
        Some(Problem::SeqMismatch {
            expected: 4,
            found: 5,
            line: 5
        })
    );
    // Renumbering and rechaining the rest only moves the detection to the signed head.
    let mut l2 = l.clone();
    for (i, line) in l2.iter_mut().enumerate().skip(4) {
        let mut v: Value = serde_json::from_str(line).unwrap();
        v["seq"] = Value::from(i);
        *line = serde_json::to_string(&v).unwrap();
    }
    rechain(&mut l2, 4);
    write_lines(&f.log, &l2);
    assert!(matches!(
        check(&f).problem,
        Some(Problem::Truncated {
            head_seq: 9,
            signed_seq: 10
        })
    ));
}

#[test]
fn swapping_two_entries_is_detected() {
    let f = build(10, 4);
    let original = lines(&f.log);
    for (a, b) in [(2, 3), (1, 9), (0, 5), (9, 10)] {
        let mut l = original.clone();
        l.swap(a, b);
        write_lines(&f.log, &l);
        let p = check(&f).problem.expect("swap passed");
        assert_eq!(p.seq(), Some(a as u64), "swap {a},{b}: {p}");
    }
    // Swapping and fixing up seq numbers is caught by the hashes.
    let mut l = original.clone();
    l.swap(2, 3);
    for (i, line) in l.iter_mut().enumerate().skip(2).take(2) {
        let mut v: Value = serde_json::from_str(line).unwrap();
        v["seq"] = Value::from(i);
        *line = serde_json::to_string(&v).unwrap();
    }
    write_lines(&f.log, &l);
    assert_eq!(check(&f).problem, Some(Problem::HashMismatch { seq: 2 }));
    // ...and fully rechaining them by the checkpoint that signed entry 4.
    rechain(&mut l, 2);
    write_lines(&f.log, &l);
    assert_eq!(
        check(&f).problem,
        Some(Problem::CheckpointMismatch {
            seq: 4,
            checkpoint_line: 2
        })
    );
}

#[test]
fn rewritten_chain_without_matching_checkpoint_is_detected() {
    let real = build(12, 5);
    let original = lines(&real.log);

    // 1. Same first entry, history rewritten and rechained (valid-looking chain).
    let mut l = original.clone();
    let mut v: Value = serde_json::from_str(&l[3]).unwrap();
    v["actor"] = Value::from("user:nobody");
    l[3] = serde_json::to_string(&v).unwrap();
    rechain(&mut l, 3);
    write_lines(&real.log, &l);
    assert_eq!(
        check(&real).problem,
        Some(Problem::CheckpointMismatch {
            seq: 5,
            checkpoint_line: 2
        })
    );

    // 2. A whole fresh chain made by the attacker with their own key, checkpoints kept.
    let forged = build(12, 5);
    std::fs::copy(&forged.log, &real.log).unwrap();
    assert!(matches!(
        check(&real).problem,
        Some(Problem::KeyMismatch { .. })
    ));

    // 3. The fresh chain claims the real public key (it is public): checkpoints are foreign.
    let mut l = lines(&forged.log);
    let mut g: Value = serde_json::from_str(&l[0]).unwrap();
    g["detail"]["public_key"] = Value::from(real.public.to_string());
    l[0] = serde_json::to_string(&g).unwrap();
    rechain(&mut l, 0);
    write_lines(&real.log, &l);
    assert_eq!(
        check(&real).problem,
        Some(Problem::CheckpointForeign { line: 1 })
    );

    // 4. ...and the checkpoints file deleted too.
    std::fs::remove_file(&real.cps).unwrap();
    assert_eq!(check(&real).problem, Some(Problem::NoCheckpoint));

    // 5. ...or replaced by the attacker's own: their signatures fail under the pinned key.
    std::fs::copy(&forged.cps, &real.cps).unwrap();
    let p = check(&real).problem.unwrap();
    assert!(
        matches!(
            p,
            Problem::CheckpointForeign { .. } | Problem::CheckpointBadSignature { .. }
        ),
        "{p}"
    );

    // Without a pinned key, a complete forgery with its own key is self-consistent: this is why
    // verify reports which key it trusted, and why `--public-key` matters.
    std::fs::copy(&forged.log, &real.log).unwrap();
    let r = verify(&real.log, &real.cps, None).unwrap();
    assert!(r.is_ok());
    assert_eq!(r.key, KeyTrust::FromLog);
    assert!(
        verify(&real.log, &real.cps, Some(&real.public))
            .unwrap()
            .problem
            .is_some()
    );
}

#[test]
fn tampered_checkpoints_are_detected() {
    let f = build(9, 3);
    let original = lines(&f.cps);
    assert_eq!(original.len(), 4);

    // A checkpoint edited to sign a shorter log.
    let mut l = original.clone();
    let mut v: Value = serde_json::from_str(&l[3]).unwrap();
    v["seq"] = Value::from(5);
    l[3] = serde_json::to_string(&v).unwrap();
    write_lines(&f.cps, &l);
    assert_eq!(
        check(&f).problem,
        Some(Problem::CheckpointBadSignature { line: 4 })
    );

    // Checkpoint lines reordered.
    let mut l = original.clone();
    l.swap(1, 2);
    write_lines(&f.cps, &l);
    let p = check(&f).problem.unwrap();
    assert!(matches!(p, Problem::CheckpointOutOfOrder { .. }), "{p}");

    // Garbage line.
    let mut l = original.clone();
    l.insert(2, "{\"v\":1}".into());
    write_lines(&f.cps, &l);
    assert!(matches!(
        check(&f).problem,
        Some(Problem::CheckpointMalformed { line: 3, .. })
    ));
}

#[test]
fn replayed_old_copy_is_detected_with_an_anchor() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let cps = checkpoints_path_for(&log);
    let key = CheckpointKey::generate().unwrap();
    let public = key.public_key();
    let (old_log, old_cps, anchor) = rt().block_on(async {
        let (sink, _) = AuditSink::open(&log, key, opts(5)).unwrap();
        for i in 0..10 {
            sink.record(sample(i)).await.unwrap();
        }
        sink.checkpoint().await.unwrap();
        let snapshot = (std::fs::read(&log).unwrap(), std::fs::read(&cps).unwrap());
        for i in 0..10 {
            sink.record(sample(i)).await.unwrap();
        }
        let last = sink.shutdown().await.unwrap().unwrap();
        (snapshot.0, snapshot.1, last)
    });
    assert_eq!(anchor.seq, 20);
    let with_anchor = VerifyOptions {
        public_key: Some(public),
        anchor: Some(anchor.clone()),
    };
    assert!(verify_with(&log, &cps, &with_anchor).unwrap().is_ok());

    // Roll both files back to the older copy: internally consistent…
    std::fs::write(&log, &old_log).unwrap();
    std::fs::write(&cps, &old_cps).unwrap();
    assert!(verify(&log, &cps, Some(&public)).unwrap().is_ok());
    // …but not consistent with the anchor kept elsewhere.
    assert_eq!(
        verify_with(&log, &cps, &with_anchor).unwrap().problem,
        Some(Problem::Truncated {
            head_seq: 10,
            signed_seq: 20
        })
    );

    // An anchor of another log (the log was swapped for a different one).
    let other = build(3, 1);
    let other_anchor =
        rampart_audit::Checkpoint::parse_line(lines(&other.cps).last().unwrap().as_bytes())
            .unwrap();
    let p = verify_with(
        &log,
        &cps,
        &VerifyOptions {
            public_key: Some(public),
            anchor: Some(other_anchor),
        },
    )
    .unwrap()
    .problem;
    assert!(matches!(p, Some(Problem::AnchorMismatch { .. })), "{p:?}");
}

#[test]
fn unsigned_tail_is_reported_and_is_the_documented_window() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let cps = checkpoints_path_for(&log);
    let key = CheckpointKey::generate().unwrap();
    let public = key.public_key();
    rt().block_on(async {
        let (sink, _) = AuditSink::open(&log, key, opts(1000)).unwrap();
        for i in 0..6 {
            sink.record(sample(i)).await.unwrap();
        }
        // Copy the files as they are on disk mid-run (as after a crash): 6 entries unsigned.
        let copy_log = dir.path().join("copy.jsonl");
        std::fs::copy(&log, &copy_log).unwrap();
        std::fs::copy(&cps, checkpoints_path_for(&copy_log)).unwrap();
        let r = verify(&copy_log, &checkpoints_path_for(&copy_log), Some(&public)).unwrap();
        assert!(r.is_ok(), "{r}");
        assert_eq!(r.entries_after_last_checkpoint, 6);
        // Cutting unsigned entries goes unnoticed; the report shrinks accordingly.
        let l = lines(&copy_log);
        write_lines(&copy_log, &l[..5]);
        let r = verify(&copy_log, &checkpoints_path_for(&copy_log), Some(&public)).unwrap();
        assert!(r.is_ok());
        assert_eq!(r.entries_after_last_checkpoint, 4);
        sink.shutdown().await.unwrap();
    });
    let r = verify(&log, &cps, Some(&public)).unwrap();
    assert!(r.is_ok());
    assert_eq!(r.entries_after_last_checkpoint, 0);
}

/// A log large enough to span several verification blocks (built by concurrent appenders).
fn build_big(n: u64) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.jsonl");
    let key = CheckpointKey::generate().unwrap();
    let public = key.public_key();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (sink, _) = AuditSink::open(&log, key, opts(1000)).unwrap();
        let mut tasks = Vec::new();
        for t in 0..64 {
            let sink = sink.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..n / 64 {
                    sink.record(sample(t * 1000 + i)).await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        sink.shutdown().await.unwrap();
    });
    let cps = checkpoints_path_for(&log);
    Fixture {
        _dir: dir,
        log,
        cps,
        public,
    }
}

#[test]
fn tampering_deep_in_a_large_log_is_found_at_that_entry() {
    let f = build_big(12_800);
    assert!(
        std::fs::metadata(&f.log).unwrap().len() > 3 * 1024 * 1024,
        "spans several blocks"
    );
    let original = lines(&f.log);
    assert!(check(&f).is_ok());
    for i in [3_000usize, 7_777, 12_000] {
        let mut l = original.clone();
        l[i] = l[i].replace("\"outcome\":\"", "\"outcome\":\"x");
        write_lines(&f.log, &l);
        assert_eq!(
            check(&f).problem,
            Some(Problem::HashMismatch { seq: i as u64 })
        );

        let mut l = original.clone();
        let half = l[i].len() / 2;
        l[i].truncate(half);
        write_lines(&f.log, &l);
        let p = check(&f).problem.unwrap();
        assert!(
            matches!(p, Problem::Malformed { seq, .. } if seq == i as u64),
            "{p}"
        );

        let mut l = original.clone();
        l.swap(i, i + 1);
        write_lines(&f.log, &l);
        assert_eq!(check(&f).problem.unwrap().seq(), Some(i as u64));
    }
    write_lines(&f.log, &original[..original.len() - 3]);
    assert!(matches!(check(&f).problem, Some(Problem::Truncated { .. })));
}
