//! A fake Telegram Bot API server: `getMe`, `getUpdates` (long poll, `offset` semantics) and
//! `sendMessage` under `/bot{token}/METHOD`, answering in the real JSON shapes
//! (`{"ok":true,"result":…}`, `{"ok":false,"error_code":…,"description":…}`).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::Notify;

/// The bot's user id, as `getMe` reports it.
pub const FAKE_BOT_ID: i64 = 777_000_111;
/// The bot's username, as `getMe` reports it (mention it as `@rampart_test_bot`).
pub const FAKE_BOT_USERNAME: &str = "rampart_test_bot";
/// The longest long poll the fake honours, whatever `timeout` the client asks for.
const MAX_POLL: Duration = Duration::from_secs(5);

/// A Telegram user who sends messages to the bot.
#[derive(Clone, Debug)]
pub struct TgUser {
    /// `from.id`: the verified id.
    pub id: i64,
    /// `from.first_name`: the display name, chosen by the user.
    pub first_name: String,
}

impl TgUser {
    /// A user with this id and display name.
    #[must_use]
    pub fn new(id: i64, first_name: &str) -> Self {
        Self {
            id,
            first_name: first_name.to_owned(),
        }
    }
}

/// A message the bot sent (`sendMessage`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentMessage {
    /// `chat_id` as sent (a number's text, or the string).
    pub chat_id: String,
    /// `text`.
    pub text: String,
}

#[derive(Debug, Default)]
struct Inner {
    /// Updates not yet confirmed by an `offset` past them.
    pending: Vec<Value>,
    next_update_id: i64,
    next_message_id: i64,
    sent: Vec<SentMessage>,
    get_updates_calls: u64,
    /// `getUpdates` answers 500 this many more times.
    fail_polls: u32,
    /// Every request path, with the token replaced by `TOKEN` when it was the right one.
    paths: Vec<String>,
}

struct Shared {
    token: String,
    inner: Mutex<Inner>,
    notify: Notify,
}

/// The fake server on `127.0.0.1:0`. Stops when dropped.
pub struct FakeTelegram {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for FakeTelegram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeTelegram")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl FakeTelegram {
    /// Starts a fake that accepts only `token`.
    ///
    /// # Panics
    /// When no loopback port can be bound (a test-environment failure).
    pub async fn start(token: &str) -> Self {
        let shared = Arc::new(Shared {
            token: token.to_owned(),
            inner: Mutex::new(Inner {
                next_update_id: 1000,
                next_message_id: 1,
                ..Inner::default()
            }),
            notify: Notify::new(),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        #[allow(clippy::expect_used)]
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        #[allow(clippy::expect_used)]
        let addr = listener.local_addr().expect("local addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, shared, task }
    }

    /// The `api_base_url` to configure: `http://127.0.0.1:PORT`.
    #[must_use]
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.shared
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a text message from `from` in a private chat with them. Returns the update id.
    pub fn dm(&self, from: &TgUser, text: &str) -> i64 {
        let chat = json!({"id": from.id, "type": "private", "first_name": from.first_name});
        self.push_message(from, chat, text, None)
    }

    /// Queues a text message from `from` in group `group_id` (negative, as Telegram's are).
    pub fn group(&self, group_id: i64, from: &TgUser, text: &str) -> i64 {
        let chat = json!({"id": group_id, "type": "supergroup", "title": "A group"});
        self.push_message(from, chat, text, None)
    }

    /// Queues a message in group `group_id` that replies to one of the bot's messages.
    pub fn group_reply_to_bot(&self, group_id: i64, from: &TgUser, text: &str) -> i64 {
        let chat = json!({"id": group_id, "type": "supergroup", "title": "A group"});
        let replied = json!({
            "message_id": 1,
            "date": 1_700_000_000,
            "chat": chat,
            "from": {"id": FAKE_BOT_ID, "is_bot": true, "first_name": "Rampart", "username": FAKE_BOT_USERNAME},
            "text": "an earlier answer",
        });
        self.push_message(from, chat, text, Some(replied))
    }

    fn push_message(&self, from: &TgUser, chat: Value, text: &str, reply_to: Option<Value>) -> i64 {
        let mut inner = self.lock();
        let update_id = inner.next_update_id;
        inner.next_update_id += 1;
        let message_id = inner.next_message_id;
        inner.next_message_id += 1;
        let mut message = json!({
            "message_id": message_id,
            "date": 1_700_000_000,
            "from": {"id": from.id, "is_bot": false, "first_name": from.first_name, "language_code": "en"},
            "text": text,
        });
        message["chat"] = chat;
        if let Some(r) = reply_to {
            message["reply_to_message"] = r;
        }
        inner
            .pending
            .push(json!({"update_id": update_id, "message": message}));
        drop(inner);
        self.shared.notify.notify_waiters();
        update_id
    }

    /// Queues a raw update object (its `update_id` is set by the fake).
    pub fn push_update(&self, mut update: Value) -> i64 {
        let mut inner = self.lock();
        let update_id = inner.next_update_id;
        inner.next_update_id += 1;
        update["update_id"] = json!(update_id);
        inner.pending.push(update);
        drop(inner);
        self.shared.notify.notify_waiters();
        update_id
    }

    /// Makes the next `n` `getUpdates` calls answer 500.
    pub fn fail_polls(&self, n: u32) {
        self.lock().fail_polls = n;
    }

    /// Every message the bot sent so far, in order.
    #[must_use]
    pub fn sent(&self) -> Vec<SentMessage> {
        self.lock().sent.clone()
    }

    /// Messages the bot sent to `chat_id`.
    #[must_use]
    pub fn sent_to(&self, chat_id: i64) -> Vec<String> {
        let id = chat_id.to_string();
        self.lock()
            .sent
            .iter()
            .filter(|m| m.chat_id == id)
            .map(|m| m.text.clone())
            .collect()
    }

    /// Updates the bot has not confirmed yet (by polling with an `offset` past them).
    #[must_use]
    pub fn unconfirmed(&self) -> usize {
        self.lock().pending.len()
    }

    /// How many `getUpdates` calls arrived.
    #[must_use]
    pub fn polls(&self) -> u64 {
        self.lock().get_updates_calls
    }

    /// Every request path, with the right token shown as `TOKEN`.
    #[must_use]
    pub fn paths(&self) -> Vec<String> {
        self.lock().paths.clone()
    }

    /// Waits (polling every 20 ms, up to `timeout`) until `cond` holds; returns whether it did.
    pub async fn wait_until(&self, timeout: Duration, cond: impl Fn(&Self) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if cond(self) {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until every queued update has been confirmed and the bot polled again after that
    /// (so every earlier message was handled), up to `timeout`. Returns whether it did.
    pub async fn wait_drained(&self, timeout: Duration) -> bool {
        let seen = self.polls();
        self.wait_until(timeout, |t| t.unconfirmed() == 0 && t.polls() > seen + 1)
            .await
    }
}

impl Drop for FakeTelegram {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn ok(result: Value) -> Response {
    let mut body = json!({"ok": true});
    body["result"] = result;
    axum::Json(body).into_response()
}

fn error(status: StatusCode, description: &str) -> Response {
    (
        status,
        axum::Json(json!({"ok": false, "error_code": status.as_u16(), "description": description})),
    )
        .into_response()
}

/// Parameters from a JSON body (what Rampart sends) or the query string.
fn params(uri: &Uri, body: &[u8]) -> Value {
    if let Ok(v @ Value::Object(_)) = serde_json::from_slice::<Value>(body) {
        return v;
    }
    let mut map = serde_json::Map::new();
    for pair in uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let value = v.parse::<i64>().map_or_else(|_| json!(v), |n| json!(n));
        map.insert(k.to_owned(), value);
    }
    Value::Object(map)
}

async fn handle(State(shared): State<Arc<Shared>>, uri: Uri, body: Bytes) -> Response {
    let path = uri.path();
    let Some((bot, method)) = path.trim_start_matches('/').split_once('/') else {
        return error(StatusCode::NOT_FOUND, "Not Found");
    };
    let Some(token) = bot.strip_prefix("bot") else {
        return error(StatusCode::NOT_FOUND, "Not Found");
    };
    if token != shared.token {
        shared
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .paths
            .push(path.to_owned());
        return error(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    shared
        .inner
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .paths
        .push(format!("/botTOKEN/{method}"));
    let p = params(&uri, &body);
    match method {
        "getMe" => ok(json!({
            "id": FAKE_BOT_ID, "is_bot": true, "first_name": "Rampart",
            "username": FAKE_BOT_USERNAME, "can_join_groups": true,
            "can_read_all_group_messages": false, "supports_inline_queries": false
        })),
        "getUpdates" => get_updates(&shared, &p).await,
        "sendMessage" => send_message(&shared, &p),
        _ => error(StatusCode::NOT_FOUND, "Not Found: method not found"),
    }
}

async fn get_updates(shared: &Shared, p: &Value) -> Response {
    let offset = p["offset"].as_i64().unwrap_or(0);
    let timeout = Duration::from_secs(p["timeout"].as_u64().unwrap_or(0)).min(MAX_POLL);
    let limit = usize::try_from(p["limit"].as_u64().unwrap_or(100).clamp(1, 100)).unwrap_or(100);
    let deadline = tokio::time::Instant::now() + timeout;
    {
        let mut inner = shared.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.get_updates_calls += 1;
        if inner.fail_polls > 0 {
            inner.fail_polls -= 1;
            drop(inner);
            return error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
        }
    }
    loop {
        let notified = shared.notify.notified();
        {
            let mut inner = shared.inner.lock().unwrap_or_else(PoisonError::into_inner);
            // Telegram's offset semantics: updates below the offset are confirmed and forgotten.
            inner
                .pending
                .retain(|u| u["update_id"].as_i64().unwrap_or(0) >= offset);
            if !inner.pending.is_empty() {
                let batch: Vec<Value> = inner.pending.iter().take(limit).cloned().collect();
                return ok(Value::Array(batch));
            }
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return ok(json!([]));
        }
    }
}

fn send_message(shared: &Shared, p: &Value) -> Response {
    let chat_id = match &p["chat_id"] {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => return error(StatusCode::BAD_REQUEST, "Bad Request: chat_id is empty"),
    };
    let Some(text) = p["text"].as_str() else {
        return error(
            StatusCode::BAD_REQUEST,
            "Bad Request: message text is empty",
        );
    };
    if text.encode_utf16().count() > 4096 {
        return error(StatusCode::BAD_REQUEST, "Bad Request: message is too long");
    }
    let mut inner = shared.inner.lock().unwrap_or_else(PoisonError::into_inner);
    let message_id = inner.next_message_id;
    inner.next_message_id += 1;
    inner.sent.push(SentMessage {
        chat_id: chat_id.clone(),
        text: text.to_owned(),
    });
    ok(json!({
        "message_id": message_id,
        "date": 1_700_000_000,
        "from": {"id": FAKE_BOT_ID, "is_bot": true, "first_name": "Rampart", "username": FAKE_BOT_USERNAME},
        "chat": {"id": chat_id.parse::<i64>().map_or_else(|_| json!(chat_id), |n| json!(n)), "type": "private"},
        "text": text,
    }))
}
