//! Attack tests of the gateway's edge through the real `rampart` binary: rate limits, size limits,
//! WebSocket limits and origins, the webhook trigger, metrics, and secrets that must never leave
//! through a log line or a reply.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a failure is a test failure"
)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use rampart_testkit::{FakeLlm, FakeReply};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

mod common;

use common::*;

/// A gateway whose whole stderr is kept.
struct Captured {
    child: Child,
    addr: std::net::SocketAddr,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Captured {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn stop(mut self) -> String {
        let _ = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        std::thread::sleep(Duration::from_millis(200));
        self.stderr.lock().unwrap().join("\n")
    }
}

impl Drop for Captured {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_captured(home: &Path, env: &[(&str, &str)]) -> Captured {
    let mut cmd = rampart(home);
    cmd.arg("start")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let keep = lines.clone();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix("listening on http://") {
                let _ = tx.send(addr.trim().to_owned());
            }
            keep.lock().unwrap().push(line);
        }
    });
    let addr = rx.recv_timeout(Duration::from_secs(60)).unwrap();
    Captured {
        child,
        addr: addr.parse().unwrap(),
        stderr: lines,
    }
}

#[tokio::test]
async fn a_burst_over_the_limit_gets_429_with_retry_after_and_the_next_window_is_served() {
    let llm = FakeLlm::start(vec![]).await;
    let home = make_home(&llm.base_url(), "api_rate_limit = 60\napi_rate_burst = 3");
    let gw = start(home.path());
    let http = http();
    let url = gw.url("/api/agents");
    for _ in 0..3 {
        let (s, _, v) = send(http.get(&url).bearer_auth(&home.key)).await;
        assert_eq!(s, 200, "{v}");
    }
    for _ in 0..5 {
        let (s, h, v) = send(http.get(&url).bearer_auth(&home.key)).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (429, Some("rate_limited"))
        );
        let retry: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=2).contains(&retry), "{retry}");
        assert_security_headers(&h);
    }
    // 60 a minute: one cell comes back every second.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (s, _, v) = send(http.get(&url).bearer_auth(&home.key)).await;
    assert_eq!(s, 200, "{v}");
    // Without a key it still costs: a password-guessing client is limited too.
    let (s, _, _) = send(http.get(&url).bearer_auth("wrong")).await;
    assert_eq!(s, 429);
    gw.stop();
    let out = rampart(home.path())
        .args(["audit", "show", "--json", "--filter", "rate_limited"])
        .output()
        .unwrap();
    let entries = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        entries.lines().count(),
        1,
        "one audit entry per limited client per minute: {entries}"
    );
}

#[tokio::test]
async fn oversized_bodies_urls_and_headers_are_refused() {
    let llm = FakeLlm::start(vec![]).await;
    let home = make_home(&llm.base_url(), "");
    let gw = start(home.path());
    let http = http();
    // Raw TCP for the bodies: the server answers 413 and closes without reading the rest, and an
    // HTTP client still uploading would race that close. Here the test sends exactly what it
    // means to and then reads the answer.
    let raw = |head: String, body: Vec<u8>| {
        let addr = gw.addr;
        async move {
            use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
            let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            tcp.write_all(head.as_bytes()).await.unwrap();
            let _ = tcp.write_all(&body).await;
            let _ = tcp.shutdown().await;
            let mut answer = Vec::new();
            let _ = tokio::time::timeout(
                std::time::Duration::from_secs(30),
                tcp.read_to_end(&mut answer),
            )
            .await;
            String::from_utf8_lossy(&answer).into_owned()
        }
    };
    // Declared too large: refused from the Content-Length, before any of the body is read.
    let answer = raw(
        format!(
            "POST /api/agents/assistant/message HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            home.key,
            200 * 1024
        ),
        Vec::new(),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("payload_too_large"), "{answer}");
    // Chunked, so no Content-Length to refuse early: the read stops at the limit.
    let mut chunked = Vec::new();
    for _ in 0..17 {
        chunked.extend_from_slice(format!("{:x}\r\n", 8 * 1024).as_bytes());
        chunked.extend_from_slice(&[b' '; 8 * 1024]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let answer = raw(
        format!(
            "POST /api/agents/assistant/message HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
            home.key
        ),
        chunked,
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("payload_too_large"), "{answer}");
    let long = format!("/api/agents?x={}", "a".repeat(10 * 1024));
    let (s, _, _) = send(http.get(gw.url(&long)).bearer_auth(&home.key)).await;
    assert_eq!(s, 414);
    let mut req = http.get(gw.url("/api/agents")).bearer_auth(&home.key);
    for i in 0..150 {
        req = req.header(format!("x-h{i}"), "v");
    }
    let (s, _, _) = send(req).await;
    assert_eq!(s, 431);
    assert!(llm.requests().is_empty());
    // Still serving.
    let (s, _, _) = send(http.get(gw.url("/api/agents")).bearer_auth(&home.key)).await;
    assert_eq!(s, 200);
}

async fn ws_connect(
    addr: std::net::SocketAddr,
    key: &str,
    origin: Option<&str>,
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    tokio_tungstenite::tungstenite::Error,
> {
    let url = format!("ws://{addr}/api/agents/assistant/ws?token={key}");
    let mut req = url.into_client_request().unwrap();
    if let Some(o) = origin {
        req.headers_mut().insert("origin", o.parse().unwrap());
    }
    tokio_tungstenite::connect_async(req).await.map(|(s, _)| s)
}

async fn next_json<S>(socket: &mut S) -> Value
where
    S: StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        match socket.next().await.unwrap().unwrap() {
            Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn websocket_limits_hold_across_sockets_and_origins() {
    let llm = FakeLlm::start(vec![]).await;
    let home = make_home(&llm.base_url(), "");
    let gw = start(home.path());

    // Cross-origin: refused before the upgrade; the gateway's own origin is fine.
    let err = ws_connect(gw.addr, &home.key, Some("https://evil.example"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("403"), "{err}");
    let own = format!("http://{}", gw.addr);
    let mut a = ws_connect(gw.addr, &home.key, Some(&own)).await.unwrap();

    // A frame over 64 KiB closes that socket.
    let mut big = ws_connect(gw.addr, &home.key, None).await.unwrap();
    let _ = big.send(Message::Text("x".repeat(100 * 1024).into())).await;
    let closed = tokio::time::timeout(Duration::from_secs(10), big.next())
        .await
        .unwrap();
    assert!(
        matches!(closed, None | Some(Err(_)) | Some(Ok(Message::Close(_)))),
        "{closed:?}"
    );

    // Text over 32 KiB in one message: refused, the socket stays (and it counts).
    let text = json!({"type": "message", "text": "y".repeat(40 * 1024)}).to_string();
    a.send(Message::Text(text.into())).await.unwrap();
    let v = next_json(&mut a).await;
    assert_eq!(v["error"]["code"], "payload_too_large", "{v}");
    for i in 1..30 {
        a.send(Message::Text(r#"{"type":"bogus"}"#.into()))
            .await
            .unwrap();
        let v = next_json(&mut a).await;
        assert_eq!(v["error"]["code"], "invalid_input", "message {i}: {v}");
    }
    // The 31st in the minute.
    a.send(Message::Text(r#"{"type":"bogus"}"#.into()))
        .await
        .unwrap();
    let v = next_json(&mut a).await;
    assert_eq!(v["error"]["code"], "rate_limited", "{v}");
    // A fresh socket with the same key does not reset the window.
    let mut b = ws_connect(gw.addr, &home.key, None).await.unwrap();
    b.send(Message::Text(
        json!({"type":"message","text":"hello"}).to_string().into(),
    ))
    .await
    .unwrap();
    let v = next_json(&mut b).await;
    assert_eq!(v["error"]["code"], "rate_limited", "{v}");
    assert!(llm.requests().is_empty());

    // The counters saw it all (origin, long text, two over the rate; the oversized frame is
    // refused by the protocol layer).
    let (s, _, _) = send(http().get(gw.url("/metrics"))).await;
    assert_eq!(s, 401);
    let resp = http()
        .get(gw.url("/metrics"))
        .bearer_auth(&home.key)
        .send()
        .await
        .unwrap();
    let text = resp.text().await.unwrap();
    assert!(
        text.contains("rampart_rate_limited_total{scope=\"websocket\"} 2"),
        "{text}"
    );
    assert!(text.contains("rampart_auth_failures_total 1"), "{text}");
    // The CLI finds the gateway at api_listen: point it at the port the gateway took.
    let config = home.path().join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "api_listen = \"127.0.0.1:0\"",
        &format!("api_listen = \"{}\"", gw.addr),
    );
    std::fs::write(&config, text).unwrap();
    let out = rampart(home.path())
        .env("RAMPART_LOG", "error")
        .args(["metrics", "--filter", "websocket_refused"])
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.lines().all(|l| l.contains("websocket_refused")),
        "{stdout}"
    );
    assert!(
        stdout.contains("rampart_websocket_refused_total 4"),
        "{stdout}"
    );
}

#[tokio::test]
async fn the_webhook_trigger_checks_its_token_and_rate() {
    const TOKEN: &str = "webhook-token-0123456789abcdef";
    let llm = FakeLlm::start(vec![FakeReply::text("hooked")]).await;
    let home = make_home(
        &llm.base_url(),
        "[webhook_trigger]\nenabled = true\ntoken_env = \"EDGE_HOOK_TOKEN\"\nrate_limit_per_minute = 3",
    );
    let gw = start_captured(home.path(), &[("EDGE_HOOK_TOKEN", TOKEN)]);
    let http = http();
    let url = gw.url("/hooks/assistant");
    let body = json!({"message": "deploy finished"});
    let (s, _, _) = send(http.post(&url).bearer_auth("wrong-token").json(&body)).await;
    assert_eq!(s, 401);
    let (s, _, _) = send(http.post(&url).bearer_auth(&home.key).json(&body)).await;
    assert_eq!(s, 401, "the API key is not the webhook token");
    let (s, _, v) = send(http.post(&url).bearer_auth(TOKEN).json(&body)).await;
    assert_eq!((s, v["reply"].as_str()), (200, Some("hooked")), "{v}");
    let (s, h, _) = send(http.post(&url).bearer_auth(TOKEN).json(&body)).await;
    assert_eq!(s, 429);
    assert!(h.contains_key("retry-after"));
    assert_eq!(llm.requests().len(), 1);
    let logs = gw.stop();
    assert!(!logs.contains(TOKEN));
}

#[tokio::test]
async fn secrets_never_leave_through_logs_or_replies() {
    const VAULT_SECRET: &str = "hunter2-correct-horse-battery-staple";
    let b64 = base64::engine::general_purpose::STANDARD.encode(VAULT_SECRET);
    let hex: String = VAULT_SECRET.bytes().map(|b| format!("{b:02x}")).collect();
    let families = [
        "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-abcdEFGH",
        "sk-proj-AbCdEfGhIjKlMnOpQrStUvWx0123",
        "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
        "xapp-1-A0123456789-1234567890123-abcdef0123456789",
        "xoxp-123456789012-1234567890123-AbCdEfGhIjKl",
        "MTIzNDU2Nzg5MDEyMzQ1Njc4.GaBcDe.AbCdEfGhIjKlMnOpQrStUvWxYz0123",
        "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
    ];
    let echo = format!("The password is {VAULT_SECRET}, or {b64}, or {hex}.");
    let llm = FakeLlm::start(vec![FakeReply::text(&echo)]).await;
    let home = make_home(&llm.base_url(), "");
    let mut set = rampart(home.path())
        .args(["--passphrase-stdin", "vault", "set", "db_password"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    write!(set.stdin.take().unwrap(), "{PASS}\n{VAULT_SECRET}\n").unwrap();
    assert!(set.wait().unwrap().success());

    let gw = start_captured(home.path(), &[("RAMPART_LOG", "debug")]);
    let http = http();
    // Untrusted paths land in the log (auth failures log the path): every family, every form.
    for s in families.iter().copied().chain([VAULT_SECRET, &b64, &hex]) {
        let (status, _, _) = send(http.get(gw.url(&format!("/api/agents/{s}")))).await;
        assert_eq!(status, 401);
    }
    // The API key itself, in a WebSocket URL (logged at debug by the trace layer).
    let _ = ws_connect(gw.addr, &home.key, None).await;
    // The model is told the secret and echoes it in three forms.
    let (s, _, v) = send(
        http.post(gw.url("/api/agents/assistant/message"))
            .bearer_auth(&home.key)
            .json(&json!({"message": format!("remember {VAULT_SECRET}")})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let reply = v.to_string();
    for form in [VAULT_SECRET, &b64, &hex] {
        assert!(!reply.contains(form), "{form} in the reply: {reply}");
    }
    assert!(reply.contains("[REDACTED:db_password]"), "{reply}");
    // What the provider received was redacted too (but its own credential header is intact).
    let sent = llm.requests();
    assert_eq!(sent.len(), 1);
    let body = &sent[0].raw_body;
    assert!(!body.contains(VAULT_SECRET), "{body}");
    assert!(body.contains("[REDACTED:db_password]"), "{body}");

    let stderr = gw.stop();
    let file = std::fs::read_to_string(home.path().join("logs/rampart.log")).unwrap();
    assert!(stderr.contains("authentication failed"), "{stderr}");
    for logs in [&stderr, &file] {
        for s in families
            .iter()
            .copied()
            .chain([VAULT_SECRET, &b64, &hex, &home.key])
        {
            assert!(!logs.contains(s), "{s} leaked into the log");
        }
    }
    // The redactions are audited by name, never by value.
    let out = rampart(home.path())
        .args(["audit", "show", "--json", "--filter", "secret_redacted"])
        .output()
        .unwrap();
    let audit = String::from_utf8(out.stdout).unwrap();
    assert!(audit.contains("db_password"), "{audit}");
    assert!(!audit.contains(VAULT_SECRET));
    // `rampart logs --level warn` reads the file back.
    let out = rampart(home.path())
        .args(["logs", "--level", "warn"])
        .output()
        .unwrap();
    let warn = String::from_utf8(out.stdout).unwrap();
    assert!(warn.contains("authentication failed"), "{warn}");
    assert!(!warn.contains(" DEBUG "), "{warn}");
}

#[tokio::test]
async fn known_secrets_a_model_echoes_are_redacted_from_the_reply() {
    // The gateway's own API key and the provider's credential, both held by the process.
    const API_KEY: &str = "rampart-test-key-9f8e7d6c5b4a39281706f5e4d3c2b1a0";
    const LLM_KEY: &str = "sk-proj-ZyXwVuTsRqPoNmLkJiHgFeDcBa9876543210";
    let b64 = base64::engine::general_purpose::STANDARD.encode(LLM_KEY);
    let echo = format!("Your key is {API_KEY}; mine is {LLM_KEY} (or {b64}).");
    let llm = FakeLlm::start(vec![FakeReply::text(&echo)]).await;
    let home = make_home(&llm.base_url(), "");
    for (name, value) in [("api_key", API_KEY), ("llm_key", LLM_KEY)] {
        let mut set = rampart(home.path())
            .args(["--passphrase-stdin", "vault", "set", name])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        write!(set.stdin.take().unwrap(), "{PASS}\n{value}\n").unwrap();
        assert!(set.wait().unwrap().success());
    }
    // `[providers.default]` is the config's last table: this line belongs to it.
    let config = home.path().join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}api_key = \"vault:llm_key\"\n")).unwrap();

    let gw = start(home.path());
    let (s, _, v) = send(
        http()
            .post(gw.url("/api/agents/assistant/message"))
            .bearer_auth(API_KEY)
            .json(&json!({"message": "what are the keys?"})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let reply = v.to_string();
    for secret in [API_KEY, LLM_KEY, b64.as_str()] {
        assert!(!reply.contains(secret), "{secret} in the reply: {reply}");
    }
    assert!(reply.contains("[REDACTED:"), "{reply}");
    // The provider still got its own credential in its own header, and nothing else of it.
    let sent = llm.requests();
    assert_eq!(
        sent[0].header("authorization"),
        Some(format!("Bearer {LLM_KEY}").as_str())
    );
    assert!(!sent[0].raw_body.contains(API_KEY));
    gw.stop();
}
