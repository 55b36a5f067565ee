//! Leak-proof log lines (SPEC L1, L3): token-shaped secrets replaced, control characters from
//! untrusted values escaped, known secrets (the [`crate::SharedLeakGuard`]) redacted.
//!
//! [`RedactingWriter`] wraps any `io::Write`. It holds everything written to it until it is
//! dropped (or [`RedactingWriter::finish`]ed) and then writes one cleaned line, so a secret is
//! never split across two buffers and an untrusted `\n` can never start a forged log line. The
//! log set-up makes one writer per event (tracing's `MakeWriter`), which is exactly one line.

use std::borrow::Cow;
use std::io::{self, Write};
use std::sync::LazyLock;

use regex::{Captures, Regex};

use crate::SharedLeakGuard;

/// The most bytes one log event may hold; the rest is dropped and marked.
///
/// # Security
/// A log event is buffered whole so it can be cleaned as a unit; an attacker-sized value must not
/// make that buffer unbounded.
pub const MAX_LOG_EVENT_BYTES: usize = 64 * 1024;

/// The marker that replaces a token-shaped secret.
pub const REDACTED: &str = "[REDACTED]";

/// Token families, one alternation. Groups named `keep` survive (the `Bearer ` or `?token=`
/// prefix) so the line stays readable.
static TOKENS: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(concat!(
        // Anthropic (sk-ant-api03-…, sk-ant-admin…) before the generic sk- form.
        r"sk-ant-[A-Za-z0-9_\-]{8,}",
        // OpenAI-style: sk-…, sk-proj-…
        r"|sk-[A-Za-z0-9_\-]{16,}",
        // Slack bot, user, app, refresh and config tokens.
        r"|xox[abposr]-[A-Za-z0-9\-]{8,}|xapp-[A-Za-z0-9\-]{8,}",
        // Discord bot token: three base64url parts.
        r"|(?:Bot\s+)?[A-Za-z0-9_\-]{20,}\.[A-Za-z0-9_\-]{5,8}\.[A-Za-z0-9_\-]{25,}",
        // Telegram bot token: bot id, colon, 35-character secret.
        r"|[0-9]{6,12}:[A-Za-z0-9_\-]{30,}",
        // Authorization headers, any scheme spelling.
        r"|(?P<keep>(?i:bearer|basic)\s+)[A-Za-z0-9._~+/=\-]{6,}",
        // ?token= and friends in URLs.
        r#"|(?P<keepq>[?&](?i:token|access_token|api_key|apikey|key)=)[^&\s"'<>]+"#,
    ))
    .ok()
});

/// Replaces token-shaped secrets in `text` with [`REDACTED`].
#[must_use]
pub fn redact_tokens(text: &str) -> Cow<'_, str> {
    let Some(re) = TOKENS.as_ref() else {
        return Cow::Owned(REDACTED.to_owned());
    };
    re.replace_all(text, |c: &Captures<'_>| {
        let keep = c
            .name("keep")
            .or_else(|| c.name("keepq"))
            .map_or("", |m| m.as_str());
        format!("{keep}{REDACTED}")
    })
}

/// Escapes CR, LF, ESC and every other control character (C0 but tab, DEL, C1) as `\r`, `\n`,
/// `\x1b`, `\u{9b}` so an untrusted value can neither start a forged line nor drive a terminal.
#[must_use]
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    let bad = |c: char| c != '\t' && c.is_control();
    if !text.contains(bad) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            c if bad(c) && u32::from(c) < 0x80 => out.push_str(&format!("\\x{:02x}", u32::from(c))),
            c if bad(c) => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// One log line, cleaned: control characters escaped, token shapes and known secrets redacted.
#[must_use]
pub fn clean_log_line(line: &str, known: Option<&SharedLeakGuard>) -> String {
    let escaped = escape_controls(line);
    let tokens = redact_tokens(&escaped);
    match known {
        Some(k) => k.redact("log", &tokens).into_owned(),
        None => tokens.into_owned(),
    }
}

/// An `io::Write` that cleans one log event (see the module docs) before it reaches `inner`.
pub struct RedactingWriter<W: Write> {
    inner: W,
    buf: Vec<u8>,
    truncated: bool,
    known: Option<SharedLeakGuard>,
    done: bool,
}

impl<W: Write> std::fmt::Debug for RedactingWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedactingWriter")
            .field("buffered", &self.buf.len())
            .finish_non_exhaustive()
    }
}

impl<W: Write> RedactingWriter<W> {
    /// A writer for one event into `inner`, redacting `known` secrets too.
    pub fn new(inner: W, known: Option<SharedLeakGuard>) -> Self {
        Self {
            inner,
            buf: Vec::new(),
            truncated: false,
            known,
            done: false,
        }
    }

    /// Cleans what was written and writes it to the inner writer as one line.
    ///
    /// # Errors
    /// The inner writer's.
    pub fn finish(&mut self) -> io::Result<()> {
        if self.done || (self.buf.is_empty() && !self.truncated) {
            self.done = true;
            return Ok(());
        }
        self.done = true;
        let raw = std::mem::take(&mut self.buf);
        let text = String::from_utf8_lossy(&raw);
        let body = text.strip_suffix('\n').unwrap_or(&text);
        let mut line = clean_log_line(body, self.known.as_ref());
        if self.truncated {
            line.push_str(" …[truncated]");
        }
        line.push('\n');
        self.inner.write_all(line.as_bytes())?;
        self.inner.flush()
    }
}

impl<W: Write> Write for RedactingWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = MAX_LOG_EVENT_BYTES.saturating_sub(self.buf.len());
        if data.len() > room {
            self.truncated = true;
        }
        self.buf
            .extend_from_slice(data.get(..room.min(data.len())).unwrap_or(&[]));
        // Report everything as taken: the excess is deliberately dropped.
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        // Nothing leaves before the event is complete; `finish` (or drop) writes it.
        Ok(())
    }
}

impl<W: Write> Drop for RedactingWriter<W> {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn through_writer(pieces: &[&str], known: Option<SharedLeakGuard>) -> String {
        let mut out = Vec::new();
        {
            let mut w = RedactingWriter::new(&mut out, known);
            for p in pieces {
                w.write_all(p.as_bytes()).unwrap();
            }
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn each_token_family_is_redacted() {
        let samples = [
            "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-abcdEFGH",
            "sk-proj-AbCdEfGhIjKlMnOpQrStUvWx0123",
            "sk-AbCdEfGhIjKlMnOpQrStUvWx0123456789",
            "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
            "xoxp-123456789012-1234567890123-AbCdEfGhIjKl",
            "xapp-1-A0123456789-1234567890123-abcdef0123456789",
            "MTIzNDU2Nzg5MDEyMzQ1Njc4.GaBcDe.AbCdEfGhIjKlMnOpQrStUvWxYz0123",
            "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
        ];
        for s in samples {
            let line = format!("calling with {s} now");
            let out = through_writer(&[&line, "\n"], None);
            assert!(!out.contains(s), "{s} leaked: {out}");
            assert!(out.contains(REDACTED), "{out}");
        }
        let out = redact_tokens(
            "Authorization: Bearer abc.DEF-123_xyz and Bot MTIzNDU2Nzg5MDEyMzQ1Njc4.GaBcDe.AbCdEfGhIjKlMnOpQrStUvWxYz0123",
        );
        assert_eq!(out, "Authorization: Bearer [REDACTED] and [REDACTED]");
        let out = redact_tokens(
            "GET /api/agents/a/ws?token=abc%2Bdef&x=1 https://api.telegram.org/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/getMe",
        );
        assert_eq!(
            out,
            "GET /api/agents/a/ws?token=[REDACTED]&x=1 https://api.telegram.org/bot[REDACTED]/getMe"
        );
    }

    #[test]
    fn a_secret_written_in_many_small_pieces_is_still_redacted() {
        let secret = "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz";
        let line = format!("key={secret} end\n");
        let pieces: Vec<String> = line.chars().map(String::from).collect();
        let refs: Vec<&str> = pieces.iter().map(String::as_str).collect();
        let out = through_writer(&refs, None);
        assert_eq!(out, format!("key={REDACTED} end\n"));
    }

    #[test]
    fn log_injection_is_escaped() {
        let out = through_writer(
            &["WARN path=/x\r\nINFO admin logged in \x1b[2J\u{9b}31m\n"],
            None,
        );
        assert_eq!(out.matches('\n').count(), 1, "{out}");
        assert!(!out.contains('\x1b') && !out.contains('\r') && !out.contains('\u{9b}'));
        assert!(out.contains("\\r\\nINFO admin"), "{out}");
        assert!(out.contains("\\x1b[2J"), "{out}");
    }

    #[test]
    fn known_secrets_are_redacted_and_events_are_bounded() {
        let mut b = crate::LeakGuard::builder();
        b.add("vault_db", "correct-horse-battery");
        let known = SharedLeakGuard::new(b.build());
        let out = through_writer(&["pw=correct-horse-battery\n"], Some(known));
        assert_eq!(out, "pw=[REDACTED:vault_db]\n");
        let big = "a".repeat(MAX_LOG_EVENT_BYTES * 2);
        let out = through_writer(&[&big], None);
        assert!(out.len() < MAX_LOG_EVENT_BYTES + 64);
        assert!(out.ends_with("…[truncated]\n"));
    }
}
