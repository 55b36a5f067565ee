//! Verification of a log and its checkpoints (SPEC D3, D4).

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use crate::AuditError;
use crate::checkpoint::Checkpoint;
use crate::entry::Wire;
use crate::fsio::{Lines, Next, NextBlock};
use crate::hash::Hash;
use crate::key::PublicKey;

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

/// Which key the checkpoint signatures were checked with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyTrust {
    /// The caller's key (`--public-key`): the proof does not depend on the files at all.
    Pinned,
    /// The key named in the log's first entry (no key given).
    FromLog,
}

/// The first thing wrong with a log, naming the entry (by `seq`) or the checkpoint (by line,
/// 1-based) where it was found.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// The log has no complete first line.
    MissingGenesis,
    /// The first entry is not a valid `log_created` entry.
    BadGenesis {
        /// What is wrong with it.
        reason: String,
    },
    /// The log was created with another key than the pinned one.
    KeyMismatch {
        /// The key the log names.
        declared: String,
    },
    /// A line is not a well-formed entry.
    Malformed {
        /// The seq expected at that line.
        seq: u64,
        /// Line number (1-based).
        line: u64,
        /// Why.
        reason: String,
    },
    /// An entry is out of place: deleted, inserted, swapped or renumbered entries.
    SeqMismatch {
        /// The seq expected at that line.
        expected: u64,
        /// The seq found.
        found: u64,
        /// Line number (1-based).
        line: u64,
    },
    /// The entry does not link to the previous one (its `prev` is not the previous hash).
    PrevMismatch {
        /// The entry.
        seq: u64,
    },
    /// The entry's fields do not hash to its `hash`: it was edited.
    HashMismatch {
        /// The entry.
        seq: u64,
    },
    /// A signed checkpoint names another hash for this entry: the chain was rewritten.
    CheckpointMismatch {
        /// The entry.
        seq: u64,
        /// The checkpoint's line.
        checkpoint_line: u64,
    },
    /// The log ends before an entry a checkpoint signed: its tail was deleted.
    Truncated {
        /// The last entry in the log.
        head_seq: u64,
        /// The highest signed entry.
        signed_seq: u64,
    },
    /// No checkpoint at all (checkpoints deleted or the log replaced): nothing signed vouches
    /// for the log. A real log always has one, signed when it was created.
    NoCheckpoint,
    /// A checkpoint line is malformed.
    CheckpointMalformed {
        /// Line (1-based).
        line: u64,
        /// Why.
        reason: String,
    },
    /// A checkpoint's signature does not verify with the trusted key.
    CheckpointBadSignature {
        /// Line (1-based).
        line: u64,
    },
    /// A checkpoint belongs to another log (the log was replaced by a fresh chain).
    CheckpointForeign {
        /// Line (1-based).
        line: u64,
    },
    /// Checkpoints go backwards (lines reordered or spliced from elsewhere).
    CheckpointOutOfOrder {
        /// Line (1-based).
        line: u64,
    },
    /// The anchor checkpoint is not part of this log (replaced or rolled back log).
    AnchorMismatch {
        /// Why.
        reason: String,
    },
}

impl Problem {
    /// The seq of the first bad entry, when the problem is about one entry.
    #[must_use]
    pub fn seq(&self) -> Option<u64> {
        match self {
            Self::Malformed { seq, .. }
            | Self::PrevMismatch { seq }
            | Self::HashMismatch { seq }
            | Self::CheckpointMismatch { seq, .. } => Some(*seq),
            Self::SeqMismatch { expected, .. } => Some(*expected),
            Self::Truncated { head_seq, .. } => Some(head_seq + 1),
            Self::MissingGenesis | Self::BadGenesis { .. } | Self::KeyMismatch { .. } => Some(0),
            _ => None,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingGenesis => write!(f, "the log has no complete first entry"),
            Self::BadGenesis { reason } => {
                write!(f, "entry 0 is not a valid log_created entry: {reason}")
            }
            Self::KeyMismatch { declared } => {
                write!(
                    f,
                    "the log was created with key {declared}, not the given public key"
                )
            }
            Self::Malformed { seq, line, reason } => {
                write!(f, "entry {seq} (line {line}) is malformed: {reason}")
            }
            Self::SeqMismatch {
                expected,
                found,
                line,
            } => write!(
                f,
                "entry {expected} (line {line}) is missing or out of place: found seq {found}"
            ),
            Self::PrevMismatch { seq } => {
                write!(
                    f,
                    "entry {seq} does not link to entry {}",
                    seq.saturating_sub(1)
                )
            }
            Self::HashMismatch { seq } => {
                write!(f, "entry {seq} was modified: its hash does not match")
            }
            Self::CheckpointMismatch {
                seq,
                checkpoint_line,
            } => write!(
                f,
                "entry {seq} differs from the signed checkpoint on line {checkpoint_line}: the chain was rewritten"
            ),
            Self::Truncated {
                head_seq,
                signed_seq,
            } => write!(
                f,
                "the log ends at entry {head_seq} but entry {signed_seq} was signed: entries {}..={signed_seq} were deleted",
                head_seq + 1
            ),
            Self::NoCheckpoint => write!(f, "no signed checkpoint vouches for this log"),
            Self::CheckpointMalformed { line, reason } => {
                write!(f, "checkpoint line {line} is malformed: {reason}")
            }
            Self::CheckpointBadSignature { line } => {
                write!(f, "checkpoint line {line} has an invalid signature")
            }
            Self::CheckpointForeign { line } => write!(
                f,
                "checkpoint line {line} belongs to a different log: the log was replaced"
            ),
            Self::CheckpointOutOfOrder { line } => {
                write!(f, "checkpoint line {line} is out of order")
            }
            Self::AnchorMismatch { reason } => write!(f, "anchor checkpoint not matched: {reason}"),
        }
    }
}

/// The result of [`verify`]: what was proven, how much is not yet covered by a signature, and
/// the first problem, if any.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct VerifyReport {
    /// Entries read and checked (up to the first problem).
    pub entries: u64,
    /// The last good entry: seq and hash.
    pub head: Option<(u64, Hash)>,
    /// The log's identity (hash of its seq-0 entry).
    pub log_id: Option<Hash>,
    /// Valid checkpoints read.
    pub checkpoints: u64,
    /// The highest valid checkpoint.
    pub last_checkpoint: Option<Checkpoint>,
    /// Entries after the last checkpoint: these are chained but not signed, so deleting them
    /// would not be detected (the window is bounded by the sink's checkpoint policy).
    pub entries_after_last_checkpoint: u64,
    /// Which key the signatures were checked against.
    pub key: KeyTrust,
    /// Bytes of a torn last log line (a crash mid-write; never acknowledged, not an error).
    pub torn_log_bytes: u64,
    /// Bytes of a torn last checkpoint line.
    pub torn_checkpoint_bytes: u64,
    /// The first problem found; `None` means the log verified.
    pub problem: Option<Problem>,
}

impl VerifyReport {
    /// Whether the log verified.
    #[must_use]
    pub fn is_ok(&self) -> bool {
        self.problem.is_none()
    }

    /// The report as JSON (for `--json` and the HTTP API).
    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "ok": self.is_ok(),
            "entries": self.entries,
            "head_seq": self.head.map(|h| h.0),
            "head_hash": self.head.map(|h| h.1.to_hex()),
            "log_id": self.log_id.map(|h| h.to_hex()),
            "checkpoints": self.checkpoints,
            "last_checkpoint_seq": self.last_checkpoint.as_ref().map(|c| c.seq),
            "last_checkpoint_ts": self.last_checkpoint.as_ref().map(|c| c.ts.clone()),
            "entries_after_last_checkpoint": self.entries_after_last_checkpoint,
            "key": match self.key { KeyTrust::Pinned => "pinned", KeyTrust::FromLog => "from_log" },
            "torn_log_bytes": self.torn_log_bytes,
            "torn_checkpoint_bytes": self.torn_checkpoint_bytes,
            "problem": self.problem.as_ref().map(ToString::to_string),
            "first_bad_seq": self.problem.as_ref().and_then(Problem::seq),
        })
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.problem {
            None => write!(f, "OK: {} entries", self.entries)?,
            Some(p) => write!(f, "FAILED: {p}")?,
        }
        if let Some(c) = &self.last_checkpoint {
            write!(
                f,
                "; last checkpoint: entry {} at {}; entries after it (unsigned): {}",
                c.seq, c.ts, self.entries_after_last_checkpoint
            )?;
        }
        if self.key == KeyTrust::FromLog {
            write!(
                f,
                "; signatures checked with the key named in the log itself (pass --public-key to pin it)"
            )?;
        }
        if self.torn_log_bytes > 0 {
            write!(
                f,
                "; torn last line ({} bytes, never acknowledged)",
                self.torn_log_bytes
            )?;
        }
        Ok(())
    }
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
