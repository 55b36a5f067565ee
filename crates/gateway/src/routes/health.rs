//! `GET /api/health` (public, minimal, SPEC N5) and `GET /api/health/detail` (admin).

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use std::sync::Arc;

use crate::AppState;

/// Exactly `{"status":"ok"}`: nothing an anonymous caller could fingerprint.
pub(crate) async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Version, uptime, agents and vault state, for authenticated admins.
pub(crate) async fn detail(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_secs": state.info.started.elapsed().as_secs(),
        "agents": state.runtime.agents().len(),
        "channels": [],
        "vault": state.info.vault,
    }))
}
