//! The `rampart` command: parses arguments, loads the configuration, unlocks what must be
//! unlocked and starts things. All policy lives in the library crates; this binary is thin.
//!
//! Exit codes (CONTRACT "CLI"): 0 success, 1 runtime failure, 2 usage or configuration error,
//! 3 "found something" (scan, verify).

mod boot;
mod channels;
mod cli;
mod cmd;
mod exit;
mod home;
mod peers;
mod secrets;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    exit::init_logging(cli.log_level.as_deref());
    // TLS for outbound requests (LLM providers) uses rustls on ring; install it once.
    let _ = rustls::crypto::ring::default_provider().install_default();
    match cmd::run(cli) {
        Ok(code) => code,
        Err(e) => e.report(),
    }
}
