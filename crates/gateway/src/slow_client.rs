//! Slow clients (SPEC N6): what the gateway does after the connection layer ([`crate::server`])
//! closes a connection whose client did not finish a request's head or body in time, or
//! never sent anything.
//!
//! Each close is counted (`rampart_slow_clients_closed_total`); the first of a client in a minute
//! is also audited (`slow_client`) and logged as a warning, later ones only at debug level, so
//! that a slowloris attack shows in the trail and the log without one entry per connection.

use std::net::SocketAddr;

use rampart_audit::{Actor, Event, Outcome, Record};

use crate::AppState;

/// What the client had not finished sending at the deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    /// A request head (slowloris).
    Head,
    /// A request body (slow POST).
    Body,
    /// Nothing at all: connected, never sent a byte, held the connection to the deadline.
    Silent,
}

impl Stage {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Head => "head",
            Self::Body => "body",
            Self::Silent => "silent",
        }
    }
}

/// Records that the connection from `peer` was closed as a slow client.
///
/// Keyed by the peer's own address, not a forwarded one: a slow head has no header to believe
/// yet, and behind a trusted proxy (which normally buffers requests, making slow clients its
/// problem) every client shares the proxy's entry.
pub(crate) async fn closed(state: &AppState, peer: SocketAddr, stage: Stage) {
    let ip = peer.ip();
    state.edge.metrics.slow_client(stage);
    if state.edge.slow_client_audit.check(ip, 1).is_err() {
        tracing::debug!(peer = %ip, stage = stage.as_str(), "closed a slow client");
        return;
    }
    tracing::warn!(
        peer = %ip,
        stage = stage.as_str(),
        "closed a slow client (audited once per client a minute)"
    );
    let event = Event::SlowClient {
        stage: stage.as_str().to_owned(),
    };
    state
        .events
        .record(
            Record::new(event)
                .actor(Actor::Ip(ip))
                .outcome(Outcome::Blocked),
        )
        .await;
}
