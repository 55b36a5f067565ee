//! Attack tests of the gateway's edge layers in process: address spraying against the rate
//! limiter's memory, slowloris connections (a trickled head or body, also during shutdown), and
//! silent WebSocket clients.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a failure is a test failure"
)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use futures_util::StreamExt;
use rampart_agent::{AgentManifest, ProviderKind, ProviderSpec, Runtime, RuntimeOptions};
use rampart_config::SecurityHeaders;
use rampart_gateway::{AppState, Authenticator, EdgeState, Events, GatewayInfo, ServerLimits};
use rampart_guard::InputValidator;
use rampart_store::Store;
use secrecy::SecretString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::{Service, ServiceExt};

const KEY: &str = "edge-test-key-0123456789abcdef0123";

async fn state(edge: EdgeState) -> (AppState, tempfile::TempDir) {
    let home = tempfile::tempdir().unwrap();
    let mut opts = RuntimeOptions::new(home.path(), Store::open_in_memory().unwrap());
    opts.providers.insert(
        "default".into(),
        ProviderSpec {
            kind: ProviderKind::Scripted,
            base_url: None,
            api_key: None,
        },
    );
    let runtime = Runtime::new(opts).unwrap();
    runtime
        .create_agent(
            AgentManifest::parse("name = \"assistant\"\nmodel = \"default/scripted\"\n").unwrap(),
        )
        .await
        .unwrap();
    let state = AppState {
        runtime: Arc::new(runtime),
        auth: Arc::new(Authenticator::new(
            Some(&SecretString::from(KEY.to_owned())),
            true,
        )),
        events: Events::new(None),
        validator: Arc::new(InputValidator::with_detection(true)),
        info: Arc::new(GatewayInfo {
            started: Instant::now(),
            vault: "absent",
        }),
        edge: Arc::new(edge),
        policy: None,
        reload: None,
        pairing: None,
        peers: None,
    };
    (state, home)
}

#[tokio::test]
async fn spoofed_forwarded_for_from_an_untrusted_peer_makes_one_bucket_not_100000() {
    let (state, _home) = state(EdgeState::default()).await;
    let mut app = rampart_gateway::app(state.clone());
    let peer: SocketAddr = "198.51.100.7:40000".parse().unwrap();
    let mut limited = 0;
    for i in 0u32..100_000 {
        let [a, b, c, d] = i.to_be_bytes();
        let req = http::Request::get("/api/health")
            .header("x-forwarded-for", format!("{a}.{b}.{c}.{d}"))
            .header("forwarded", format!("for={d}.{c}.{b}.{a}"))
            .extension(ConnectInfo(peer))
            .body(Body::empty())
            .unwrap();
        let resp = ServiceExt::<http::Request<Body>>::ready(&mut app)
            .await
            .unwrap()
            .call(req)
            .await
            .unwrap();
        if resp.status() == http::StatusCode::TOO_MANY_REQUESTS {
            limited += 1;
        }
    }
    assert_eq!(state.edge.settings().limiter.tracked_clients(), 1);
    // They were all one client: nearly all of them were refused.
    assert!(limited > 99_000, "{limited}");
}

#[tokio::test]
async fn a_listed_proxy_is_believed_and_clients_behind_it_are_limited_separately() {
    let config = rampart_config::Config::from_toml_str(
        "api_rate_limit = 60\napi_rate_burst = 2\ntrusted_proxies = [\"10.0.0.0/8\"]",
        "config.toml",
    )
    .unwrap();
    let (state, _home) = state(EdgeState::new(
        &config.edge,
        rampart_guard::SharedLeakGuard::default(),
        None,
    ))
    .await;
    let app = rampart_gateway::app(state.clone());
    let proxy: SocketAddr = "10.0.0.1:5000".parse().unwrap();
    let get = |client: &str| {
        http::Request::get("/api/health")
            .header("x-forwarded-for", client)
            .extension(ConnectInfo(proxy))
            .body(Body::empty())
            .unwrap()
    };
    for _ in 0..2 {
        let r = app.clone().oneshot(get("203.0.113.1")).await.unwrap();
        assert_eq!(r.status(), 200);
    }
    let r = app.clone().oneshot(get("203.0.113.1")).await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key(http::header::RETRY_AFTER));
    let r = app.clone().oneshot(get("203.0.113.2")).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(state.edge.settings().limiter.tracked_clients(), 2);
}

type Server = tokio::task::JoinHandle<Result<(), rampart_gateway::GatewayError>>;

/// Serves `state` on a loopback port until `shutdown` resolves.
async fn listen(
    state: AppState,
    limits: ServerLimits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> (SocketAddr, Server) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(rampart_gateway::serve_with(
        listener, state, limits, shutdown,
    ));
    (addr, server)
}

async fn serve(edge: EdgeState, limits: ServerLimits) -> (SocketAddr, tempfile::TempDir) {
    let (state, home) = state(edge).await;
    let (addr, _) = listen(state, limits, std::future::pending()).await;
    (addr, home)
}

/// [`serve`] until the returned sender is sent on (or dropped); the server's task to await.
async fn serve_until_stopped(
    limits: ServerLimits,
) -> (
    SocketAddr,
    tempfile::TempDir,
    tokio::sync::oneshot::Sender<()>,
    Server,
) {
    let (state, home) = state(EdgeState::default()).await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (addr, server) = listen(state, limits, async move {
        let _ = stopped.await;
    })
    .await;
    (addr, home, stop, server)
}

/// `GET /api/health` on a fresh connection: the whole response.
async fn health(addr: SocketAddr) -> String {
    let mut ok = tokio::net::TcpStream::connect(addr).await.unwrap();
    ok.write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    ok.read_to_end(&mut buf).await.unwrap();
    String::from_utf8_lossy(&buf).into_owned()
}

#[tokio::test]
async fn a_slowloris_connection_is_closed_at_the_header_deadline() {
    let limits = ServerLimits::default().with_header_read_timeout(Duration::from_millis(500));
    let (addr, _home) = serve(EdgeState::default(), limits).await;
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    // The server gives up on the unfinished head and closes (possibly after a 408).
    let read = tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut buf))
        .await
        .expect("the server closed the connection");
    assert!(read.is_err() || !String::from_utf8_lossy(&buf).contains("200 OK"));
    // A complete request on another connection is served.
    let resp = health(addr).await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
}

/// [`serve`] with an audit log in the test's home; also returns the log's path.
async fn serve_audited(
    edge: EdgeState,
    limits: ServerLimits,
) -> (SocketAddr, tempfile::TempDir, std::path::PathBuf) {
    let (mut state, home) = state(edge).await;
    let log = home.path().join("audit.jsonl");
    let key = rampart_audit::CheckpointKey::generate().unwrap();
    let (sink, _) =
        rampart_audit::AuditSink::open(&log, key, rampart_audit::SinkOptions::default()).unwrap();
    state.events = Events::new(Some(sink));
    let (addr, _) = listen(state, limits, std::future::pending()).await;
    (addr, home, log)
}

/// Exactly one `slow_client` entry in `log`, for `stage`, from this test's address, and `closes`
/// such closes counted in `/metrics`.
async fn assert_one_slow_client(log: &std::path::Path, addr: SocketAddr, stage: &str, closes: u32) {
    let entries = audited(log, "slow_client", 1).await;
    assert_eq!(
        entries.len(),
        1,
        "one slow_client entry per client a minute"
    );
    assert_eq!(entries[0].detail.get(), format!(r#"{{"stage":"{stage}"}}"#));
    assert_eq!(entries[0].actor, "ip:127.0.0.1");
    assert_eq!(entries[0].outcome, "blocked");
    let counted = format!("rampart_slow_clients_closed_total{{stage=\"{stage}\"}} {closes}");
    let metrics = metrics(addr).await;
    assert!(metrics.contains(&counted), "{metrics}");
}

/// The audit entries of kind `event` in `log`, waiting up to 5 s for at least `want`.
async fn audited(log: &std::path::Path, event: &str, want: usize) -> Vec<rampart_audit::Entry> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = std::fs::read(log).unwrap_or_default();
        let found: Vec<_> = text
            .split_inclusive(|b| *b == b'\n')
            .filter_map(|l| rampart_audit::Entry::parse_line(l).ok())
            .filter(|e| e.event == event)
            .collect();
        if found.len() >= want || Instant::now() > deadline {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The gateway's `/metrics` text.
async fn metrics(addr: SocketAddr) -> String {
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\nConnection: close\r\n\r\n"
    );
    conn.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    conn.read_to_end(&mut buf).await.unwrap();
    String::from_utf8_lossy(&buf).into_owned()
}

/// Reads one response with a Content-Length body from a keep-alive connection.
async fn read_one_response(s: &mut tokio::net::TcpStream) -> String {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        let n = s.read(&mut byte).await.unwrap();
        assert!(n > 0, "connection closed mid-response");
        buf.push(byte[0]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let len = text[..end]
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().unwrap())
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                return text;
            }
        }
    }
}

#[tokio::test]
async fn a_client_trickling_its_head_is_closed_at_the_deadline_however_steadily_it_sends() {
    let limits = ServerLimits::default().with_header_read_timeout(Duration::from_millis(400));
    let (addr, _home, log) = serve_audited(EdgeState::default(), limits).await;
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /api/health HTTP/1.1\r\n")
        .await
        .unwrap();
    // One header byte every 50 ms, never finishing the head: each byte is progress, none is a
    // request, so the deadline still runs out.
    let trickle = async {
        loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if slow.write_all(b"X").await.is_err() {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), trickle)
        .await
        .expect("the server closed the trickling connection");
    // Audited as a slow client, by its address, and counted.
    assert_one_slow_client(&log, addr, "head", 1).await;
}

#[tokio::test]
async fn a_busy_keep_alive_connection_is_served_past_the_deadline_and_closed_once_idle() {
    let limits = ServerLimits::default().with_header_read_timeout(Duration::from_millis(400));
    let (addr, _home, log) = serve_audited(EdgeState::default(), limits).await;
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    // Requests every 150 ms for well over the deadline: the connection is never idle that long.
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(1500) {
        conn.write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let resp = read_one_response(&mut conn).await;
        assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    // Then idle: the server closes it.
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut rest))
        .await
        .expect("the server closed the idle connection");
    assert!(
        read.is_err() || rest.is_empty(),
        "no response to no request"
    );
    // Closing an idle connection is housekeeping, not an attack: not audited as a slow client.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        metrics(addr)
            .await
            .contains("rampart_slow_clients_closed_total{stage=\"head\"} 0")
    );
    assert!(audited(&log, "slow_client", 0).await.is_empty());
}

/// Sends `head`, then one byte of body every 50 ms on another task (never finishing a 1,000-byte
/// body in under 50 s), and returns what the server answered before it closed the connection.
async fn trickle_a_body(addr: SocketAddr, head: Vec<u8>) -> String {
    let conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut rx, mut tx) = conn.into_split();
    tx.write_all(&head).await.unwrap();
    let writer = tokio::spawn(async move {
        for _ in 0..1000 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if tx.write_all(b"x").await.is_err() {
                return;
            }
        }
    });
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), rx.read_to_end(&mut buf))
        .await
        .expect("the server closed the connection long before the body could finish");
    writer.abort();
    let _ = read;
    String::from_utf8_lossy(&buf).into_owned()
}

#[tokio::test]
async fn a_client_trickling_a_body_is_closed_at_the_body_deadline() {
    // Without a deadline, the slow POST would hold a connection slot for as long as the client
    // cares to trickle.
    let limits = ServerLimits::default().with_body_read_timeout(Duration::from_millis(400));
    let (addr, _home, log) = serve_audited(EdgeState::default(), limits).await;
    let head = format!(
        "POST /api/agents/assistant/message HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
    );
    let answered = trickle_a_body(addr, head.clone().into_bytes()).await;
    assert!(!answered.contains("HTTP/1.1 2"), "{answered}");
    // A second slow client from the same address within the minute: closed and counted, but
    // the audit trail keeps one entry per client a minute.
    assert_eq!(audited(&log, "slow_client", 1).await.len(), 1);
    let answered = trickle_a_body(addr, head.into_bytes()).await;
    assert!(!answered.contains("HTTP/1.1 2"), "{answered}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_one_slow_client(&log, addr, "body", 2).await;
    // The server serves other connections meanwhile and after.
    let resp = health(addr).await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
}

#[tokio::test]
async fn the_webhook_refuses_before_reading_a_body_it_would_not_accept() {
    // A body that never comes: the answer must not wait for it.
    let head = |token: &str| {
        format!(
            "POST /hooks/assistant HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
        )
    };
    let ask = |addr: SocketAddr, head: String| async move {
        let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
        conn.write_all(head.as_bytes()).await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), read_one_response(&mut conn))
            .await
            .expect("answered without the body")
    };
    // Off: 404 at once.
    let (addr, _home) = serve(EdgeState::default(), ServerLimits::default()).await;
    let resp = ask(addr, head("anything")).await;
    assert!(resp.starts_with("HTTP/1.1 404"), "{resp}");
    // On, with the wrong token: 401 at once.
    let mut config = rampart_config::EdgeConfig::default();
    config.webhook_trigger.enabled = true;
    let token = SecretString::from("webhook-token-0123456789abcdef".to_owned());
    let edge = EdgeState::new(
        &config,
        rampart_guard::SharedLeakGuard::default(),
        Some(&token),
    );
    let (addr, _home) = serve(edge, ServerLimits::default()).await;
    let resp = ask(addr, head("wrong-token")).await;
    assert!(resp.starts_with("HTTP/1.1 401"), "{resp}");
}

#[tokio::test]
async fn a_client_that_connects_and_sends_nothing_is_closed_and_counted() {
    let limits = ServerLimits::default().with_header_read_timeout(Duration::from_millis(400));
    let (addr, _home, log) = serve_audited(EdgeState::default(), limits).await;
    let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), silent.read_to_end(&mut buf))
        .await
        .expect("the server closed the silent connection");
    assert_one_slow_client(&log, addr, "silent", 1).await;
}

#[tokio::test]
async fn a_body_that_arrives_in_pieces_within_the_deadline_is_served() {
    let limits = ServerLimits::default().with_body_read_timeout(Duration::from_secs(5));
    let (addr, _home) = serve(EdgeState::default(), limits).await;
    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let body = br#"{"message":"hello"}"#;
    let head = format!(
        "POST /api/agents/assistant/message HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    for piece in body.chunks(7) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        conn.write_all(piece).await.unwrap();
    }
    // Answered (whatever the agent's reply), not cut: a slow but steady client is fine.
    let resp = read_one_response(&mut conn).await;
    assert!(resp.starts_with("HTTP/1.1 "), "{resp}");
    assert!(!resp.starts_with("HTTP/1.1 408"), "{resp}");
}

#[tokio::test]
async fn a_client_trickling_a_head_cannot_hold_a_graceful_shutdown() {
    let limits = ServerLimits::default().with_header_read_timeout(Duration::from_millis(400));
    let (addr, _home, stop, server) = serve_until_stopped(limits).await;
    let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET /api/health HTTP/1.1\r\nX-A: ")
        .await
        .unwrap();
    let trickler = tokio::spawn(async move {
        for _ in 0..1000 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if slow.write_all(b"a").await.is_err() {
                return;
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop.send(()).unwrap();
    // The shutdown grace is 30 s: the server ends long before it, at the header deadline.
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the shutdown was not held by the trickling client")
        .unwrap()
        .unwrap();
    trickler.abort();
}

#[tokio::test]
async fn a_websocket_outlives_the_header_deadline() {
    let limits = ServerLimits::default().with_header_read_timeout(Duration::from_millis(300));
    let (addr, _home) = serve(EdgeState::default(), limits).await;
    let url = format!("ws://{addr}/api/agents/assistant/ws?token={KEY}");
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    use futures_util::SinkExt as _;
    socket
        .send(tokio_tungstenite::tungstenite::Message::Ping(
            b"still there?".to_vec().into(),
        ))
        .await
        .unwrap();
    let pong = loop {
        match tokio::time::timeout(Duration::from_secs(5), socket.next()).await {
            Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Pong(p)))) => break p,
            Ok(Some(Ok(_))) => continue,
            other => panic!("the upgraded connection was cut: {other:?}"),
        }
    };
    assert_eq!(&pong[..], b"still there?");
}

#[tokio::test]
async fn websockets_count_against_the_connection_cap_and_close_on_shutdown() {
    use futures_util::SinkExt as _;
    use tokio_tungstenite::tungstenite::Message;
    let mut limits = ServerLimits::default();
    limits.max_connections = 2;
    let (addr, _home, stop, server) = serve_until_stopped(limits).await;
    let url = format!("ws://{addr}/api/agents/assistant/ws?token={KEY}");
    let (mut first, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let (mut second, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    // Both slots are held by the WebSockets: a third client waits in the backlog, unserved.
    let mut third = tokio::net::TcpStream::connect(addr).await.unwrap();
    third
        .write_all(b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let waited =
        tokio::time::timeout(Duration::from_millis(800), third.read_to_end(&mut buf)).await;
    assert!(waited.is_err(), "served past the connection cap: {buf:?}");
    // One WebSocket closes: its slot comes free and the waiting client is served.
    first.close(None).await.unwrap();
    while let Some(Ok(_)) = first.next().await {}
    tokio::time::timeout(Duration::from_secs(10), third.read_to_end(&mut buf))
        .await
        .expect("served once a slot was free")
        .unwrap();
    assert!(String::from_utf8_lossy(&buf).starts_with("HTTP/1.1 200"));
    // Shutdown closes the remaining WebSocket (1001) instead of waiting the 30 s grace for it.
    stop.send(()).unwrap();
    let close = loop {
        match tokio::time::timeout(Duration::from_secs(10), second.next()).await {
            Ok(Some(Ok(Message::Close(frame)))) => break frame,
            Ok(Some(Ok(_))) => continue,
            other => panic!("expected a close frame: {other:?}"),
        }
    };
    assert_eq!(u16::from(close.unwrap().code), 1001);
    let _ = second.send(Message::Close(None)).await;
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the shutdown did not wait the grace period for the WebSocket")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_websocket_client_that_never_reads_is_dropped_and_frees_its_slot() {
    use futures_util::SinkExt as _;
    use tokio_tungstenite::tungstenite::Message;
    let mut edge = EdgeState::default();
    edge.ws_send_timeout = Duration::from_millis(300);
    let mut limits = ServerLimits::default();
    limits.max_connections = 1;
    let (addr, _home) = serve(edge, limits).await;
    let url = format!("ws://{addr}/api/agents/assistant/ws?token={KEY}");
    let (socket, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    // Every binary frame earns an error frame back; the client never reads them, so the
    // server's sends back up until one times out.
    let (mut tx, _never_read) = socket.split();
    for _ in 0..200_000 {
        let sent = tokio::time::timeout(
            Duration::from_secs(2),
            tx.send(Message::Binary(vec![0; 8].into())),
        )
        .await;
        if !matches!(sent, Ok(Ok(()))) {
            break;
        }
    }
    // The one slot comes free once the server drops the socket: a new client is served.
    let resp = tokio::time::timeout(Duration::from_secs(20), health(addr))
        .await
        .expect("the stuck socket was dropped and its slot freed");
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
}

#[tokio::test]
async fn a_websocket_that_never_answers_pings_is_closed() {
    let mut edge = EdgeState::default();
    edge.ws_ping_interval = Duration::from_millis(200);
    edge.ws_idle_timeout = Duration::from_millis(700);
    let (addr, _home) = serve(edge, ServerLimits::default()).await;
    let url = format!("ws://{addr}/api/agents/assistant/ws?token={KEY}");
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    // Stay silent (no reads, so no pongs) past the idle timeout.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut pings = 0;
    let mut closed = false;
    while let Ok(Some(msg)) = tokio::time::timeout(Duration::from_secs(5), socket.next()).await {
        match msg {
            Ok(tokio_tungstenite::tungstenite::Message::Ping(_)) => pings += 1,
            Ok(tokio_tungstenite::tungstenite::Message::Close(_)) | Err(_) => {
                closed = true;
                break;
            }
            Ok(_) => {}
        }
    }
    assert!(pings >= 1, "the server pinged");
    assert!(closed, "the server closed the silent socket");
}

/// SPEC M2 for the edge: a reload swaps the rate limits, the proxy and origin lists and the
/// security headers for the next request, and a config that does not load changes none of them.
#[tokio::test]
async fn a_reload_applies_new_rate_limits_proxies_origins_and_headers_at_once() {
    use rampart_audit::Actor;
    use rampart_gateway::ReloadSource;
    use rampart_gateway::reload::reload;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, "api_rate_limit = 600\napi_rate_burst = 100\n").unwrap();
    let config = rampart_config::Config::load(&path).unwrap();
    let edge = EdgeState::new(
        &config.edge,
        rampart_guard::SharedLeakGuard::default(),
        None,
    )
    .with_headers(config.security.headers.clone());
    let (mut state, _home) = state(edge).await;
    state.reload = Some(Arc::new(ReloadSource::new(path.clone())));
    let app = rampart_gateway::app(state.clone());
    let proxy: SocketAddr = "10.1.2.3:5000".parse().unwrap();
    let get = |client: &str| {
        http::Request::get("/api/health")
            .header("x-forwarded-for", client)
            .extension(ConnectInfo(proxy))
            .body(Body::empty())
            .unwrap()
    };

    // Before: a burst of 100, the proxy not trusted (its header ignored), the default CSP.
    for _ in 0..5 {
        let r = app.clone().oneshot(get("203.0.113.1")).await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(
            r.headers()[http::header::CONTENT_SECURITY_POLICY],
            SecurityHeaders::default().csp
        );
    }
    assert_eq!(state.edge.settings().limiter.tracked_clients(), 1);

    std::fs::write(
        &path,
        "api_rate_limit = 60\napi_rate_burst = 2\ntrusted_proxies = [\"10.0.0.0/8\"]\n\
         ws_allowed_origins = [\"https://chat.example.com\"]\n\
         [security.headers]\ncsp = \"default-src 'none'\"\n",
    )
    .unwrap();
    let report = reload(&state, "api", Actor::System).await.unwrap();
    for said in [
        "api_rate_limit 60/min burst 2",
        "trusted_proxies",
        "ws_allowed_origins: https://chat.example.com",
        "security.headers",
    ] {
        assert!(report.summary.contains(said), "{}", report.summary);
    }

    // After: the proxy is believed, so two clients behind it get a bucket each, of 2.
    for client in ["203.0.113.1", "203.0.113.2"] {
        for _ in 0..2 {
            let r = app.clone().oneshot(get(client)).await.unwrap();
            assert_eq!(r.status(), 200, "{client}");
            assert_eq!(
                r.headers()[http::header::CONTENT_SECURITY_POLICY],
                "default-src 'none'"
            );
        }
        let r = app.clone().oneshot(get(client)).await.unwrap();
        assert_eq!(r.status(), 429, "{client}");
        assert_eq!(
            r.headers()[http::header::CONTENT_SECURITY_POLICY],
            "default-src 'none'"
        );
    }
    assert_eq!(
        state.edge.settings().ws_allowed_origins,
        ["https://chat.example.com"]
    );

    // A config that does not load changes nothing: the same limiter (its buckets still spent),
    // the same headers.
    std::fs::write(&path, "api_rate_burst = 0\n").unwrap();
    let err = reload(&state, "api", Actor::System).await.unwrap_err();
    assert_eq!(err.status(), 400);
    let r = app.clone().oneshot(get("203.0.113.1")).await.unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(
        r.headers()[http::header::CONTENT_SECURITY_POLICY],
        "default-src 'none'"
    );
    let r = app.clone().oneshot(get("203.0.113.3")).await.unwrap();
    assert_eq!(r.status(), 200);
}
