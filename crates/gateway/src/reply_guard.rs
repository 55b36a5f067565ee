//! The reply leak guard (SPEC L2): every HTTP response body passes the known-secret matcher on its
//! way out. JSON and text bodies are buffered (they are ours and bounded) and redacted whole;
//! server-sent events are redacted as a stream, holding back just enough to catch a secret split
//! across two events. WebSocket frames are redacted in the WebSocket handler.

use std::sync::Arc;

use axum::body::HttpBody as _;
use axum::body::{Body, Bytes};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use http::header;
use rampart_guard::{LeakHits, SharedLeakGuard};

use crate::{ApiError, AppState};

/// The largest response body buffered for redaction.
///
/// # Security
/// Bodies are our own replies (JSON, small); a larger one is refused rather than sent unchecked.
pub const MAX_REPLY_SCAN_BYTES: usize = 16 * 1024 * 1024;

/// The whole body, at most [`MAX_REPLY_SCAN_BYTES`]; `None` when it is larger or fails.
///
/// A body of one data frame (every JSON reply) is returned as that frame: no buffer list, no copy.
async fn read_body(mut body: Body) -> Option<Bytes> {
    use http_body_util::BodyExt as _;
    let mut first = Bytes::new();
    let mut rest: Option<Vec<u8>> = None;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.ok()?.into_data() else {
            continue; // trailers: a reply guard has nothing to check in them
        };
        match &mut rest {
            None if first.is_empty() => first = data,
            None => {
                let mut buf = Vec::with_capacity(first.len() + data.len());
                buf.extend_from_slice(&first);
                buf.extend_from_slice(&data);
                rest = Some(buf);
            }
            Some(buf) => buf.extend_from_slice(&data),
        }
        let len = rest.as_ref().map_or(first.len(), Vec::len);
        if len > MAX_REPLY_SCAN_BYTES {
            return None;
        }
    }
    Some(rest.map_or(first, Bytes::from))
}

/// The check for one response: its body with every known secret replaced.
///
/// The cases that need no await (a WebSocket upgrade, no known secret, a stream, an empty body)
/// are answered at once; only a body to read is awaited, in a future that holds just that body
/// and the response's head (this future is part of every request's).
pub(crate) fn redact_reply<'a>(
    state: &'a AppState,
    resp: Response,
) -> futures_util::future::Either<
    std::future::Ready<Response>,
    impl std::future::Future<Output = Response> + Send + 'a,
> {
    use futures_util::future::Either;
    let leak = &state.edge.leak;
    if resp.status() == http::StatusCode::SWITCHING_PROTOCOLS || leak.is_empty() {
        return Either::Left(std::future::ready(resp));
    }
    let streamed = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let (parts, body) = resp.into_parts();
    if streamed {
        return Either::Left(std::future::ready(Response::from_parts(
            parts,
            stream_redacted(body, leak.clone()),
        )));
    }
    if body.is_end_stream() {
        // An empty body (204, HEAD-like replies) holds nothing to redact.
        return Either::Left(std::future::ready(Response::from_parts(parts, body)));
    }
    Either::Right(async move {
        let Some(bytes) = read_body(body).await else {
            tracing::error!("a reply was too large to check for secrets; answered 500");
            return ApiError::internal().into_response();
        };
        redacted(leak, parts, bytes)
    })
}

/// The response with `bytes` as its body, every known secret in it replaced.
fn redacted(leak: &SharedLeakGuard, mut parts: http::response::Parts, bytes: Bytes) -> Response {
    let text = String::from_utf8_lossy(&bytes);
    let redacted = leak.redact("reply", &text);
    if redacted == text {
        return Response::from_parts(parts, Body::from(bytes));
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(redacted.into_owned()))
}

fn stream_redacted(body: Body, leak: SharedLeakGuard) -> Body {
    let guard = leak.current();
    let redactor = Arc::clone(&guard).stream();
    let state = (body.into_data_stream(), redactor, leak, false);
    let stream =
        futures_util::stream::unfold(state, |(mut inner, mut red, leak, done)| async move {
            if done {
                return None;
            }
            let mut hits = LeakHits::default();
            let out = match inner.next().await {
                Some(Ok(chunk)) => red.push(&String::from_utf8_lossy(&chunk), &mut hits),
                Some(Err(_)) | None => {
                    let rest = red.finish(&mut hits);
                    leak.report("reply", &hits);
                    return Some((
                        Ok::<_, std::io::Error>(Bytes::from(rest)),
                        (inner, red, leak, true),
                    ));
                }
            };
            leak.report("reply", &hits);
            Some((Ok(Bytes::from(out)), (inner, red, leak, false)))
        });
    Body::from_stream(stream)
}
