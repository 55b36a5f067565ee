//! Verification of a log and its checkpoints (SPEC D3, D4).

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use crate::AuditError;
use crate::checkpoint::Checkpoint;
use crate::entry::Wire;
use crate::fsio::{Lines, Next, NextBlock};
use crate::hash::Hash;
use crate::key::PublicKey;
use crate::report::{KeyTrust, Problem, VerifyReport};

/// What to verify against.
#[derive(Clone, Debug, Default)]
pub struct VerifyOptions {
    /// The checkpoint public key to trust. Without it, verify trusts the key the log's own first
    /// entry names, which proves integrity only against someone who cannot rewrite everything.
    pub public_key: Option<PublicKey>,
    /// A checkpoint kept outside the log's directory (see [`crate::AuditSink::latest_checkpoint`]).
    /// The log must contain it: this detects a replayed older copy of the log and checkpoints.
    pub anchor: Option<Checkpoint>,
}

/// Verifies the log at `log` against the checkpoints at `checkpoints`, trusting `public_key` if
/// given (else the key named in the log's first entry).
///
/// # Errors
/// [`AuditError::Io`] if the log cannot be read. A missing checkpoints file is not an error but a
/// [`Problem::NoCheckpoint`]. Tampering is reported in [`VerifyReport::problem`].
pub fn verify(
    log: &Path,
    checkpoints: &Path,
    public_key: Option<&PublicKey>,
) -> Result<VerifyReport, AuditError> {
    verify_with(
        log,
        checkpoints,
        &VerifyOptions {
            public_key: public_key.copied(),
            anchor: None,
        },
    )
}

/// [`verify`] with an anchor checkpoint.
///
/// # Errors
/// As [`verify`].
pub fn verify_with(
    log: &Path,
    checkpoints: &Path,
    opts: &VerifyOptions,
) -> Result<VerifyReport, AuditError> {
    let log_file = File::open(log).map_err(|e| AuditError::io("open", log, e))?;
    let cp_file = match File::open(checkpoints) {
        Ok(f) => Some(f),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(AuditError::io("open", checkpoints, e)),
    };
    verify_reader(log_file, cp_file, opts).map_err(|e| AuditError::io("read", log, e))
}

/// Streaming checkpoint reader that validates each checkpoint as it goes.
struct Cps<R> {
    lines: Option<Lines<R>>,
    line: u64,
    count: u64,
    last: Option<Checkpoint>,
    torn: u64,
}

impl<R: Read> Cps<R> {
    /// The next valid checkpoint, `Ok(None)` at the end, or the problem with it.
    fn next(
        &mut self,
        log_id: &Hash,
        key: &PublicKey,
    ) -> io::Result<Result<Option<(Checkpoint, u64)>, Problem>> {
        let Some(lines) = self.lines.as_mut() else {
            return Ok(Ok(None));
        };
        let raw = match lines.next_line()? {
            Next::Line(l) => l,
            Next::Torn(n) => {
                self.torn = n;
                return Ok(Ok(None));
            }
            Next::End => return Ok(Ok(None)),
            Next::TooLong => {
                return Ok(Err(Problem::CheckpointMalformed {
                    line: self.line + 1,
                    reason: "line too long".into(),
                }));
            }
        };
        self.line += 1;
        let line = self.line;
        let cp = match Checkpoint::parse_line(raw) {
            Ok(c) => c,
            Err(e) => {
                return Ok(Err(Problem::CheckpointMalformed {
                    line,
                    reason: e.to_string(),
                }));
            }
        };
        if cp.log_id != *log_id {
            return Ok(Err(Problem::CheckpointForeign { line }));
        }
        if cp.key != *key || !cp.verify_signature(key) {
            return Ok(Err(Problem::CheckpointBadSignature { line }));
        }
        if self.last.as_ref().is_some_and(|l| l.seq > cp.seq) {
            return Ok(Err(Problem::CheckpointOutOfOrder { line }));
        }
        self.count += 1;
        self.last = Some(cp.clone());
        Ok(Ok(Some((cp, line))))
    }
}

/// Most threads one verification uses to parse and hash entries.
const MAX_VERIFY_THREADS: usize = 4;

/// One entry as checked in isolation (parsed, hash recomputed).
#[derive(Debug)]
struct Item {
    seq: u64,
    prev: Hash,
    hash: Hash,
    hash_ok: bool,
}

/// The entries of one block up to the first malformed line or wrong hash.
#[derive(Debug)]
struct Checked {
    items: Vec<Item>,
    malformed: Option<String>,
}

/// Parses and hashes every line of `block` (complete lines only); stops at the first malformed
/// line or hash mismatch, which the in-order pass then reports.
fn check_block(block: &[u8]) -> Checked {
    let mut items = Vec::with_capacity(block.len() / 256);
    for raw in block
        .strip_suffix(b"\n")
        .unwrap_or(block)
        .split(|&b| b == b'\n')
    {
        match Wire::parse(raw) {
            Ok(w) => {
                let hash_ok = w.hash_input().hash() == w.hash;
                items.push(Item {
                    seq: w.seq,
                    prev: w.prev,
                    hash: w.hash,
                    hash_ok,
                });
                if !hash_ok {
                    break;
                }
            }
            Err(reason) => {
                return Checked {
                    items,
                    malformed: Some(reason),
                };
            }
        }
    }
    Checked {
        items,
        malformed: None,
    }
}

/// The in-order state of the walk: linkage, position, pending checkpoint.
struct Chain {
    expected: u64,
    prev: Hash,
    line: u64,
    next_cp: Option<(Checkpoint, u64)>,
    log_id: Hash,
    key: PublicKey,
}

impl Chain {
    /// Records entry `seq` (well-formed, in place, linked, correctly hashed) and checks it
    /// against the anchor and any checkpoints that sign it.
    fn accept<C: Read>(
        &mut self,
        seq: u64,
        hash: Hash,
        cps: &mut Cps<C>,
        opts: &VerifyOptions,
        report: &mut VerifyReport,
    ) -> io::Result<Option<Problem>> {
        report.entries += 1;
        report.head = Some((seq, hash));
        if let Some(a) = &opts.anchor
            && a.seq == seq
            && a.head != hash
        {
            return Ok(Some(Problem::AnchorMismatch {
                reason: format!("entry {seq} differs from the anchor"),
            }));
        }
        while let Some((cp, cp_line)) = &self.next_cp {
            if cp.seq != seq {
                break;
            }
            if cp.head != hash {
                return Ok(Some(Problem::CheckpointMismatch {
                    seq,
                    checkpoint_line: *cp_line,
                }));
            }
            self.next_cp = match cps.next(&self.log_id, &self.key)? {
                Ok(c) => c,
                Err(p) => return Ok(Some(p)),
            };
        }
        if let Some((cp, cp_line)) = &self.next_cp
            && cp.seq < seq
        {
            // A checkpoint for an entry already passed without matching it.
            return Ok(Some(Problem::CheckpointOutOfOrder { line: *cp_line }));
        }
        self.prev = hash;
        self.expected = seq + 1;
        Ok(None)
    }
}

/// [`verify_with`] over readers (`checkpoints: None` = no checkpoints file). Used by the fuzzer.
///
/// # Errors
/// Read errors of either reader.
pub fn verify_reader<L: Read, C: Read>(
    log: L,
    checkpoints: Option<C>,
    opts: &VerifyOptions,
) -> io::Result<VerifyReport> {
    let mut report = VerifyReport {
        entries: 0,
        head: None,
        log_id: None,
        checkpoints: 0,
        last_checkpoint: None,
        entries_after_last_checkpoint: 0,
        key: if opts.public_key.is_some() {
            KeyTrust::Pinned
        } else {
            KeyTrust::FromLog
        },
        torn_log_bytes: 0,
        torn_checkpoint_bytes: 0,
        problem: None,
    };
    let mut cps = Cps {
        lines: checkpoints.map(Lines::new),
        line: 0,
        count: 0,
        last: None,
        torn: 0,
    };
    let problem = walk(log, &mut cps, opts, &mut report)?;
    report.checkpoints = cps.count;
    report.torn_checkpoint_bytes = cps.torn;
    report.last_checkpoint = cps.last;
    if let (Some((head, _)), Some(c)) = (report.head, &report.last_checkpoint) {
        report.entries_after_last_checkpoint = head.saturating_sub(c.seq);
    }
    report.problem = problem;
    Ok(report)
}

fn walk<L: Read, C: Read>(
    log: L,
    cps: &mut Cps<C>,
    opts: &VerifyOptions,
    report: &mut VerifyReport,
) -> io::Result<Option<Problem>> {
    let mut lines = Lines::new(log);

    // Entry 0: the log's identity and the key it was created with.
    let first = match lines.next_line()? {
        Next::Line(l) => l,
        Next::Torn(n) => {
            report.torn_log_bytes = n;
            return Ok(Some(Problem::MissingGenesis));
        }
        _ => return Ok(Some(Problem::MissingGenesis)),
    };
    let genesis = match Wire::parse(first) {
        Ok(g) => g,
        Err(reason) => return Ok(Some(Problem::BadGenesis { reason })),
    };
    if genesis.seq != 0 || genesis.event != "log_created" || genesis.prev != Hash::ZERO {
        return Ok(Some(Problem::BadGenesis {
            reason: "not seq 0 / log_created / zero prev".into(),
        }));
    }
    if genesis.hash_input().hash() != genesis.hash {
        return Ok(Some(Problem::HashMismatch { seq: 0 }));
    }
    let declared = serde_json::from_str::<serde_json::Value>(genesis.detail.get())
        .ok()
        .and_then(|v| {
            v.get("public_key")
                .and_then(|k| k.as_str())
                .map(str::to_owned)
        })
        .unwrap_or_default();
    let key = match (&opts.public_key, declared.parse::<PublicKey>()) {
        (Some(pinned), Ok(d)) if *pinned == d => *pinned,
        (Some(_), _) => return Ok(Some(Problem::KeyMismatch { declared })),
        (None, Ok(d)) => d,
        (None, Err(_)) => {
            return Ok(Some(Problem::BadGenesis {
                reason: "no valid public_key in detail".into(),
            }));
        }
    };
    let log_id = genesis.hash;
    report.log_id = Some(log_id);

    if let Some(a) = &opts.anchor {
        if a.log_id != log_id {
            return Ok(Some(Problem::AnchorMismatch {
                reason: "the anchor belongs to a different log: this log was replaced".into(),
            }));
        }
        if !a.verify_signature(&key) {
            return Ok(Some(Problem::AnchorMismatch {
                reason: "the anchor's signature does not verify with the trusted key".into(),
            }));
        }
    }

    let next_cp = match cps.next(&log_id, &key)? {
        Ok(c) => c,
        Err(p) => return Ok(Some(p)),
    };

    let mut chain = Chain {
        expected: 0,
        prev: Hash::ZERO,
        line: 1,
        next_cp,
        log_id,
        key,
    };
    if let Some(p) = chain.accept(0, genesis.hash, cps, opts, report)? {
        return Ok(Some(p));
    }
    let workers = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .clamp(1, MAX_VERIFY_THREADS);
    let mut done = false;
    while !done {
        // Read up to `workers` blocks, check them in parallel, then link them in order.
        let mut blocks = Vec::with_capacity(workers);
        let mut tail_problem = None;
        while blocks.len() < workers {
            match lines.next_block()? {
                NextBlock::Lines(b) => blocks.push(b),
                NextBlock::End(torn) => {
                    report.torn_log_bytes = torn;
                    done = true;
                    break;
                }
                NextBlock::TooLong => {
                    tail_problem = Some("line too long".to_owned());
                    done = true;
                    break;
                }
            }
        }
        let checked: Vec<Checked> = if blocks.len() <= 1 {
            blocks.iter().map(|b| check_block(b)).collect()
        } else {
            std::thread::scope(|s| {
                let handles: Vec<_> = blocks[1..]
                    .iter()
                    .map(|b| s.spawn(move || check_block(b)))
                    .collect();
                let mut out = vec![check_block(&blocks[0])];
                for h in handles {
                    out.push(h.join().unwrap_or_else(|_| Checked {
                        items: Vec::new(),
                        malformed: Some("verifier thread panicked".into()),
                    }));
                }
                out
            })
        };
        for c in checked {
            for item in &c.items {
                chain.line += 1;
                if item.seq != chain.expected {
                    return Ok(Some(Problem::SeqMismatch {
                        expected: chain.expected,
                        found: item.seq,
                        line: chain.line,
                    }));
                }
                if !item.hash_ok {
                    return Ok(Some(Problem::HashMismatch { seq: item.seq }));
                }
                if item.prev != chain.prev {
                    return Ok(Some(Problem::PrevMismatch { seq: item.seq }));
                }
                if let Some(p) = chain.accept(item.seq, item.hash, cps, opts, report)? {
                    return Ok(Some(p));
                }
            }
            if let Some(reason) = c.malformed {
                return Ok(Some(Problem::Malformed {
                    seq: chain.expected,
                    line: chain.line + 1,
                    reason,
                }));
            }
        }
        if let Some(reason) = tail_problem {
            return Ok(Some(Problem::Malformed {
                seq: chain.expected,
                line: chain.line + 1,
                reason,
            }));
        }
    }
    let (expected, next_cp, log_id, key) = (chain.expected, chain.next_cp, chain.log_id, chain.key);

    let head_seq = expected.saturating_sub(1);
    // Checkpoints left over sign entries the log no longer has.
    if let Some((mut highest, _)) = next_cp {
        loop {
            match cps.next(&log_id, &key)? {
                Ok(Some((c, _))) => highest = c,
                Ok(None) => break,
                Err(p) => return Ok(Some(p)),
            }
        }
        return Ok(Some(Problem::Truncated {
            head_seq,
            signed_seq: highest.seq,
        }));
    }
    if cps.count == 0 {
        return Ok(Some(Problem::NoCheckpoint));
    }
    if let Some(a) = &opts.anchor
        && a.seq > head_seq
    {
        return Ok(Some(Problem::Truncated {
            head_seq,
            signed_seq: a.seq,
        }));
    }
    Ok(None)
}
