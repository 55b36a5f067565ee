//! Canonical arguments and the call digest that approvals and the loop guard key on.
//!
//! Two calls are "the same call" exactly when their tool names are equal and their arguments are
//! equal as JSON values: object key order and insignificant whitespace do not matter, everything
//! else (string bytes, number spelling after parsing, array order) does.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Domain separation for [`call_digest`], so the digest can never collide with another use of
/// SHA-256 over similar bytes.
const DIGEST_DOMAIN: &[u8] = b"rampart-policy/call/v1\0";

/// Writes `v` as compact JSON with object keys sorted by their UTF-8 bytes, independent of how
/// `serde_json` orders maps in this build.
#[must_use]
pub fn canonical_json(v: &Value) -> String {
    let mut out = String::new();
    write(v, &mut out);
    out
}

fn write(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_unstable();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                if let Some(inner) = map.get(k) {
                    write(inner, out);
                }
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// SHA-256 of the tool name and its canonical arguments (length-prefixed, domain-separated).
#[must_use]
pub fn call_digest(tool: &str, args: &Value) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(DIGEST_DOMAIN);
    h.update((tool.len() as u64).to_be_bytes());
    h.update(tool.as_bytes());
    h.update(canonical_json(args).as_bytes());
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_order_does_not_matter_values_do() {
        let a: Value = serde_json::from_str(r#"{"b":1,"a":{"y":[1,2],"x":"s"}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{ "a" : {"x":"s","y":[1,2]}, "b" : 1 }"#).unwrap();
        assert_eq!(canonical_json(&a), r#"{"a":{"x":"s","y":[1,2]},"b":1}"#);
        assert_eq!(call_digest("t", &a), call_digest("t", &b));
        assert_ne!(call_digest("t", &a), call_digest("u", &a));
        assert_ne!(
            call_digest("shell_exec", &json!({"command": "echo a"})),
            call_digest("shell_exec", &json!({"command": "echo b"}))
        );
        assert_ne!(
            call_digest("t", &json!({"a": [2, 1]})),
            call_digest("t", &json!({"a": [1, 2]}))
        );
    }

    #[test]
    fn name_and_args_cannot_be_shifted_into_each_other() {
        // Without the length prefix, "ab" + "c…" and "a" + "bc…" could hash the same bytes.
        assert_ne!(
            call_digest("ab", &json!("c")),
            call_digest("a", &json!("bc"))
        );
    }
}
