//! `GET /metrics`: the counters in Prometheus text format (admin only, SPEC M1).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, header};
use std::sync::Arc;

use crate::AppState;

/// The handler.
pub(crate) async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let body = state
        .edge
        .metrics
        .render(state.edge.settings().limiter.tracked_clients());
    let mut resp = body.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}
