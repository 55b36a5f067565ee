//! Authentication: who is calling (SPEC A1, A4).
//!
//! One middleware wraps the whole router. It turns the request's credential into a [`Principal`]
//! or refuses it with 401; [`crate::access`] then decides whether that principal's role may use
//! the matched route. Handlers never look at credentials.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method, header};
use rampart_audit::{Actor, KeyId};
use rampart_core::Role;
use ring::digest;
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use crate::access::{self, Access};
use crate::{ApiError, AppState};

/// The caller of a request, once authenticated.
#[derive(Clone, Debug, PartialEq)]
pub struct Principal {
    /// Who it is: `"api_key"` for the gateway key, `"local"` for the loopback bypass.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// How the audit trail names it: the key's fingerprint (never the key) or the peer address.
    pub actor: Actor,
}

/// Checks presented keys against the configured one.
///
/// # Security
/// The key is kept only as its SHA-256 digest; a presented key is hashed and the two 32-byte
/// digests are compared with `subtle` in constant time, so neither the content nor the length of
/// the key leaks through timing.
pub struct Authenticator {
    key_digest: Option<[u8; 32]>,
    key_id: Option<KeyId>,
    require_auth_local: bool,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("key_configured", &self.key_digest.is_some())
            .field("require_auth_local", &self.require_auth_local)
            .finish()
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, bytes).as_ref());
    out
}

impl Authenticator {
    /// An authenticator for `api_key` (none: every protected route answers 401) and the
    /// `api_require_auth_local` setting.
    #[must_use]
    pub fn new(api_key: Option<&SecretString>, require_auth_local: bool) -> Self {
        Self {
            key_digest: api_key.map(|k| sha256(k.expose_secret().as_bytes())),
            key_id: api_key.map(|k| KeyId::of(k.expose_secret().as_bytes())),
            require_auth_local,
        }
    }

    /// Whether a key is configured at all.
    #[must_use]
    pub fn has_key(&self) -> bool {
        self.key_digest.is_some()
    }

    /// The principal for a presented key, if it is the right one.
    #[must_use]
    pub fn verify(&self, presented: &str) -> Option<Principal> {
        let expected = self.key_digest.as_ref()?;
        let ok: bool = sha256(presented.as_bytes()).ct_eq(expected).into();
        let actor = self.key_id.map_or(Actor::System, Actor::Key);
        ok.then(|| Principal {
            name: "api_key".to_owned(),
            role: Role::Owner,
            actor,
        })
    }

    /// The principal for an unauthenticated loopback peer when `api_require_auth_local = false`.
    fn local_bypass(&self, peer: Option<SocketAddr>) -> Option<Principal> {
        let peer = peer.filter(|p| p.ip().is_loopback())?;
        (!self.require_auth_local).then(|| Principal {
            name: "local".to_owned(),
            role: Role::Owner,
            actor: Actor::Ip(peer.ip()),
        })
    }
}

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

/// The middleware: authenticate, then authorize against the route table.
///
/// Routes not in [`access::ROUTES`] (including unknown paths) need an authenticated caller, so
/// an anonymous client learns nothing about which routes exist (deny by default).
pub(crate) async fn authenticate(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let matched = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let rule = access::rule(req.method(), matched.as_deref());
    if rule == Access::Public {
        return next.run(req).await;
    }
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let principal = match credential(&req) {
        Err(e) => {
            auth_failed(
                &state,
                peer,
                req.method().to_string(),
                req.uri().path().to_owned(),
                e.message(),
            )
            .await;
            return e.into_response();
        }
        Ok(Credential::Header(t)) => state.auth.verify(t),
        Ok(Credential::Query(t)) => state.auth.verify(&t),
        Ok(Credential::None) => state.auth.local_bypass(peer),
    };
    let Some(principal) = principal else {
        auth_failed(
            &state,
            peer,
            req.method().to_string(),
            req.uri().path().to_owned(),
            "missing or invalid API key",
        )
        .await;
        return ApiError::unauthorized("missing or invalid API key").into_response();
    };
    if let Access::AtLeast(min) = rule
        && principal.role < min
    {
        let route = format!(
            "{} {}",
            req.method(),
            matched.as_deref().unwrap_or("(unknown)")
        );
        state
            .events
            .access_denied(
                principal.actor.clone(),
                &route,
                principal.role.as_str(),
                min.as_str(),
            )
            .await;
        return ApiError::forbidden(format!("this route needs the {min} role")).into_response();
    }
    req.extensions_mut().insert(principal);
    next.run(req).await
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
    fn verify_accepts_only_the_key() {
        let a = Authenticator::new(Some(&SecretString::from("k3y".to_owned())), true);
        assert!(a.verify("k3y").is_some());
        for wrong in ["", "k3", "k3y ", "K3Y", "k3yk3y"] {
            assert!(a.verify(wrong).is_none(), "{wrong:?}");
        }
        assert!(Authenticator::new(None, true).verify("").is_none());
    }

    #[test]
    fn local_bypass_only_when_disabled_and_loopback() {
        let on = Authenticator::new(None, true);
        let off = Authenticator::new(None, false);
        let lo: SocketAddr = "127.0.0.1:5".parse().unwrap();
        let lo6: SocketAddr = "[::1]:5".parse().unwrap();
        let remote: SocketAddr = "192.0.2.1:5".parse().unwrap();
        assert!(on.local_bypass(Some(lo)).is_none());
        assert!(off.local_bypass(Some(lo)).is_some());
        assert!(off.local_bypass(Some(lo6)).is_some());
        assert!(off.local_bypass(Some(remote)).is_none());
        assert!(off.local_bypass(None).is_none());
    }

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
