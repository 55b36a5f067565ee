//! The gateway's side of the peer network (SPEC O1, O2): [`PeerHandler`] runs a remote node's
//! message as an agent turn under this gateway's own rules, [`NodeMessenger`] lets the
//! `peer_send` tool use the link, and `GET /api/peers` lists the links.
//!
//! A remote node is a principal like an API caller: its role is `[network] peer_role` (default
//! `user`, never more), its message passes the same admission (sanitizing, injection detection,
//! audited refusals) as a message through the API, and the reply passes the known-secret leak
//! guard before it leaves, as every HTTP reply does.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use rampart_agent::{PeerMessenger, TurnRequest};
use rampart_audit::Actor;
use rampart_core::{AgentName, Role};
use rampart_peer::{InboundHandler, InboundRefusal, InboundRequest, PeerAddress, PeerNode};
use serde_json::{Value, json};

use crate::AppState;
use crate::admission::admit;

/// Runs requests from remote nodes as agent turns.
#[derive(Debug)]
pub struct PeerHandler {
    state: AppState,
}

impl PeerHandler {
    /// A handler over the gateway's state.
    #[must_use]
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

#[async_trait::async_trait]
impl InboundHandler for PeerHandler {
    async fn handle(&self, r: InboundRequest) -> Result<String, InboundRefusal> {
        let actor = Actor::Peer(r.from_node.to_string());
        if r.role < Role::User {
            self.state
                .events
                .access_denied(actor, "peer message", r.role.as_str(), "user")
                .await;
            return Err(InboundRefusal::new(
                "forbidden",
                "this node does not let peers message its agents",
            ));
        }
        if self.state.runtime.agent(&r.to_agent).is_none() {
            return Err(InboundRefusal::new("not_found", "no such agent"));
        }
        let message = admit(&self.state, actor, &r.to_agent, "peer", &r.text)
            .await
            .map_err(|e| InboundRefusal::new(e.code(), e.message()))?;
        let turn = TurnRequest {
            agent: r.to_agent,
            session_id: None,
            message,
        };
        let outcome = self.state.runtime.run_turn(turn, None).await.map_err(|e| {
            tracing::warn!(error = %e, "a peer's message failed its agent turn");
            InboundRefusal::new("internal", "the agent could not answer")
        })?;
        Ok(self
            .state
            .edge
            .leak
            .redact("peer_reply", &outcome.reply)
            .into_owned())
    }
}

/// `peer_send` over a [`PeerNode`].
#[derive(Debug)]
pub struct NodeMessenger(pub Arc<PeerNode>);

#[async_trait::async_trait]
impl PeerMessenger for NodeMessenger {
    async fn send(&self, from: &AgentName, to: &str, message: &str) -> Result<String, String> {
        let to: PeerAddress = to.parse().map_err(|e| format!("{e}"))?;
        self.0
            .send(from, &to, message)
            .await
            .map_err(|e| e.to_string())
    }
}

/// `GET /api/peers` (admin): this node, its links (incoming ones too) and the configured
/// addresses without one.
pub(crate) async fn list(State(state): State<Arc<AppState>>) -> Json<Value> {
    let Some(node) = &state.peers else {
        return Json(json!({ "node": null, "peers": [] }));
    };
    Json(json!({
        "node": { "name": node.name().as_str(), "key": node.public_key().to_string() },
        "peers": node.peers(),
    }))
}
