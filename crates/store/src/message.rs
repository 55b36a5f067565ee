//! The messages of a session's history, as stored.

use serde::{Deserialize, Serialize};

/// One tool call the model asked for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolCallRequest {
    /// The provider's id for this call; the matching [`Message::Tool`] carries it back.
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments. A JSON object when the model sent valid JSON; a JSON string holding the raw
    /// text when it did not (the tool registry then refuses the call as invalid input).
    pub arguments: serde_json::Value,
}

/// One message of a conversation. Stored as JSON, one row per message, tagged by `role`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum Message {
    /// What the user said.
    User {
        /// The text.
        content: String,
    },
    /// What the model answered: text, tool calls, or both.
    Assistant {
        /// The text (may be empty when the model only calls tools).
        #[serde(default)]
        content: String,
        /// The tool calls the model asked for, in order.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<ToolCallRequest>,
    },
    /// The result of one tool call, answering the [`ToolCallRequest`] with the same id.
    Tool {
        /// The id of the call this answers.
        tool_call_id: String,
        /// The tool's name (Anthropic and some OpenAI-compatible servers want it back).
        name: String,
        /// The result as the model sees it (already size-capped by the agent runtime).
        content: String,
        /// True when the call failed or was refused.
        #[serde(default)]
        is_error: bool,
    },
}

impl Message {
    /// A user message.
    #[must_use]
    pub fn user(content: impl Into<String>) -> Self {
        Self::User {
            content: content.into(),
        }
    }

    /// An assistant message with text only.
    #[must_use]
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::Assistant {
            content: content.into(),
            tool_calls: Vec::new(),
        }
    }
}
