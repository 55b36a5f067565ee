//! Admission of a user message: the input defense every front (HTTP, WebSocket, OpenAI-compatible)
//! runs before the agent loop, so no message reaches a model unchecked (SPEC I1, I2).

use rampart_audit::Actor;
use rampart_core::AgentName;
use rampart_guard::GuardError;

use crate::{ApiError, AppState};

/// Sanitizes `text` and refuses prompt injections, recording each refusal in the audit trail.
/// Returns the sanitized text (control characters other than `\n`, `\t` removed).
pub(crate) async fn admit(
    state: &AppState,
    actor: Actor,
    agent: &AgentName,
    source: &str,
    text: &str,
) -> Result<String, ApiError> {
    match state.validator.validate_message(text) {
        Ok(clean) => Ok(clean.into_owned()),
        Err(GuardError::PromptInjectionDetected { findings }) => {
            let mut categories: Vec<String> = findings
                .iter()
                .map(|f| f.category.as_str().to_owned())
                .collect();
            categories.sort();
            categories.dedup();
            let message = format!(
                "message refused: it matches prompt-injection patterns ({})",
                categories.join(", ")
            );
            state
                .events
                .injection_detected(actor, agent, source, categories)
                .await;
            Err(ApiError::new(
                http::StatusCode::BAD_REQUEST,
                "prompt_injection_detected",
                message,
            ))
        }
        Err(e) => Err(ApiError::invalid_input(e.to_string())),
    }
}

/// Checks a client-supplied session id with the guard's identifier rules.
pub(crate) fn check_session_id(state: &AppState, id: Option<&str>) -> Result<(), ApiError> {
    match id {
        Some(id) => state
            .validator
            .validate_session_id(id)
            .map_err(|e| ApiError::invalid_input(e.to_string())),
        None => Ok(()),
    }
}
