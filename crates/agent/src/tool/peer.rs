//! `peer_send` (SPEC O2): a message to an agent on another node (`agent@node`), answered with its
//! reply. The link itself lives in `rampart-peer`; this crate only knows the [`PeerMessenger`]
//! the gateway hands it, so the agent crate depends on no network code. Like every tool, it runs
//! only for agents whose capabilities list it; the reply is another node's output, untrusted.

use std::sync::Arc;

use super::{Tool, ToolContext, ToolError, ToolOutput, ToolRisk};
use crate::turn::MAX_USER_MESSAGE_BYTES;

/// Sends a message to `agent@node` and waits for the reply.
#[async_trait::async_trait]
pub trait PeerMessenger: Send + Sync + std::fmt::Debug {
    /// `Err` carries a message safe to show the model (no secrets).
    async fn send(
        &self,
        from: &rampart_core::AgentName,
        to: &str,
        message: &str,
    ) -> Result<String, String>;
}

/// `peer_send {"to": "agent@node", "message": "…"}`.
#[derive(Debug, Clone)]
pub struct PeerSendTool {
    messenger: Arc<dyn PeerMessenger>,
}

impl PeerSendTool {
    /// The tool over `messenger`.
    #[must_use]
    pub fn new(messenger: Arc<dyn PeerMessenger>) -> Self {
        Self { messenger }
    }
}

#[async_trait::async_trait]
impl Tool for PeerSendTool {
    fn name(&self) -> &str {
        "peer_send"
    }

    fn description(&self) -> &str {
        "Sends a message to an agent on another Rampart node, addressed as agent@node, and \
         returns its reply."
    }

    fn parameters(&self) -> serde_json::Value {
        serde_json::json!({
            "type": "object",
            "properties": {
                "to": {"type": "string", "description": "agent@node"},
                "message": {"type": "string"}
            },
            "required": ["to", "message"],
            "additionalProperties": false
        })
    }

    fn risk(&self) -> ToolRisk {
        ToolRisk::Network
    }

    async fn call(
        &self,
        ctx: &ToolContext,
        args: serde_json::Value,
    ) -> Result<ToolOutput, ToolError> {
        let get = |k: &str| args.get(k).and_then(serde_json::Value::as_str);
        let to = get("to")
            .ok_or_else(|| ToolError::InvalidInput("`to` (\"agent@node\") is required".into()))?;
        let message = get("message")
            .ok_or_else(|| ToolError::InvalidInput("`message` (a string) is required".into()))?;
        if message.len() > MAX_USER_MESSAGE_BYTES {
            return Err(ToolError::InvalidInput("`message` is too long".into()));
        }
        let reply = self
            .messenger
            .send(&ctx.agent, to, message)
            .await
            .map_err(ToolError::Failed)?;
        Ok(ToolOutput::text(format!("{to} replied:\n{reply}")))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[derive(Debug)]
    struct Fake;

    #[async_trait::async_trait]
    impl PeerMessenger for Fake {
        async fn send(
            &self,
            from: &rampart_core::AgentName,
            to: &str,
            message: &str,
        ) -> Result<String, String> {
            if to == "down@nowhere" {
                return Err("no link to node nowhere".into());
            }
            Ok(format!("{from} said {message}"))
        }
    }

    fn ctx() -> ToolContext {
        ToolContext::new(
            "planner".parse().unwrap(),
            rampart_store::SessionId::generate().unwrap(),
            std::env::temp_dir(),
            crate::Capabilities::default(),
        )
    }

    #[tokio::test]
    async fn sends_and_reports_failures_as_errors() {
        let t = PeerSendTool::new(Arc::new(Fake));
        let out = t
            .call(&ctx(), serde_json::json!({"to": "a@b", "message": "hi"}))
            .await
            .unwrap();
        assert_eq!(out.content, "a@b replied:\nplanner said hi");
        let err = t
            .call(
                &ctx(),
                serde_json::json!({"to": "down@nowhere", "message": "hi"}),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, ToolError::Failed(_)));
        assert!(
            t.call(&ctx(), serde_json::json!({"to": "a@b"}))
                .await
                .is_err()
        );
    }
}
