//! # rampart-store
//!
//! Rampart's SQLite state (`$RAMPART_HOME/data/rampart.db`): agent sessions and their message
//! history, approvals and budget counters, pairing codes and the users they paired (allowlist
//! additions).
//!
//! - [`Store::open`] creates the file and migrates the schema (`PRAGMA user_version`), with WAL
//!   and a busy timeout; [`Store::open_in_memory`] is for tests.
//! - Sessions are keyed by `(agent, session id)`; one agent can never read another's session.
//! - [`Store::load_history`] repairs what it loads ([`repair`]): rows that do not parse and tool
//!   results without a matching call are quarantined, dangling tool calls are closed, so a corrupt
//!   row never wedges a session (SPEC R2).
//!
//! ## Trust assumptions
//! The database file is trusted not to be hostile (it lives in the user's home with the vault), but
//! not to be intact: anything read back is parsed, and what does not parse is repaired around.
//! Message contents (model and tool output) are untrusted data that the store only carries.
//!
//! ```
//! use rampart_store::{Message, SessionId, Store};
//!
//! let store = Store::open_in_memory()?;
//! let agent = "assistant".parse().unwrap();
//! let session = SessionId::generate()?;
//! store.ensure_session(&agent, &session)?;
//! store.append(&agent, &session, &[Message::user("hello"), Message::assistant("hi!")])?;
//! let history = store.load_history(&agent, &session)?;
//! assert_eq!(history.messages.len(), 2);
//! assert!(history.repair.is_clean());
//! # Ok::<(), rampart_store::StoreError>(())
//! ```

#![forbid(unsafe_code)]

mod channel_state;
mod error;
mod message;
mod peer_state;
mod policy_state;
pub mod repair;
mod session_id;
mod session_owner;
mod store;

pub use channel_state::{PairingCodeRow, PairingFailure};
pub use error::StoreError;
pub use message::{Message, ToolCallRequest};
pub use peer_state::PeerPin;
pub use policy_state::{ApprovalRow, ApprovalStatus, MAX_APPROVALS_LISTED};
pub use repair::RepairReport;
pub use session_id::{MAX_SESSION_ID_LEN, SessionId};
pub use session_owner::SessionClaim;
pub use store::{BUSY_TIMEOUT, History, MAX_HISTORY_ROWS, MAX_MESSAGE_BYTES, SessionInfo, Store};
