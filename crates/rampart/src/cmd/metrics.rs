//! `rampart metrics [--filter F]`: reads `/metrics` from the running gateway with the API key
//! (like `agents`), printing the Prometheus lines whose metric name contains F.

use std::process::ExitCode;

use anyhow::Context;
use secrecy::ExposeSecret;

use crate::boot;
use crate::exit::CliError;
use crate::home::Home;
use crate::secrets::Secrets;

pub(crate) fn run(
    home: &Home,
    filter: Option<&str>,
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
    let url = format!("http://{addr}/metrics");
    let text = super::tokio_runtime()?.block_on(async move {
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
        Ok(text)
    })?;
    for line in select(&text, filter) {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

/// The sample lines (and their HELP/TYPE lines) of metrics whose name contains `filter`.
fn select<'a>(text: &'a str, filter: Option<&'a str>) -> impl Iterator<Item = &'a str> {
    text.lines().filter(move |line| {
        let name = line
            .strip_prefix("# HELP ")
            .or_else(|| line.strip_prefix("# TYPE "))
            .unwrap_or(line);
        filter.is_none_or(|f| name.split([' ', '{']).next().is_some_and(|n| n.contains(f)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_keeps_matching_metrics() {
        let text = "# HELP a_total A.\n# TYPE a_total counter\na_total 1\nb_rate_limited_total{scope=\"ip\"} 2\n";
        let got: Vec<_> = select(text, Some("rate_limit")).collect();
        assert_eq!(got, ["b_rate_limited_total{scope=\"ip\"} 2"]);
        assert_eq!(select(text, None).count(), 4);
    }
}
