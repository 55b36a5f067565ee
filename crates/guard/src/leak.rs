//! The known-secret leak guard (SPEC L2): every secret the process holds, matched exactly and in
//! its common encodings by one Aho-Corasick automaton, on every way out.
//!
//! A [`LeakGuard`] is built once from `(name, value)` pairs (vault entries, the resolved API key,
//! provider keys). For each value it adds the plain text, standard and URL-safe base64 (padded and
//! not), the stable middle of base64 at the two other byte alignments (so the secret is found
//! inside a longer base64 blob too), lower- and upper-case hex, and the percent-encoded form. A
//! hit is replaced with `[REDACTED:name]`; the caller audits the names it is told about.
//!
//! [`SharedLeakGuard`] is the handle every exit holds: the log writer exists before the vault is
//! unlocked, so the guard inside it is swapped in once the secrets are known.

use std::borrow::Cow;
use std::sync::{Arc, PoisonError, RwLock};

use aho_corasick::{AhoCorasick, MatchKind};
use arc_swap::ArcSwap;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

/// The shortest secret the guard will match.
///
/// # Security
/// A very short "secret" (say `abc`) would turn ordinary text into redaction marks everywhere and
/// make replies useless; real keys and tokens are far longer. Shorter values are skipped (and
/// [`LeakGuardBuilder::skipped`] counts them so start-up can warn).
pub const MIN_SECRET_LEN: usize = 8;

/// The shortest encoded fragment (base64 at a shifted alignment) added as a pattern.
pub const MIN_FRAGMENT_LEN: usize = 12;

/// What a redaction found: the secret names, each once, in order of first appearance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeakHits(pub Vec<Arc<str>>);

impl LeakHits {
    /// Whether nothing was found.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn add(&mut self, name: &Arc<str>) {
        if !self.0.iter().any(|n| n == name) {
            self.0.push(name.clone());
        }
    }
}

/// Collects the secrets a [`LeakGuard`] matches.
#[derive(Default)]
pub struct LeakGuardBuilder {
    patterns: Vec<Vec<u8>>,
    names: Vec<Arc<str>>,
    skipped: usize,
}

impl std::fmt::Debug for LeakGuardBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeakGuardBuilder")
            .field("patterns", &self.patterns.len())
            .finish_non_exhaustive()
    }
}

impl LeakGuardBuilder {
    /// Adds one secret under `name` (shown in `[REDACTED:name]` and the audit trail, so it must not
    /// itself be secret). Values shorter than [`MIN_SECRET_LEN`] bytes are skipped.
    pub fn add(&mut self, name: &str, value: &str) -> &mut Self {
        let value = value.as_bytes();
        if value.len() < MIN_SECRET_LEN {
            self.skipped += 1;
            return self;
        }
        let name: Arc<str> = Arc::from(name);
        let mut forms: Vec<Vec<u8>> = vec![value.to_vec()];
        for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
            forms.push(engine.encode(value).into_bytes());
        }
        for shift in 1..3 {
            forms.extend(shifted_base64(value, shift));
        }
        forms.push(hex::encode(value).into_bytes());
        forms.push(hex::encode_upper(value).into_bytes());
        forms.push(percent_encode(value).into_bytes());
        forms.sort();
        forms.dedup();
        for f in forms {
            self.patterns.push(f);
            self.names.push(name.clone());
        }
        self
    }

    /// How many values were too short to add.
    #[must_use]
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// The automaton.
    #[must_use]
    pub fn build(self) -> LeakGuard {
        let max_len = self.patterns.iter().map(Vec::len).max().unwrap_or(0);
        let ac = if self.patterns.is_empty() {
            None
        } else {
            AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .build(&self.patterns)
                .ok()
        };
        LeakGuard {
            ac,
            names: self.names,
            max_len,
        }
    }
}

/// The base64 characters of `value` that do not depend on its neighbours when it sits at byte
/// offset `shift` (mod 3) inside a longer encoded blob, in both alphabets.
fn shifted_base64(value: &[u8], shift: usize) -> Vec<Vec<u8>> {
    let mut padded = vec![0u8; shift];
    padded.extend_from_slice(value);
    let total_bits = padded.len() * 8;
    let first = (shift * 8).div_ceil(6);
    let last = total_bits / 6;
    [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD]
        .into_iter()
        .filter_map(|engine| {
            let enc = engine.encode(&padded);
            let frag = enc.get(first..last)?;
            (frag.len() >= MIN_FRAGMENT_LEN).then(|| frag.as_bytes().to_vec())
        })
        .collect()
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(value: &[u8]) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for &b in value {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The matcher. Cheap to share behind an `Arc`; never prints its patterns.
pub struct LeakGuard {
    ac: Option<AhoCorasick>,
    names: Vec<Arc<str>>,
    max_len: usize,
}

impl std::fmt::Debug for LeakGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeakGuard")
            .field("patterns", &self.names.len())
            .finish_non_exhaustive()
    }
}

impl Default for LeakGuard {
    fn default() -> Self {
        LeakGuardBuilder::default().build()
    }
}

impl LeakGuard {
    /// A builder.
    #[must_use]
    pub fn builder() -> LeakGuardBuilder {
        LeakGuardBuilder::default()
    }

    /// Whether the guard knows no secret (then it changes nothing).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ac.is_none()
    }

    /// The longest pattern, in bytes (a streaming caller holds back one less than this).
    #[must_use]
    pub fn max_pattern_len(&self) -> usize {
        self.max_len
    }

    /// `text` with every known secret (in any covered form) replaced by `[REDACTED:name]`.
    #[must_use]
    pub fn redact<'a>(&self, text: &'a str) -> (Cow<'a, str>, LeakHits) {
        let mut hits = LeakHits::default();
        let Some(ac) = &self.ac else {
            return (Cow::Borrowed(text), hits);
        };
        let mut out = String::new();
        let mut last = 0;
        for m in ac.find_iter(text) {
            // Patterns are ASCII or whole UTF-8 strings, so match bounds are char boundaries.
            let (Some(before), Some(name)) = (
                text.get(last..m.start()),
                self.names.get(m.pattern().as_usize()),
            ) else {
                continue;
            };
            out.push_str(before);
            out.push_str("[REDACTED:");
            out.push_str(name);
            out.push(']');
            hits.add(name);
            last = m.end();
        }
        if hits.is_empty() {
            return (Cow::Borrowed(text), hits);
        }
        out.push_str(text.get(last..).unwrap_or(""));
        (Cow::Owned(out), hits)
    }

    /// Redacts every string (keys included) inside a JSON value, in place.
    pub fn redact_json(&self, value: &mut serde_json::Value, hits: &mut LeakHits) {
        if self.is_empty() {
            return;
        }
        match value {
            serde_json::Value::String(s) => {
                let (r, h) = self.redact(s);
                if let Cow::Owned(r) = r {
                    *s = r;
                    for n in &h.0 {
                        hits.add(n);
                    }
                }
            }
            serde_json::Value::Array(items) => {
                for v in items {
                    self.redact_json(v, hits);
                }
            }
            serde_json::Value::Object(map) => {
                let old = std::mem::take(map);
                for (k, mut v) in old {
                    self.redact_json(&mut v, hits);
                    let (k2, h) = self.redact(&k);
                    for n in &h.0 {
                        hits.add(n);
                    }
                    map.insert(k2.into_owned(), v);
                }
            }
            _ => {}
        }
    }

    /// A redactor for text that arrives in pieces (streamed model deltas): a secret split across
    /// two pieces is still caught.
    #[must_use]
    pub fn stream(self: &Arc<Self>) -> StreamRedactor {
        StreamRedactor {
            guard: self.clone(),
            pending: String::new(),
        }
    }
}

/// Redacts a stream of text pieces, holding back just enough to see a secret split in two.
#[derive(Debug)]
pub struct StreamRedactor {
    guard: Arc<LeakGuard>,
    pending: String,
}

impl StreamRedactor {
    /// Adds a piece; returns the text that is now safe to send (possibly empty).
    pub fn push(&mut self, piece: &str, hits: &mut LeakHits) -> String {
        self.pending.push_str(piece);
        let hold = self.guard.max_len.saturating_sub(1);
        if self.guard.is_empty() {
            return std::mem::take(&mut self.pending);
        }
        let mut cut = self.pending.len().saturating_sub(hold);
        // Any match that starts before `cut` is complete inside `pending`; extend past it.
        if let Some(ac) = &self.guard.ac {
            for m in ac.find_iter(&self.pending) {
                if m.start() < cut {
                    cut = cut.max(m.end());
                } else {
                    break;
                }
            }
        }
        while !self.pending.is_char_boundary(cut) {
            cut -= 1;
        }
        let rest = self.pending.split_off(cut);
        let ready = std::mem::replace(&mut self.pending, rest);
        let (out, h) = self.guard.redact(&ready);
        for n in &h.0 {
            hits.add(n);
        }
        out.into_owned()
    }

    /// The held-back rest, redacted.
    pub fn finish(&mut self, hits: &mut LeakHits) -> String {
        let rest = std::mem::take(&mut self.pending);
        let (out, h) = self.guard.redact(&rest);
        for n in &h.0 {
            hits.add(n);
        }
        out.into_owned()
    }
}

/// Told about each redaction: `(destination, secret name)`. Must be quick and must not log
/// (it can be called from inside the log writer).
pub type LeakReporter = Arc<dyn Fn(&str, &str) + Send + Sync>;

/// The handle every exit holds: the current guard (swapped in once secrets are known) and where
/// hits are reported. Cloning is cheap.
#[derive(Clone, Default)]
pub struct SharedLeakGuard {
    // Read on every reply and log line from every thread: an ArcSwap load takes no lock and
    // touches no shared reference count, where an RwLock read costs two contended atomics.
    guard: Arc<ArcSwap<LeakGuard>>,
    reporter: Arc<RwLock<Option<LeakReporter>>>,
}

impl std::fmt::Debug for SharedLeakGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedLeakGuard")
            .field("guard", &*self.current())
            .finish_non_exhaustive()
    }
}

impl SharedLeakGuard {
    /// A handle around `guard`.
    #[must_use]
    pub fn new(guard: LeakGuard) -> Self {
        let s = Self::default();
        s.set(guard);
        s
    }

    /// Replaces the guard (at start-up, and when the vault changes).
    pub fn set(&self, guard: LeakGuard) {
        self.guard.store(Arc::new(guard));
    }

    /// Sets where hits are reported.
    pub fn set_reporter(&self, reporter: LeakReporter) {
        *self
            .reporter
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(reporter);
    }

    /// The current guard.
    #[must_use]
    pub fn current(&self) -> Arc<LeakGuard> {
        self.guard.load_full()
    }

    /// Whether the current guard knows no secret (then there is nothing to redact).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.guard.load().is_empty()
    }

    /// Reports `hits` for `destination`.
    pub fn report(&self, destination: &str, hits: &LeakHits) {
        if hits.is_empty() {
            return;
        }
        let reporter = self
            .reporter
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(r) = reporter {
            for name in &hits.0 {
                r(destination, name);
            }
        }
    }

    /// Redacts `text` bound for `destination` (`reply`, `log`, `llm_request`, `tool_args`…) and
    /// reports what it found.
    #[must_use]
    pub fn redact<'a>(&self, destination: &str, text: &'a str) -> Cow<'a, str> {
        let (out, hits) = self.guard.load().redact(text);
        self.report(destination, &hits);
        match out {
            Cow::Borrowed(_) => Cow::Borrowed(text),
            Cow::Owned(s) => Cow::Owned(s),
        }
    }

    /// Redacts a JSON value in place and reports what it found.
    pub fn redact_json(&self, destination: &str, value: &mut serde_json::Value) {
        let mut hits = LeakHits::default();
        self.current().redact_json(value, &mut hits);
        self.report(destination, &hits);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "s3cr3t-Value/with+chars=";

    fn guard() -> LeakGuard {
        let mut b = LeakGuard::builder();
        b.add("db_password", SECRET).add("short", "abc");
        assert_eq!(b.skipped(), 1);
        b.build()
    }

    #[test]
    fn every_form_is_redacted() {
        let g = guard();
        let forms = [
            SECRET.to_owned(),
            STANDARD.encode(SECRET),
            URL_SAFE_NO_PAD.encode(SECRET),
            hex::encode(SECRET),
            hex::encode_upper(SECRET),
            percent_encode(SECRET.as_bytes()),
        ];
        for form in forms {
            let text = format!("before {form} after");
            let (out, hits) = g.redact(&text);
            assert_eq!(out, "before [REDACTED:db_password] after", "{form}");
            assert_eq!(hits.0, [Arc::from("db_password")]);
        }
    }

    #[test]
    fn base64_inside_a_longer_blob_is_found_at_every_alignment() {
        let g = guard();
        for prefix in ["", "x", "xy", "xyz", "hello, "] {
            let blob = STANDARD.encode(format!("{prefix}{SECRET} trailing bytes"));
            let (out, hits) = g.redact(&blob);
            assert!(!hits.is_empty(), "{prefix:?}: {blob}");
            assert!(out.contains("[REDACTED:db_password]"));
        }
    }

    #[test]
    fn clean_text_is_borrowed_and_short_values_ignored() {
        let g = guard();
        let (out, hits) = g.redact("abc is not a secret");
        assert!(matches!(out, Cow::Borrowed(_)));
        assert!(hits.is_empty());
        assert!(LeakGuard::default().redact(SECRET).1.is_empty());
    }

    #[test]
    fn json_strings_and_keys_are_redacted() {
        let g = guard();
        let mut v = serde_json::json!({"a": [SECRET, 1], SECRET: {"b": hex::encode(SECRET)}});
        let mut hits = LeakHits::default();
        g.redact_json(&mut v, &mut hits);
        let text = v.to_string();
        assert!(!text.contains(SECRET), "{text}");
        assert!(!text.contains(&hex::encode(SECRET)), "{text}");
        assert_eq!(hits.0.len(), 1);
    }

    #[test]
    fn a_secret_split_across_stream_pieces_is_caught() {
        let g = Arc::new(guard());
        let text = format!("the key is {SECRET}, keep it");
        for split in 0..text.len() {
            let mut s = g.stream();
            let mut hits = LeakHits::default();
            let (a, b) = text.split_at(split);
            let mut out = s.push(a, &mut hits);
            out.push_str(&s.push(b, &mut hits));
            out.push_str(&s.finish(&mut hits));
            assert_eq!(out, "the key is [REDACTED:db_password], keep it", "{split}");
        }
    }

    #[test]
    fn shared_guard_reports_hits() {
        let shared = SharedLeakGuard::default();
        assert_eq!(shared.redact("log", SECRET), SECRET);
        shared.set(guard());
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let s2 = seen.clone();
        shared.set_reporter(Arc::new(move |d, n| {
            s2.lock().unwrap().push(format!("{d}:{n}"));
        }));
        assert_eq!(shared.redact("reply", SECRET), "[REDACTED:db_password]");
        assert_eq!(*seen.lock().unwrap(), ["reply:db_password"]);
    }
}
