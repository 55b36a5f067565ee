//! WASM plugins through the real binary: a publisher makes a key and signs; the owner's install
//! refuses the unsigned and the tampered copies and accepts the signed one; `start` loads it
//! (audited) and an agent calls its tool through the gateway.

#![cfg(feature = "plugins")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a failure is a test failure"
)]

mod common;

use std::path::Path;

use common::*;
use rampart_testkit::{FakeLlm, FakeReply};
use serde_json::{Value, json};

const WAT: &str = r#"(module
  (memory (export "memory") 1)
  (global $next (mut i32) (i32.const 1024))
  (data (i32.const 0) "{\"ok\":\"hello from wasm\"}")
  (func (export "alloc") (param $n i32) (result i32)
    (local $p i32) (local.set $p (global.get $next))
    (global.set $next (i32.add (global.get $next) (local.get $n))) (local.get $p))
  (func (export "call") (param i32 i32 i32 i32) (result i64) (i64.const 24)))"#;

const MANIFEST: &str = "name = \"hello\"\nversion = \"1.0.0\"\ndescription = \"Greets.\"\n\
    [[tools]]\nname = \"greet\"\ndescription = \"Says hello.\"\n";

fn write_plugin(dir: &Path, code: &[u8]) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("plugin.toml"), MANIFEST).unwrap();
    std::fs::write(dir.join("plugin.wasm"), code).unwrap();
}

fn run(home: &Path, args: &[&str]) -> (i32, String, String) {
    let out = rampart(home).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn audit(home: &Path, filter: &str) -> Vec<Value> {
    let (code, stdout, _) = run(home, &["audit", "show", "--json", "--filter", filter]);
    assert_eq!(code, 0);
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn a_signed_plugin_is_installed_loaded_and_called_by_an_agent() {
    let publisher = tempfile::tempdir().unwrap();
    let key = publisher.path().join("publisher.key");
    let key_arg = key.to_str().unwrap();
    let (code, public, err) = run(publisher.path(), &["plugins", "keygen", "--out", key_arg]);
    assert_eq!(code, 0, "{err}");
    let public = public.trim().to_owned();
    assert!(public.starts_with("ed25519:"), "{public}");
    // A key is never overwritten.
    assert_eq!(
        run(publisher.path(), &["plugins", "keygen", "--out", key_arg]).0,
        2
    );

    let wasm = wat::parse_str(WAT).unwrap();
    let plugin = publisher.path().join("hello");
    write_plugin(&plugin, &wasm);
    let plugin_arg = plugin.to_str().unwrap();

    let llm = FakeLlm::start(vec![
        FakeReply::tool_call("hello__greet", json!({})),
        FakeReply::text("done"),
    ])
    .await;
    let home = make_home(
        &llm.base_url(),
        &format!("[plugins]\ntrusted_keys = [\"{public}\"]\n"),
    );

    // Unsigned, under the default require_signed = true: refused, exit 3.
    let (code, _, err) = run(home.path(), &["plugins", "install", plugin_arg]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("not signed"), "{err}");

    let (code, out, err) = run(
        home.path(),
        &["plugins", "sign", "--key", key_arg, plugin_arg],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&public), "{out}");

    // A tampered copy (the code changed after signing): refused.
    let tampered = publisher.path().join("tampered");
    let mut evil = wasm.clone();
    let last = evil.len() - 1;
    evil[last] ^= 1;
    write_plugin(&tampered, &evil);
    std::fs::copy(plugin.join("plugin.sig"), tampered.join("plugin.sig")).unwrap();
    let (code, _, err) = run(
        home.path(),
        &["plugins", "install", tampered.to_str().unwrap()],
    );
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("does not match"), "{err}");

    let (code, out, err) = run(home.path(), &["plugins", "install", plugin_arg]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("hello__greet"), "{out}");
    let (code, out, _) = run(home.path(), &["plugins", "list", "--json"]);
    assert_eq!(code, 0);
    let listed: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(listed[0]["name"], "hello");
    assert_eq!(listed[0]["signed"], true);

    set_agent_tools(home.path(), &["hello__greet"]);
    let gw = start(home.path());
    let (s, _, v) = send(
        http()
            .post(gw.url("/api/agents/assistant/message"))
            .bearer_auth(&home.key)
            .json(&json!({"message": "greet me"})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["tool_calls"][0]["name"], "hello__greet");
    assert_eq!(v["tool_calls"][0]["status"], "ok", "{v}");
    assert_eq!(v["reply"], "done");
    let sent = llm.requests().last().unwrap().raw_body.clone();
    assert!(sent.contains("hello from wasm"), "{sent}");
    gw.stop();

    let loads = audit(home.path(), "plugin_load");
    assert_eq!(loads.len(), 1, "{loads:?}");
    assert_eq!(loads[0]["outcome"], "ok");
    let calls = audit(home.path(), "tool_call");
    assert!(
        calls.iter().any(|c| c["detail"]["tool"] == "hello__greet"),
        "{calls:?}"
    );

    let (code, _, _) = run(home.path(), &["plugins", "remove", "hello"]);
    assert_eq!(code, 0);
    assert_eq!(run(home.path(), &["plugins", "remove", "hello"]).0, 2);
}
