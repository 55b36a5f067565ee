//! `rampart start`: the gateway in the foreground.

use std::process::ExitCode;

use anyhow::Context;

use crate::boot;
use crate::exit::CliError;
use crate::home::Home;
use crate::secrets::Secrets;

pub(crate) fn run(home: &Home, passphrase_stdin: bool) -> Result<ExitCode, CliError> {
    let config = boot::load_config(home)?;
    // The vault is unlocked once, here; its values live in this process only.
    let mut secrets = Secrets::unlock(home, &config, passphrase_stdin)?;
    let prepared = boot::prepare(home, &config, &mut secrets)?;
    super::tokio_runtime()?.block_on(async move {
        let listener = tokio::net::TcpListener::bind(prepared.listen)
            .await
            .with_context(|| format!("binding {}", prepared.listen))?;
        let addr = listener.local_addr().context("reading the bound address")?;
        eprintln!("listening on http://{addr}");
        prepared.serve(listener, boot::shutdown_signal()).await?;
        Ok::<_, CliError>(ExitCode::SUCCESS)
    })
}
