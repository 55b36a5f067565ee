//! Per-client rate limiting with GCRA (`governor`), keyed by client IP (SPEC N2, N6).
//!
//! `api_rate_limit` requests a minute with `api_rate_burst` back to back; a request costs
//! [`COST_DEFAULT`] cells, a message to an agent (which runs the model) [`COST_MESSAGE`]. A
//! refused request gets 429 with `Retry-After`, and the audit trail gets one `rate_limited` entry
//! per client per minute, not one per request.
//!
//! Memory stays bounded: IPv6 clients are keyed by their /64 (one host owns a whole /64, so
//! per-address keys would be free to spray), stale keys are evicted regularly, and past
//! [`MAX_TRACKED_CLIENTS`] live keys clients share one overflow bucket until eviction frees room.

use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use http::{HeaderValue, Method, header};
use rampart_audit::{Actor, Event, Outcome, Record};

use crate::client_ip;
use crate::{ApiError, AppState};

/// Cells an ordinary request costs.
pub const COST_DEFAULT: u32 = 1;
/// Cells a message to an agent costs (HTTP, OpenAI-compatible, webhook, WebSocket upgrade).
///
/// # Security
/// A message runs the model and tools: it costs the operator money and time, so a client gets
/// a fifth as many of them as of cheap reads.
pub const COST_MESSAGE: u32 = 5;
/// The most client keys tracked at once.
///
/// # Security
/// Bounds the limiter's memory under an address-spraying attack (each key is a few dozen bytes;
/// 64 Ki keys are a few MB). Past it, new clients share one overflow bucket.
pub const MAX_TRACKED_CLIENTS: usize = 65_536;
/// How often (in one worker thread's checks) the number of keys is looked at (and stale keys evicted when over the
/// cap; every 16 times that, regardless).
pub const EVICT_EVERY: u64 = 1024;

/// A keyed GCRA limiter with bounded memory.
pub struct ClientLimiter {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    audit_gate: DefaultKeyedRateLimiter<IpAddr>,
    burst: NonZeroU32,
    overflow: std::sync::atomic::AtomicBool,
    clock: DefaultClock,
}

impl std::fmt::Debug for ClientLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientLimiter")
            .field("keys", &self.limiter.len())
            .field("burst", &self.burst)
            .finish_non_exhaustive()
    }
}

/// A refusal: how long until the request would be allowed, and whether to audit it.
#[derive(Debug, Clone, Copy)]
pub struct Limited {
    /// Seconds for `Retry-After` (at least 1).
    pub retry_after_secs: u64,
    /// True for the first refusal of this client in the current minute.
    pub audit: bool,
}

impl ClientLimiter {
    /// `per_minute` requests a minute, `burst` at once.
    #[must_use]
    pub fn new(per_minute: NonZeroU32, burst: NonZeroU32) -> Self {
        let quota = Quota::per_minute(per_minute).allow_burst(burst);
        Self {
            limiter: RateLimiter::keyed(quota),
            audit_gate: RateLimiter::keyed(Quota::per_minute(NonZeroU32::MIN)),
            burst,
            overflow: std::sync::atomic::AtomicBool::new(false),
            clock: DefaultClock::default(),
        }
    }

    /// How many client keys are held (for tests and `/metrics`).
    #[must_use]
    pub fn tracked_clients(&self) -> usize {
        self.limiter.len()
    }

    fn key(&self, ip: IpAddr) -> IpAddr {
        let key = match ip {
            IpAddr::V6(v6) => {
                let p = u128::from(v6) & (u128::MAX << 64);
                IpAddr::V6(Ipv6Addr::from(p))
            }
            v4 @ IpAddr::V4(_) => v4,
        };
        // Counting the keys visits every shard of the map, so it is done every EVICT_EVERY
        // checks of a thread, not on each: the cap may be overshot by at most that many new keys
        // per worker thread.
        let n = next_check();
        if n.is_multiple_of(EVICT_EVERY) {
            let full = self.limiter.len() >= MAX_TRACKED_CLIENTS;
            if full || n.is_multiple_of(EVICT_EVERY * 16) {
                self.limiter.retain_recent();
                self.limiter.shrink_to_fit();
                self.audit_gate.retain_recent();
                self.audit_gate.shrink_to_fit();
            }
            self.overflow
                .store(self.limiter.len() >= MAX_TRACKED_CLIENTS, Ordering::Relaxed);
        }
        if self.overflow.load(Ordering::Relaxed) {
            // Full of live keys (a spraying attack from real addresses): until eviction frees
            // room, every client shares the overflow bucket. Memory stays bounded; service
            // degrades for everyone rather than the process running out of memory.
            return IpAddr::V6(Ipv6Addr::UNSPECIFIED);
        }
        key
    }

    /// Takes `cost` cells for `ip`, or says how long to wait.
    ///
    /// # Errors
    /// [`Limited`] when the client is over its rate.
    pub fn check(&self, ip: IpAddr, cost: u32) -> Result<(), Limited> {
        let key = self.key(ip);
        let cost = NonZeroU32::new(cost.min(self.burst.get())).unwrap_or(NonZeroU32::MIN);
        let wait = match self.limiter.check_key_n(&key, cost) {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(not_until)) => not_until.wait_time_from(self.clock.now()),
            Err(_) => Duration::from_secs(60),
        };
        Err(Limited {
            retry_after_secs: (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1),
            audit: self.audit_gate.check_key(&key).is_ok(),
        })
    }
}

/// This thread's count of rate-limit checks, the cadence of eviction. Per thread rather than one
/// shared atomic, whose cache line every request on every core would otherwise write: each
/// thread evicts every [`EVICT_EVERY`] of its own checks, which bounds the keys as well.
fn next_check() -> u64 {
    thread_local! {
        static CHECKS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }
    CHECKS.with(|c| {
        let n = c.get();
        c.set(n.wrapping_add(1));
        n
    })
}

/// What a request costs.
fn cost(method: &Method, path: &str) -> u32 {
    let message = (method == Method::POST
        && (path.ends_with("/message")
            || path == "/v1/chat/completions"
            || path.starts_with("/hooks/")))
        || (method == Method::GET && path.ends_with("/ws"));
    if message { COST_MESSAGE } else { COST_DEFAULT }
}

/// The 429 response.
pub(crate) fn too_many(retry_after_secs: u64) -> Response {
    let mut resp = ApiError::new(
        http::StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!("too many requests; retry in {retry_after_secs} s"),
    )
    .into_response();
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    resp
}

/// Records one `rate_limited` entry (and a warning in the log).
pub(crate) async fn audit_rate_limited(state: &AppState, actor: Actor, scope: &str, key: &str) {
    tracing::warn!(scope, key = %key.escape_debug(), "rate limit hit");
    let event = Event::RateLimited {
        scope: scope.to_owned(),
        key: key.to_owned(),
    };
    state
        .events
        .record(Record::new(event).actor(actor).outcome(Outcome::Denied))
        .await;
}

/// A request the rate limit refused: [`Refusal::respond`] audits it (once per client a minute)
/// and answers 429.
#[derive(Debug)]
pub(crate) struct Refusal {
    ip: IpAddr,
    limited: Limited,
}

/// Charges the request's client (its IP under `trusted_proxies`, see
/// [`client_ip::ClientIp`]) the route's cost, without an await: `Ok` to go on, or the
/// [`Refusal`].
pub(crate) fn admit(state: &AppState, req: &Request) -> Result<(), Refusal> {
    let settings = state.edge.settings();
    let ip = client_ip::resolve(
        client_ip::peer(req.extensions()),
        req.headers(),
        &settings.trusted_proxies,
    );
    let cost = cost(req.method(), req.uri().path());
    settings
        .limiter
        .check(ip, cost)
        .map_err(|limited| Refusal { ip, limited })
}

impl Refusal {
    /// Counts and (once per client a minute) audits the refusal; the 429 with `Retry-After`.
    pub(crate) async fn respond(self, state: &AppState) -> Response {
        state.edge.metrics.rate_limited("ip");
        if self.limited.audit {
            audit_rate_limited(state, Actor::Ip(self.ip), "ip", &self.ip.to_string()).await;
        }
        too_many(self.limited.retry_after_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nz(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).unwrap()
    }

    #[test]
    fn burst_then_refusal_with_retry_after_and_one_audit() {
        let l = ClientLimiter::new(nz(60), nz(3));
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..3 {
            assert!(l.check(ip, 1).is_ok());
        }
        let first = l.check(ip, 1).unwrap_err();
        assert!(first.audit);
        assert_eq!(first.retry_after_secs, 1);
        let second = l.check(ip, 1).unwrap_err();
        assert!(!second.audit, "one audit entry per client per minute");
        // Another client is unaffected.
        assert!(l.check("192.0.2.2".parse().unwrap(), 1).is_ok());
    }

    #[test]
    fn messages_cost_more() {
        assert_eq!(cost(&Method::POST, "/api/agents/a/message"), COST_MESSAGE);
        assert_eq!(cost(&Method::GET, "/api/agents"), COST_DEFAULT);
        let l = ClientLimiter::new(nz(100), nz(10));
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        assert!(l.check(ip, COST_MESSAGE).is_ok());
        assert!(l.check(ip, COST_MESSAGE).is_ok());
        assert!(l.check(ip, COST_MESSAGE).is_err());
    }

    #[test]
    fn ipv6_clients_share_their_slash_64() {
        let l = ClientLimiter::new(nz(60), nz(1));
        assert!(l.check("2001:db8::1".parse().unwrap(), 1).is_ok());
        assert!(l.check("2001:db8::2".parse().unwrap(), 1).is_err());
        assert!(l.check("2001:db8:0:1::1".parse().unwrap(), 1).is_ok());
        assert_eq!(l.tracked_clients(), 2);
    }
}
