//! `agent_spawn` and the policy hook in the real loop: a child asking for more than its parent
//! gets no more (spawns by children included), and the policy's verdicts reach the reply.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Helper fns panic on purpose: a failure is a test failure.

mod common;

use std::sync::Arc;

use common::{options, req, spec};
use rampart_agent::{
    AgentManifest, PolicyHook, ProviderKind, Runtime, SpawnTool, ToolRegistry, ToolStatus,
};
use rampart_policy::{ManualClock, Policy, PolicyConfig};
use rampart_store::Store;
use rampart_testkit::{FakeLlm, FakeReply};
use serde_json::json;

fn parent_manifest() -> AgentManifest {
    AgentManifest::parse(
        "name = \"boss\"\nmodel = \"default/m\"\n[capabilities]\n\
         tools = [\"agent_spawn\", \"clock\"]\nmax_file_writes = 0\n",
    )
    .unwrap()
}

#[tokio::test]
async fn child_asking_for_more_than_its_parent_gets_no_more() {
    let llm = FakeLlm::start(vec![
        // The parent spawns a greedy child.
        FakeReply::tool_call(
            "agent_spawn",
            json!({"name": "helper", "tools": ["shell_exec", "file_write", "clock", "agent_spawn"],
                   "message": "go"}),
        ),
        // The child tries what its parent lacks, then spawns a greedier grandchild.
        FakeReply::tool_call("file_write", json!({"path": "x", "content": "y"})),
        FakeReply::tool_call(
            "agent_spawn",
            json!({"name": "deeper", "tools": ["shell_exec", "web_fetch"], "message": "go"}),
        ),
        // The grandchild tries the shell.
        FakeReply::tool_call("shell_exec", json!({"command": "id"})),
        FakeReply::text("grandchild done"),
        FakeReply::text("child done"),
        FakeReply::text("boss done"),
    ])
    .await;
    let home = tempfile::tempdir().unwrap();
    let store = Store::open_in_memory().unwrap();
    let mut cfg = PolicyConfig::default();
    cfg.approval_required.clear();
    let policy = Arc::new(Policy::new(
        cfg,
        store.clone(),
        Arc::new(ManualClock::new(1_000)),
    ));
    let mut opts = options(
        home.path(),
        store,
        spec(ProviderKind::OpenAi, Some(llm.base_url())),
    );
    let mut tools = ToolRegistry::with_builtins();
    tools.register(Arc::new(SpawnTool));
    opts.tools = tools;
    opts.policy = Arc::new(PolicyHook::new(policy));
    let rt = Runtime::new(opts).unwrap();
    rt.create_agent(parent_manifest()).await.unwrap();

    let out = rt
        .run_turn(req("boss", None, "delegate"), None)
        .await
        .unwrap();
    assert_eq!(out.reply, "boss done");
    assert_eq!(out.tool_calls.len(), 1);
    assert_eq!(out.tool_calls[0].status, ToolStatus::Ok, "{out:?}");

    // What each model call was offered: the child and grandchild never see a tool the parent
    // lacks.
    let reqs = llm.requests();
    let offered = |i: usize| -> Vec<String> {
        let body: serde_json::Value = serde_json::from_str(&reqs[i].raw_body).unwrap();
        let mut v: Vec<String> = body["tools"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|t| t["function"]["name"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    assert_eq!(offered(1), ["agent_spawn", "clock"], "the child");
    assert!(offered(3).is_empty(), "the grandchild: {:?}", offered(3));

    // And what they tried was refused: the child's file_write, the grandchild's shell.
    let child_results = &reqs[2].raw_body;
    assert!(
        child_results.contains("not permitted"),
        "child file_write: {child_results}"
    );
    let grandchild_results = &reqs[4].raw_body;
    assert!(
        grandchild_results.contains("not permitted"),
        "grandchild shell: {grandchild_results}"
    );
    assert!(!home.path().join("workspace/boss--helper/x").exists());
}

#[tokio::test]
async fn spawn_is_refused_without_agent_spawn_and_past_the_depth_bound() {
    use rampart_agent::{Capabilities, Tool, ToolContext, ToolError};
    let home = tempfile::tempdir().unwrap();
    let caps = Capabilities {
        tools: vec!["agent_spawn".into()],
        ..Capabilities::default()
    };
    let mut ctx = ToolContext::new(
        "boss".parse().unwrap(),
        "s1".parse().unwrap(),
        home.path().to_path_buf(),
        caps,
    );
    ctx.spawn_depth = rampart_policy::MAX_SPAWN_DEPTH;
    let args = json!({"name": "c", "tools": ["agent_spawn"], "message": "go"});
    let err = SpawnTool.call(&ctx, args.clone()).await.unwrap_err();
    assert!(
        matches!(&err, ToolError::InvalidInput(m) if m.contains("depth")),
        "{err}"
    );
    ctx.spawn_depth = 0;
    ctx.capabilities.tools = vec!["clock".into()];
    let err = SpawnTool.call(&ctx, args).await.unwrap_err();
    assert!(
        matches!(&err, ToolError::InvalidInput(m) if m.contains("may not spawn")),
        "{err}"
    );
}

fn runtime_with(home: &std::path::Path, llm: &FakeLlm, cfg: PolicyConfig) -> Runtime {
    let store = Store::open_in_memory().unwrap();
    let policy = Arc::new(Policy::new(
        cfg,
        store.clone(),
        Arc::new(ManualClock::new(1_000)),
    ));
    let mut opts = options(
        home,
        store,
        spec(ProviderKind::OpenAi, Some(llm.base_url())),
    );
    opts.policy = Arc::new(PolicyHook::new(policy));
    Runtime::new(opts).unwrap()
}

#[tokio::test]
async fn a_spent_token_budget_ends_the_turn_before_the_next_model_call() {
    let llm = FakeLlm::start(vec![
        FakeReply::tool_call("clock", json!({})),
        FakeReply::text("never asked"),
    ])
    .await;
    let home = tempfile::tempdir().unwrap();
    let mut cfg = PolicyConfig::default();
    cfg.budgets.tokens_per_session = 1;
    let rt = runtime_with(home.path(), &llm, cfg);
    rt.create_agent(common::manifest("bot", &["clock"]))
        .await
        .unwrap();
    let out = rt.run_turn(req("bot", None, "time?"), None).await.unwrap();
    assert_eq!(out.stop_reason, rampart_agent::StopReason::Budget);
    assert!(out.reply.contains("session_tokens"), "{}", out.reply);
    assert_eq!(
        llm.requests().len(),
        1,
        "the second model call was never made"
    );
}

#[tokio::test]
async fn the_loop_guard_warns_the_model_then_blocks() {
    let mut script: Vec<FakeReply> = (0..6)
        .map(|_| FakeReply::tool_call("clock", json!({})))
        .collect();
    script.push(FakeReply::text("stopped"));
    let llm = FakeLlm::start(script).await;
    let home = tempfile::tempdir().unwrap();
    let rt = runtime_with(home.path(), &llm, PolicyConfig::default());
    rt.create_agent(common::manifest("bot", &["clock"]))
        .await
        .unwrap();
    let out = rt.run_turn(req("bot", None, "loop"), None).await.unwrap();
    let statuses: Vec<ToolStatus> = out.tool_calls.iter().map(|c| c.status).collect();
    assert_eq!(statuses[..4], [ToolStatus::Ok; 4]);
    assert_eq!(statuses[4], ToolStatus::Blocked, "{statuses:?}");
    let warned = llm.requests()[3].raw_body.clone();
    assert!(warned.contains("Rampart warning"), "{warned}");
}

#[tokio::test]
async fn a_childs_workspace_is_its_own_and_removed_after_its_turn() {
    let llm = FakeLlm::start(vec![
        FakeReply::tool_call(
            "agent_spawn",
            json!({"name": "helper", "tools": ["file_write", "file_list"], "message": "go"}),
        ),
        // The child writes a file, then lists its workspace: only its own file is there.
        FakeReply::tool_call(
            "file_write",
            json!({"path": "note.txt", "content": "child"}),
        ),
        FakeReply::tool_call("file_list", json!({})),
        FakeReply::text("child done"),
        FakeReply::text("boss done"),
    ])
    .await;
    let home = tempfile::tempdir().unwrap();
    let store = Store::open_in_memory().unwrap();
    let mut cfg = PolicyConfig::default();
    cfg.approval_required.clear();
    let policy = Arc::new(Policy::new(
        cfg,
        store.clone(),
        Arc::new(ManualClock::new(1_000)),
    ));
    let mut opts = options(
        home.path(),
        store,
        spec(ProviderKind::OpenAi, Some(llm.base_url())),
    );
    let mut tools = ToolRegistry::with_builtins();
    tools.register(Arc::new(SpawnTool));
    opts.tools = tools;
    opts.policy = Arc::new(PolicyHook::new(policy));
    let rt = Runtime::new(opts).unwrap();
    rt.create_agent(
        AgentManifest::parse(
            "name = \"boss\"\nmodel = \"default/m\"\n[capabilities]\n\
             tools = [\"agent_spawn\", \"file_write\", \"file_list\"]\nmax_file_writes = 2\n",
        )
        .unwrap(),
    )
    .await
    .unwrap();
    // A real agent whose name is what the old scheme gave the child: its files stay unseen.
    std::fs::create_dir_all(home.path().join("workspace/boss--helper")).unwrap();
    std::fs::write(home.path().join("workspace/boss--helper/secret.txt"), "x").unwrap();
    std::fs::write(home.path().join("workspace/boss/parent.txt"), "p").unwrap();

    let out = rt
        .run_turn(req("boss", None, "delegate"), None)
        .await
        .unwrap();
    assert_eq!(out.reply, "boss done");
    let reqs = llm.requests();
    let listing = &reqs[3].raw_body;
    assert!(listing.contains("note.txt"), "{listing}");
    assert!(!listing.contains("secret.txt"), "{listing}");
    assert!(!listing.contains("parent.txt"), "{listing}");
    // Gone after the turn; the parent's files untouched.
    let spawned = home.path().join("workspace/.spawned");
    let left: Vec<_> = std::fs::read_dir(&spawned)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left behind: {left:?}");
    assert!(!home.path().join("workspace/boss/note.txt").exists());
    assert!(home.path().join("workspace/boss/parent.txt").exists());
}
