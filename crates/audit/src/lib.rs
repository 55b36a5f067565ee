//! # rampart-audit
//!
//! Rampart's tamper-evident audit trail (SPEC D1–D4): every security-relevant action becomes one
//! entry of a SHA-256 hash chain in a JSONL file, appended durably, and the head of the chain is
//! signed with Ed25519 from time to time in a separate checkpoints file, so that not only edits
//! but also a deleted tail or a rewritten file are detected.
//!
//! - [`AuditSink`] — the one handle every layer records through (cloneable; handed down from
//!   `main`, never a global). [`AuditSink::record`] returns an entry's sequence number only after
//!   it is fsynced; one writer thread commits everything queued meanwhile with one write and one
//!   fsync (group commit). The queue is bounded, so a flood waits instead of eating memory.
//! - [`Event`] / [`EventKind`] — every event type in one place; a new layer adds a variant.
//! - [`verify`] — checks the chain and the checkpoints and names the first bad entry
//!   ([`Problem`]). [`query`] and [`export`] back `audit show` and `audit export`.
//! - [`CheckpointKey`] / [`PublicKey`] — the signing key (kept in the vault by the binary) and
//!   the public half that `audit verify --public-key` takes.
//!
//! ## Trust assumptions
//! The log's directory is writable by an attacker *after the fact* (that is what the trail must
//! survive), but not while the gateway runs with its key unlocked: whoever holds the signing key
//! can sign anything. Verification with a pinned public key ([`VerifyOptions::public_key`]) needs
//! no secret and no trust in the files. What verify cannot prove is listed in `docs/audit.md`:
//! chiefly, entries written after the last checkpoint can be cut off unnoticed, and a replayed
//! older copy of *both* files is only caught with an anchor checkpoint kept elsewhere.
//!
//! ## Example
//! ```
//! use rampart_audit::{AuditSink, CheckpointKey, Event, Outcome, Record, SinkOptions, verify};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let log = dir.path().join("audit.jsonl");
//! let key = CheckpointKey::generate()?;
//! let public = key.public_key();
//!
//! let rt = tokio::runtime::Builder::new_current_thread().build()?;
//! rt.block_on(async {
//!     let (sink, _report) = AuditSink::open(&log, key, SinkOptions::default())?;
//!     let args = serde_json::json!({"path": "notes.txt"});
//!     let seq = sink
//!         .record(
//!             Record::new(Event::tool_call("file_read", &args, None))
//!                 .agent("researcher".parse()?)
//!                 .outcome(Outcome::Ok),
//!         )
//!         .await?;
//!     assert_eq!(seq, 1); // seq 0 is the log's own `log_created` entry
//!     sink.shutdown().await?; // signs a final checkpoint
//!     Ok::<_, Box<dyn std::error::Error>>(())
//! })?;
//!
//! let report = verify(&log, &rampart_audit::checkpoints_path_for(&log), Some(&public))?;
//! assert!(report.is_ok(), "{report}");
//! assert_eq!(report.entries_after_last_checkpoint, 0);
//! # Ok(()) }
//! ```
//!
//! ## Hash encoding
//! See `docs/audit.md`; in short, SHA-256 over length-prefixed fields under a domain tag, with
//! the `detail` object hashed as its stored canonical JSON text.

#![forbid(unsafe_code)]

mod checkpoint;
mod entry;
mod error;
mod event;
mod fsio;
mod hash;
mod key;
mod query;
mod report;
mod sink;
mod verify;
mod writer;

pub use checkpoint::Checkpoint;
pub use entry::{Entry, MAX_DETAIL_STRING, MAX_LINE_BYTES};
pub use error::AuditError;
pub use event::{Actor, ArgsDigest, Decision, Event, EventKind, FileOp, KeyId, Outcome, Record};
pub use hash::Hash;
pub use key::{CheckpointKey, PublicKey};
pub use query::{
    DEFAULT_SHOW_LIMIT, ExportFormat, MAX_QUERY_LIMIT, Query, export, export_reader, query,
    query_reader,
};
pub use report::{KeyTrust, Problem, VerifyReport};
pub use sink::{AuditSink, OpenReport, Recovered, SinkOptions, checkpoints_path_for};
pub use verify::{VerifyOptions, verify, verify_reader, verify_with};
