//! What [`crate::verify`] found: the report and the first problem.

use std::fmt;

use crate::checkpoint::Checkpoint;
use crate::hash::Hash;

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
