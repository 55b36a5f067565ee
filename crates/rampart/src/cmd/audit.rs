//! `rampart audit verify|show|export` (SPEC D3, M1). These read the files directly and need no
//! secret: verification checks signatures with a public key.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use rampart_audit::{ExportFormat, PublicKey, Query};

use crate::boot;
use crate::cli::AuditCommand;
use crate::exit::CliError;
use crate::home::Home;

/// The log path: `--path`, else `[audit] log_path` of the config, else `HOME/audit.jsonl`.
fn log_path(home: &Home, path: Option<PathBuf>) -> Result<PathBuf, CliError> {
    if let Some(p) = path {
        return Ok(p);
    }
    if home.config.exists() {
        let config = boot::load_config(home)?;
        return Ok(boot::audit_log_path(home, &config));
    }
    Ok(home.dir.join("audit.jsonl"))
}

pub(crate) fn run(home: &Home, cmd: AuditCommand) -> Result<ExitCode, CliError> {
    match cmd {
        AuditCommand::Verify {
            path,
            public_key,
            json,
        } => {
            let log = log_path(home, path)?;
            let key = public_key
                .map(|k| k.parse::<PublicKey>())
                .transpose()
                .map_err(|e| CliError::usage(anyhow::anyhow!("--public-key: {e}")))?;
            let checkpoints = rampart_audit::checkpoints_path_for(&log);
            let report = rampart_audit::verify(&log, &checkpoints, key.as_ref())
                .map_err(|e| CliError::usage(anyhow::anyhow!("{e}")))?;
            if json {
                println!("{}", report.to_json());
            } else {
                println!("{report}");
            }
            Ok(if report.is_ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(3)
            })
        }
        AuditCommand::Show {
            agent,
            filter,
            limit,
            json,
        } => {
            let log = log_path(home, None)?;
            let entries = rampart_audit::query(
                &log,
                &Query {
                    agent,
                    event: filter,
                    limit,
                },
            )
            .map_err(|e| CliError::usage(anyhow::anyhow!("{e}")))?;
            let mut out = std::io::stdout().lock();
            for e in entries {
                let line = if json {
                    serde_json::to_string(&e).unwrap_or_default()
                } else {
                    format!(
                        "{:>6}  {}  {:<20} {:<10} {:<16} {}  {}",
                        e.seq,
                        e.ts,
                        e.event,
                        e.outcome,
                        e.agent.as_deref().unwrap_or("-"),
                        e.actor,
                        e.detail.get()
                    )
                };
                if writeln!(out, "{line}").is_err() {
                    break;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Export { format } => {
            let format: ExportFormat = format
                .parse()
                .map_err(|e| CliError::usage(anyhow::anyhow!("--format: {e}")))?;
            let log = log_path(home, None)?;
            let mut out = std::io::stdout().lock();
            rampart_audit::export(&log, format, &mut out)
                .map_err(|e| CliError::runtime(anyhow::anyhow!("{e}")))?;
            let _ = out.flush();
            Ok(ExitCode::SUCCESS)
        }
    }
}
