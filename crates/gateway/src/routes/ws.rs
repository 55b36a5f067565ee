//! `GET /api/agents/{name}/ws`: the agent over a WebSocket.
//!
//! Client → server: `{"type":"message","text":"…","session_id"?:"…"}`.
//! Server → client: `{"type":"delta","text":"…"}` while the model streams, then
//! `{"type":"reply", …the HTTP reply's fields…}`, or `{"type":"error","error":{code,message}}`.
//! The connection keeps one session: the first reply's `session_id` is reused for later messages.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Extension, Path, State};
use axum::response::Response;
use rampart_agent::{TurnEvent, TurnRequest};
use rampart_core::AgentName;
use serde_json::json;
use tokio::sync::mpsc;

use super::agent_name;
use crate::admission::{admit, check_session_id};
use crate::{ApiError, AppState, Principal};

/// The largest WebSocket frame accepted.
///
/// # Security
/// Bounds what one frame can make the server buffer (SPEC N3).
pub const MAX_WS_FRAME_BYTES: usize = 64 * 1024;
/// The largest reassembled WebSocket message accepted (SPEC N3).
pub const MAX_WS_MESSAGE_BYTES: usize = 256 * 1024;
/// The largest chat text inside one message (SPEC N3).
pub const MAX_WS_TEXT_BYTES: usize = 32 * 1024;

/// The upgrade handler. The agent must exist before the socket opens.
pub(crate) async fn upgrade(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(name): Path<String>,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let agent = agent_name(&name)?;
    if state.runtime.agent(&agent).is_none() {
        return Err(ApiError::not_found("no such agent"));
    }
    Ok(ws
        .max_frame_size(MAX_WS_FRAME_BYTES)
        .max_message_size(MAX_WS_MESSAGE_BYTES)
        .on_upgrade(move |socket| serve(socket, state, agent, principal)))
}

#[derive(serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum ClientMessage {
    Message {
        text: String,
        #[serde(default)]
        session_id: Option<String>,
    },
}

async fn send_json(socket: &mut WebSocket, value: &serde_json::Value) -> bool {
    socket
        .send(Message::Text(value.to_string().into()))
        .await
        .is_ok()
}

async fn send_error(socket: &mut WebSocket, e: &ApiError) -> bool {
    send_json(
        socket,
        &json!({ "type": "error", "error": e.body()["error"] }),
    )
    .await
}

async fn serve(mut socket: WebSocket, state: AppState, agent: AgentName, principal: Principal) {
    let mut session: Option<String> = None;
    while let Some(Ok(msg)) = socket.recv().await {
        let text = match msg {
            Message::Text(t) => t,
            Message::Close(_) => break,
            Message::Binary(_) => {
                if !send_error(
                    &mut socket,
                    &ApiError::invalid_input("send JSON text frames"),
                )
                .await
                {
                    break;
                }
                continue;
            }
            Message::Ping(_) | Message::Pong(_) => continue,
        };
        let parsed: Result<ClientMessage, _> = serde_json::from_str(text.as_str());
        let (text, session_id) = match parsed {
            Ok(ClientMessage::Message { text, session_id }) => (text, session_id),
            Err(_) => {
                let e = ApiError::invalid_input(r#"expected {"type":"message","text":"…"}"#);
                if !send_error(&mut socket, &e).await {
                    break;
                }
                continue;
            }
        };
        if text.len() > MAX_WS_TEXT_BYTES {
            let e = ApiError::new(
                http::StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("message text over {MAX_WS_TEXT_BYTES} bytes"),
            );
            if !send_error(&mut socket, &e).await {
                break;
            }
            continue;
        }
        let admitted = match check_session_id(&state, session_id.as_deref()) {
            Ok(()) => admit(&state, principal.actor.clone(), &agent, "websocket", &text).await,
            Err(e) => Err(e),
        };
        let text = match admitted {
            Ok(m) => m,
            Err(e) => {
                if !send_error(&mut socket, &e).await {
                    break;
                }
                continue;
            }
        };
        let req = TurnRequest {
            agent: agent.clone(),
            session_id: session_id.or_else(|| session.clone()),
            message: text,
        };
        if !turn(&mut socket, &state, req, &mut session).await {
            break;
        }
    }
}

/// Runs one turn, streaming deltas; false when the socket is gone.
async fn turn(
    socket: &mut WebSocket,
    state: &AppState,
    req: TurnRequest,
    session: &mut Option<String>,
) -> bool {
    let (tx, mut rx) = mpsc::channel(64);
    let runtime = state.runtime.clone();
    let run = runtime.run_turn(req, Some(tx));
    tokio::pin!(run);
    let result = loop {
        tokio::select! {
            Some(event) = rx.recv() => {
                if let TurnEvent::Delta { text } = event
                    && !send_json(socket, &json!({ "type": "delta", "text": text })).await
                {
                    return false;
                }
            }
            result = &mut run => break result,
        }
    };
    while let Ok(event) = rx.try_recv() {
        if let TurnEvent::Delta { text } = event
            && !send_json(socket, &json!({ "type": "delta", "text": text })).await
        {
            return false;
        }
    }
    match result {
        Ok(outcome) => {
            *session = Some(outcome.session_id.to_string());
            let mut value = serde_json::to_value(&outcome).unwrap_or_else(|_| json!({}));
            if let Some(obj) = value.as_object_mut() {
                obj.insert("type".to_owned(), json!("reply"));
            }
            send_json(socket, &value).await
        }
        Err(e) => send_error(socket, &ApiError::from(e)).await,
    }
}
