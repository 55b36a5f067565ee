//! Loopback load benchmark: authenticated requests per second through the gateway's full layer
//! stack against a bare axum route, in the same run, with the load coming from a second process.
//!
//! `cargo bench -p rampart-gateway --bench edge_load` starts both servers in this process, then
//! re-runs its own executable as the client (`EDGE_LOAD_CLIENT=addr`), which keeps
//! [`CONNECTIONS`] keep-alive connections busy for [`ROUND_MILLIS`] and prints the count; the two
//! sides alternate for [`ROUNDS`] rounds each. Both numbers and their ratio are printed; the
//! target is a ratio of at least 0.8. `EDGE_LOAD_INPROC=1` instead calls both stacks in-process
//! (no sockets) and prints the time per request, with two partial stacks for attribution.

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
/// Rounds per side; each side is loaded for `ROUNDS × ROUND_MILLIS` in all.
const ROUNDS: u32 = 12;
/// How long one round loads one side.
const ROUND_MILLIS: u64 = 500;

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
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Ok(n) = std::env::var("EDGE_LOAD_SERVER_THREADS") {
        rt.worker_threads(n.parse().unwrap());
    }
    let rt = rt.enable_all().build().unwrap();
    if std::env::var_os("EDGE_LOAD_INPROC").is_some() {
        // Profiling aid: the same two stacks called in-process (no sockets), per request.
        rt.block_on(in_process());
        return;
    }
    let (full, bare, _home) = rt.block_on(servers());
    if let Ok(only) = std::env::var("EDGE_LOAD_ONLY") {
        // Profiling aid: load one side for one round, so a profiler sees it alone.
        let n = load(if only == "full" { full } else { bare }, "/api/agents");
        println!("edge_load: {only} only, {n:.0} requests in one round");
        return;
    }
    // Interleaved rounds (full, bare, bare, full, …) so that a change in the machine's load
    // during the run weighs on both sides alike. Each round's pair also gives a ratio of its own:
    // on a shared machine whose speed drifts over seconds, the median of those is steadier than
    // the ratio of the totals, and both are printed.
    let (mut full_n, mut bare_n) = (0.0, 0.0);
    let mut ratios = Vec::new();
    for round in 0..ROUNDS {
        let (f, b) = if round % 2 == 0 {
            let f = load(full, "/api/agents");
            (f, load(bare, "/api/agents"))
        } else {
            let b = load(bare, "/api/agents");
            (load(full, "/api/agents"), b)
        };
        full_n += f;
        bare_n += b;
        ratios.push(f / b);
    }
    ratios.sort_by(f64::total_cmp);
    let median = (ratios[ratios.len() / 2] + ratios[(ratios.len() - 1) / 2]) / 2.0;
    let secs = ROUND_MILLIS as f64 / 1000.0 * f64::from(ROUNDS);
    let (full_rps, bare_rps) = (full_n / secs, bare_n / secs);
    println!(
        "edge_load: full stack {full_rps:.0} req/s, bare axum {bare_rps:.0} req/s, ratio {:.2} (median of {ROUNDS} paired rounds {median:.2}, range {:.2}..{:.2})",
        full_rps / bare_rps,
        ratios[0],
        ratios[ratios.len() - 1],
    );
}

/// Runs the client process against `addr` for one round and returns how many requests it made.
fn load(addr: SocketAddr, path: &str) -> f64 {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .env("EDGE_LOAD_CLIENT", addr.to_string())
        .env("EDGE_LOAD_PATH", path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// Calls both stacks `N` times each through `oneshot` and prints the time per request.
async fn in_process() {
    use tower::ServiceExt as _;
    const N: u32 = 200_000;
    let home = tempfile::tempdir().unwrap();
    let state = state(&home);
    let runtime = state.runtime.clone();
    let full = rampart_gateway::app(state);
    let bare = bare_app(&runtime);
    let nested = Router::new().fallback_service(bare_app(&runtime));
    type Stack = tower::util::BoxCloneService<
        http::Request<axum::body::Body>,
        axum::response::Response,
        std::convert::Infallible,
    >;
    for (name, app) in [
        ("full", Stack::new(full)),
        ("bare", Stack::new(bare)),
        ("bare nested in a fallback router", Stack::new(nested)),
    ] {
        // `EDGE_LOAD_INPROC=full` (or another stack's name) times that stack alone.
        let only = std::env::var("EDGE_LOAD_INPROC").unwrap_or_default();
        if only != "1" && only != name {
            continue;
        }
        let started = Instant::now();
        for _ in 0..N {
            let mut req = http::Request::get("/api/agents")
                .header("authorization", format!("Bearer {KEY}"))
                .body(axum::body::Body::empty())
                .unwrap();
            req.extensions_mut()
                .insert(axum::extract::ConnectInfo(SocketAddr::from((
                    [127, 0, 0, 1],
                    9,
                ))));
            let resp = app.clone().oneshot(req).await.unwrap();
            assert_eq!(resp.status(), 200);
            let _ = axum::body::to_bytes(resp.into_body(), 1 << 20)
                .await
                .unwrap();
        }
        println!("{name}: {:?} per request", started.elapsed() / N);
    }
}

/// The bare route: `GET /api/agents` on a plain axum router, no layers, answering with the
/// same handler body as the gateway's route (the same runtime's agents, as the same JSON), so
/// the difference between the two servers is the layer stack alone. `EDGE_LOAD_BARE_STATIC=1`
/// answers a constant `{"agents":[]}` instead, for comparison with earlier runs.
fn bare_app(runtime: &Arc<Runtime>) -> Router {
    let app = if std::env::var_os("EDGE_LOAD_BARE_STATIC").is_some() {
        Router::new().route(
            "/api/agents",
            get(|| async { axum::Json(serde_json::json!({ "agents": [] })) }),
        )
    } else {
        let runtime = runtime.clone();
        Router::new().route(
            "/api/agents",
            get(move || async move {
                let agents: Vec<serde_json::Value> = runtime
                    .agents()
                    .iter()
                    .map(|m| serde_json::json!({ "name": m.name, "model": m.model, "tools": m.capabilities.tools }))
                    .collect();
                axum::Json(serde_json::json!({ "agents": agents }))
            }),
        )
    };
    if std::env::var_os("EDGE_LOAD_BARE_HEADERS").is_none() {
        return app;
    }
    // Attribution: the bare route with the gateway's default security headers, so the cost of
    // the bigger response (encoding, copying, the client's parsing) shows apart from the layers.
    let h = SecurityHeaders::default();
    app.layer(tower::util::MapResponseLayer::new(
        move |mut resp: axum::response::Response| {
            let headers = resp.headers_mut();
            headers.insert(http::header::CONTENT_SECURITY_POLICY, h.csp.clone());
            headers.insert(http::header::X_FRAME_OPTIONS, h.x_frame_options.clone());
            headers.insert(
                http::header::X_CONTENT_TYPE_OPTIONS,
                h.x_content_type_options.clone(),
            );
            headers.insert(
                http::header::STRICT_TRANSPORT_SECURITY,
                h.strict_transport_security.clone(),
            );
            headers.insert(http::header::REFERRER_POLICY, h.referrer_policy.clone());
            headers.insert(
                http::header::CACHE_CONTROL,
                http::HeaderValue::from_static("no-store"),
            );
            resp
        },
    ))
}

async fn servers() -> (SocketAddr, SocketAddr, tempfile::TempDir) {
    let home = tempfile::tempdir().unwrap();
    let state = state(&home);
    let runtime = state.runtime.clone();
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
    let app = bare_app(&runtime);
    tokio::spawn(async move { axum::serve(bare, app).await });
    if std::env::var_os("EDGE_LOAD_BARE_HYPER").is_some() {
        // Attribution: the bare route behind hyper's own header-read timer (a timer armed per
        // request head, which the gateway's per-connection watchdog replaced).
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            let app = bare_app(&runtime);
            loop {
                let (stream, _) = l.accept().await.unwrap();
                let svc = hyper_util::service::TowerToHyperService::new(app.clone());
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .timer(hyper_util::rt::TokioTimer::new())
                        .header_read_timeout(Duration::from_secs(10))
                        .max_buf_size(64 * 1024)
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .with_upgrades(),
                );
            }
        });
        return (full_addr, addr, home);
    }
    (full_addr, bare_addr, home)
}

/// The gateway's state as `rampart start` builds it, with two known secrets in the leak guard
/// and a rate limit no benchmark client reaches (this measures the layers, not refusals).
fn state(home: &tempfile::TempDir) -> AppState {
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
    AppState {
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
        edge: Arc::new(EdgeState::new(
            &config.edge,
            SharedLeakGuard::new(leak.build()),
            None,
        )),
        policy: None,
        reload: None,
        pairing: None,
        peers: None,
    }
}

async fn client(addr: SocketAddr, path: String) -> u64 {
    let done = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_millis(ROUND_MILLIS);
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {KEY}\r\n\r\n");
    let mut tasks = Vec::new();
    let connections =
        std::env::var("EDGE_LOAD_CONNECTIONS").map_or(CONNECTIONS, |n| n.parse().unwrap());
    for _ in 0..connections {
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
///
/// Parsed on bytes without allocating: the client shares the machine's cores with the server,
/// and a client whose cost grows with the number of response headers would charge the full
/// stack (which sends more headers) for the client's own work.
async fn read_response(s: &mut tokio::net::TcpStream, buf: &mut [u8]) {
    let mut have = 0;
    loop {
        let n = s.read(&mut buf[have..]).await.unwrap();
        assert!(n > 0, "connection closed");
        have += n;
        let text = std::str::from_utf8(&buf[..have]).unwrap();
        let Some(end) = text.find("\r\n\r\n") else {
            continue;
        };
        let head = &text[..end];
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        let len = head
            .split("\r\n")
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse::<usize>().unwrap())
            })
            .unwrap_or(0);
        if have >= end + 4 + len {
            return;
        }
    }
}
