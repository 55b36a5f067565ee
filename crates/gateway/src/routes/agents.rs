//! `/api/agents`: list, create, delete, and message an agent.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use http::{HeaderMap, StatusCode, header};
use rampart_agent::{AgentManifest, TurnOutcome, TurnRequest};
use serde_json::{Value, json};
use std::sync::Arc;

use super::{agent_name, parse_json};
use crate::admission::{SessionCaller, admit, claim_session};
use crate::{ApiError, AppState, Principal};

/// `GET /api/agents`.
pub(crate) async fn list(State(state): State<Arc<AppState>>) -> Json<Value> {
    let agents: Vec<Value> = state
        .runtime
        .agents()
        .iter()
        .map(|m| json!({ "name": m.name, "model": m.model, "tools": m.capabilities.tools }))
        .collect();
    Json(json!({ "agents": agents }))
}

/// `POST /api/agents`: a manifest as JSON, or as TOML text (`content-type: application/toml` or
/// `text/plain`).
pub(crate) async fn create(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let text =
        std::str::from_utf8(&body).map_err(|_| ApiError::invalid_input("manifest is not UTF-8"))?;
    let parsed = if content_type.starts_with("application/json") {
        AgentManifest::from_json(text)
    } else if content_type.starts_with("application/toml") || content_type.starts_with("text/plain")
    {
        AgentManifest::from_toml(text)
    } else {
        return Err(ApiError::invalid_input(
            "send the manifest as application/json or as TOML text (application/toml)",
        ));
    };
    let manifest =
        parsed.map_err(|e| ApiError::invalid_input(format!("invalid agent manifest: {e}")))?;
    let created = state.runtime.create_agent(manifest).await?;
    let tools = created.capabilities.tools.clone();
    state
        .events
        .agent_created(principal.actor, &created.name, &created.model, tools)
        .await;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "created": created.name })),
    ))
}

/// `DELETE /api/agents/{name}`.
pub(crate) async fn delete(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let name = agent_name(&name)?;
    state.runtime.delete_agent(&name).await?;
    state.events.agent_deleted(principal.actor, &name).await;
    Ok(Json(json!({ "deleted": name })))
}

/// The body of `POST /api/agents/{name}/message`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MessageBody {
    message: String,
    #[serde(default)]
    session_id: Option<String>,
}

/// `POST /api/agents/{name}/message`: one turn of the agent loop.
pub(crate) async fn message(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Json<TurnOutcome>, ApiError> {
    let agent = agent_name(&name)?;
    let body: MessageBody = parse_json(&body)?;
    if state.runtime.agent(&agent).is_none() {
        return Err(ApiError::not_found("no such agent"));
    }
    let caller = SessionCaller::principal(&principal);
    let session_id = claim_session(&state, caller, &agent, body.session_id.as_deref()).await?;
    let message = admit(&state, principal.actor, &agent, "api", &body.message).await?;
    let turn = TurnRequest {
        agent,
        session_id: Some(session_id),
        message,
    };
    let outcome = state.runtime.run_turn(turn, None).await?;
    Ok(Json(outcome))
}
