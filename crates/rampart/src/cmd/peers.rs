//! `rampart peers list [--json]`: the running gateway's peer links (`GET /api/peers` with the
//! API key, like `metrics`): this node's name and key, then one line per link or configured
//! address.

use std::process::ExitCode;

use anyhow::Context;
use secrecy::ExposeSecret;

use crate::boot;
use crate::exit::CliError;
use crate::home::Home;
use crate::secrets::Secrets;

pub(crate) fn run(home: &Home, json: bool, passphrase_stdin: bool) -> Result<ExitCode, CliError> {
    let config = boot::load_config(home)?;
    let key = Secrets::unlock(home, &config, passphrase_stdin)?
        .api_key(&config)?
        .ok_or_else(|| CliError::usage(anyhow::anyhow!("no api_key is configured")))?;
    let mut addr = config.api_listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let url = format!("http://{addr}/api/peers");
    let body: serde_json::Value = super::tokio_runtime()?.block_on(async move {
        let resp = reqwest::Client::new()
            .get(&url)
            .bearer_auth(key.expose_secret())
            .send()
            .await
            .with_context(|| format!("is the gateway running? cannot reach {url}"))?;
        let status = resp.status();
        let text = resp.text().await.context("reading the gateway's answer")?;
        if !status.is_success() {
            return Err(CliError::runtime(anyhow::anyhow!("{status}: {text}")));
        }
        serde_json::from_str(&text)
            .context("the gateway's answer is not JSON")
            .map_err(CliError::runtime)
    })?;
    if json {
        println!("{body}");
        return Ok(ExitCode::SUCCESS);
    }
    let s = |v: &serde_json::Value| v.as_str().unwrap_or("-").to_owned();
    match body.get("node").filter(|n| !n.is_null()) {
        Some(n) => println!("this node: {} (key {})", s(&n["name"]), s(&n["key"])),
        None => println!("the peer network is off ([network] sets no shared_secret)"),
    }
    for p in body["peers"].as_array().into_iter().flatten() {
        let state = if p["connected"].as_bool() == Some(true) {
            "connected"
        } else {
            "down"
        };
        let seen = p["last_seen"]
            .as_i64()
            .map_or_else(|| "never".to_owned(), |t| format!("last seen {t}"));
        println!(
            "{:<20} {:<24} {:<3} {:<9} {}  key {}",
            s(&p["node"]),
            s(&p["addr"]),
            s(&p["direction"]),
            state,
            seen,
            s(&p["key"])
        );
    }
    Ok(ExitCode::SUCCESS)
}
