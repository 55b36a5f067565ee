//! `rampart pair CHANNEL`: asks the running gateway for a pairing code
//! (`POST /api/channels/{channel}/pairing-codes`, admin) and prints it.
//!
//! It calls the gateway rather than writing the database itself so that the gateway stays the
//! one owner of channel state, the code is issued by the same pairing (and clock) that will
//! check it, and the issue is audited under the key that asked for it.

use std::process::ExitCode;

use anyhow::Context;
use secrecy::ExposeSecret;

use crate::boot;
use crate::exit::CliError;
use crate::home::Home;
use crate::secrets::Secrets;

pub(crate) fn run(
    home: &Home,
    channel: &str,
    passphrase_stdin: bool,
) -> Result<ExitCode, CliError> {
    if channel.is_empty() || !channel.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
        return Err(CliError::usage(anyhow::anyhow!(
            "{channel:?} is not a channel name (e.g. telegram)"
        )));
    }
    let config = boot::load_config(home)?;
    let key = Secrets::unlock(home, &config, passphrase_stdin)?
        .api_key(&config)?
        .ok_or_else(|| CliError::usage(anyhow::anyhow!("no api_key is configured")))?;
    let mut addr = config.api_listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let url = format!("http://{addr}/api/channels/{channel}/pairing-codes");
    let body: serde_json::Value = super::tokio_runtime()?.block_on(async move {
        let resp = reqwest::Client::new()
            .post(&url)
            .bearer_auth(key.expose_secret())
            .send()
            .await
            .with_context(|| format!("is the gateway running? cannot reach {url}"))?;
        let status = resp.status();
        let body: serde_json::Value = resp.json().await.context("reading the gateway's answer")?;
        if !status.is_success() {
            let msg = body["error"]["message"]
                .as_str()
                .unwrap_or("request failed");
            return Err(CliError::runtime(anyhow::anyhow!("{status}: {msg}")));
        }
        Ok(body)
    })?;
    let code = body["code"].as_str().unwrap_or("?");
    let secs = body["expires_at"].as_i64().unwrap_or(0)
        - i64::try_from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        )
        .unwrap_or(0);
    println!("{code}");
    eprintln!(
        "Send `/pair {code}` to the bot on {channel} within {} minutes; the code works once.",
        (secs.max(0) + 59) / 60
    );
    Ok(ExitCode::SUCCESS)
}
