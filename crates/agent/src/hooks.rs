//! Where later layers plug into the loop: one pre-call policy hook and one observer.
//!
//! - [`ToolPolicy`] is asked before every tool call that passed the capability check. The policy
//!   layer (budgets A6, approvals A7, loop guard T5, taint T7) implements it; the default allows.
//! - [`TurnObserver`] sees every model call and tool call after the fact. The audit trail (D2)
//!   implements it; the default does nothing.
//!
//! Both are handed to the runtime in `RuntimeOptions`, never reached through a global.

use std::fmt;
use std::time::Duration;

use rampart_core::AgentName;
use rampart_store::{RepairReport, SessionId, ToolCallRequest};

use crate::provider::{ProviderError, Usage};
use crate::tool::{ToolCallRecord, ToolContext, ToolRisk};

/// A policy's answer for one tool call.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicyDecision {
    /// Run it.
    Allow,
    /// Refuse it (status `denied`), with the reason shown to the model and client.
    Deny(String),
    /// Hold it until a human approves (status `approval_required`).
    ApprovalRequired {
        /// The id the approval API uses.
        approval_id: String,
    },
    /// Refuse it because a guard tripped (status `blocked`: loop guard, budget).
    Block(String),
    /// Run it, and show the model this warning with the result (the loop guard's first
    /// repeats).
    AllowWithWarning(String),
}

/// The pre-call hook. Called after the capability check, before the tool runs.
#[async_trait::async_trait]
pub trait ToolPolicy: Send + Sync {
    /// Decides one call.
    async fn check(
        &self,
        ctx: &ToolContext,
        call: &ToolCallRequest,
        risk: ToolRisk,
    ) -> PolicyDecision;

    /// Told how a call ended (after it ran or was refused), so the policy can label the session
    /// (taint, SPEC T7). The default does nothing. Must be quick and must not fail.
    fn after_call(&self, _ctx: &ToolContext, _call: &ToolCallRequest, _record: &ToolCallRecord) {}

    /// True when the session carries the taint label (its content came from untrusted sources).
    /// The default: never.
    fn tainted(&self, _agent: &AgentName, _session_id: &SessionId) -> bool {
        false
    }

    /// Asked before every model call: `Err(reason)` ends the turn instead (token budgets per
    /// session and per day, SPEC R6). The default admits every call.
    ///
    /// # Errors
    /// The reason the call is refused.
    fn admit_model_call(&self, _agent: &AgentName, _session_id: &SessionId) -> Result<(), String> {
        Ok(())
    }

    /// Told the tokens each model call used, to count them against the budgets.
    fn record_usage(&self, _agent: &AgentName, _session_id: &SessionId, _usage: Usage) {}
}

/// The default policy: capabilities alone decide (everything that passed them is allowed).
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAll;

#[async_trait::async_trait]
impl ToolPolicy for AllowAll {
    async fn check(&self, _: &ToolContext, _: &ToolCallRequest, _: ToolRisk) -> PolicyDecision {
        PolicyDecision::Allow
    }
}

/// Something the loop did, for the observer.
#[derive(Debug)]
#[non_exhaustive]
pub enum Observed<'a> {
    /// One model call finished (successfully or not).
    ModelCall {
        /// The agent.
        agent: &'a AgentName,
        /// The session.
        session_id: &'a SessionId,
        /// The configured provider's name.
        provider: &'a str,
        /// The model id.
        model: &'a str,
        /// Tokens used (zero on failure).
        usage: Usage,
        /// The failure, if any.
        error: Option<&'a ProviderError>,
        /// How long the call took.
        elapsed: Duration,
    },
    /// One tool call was decided and (unless refused) run.
    ToolCall {
        /// The call's context.
        ctx: &'a ToolContext,
        /// What the model asked for.
        call: &'a ToolCallRequest,
        /// The tool's risk, when the tool exists.
        risk: Option<ToolRisk>,
        /// What happened.
        record: &'a ToolCallRecord,
        /// How long the call took.
        elapsed: Duration,
    },
    /// A session's stored history had to be repaired before the turn.
    SessionRepaired {
        /// The agent.
        agent: &'a AgentName,
        /// The session.
        session_id: &'a SessionId,
        /// What changed.
        report: &'a RepairReport,
    },
}

/// The observer hook. Must be quick and must not fail the turn (it is called inline).
pub trait TurnObserver: Send + Sync {
    /// Called for every observed action.
    fn observe(&self, event: &Observed<'_>);
}

/// The default observer: does nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopObserver;

impl TurnObserver for NoopObserver {
    fn observe(&self, _: &Observed<'_>) {}
}

/// The outbound hook: redacts what leaves the process through the agent loop (SPEC L2). Applied
/// to every provider request (system prompt, messages, tool-call arguments in the history) and to
/// the arguments of every tool call before the tool sees them. The credential's own header is
/// never passed through it (providers add that after). The leak guard implements it; the default
/// changes nothing.
pub trait OutboundFilter: Send + Sync {
    /// Redacts `text` bound for `destination` (`llm_request`, `tool_args`) in place.
    fn text(&self, destination: &str, text: &mut String);
    /// Redacts every string inside `value` bound for `destination` in place.
    fn json(&self, destination: &str, value: &mut serde_json::Value);
}

/// The default outbound filter: changes nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct PassThrough;

impl OutboundFilter for PassThrough {
    fn text(&self, _: &str, _: &mut String) {}
    fn json(&self, _: &str, _: &mut serde_json::Value) {}
}

impl fmt::Debug for dyn OutboundFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OutboundFilter")
    }
}

impl fmt::Debug for dyn ToolPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ToolPolicy")
    }
}

impl fmt::Debug for dyn TurnObserver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TurnObserver")
    }
}
