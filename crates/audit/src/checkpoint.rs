//! Signed checkpoints of the chain head (SPEC D4).
//!
//! One JSON line per checkpoint in the checkpoints file beside the log:
//!
//! ```text
//! {"v":1,"log_id":HEX,"seq":N,"head":HEX,"ts":RFC3339,"key":"ed25519:B64","sig":B64}
//! ```
//!
//! `sig` is Ed25519 over
//! `field("rampart-audit/checkpoint/v1") || log_id[32] || u64_be(seq) || head[32] || field(ts)`
//! (`field` = u64 big-endian length then bytes). `log_id` is the hash of the log's seq-0 entry, so a
//! checkpoint binds one specific log: it cannot vouch for a rewritten chain or another log.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::hash::{Hash, push_json_str};
use crate::key::{CheckpointKey, PublicKey};
use crate::{AuditError, MAX_LINE_BYTES};

/// Domain separation tag of checkpoint signatures.
const CHECKPOINT_DOMAIN: &[u8] = b"rampart-audit/checkpoint/v1";

/// A signed statement "log `log_id` had `head` as the hash of entry `seq` at time `ts`".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// Hash of the log's seq-0 entry.
    pub log_id: Hash,
    /// Sequence number of the signed head entry.
    pub seq: u64,
    /// Hash of entry `seq`.
    pub head: Hash,
    /// When it was signed, RFC 3339 UTC.
    pub ts: String,
    /// The key that signed it (informational: verify trusts a pinned key or the log's own).
    pub key: PublicKey,
    /// The Ed25519 signature.
    pub sig: [u8; 64],
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    v: u32,
    log_id: Hash,
    seq: u64,
    head: Hash,
    ts: String,
    key: String,
    sig: String,
}

fn message(log_id: &Hash, seq: u64, head: &Hash, ts: &str) -> Vec<u8> {
    let mut m = Vec::with_capacity(128 + ts.len());
    m.extend_from_slice(&(CHECKPOINT_DOMAIN.len() as u64).to_be_bytes());
    m.extend_from_slice(CHECKPOINT_DOMAIN);
    m.extend_from_slice(&log_id.0);
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(&head.0);
    m.extend_from_slice(&(ts.len() as u64).to_be_bytes());
    m.extend_from_slice(ts.as_bytes());
    m
}

impl Checkpoint {
    /// Signs `(log_id, seq, head, ts)` with `key`.
    pub(crate) fn sign(
        key: &CheckpointKey,
        log_id: Hash,
        seq: u64,
        head: Hash,
        ts: String,
    ) -> Self {
        let sig = key.sign(&message(&log_id, seq, &head, &ts));
        Self {
            log_id,
            seq,
            head,
            ts,
            key: key.public_key(),
            sig,
        }
    }

    /// Whether `key` signed exactly this checkpoint.
    #[must_use]
    pub fn verify_signature(&self, key: &PublicKey) -> bool {
        key.verify(
            &message(&self.log_id, self.seq, &self.head, &self.ts),
            &self.sig,
        )
    }

    /// Parses one line of the checkpoints file (signature not checked).
    ///
    /// # Errors
    /// [`AuditError::MalformedEntry`] if it is not a well-formed checkpoint.
    pub fn parse_line(line: &[u8]) -> Result<Self, AuditError> {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        if line.len() >= MAX_LINE_BYTES {
            return Err(AuditError::MalformedEntry(
                "checkpoint line too long".into(),
            ));
        }
        let w: Wire =
            serde_json::from_slice(line).map_err(|e| AuditError::MalformedEntry(e.to_string()))?;
        if w.v != 1 {
            return Err(AuditError::MalformedEntry(format!(
                "unknown checkpoint version {}",
                w.v
            )));
        }
        let key: PublicKey = w.key.parse()?;
        let sig_bytes = if w.sig.len() <= 100 {
            STANDARD.decode(&w.sig).ok()
        } else {
            None
        };
        let sig: [u8; 64] = sig_bytes
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| AuditError::MalformedEntry("signature is not 64 base64 bytes".into()))?;
        Ok(Self {
            log_id: w.log_id,
            seq: w.seq,
            head: w.head,
            ts: w.ts,
            key,
            sig,
        })
    }

    /// The checkpoint as one line of the checkpoints file (newline included).
    #[must_use]
    pub fn to_line(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(320);
        out.extend_from_slice(b"{\"v\":1,\"log_id\":\"");
        self.log_id.push_hex(&mut out);
        out.extend_from_slice(b"\",\"seq\":");
        out.extend_from_slice(self.seq.to_string().as_bytes());
        out.extend_from_slice(b",\"head\":\"");
        self.head.push_hex(&mut out);
        out.extend_from_slice(b"\",\"ts\":");
        push_json_str(&mut out, &self.ts);
        out.extend_from_slice(b",\"key\":");
        push_json_str(&mut out, &self.key.to_string());
        out.extend_from_slice(b",\"sig\":");
        push_json_str(&mut out, &STANDARD.encode(self.sig));
        out.extend_from_slice(b"}\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_parse_verify() {
        let k = CheckpointKey::generate().unwrap();
        let cp = Checkpoint::sign(
            &k,
            Hash([1; 32]),
            7,
            Hash([2; 32]),
            "2026-01-01T00:00:00Z".into(),
        );
        let line = cp.to_line();
        let back = Checkpoint::parse_line(&line).unwrap();
        assert_eq!(back, cp);
        assert!(back.verify_signature(&k.public_key()));
        // Any signed field changed → the signature no longer verifies.
        for f in [
            |c: &mut Checkpoint| c.seq += 1,
            |c: &mut Checkpoint| c.head.0[0] ^= 1,
            |c: &mut Checkpoint| c.log_id.0[31] ^= 1,
            |c: &mut Checkpoint| c.ts.push('x'),
        ] {
            let mut t = cp.clone();
            f(&mut t);
            assert!(!t.verify_signature(&k.public_key()));
        }
        let other = CheckpointKey::generate().unwrap();
        assert!(!cp.verify_signature(&other.public_key()));
    }
}
