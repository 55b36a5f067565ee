//! Helpers shared by the binary's integration tests: a home made by `rampart init`, the real
//! gateway started on a free loopback port, and an HTTP client.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    dead_code,
    unreachable_pub,
    reason = "test helpers: a failure is a test failure; not every test file uses every helper"
)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

pub mod channels;

pub const PASS: &str = "integration test passphrase";

/// A running `rampart start`, killed on drop.
pub struct Gateway {
    pub child: Child,
    pub addr: SocketAddr,
}

impl Gateway {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stops it with SIGTERM (a clean shutdown) and waits.
    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP client (reqwest here is built on rustls with the ring provider, installed once).
pub fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

pub fn rampart(home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rampart"));
    cmd.arg("--home")
        .arg(home)
        .env("RAMPART_VAULT_PASSPHRASE", PASS)
        .env_remove("RAMPART_API_KEY")
        .env_remove("RAMPART_LOG");
    cmd
}

/// Runs `cmd`, asserts it succeeded (showing its stderr if not) and returns its stdout.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A home made by `rampart init` (a vault holding the API key and the audit key), its config
/// then pointed at the fake LLM, and one agent, `assistant`, allowed `clock`.
pub struct TestHome {
    pub dir: tempfile::TempDir,
    pub key: String,
}

impl TestHome {
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

pub fn make_home(llm_base: &str, extra_config: &str) -> TestHome {
    let dir = tempfile::tempdir().unwrap();
    let stdout = run_ok(
        rampart(dir.path())
            .args(["init", "--non-interactive"])
            .stdin(Stdio::null()),
    );
    let key = stdout
        .lines()
        .skip_while(|l| !l.starts_with("API key"))
        .nth(1)
        .unwrap()
        .trim()
        .to_owned();
    write_config(dir.path(), llm_base, extra_config);
    std::fs::write(
        dir.path()
            .join("agents")
            .join("assistant")
            .join("agent.toml"),
        "name = \"assistant\"\nmodel = \"default/gpt-test\"\nsystem_prompt = \"Be brief.\"\n\
         [capabilities]\ntools = [\"clock\"]\n",
    )
    .unwrap();
    TestHome { dir, key }
}

/// Writes the config.toml of `home` as [`make_home`] does: the API key from the vault, a free
/// loopback port, `extra_config`, and the provider `default` at `llm_base`.
pub fn write_config(home: &Path, llm_base: &str, extra_config: &str) {
    std::fs::write(
        home.join("config.toml"),
        format!(
            "api_key = \"vault:api_key\"\napi_listen = \"127.0.0.1:0\"\n{extra_config}\n\
             [providers.default]\nkind = \"openai\"\nbase_url = \"{llm_base}\"\n"
        ),
    )
    .unwrap();
}

/// Points the CLI of `home` at `gw` (it finds the gateway at `api_listen`: the port it took).
pub fn point_cli_at(home: &Path, gw: &Gateway) {
    let config = home.join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "api_listen = \"127.0.0.1:0\"",
        &format!("api_listen = \"{}\"", gw.addr),
    );
    std::fs::write(&config, text).unwrap();
}

/// Starts `rampart start` and waits for its `listening on http://ADDR` line.
pub fn start(home: &Path) -> Gateway {
    start_with_env(home, &[])
}

/// [`start`] with extra environment variables for the gateway process.
pub fn start_with_env(home: &Path, env: &[(&str, &str)]) -> Gateway {
    let mut cmd = rampart(home);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .arg("start")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix("listening on http://") {
                let _ = tx.send(addr.trim().to_owned());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the gateway printed `listening on http://ADDR`");
    Gateway {
        child,
        addr: addr.parse().unwrap(),
    }
}

pub async fn send(req: reqwest::RequestBuilder) -> (u16, reqwest::header::HeaderMap, Value) {
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, headers, body)
}

pub fn assert_security_headers(h: &reqwest::header::HeaderMap) {
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "strict-origin-when-cross-origin");
    assert!(
        h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'self'")
    );
    assert!(
        h["strict-transport-security"]
            .to_str()
            .unwrap()
            .starts_with("max-age=")
    );
}

/// Rewrites the `assistant` agent's manifest with these tools (and the provider `default`).
pub fn set_agent_tools(home: &Path, tools: &[&str]) {
    let list = tools
        .iter()
        .map(|t| format!("\"{t}\""))
        .collect::<Vec<_>>()
        .join(", ");
    std::fs::write(
        home.join("agents").join("assistant").join("agent.toml"),
        format!(
            "name = \"assistant\"\nmodel = \"default/gpt-test\"\nsystem_prompt = \"Be brief.\"\n\
             [capabilities]\ntools = [{list}]\nmax_file_writes = 10\n"
        ),
    )
    .unwrap();
}

/// A loopback HTTP server that counts every connection it accepts: any hit means a fetch got
/// somewhere it must not.
pub struct Canary {
    pub addr: SocketAddr,
    hits: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Canary {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = hits.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::spawn(async move {
                    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
                    let mut buf = [0u8; 4096];
                    let _ = sock.read(&mut buf).await;
                    let body = "canary secret page";
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = sock.write_all(resp.as_bytes()).await;
                });
            }
        });
        Self { addr, hits }
    }

    pub fn hits(&self) -> usize {
        self.hits.load(std::sync::atomic::Ordering::SeqCst)
    }
}
