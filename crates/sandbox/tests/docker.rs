//! The Docker option through [`DockerRunner`]: the start-up probe refuses when no engine answers
//! (no client, an error, a hang), and the run path executes exactly the `docker run` argv — shown
//! with a stand-in `docker` program that records its arguments, since no Docker engine runs on
//! the build machines. Killing on timeout goes through `docker kill NAME`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rampart_sandbox::exec::{
    DOCKER_PROBE_TIMEOUT, DockerOptions, DockerRunner, ExecRequest, Invocation, ResourceLimits,
    docker_client, docker_run_argv,
};

/// Held by every test here for its whole run. Each test writes a stand-in program and then runs
/// it; were another test's thread forking meanwhile, its child would briefly hold the script's
/// write descriptor and the exec would fail with "Text file busy" (ETXTBSY).
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn opts() -> DockerOptions {
    DockerOptions {
        image: "python:3.12-slim".into(),
        network: "bridge".into(),
        memory_limit: "256m".into(),
        cpu_limit: 0.5,
        read_only_root: true,
        pids_limit: 50,
    }
}

/// A stand-in `docker`: answers `version`, records `kill NAME`, and for `run …` writes its
/// arguments one per line to `argv` next to itself, prints a line, and sleeps if asked to.
fn fake_docker(dir: &Path) -> PathBuf {
    let path = dir.join("docker");
    std::fs::write(
        &path,
        "#!/bin/sh\n\
         here=$(dirname \"$0\")\n\
         if [ \"$1\" = version ]; then echo 99.1-fake; exit 0; fi\n\
         if [ \"$1\" = kill ]; then echo \"$2\" > \"$here/killed\"; exit 0; fi\n\
         for a in \"$@\"; do printf '%s\\n' \"$a\"; done > \"$here/argv\"\n\
         echo ran-in-container\n\
         case \"$*\" in *sleep*) sleep 30;; esac\n",
    )
    .unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    path
}

fn req(ws: &Path, program: &str, args: &[&str], network: bool) -> ExecRequest {
    ExecRequest {
        invocation: Invocation::Direct {
            program: PathBuf::from(program),
            args: args.iter().map(|s| (*s).to_owned()).collect(),
        },
        workspace: ws.to_path_buf(),
        env: vec![("LANG".into(), "C.UTF-8".into())],
        timeout: Duration::from_secs(10),
        max_output: 4096,
        limits: ResourceLimits::default(),
        network,
        run_as: None,
    }
}

#[test]
fn no_engine_means_no_runner_and_a_reason() {
    let _serial = serial();
    let err = DockerRunner::detect(None, opts(), DOCKER_PROBE_TIMEOUT).unwrap_err();
    assert!(err.contains("no docker client"), "{err}");
    let err =
        DockerRunner::detect(Some("/bin/false".into()), opts(), DOCKER_PROBE_TIMEOUT).unwrap_err();
    assert!(err.contains("did not answer"), "{err}");
    // A client whose engine hangs: the probe gives up at its timeout.
    let dir = tempfile::tempdir().unwrap();
    let hang = dir.path().join("docker");
    std::fs::write(&hang, "#!/bin/sh\nsleep 30\n").unwrap();
    std::fs::set_permissions(&hang, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let started = Instant::now();
    let err = DockerRunner::detect(Some(hang), opts(), Duration::from_secs(1)).unwrap_err();
    assert!(err.contains("within 1 s"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // This machine's real client, where no engine socket exists, reports no engine either.
    let default_socket = Path::new("/var/run/docker.sock").exists();
    match DockerRunner::detect(docker_client(), opts(), DOCKER_PROBE_TIMEOUT) {
        Ok(r) => eprintln!("a Docker engine answers here: {}", r.engine_version()),
        Err(why) => eprintln!("no Docker engine here: {why}"),
    }
    if !default_socket && std::env::var_os("DOCKER_HOST").is_none() {
        assert!(DockerRunner::detect(docker_client(), opts(), DOCKER_PROBE_TIMEOUT).is_err());
    }
}

#[test]
fn the_run_executes_exactly_the_confined_argv() {
    let _serial = serial();
    let bin = tempfile::tempdir().unwrap();
    let ws = tempfile::tempdir().unwrap();
    let runner =
        DockerRunner::detect(Some(fake_docker(bin.path())), opts(), DOCKER_PROBE_TIMEOUT).unwrap();
    assert_eq!(runner.engine_version(), "99.1-fake");
    for network in [false, true] {
        let r = req(ws.path(), "/usr/bin/ls", &["-l", "; rm -rf /"], network);
        let out = runner.run(&r).unwrap();
        assert_eq!(out.exit_code, Some(0), "{out:?}");
        assert!(out.stdout.contains("ran-in-container"), "{out:?}");
        let summary = out.confinement.summary();
        assert!(
            summary.starts_with("container (docker 99.1-fake"),
            "{summary}"
        );
        let recorded: Vec<String> = std::fs::read_to_string(bin.path().join("argv"))
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        let name = recorded
            .iter()
            .find_map(|a| a.strip_prefix("--name="))
            .expect("a container name")
            .to_owned();
        assert!(name.starts_with("rampart-"), "{name}");
        // Exactly the builder's argv (minus argv[0]), the network only when granted.
        let mut expected_opts = opts();
        if !network {
            expected_opts.network = "none".into();
        }
        let expected = docker_run_argv(
            &expected_opts,
            &name,
            ws.path(),
            &r.env,
            &["ls".into(), "-l".into(), "; rm -rf /".into()],
        );
        assert_eq!(recorded, expected[1..], "network={network}");
        assert_eq!(runner.argv(&r, &name)[1..], expected[1..]);
        let net = if network {
            "--network=bridge"
        } else {
            "--network=none"
        };
        assert!(recorded.iter().any(|a| a == net), "{recorded:?}");
        for flag in [
            "--read-only",
            "--cap-drop=ALL",
            "--security-opt=no-new-privileges",
        ] {
            assert!(recorded.iter().any(|a| a == flag), "{flag}: {recorded:?}");
        }
    }
}

#[test]
fn a_container_that_runs_too_long_is_killed_by_name() {
    let _serial = serial();
    let bin = tempfile::tempdir().unwrap();
    let ws = tempfile::tempdir().unwrap();
    let runner =
        DockerRunner::detect(Some(fake_docker(bin.path())), opts(), DOCKER_PROBE_TIMEOUT).unwrap();
    let mut r = req(ws.path(), "/bin/sleep", &["1000"], false);
    r.timeout = Duration::from_millis(500);
    let started = Instant::now();
    let out = runner.run(&r).unwrap();
    assert!(out.timed_out, "{out:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    let recorded = std::fs::read_to_string(bin.path().join("argv")).unwrap();
    let name = recorded
        .lines()
        .find_map(|a| a.strip_prefix("--name="))
        .unwrap();
    let killed = std::fs::read_to_string(bin.path().join("killed")).unwrap();
    assert_eq!(killed.trim(), name);
}
