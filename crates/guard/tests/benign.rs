//! The benign corpus (`corpus/benign.txt`, at least 300 texts: chat, email, code, docs, near-misses) scans clean.

use rampart_guard::{InputValidator, ScanKind, scan};

const BENIGN: &str = include_str!("../corpus/benign.txt");

fn lines() -> Vec<&'static str> {
    BENIGN
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .collect()
}

#[test]
fn corpus_is_large_enough() {
    assert!(lines().len() >= 300, "only {} benign texts", lines().len());
}

#[test]
fn every_benign_text_passes() {
    let v = InputValidator::new();
    let failures: Vec<String> = lines()
        .into_iter()
        .filter_map(|l| {
            let r = scan(l, ScanKind::Message);
            (r.is_injection() || v.validate_message(l).is_err())
                .then(|| format!("{l:?} -> {:?}", r.findings))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "false positives:\n{}",
        failures.join("\n")
    );
}

#[test]
fn whole_corpus_as_one_text_passes() {
    // Joining lines must not create matches across line ends either.
    assert!(!scan(&lines().join("\n"), ScanKind::Message).is_injection());
}
