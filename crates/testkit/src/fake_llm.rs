//! The scripted fake LLM server.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::Response;
use axum::routing::post;

use crate::wire;

/// One tool call in a scripted answer.
#[derive(Clone, Debug)]
pub struct FakeToolCall {
    /// The tool's name.
    pub name: String,
    /// The arguments exactly as the model would send them (normally a JSON object's text; may be
    /// invalid JSON to test how the client copes).
    pub arguments: String,
}

/// One scripted answer.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum FakeReply {
    /// A final text answer.
    Text(String),
    /// An answer made of tool calls (ids are generated: `call_N` / `toolu_N`).
    ToolCalls(Vec<FakeToolCall>),
    /// An HTTP error with this status and body (e.g. a body with a canary the client must not leak).
    Status {
        /// The HTTP status.
        status: u16,
        /// The body.
        body: String,
    },
    /// A `307` redirect to this URL (a client holding an API key must not follow it).
    Redirect(String),
    /// A successful text answer whose content is this many bytes long (for size caps).
    Oversized(usize),
    /// Waits this long before answering with a short text (for timeouts).
    Stall(Duration),
}

impl FakeReply {
    /// A text answer.
    #[must_use]
    pub fn text(s: &str) -> Self {
        Self::Text(s.to_owned())
    }

    /// An answer with one tool call whose arguments are `args` serialized.
    #[must_use]
    #[allow(clippy::needless_pass_by_value)] // Takes `json!(…)` directly, the common call shape.
    pub fn tool_call(name: &str, args: serde_json::Value) -> Self {
        Self::ToolCalls(vec![FakeToolCall {
            name: name.to_owned(),
            arguments: args.to_string(),
        }])
    }
}

/// A request the fake received.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// The request path, e.g. `/v1/chat/completions`.
    pub path: String,
    /// The headers, names lowercased, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body as text.
    pub raw_body: String,
    /// The body parsed as JSON (`Null` when it was not JSON).
    pub body: serde_json::Value,
}

impl RecordedRequest {
    /// The first value of a header (name in lowercase).
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug)]
struct Inner {
    script: VecDeque<FakeReply>,
    last: Option<FakeReply>,
    requests: Vec<RecordedRequest>,
    counter: u64,
}

type Shared = Arc<Mutex<Inner>>;

/// A fake OpenAI-compatible and Anthropic-compatible server on loopback. Stops when dropped.
#[derive(Debug)]
pub struct FakeLlm {
    addr: SocketAddr,
    inner: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl FakeLlm {
    /// Starts the server on `127.0.0.1:0` with the answers it gives, in order.
    ///
    /// # Panics
    /// When no loopback port can be bound (a test-environment failure).
    pub async fn start(script: Vec<FakeReply>) -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            script: script.into(),
            last: None,
            requests: Vec::new(),
            counter: 0,
        }));
        let app = Router::new()
            .route("/v1/chat/completions", post(openai))
            .route("/v1/messages", post(anthropic))
            .with_state(inner.clone());
        #[allow(clippy::expect_used)]
        // Documented: a test kit that cannot bind loopback cannot work.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        #[allow(clippy::expect_used)]
        let addr = listener.local_addr().expect("local addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, inner, task }
    }

    /// The OpenAI-style base URL, `http://127.0.0.1:PORT/v1` (clients POST `{base}/chat/completions`).
    #[must_use]
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The Anthropic-style base URL, `http://127.0.0.1:PORT` (clients POST `{base}/v1/messages`).
    #[must_use]
    pub fn anthropic_base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The socket address.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request received so far, in order.
    #[must_use]
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for FakeLlm {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Records the request and takes the next answer (repeating the last one when the script is done).
fn next(state: &Shared, uri: &Uri, headers: &HeaderMap, body: &str) -> (FakeReply, u64) {
    let mut inner = state.lock().unwrap_or_else(PoisonError::into_inner);
    inner.requests.push(RecordedRequest {
        path: uri.path().to_owned(),
        headers: headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        raw_body: body.to_owned(),
        body: serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    });
    inner.counter += 1;
    let reply = match inner.script.pop_front() {
        Some(r) => {
            inner.last = Some(r.clone());
            r
        }
        None => inner
            .last
            .clone()
            .unwrap_or_else(|| FakeReply::text("(script is empty)")),
    };
    (reply, inner.counter)
}

#[derive(Clone, Copy)]
enum Api {
    OpenAi,
    Anthropic,
}

async fn openai(State(s): State<Shared>, uri: Uri, headers: HeaderMap, body: String) -> Response {
    answer(Api::OpenAi, &s, &uri, &headers, &body).await
}

async fn anthropic(
    State(s): State<Shared>,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    answer(Api::Anthropic, &s, &uri, &headers, &body).await
}

async fn answer(api: Api, state: &Shared, uri: &Uri, headers: &HeaderMap, body: &str) -> Response {
    let (reply, n) = next(state, uri, headers, body);
    let req: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let stream = req.get("stream").and_then(serde_json::Value::as_bool) == Some(true);
    let model = req
        .get("model")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("fake")
        .to_owned();
    let (text, calls) = match reply {
        FakeReply::Status { status, body } => {
            return respond(
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                "application/json",
                body,
            );
        }
        FakeReply::Redirect(url) => {
            return Response::builder()
                .status(StatusCode::TEMPORARY_REDIRECT)
                .header(header::LOCATION, url)
                .body(Body::empty())
                .unwrap_or_default();
        }
        FakeReply::Stall(d) => {
            tokio::time::sleep(d).await;
            ("late".to_owned(), Vec::new())
        }
        FakeReply::Oversized(n) => ("a".repeat(n), Vec::new()),
        FakeReply::Text(t) => (t, Vec::new()),
        FakeReply::ToolCalls(c) => (String::new(), c),
    };
    let input_tokens = u64::try_from(body.len() / 4).unwrap_or(u64::MAX);
    let answer = wire::Answer {
        n,
        model,
        text,
        calls,
        input_tokens,
    };
    match (api, stream) {
        (Api::OpenAi, false) => respond(
            StatusCode::OK,
            "application/json",
            wire::openai_json(&answer),
        ),
        (Api::Anthropic, false) => respond(
            StatusCode::OK,
            "application/json",
            wire::anthropic_json(&answer),
        ),
        (Api::OpenAi, true) => sse(wire::openai_sse(&answer)),
        (Api::Anthropic, true) => sse(wire::anthropic_sse(&answer)),
    }
}

fn respond(status: StatusCode, content_type: &str, body: String) -> Response {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body))
        .unwrap_or_default()
}

/// Sends an SSE body in small chunks (37 bytes, or 1/256 of a large body), so that lines and
/// UTF-8 sequences are split across reads.
fn sse(text: String) -> Response {
    let bytes = text.into_bytes();
    let size = (bytes.len() / 256).max(37);
    let chunks: Vec<Result<Vec<u8>, std::convert::Infallible>> =
        bytes.chunks(size).map(|c| Ok(c.to_vec())).collect();
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .body(Body::from_stream(futures_util::stream::iter(chunks)))
        .unwrap_or_default()
}
