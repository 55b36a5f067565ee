//! `[security] approval_required`/`approval_ttl_secs`, `[security.shell]` and `[security.docker]`:
//! how `shell_exec` runs and which calls wait for a human (SPEC T3, T4, A7).

/// The default lifetime of an approval request, in seconds.
///
/// # Security
/// An approval is a standing permission to run one exact call; a short life keeps a forgotten one
/// from being used long after the human's context is gone.
pub const DEFAULT_APPROVAL_TTL_SECS: i64 = 600;
/// The longest `approval_ttl_secs` accepted (one day).
pub const MAX_APPROVAL_TTL_SECS: i64 = 86_400;
/// The longest `timeout_secs` accepted for a command, in seconds.
///
/// # Security
/// A command holds a process tree and a session; even a configured value is capped.
pub const MAX_EXEC_TIMEOUT_SECS: u64 = 300;
/// The most entries in a list of `[security.shell]` or `approval_required`.
///
/// # Security
/// Bounds parsing work and the size of error messages that list them.
pub const MAX_EXEC_LIST_ENTRIES: usize = 256;
/// The default `[security.shell] allowed_programs`: programs that read or print and cannot run
/// other programs.
pub const DEFAULT_ALLOWED_PROGRAMS: &[&str] = &[
    "echo", "ls", "pwd", "date", "cat", "head", "tail", "wc", "grep", "sort", "uniq",
];

/// `[security.shell]`: how `shell_exec` turns a command into a process.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShellConfig {
    /// `allowed_programs`: bare program names that may be argv\[0\] (looked up in system
    /// directories only). Default [`DEFAULT_ALLOWED_PROGRAMS`].
    pub allowed_programs: Vec<String>,
    /// `allow_shell` (default `false`): whether command text may go to `/bin/sh -c`. Off, the
    /// text is split into argv and no shell ever sees it.
    pub allow_shell: bool,
    /// `env_passthrough` (default empty): names of Rampart's environment variables a command
    /// sees; every other variable (API keys included) is cleared.
    pub env_passthrough: Vec<String>,
    /// `timeout_secs` (default 30, at most [`MAX_EXEC_TIMEOUT_SECS`]): wall-clock limit per
    /// command; the whole process group is killed after it.
    pub timeout_secs: u64,
}

impl Default for ShellConfig {
    fn default() -> Self {
        Self {
            allowed_programs: DEFAULT_ALLOWED_PROGRAMS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            allow_shell: false,
            env_passthrough: Vec::new(),
            timeout_secs: 30,
        }
    }
}

/// `[security.docker]` (SPEC T4): run commands in a throwaway container instead.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct DockerConfig {
    /// `enabled` (default `false`).
    pub enabled: bool,
    /// `image` (default `python:3.12-slim`).
    pub image: String,
    /// `network` (default `none`).
    pub network: String,
    /// `memory_limit` (default `512m`).
    pub memory_limit: String,
    /// `cpu_limit` (default 1.0).
    pub cpu_limit: f64,
    /// `timeout_secs` (default 60).
    pub timeout_secs: u64,
    /// `read_only_root` (default `true`).
    pub read_only_root: bool,
    /// `pids_limit` (default 100).
    pub pids_limit: u32,
}

impl Default for DockerConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            image: "python:3.12-slim".to_owned(),
            network: "none".to_owned(),
            memory_limit: "512m".to_owned(),
            cpu_limit: 1.0,
            timeout_secs: 60,
            read_only_root: true,
            pids_limit: 100,
        }
    }
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawShell {
    allowed_programs: Option<Vec<String>>,
    allow_shell: Option<bool>,
    env_passthrough: Option<Vec<String>>,
    timeout_secs: Option<u64>,
}

type Bad = (&'static str, String);

fn check_list(key: &'static str, v: &[String]) -> Result<(), Bad> {
    if v.len() > MAX_EXEC_LIST_ENTRIES {
        return Err((key, format!("at most {MAX_EXEC_LIST_ENTRIES} entries")));
    }
    for s in v {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if !ok || s.starts_with('.') {
            return Err((key, format!("{s:?} is not a bare name")));
        }
    }
    Ok(())
}

fn check_timeout(key: &'static str, secs: u64) -> Result<u64, Bad> {
    if secs == 0 || secs > MAX_EXEC_TIMEOUT_SECS {
        return Err((
            key,
            format!("must be between 1 and {MAX_EXEC_TIMEOUT_SECS}"),
        ));
    }
    Ok(secs)
}

impl RawShell {
    pub(crate) fn into_config(self) -> Result<ShellConfig, Bad> {
        let d = ShellConfig::default();
        let allowed_programs = self.allowed_programs.unwrap_or(d.allowed_programs);
        check_list("allowed_programs", &allowed_programs)?;
        let env_passthrough = self.env_passthrough.unwrap_or_default();
        check_list("env_passthrough", &env_passthrough)?;
        Ok(ShellConfig {
            allowed_programs,
            allow_shell: self.allow_shell.unwrap_or(false),
            env_passthrough,
            timeout_secs: check_timeout("timeout_secs", self.timeout_secs.unwrap_or(30))?,
        })
    }
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDocker {
    enabled: Option<bool>,
    image: Option<String>,
    network: Option<String>,
    memory_limit: Option<String>,
    cpu_limit: Option<f64>,
    timeout_secs: Option<u64>,
    read_only_root: Option<bool>,
    pids_limit: Option<u32>,
}

impl RawDocker {
    pub(crate) fn into_config(self) -> Result<DockerConfig, Bad> {
        let d = DockerConfig::default();
        let image = self.image.unwrap_or(d.image);
        if image.is_empty()
            || image.len() > 256
            || image.starts_with('-')
            || !image
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-/:@".contains(&b))
        {
            return Err(("image", format!("{image:?} is not an image reference")));
        }
        let network = self.network.unwrap_or(d.network);
        if network != "none" && network != "bridge" {
            return Err((
                "network",
                format!("{network:?}: use \"none\" (the default) or \"bridge\""),
            ));
        }
        let memory_limit = self.memory_limit.unwrap_or(d.memory_limit);
        let digits = memory_limit.trim_end_matches(['k', 'm', 'g']);
        if digits.is_empty()
            || digits.len() > 12
            || !digits.bytes().all(|b| b.is_ascii_digit())
            || memory_limit.len() > digits.len() + 1
        {
            return Err((
                "memory_limit",
                format!("{memory_limit:?} is not a size like \"512m\""),
            ));
        }
        let cpu_limit = self.cpu_limit.unwrap_or(d.cpu_limit);
        if !(cpu_limit > 0.0 && cpu_limit <= 64.0) {
            return Err(("cpu_limit", "must be above 0 and at most 64".to_owned()));
        }
        let pids_limit = self.pids_limit.unwrap_or(d.pids_limit);
        if pids_limit == 0 || pids_limit > 4096 {
            return Err(("pids_limit", "must be between 1 and 4096".to_owned()));
        }
        Ok(DockerConfig {
            enabled: self.enabled.unwrap_or(false),
            image,
            network,
            memory_limit,
            cpu_limit,
            timeout_secs: check_timeout("timeout_secs", self.timeout_secs.unwrap_or(60))?,
            read_only_root: self.read_only_root.unwrap_or(true),
            pids_limit,
        })
    }
}

/// Checks `[security] approval_required`.
pub(crate) fn check_approval_required(v: &[String]) -> Result<(), Bad> {
    check_list("approval_required", v)
}

/// Checks `[security] approval_ttl_secs`.
pub(crate) fn check_approval_ttl(secs: i64) -> Result<i64, Bad> {
    if secs <= 0 || secs > MAX_APPROVAL_TTL_SECS {
        return Err((
            "approval_ttl_secs",
            format!("must be between 1 and {MAX_APPROVAL_TTL_SECS}"),
        ));
    }
    Ok(secs)
}
