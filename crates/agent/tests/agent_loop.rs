//! The agent loop end to end against fake OpenAI and Anthropic servers and the scripted provider.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Helper fns panic on purpose: a failure is a test failure.

mod common;

use common::{KEY, manifest, req, run_streaming, runtime, spec};
use rampart_agent::{ProviderKind, StopReason, ToolStatus, TurnEvent};
use rampart_testkit::{FakeLlm, FakeReply};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

fn tool_then_text() -> Vec<FakeReply> {
    vec![
        FakeReply::tool_call("clock", json!({})),
        FakeReply::text("It is noon."),
    ]
}

/// Checks the two requests an OpenAI-style tool round trip sends.
fn assert_openai_round_trip(llm: &FakeLlm, stream: bool) {
    let reqs = llm.requests();
    assert_eq!(reqs.len(), 2);
    for r in &reqs {
        assert_eq!(r.path, "/v1/chat/completions");
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {KEY}").as_str())
        );
        assert!(
            !r.raw_body.contains(KEY),
            "the key must travel only in the header"
        );
        assert_eq!(r.body["model"], "test-model");
        assert_eq!(r.body["stream"], stream);
    }
    let first = &reqs[0].body;
    assert_eq!(
        first["messages"][0],
        json!({"role": "system", "content": "You are bot."})
    );
    assert_eq!(
        first["messages"][1],
        json!({"role": "user", "content": "What time is it?"})
    );
    assert_eq!(first["tools"][0]["function"]["name"], "clock");
    // The tool result went back to the model, answering the call by id.
    let msgs = reqs[1].body["messages"].as_array().unwrap();
    let call_id = msgs[2]["tool_calls"][0]["id"].as_str().unwrap();
    assert_eq!(msgs[2]["tool_calls"][0]["function"]["name"], "clock");
    assert_eq!(msgs[3]["role"], "tool");
    assert_eq!(msgs[3]["tool_call_id"], call_id);
    let now = msgs[3]["content"].as_str().unwrap();
    assert!(OffsetDateTime::parse(now, &Rfc3339).is_ok(), "{now}");
}

#[tokio::test]
async fn openai_tool_call_then_text() {
    let llm = FakeLlm::start(tool_then_text()).await;
    let home = tempfile::tempdir().unwrap();
    let rt = runtime(
        home.path(),
        spec(ProviderKind::OpenAi, Some(llm.base_url())),
    )
    .await;
    rt.create_agent(manifest("bot", &["clock"])).await.unwrap();
    let out = rt
        .run_turn(req("bot", None, "What time is it?"), None)
        .await
        .unwrap();
    assert_eq!(out.reply, "It is noon.");
    assert_eq!(out.stop_reason, StopReason::Completed);
    assert_eq!(out.tool_calls.len(), 1);
    assert_eq!(out.tool_calls[0].name, "clock");
    assert_eq!(out.tool_calls[0].status, ToolStatus::Ok);
    assert!(out.usage.input_tokens > 0 && out.usage.output_tokens > 0);
    assert_eq!(out.session_id.as_str().len(), 32);
    assert_openai_round_trip(&llm, false);
    // The outcome serializes as the contract's message reply.
    let v = serde_json::to_value(&out).unwrap();
    assert_eq!(v["tool_calls"][0]["status"], "ok");
    assert_eq!(v["session_id"], out.session_id.as_str());
    assert!(v["usage"]["input_tokens"].is_u64());
}

#[tokio::test]
async fn openai_streaming_shares_the_loop_and_emits_events() {
    let llm = FakeLlm::start(tool_then_text()).await;
    let home = tempfile::tempdir().unwrap();
    let rt = runtime(
        home.path(),
        spec(ProviderKind::OpenAi, Some(llm.base_url())),
    )
    .await;
    rt.create_agent(manifest("bot", &["clock"])).await.unwrap();
    let (out, events) = run_streaming(&rt, req("bot", None, "What time is it?")).await;
    let out = out.unwrap();
    assert_eq!(out.reply, "It is noon.");
    assert_eq!(out.tool_calls[0].status, ToolStatus::Ok);
    assert!(
        out.usage.output_tokens > 0,
        "usage from the final stream chunk"
    );
    assert_openai_round_trip(&llm, true);
    let deltas: String = events
        .iter()
        .filter_map(|e| match e {
            TurnEvent::Delta { text } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(deltas, "It is noon.");
    assert!(
        events
            .iter()
            .filter(|e| matches!(e, TurnEvent::Delta { .. }))
            .count()
            > 1
    );
    let call = events
        .iter()
        .position(|e| matches!(e, TurnEvent::ToolCall { name, .. } if name == "clock"));
    let result = events
        .iter()
        .position(|e| matches!(e, TurnEvent::ToolResult(r) if r.status == ToolStatus::Ok));
    assert!(call.unwrap() < result.unwrap());
    assert_eq!(events.last(), Some(&TurnEvent::Reply(out)));
    let frame = serde_json::to_value(&events[0]).unwrap();
    assert!(frame["type"].is_string());
}

#[tokio::test]
async fn openai_streamed_tool_arguments_are_reassembled() {
    let llm = FakeLlm::start(vec![
        FakeReply::tool_call(
            "clock",
            json!({"zone": "UTC", "note": "ünïcode ✓ split across chunks"}),
        ),
        FakeReply::text("done"),
    ])
    .await;
    let home = tempfile::tempdir().unwrap();
    let rt = runtime(
        home.path(),
        spec(ProviderKind::OpenAi, Some(llm.base_url())),
    )
    .await;
    rt.create_agent(manifest("bot", &["clock"])).await.unwrap();
    let (out, events) = run_streaming(&rt, req("bot", None, "time")).await;
    assert_eq!(out.unwrap().reply, "done");
    let args = events
        .iter()
        .find_map(|e| match e {
            TurnEvent::ToolCall { arguments, .. } => Some(arguments.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        args,
        json!({"zone": "UTC", "note": "ünïcode ✓ split across chunks"})
    );
}

fn assert_anthropic_round_trip(llm: &FakeLlm, stream: bool) {
    let reqs = llm.requests();
    assert_eq!(reqs.len(), 2);
    for r in &reqs {
        assert_eq!(r.path, "/v1/messages");
        assert_eq!(r.header("x-api-key"), Some(KEY));
        assert_eq!(r.header("anthropic-version"), Some("2023-06-01"));
        assert!(r.header("authorization").is_none());
        assert!(!r.raw_body.contains(KEY));
        assert_eq!(r.body["stream"], stream);
        assert_eq!(r.body["system"], "You are bot.");
        assert!(r.body["max_tokens"].as_u64().unwrap() > 0);
    }
    assert_eq!(reqs[0].body["tools"][0]["name"], "clock");
    assert_eq!(reqs[0].body["tools"][0]["input_schema"]["type"], "object");
    let msgs = reqs[1].body["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 3);
    let tool_use = &msgs[1]["content"].as_array().unwrap()[0];
    assert_eq!(tool_use["type"], "tool_use");
    let result = &msgs[2]["content"][0];
    assert_eq!(msgs[2]["role"], "user");
    assert_eq!(result["type"], "tool_result");
    assert_eq!(result["tool_use_id"], tool_use["id"]);
    assert!(OffsetDateTime::parse(result["content"].as_str().unwrap(), &Rfc3339).is_ok());
}

#[tokio::test]
async fn anthropic_tool_use_then_text() {
    let llm = FakeLlm::start(tool_then_text()).await;
    let home = tempfile::tempdir().unwrap();
    let rt = runtime(
        home.path(),
        spec(ProviderKind::Anthropic, Some(llm.anthropic_base_url())),
    )
    .await;
    rt.create_agent(manifest("bot", &["clock"])).await.unwrap();
    let out = rt
        .run_turn(req("bot", None, "What time is it?"), None)
        .await
        .unwrap();
    assert_eq!(out.reply, "It is noon.");
    assert_eq!(out.tool_calls[0].status, ToolStatus::Ok);
    assert!(out.usage.input_tokens > 0);
    assert_anthropic_round_trip(&llm, false);
}

#[tokio::test]
async fn anthropic_streaming_tool_use_then_text() {
    let llm = FakeLlm::start(tool_then_text()).await;
    let home = tempfile::tempdir().unwrap();
    let rt = runtime(
        home.path(),
        spec(ProviderKind::Anthropic, Some(llm.anthropic_base_url())),
    )
    .await;
    rt.create_agent(manifest("bot", &["clock"])).await.unwrap();
    let (out, events) = run_streaming(&rt, req("bot", None, "What time is it?")).await;
    let out = out.unwrap();
    assert_eq!(out.reply, "It is noon.");
    assert!(out.usage.output_tokens > 0);
    assert_anthropic_round_trip(&llm, true);
    let deltas: String = events
        .iter()
        .filter_map(|e| match e {
            TurnEvent::Delta { text } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(deltas, "It is noon.");
}

#[tokio::test]
async fn scripted_provider_runs_real_tool_calls_through_the_loop() {
    let home = tempfile::tempdir().unwrap();
    let rt = runtime(home.path(), spec(ProviderKind::Scripted, None)).await;
    rt.create_agent(manifest("bot", &["clock"])).await.unwrap();
    let out = rt
        .run_turn(req("bot", Some("s1"), "What time is it?"), None)
        .await
        .unwrap();
    assert_eq!(out.tool_calls.len(), 1);
    assert_eq!(out.tool_calls[0].status, ToolStatus::Ok);
    let now = out.reply.strip_prefix("The clock tool says: ").unwrap();
    assert!(OffsetDateTime::parse(now, &Rfc3339).is_ok());

    let (echo, events) = run_streaming(&rt, req("bot", Some("s1"), "echo hello there")).await;
    assert_eq!(echo.unwrap().reply, "hello there");
    assert!(events.iter().any(|e| matches!(e, TurnEvent::Delta { .. })));

    // Same input, same answer: deterministic.
    let a = rt.run_turn(req("bot", None, "hi"), None).await.unwrap();
    let b = rt.run_turn(req("bot", None, "hi"), None).await.unwrap();
    assert_eq!(a.reply, b.reply);
    assert_ne!(a.session_id, b.session_id);
}

#[tokio::test]
async fn a_model_that_calls_tools_forever_stops_at_max_turns() {
    let llm = FakeLlm::start(vec![FakeReply::tool_call("clock", json!({}))]).await;
    let home = tempfile::tempdir().unwrap();
    let mut opts = common::options(
        home.path(),
        rampart_store::Store::open_in_memory().unwrap(),
        spec(ProviderKind::OpenAi, Some(llm.base_url())),
    );
    opts.max_turns = 3;
    let rt = rampart_agent::Runtime::new(opts).unwrap();
    rt.create_agent(manifest("bot", &["clock"])).await.unwrap();
    let out = rt
        .run_turn(req("bot", Some("loop"), "go"), None)
        .await
        .unwrap();
    assert_eq!(out.stop_reason, StopReason::MaxTurns);
    assert_eq!(llm.requests().len(), 3);
    assert_eq!(out.tool_calls.len(), 3);
    assert!(out.reply.contains("3 model calls"), "{}", out.reply);
    // The session is left sound: the next load needs no repair.
    let h = rt
        .store()
        .load_history(&"bot".parse().unwrap(), &"loop".parse().unwrap())
        .unwrap();
    assert!(h.repair.is_clean(), "{:?}", h.repair);

    // The scripted provider's "loop" rule is bounded the same way.
    let rt2 = runtime(home.path(), spec(ProviderKind::Scripted, None)).await;
    let out = rt2
        .run_turn(req("bot", None, "loop forever"), None)
        .await
        .unwrap();
    assert_eq!(out.stop_reason, StopReason::MaxTurns);
    assert_eq!(out.tool_calls.len(), rampart_agent::DEFAULT_MAX_TURNS);
}

#[tokio::test]
async fn invalid_tool_arguments_are_an_error_result_not_a_crash() {
    let llm = FakeLlm::start(vec![
        FakeReply::ToolCalls(vec![rampart_testkit::FakeToolCall {
            name: "clock".into(),
            arguments: "{not json".into(),
        }]),
        FakeReply::text("sorry"),
    ])
    .await;
    let home = tempfile::tempdir().unwrap();
    let rt = runtime(
        home.path(),
        spec(ProviderKind::OpenAi, Some(llm.base_url())),
    )
    .await;
    rt.create_agent(manifest("bot", &["clock"])).await.unwrap();
    let out = rt.run_turn(req("bot", None, "time"), None).await.unwrap();
    assert_eq!(out.tool_calls[0].status, ToolStatus::Error);
    assert!(
        out.tool_calls[0]
            .error
            .as_deref()
            .unwrap()
            .contains("JSON object")
    );
    // The raw arguments went back to the model verbatim, with the error result.
    let msgs = llm.requests()[1].body["messages"].clone();
    assert_eq!(
        msgs[2]["tool_calls"][0]["function"]["arguments"],
        "{not json"
    );
    assert!(msgs[3]["content"].as_str().unwrap().starts_with("error:"));
    assert_eq!(out.reply, "sorry");
    let _: Value = msgs;
}
