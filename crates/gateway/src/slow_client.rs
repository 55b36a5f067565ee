//! Slow clients (SPEC N6): what the gateway does after the connection layer ([`crate::server`])
//! closes a connection whose client did not finish a request's head or body in time.
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
}

impl Stage {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Head => "head",
            Self::Body => "body",
        }
    }
}

/// Records that the connection from `peer` was closed as a slow client.
///
/// The peer's own address: no request head was read that a trusted proxy's forwarded header
/// could have come in (a proxy in front normally buffers heads, and the slow client is its
/// problem then).
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
