//! OpenAI-compatible chat completions: `POST {base_url}/chat/completions`.

use std::collections::BTreeMap;
use std::time::Duration;

use rampart_store::Message;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};

use super::http::{self, SseStream};
use super::{
    DeltaSink, ModelRequest, ModelResponse, Provider, ProviderError, Usage, arguments_text,
    normalize_call,
};

#[derive(Debug)]
pub(crate) struct OpenAi {
    url: String,
    key: Option<SecretString>,
    client: reqwest::Client,
}

impl OpenAi {
    pub(crate) fn new(
        base: &str,
        key: Option<SecretString>,
        timeout: Duration,
    ) -> Result<Self, ProviderError> {
        Ok(Self {
            url: format!("{base}/chat/completions"),
            key,
            client: http::client(timeout)?,
        })
    }
}

/// The request body in OpenAI's format.
pub(crate) fn request_body(req: &ModelRequest) -> Value {
    let mut messages = Vec::with_capacity(req.messages.len() + 1);
    if !req.system.is_empty() {
        messages.push(json!({"role": "system", "content": req.system}));
    }
    for m in &req.messages {
        messages.push(match m {
            Message::User { content } => json!({"role": "user", "content": content}),
            Message::Assistant { content, tool_calls } => {
                let mut v = json!({"role": "assistant",
                    "content": if content.is_empty() && !tool_calls.is_empty() { Value::Null } else { json!(content) }});
                if !tool_calls.is_empty() {
                    v["tool_calls"] = tool_calls
                        .iter()
                        .map(|c| {
                            json!({"id": c.id, "type": "function",
                                   "function": {"name": c.name, "arguments": arguments_text(&c.arguments)}})
                        })
                        .collect();
                }
                v
            }
            Message::Tool {
                tool_call_id,
                content,
                ..
            } => json!({"role": "tool", "tool_call_id": tool_call_id, "content": content}),
        });
    }
    let mut body = json!({"model": req.model, "messages": messages, "stream": req.stream});
    if req.stream {
        body["stream_options"] = json!({"include_usage": true});
    }
    if !req.tools.is_empty() {
        body["tools"] = req
            .tools
            .iter()
            .map(|t| {
                json!({"type": "function",
                       "function": {"name": t.name, "description": t.description, "parameters": t.parameters}})
            })
            .collect();
    }
    body
}

#[derive(Deserialize, Default)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

impl From<WireUsage> for Usage {
    fn from(u: WireUsage) -> Self {
        Self {
            input_tokens: u.prompt_tokens,
            output_tokens: u.completion_tokens,
        }
    }
}

#[derive(Deserialize, Default)]
struct WireFunction {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
}

#[derive(Deserialize)]
struct WireToolCall {
    #[serde(default)]
    index: Option<usize>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    function: WireFunction,
}

#[derive(Deserialize, Default)]
struct WireMessage {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    tool_calls: Vec<WireToolCall>,
}

#[derive(Deserialize)]
struct WireChoice {
    #[serde(default, alias = "delta")]
    message: WireMessage,
}

#[derive(Deserialize)]
struct WireResponse {
    #[serde(default)]
    choices: Vec<WireChoice>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    error: Option<Value>,
}

/// Parses a non-streaming response body.
pub(crate) fn parse_response(body: &[u8]) -> Result<ModelResponse, ProviderError> {
    let wire: WireResponse = serde_json::from_slice(body)
        .map_err(|_| ProviderError::Malformed("not a chat completion"))?;
    if wire.error.is_some() {
        return Err(ProviderError::Malformed(
            "the provider returned an error object",
        ));
    }
    let choice = wire
        .choices
        .into_iter()
        .next()
        .ok_or(ProviderError::Malformed("no choices"))?;
    let tool_calls = choice
        .message
        .tool_calls
        .iter()
        .enumerate()
        .map(|(i, c)| {
            normalize_call(
                i,
                c.id.as_deref().unwrap_or_default(),
                c.function.name.as_deref().unwrap_or_default(),
                c.function.arguments.as_deref().unwrap_or_default(),
            )
        })
        .collect();
    Ok(ModelResponse {
        text: choice.message.content.unwrap_or_default(),
        tool_calls,
        usage: wire.usage.map(Usage::from).unwrap_or_default(),
    })
}

/// Accumulates a streamed answer: text and tool calls assembled from their deltas by index.
#[derive(Default)]
pub(crate) struct StreamState {
    text: String,
    calls: BTreeMap<usize, (String, String, String)>,
    usage: Usage,
    done: bool,
}

impl StreamState {
    /// Applies one SSE `data:` payload; returns the text delta it carried, if any.
    pub(crate) fn apply(&mut self, data: &str) -> Result<Option<String>, ProviderError> {
        if data.trim() == "[DONE]" {
            self.done = true;
            return Ok(None);
        }
        let chunk: WireResponse = serde_json::from_str(data)
            .map_err(|_| ProviderError::Malformed("stream chunk is not JSON"))?;
        if chunk.error.is_some() {
            return Err(ProviderError::Malformed(
                "the provider reported an error in the stream",
            ));
        }
        if let Some(u) = chunk.usage {
            self.usage = u.into();
        }
        let Some(choice) = chunk.choices.into_iter().next() else {
            return Ok(None);
        };
        for (pos, c) in choice.message.tool_calls.into_iter().enumerate() {
            let entry = self.calls.entry(c.index.unwrap_or(pos)).or_default();
            if let Some(id) = c.id {
                entry.0.push_str(&id);
            }
            if let Some(name) = c.function.name {
                entry.1.push_str(&name);
            }
            if let Some(args) = c.function.arguments {
                entry.2.push_str(&args);
            }
        }
        let delta = choice.message.content.filter(|t| !t.is_empty());
        if let Some(t) = &delta {
            self.text.push_str(t);
        }
        Ok(delta)
    }

    pub(crate) fn finish(self) -> ModelResponse {
        ModelResponse {
            text: self.text,
            tool_calls: self
                .calls
                .values()
                .enumerate()
                .map(|(i, (id, name, args))| normalize_call(i, id, name, args))
                .collect(),
            usage: self.usage,
        }
    }
}

#[async_trait::async_trait]
impl Provider for OpenAi {
    async fn complete(
        &self,
        req: &ModelRequest,
        deltas: &DeltaSink,
    ) -> Result<ModelResponse, ProviderError> {
        let mut builder = self.client.post(&self.url).json(&request_body(req));
        if let Some(key) = &self.key {
            builder = builder.bearer_auth(key.expose_secret());
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

    #[test]
    fn invalid_arguments_are_kept_as_a_string() {
        let body = br#"{"choices":[{"message":{"content":null,"tool_calls":[
            {"id":"a","type":"function","function":{"name":"clock","arguments":"{oops"}}]}}]}"#;
        let r = parse_response(body).unwrap();
        assert_eq!(r.tool_calls[0].arguments, Value::String("{oops".into()));
    }

    #[test]
    fn garbage_and_error_bodies_are_malformed() {
        for body in [
            &b"<html>"[..],
            br#"{"choices":[]}"#,
            br#"{"error":{"message":"sk-secret"}}"#,
        ] {
            let e = parse_response(body).unwrap_err();
            assert!(matches!(e, ProviderError::Malformed(_)));
            assert!(!e.to_string().contains("sk-secret"));
        }
    }
}
