//! Errors as exit codes, and logging set-up.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Mutex, OnceLock, PoisonError};

use rampart_guard::{RedactingWriter, SharedLeakGuard};

/// A failure with the exit code the contract gives it.
#[derive(Debug)]
pub(crate) struct CliError {
    code: u8,
    error: anyhow::Error,
}

impl CliError {
    /// Exit 2: the invocation or the configuration is wrong.
    pub(crate) fn usage(error: impl Into<anyhow::Error>) -> Self {
        Self {
            code: 2,
            error: error.into(),
        }
    }

    /// Exit 1: something failed while running.
    pub(crate) fn runtime(error: impl Into<anyhow::Error>) -> Self {
        Self {
            code: 1,
            error: error.into(),
        }
    }

    /// Prints the error chain to stderr and returns its exit code.
    pub(crate) fn report(self) -> ExitCode {
        eprintln!("error: {:#}", self.error);
        ExitCode::from(self.code)
    }
}

impl From<anyhow::Error> for CliError {
    fn from(error: anyhow::Error) -> Self {
        Self::runtime(error)
    }
}

/// Where log lines go besides stderr: `$RAMPART_HOME/logs/rampart.log` once `start` opens it.
pub(crate) const LOG_FILE: &str = "logs/rampart.log";
/// The size at which the log file is rotated to `rampart.log.1` (one generation kept).
///
/// # Security
/// A gateway that runs for months, or a client that provokes warnings, must not fill the disk.
pub(crate) const MAX_LOG_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// The process's log outputs: the leak guard every line passes, and the optional log file.
pub(crate) struct LogOutputs {
    /// Known secrets, swapped in once the vault is unlocked; shared with the gateway's exits.
    pub(crate) leak: SharedLeakGuard,
    file: Mutex<Option<LogFile>>,
}

struct LogFile {
    path: PathBuf,
    file: std::fs::File,
    written: u64,
}

static OUTPUTS: OnceLock<LogOutputs> = OnceLock::new();

/// The log outputs (made on first use).
pub(crate) fn log_outputs() -> &'static LogOutputs {
    OUTPUTS.get_or_init(|| LogOutputs {
        leak: SharedLeakGuard::default(),
        file: Mutex::new(None),
    })
}

fn open_append(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(path)
}

impl LogOutputs {
    /// Also writes every (redacted) line to `HOME/logs/rampart.log`, mode 0600.
    pub(crate) fn open_file(&self, home: &std::path::Path) -> std::io::Result<PathBuf> {
        let path = home.join(LOG_FILE);
        if let Some(dir) = path.parent() {
            rampart_durable::ensure_private_dir(dir)?;
        }
        let file = open_append(&path)?;
        let written = file.metadata().map(|m| m.len()).unwrap_or(0);
        *self.file.lock().unwrap_or_else(PoisonError::into_inner) = Some(LogFile {
            path: path.clone(),
            file,
            written,
        });
        Ok(path)
    }

    fn write_file(&self, line: &[u8]) {
        let mut slot = self.file.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(f) = slot.as_mut() else { return };
        if f.written + line.len() as u64 > MAX_LOG_FILE_BYTES {
            let old = f.path.with_extension("log.1");
            if std::fs::rename(&f.path, &old).is_ok()
                && let Ok(fresh) = open_append(&f.path)
            {
                f.file = fresh;
                f.written = 0;
            }
        }
        if f.file.write_all(line).is_ok() {
            f.written += line.len() as u64;
        }
    }
}

/// stderr plus the log file, written once per (already cleaned) line.
struct Tee;

impl Write for Tee {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = std::io::stderr().write_all(buf);
        log_outputs().write_file(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// One [`RedactingWriter`] per log event: every line, every level, every destination is cleaned
/// (token shapes, known secrets, control characters) before it is written (SPEC L1-L3).
struct MakeRedacting;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for MakeRedacting {
    type Writer = RedactingWriter<Tee>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter::new(Tee, Some(log_outputs().leak.clone()))
    }
}

/// Logs go to stderr (and, under `start`, to `HOME/logs/rampart.log`) through the redacting
/// writer; `--log-level` or `RAMPART_LOG` (an `EnvFilter` directive) choose the level. ANSI
/// colours are off: the writer escapes every escape sequence, so colours would only be noise.
pub(crate) fn init_logging(level: Option<&str>) {
    use tracing_subscriber::EnvFilter;
    let filter = level
        .map(EnvFilter::new)
        .or_else(|| EnvFilter::try_from_env("RAMPART_LOG").ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(MakeRedacting)
        .with_ansi(false)
        .with_target(false)
        .try_init();
}
