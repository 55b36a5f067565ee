//! Tools: the [`Tool`] trait the built-in and later tools implement, and the [`ToolRegistry`] that
//! checks capabilities, asks the policy hook, calls, caps output and reports — once, for all tools.

use std::fmt;
use std::path::PathBuf;

use rampart_core::AgentName;
use rampart_store::SessionId;
use serde::{Deserialize, Serialize};

use crate::Capabilities;

mod clock;
mod files;
mod peer;
mod registry;
mod shell;
mod spawn;
mod web;

pub use clock::{Clock, ClockTool, SystemClock};
pub use files::{FileOp, FileTool};
pub use peer::{PeerMessenger, PeerSendTool};
pub use registry::{
    MAX_TOOL_CALLS_PER_RESPONSE, MAX_TOOL_OUTPUT_BYTES, TOOL_CALL_TIMEOUT, ToolCallRecord,
    ToolInvocation, ToolRegistry, ToolStatus,
};
pub use shell::{SHELL_PATH, ShellBackend, ShellOptions, ShellTool};
pub use spawn::{MAX_SPAWN_TOOLS, SpawnTool};
pub use web::WebFetchTool;

/// How much harm a tool can do; policy layers (approvals, taint) key off this.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ToolRisk {
    /// Reads data (files, time).
    Read,
    /// Changes data.
    Write,
    /// Runs code.
    Exec,
    /// Talks to the network.
    Network,
}

/// What a tool knows about the call it serves.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ToolContext {
    /// The calling agent.
    pub agent: AgentName,
    /// The session the call belongs to.
    pub session_id: SessionId,
    /// The agent's workspace directory (`$RAMPART_HOME/workspace/NAME`), its file sandbox.
    pub workspace: PathBuf,
    /// The agent's capabilities (already checked for the tool's name by the registry).
    pub capabilities: Capabilities,
    /// How many `agent_spawn`s separate this agent from one defined by a manifest (0 for those).
    pub spawn_depth: u32,
    /// How `agent_spawn` runs a child's turn (set by the runtime for the turn's duration).
    pub(crate) spawner: Option<crate::runtime::Spawner>,
}

impl ToolContext {
    /// A context (the runtime builds these; tests of tools may too).
    #[must_use]
    pub fn new(
        agent: AgentName,
        session_id: SessionId,
        workspace: PathBuf,
        capabilities: Capabilities,
    ) -> Self {
        Self {
            agent,
            session_id,
            workspace,
            capabilities,
            spawn_depth: 0,
            spawner: None,
        }
    }
}

/// A tool's successful result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolOutput {
    /// The text the model sees (the registry caps its size).
    pub content: String,
}

impl ToolOutput {
    /// Output from text.
    #[must_use]
    pub fn text(content: impl Into<String>) -> Self {
        Self {
            content: content.into(),
        }
    }
}

/// Why a tool call failed. The message is shown to the model and the API client: never put a
/// secret in it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ToolError {
    /// The arguments were refused (wrong shape, path outside the workspace, blocked URL…).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The tool ran and failed.
    #[error("failed: {0}")]
    Failed(String),
}

/// A tool the model can call. Tools do not check permissions: the registry does that around
/// [`Tool::call`], once.
#[async_trait::async_trait]
pub trait Tool: Send + Sync {
    /// The name the model calls it by (`[a-z0-9_]`).
    fn name(&self) -> &str;
    /// What it does, for the model.
    fn description(&self) -> &str;
    /// JSON Schema of its arguments (an object schema).
    fn parameters(&self) -> serde_json::Value;
    /// How much harm it can do.
    fn risk(&self) -> ToolRisk;
    /// Runs it. `args` is always a JSON object.
    async fn call(
        &self,
        ctx: &ToolContext,
        args: serde_json::Value,
    ) -> Result<ToolOutput, ToolError>;
}

impl fmt::Debug for dyn Tool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tool({})", self.name())
    }
}
