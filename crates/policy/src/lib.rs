//! # rampart-policy
//!
//! "May this agent make this call now?" — every decision Rampart takes about an agent's actions
//! beyond its static tool list lives here, as plain values and one [`Policy`]:
//!
//! - [`Grant`] and [`derive_child`] (SPEC A6): capabilities as a value that only shrinks. A child
//!   of `agent_spawn` gets the intersection of what it asks for with its parent's grant, computed
//!   in this one function for every spawn path, spawns by children included, with a depth bound.
//! - Approvals (A7): tools in `[security] approval_required` (default `shell_exec`) get an
//!   approval id bound to the SHA-256 of the exact tool name and canonical arguments
//!   ([`canonical::call_digest`]), expiring after `approval_ttl_secs` on an injectable [`Clock`].
//!   An approved call runs once; different arguments need a new approval.
//! - The loop guard (T5): identical calls and A/B/A/B ping-pong warn, then block; a session that
//!   keeps tripping it is cut off by a circuit breaker.
//! - Budgets (R6, A6): tokens per session and per agent per UTC day, tool calls, shell commands
//!   and file writes per session, as counters in SQLite so a new session or a restart resets
//!   nothing it should not.
//! - Taint (T7): output of untrusted sources (`web_fetch`, `file_read`, …) labels the session;
//!   while labelled, `shell_exec` and fetches to hosts not reached before need approval.
//!
//! ## Trust assumptions
//! Tool names and arguments come from the model and are hostile; they are only hashed,
//! compared and stored, never interpreted here. The store is trusted to be Rampart's own; an
//! unreadable counter fails closed (a session whose taint flag cannot be read counts as
//! tainted). Decisions by humans arrive through the admin API, which authenticates them.
//!
//! ## Example
//! ```
//! use std::sync::Arc;
//! use rampart_policy::{Call, Grant, ManualClock, NetworkGrant, Policy, PolicyConfig, Verdict};
//! use rampart_store::Store;
//! use serde_json::json;
//!
//! let clock = Arc::new(ManualClock::new(1_000));
//! let policy = Policy::new(PolicyConfig::default(), Store::open_in_memory()?, clock.clone());
//! let agent = "ops".parse().unwrap();
//! let grant = Grant {
//!     tools: ["shell_exec".to_owned()].into(),
//!     max_shell_commands: 5,
//!     max_file_writes: 0,
//!     network: NetworkGrant::AnyPublic,
//!     shell_network: false,
//!     depth: 0,
//! };
//! let echo_a = json!({"command": "echo a"});
//! let call = Call { agent: &agent, session: "s1", tool: "shell_exec", args: &echo_a, grant: &grant };
//! let Verdict::ApprovalRequired { approval_id, .. } = policy.check(&call)? else { panic!() };
//! policy.decide(&approval_id, true, "alice")?;
//!
//! // The approval covers exactly `echo a`, once.
//! let echo_b = json!({"command": "echo b"});
//! let other = Call { args: &echo_b, ..call };
//! assert!(matches!(policy.check(&other)?, Verdict::ApprovalRequired { .. }));
//! assert!(matches!(policy.check(&call)?, Verdict::Allow { .. }));
//! assert!(matches!(policy.check(&call)?, Verdict::ApprovalRequired { .. }));
//! # Ok::<(), rampart_policy::PolicyError>(())
//! ```

#![forbid(unsafe_code)]

pub mod canonical;
mod clock;
mod engine;
mod error;
mod grant;
mod loop_guard;
mod taint;

pub use clock::{Clock, ManualClock, SystemClock};
pub use engine::{
    BudgetLimits, Call, DEFAULT_APPROVAL_TTL_SECS, FILE_WRITE_TOOLS, MAX_TRACKED_SESSIONS, Policy,
    PolicyConfig, SHELL_TOOLS, Verdict,
};
pub use error::PolicyError;
pub use grant::{
    Grant, MAX_SPAWN_DEPTH, NETWORK_TOOLS, NetworkGrant, PLUGIN_TOOL_SEPARATOR, SpawnRefusal,
    derive_child, reaches_network,
};
pub use loop_guard::{LOOP_WINDOW, LoopGuardConfig, LoopVerdict, SessionLoop};
pub use rampart_store::{ApprovalRow, ApprovalStatus};
pub use taint::{MAX_SEEN_HOSTS, MAX_TAINT_SOURCES, SessionTaint, url_host};
