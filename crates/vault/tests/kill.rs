//! A process killed (SIGKILL) in the middle of saving leaves a vault that opens (SPEC V7).
//!
//! The test re-runs this test binary as a child that saves in a tight loop, kills it at varying
//! moments, and opens the file each time.

mod common;

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{FAST, pass, secret};
use rampart_vault::{ExposeSecret, Vault};

const CHILD_ENV: &str = "RAMPART_VAULT_TEST_SAVE_LOOP";

#[test]
#[ignore = "helper: run as a child process by kill_during_save_leaves_a_vault_that_opens"]
fn child_saves_in_a_loop() {
    let Some(path) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let mut vault = Vault::open_with(&path, &pass("kill-test-pass"), FAST).unwrap();
    let mut i: u64 = 0;
    loop {
        // Values of changing size, so the file grows and shrinks across saves.
        let len = usize::try_from(i % 4096).unwrap();
        vault.set("counter", secret(&i.to_string())).unwrap();
        vault.set("payload", secret(&"p".repeat(len))).unwrap();
        vault.save().unwrap();
        if i == 0 {
            println!("ready");
        }
        i += 1;
    }
}

#[test]
fn kill_during_save_leaves_a_vault_that_opens() {
    let home = tempfile::tempdir().unwrap();
    let path = rampart_vault::vault_path(home.path());
    let mut vault = Vault::create_with(&path, &pass("kill-test-pass"), FAST).unwrap();
    vault.set("counter", secret("start")).unwrap();
    vault.save().unwrap();
    drop(vault);

    let exe = std::env::current_exe().unwrap();
    let mut last_counter = None;
    for round in 0..12u64 {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "child_saves_in_a_loop",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        // Wait until the child is saving, then let it run a varying time and SIGKILL it.
        while !line.contains("ready") {
            line.clear();
            assert!(
                out.read_line(&mut line).unwrap() > 0,
                "child exited before saving"
            );
        }
        std::thread::sleep(Duration::from_millis(3 + round * 7));
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert!(!status.success(), "the child must have been killed");

        let vault = Vault::open_with(&path, &pass("kill-test-pass"), FAST)
            .unwrap_or_else(|e| panic!("round {round}: vault did not open after kill: {e}"));
        let counter = vault.get("counter").unwrap().expose_secret().to_owned();
        assert_ne!(counter, "start", "round {round}: the child never saved");
        last_counter = Some(counter);
    }
    assert!(last_counter.is_some());
}
