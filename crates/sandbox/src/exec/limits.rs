//! Resource limits and the seccomp filter, installed in the child between fork and exec.

use std::os::unix::process::CommandExt;
use std::process::Command;

use seccompiler::BpfProgram;

/// Resource limits for one command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceLimits {
    /// Address space, bytes (`RLIMIT_AS`).
    pub memory_bytes: u64,
    /// Processes of the user (`RLIMIT_NPROC`; not enforced by Linux for root, see the docs).
    pub processes: u64,
    /// Largest file it may write, bytes (`RLIMIT_FSIZE`).
    pub file_size_bytes: u64,
    /// Open files (`RLIMIT_NOFILE`).
    pub open_files: u64,
    /// CPU seconds (`RLIMIT_CPU`), a backstop behind the wall-clock timeout.
    pub cpu_secs: u64,
}

impl Default for ResourceLimits {
    fn default() -> Self {
        Self {
            memory_bytes: 512 * 1024 * 1024,
            processes: 64,
            file_size_bytes: 64 * 1024 * 1024,
            open_files: 256,
            cpu_secs: 60,
        }
    }
}

/// Arranges for `cmd`'s child to set `limits` and install `filter` after it has joined its
/// own process group and before it executes the program.
pub(crate) fn install(cmd: &mut Command, limits: ResourceLimits, filter: Option<BpfProgram>) {
    let table = [
        (libc::RLIMIT_AS, limits.memory_bytes),
        (libc::RLIMIT_NPROC, limits.processes),
        (libc::RLIMIT_FSIZE, limits.file_size_bytes),
        (libc::RLIMIT_NOFILE, limits.open_files),
        (libc::RLIMIT_CPU, limits.cpu_secs),
        (libc::RLIMIT_CORE, 0),
    ];
    #[allow(unsafe_code)]
    // SAFETY: `pre_exec` runs the closure in the forked child, where only async-signal-safe
    // work is allowed. The closure allocates nothing and takes no locks: it reads the `table`
    // array and the already-compiled `filter` (both moved in, built before the fork), and makes
    // plain system calls — `setrlimit(2)` through `libc`, and `prctl(PR_SET_NO_NEW_PRIVS)` plus
    // `seccomp(2)` through `seccompiler::apply_filter`, which on success only issues those
    // syscalls. Errors are reported with `io::Error::last_os_error()`, which does not allocate.
    unsafe {
        cmd.pre_exec(move || {
            for (resource, value) in table {
                let lim = libc::rlimit {
                    rlim_cur: value,
                    rlim_max: value,
                };
                if libc::setrlimit(resource, &raw const lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            if let Some(f) = &filter
                && seccompiler::apply_filter(f).is_err()
            {
                return Err(std::io::Error::from_raw_os_error(libc::EPERM));
            }
            Ok(())
        });
    }
}
