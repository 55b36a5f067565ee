//! `GET /api/audit` and `GET /api/audit/verify` (admin, SPEC D3): the audit trail over the API.

use axum::Json;
use axum::extract::{Query, State};
use serde_json::{Value, json};
use std::sync::Arc;

use crate::{ApiError, AppState};

/// `?agent=&event=&limit=`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditQuery {
    agent: Option<String>,
    event: Option<String>,
    limit: Option<usize>,
}

fn sink(state: &AppState) -> Result<rampart_audit::AuditSink, ApiError> {
    state
        .events
        .audit()
        .cloned()
        .ok_or_else(|| ApiError::not_found("the audit trail is disabled ([audit] enabled = false)"))
}

/// The newest matching entries, oldest first (default 100, at most `MAX_QUERY_LIMIT`).
pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Value>, ApiError> {
    let sink = sink(&state)?;
    let limit = q.limit.map(|l| l.min(rampart_audit::MAX_QUERY_LIMIT));
    let query = rampart_audit::Query {
        agent: q.agent,
        event: q.event,
        limit,
    };
    let log = sink.log_path().to_path_buf();
    let entries = tokio::task::spawn_blocking(move || rampart_audit::query(&log, &query))
        .await
        .map_err(|_| ApiError::internal())?
        .map_err(|e| {
            tracing::error!(error = %e, "reading the audit trail");
            ApiError::internal()
        })?;
    Ok(Json(json!({ "entries": entries })))
}

/// Verifies the whole chain against the running gateway's own checkpoint key.
pub(crate) async fn verify(State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    let sink = sink(&state)?;
    let (log, checkpoints, key) = (
        sink.log_path().to_path_buf(),
        sink.checkpoints_path().to_path_buf(),
        sink.public_key(),
    );
    let report =
        tokio::task::spawn_blocking(move || rampart_audit::verify(&log, &checkpoints, Some(&key)))
            .await
            .map_err(|_| ApiError::internal())?
            .map_err(|e| {
                tracing::error!(error = %e, "verifying the audit trail");
                ApiError::internal()
            })?;
    Ok(Json(report.to_json()))
}
