//! SHA-256 hashes, the entry hash encoding, and canonical JSON.
//!
//! The entry hash is SHA-256 over *length-prefixed* fields, so no two different entries encode to
//! the same bytes ("ab"+"c" and "a"+"bc" differ because each field carries its length):
//!
//! ```text
//! field(b)  = u64_be(len(b)) || b
//! opt(None) = 0x00     opt(Some(b)) = 0x01 || field(b)
//! hash = SHA-256( field("rampart-audit/entry/v1") || u64_be(seq) || field(ts) || field(event)
//!                 || opt(agent) || field(actor) || field(outcome) || field(detail) || prev[32] )
//! ```
//! `detail` is hashed as the exact JSON text stored in the line (the writer emits it as canonical
//! JSON: sorted keys, no whitespace), so any byte change to it changes the hash.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// Domain separation tag of entry hashes (format version 1).
const ENTRY_DOMAIN: &[u8] = b"rampart-audit/entry/v1";

/// A SHA-256 digest, written as 64 lowercase hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// All zeroes: the `prev` of the first entry (seq 0).
    pub const ZERO: Self = Self([0; 32]);

    /// The raw 32 bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex form.
    #[must_use]
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex characters (either case).
    #[must_use]
    pub fn from_hex(s: &str) -> Option<Self> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).ok()?;
        Some(Self(out))
    }

    pub(crate) fn push_hex(&self, out: &mut Vec<u8>) {
        let mut buf = [0u8; 64];
        // Infallible: the buffer is exactly twice the input length.
        if hex::encode_to_slice(self.0, &mut buf).is_ok() {
            out.extend_from_slice(&buf);
        }
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl Serialize for Hash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Hash;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("64 hex characters")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Hash, E> {
                Hash::from_hex(v).ok_or_else(|| E::custom("expected 64 hex characters"))
            }
        }
        d.deserialize_str(V)
    }
}

/// The fields an entry hash covers, borrowed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HashInput<'a> {
    pub(crate) seq: u64,
    pub(crate) ts: &'a str,
    pub(crate) event: &'a str,
    pub(crate) agent: Option<&'a str>,
    pub(crate) actor: &'a str,
    pub(crate) outcome: &'a str,
    pub(crate) detail: &'a str,
    pub(crate) prev: &'a Hash,
}

fn field(h: &mut Sha256, b: &[u8]) {
    h.update((b.len() as u64).to_be_bytes());
    h.update(b);
}

impl HashInput<'_> {
    /// The entry hash (see the module docs for the encoding).
    pub(crate) fn hash(&self) -> Hash {
        let mut h = Sha256::new();
        field(&mut h, ENTRY_DOMAIN);
        h.update(self.seq.to_be_bytes());
        field(&mut h, self.ts.as_bytes());
        field(&mut h, self.event.as_bytes());
        match self.agent {
            None => h.update([0u8]),
            Some(a) => {
                h.update([1u8]);
                field(&mut h, a.as_bytes());
            }
        }
        field(&mut h, self.actor.as_bytes());
        field(&mut h, self.outcome.as_bytes());
        field(&mut h, self.detail.as_bytes());
        h.update(self.prev.0);
        Hash(h.finalize().into())
    }
}

/// SHA-256 of length-prefixed parts under a domain tag (used for key ids, digests, log ids).
pub(crate) fn tagged_hash(domain: &[u8], parts: &[&[u8]]) -> Hash {
    let mut h = Sha256::new();
    field(&mut h, domain);
    for p in parts {
        field(&mut h, p);
    }
    Hash(h.finalize().into())
}

/// Appends `s` as a JSON string literal (quotes included), escaping `"`, `\` and control
/// characters, so untrusted text can never break out of its field or inject a newline.
pub(crate) fn push_json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            0..=0x1f | 0x7f => None,
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        match esc {
            Some(e) => out.extend_from_slice(e),
            None => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Writes `v` as canonical JSON: object keys sorted by their UTF-8 bytes, no whitespace, strings
/// longer than `max_str` bytes shortened (on a char boundary) with a `…[truncated]` marker.
pub(crate) fn push_canonical(out: &mut Vec<u8>, v: &serde_json::Value, max_str: usize) {
    use serde_json::Value;
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Value::String(s) => push_json_str(out, &shorten(s, max_str)),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                push_canonical(out, item, max_str);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut keys: Vec<(&String, &Value)> = map.iter().collect();
            keys.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (k, item)) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                push_json_str(out, k);
                out.push(b':');
                push_canonical(out, item, max_str);
            }
            out.push(b'}');
        }
    }
}

/// `s`, or its first `max` bytes (on a char boundary) plus a truncation marker.
pub(crate) fn shorten(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if s.len() <= max {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    std::borrow::Cow::Owned(format!("{}…[truncated]", &s[..end]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(ts: &'a str, event: &'a str, prev: &'a Hash) -> HashInput<'a> {
        HashInput {
            seq: 1,
            ts,
            event,
            agent: None,
            actor: "system",
            outcome: "ok",
            detail: "{}",
            prev,
        }
    }

    #[test]
    fn field_boundaries_are_unambiguous() {
        let p = Hash::ZERO;
        // "ab" + "c" vs "a" + "bc" must not collide.
        assert_ne!(input("ab", "c", &p).hash(), input("a", "bc", &p).hash());
        // agent None vs Some("") differ.
        let mut a = input("t", "e", &p);
        let b = a;
        a.agent = Some("");
        assert_ne!(a.hash(), b.hash());
    }

    #[test]
    fn json_strings_escape_controls() {
        let mut out = Vec::new();
        push_json_str(&mut out, "a\"b\\c\nd\u{1b}[31m\u{7f}é");
        let s = String::from_utf8(out).unwrap();
        assert_eq!(s, "\"a\\\"b\\\\c\\nd\\u001b[31m\\u007fé\"");
        let back: String = serde_json::from_str(&s).unwrap();
        assert_eq!(back, "a\"b\\c\nd\u{1b}[31m\u{7f}é");
    }

    #[test]
    fn canonical_json_sorts_keys_and_truncates() {
        let v = serde_json::json!({"b": [1, "x"], "a": {"d": null, "c": true}, "s": "ééé"});
        let mut out = Vec::new();
        push_canonical(&mut out, &v, 3);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"a":{"c":true,"d":null},"b":[1,"x"],"s":"é…[truncated]"}"#
        );
    }

    #[test]
    fn hex_round_trip() {
        let h = tagged_hash(b"t", &[b"x"]);
        assert_eq!(Hash::from_hex(&h.to_hex()), Some(h));
        assert_eq!(Hash::from_hex("zz"), None);
        let mut out = Vec::new();
        h.push_hex(&mut out);
        assert_eq!(out, h.to_hex().into_bytes());
    }
}
