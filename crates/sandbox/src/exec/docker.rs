//! The Docker option (SPEC T4): the exact `docker run` argv built from `[security.docker]`.
//! No Docker engine runs on Rampart's build machines, so this is tested as an argv; it is run
//! for real only where `docker version` answers.

use std::path::Path;

/// `[security.docker]` as the sandbox needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct DockerOptions {
    /// The image.
    pub image: String,
    /// `--network` (secure default `none`).
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

/// The argv (starting with `docker`) that runs `argv` in a throwaway container: no network
/// (unless configured), read-only root, memory/CPU/pids limits, all capabilities dropped,
/// no new privileges, the workspace mounted read-write at `/workspace` and nothing else, a
/// cleared environment plus `env`, a small writable `/tmp`.
#[must_use]
pub fn docker_run_argv(
    opts: &DockerOptions,
    workspace: &Path,
    env: &[(String, String)],
    argv: &[String],
) -> Vec<String> {
    let mut v: Vec<String> = ["docker", "run", "--rm", "-i=false", "--init"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
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
