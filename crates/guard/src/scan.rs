//! The one entry point that runs the input defense on a text: [`scan`] and its report.

use serde::Serialize;

use crate::detect::detector;
use crate::normalize::Normalized;
use crate::rules::{Category, RULES};
use crate::skill;

/// What kind of text is being scanned; it decides which checks run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ScanKind {
    /// A user message: the injection rules on the normalized view, plus base64/hex payloads decoded and rescanned.
    Message,
    /// Skill or plugin content before install: everything for messages, plus exfiltration and shell reference
    /// injection checks.
    Skill,
    /// Text a tool brought back (web page, file): the same checks as for skills.
    Untrusted,
}

/// The outcome of a scan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Verdict {
    /// Nothing found.
    Clean,
    /// At least one finding.
    Injection,
}

/// An encoding a payload was hidden in before it was decoded and rescanned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Encoding {
    /// Standard or URL-safe base64, padded or not.
    Base64,
    /// Hexadecimal digits, plain or as `\xNN` escapes.
    Hex,
}

/// One thing the scan found.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Finding {
    /// The group the pattern belongs to.
    pub category: Category,
    /// The pattern, as the seeds phrase it (or the skill check's short name, e.g. `curl | sh`).
    pub pattern: &'static str,
    /// Byte span `[start, end)` in the original text, on character boundaries. For a finding inside an encoded
    /// payload, the span of the whole encoded token.
    pub span: [usize; 2],
    /// The rule that fired.
    pub rule: &'static str,
    /// Encodings peeled off, outermost first; empty for text found as written.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub via: Vec<Encoding>,
}

/// The serializable result of [`scan`]; its JSON is the shape `rampart scan --json` prints.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ScanReport {
    /// `clean` or `injection`.
    pub verdict: Verdict,
    /// What was found, ordered by span.
    pub findings: Vec<Finding>,
}

impl ScanReport {
    /// Whether anything was found.
    pub fn is_injection(&self) -> bool {
        self.verdict == Verdict::Injection
    }

    fn from_findings(mut findings: Vec<Finding>) -> Self {
        findings.sort_by(|a, b| {
            a.span
                .cmp(&b.span)
                .then(a.rule.cmp(b.rule))
                .then(a.via.cmp(&b.via))
        });
        findings.dedup();
        let verdict = if findings.is_empty() {
            Verdict::Clean
        } else {
            Verdict::Injection
        };
        ScanReport { verdict, findings }
    }
}

/// Size of one scan window.
///
/// # Security
/// Bounds the memory of one normalized view (about the window's size again, plus its offset map). Longer texts
/// are scanned window by window with [`WINDOW_OVERLAP`] bytes of overlap, never truncated, so a payload after a
/// long filler is still seen.
pub const SCAN_WINDOW: usize = 16 << 20;

/// Overlap between consecutive scan windows.
///
/// # Security
/// A rule match spans at most a dozen words; 64 KiB covers it unless the filler words themselves are
/// kilobytes long, which no rule's context accepts as meaningful text anyway.
pub const WINDOW_OVERLAP: usize = 64 << 10;

/// Runs the input defense for `kind` on `text` and reports what it found (see [`ScanKind`]).
///
/// Never panics and never fails: any input, however long or malformed, gets a report whose spans lie inside
/// `text` on character boundaries.
pub fn scan(text: &str, kind: ScanKind) -> ScanReport {
    let mut findings = Vec::new();
    let mut budget = skill::DecodeBudget::new();
    scan_into(
        text,
        kind,
        0,
        None,
        &mut Vec::new(),
        &mut budget,
        &mut findings,
    );
    ScanReport::from_findings(findings)
}

/// Scans `text` (at decode `depth`) and appends findings. `outer` replaces every span when `text` was decoded
/// out of a token at that span of the original; `via` is the chain of encodings peeled so far.
pub(crate) fn scan_into(
    text: &str,
    kind: ScanKind,
    depth: usize,
    outer: Option<[usize; 2]>,
    via: &mut Vec<Encoding>,
    budget: &mut skill::DecodeBudget,
    out: &mut Vec<Finding>,
) {
    let mut base = 0usize;
    loop {
        let window = prefix_at_boundary(&text[base..], SCAN_WINDOW);
        detect_rules(window, base, outer, via, out);
        if kind != ScanKind::Message {
            skill::scan_skill(window, base, outer, via, out);
        }
        skill::decode_and_rescan(window, base, kind, depth, outer, via, budget, out);
        if base + window.len() >= text.len() {
            break;
        }
        let next = base + window.len().saturating_sub(WINDOW_OVERLAP).max(1);
        base = ceil_boundary(text, next);
    }
}

fn detect_rules(
    window: &str,
    base: usize,
    outer: Option<[usize; 2]>,
    via: &[Encoding],
    out: &mut Vec<Finding>,
) {
    let view = Normalized::new(window);
    for m in detector().find(view.bytes()) {
        let rule = &RULES[m.rule];
        let (a, b) = view.orig_span(m.start, m.end);
        out.push(Finding {
            category: rule.category,
            pattern: rule.pattern,
            span: outer.unwrap_or([base + a, base + b]),
            rule: rule.id,
            via: via.to_vec(),
        });
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
pub(crate) fn prefix_at_boundary(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The smallest character boundary of `s` at or after `i`.
fn ceil_boundary(s: &str, mut i: usize) -> usize {
    while i < s.len() && !s.is_char_boundary(i) {
        i += 1;
    }
    i.min(s.len())
}
