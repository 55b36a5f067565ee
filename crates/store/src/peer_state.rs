//! Peer identity pins (SPEC O2): which static key each peer node name belongs to, remembered on
//! first contact so a later claim of the same name with another key can be refused. The decision
//! lives in `rampart-peer`; this file keeps the pins and makes check-and-pin one statement.

use rusqlite::{OptionalExtension, params};

use crate::{Store, StoreError};

pub(crate) const MIGRATION_4: &str = "CREATE TABLE peer_pins (
        node TEXT PRIMARY KEY,
        public_key BLOB NOT NULL,
        pinned_at INTEGER NOT NULL
    ) WITHOUT ROWID;";

/// What the store knew about a `(node, key)` claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeerPin {
    /// The node was pinned to this key already.
    Known,
    /// The node was new; it is now pinned to this key.
    Pinned,
    /// The node is pinned to a different key.
    Mismatch,
}

/// Equality of two byte strings in time independent of where they differ.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Store {
    /// Checks `node`'s claimed `key` against its pin, pinning it when the node is new.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn peer_pin(&self, node: &str, key: &[u8; 32], now: i64) -> Result<PeerPin, StoreError> {
        let conn = self.conn();
        let inserted = conn.execute(
            "INSERT OR IGNORE INTO peer_pins (node, public_key, pinned_at) VALUES (?1, ?2, ?3)",
            params![node, key.as_slice(), now],
        )?;
        if inserted == 1 {
            return Ok(PeerPin::Pinned);
        }
        let stored: Option<Vec<u8>> = conn
            .query_row(
                "SELECT public_key FROM peer_pins WHERE node = ?1",
                params![node],
                |r| r.get(0),
            )
            .optional()?;
        Ok(match stored {
            Some(k) if ct_eq(&k, key) => PeerPin::Known,
            _ => PeerPin::Mismatch,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn first_key_is_pinned_and_a_second_one_refused_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db");
        let store = Store::open(&path).unwrap();
        assert_eq!(
            store.peer_pin("laptop", &[1; 32], 5).unwrap(),
            PeerPin::Pinned
        );
        assert_eq!(
            store.peer_pin("laptop", &[1; 32], 6).unwrap(),
            PeerPin::Known
        );
        drop(store);
        let store = Store::open(&path).unwrap();
        assert_eq!(
            store.peer_pin("laptop", &[2; 32], 7).unwrap(),
            PeerPin::Mismatch
        );
        assert_eq!(
            store.peer_pin("desk", &[2; 32], 7).unwrap(),
            PeerPin::Pinned
        );
    }
}
