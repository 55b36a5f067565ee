//! `POST /v1/chat/completions`: an OpenAI-compatible front door to an agent.
//!
//! `model` names the agent. The agent keeps its own history per session, so only the last `user`
//! message of `messages` is sent as the turn's input; pass `session_id` (an extension field) to
//! continue a session. `stream: true` answers with `chat.completion.chunk` server-sent events.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use rampart_agent::{TurnOutcome, TurnRequest};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::streaming::StreamingTurn;
use super::{agent_name, parse_json};
use crate::admission::{SessionCaller, admit, claim_session};
use crate::{ApiError, AppState, Principal};

#[derive(serde::Deserialize)]
pub(crate) struct CompletionRequest {
    model: String,
    messages: Vec<ChatMessage>,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    session_id: Option<String>,
}

#[derive(serde::Deserialize)]
struct ChatMessage {
    role: String,
    #[serde(default)]
    content: Value,
}

/// The text of a message's `content`: a string, or an array of `{"type":"text","text":…}` parts.
fn content_text(content: &Value) -> Option<String> {
    match content {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => {
            let texts: Vec<&str> = parts
                .iter()
                .filter(|p| p.get("type").and_then(Value::as_str) == Some("text"))
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect();
            (!texts.is_empty()).then(|| texts.join("\n"))
        }
        _ => None,
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn completion(model: &str, o: &TurnOutcome) -> Value {
    json!({
        "id": format!("chatcmpl-{}", o.session_id),
        "object": "chat.completion",
        "created": now_secs(),
        "model": model,
        "session_id": o.session_id,
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": o.reply },
            "finish_reason": "stop",
        }],
        "usage": {
            "prompt_tokens": o.usage.input_tokens,
            "completion_tokens": o.usage.output_tokens,
            "total_tokens": o.usage.input_tokens + o.usage.output_tokens,
        },
    })
}

fn chunk(model: &str, delta: &Value, finish: Option<&str>) -> Event {
    Event::default().data(
        json!({
            "id": "chatcmpl-stream",
            "object": "chat.completion.chunk",
            "created": now_secs(),
            "model": model,
            "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }],
        })
        .to_string(),
    )
}

/// The handler.
pub(crate) async fn chat_completions(
    State(state): State<Arc<AppState>>,
    Extension(principal): Extension<Principal>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req: CompletionRequest = parse_json(&body)?;
    let agent = agent_name(&req.model)?;
    if state.runtime.agent(&agent).is_none() {
        return Err(ApiError::not_found("no such agent"));
    }
    let message = req
        .messages
        .iter()
        .rev()
        .find(|m| m.role == "user")
        .and_then(|m| content_text(&m.content))
        .ok_or_else(|| {
            ApiError::invalid_input("messages must contain a user message with text content")
        })?;
    let caller = SessionCaller::principal(&principal);
    let session_id = claim_session(&state, caller, &agent, req.session_id.as_deref()).await?;
    let message = admit(&state, principal.actor, &agent, "openai", &message).await?;
    let turn = TurnRequest {
        agent,
        session_id: Some(session_id),
        message,
    };
    if !req.stream {
        let outcome = state.runtime.run_turn(turn, None).await?;
        return Ok(Json(completion(&req.model, &outcome)).into_response());
    }

    // Streaming: the turn runs in its own task; its deltas become SSE chunks.
    let (sse_tx, sse_rx) = mpsc::channel::<Event>(64);
    let model = req.model;
    let mut turn = StreamingTurn::start(state.runtime.clone(), turn);
    tokio::spawn(async move {
        let _ = sse_tx
            .send(chunk(&model, &json!({ "role": "assistant" }), None))
            .await;
        let mut streamed = false;
        while let Some(text) = turn.next_delta().await {
            streamed = true;
            let _ = sse_tx
                .send(chunk(&model, &json!({ "content": text }), None))
                .await;
        }
        match turn.finish().await {
            Ok(outcome) => {
                if !streamed {
                    let _ = sse_tx
                        .send(chunk(&model, &json!({ "content": outcome.reply }), None))
                        .await;
                }
                let _ = sse_tx.send(chunk(&model, &json!({}), Some("stop"))).await;
            }
            Err(e) => {
                let _ = sse_tx
                    .send(Event::default().data(e.body().to_string()))
                    .await;
            }
        }
        let _ = sse_tx.send(Event::default().data("[DONE]")).await;
    });
    let events = stream::unfold(sse_rx, |mut rx| async move {
        rx.recv().await.map(|e| (Ok::<_, Infallible>(e), rx))
    });
    Ok(Sse::new(events).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_text_accepts_strings_and_parts() {
        assert_eq!(content_text(&json!("hi")), Some("hi".to_owned()));
        assert_eq!(
            content_text(
                &json!([{"type":"text","text":"a"},{"type":"image_url"},{"type":"text","text":"b"}])
            ),
            Some("a\nb".to_owned())
        );
        assert_eq!(content_text(&json!(null)), None);
        assert_eq!(content_text(&json!([])), None);
    }
}
