//! `POST /hooks/{agent}`: the webhook trigger (SPEC N7).
//!
//! Off unless `[webhook_trigger] enabled` (then 404, as for an unknown route). The caller presents
//! the token from `token_env` as `Authorization: Bearer TOKEN`, compared in constant time. The
//! route has its own per-IP rate limit (`rate_limit_per_minute`) on top of the API's, its own body
//! limit ([`crate::limits::MAX_WEBHOOK_BODY_BYTES`]), and its message passes the same admission
//! (sanitizing, injection detection) as every other front.
//!
//! Body: `{"message":"…","session_id"?:"…"}`; answer: the message route's reply. The body is
//! read only after the route is known to be on, the rate limit admits the caller and the token
//! matches: an anonymous client cannot make the gateway wait on a body it trickles.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::HeaderMap;
use rampart_agent::{TurnOutcome, TurnRequest};
use rampart_audit::Actor;
use std::sync::Arc;

use super::{agent_name, parse_json};
use crate::admission::{SessionCaller, admit, claim_session};
use crate::client_ip::ClientIp;
use crate::rate_limit::{audit_rate_limited, too_many};
use crate::{ApiError, AppState};

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HookBody {
    message: String,
    #[serde(default)]
    session_id: Option<String>,
}

/// The whole body, which [`crate::limits`] has capped at the webhook's limit: over it, 413.
async fn read_body(body: Body) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, usize::MAX).await.map_err(|e| {
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(c) = cause {
            if c.is::<http_body_util::LengthLimitError>() {
                return ApiError::payload_too_large();
            }
            cause = c.source();
        }
        ApiError::invalid_input("could not read the request body")
    })
}

/// The handler.
pub(crate) async fn trigger(
    State(state): State<Arc<AppState>>,
    ClientIp(ip): ClientIp,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let Some(token) = &state.edge.webhook else {
        return Err(ApiError::not_found("no such route"));
    };
    state.edge.metrics.webhook_request();
    let checked = state.edge.settings().webhook_limiter.check(ip, 1);
    if let Err(limited) = checked {
        state.edge.metrics.rate_limited("webhook");
        if limited.audit {
            audit_rate_limited(&state, Actor::Ip(ip), "webhook", &ip.to_string()).await;
        }
        return Ok(too_many(limited.retry_after_secs));
    }
    let presented = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    if !presented.is_some_and(|t| token.verify(t)) {
        state
            .events
            .auth_failed(
                Some(std::net::SocketAddr::new(ip, 0)),
                "POST",
                &format!("/hooks/{name}"),
                "missing or invalid webhook token",
            )
            .await;
        return Err(ApiError::unauthorized("missing or invalid webhook token"));
    }
    let agent = agent_name(&name)?;
    let body: HookBody = parse_json(&read_body(body).await?)?;
    if state.runtime.agent(&agent).is_none() {
        return Err(ApiError::not_found("no such agent"));
    }
    let caller = SessionCaller::webhook(Actor::Ip(ip));
    let session_id = claim_session(&state, caller, &agent, body.session_id.as_deref()).await?;
    let message = admit(&state, Actor::Ip(ip), &agent, "webhook", &body.message).await?;
    let turn = TurnRequest {
        agent,
        session_id: Some(session_id),
        message,
    };
    let outcome: TurnOutcome = state.runtime.run_turn(turn, None).await?;
    Ok(Json(outcome).into_response())
}
