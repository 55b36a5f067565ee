//! Comparing secrets without leaking where they differ.

use ring::digest::{SHA256, digest};
use subtle::ConstantTimeEq as _;

/// Whether `a == b`, in time that depends on neither content nor length.
///
/// Both sides are hashed with SHA-256 first and the digests compared with `subtle`, so not even
/// the length of a secret leaks through timing. Use it for every comparison against a secret
/// (API keys, tokens, shared secrets).
#[must_use]
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let (da, db) = (digest(&SHA256, a), digest(&SHA256, b));
    da.as_ref().ct_eq(db.as_ref()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_iff_same_bytes() {
        assert!(constant_time_eq(b"token", b"token"));
        assert!(!constant_time_eq(b"token", b"tokem"));
        assert!(!constant_time_eq(b"token", b"token2"));
        assert!(constant_time_eq(b"", b""));
    }
}
