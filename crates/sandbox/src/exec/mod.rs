//! The subprocess sandbox for `shell_exec` (SPEC T3): a command runs with a cleared environment
//! plus an explicit passthrough list, in the agent's workspace, stdin closed, in its own process
//! group (the whole group is killed on timeout and when the command ends), under resource
//! limits, and — where the kernel allows — under Landlock (read-only system paths, read-write
//! workspace, nothing else) and a seccomp filter (no sockets unless network is granted, no
//! ptrace, no leaving the process group). [`detect`] says what this kernel supports;
//! [`ExecOutput::confinement`] says what a run actually had.

mod argv;
mod confine;
mod docker;
mod limits;

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

pub use argv::{
    CommandRejection, Invocation, MAX_ARGS, MAX_COMMAND_BYTES, PROGRAM_DIRS, SHELL_LIKE,
    parse_command,
};
pub use confine::{Confinement, READ_ONLY_SYSTEM_PATHS, detect, landlock_abi, seccomp_program};
pub use docker::{
    DOCKER_PROBE_TIMEOUT, DockerOptions, DockerRunner, container_argv, docker_client,
    docker_run_argv,
};
pub use limits::ResourceLimits;

/// The longest a command may run when the caller asks for more.
///
/// # Security
/// A bound on how long one tool call holds a process tree and a session.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(300);

/// The most output bytes kept per stream; the rest is read and discarded.
///
/// # Security
/// Command output goes to the model and the store; a bound keeps one command from filling
/// either (the registry caps again before the model sees it).
pub const MAX_OUTPUT_BYTES: usize = 64 * 1024;

/// What to run and how.
#[derive(Debug, Clone)]
pub struct ExecRequest {
    /// The program (absolute) and its arguments.
    pub invocation: Invocation,
    /// The working directory: the agent's workspace. Landlock grants write access below it only.
    pub workspace: PathBuf,
    /// The whole environment the command gets (everything else is cleared).
    pub env: Vec<(String, String)>,
    /// Wall-clock limit (clamped to [`MAX_TIMEOUT`]).
    pub timeout: Duration,
    /// Output kept per stream (clamped to [`MAX_OUTPUT_BYTES`]).
    pub max_output: usize,
    /// Resource limits.
    pub limits: ResourceLimits,
    /// Whether the command may open sockets (the agent's capabilities grant network).
    pub network: bool,
    /// Run as this `(uid, gid)` instead of Rampart's own user. Recommended when Rampart runs as
    /// root, where Linux does not enforce `RLIMIT_NPROC`.
    pub run_as: Option<(u32, u32)>,
}

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    /// The exit code, when it exited.
    pub exit_code: Option<i32>,
    /// The signal that ended it, when one did.
    pub signal: Option<i32>,
    /// Standard output (UTF-8, lossy), capped.
    pub stdout: String,
    /// Standard error (UTF-8, lossy), capped.
    pub stderr: String,
    /// True when either stream was cut.
    pub truncated: bool,
    /// True when the time limit killed it.
    pub timed_out: bool,
    /// The confinement the run had.
    pub confinement: Confinement,
}

/// Why a command could not be run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExecError {
    /// The workspace does not exist or is not a directory.
    #[error("the workspace directory is missing")]
    NoWorkspace,
    /// The process could not be started.
    #[error("could not start the command: {0}")]
    Spawn(std::io::Error),
    /// The sandbox thread failed.
    #[error("the sandbox thread failed")]
    Thread,
}

/// Runs `req` and waits for it (blocking: call from a blocking context). The command is spawned
/// from a fresh thread that first confines itself with Landlock, so the caller stays unconfined.
///
/// # Errors
/// [`ExecError`].
pub fn run(req: ExecRequest) -> Result<ExecOutput, ExecError> {
    if !req.workspace.is_dir() {
        return Err(ExecError::NoWorkspace);
    }
    std::thread::Builder::new()
        .name("rampart-exec".into())
        .spawn(move || run_confined(&req))
        .map_err(ExecError::Spawn)?
        .join()
        .map_err(|_| ExecError::Thread)?
}

fn run_confined(req: &ExecRequest) -> Result<ExecOutput, ExecError> {
    // Landlock being unavailable is not an error: the result's confinement reports it.
    let landlock = confine::landlock_thread(&req.workspace).map_or("unavailable", |status| {
        confine::landlock_status_name(&status)
    });
    let filter = confine::seccomp_program(req.network).ok();
    let mut cmd = match &req.invocation {
        Invocation::Direct { program, args } => {
            let mut c = Command::new(program);
            c.args(args);
            c
        }
        Invocation::Shell { text } => {
            let mut c = Command::new("/bin/sh");
            c.arg("-c").arg(text);
            c
        }
    };
    cmd.env_clear()
        .envs(req.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&req.workspace)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    if let Some((uid, gid)) = req.run_as {
        std::os::unix::process::CommandExt::gid(&mut cmd, gid);
        std::os::unix::process::CommandExt::uid(&mut cmd, uid);
    }
    let seccomp = filter.is_some();
    limits::install(&mut cmd, req.limits, filter);
    let confinement = Confinement {
        landlock,
        landlock_abi: confine::landlock_abi(),
        seccomp,
        rlimits: true,
        container: None,
    };
    let collected = supervise(
        cmd,
        req.timeout.min(MAX_TIMEOUT),
        req.max_output.min(MAX_OUTPUT_BYTES),
        || {},
    )?;
    Ok(collected.into_output(confinement))
}

/// What [`supervise`] collected from one process.
pub(crate) struct Collected {
    status: Option<std::process::ExitStatus>,
    stdout: String,
    stderr: String,
    truncated: bool,
    timed_out: bool,
}

impl Collected {
    pub(crate) fn into_output(self, confinement: Confinement) -> ExecOutput {
        use std::os::unix::process::ExitStatusExt;
        ExecOutput {
            exit_code: self.status.and_then(|s| s.code()),
            signal: self.status.and_then(|s| s.signal()),
            stdout: self.stdout,
            stderr: self.stderr,
            truncated: self.truncated,
            timed_out: self.timed_out,
            confinement,
        }
    }
}

/// Spawns `cmd` (which must be its own process-group leader), reads both streams keeping `cap`
/// bytes each, kills the whole group at `timeout` (after calling `on_timeout`, e.g. to stop a
/// container the process manages) and when it ends.
pub(crate) fn supervise(
    mut cmd: Command,
    timeout: Duration,
    cap: usize,
    on_timeout: impl FnOnce(),
) -> Result<Collected, ExecError> {
    let mut child = cmd.spawn().map_err(ExecError::Spawn)?;
    let pgid = Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX));
    let (tx, rx) = mpsc::channel();
    for (i, stream) in [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .enumerate()
    {
        if let Some(s) = stream {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let _ = tx.send((i, read_capped(s, cap)));
            });
        }
    }
    drop(tx);
    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    let mut on_timeout = Some(on_timeout);
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) if Instant::now() >= deadline => {
                timed_out = true;
                if let Some(f) = on_timeout.take() {
                    f();
                }
                let _ = killpg(pgid, Signal::SIGKILL);
                break child.wait().ok();
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(_) => break None,
        }
    };
    // Whatever the command left running in its group dies with it.
    let _ = killpg(pgid, Signal::SIGKILL);
    let mut out = [(Vec::new(), false), (Vec::new(), false)];
    let grace = Instant::now() + Duration::from_secs(2);
    while let Ok((i, r)) = rx.recv_timeout(grace.saturating_duration_since(Instant::now())) {
        out[i] = r;
    }
    let [(so, t1), (se, t2)] = out;
    Ok(Collected {
        status,
        stdout: lossy_capped(&so, cap),
        stderr: lossy_capped(&se, cap),
        truncated: t1 || t2,
        timed_out,
    })
}

/// Reads everything, keeping the first `cap` bytes; returns them and whether more came.
fn read_capped(mut r: impl Read, cap: usize) -> (Vec<u8>, bool) {
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    let mut more = false;
    loop {
        match r.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = cap.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
                more |= n > room;
            }
        }
    }
    (kept, more)
}

/// UTF-8 (lossy) of `bytes`, cut to at most `cap` bytes on a character boundary.
#[must_use]
pub fn lossy_capped(bytes: &[u8], cap: usize) -> String {
    let s = String::from_utf8_lossy(bytes);
    if s.len() <= cap {
        return s.into_owned();
    }
    let mut end = cap;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capping_never_splits_a_character() {
        let s = "é".repeat(10);
        for cap in 0..25 {
            let out = lossy_capped(s.as_bytes(), cap);
            assert!(out.len() <= cap);
            assert!(out.chars().all(|c| c == 'é'));
        }
        assert_eq!(lossy_capped(&[0xff, b'a'], 10), "\u{fffd}a");
    }
}
