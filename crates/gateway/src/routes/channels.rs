//! `POST /api/channels/{channel}/pairing-codes` (admin, SPEC P2): issues a one-time pairing code
//! for an enabled channel. Answer: `{"channel":…,"code":"123456","expires_at":UNIX_SECONDS}`.
//! The channel's shared path consumes it when a person sends `/pair CODE` to the bot; issuing is
//! audited (`pairing_code_issued`) by the pairing itself.

use axum::Json;
use axum::extract::{Extension, Path, State};
use http::StatusCode;
use rampart_channels::ChannelError;
use serde_json::{Value, json};
use std::sync::Arc;

use crate::{ApiError, AppState, Principal};

/// The handler.
pub(crate) async fn issue_pairing_code(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    Path(channel): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let desk = state
        .pairing
        .as_ref()
        .ok_or_else(|| ApiError::not_found("no channel is enabled on this gateway"))?;
    match desk.issue(&channel, principal.actor).await {
        None => Err(ApiError::not_found("no such channel, or it is not enabled")),
        Some(Ok(code)) => Ok((
            StatusCode::CREATED,
            Json(json!({
                "channel": channel,
                "code": code.code.as_str(),
                "expires_at": code.expires_at,
            })),
        )),
        Some(Err(ChannelError::TooManyCodes(_))) => Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "this channel already has the most unused pairing codes allowed; wait for one to be used or expire",
        )),
        Some(Err(e)) => {
            tracing::error!(error = %e, "issuing a pairing code failed");
            Err(ApiError::internal())
        }
    }
}
