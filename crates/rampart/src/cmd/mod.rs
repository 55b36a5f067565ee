//! One module per subcommand.

mod agents;
mod audit;
mod client;
mod demo;
mod doctor;
mod init;
mod keygen;
mod logs;
mod metrics;
mod pair;
mod peers;
#[cfg(feature = "plugins")]
pub(crate) mod plugins;
mod scan;
mod start;
mod vault;

use std::process::ExitCode;

use crate::cli::{Cli, Command};
use crate::exit::CliError;
use crate::home::Home;

/// Runs the parsed command.
pub(crate) fn run(cli: Cli) -> Result<ExitCode, CliError> {
    let home = || Home::resolve(cli.home.clone(), cli.config.clone()).map_err(CliError::usage);
    let stdin = cli.passphrase_stdin;
    match cli.command {
        Command::Keygen { hash } => keygen::run(hash),
        Command::Start => start::run(&home()?, stdin),
        Command::Demo => demo::run(),
        Command::Doctor => doctor::run(&home()?),
        Command::Agents(cmd) => agents::run(&home()?, cmd, stdin),
        Command::Init(ref args) => init::run(&home()?, args, stdin),
        Command::Vault(cmd) => vault::run(&home()?, cmd, stdin),
        Command::Audit(cmd) => audit::run(&home()?, cmd),
        #[cfg(feature = "plugins")]
        Command::Plugins(cmd) => plugins::run(&home()?, cmd),
        Command::Scan(ref args) => scan::run(args),
        Command::Metrics { ref filter } => metrics::run(&home()?, filter.as_deref(), stdin),
        Command::Pair { ref channel } => pair::run(&home()?, channel, stdin),
        Command::Peers(crate::cli::PeersCommand::List { json }) => {
            peers::run(&home()?, json, stdin)
        }
        Command::Logs { ref level } => logs::run(&home()?, level.as_deref()),
    }
}

/// A multi-threaded tokio runtime for commands that need one.
pub(crate) fn tokio_runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::runtime(anyhow::anyhow!("starting the async runtime: {e}")))
}
