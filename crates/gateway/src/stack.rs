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
use axum::routing::future::RouteFuture;
use futures_util::FutureExt as _;
use tower::Service;
use tracing::Instrument as _;

use crate::AppState;

/// The future of one request through [`Gateway`].
pub type GatewayFuture = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

/// The router's route patterns, matched before the router runs so that auth knows the route
/// (its row in [`crate::access::ROUTES`]) before any handler does.
///
/// Built from the same patterns the router is built from (see [`crate::app`]), with the same
/// matcher axum uses (`matchit`), so a path matches here exactly the pattern it matches there.
#[derive(Debug, Default)]
pub(crate) struct RouteTable {
    matcher: matchit::Router<&'static str>,
    patterns: Vec<&'static str>,
}

impl RouteTable {
    /// Adds a route pattern.
    ///
    /// # Errors
    /// When the pattern conflicts with one already added (axum refuses it too).
    pub(crate) fn add(&mut self, pattern: &'static str) -> Result<(), matchit::InsertError> {
        self.matcher.insert(pattern, pattern)?;
        self.patterns.push(pattern);
        Ok(())
    }

    /// The pattern `path` matches, `None` for an unknown path.
    pub(crate) fn matched(&self, path: &str) -> Option<&'static str> {
        self.matcher.at(path).ok().map(|m| *m.value)
    }
}

/// The whole application: the edge controls around the router. Cloning is cheap (three shared
/// handles). Built by [`crate::app`].
#[derive(Clone)]
pub struct Gateway {
    state: Arc<AppState>,
    router: Router,
    routes: Arc<RouteTable>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway").finish_non_exhaustive()
    }
}

impl Gateway {
    /// The state every control and handler shares.
    pub(crate) fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    pub(crate) fn new(state: Arc<AppState>, router: Router, routes: RouteTable) -> Self {
        Self {
            state,
            router,
            routes: Arc::new(routes),
        }
    }
}

/// A handler's future, a panic in it caught (see [`caught`]).
type Caught = futures_util::future::Map<
    futures_util::future::CatchUnwind<AssertUnwindSafe<RouteFuture<Infallible>>>,
    fn(std::thread::Result<Result<Response, Infallible>>) -> Response,
>;

/// A cold path's future (a refusal to audit, a key for the password hashes): boxed, so that the
/// future every request allocates does not carry its size.
type Cold = Pin<Box<dyn Future<Output = Response> + Send>>;

/// The response of everything up to and including the router: the route's future on the fast
/// path, a boxed one otherwise.
type Routed = futures_util::future::Either<Caught, Cold>;

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

    /// The onion, outermost first (see the crate guide): trace span, security headers,
    /// metrics, reply guard, contract errors ([`reply`]), then limits, rate limit, auth and the
    /// router ([`Gateway::admit`]), with a panic inside a handler caught and answered as a
    /// contract 500. A refusal by an inner control still passes every outer one.
    ///
    /// Composed with `then`, not nested async fns: each nested future would carry its own copy
    /// of what it was handed, and this future is allocated for every request.
    fn call(&mut self, req: http::Request<B>) -> GatewayFuture {
        let req = req.map(Body::new);
        // The span tower-http's `TraceLayer` made, with the same fields; disabled (and nearly
        // free) unless the log filter asks for debug.
        let span = tracing::debug_span!(
            "request",
            method = %req.method(),
            uri = %req.uri(),
            version = ?req.version(),
        );
        let started = Instant::now();
        let routed = span.in_scope(|| self.admit(req));
        let state = Arc::clone(&self.state);
        Box::pin(
            routed
                .then(move |resp| reply(state, started, resp))
                .instrument(span),
        )
    }
}

impl Gateway {
    /// The controls up to the router, as far as they go without an await: count the request
    /// ([`crate::metrics`]), refuse oversized URLs, headers and bodies ([`crate::limits`]),
    /// charge the client's rate limit ([`crate::rate_limit`]), authenticate and authorize
    /// ([`crate::auth`]), then call the router. Calling the router here, where `&mut self` is at
    /// hand, spares each request a clone of it.
    fn admit(&mut self, req: Request) -> Routed {
        use futures_util::future::Either;
        let state = &self.state;
        state.edge.metrics.request_started();
        let req = match crate::limits::check(req) {
            Ok(req) => req,
            Err(refused) => return Either::Right(Box::pin(std::future::ready(refused))),
        };
        if let Err(refusal) = crate::rate_limit::admit(state, &req) {
            let state = Arc::clone(state);
            return Either::Right(Box::pin(async move { refusal.respond(&state).await }));
        }
        let matched = self.routes.matched(req.uri().path());
        match crate::auth::authorize_now(state, matched, req) {
            crate::auth::Now::Pass(req) => Either::Left(caught(self.router.call(req))),
            crate::auth::Now::Later(later) => Either::Right(Box::pin(finish_auth(
                Arc::clone(state),
                later,
                self.router.clone(),
            ))),
        }
    }
}

/// The outer controls on the response: turn any non-JSON error into a contract error
/// ([`crate::layers::contract_errors`]), pass the reply through the leak guard
/// ([`crate::reply_guard`]), count it ([`crate::metrics`]), log it, and set the security headers.
async fn reply(
    state: Arc<AppState>,
    started: Instant,
    resp: Response,
) -> Result<Response, Infallible> {
    let resp = crate::layers::contract_errors(resp);
    let resp = crate::reply_guard::redact_reply(&state, resp).await;
    state.edge.metrics.response(resp.status());
    let status = resp.status();
    // The clock is read again only for a line that is logged.
    if status.is_server_error() {
        let latency_ms = started.elapsed().as_millis();
        tracing::error!(status = status.as_u16(), latency_ms, "request failed");
    } else {
        tracing::debug!(
            status = status.as_u16(),
            latency_ms = started.elapsed().as_millis(),
            "request finished"
        );
    }
    Ok(crate::layers::security_headers(
        &state.edge.settings().headers,
        resp,
    ))
}

/// Auth's await, then the router if auth admits the request.
async fn finish_auth(
    state: Arc<AppState>,
    later: crate::auth::Later,
    mut router: Router,
) -> Response {
    match crate::auth::finish(&state, later).await {
        Ok(req) => caught(router.call(req)).await,
        Err(refused) => refused,
    }
}

/// The route's response; a panicking handler becomes a contract 500 that still passes the outer
/// controls (counted, headers set), and the connection and the gateway keep serving.
///
/// Only the future needs the guard: axum's router runs no handler code until its future is
/// polled, so `Router::call` itself cannot panic in a handler.
fn caught(route: RouteFuture<Infallible>) -> Caught {
    fn answer(result: std::thread::Result<Result<Response, Infallible>>) -> Response {
        match result {
            Ok(Ok(resp)) => resp,
            Ok(Err(never)) => match never {},
            Err(panic) => crate::layers::panic_response(&*panic),
        }
    }
    AssertUnwindSafe(route)
        .catch_unwind()
        .map(answer as fn(_) -> _)
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
        let mut routes = RouteTable::default();
        routes.add("/boom").unwrap();
        routes.add("/fine").unwrap();
        let gateway = Gateway::new(Arc::clone(&state), router, routes);
        // From loopback, where this state's gateway (no key) admits the local owner.
        let get =
            |path: &str| {
                let mut req = http::Request::get(path).body(Body::empty()).unwrap();
                req.extensions_mut().insert(axum::extract::ConnectInfo(
                    std::net::SocketAddr::from(([127, 0, 0, 1], 9)),
                ));
                req
            };

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

    /// Auth decides on the pattern the route table matches, the router on the one axum matches:
    /// they must be the same for every path, or a path could be authorized under one route's rule
    /// and served by another's handler.
    #[tokio::test]
    async fn the_route_table_matches_exactly_what_the_router_matches() {
        use axum::extract::MatchedPath;
        let mut table = RouteTable::default();
        let mut router = Router::new();
        let mut seen = Vec::new();
        for (_, pattern, _) in crate::access::ROUTES {
            if seen.contains(pattern) {
                continue;
            }
            seen.push(*pattern);
            table.add(pattern).unwrap();
            router = router.route(
                pattern,
                axum::routing::any(|m: MatchedPath| async move { m.as_str().to_owned() }),
            );
        }
        let paths = [
            "/api/health",
            "/api/health/",
            "/api/health/detail",
            "/api/agents",
            "/api/agents/",
            "/api/agents/a",
            "/api/agents/a/",
            "/api/agents/a/message",
            "/api/agents/a/ws",
            "/api/agents/a/b",
            "/api/agents/a/message/x",
            "/api/agents/%2e%2e/message",
            "/api/agents/ws",
            "/api//agents",
            "/API/agents",
            "/hooks/a",
            "/hooks/",
            "/hooks/a/b",
            "/api/approvals/1",
            "/api/channels/telegram/pairing-codes",
            "/api/config/reload",
            "/chat",
            "/chat/",
            "/chat/app.js",
            "/chat/other.js",
            "/metrics",
            "/",
            "/nope",
        ];
        for path in paths {
            let resp = router
                .clone()
                .oneshot(http::Request::get(path).body(Body::empty()).unwrap())
                .await
                .unwrap();
            let by_axum = if resp.status() == 404 {
                None
            } else {
                let body = axum::body::to_bytes(resp.into_body(), 1024).await.unwrap();
                Some(String::from_utf8(body.to_vec()).unwrap())
            };
            assert_eq!(table.matched(path).map(str::to_owned), by_axum, "{path}");
        }
    }

    /// The app's route list and the access table name the same routes: no route is served
    /// without a row that says who may use it.
    #[test]
    fn every_route_of_the_app_has_an_access_row_and_every_row_a_route() {
        let home = tempfile::tempdir().unwrap();
        let gateway = crate::app(state(&home));
        let mut served = gateway.routes.patterns.clone();
        let mut rows: Vec<&str> = crate::access::ROUTES.iter().map(|r| r.1).collect();
        served.sort_unstable();
        rows.sort_unstable();
        rows.dedup();
        assert_eq!(served, rows);
    }
}
