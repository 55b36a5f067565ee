//! The connection layer under the onion (SPEC N6): a connection cap (upgraded WebSockets
//! included: the socket keeps its slot), a deadline for reading request headers (slowloris) and
//! one for reading a request body (slow POST), and a bound on the header buffer. axum's own
//! `serve` exposes none of these, so connections are accepted here and handed to hyper directly.
//!
//! The header deadline is kept here rather than by hyper's `header_read_timeout`, which arms a
//! timer in the runtime's shared timer wheel for every request head and disarms it again (a lock,
//! an allocation and a runtime handle per request: ≈ 6 % of a bare route's throughput on the
//! loopback benchmark). Here each connection has one watchdog that wakes a few times per
//! deadline and closes the connection once nothing has been in flight for the whole deadline:
//! a client that trickles a head, or sits on an idle keep-alive connection, is closed after
//! between one and one and a quarter deadlines. The same watchdog closes a connection whose
//! request body has not arrived in full within [`BODY_READ_TIMEOUT`] of the gateway's first read
//! of it (plus up to a quarter of the header deadline), so a client cannot hold a slot by
//! trickling a body either. It keeps watching during a graceful shutdown, with the header
//! deadline for bodies too, so that neither can hold the shutdown past its grace. A close for an
//! unfinished head or body, or a connection that never sent a byte, is counted and audited
//! ([`crate::slow_client`]); closing a keep-alive connection that was merely idle (nothing sent
//! since its last request) is not.

use std::cell::RefCell;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower::Service as _;

/// How long a client may take to send a request's headers.
///
/// # Security
/// A slowloris client opens many connections and trickles header bytes to hold them; the
/// deadline closes such a connection however slowly it sends.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send a request's body, from the gateway's first read of it.
///
/// # Security
/// Without a deadline a client trickling a body one byte at a time would hold a connection slot
/// for ever.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// The most connections served at once; further clients wait in the kernel's backlog.
///
/// # Security
/// Bounds the memory and tasks one flood of connections can take.
pub const MAX_CONNECTIONS: usize = 1024;
/// The largest buffer hyper keeps for one connection's request head.
///
/// # Security
/// Bounds header memory before the header limits in [`crate::limits`] can even look.
pub const MAX_HEAD_BUFFER_BYTES: usize = 64 * 1024;
/// How long shutdown waits for in-flight requests.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// The connection-level limits; [`ServerLimits::default`] uses the constants above.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct ServerLimits {
    /// See [`HEADER_READ_TIMEOUT`].
    pub header_read_timeout: Duration,
    /// See [`BODY_READ_TIMEOUT`].
    pub body_read_timeout: Duration,
    /// See [`MAX_CONNECTIONS`].
    pub max_connections: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: HEADER_READ_TIMEOUT,
            body_read_timeout: BODY_READ_TIMEOUT,
            max_connections: MAX_CONNECTIONS,
        }
    }
}

impl ServerLimits {
    /// Limits with a different header deadline (tests use a short one).
    #[must_use]
    pub fn with_header_read_timeout(mut self, t: Duration) -> Self {
        self.header_read_timeout = t;
        self
    }

    /// Limits with a different body deadline (tests use a short one).
    #[must_use]
    pub fn with_body_read_timeout(mut self, t: Duration) -> Self {
        self.body_read_timeout = t;
        self
    }
}

/// What a connection's watchdog needs to know. Times are milliseconds since `base`.
/// - `in_flight`, `idle_since_ms`: requests being served, and since when none has been;
/// - `body_since_ms`: since when a request body has been awaited, plus one (0: none is);
/// - `heard`: whether the client has sent anything since its last request ended;
/// - `served`: whether the connection has carried a request at all.
struct Activity {
    base: Instant,
    in_flight: AtomicU32,
    idle_since_ms: AtomicU64,
    body_since_ms: AtomicU64,
    heard: AtomicBool,
    served: AtomicBool,
}

impl Activity {
    fn new() -> Self {
        Self {
            base: Instant::now(),
            in_flight: AtomicU32::new(0),
            idle_since_ms: AtomicU64::new(0),
            body_since_ms: AtomicU64::new(0),
            heard: AtomicBool::new(false),
            served: AtomicBool::new(false),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether nothing has been in flight for at least `limit`.
    fn idle_for(&self, limit: Duration) -> bool {
        let limit = u64::try_from(limit.as_millis()).unwrap_or(u64::MAX);
        self.in_flight.load(Ordering::Acquire) == 0
            && self
                .now_ms()
                .saturating_sub(self.idle_since_ms.load(Ordering::Acquire))
                >= limit
    }

    /// Whether a request body has been awaited for at least `limit`.
    fn body_overdue(&self, limit: Duration) -> bool {
        let limit = u64::try_from(limit.as_millis()).unwrap_or(u64::MAX);
        let since = self.body_since_ms.load(Ordering::Acquire);
        since != 0 && self.now_ms().saturating_sub(since - 1) >= limit
    }
}

/// One request in flight: from its parsed head until its response body is sent or dropped.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn start(activity: &Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        activity.served.store(true, Ordering::Relaxed);
        Self(Arc::clone(activity))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0
            .idle_since_ms
            .store(self.0.now_ms(), Ordering::Release);
        // What the client sends from here on is the next request's head.
        self.0.heard.store(false, Ordering::Relaxed);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A request body being awaited: from the gateway's first read of it until the body has ended
/// or is dropped (read in full or refused). Not from the request's head: the time the request
/// waits on the gateway itself first (a password-hash check in a queue) is not the client's.
struct BodyPending {
    activity: Arc<Activity>,
    since: u64,
}

impl BodyPending {
    fn start(activity: &Arc<Activity>) -> Self {
        let since = activity.now_ms().saturating_add(1);
        activity.body_since_ms.store(since, Ordering::Release);
        Self {
            activity: Arc::clone(activity),
            since,
        }
    }
}

impl Drop for BodyPending {
    fn drop(&mut self) {
        // Only this body's own mark: HTTP/1 awaits one body at a time, and should another have
        // started since (in a later millisecond), its deadline stands.
        let _ = self.activity.body_since_ms.compare_exchange(
            self.since,
            0,
            Ordering::AcqRel,
            Ordering::Relaxed,
        );
    }
}

/// A request body that the [`BodyPending`] mark covers from its first read until it ends.
pub(crate) struct RequestBody {
    inner: Incoming,
    /// The connection's activity, until the first read turns it into the mark; `None` for a
    /// request without a body.
    unread: Option<Arc<Activity>>,
    pending: Option<BodyPending>,
}

impl hyper::body::Body for RequestBody {
    type Data = axum::body::Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        if let Some(activity) = self.unread.take() {
            self.pending = Some(BodyPending::start(&activity));
        }
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(None | Some(Err(_))) => self.pending = None,
            Poll::Ready(Some(Ok(_))) if self.inner.is_end_stream() => self.pending = None,
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// Closes the connection (by returning) once it has been idle for `idle` (the header deadline),
/// or a request body has been awaited for `body` (the body deadline). Says what was unfinished:
/// a body, a head (the client sent something since its last request), nothing at all on a
/// connection that never carried a request ([`Stage::Silent`](crate::slow_client::Stage)), or
/// `None` for a keep-alive connection that was merely idle.
async fn watchdog(
    activity: Arc<Activity>,
    idle: Duration,
    body: Duration,
) -> Option<crate::slow_client::Stage> {
    use crate::slow_client::Stage;
    let tick = (idle.min(body) / 4).max(Duration::from_millis(10));
    loop {
        tokio::time::sleep(tick).await;
        if activity.body_overdue(body) {
            return Some(Stage::Body);
        }
        if activity.idle_for(idle) {
            if activity.heard.load(Ordering::Relaxed) {
                return Some(Stage::Head);
            }
            // Nothing sent since the last request: merely idle, unless there never was one.
            return (!activity.served.load(Ordering::Relaxed)).then_some(Stage::Silent);
        }
    }
}

/// The connection's socket, noting in its [`Activity`] when the client sends anything, so that
/// the watchdog can tell a trickled head from an idle connection. Every other call passes
/// through unchanged (vectored writes included: hyper uses them when the socket has them).
///
/// It also holds the connection's slot under [`MAX_CONNECTIONS`]: a connection upgraded to a
/// WebSocket hands its socket on to the WebSocket, and keeps counting until that closes.
struct Watched {
    stream: TcpStream,
    activity: Arc<Activity>,
    _slot: tokio::sync::OwnedSemaphorePermit,
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.heard.store(true, Ordering::Relaxed);
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

/// A response body that holds its request's [`InFlight`] until the body is done with.
struct TrackedBody {
    inner: Body,
    _in_flight: Option<InFlight>,
}

impl hyper::body::Body for TrackedBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

/// The gateway's future for one request, whose response body takes over the [`InFlight`].
struct Tracked {
    inner: crate::stack::GatewayFuture,
    in_flight: Option<InFlight>,
}

impl Future for Tracked {
    type Output = Result<http::Response<TrackedBody>, std::convert::Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let resp = match self.inner.as_mut().poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Ok(resp)) => resp,
            Poll::Ready(Err(never)) => match never {},
        };
        let in_flight = self.in_flight.take();
        Poll::Ready(Ok(resp.map(|inner| TrackedBody {
            inner,
            _in_flight: in_flight,
        })))
    }
}

/// One connection's service: the gateway, cloned once per connection rather than once per
/// request (as `hyper_util`'s `TowerToHyperService` would: a tower service is called through
/// `&mut`, hyper's through `&`), and the peer's address for [`ConnectInfo`].
///
/// Why by hand: each clone of the gateway writes the reference counts of its shared handles,
/// cache lines that every core then passes around on every request.
struct Connection {
    // HTTP/1 serves one request at a time, so the borrow in `call` never meets another; should
    // one ever, that request is served by a clone of `spare` instead.
    gateway: RefCell<crate::Gateway>,
    spare: crate::Gateway,
    peer: SocketAddr,
    activity: Arc<Activity>,
}

impl hyper::service::Service<http::Request<Incoming>> for Connection {
    type Response = http::Response<TrackedBody>;
    type Error = std::convert::Infallible;
    type Future = Tracked;

    fn call(&self, req: http::Request<Incoming>) -> Tracked {
        let in_flight = InFlight::start(&self.activity);
        let mut req = req.map(|inner| {
            // No mark for a request without a body (every GET): nothing to wait for.
            let unread =
                (!hyper::body::Body::is_end_stream(&inner)).then(|| Arc::clone(&self.activity));
            RequestBody {
                inner,
                unread,
                pending: None,
            }
        });
        req.extensions_mut().insert(ConnectInfo(self.peer));
        let inner = match self.gateway.try_borrow_mut() {
            Ok(mut gateway) => gateway.call(req),
            Err(_) => self.spare.clone().call(req),
        };
        Tracked {
            inner,
            in_flight: Some(in_flight),
        }
    }
}

/// Accepts connections on `listener` and serves `app` on each until `shutdown` resolves.
pub(crate) async fn run(
    listener: TcpListener,
    app: crate::Gateway,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let max = limits.max_connections.max(1);
    let slots = Arc::new(Semaphore::new(max));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let activity = Arc::new(Activity::new());
        let stream = Watched {
            stream,
            activity: Arc::clone(&activity),
            _slot: permit,
        };
        let svc = Connection {
            gateway: RefCell::new(app.clone()),
            spare: app.clone(),
            peer,
            activity: Arc::clone(&activity),
        };
        let conn = http1::Builder::new()
            .max_buf_size(MAX_HEAD_BUFFER_BYTES)
            .serve_connection(TokioIo::new(stream), svc)
            .with_upgrades();
        // The edge's shutdown signal, which open WebSockets watch as well.
        let mut stop = app.state().edge.shutdown.subscribe();
        let (idle, body) = (limits.header_read_timeout, limits.body_read_timeout);
        let state = Arc::clone(app.state());
        tokio::spawn(async move {
            tokio::pin!(conn);
            let watched = watchdog(Arc::clone(&activity), idle, body);
            let slow = tokio::select! {
                _ = conn.as_mut() => None,
                slow = watched => slow,
                _ = stop.changed() => {
                    // Finish the request in flight, then close. A connection still sending a
                    // head or a body is held to the header deadline (a body too, so that it
                    // ends within the shutdown grace).
                    conn.as_mut().graceful_shutdown();
                    tokio::select! {
                        _ = conn.as_mut() => None,
                        slow = watchdog(activity, idle, body.min(idle)) => slow,
                    }
                }
            };
            // A slow client is recorded while its connection still holds its slot, so that a
            // shutdown waits for the record before the audit trail closes. Then the connection
            // is dropped, closing it and freeing the slot (unless it became a WebSocket, which
            // holds the slot on).
            if let Some(stage) = slow {
                crate::slow_client::closed(&state, peer, stage).await;
            }
        });
    }
    drop(listener);
    app.state().edge.shutdown.send_replace(true);
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    if tokio::time::timeout(SHUTDOWN_GRACE, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("in-flight requests still running after the shutdown grace period");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_is_idle_only_with_nothing_in_flight_for_the_whole_deadline() {
        let activity = Arc::new(Activity::new());
        assert!(activity.idle_for(Duration::ZERO));
        let first = InFlight::start(&activity);
        let second = InFlight::start(&activity);
        // A response still being sent (however long it takes) keeps the connection open.
        assert!(!activity.idle_for(Duration::ZERO));
        drop(first);
        assert!(!activity.idle_for(Duration::ZERO));
        drop(second);
        assert!(activity.idle_for(Duration::ZERO));
        // Idle since just now: not yet for a whole deadline.
        assert!(!activity.idle_for(Duration::from_secs(3600)));
    }

    #[test]
    fn a_body_is_overdue_only_while_it_is_awaited() {
        let activity = Arc::new(Activity::new());
        assert!(!activity.body_overdue(Duration::ZERO), "no body awaited");
        let body = BodyPending::start(&activity);
        assert!(activity.body_overdue(Duration::ZERO));
        assert!(!activity.body_overdue(Duration::from_secs(3600)));
        // A later body's mark is not cleared by an earlier one ending.
        std::thread::sleep(Duration::from_millis(3));
        let later = BodyPending::start(&activity);
        drop(body);
        assert!(activity.body_overdue(Duration::ZERO));
        drop(later);
        assert!(!activity.body_overdue(Duration::ZERO));
    }
}
