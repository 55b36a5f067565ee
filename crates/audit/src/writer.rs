//! The writer thread: owns the files, batches records into one write + fsync (group commit),
//! and signs checkpoints.

use std::fs::File;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot, watch};

use crate::checkpoint::Checkpoint;
use crate::entry::encode_line;
use crate::event::Record;
use crate::hash::{Hash, HashInput, shorten};
use crate::key::CheckpointKey;
use crate::sink::{SinkOptions, now_rfc3339};
use crate::{AuditError, MAX_DETAIL_STRING, MAX_LINE_BYTES};

pub(crate) type Ack<T> = oneshot::Sender<Result<T, AuditError>>;

#[derive(Debug)]
pub(crate) enum Cmd {
    Record(Prepared, Ack<u64>),
    Checkpoint(Ack<Checkpoint>),
    Shutdown(Ack<Option<Checkpoint>>),
}

/// A record turned into the strings of an entry, on the caller's thread.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub(crate) event: &'static str,
    pub(crate) detail: String,
    pub(crate) agent: Option<String>,
    pub(crate) actor: String,
    pub(crate) outcome: &'static str,
}

impl Prepared {
    pub(crate) fn new(rec: Record) -> Result<Self, AuditError> {
        let detail = String::from_utf8(rec.event.detail_json())
            .map_err(|_| AuditError::MalformedEntry("detail is not UTF-8".into()))?;
        let actor = shorten(&rec.actor.to_string(), MAX_DETAIL_STRING).into_owned();
        let size = detail.len() + actor.len() + 512;
        if size >= MAX_LINE_BYTES {
            return Err(AuditError::EntryTooLarge(size));
        }
        Ok(Self {
            event: rec.event.kind().as_str(),
            detail,
            agent: rec.agent.map(|a| a.as_str().to_owned()),
            actor,
            outcome: rec.outcome.as_str(),
        })
    }
}

/// The writer thread's state.
pub(crate) struct Writer {
    pub(crate) log: File,
    pub(crate) cp: File,
    pub(crate) log_path: PathBuf,
    pub(crate) cp_path: PathBuf,
    pub(crate) key: CheckpointKey,
    pub(crate) log_id: Hash,
    pub(crate) next_seq: u64,
    pub(crate) head: Hash,
    pub(crate) last_cp_seq: u64,
    pub(crate) last_cp_at: Instant,
    pub(crate) opts: SinkOptions,
    pub(crate) buf: Vec<u8>,
    pub(crate) batch_ts: Option<String>,
    pub(crate) pending: Vec<(u64, Ack<u64>)>,
    pub(crate) poisoned: Option<String>,
    pub(crate) latest: watch::Sender<Option<Checkpoint>>,
}

impl Writer {
    pub(crate) fn run(mut self, mut rx: mpsc::Receiver<Cmd>) {
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                self.poisoned = Some(format!("writer runtime: {e}"));
                rt_less_drain(&mut rx, &self);
                return;
            }
        };
        let shutdown_ack = rt.block_on(self.serve(&mut rx));
        // Close the files (releasing the lock) before acknowledging a shutdown.
        let result = match &self.poisoned {
            Some(p) => Err(AuditError::Poisoned(p.clone())),
            None => Ok(self.latest.borrow().clone()),
        };
        drop(self);
        if let Some(ack) = shutdown_ack {
            let _ignored = ack.send(result);
        }
    }

    async fn serve(&mut self, rx: &mut mpsc::Receiver<Cmd>) -> Option<Ack<Option<Checkpoint>>> {
        let mut batch = Vec::with_capacity(self.opts.max_batch.max(1));
        loop {
            let dirty = self.poisoned.is_none() && self.next_seq - 1 > self.last_cp_seq;
            let deadline =
                tokio::time::Instant::from_std(self.last_cp_at + self.opts.checkpoint_interval);
            let first = tokio::select! {
                biased;
                c = rx.recv() => c,
                () = tokio::time::sleep_until(deadline), if dirty => {
                    let _ignored = self.checkpoint();
                    continue;
                }
            };
            let Some(first) = first else {
                // Every handle is gone: sign what is unsigned and stop.
                self.final_checkpoint();
                return None;
            };
            batch.push(first);
            while batch.len() < self.opts.max_batch.max(1) {
                match rx.try_recv() {
                    Ok(c) => batch.push(c),
                    Err(_) => break,
                }
            }
            self.batch_ts = None;
            let mut shutdown = None;
            for cmd in batch.drain(..) {
                if shutdown.is_some() {
                    refuse(cmd);
                    continue;
                }
                match cmd {
                    Cmd::Record(p, ack) => self.stage(&p, ack),
                    Cmd::Checkpoint(ack) => {
                        self.commit();
                        let _ignored = ack.send(self.checkpoint());
                    }
                    Cmd::Shutdown(ack) => shutdown = Some(ack),
                }
            }
            self.commit();
            if let Some(ack) = shutdown {
                rx.close();
                while let Ok(cmd) = rx.try_recv() {
                    refuse(cmd);
                }
                self.final_checkpoint();
                return Some(ack);
            }
        }
    }

    /// Encodes one record into the pending batch.
    pub(crate) fn stage(&mut self, p: &Prepared, ack: Ack<u64>) {
        if let Some(reason) = &self.poisoned {
            let _ignored = ack.send(Err(AuditError::Poisoned(reason.clone())));
            return;
        }
        let ts = self.batch_ts.get_or_insert_with(now_rfc3339);
        let input = HashInput {
            seq: self.next_seq,
            ts,
            event: p.event,
            agent: p.agent.as_deref(),
            actor: &p.actor,
            outcome: p.outcome,
            detail: &p.detail,
            prev: &self.head,
        };
        let hash = input.hash();
        encode_line(&mut self.buf, &input, &hash);
        self.pending.push((self.next_seq, ack));
        self.head = hash;
        self.next_seq += 1;
    }

    /// Writes and fsyncs the pending batch, then acknowledges it.
    pub(crate) fn commit(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let result = self
            .log
            .write_all(&self.buf)
            .and_then(|()| self.log.sync_data());
        self.buf.clear();
        match result {
            Ok(()) => {
                for (seq, ack) in self.pending.drain(..) {
                    let _ignored = ack.send(Ok(seq));
                }
                let due = self.next_seq - 1 - self.last_cp_seq >= self.opts.checkpoint_every.max(1)
                    || self.last_cp_at.elapsed() >= self.opts.checkpoint_interval;
                if due {
                    let _ignored = self.checkpoint();
                }
            }
            Err(e) => {
                let msg = format!("append to {}: {e}", self.log_path.display());
                for (_, ack) in self.pending.drain(..) {
                    let err = std::io::Error::new(e.kind(), e.to_string());
                    let _ignored =
                        ack.send(Err(AuditError::io("append", self.log_path.clone(), err)));
                }
                self.poisoned = Some(msg);
            }
        }
    }

    /// Signs and durably appends a checkpoint of the current head.
    fn checkpoint(&mut self) -> Result<Checkpoint, AuditError> {
        if let Some(reason) = &self.poisoned {
            return Err(AuditError::Poisoned(reason.clone()));
        }
        let seq = self.next_seq - 1;
        let cp = Checkpoint::sign(&self.key, self.log_id, seq, self.head, now_rfc3339());
        let result = self
            .cp
            .write_all(&cp.to_line())
            .and_then(|()| self.cp.sync_data());
        match result {
            Ok(()) => {
                self.last_cp_seq = seq;
                self.last_cp_at = Instant::now();
                self.latest.send_replace(Some(cp.clone()));
                Ok(cp)
            }
            Err(e) => {
                self.poisoned = Some(format!("append to {}: {e}", self.cp_path.display()));
                Err(AuditError::io("append", self.cp_path.clone(), e))
            }
        }
    }

    fn final_checkpoint(&mut self) {
        if self.poisoned.is_none() && self.next_seq - 1 > self.last_cp_seq {
            let _ignored = self.checkpoint();
        }
    }
}

fn refuse(cmd: Cmd) {
    match cmd {
        Cmd::Record(_, ack) => drop(ack.send(Err(AuditError::Closed))),
        Cmd::Checkpoint(ack) => drop(ack.send(Err(AuditError::Closed))),
        Cmd::Shutdown(ack) => drop(ack.send(Err(AuditError::Closed))),
    }
}

fn rt_less_drain(rx: &mut mpsc::Receiver<Cmd>, w: &Writer) {
    rx.close();
    let reason = w.poisoned.clone().unwrap_or_default();
    while let Ok(cmd) = rx.try_recv() {
        match cmd {
            Cmd::Record(_, ack) => drop(ack.send(Err(AuditError::Poisoned(reason.clone())))),
            Cmd::Checkpoint(ack) => drop(ack.send(Err(AuditError::Poisoned(reason.clone())))),
            Cmd::Shutdown(ack) => drop(ack.send(Err(AuditError::Poisoned(reason.clone())))),
        }
    }
}
