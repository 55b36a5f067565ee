//! Checks for skill and plugin content (SPEC I3) and the decoder that finds payloads hidden in base64 or hex.
//!
//! The skill checks run on the text as written (shell syntax lives in punctuation, which the normalized view
//! folds away): data exfiltration ("send … to <url>", "reveal … key") and shell reference injection (`$(…)`,
//! backticks around a command, `curl|wget … | sh`, `base64 -d | sh`).
//!
//! Every kind of scan also looks for base64 and hex tokens, decodes those that turn out to be text, and scans the
//! decoded text again with the same kind, up to [`MAX_DECODE_DEPTH`] layers and [`MAX_DECODED_BYTES`] in total.

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD_INDIFFERENT, URL_SAFE_NO_PAD_INDIFFERENT};
use regex::Regex;

use crate::rules::Category;
use crate::scan::{Encoding, Finding, ScanKind, scan_into};

/// How many encoding layers are peeled.
///
/// # Security
/// Bounds the recursion: each layer of base64 shrinks the text by a quarter, so three layers already hide a
/// payload from any reader; deeper nesting costs the attacker nothing but us a stack frame each.
pub const MAX_DECODE_DEPTH: usize = 3;

/// Total bytes decoded during one scan, over all layers.
///
/// # Security
/// Bounds the work an input can cause: without it, a text made only of base64 tokens would be decoded and
/// rescanned at every layer.
pub const MAX_DECODED_BYTES: usize = 1 << 20;

/// Shortest token considered as an encoded payload.
///
/// # Security
/// Twenty base64 characters carry 15 bytes, enough for the shortest pattern ("you are now" with its context is
/// longer); shorter tokens are ordinary words and identifiers and decoding them only adds noise.
pub const MIN_ENCODED_TOKEN: usize = 20;

/// What is left of [`MAX_DECODED_BYTES`] in one scan.
#[derive(Debug)]
pub(crate) struct DecodeBudget {
    left: usize,
}

impl DecodeBudget {
    pub(crate) fn new() -> Self {
        DecodeBudget {
            left: MAX_DECODED_BYTES,
        }
    }
}

struct SkillCheck {
    id: &'static str,
    category: Category,
    pattern: &'static str,
    re: &'static str,
}

const SKILL_CHECKS: &[SkillCheck] = &[
    SkillCheck {
        id: "shell_command_substitution",
        category: Category::ShellInjection,
        pattern: "$(…)",
        re: r"\$\([^()\n]{1,200}\)",
    },
    SkillCheck {
        id: "shell_backticks",
        category: Category::ShellInjection,
        pattern: "`…`",
        re: r"`\s*(?:sudo\s+)?(?:curl|wget|nc|ncat|netcat|bash|sh|zsh|eval|rm|python3?|perl|ruby|php|node|base64|chmod|dd|mkfifo|socat|ssh|scp|cat\s+[~/.])\b[^`\n]{0,200}`",
    },
    SkillCheck {
        id: "shell_pipe_download",
        category: Category::ShellInjection,
        pattern: "curl | sh",
        re: r"(?i)\b(?:curl|wget|fetch|iwr|invoke-webrequest)\b[^\n|]{0,300}\|\s*(?:sudo\s+)?(?:(?:ba|z|da|k|fi)?sh|python3?|perl|ruby|node|iex)\b",
    },
    SkillCheck {
        id: "shell_pipe_base64",
        category: Category::ShellInjection,
        pattern: "base64 -d | sh",
        re: r"(?i)\bbase64\s+(?:-d|--decode|-D)\b[^\n|]{0,200}\|\s*(?:sudo\s+)?(?:(?:ba|z|da|k)?sh|python3?|perl|ruby|node)\b",
    },
    SkillCheck {
        id: "exfil_send_to_url",
        category: Category::Exfiltration,
        pattern: "send … to <url>",
        re: r"(?i)\b(?:send|post|upload|transmit|forward|exfiltrate|leak|email|submit|beacon|copy)\b[^\n]{0,160}?\bto\s*<?(?:(?:https?|ftp|wss?)://|[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|net|org|io|xyz|ru|cn|tk|top|site|info|me|app|dev|co|biz|pw|cc|sh)\b|webhook|[\w.+-]+@[\w-]+\.)",
    },
    SkillCheck {
        id: "exfil_reveal_key",
        category: Category::Exfiltration,
        pattern: "reveal … key",
        re: r"(?i)\b(?:reveal|leak|dump|expose|exfiltrate|disclose|print|output|show|display|send|share|echo|return|include)\b[^\n]{0,80}?\b(?:api[ _-]?keys?|secret[ _-]?keys?|private[ _-]?keys?|access[ _-]?tokens?|auth(?:entication)?[ _-]?tokens?|bearer[ _-]?tokens?|credentials|passwords?|passphrases?|ssh[ _-]?keys?|id_rsa|\.env\b|vault)",
    },
];

fn compiled() -> &'static [(Regex, &'static SkillCheck)] {
    static COMPILED: OnceLock<Vec<(Regex, &'static SkillCheck)>> = OnceLock::new();
    COMPILED.get_or_init(|| {
        SKILL_CHECKS
            .iter()
            // The expressions are constants; one that failed to compile would be skipped, and the tests that
            // exercise every check would fail.
            .filter_map(|c| Regex::new(c.re).ok().map(|re| (re, c)))
            .collect()
    })
}

/// The skill checks on `text`, which starts at byte `base` of the scanned text.
pub(crate) fn scan_skill(
    text: &str,
    base: usize,
    outer: Option<[usize; 2]>,
    via: &[Encoding],
    out: &mut Vec<Finding>,
) {
    for (re, check) in compiled() {
        for m in re.find_iter(text) {
            out.push(Finding {
                category: check.category,
                pattern: check.pattern,
                span: outer.unwrap_or([base + m.start(), base + m.end()]),
                rule: check.id,
                via: via.to_vec(),
            });
        }
    }
}

#[inline]
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_' | b'\\')
}

/// Finds encoded tokens in `text`, decodes the ones that are text, and scans them again.
#[allow(clippy::too_many_arguments)] // reason: the recursion state; grouping it would only rename it
pub(crate) fn decode_and_rescan(
    text: &str,
    base: usize,
    kind: ScanKind,
    depth: usize,
    outer: Option<[usize; 2]>,
    via: &mut Vec<Encoding>,
    budget: &mut DecodeBudget,
    out: &mut Vec<Finding>,
) {
    if depth >= MAX_DECODE_DEPTH || budget.left == 0 {
        return;
    }
    let bytes = text.as_bytes();
    let mut i = 0;
    while i + MIN_ENCODED_TOKEN <= bytes.len() {
        // A token of MIN_ENCODED_TOKEN bytes starting in i..i+MIN must cover byte i+MIN-1: when that byte is not a
        // token byte, skip the whole stretch (prose has few long tokens, so most steps skip).
        let probe = i + MIN_ENCODED_TOKEN - 1;
        if !is_token_byte(bytes[probe]) {
            i = probe + 1;
            continue;
        }
        let mut start = probe;
        while start > i && is_token_byte(bytes[start - 1]) {
            start -= 1;
        }
        let mut end = probe + 1;
        while end < bytes.len() && is_token_byte(bytes[end]) {
            end += 1;
        }
        i = end;
        if end - start < MIN_ENCODED_TOKEN {
            continue;
        }
        // Token bytes are ASCII, so start..end is on character boundaries.
        let token = &text[start..end];
        let Some((decoded, enc)) = decode_token(token) else {
            continue;
        };
        if decoded.len() > budget.left {
            budget.left = 0;
            return;
        }
        budget.left -= decoded.len();
        let span = outer.unwrap_or([base + start, base + end]);
        via.push(enc);
        scan_into(&decoded, kind, depth + 1, Some(span), via, budget, out);
        via.pop();
        if budget.left == 0 {
            return;
        }
    }
}

/// Decodes a token as hex or base64 when the result is readable text.
fn decode_token(token: &str) -> Option<(String, Encoding)> {
    if let Some(hex_digits) = hex_body(token)
        && let Ok(bytes) = hex::decode(&hex_digits)
        && let Some(s) = readable(bytes)
    {
        return Some((s, Encoding::Hex));
    }
    let body = token.trim_end_matches('=');
    if body.contains('\\') {
        return None;
    }
    let bytes = if body.contains(['-', '_']) {
        URL_SAFE_NO_PAD_INDIFFERENT.decode(body).ok()?
    } else {
        STANDARD_NO_PAD_INDIFFERENT.decode(body).ok()?
    };
    readable(bytes).map(|s| (s, Encoding::Base64))
}

/// The hex digits of a token made only of hex digits (even count) or of `\xNN` escapes.
fn hex_body(token: &str) -> Option<String> {
    if token.len().is_multiple_of(2) && token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Some(token.to_owned());
    }
    let parts: Vec<&str> = token.split("\\x").collect();
    if parts.len() > 1
        && parts[0].is_empty()
        && parts[1..]
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Some(parts[1..].concat());
    }
    None
}

/// The bytes as a string when they are UTF-8 and mostly printable.
fn readable(bytes: Vec<u8>) -> Option<String> {
    let s = String::from_utf8(bytes).ok()?;
    let total = s.chars().count();
    let printable = s
        .chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\t' | '\r'))
        .count();
    (total > 0 && printable * 10 >= total * 9 && s.chars().any(char::is_alphabetic)).then_some(s)
}
