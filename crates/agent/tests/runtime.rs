//! The runtime's lifecycle: agents on disk, sessions that survive restarts, repair, manifests.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Helper fns panic on purpose: a failure is a test failure.

mod common;

use common::{Recorder, manifest, options, req, runtime, spec};
use rampart_agent::{AgentError, AgentManifest, ProviderKind, Runtime};
use rampart_store::{Message, Store};
use rampart_testkit::{FakeLlm, FakeReply};

#[tokio::test]
async fn sessions_survive_runtime_recreation_on_the_same_database() {
    let llm = FakeLlm::start(vec![FakeReply::text("noted"), FakeReply::text("42")]).await;
    let home = tempfile::tempdir().unwrap();
    let db = home.path().join("data/rampart.db");
    let provider = spec(ProviderKind::OpenAi, Some(llm.base_url()));
    let session = {
        let rt = Runtime::new(options(
            home.path(),
            Store::open(&db).unwrap(),
            provider.clone(),
        ))
        .unwrap();
        rt.create_agent(manifest("bot", &[])).await.unwrap();
        rt.run_turn(req("bot", None, "remember the number 42"), None)
            .await
            .unwrap()
            .session_id
    };
    // A new runtime on the same home and file: the agent is loaded from disk, the session resumes.
    let rt = Runtime::new(options(home.path(), Store::open(&db).unwrap(), provider)).unwrap();
    assert_eq!(rt.agents().len(), 1);
    let out = rt
        .run_turn(
            req("bot", Some(session.as_str()), "what was the number?"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(out.session_id, session);
    let msgs = llm.requests()[1].body["messages"].clone();
    assert_eq!(msgs[1]["content"], "remember the number 42");
    assert_eq!(msgs[2]["content"], "noted");
    assert_eq!(msgs[3]["content"], "what was the number?");
}

#[tokio::test]
async fn a_corrupt_session_is_repaired_and_the_turn_still_runs() {
    let llm = FakeLlm::start(vec![FakeReply::text("still here")]).await;
    let home = tempfile::tempdir().unwrap();
    let db = home.path().join("data/rampart.db");
    let recorder = Recorder::new();
    let mut opts = options(
        home.path(),
        Store::open(&db).unwrap(),
        spec(ProviderKind::OpenAi, Some(llm.base_url())),
    );
    opts.observer = recorder.clone();
    let rt = Runtime::new(opts).unwrap();
    rt.create_agent(manifest("bot", &["clock"])).await.unwrap();
    let (agent, session) = ("bot".parse().unwrap(), "s1".parse().unwrap());
    rt.store().ensure_session(&agent, &session).unwrap();
    rt.store()
        .append(
            &agent,
            &session,
            &[
                Message::user("earlier"),
                Message::Assistant {
                    content: String::new(),
                    tool_calls: vec![rampart_store::ToolCallRequest {
                        id: "dangling".into(),
                        name: "clock".into(),
                        arguments: serde_json::json!({}),
                    }],
                },
            ],
        )
        .unwrap();
    // Corruption behind the runtime's back: garbage and an orphaned tool result.
    let conn = rusqlite::Connection::open(&db).unwrap();
    for body in [
        "{{{ not json",
        r#"{"role":"tool","tool_call_id":"nobody","name":"clock","content":"x"}"#,
    ] {
        conn.execute(
            "INSERT INTO messages (agent, session_id, body, created_at) VALUES ('bot', 's1', ?1, 0)",
            [body],
        )
        .unwrap();
    }
    drop(conn);

    let out = rt
        .run_turn(req("bot", Some("s1"), "hello again"), None)
        .await
        .unwrap();
    assert_eq!(out.reply, "still here");
    assert!(
        recorder
            .lines()
            .contains(&"session_repaired quarantined=2".to_owned()),
        "{:?}",
        recorder.lines()
    );
    // The model got a sound history: the dangling call closed, no garbage, no orphan.
    let msgs = llm.requests()[0].body["messages"]
        .as_array()
        .unwrap()
        .clone();
    let roles: Vec<&str> = msgs.iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["system", "user", "assistant", "tool", "user"]);
    assert_eq!(msgs[3]["tool_call_id"], "dangling");
    assert_eq!(rt.store().quarantined(&agent, &session).unwrap().len(), 2);
}

#[tokio::test]
async fn agents_are_created_listed_and_deleted_on_disk() {
    let home = tempfile::tempdir().unwrap();
    let rt = runtime(home.path(), spec(ProviderKind::Scripted, None)).await;
    let m = manifest("helper", &["clock"]);
    rt.create_agent(m.clone()).await.unwrap();
    let file = home.path().join("agents/helper/agent.toml");
    assert_eq!(
        AgentManifest::from_toml(&std::fs::read_to_string(&file).unwrap()).unwrap(),
        m
    );
    assert!(home.path().join("workspace/helper").is_dir());
    assert!(!home.path().join("agents/helper/.agent.toml.tmp").exists());
    assert_eq!(rt.agents(), vec![m.clone()]);

    let err = rt.create_agent(m.clone()).await.unwrap_err();
    assert!(matches!(err, AgentError::AgentExists(_)));
    assert_eq!(err.code(), "conflict");

    let out = rt
        .run_turn(req("helper", Some("s"), "hi"), None)
        .await
        .unwrap();
    assert_eq!(rt.store().list_sessions(&m.name).unwrap().len(), 1);
    rt.delete_agent(&m.name).await.unwrap();
    assert!(!home.path().join("agents/helper").exists());
    assert!(rt.agents().is_empty());
    assert!(
        rt.store()
            .session(&m.name, &out.session_id)
            .unwrap()
            .is_none()
    );
    assert_eq!(
        rt.delete_agent(&m.name).await.unwrap_err().code(),
        "not_found"
    );
    let err = rt
        .run_turn(req("helper", None, "hi"), None)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "not_found");

    // Re-creating the name starts fresh.
    rt.create_agent(m.clone()).await.unwrap();
    assert!(rt.store().list_sessions(&m.name).unwrap().is_empty());
}

#[tokio::test]
async fn an_agent_with_an_unconfigured_provider_is_refused_at_creation() {
    let home = tempfile::tempdir().unwrap();
    let rt = runtime(home.path(), spec(ProviderKind::Scripted, None)).await;
    let m = AgentManifest::parse("name = \"x\"\nmodel = \"elsewhere/gpt\"\n").unwrap();
    let err = rt.create_agent(m).await.unwrap_err();
    assert_eq!(err.code(), "invalid_input");
    assert!(err.to_string().contains("elsewhere"));
    assert!(!home.path().join("agents/x").exists());
}

#[tokio::test]
async fn bad_manifest_files_stop_startup_naming_file_and_key() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("agents/broken");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("agent.toml"),
        "name = \"broken\"\nmodel = \"default/m\"\nrole = \"root\"\n",
    )
    .unwrap();
    let err = Runtime::new(options(
        home.path(),
        Store::open_in_memory().unwrap(),
        spec(ProviderKind::Scripted, None),
    ))
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("agents/broken/agent.toml") && err.contains("role"),
        "{err}"
    );

    // A manifest whose name differs from its directory is refused too.
    std::fs::write(
        dir.join("agent.toml"),
        "name = \"other\"\nmodel = \"default/m\"\n",
    )
    .unwrap();
    let err = Runtime::new(options(
        home.path(),
        Store::open_in_memory().unwrap(),
        spec(ProviderKind::Scripted, None),
    ))
    .unwrap_err()
    .to_string();
    assert!(err.contains("name") && err.contains("broken"), "{err}");

    // A directory left without a manifest (an interrupted create) is skipped, not fatal.
    std::fs::remove_file(dir.join("agent.toml")).unwrap();
    let rt = Runtime::new(options(
        home.path(),
        Store::open_in_memory().unwrap(),
        spec(ProviderKind::Scripted, None),
    ))
    .unwrap();
    assert!(rt.agents().is_empty());
}

#[tokio::test]
async fn a_bad_provider_base_url_is_refused_at_startup() {
    let home = tempfile::tempdir().unwrap();
    for url in ["ftp://example.com", "not a url", "file:///etc/passwd"] {
        let opts = options(
            home.path(),
            Store::open_in_memory().unwrap(),
            spec(ProviderKind::OpenAi, Some(url.to_owned())),
        );
        assert!(Runtime::new(opts).is_err(), "{url}");
    }
}

#[tokio::test]
async fn concurrent_turns_on_one_session_keep_its_history_sound() {
    let home = tempfile::tempdir().unwrap();
    let rt = runtime(home.path(), spec(ProviderKind::Scripted, None)).await;
    rt.create_agent(manifest("bot", &["clock"])).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..8 {
        let rt = rt.clone();
        let msg = if i % 2 == 0 {
            "what time is it".to_owned()
        } else {
            format!("echo {i}")
        };
        tasks.push(tokio::spawn(async move {
            rt.run_turn(req("bot", Some("busy"), &msg), None).await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let h = rt
        .store()
        .load_history(&"bot".parse().unwrap(), &"busy".parse().unwrap())
        .unwrap();
    assert!(h.repair.is_clean(), "{:?}", h.repair);
    // 4 clock turns (user, call, result, answer) + 4 echo turns (user, answer).
    assert_eq!(h.messages.len(), 4 * 4 + 4 * 2);
}
