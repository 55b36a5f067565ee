//! # rampart-gateway
//!
//! The HTTP and WebSocket front of Rampart: an axum application whose cross-cutting controls are
//! tower layers composed once, in [`app`]. The onion, outermost first:
//!
//! ```text
//! connection              `server`: connection cap, header-read deadline (slowloris), head buffer
//!  └ trace                one span per request (logs pass the RedactingWriter, SPEC L1)
//!    └ security headers   every response, errors and panics included (SPEC N4)
//!      └ metrics          counts requests, 4xx/5xx, 401, 403 for `/metrics`
//!        └ reply guard    every response body passes the known-secret leak guard (SPEC L2)
//!          └ contract errors  any non-JSON error (404, 405, 413, extractor rejections) → {"error":{…}}
//!            └ limits     URL 414, headers 431, body per route class → 413
//!              └ rate limit  GCRA per client IP (trusted_proxies) → 429 + Retry-After, audited
//!                └ auth   Bearer key (or ?token= on WebSocket upgrades only) → Principal or 401;
//!                         the least role of the route the path matches, from the one table in
//!                         `access` → or 403 (audited)
//!                  └ catch panic  a panicking handler becomes a contract 500 that still passes
//!                                 every control above; the gateway keeps serving
//!                    └ routes  handlers, which never see credentials; every user message passes
//!                              `admission` (sanitize, injection detection → 400, audited) before the
//!                              agent loop, whose model and tool calls the `AuditObserver` records
//! ```
//!
//! Everything from trace to catch panic is one hand-written tower service, [`Gateway`]
//! (`stack.rs`), calling each control's function in this order: a request costs one boxed future
//! for the whole edge, not a boxed future and a clone of the inner service per control
//! (`benches/edge_load.rs` measures the stack). Auth runs before the router, on the pattern the
//! path matches in a route table built from the same list as the router (see [`app`]).
//!
//! Trust assumptions: everything in a request is hostile until a layer has checked it; the
//! configuration and the agent runtime are trusted. No handler reaches into another crate's
//! internals: they call the [`rampart_agent::Runtime`] API.
//!
//! [`check_bind`] refuses to expose the gateway beyond loopback without an API key (SPEC A3):
//!
//! ```
//! use std::net::SocketAddr;
//! let public: SocketAddr = "0.0.0.0:4200".parse().unwrap();
//! let local: SocketAddr = "127.0.0.1:4200".parse().unwrap();
//! assert!(rampart_gateway::check_bind(public, false).is_err());
//! assert!(rampart_gateway::check_bind(public, true).is_ok());
//! assert!(rampart_gateway::check_bind(local, false).is_ok());
//! ```

#![forbid(unsafe_code)]

pub mod access;
mod admission;
mod auth;
pub mod client_ip;
mod edge;
mod error;
mod events;
mod keys;
mod layers;
pub mod limits;
mod metrics;
mod observer;
pub mod peers;
pub mod rate_limit;
pub mod reload;
mod reply_guard;
mod routes;
pub mod server;
mod slow_client;
mod stack;
mod state;
pub mod ws_limits;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::{MethodRouter, delete, get, post};

pub use edge::{EdgeSettings, EdgeState, LeakFilter, WebhookToken, install_leak_reporter};
pub use error::ApiError;
pub use events::Events;
pub use keys::{
    Authenticator, CredentialId, MAX_CACHED_KEYS, MAX_CONCURRENT_KEY_CHECKS,
    MAX_PRESENTED_KEY_BYTES, Principal,
};
pub use layers::MAX_BODY_BYTES;
pub use metrics::Metrics;
pub use observer::AuditObserver;
pub use reload::{ReloadHook, ReloadReport, ReloadSource};
pub use reply_guard::MAX_REPLY_SCAN_BYTES;
pub use routes::chat::CHAT_CSP;
pub use routes::ws::{MAX_WS_FRAME_BYTES, MAX_WS_MESSAGE_BYTES, MAX_WS_TEXT_BYTES};
pub use server::ServerLimits;
pub use stack::{Gateway, GatewayFuture};
pub use state::{AppState, GatewayInfo};

/// Why the gateway would not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GatewayError {
    /// A non-loopback address was configured without an API key (SPEC A3).
    #[error(
        "refusing to listen on {0} without an API key: set api_key in config.toml (see `rampart keygen`) or listen on 127.0.0.1"
    )]
    PublicBindWithoutKey(SocketAddr),
    /// The socket could not be bound or served.
    #[error("cannot serve on {addr}: {source}")]
    Io {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// Refuses a non-loopback listen address unless an API key is configured (SPEC A3).
///
/// # Errors
/// [`GatewayError::PublicBindWithoutKey`].
pub fn check_bind(addr: SocketAddr, has_key: bool) -> Result<(), GatewayError> {
    if addr.ip().is_loopback() || has_key {
        Ok(())
    } else {
        Err(GatewayError::PublicBindWithoutKey(addr))
    }
}

/// The application with every layer, ready for `oneshot` tests or [`serve`].
pub fn app(state: AppState) -> Gateway {
    let state = Arc::new(state);
    // One list feeds both the router and the route table auth matches against (see
    // `stack::RouteTable`), so the two cannot disagree on which pattern a path matches.
    let table: Vec<(&'static str, MethodRouter<Arc<AppState>>)> = vec![
        ("/api/health", get(routes::health::health)),
        ("/api/health/detail", get(routes::health::detail)),
        (
            "/api/agents",
            get(routes::agents::list).post(routes::agents::create),
        ),
        ("/api/agents/{name}", delete(routes::agents::delete)),
        ("/api/agents/{name}/message", post(routes::agents::message)),
        ("/api/agents/{name}/ws", get(routes::ws::upgrade)),
        (
            "/v1/chat/completions",
            post(routes::openai::chat_completions),
        ),
        ("/hooks/{agent}", post(routes::webhook::trigger)),
        ("/metrics", get(routes::metrics::metrics)),
        ("/api/approvals", get(routes::approvals::list)),
        ("/api/approvals/{id}", post(routes::approvals::decide)),
        ("/api/audit", get(routes::audit::list)),
        ("/api/audit/verify", get(routes::audit::verify)),
        ("/api/peers", get(peers::list)),
        (
            "/api/channels/{channel}/pairing-codes",
            post(routes::channels::issue_pairing_code),
        ),
        ("/api/config/reload", post(routes::config::reload)),
        ("/api/users", get(routes::config::users)),
        ("/api/me", get(routes::config::me)),
        ("/chat", get(routes::chat::page)),
        ("/chat/app.js", get(routes::chat::script)),
        ("/chat/app.css", get(routes::chat::style)),
    ];
    let mut router = Router::new();
    let mut patterns = stack::RouteTable::default();
    for (pattern, handlers) in table {
        // A conflicting pattern is a bug in the list above, which axum's `route` would refuse
        // with a panic as well; the tests build this app, so it cannot ship.
        #[allow(
            clippy::expect_used,
            reason = "a conflict is a bug in the literal list above"
        )]
        patterns
            .add(pattern)
            .expect("route patterns do not conflict");
        router = router.route(pattern, handlers);
    }
    // No `DefaultBodyLimit` layer: `limits::check` already caps every body at its route's limit
    // (at most MAX_BODY_BYTES). Everything else (trace, security headers, metrics, reply guard,
    // contract errors, limits, rate limit, auth, panics) runs in `stack::Gateway`, in that order.
    let router = router
        .fallback(|| async { ApiError::not_found("no such route") })
        .with_state(Arc::clone(&state));
    Gateway::new(state, router, patterns)
}

/// Serves [`app`] on `listener` until `shutdown` resolves, then drains in-flight requests, with
/// the default connection limits ([`ServerLimits`]).
///
/// # Errors
/// [`GatewayError::Io`] when the listener's address cannot be read.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), GatewayError> {
    serve_with(listener, state, ServerLimits::default(), shutdown).await
}

/// [`serve`] with explicit connection limits.
///
/// # Errors
/// [`GatewayError::Io`] when the listener's address cannot be read.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    state: AppState,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), GatewayError> {
    listener.local_addr().map_err(|source| GatewayError::Io {
        addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        source,
    })?;
    install_leak_reporter(&state);
    server::run(listener, app(state), limits, shutdown).await;
    Ok(())
}
