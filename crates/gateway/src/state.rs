//! The state every handler shares.

use std::sync::Arc;
use std::time::Instant;

use rampart_agent::Runtime;
use rampart_guard::InputValidator;

use crate::{Authenticator, Events};

/// Handles to the layers below the gateway. Cloning is cheap (every field is shared).
#[derive(Clone, Debug)]
pub struct AppState {
    /// The agent runtime: manifests, the agent loop, sessions.
    pub runtime: Arc<Runtime>,
    /// Verifies API keys; built from `api_key` and `api_require_auth_local`.
    pub auth: Arc<Authenticator>,
    /// Where security events go (log, audit trail).
    pub events: Events,
    /// The input defense every inbound message passes (`[security] prompt_injection_scan`).
    pub validator: Arc<InputValidator>,
    /// What `/api/health/detail` reports about the parts outside the gateway.
    pub info: Arc<GatewayInfo>,
    /// Rate limiters, proxies, WebSocket limits, counters, the leak guard, the webhook token.
    pub edge: Arc<crate::EdgeState>,
    /// The policy the agent loop asks before each tool call, for the approvals API (SPEC A7);
    /// `None` answers `/api/approvals` with 404.
    pub policy: Option<Arc<rampart_policy::Policy>>,
    /// Where `POST /api/config/reload` and SIGHUP re-read the configuration (SPEC M2); `None`
    /// answers the route with 404.
    pub reload: Option<Arc<crate::ReloadSource>>,
    /// The running chat channels' shared inbound paths (the web chat's among them) and their
    /// pairing (SPEC P1–P3); `None` (no channel enabled) answers
    /// `POST /api/channels/{channel}/pairing-codes` with 404.
    pub pairing: Option<Arc<rampart_channels::ChannelDesk>>,
    /// The peer network node (SPEC O1, O2) when `[network]` is on; `GET /api/peers` lists its
    /// links.
    pub peers: Option<Arc<rampart_peer::PeerNode>>,
}

/// Facts for the authenticated health detail.
#[derive(Debug)]
pub struct GatewayInfo {
    /// When the gateway started.
    pub started: Instant,
    /// `"unlocked"`, `"absent"` …: the vault's state at start-up.
    pub vault: &'static str,
}
