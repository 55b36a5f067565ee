//! The built-in tools through the real gateway: what the model asks for is confined to the
//! agent's workspace and to public hosts, refused calls are reported and audited.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failure is a test failure"
)]

mod common;

use common::*;
use rampart_testkit::{FakeLlm, FakeReply};
use serde_json::{Value, json};

fn audit(home: &std::path::Path, filter: &str) -> Vec<Value> {
    let out = rampart(home)
        .args(["audit", "show", "--json", "--filter", filter])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn tools_are_confined_and_refusals_are_reported_and_audited() {
    let canary = Canary::start().await;
    let llm = FakeLlm::start(vec![
        FakeReply::tool_call(
            "file_write",
            json!({"path": "notes.txt", "content": "hello"}),
        ),
        FakeReply::tool_call("file_read", json!({"path": "../../config.toml"})),
        FakeReply::tool_call("file_read", json!({"path": "/etc/passwd"})),
        FakeReply::tool_call(
            "web_fetch",
            json!({"url": format!("http://{}/", canary.addr)}),
        ),
        FakeReply::tool_call(
            "web_fetch",
            json!({"url": "http://169.254.169.254/latest/meta-data/"}),
        ),
        FakeReply::tool_call("shell_exec", json!({"command": "id"})),
        // Reading a file brings outside content into the session: it is tainted from here on, and
        // a fetch to a host not seen before needs a human's approval (T7).
        FakeReply::tool_call("file_read", json!({"path": "notes.txt"})),
        FakeReply::tool_call("web_fetch", json!({"url": "http://example.com/"})),
        FakeReply::text("done"),
    ])
    .await;
    let home = make_home(&llm.base_url(), "[agents]\nmax_turns = 12\n");
    set_agent_tools(home.path(), &["file_read", "file_write", "web_fetch"]);
    let config_before = std::fs::read(home.path().join("config.toml")).unwrap();
    let gw = start(home.path());

    let (s, _, v) = send(
        http()
            .post(gw.url("/api/agents/assistant/message"))
            .bearer_auth(&home.key)
            .json(&json!({"message": "do things"})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let statuses: Vec<(&str, &str)> = v["tool_calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        statuses,
        [
            ("file_write", "ok"),
            ("file_read", "error"),
            ("file_read", "error"),
            ("web_fetch", "error"),
            ("web_fetch", "error"),
            ("shell_exec", "denied"),
            ("file_read", "ok"),
            ("web_fetch", "approval_required"),
        ]
    );
    assert_eq!(v["reply"], "done");
    assert_eq!(v["tainted"], true, "the reply says the session is tainted");
    assert_eq!(
        canary.hits(),
        0,
        "a loopback fetch was refused before connecting"
    );
    assert_eq!(
        std::fs::read(home.path().join("config.toml")).unwrap(),
        config_before
    );
    assert_eq!(
        std::fs::read_to_string(home.path().join("workspace/assistant/notes.txt")).unwrap(),
        "hello"
    );

    // What the model was told: the file it wrote (as untrusted data), and why the rest failed.
    let sent = llm.requests().last().unwrap().raw_body.clone();
    assert!(sent.contains("hello"));
    assert!(
        !sent.contains("api_key = "),
        "the config never reached the model"
    );
    gw.stop();

    let files = audit(home.path(), "file_access");
    assert_eq!(files.len(), 4, "{files:?}");
    let hosts = audit(home.path(), "network_request");
    assert_eq!(hosts.len(), 2);
    assert!(hosts.iter().all(|h| h["outcome"] == "error"));
    let calls = audit(home.path(), "tool_call");
    assert_eq!(calls.len(), 8);
    assert_eq!(calls.iter().filter(|c| c["outcome"] == "denied").count(), 1);
}

#[tokio::test]
async fn an_allow_private_exception_lets_exactly_that_service_through() {
    let canary = Canary::start().await;
    let llm = FakeLlm::start(vec![
        FakeReply::tool_call(
            "web_fetch",
            json!({"url": format!("http://{}/status", canary.addr)}),
        ),
        FakeReply::text("fetched"),
    ])
    .await;
    let extra = format!("[web.fetch]\nallow_private = [\"{}\"]\n", canary.addr);
    let home = make_home(&llm.base_url(), &extra);
    set_agent_tools(home.path(), &["web_fetch"]);
    let gw = start(home.path());
    let (s, _, v) = send(
        http()
            .post(gw.url("/api/agents/assistant/message"))
            .bearer_auth(&home.key)
            .json(&json!({"message": "fetch it"})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["tool_calls"][0]["status"], "ok", "{v}");
    assert_eq!(canary.hits(), 1);
    let sent = llm.requests().last().unwrap().raw_body.clone();
    assert!(
        sent.contains("canary secret page"),
        "the page reached the model as a tool result"
    );
    gw.stop();
}
