//! Authentication: who is calling (SPEC A1, A4).
//!
//! One layer, [`AuthLayer`], wraps every route. It turns the request's credential into a [`Principal`]
//! or refuses it with 401; [`crate::access`] then decides whether that principal's role may use
//! the matched route. Handlers never look at credentials.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::{ConnectInfo, MatchedPath, Request};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method, header};

use crate::access::{self, Access};
use crate::{ApiError, AppState};

/// Where the credential came from.
enum Credential<'a> {
    Header(&'a str),
    Query(String),
    None,
}

/// True when the request asks to become a WebSocket (the only case `?token=` is accepted).
fn is_websocket_upgrade(method: &Method, headers: &HeaderMap) -> bool {
    let has = |name: header::HeaderName, want: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(want)))
    };
    method == Method::GET && has(header::UPGRADE, "websocket") && has(header::CONNECTION, "upgrade")
}

/// The value of `token` in a query string, percent-decoded.
fn query_token(query: Option<&str>) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == "token").then(|| percent_decode(v))
    })
}

/// Percent-decoding for the query token (`+` is a space in forms, but keys are base64 where `+` is
/// a literal: it is kept as `+`).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn credential<'a>(req: &'a Request) -> Result<Credential<'a>, ApiError> {
    let in_query = query_token(req.uri().query());
    if let Some(value) = req.headers().get(header::AUTHORIZATION) {
        let value = value
            .to_str()
            .map_err(|_| ApiError::unauthorized("malformed Authorization header"))?;
        let token = value
            .strip_prefix("Bearer ")
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::unauthorized("expected \"Authorization: Bearer KEY\""))?;
        return Ok(Credential::Header(token));
    }
    match in_query {
        Some(token) if is_websocket_upgrade(req.method(), req.headers()) => {
            Ok(Credential::Query(token))
        }
        Some(_) => Err(ApiError::unauthorized(
            "a token in the query string is accepted only for WebSocket upgrades; use the Authorization header",
        )),
        None => Ok(Credential::None),
    }
}

/// Authentication and authorization as a layer over every route (inside the router, where the
/// matched route is known): [`Authenticate`] turns the credential into a [`crate::Principal`] in
/// the request's extensions, or answers 401/403 itself.
///
/// Hand-written rather than `axum::middleware::from_fn`, which boxes the inner service's call and
/// clones the whole state on every request; this costs one boxed future.
#[derive(Clone)]
pub(crate) struct AuthLayer {
    state: Arc<AppState>,
}

impl AuthLayer {
    pub(crate) fn new(state: Arc<AppState>) -> Self {
        Self { state }
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = Authenticate<S>;

    fn layer(&self, inner: S) -> Authenticate<S> {
        Authenticate {
            state: Arc::clone(&self.state),
            inner,
        }
    }
}

/// The service [`AuthLayer`] puts around each route.
#[derive(Clone)]
pub(crate) struct Authenticate<S> {
    state: Arc<AppState>,
    inner: S,
}

impl<S> tower::Service<Request> for Authenticate<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        // The service that was polled ready is the one that serves; a clone stays behind.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let state = Arc::clone(&self.state);
        Box::pin(async move {
            match authorize(&state, req).await {
                Ok(req) => inner.call(req).await,
                Err(refused) => Ok(refused),
            }
        })
    }
}

/// How far [`authorize`] got without an await.
enum Step {
    /// The principal, or a refusal, is known.
    Decided(Option<crate::Principal>),
    /// Only the password hashes can tell; the key, in memory wiped on drop.
    Check(zeroize::Zeroizing<String>),
}

/// Authenticate, then authorize against the route table: the request with its
/// [`crate::Principal`], or the refusal.
///
/// Routes not in [`access::ROUTES`] (including unknown paths) need an authenticated caller, so
/// an anonymous client learns nothing about which routes exist (deny by default).
async fn authorize(state: &AppState, mut req: Request) -> Result<Request, Response> {
    let rule = access::rule(
        req.method(),
        req.extensions()
            .get::<MatchedPath>()
            .map(MatchedPath::as_str),
    );
    if rule == Access::Public {
        return Ok(req);
    }
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    // Decided without an await where possible (the gateway key, a cached key): the presented key
    // is copied only when the hashes must decide, and then into memory that is wiped. Nothing
    // borrowed from the request is held across an await.
    let step = match credential(&req) {
        Err(e) => Err(e),
        Ok(Credential::Header(t)) => Ok(match state.auth.verify_now(t) {
            Ok(found) => Step::Decided(found),
            Err(crate::keys::NeedsCheck) => Step::Check(zeroize::Zeroizing::new(t.to_owned())),
        }),
        Ok(Credential::Query(t)) => Ok(Step::Check(zeroize::Zeroizing::new(t))),
        Ok(Credential::None) => Ok(Step::Decided(state.auth.local_bypass(peer))),
    };
    let principal = match step {
        Err(e) => {
            // The refusals' audit futures are boxed: they are large, and every request's future
            // would otherwise carry their size (and the copy of it) on the fast path.
            Box::pin(auth_failed(
                state,
                peer,
                req.method().to_string(),
                req.uri().path().to_owned(),
                e.message(),
            ))
            .await;
            return Err(e.into_response());
        }
        Ok(Step::Decided(found)) => found,
        Ok(Step::Check(key)) => state.auth.verify(&key).await,
    };
    let Some(principal) = principal else {
        Box::pin(auth_failed(
            state,
            peer,
            req.method().to_string(),
            req.uri().path().to_owned(),
            "missing or invalid API key",
        ))
        .await;
        return Err(ApiError::unauthorized("missing or invalid API key").into_response());
    };
    if let Access::AtLeast(min) = rule
        && principal.role < min
    {
        let matched = req
            .extensions()
            .get::<MatchedPath>()
            .map_or("(unknown)", MatchedPath::as_str);
        let route = format!("{} {matched}", req.method());
        Box::pin(state.events.access_denied(
            principal.actor.clone(),
            &route,
            principal.role.as_str(),
            min.as_str(),
        ))
        .await;
        return Err(
            ApiError::forbidden(format!("this route needs the {min} role")).into_response(),
        );
    }
    req.extensions_mut().insert(principal);
    Ok(req)
}

/// Records a refused credential. Takes the method and path as owned strings: the request body is
/// not `Sync`, so no reference to the request may be held across the await.
async fn auth_failed(
    state: &AppState,
    peer: Option<SocketAddr>,
    method: String,
    path: String,
    reason: &str,
) {
    state.events.auth_failed(peer, &method, &path, reason).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_token_is_decoded() {
        assert_eq!(
            query_token(Some("a=1&token=ab%2Bc%3D")),
            Some("ab+c=".to_owned())
        );
        assert_eq!(query_token(Some("tokens=1")), None);
        assert_eq!(query_token(Some("token=%zz%4")), Some("%zz%4".to_owned()));
    }
}
