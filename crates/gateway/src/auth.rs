//! Authentication: who is calling (SPEC A1, A4).
//!
//! One control in the edge ([`crate::stack`]), run before the router: it turns the request's
//! credential into a [`crate::Principal`] in the request's extensions, or refuses it with 401;
//! [`crate::access`] then decides whether that principal's role may use the route the path
//! matches (the router's own pattern, from [`crate::stack::RouteTable`]) → or 403, audited.
//! Handlers never look at credentials.
//!
//! [`authorize_now`] decides the common cases (a public route, the gateway key, a cached key)
//! without an await; only a key the password hashes must check, or a refusal to audit, goes on
//! to [`finish`].

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request};
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

/// What [`authorize_now`] decided without an await.
pub(crate) enum Now {
    /// Admitted: the request, with its [`crate::Principal`] unless the route is public.
    Pass(Request),
    /// An await is needed: a password-hash check, or an audited refusal.
    Later(Later),
}

/// A request whose authentication [`finish`] completes.
pub(crate) struct Later {
    req: Request,
    rule: Access,
    matched: Option<&'static str>,
    peer: Option<SocketAddr>,
    pending: Pending,
}

enum Pending {
    /// The credential was malformed: refuse with this error.
    Malformed(ApiError),
    /// The principal (or its absence) is known but not admitted: refuse, audited.
    Refused(Option<crate::Principal>),
    /// Only the password hashes can tell; the key, in memory wiped on drop.
    Check(zeroize::Zeroizing<String>),
}

/// Authenticate, then authorize against the route table, as far as that goes without an await.
///
/// Routes not in [`access::ROUTES`] (including unknown paths) need an authenticated caller, so
/// an anonymous client learns nothing about which routes exist (deny by default). The presented
/// key is copied only when the hashes must decide, and then into memory that is wiped.
pub(crate) fn authorize_now(
    state: &AppState,
    matched: Option<&'static str>,
    mut req: Request,
) -> Now {
    let rule = access::rule(req.method(), matched);
    if rule == Access::Public {
        return Now::Pass(req);
    }
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let found = match credential(&req) {
        Err(e) => Err(Pending::Malformed(e)),
        Ok(Credential::Header(t)) => match state.auth.verify_now(t) {
            Ok(found) => Ok(found),
            Err(crate::keys::NeedsCheck) => {
                Err(Pending::Check(zeroize::Zeroizing::new(t.to_owned())))
            }
        },
        Ok(Credential::Query(t)) => Err(Pending::Check(zeroize::Zeroizing::new(t))),
        Ok(Credential::None) => Ok(state.auth.local_bypass(peer)),
    };
    let pending = match found {
        Ok(Some(principal)) if admits(rule, &principal) => {
            req.extensions_mut().insert(principal);
            return Now::Pass(req);
        }
        Ok(found) => Pending::Refused(found),
        Err(pending) => pending,
    };
    Now::Later(Later {
        req,
        rule,
        matched,
        peer,
        pending,
    })
}

/// Whether `principal`'s role is enough for a route under `rule`.
fn admits(rule: Access, principal: &crate::Principal) -> bool {
    match rule {
        Access::AtLeast(min) => principal.role >= min,
        Access::Public => true,
    }
}

/// The rest of [`authorize_now`]'s work: check the key against the hashes, or audit the refusal.
/// The request with its [`crate::Principal`], or the refusal.
pub(crate) async fn finish(state: &AppState, later: Later) -> Result<Request, Response> {
    let Later {
        mut req,
        rule,
        matched,
        peer,
        pending,
    } = later;
    // Nothing borrowed from the request is held across an await (its body is not `Sync`).
    let principal = match pending {
        Pending::Malformed(e) => {
            auth_failed(
                state,
                peer,
                req.method().to_string(),
                req.uri().path().to_owned(),
                e.message(),
            )
            .await;
            return Err(e.into_response());
        }
        Pending::Refused(found) => found,
        Pending::Check(key) => state.auth.verify(&key).await,
    };
    let Some(principal) = principal else {
        auth_failed(
            state,
            peer,
            req.method().to_string(),
            req.uri().path().to_owned(),
            "missing or invalid API key",
        )
        .await;
        return Err(ApiError::unauthorized("missing or invalid API key").into_response());
    };
    if let Access::AtLeast(min) = rule
        && !admits(rule, &principal)
    {
        let route = format!("{} {}", req.method(), matched.unwrap_or("(unknown)"));
        state
            .events
            .access_denied(
                principal.actor.clone(),
                &route,
                principal.role.as_str(),
                min.as_str(),
            )
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
