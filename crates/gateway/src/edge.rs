//! The edge's shared state: limiters, the proxy and origin lists, WebSocket windows, counters,
//! the leak guard and the webhook token. One value in [`crate::AppState::edge`].

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

use rampart_audit::{Actor, Event, Outcome, Record};
use rampart_config::{EdgeConfig, SecurityHeaders, TrustedProxy};
use rampart_guard::SharedLeakGuard;
use ring::digest;
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::metrics::Metrics;
use crate::rate_limit::ClientLimiter;
use crate::ws_limits::{KeyWindows, WS_IDLE_TIMEOUT, WS_PING_INTERVAL, WS_SEND_TIMEOUT};

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

/// The edge settings a config reload replaces (SPEC M2): the rate limits, the proxy and origin
/// lists and the security headers. Readers take the current generation with
/// [`EdgeState::settings`]; a reload swaps in the next one atomically, so a request sees one
/// generation throughout.
#[derive(Debug)]
#[non_exhaustive]
pub struct EdgeSettings {
    /// `api_rate_limit` / `api_rate_burst`, per client IP.
    pub limiter: Arc<ClientLimiter>,
    /// `[webhook_trigger] rate_limit_per_minute`, per client IP.
    pub webhook_limiter: Arc<ClientLimiter>,
    /// `trusted_proxies`.
    pub trusted_proxies: Vec<TrustedProxy>,
    /// `ws_allowed_origins` (empty: the gateway's own origin).
    pub ws_allowed_origins: Vec<String>,
    /// `[security.headers]`, put on every response (SPEC N4).
    pub headers: SecurityHeaders,
    /// The quotas the limiters were built with, to keep a limiter's buckets across a reload
    /// that does not change its quota.
    api_quota: (NonZeroU32, NonZeroU32),
    webhook_quota: NonZeroU32,
}

impl EdgeSettings {
    /// The settings for `config`, reusing `previous`'s limiters (and so every client's bucket)
    /// where the quota is unchanged. A changed quota starts a fresh limiter: every client's
    /// bucket is full again under the new numbers.
    fn new(config: &EdgeConfig, headers: SecurityHeaders, previous: Option<&Self>) -> Self {
        let api_quota = (config.api_rate_limit, config.api_rate_burst);
        let webhook_quota = config.webhook_trigger.rate_limit_per_minute;
        let limiter = match previous {
            Some(p) if p.api_quota == api_quota => Arc::clone(&p.limiter),
            _ => Arc::new(ClientLimiter::new(api_quota.0, api_quota.1)),
        };
        let webhook_limiter = match previous {
            Some(p) if p.webhook_quota == webhook_quota => Arc::clone(&p.webhook_limiter),
            _ => Arc::new(ClientLimiter::new(webhook_quota, webhook_quota)),
        };
        Self {
            limiter,
            webhook_limiter,
            trusted_proxies: config.trusted_proxies.clone(),
            ws_allowed_origins: config.ws_allowed_origins.clone(),
            headers,
            api_quota,
            webhook_quota,
        }
    }

    /// What differs from `before`, in words (numbers and names of settings; no values that
    /// could be secret — there are none here).
    fn changes_since(&self, before: &Self) -> Vec<String> {
        let mut said = Vec::new();
        if self.api_quota != before.api_quota {
            said.push(format!(
                "api_rate_limit {}/min burst {} (was {}/min burst {})",
                self.api_quota.0, self.api_quota.1, before.api_quota.0, before.api_quota.1
            ));
        }
        if self.webhook_quota != before.webhook_quota {
            said.push(format!(
                "webhook_trigger.rate_limit_per_minute {} (was {})",
                self.webhook_quota, before.webhook_quota
            ));
        }
        if self.trusted_proxies != before.trusted_proxies {
            said.push(format!(
                "trusted_proxies: {} entr{}",
                self.trusted_proxies.len(),
                if self.trusted_proxies.len() == 1 {
                    "y"
                } else {
                    "ies"
                }
            ));
        }
        if self.ws_allowed_origins != before.ws_allowed_origins {
            said.push(format!(
                "ws_allowed_origins: {}",
                if self.ws_allowed_origins.is_empty() {
                    "the gateway's own origin".to_owned()
                } else {
                    self.ws_allowed_origins.join(", ")
                }
            ));
        }
        if self.headers != before.headers {
            said.push("security.headers".to_owned());
        }
        said
    }
}

/// Everything the edge layers share.
#[derive(Debug)]
#[non_exhaustive]
pub struct EdgeState {
    /// The settings a reload replaces; see [`EdgeState::settings`].
    settings: ArcSwap<EdgeSettings>,
    /// WebSocket message windows per authenticated key.
    pub ws_windows: KeyWindows,
    /// How often a WebSocket is pinged.
    pub ws_ping_interval: Duration,
    /// How long a WebSocket may go without a pong before it is closed.
    pub ws_idle_timeout: Duration,
    /// How long one frame to a WebSocket client may take to send before the socket is dropped.
    pub ws_send_timeout: Duration,
    /// Counters for `/metrics`.
    pub metrics: Metrics,
    /// The known-secret leak guard every reply passes (SPEC L2).
    pub leak: SharedLeakGuard,
    /// The webhook token when `[webhook_trigger] enabled` (else the route answers 404). Read at
    /// start: the token comes from the environment, which a reload does not re-read.
    pub webhook: Option<WebhookToken>,
    /// One cell a minute per client: whether a slow-client close is audited
    /// ([`crate::slow_client`]). Its memory is bounded like the rate limiter's.
    pub(crate) slow_client_audit: ClientLimiter,
    /// Set when the server begins a graceful shutdown ([`crate::server`]): each connection
    /// finishes its request and closes, and open WebSockets close (1001), so that their slots
    /// come free within the shutdown grace.
    pub(crate) shutdown: tokio::sync::watch::Sender<bool>,
}

impl EdgeState {
    /// The edge for `config`, with the default security headers (see
    /// [`EdgeState::with_headers`]), `leak` and, when the trigger is enabled, its token.
    #[must_use]
    pub fn new(config: &EdgeConfig, leak: SharedLeakGuard, webhook: Option<&SecretString>) -> Self {
        Self {
            settings: ArcSwap::from_pointee(EdgeSettings::new(
                config,
                SecurityHeaders::default(),
                None,
            )),
            ws_windows: KeyWindows::default(),
            ws_ping_interval: WS_PING_INTERVAL,
            ws_idle_timeout: WS_IDLE_TIMEOUT,
            ws_send_timeout: WS_SEND_TIMEOUT,
            metrics: Metrics::default(),
            leak,
            webhook: webhook
                .filter(|_| config.webhook_trigger.enabled)
                .map(WebhookToken::new),
            slow_client_audit: ClientLimiter::new(NonZeroU32::MIN, NonZeroU32::MIN),
            shutdown: tokio::sync::watch::Sender::new(false),
        }
    }

    /// This edge with `headers` (`[security.headers]`) in place of the defaults.
    #[must_use]
    pub fn with_headers(self, headers: SecurityHeaders) -> Self {
        let current = self.settings.load_full();
        let fresh = EdgeSettings {
            limiter: Arc::clone(&current.limiter),
            webhook_limiter: Arc::clone(&current.webhook_limiter),
            trusted_proxies: current.trusted_proxies.clone(),
            ws_allowed_origins: current.ws_allowed_origins.clone(),
            headers,
            api_quota: current.api_quota,
            webhook_quota: current.webhook_quota,
        };
        self.settings.store(Arc::new(fresh));
        self
    }

    /// The current settings. Cheap (no lock, no reference-count traffic on the fast path); hold
    /// the guard for one request, not across a long await.
    #[must_use]
    pub fn settings(&self) -> arc_swap::Guard<Arc<EdgeSettings>> {
        self.settings.load()
    }

    /// Applies a reloaded configuration's edge settings at once and says what changed (empty
    /// when nothing did). The next request is limited, believed and answered under the new
    /// settings; a request in flight finishes under the ones it started with.
    pub fn apply(&self, config: &EdgeConfig, headers: &SecurityHeaders) -> Vec<String> {
        let before = self.settings.load_full();
        let fresh = EdgeSettings::new(config, headers.clone(), Some(&before));
        let said = fresh.changes_since(&before);
        self.settings.store(Arc::new(fresh));
        said
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
