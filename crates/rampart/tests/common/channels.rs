//! The channel tests' gateway: a home pointed at a fake LLM, a fake Telegram Bot API server, the
//! real gateway started with the bot token in its environment, and what the tests read back (the
//! audit trail, WebSocket chat frames).

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use rampart_testkit::{FakeLlm, FakeReply, FakeTelegram};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

use super::{Gateway, TestHome, http, make_home, send, start_with_env};

/// The bot token the fake Telegram accepts.
pub const TG_TOKEN: &str = "123456789:AAF-test-telegram-token-not-real-0123";
/// The environment variable the gateway reads it from (`bot_token = "env:…"`).
pub const TG_TOKEN_ENV: &str = "RAMPART_TEST_TG_TOKEN";

/// A `[channels.telegram]` section pointed at `tg`, with the token from [`TG_TOKEN_ENV`] and
/// `extra` lines.
pub fn telegram_config(tg: &FakeTelegram, enabled: bool, extra: &str) -> String {
    format!(
        "[channels.telegram]\nenabled = {enabled}\nbot_token = \"env:{TG_TOKEN_ENV}\"\n\
         api_base_url = \"{}\"\n{extra}\n",
        tg.base_url()
    )
}

/// Starts the gateway of `home` with `token` as the bot token.
pub fn start_with_token(home: &TestHome, token: &str) -> Gateway {
    // The token reaches the gateway only through its environment.
    start_with_env(home.path(), &[(TG_TOKEN_ENV, token)])
}

/// A gateway with its home, fake LLM and fake Telegram. Dropping it kills the gateway and stops
/// the fakes; tests take it apart (`let ChannelGateway { llm, tg, home, gw } = …`).
pub struct ChannelGateway {
    pub llm: FakeLlm,
    pub tg: FakeTelegram,
    pub home: TestHome,
    pub gw: Gateway,
}

impl ChannelGateway {
    /// A fake LLM giving `replies`, a fake Telegram accepting [`TG_TOKEN`], a home whose extra
    /// config is `config(&tg)` (called before the gateway starts), and the gateway, given
    /// [`TG_TOKEN`].
    pub async fn start(
        replies: Vec<FakeReply>,
        config: impl FnOnce(&FakeTelegram) -> String,
    ) -> Self {
        Self::start_with_token(replies, TG_TOKEN, config).await
    }

    /// As [`ChannelGateway::start`], the gateway given `token` as the bot token.
    pub async fn start_with_token(
        replies: Vec<FakeReply>,
        token: &str,
        config: impl FnOnce(&FakeTelegram) -> String,
    ) -> Self {
        let llm = FakeLlm::start(replies).await;
        let tg = FakeTelegram::start(TG_TOKEN).await;
        let home = make_home(&llm.base_url(), &config(&tg));
        let gw = start_with_token(&home, token);
        Self { llm, tg, home, gw }
    }
}

/// The audit entries of `event` (at most 200), read through the API as the owner.
pub async fn audit(gw: &Gateway, home: &TestHome, event: &str) -> Vec<Value> {
    let (s, _, v) = send(
        http()
            .get(gw.url(&format!("/api/audit?event={event}&limit=200")))
            .bearer_auth(&home.key),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    v["entries"].as_array().cloned().unwrap_or_default()
}

/// A web chat socket.
pub type WsStream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens the `assistant` web chat, with `key` as the `token` query parameter when given.
pub async fn connect(gw: &Gateway, key: Option<&str>) -> WsStream {
    let mut url = format!("ws://{}/api/agents/assistant/ws", gw.addr);
    if let Some(k) = key {
        url.push_str(&format!("?token={k}"));
    }
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

/// Sends `text` as a chat message.
pub async fn say(socket: &mut WsStream, text: &str) {
    let frame = serde_json::json!({"type": "message", "text": text}).to_string();
    socket.send(Message::Text(frame.into())).await.unwrap();
}

/// Sends `text` as a chat message; returns the next frame that is not a delta.
pub async fn ask(socket: &mut WsStream, text: &str) -> Value {
    say(socket, text).await;
    next_frame(socket).await
}

/// Sends a malformed frame (always answered with an `invalid_input` error).
pub async fn say_bogus(socket: &mut WsStream) {
    socket
        .send(Message::Text(r#"{"type":"bogus"}"#.into()))
        .await
        .unwrap();
}

/// The next frame that is not a delta (or a ping).
pub async fn next_frame(socket: &mut WsStream) -> Value {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(30), socket.next())
            .await
            .expect("a frame within 30 s")
            .unwrap()
            .unwrap();
        match frame {
            Message::Text(t) => {
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                if v["type"] != "delta" {
                    return v;
                }
            }
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// Proves the socket sent nothing since the last frame read: a malformed message always gets an
/// `invalid_input` error, and frames arrive in order, so that error must be the next frame.
pub async fn assert_nothing_was_sent(socket: &mut WsStream) {
    say_bogus(socket).await;
    let v = next_frame(socket).await;
    assert_eq!(
        v["error"]["code"], "invalid_input",
        "a reply came first: {v}"
    );
}
