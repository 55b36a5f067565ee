//! Channels follow a config reload (SPEC M2, P1), through the real binary and the fake Telegram
//! server: an allowlist edited in `config.toml` takes effect at SIGHUP or `POST
//! /api/config/reload` without a restart, both ways, and a channel enabled or disabled in the
//! config starts or stops. A bad bot token does not take the gateway down. The webchat
//! channel's allowlist and per-user rate follow a reload the same way.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::process::Command;
use std::time::Duration;

use common::channels::{
    ChannelGateway, TG_TOKEN, ask, assert_nothing_was_sent, audit, connect, say, telegram_config,
};
use common::{Gateway, TestHome, http, send, write_config};
use rampart_testkit::{FakeReply, FakeTelegram, TgUser};

const WAIT: Duration = Duration::from_secs(20);
const FRIEND: i64 = 1001;
const STRANGER: i64 = 2002;

fn telegram(tg: &FakeTelegram, enabled: bool, allowed: &[i64]) -> String {
    let allowed: Vec<String> = allowed.iter().map(|id| format!("\"{id}\"")).collect();
    telegram_config(
        tg,
        enabled,
        &format!("allowed_users = [{}]", allowed.join(", ")),
    )
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
    let ChannelGateway { llm, tg, home, gw } = ChannelGateway::start(
        (0..8).map(|_| FakeReply::text("answered")).collect(),
        |tg| telegram(tg, true, &[FRIEND]),
    )
    .await;

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
    let ChannelGateway { llm, tg, home, gw } = ChannelGateway::start(
        (0..4).map(|_| FakeReply::text("answered")).collect(),
        |tg| telegram(tg, false, &[FRIEND]),
    )
    .await;
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
    let ChannelGateway { llm, tg, home, gw } =
        ChannelGateway::start_with_token(vec![], "999:not-the-token-the-server-knows-00", |tg| {
            telegram(tg, false, &[FRIEND])
        })
        .await;

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

#[tokio::test]
async fn the_webchat_allowlist_and_rate_follow_a_reload() {
    let base = "api_require_auth_local = false\n";
    let ChannelGateway { llm, home, gw, .. } = ChannelGateway::start(
        (0..8).map(|_| FakeReply::text("answered")).collect(),
        |_| format!("{base}[channels.webchat]\nrate_limit_per_user = 1\n"),
    )
    .await;
    let mut local = connect(&gw, None).await;
    let mut owner = connect(&gw, Some(&home.key)).await;
    // `local` is not on the webchat allowlist: nothing comes back (the malformed message that
    // follows is answered first), and no model runs.
    say(&mut local, "hi").await;
    assert_nothing_was_sent(&mut local).await;
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
    say(&mut local, "still?").await;
    assert_nothing_was_sent(&mut local).await;
    assert_eq!(llm.requests().len(), calls);
    gw.stop();
}

/// Has the friend send `text`, then `probe` (a new user) a question, and waits for the probe's
/// answer: the adapter runs, and the friend's message, handled before it, is decided.
async fn friend_then_answered(tg: &FakeTelegram, text: &str, probe: i64) {
    tg.dm(&TgUser::new(FRIEND, "Friend"), text);
    tg.dm(&TgUser::new(probe, "Probe"), "a question");
    assert!(
        tg.wait_until(WAIT, |t| t.sent_to(probe).len() == 1).await,
        "the adapter answers {probe}: {:?}",
        tg.sent()
    );
}

#[tokio::test]
async fn a_reload_that_restarts_telegram_answers_nothing_twice_and_keeps_the_rate_limits() {
    // Two messages a minute each. `friend` spends theirs; `other` sends one, so an update of
    // theirs handed over again would be answered again; `later` and `last` show the adapter runs.
    const OTHER: i64 = 3003;
    const LATER: i64 = 4004;
    const LAST: i64 = 5005;
    let config = |tg: &FakeTelegram, enabled: bool| {
        telegram_config(
            tg,
            enabled,
            &format!(
                "allowed_users = [\"{FRIEND}\", \"{OTHER}\", \"{LATER}\", \"{LAST}\"]\n\
                 rate_limit_per_user = 2"
            ),
        )
    };
    let ChannelGateway { llm, tg, home, gw } = ChannelGateway::start(
        (0..8).map(|_| FakeReply::text("answered")).collect(),
        |tg| config(tg, true),
    )
    .await;
    let friend = TgUser::new(FRIEND, "Friend");
    let other = TgUser::new(OTHER, "Other");
    // Messages of one channel are handled in order: once the last is answered, all were decided.
    let answered = [
        tg.dm(&friend, "one"),
        tg.dm(&friend, "two"),
        tg.dm(&friend, "three"),
        tg.dm(&other, "first question"),
    ];
    assert!(tg.wait_until(WAIT, |t| t.sent_to(OTHER).len() == 1).await);
    assert_eq!(tg.sent_to(FRIEND).len(), 2, "the third is over the limit");
    assert_eq!(llm.requests().len(), 3);

    // The same bot behind another api_base_url, whose Bot API still holds those updates (as
    // Telegram does for a poller that starts at offset 0 before they are confirmed).
    let second = FakeTelegram::start(TG_TOKEN).await;
    let held = [
        second.dm(&friend, "one"),
        second.dm(&friend, "two"),
        second.dm(&friend, "three"),
        second.dm(&other, "first question"),
    ];
    assert_eq!(held, answered, "the same update ids");
    write_config(home.path(), &llm.base_url(), &config(&second, true));
    let summary = reload(&gw, &home).await;
    assert!(summary.contains("telegram: restarted"), "{summary}");
    // What was answered is not answered again; the friend's limit is not reset by the restart.
    friend_then_answered(&second, "four", LATER).await;
    assert!(second.sent_to(OTHER).is_empty(), "{:?}", second.sent());
    assert!(second.sent_to(FRIEND).is_empty(), "{:?}", second.sent());
    assert_eq!(llm.requests().len(), 4, "only the new question ran");

    // Stopped and started again by two reloads: the same holds.
    write_config(home.path(), &llm.base_url(), &config(&second, false));
    assert!(reload(&gw, &home).await.contains("telegram: stopped"));
    write_config(home.path(), &llm.base_url(), &config(&second, true));
    assert!(reload(&gw, &home).await.contains("telegram: started"));
    friend_then_answered(&second, "five", LAST).await;
    assert!(second.sent_to(FRIEND).is_empty(), "{:?}", second.sent());
    assert_eq!(second.sent_to(LATER).len(), 1, "{:?}", second.sent());
    assert_eq!(llm.requests().len(), 5);
    let limited = audit(&gw, &home, "rate_limited").await;
    assert!(
        limited
            .iter()
            .any(|e| e["detail"]["key"] == format!("telegram:{FRIEND}")),
        "{limited:?}"
    );
    gw.stop();
}
