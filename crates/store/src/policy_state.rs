//! Policy state that must outlive a process: approvals (SPEC A7) and budget counters (R6, A6).
//!
//! The decisions themselves live in `rampart-policy`; this file only stores and atomically
//! updates what it decides on, so a restart neither forgets a pending approval nor resets a
//! user's daily token budget.

use rusqlite::{OptionalExtension, params};

use crate::{Store, StoreError};

/// The most approvals one listing returns (newest first).
///
/// # Security
/// The approvals table grows with every gated call an agent makes; a bound keeps one
/// `GET /api/approvals` from reading it all into memory.
pub const MAX_APPROVALS_LISTED: usize = 500;

pub(crate) const MIGRATION_2: &str = "CREATE TABLE approvals (
        id TEXT PRIMARY KEY,
        agent TEXT NOT NULL,
        session_id TEXT NOT NULL,
        tool TEXT NOT NULL,
        digest TEXT NOT NULL,
        arguments TEXT NOT NULL,
        reason TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        decided_at INTEGER
    ) WITHOUT ROWID;
    CREATE INDEX approvals_by_call ON approvals (agent, session_id, digest, status);
    CREATE TABLE counters (
        key TEXT PRIMARY KEY,
        value INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    ) WITHOUT ROWID;";

/// Where an approval stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApprovalStatus {
    /// Waiting for a human.
    Pending,
    /// Approved; the next identical call may run once.
    Approved,
    /// Refused by a human.
    Denied,
    /// Approved and then used by the call it was bound to.
    Used,
}

impl ApprovalStatus {
    /// The stored (and API) spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Used => "used",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "approved" => Self::Approved,
            "denied" => Self::Denied,
            "used" => Self::Used,
            _ => return None,
        })
    }
}

/// One stored approval.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApprovalRow {
    /// Random id (hex).
    pub id: String,
    /// The agent that asked.
    pub agent: String,
    /// The session it asked in.
    pub session_id: String,
    /// The tool.
    pub tool: String,
    /// Hex SHA-256 of the tool name and canonical arguments: what the approval is bound to.
    pub digest: String,
    /// The canonical arguments, for the human deciding.
    pub arguments: String,
    /// Why approval was needed (listed tool, tainted session…).
    pub reason: String,
    /// Where it stands (an expired approval keeps its status; expiry is checked on use).
    pub status: ApprovalStatus,
    /// Seconds since the Unix epoch.
    pub created_at: i64,
    /// Seconds since the Unix epoch; unusable from then on.
    pub expires_at: i64,
    /// When a human decided, if one did.
    pub decided_at: Option<i64>,
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ApprovalRow> {
    let status: String = r.get(7)?;
    Ok(ApprovalRow {
        id: r.get(0)?,
        agent: r.get(1)?,
        session_id: r.get(2)?,
        tool: r.get(3)?,
        digest: r.get(4)?,
        arguments: r.get(5)?,
        reason: r.get(6)?,
        // An unknown status (a newer build, or damage) is treated as closed: never as approved.
        status: ApprovalStatus::parse(&status).unwrap_or(ApprovalStatus::Denied),
        created_at: r.get(8)?,
        expires_at: r.get(9)?,
        decided_at: r.get(10)?,
    })
}

const COLUMNS: &str = "id, agent, session_id, tool, digest, arguments, reason, status, created_at, \
                       expires_at, decided_at";

impl Store {
    /// Stores a new approval.
    ///
    /// # Errors
    /// SQLite errors (a duplicate id is a constraint error).
    pub fn insert_approval(&self, a: &ApprovalRow) -> Result<(), StoreError> {
        self.conn().execute(
            &format!(
                "INSERT INTO approvals ({COLUMNS}) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)"
            ),
            params![
                a.id,
                a.agent,
                a.session_id,
                a.tool,
                a.digest,
                a.arguments,
                a.reason,
                a.status.as_str(),
                a.created_at,
                a.expires_at,
                a.decided_at
            ],
        )?;
        Ok(())
    }

    /// One approval by id.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn approval(&self, id: &str) -> Result<Option<ApprovalRow>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM approvals WHERE id = ?1"),
                params![id],
                row,
            )
            .optional()?)
    }

    /// Approvals, newest first, at most [`MAX_APPROVALS_LISTED`]; only pending ones when asked.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn list_approvals(&self, pending_only: bool) -> Result<Vec<ApprovalRow>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {COLUMNS} FROM approvals WHERE (?1 = 0 OR status = 'pending') \
             ORDER BY created_at DESC, id LIMIT ?2"
        ))?;
        let rows = stmt.query_map(
            params![
                i64::from(pending_only),
                i64::try_from(MAX_APPROVALS_LISTED).unwrap_or(i64::MAX)
            ],
            row,
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Moves an approval from `from` to `to` if it is still in `from` and unexpired at `now`
    /// (compare-and-set, so two deciders or two uses cannot both win). Returns whether it moved.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn transition_approval(
        &self,
        id: &str,
        from: ApprovalStatus,
        to: ApprovalStatus,
        now: i64,
    ) -> Result<bool, StoreError> {
        let n = self.conn().execute(
            "UPDATE approvals SET status = ?3, decided_at = COALESCE(decided_at, ?4) \
             WHERE id = ?1 AND status = ?2 AND expires_at > ?4",
            params![id, from.as_str(), to.as_str(), now],
        )?;
        Ok(n == 1)
    }

    /// Consumes the approved, unexpired approval bound to exactly this agent, session and digest,
    /// if there is one: it becomes `used` and its id is returned. Single use.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn consume_approval(
        &self,
        agent: &str,
        session_id: &str,
        digest: &str,
        now: i64,
    ) -> Result<Option<String>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let id: Option<String> = tx
            .query_row(
                "SELECT id FROM approvals WHERE agent = ?1 AND session_id = ?2 AND digest = ?3 \
                 AND status = 'approved' AND expires_at > ?4 ORDER BY created_at LIMIT 1",
                params![agent, session_id, digest, now],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(id) = &id {
            tx.execute(
                "UPDATE approvals SET status = 'used' WHERE id = ?1",
                params![id],
            )?;
        }
        tx.commit()?;
        Ok(id)
    }

    /// The pending, unexpired approval for exactly this call, if one is already waiting (so a
    /// retried call does not pile up duplicates).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn pending_approval(
        &self,
        agent: &str,
        session_id: &str,
        digest: &str,
        now: i64,
    ) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT id FROM approvals WHERE agent = ?1 AND session_id = ?2 AND digest = ?3 \
                 AND status = 'pending' AND expires_at > ?4 ORDER BY created_at LIMIT 1",
                params![agent, session_id, digest, now],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// The current value of a counter (0 when it was never touched).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn counter(&self, key: &str) -> Result<u64, StoreError> {
        let v: Option<i64> = self
            .conn()
            .query_row(
                "SELECT value FROM counters WHERE key = ?1",
                params![key],
                |r| r.get(0),
            )
            .optional()?;
        Ok(v.map_or(0, |v| u64::try_from(v).unwrap_or(0)))
    }

    /// Adds `amount` to a counter only if the result stays at or below `limit`; returns whether
    /// it did (atomic: concurrent callers cannot overshoot together).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn try_add_counter(
        &self,
        key: &str,
        amount: u64,
        limit: u64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let amount = i64::try_from(amount).unwrap_or(i64::MAX);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        if amount > limit {
            return Ok(false);
        }
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let cur: i64 = tx
            .query_row(
                "SELECT value FROM counters WHERE key = ?1",
                params![key],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0);
        if cur > limit - amount {
            return Ok(false);
        }
        tx.execute(
            "INSERT INTO counters (key, value, updated_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (key) DO UPDATE SET value = value + ?2, updated_at = ?3",
            params![key, amount, now],
        )?;
        tx.commit()?;
        Ok(true)
    }

    /// Adds `amount` to a counter without a limit (usage that already happened, such as tokens
    /// a provider reports); returns the new value.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn add_counter(&self, key: &str, amount: u64, now: i64) -> Result<u64, StoreError> {
        let amount = i64::try_from(amount).unwrap_or(i64::MAX);
        let v: i64 = self.conn().query_row(
            "INSERT INTO counters (key, value, updated_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (key) DO UPDATE SET value = min(value + ?2, 9223372036854775807), \
             updated_at = ?3 RETURNING value",
            params![key, amount, now],
            |r| r.get(0),
        )?;
        Ok(u64::try_from(v).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn approval(id: &str, expires_at: i64) -> ApprovalRow {
        ApprovalRow {
            id: id.into(),
            agent: "a".into(),
            session_id: "s".into(),
            tool: "shell_exec".into(),
            digest: "d1".into(),
            arguments: "{}".into(),
            reason: "listed".into(),
            status: ApprovalStatus::Pending,
            created_at: 0,
            expires_at,
            decided_at: None,
        }
    }

    #[test]
    fn approval_lifecycle_is_compare_and_set_and_single_use() {
        let s = Store::open_in_memory().unwrap();
        s.insert_approval(&approval("x", 100)).unwrap();
        assert_eq!(
            s.pending_approval("a", "s", "d1", 10).unwrap().as_deref(),
            Some("x")
        );
        assert_eq!(s.consume_approval("a", "s", "d1", 10).unwrap(), None);
        assert!(
            s.transition_approval("x", ApprovalStatus::Pending, ApprovalStatus::Approved, 10)
                .unwrap()
        );
        // A second decision loses.
        assert!(
            !s.transition_approval("x", ApprovalStatus::Pending, ApprovalStatus::Denied, 11)
                .unwrap()
        );
        assert_eq!(s.consume_approval("a", "s", "other", 12).unwrap(), None);
        assert_eq!(s.consume_approval("a", "t", "d1", 12).unwrap(), None);
        assert_eq!(
            s.consume_approval("a", "s", "d1", 12).unwrap().as_deref(),
            Some("x")
        );
        assert_eq!(s.consume_approval("a", "s", "d1", 13).unwrap(), None);
        assert_eq!(
            s.approval("x").unwrap().unwrap().status,
            ApprovalStatus::Used
        );
    }

    #[test]
    fn expired_approvals_cannot_be_decided_or_used() {
        let s = Store::open_in_memory().unwrap();
        s.insert_approval(&approval("y", 100)).unwrap();
        assert!(
            !s.transition_approval("y", ApprovalStatus::Pending, ApprovalStatus::Approved, 100)
                .unwrap()
        );
        assert_eq!(s.list_approvals(true).unwrap().len(), 1);
    }

    #[test]
    fn counters_never_pass_their_limit() {
        let s = Store::open_in_memory().unwrap();
        assert!(s.try_add_counter("k", 2, 3, 0).unwrap());
        assert!(s.try_add_counter("k", 1, 3, 0).unwrap());
        assert!(!s.try_add_counter("k", 1, 3, 0).unwrap());
        assert_eq!(s.counter("k").unwrap(), 3);
        assert_eq!(s.add_counter("t", 5, 0).unwrap(), 5);
        assert_eq!(s.add_counter("t", 5, 0).unwrap(), 10);
        assert!(!s.try_add_counter("big", u64::MAX, 3, 0).unwrap());
    }
}
