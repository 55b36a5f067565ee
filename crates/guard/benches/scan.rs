//! Throughput of `scan` on ASCII and on mixed-Unicode text (targets: 500 MB/s ASCII, 100 MB/s mixed, one core).
//!
//! Run with `cargo bench -p rampart-guard --bench scan`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rampart_guard::{ScanKind, scan};

const BENIGN: &str = include_str!("../corpus/benign.txt");

const MIXED: &[&str] = &[
    "Grüße aus München! Wir treffen uns um 8 Uhr am Café an der Ecke.",
    "Привет, как дела? Давай встретимся завтра у метро и обсудим проект.",
    "今日は雨ですが、明日は晴れるでしょう。会議は午後三時からです。",
    "Ça va très bien, merci ! On se voit à la réunion de jeudi 😀",
    "Ο καιρός είναι καλός σήμερα, πάμε για καφέ στην πλατεία;",
    "The naïve café owner said “déjà vu” — twice — and served crème brûlée.",
    "مرحبا، هل يمكنك إرسال التقرير قبل الاجتماع؟",
    "Please review the PR 🚀 and leave comments on the résumé parser.",
];

/// About `size` bytes of text made by repeating `lines`.
fn fill(lines: &[&str], size: usize) -> String {
    let mut s = String::with_capacity(size + 256);
    'outer: loop {
        for l in lines {
            s.push_str(l);
            s.push('\n');
            if s.len() >= size {
                break 'outer;
            }
        }
    }
    s
}

fn bench(c: &mut Criterion) {
    let benign: Vec<&str> = BENIGN
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect();
    let ascii = fill(&benign, 1 << 20);
    assert!(ascii.is_ascii(), "the benign corpus is ASCII");
    let mixed = fill(MIXED, 1 << 20);
    // Warm the fold table outside the measurement.
    black_box(scan(&mixed, ScanKind::Message));

    let mut g = c.benchmark_group("scan_message");
    g.throughput(Throughput::Bytes(ascii.len() as u64));
    g.bench_function("ascii_1MiB", |b| {
        b.iter(|| scan(black_box(&ascii), ScanKind::Message));
    });
    g.throughput(Throughput::Bytes(mixed.len() as u64));
    g.bench_function("mixed_unicode_1MiB", |b| {
        b.iter(|| scan(black_box(&mixed), ScanKind::Message));
    });
    g.finish();

    let mut g = c.benchmark_group("scan_skill");
    g.throughput(Throughput::Bytes(ascii.len() as u64));
    g.bench_function("ascii_1MiB", |b| {
        b.iter(|| scan(black_box(&ascii), ScanKind::Skill));
    });
    g.finish();
}

// The macro generates an undocumented fn.
#[allow(missing_docs)]
mod group {
    use super::*;
    criterion_group!(benches, bench);
}

criterion_main!(group::benches);
