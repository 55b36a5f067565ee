//! Who a session belongs to. A client names its session (`session_id` on the HTTP fronts), so a
//! name alone must not open someone else's history: the first principal to use a session id
//! claims it, and from then on only that principal may read or extend it. The decision and its
//! audit live in the gateway; this file keeps the owners and makes check-and-claim one step.

use rusqlite::{OptionalExtension, params};

use rampart_core::AgentName;

use crate::{SessionId, Store, StoreError};

pub(crate) const MIGRATION_5: &str = "CREATE TABLE session_owners (
        agent TEXT NOT NULL,
        session_id TEXT NOT NULL,
        owner TEXT NOT NULL,
        claimed_at INTEGER NOT NULL,
        PRIMARY KEY (agent, session_id)
    ) WITHOUT ROWID;";

/// What [`Store::claim_session`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionClaim {
    /// The session was new; it now belongs to the caller.
    Claimed,
    /// The session belongs to the caller already.
    Owned,
    /// The session belongs to someone else.
    Foreign,
    /// The session exists but has no owner: a channel made it, or it predates owners. Nobody
    /// may claim it through a front that names sessions.
    Unowned,
}

impl SessionClaim {
    /// True when the caller may use the session.
    #[must_use]
    pub fn is_allowed(self) -> bool {
        matches!(self, Self::Claimed | Self::Owned)
    }
}

impl Store {
    /// Claims `(agent, id)` for `owner`, or tells who has it. Check and claim are one
    /// transaction, so two callers racing for a new id cannot both win.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn claim_session(
        &self,
        agent: &AgentName,
        id: &SessionId,
        owner: &str,
        now: i64,
    ) -> Result<SessionClaim, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let current: Option<String> = tx
            .query_row(
                "SELECT owner FROM session_owners WHERE agent = ?1 AND session_id = ?2",
                params![agent.as_str(), id.as_str()],
                |r| r.get(0),
            )
            .optional()?;
        let claim = match current {
            Some(o) if o == owner => SessionClaim::Owned,
            Some(_) => SessionClaim::Foreign,
            None => {
                let exists: Option<i64> = tx
                    .query_row(
                        "SELECT 1 FROM sessions WHERE agent = ?1 AND id = ?2",
                        params![agent.as_str(), id.as_str()],
                        |r| r.get(0),
                    )
                    .optional()?;
                if exists.is_some() {
                    SessionClaim::Unowned
                } else {
                    tx.execute(
                        "INSERT INTO session_owners (agent, session_id, owner, claimed_at) \
                         VALUES (?1, ?2, ?3, ?4)",
                        params![agent.as_str(), id.as_str(), owner, now],
                    )?;
                    SessionClaim::Claimed
                }
            }
        };
        tx.commit()?;
        Ok(claim)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn agent() -> AgentName {
        "assistant".parse().unwrap()
    }

    #[test]
    fn the_first_caller_owns_a_session_and_nobody_else_gets_it_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db");
        let id: SessionId = "work".parse().unwrap();
        let store = Store::open(&path).unwrap();
        assert_eq!(
            store.claim_session(&agent(), &id, "user:alice", 1).unwrap(),
            SessionClaim::Claimed
        );
        assert_eq!(
            store.claim_session(&agent(), &id, "user:alice", 2).unwrap(),
            SessionClaim::Owned
        );
        drop(store);
        let store = Store::open(&path).unwrap();
        let claim = store
            .claim_session(&agent(), &id, "user:mallory", 3)
            .unwrap();
        assert_eq!(claim, SessionClaim::Foreign);
        assert!(!claim.is_allowed());
        // The same name under another agent is another session.
        let other: AgentName = "other".parse().unwrap();
        assert_eq!(
            store.claim_session(&other, &id, "user:mallory", 4).unwrap(),
            SessionClaim::Claimed
        );
    }

    #[test]
    fn a_session_made_without_an_owner_cannot_be_claimed() {
        let store = Store::open_in_memory().unwrap();
        let id: SessionId = "ch-telegram-00ff".parse().unwrap();
        store.ensure_session(&agent(), &id).unwrap();
        let claim = store
            .claim_session(&agent(), &id, "user:mallory", 1)
            .unwrap();
        assert_eq!(claim, SessionClaim::Unowned);
        assert!(!claim.is_allowed());
    }

    #[test]
    fn deleting_an_agent_forgets_its_owners() {
        let store = Store::open_in_memory().unwrap();
        let id: SessionId = "work".parse().unwrap();
        store.claim_session(&agent(), &id, "user:alice", 1).unwrap();
        store.ensure_session(&agent(), &id).unwrap();
        store.delete_agent(&agent()).unwrap();
        assert_eq!(
            store.claim_session(&agent(), &id, "user:bob", 2).unwrap(),
            SessionClaim::Claimed
        );
    }
}
