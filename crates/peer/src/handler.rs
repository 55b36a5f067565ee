//! What the receiving node does with a request: the gateway implements [`InboundHandler`] by
//! running the addressed agent's turn under its own policy and input defense.

use rampart_core::{AgentName, Role};

use crate::{NodeName, PublicKey};

/// A request that arrived over an authenticated link.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct InboundRequest {
    /// The authenticated sending node.
    pub from_node: NodeName,
    /// Its pinned static key.
    pub from_key: PublicKey,
    /// The sending agent, as that node names it (its claim; the node is what is authenticated).
    pub from_agent: AgentName,
    /// The local agent addressed.
    pub to_agent: AgentName,
    /// The message text (at most [`crate::MAX_PEER_TEXT_BYTES`]), not yet checked by any input
    /// defense.
    pub text: String,
    /// The role this node gives the sender: `[network] peer_role`, never anything the remote
    /// chose.
    pub role: Role,
}

/// Why a request was refused, sent back to the remote node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboundRefusal {
    /// A contract error code (`forbidden`, `not_found`, `prompt_injection_detected`,
    /// `invalid_input`, `internal`).
    pub code: String,
    /// A message safe to show the remote (no secrets, no internals).
    pub message: String,
}

impl InboundRefusal {
    /// A refusal.
    #[must_use]
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

/// Runs requests from remote nodes.
#[async_trait::async_trait]
pub trait InboundHandler: Send + Sync + std::fmt::Debug {
    /// Handles one request and returns the agent's reply.
    async fn handle(&self, request: InboundRequest) -> Result<String, InboundRefusal>;
}
