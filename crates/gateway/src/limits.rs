//! Request shape limits (SPEC N6): URL length, header size and count, and a body limit per route
//! class (413). The connection-level limits (header read timeout, idle connections, connection
//! count) are in [`crate::server`].

use axum::body::{Body, HttpBody as _};
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode};

use crate::{ApiError, MAX_BODY_BYTES};

/// The longest request target (path and query) accepted; longer gets 414.
///
/// # Security
/// No route needs more; long URLs are a parser-stress and log-flooding vector.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// The most header bytes (names and values) a request may carry; more gets 431.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;
/// The most header fields a request may carry; more gets 431.
pub const MAX_HEADER_COUNT: usize = 100;
/// The body limit of a message route (a chat message is at most 64 KiB of text plus JSON).
pub const MAX_MESSAGE_BODY_BYTES: usize = 128 * 1024;
/// The body limit of the webhook trigger.
pub const MAX_WEBHOOK_BODY_BYTES: usize = 64 * 1024;

/// The body limit for a route; [`MAX_BODY_BYTES`] (agent manifests) for the rest.
#[must_use]
pub fn body_limit(method: &Method, path: &str) -> usize {
    if path.starts_with("/hooks/") {
        MAX_WEBHOOK_BODY_BYTES
    } else if method == Method::POST
        && (path.ends_with("/message") || path == "/v1/chat/completions")
    {
        MAX_MESSAGE_BODY_BYTES
    } else {
        MAX_BODY_BYTES
    }
}

/// The check: the request with its body capped at the route's limit, or the refusal.
#[allow(
    clippy::result_large_err,
    reason = "the refusal is the response itself, returned at once; boxing it would cost every refusal an allocation for nothing"
)]
pub(crate) fn check(req: Request) -> Result<Request, Response> {
    let uri_len = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if uri_len > MAX_URI_BYTES {
        return Err(ApiError::new(
            StatusCode::URI_TOO_LONG,
            "invalid_input",
            "request URL too long",
        )
        .into_response());
    }
    let headers = req.headers();
    let header_bytes: usize = headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len())
        .sum();
    if headers.len() > MAX_HEADER_COUNT || header_bytes > MAX_HEADER_BYTES {
        return Err(ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "invalid_input",
            "request headers too large",
        )
        .into_response());
    }
    let limit = body_limit(req.method(), req.uri().path());
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::payload_too_large().into_response());
    }
    if req.body().is_end_stream() {
        // No body at all (most GETs): nothing to cap, no wrapper to allocate.
        return Ok(req);
    }
    // Chunked bodies: reading past the limit fails, and the extractor answers 413.
    let (parts, body) = req.into_parts();
    let body = Body::new(http_body_util::Limited::new(body, limit));
    Ok(Request::from_parts(parts, body))
}
