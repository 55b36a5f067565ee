//! `rampart logs [--level L]`: prints the gateway's log file, `HOME/logs/rampart.log` (written by
//! `rampart start` beside stderr, already redacted), keeping lines at level L or more severe.

use std::io::{BufRead, BufReader};
use std::process::ExitCode;

use anyhow::Context;

use crate::exit::{CliError, LOG_FILE};
use crate::home::Home;

const LEVELS: [&str; 5] = ["ERROR", "WARN", "INFO", "DEBUG", "TRACE"];

fn rank(level: &str) -> Option<usize> {
    LEVELS.iter().position(|l| l.eq_ignore_ascii_case(level))
}

/// The level of a log line: the first level word among its first few fields.
fn line_level(line: &str) -> Option<usize> {
    line.split_whitespace().take(3).find_map(rank)
}

pub(crate) fn run(home: &Home, level: Option<&str>) -> Result<ExitCode, CliError> {
    let max = match level {
        None => LEVELS.len() - 1,
        Some(l) => rank(l).ok_or_else(|| {
            CliError::usage(anyhow::anyhow!(
                "unknown level {l:?}: use error, warn, info, debug or trace"
            ))
        })?,
    };
    let path = home.dir.join(LOG_FILE);
    let file = std::fs::File::open(&path)
        .with_context(|| format!("reading {} (has `rampart start` run here?)", path.display()))?;
    let mut keep = false;
    for line in BufReader::new(file).lines() {
        let line = line.context("reading the log file")?;
        // A line without a level continues the previous event (never happens for our writer,
        // which keeps one event per line, but a rotated or foreign file might).
        if let Some(l) = line_level(&line) {
            keep = l <= max;
        }
        if keep {
            println!("{line}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_ranked() {
        assert_eq!(
            line_level("2026-01-01T00:00:00Z  WARN authentication failed"),
            Some(1)
        );
        assert_eq!(line_level("2026-01-01T00:00:00Z ERROR x"), Some(0));
        assert_eq!(line_level("nothing here"), None);
        assert!(rank("warn") < rank("info"));
    }
}
