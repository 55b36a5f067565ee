//! The HTTP routes. Each file is one resource; none checks credentials (the auth layer did).

pub(crate) mod agents;
pub(crate) mod approvals;
pub(crate) mod audit;
pub(crate) mod channels;
pub(crate) mod chat;
pub(crate) mod config;
pub(crate) mod health;
pub(crate) mod metrics;
pub(crate) mod openai;
mod streaming;
pub(crate) mod webhook;
pub(crate) mod ws;

use serde::de::DeserializeOwned;

use crate::ApiError;

/// Parses a JSON body, answering `invalid_input` with serde's reason (which names the field, not
/// the value) when it does not fit.
pub(crate) fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        let reason = e.to_string();
        let reason: String = reason.chars().take(200).collect();
        ApiError::invalid_input(format!("invalid JSON body: {reason}"))
    })
}

/// Parses a path segment into an agent name.
pub(crate) fn agent_name(raw: &str) -> Result<rampart_core::AgentName, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::not_found("no such agent"))
}
