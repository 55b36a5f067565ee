//! Landlock (file system) and seccomp (system calls) for the shell tool, and their detection.
//!
//! Landlock is applied to a dedicated, short-lived thread right before it spawns the child: a
//! Landlock domain belongs to the thread that enforced it and is inherited by every process it
//! forks, so the gateway's other threads stay unconfined and no `unsafe` is needed. The seccomp
//! filter is compiled here and installed in the child between fork and exec (see `limits.rs`),
//! after the child has joined its own process group, so that it can forbid leaving the group.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access, AccessFs, Compatible, RestrictionStatus, Ruleset, RulesetAttr, RulesetCreatedAttr,
    RulesetStatus, path_beneath_rules,
};
use seccompiler::{BpfProgram, SeccompAction, SeccompFilter, SeccompRule, TargetArch};

/// System directories the confined command may read and execute from (never written).
pub const READ_ONLY_SYSTEM_PATHS: &[&str] = &[
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/etc",
    "/dev/null",
    "/dev/zero",
    "/dev/urandom",
];

/// Which confinement a run had (or, from [`detect`], can have on this kernel).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confinement {
    /// `"enforced"`, `"partial"` or `"unavailable"`.
    pub landlock: &'static str,
    /// The kernel's Landlock ABI version, 0 when unsupported.
    pub landlock_abi: i32,
    /// True when the seccomp filter was installed (sockets refused unless network is granted;
    /// ptrace, leaving the process group and similar calls always refused).
    pub seccomp: bool,
    /// True when resource limits were set.
    pub rlimits: bool,
    /// When the command ran in a container instead (`[security.docker]`): what confined it,
    /// e.g. `docker 27.1.1, network=none, read-only root, cap-drop ALL`.
    pub container: Option<String>,
}

impl Confinement {
    /// No confinement of the process itself (for the Docker client, whose container confines).
    pub(crate) fn default_unconfined() -> Self {
        Self {
            landlock: "unavailable",
            landlock_abi: 0,
            seccomp: false,
            rlimits: false,
            container: None,
        }
    }

    /// One line for tool results and `rampart doctor`.
    #[must_use]
    pub fn summary(&self) -> String {
        if let Some(c) = &self.container {
            return format!("container ({c}), env=cleared");
        }
        format!(
            "landlock={} (abi {}), seccomp={}, rlimits={}, process-group=yes, env=cleared",
            self.landlock,
            self.landlock_abi,
            if self.seccomp { "on" } else { "off" },
            if self.rlimits { "on" } else { "off" },
        )
    }
}

fn status_name(s: &RulesetStatus) -> &'static str {
    match s {
        RulesetStatus::FullyEnforced => "enforced",
        RulesetStatus::PartiallyEnforced => "partial",
        RulesetStatus::NotEnforced => "unavailable",
    }
}

/// The kernel's Landlock ABI, probed with `landlock_create_ruleset(…VERSION)`.
#[must_use]
pub fn landlock_abi() -> i32 {
    // Building a ruleset for the newest ABI the crate knows and reading the status tells
    // whether the kernel enforces it; the numeric ABI comes from a probe thread below.
    for v in (1..=7).rev() {
        let abi = ABI::from(v);
        if Ruleset::default()
            .set_compatibility(landlock::CompatLevel::HardRequirement)
            .handle_access(AccessFs::from_all(abi))
            .and_then(Ruleset::create)
            .is_ok()
        {
            return v;
        }
    }
    0
}

/// Confines the calling thread (and everything it spawns afterwards) to reading and executing
/// the system paths and full access below `workspace`.
pub(crate) fn landlock_thread(workspace: &Path) -> Result<RestrictionStatus, String> {
    let abi = ABI::V5;
    let ro: Vec<PathBuf> = READ_ONLY_SYSTEM_PATHS
        .iter()
        .map(PathBuf::from)
        .filter(|p| p.exists())
        .collect();
    Ruleset::default()
        .handle_access(AccessFs::from_all(abi))
        .and_then(Ruleset::create)
        .and_then(|r| r.add_rules(path_beneath_rules(&ro, AccessFs::from_read(abi))))
        .and_then(|r| {
            r.add_rules(path_beneath_rules(
                ["/dev/null"],
                AccessFs::from_read(abi) | AccessFs::WriteFile,
            ))
        })
        .and_then(|r| r.add_rules(path_beneath_rules([workspace], AccessFs::from_all(abi))))
        .and_then(landlock::RulesetCreated::restrict_self)
        .map_err(|e| e.to_string())
}

/// Compiles the filter: `socket`/`socketpair` fail with `EPERM` unless `network`; `ptrace`,
/// `process_vm_readv/writev`, `setsid`, `setpgid`, `mount`, `unshare`, `setns`, `keyctl`,
/// `bpf`, `perf_event_open` always fail with `EPERM`. Everything else is allowed.
///
/// # Errors
/// The architecture is not supported by `seccompiler`, or compilation failed.
pub fn seccomp_program(network: bool) -> Result<BpfProgram, String> {
    let arch = TargetArch::try_from(std::env::consts::ARCH).map_err(|e| e.to_string())?;
    let mut denied = vec![
        libc::SYS_ptrace,
        libc::SYS_process_vm_readv,
        libc::SYS_process_vm_writev,
        libc::SYS_setsid,
        libc::SYS_setpgid,
        libc::SYS_mount,
        libc::SYS_umount2,
        libc::SYS_unshare,
        libc::SYS_setns,
        libc::SYS_keyctl,
        libc::SYS_add_key,
        libc::SYS_request_key,
        libc::SYS_bpf,
        libc::SYS_perf_event_open,
        libc::SYS_pidfd_getfd,
    ];
    if !network {
        denied.extend([libc::SYS_socket, libc::SYS_socketpair]);
    }
    let rules: BTreeMap<i64, Vec<SeccompRule>> = denied.into_iter().map(|s| (s, vec![])).collect();
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )
    .map_err(|e| e.to_string())?;
    BpfProgram::try_from(filter).map_err(|e| e.to_string())
}

/// Probes what this kernel supports, without confining the caller: Landlock and seccomp are
/// tried on a throwaway thread that exits right after.
#[must_use]
pub fn detect() -> Confinement {
    let probe = std::thread::spawn(|| {
        let dir = std::env::temp_dir();
        let landlock = landlock_thread(&dir)
            .map(|s| status_name(&s.ruleset))
            .unwrap_or("unavailable");
        let seccomp = seccomp_program(true)
            .and_then(|p| seccompiler::apply_filter(&p).map_err(|e| e.to_string()))
            .is_ok();
        (landlock, seccomp)
    });
    let (landlock, seccomp) = probe.join().unwrap_or(("unavailable", false));
    Confinement {
        landlock,
        landlock_abi: landlock_abi(),
        seccomp,
        rlimits: true,
        container: None,
    }
}

pub(crate) fn landlock_status_name(s: &RestrictionStatus) -> &'static str {
    status_name(&s.ruleset)
}
