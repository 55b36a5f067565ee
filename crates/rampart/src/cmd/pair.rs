//! `rampart pair CHANNEL`: asks the running gateway for a pairing code
//! (`POST /api/channels/{channel}/pairing-codes`, admin) and prints it.
//!
//! It calls the gateway rather than writing the database itself so that the gateway stays the
//! one owner of channel state, the code is issued by the same pairing (and clock) that will
//! check it, and the issue is audited under the key that asked for it.

use std::process::ExitCode;

use reqwest::Method;

use super::client::GatewayClient;
use crate::exit::CliError;
use crate::home::Home;

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
    let client = GatewayClient::new(home, passphrase_stdin)?;
    let path = format!("/api/channels/{channel}/pairing-codes");
    let body = client.send_json(client.request(Method::POST, &path))?;
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
