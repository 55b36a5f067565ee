//! `GET /api/agents/{name}/ws`: the agent over a WebSocket.
//!
//! Client → server: `{"type":"message","text":"…","session_id"?:"…"}`.
//! Server → client: `{"type":"delta","text":"…"}` while the model streams, then
//! `{"type":"reply", …the HTTP reply's fields…}`, or `{"type":"error","error":{code,message}}`.
//!
//! The socket is the **`webchat` channel** (SPEC P1–P3): this route only speaks the protocol.
//! Each text message becomes an [`InboundMessage`] whose user id is the authenticated
//! principal's name (never anything the client sends) and goes through the channels' shared path
//! ([`rampart_channels::Inbound::decide`]): the webchat allowlist (or `/pair CODE`), the per-user
//! rate limit, input defense and their audit events happen there, as for Telegram. A principal
//! not on the allowlist gets no reply at all. Refusals the path answers become `error` frames
//! (`prompt_injection_detected`, `rate_limited`, `invalid_input`); pairing answers are `reply`
//! frames with only `reply`. The turn it hands back is streamed here.
//!
//! Sessions: one per (principal, agent), derived by the shared path, so it survives reconnects;
//! a client `session_id` names a separate conversation of the same principal with that agent,
//! never another principal's session.
//!
//! Limits (SPEC N3, N6): frame, message and text sizes below; the `Origin` allowlist on upgrade
//! (403); [`crate::ws_limits::WS_MESSAGES_PER_WINDOW`] messages a minute per connection *and* per
//! authenticated key (a new socket does not reset it); a ping every 30 s and a close after 90 s
//! without a pong. Every frame sent passes the leak guard; streamed deltas through a stream
//! redactor, so a secret split across two deltas is still caught.
//!
//! Each open socket is registered with the [`crate::Authenticator`]; when a reload disables its
//! user, changes their key or lowers their role, the socket is closed with 1008 at once, even in
//! the middle of a turn (SPEC M2).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Extension, Path, State};
use axum::response::Response;
use http::HeaderMap;
use rampart_agent::TurnRequest;
use rampart_channels::{AnswerKind, Decision, DropReason, InboundMessage};
use rampart_core::AgentName;
use rampart_guard::{LeakHits, SharedLeakGuard};
use serde_json::json;

use super::agent_name;
use super::streaming::StreamingTurn;
use crate::admission::check_session_id;
use crate::keys::SocketGuard;
use crate::rate_limit::audit_rate_limited;
use crate::ws_limits::{SlidingWindow, WS_MESSAGES_PER_WINDOW, origin_allowed};
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

/// The upgrade handler. The agent must exist and the `Origin` be allowed before the socket opens.
pub(crate) async fn upgrade(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    Path(name): Path<String>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    if !origin_allowed(&headers, &state.edge.settings().ws_allowed_origins) {
        state.edge.metrics.ws_refused();
        let origin = headers
            .get(http::header::ORIGIN)
            .map(|o| String::from_utf8_lossy(o.as_bytes()).into_owned())
            .unwrap_or_default();
        tracing::warn!(origin = %origin.escape_debug(), "cross-origin WebSocket refused");
        return Err(ApiError::forbidden("this Origin may not open a WebSocket"));
    }
    let agent = agent_name(&name)?;
    if state.runtime.agent(&agent).is_none() {
        return Err(ApiError::not_found("no such agent"));
    }
    // Registered before the upgrade completes, so a reload from here on reaches this socket.
    let revocation = state.auth.register_socket(&principal);
    Ok(ws
        .max_frame_size(MAX_WS_FRAME_BYTES)
        .max_message_size(MAX_WS_MESSAGE_BYTES)
        .on_upgrade(move |socket| {
            serve(
                socket,
                AppState::clone(&state),
                agent,
                principal,
                revocation,
            )
        }))
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

/// The client's socket, every send bounded by a timeout ([`crate::ws_limits::WS_SEND_TIMEOUT`]
/// unless the edge sets another).
struct Socket {
    inner: WebSocket,
    send_timeout: std::time::Duration,
}

impl Socket {
    /// Sends one frame; `Err` when the socket failed or the client has not taken the frame in
    /// time (then the caller drops the socket).
    async fn send(&mut self, msg: Message) -> Result<(), ()> {
        match tokio::time::timeout(self.send_timeout, self.inner.send(msg)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) | Err(_) => Err(()),
        }
    }

    async fn recv(&mut self) -> Option<Result<Message, axum::Error>> {
        self.inner.recv().await
    }
}

/// Sends a JSON value, redacted by the leak guard.
async fn send_json(socket: &mut Socket, leak: &SharedLeakGuard, value: &serde_json::Value) -> bool {
    let text = value.to_string();
    let text = leak.redact("reply", &text).into_owned();
    socket.send(Message::Text(text.into())).await.is_ok()
}

async fn send_error(socket: &mut Socket, leak: &SharedLeakGuard, e: &ApiError) -> bool {
    send_json(socket, leak, &error_frame(e)).await
}

/// Counts one message against the connection's and the key's windows.
async fn admit_rate(
    state: &AppState,
    principal: &Principal,
    window: &mut SlidingWindow,
    audited: &mut Option<Instant>,
) -> Result<(), ApiError> {
    let now = Instant::now();
    let key = format!("{:?}", principal.actor);
    if state.edge.ws_windows.try_hit(&key, now) && window.try_hit(now) {
        state.edge.metrics.ws_message();
        return Ok(());
    }
    state.edge.metrics.rate_limited("websocket");
    state.edge.metrics.ws_refused();
    if audited.is_none_or(|t| now.duration_since(t) >= crate::ws_limits::WS_WINDOW) {
        *audited = Some(now);
        audit_rate_limited(state, principal.actor.clone(), "websocket", &key).await;
    }
    Err(ApiError::new(
        http::StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!("at most {WS_MESSAGES_PER_WINDOW} messages a minute"),
    ))
}

/// Resolves once the gateway begins its shutdown (at once if it has).
async fn shutting_down(stopping: &mut tokio::sync::watch::Receiver<bool>) {
    // An error means the sender is gone with the gateway's state: shutting down as well.
    let _ = stopping.wait_for(|stop| *stop).await;
}

/// Closes a socket whose credential a reload revoked (1008, policy violation).
async fn close_revoked(socket: &mut Socket) {
    let close = CloseFrame {
        code: 1008,
        reason: "credential revoked".into(),
    };
    let _ = socket.send(Message::Close(Some(close))).await;
}

async fn serve(
    socket: WebSocket,
    state: AppState,
    agent: AgentName,
    principal: Principal,
    mut revocation: SocketGuard,
) {
    state.edge.metrics.ws_connection();
    let mut socket = Socket {
        inner: socket,
        send_timeout: state.edge.ws_send_timeout,
    };
    let leak = state.edge.leak.clone();
    let mut window = SlidingWindow::default();
    let mut audited = None;
    let every = state.edge.ws_ping_interval;
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_pong = Instant::now();
    let mut stopping = state.edge.shutdown.subscribe();
    loop {
        let msg = tokio::select! {
            // Shutdown first: no new turn starts once it has begun, even with a message waiting.
            biased;
            // The gateway is shutting down: a turn in progress has finished (this loop is
            // between turns), so say goodbye and free the connection's slot.
            () = shutting_down(&mut stopping) => {
                let close = CloseFrame { code: 1001, reason: "server shutting down".into() };
                let _ = socket.send(Message::Close(Some(close))).await;
                break;
            }
            m = socket.recv() => match m {
                Some(Ok(m)) => m,
                _ => break,
            },
            () = revocation.revoked() => {
                close_revoked(&mut socket).await;
                break;
            }
            _ = ping.tick() => {
                if last_pong.elapsed() >= state.edge.ws_idle_timeout {
                    state.edge.metrics.ws_closed_idle();
                    let close = CloseFrame { code: 1001, reason: "no pong".into() };
                    let _ = socket.send(Message::Close(Some(close))).await;
                    break;
                }
                if socket.send(Message::Ping(Default::default())).await.is_err() {
                    break;
                }
                continue;
            }
        };
        let text = match msg {
            Message::Text(t) => t,
            Message::Close(_) => break,
            Message::Pong(_) => {
                last_pong = Instant::now();
                continue;
            }
            Message::Ping(_) => continue,
            Message::Binary(_) => {
                if !send_error(
                    &mut socket,
                    &leak,
                    &ApiError::invalid_input("send JSON text frames"),
                )
                .await
                {
                    break;
                }
                continue;
            }
        };
        if let Err(e) = admit_rate(&state, &principal, &mut window, &mut audited).await {
            if !send_error(&mut socket, &leak, &e).await {
                break;
            }
            continue;
        }
        let parsed: Result<ClientMessage, _> = serde_json::from_str(text.as_str());
        let (text, session_id) = match parsed {
            Ok(ClientMessage::Message { text, session_id }) => (text, session_id),
            Err(_) => {
                let e = ApiError::invalid_input(r#"expected {"type":"message","text":"…"}"#);
                if !send_error(&mut socket, &leak, &e).await {
                    break;
                }
                continue;
            }
        };
        if text.len() > MAX_WS_TEXT_BYTES {
            state.edge.metrics.ws_refused();
            let e = ApiError::new(
                http::StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("message text over {MAX_WS_TEXT_BYTES} bytes"),
            );
            if !send_error(&mut socket, &leak, &e).await {
                break;
            }
            continue;
        }
        if let Err(e) = check_session_id(&state, session_id.as_deref()) {
            if !send_error(&mut socket, &leak, &e).await {
                break;
            }
            continue;
        }
        let msg = InboundMessage {
            user_id: principal.name.to_string(),
            chat_id: chat_id(&agent, session_id.as_deref()),
            is_group: false,
            addressed: true,
            display_name: principal.name.to_string(),
            text,
            agent: Some(agent.clone()),
        };
        let req = match decide(&state, &msg).await {
            Ok(Some(req)) => req,
            Ok(None) => continue,
            Err(frame) => {
                if !send_json(&mut socket, &leak, &frame).await {
                    break;
                }
                continue;
            }
        };
        let finished = tokio::select! {
            ok = turn(&mut socket, &state, req) => Some(ok),
            () = revocation.revoked() => None,
        };
        match finished {
            Some(true) => {}
            Some(false) => break,
            None => {
                // Revoked mid-turn: the turn is dropped, nothing more is sent but the close.
                close_revoked(&mut socket).await;
                break;
            }
        }
        // The client could not answer pings while the turn ran.
        last_pong = Instant::now();
    }
}

/// Hands `msg` to the webchat channel's shared path: the turn to run, `None` to send nothing
/// (dropped: not on the allowlist, a bad id), or the frame to answer with.
async fn decide(
    state: &AppState,
    msg: &InboundMessage,
) -> Result<Option<TurnRequest>, serde_json::Value> {
    let Some(inbound) = state
        .pairing
        .as_ref()
        .and_then(|desk| desk.inbound(rampart_channels::WEBCHAT))
    else {
        // Fail closed: without the shared path nothing reaches a model.
        return Err(error_frame(&ApiError::not_found(
            "the web chat channel is not running on this gateway",
        )));
    };
    match inbound.decide(msg).await {
        Decision::Turn(req) => Ok(Some(req)),
        Decision::Drop(DropReason::RateLimited) => {
            state.edge.metrics.rate_limited("channel_user");
            Err(error_frame(&ApiError::new(
                http::StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many messages a minute from this user",
            )))
        }
        Decision::Drop(DropReason::InvalidId) => Err(error_frame(&ApiError::invalid_input(
            "the session id cannot name a web chat conversation",
        ))),
        Decision::Answer(a) => Err(match a.kind {
            AnswerKind::PromptInjection => error_frame(&ApiError::new(
                http::StatusCode::BAD_REQUEST,
                "prompt_injection_detected",
                a.text,
            )),
            AnswerKind::InvalidInput => error_frame(&ApiError::invalid_input(a.text)),
            _ => json!({ "type": "reply", "reply": a.text }),
        }),
        _ => Ok(None),
    }
}

/// The webchat chat id of one conversation: `{agent}` or `{agent}/{session_id}`, or, when that
/// would be longer than a channel id may be, `{agent}/#` and a digest of the session id (`#` is
/// not a session id character, so the two forms never meet). The channel's session is then a
/// digest of this and the principal's name, so it is never another principal's.
fn chat_id(agent: &AgentName, session_id: Option<&str>) -> String {
    let Some(s) = session_id else {
        return agent.to_string();
    };
    let plain = format!("{agent}/{s}");
    if plain.chars().count() <= rampart_guard::MAX_ID_CHARS {
        return plain;
    }
    let d = ring::digest::digest(&ring::digest::SHA256, s.as_bytes());
    let hex: String = d.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("{agent}/#{hex}")
}

fn error_frame(e: &ApiError) -> serde_json::Value {
    json!({ "type": "error", "error": e.body()["error"] })
}

/// Sends a streamed delta through the stream redactor.
async fn send_delta(socket: &mut Socket, text: &str) -> bool {
    if text.is_empty() {
        return true;
    }
    let frame = json!({ "type": "delta", "text": text }).to_string();
    socket.send(Message::Text(frame.into())).await.is_ok()
}

/// Runs one turn, streaming deltas; false when the socket is gone.
async fn turn(socket: &mut Socket, state: &AppState, req: TurnRequest) -> bool {
    let leak = &state.edge.leak;
    let mut redactor = leak.current().stream();
    let mut hits = LeakHits::default();
    let mut turn = StreamingTurn::start(state.runtime.clone(), req);
    while let Some(text) = turn.next_delta().await {
        if !send_delta(socket, &redactor.push(&text, &mut hits)).await {
            return false;
        }
    }
    let result = turn.finish().await;
    let rest = redactor.finish(&mut hits);
    leak.report("reply", &hits);
    if !send_delta(socket, &rest).await {
        return false;
    }
    match result {
        Ok(outcome) => {
            let mut value = serde_json::to_value(&outcome).unwrap_or_else(|_| json!({}));
            if let Some(obj) = value.as_object_mut() {
                obj.insert("type".to_owned(), json!("reply"));
            }
            send_json(socket, leak, &value).await
        }
        Err(e) => send_error(socket, leak, &e).await,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn every_valid_session_id_names_a_chat_id_a_channel_accepts() {
        let agent: AgentName = "assistant".parse().unwrap();
        let v = rampart_guard::InputValidator::default();
        assert_eq!(chat_id(&agent, None), "assistant");
        assert_eq!(chat_id(&agent, Some("work")), "assistant/work");
        let long = "s".repeat(rampart_guard::MAX_ID_CHARS);
        let id = chat_id(&agent, Some(&long));
        assert!(v.validate_channel_id(&id).is_ok(), "{id}");
        assert_ne!(
            id,
            chat_id(&agent, Some(&"t".repeat(rampart_guard::MAX_ID_CHARS)))
        );
    }
}
