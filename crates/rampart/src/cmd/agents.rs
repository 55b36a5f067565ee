//! `rampart agents list|create FILE|delete NAME`: talks to the running gateway over its API, so
//! the gateway stays the one owner of agent state.

use std::process::ExitCode;

use anyhow::Context;
use reqwest::Method;

use super::client::GatewayClient;
use crate::cli::AgentsCommand;
use crate::exit::CliError;
use crate::home::Home;

pub(crate) fn run(
    home: &Home,
    cmd: AgentsCommand,
    passphrase_stdin: bool,
) -> Result<ExitCode, CliError> {
    let client = GatewayClient::new(home, passphrase_stdin)?;
    let req = match cmd {
        AgentsCommand::List => client.request(Method::GET, "/api/agents"),
        AgentsCommand::Create { file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))
                .map_err(CliError::runtime)?;
            client
                .request(Method::POST, "/api/agents")
                .header("content-type", "application/toml")
                .body(text)
        }
        AgentsCommand::Delete { name } => {
            client.request(Method::DELETE, &format!("/api/agents/{name}"))
        }
    };
    let body = client.send_json(req)?;
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
}
