//! `rampart scan [FILE|-] [--kind message|skill] [--json]`: the input defense on any text.

use std::io::Read as _;
use std::process::ExitCode;

use rampart_guard::{ScanKind, scan};

use crate::cli::{ScanArgs, ScanKindArg};
use crate::exit::CliError;

/// The largest input `scan` reads.
///
/// # Security
/// A scan is linear in its input, but a pipe can be endless; 16 MiB is far above any message or
/// skill file.
const MAX_SCAN_INPUT: u64 = 16 * 1024 * 1024;

pub(crate) fn run(args: &ScanArgs) -> Result<ExitCode, CliError> {
    let mut bytes = Vec::new();
    let read = match args.file.as_deref() {
        None => std::io::stdin()
            .take(MAX_SCAN_INPUT + 1)
            .read_to_end(&mut bytes),
        Some(p) if p.as_os_str() == "-" => std::io::stdin()
            .take(MAX_SCAN_INPUT + 1)
            .read_to_end(&mut bytes),
        Some(p) => {
            std::fs::File::open(p).and_then(|f| f.take(MAX_SCAN_INPUT + 1).read_to_end(&mut bytes))
        }
    };
    read.map_err(|e| CliError::usage(anyhow::anyhow!("reading the input: {e}")))?;
    if bytes.len() as u64 > MAX_SCAN_INPUT {
        return Err(CliError::usage(anyhow::anyhow!(
            "input larger than {MAX_SCAN_INPUT} bytes"
        )));
    }
    let text = String::from_utf8_lossy(&bytes);
    let kind = match args.kind {
        ScanKindArg::Message => ScanKind::Message,
        ScanKindArg::Skill => ScanKind::Skill,
    };
    let report = scan(&text, kind);
    if args.json {
        let json = serde_json::to_string(&report)
            .map_err(|e| CliError::runtime(anyhow::anyhow!("{e}")))?;
        println!("{json}");
    } else if report.findings.is_empty() {
        println!("clean");
    } else {
        for f in &report.findings {
            let excerpt: String = text
                .get(f.span[0]..f.span[1])
                .unwrap_or("")
                .chars()
                .take(80)
                .collect();
            println!(
                "{}: {:?} at {}..{}: {:?}",
                f.category.as_str(),
                f.pattern,
                f.span[0],
                f.span[1],
                excerpt
            );
        }
    }
    Ok(if report.is_injection() {
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    })
}
