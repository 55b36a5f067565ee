//! Attack tests for the subprocess sandbox: the gateway's environment, writes outside the
//! workspace, sockets, fork bombs and sleepers. Each Landlock/seccomp test checks what
//! `detect()` reports first and says so when the kernel cannot confine.

// Helpers below panic on setup failures, as tests do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rampart_sandbox::exec::{ExecOutput, ExecRequest, Invocation, ResourceLimits, detect, run};

fn req(ws: &Path, program: &str, args: &[&str]) -> ExecRequest {
    ExecRequest {
        invocation: Invocation::Direct {
            program: PathBuf::from(program),
            args: args.iter().map(|s| (*s).to_owned()).collect(),
        },
        workspace: ws.to_path_buf(),
        env: vec![("PATH".into(), "/usr/bin:/bin".into())],
        timeout: Duration::from_secs(10),
        max_output: 4096,
        limits: ResourceLimits::default(),
        network: false,
        run_as: None,
    }
}

fn sh(ws: &Path, script: &str) -> ExecOutput {
    run(req(ws, "/bin/sh", &["-c", script])).unwrap()
}

#[test]
fn cannot_read_the_gateways_environment() {
    let ws = tempfile::tempdir().unwrap();
    // Cargo sets this in the test process's environment: the "gateway" here.
    let secret = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it");
    let out = sh(ws.path(), "printenv CARGO_MANIFEST_DIR; env");
    assert!(!out.stdout.contains(&secret), "leaked: {}", out.stdout);
    assert!(!out.stdout.contains("CARGO_"), "leaked: {}", out.stdout);
    // Nor through /proc, where Landlock is active.
    let conf = detect();
    let pid = std::process::id();
    let out = sh(ws.path(), &format!("cat /proc/{pid}/environ"));
    if conf.landlock == "enforced" {
        assert!(!out.stdout.contains(&secret));
        assert_ne!(out.exit_code, Some(0));
    } else {
        eprintln!("Landlock unavailable here: /proc/PID/environ is not confined");
    }
}

#[test]
fn cannot_write_outside_the_workspace_where_landlock_is_active() {
    let ws = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("pwned");
    let out = sh(
        ws.path(),
        &format!("echo x > {}; echo y > inside.txt", target.display()),
    );
    assert!(ws.path().join("inside.txt").exists(), "{out:?}");
    if detect().landlock == "enforced" {
        assert_eq!(out.confinement.landlock, "enforced");
        assert!(!target.exists(), "wrote outside the workspace: {out:?}");
    } else {
        eprintln!("Landlock unavailable here: not asserting");
    }
}

#[test]
fn cannot_open_a_socket_where_seccomp_is_active() {
    let ws = tempfile::tempdir().unwrap();
    let out = run(req(
        ws.path(),
        "/usr/bin/perl",
        &["-e", "use Socket; socket(my $s, PF_INET, SOCK_STREAM, 0) or die \"refused: $!\\n\"; print \"opened\\n\""],
    ))
    .unwrap();
    if detect().seccomp {
        assert!(out.confinement.seccomp);
        assert!(!out.stdout.contains("opened"), "{out:?}");
        assert!(out.stderr.contains("refused"), "{out:?}");
    } else {
        eprintln!("seccomp unavailable here: not asserting");
    }
    // With network granted, the same program may open one.
    let mut r = req(
        ws.path(),
        "/usr/bin/perl",
        &[
            "-e",
            "use Socket; socket(my $s, PF_INET, SOCK_STREAM, 0) or die; print \"opened\\n\"",
        ],
    );
    r.network = true;
    assert!(run(r).unwrap().stdout.contains("opened"));
}

#[test]
fn sleep_1000_is_killed_at_the_timeout_with_its_children() {
    let ws = tempfile::tempdir().unwrap();
    let mut r = req(
        ws.path(),
        "/bin/sh",
        &["-c", "sleep 1000 & sleep 1000; echo never"],
    );
    r.timeout = Duration::from_millis(300);
    let started = Instant::now();
    let out = run(r).unwrap();
    assert!(out.timed_out);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(!out.stdout.contains("never"));
    assert_eq!(out.signal, Some(9));
}

#[test]
fn a_fork_bomb_is_contained_and_killed() {
    let ws = tempfile::tempdir().unwrap();
    let mut r = req(
        ws.path(),
        "/bin/sh",
        &["-c", "b() { b | b & }; b; sleep 1000"],
    );
    r.timeout = Duration::from_millis(500);
    r.limits.processes = 32;
    // Linux does not apply RLIMIT_NPROC to root: run the bomb as `nobody` there.
    if nix::unistd::Uid::effective().is_root() {
        r.run_as = Some((65534, 65534));
        std::fs::set_permissions(
            ws.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o777),
        )
        .unwrap();
    }
    let started = Instant::now();
    let out = run(r).unwrap();
    assert!(out.timed_out || out.exit_code.is_some());
    assert!(started.elapsed() < Duration::from_secs(5));
    // Nothing of the bomb survives: no process of `nobody` is left running from this test.
    std::thread::sleep(Duration::from_millis(100));
    let left = std::process::Command::new("pgrep")
        .args(["-u", "65534", "-f", "b | b"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    assert!(left.is_empty(), "bomb processes left: {left}");
}

#[test]
fn output_is_capped_and_stdin_is_closed() {
    let ws = tempfile::tempdir().unwrap();
    let mut r = req(
        ws.path(),
        "/bin/sh",
        &["-c", "cat; head -c 100000 /dev/zero | tr '\\0' 'é'"],
    );
    r.max_output = 1001;
    let out = run(r).unwrap();
    assert!(out.truncated);
    assert!(out.stdout.len() <= 1001);
    assert_eq!(out.exit_code, Some(0), "{out:?}");
}

#[test]
fn reports_the_confinement_of_this_machine() {
    let c = detect();
    eprintln!("confinement here: {}", c.summary());
    assert!(c.summary().contains("landlock="));
}
