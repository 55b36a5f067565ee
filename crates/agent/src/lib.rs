//! # rampart-agent
//!
//! The agent runtime that every Rampart front end (HTTP, WebSocket, channels, the
//! OpenAI-compatible endpoint) drives, and that the security layers wrap:
//!
//! - [`AgentManifest`]: an agent's definition (`agents/NAME/agent.toml`), parsed strictly —
//!   unknown keys are errors that name the key; every capability defaults to "none".
//! - [`Runtime::run_turn`]: the one agent loop. user message → model → tool calls → tool results →
//!   model … → reply, bounded by `max_turns`, history persisted per session in the
//!   [`rampart_store::Store`] (and repaired when corrupt). Streaming and non-streaming are the
//!   same state machine: the optional event channel only observes ([`TurnEvent`]).
//! - [`provider`]: OpenAI-compatible chat completions and Anthropic messages (both with tool
//!   calling, JSON and SSE streaming) and the deterministic offline `scripted` provider.
//! - [`tool`]: the [`Tool`] trait and the [`ToolRegistry`], which checks capabilities (SPEC A6),
//!   asks the policy hook, runs the tool, caps its output (T6) and tells the observer — once,
//!   around every call. The built-in `clock` tool proves the loop.
//! - [`hooks`]: where later layers plug in — [`ToolPolicy`] before each tool call, and
//!   [`TurnObserver`] after each model and tool call (the audit trail). [`PolicyHook`] is the
//!   policy hook over `rampart_policy::Policy`.
//!
//! ## Trust assumptions
//! Model output (text, tool names, arguments, ids) is untrusted: it is parsed into bounded
//! types, and a tool call runs only if the agent's capabilities name the tool. Provider responses
//! are size-capped and time-bounded; redirects are never followed; errors never carry a response
//! body or an API key. Manifests from the API are untrusted until parsed. `$RAMPART_HOME` itself
//! is trusted.
//!
//! ## Example
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use rampart_agent::{
//!     AgentManifest, ProviderKind, ProviderSpec, Runtime, RuntimeOptions, ToolStatus, TurnRequest,
//! };
//! use rampart_store::Store;
//!
//! let home = tempfile::tempdir()?;
//! let mut opts = RuntimeOptions::new(home.path(), Store::open_in_memory()?);
//! opts.providers.insert(
//!     "default".into(),
//!     ProviderSpec { kind: ProviderKind::Scripted, base_url: None, api_key: None },
//! );
//! let runtime = Runtime::new(opts)?;
//! runtime
//!     .create_agent(AgentManifest::parse(
//!         "name = \"assistant\"\nmodel = \"default/scripted\"\n[capabilities]\ntools = [\"clock\"]\n",
//!     )?)
//!     .await?;
//!
//! let out = runtime
//!     .run_turn(
//!         TurnRequest {
//!             agent: "assistant".parse()?,
//!             session_id: None,
//!             message: "What time is it?".into(),
//!         },
//!         None,
//!     )
//!     .await?;
//! assert_eq!(out.tool_calls[0].name, "clock");
//! assert_eq!(out.tool_calls[0].status, ToolStatus::Ok);
//! assert!(out.reply.starts_with("The clock tool says: "));
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

mod error;
pub mod hooks;
mod manifest;
mod policy;
pub mod provider;
mod runtime;
pub mod tool;
mod turn;

pub use error::AgentError;
pub use hooks::{Observed, OutboundFilter, PassThrough, PolicyDecision, ToolPolicy, TurnObserver};
pub use manifest::{
    AgentManifest, Capabilities, MAX_CAPABILITY_ENTRIES, MAX_MANIFEST_BYTES, MAX_NAME_FIELD_LEN,
    MAX_SYSTEM_PROMPT_BYTES, ManifestError,
};
pub use policy::{PolicyHook, capabilities_of, grant_of};
pub use provider::{ProviderError, ProviderKind, ProviderSpec, Usage};
pub use runtime::{Runtime, RuntimeOptions};
pub use tool::{
    FileOp, FileTool, PeerMessenger, PeerSendTool, ShellBackend, ShellOptions, ShellTool,
    SpawnTool, Tool, ToolCallRecord, ToolContext, ToolError, ToolOutput, ToolRegistry, ToolRisk,
    ToolStatus, WebFetchTool,
};
pub use turn::{
    DEFAULT_MAX_TURNS, MAX_CONTEXT_MESSAGES, MAX_USER_MESSAGE_BYTES, StopReason, TurnEvent,
    TurnOutcome, TurnRequest,
};
