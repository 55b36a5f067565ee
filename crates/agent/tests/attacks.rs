//! Attack tests: each tries to get past a control of the agent runtime and must fail.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Helper fns panic on purpose: a failure is a test failure.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{KEY, Recorder, manifest, options, req, runtime, spec};
use rampart_agent::hooks::PolicyDecision;
use rampart_agent::provider::MAX_PROVIDER_RESPONSE_BYTES;
use rampart_agent::{
    AgentError, ProviderError, ProviderKind, Runtime, Tool, ToolContext, ToolError, ToolOutput,
    ToolPolicy, ToolRegistry, ToolRisk, ToolStatus,
};
use rampart_store::{Store, ToolCallRequest};
use rampart_testkit::{FakeLlm, FakeReply, FakeToolCall};
use serde_json::json;

fn provider_error(e: &AgentError) -> &ProviderError {
    match e {
        AgentError::Provider { source, .. } => source,
        other => panic!("expected a provider error, got {other:?}"),
    }
}

#[tokio::test]
async fn model_calling_a_tool_outside_capabilities_is_denied_and_told_so() {
    // The agent may use no tools at all; the model tries the clock and a shell anyway.
    let llm = FakeLlm::start(vec![
        FakeReply::ToolCalls(vec![
            FakeToolCall {
                name: "clock".into(),
                arguments: "{}".into(),
            },
            FakeToolCall {
                name: "shell_exec".into(),
                arguments: r#"{"command":"rm -rf /"}"#.into(),
            },
        ]),
        FakeReply::text("ok"),
    ])
    .await;
    let home = tempfile::tempdir().unwrap();
    let recorder = Recorder::new();
    let mut opts = options(
        home.path(),
        Store::open_in_memory().unwrap(),
        spec(ProviderKind::OpenAi, Some(llm.base_url())),
    );
    opts.observer = recorder.clone();
    let rt = Runtime::new(opts).unwrap();
    rt.create_agent(manifest("jailed", &[])).await.unwrap();
    let out = rt
        .run_turn(req("jailed", None, "time?"), None)
        .await
        .unwrap();
    assert_eq!(out.tool_calls.len(), 2);
    for r in &out.tool_calls {
        assert_eq!(r.status, ToolStatus::Denied, "{r:?}");
        assert!(r.error.as_deref().unwrap().contains("not permitted"));
    }
    let reqs = llm.requests();
    assert!(
        reqs[0].body.get("tools").is_none(),
        "no tools are advertised to a tool-less agent"
    );
    let msgs = reqs[1].body["messages"].as_array().unwrap();
    assert!(msgs[3]["content"].as_str().unwrap().starts_with("denied:"));
    assert!(msgs[4]["content"].as_str().unwrap().starts_with("denied:"));
    assert!(
        recorder
            .lines()
            .contains(&"tool_call shell_exec Denied".to_owned())
    );
    assert_eq!(
        serde_json::to_value(&out.tool_calls[0]).unwrap()["status"],
        "denied"
    );
}

#[tokio::test]
async fn unknown_tool_is_denied_before_revealing_it_does_not_exist() {
    let home = tempfile::tempdir().unwrap();
    let rt = runtime(home.path(), spec(ProviderKind::Scripted, None)).await;
    rt.create_agent(manifest("a", &["clock", "ghost_tool"]))
        .await
        .unwrap();
    let out = rt
        .run_turn(
            req("a", None, "call file_read {\"path\":\"/etc/passwd\"}"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(out.tool_calls[0].status, ToolStatus::Denied);
    // Granted but not registered: an error, not a crash.
    let out = rt
        .run_turn(req("a", None, "call ghost_tool"), None)
        .await
        .unwrap();
    assert_eq!(out.tool_calls[0].status, ToolStatus::Error);
}

/// A tool that returns a megabyte.
struct Flood;

#[async_trait::async_trait]
impl Tool for Flood {
    fn name(&self) -> &str {
        "flood"
    }
    fn description(&self) -> &str {
        "returns a lot"
    }
    fn parameters(&self) -> serde_json::Value {
        json!({"type": "object"})
    }
    fn risk(&self) -> ToolRisk {
        ToolRisk::Read
    }
    async fn call(&self, _: &ToolContext, _: serde_json::Value) -> Result<ToolOutput, ToolError> {
        Ok(ToolOutput::text("A".repeat(1024 * 1024)))
    }
}

#[tokio::test]
async fn oversized_tool_output_is_capped_before_the_model_sees_it() {
    let llm = FakeLlm::start(vec![
        FakeReply::tool_call("flood", json!({})),
        FakeReply::text("ok"),
    ])
    .await;
    let home = tempfile::tempdir().unwrap();
    let mut opts = options(
        home.path(),
        Store::open_in_memory().unwrap(),
        spec(ProviderKind::OpenAi, Some(llm.base_url())),
    );
    let mut tools = ToolRegistry::with_builtins();
    tools.register(Arc::new(Flood));
    opts.tools = tools;
    opts.max_tool_output_bytes = 4096;
    let rt = Runtime::new(opts).unwrap();
    rt.create_agent(manifest("a", &["flood"])).await.unwrap();
    let out = rt
        .run_turn(req("a", Some("s"), "flood me"), None)
        .await
        .unwrap();
    assert_eq!(out.tool_calls[0].status, ToolStatus::Ok);
    assert!(out.tool_calls[0].truncated);
    let sent = llm.requests()[1].body["messages"][3]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(sent.len() <= 4096, "{} bytes reached the model", sent.len());
    assert!(sent.contains("output truncated"));
    // The store holds the capped text too.
    let h = rt
        .store()
        .load_history(&"a".parse().unwrap(), &"s".parse().unwrap())
        .unwrap();
    assert!(
        h.messages
            .iter()
            .all(|m| serde_json::to_string(m).unwrap().len() < 8192)
    );
}

#[tokio::test]
async fn a_flood_of_tool_calls_in_one_answer_is_bounded() {
    let calls = (0..20)
        .map(|_| FakeToolCall {
            name: "clock".into(),
            arguments: "{}".into(),
        })
        .collect();
    let llm = FakeLlm::start(vec![FakeReply::ToolCalls(calls), FakeReply::text("ok")]).await;
    let home = tempfile::tempdir().unwrap();
    let rt = runtime(
        home.path(),
        spec(ProviderKind::OpenAi, Some(llm.base_url())),
    )
    .await;
    rt.create_agent(manifest("a", &["clock"])).await.unwrap();
    let out = rt.run_turn(req("a", None, "go"), None).await.unwrap();
    let ok = out
        .tool_calls
        .iter()
        .filter(|r| r.status == ToolStatus::Ok)
        .count();
    let blocked = out
        .tool_calls
        .iter()
        .filter(|r| r.status == ToolStatus::Blocked)
        .count();
    assert_eq!(
        (ok, blocked),
        (rampart_agent::tool::MAX_TOOL_CALLS_PER_RESPONSE, 4)
    );
}

struct Gatekeeper;

#[async_trait::async_trait]
impl ToolPolicy for Gatekeeper {
    async fn check(&self, _: &ToolContext, call: &ToolCallRequest, _: ToolRisk) -> PolicyDecision {
        match call.arguments.get("mode").and_then(|m| m.as_str()) {
            Some("approve") => PolicyDecision::ApprovalRequired {
                approval_id: "appr-1".into(),
            },
            Some("block") => PolicyDecision::Block("loop guard".into()),
            Some("deny") => PolicyDecision::Deny("policy says no".into()),
            _ => PolicyDecision::Allow,
        }
    }
}

#[tokio::test]
async fn the_policy_hook_decides_after_capabilities_and_before_the_call() {
    let home = tempfile::tempdir().unwrap();
    let mut opts = options(
        home.path(),
        Store::open_in_memory().unwrap(),
        spec(ProviderKind::Scripted, None),
    );
    opts.policy = Arc::new(Gatekeeper);
    let rt = Runtime::new(opts).unwrap();
    rt.create_agent(manifest("a", &["clock"])).await.unwrap();
    let status = |mode: &str| {
        let rt = rt.clone();
        let msg = format!("call clock {{\"mode\":\"{mode}\"}}");
        async move {
            rt.run_turn(req("a", None, &msg), None)
                .await
                .unwrap()
                .tool_calls[0]
                .clone()
        }
    };
    let r = status("approve").await;
    assert_eq!(
        (r.status, r.approval_id.as_deref()),
        (ToolStatus::ApprovalRequired, Some("appr-1"))
    );
    assert_eq!(status("block").await.status, ToolStatus::Blocked);
    assert_eq!(status("deny").await.status, ToolStatus::Denied);
    assert_eq!(status("allow").await.status, ToolStatus::Ok);
    let v = serde_json::to_value(&status("approve").await).unwrap();
    assert_eq!(v["status"], "approval_required");
    assert_eq!(v["approval_id"], "appr-1");
}

#[tokio::test]
async fn provider_redirect_is_not_followed_so_the_key_stays_home() {
    let thief = FakeLlm::start(vec![FakeReply::text("gotcha")]).await;
    let llm = FakeLlm::start(vec![FakeReply::Redirect(format!(
        "{}/v1/messages",
        thief.anthropic_base_url()
    ))])
    .await;
    let home = tempfile::tempdir().unwrap();
    let rt = runtime(
        home.path(),
        spec(ProviderKind::Anthropic, Some(llm.anthropic_base_url())),
    )
    .await;
    rt.create_agent(manifest("a", &[])).await.unwrap();
    let err = rt.run_turn(req("a", None, "hi"), None).await.unwrap_err();
    assert!(matches!(provider_error(&err), ProviderError::Redirect(307)));
    assert_eq!(err.code(), "provider_error");
    assert!(
        thief.requests().is_empty(),
        "the redirect target received the request"
    );
}

#[tokio::test]
async fn provider_error_bodies_and_keys_never_reach_the_error() {
    for status in [400, 401, 429, 500] {
        let llm = FakeLlm::start(vec![FakeReply::Status {
            status,
            body: format!(r#"{{"error":{{"message":"bad key {KEY} BODY-CANARY"}}}}"#),
        }])
        .await;
        let home = tempfile::tempdir().unwrap();
        let rt = runtime(
            home.path(),
            spec(ProviderKind::OpenAi, Some(llm.base_url())),
        )
        .await;
        rt.create_agent(manifest("a", &[])).await.unwrap();
        let err = rt.run_turn(req("a", None, "hi"), None).await.unwrap_err();
        assert_eq!(provider_error(&err), &ProviderError::Status(status));
        for text in [err.to_string(), err.public_message(), format!("{err:?}")] {
            assert!(
                !text.contains("BODY-CANARY") && !text.contains(KEY),
                "{text}"
            );
        }
    }
}

#[tokio::test]
async fn oversized_provider_responses_are_refused_streaming_or_not() {
    for stream in [false, true] {
        let llm = FakeLlm::start(vec![FakeReply::Oversized(MAX_PROVIDER_RESPONSE_BYTES + 1)]).await;
        let home = tempfile::tempdir().unwrap();
        let rt = runtime(
            home.path(),
            spec(ProviderKind::OpenAi, Some(llm.base_url())),
        )
        .await;
        rt.create_agent(manifest("a", &[])).await.unwrap();
        let err = if stream {
            common::run_streaming(&rt, req("a", None, "hi"))
                .await
                .0
                .unwrap_err()
        } else {
            rt.run_turn(req("a", None, "hi"), None).await.unwrap_err()
        };
        assert_eq!(
            provider_error(&err),
            &ProviderError::TooLarge,
            "stream={stream}"
        );
    }
}

#[tokio::test]
async fn a_provider_that_never_answers_times_out() {
    let llm = FakeLlm::start(vec![FakeReply::Stall(Duration::from_secs(30))]).await;
    let home = tempfile::tempdir().unwrap();
    let mut opts = options(
        home.path(),
        Store::open_in_memory().unwrap(),
        spec(ProviderKind::OpenAi, Some(llm.base_url())),
    );
    opts.provider_timeout = Duration::from_millis(300);
    let rt = Runtime::new(opts).unwrap();
    rt.create_agent(manifest("a", &[])).await.unwrap();
    let err = rt.run_turn(req("a", None, "hi"), None).await.unwrap_err();
    assert_eq!(provider_error(&err), &ProviderError::Timeout);
}

#[tokio::test]
async fn hostile_session_ids_and_messages_are_refused() {
    let home = tempfile::tempdir().unwrap();
    let rt = runtime(home.path(), spec(ProviderKind::Scripted, None)).await;
    rt.create_agent(manifest("a", &[])).await.unwrap();
    let long = "x".repeat(257);
    for bad in ["../../etc/passwd", "a b", "x\u{0}", "", long.as_str()] {
        let err = rt
            .run_turn(req("a", Some(bad), "hi"), None)
            .await
            .unwrap_err();
        assert_eq!(err.code(), "invalid_input", "{bad:?}");
    }
    let huge = "y".repeat(rampart_agent::MAX_USER_MESSAGE_BYTES + 1);
    for msg in ["", "   ", huge.as_str()] {
        let err = rt.run_turn(req("a", None, msg), None).await.unwrap_err();
        assert_eq!(err.code(), "invalid_input");
    }
    let err = rt
        .run_turn(req("nobody", None, "hi"), None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "not_found");
}

#[tokio::test]
async fn one_agent_cannot_continue_another_agents_session() {
    let llm = FakeLlm::start(vec![FakeReply::text("noted"), FakeReply::text("who?")]).await;
    let home = tempfile::tempdir().unwrap();
    let rt = runtime(
        home.path(),
        spec(ProviderKind::OpenAi, Some(llm.base_url())),
    )
    .await;
    rt.create_agent(manifest("alice", &[])).await.unwrap();
    rt.create_agent(manifest("mallory", &[])).await.unwrap();
    rt.run_turn(req("alice", Some("shared-id"), "my PIN is 4321"), None)
        .await
        .unwrap();
    rt.run_turn(req("mallory", Some("shared-id"), "what was the PIN?"), None)
        .await
        .unwrap();
    let second = &llm.requests()[1].raw_body;
    assert!(
        !second.contains("4321"),
        "alice's history leaked into mallory's session"
    );
}
