//! `rampart peers list [--json]`: the running gateway's peer links (`GET /api/peers` with the
//! API key, like `metrics`): this node's name and key, then one line per link or configured
//! address.

use std::process::ExitCode;

use reqwest::Method;

use super::client::GatewayClient;
use crate::exit::CliError;
use crate::home::Home;

pub(crate) fn run(home: &Home, json: bool, passphrase_stdin: bool) -> Result<ExitCode, CliError> {
    let client = GatewayClient::new(home, passphrase_stdin)?;
    let body = client.send_json(client.request(Method::GET, "/api/peers"))?;
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
