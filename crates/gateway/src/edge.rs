//! The edge's shared state: limiters, the proxy and origin lists, WebSocket windows, counters,
//! the leak guard and the webhook token. One value in [`crate::AppState::edge`].

use std::sync::Arc;
use std::time::Duration;

use rampart_audit::{Actor, Event, Outcome, Record};
use rampart_config::{EdgeConfig, TrustedProxy};
use rampart_guard::SharedLeakGuard;
use ring::digest;
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::metrics::Metrics;
use crate::rate_limit::ClientLimiter;
use crate::ws_limits::{KeyWindows, WS_IDLE_TIMEOUT, WS_PING_INTERVAL};

/// The webhook trigger's token, kept as its SHA-256 digest.
pub struct WebhookToken {
    digest: [u8; 32],
}

impl std::fmt::Debug for WebhookToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookToken(..)")
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, bytes).as_ref());
    out
}

impl WebhookToken {
    /// The token to accept.
    #[must_use]
    pub fn new(token: &SecretString) -> Self {
        Self {
            digest: sha256(token.expose_secret().as_bytes()),
        }
    }

    /// Whether `presented` is the token, compared in constant time (digests of equal length, so
    /// neither content nor length leaks).
    #[must_use]
    pub fn verify(&self, presented: &str) -> bool {
        sha256(presented.as_bytes()).ct_eq(&self.digest).into()
    }
}

/// Everything the edge layers share.
#[derive(Debug)]
#[non_exhaustive]
pub struct EdgeState {
    /// `api_rate_limit` / `api_rate_burst`, per client IP.
    pub limiter: ClientLimiter,
    /// `[webhook_trigger] rate_limit_per_minute`, per client IP.
    pub webhook_limiter: ClientLimiter,
    /// `trusted_proxies`.
    pub trusted_proxies: Vec<TrustedProxy>,
    /// `ws_allowed_origins` (empty: the gateway's own origin).
    pub ws_allowed_origins: Vec<String>,
    /// WebSocket message windows per authenticated key.
    pub ws_windows: KeyWindows,
    /// How often a WebSocket is pinged.
    pub ws_ping_interval: Duration,
    /// How long a WebSocket may go without a pong before it is closed.
    pub ws_idle_timeout: Duration,
    /// Counters for `/metrics`.
    pub metrics: Metrics,
    /// The known-secret leak guard every reply passes (SPEC L2).
    pub leak: SharedLeakGuard,
    /// The webhook token when `[webhook_trigger] enabled` (else the route answers 404).
    pub webhook: Option<WebhookToken>,
}

impl EdgeState {
    /// The edge for `config`, with `leak` and, when the trigger is enabled, its token.
    #[must_use]
    pub fn new(config: &EdgeConfig, leak: SharedLeakGuard, webhook: Option<&SecretString>) -> Self {
        let hook_rate = config.webhook_trigger.rate_limit_per_minute;
        Self {
            limiter: ClientLimiter::new(config.api_rate_limit, config.api_rate_burst),
            webhook_limiter: ClientLimiter::new(hook_rate, hook_rate),
            trusted_proxies: config.trusted_proxies.clone(),
            ws_allowed_origins: config.ws_allowed_origins.clone(),
            ws_windows: KeyWindows::default(),
            ws_ping_interval: WS_PING_INTERVAL,
            ws_idle_timeout: WS_IDLE_TIMEOUT,
            metrics: Metrics::default(),
            leak,
            webhook: webhook
                .filter(|_| config.webhook_trigger.enabled)
                .map(WebhookToken::new),
        }
    }
}

impl Default for EdgeState {
    fn default() -> Self {
        Self::new(&EdgeConfig::default(), SharedLeakGuard::default(), None)
    }
}

/// Routes every leak-guard hit to the metrics and the audit trail (`secret_redacted`). Needs a
/// tokio runtime; [`crate::serve`] calls it.
pub fn install_leak_reporter(state: &AppState) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, String)>();
    state
        .edge
        .leak
        .set_reporter(Arc::new(move |dest: &str, name: &str| {
            let _ = tx.send((dest.to_owned(), name.to_owned()));
        }));
    let state = state.clone();
    tokio::spawn(async move {
        while let Some((destination, secret_name)) = rx.recv().await {
            state.edge.metrics.secret_redacted();
            let event = Event::SecretRedacted {
                destination,
                secret_name,
            };
            state
                .events
                .record(
                    Record::new(event)
                        .actor(Actor::System)
                        .outcome(Outcome::Denied),
                )
                .await;
        }
    });
}

/// The leak guard as the agent loop's outbound hook: provider requests and tool arguments are
/// redacted (SPEC L2).
#[derive(Debug, Clone)]
pub struct LeakFilter(pub SharedLeakGuard);

impl rampart_agent::OutboundFilter for LeakFilter {
    fn text(&self, destination: &str, text: &mut String) {
        if let std::borrow::Cow::Owned(r) = self.0.redact(destination, text) {
            *text = r;
        }
    }

    fn json(&self, destination: &str, value: &mut serde_json::Value) {
        self.0.redact_json(destination, value);
    }
}
