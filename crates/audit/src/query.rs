//! Reading entries back: `audit show` filters and `audit export`.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;
use std::str::FromStr;

use crate::AuditError;
use crate::entry::{Entry, Wire};
use crate::fsio::{Lines, Next};

/// How many entries `audit show` returns when no limit is given.
pub const DEFAULT_SHOW_LIMIT: usize = 100;

/// The most entries one query returns.
///
/// # Security
/// `GET /api/audit?limit=` is caller input; this bounds the memory one request can make the
/// gateway hold. Use [`export`] (streaming) for everything.
pub const MAX_QUERY_LIMIT: usize = 100_000;

/// A filter for [`query`]: `audit show [--agent A] [--filter EVENT] [--limit N]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Query {
    /// Only entries for this agent.
    pub agent: Option<String>,
    /// Only entries of this event kind name (e.g. `auth_failed`).
    pub event: Option<String>,
    /// Return the newest this many matches (default [`DEFAULT_SHOW_LIMIT`], capped at
    /// [`MAX_QUERY_LIMIT`]).
    pub limit: Option<usize>,
}

impl Query {
    fn matches(&self, w: &Wire<'_>) -> bool {
        self.agent
            .as_deref()
            .is_none_or(|a| w.agent.as_deref() == Some(a))
            && self.event.as_deref().is_none_or(|e| w.event == e)
    }
}

/// Reads every well-formed entry of a log in order, calling `f` on each. Stops at the first
/// malformed line (run [`crate::verify`] to learn why); ignores a torn last line.
fn for_each<R: Read>(
    r: R,
    mut f: impl FnMut(Wire<'_>) -> io::Result<()>,
) -> Result<(), AuditError> {
    let mut lines = Lines::new(r);
    let mut line = 0u64;
    loop {
        let raw = match lines
            .next_line()
            .map_err(|e| AuditError::io("read", "audit log", e))?
        {
            Next::Line(l) => l,
            Next::Torn(_) | Next::End => return Ok(()),
            Next::TooLong => {
                return Err(AuditError::MalformedEntry(format!(
                    "line {} too long",
                    line + 1
                )));
            }
        };
        line += 1;
        let w = Wire::parse(raw)
            .map_err(|e| AuditError::MalformedEntry(format!("line {line}: {e}")))?;
        f(w).map_err(|e| AuditError::io("write", "export output", e))?;
    }
}

/// The newest entries of the log at `log` that match `q`, oldest first. Does not verify the
/// chain: show what is there, and run [`crate::verify`] to know whether to trust it.
///
/// # Errors
/// [`AuditError::Io`] if the log cannot be read; [`AuditError::MalformedEntry`] at a malformed line.
pub fn query(log: &Path, q: &Query) -> Result<Vec<Entry>, AuditError> {
    let f = File::open(log).map_err(|e| AuditError::io("open", log, e))?;
    query_reader(f, q)
}

/// [`query`] over a reader.
///
/// # Errors
/// As [`query`].
pub fn query_reader<R: Read>(r: R, q: &Query) -> Result<Vec<Entry>, AuditError> {
    let limit = q.limit.unwrap_or(DEFAULT_SHOW_LIMIT).min(MAX_QUERY_LIMIT);
    let mut out: VecDeque<Entry> = VecDeque::with_capacity(limit.min(1024));
    if limit == 0 {
        return Ok(Vec::new());
    }
    for_each(r, |w| {
        if q.matches(&w) {
            if out.len() == limit {
                out.pop_front();
            }
            out.push_back(w.into_entry());
        }
        Ok(())
    })?;
    Ok(out.into())
}

/// Output formats of `audit export`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExportFormat {
    /// One JSON array of entries.
    Json,
    /// One entry per line, byte-for-byte as stored (still verifiable).
    Jsonl,
}

impl FromStr for ExportFormat {
    type Err = AuditError;

    fn from_str(s: &str) -> Result<Self, AuditError> {
        match s {
            "json" => Ok(Self::Json),
            "jsonl" => Ok(Self::Jsonl),
            other => Err(AuditError::UnknownFormat(
                crate::hash::shorten(other, 32).into_owned(),
            )),
        }
    }
}

/// Streams every entry of the log at `log` to `out` in `format`; returns how many.
///
/// # Errors
/// As [`query`], plus write errors.
pub fn export(log: &Path, format: ExportFormat, out: &mut impl Write) -> Result<u64, AuditError> {
    let f = File::open(log).map_err(|e| AuditError::io("open", log, e))?;
    export_reader(f, format, out)
}

/// [`export`] over a reader.
///
/// # Errors
/// As [`export`].
pub fn export_reader<R: Read>(
    r: R,
    format: ExportFormat,
    out: &mut impl Write,
) -> Result<u64, AuditError> {
    let mut n = 0u64;
    let wr = |e| AuditError::io("write", "export output", e);
    if format == ExportFormat::Json {
        out.write_all(b"[").map_err(wr)?;
    }
    for_each(r, |w| {
        let e = w.into_entry();
        match format {
            ExportFormat::Jsonl => out.write_all(&e.to_line())?,
            ExportFormat::Json => {
                if n > 0 {
                    out.write_all(b",\n")?;
                }
                serde_json::to_writer(&mut *out, &e).map_err(io::Error::other)?;
            }
        }
        n += 1;
        Ok(())
    })?;
    if format == ExportFormat::Json {
        out.write_all(b"]\n").map_err(wr)?;
    }
    out.flush().map_err(wr)?;
    Ok(n)
}
