//! Anthropic messages API: `POST {base_url}/v1/messages`.

use std::collections::BTreeMap;
use std::time::Duration;

use rampart_store::Message;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};

use super::http::{self, SseStream};
use super::{
    ANTHROPIC_MAX_TOKENS, ANTHROPIC_VERSION, DeltaSink, ModelRequest, ModelResponse, Provider,
    ProviderError, Usage, normalize_call,
};

#[derive(Debug)]
pub(crate) struct Anthropic {
    url: String,
    key: Option<SecretString>,
    client: reqwest::Client,
}

impl Anthropic {
    pub(crate) fn new(
        base: &str,
        key: Option<SecretString>,
        timeout: Duration,
    ) -> Result<Self, ProviderError> {
        Ok(Self {
            url: format!("{base}/v1/messages"),
            key,
            client: http::client(timeout)?,
        })
    }
}

/// The request body in Anthropic's format. Consecutive messages of one role are merged (the API
/// wants alternating roles; tool results travel as `user` content blocks).
pub(crate) fn request_body(req: &ModelRequest) -> Value {
    let mut messages: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for m in &req.messages {
        let (role, blocks) = match m {
            Message::User { content } => ("user", vec![json!({"type": "text", "text": content})]),
            Message::Assistant {
                content,
                tool_calls,
            } => {
                let mut blocks = Vec::new();
                if !content.is_empty() || tool_calls.is_empty() {
                    let text = if content.is_empty() {
                        "(no answer)"
                    } else {
                        content
                    };
                    blocks.push(json!({"type": "text", "text": text}));
                }
                for c in tool_calls {
                    let input = if c.arguments.is_object() {
                        c.arguments.clone()
                    } else {
                        json!({"invalid_arguments": super::arguments_text(&c.arguments)})
                    };
                    blocks.push(
                        json!({"type": "tool_use", "id": c.id, "name": c.name, "input": input}),
                    );
                }
                ("assistant", blocks)
            }
            Message::Tool {
                tool_call_id,
                content,
                is_error,
                ..
            } => (
                "user",
                vec![json!({"type": "tool_result", "tool_use_id": tool_call_id,
                            "content": content, "is_error": is_error})],
            ),
        };
        match messages.last_mut() {
            Some((r, b)) if *r == role => b.extend(blocks),
            _ => messages.push((role, blocks)),
        }
    }
    let messages: Vec<Value> = messages
        .into_iter()
        .map(|(role, content)| json!({"role": role, "content": content}))
        .collect();
    let mut body = json!({"model": req.model, "max_tokens": ANTHROPIC_MAX_TOKENS,
                          "messages": messages, "stream": req.stream});
    if !req.system.is_empty() {
        body["system"] = json!(req.system);
    }
    if !req.tools.is_empty() {
        body["tools"] = req
            .tools
            .iter()
            .map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.parameters}))
            .collect();
    }
    body
}

#[derive(Deserialize, Default)]
struct WireUsage {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum WireBlock {
    Text {
        #[serde(default)]
        text: String,
    },
    ToolUse {
        #[serde(default)]
        id: String,
        #[serde(default)]
        name: String,
        #[serde(default)]
        input: Value,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct WireResponse {
    #[serde(default)]
    content: Vec<WireBlock>,
    #[serde(default)]
    usage: WireUsage,
}

/// Parses a non-streaming response body.
pub(crate) fn parse_response(body: &[u8]) -> Result<ModelResponse, ProviderError> {
    let wire: WireResponse = serde_json::from_slice(body)
        .map_err(|_| ProviderError::Malformed("not a messages response"))?;
    let mut out = ModelResponse {
        usage: Usage {
            input_tokens: wire.usage.input_tokens.unwrap_or(0),
            output_tokens: wire.usage.output_tokens.unwrap_or(0),
        },
        ..ModelResponse::default()
    };
    for block in wire.content {
        match block {
            WireBlock::Text { text } => out.text.push_str(&text),
            WireBlock::ToolUse { id, name, input } => {
                let args = if input.is_null() {
                    String::new()
                } else {
                    input.to_string()
                };
                out.tool_calls
                    .push(normalize_call(out.tool_calls.len(), &id, &name, &args));
            }
            WireBlock::Other => {}
        }
    }
    Ok(out)
}

#[derive(Default)]
enum Block {
    #[default]
    Ignored,
    Text,
    ToolUse {
        id: String,
        name: String,
        json: String,
    },
}

/// Accumulates a streamed answer from Anthropic's typed events.
#[derive(Default)]
pub(crate) struct StreamState {
    text: String,
    blocks: BTreeMap<u64, Block>,
    usage: Usage,
    done: bool,
}

impl StreamState {
    /// Applies one event's `data:`; returns the text delta it carried, if any.
    pub(crate) fn apply(&mut self, data: &str) -> Result<Option<String>, ProviderError> {
        let v: Value = serde_json::from_str(data)
            .map_err(|_| ProviderError::Malformed("stream event is not JSON"))?;
        let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
        let str_at = |v: &Value, path: &[&str]| -> String {
            let mut cur = v;
            for p in path {
                cur = cur.get(p).unwrap_or(&Value::Null);
            }
            cur.as_str().unwrap_or_default().to_owned()
        };
        match v.get("type").and_then(Value::as_str).unwrap_or_default() {
            "message_start" => {
                let u = &v["message"]["usage"];
                self.usage.input_tokens = u["input_tokens"].as_u64().unwrap_or(0);
                self.usage.output_tokens = u["output_tokens"].as_u64().unwrap_or(0);
            }
            "content_block_start" => {
                let block = match str_at(&v, &["content_block", "type"]).as_str() {
                    "text" => Block::Text,
                    "tool_use" => Block::ToolUse {
                        id: str_at(&v, &["content_block", "id"]),
                        name: str_at(&v, &["content_block", "name"]),
                        json: String::new(),
                    },
                    _ => Block::Ignored,
                };
                self.blocks.insert(index, block);
            }
            "content_block_delta" => match (
                self.blocks.get_mut(&index),
                str_at(&v, &["delta", "type"]).as_str(),
            ) {
                (Some(Block::Text), "text_delta") => {
                    let t = str_at(&v, &["delta", "text"]);
                    self.text.push_str(&t);
                    return Ok(Some(t).filter(|t| !t.is_empty()));
                }
                (Some(Block::ToolUse { json, .. }), "input_json_delta") => {
                    json.push_str(&str_at(&v, &["delta", "partial_json"]));
                }
                _ => {}
            },
            "message_delta" => {
                if let Some(n) = v["usage"]["output_tokens"].as_u64() {
                    self.usage.output_tokens = n;
                }
                if let Some(n) = v["usage"]["input_tokens"].as_u64() {
                    self.usage.input_tokens = n;
                }
            }
            "message_stop" => self.done = true,
            "error" => {
                return Err(ProviderError::Malformed(
                    "the provider reported an error in the stream",
                ));
            }
            _ => {} // ping, content_block_stop, future event types
        }
        Ok(None)
    }

    pub(crate) fn finish(self) -> ModelResponse {
        let tool_calls = self
            .blocks
            .into_values()
            .filter_map(|b| match b {
                Block::ToolUse { id, name, json } => Some((id, name, json)),
                _ => None,
            })
            .enumerate()
            .map(|(i, (id, name, json))| normalize_call(i, &id, &name, &json))
            .collect();
        ModelResponse {
            text: self.text,
            tool_calls,
            usage: self.usage,
        }
    }
}

#[async_trait::async_trait]
impl Provider for Anthropic {
    async fn complete(
        &self,
        req: &ModelRequest,
        deltas: &DeltaSink,
    ) -> Result<ModelResponse, ProviderError> {
        let mut builder = self
            .client
            .post(&self.url)
            .header("anthropic-version", ANTHROPIC_VERSION)
            .json(&request_body(req));
        if let Some(key) = &self.key {
            let mut value = reqwest::header::HeaderValue::from_str(key.expose_secret())
                .map_err(|_| ProviderError::Transport("the API key is not a valid header value"))?;
            value.set_sensitive(true);
            builder = builder.header("x-api-key", value);
        }
        let resp = http::send(builder).await?;
        if !req.stream {
            return parse_response(&http::read_capped(resp).await?);
        }
        let mut stream = SseStream::new(resp);
        let mut state = StreamState::default();
        while let Some(event) = stream.next().await? {
            if let Some(text) = state.apply(&event.data)? {
                deltas.text(&text).await;
            }
            if state.done {
                break;
            }
        }
        Ok(state.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_store::ToolCallRequest;

    #[test]
    fn tool_results_are_merged_into_one_user_turn() {
        let call = |id: &str| ToolCallRequest {
            id: id.into(),
            name: "clock".into(),
            arguments: json!({}),
        };
        let result = |id: &str| Message::Tool {
            tool_call_id: id.into(),
            name: "clock".into(),
            content: "t".into(),
            is_error: false,
        };
        let req = ModelRequest {
            model: "m".into(),
            system: "sys".into(),
            messages: vec![
                Message::user("hi"),
                Message::Assistant {
                    content: String::new(),
                    tool_calls: vec![call("a"), call("b")],
                },
                result("a"),
                result("b"),
            ],
            tools: vec![],
            stream: false,
        };
        let body = request_body(&req);
        let msgs = body["messages"].as_array().unwrap();
        assert_eq!(msgs.len(), 3);
        assert_eq!(msgs[2]["role"], "user");
        assert_eq!(msgs[2]["content"].as_array().unwrap().len(), 2);
        assert_eq!(body["system"], "sys");
    }
}
