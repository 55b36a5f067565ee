//! LLM providers behind one trait: OpenAI-compatible, Anthropic, and the offline `scripted` one.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rampart_store::{Message, ToolCallRequest};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::TurnEvent;

mod anthropic;
mod http;
mod openai;
mod scripted;
pub mod sse;

pub use http::{MAX_PROVIDER_RESPONSE_BYTES, PROVIDER_CONNECT_TIMEOUT, PROVIDER_REQUEST_TIMEOUT};
pub use scripted::{SCRIPTED_GREETING, ScriptedProvider};

/// The longest tool-call id or tool name accepted from a model.
///
/// # Security
/// Ids are echoed back to the provider and stored with every result; names are matched against
/// capabilities. Longer values are cut (ids) or left to fail the capability check (names).
pub const MAX_TOOL_CALL_FIELD_LEN: usize = 256;

/// The largest answer requested from Anthropic (`max_tokens`, a required field of its API).
pub const ANTHROPIC_MAX_TOKENS: u32 = 4096;

/// The `anthropic-version` header sent with every Anthropic request.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// Which wire protocol a provider speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ProviderKind {
    /// OpenAI chat completions (OpenAI, Ollama, vLLM, any compatible `base_url`).
    #[serde(rename = "openai")]
    OpenAi,
    /// Anthropic messages API.
    Anthropic,
    /// Deterministic and offline; see [`ScriptedProvider`].
    Scripted,
}

/// A configured provider, secrets already resolved by the caller.
#[derive(Clone)]
pub struct ProviderSpec {
    /// The protocol.
    pub kind: ProviderKind,
    /// The API base: OpenAI-style requests go to `{base_url}/chat/completions` (default
    /// `https://api.openai.com/v1`), Anthropic's to `{base_url}/v1/messages` (default
    /// `https://api.anthropic.com`). Unused by `scripted`.
    pub base_url: Option<String>,
    /// The API key, if the endpoint needs one (local Ollama does not).
    pub api_key: Option<SecretString>,
}

impl fmt::Debug for ProviderSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderSpec")
            .field("kind", &self.kind)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "(redacted)"))
            .finish()
    }
}

/// Token counts of one model call or a whole turn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
}

impl Usage {
    /// Adds another call's usage (saturating).
    pub fn add(&mut self, other: Usage) {
        self.input_tokens = self.input_tokens.saturating_add(other.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(other.output_tokens);
    }
}

/// A tool as advertised to the model.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ToolSpec {
    /// Its name.
    pub name: String,
    /// What it does, for the model.
    pub description: String,
    /// JSON Schema of its arguments.
    pub parameters: serde_json::Value,
}

/// One call to a model.
#[derive(Clone, Debug)]
pub struct ModelRequest {
    /// The model id (the part of the manifest's `model` after the provider name).
    pub model: String,
    /// The system prompt.
    pub system: String,
    /// The conversation so far (sound: every tool call answered).
    pub messages: Vec<Message>,
    /// The tools the agent may call.
    pub tools: Vec<ToolSpec>,
    /// Whether to stream (text deltas go to the [`DeltaSink`]).
    pub stream: bool,
}

/// A model's answer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModelResponse {
    /// The text (may be empty when the model only calls tools).
    pub text: String,
    /// The tool calls, in order.
    pub tool_calls: Vec<ToolCallRequest>,
    /// Token counts.
    pub usage: Usage,
}

/// Where streamed text deltas go: the turn's event channel, or nowhere.
#[derive(Debug, Clone, Default)]
pub struct DeltaSink {
    tx: Option<mpsc::Sender<TurnEvent>>,
}

impl DeltaSink {
    /// A sink sending [`TurnEvent::Delta`] to `tx` (or discarding when `None`).
    #[must_use]
    pub fn new(tx: Option<mpsc::Sender<TurnEvent>>) -> Self {
        Self { tx }
    }

    /// Sends one text delta. A receiver that went away is ignored: events only observe the turn.
    pub async fn text(&self, text: &str) {
        if let (Some(tx), false) = (&self.tx, text.is_empty()) {
            let _ = tx
                .send(TurnEvent::Delta {
                    text: text.to_owned(),
                })
                .await;
        }
    }
}

/// Why a provider call failed. Never holds the response body or the API key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderError {
    /// The request timed out.
    #[error("the provider did not answer in time")]
    Timeout,
    /// The provider answered with an HTTP error status.
    #[error("the provider answered with HTTP status {0}")]
    Status(u16),
    /// The provider answered with a redirect, which is never followed (it could leak the key).
    #[error("the provider answered with a redirect (HTTP {0}), which is not followed")]
    Redirect(u16),
    /// The response exceeded a size bound.
    #[error("the provider's response exceeded the size limit")]
    TooLarge,
    /// The response did not have the expected shape.
    #[error("the provider's response was malformed: {0}")]
    Malformed(&'static str),
    /// A network-level failure.
    #[error("{0}")]
    Transport(&'static str),
    /// The base URL is not an http(s) URL.
    #[error("the provider's base_url is not a valid http(s) URL")]
    BadBaseUrl,
}

/// One provider. Implementations turn a [`ModelRequest`] into their wire format and back.
#[async_trait::async_trait]
pub trait Provider: Send + Sync + fmt::Debug {
    /// Calls the model once. When `req.stream` is set, text deltas are sent to `deltas` as they
    /// arrive; the returned response is complete either way.
    async fn complete(
        &self,
        req: &ModelRequest,
        deltas: &DeltaSink,
    ) -> Result<ModelResponse, ProviderError>;
}

/// Builds the provider for a spec.
///
/// # Errors
/// [`ProviderError::BadBaseUrl`] or a client construction failure.
pub fn build(spec: &ProviderSpec, timeout: Duration) -> Result<Arc<dyn Provider>, ProviderError> {
    let base = |default: &str| -> Result<String, ProviderError> {
        let url = spec
            .base_url
            .as_deref()
            .unwrap_or(default)
            .trim_end_matches('/');
        let parsed = reqwest::Url::parse(url).map_err(|_| ProviderError::BadBaseUrl)?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(ProviderError::BadBaseUrl);
        }
        Ok(url.to_owned())
    };
    Ok(match spec.kind {
        ProviderKind::OpenAi => Arc::new(openai::OpenAi::new(
            &base("https://api.openai.com/v1")?,
            spec.api_key.clone(),
            timeout,
        )?),
        ProviderKind::Anthropic => Arc::new(anthropic::Anthropic::new(
            &base("https://api.anthropic.com")?,
            spec.api_key.clone(),
            timeout,
        )?),
        ProviderKind::Scripted => Arc::new(ScriptedProvider),
    })
}

/// Turns a model's raw tool call into a [`ToolCallRequest`]: ids bounded (or invented when
/// missing), arguments parsed (empty = `{}`; invalid JSON kept as a string, which the registry
/// refuses).
pub(crate) fn normalize_call(index: usize, id: &str, name: &str, args: &str) -> ToolCallRequest {
    let id = if id.is_empty() {
        format!("call_{index}")
    } else {
        id.chars().take(MAX_TOOL_CALL_FIELD_LEN).collect()
    };
    let arguments = if args.trim().is_empty() {
        serde_json::json!({})
    } else {
        serde_json::from_str(args).unwrap_or_else(|_| serde_json::Value::String(args.to_owned()))
    };
    ToolCallRequest {
        id,
        name: name.chars().take(MAX_TOOL_CALL_FIELD_LEN).collect(),
        arguments,
    }
}

/// The arguments as the text OpenAI-style APIs carry.
pub(crate) fn arguments_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(raw) => raw.clone(),
        other => other.to_string(),
    }
}
