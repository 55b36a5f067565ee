//! Loopback load benchmark: authenticated requests per second through the gateway's full layer
//! stack against a bare axum route, in the same run, with the load coming from a second process.
//!
//! `cargo bench -p rampart-gateway --bench edge_load` starts both servers in this process, then
//! re-runs its own executable as the client (`EDGE_LOAD_CLIENT=addr`), which keeps
//! [`CONNECTIONS`] keep-alive connections busy for [`SECONDS`] seconds and prints the count.
//! Both numbers and their ratio are printed; the target is a ratio of at least 0.8.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    reason = "a benchmark harness: a failure is a failed run, output is the point"
)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use rampart_agent::{Runtime, RuntimeOptions};
use rampart_config::SecurityHeaders;
use rampart_gateway::{AppState, Authenticator, EdgeState, Events, GatewayInfo, ServerLimits};
use rampart_guard::{InputValidator, LeakGuard, SharedLeakGuard};
use rampart_store::Store;
use secrecy::SecretString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const KEY: &str = "bench-key-0123456789abcdef0123456789";
/// Concurrent keep-alive connections of the client.
const CONNECTIONS: usize = 8;
/// How long each side is loaded.
const SECONDS: u64 = 5;

fn main() {
    if let Ok(addr) = std::env::var("EDGE_LOAD_CLIENT") {
        let path = std::env::var("EDGE_LOAD_PATH").unwrap();
        let n = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(client(addr.parse().unwrap(), path));
        println!("{n}");
        return;
    }
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let (full, bare, _home) = rt.block_on(servers());
    let full_rps = load(full, "/api/agents");
    let bare_rps = load(bare, "/api/agents");
    println!(
        "edge_load: full stack {full_rps:.0} req/s, bare axum {bare_rps:.0} req/s, ratio {:.2}",
        full_rps / bare_rps
    );
}

/// Runs the client process against `addr` and returns requests per second.
fn load(addr: SocketAddr, path: &str) -> f64 {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .env("EDGE_LOAD_CLIENT", addr.to_string())
        .env("EDGE_LOAD_PATH", path)
        .output()
        .unwrap();
    let n: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    n / SECONDS as f64
}

async fn servers() -> (SocketAddr, SocketAddr, tempfile::TempDir) {
    let home = tempfile::tempdir().unwrap();
    let runtime = Runtime::new(RuntimeOptions::new(
        home.path(),
        Store::open_in_memory().unwrap(),
    ))
    .unwrap();
    // A limit no benchmark client reaches: this measures the layers, not refusals.
    let config = rampart_config::Config::from_toml_str(
        "api_rate_limit = 100000000\napi_rate_burst = 100000000",
        "config.toml",
    )
    .unwrap();
    let mut leak = LeakGuard::builder();
    leak.add("api_key", KEY)
        .add("db_password", "hunter2-correct-horse-battery");
    let state = AppState {
        runtime: Arc::new(runtime),
        auth: Arc::new(Authenticator::new(
            Some(&SecretString::from(KEY.to_owned())),
            true,
        )),
        headers: Arc::new(SecurityHeaders::default()),
        events: Events::new(None),
        validator: Arc::new(InputValidator::with_detection(true)),
        info: Arc::new(GatewayInfo {
            started: Instant::now(),
            vault: "absent",
        }),
        edge: Arc::new(EdgeState::new(
            &config.edge,
            SharedLeakGuard::new(leak.build()),
            None,
        )),
        policy: None,
        reload: None,
    };
    let full = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let full_addr = full.local_addr().unwrap();
    tokio::spawn(rampart_gateway::serve_with(
        full,
        state,
        ServerLimits::default(),
        std::future::pending(),
    ));
    let bare = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bare_addr = bare.local_addr().unwrap();
    let app = Router::new().route(
        "/api/agents",
        get(|| async { axum::Json(serde_json::json!({ "agents": [] })) }),
    );
    tokio::spawn(async move { axum::serve(bare, app).await });
    (full_addr, bare_addr, home)
}

async fn client(addr: SocketAddr, path: String) -> u64 {
    let done = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(SECONDS);
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {KEY}\r\n\r\n");
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let (done, req) = (done.clone(), req.clone());
        tasks.push(tokio::spawn(async move {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.set_nodelay(true).unwrap();
            let mut buf = vec![0u8; 64 * 1024];
            while Instant::now() < until {
                s.write_all(req.as_bytes()).await.unwrap();
                read_response(&mut s, &mut buf).await;
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    done.load(Ordering::Relaxed)
}

/// Reads one response with a Content-Length body.
async fn read_response(s: &mut tokio::net::TcpStream, buf: &mut [u8]) {
    let mut have = 0;
    loop {
        let n = s.read(&mut buf[have..]).await.unwrap();
        assert!(n > 0, "connection closed");
        have += n;
        let text = String::from_utf8_lossy(&buf[..have]);
        if let Some(end) = text.find("\r\n\r\n") {
            assert!(text.starts_with("HTTP/1.1 200"), "{text}");
            let len: usize = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if have >= end + 4 + len {
                return;
            }
        }
    }
}
