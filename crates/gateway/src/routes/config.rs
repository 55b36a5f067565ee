//! `POST /api/config/reload` (owner), `GET /api/users` (owner) and `GET /api/me` (any role).

use axum::Json;
use axum::extract::{Extension, State};
use serde_json::{Value, json};
use std::sync::Arc;

use crate::{ApiError, AppState, Principal};

/// `POST /api/config/reload`: re-read `config.toml` (see [`crate::reload`]).
pub(crate) async fn reload(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
) -> Result<Json<Value>, ApiError> {
    let report = crate::reload::reload(&state, "api", principal.actor).await?;
    Ok(Json(json!({
        "reloaded": true,
        "users": report.users,
        "summary": report.summary,
        "closed_websockets": report.closed_websockets,
    })))
}

/// `GET /api/users`: names, roles, whether enabled and whether a key is set. Never a hash.
pub(crate) async fn users(State(state): State<Arc<AppState>>) -> Json<Value> {
    let users: Vec<Value> = state
        .auth
        .directory()
        .summary()
        .into_iter()
        .map(|(name, role, enabled, has_key)| {
            json!({ "name": name, "role": role.as_str(), "enabled": enabled, "has_key": has_key })
        })
        .collect();
    Json(json!({ "users": users }))
}

/// `GET /api/me`: who the caller is, as the gateway sees it (the web chat shows it).
pub(crate) async fn me(Extension(principal): Extension<Principal>) -> Json<Value> {
    Json(json!({ "name": principal.name, "role": principal.role.as_str() }))
}
