//! The SQLite handle: opening, migrations, sessions and their messages.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rampart_core::AgentName;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, params};

use crate::repair::{QuarantinedRow, RepairReport, repair};
use crate::{Message, SessionId, StoreError};

/// The largest single message the store accepts, JSON-encoded.
///
/// # Security
/// Messages carry model output and tool output, both untrusted. The agent runtime caps them far
/// below this; the store's own bound keeps one runaway caller from writing gigabyte rows.
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;

/// The most recent rows of a session loaded as its history.
///
/// # Security
/// A session grows with every turn; loading a bounded window keeps each turn's cost bounded no
/// matter how long a session has lived (older rows stay on disk).
pub const MAX_HISTORY_ROWS: usize = 2000;

/// How long a writer waits for SQLite's lock before failing with "busy".
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The schema this build creates and understands (`PRAGMA user_version`).
const SCHEMA_VERSION: i64 = 5;

const MIGRATIONS: &[&str] = &[
    // 0 -> 1: sessions, messages, quarantine.
    "CREATE TABLE sessions (
        agent TEXT NOT NULL,
        id TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (agent, id)
    ) WITHOUT ROWID;
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        agent TEXT NOT NULL,
        session_id TEXT NOT NULL,
        body TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        FOREIGN KEY (agent, session_id) REFERENCES sessions (agent, id) ON DELETE CASCADE
    );
    CREATE INDEX messages_by_session ON messages (agent, session_id, id);
    CREATE TABLE quarantine (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        agent TEXT NOT NULL,
        session_id TEXT NOT NULL,
        body TEXT NOT NULL,
        reason TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );",
    // 1 -> 2: approvals (SPEC A7) and budget counters (R6, A6), see `policy_state`.
    crate::policy_state::MIGRATION_2,
    // 2 -> 3: pairing codes, allowlist additions, pairing failures and lockouts (SPEC P1, P2).
    crate::channel_state::MIGRATION_3,
    // 3 -> 4: peer identity pins (SPEC O2), see `peer_state`.
    crate::peer_state::MIGRATION_4,
    // 4 -> 5: who each client-named session belongs to, see `session_owner`.
    crate::session_owner::MIGRATION_5,
];

/// Facts about one session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionInfo {
    /// The session id.
    pub id: SessionId,
    /// Creation time, seconds since the Unix epoch.
    pub created_at: i64,
    /// Time of the last append, seconds since the Unix epoch.
    pub updated_at: i64,
}

/// A session's history, after repair.
#[derive(Clone, Debug, PartialEq)]
pub struct History {
    /// The messages, oldest first; always sound (every tool call answered exactly once).
    pub messages: Vec<Message>,
    /// What repair changed (already written back to the database).
    pub repair: RepairReport,
}

/// A handle to Rampart's SQLite database. Cloning is cheap and shares one connection.
///
/// The API is synchronous; async callers run it in `tokio::task::spawn_blocking`. Every call takes
/// the connection's mutex for its duration, so calls are serialized and each multi-row change is
/// one transaction.
#[derive(Clone, Debug)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
}

impl Store {
    /// Opens (creating if needed) the database at `path`, its parent directory, and migrates the
    /// schema. Enables WAL and a busy timeout.
    ///
    /// # Errors
    /// I/O or SQLite errors, or [`StoreError::SchemaTooNew`].
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Self::init(conn)
    }

    /// Opens a private in-memory database (for tests and the demo).
    ///
    /// # Errors
    /// SQLite errors.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(mut conn: Connection) -> Result<Self, StoreError> {
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.pragma_update(None, "foreign_keys", true)?;
        let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                found,
                supported: SCHEMA_VERSION,
            });
        }
        let tx = conn.transaction()?;
        for (i, sql) in MIGRATIONS
            .iter()
            .enumerate()
            .skip(usize::try_from(found).unwrap_or(0))
        {
            tx.execute_batch(sql)?;
            tx.pragma_update(
                None,
                "user_version",
                i64::try_from(i + 1).unwrap_or(i64::MAX),
            )?;
        }
        tx.commit()?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a half-applied change behind: every
        // multi-statement change is a transaction that rolls back when dropped.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Creates the session if it does not exist. Returns true when it was created.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn ensure_session(&self, agent: &AgentName, id: &SessionId) -> Result<bool, StoreError> {
        let now = now();
        let n = self.conn().execute(
            "INSERT OR IGNORE INTO sessions (agent, id, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)",
            params![agent.as_str(), id.as_str(), now],
        )?;
        Ok(n == 1)
    }

    /// The session, if it exists.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn session(
        &self,
        agent: &AgentName,
        id: &SessionId,
    ) -> Result<Option<SessionInfo>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT created_at, updated_at FROM sessions WHERE agent = ?1 AND id = ?2",
                params![agent.as_str(), id.as_str()],
                |r| {
                    Ok(SessionInfo {
                        id: id.clone(),
                        created_at: r.get(0)?,
                        updated_at: r.get(1)?,
                    })
                },
            )
            .optional()?)
    }

    /// All sessions of an agent, most recently updated first.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn list_sessions(&self, agent: &AgentName) -> Result<Vec<SessionInfo>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, created_at, updated_at FROM sessions WHERE agent = ?1 ORDER BY updated_at DESC, id",
        )?;
        let rows = stmt.query_map(params![agent.as_str()], |r| {
            Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, created_at, updated_at) = row?;
            // Ids were validated on the way in; skip anything that was not (hand-edited files).
            if let Ok(id) = id.parse() {
                out.push(SessionInfo {
                    id,
                    created_at,
                    updated_at,
                });
            }
        }
        Ok(out)
    }

    /// Appends messages to a session's history, in order, in one transaction.
    ///
    /// # Errors
    /// [`StoreError::SessionNotFound`], [`StoreError::MessageTooLarge`], SQLite errors.
    pub fn append(
        &self,
        agent: &AgentName,
        id: &SessionId,
        messages: &[Message],
    ) -> Result<(), StoreError> {
        let bodies = messages
            .iter()
            .map(|m| {
                let body = serde_json::to_string(m)?;
                if body.len() > MAX_MESSAGE_BYTES {
                    return Err(StoreError::MessageTooLarge {
                        size: body.len(),
                        limit: MAX_MESSAGE_BYTES,
                    });
                }
                Ok(body)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let now = now();
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let touched = tx.execute(
            "UPDATE sessions SET updated_at = ?3 WHERE agent = ?1 AND id = ?2",
            params![agent.as_str(), id.as_str(), now],
        )?;
        if touched == 0 {
            return Err(StoreError::SessionNotFound);
        }
        {
            let mut stmt = tx.prepare(
                "INSERT INTO messages (agent, session_id, body, created_at) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for body in &bodies {
                stmt.execute(params![agent.as_str(), id.as_str(), body, now])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Loads the session's history (its latest [`MAX_HISTORY_ROWS`] rows), repairing it when rows
    /// do not parse or tool results do not match tool calls (see [`crate::repair`]). Repairs are
    /// written back in the same transaction, and removed rows are kept in the quarantine table.
    ///
    /// # Errors
    /// [`StoreError::SessionNotFound`], SQLite errors.
    pub fn load_history(&self, agent: &AgentName, id: &SessionId) -> Result<History, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let exists: Option<i64> = tx
            .query_row(
                "SELECT 1 FROM sessions WHERE agent = ?1 AND id = ?2",
                params![agent.as_str(), id.as_str()],
                |r| r.get(0),
            )
            .optional()?;
        if exists.is_none() {
            return Err(StoreError::SessionNotFound);
        }
        let mut rows: Vec<(i64, String)> = {
            let mut stmt = tx.prepare(
                "SELECT id, body FROM messages WHERE agent = ?1 AND session_id = ?2
                 ORDER BY id DESC LIMIT ?3",
            )?;
            let limit = i64::try_from(MAX_HISTORY_ROWS).unwrap_or(i64::MAX);
            stmt.query_map(params![agent.as_str(), id.as_str(), limit], |r| {
                // Whatever the column holds (a blob, invalid UTF-8, a number) is read as text;
                // repair decides whether it is a message.
                let body = match r.get_ref(1)? {
                    ValueRef::Text(b) | ValueRef::Blob(b) => {
                        String::from_utf8_lossy(b).into_owned()
                    }
                    ValueRef::Integer(i) => i.to_string(),
                    ValueRef::Real(f) => f.to_string(),
                    ValueRef::Null => String::new(),
                };
                Ok((r.get(0)?, body))
            })?
            .collect::<Result<_, _>>()?
        };
        rows.reverse();
        if rows.len() == MAX_HISTORY_ROWS {
            // The window starts mid-conversation: begin at its first user message so the leading
            // tool results of a cut-off exchange are not mistaken for orphans.
            let start = rows
                .iter()
                .position(|(_, b)| {
                    serde_json::from_str::<Message>(b)
                        .is_ok_and(|m| matches!(m, Message::User { .. }))
                })
                .unwrap_or(rows.len());
            rows.drain(..start);
        }
        let (messages, report) = repair(&rows);
        if !report.is_clean() {
            write_back(&tx, agent, id, &rows, &messages, &report)?;
            tx.commit()?;
        }
        Ok(History {
            messages,
            repair: report,
        })
    }

    /// Rows quarantined by repair for this session: `(reason, original body)`, oldest first.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn quarantined(
        &self,
        agent: &AgentName,
        id: &SessionId,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT reason, body FROM quarantine WHERE agent = ?1 AND session_id = ?2 ORDER BY id",
        )?;
        let rows = stmt
            .query_map(params![agent.as_str(), id.as_str()], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Deletes every session of an agent, their messages and quarantined rows. Returns how many
    /// sessions were deleted.
    ///
    /// # Errors
    /// SQLite errors.
    pub fn delete_agent(&self, agent: &AgentName) -> Result<usize, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "DELETE FROM messages WHERE agent = ?1",
            params![agent.as_str()],
        )?;
        tx.execute(
            "DELETE FROM quarantine WHERE agent = ?1",
            params![agent.as_str()],
        )?;
        tx.execute(
            "DELETE FROM session_owners WHERE agent = ?1",
            params![agent.as_str()],
        )?;
        let n = tx.execute(
            "DELETE FROM sessions WHERE agent = ?1",
            params![agent.as_str()],
        )?;
        tx.commit()?;
        Ok(n)
    }

    /// Runs `f` on the raw connection. For tests in this crate and for the schema's future owners
    /// (pairings, approvals) until they get typed methods.
    #[cfg(test)]
    pub(crate) fn with_conn<T>(&self, f: impl FnOnce(&Connection) -> T) -> T {
        f(&self.conn())
    }
}

fn write_back(
    tx: &rusqlite::Transaction<'_>,
    agent: &AgentName,
    id: &SessionId,
    rows: &[(i64, String)],
    messages: &[Message],
    report: &RepairReport,
) -> Result<(), StoreError> {
    let now = now();
    for QuarantinedRow { row_id, reason } in &report.quarantined {
        let body = rows
            .iter()
            .find(|(r, _)| r == row_id)
            .map(|(_, b)| b.as_str())
            .unwrap_or_default();
        tx.execute(
            "INSERT INTO quarantine (agent, session_id, body, reason, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![agent.as_str(), id.as_str(), body, reason, now],
        )?;
    }
    let first = rows.first().map_or(i64::MAX, |(r, _)| *r);
    tx.execute(
        "DELETE FROM messages WHERE agent = ?1 AND session_id = ?2 AND id >= ?3",
        params![agent.as_str(), id.as_str(), first],
    )?;
    let mut stmt = tx.prepare(
        "INSERT INTO messages (agent, session_id, body, created_at) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for m in messages {
        stmt.execute(params![
            agent.as_str(),
            id.as_str(),
            serde_json::to_string(m)?,
            now
        ])?;
    }
    Ok(())
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ToolCallRequest;

    fn agent(s: &str) -> AgentName {
        s.parse().unwrap()
    }

    #[test]
    fn append_and_load_in_order() {
        let store = Store::open_in_memory().unwrap();
        let a = agent("bot");
        let s = SessionId::generate().unwrap();
        assert!(store.ensure_session(&a, &s).unwrap());
        assert!(!store.ensure_session(&a, &s).unwrap());
        let msgs = vec![
            Message::user("one"),
            Message::assistant("two"),
            Message::user("three"),
        ];
        store.append(&a, &s, &msgs[..2]).unwrap();
        store.append(&a, &s, &msgs[2..]).unwrap();
        let h = store.load_history(&a, &s).unwrap();
        assert_eq!(h.messages, msgs);
        assert!(h.repair.is_clean());
    }

    #[test]
    fn sessions_are_scoped_per_agent() {
        let store = Store::open_in_memory().unwrap();
        let s: SessionId = "shared".parse().unwrap();
        store.ensure_session(&agent("a"), &s).unwrap();
        store
            .append(&agent("a"), &s, &[Message::user("secret of a")])
            .unwrap();
        assert!(matches!(
            store.load_history(&agent("b"), &s),
            Err(StoreError::SessionNotFound)
        ));
        assert!(matches!(
            store.append(&agent("b"), &s, &[Message::user("x")]),
            Err(StoreError::SessionNotFound)
        ));
    }

    #[test]
    fn oversized_message_is_refused() {
        let store = Store::open_in_memory().unwrap();
        let (a, s) = (agent("a"), SessionId::generate().unwrap());
        store.ensure_session(&a, &s).unwrap();
        let big = Message::user("x".repeat(MAX_MESSAGE_BYTES));
        assert!(matches!(
            store.append(&a, &s, &[big]),
            Err(StoreError::MessageTooLarge { .. })
        ));
        assert!(store.load_history(&a, &s).unwrap().messages.is_empty());
    }

    #[test]
    fn corrupt_rows_are_repaired_quarantined_and_written_back() {
        let store = Store::open_in_memory().unwrap();
        let (a, s) = (agent("a"), SessionId::generate().unwrap());
        store.ensure_session(&a, &s).unwrap();
        store
            .append(
                &a,
                &s,
                &[
                    Message::user("time?"),
                    Message::Assistant {
                        content: String::new(),
                        tool_calls: vec![ToolCallRequest {
                            id: "c1".into(),
                            name: "clock".into(),
                            arguments: serde_json::json!({}),
                        }],
                    },
                ],
            )
            .unwrap();
        // Corrupt rows written behind the store's back: garbage, a blob, an orphan tool result.
        store.with_conn(|c| {
            for body in [
                "\u{0}garbage".to_owned(),
                r#"{"role":"tool","tool_call_id":"zz","name":"clock","content":"x"}"#.to_owned(),
            ] {
                c.execute(
                    "INSERT INTO messages (agent, session_id, body, created_at) VALUES (?1, ?2, ?3, 0)",
                    params![a.as_str(), s.as_str(), body],
                )
                .unwrap();
            }
            c.execute(
                "INSERT INTO messages (agent, session_id, body, created_at) VALUES (?1, ?2, ?3, 0)",
                params![a.as_str(), s.as_str(), vec![0xffu8, 0xfe]],
            )
            .unwrap();
        });
        let h = store.load_history(&a, &s).unwrap();
        assert_eq!(h.repair.quarantined.len(), 3, "{:?}", h.repair);
        assert_eq!(h.repair.closed_tool_calls, 1);
        assert_eq!(h.messages.len(), 3);
        assert!(
            matches!(&h.messages[2], Message::Tool { tool_call_id, is_error: true, .. } if tool_call_id == "c1")
        );
        assert_eq!(store.quarantined(&a, &s).unwrap().len(), 3);
        // Written back: a second load is clean and identical.
        let again = store.load_history(&a, &s).unwrap();
        assert!(again.repair.is_clean());
        assert_eq!(again.messages, h.messages);
    }

    #[test]
    fn history_persists_across_reopen_and_delete_agent_removes_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data/rampart.db");
        let (a, s) = (agent("a"), SessionId::generate().unwrap());
        {
            let store = Store::open(&path).unwrap();
            store.ensure_session(&a, &s).unwrap();
            store
                .append(&a, &s, &[Message::user("remember me")])
                .unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(
            store.load_history(&a, &s).unwrap().messages,
            vec![Message::user("remember me")]
        );
        assert_eq!(store.list_sessions(&a).unwrap().len(), 1);
        assert_eq!(store.delete_agent(&a).unwrap(), 1);
        assert!(store.session(&a, &s).unwrap().is_none());
        assert!(store.list_sessions(&a).unwrap().is_empty());
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db");
        {
            let c = Connection::open(&path).unwrap();
            c.pragma_update(None, "user_version", 99).unwrap();
        }
        assert!(matches!(
            Store::open(&path),
            Err(StoreError::SchemaTooNew { found: 99, .. })
        ));
    }

    #[test]
    fn long_sessions_load_a_bounded_window_without_false_repairs() {
        let store = Store::open_in_memory().unwrap();
        let (a, s) = (agent("a"), SessionId::generate().unwrap());
        store.ensure_session(&a, &s).unwrap();
        let mut batch = Vec::new();
        for i in 0..(MAX_HISTORY_ROWS / 3 + 5) {
            batch.push(Message::user(format!("q{i}")));
            batch.push(Message::Assistant {
                content: String::new(),
                tool_calls: vec![ToolCallRequest {
                    id: format!("c{i}"),
                    name: "clock".into(),
                    arguments: serde_json::json!({}),
                }],
            });
            batch.push(Message::Tool {
                tool_call_id: format!("c{i}"),
                name: "clock".into(),
                content: "t".into(),
                is_error: false,
            });
        }
        store.append(&a, &s, &batch).unwrap();
        let h = store.load_history(&a, &s).unwrap();
        assert!(h.repair.is_clean(), "{:?}", h.repair);
        assert!(h.messages.len() <= MAX_HISTORY_ROWS);
        assert!(matches!(h.messages[0], Message::User { .. }));
        assert_eq!(h.messages.last(), batch.last());
    }
}
