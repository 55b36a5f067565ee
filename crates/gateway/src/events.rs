//! Security events the gateway emits: one sink handed down from `main`, never a global.
//!
//! Each event is logged (with untrusted values escaped so they cannot forge log lines) and, once
//! the audit trail is attached, appended to it.

use std::net::SocketAddr;

/// The gateway's event sink. Cloning is cheap.
#[derive(Clone, Debug, Default)]
pub struct Events {
    _private: (),
}

impl Events {
    /// A sink that only logs.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A request was refused for a missing or wrong credential.
    pub fn auth_failed(&self, peer: Option<SocketAddr>, method: &str, path: &str, reason: &str) {
        tracing::warn!(
            peer = %peer.map_or_else(|| "unknown".to_owned(), |p| p.ip().to_string()),
            method = %method.escape_debug(),
            path = %path.escape_debug(),
            reason,
            "authentication failed"
        );
    }
}
