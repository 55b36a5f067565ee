//! One audit entry: its JSONL form, parsing, and its hash.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::hash::{Hash, HashInput, push_json_str};
use crate::{AuditError, EventKind};

/// The longest line (one entry or one checkpoint, newline included) the reader accepts.
///
/// # Security
/// A log file is untrusted input to `verify` and `show`: one bound per line keeps a hostile file
/// from making them buffer unbounded memory. The writer shortens long strings so a real entry
/// stays far below it (an attacker-sized user id must not be able to suppress its own event).
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// The longest string stored inside an entry's `detail` (and its agent and actor), in bytes;
/// longer ones are cut on a character boundary and marked `…[truncated]`.
///
/// # Security
/// Detail strings come from untrusted sources (user ids, hosts, paths); this keeps every event
/// recordable whatever an attacker sends.
pub const MAX_DETAIL_STRING: usize = 1024;

/// Longest accepted `event` or `outcome` token.
const MAX_TOKEN: usize = 64;

/// One entry of the audit log, as read back from the file.
///
/// Fields are stored as found (strings, not enums), so a reader of an older version still reads,
/// shows and verifies entries whose event kinds it does not know.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// Position in the chain: 0 for the `log_created` entry, then 1, 2, … without gaps.
    pub seq: u64,
    /// When it was committed, RFC 3339 in UTC.
    pub ts: String,
    /// The [`EventKind`] name.
    pub event: String,
    /// The agent concerned, if any.
    pub agent: Option<String>,
    /// Who caused it (`system`, `user:NAME`, `key:ID`, `channel:C:U`, `peer:N`, `ip:A`, ...).
    pub actor: String,
    /// The outcome name (`ok`, `denied`, `error`, `approval_required`, `blocked`).
    pub outcome: String,
    /// The event's detail object, exactly as stored (canonical JSON).
    pub detail: Box<RawValue>,
    /// The previous entry's hash (all zeroes for seq 0).
    pub prev: Hash,
    /// This entry's hash (see [`crate::hash`](crate#hash-encoding)).
    pub hash: Hash,
}

/// The borrowed on-disk form, for fast verification.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Wire<'a> {
    pub(crate) seq: u64,
    #[serde(borrow)]
    pub(crate) ts: Cow<'a, str>,
    #[serde(borrow)]
    pub(crate) event: Cow<'a, str>,
    #[serde(borrow)]
    pub(crate) agent: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub(crate) actor: Cow<'a, str>,
    #[serde(borrow)]
    pub(crate) outcome: Cow<'a, str>,
    #[serde(borrow)]
    pub(crate) detail: &'a RawValue,
    pub(crate) prev: Hash,
    pub(crate) hash: Hash,
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_TOKEN
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Whether `s` has the shape of an RFC 3339 date-time (`YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`)
/// with fields in range. A cheap structural check: verify runs it on every entry.
fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 20 || b.len() > MAX_TOKEN {
        return false;
    }
    let num = |r: std::ops::Range<usize>, max: u32| -> bool {
        b[r.clone()].iter().all(u8::is_ascii_digit)
            && b[r].iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0')) <= max
    };
    let date_time_ok = num(0..4, 9999)
        && b[4] == b'-'
        && num(5..7, 12)
        && b[7] == b'-'
        && num(8..10, 31)
        && matches!(b[10], b'T' | b't')
        && num(11..13, 23)
        && b[13] == b':'
        && num(14..16, 59)
        && b[16] == b':'
        && num(17..19, 60)
        && b[5..7] != *b"00"
        && b[8..10] != *b"00";
    if !date_time_ok {
        return false;
    }
    let mut i = 19;
    if b[i] == b'.' {
        let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return false;
        }
        i += 1 + digits;
    }
    match &b[i..] {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => {
            [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit())
                && (*h1 - b'0') * 10 + (*h2 - b'0') <= 23
                && (*m1 - b'0') * 10 + (*m2 - b'0') <= 59
        }
        _ => false,
    }
}

impl<'a> Wire<'a> {
    /// Parses and checks the shape of one line (without its newline).
    pub(crate) fn parse(line: &'a [u8]) -> Result<Self, String> {
        if line.len() >= MAX_LINE_BYTES {
            return Err(format!("line longer than {MAX_LINE_BYTES} bytes"));
        }
        let w: Wire<'a> = serde_json::from_slice(line).map_err(|e| e.to_string())?;
        if !is_token(&w.event) {
            return Err("event is not a snake_case name".into());
        }
        if !is_token(&w.outcome) {
            return Err("outcome is not a snake_case name".into());
        }
        if !w.detail.get().starts_with('{') {
            return Err("detail is not a JSON object".into());
        }
        if !is_rfc3339(&w.ts) {
            return Err("ts is not an RFC 3339 timestamp".into());
        }
        Ok(w)
    }

    pub(crate) fn hash_input(&self) -> HashInput<'_> {
        HashInput {
            seq: self.seq,
            ts: &self.ts,
            event: &self.event,
            agent: self.agent.as_deref(),
            actor: &self.actor,
            outcome: &self.outcome,
            detail: self.detail.get(),
            prev: &self.prev,
        }
    }

    pub(crate) fn into_entry(self) -> Entry {
        Entry {
            seq: self.seq,
            ts: self.ts.into_owned(),
            event: self.event.into_owned(),
            agent: self.agent.map(Cow::into_owned),
            actor: self.actor.into_owned(),
            outcome: self.outcome.into_owned(),
            detail: self.detail.to_owned(),
            prev: self.prev,
            hash: self.hash,
        }
    }
}

impl Entry {
    /// Parses one JSONL line (with or without its trailing newline). Does not check the hash:
    /// compare [`Entry::computed_hash`] with [`Entry::hash`], or use [`crate::verify`].
    ///
    /// # Errors
    /// [`AuditError::MalformedEntry`] if the line is not a well-formed entry.
    pub fn parse_line(line: &[u8]) -> Result<Self, AuditError> {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        Wire::parse(line)
            .map(Wire::into_entry)
            .map_err(AuditError::MalformedEntry)
    }

    /// The hash this entry's fields and `prev` should have.
    #[must_use]
    pub fn computed_hash(&self) -> Hash {
        HashInput {
            seq: self.seq,
            ts: &self.ts,
            event: &self.event,
            agent: self.agent.as_deref(),
            actor: &self.actor,
            outcome: &self.outcome,
            detail: self.detail.get(),
            prev: &self.prev,
        }
        .hash()
    }

    /// The event kind, if this version knows it.
    #[must_use]
    pub fn kind(&self) -> Option<EventKind> {
        self.event.parse().ok()
    }

    /// The detail as a JSON value.
    #[must_use]
    pub fn detail_value(&self) -> serde_json::Value {
        serde_json::from_str(self.detail.get()).unwrap_or(serde_json::Value::Null)
    }

    /// The entry as one JSONL line (newline included), exactly as the writer produces it.
    #[must_use]
    pub fn to_line(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + self.detail.get().len());
        encode_line(
            &mut out,
            &HashInput {
                seq: self.seq,
                ts: &self.ts,
                event: &self.event,
                agent: self.agent.as_deref(),
                actor: &self.actor,
                outcome: &self.outcome,
                detail: self.detail.get(),
                prev: &self.prev,
            },
            &self.hash,
        );
        out
    }
}

/// Appends the JSONL form of an entry (newline included).
pub(crate) fn encode_line(out: &mut Vec<u8>, f: &HashInput<'_>, hash: &Hash) {
    out.extend_from_slice(b"{\"seq\":");
    out.extend_from_slice(f.seq.to_string().as_bytes());
    out.extend_from_slice(b",\"ts\":");
    push_json_str(out, f.ts);
    out.extend_from_slice(b",\"event\":");
    push_json_str(out, f.event);
    out.extend_from_slice(b",\"agent\":");
    match f.agent {
        Some(a) => push_json_str(out, a),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"actor\":");
    push_json_str(out, f.actor);
    out.extend_from_slice(b",\"outcome\":");
    push_json_str(out, f.outcome);
    out.extend_from_slice(b",\"detail\":");
    out.extend_from_slice(f.detail.as_bytes());
    out.extend_from_slice(b",\"prev\":\"");
    f.prev.push_hex(out);
    out.extend_from_slice(b"\",\"hash\":\"");
    hash.push_hex(out);
    out.extend_from_slice(b"\"}\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let prev = Hash([9; 32]);
        let f = HashInput {
            seq: 5,
            ts: "2026-11-22T10:00:00.5Z",
            event: "tool_call",
            agent: Some("researcher"),
            actor: "user:al\"ice\n",
            outcome: "ok",
            detail: r#"{"tool":"file_read"}"#,
            prev: &prev,
        };
        let mut out = Vec::new();
        encode_line(&mut out, &f, &f.hash());
        out
    }

    #[test]
    fn line_round_trips() {
        let line = sample();
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
        let e = Entry::parse_line(&line).unwrap();
        assert_eq!(e.seq, 5);
        assert_eq!(e.actor, "user:al\"ice\n");
        assert_eq!(e.computed_hash(), e.hash);
        assert_eq!(e.to_line(), line);
        assert_eq!(e.kind(), Some(EventKind::ToolCall));
        assert_eq!(e.detail_value()["tool"], "file_read");
    }

    #[test]
    fn rfc3339_shape() {
        for ok in [
            "2026-11-22T10:00:00Z",
            "2026-11-22T10:00:00.123456789Z",
            "2026-11-22t23:59:60+05:30",
            "1999-01-31T00:00:00.5-00:00",
        ] {
            assert!(is_rfc3339(ok), "{ok}");
        }
        for bad in [
            "",
            "2026-11-22",
            "2026-13-22T10:00:00Z",
            "2026-00-22T10:00:00Z",
            "2026-11-22T24:00:00Z",
            "2026-11-22T10:00:00",
            "2026-11-22T10:00:00.Z",
            "2026-11-22T10:00:00+5:30",
            "2026-11-22 10:00:00Z",
            "２026-11-22T10:00:00Z",
        ] {
            assert!(!is_rfc3339(bad), "{bad}");
        }
    }

    #[test]
    fn rejects_malformed_lines() {
        let good = String::from_utf8(sample()).unwrap();
        for bad in [
            good.replace("\"tool_call\"", "\"Tool Call\""),
            good.replace("2026-11-22T10:00:00.5Z", "yesterday"),
            good.replace(r#"{"tool":"file_read"}"#, "[1]"),
            good.replace("{\"seq\":5,", "{\"seq\":5,\"seq\":6,"),
            good.replace("{\"seq\":5,", "{\"seq\":5,\"extra\":1,"),
            good.replace("\"outcome\":\"ok\"", "\"outcome\":\"\""),
            "not json".to_owned(),
            String::new(),
        ] {
            assert!(Entry::parse_line(bad.as_bytes()).is_err(), "{bad}");
        }
        let huge = vec![b' '; MAX_LINE_BYTES + 1];
        assert!(Entry::parse_line(&huge).is_err());
    }
}
