//! `rampart agents list|create FILE|delete NAME`: talks to the running gateway over its API, so
//! the gateway stays the one owner of agent state.

use std::process::ExitCode;

use anyhow::Context;
use secrecy::ExposeSecret;

use crate::boot;
use crate::cli::AgentsCommand;
use crate::exit::CliError;
use crate::home::Home;
use crate::secrets::Secrets;

pub(crate) fn run(
    home: &Home,
    cmd: AgentsCommand,
    passphrase_stdin: bool,
) -> Result<ExitCode, CliError> {
    let config = boot::load_config(home)?;
    let key = Secrets::unlock(home, &config, passphrase_stdin)?
        .api_key(&config)?
        .ok_or_else(|| CliError::usage(anyhow::anyhow!("no api_key is configured")))?;
    let mut addr = config.api_listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let base = format!("http://{addr}");
    super::tokio_runtime()?.block_on(async move {
        let client = reqwest::Client::new();
        let bearer = format!("Bearer {}", key.expose_secret());
        let req = match cmd {
            AgentsCommand::List => client.get(format!("{base}/api/agents")),
            AgentsCommand::Create { file } => {
                let text = std::fs::read_to_string(&file)
                    .with_context(|| format!("reading {}", file.display()))?;
                client
                    .post(format!("{base}/api/agents"))
                    .header("content-type", "application/toml")
                    .body(text)
            }
            AgentsCommand::Delete { name } => client.delete(format!("{base}/api/agents/{name}")),
        };
        let resp = req
            .header("authorization", bearer)
            .send()
            .await
            .with_context(|| format!("is the gateway running? cannot reach {base}"))?;
        let status = resp.status();
        let body: serde_json::Value = resp.json().await.context("reading the gateway's answer")?;
        if !status.is_success() {
            let msg = body["error"]["message"]
                .as_str()
                .unwrap_or("request failed");
            return Err(CliError::runtime(anyhow::anyhow!("{status}: {msg}")));
        }
        match body.get("agents").and_then(|a| a.as_array()) {
            Some(agents) => {
                for a in agents {
                    println!(
                        "{}\t{}",
                        a["name"].as_str().unwrap_or("?"),
                        a["model"].as_str().unwrap_or("?")
                    );
                }
            }
            None => println!("{body}"),
        }
        Ok(ExitCode::SUCCESS)
    })
}
