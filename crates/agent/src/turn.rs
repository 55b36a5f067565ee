//! The shapes that go into and come out of one turn.

use rampart_core::AgentName;
use rampart_store::SessionId;
use serde::Serialize;

use crate::provider::Usage;
use crate::tool::ToolCallRecord;

/// The largest user message accepted, in bytes.
///
/// # Security
/// User messages go to the model (cost) and the store with every later turn; the HTTP layer
/// limits bodies too, but the runtime does not rely on every front end doing so.
pub const MAX_USER_MESSAGE_BYTES: usize = 64 * 1024;

/// The most stored messages sent to the model as context (the latest ones, starting at a user
/// message).
///
/// # Security
/// Bounds the size and cost of every model call however long a session grows.
pub const MAX_CONTEXT_MESSAGES: usize = 200;

/// The default bound on model calls in one turn.
pub const DEFAULT_MAX_TURNS: usize = 8;

/// One user message for an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnRequest {
    /// The agent to talk to.
    pub agent: AgentName,
    /// The session to continue; a fresh random one is created when `None`. Validated: at most
    /// 256 characters from `[A-Za-z0-9_.:-]`.
    pub session_id: Option<String>,
    /// The user's message.
    pub message: String,
}

/// Why a turn ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StopReason {
    /// The model gave a final answer.
    Completed,
    /// The model was still calling tools after `max_turns` model calls; the reply says so.
    MaxTurns,
    /// A token budget (per session or per day) is spent; the reply says which.
    Budget,
}

/// The result of a turn: the contract's message reply (`POST /api/agents/{name}/message`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TurnOutcome {
    /// The final text.
    pub reply: String,
    /// The session (generated when the request had none).
    pub session_id: SessionId,
    /// Every tool call of this turn, in order.
    pub tool_calls: Vec<ToolCallRecord>,
    /// Tokens used by all model calls of this turn.
    pub usage: Usage,
    /// Why the turn ended.
    pub stop_reason: StopReason,
    /// True when the session is labelled as holding untrusted content (SPEC T7): while it is,
    /// `shell_exec` and fetches to new hosts need a human's approval.
    pub tainted: bool,
}

/// What a turn emits while it runs. Serializes as the contract's WebSocket frames:
/// `{"type":"delta","text":…}`, `{"type":"tool_call",…}`, `{"type":"tool_result",…}`,
/// `{"type":"reply",…}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum TurnEvent {
    /// A piece of streamed model text.
    Delta {
        /// The text.
        text: String,
    },
    /// The model asked for a tool call (sent before it is decided).
    ToolCall {
        /// The call id.
        id: String,
        /// The tool.
        name: String,
        /// The arguments.
        arguments: serde_json::Value,
    },
    /// A tool call was decided (and run, unless refused).
    ToolResult(ToolCallRecord),
    /// The turn is over; the same value `run_turn` returns.
    Reply(TurnOutcome),
}
