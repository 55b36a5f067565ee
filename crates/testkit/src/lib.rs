//! # rampart-testkit
//!
//! Test fakes that speak real wire protocols over loopback, so Rampart's tests exercise the same
//! HTTP, JSON and SSE code paths as production without a network or an API key.
//!
//! [`FakeLlm`] is one server on `127.0.0.1:0` answering both
//! - OpenAI chat completions: `POST /v1/chat/completions` (JSON, or SSE when the request says
//!   `"stream": true`, with incremental tool-call deltas and a final usage chunk), and
//! - Anthropic messages: `POST /v1/messages` (JSON, or SSE events `message_start` …
//!   `message_stop` with `text_delta` and `input_json_delta`).
//!
//! The test scripts the answers in order; once the script is used up the last answer repeats (so
//! "a model that calls tools forever" is a one-element script). Every request is recorded, so a
//! test can assert what the model was sent: that tool results came back, that no secret leaked.
//! Streaming bodies are cut into small chunks that split lines, so clients must buffer correctly.
//!
//! [`FakeTelegram`] speaks the Telegram Bot API (`getMe`, long-polled `getUpdates` with offset
//! semantics, `sendMessage`) under `/bot{token}/METHOD`: tests queue updates from users in direct
//! messages and groups and read back what the bot sent.
//!
//! This crate is for tests only (`publish = false`); it panics when it cannot bind a socket.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use rampart_testkit::{FakeLlm, FakeReply};
//!
//! let llm = FakeLlm::start(vec![
//!     FakeReply::tool_call("clock", serde_json::json!({})),
//!     FakeReply::text("It is noon."),
//! ])
//! .await;
//! assert!(llm.base_url().starts_with("http://127.0.0.1:"));
//! assert!(llm.requests().is_empty());
//! # }
//! ```

#![forbid(unsafe_code)]

mod fake_llm;
mod fake_telegram;
mod wire;

pub use fake_llm::{FakeLlm, FakeReply, FakeToolCall, RecordedRequest};
pub use fake_telegram::{FAKE_BOT_ID, FAKE_BOT_USERNAME, FakeTelegram, SentMessage, TgUser};
