//! The Docker option (SPEC T4): the exact `docker run` argv built from `[security.docker]`, and a
//! [`DockerRunner`] that runs it. Whether a Docker engine answers is probed once, at start-up
//! ([`DockerRunner::detect`], bounded by [`DOCKER_PROBE_TIMEOUT`]); where none answers, the
//! caller must refuse commands rather than run them with less isolation than configured.
//! No Docker engine runs on Rampart's build machines: the argv is tested exactly, and the run
//! path is tested against a stand-in `docker` program that records what it was given.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::argv::PROGRAM_DIRS;
use super::{Confinement, ExecError, ExecOutput, ExecRequest, Invocation, MAX_OUTPUT_BYTES};
use super::{MAX_TIMEOUT, supervise};

/// How long the start-up probe (`docker version`) may take before the engine counts as absent.
///
/// # Security
/// A hung engine socket must not hang start-up or `rampart doctor`.
pub const DOCKER_PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// How long `docker kill` may take when a command timed out.
const KILL_TIMEOUT: Duration = Duration::from_secs(10);

/// The client's own environment variables passed to it (where the engine is, its config); the
/// command in the container gets only [`ExecRequest::env`].
const CLIENT_ENV: &[&str] = &["DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_CONFIG", "HOME"];

/// `[security.docker]` as the sandbox needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct DockerOptions {
    /// The image.
    pub image: String,
    /// `--network` when the agent's capabilities grant the shell network (`none` otherwise,
    /// whatever this says; secure default `none`).
    pub network: String,
    /// `--memory`, e.g. `512m`.
    pub memory_limit: String,
    /// `--cpus`.
    pub cpu_limit: f64,
    /// `--read-only` root file system.
    pub read_only_root: bool,
    /// `--pids-limit`.
    pub pids_limit: u32,
}

/// The argv (starting with `docker`) that runs `argv` in a throwaway container named `name`: no
/// network (unless configured), read-only root, memory/CPU/pids limits, all capabilities
/// dropped, no new privileges, the workspace mounted read-write at `/workspace` and nothing
/// else, a cleared environment plus `env`, a small writable `/tmp`.
#[must_use]
pub fn docker_run_argv(
    opts: &DockerOptions,
    name: &str,
    workspace: &Path,
    env: &[(String, String)],
    argv: &[String],
) -> Vec<String> {
    let mut v: Vec<String> = ["docker", "run", "--rm", "-i=false", "--init"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    v.push(format!("--name={name}"));
    v.push(format!("--network={}", opts.network));
    v.push(format!("--memory={}", opts.memory_limit));
    v.push(format!("--memory-swap={}", opts.memory_limit));
    v.push(format!("--cpus={}", opts.cpu_limit));
    v.push(format!("--pids-limit={}", opts.pids_limit));
    if opts.read_only_root {
        v.push("--read-only".into());
    }
    v.extend(
        [
            "--cap-drop=ALL",
            "--security-opt=no-new-privileges",
            "--tmpfs=/tmp:rw,noexec,nosuid,size=64m",
            "--workdir=/workspace",
        ]
        .iter()
        .map(|s| (*s).to_owned()),
    );
    v.push(format!(
        "--mount=type=bind,source={},target=/workspace",
        workspace.display()
    ));
    for (k, val) in env {
        v.push("--env".into());
        v.push(format!("{k}={val}"));
    }
    v.push("--".into());
    v.push(opts.image.clone());
    v.extend(argv.iter().cloned());
    v
}

/// The command as the container runs it: a direct invocation by its bare program name (the
/// allowlist was checked on it; the image's `PATH` finds it), a shell one as `/bin/sh -c TEXT`.
#[must_use]
pub fn container_argv(invocation: &Invocation) -> Vec<String> {
    match invocation {
        Invocation::Direct { program, args } => {
            let name = program.file_name().map_or_else(
                || program.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            std::iter::once(name).chain(args.iter().cloned()).collect()
        }
        Invocation::Shell { text } => vec!["/bin/sh".into(), "-c".into(), text.clone()],
    }
}

/// The `docker` client in [`PROGRAM_DIRS`], if installed.
#[must_use]
pub fn docker_client() -> Option<PathBuf> {
    PROGRAM_DIRS
        .iter()
        .map(|d| Path::new(d).join("docker"))
        .find(|p| p.is_file())
}

fn client_command(client: &Path) -> Command {
    let mut cmd = Command::new(client);
    cmd.env_clear()
        .env("PATH", PROGRAM_DIRS.join(":"))
        .envs(
            CLIENT_ENV
                .iter()
                .filter_map(|k| std::env::var(k).ok().map(|v| (*k, v))),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    cmd
}

/// The first line of `text`, printable characters only, at most 200 of them.
fn one_line(text: &str) -> String {
    text.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect()
}

/// Runs commands in containers through a Docker engine that answered at start-up.
#[derive(Debug, Clone)]
pub struct DockerRunner {
    client: PathBuf,
    engine: String,
    opts: DockerOptions,
}

impl DockerRunner {
    /// Probes the engine through `client` (`docker version --format {{.Server.Version}}`, at
    /// most `timeout`) and returns a runner when it answers.
    ///
    /// # Errors
    /// Why no engine is usable, in one line: no client, the probe timed out, or the engine did
    /// not answer (the client's own first line of error).
    pub fn detect(
        client: Option<PathBuf>,
        opts: DockerOptions,
        timeout: Duration,
    ) -> Result<Self, String> {
        let client = client
            .ok_or_else(|| format!("no docker client found in {}", PROGRAM_DIRS.join(", ")))?;
        let mut cmd = client_command(&client);
        cmd.args(["version", "--format", "{{.Server.Version}}"]);
        let out = supervise(cmd, timeout, 4096, || {})
            .map_err(|e| format!("could not run {}: {e}", client.display()))?
            .into_output(Confinement::default_unconfined());
        if out.timed_out {
            return Err(format!(
                "the Docker engine did not answer within {} s",
                timeout.as_secs()
            ));
        }
        let version = one_line(&out.stdout);
        if out.exit_code != Some(0) || version.is_empty() {
            let why = one_line(&out.stderr);
            return Err(if why.is_empty() {
                "the Docker engine did not answer".to_owned()
            } else {
                format!("the Docker engine did not answer: {why}")
            });
        }
        Ok(Self {
            client,
            engine: version.chars().take(64).collect(),
            opts,
        })
    }

    /// The engine's version, as it answered the probe.
    #[must_use]
    pub fn engine_version(&self) -> &str {
        &self.engine
    }

    /// The options with the network the request is granted: the configured one only when
    /// [`ExecRequest::network`] is set, `none` otherwise.
    fn effective(&self, network: bool) -> DockerOptions {
        let mut o = self.opts.clone();
        if !network {
            o.network = "none".to_owned();
        }
        o
    }

    /// The exact argv [`DockerRunner::run`] executes for `req` in a container named `name`
    /// (`argv[0]` is the client's path).
    #[must_use]
    pub fn argv(&self, req: &ExecRequest, name: &str) -> Vec<String> {
        let mut v = docker_run_argv(
            &self.effective(req.network),
            name,
            &req.workspace,
            &req.env,
            &container_argv(&req.invocation),
        );
        v[0] = self.client.display().to_string();
        v
    }

    /// Runs `req` in a fresh container and waits for it (blocking). On timeout the container is
    /// killed by name (`docker kill`), then the client's process group.
    ///
    /// # Errors
    /// [`ExecError`].
    pub fn run(&self, req: &ExecRequest) -> Result<ExecOutput, ExecError> {
        if !req.workspace.is_dir() {
            return Err(ExecError::NoWorkspace);
        }
        let name = format!("rampart-{:016x}", rand::random::<u64>());
        let argv = self.argv(req, &name);
        let mut cmd = client_command(&self.client);
        cmd.args(&argv[1..]).current_dir(&req.workspace);
        let client = self.client.clone();
        let kill_name = name.clone();
        let collected = supervise(
            cmd,
            req.timeout.min(MAX_TIMEOUT),
            req.max_output.min(MAX_OUTPUT_BYTES),
            move || {
                let mut kill = client_command(&client);
                kill.args(["kill", &kill_name]);
                let _ = supervise(kill, KILL_TIMEOUT, 1024, || {});
            },
        )?;
        let o = self.effective(req.network);
        let container = format!(
            "docker {}, image {}, network={}, {}root, memory={}, cpus={}, pids={}, cap-drop ALL, \
             no-new-privileges",
            self.engine,
            o.image,
            o.network,
            if o.read_only_root {
                "read-only "
            } else {
                "writable "
            },
            o.memory_limit,
            o.cpu_limit,
            o.pids_limit,
        );
        Ok(collected.into_output(Confinement {
            container: Some(container),
            ..Confinement::default_unconfined()
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_is_exactly_the_confined_invocation() {
        let opts = DockerOptions {
            image: "python:3.12-slim".into(),
            network: "none".into(),
            memory_limit: "512m".into(),
            cpu_limit: 1.0,
            read_only_root: true,
            pids_limit: 100,
        };
        let argv = docker_run_argv(
            &opts,
            "rampart-0123456789abcdef",
            Path::new("/home/u/.rampart/workspace/ops"),
            &[("LANG".into(), "C.UTF-8".into())],
            &["ls".into(), "-l; rm -rf /".into()],
        );
        assert_eq!(
            argv,
            [
                "docker",
                "run",
                "--rm",
                "-i=false",
                "--init",
                "--name=rampart-0123456789abcdef",
                "--network=none",
                "--memory=512m",
                "--memory-swap=512m",
                "--cpus=1",
                "--pids-limit=100",
                "--read-only",
                "--cap-drop=ALL",
                "--security-opt=no-new-privileges",
                "--tmpfs=/tmp:rw,noexec,nosuid,size=64m",
                "--workdir=/workspace",
                "--mount=type=bind,source=/home/u/.rampart/workspace/ops,target=/workspace",
                "--env",
                "LANG=C.UTF-8",
                "--",
                "python:3.12-slim",
                "ls",
                "-l; rm -rf /",
            ]
        );
    }
}
