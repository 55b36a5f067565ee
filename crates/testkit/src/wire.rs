//! The JSON and SSE shapes of the two provider APIs, as their servers send them.

use serde_json::{Value, json};

use crate::FakeToolCall;

/// One answer to encode.
pub(crate) struct Answer {
    pub(crate) n: u64,
    pub(crate) model: String,
    pub(crate) text: String,
    pub(crate) calls: Vec<FakeToolCall>,
    pub(crate) input_tokens: u64,
}

impl Answer {
    fn output_tokens(&self) -> u64 {
        let chars = self.text.len() + self.calls.iter().map(|c| c.arguments.len()).sum::<usize>();
        u64::try_from(chars / 4 + 1).unwrap_or(u64::MAX)
    }
}

/// Splits text into pieces of about `n` characters (at char boundaries); long texts into at most
/// about 64 pieces.
fn pieces(s: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    let n = n.max(chars.len() / 64).max(1);
    chars.chunks(n).map(|c| c.iter().collect()).collect()
}

pub(crate) fn openai_json(a: &Answer) -> String {
    let tool_calls: Vec<Value> = a
        .calls
        .iter()
        .enumerate()
        .map(|(i, c)| {
            json!({"id": format!("call_{}_{i}", a.n), "type": "function",
                   "function": {"name": c.name, "arguments": c.arguments}})
        })
        .collect();
    let mut message = json!({"role": "assistant",
        "content": if a.text.is_empty() && !a.calls.is_empty() { Value::Null } else { json!(a.text) }});
    if !tool_calls.is_empty() {
        message["tool_calls"] = json!(tool_calls);
    }
    json!({
        "id": format!("chatcmpl-{}", a.n), "object": "chat.completion", "created": 1_700_000_000,
        "model": a.model,
        "choices": [{"index": 0, "message": message,
                     "finish_reason": if a.calls.is_empty() { "stop" } else { "tool_calls" }}],
        "usage": {"prompt_tokens": a.input_tokens, "completion_tokens": a.output_tokens(),
                  "total_tokens": a.input_tokens + a.output_tokens()}
    })
    .to_string()
}

pub(crate) fn openai_sse(a: &Answer) -> String {
    let id = format!("chatcmpl-{}", a.n);
    let chunk = |delta: Value, finish: Value| {
        let c = json!({"id": id, "object": "chat.completion.chunk", "created": 1_700_000_000,
            "model": a.model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
        format!("data: {c}\n\n")
    };
    let mut out = chunk(json!({"role": "assistant", "content": ""}), Value::Null);
    for p in pieces(&a.text, 3) {
        out += &chunk(json!({"content": p}), Value::Null);
    }
    for (i, c) in a.calls.iter().enumerate() {
        out += &chunk(
            json!({"tool_calls": [{"index": i, "id": format!("call_{}_{i}", a.n), "type": "function",
                                    "function": {"name": c.name, "arguments": ""}}]}),
            Value::Null,
        );
        for p in pieces(&c.arguments, 4) {
            out += &chunk(
                json!({"tool_calls": [{"index": i, "function": {"arguments": p}}]}),
                Value::Null,
            );
        }
    }
    out += &chunk(
        json!({}),
        json!(if a.calls.is_empty() {
            "stop"
        } else {
            "tool_calls"
        }),
    );
    let usage = json!({"id": id, "object": "chat.completion.chunk", "created": 1_700_000_000,
        "model": a.model, "choices": [],
        "usage": {"prompt_tokens": a.input_tokens, "completion_tokens": a.output_tokens(),
                  "total_tokens": a.input_tokens + a.output_tokens()}});
    out += &format!("data: {usage}\n\n");
    out += "data: [DONE]\n\n";
    out
}

fn tool_input(c: &FakeToolCall) -> Value {
    serde_json::from_str(&c.arguments).unwrap_or_else(|_| json!(c.arguments))
}

pub(crate) fn anthropic_json(a: &Answer) -> String {
    let mut content = Vec::new();
    if !a.text.is_empty() || a.calls.is_empty() {
        content.push(json!({"type": "text", "text": a.text}));
    }
    for (i, c) in a.calls.iter().enumerate() {
        content.push(
            json!({"type": "tool_use", "id": format!("toolu_{}_{i}", a.n),
                            "name": c.name, "input": tool_input(c)}),
        );
    }
    json!({
        "id": format!("msg_{}", a.n), "type": "message", "role": "assistant", "model": a.model,
        "content": content,
        "stop_reason": if a.calls.is_empty() { "end_turn" } else { "tool_use" },
        "stop_sequence": null,
        "usage": {"input_tokens": a.input_tokens, "output_tokens": a.output_tokens()}
    })
    .to_string()
}

pub(crate) fn anthropic_sse(a: &Answer) -> String {
    let ev = |name: &str, data: Value| format!("event: {name}\ndata: {data}\n\n");
    let mut out = ev(
        "message_start",
        json!({"type": "message_start", "message": {"id": format!("msg_{}", a.n), "type": "message",
            "role": "assistant", "content": [], "model": a.model, "stop_reason": null,
            "stop_sequence": null, "usage": {"input_tokens": a.input_tokens, "output_tokens": 1}}}),
    );
    out += &ev("ping", json!({"type": "ping"}));
    let mut index = 0;
    if !a.text.is_empty() || a.calls.is_empty() {
        out += &ev(
            "content_block_start",
            json!({"type": "content_block_start", "index": index,
                   "content_block": {"type": "text", "text": ""}}),
        );
        for p in pieces(&a.text, 3) {
            out += &ev(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": index,
                       "delta": {"type": "text_delta", "text": p}}),
            );
        }
        out += &ev(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
        );
        index += 1;
    }
    for (i, c) in a.calls.iter().enumerate() {
        out += &ev(
            "content_block_start",
            json!({"type": "content_block_start", "index": index,
                   "content_block": {"type": "tool_use", "id": format!("toolu_{}_{i}", a.n),
                                     "name": c.name, "input": {}}}),
        );
        for p in pieces(&c.arguments, 4) {
            out += &ev(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": index,
                       "delta": {"type": "input_json_delta", "partial_json": p}}),
            );
        }
        out += &ev(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
        );
        index += 1;
    }
    out += &ev(
        "message_delta",
        json!({"type": "message_delta",
               "delta": {"stop_reason": if a.calls.is_empty() { "end_turn" } else { "tool_use" },
                         "stop_sequence": null},
               "usage": {"output_tokens": a.output_tokens()}}),
    );
    out += &ev("message_stop", json!({"type": "message_stop"}));
    out
}
