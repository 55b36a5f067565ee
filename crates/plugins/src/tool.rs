//! Plugin tools as agent tools: each tool of a loaded plugin becomes a [`Tool`] named
//! `PLUGIN__TOOL`, registered in the same [`ToolRegistry`] as the built-ins, so the registry's
//! capability check, the policy hook (approvals, budgets, taint), the audit observer and the
//! output cap and leak filter apply to it unchanged.

use std::sync::Arc;

use rampart_agent::{Tool, ToolContext, ToolError, ToolOutput, ToolRegistry, ToolRisk};
use rampart_audit::{AuditSink, Event, Outcome, Record};

use crate::PluginError;
use crate::host::{CallContext, LoadedPlugin};
use crate::manifest::HostFunction;

/// The name agents list in `[capabilities] tools`: `PLUGIN__TOOL`. Built-in tool names never
/// contain `__`, so a plugin cannot take a built-in's name.
#[must_use]
pub fn tool_name(plugin: &str, tool: &str) -> String {
    format!("{plugin}__{tool}")
}

/// One tool of one plugin.
pub struct PluginTool {
    plugin: Arc<LoadedPlugin>,
    tool: String,
    full_name: String,
    description: String,
    parameters: serde_json::Value,
    audit: Option<AuditSink>,
}

impl std::fmt::Debug for PluginTool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginTool")
            .field("name", &self.full_name)
            .finish_non_exhaustive()
    }
}

impl PluginTool {
    /// Every tool of `plugin`.
    #[must_use]
    pub fn all(plugin: &Arc<LoadedPlugin>, audit: Option<&AuditSink>) -> Vec<Self> {
        plugin
            .manifest()
            .tools
            .iter()
            .map(|t| Self {
                plugin: plugin.clone(),
                tool: t.name.clone(),
                full_name: tool_name(plugin.name(), &t.name),
                description: format!("[plugin {}] {}", plugin.name(), t.description),
                parameters: t.parameters.clone(),
                audit: audit.cloned(),
            })
            .collect()
    }
}

/// Registers every tool of every plugin, refusing a name the registry already has (a
/// plugin never replaces a tool).
///
/// # Errors
/// [`PluginError::Host`] naming the clash; nothing is registered for that plugin then.
pub fn register(
    registry: &mut ToolRegistry,
    plugin: &Arc<LoadedPlugin>,
    audit: Option<&AuditSink>,
) -> Result<Vec<String>, PluginError> {
    let tools = PluginTool::all(plugin, audit);
    let existing = registry.names();
    if let Some(t) = tools
        .iter()
        .find(|t| existing.contains(&t.full_name.as_str()))
    {
        return Err(PluginError::Host(format!(
            "plugin {:?}: a tool named {:?} is already registered",
            plugin.name(),
            t.full_name
        )));
    }
    let names: Vec<String> = tools.iter().map(|t| t.full_name.clone()).collect();
    for t in tools {
        registry.register(Arc::new(t));
    }
    Ok(names)
}

#[async_trait::async_trait]
impl Tool for PluginTool {
    fn name(&self) -> &str {
        &self.full_name
    }

    fn description(&self) -> &str {
        &self.description
    }

    fn parameters(&self) -> serde_json::Value {
        self.parameters.clone()
    }

    fn risk(&self) -> ToolRisk {
        if self.plugin.granted().contains(&HostFunction::HttpFetch) {
            ToolRisk::Network
        } else {
            ToolRisk::Read
        }
    }

    async fn call(
        &self,
        ctx: &ToolContext,
        args: serde_json::Value,
    ) -> Result<ToolOutput, ToolError> {
        let call_ctx = CallContext {
            agent_network: ctx.capabilities.network.clone(),
        };
        match self.plugin.call_async(&self.tool, &args, call_ctx).await {
            Ok(Ok(text)) => {
                // What a plugin returns is data from code its author wrote, possibly carrying
                // what it fetched: the model sees it marked untrusted (SPEC I5).
                let source = format!("plugin:{}", self.full_name);
                Ok(ToolOutput::text(
                    rampart_guard::wrap_untrusted(&source, &text).wrapped,
                ))
            }
            Ok(Err(message)) => Err(ToolError::Failed(message.chars().take(1000).collect())),
            Err(e) => {
                if let Some(sink) = &self.audit {
                    let record = Record::new(Event::PluginTrap {
                        plugin: self.plugin.name().to_owned(),
                        tool: self.tool.clone(),
                        reason: e.reason().to_owned(),
                    })
                    .agent(ctx.agent.clone())
                    .outcome(Outcome::Blocked);
                    if let Err(err) = sink.record(record).await {
                        tracing::error!(error = %err, "could not audit a plugin trap");
                    }
                }
                Err(ToolError::Failed(e.to_string()))
            }
        }
    }
}
