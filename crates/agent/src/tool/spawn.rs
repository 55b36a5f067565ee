//! `agent_spawn` (SPEC A6): runs one turn of a temporary child agent whose capabilities are
//! computed by [`rampart_policy::derive_child`] — the one place every spawn path goes through,
//! spawns by children included — from the calling agent's capabilities and what the model asked
//! for. The child works in a throwaway workspace of its own (`workspace/.spawned/PARENT--NAME-ID/`,
//! removed when its turn ends), on a fresh session, and is gone after its turn.

use std::collections::BTreeSet;

use rampart_policy::{Grant, NetworkGrant, derive_child};

use super::{Tool, ToolContext, ToolError, ToolOutput, ToolRisk};
use crate::manifest::{AgentManifest, MAX_SYSTEM_PROMPT_BYTES};
use crate::policy::{capabilities_of, grant_of};
use crate::turn::MAX_USER_MESSAGE_BYTES;

/// The most tool names a spawn request may list.
///
/// # Security
/// The list comes from the model; it is intersected with the parent's anyway, this bounds work.
pub const MAX_SPAWN_TOOLS: usize = 64;

/// `agent_spawn {"name", "tools", "system_prompt"?, "message"}`.
#[derive(Clone, Copy, Debug, Default)]
pub struct SpawnTool;

/// The child's name: `PARENT--NAME`, so the audit trail and the store never mistake a child for
/// an agent defined by a manifest.
fn child_name(parent: &str, name: &str) -> Result<rampart_core::AgentName, ToolError> {
    format!("{parent}--{name}").parse().map_err(|_| {
        ToolError::InvalidInput(
            "`name` must be lowercase letters, digits, `-` or `_`, and short".into(),
        )
    })
}

/// What the model asked for, as a grant: the listed tools, unbounded budgets, any network (the
/// shell's too) — all
/// of it then cut down to the parent's by `derive_child`.
fn requested_grant(args: &serde_json::Value) -> Result<Grant, ToolError> {
    let tools = args
        .get("tools")
        .and_then(serde_json::Value::as_array)
        .ok_or_else(|| ToolError::InvalidInput("`tools` (an array of names) is required".into()))?;
    if tools.len() > MAX_SPAWN_TOOLS {
        return Err(ToolError::InvalidInput(format!(
            "at most {MAX_SPAWN_TOOLS} tools"
        )));
    }
    let tools: BTreeSet<String> = tools
        .iter()
        .map(|t| {
            t.as_str()
                .map(str::to_owned)
                .ok_or_else(|| ToolError::InvalidInput("`tools` must hold strings".into()))
        })
        .collect::<Result<_, _>>()?;
    Ok(Grant {
        tools,
        max_shell_commands: u32::MAX,
        max_file_writes: u32::MAX,
        network: NetworkGrant::AnyPublic,
        shell_network: true,
        depth: 0,
    })
}

fn str_arg<'a>(args: &'a serde_json::Value, key: &str) -> Option<&'a str> {
    args.get(key).and_then(serde_json::Value::as_str)
}

#[async_trait::async_trait]
impl Tool for SpawnTool {
    fn name(&self) -> &str {
        "agent_spawn"
    }

    fn description(&self) -> &str {
        "Runs a helper agent for one message with at most this agent's own tools, and returns its \
         reply."
    }

    fn parameters(&self) -> serde_json::Value {
        serde_json::json!({
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "tools": {"type": "array", "items": {"type": "string"}},
                "system_prompt": {"type": "string"},
                "message": {"type": "string"}
            },
            "required": ["name", "tools", "message"],
            "additionalProperties": false
        })
    }

    fn risk(&self) -> ToolRisk {
        ToolRisk::Exec
    }

    async fn call(
        &self,
        ctx: &ToolContext,
        args: serde_json::Value,
    ) -> Result<ToolOutput, ToolError> {
        let name = str_arg(&args, "name")
            .ok_or_else(|| ToolError::InvalidInput("`name` (a string) is required".into()))?;
        let message = str_arg(&args, "message")
            .ok_or_else(|| ToolError::InvalidInput("`message` (a string) is required".into()))?;
        if message.len() > MAX_USER_MESSAGE_BYTES {
            return Err(ToolError::InvalidInput("`message` is too long".into()));
        }
        let system_prompt = str_arg(&args, "system_prompt").unwrap_or_default();
        if system_prompt.len() > MAX_SYSTEM_PROMPT_BYTES {
            return Err(ToolError::InvalidInput(
                "`system_prompt` is too long".into(),
            ));
        }
        let parent = grant_of(&ctx.capabilities, ctx.spawn_depth);
        let child = derive_child(&parent, &requested_grant(&args)?)
            .map_err(|e| ToolError::InvalidInput(e.to_string()))?;
        let spawner = ctx
            .spawner
            .as_ref()
            .ok_or_else(|| ToolError::Failed("no agent runtime to run the child in".into()))?;
        let manifest = AgentManifest {
            name: child_name(ctx.agent.as_str(), name)?,
            model: spawner.model.clone(),
            system_prompt: system_prompt.to_owned(),
            capabilities: capabilities_of(&child),
        };
        let out = spawner
            .run_child(manifest, child.depth, message.to_owned())
            .await
            .map_err(|e| ToolError::Failed(e.to_string()))?;
        let calls = out
            .tool_calls
            .iter()
            .map(|c| format!("{}={:?}", c.name, c.status))
            .collect::<Vec<_>>()
            .join(", ");
        Ok(ToolOutput::text(format!(
            "child agent {} (depth {}, tools [{}]) replied{}:\n{}",
            manifest_name(&ctx.agent, name),
            child.depth,
            child.tools.iter().cloned().collect::<Vec<_>>().join(", "),
            if calls.is_empty() {
                String::new()
            } else {
                format!(" after tool calls {calls}")
            },
            out.reply
        )))
    }
}

fn manifest_name(parent: &rampart_core::AgentName, name: &str) -> String {
    format!("{parent}--{name}")
}
