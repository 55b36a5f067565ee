//! Admission of a user message: the input defense the HTTP fronts (the message route, the
//! OpenAI-compatible route, the webhook) run before the agent loop, so no message reaches a model
//! unchecked (SPEC I1, I2), and the claim of the session a client names, so a session id is never
//! a way into someone else's history. The WebSocket is the `webchat` channel: its messages take the
//! channels' shared path, which calls the same [`rampart_channels::screen`].

use rampart_audit::Actor;
use rampart_channels::{Refusal, screen};
use rampart_core::AgentName;
use rampart_store::SessionId;

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

/// The prefix of the sessions the chat channels keep (`ch-{channel}-{digest}`); no HTTP front
/// may name one, or a client could read a chat user's history or seed it before they first write.
pub(crate) const CHANNEL_SESSION_PREFIX: &str = "ch-";

/// Who is naming a session on an HTTP front.
pub(crate) struct SessionCaller<'a> {
    /// The owner recorded for the session: `principal:NAME` or `webhook`.
    pub owner: String,
    /// How the audit trail names the caller.
    pub actor: Actor,
    /// The caller's role, for the audit entry of a refusal.
    pub role: &'a str,
}

impl SessionCaller<'_> {
    /// An authenticated principal.
    pub(crate) fn principal(p: &crate::Principal) -> SessionCaller<'_> {
        SessionCaller {
            owner: format!("principal:{}", p.name),
            actor: p.actor.clone(),
            role: p.role.as_str(),
        }
    }

    /// The webhook trigger (its token is one shared credential).
    pub(crate) fn webhook(actor: Actor) -> SessionCaller<'static> {
        SessionCaller {
            owner: "webhook".to_owned(),
            actor,
            role: "webhook",
        }
    }
}

/// Checks the session id a client named (or makes a fresh one) and claims it for `caller`:
/// the first caller to use an id owns it; anyone else is refused with `forbidden` and the
/// refusal is audited as `access_denied`. Ids of the chat channels' sessions are refused.
/// Returns the session id the turn runs on.
pub(crate) async fn claim_session(
    state: &AppState,
    caller: SessionCaller<'_>,
    agent: &AgentName,
    id: Option<&str>,
) -> Result<String, ApiError> {
    check_session_id(state, id)?;
    let id: SessionId = match id {
        Some(id) if id.starts_with(CHANNEL_SESSION_PREFIX) => {
            return Err(ApiError::invalid_input(format!(
                "session ids starting with {CHANNEL_SESSION_PREFIX:?} are reserved for the chat channels"
            )));
        }
        Some(id) => id
            .parse()
            .map_err(|e: rampart_store::StoreError| ApiError::invalid_input(e.to_string()))?,
        None => SessionId::generate().map_err(|e| {
            tracing::error!(error = %e, "could not generate a session id");
            ApiError::internal()
        })?,
    };
    let store = state.runtime.store().clone();
    let (a, i, owner, now) = (agent.clone(), id.clone(), caller.owner, now_secs());
    let claim = tokio::task::spawn_blocking(move || store.claim_session(&a, &i, &owner, now))
        .await
        .map_err(|_| ApiError::internal())?
        .map_err(|e| {
            tracing::error!(error = %e, "could not check the session's owner");
            ApiError::internal()
        })?;
    if !claim.is_allowed() {
        let target = format!("session {agent}/{}", id.as_str());
        state
            .events
            .access_denied(caller.actor, &target, caller.role, "the session's owner")
            .await;
        return Err(ApiError::forbidden(
            "this session belongs to another caller; name another session_id or omit it",
        ));
    }
    Ok(id.as_str().to_owned())
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
