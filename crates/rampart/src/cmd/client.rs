//! The one way CLI commands talk to a running gateway: its API on `api_listen` (loopback when the
//! gateway listens on every address), with the API key from the vault as a bearer token.
//!
//! `agents`, `metrics`, `pair` and `peers` go through the gateway instead of touching its state
//! themselves, so the gateway stays the one owner of that state and every action is authorized
//! and audited there, under the key that asked.

use anyhow::Context;
use reqwest::{Method, RequestBuilder};
use secrecy::{ExposeSecret, SecretString};

use crate::boot;
use crate::exit::CliError;
use crate::home::Home;
use crate::secrets::Secrets;

/// A client for the gateway described by the home's config.
pub(crate) struct GatewayClient {
    base: String,
    key: SecretString,
    http: reqwest::Client,
}

impl GatewayClient {
    /// Reads the config and unlocks the vault for the API key.
    pub(crate) fn new(home: &Home, passphrase_stdin: bool) -> Result<Self, CliError> {
        let config = boot::load_config(home)?;
        let key = Secrets::unlock(home, &config, passphrase_stdin)?
            .api_key(&config)?
            .ok_or_else(|| CliError::usage(anyhow::anyhow!("no api_key is configured")))?;
        let mut addr = config.api_listen;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        Ok(Self {
            base: format!("http://{addr}"),
            key,
            http: reqwest::Client::new(),
        })
    }

    /// A request to `path` (starting with `/`), not yet authorized.
    pub(crate) fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, format!("{}{path}", self.base))
    }

    /// Sends `req` with the API key and returns the body of a successful answer. A refusal
    /// becomes a runtime error with the status and the contract error's message.
    pub(crate) fn send_text(&self, req: RequestBuilder) -> Result<String, CliError> {
        let base = self.base.clone();
        let req = req.bearer_auth(self.key.expose_secret());
        super::tokio_runtime()?.block_on(async move {
            let resp = req
                .send()
                .await
                .with_context(|| format!("is the gateway running? cannot reach {base}"))?;
            let status = resp.status();
            let text = resp.text().await.context("reading the gateway's answer")?;
            if status.is_success() {
                return Ok(text);
            }
            let message = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|b| b["error"]["message"].as_str().map(str::to_owned))
                .unwrap_or(text);
            Err(CliError::runtime(anyhow::anyhow!("{status}: {message}")))
        })
    }

    /// [`Self::send_text`] for an answer that must be JSON.
    pub(crate) fn send_json(&self, req: RequestBuilder) -> Result<serde_json::Value, CliError> {
        let text = self.send_text(req)?;
        serde_json::from_str(&text)
            .context("the gateway's answer is not JSON")
            .map_err(CliError::runtime)
    }
}
