//! The connection layer under the onion (SPEC N6): a connection cap, a deadline for reading
//! request headers (slowloris), and a bound on the header buffer. axum's own `serve` exposes none
//! of these, so connections are accepted here and handed to hyper directly.

use std::cell::RefCell;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
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
}

impl hyper::service::Service<http::Request<Incoming>> for Connection {
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = crate::stack::GatewayFuture;

    fn call(&self, mut req: http::Request<Incoming>) -> Self::Future {
        req.extensions_mut().insert(ConnectInfo(self.peer));
        match self.gateway.try_borrow_mut() {
            Ok(mut gateway) => gateway.call(req),
            Err(_) => self.spare.clone().call(req),
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
        let svc = Connection {
            gateway: RefCell::new(app.clone()),
            spare: app.clone(),
            peer,
        };
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .max_buf_size(MAX_HEAD_BUFFER_BYTES)
            .serve_connection(TokioIo::new(stream), svc)
            .with_upgrades();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
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
