//! Channels follow a config reload (SPEC M2, P1), through the real binary and the fake Telegram
//! server: an allowlist edited in `config.toml` takes effect at SIGHUP or `POST
//! /api/config/reload` without a restart, both ways, and a channel enabled or disabled in the
//! config starts or stops. A bad bot token does not take the gateway down. The webchat
//! channel's allowlist and per-user rate follow a reload the same way.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{Gateway, TestHome, http, make_home, send};
use rampart_testkit::{FakeLlm, FakeReply, FakeTelegram, TgUser};
use serde_json::Value;

const TOKEN: &str = "123456789:AAF-reload-test-token-not-real-0123";
const WAIT: Duration = Duration::from_secs(20);
const FRIEND: i64 = 1001;
const STRANGER: i64 = 2002;

/// Rewrites config.toml the way `make_home` writes it, with `extra` in place of its extra text.
fn write_config(home: &Path, llm_base: &str, extra: &str) {
    std::fs::write(
        home.join("config.toml"),
        format!(
            "api_key = \"vault:api_key\"\napi_listen = \"127.0.0.1:0\"\n{extra}\n\
             [providers.default]\nkind = \"openai\"\nbase_url = \"{llm_base}\"\n"
        ),
    )
    .unwrap();
}

fn telegram(tg: &FakeTelegram, enabled: bool, allowed: &[i64]) -> String {
    let allowed: Vec<String> = allowed.iter().map(|id| format!("\"{id}\"")).collect();
    format!(
        "[channels.telegram]\nenabled = {enabled}\nbot_token = \"env:RAMPART_TEST_TG_TOKEN\"\n\
         api_base_url = \"{}\"\nallowed_users = [{}]\n",
        tg.base_url(),
        allowed.join(", ")
    )
}

fn start_with_token(home: &TestHome, token: &str) -> Gateway {
    common::start_with_env(home.path(), &[("RAMPART_TEST_TG_TOKEN", token)])
}

async fn audit(gw: &Gateway, home: &TestHome, event: &str) -> Vec<Value> {
    let (s, _, v) = send(
        http()
            .get(gw.url(&format!("/api/audit?event={event}&limit=200")))
            .bearer_auth(&home.key),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    v["entries"].as_array().cloned().unwrap_or_default()
}

/// Sends SIGHUP and waits (at most 20 s) for the `config_change` entry it makes; returns its
/// summary.
async fn sighup(gw: &Gateway, home: &TestHome) -> String {
    let before = audit(gw, home, "config_change").await.len();
    let hup = Command::new("kill")
        .arg("-HUP")
        .arg(gw.child.id().to_string())
        .status()
        .unwrap();
    assert!(hup.success());
    for _ in 0..200 {
        let entries = audit(gw, home, "config_change").await;
        if entries.len() > before {
            let last = entries.iter().max_by_key(|e| e["seq"].as_u64()).unwrap();
            assert_eq!(last["outcome"], "ok", "{last}");
            return last["detail"]["summary"].as_str().unwrap().to_owned();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no config_change entry within 20 s of SIGHUP");
}

/// `POST /api/config/reload` as the owner; returns the summary.
async fn reload(gw: &Gateway, home: &TestHome) -> String {
    let (s, _, v) = send(
        http()
            .post(gw.url("/api/config/reload"))
            .bearer_auth(&home.key),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    v["summary"].as_str().unwrap().to_owned()
}

/// Has the stranger's message handled, then the friend's: messages of one channel are handled
/// in order, so once the friend has `friend_replies` answers, the stranger's message is decided.
async fn stranger_then_friend(tg: &FakeTelegram, text: &str, friend_replies: usize) {
    tg.dm(&TgUser::new(STRANGER, "Stranger"), text);
    tg.dm(&TgUser::new(FRIEND, "Friend"), "ping");
    assert!(
        tg.wait_until(WAIT, |t| t.sent_to(FRIEND).len() == friend_replies)
            .await,
        "the friend was answered"
    );
}

#[tokio::test]
async fn an_allowlist_edited_in_the_config_applies_at_sighup_and_at_the_reload_route() {
    let llm = FakeLlm::start((0..8).map(|_| FakeReply::text("answered")).collect()).await;
    let tg = FakeTelegram::start(TOKEN).await;
    let home = make_home(&llm.base_url(), &telegram(&tg, true, &[FRIEND]));
    let gw = start_with_token(&home, TOKEN);

    // A stranger is refused.
    stranger_then_friend(&tg, "hello?", 1).await;
    assert!(tg.sent_to(STRANGER).is_empty());
    assert_eq!(llm.requests().len(), 1, "only the friend's message ran");

    // Listed in allowed_users, and SIGHUP: answered, without a restart.
    write_config(
        home.path(),
        &llm.base_url(),
        &telegram(&tg, true, &[FRIEND, STRANGER]),
    );
    let summary = sighup(&gw, &home).await;
    assert!(summary.contains("telegram: 2 allowed user(s)"), "{summary}");
    tg.dm(&TgUser::new(STRANGER, "Stranger"), "hello now?");
    assert!(
        tg.wait_until(WAIT, |t| t.sent_to(STRANGER).len() == 1)
            .await,
        "the newly listed user is answered"
    );
    assert_eq!(tg.sent_to(STRANGER), vec!["answered".to_owned()]);

    // Removed again, and the reload route: refused again.
    write_config(
        home.path(),
        &llm.base_url(),
        &telegram(&tg, true, &[FRIEND]),
    );
    let summary = reload(&gw, &home).await;
    assert!(summary.contains("telegram: 1 allowed user(s)"), "{summary}");
    let calls = llm.requests().len();
    stranger_then_friend(&tg, "still there?", 2).await;
    assert_eq!(
        tg.sent_to(STRANGER).len(),
        1,
        "no new answer to the removed user"
    );
    assert_eq!(
        llm.requests().len(),
        calls + 1,
        "only the friend's message ran"
    );

    let dropped = audit(&gw, &home, "message_dropped").await;
    assert_eq!(dropped.len(), 2, "{dropped:?}");
    assert!(dropped.iter().all(|e| e["detail"]["user_id"] == "2002"));
    gw.stop();
}

#[tokio::test]
async fn a_channel_enabled_or_disabled_by_a_reload_starts_or_stops() {
    let llm = FakeLlm::start((0..4).map(|_| FakeReply::text("answered")).collect()).await;
    let tg = FakeTelegram::start(TOKEN).await;
    let home = make_home(&llm.base_url(), &telegram(&tg, false, &[FRIEND]));
    let gw = start_with_token(&home, TOKEN);
    let pair = async || {
        send(
            http()
                .post(gw.url("/api/channels/telegram/pairing-codes"))
                .bearer_auth(&home.key),
        )
        .await
        .0
    };
    assert_eq!(pair().await, 404, "no codes for a channel that is off");
    assert_eq!(tg.polls(), 0, "a disabled channel is not polled");

    write_config(
        home.path(),
        &llm.base_url(),
        &telegram(&tg, true, &[FRIEND]),
    );
    let summary = reload(&gw, &home).await;
    assert!(summary.contains("telegram: started"), "{summary}");
    tg.dm(&TgUser::new(FRIEND, "Friend"), "hi");
    assert!(tg.wait_until(WAIT, |t| t.sent_to(FRIEND).len() == 1).await);
    assert_eq!(pair().await, 201);

    write_config(
        home.path(),
        &llm.base_url(),
        &telegram(&tg, false, &[FRIEND]),
    );
    let summary = reload(&gw, &home).await;
    assert!(summary.contains("telegram: stopped"), "{summary}");
    assert_eq!(pair().await, 404);
    let (s, _, _) = send(http().get(gw.url("/api/health"))).await;
    assert_eq!(s, 200);
    gw.stop();
}

#[tokio::test]
async fn a_bad_bot_token_enabled_by_a_reload_does_not_take_the_gateway_down() {
    let llm = FakeLlm::start(vec![]).await;
    let tg = FakeTelegram::start(TOKEN).await;
    let home = make_home(&llm.base_url(), &telegram(&tg, false, &[FRIEND]));
    let gw = start_with_token(&home, "999:not-the-token-the-server-knows-00");

    write_config(
        home.path(),
        &llm.base_url(),
        &telegram(&tg, true, &[FRIEND]),
    );
    let summary = reload(&gw, &home).await;
    assert!(summary.contains("telegram: started"), "{summary}");
    // The adapter is refused (401) and backs off; the gateway keeps serving.
    for _ in 0..200 {
        if tg.paths().len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(tg.paths().len() >= 2, "the adapter tried: {:?}", tg.paths());
    let (s, _, _) = send(http().get(gw.url("/api/health"))).await;
    assert_eq!(s, 200);
    // And a reload still works.
    write_config(
        home.path(),
        &llm.base_url(),
        &telegram(&tg, false, &[FRIEND]),
    );
    assert!(reload(&gw, &home).await.contains("telegram: stopped"));
    gw.stop();
    let log =
        std::fs::read_to_string(home.path().join("logs").join("rampart.log")).unwrap_or_default();
    assert!(!log.contains("not-the-token"), "no token in the log");
}

type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Sends `text` as a chat message; returns the next frame that is not a delta.
async fn ask(socket: &mut WsStream, text: &str) -> Value {
    use futures_util::SinkExt as _;
    use tokio_tungstenite::tungstenite::Message;

    let frame = serde_json::json!({"type": "message", "text": text}).to_string();
    socket.send(Message::Text(frame.into())).await.unwrap();
    next(socket).await
}

/// The next frame that is not a delta (or a ping).
async fn next(socket: &mut WsStream) -> Value {
    use futures_util::StreamExt as _;
    use tokio_tungstenite::tungstenite::Message;

    loop {
        let m = tokio::time::timeout(Duration::from_secs(30), socket.next())
            .await
            .expect("a frame within 30 s")
            .unwrap()
            .unwrap();
        if let Message::Text(t) = m {
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            if v["type"] != "delta" {
                return v;
            }
        }
    }
}

#[tokio::test]
async fn the_webchat_allowlist_and_rate_follow_a_reload() {
    use futures_util::SinkExt as _;
    use tokio_tungstenite::tungstenite::Message;

    let llm = FakeLlm::start((0..8).map(|_| FakeReply::text("answered")).collect()).await;
    let base = "api_require_auth_local = false\n";
    let home = make_home(
        &llm.base_url(),
        &format!("{base}[channels.webchat]\nrate_limit_per_user = 1\n"),
    );
    let gw = start_with_token(&home, TOKEN);
    let url = format!("ws://{}/api/agents/assistant/ws", gw.addr);
    let (mut local, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap();
    let (mut owner, _) = tokio_tungstenite::connect_async(format!("{url}?token={}", home.key))
        .await
        .unwrap();
    // `local` is not on the webchat allowlist: nothing comes back (the malformed message that
    // follows is answered first), and no model runs.
    for frame in [
        serde_json::json!({"type": "message", "text": "hi"}).to_string(),
        r#"{"type":"bogus"}"#.to_owned(),
    ] {
        local.send(Message::Text(frame.into())).await.unwrap();
    }
    let v = next(&mut local).await;
    assert_eq!(v["error"]["code"], "invalid_input", "{v}");
    assert!(llm.requests().is_empty());
    assert_eq!(ask(&mut owner, "one").await["reply"], "answered");
    assert_eq!(
        ask(&mut owner, "two").await["error"]["code"],
        "rate_limited"
    );

    // Listed, with the same rate: both spent their one message this minute (local's on the
    // dropped one), and a reload is not a way to a fresh budget.
    let listed = "allowed_users = [\"local\"]\n";
    write_config(
        home.path(),
        &llm.base_url(),
        &format!("{base}[channels.webchat]\nrate_limit_per_user = 1\n{listed}"),
    );
    let summary = reload(&gw, &home).await;
    assert!(summary.contains("webchat: 2 allowed user(s)"), "{summary}");
    assert_eq!(
        ask(&mut local, "hi again").await["error"]["code"],
        "rate_limited"
    );
    assert_eq!(
        ask(&mut owner, "three").await["error"]["code"],
        "rate_limited"
    );
    assert_eq!(llm.requests().len(), 1);

    // A higher rate applies at once, and `local` is now answered.
    write_config(
        home.path(),
        &llm.base_url(),
        &format!("{base}[channels.webchat]\nrate_limit_per_user = 5\n{listed}"),
    );
    let summary = reload(&gw, &home).await;
    assert!(
        summary.contains("webchat: rate_limit_per_user 5"),
        "{summary}"
    );
    assert_eq!(ask(&mut local, "hi at last").await["reply"], "answered");
    assert_eq!(ask(&mut owner, "four").await["reply"], "answered");

    // Taken off the list again: `local` gets nothing, and no model runs.
    write_config(
        home.path(),
        &llm.base_url(),
        &format!("{base}[channels.webchat]\nrate_limit_per_user = 5\n"),
    );
    reload(&gw, &home).await;
    let calls = llm.requests().len();
    for frame in [
        serde_json::json!({"type": "message", "text": "still?"}).to_string(),
        r#"{"type":"bogus"}"#.to_owned(),
    ] {
        local.send(Message::Text(frame.into())).await.unwrap();
    }
    assert_eq!(next(&mut local).await["error"]["code"], "invalid_input");
    assert_eq!(llm.requests().len(), calls);
    gw.stop();
}
