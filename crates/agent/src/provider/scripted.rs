//! The `scripted` provider: deterministic, offline, and still a real participant in the loop
//! (its tool calls go through the same registry, capability checks and events as any model's).
//!
//! Its rule table, applied to the conversation, first match wins:
//!
//! | the conversation ends with… | it answers |
//! |---|---|
//! | tool results, and the user's message starts with `loop` | another `clock` call (a model that never stops) |
//! | tool results | text quoting each result: `The clock tool says: …` (or `… failed: …`) |
//! | a user message `echo X` | `X`, verbatim |
//! | a user message `call TOOL {json}` | a call to `TOOL` with those arguments (`{}` when absent) |
//! | a user message starting with `loop` | a `clock` call |
//! | a user message with the word `time` or `clock` | a `clock` call |
//! | anything else | a fixed greeting explaining these rules |
//!
//! Streaming sends the text word by word. Usage is counted as characters / 4.

use rampart_store::{Message, ToolCallRequest};

use super::{DeltaSink, ModelRequest, ModelResponse, Provider, ProviderError, Usage};

/// The reply when no rule matches.
pub const SCRIPTED_GREETING: &str = "Hello! I am Rampart's scripted assistant, running offline. \
Say \"echo something\", ask me what time it is, or say \"call TOOL {json}\" to call a tool.";

/// The deterministic offline provider. See the module docs for its rule table.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScriptedProvider;

fn call(n: usize, name: &str, arguments: serde_json::Value) -> ToolCallRequest {
    ToolCallRequest {
        id: format!("scripted_{n}"),
        name: name.to_owned(),
        arguments,
    }
}

impl ScriptedProvider {
    /// The answer the rule table gives for this conversation (without streaming).
    #[must_use]
    pub fn answer(messages: &[Message]) -> ModelResponse {
        let n = messages
            .iter()
            .filter(|m| matches!(m, Message::Assistant { .. }))
            .count();
        let last_user_at = messages
            .iter()
            .rposition(|m| matches!(m, Message::User { .. }));
        let user = last_user_at
            .and_then(|i| match &messages[i] {
                Message::User { content } => Some(content.trim()),
                _ => None,
            })
            .unwrap_or_default();
        let lower = user.to_lowercase();
        let mut out = ModelResponse::default();
        if matches!(messages.last(), Some(Message::Tool { .. })) {
            if lower.starts_with("loop") {
                out.tool_calls.push(call(n, "clock", serde_json::json!({})));
            } else {
                let since = last_user_at.map_or(0, |i| i + 1);
                let parts: Vec<String> = messages[since..]
                    .iter()
                    .filter_map(|m| match m {
                        Message::Tool {
                            name,
                            content,
                            is_error,
                            ..
                        } => Some(if *is_error {
                            format!("The {name} tool failed: {content}")
                        } else {
                            format!("The {name} tool says: {content}")
                        }),
                        _ => None,
                    })
                    .collect();
                out.text = parts.join("\n");
            }
        } else if lower.starts_with("echo ") {
            out.text = user[5..].trim_start().to_owned();
        } else if lower.starts_with("call ") {
            let rest = user[5..].trim_start();
            let (name, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            let args = if args.trim().is_empty() {
                serde_json::json!({})
            } else {
                serde_json::from_str(args.trim())
                    .unwrap_or_else(|_| serde_json::Value::String(args.trim().to_owned()))
            };
            out.tool_calls.push(call(n, name, args));
        } else if lower.starts_with("loop")
            || lower
                .split(|c: char| !c.is_alphanumeric())
                .any(|w| w == "time" || w == "clock")
        {
            out.tool_calls.push(call(n, "clock", serde_json::json!({})));
        } else {
            SCRIPTED_GREETING.clone_into(&mut out.text);
        }
        let input_chars: usize = messages
            .iter()
            .map(|m| match m {
                Message::User { content } | Message::Tool { content, .. } => content.len(),
                Message::Assistant { content, .. } => content.len(),
            })
            .sum();
        out.usage = Usage {
            input_tokens: (input_chars / 4) as u64,
            output_tokens: (out.text.len() / 4) as u64,
        };
        out
    }
}

#[async_trait::async_trait]
impl Provider for ScriptedProvider {
    async fn complete(
        &self,
        req: &ModelRequest,
        deltas: &DeltaSink,
    ) -> Result<ModelResponse, ProviderError> {
        let out = Self::answer(&req.messages);
        if req.stream {
            for piece in out.text.split_inclusive(' ') {
                deltas.text(piece).await;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(s: &str) -> ModelResponse {
        ScriptedProvider::answer(&[Message::user(s)])
    }

    #[test]
    fn rule_table() {
        assert_eq!(ask("echo Hi  there").text, "Hi  there");
        assert_eq!(ask("What time is it?").tool_calls[0].name, "clock");
        assert_eq!(ask("check the CLOCK").tool_calls[0].name, "clock");
        assert!(ask("sometimes").tool_calls.is_empty());
        let c = ask("call file_read {\"path\": \"a.txt\"}");
        assert_eq!(c.tool_calls[0].name, "file_read");
        assert_eq!(c.tool_calls[0].arguments["path"], "a.txt");
        assert_eq!(ask("hello").text, SCRIPTED_GREETING);
    }

    #[test]
    fn answers_with_tool_results_and_loops_when_asked() {
        let result = Message::Tool {
            tool_call_id: "scripted_0".into(),
            name: "clock".into(),
            content: "2030-01-01T00:00:00Z".into(),
            is_error: false,
        };
        let asked = ask("time?");
        let history = vec![
            Message::user("time?"),
            Message::Assistant {
                content: String::new(),
                tool_calls: asked.tool_calls,
            },
            result.clone(),
        ];
        assert_eq!(
            ScriptedProvider::answer(&history).text,
            "The clock tool says: 2030-01-01T00:00:00Z"
        );
        let mut looping = history;
        looping[0] = Message::user("loop forever");
        assert_eq!(ScriptedProvider::answer(&looping).tool_calls.len(), 1);
    }
}
