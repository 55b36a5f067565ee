//! Admission of a user message: the input defense the HTTP fronts (the message route, the
//! OpenAI-compatible route, the webhook) run before the agent loop, so no message reaches a model
//! unchecked (SPEC I1, I2). The WebSocket is the `webchat` channel: its messages take the
//! channels' shared path, which calls the same [`rampart_channels::screen`].

use rampart_audit::Actor;
use rampart_channels::{Refusal, screen};
use rampart_core::AgentName;

use crate::{ApiError, AppState};

/// Sanitizes `text` and refuses prompt injections, recording each refusal in the audit trail
/// (through [`rampart_channels::screen`], the one copy the chat channels' shared path uses too).
/// Returns the sanitized text (control characters other than `\n`, `\t` removed).
pub(crate) async fn admit(
    state: &AppState,
    actor: Actor,
    agent: &AgentName,
    source: &str,
    text: &str,
) -> Result<String, ApiError> {
    screen(
        &state.validator,
        state.events.audit(),
        actor,
        agent,
        source,
        text,
    )
    .await
    .map_err(|refusal| refusal_error(&refusal))
}

/// The contract error for a refusal of input defense.
pub(crate) fn refusal_error(refusal: &Refusal) -> ApiError {
    match refusal {
        Refusal::Injection(categories) => ApiError::new(
            http::StatusCode::BAD_REQUEST,
            "prompt_injection_detected",
            format!(
                "message refused: it matches prompt-injection patterns ({})",
                categories.join(", ")
            ),
        ),
        Refusal::Invalid(why) => ApiError::invalid_input(why.clone()),
        _ => ApiError::invalid_input("message refused"),
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
