//! `GET /api/approvals` and `POST /api/approvals/{id}` (admin, SPEC A7): the humans' side of the
//! approval flow. A decision is final; approving lets exactly the approved call (tool name and
//! canonical arguments, same agent and session) run once, before the approval expires. Every
//! decision is written to the audit trail by the policy (`approval_decided`).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::{Extension, http::StatusCode};
use rampart_policy::{ApprovalRow, ApprovalStatus, Policy, PolicyError};
use serde_json::{Value, json};

use super::parse_json;
use crate::{ApiError, AppState, Principal};

/// `?pending=true` lists only approvals still waiting for a decision.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApprovalsQuery {
    pending: Option<bool>,
}

/// `{"decision": "approve" | "deny"}`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionBody {
    decision: String,
}

fn policy(state: &AppState) -> Result<Arc<Policy>, ApiError> {
    state
        .policy
        .clone()
        .ok_or_else(|| ApiError::not_found("approvals are not enabled on this gateway"))
}

/// One row as the API shows it: a pending approval past its expiry reads `expired`.
fn row_json(row: &ApprovalRow, now: i64) -> Value {
    let status = if row.status == ApprovalStatus::Pending && row.expires_at <= now {
        "expired"
    } else {
        row.status.as_str()
    };
    json!({
        "id": row.id,
        "agent": row.agent,
        "session_id": row.session_id,
        "tool": row.tool,
        "arguments": serde_json::from_str::<Value>(&row.arguments)
            .unwrap_or_else(|_| Value::String(row.arguments.clone())),
        "args_sha256": row.digest,
        "reason": row.reason,
        "status": status,
        "created_at": row.created_at,
        "expires_at": row.expires_at,
        "decided_at": row.decided_at,
    })
}

fn policy_error(e: &PolicyError) -> ApiError {
    match e {
        PolicyError::InvalidApprovalId | PolicyError::ApprovalNotFound => {
            ApiError::not_found("no such approval")
        }
        PolicyError::ApprovalClosed(_) => ApiError::conflict(e.to_string()),
        other => {
            tracing::error!(error = %other, "approvals");
            ApiError::internal()
        }
    }
}

/// Approvals, newest first.
pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    Query(q): Query<ApprovalsQuery>,
) -> Result<Json<Value>, ApiError> {
    let policy = policy(&state)?;
    let pending_only = q.pending.unwrap_or(false);
    let p = policy.clone();
    let rows = tokio::task::spawn_blocking(move || p.approvals(pending_only))
        .await
        .map_err(|_| ApiError::internal())?
        .map_err(|e| policy_error(&e))?;
    let now = policy.now();
    let rows: Vec<Value> = rows.iter().map(|r| row_json(r, now)).collect();
    Ok(Json(json!({ "approvals": rows })))
}

/// Approves or denies one pending approval.
pub(crate) async fn decide(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let policy = policy(&state)?;
    let body: DecisionBody = parse_json(&body)?;
    let approve = match body.decision.as_str() {
        "approve" => true,
        "deny" => false,
        _ => {
            return Err(ApiError::invalid_input(
                "decision must be \"approve\" or \"deny\"",
            ));
        }
    };
    let by = principal.name.to_string();
    let p = policy.clone();
    let row = tokio::task::spawn_blocking(move || p.decide(&id, approve, &by))
        .await
        .map_err(|_| ApiError::internal())?
        .map_err(|e| policy_error(&e))?;
    Ok((StatusCode::OK, Json(row_json(&row, policy.now()))))
}
