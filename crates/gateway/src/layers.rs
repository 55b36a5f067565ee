//! The response-shaping parts of the edge that are plain functions: security headers on every
//! response, the contract shape of every error, and the answer to a panic. [`crate::stack`]
//! calls them in the onion's order.

use std::any::Any;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{HeaderName, header};
use rampart_config::SecurityHeaders;

use crate::ApiError;

/// The largest request body any route accepts.
///
/// # Security
/// Bodies are buffered to parse JSON; without a cap one client could make the gateway allocate
/// without bound. 1 MiB is far above any chat message or agent manifest.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Puts `[security.headers]` on every response, errors and panics included (SPEC N4).
pub(crate) fn security_headers<B>(h: &SecurityHeaders, mut resp: Response<B>) -> Response<B> {
    let headers = resp.headers_mut();
    // Room for all six at once: growing the map insert by insert reallocates it twice.
    headers.reserve(6);
    // The one route family that sets its own CSP is the web chat page, whose policy is stricter
    // than the global default (see `routes::chat::CHAT_CSP`); every other response gets the
    // configured one.
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(header::CONTENT_SECURITY_POLICY, h.csp.clone());
    }
    let set: [(HeaderName, &http::HeaderValue); 4] = [
        (header::X_FRAME_OPTIONS, &h.x_frame_options),
        (header::X_CONTENT_TYPE_OPTIONS, &h.x_content_type_options),
        (
            header::STRICT_TRANSPORT_SECURITY,
            &h.strict_transport_security,
        ),
        (header::REFERRER_POLICY, &h.referrer_policy),
    ];
    for (name, value) in set {
        headers.insert(name, value.clone());
    }
    headers.insert(
        header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    resp
}

/// Rewrites any error response that is not already a contract error (axum's 404/405, extractor
/// rejections in text/plain, the body-limit 413) into `{"error":{"code","message"}}`.
pub(crate) fn contract_errors(mut resp: Response) -> Response {
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    if status != http::StatusCode::METHOD_NOT_ALLOWED {
        // axum's method router adds `Allow` to any response of a wrong-method request, including
        // our 401: an anonymous caller must not learn which methods a route has.
        resp.headers_mut().remove(header::ALLOW);
    }
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return resp;
    }
    let (parts, _body) = resp.into_parts();
    let mut fresh = ApiError::from_status(status).into_response();
    // Keep headers that carry meaning for the client (Allow on 405, Retry-After on 429).
    for name in [header::ALLOW, header::RETRY_AFTER] {
        if let Some(v) = parts.headers.get(&name) {
            fresh.headers_mut().insert(name, v.clone());
        }
    }
    fresh
}

/// The response for a panic inside a handler: a contract 500, the gateway keeps serving.
pub(crate) fn panic_response(err: &(dyn Any + Send)) -> Response<Body> {
    let detail = err
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| err.downcast_ref::<&str>().copied())
        .unwrap_or("non-string panic payload");
    tracing::error!(panic = detail, "handler panicked; answered 500");
    ApiError::internal().into_response()
}
