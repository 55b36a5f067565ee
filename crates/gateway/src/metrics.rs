//! Counters for `/metrics` (Prometheus text format, SPEC M1): requests, rate limits, auth
//! failures, WebSocket activity, redactions. Plain atomics: no registry, no labels beyond the few
//! fixed ones here, nothing a client can make unbounded.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// The gateway's counters. All monotonic.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Striped,
    responses_4xx: AtomicU64,
    responses_5xx: AtomicU64,
    auth_failures: AtomicU64,
    forbidden: AtomicU64,
    rate_limited_ip: AtomicU64,
    rate_limited_websocket: AtomicU64,
    rate_limited_webhook: AtomicU64,
    ws_connections: AtomicU64,
    ws_messages: AtomicU64,
    ws_refused: AtomicU64,
    ws_closed_idle: AtomicU64,
    webhook_requests: AtomicU64,
    secrets_redacted: AtomicU64,
    slow_heads: AtomicU64,
    slow_bodies: AtomicU64,
    slow_silent: AtomicU64,
}

fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// How many stripes [`Striped`] spreads its count over.
const STRIPES: usize = 16;

/// A counter written on every request from every worker thread, spread over cache-line-sized
/// stripes: one shared atomic would bounce its cache line between the cores on each request.
/// Each thread adds to its own stripe; reading sums them.
#[derive(Debug, Default)]
struct Striped([Padded; STRIPES]);

/// One stripe, alone on its cache line (128 bytes: two lines, for adjacent-line prefetch).
#[derive(Debug, Default)]
#[repr(align(128))]
struct Padded(AtomicU64);

impl Striped {
    fn inc(&self) {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        thread_local! {
            static STRIPE: usize =
                usize::try_from(NEXT.fetch_add(1, Ordering::Relaxed)).unwrap_or(0) % STRIPES;
        }
        let i = STRIPE.with(|s| *s);
        if let Some(p) = self.0.get(i) {
            p.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn get(&self) -> u64 {
        self.0.iter().map(|p| p.0.load(Ordering::Relaxed)).sum()
    }
}

impl Metrics {
    /// A rate limit refused something; `scope` is `ip`, `websocket` or `webhook`.
    pub fn rate_limited(&self, scope: &str) {
        inc(match scope {
            "websocket" => &self.rate_limited_websocket,
            "webhook" => &self.rate_limited_webhook,
            _ => &self.rate_limited_ip,
        });
    }
    /// A WebSocket was opened.
    pub fn ws_connection(&self) {
        inc(&self.ws_connections);
    }
    /// A WebSocket message was accepted.
    pub fn ws_message(&self) {
        inc(&self.ws_messages);
    }
    /// A WebSocket upgrade or message was refused (origin, size, rate).
    pub fn ws_refused(&self) {
        inc(&self.ws_refused);
    }
    /// A WebSocket was closed for not answering pings.
    pub fn ws_closed_idle(&self) {
        inc(&self.ws_closed_idle);
    }
    /// A connection was closed for not finishing a request head or body in time.
    pub(crate) fn slow_client(&self, stage: crate::slow_client::Stage) {
        inc(match stage {
            crate::slow_client::Stage::Head => &self.slow_heads,
            crate::slow_client::Stage::Body => &self.slow_bodies,
            crate::slow_client::Stage::Silent => &self.slow_silent,
        });
    }
    /// A webhook request arrived.
    pub fn webhook_request(&self) {
        inc(&self.webhook_requests);
    }
    /// A known secret was redacted on its way out.
    pub fn secret_redacted(&self) {
        inc(&self.secrets_redacted);
    }

    /// The Prometheus text exposition.
    #[must_use]
    pub fn render(&self, tracked_clients: usize) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut out = String::new();
        let mut counter = |name: &str, help: &str, rows: &[(&str, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (labels, v) in rows {
                let _ = writeln!(out, "{name}{labels} {v}");
            }
        };
        counter(
            "rampart_http_requests_total",
            "HTTP requests received.",
            &[("", self.requests.get())],
        );
        counter(
            "rampart_http_responses_total",
            "HTTP error responses by class.",
            &[
                ("{class=\"4xx\"}", get(&self.responses_4xx)),
                ("{class=\"5xx\"}", get(&self.responses_5xx)),
            ],
        );
        counter(
            "rampart_auth_failures_total",
            "Requests refused with 401.",
            &[("", get(&self.auth_failures))],
        );
        counter(
            "rampart_access_denied_total",
            "Requests refused with 403.",
            &[("", get(&self.forbidden))],
        );
        counter(
            "rampart_rate_limited_total",
            "Requests or messages refused by a rate limit.",
            &[
                ("{scope=\"ip\"}", get(&self.rate_limited_ip)),
                ("{scope=\"websocket\"}", get(&self.rate_limited_websocket)),
                ("{scope=\"webhook\"}", get(&self.rate_limited_webhook)),
            ],
        );
        counter(
            "rampart_websocket_connections_total",
            "WebSocket connections opened.",
            &[("", get(&self.ws_connections))],
        );
        counter(
            "rampart_websocket_messages_total",
            "WebSocket messages accepted.",
            &[("", get(&self.ws_messages))],
        );
        counter(
            "rampart_websocket_refused_total",
            "WebSocket upgrades or messages refused.",
            &[("", get(&self.ws_refused))],
        );
        counter(
            "rampart_websocket_idle_closed_total",
            "WebSockets closed for not answering pings.",
            &[("", get(&self.ws_closed_idle))],
        );
        counter(
            "rampart_webhook_requests_total",
            "Webhook trigger requests.",
            &[("", get(&self.webhook_requests))],
        );
        counter(
            "rampart_slow_clients_closed_total",
            "Connections closed for not finishing a request head or body in time, or sending nothing.",
            &[
                ("{stage=\"head\"}", get(&self.slow_heads)),
                ("{stage=\"body\"}", get(&self.slow_bodies)),
                ("{stage=\"silent\"}", get(&self.slow_silent)),
            ],
        );
        counter(
            "rampart_secrets_redacted_total",
            "Known secrets redacted on their way out.",
            &[("", get(&self.secrets_redacted))],
        );
        let _ = writeln!(
            out,
            "# HELP rampart_rate_limit_tracked_clients Client keys the rate limiter holds.\n# TYPE rampart_rate_limit_tracked_clients gauge\nrampart_rate_limit_tracked_clients {tracked_clients}"
        );
        out
    }
}

impl Metrics {
    /// A request arrived (the edge layer, [`crate::layers::edge`]).
    pub(crate) fn request_started(&self) {
        self.requests.inc();
    }

    /// A response of `s` left: counts its error class, 401s and 403s.
    pub(crate) fn response(&self, s: http::StatusCode) {
        if s.is_client_error() {
            inc(&self.responses_4xx);
        } else if s.is_server_error() {
            inc(&self.responses_5xx);
        }
        match s {
            http::StatusCode::UNAUTHORIZED => inc(&self.auth_failures),
            http::StatusCode::FORBIDDEN => inc(&self.forbidden),
            _ => {}
        }
    }
}
