//! The tool registry: capability check, policy hook, call, output cap, observer — in that order,
//! once, around every tool.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rampart_store::ToolCallRequest;
use serde::Serialize;

use super::{ClockTool, Tool, ToolContext};
use crate::hooks::{Observed, PolicyDecision, ToolPolicy, TurnObserver};
use crate::provider::ToolSpec;

/// The default cap on one tool result as the model sees it, in bytes (SPEC T6).
///
/// # Security
/// Tool output (files, web pages, command output) is untrusted and can be huge. Capping it keeps
/// one result from filling the model's context (cost, and drowning the system prompt) and the
/// session store. Configurable through `RuntimeOptions::max_tool_output_bytes`.
pub const MAX_TOOL_OUTPUT_BYTES: usize = 16 * 1024;

/// The most tool calls run from one model answer; the rest are answered `blocked`.
///
/// # Security
/// One answer could otherwise request thousands of calls, each with side effects.
pub const MAX_TOOL_CALLS_PER_RESPONSE: usize = 16;

/// The outer bound on one tool call.
///
/// # Security
/// Tools set their own tighter limits (the shell tool kills its process tree sooner); this bound
/// guarantees that no tool, however written, holds a turn and its session forever.
pub const TOOL_CALL_TIMEOUT: Duration = Duration::from_secs(300);

/// How one tool call ended (CONTRACT: a reply's `tool_calls[].status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ToolStatus {
    /// It ran and succeeded.
    Ok,
    /// A capability or policy refused it.
    Denied,
    /// It ran and failed, or its input was refused.
    Error,
    /// It waits for a human's approval.
    ApprovalRequired,
    /// A guard (loop guard, budget, per-answer cap) stopped it.
    Blocked,
}

/// What happened to one tool call, as reported to the API client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ToolCallRecord {
    /// The call's id (from the model).
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// How it ended.
    pub status: ToolStatus,
    /// Why it did not succeed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The approval to ask for, when `status` is `approval_required`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval_id: Option<String>,
    /// True when the output was cut to the size cap.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

/// A decided call: the record for the client and the text for the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolInvocation {
    /// For the client.
    pub record: ToolCallRecord,
    /// For the model (capped).
    pub content: String,
    /// True unless the status is `ok`.
    pub is_error: bool,
}

/// The tools an agent runtime knows, by name.
#[derive(Clone, Debug)]
pub struct ToolRegistry {
    tools: BTreeMap<String, Arc<dyn Tool>>,
    max_output_bytes: usize,
}

impl Default for ToolRegistry {
    fn default() -> Self {
        Self::with_builtins()
    }
}

impl ToolRegistry {
    /// An empty registry.
    #[must_use]
    pub fn empty() -> Self {
        Self {
            tools: BTreeMap::new(),
            max_output_bytes: MAX_TOOL_OUTPUT_BYTES,
        }
    }

    /// The built-in tools. Today: `clock`. The file, web and shell tools register here as they
    /// land (each in its own crate; add one `register` line per tool).
    #[must_use]
    pub fn with_builtins() -> Self {
        let mut r = Self::empty();
        r.register(Arc::new(ClockTool::default()));
        r
    }

    /// Adds (or replaces) a tool; returns the one it replaced.
    pub fn register(&mut self, tool: Arc<dyn Tool>) -> Option<Arc<dyn Tool>> {
        self.tools.insert(tool.name().to_owned(), tool)
    }

    /// Sets the output cap (bytes; at least 256).
    pub fn set_max_output_bytes(&mut self, bytes: usize) {
        self.max_output_bytes = bytes.max(256);
    }

    /// The registered tool names.
    #[must_use]
    pub fn names(&self) -> Vec<&str> {
        self.tools.keys().map(String::as_str).collect()
    }

    /// The specs of the tools in `allowed` that exist, as advertised to the model.
    #[must_use]
    pub fn specs_for(&self, allowed: &[String]) -> Vec<ToolSpec> {
        self.tools
            .values()
            .filter(|t| allowed.iter().any(|a| a == t.name()))
            .map(|t| ToolSpec {
                name: t.name().to_owned(),
                description: t.description().to_owned(),
                parameters: t.parameters(),
            })
            .collect()
    }

    /// Decides and runs one call: capability check, argument shape, policy hook, the call (with
    /// [`TOOL_CALL_TIMEOUT`]), output cap; then tells the observer.
    pub async fn invoke(
        &self,
        ctx: &ToolContext,
        call: &ToolCallRequest,
        policy: &dyn ToolPolicy,
        observer: &dyn TurnObserver,
    ) -> ToolInvocation {
        let started = Instant::now();
        let tool = self.tools.get(&call.name);
        let (status, result, approval_id) = self.decide(ctx, call, tool, policy).await;
        let (content, truncated, error) = match (status, result) {
            (ToolStatus::Ok, text) => {
                let (text, truncated) = cap(&text, self.max_output_bytes);
                (text, truncated, None)
            }
            (_, reason) => {
                let (reason, _) = cap(&reason, self.max_output_bytes);
                let label = match status {
                    ToolStatus::Denied => "denied",
                    ToolStatus::ApprovalRequired => "approval required",
                    ToolStatus::Blocked => "blocked",
                    _ => "error",
                };
                (format!("{label}: {reason}"), false, Some(reason))
            }
        };
        let record = ToolCallRecord {
            id: call.id.clone(),
            name: call.name.clone(),
            status,
            error,
            approval_id,
            truncated,
        };
        policy.after_call(ctx, call, &record);
        observer.observe(&Observed::ToolCall {
            ctx,
            call,
            risk: tool.map(|t| t.risk()),
            record: &record,
            elapsed: started.elapsed(),
        });
        ToolInvocation {
            is_error: status != ToolStatus::Ok,
            record,
            content,
        }
    }

    async fn decide(
        &self,
        ctx: &ToolContext,
        call: &ToolCallRequest,
        tool: Option<&Arc<dyn Tool>>,
        policy: &dyn ToolPolicy,
    ) -> (ToolStatus, String, Option<String>) {
        // Capabilities first, and before revealing whether the tool exists at all (SPEC A6).
        if !ctx.capabilities.allows_tool(&call.name) {
            return (
                ToolStatus::Denied,
                format!(
                    "tool `{}` is not permitted for this agent",
                    printable(&call.name)
                ),
                None,
            );
        }
        let Some(tool) = tool else {
            return (
                ToolStatus::Error,
                format!("unknown tool `{}`", printable(&call.name)),
                None,
            );
        };
        if !call.arguments.is_object() {
            return (
                ToolStatus::Error,
                "invalid input: arguments must be a JSON object".to_owned(),
                None,
            );
        }
        let warning = match policy.check(ctx, call, tool.risk()).await {
            PolicyDecision::Allow => None,
            PolicyDecision::AllowWithWarning(w) => Some(w),
            PolicyDecision::Deny(reason) => return (ToolStatus::Denied, reason, None),
            PolicyDecision::Block(reason) => return (ToolStatus::Blocked, reason, None),
            PolicyDecision::ApprovalRequired { approval_id } => {
                return (
                    ToolStatus::ApprovalRequired,
                    format!("waiting for approval {approval_id}"),
                    Some(approval_id),
                );
            }
        };
        match tokio::time::timeout(TOOL_CALL_TIMEOUT, tool.call(ctx, call.arguments.clone())).await
        {
            Ok(Ok(out)) => match warning {
                Some(w) => (
                    ToolStatus::Ok,
                    format!("[Rampart warning: {w}]\n{}", out.content),
                    None,
                ),
                None => (ToolStatus::Ok, out.content, None),
            },
            Ok(Err(e)) => (ToolStatus::Error, e.to_string(), None),
            Err(_) => (ToolStatus::Error, "the tool timed out".to_owned(), None),
        }
    }
}

/// A tool name as it may be echoed: bounded, without control characters.
fn printable(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(64).collect()
}

/// Cuts `text` to at most `max` bytes (at a char boundary) including a marker saying how much
/// was cut. Returns the text and whether it was cut.
#[must_use]
pub(crate) fn cap(text: &str, max: usize) -> (String, bool) {
    if text.len() <= max {
        return (text.to_owned(), false);
    }
    let marker = |n: usize| format!("\n[output truncated by Rampart: {n} more bytes]");
    let mut keep = max.saturating_sub(marker(text.len()).len());
    while !text.is_char_boundary(keep) {
        keep -= 1;
    }
    let mut out = text[..keep].to_owned();
    out.push_str(&marker(text.len() - keep));
    (out, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_respects_the_bound_and_char_boundaries() {
        let text = "é".repeat(1000);
        for max in [256, 300, 301, 1999] {
            let (out, cut) = cap(&text, max);
            assert!(cut);
            assert!(out.len() <= max, "{} > {max}", out.len());
            assert!(out.contains("output truncated"));
        }
        assert_eq!(cap("short", 256), ("short".to_owned(), false));
    }
}
