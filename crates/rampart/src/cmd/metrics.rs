//! `rampart metrics [--filter F]`: reads `/metrics` from the running gateway with the API key
//! (like `agents`), printing the Prometheus lines whose metric name contains F.

use std::process::ExitCode;

use reqwest::Method;

use super::client::GatewayClient;
use crate::exit::CliError;
use crate::home::Home;

pub(crate) fn run(
    home: &Home,
    filter: Option<&str>,
    passphrase_stdin: bool,
) -> Result<ExitCode, CliError> {
    let client = GatewayClient::new(home, passphrase_stdin)?;
    let text = client.send_text(client.request(Method::GET, "/metrics"))?;
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
