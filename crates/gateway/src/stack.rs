//! The gateway's request path as one tower service, [`Gateway`]: the edge controls run in their
//! onion order around the router, written out as plain calls in one future.
//!
//! Why by hand: composing the controls as separate layers (`from_fn` middlewares, tower-http's
//! catch-panic and trace, a response map) cost a boxed future, a clone of the inner service and
//! often a boxed body per layer and per request; under load from another process the full stack
//! served about half the requests per second of a bare axum route (`benches/edge_load.rs`). Here
//! a request costs one boxed future for the whole edge, and each control stays a function in its
//! own module, so the order below is the only place where they meet. The controls are the same
//! and in the same order as before; only their composition changed.

use std::convert::Infallible;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::response::Response;
use futures_util::FutureExt as _;
use tower::Service;
use tracing::Instrument as _;

use crate::AppState;

/// The future of one request through [`Gateway`].
pub type GatewayFuture = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

/// The whole application: the edge controls around the router. Cloning is cheap (two shared
/// handles). Built by [`crate::app`].
#[derive(Clone)]
pub struct Gateway {
    state: Arc<AppState>,
    router: Router,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway").finish_non_exhaustive()
    }
}

impl Gateway {
    pub(crate) fn new(state: Arc<AppState>, router: Router) -> Self {
        Self { state, router }
    }
}

impl<B> Service<http::Request<B>> for Gateway
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = GatewayFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // The router is always ready (axum's routes are); nothing here holds a capacity.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> GatewayFuture {
        let state = Arc::clone(&self.state);
        let router = self.router.clone();
        Box::pin(respond(state, router, req.map(Body::new)))
    }
}

/// The onion, outermost first (see the crate guide): trace span, security headers, metrics,
/// reply guard, contract errors, limits, rate limit, then the router (body limit, auth, routes)
/// with a panic inside it caught and answered as a contract 500.
async fn respond(
    state: Arc<AppState>,
    router: Router,
    req: Request,
) -> Result<Response, Infallible> {
    // The span tower-http's `TraceLayer` made, with the same fields; disabled (and nearly free)
    // unless the log filter asks for debug.
    let span = tracing::debug_span!(
        "request",
        method = %req.method(),
        uri = %req.uri(),
        version = ?req.version(),
    );
    let started = Instant::now();
    let resp = edge(&state, router, req).instrument(span.clone()).await;
    let status = resp.status();
    let latency_ms = started.elapsed().as_millis();
    if status.is_server_error() {
        tracing::error!(parent: &span, status = status.as_u16(), latency_ms, "request failed");
    } else {
        tracing::debug!(parent: &span, status = status.as_u16(), latency_ms, "request finished");
    }
    Ok(crate::layers::security_headers(
        &state.edge.settings().headers,
        resp,
    ))
}

/// The edge controls for one request: count it ([`crate::metrics`]), pass the reply through the
/// leak guard ([`crate::reply_guard`]), turn any non-JSON error into a contract error
/// ([`crate::layers::contract_errors`]), refuse oversized URLs, headers and bodies
/// ([`crate::limits`]), charge the client's rate limit ([`crate::rate_limit`]), then the router.
/// A refusal by an inner control still passes every outer one.
async fn edge(state: &AppState, mut router: Router, req: Request) -> Response {
    state.edge.metrics.request_started();
    let resp = match crate::limits::check(req) {
        Err(refused) => refused,
        Ok(mut req) => match crate::rate_limit::admit(state, &mut req).await {
            Err(refused) => refused,
            Ok(()) => {
                // A panicking handler becomes a contract 500 that still passes the outer
                // controls (counted, headers set); the connection and the gateway keep serving.
                match AssertUnwindSafe(router.call(req)).catch_unwind().await {
                    Ok(Ok(resp)) => resp,
                    Ok(Err(never)) => match never {},
                    Err(panic) => crate::layers::panic_response(&*panic),
                }
            }
        },
    };
    let resp = crate::layers::contract_errors(resp);
    let resp = crate::reply_guard::redact_reply(state, resp).await;
    state.edge.metrics.response(resp.status());
    resp
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::routing::get;
    use tower::ServiceExt as _;

    use super::*;

    fn state(home: &tempfile::TempDir) -> AppState {
        let runtime = rampart_agent::Runtime::new(rampart_agent::RuntimeOptions::new(
            home.path(),
            rampart_store::Store::open_in_memory().unwrap(),
        ))
        .unwrap();
        AppState {
            runtime: Arc::new(runtime),
            auth: Arc::new(crate::Authenticator::new(None, false)),
            events: crate::Events::new(None),
            validator: Arc::new(rampart_guard::InputValidator::with_detection(true)),
            info: Arc::new(crate::GatewayInfo {
                started: Instant::now(),
                vault: "absent",
            }),
            edge: Arc::default(),
            policy: None,
            reload: None,
            pairing: None,
            peers: None,
        }
    }

    #[tokio::test]
    async fn a_panicking_handler_gets_a_contract_500_with_headers_and_the_gateway_serves_on() {
        let home = tempfile::tempdir().unwrap();
        let state = Arc::new(state(&home));
        #[allow(clippy::panic, reason = "the panic is the attack under test")]
        let router = Router::new()
            .route(
                "/boom",
                get(|| async {
                    if true {
                        panic!("handler bug");
                    }
                    "unreachable"
                }),
            )
            .route("/fine", get(|| async { "ok" }));
        let gateway = Gateway::new(Arc::clone(&state), router);
        let get = |path: &str| http::Request::get(path).body(Body::empty()).unwrap();

        let resp = gateway.clone().oneshot(get("/boom")).await.unwrap();
        assert_eq!(resp.status(), 500);
        assert!(
            resp.headers()
                .contains_key(http::header::CONTENT_SECURITY_POLICY)
        );
        assert_eq!(resp.headers()["x-frame-options"], "DENY");
        let body = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["error"]["code"], "internal");
        assert!(!String::from_utf8_lossy(&body).contains("handler bug"));
        // Counted like any other 5xx, and the next request is served.
        assert!(
            state
                .edge
                .metrics
                .render(0)
                .contains("rampart_http_responses_total{class=\"5xx\"} 1")
        );
        let resp = gateway.oneshot(get("/fine")).await.unwrap();
        assert_eq!(resp.status(), 200);
    }
}
