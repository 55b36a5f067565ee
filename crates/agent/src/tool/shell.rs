//! `shell_exec` (SPEC T3): a thin wrapper over [`rampart_sandbox::exec`]. The command text is split
//! into argv and an allowlisted program runs directly (a shell only when the configuration allows
//! one), with a cleared environment plus an explicit passthrough list, in the agent's workspace,
//! stdin closed, its own process group killed on timeout, rlimits, and Landlock and seccomp where
//! the kernel has them. The result says which confinement the run actually had.
//!
//! Sockets only with the agent's `[capabilities] shell_network = true`: without it (the default)
//! the seccomp filter refuses `socket()`, and a container runs with `--network=none`. A socket
//! from a shell walks past `web_fetch`'s host list and address checks, so the grant is separate
//! from `network` and is cut down like every other capability on `agent_spawn`.
//!
//! With `[security.docker] enabled`, commands run in a throwaway container instead
//! ([`ShellBackend::Docker`]) when a Docker engine answered at start-up; when none did, every
//! call is refused ([`ShellBackend::DockerUnavailable`]) rather than run with less isolation
//! than configured.

use std::time::Duration;

use rampart_sandbox::exec::{self, DockerRunner, ExecRequest, ResourceLimits};

use super::{Tool, ToolContext, ToolError, ToolOutput, ToolRisk};

/// The `PATH` commands see (programs are resolved to absolute paths before they run; this is for
/// programs that look up others).
pub const SHELL_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// How `shell_exec` runs commands (`[security.shell]`, `[security.docker]`).
#[derive(Clone, Debug)]
pub struct ShellOptions {
    /// Bare program names that may be argv\[0\].
    pub allowed_programs: Vec<String>,
    /// Whether command text may go to `/bin/sh -c`.
    pub allow_shell: bool,
    /// Names of Rampart's environment variables a command sees (everything else is cleared).
    pub env_passthrough: Vec<String>,
    /// The longest a command runs (a call's `timeout_secs` can only shorten it).
    pub timeout: Duration,
    /// Resource limits per command.
    pub limits: ResourceLimits,
    /// Where commands run.
    pub backend: ShellBackend,
}

/// Where `shell_exec` runs commands.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub enum ShellBackend {
    /// The process sandbox (`[security.docker]` off).
    #[default]
    Process,
    /// A container through the Docker engine that answered at start-up.
    Docker(DockerRunner),
    /// `[security.docker] enabled`, but no engine answered at start-up (the reason): every call
    /// is refused.
    DockerUnavailable(String),
}

impl Default for ShellOptions {
    fn default() -> Self {
        Self {
            allowed_programs: Vec::new(),
            allow_shell: false,
            env_passthrough: Vec::new(),
            timeout: Duration::from_secs(30),
            limits: ResourceLimits::default(),
            backend: ShellBackend::Process,
        }
    }
}

/// `shell_exec {"command", "timeout_secs"?}`.
#[derive(Clone, Debug, Default)]
pub struct ShellTool {
    opts: ShellOptions,
}

impl ShellTool {
    /// The tool with `opts`.
    #[must_use]
    pub fn new(opts: ShellOptions) -> Self {
        Self { opts }
    }

    /// The environment a command gets: `PATH`, `HOME` (the workspace) and the passthrough list.
    fn env(&self, ctx: &ToolContext) -> Vec<(String, String)> {
        let mut env = vec![
            ("PATH".to_owned(), SHELL_PATH.to_owned()),
            ("HOME".to_owned(), ctx.workspace.display().to_string()),
            ("LANG".to_owned(), "C.UTF-8".to_owned()),
        ];
        for name in &self.opts.env_passthrough {
            if let Ok(v) = std::env::var(name) {
                env.retain(|(k, _)| k != name);
                env.push((name.clone(), v));
            }
        }
        env
    }
}

#[async_trait::async_trait]
impl Tool for ShellTool {
    fn name(&self) -> &str {
        "shell_exec"
    }

    fn description(&self) -> &str {
        "Runs one command in the agent's workspace (an allowlisted program with arguments; no \
         shell; no network unless granted) and returns its exit status and output."
    }

    fn parameters(&self) -> serde_json::Value {
        serde_json::json!({
            "type": "object",
            "properties": {
                "command": {"type": "string", "description": "program and arguments, e.g. `ls -l`"},
                "timeout_secs": {"type": "integer", "minimum": 1}
            },
            "required": ["command"],
            "additionalProperties": false
        })
    }

    fn risk(&self) -> ToolRisk {
        ToolRisk::Exec
    }

    async fn call(
        &self,
        ctx: &ToolContext,
        args: serde_json::Value,
    ) -> Result<ToolOutput, ToolError> {
        if let ShellBackend::DockerUnavailable(why) = &self.opts.backend {
            return Err(ToolError::Failed(format!(
                "[security.docker] enabled = true, but no Docker engine answered at start-up \
                 ({why}); refusing rather than running with less isolation"
            )));
        }
        let command = args
            .get("command")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| ToolError::InvalidInput("`command` (a string) is required".into()))?;
        let timeout = match args.get("timeout_secs") {
            None | Some(serde_json::Value::Null) => self.opts.timeout,
            Some(v) => {
                let secs = v.as_u64().filter(|s| *s > 0).ok_or_else(|| {
                    ToolError::InvalidInput("`timeout_secs` must be a positive integer".into())
                })?;
                Duration::from_secs(secs).min(self.opts.timeout)
            }
        };
        let invocation =
            exec::parse_command(command, &self.opts.allowed_programs, self.opts.allow_shell)
                .map_err(|e| ToolError::InvalidInput(e.to_string()))?;
        let req = ExecRequest {
            invocation,
            workspace: ctx.workspace.clone(),
            env: self.env(ctx),
            timeout,
            max_output: exec::MAX_OUTPUT_BYTES,
            limits: self.opts.limits,
            network: ctx.capabilities.shell_network,
            run_as: None,
        };
        let backend = self.opts.backend.clone();
        let out = tokio::task::spawn_blocking(move || match backend {
            ShellBackend::Docker(docker) => docker.run(&req),
            _ => exec::run(req),
        })
        .await
        .map_err(|_| ToolError::Failed("the sandbox task failed".into()))?
        .map_err(|e| ToolError::Failed(e.to_string()))?;
        let status = if out.timed_out {
            format!(
                "timed out after {}s; the process group was killed",
                timeout.as_secs()
            )
        } else {
            match (out.exit_code, out.signal) {
                (Some(c), _) => format!("exit code {c}"),
                (None, Some(s)) => format!("killed by signal {s}"),
                (None, None) => "ended without a status".to_owned(),
            }
        };
        let body = format!(
            "stdout:\n{}\nstderr:\n{}{}",
            out.stdout,
            out.stderr,
            if out.truncated {
                "\n(output truncated)"
            } else {
                ""
            }
        );
        let wrapped = rampart_guard::wrap_untrusted("shell_exec", &body).wrapped;
        Ok(ToolOutput::text(format!(
            "{status}\nconfinement: {}\n{wrapped}",
            out.confinement.summary()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Capabilities;

    fn ctx(dir: &std::path::Path) -> ToolContext {
        ToolContext::new(
            "ops".parse().unwrap(),
            "s1".parse().unwrap(),
            dir.to_path_buf(),
            Capabilities::default(),
        )
    }

    fn tool(programs: &[&str]) -> ShellTool {
        ShellTool::new(ShellOptions {
            allowed_programs: programs.iter().map(|s| (*s).to_owned()).collect(),
            ..ShellOptions::default()
        })
    }

    #[tokio::test]
    async fn runs_an_allowed_program_and_says_which_confinement() {
        let dir = tempfile::tempdir().unwrap();
        let out = tool(&["echo"])
            .call(&ctx(dir.path()), serde_json::json!({"command": "echo hi"}))
            .await
            .unwrap();
        assert!(out.content.starts_with("exit code 0"), "{}", out.content);
        assert!(
            out.content.contains("confinement: landlock="),
            "{}",
            out.content
        );
        assert!(out.content.contains("hi"), "{}", out.content);
    }

    #[tokio::test]
    async fn env_sh_walks_not_past_the_allowlist() {
        let dir = tempfile::tempdir().unwrap();
        for cmd in ["env sh -c id", "sh -c id", "rm -rf /", "echo a; id"] {
            let r = tool(&["echo", "env", "sh"])
                .call(&ctx(dir.path()), serde_json::json!({"command": cmd}))
                .await;
            match r {
                // `echo a; id` is one echo with literal arguments: no shell ran `id`.
                Ok(out) => assert!(out.content.contains("a; id"), "{cmd}: {}", out.content),
                Err(e) => assert!(matches!(e, ToolError::InvalidInput(_)), "{cmd}: {e}"),
            }
        }
    }

    #[tokio::test]
    async fn gateway_environment_is_not_inherited() {
        let dir = tempfile::tempdir().unwrap();
        // PATH is set by the sandbox; any variable of the parent other than the passthrough list
        // must not show up.
        let out = tool(&["env"])
            .call(&ctx(dir.path()), serde_json::json!({"command": "printenv"}))
            .await;
        // `printenv` is not allowed; `env` is shell-like: both refused, nothing leaks.
        assert!(out.is_err());
        let t = ShellTool::new(ShellOptions {
            allowed_programs: vec!["printenv".into()],
            ..ShellOptions::default()
        });
        let out = t
            .call(&ctx(dir.path()), serde_json::json!({"command": "printenv"}))
            .await
            .unwrap();
        assert!(out.content.contains("PATH="), "{}", out.content);
        assert!(!out.content.contains("CARGO"), "{}", out.content);
    }

    #[tokio::test]
    async fn docker_without_an_engine_refuses_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let t = ShellTool::new(ShellOptions {
            allowed_programs: vec!["echo".into()],
            backend: ShellBackend::DockerUnavailable("no docker client found".into()),
            ..ShellOptions::default()
        });
        let r = t
            .call(&ctx(dir.path()), serde_json::json!({"command": "echo x"}))
            .await;
        assert!(
            matches!(&r, Err(ToolError::Failed(m)) if m.contains("no Docker engine answered")),
            "{r:?}"
        );
    }

    /// A loopback server that answers one HTTP request; returns its port.
    fn one_shot_server() -> u16 {
        use std::io::{Read, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = l.accept() {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf);
                let _ = s.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\nconnection: close\r\n\r\nreached-1",
                );
            }
        });
        port
    }

    #[tokio::test]
    async fn sockets_only_with_the_shell_network_grant() {
        let dir = tempfile::tempdir().unwrap();
        let t = tool(&["curl"]);
        let port = one_shot_server();
        let cmd = serde_json::json!({
            "command": format!("curl -s --max-time 5 http://127.0.0.1:{port}/")
        });
        if exec::detect().seccomp {
            let out = t.call(&ctx(dir.path()), cmd.clone()).await.unwrap();
            assert!(!out.content.contains("reached-1"), "{}", out.content);
            assert!(!out.content.starts_with("exit code 0"), "{}", out.content);
        } else {
            eprintln!("seccomp unavailable here: sockets are not refused");
        }
        let mut granted = ctx(dir.path());
        granted.capabilities.shell_network = true;
        // Without the grant the server was never reached: its one answer is still there.
        let out = t.call(&granted, cmd).await.unwrap();
        assert!(out.content.contains("reached-1"), "{}", out.content);
    }

    #[tokio::test]
    async fn sleep_is_killed_at_the_time_limit() {
        let dir = tempfile::tempdir().unwrap();
        let out = tool(&["sleep"])
            .call(
                &ctx(dir.path()),
                serde_json::json!({"command": "sleep 1000", "timeout_secs": 1}),
            )
            .await
            .unwrap();
        assert!(out.content.starts_with("timed out"), "{}", out.content);
    }
}
