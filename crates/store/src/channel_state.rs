//! Channel state that must outlive a process (SPEC P1, P2): pairing codes, the users they paired
//! (allowlist additions), failed pairing attempts and lockouts, and a channel's own lockout once
//! its pairing failure budget is spent (with the codes that spending revoked).
//!
//! The decisions live in `rampart-channels`; this file stores what they decide on and makes each
//! change atomic: a code is consumed and its user allowlisted in one transaction, so two users
//! racing for one code cannot both win. Times are seconds since the Unix epoch and come from the
//! caller (whose clock tests can move), never from this file.

use rusqlite::{OptionalExtension, params};

use crate::{Store, StoreError};

pub(crate) const MIGRATION_3: &str = "CREATE TABLE pairing_codes (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        channel TEXT NOT NULL,
        code TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        used_at INTEGER,
        used_by TEXT
    );
    CREATE INDEX pairing_codes_by_channel ON pairing_codes (channel, used_at, expires_at);
    CREATE TABLE channel_allowlist (
        channel TEXT NOT NULL,
        user_id TEXT NOT NULL,
        added_at INTEGER NOT NULL,
        PRIMARY KEY (channel, user_id)
    ) WITHOUT ROWID;
    CREATE TABLE pairing_failures (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        channel TEXT NOT NULL,
        user_id TEXT NOT NULL,
        at INTEGER NOT NULL
    );
    CREATE INDEX pairing_failures_by_user ON pairing_failures (channel, user_id, at);
    CREATE TABLE pairing_lockouts (
        channel TEXT NOT NULL,
        user_id TEXT NOT NULL,
        locked_until INTEGER NOT NULL,
        PRIMARY KEY (channel, user_id)
    ) WITHOUT ROWID;";

/// How long a used or expired pairing code row is kept before it is pruned (seconds).
const CODE_RETENTION_SECS: i64 = 24 * 3600;

/// The `pairing_lockouts` user id that stands for the whole channel: the row of a channel whose
/// pairing failure budget is spent.
///
/// # Security
/// No user can have it: every channel's user id is checked non-empty before it reaches pairing
/// (the validator refuses an empty id), and [`Store::record_pairing_failure`] never locks out an
/// empty id, so no user's failures can write the channel's row.
const WHOLE_CHANNEL: &str = "";

/// One usable pairing code.
#[derive(Clone, PartialEq, Eq)]
pub struct PairingCodeRow {
    /// Row id, for [`Store::consume_pairing_code`].
    pub id: i64,
    /// The code's digits.
    pub code: String,
    /// Seconds since the Unix epoch; unusable from then on.
    pub expires_at: i64,
}

impl std::fmt::Debug for PairingCodeRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The digits are a credential while the code lives: never in a debug print.
        f.debug_struct("PairingCodeRow")
            .field("id", &self.id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// What recording a failed pairing attempt led to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PairingFailure {
    /// Counted; this many failures are now inside the window.
    Counted(u32),
    /// This failure reached the limit: the user is locked out until this time.
    LockedUntil(i64),
}

impl Store {
    /// Stores a new pairing code for `channel` unless `max_active` unused, unexpired codes already
    /// exist for it. Returns whether it was stored. Old used/expired rows are pruned.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn insert_pairing_code(
        &self,
        channel: &str,
        code: &str,
        now: i64,
        expires_at: i64,
        max_active: usize,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "DELETE FROM pairing_codes WHERE (used_at IS NOT NULL OR expires_at <= ?1) \
             AND created_at < ?2",
            params![now, now - CODE_RETENTION_SECS],
        )?;
        let active: i64 = tx.query_row(
            "SELECT COUNT(*) FROM pairing_codes WHERE channel = ?1 AND used_at IS NULL \
             AND expires_at > ?2",
            params![channel, now],
            |r| r.get(0),
        )?;
        if usize::try_from(active).unwrap_or(usize::MAX) >= max_active {
            return Ok(false);
        }
        tx.execute(
            "INSERT INTO pairing_codes (channel, code, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
            params![channel, code, now, expires_at],
        )?;
        tx.commit()?;
        Ok(true)
    }

    /// The unused codes of `channel` still valid at `now`, at most `limit` of them.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn active_pairing_codes(
        &self,
        channel: &str,
        now: i64,
        limit: usize,
    ) -> Result<Vec<PairingCodeRow>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, code, expires_at FROM pairing_codes WHERE channel = ?1 AND used_at IS NULL \
             AND expires_at > ?2 ORDER BY id LIMIT ?3",
        )?;
        let rows = stmt.query_map(
            params![channel, now, i64::try_from(limit).unwrap_or(i64::MAX)],
            |r| {
                Ok(PairingCodeRow {
                    id: r.get(0)?,
                    code: r.get(1)?,
                    expires_at: r.get(2)?,
                })
            },
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Consumes code `id` of `channel` for `user_id` if it is still unused and unexpired at `now`,
    /// and in the same transaction adds the user to the channel's allowlist and clears their
    /// failures. Returns whether this call won the code (a code is used once).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn consume_pairing_code(
        &self,
        id: i64,
        channel: &str,
        user_id: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let n = tx.execute(
            "UPDATE pairing_codes SET used_at = ?4, used_by = ?3 \
             WHERE id = ?1 AND channel = ?2 AND used_at IS NULL AND expires_at > ?4",
            params![id, channel, user_id, now],
        )?;
        if n != 1 {
            return Ok(false);
        }
        tx.execute(
            "INSERT OR IGNORE INTO channel_allowlist (channel, user_id, added_at) VALUES (?1, ?2, ?3)",
            params![channel, user_id, now],
        )?;
        tx.execute(
            "DELETE FROM pairing_failures WHERE channel = ?1 AND user_id = ?2",
            params![channel, user_id],
        )?;
        tx.commit()?;
        Ok(true)
    }

    /// Whether `user_id` was paired on `channel` (an allowlist addition).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn channel_user_paired(&self, channel: &str, user_id: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT 1 FROM channel_allowlist WHERE channel = ?1 AND user_id = ?2",
                params![channel, user_id],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    /// The users paired on `channel`, oldest first.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn paired_users(&self, channel: &str) -> Result<Vec<String>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT user_id FROM channel_allowlist WHERE channel = ?1 ORDER BY added_at, user_id",
        )?;
        let rows = stmt.query_map(params![channel], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Until when `user_id` is locked out of pairing on `channel`, if they are at `now`.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn pairing_locked_until(
        &self,
        channel: &str,
        user_id: &str,
        now: i64,
    ) -> Result<Option<i64>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT locked_until FROM pairing_lockouts WHERE channel = ?1 AND user_id = ?2 \
                 AND locked_until > ?3",
                params![channel, user_id, now],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Locks pairing on the whole of `channel` until `until` and revokes every code of it that
    /// is still unused at `now` (marked used at `now`, by nobody: dead for good, even after the
    /// lockout), in one transaction. Returns how many codes it revoked. Called when the
    /// channel's pairing failure budget is spent, so a restart neither lifts the lockout nor
    /// revives the codes.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn lock_channel_pairing(
        &self,
        channel: &str,
        now: i64,
        until: i64,
    ) -> Result<usize, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let revoked = tx.execute(
            "UPDATE pairing_codes SET used_at = ?2, used_by = NULL \
             WHERE channel = ?1 AND used_at IS NULL AND created_at <= ?2",
            params![channel, now],
        )?;
        tx.execute(
            "INSERT INTO pairing_lockouts (channel, user_id, locked_until) VALUES (?1, ?2, ?3) \
             ON CONFLICT (channel, user_id) DO UPDATE SET locked_until = excluded.locked_until",
            params![channel, WHOLE_CHANNEL, until],
        )?;
        tx.commit()?;
        Ok(revoked)
    }

    /// Until when pairing on the whole of `channel` is locked (its failure budget spent), if it
    /// is at `now`.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn channel_pairing_locked_until(
        &self,
        channel: &str,
        now: i64,
    ) -> Result<Option<i64>, StoreError> {
        self.pairing_locked_until(channel, WHOLE_CHANNEL, now)
    }

    /// Records a failed pairing attempt at `now`. When it makes `max_failures` inside the last
    /// `window_secs`, the user is locked out until `now + lockout_secs` and their failures are
    /// cleared (so the count starts again after the lockout). An empty `user_id` is counted but
    /// never locked out (its lockout row would be the whole channel's).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn record_pairing_failure(
        &self,
        channel: &str,
        user_id: &str,
        now: i64,
        window_secs: i64,
        max_failures: u32,
        lockout_secs: i64,
    ) -> Result<PairingFailure, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let since = now - window_secs;
        tx.execute(
            "DELETE FROM pairing_failures WHERE at <= ?1",
            params![since],
        )?;
        tx.execute(
            "DELETE FROM pairing_lockouts WHERE locked_until <= ?1",
            params![now],
        )?;
        tx.execute(
            "INSERT INTO pairing_failures (channel, user_id, at) VALUES (?1, ?2, ?3)",
            params![channel, user_id, now],
        )?;
        let count: i64 = tx.query_row(
            "SELECT COUNT(*) FROM pairing_failures WHERE channel = ?1 AND user_id = ?2 AND at > ?3",
            params![channel, user_id, since],
            |r| r.get(0),
        )?;
        let count = u32::try_from(count).unwrap_or(u32::MAX);
        let outcome = if count >= max_failures && user_id != WHOLE_CHANNEL {
            let until = now + lockout_secs;
            tx.execute(
                "INSERT INTO pairing_lockouts (channel, user_id, locked_until) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (channel, user_id) DO UPDATE SET locked_until = excluded.locked_until",
                params![channel, user_id, until],
            )?;
            tx.execute(
                "DELETE FROM pairing_failures WHERE channel = ?1 AND user_id = ?2",
                params![channel, user_id],
            )?;
            PairingFailure::LockedUntil(until)
        } else {
            PairingFailure::Counted(count)
        };
        tx.commit()?;
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn a_code_is_consumed_once_and_allowlists_its_user() {
        let s = Store::open_in_memory().unwrap();
        assert!(
            s.insert_pairing_code("telegram", "123456", 100, 400, 4)
                .unwrap()
        );
        let codes = s.active_pairing_codes("telegram", 100, 10).unwrap();
        assert_eq!(codes.len(), 1);
        assert!(
            s.active_pairing_codes("discord", 100, 10)
                .unwrap()
                .is_empty()
        );
        assert!(!s.channel_user_paired("telegram", "42").unwrap());
        assert!(
            s.consume_pairing_code(codes[0].id, "telegram", "42", 150)
                .unwrap()
        );
        assert!(
            !s.consume_pairing_code(codes[0].id, "telegram", "43", 151)
                .unwrap()
        );
        assert!(s.channel_user_paired("telegram", "42").unwrap());
        assert!(!s.channel_user_paired("telegram", "43").unwrap());
        assert!(!s.channel_user_paired("discord", "42").unwrap());
        assert_eq!(s.paired_users("telegram").unwrap(), vec!["42".to_owned()]);
        assert!(
            s.active_pairing_codes("telegram", 150, 10)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn an_expired_code_is_neither_listed_nor_consumed() {
        let s = Store::open_in_memory().unwrap();
        s.insert_pairing_code("telegram", "123456", 100, 400, 4)
            .unwrap();
        let id = s.active_pairing_codes("telegram", 100, 10).unwrap()[0].id;
        assert!(
            s.active_pairing_codes("telegram", 400, 10)
                .unwrap()
                .is_empty()
        );
        assert!(!s.consume_pairing_code(id, "telegram", "42", 400).unwrap());
        assert!(!s.consume_pairing_code(id, "discord", "42", 200).unwrap());
    }

    #[test]
    fn active_codes_per_channel_are_capped() {
        let s = Store::open_in_memory().unwrap();
        assert!(s.insert_pairing_code("t", "000001", 100, 400, 2).unwrap());
        assert!(s.insert_pairing_code("t", "000002", 100, 400, 2).unwrap());
        assert!(!s.insert_pairing_code("t", "000003", 100, 400, 2).unwrap());
        assert!(s.insert_pairing_code("t", "000003", 400, 700, 2).unwrap());
    }

    #[test]
    fn failures_lock_out_and_the_lockout_ends() {
        let s = Store::open_in_memory().unwrap();
        for i in 1..5 {
            assert_eq!(
                s.record_pairing_failure("t", "9", 100 + i64::from(i), 900, 5, 900)
                    .unwrap(),
                PairingFailure::Counted(i)
            );
        }
        assert_eq!(s.pairing_locked_until("t", "9", 105).unwrap(), None);
        assert_eq!(
            s.record_pairing_failure("t", "9", 105, 900, 5, 900)
                .unwrap(),
            PairingFailure::LockedUntil(1005)
        );
        assert_eq!(s.pairing_locked_until("t", "9", 1004).unwrap(), Some(1005));
        assert_eq!(s.pairing_locked_until("t", "8", 1004).unwrap(), None);
        assert_eq!(s.pairing_locked_until("t", "9", 1005).unwrap(), None);
        // Failures older than the window do not count.
        assert_eq!(
            s.record_pairing_failure("t", "7", 0, 900, 5, 900).unwrap(),
            PairingFailure::Counted(1)
        );
        assert_eq!(
            s.record_pairing_failure("t", "7", 2000, 900, 5, 900)
                .unwrap(),
            PairingFailure::Counted(1)
        );
    }

    #[test]
    fn a_locked_channel_revokes_its_codes_for_good_and_the_lock_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rampart.db");
        let s = Store::open(&path).unwrap();
        assert!(s.insert_pairing_code("t", "000001", 100, 400, 8).unwrap());
        assert!(s.insert_pairing_code("t", "000002", 150, 450, 8).unwrap());
        assert!(s.insert_pairing_code("d", "000003", 150, 450, 8).unwrap());
        let used = s.active_pairing_codes("t", 160, 8).unwrap()[0].id;
        assert!(s.consume_pairing_code(used, "t", "42", 160).unwrap());
        assert_eq!(s.channel_pairing_locked_until("t", 200).unwrap(), None);

        assert_eq!(s.lock_channel_pairing("t", 200, 1100).unwrap(), 1);
        // A code issued after the moment of spending is not revoked (it is refused while the
        // channel is locked, by the lock).
        assert!(s.insert_pairing_code("t", "000004", 201, 501, 8).unwrap());
        drop(s);

        // A restart: the lock and the revocation are in the file.
        let s = Store::open(&path).unwrap();
        assert_eq!(
            s.channel_pairing_locked_until("t", 1099).unwrap(),
            Some(1100)
        );
        assert_eq!(s.channel_pairing_locked_until("d", 1099).unwrap(), None);
        let live: Vec<String> = s
            .active_pairing_codes("t", 300, 8)
            .unwrap()
            .into_iter()
            .map(|r| r.code)
            .collect();
        assert_eq!(
            live,
            ["000004"],
            "the revoked code is gone, the later one lives"
        );
        assert_eq!(s.active_pairing_codes("d", 300, 8).unwrap().len(), 1);
        // The user the consumed code paired stays paired.
        assert!(s.channel_user_paired("t", "42").unwrap());
        // The lock ends; the revoked code stays dead.
        assert_eq!(s.channel_pairing_locked_until("t", 1100).unwrap(), None);
        assert!(s.active_pairing_codes("t", 1100, 8).unwrap().is_empty());
    }

    #[test]
    fn an_empty_user_id_cannot_write_the_channels_lock() {
        let s = Store::open_in_memory().unwrap();
        for i in 0..10 {
            assert!(matches!(
                s.record_pairing_failure("t", WHOLE_CHANNEL, 100 + i, 900, 5, 900)
                    .unwrap(),
                PairingFailure::Counted(_)
            ));
        }
        assert_eq!(s.channel_pairing_locked_until("t", 200).unwrap(), None);
    }
}
