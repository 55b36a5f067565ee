//! [`PolicyHook`]: the agent loop's [`ToolPolicy`] hook over [`rampart_policy::Policy`] (budgets
//! A6, approvals A7, loop guard T5, taint T7).
//!
//! It lives here, beside the hook trait, because the dependency graph points that way: the
//! policy crate decides over plain values (agent, session, tool name, arguments, [`Grant`]) and
//! knows nothing of tools or the loop, while the loop owns the hook traits and `agent_spawn`
//! needs [`rampart_policy::derive_child`] anyway.

use std::collections::BTreeSet;
use std::sync::Arc;

use rampart_core::AgentName;
use rampart_policy::{Call, Grant, NetworkGrant, Policy, Verdict, reaches_network};
use rampart_store::{SessionId, ToolCallRequest};

use crate::Capabilities;
use crate::hooks::{PolicyDecision, ToolPolicy};
use crate::provider::Usage;
use crate::tool::{ToolCallRecord, ToolContext, ToolRisk, ToolStatus};

/// The [`ToolPolicy`] that asks a shared [`Policy`]. A failure of the policy's store refuses the
/// call (fail closed).
#[derive(Debug, Clone)]
pub struct PolicyHook {
    policy: Arc<Policy>,
}

impl PolicyHook {
    /// The hook over `policy` (the same handle the approvals API decides on).
    #[must_use]
    pub fn new(policy: Arc<Policy>) -> Self {
        Self { policy }
    }

    /// The policy.
    #[must_use]
    pub fn policy(&self) -> &Arc<Policy> {
        &self.policy
    }
}

/// The [`Grant`] a manifest's capabilities mean, for an agent `depth` spawns below a manifest.
#[must_use]
pub fn grant_of(caps: &Capabilities, depth: u32) -> Grant {
    Grant {
        tools: caps.tools.iter().cloned().collect(),
        max_shell_commands: caps.max_shell_commands,
        max_file_writes: caps.max_file_writes,
        network: NetworkGrant::from_manifest(&caps.network),
        shell_network: caps.shell_network,
        depth,
    }
}

/// The capabilities a (derived) [`Grant`] allows. A grant of no network at all keeps no network
/// tool: a manifest's empty `network` list would otherwise read as "any public host".
#[must_use]
pub fn capabilities_of(grant: &Grant) -> Capabilities {
    let no_network = grant.network.is_none();
    let tools = grant
        .tools
        .iter()
        .filter(|t| !(no_network && reaches_network(t)))
        .cloned()
        .collect();
    let network = match &grant.network {
        NetworkGrant::AnyPublic => Vec::new(),
        NetworkGrant::Hosts(h) => h
            .iter()
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
    };
    Capabilities {
        tools,
        max_shell_commands: grant.max_shell_commands,
        max_file_writes: grant.max_file_writes,
        network,
        shell_network: grant.shell_network && !no_network,
    }
}

/// Maps the policy's verdict onto the loop's decision.
fn decision_of(verdict: Result<Verdict, rampart_policy::PolicyError>) -> PolicyDecision {
    match verdict {
        Ok(Verdict::Allow { warning, .. }) => match warning {
            Some(w) => PolicyDecision::AllowWithWarning(w),
            None => PolicyDecision::Allow,
        },
        Ok(Verdict::Deny(reason)) => PolicyDecision::Deny(reason),
        Ok(Verdict::Block(reason)) => PolicyDecision::Block(reason),
        Ok(Verdict::ApprovalRequired { approval_id, .. }) => {
            PolicyDecision::ApprovalRequired { approval_id }
        }
        Ok(other) => PolicyDecision::Deny(format!("unrecognised policy verdict: {other:?}")),
        Err(e) => {
            tracing::error!(error = %e, "policy check failed; refusing the call");
            PolicyDecision::Block(format!("the policy could not decide: {e}"))
        }
    }
}

#[async_trait::async_trait]
impl ToolPolicy for PolicyHook {
    async fn check(
        &self,
        ctx: &ToolContext,
        call: &ToolCallRequest,
        _risk: ToolRisk,
    ) -> PolicyDecision {
        let policy = self.policy.clone();
        let grant = grant_of(&ctx.capabilities, ctx.spawn_depth);
        let (agent, session) = (ctx.agent.clone(), ctx.session_id.as_str().to_owned());
        let (tool, args) = (call.name.clone(), call.arguments.clone());
        // The policy reads and writes SQLite: keep it off the async workers.
        let verdict = tokio::task::spawn_blocking(move || {
            policy.check(&Call {
                agent: &agent,
                session: &session,
                tool: &tool,
                args: &args,
                grant: &grant,
            })
        })
        .await;
        match verdict {
            Ok(v) => decision_of(v),
            Err(_) => PolicyDecision::Block("the policy task failed".to_owned()),
        }
    }

    fn after_call(&self, ctx: &ToolContext, call: &ToolCallRequest, record: &ToolCallRecord) {
        self.policy.after_call(
            &ctx.agent,
            ctx.session_id.as_str(),
            &call.name,
            &call.arguments,
            record.status == ToolStatus::Ok,
        );
    }

    fn tainted(&self, agent: &AgentName, session_id: &SessionId) -> bool {
        !self.policy.taint(agent, session_id.as_str()).is_empty()
    }

    fn admit_model_call(&self, agent: &AgentName, session_id: &SessionId) -> Result<(), String> {
        match self.policy.admit_model_call(agent, session_id.as_str()) {
            Ok(None) => Ok(()),
            Ok(Some(reason)) => Err(reason),
            Err(e) => {
                tracing::error!(error = %e, "token budget check failed; refusing the model call");
                Err("the token budget could not be checked".to_owned())
            }
        }
    }

    fn record_usage(&self, agent: &AgentName, session_id: &SessionId, usage: Usage) {
        let tokens = usage.input_tokens.saturating_add(usage.output_tokens);
        if let Err(e) = self
            .policy
            .record_tokens(agent, session_id.as_str(), tokens)
        {
            tracing::error!(error = %e, "could not count tokens against the budget");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_network_grant_keeps_no_network_tool() {
        let grant = Grant {
            tools: ["web_fetch".to_owned(), "file_read".to_owned()].into(),
            max_shell_commands: 0,
            max_file_writes: 1,
            network: NetworkGrant::Hosts(BTreeSet::new()),
            shell_network: true,
            depth: 1,
        };
        let caps = capabilities_of(&grant);
        assert_eq!(caps.tools, vec!["file_read".to_owned()]);
        assert!(caps.network.is_empty());
        assert!(
            !caps.shell_network,
            "no network at all keeps no shell sockets"
        );
        // And the round trip back keeps the rights no larger.
        let back = grant_of(&caps, 1);
        assert!(!back.allows_tool("web_fetch"));
    }

    #[test]
    fn store_failure_refuses() {
        let d = decision_of(Err(rampart_policy::PolicyError::Random));
        assert!(matches!(d, PolicyDecision::Block(_)));
    }
}
