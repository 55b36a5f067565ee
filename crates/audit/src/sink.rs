//! [`AuditSink`]: the durable, group-committing writer of the chain.

use std::fs::File;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};

use crate::AuditError;
use crate::checkpoint::Checkpoint;
use crate::entry::{Wire, encode_line};
use crate::event::{Event, Record};
use crate::fsio;
use crate::hash::{Hash, HashInput};
use crate::key::{CheckpointKey, PublicKey};
use crate::writer::{Cmd, Prepared, Writer};

/// How the sink batches and checkpoints.
#[derive(Clone, Debug)]
pub struct SinkOptions {
    /// Sign a checkpoint after at most this many new entries (default 1000).
    pub checkpoint_every: u64,
    /// …and at least this often while new entries arrive (default 10 s).
    pub checkpoint_interval: Duration,
    /// Records waiting for the writer before `record` waits (backpressure; default 8192).
    pub queue_capacity: usize,
    /// Most records committed by one write + fsync (default 8192).
    pub max_batch: usize,
}

impl Default for SinkOptions {
    fn default() -> Self {
        Self {
            checkpoint_every: 1000,
            checkpoint_interval: Duration::from_secs(10),
            queue_capacity: 8192,
            max_batch: 8192,
        }
    }
}

/// What [`AuditSink::open`] found and did.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct OpenReport {
    /// A new log was created.
    pub created: bool,
    /// The log's identity (hash of its seq-0 entry).
    pub log_id: Hash,
    /// Sequence number of the last entry on disk after opening.
    pub head_seq: u64,
    /// A torn last line (a crash mid-write) was set aside.
    pub recovered: Option<Recovered>,
}

/// A torn last line that [`AuditSink::open`] removed from a file.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Recovered {
    /// Which file it was in (the log or the checkpoints file).
    pub file: PathBuf,
    /// How many bytes were removed.
    pub torn_bytes: u64,
    /// Where they were moved (beside the file, `NAME.torn-UNIXSECS`).
    pub moved_to: PathBuf,
}

/// The checkpoints file that belongs to a log: `audit.jsonl` → `audit.checkpoints.jsonl`.
#[must_use]
pub fn checkpoints_path_for(log_path: &Path) -> PathBuf {
    let stem = log_path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    log_path.with_file_name(format!("{stem}.checkpoints.jsonl"))
}

/// A cloneable handle that appends to the audit chain.
///
/// One writer thread owns the files. [`AuditSink::record`] queues an entry (waiting when the
/// bounded queue is full) and returns its sequence number only after the entry is written and
/// fsynced. Entries queued while the writer is fsyncing are committed together by the next write
/// and fsync (group commit), so many concurrent callers share each fsync.
#[derive(Clone, Debug)]
pub struct AuditSink {
    tx: mpsc::Sender<Cmd>,
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    log_path: PathBuf,
    checkpoints_path: PathBuf,
    log_id: Hash,
    public_key: PublicKey,
    latest: watch::Receiver<Option<Checkpoint>>,
}

pub(crate) fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

fn refused(path: &Path, reason: impl Into<String>) -> AuditError {
    AuditError::Refused {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

impl AuditSink {
    /// Opens (or creates) the log at `log_path` and its checkpoints file beside it
    /// ([`checkpoints_path_for`]), and starts the writer thread.
    ///
    /// A new log starts with a `log_created` entry (seq 0) naming `key`'s public key, and a signed
    /// checkpoint of it. An existing log is resumed from its last entry; a torn last line in
    /// either file is moved aside into `NAME.torn-UNIXSECS` and the log gets a `log_recovered`
    /// entry saying so. Blocking: call it at startup or from `spawn_blocking`.
    ///
    /// # Errors
    /// [`AuditError::Locked`] if another writer has the log open; [`AuditError::Refused`] if the
    /// files are not safe to extend (created with another key, checkpoints of another log, a
    /// signed head the log no longer contains, checkpoints missing or present without the log);
    /// [`AuditError::Io`] on I/O failure.
    pub fn open(
        log_path: impl AsRef<Path>,
        key: CheckpointKey,
        opts: SinkOptions,
    ) -> Result<(Self, OpenReport), AuditError> {
        let log_path = log_path.as_ref().to_path_buf();
        let cp_path = checkpoints_path_for(&log_path);
        let mut created = false;
        let io = |ctx, p: &Path| {
            let p = p.to_path_buf();
            move |e| AuditError::io(ctx, p, e)
        };

        if !log_path.exists() {
            if std::fs::metadata(&cp_path).is_ok_and(|m| m.len() > 0) {
                return Err(refused(
                    &log_path,
                    "the log is missing but its checkpoints file exists (was the log deleted?); \
                     move the checkpoints file aside to start a new log",
                ));
            }
            create_log(&log_path, &cp_path, &key)?;
            created = true;
        }

        let mut log = fsio::open_append(&log_path).map_err(io("open", &log_path))?;
        match log.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(AuditError::Locked(log_path)),
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(AuditError::io("lock", log_path, e));
            }
        }

        // Identity: the seq-0 entry, made with this key.
        let first = fsio::read_first_line(&mut log).map_err(io("read", &log_path))?;
        let first = first.ok_or_else(|| refused(&log_path, "no complete first entry"))?;
        let genesis = Wire::parse(&first)
            .map_err(|e| refused(&log_path, format!("first entry malformed: {e}")))?;
        let log_id = genesis.hash;
        if genesis.seq != 0
            || genesis.event != "log_created"
            || genesis.prev != Hash::ZERO
            || genesis.hash_input().hash() != genesis.hash
        {
            return Err(refused(
                &log_path,
                "first entry is not a valid log_created entry",
            ));
        }
        let declared: Option<String> =
            serde_json::from_str::<serde_json::Value>(genesis.detail.get())
                .ok()
                .and_then(|v| {
                    v.get("public_key")
                        .and_then(|k| k.as_str())
                        .map(str::to_owned)
                });
        if declared.as_deref() != Some(key.public_key().to_string().as_str()) {
            return Err(refused(
                &log_path,
                "the log was created with a different checkpoint key; start a new log to rotate keys",
            ));
        }

        // Head: the last complete entry; a torn remainder is set aside.
        let mut recovered = None;
        let tail = fsio::read_tail(&mut log).map_err(io("read", &log_path))?;
        if tail.torn > 0 {
            let moved_to = fsio::set_aside_torn(&mut log, &log_path, tail.valid_len)
                .map_err(io("recover torn tail of", &log_path))?;
            recovered = Some(Recovered {
                file: log_path.clone(),
                torn_bytes: tail.torn,
                moved_to,
            });
        }
        let last = tail
            .last_line
            .ok_or_else(|| refused(&log_path, "last entry too long to read"))?;
        let last = Wire::parse(&last).map_err(|e| {
            refused(
                &log_path,
                format!("last entry malformed: {e}; run audit verify"),
            )
        })?;
        if last.hash_input().hash() != last.hash {
            return Err(refused(
                &log_path,
                "last entry's hash is wrong; run audit verify",
            ));
        }
        let (head_seq, head) = (last.seq, last.hash);

        // Checkpoints: must belong to this log and not sign a head beyond (or other than) ours.
        let (cp, last_cp) = open_checkpoints(
            &cp_path,
            &log_path,
            &key,
            log_id,
            head_seq,
            head,
            &mut recovered,
        )?;
        if let Some(c) = &last_cp {
            if c.seq > head_seq {
                return Err(refused(
                    &log_path,
                    format!(
                        "the log ends at seq {head_seq} but seq {} was signed: entries were deleted",
                        c.seq
                    ),
                ));
            }
            if c.seq == head_seq && c.head != head {
                return Err(refused(
                    &log_path,
                    "the last entry differs from the signed head",
                ));
            }
        }

        let queue_capacity = opts.queue_capacity;
        let (latest_tx, latest_rx) = watch::channel(last_cp.clone());
        let mut writer = Writer {
            log,
            cp,
            log_path: log_path.clone(),
            cp_path: cp_path.clone(),
            key,
            log_id,
            next_seq: head_seq + 1,
            head,
            last_cp_seq: last_cp.as_ref().map_or(0, |c| c.seq),
            last_cp_at: Instant::now(),
            opts,
            buf: Vec::with_capacity(1 << 16),
            batch_ts: None,
            pending: Vec::new(),
            poisoned: None,
            latest: latest_tx,
        };
        if let Some(r) = &recovered {
            let moved = r
                .moved_to
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let rec = Prepared::new(Record::new(Event::LogRecovered {
                torn_bytes: r.torn_bytes,
                moved_to: moved,
            }))?;
            let (ack, _rx) = oneshot::channel();
            writer.stage(&rec, ack);
            writer.commit();
            if let Some(p) = &writer.poisoned {
                return Err(AuditError::Poisoned(p.clone()));
            }
        }
        let head_seq = writer.next_seq - 1;
        let public_key = writer.key.public_key();

        let (tx, rx) = mpsc::channel(queue_capacity.max(1));
        std::thread::Builder::new()
            .name("rampart-audit-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(io("spawn writer for", &log_path))?;

        let sink = Self {
            tx,
            shared: Arc::new(Shared {
                log_path,
                checkpoints_path: cp_path,
                log_id,
                public_key,
                latest: latest_rx,
            }),
        };
        Ok((
            sink,
            OpenReport {
                created,
                log_id,
                head_seq,
                recovered,
            },
        ))
    }

    /// Appends one entry and returns its sequence number once it is on disk (fsynced).
    ///
    /// # Errors
    /// [`AuditError::Closed`] after shutdown, [`AuditError::Poisoned`] / [`AuditError::Io`] if the
    /// write failed (the sink then refuses everything: fail closed),
    /// [`AuditError::EntryTooLarge`] for an oversized record.
    pub async fn record(&self, record: impl Into<Record>) -> Result<u64, AuditError> {
        let p = Prepared::new(record.into())?;
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Cmd::Record(p, tx))
            .await
            .map_err(|_| AuditError::Closed)?;
        rx.await.map_err(|_| AuditError::Closed)?
    }

    /// [`AuditSink::record`] for synchronous code: blocks the calling thread until the entry is on
    /// disk. Works on any thread (it does not need or use a tokio runtime), but inside async code
    /// prefer `record(..).await`, which does not block an executor thread.
    ///
    /// # Errors
    /// As [`AuditSink::record`].
    pub fn record_blocking(&self, record: impl Into<Record>) -> Result<u64, AuditError> {
        block_on(self.record(record))
    }

    /// Signs a checkpoint of the current head now (after everything queued before it).
    ///
    /// # Errors
    /// As [`AuditSink::record`].
    pub async fn checkpoint(&self) -> Result<Checkpoint, AuditError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Cmd::Checkpoint(tx))
            .await
            .map_err(|_| AuditError::Closed)?;
        rx.await.map_err(|_| AuditError::Closed)?
    }

    /// Commits everything queued, signs a final checkpoint (if anything is unsigned), closes the
    /// files and stops the writer. Later calls on any clone fail with [`AuditError::Closed`].
    /// Returns the last checkpoint.
    ///
    /// # Errors
    /// [`AuditError::Closed`] if already shut down; I/O failures of the final commit.
    pub async fn shutdown(&self) -> Result<Option<Checkpoint>, AuditError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Cmd::Shutdown(tx))
            .await
            .map_err(|_| AuditError::Closed)?;
        rx.await.map_err(|_| AuditError::Closed)?
    }

    /// The log file.
    #[must_use]
    pub fn log_path(&self) -> &Path {
        &self.shared.log_path
    }

    /// The checkpoints file.
    #[must_use]
    pub fn checkpoints_path(&self) -> &Path {
        &self.shared.checkpoints_path
    }

    /// The log's identity (hash of its seq-0 entry).
    #[must_use]
    pub fn log_id(&self) -> Hash {
        self.shared.log_id
    }

    /// The public key that verifies this log's checkpoints.
    #[must_use]
    pub fn public_key(&self) -> PublicKey {
        self.shared.public_key
    }

    /// The newest checkpoint, updated as checkpoints are signed. Storing it somewhere an attacker
    /// with access to the log cannot roll back (and passing it to `verify` as an anchor) detects
    /// a replayed older copy of the log and its checkpoints.
    #[must_use]
    pub fn latest_checkpoint(&self) -> watch::Receiver<Option<Checkpoint>> {
        self.shared.latest.clone()
    }
}

/// Creates a new log (seq-0 entry) and its checkpoints file (a checkpoint of seq 0).
fn create_log(log_path: &Path, cp_path: &Path, key: &CheckpointKey) -> Result<(), AuditError> {
    use rand::TryRngCore as _;
    let mut nonce = [0u8; 16];
    rand::rngs::OsRng
        .try_fill_bytes(&mut nonce)
        .map_err(|_| AuditError::Rng)?;
    let rec = Prepared::new(Record::new(Event::LogCreated {
        nonce: hex::encode(nonce),
        public_key: key.public_key().to_string(),
        format: 1,
    }))?;
    let ts = now_rfc3339();
    let input = HashInput {
        seq: 0,
        ts: &ts,
        event: rec.event,
        agent: None,
        actor: &rec.actor,
        outcome: rec.outcome,
        detail: &rec.detail,
        prev: &Hash::ZERO,
    };
    let hash = input.hash();
    let mut line = Vec::new();
    encode_line(&mut line, &input, &hash);
    let cp = Checkpoint::sign(key, hash, 0, hash, ts);
    // An empty checkpoints file (left by a crash during creation) carries no information.
    if std::fs::metadata(cp_path).is_ok_and(|m| m.len() == 0) {
        std::fs::remove_file(cp_path).map_err(|e| AuditError::io("remove", cp_path, e))?;
    }
    fsio::create_new_atomic(log_path, &line).map_err(|e| AuditError::io("create", log_path, e))?;
    fsio::create_new_atomic(cp_path, &cp.to_line())
        .map_err(|e| AuditError::io("create", cp_path, e))
}

/// Opens the checkpoints file for appending and returns its last checkpoint, checked against
/// this log. Creates it (signing seq 0) when a crash left a log with only its first entry.
#[allow(clippy::too_many_arguments)] // reason: one call site; the values are the open state
fn open_checkpoints(
    cp_path: &Path,
    log_path: &Path,
    key: &CheckpointKey,
    log_id: Hash,
    head_seq: u64,
    head: Hash,
    recovered: &mut Option<Recovered>,
) -> Result<(File, Option<Checkpoint>), AuditError> {
    let io = |ctx| move |e| AuditError::io(ctx, cp_path, e);
    let exists_nonempty = std::fs::metadata(cp_path).is_ok_and(|m| m.len() > 0);
    if !exists_nonempty {
        if head_seq != 0 {
            return Err(refused(
                log_path,
                "the checkpoints file is missing or empty but the log has entries; \
                 run audit verify and move the log aside to start a new one",
            ));
        }
        if std::fs::metadata(cp_path).is_ok() {
            std::fs::remove_file(cp_path).map_err(io("remove"))?;
        }
        let cp = Checkpoint::sign(key, log_id, 0, head, now_rfc3339());
        fsio::create_new_atomic(cp_path, &cp.to_line()).map_err(io("create"))?;
    }
    let mut f = fsio::open_append(cp_path).map_err(io("open"))?;
    let tail = fsio::read_tail(&mut f).map_err(io("read"))?;
    if tail.torn > 0 {
        let moved_to =
            fsio::set_aside_torn(&mut f, cp_path, tail.valid_len).map_err(io("recover"))?;
        if recovered.is_none() {
            *recovered = Some(Recovered {
                file: cp_path.to_path_buf(),
                torn_bytes: tail.torn,
                moved_to,
            });
        }
    }
    let Some(line) = tail.last_line else {
        return Err(refused(
            log_path,
            "the checkpoints file has no complete checkpoint",
        ));
    };
    let cp = Checkpoint::parse_line(&line)
        .map_err(|e| refused(log_path, format!("last checkpoint malformed: {e}")))?;
    if cp.log_id != log_id {
        return Err(refused(
            log_path,
            "the checkpoints file belongs to a different log",
        ));
    }
    if !cp.verify_signature(&key.public_key()) {
        return Err(refused(
            log_path,
            "the last checkpoint is not signed by this key",
        ));
    }
    Ok((f, Some(cp)))
}

/// Parks the current thread until `fut` completes; tokio's channels need no runtime to be polled.
fn block_on<F: Future>(fut: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(v) => return v,
            Poll::Pending => std::thread::park(),
        }
    }
}
