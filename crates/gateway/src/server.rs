//! The connection layer under the onion (SPEC N6): a connection cap, a deadline for reading
//! request headers (slowloris), and a bound on the header buffer. axum's own `serve` exposes none
//! of these, so connections are accepted here and handed to hyper directly.
//!
//! The header deadline is kept here rather than by hyper's `header_read_timeout`, which arms a
//! timer in the runtime's shared timer wheel for every request head and disarms it again (a lock,
//! an allocation and a runtime handle per request: ≈ 6 % of a bare route's throughput on the
//! loopback benchmark). Here each connection has one watchdog that wakes a few times per
//! deadline and closes the connection once nothing has been in flight for the whole deadline:
//! a client that trickles a head, or sits on an idle keep-alive connection, is closed after
//! between one and one and a quarter deadlines.

use std::cell::RefCell;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::Service as _;

/// How long a client may take to send a request's headers.
///
/// # Security
/// A slowloris client opens many connections and trickles header bytes to hold them; the
/// deadline closes such a connection however slowly it sends.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
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
    /// See [`MAX_CONNECTIONS`].
    pub max_connections: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: HEADER_READ_TIMEOUT,
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
}

/// What a connection's watchdog needs to know: how many requests are in flight, and since when
/// the connection has been idle (in milliseconds since `base`).
struct Activity {
    base: Instant,
    in_flight: AtomicU32,
    idle_since_ms: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            base: Instant::now(),
            in_flight: AtomicU32::new(0),
            idle_since_ms: AtomicU64::new(0),
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
}

/// One request in flight: from its parsed head until its response body is sent or dropped.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn start(activity: &Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        Self(Arc::clone(activity))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0
            .idle_since_ms
            .store(self.0.now_ms(), Ordering::Release);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Closes the connection (by returning) once it has been idle for `limit`: the header deadline.
async fn watchdog(activity: Arc<Activity>, limit: Duration) {
    let tick = (limit / 4).max(Duration::from_millis(10));
    loop {
        tokio::time::sleep(tick).await;
        if activity.idle_for(limit) {
            return;
        }
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

    fn call(&self, mut req: http::Request<Incoming>) -> Tracked {
        let in_flight = InFlight::start(&self.activity);
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
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
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
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                // Dropping the connection closes it: nothing is in flight.
                () = watchdog(activity, limits.header_read_timeout) => {}
                _ = stop.changed() => {
                    // Finish the request in flight, then close.
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
            drop(permit);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
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
}
