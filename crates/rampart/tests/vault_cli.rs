//! The vault through the real binary: `init`, `vault set|list|rm|passwd`, passphrase sources,
//! and `start` unlocking the vault once.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a failure is a test failure"
)]

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const PASS: &str = "correct horse battery staple";

fn rampart(home: &Path, args: &[&str], env_pass: Option<&str>, stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rampart"));
    cmd.arg("--home")
        .arg(home)
        .args(args)
        .env_remove("RAMPART_VAULT_PASSPHRASE")
        .env_remove("RAMPART_API_KEY");
    if let Some(p) = env_pass {
        cmd.env("RAMPART_VAULT_PASSPHRASE", p);
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    {
        let mut input = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).unwrap();
        }
    }
    child.wait_with_output().unwrap()
}

fn init(home: &Path) {
    let out = rampart(home, &["init", "--non-interactive"], Some(PASS), None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every byte of every file under `dir`.
fn all_files(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(all_files(&path));
        } else {
            out.push((path.clone(), std::fs::read(&path).unwrap()));
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn init_writes_config_vault_and_agent_and_prints_the_key_once() {
    let home = tempfile::tempdir().unwrap();
    let out = rampart(
        home.path(),
        &["init", "--non-interactive"],
        Some(PASS),
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(!stdout.contains(PASS), "the passphrase is never printed");
    let key = stdout
        .lines()
        .skip_while(|l| !l.starts_with("API key"))
        .nth(1)
        .unwrap()
        .trim()
        .to_owned();
    assert_eq!(key.len(), 44, "{stdout}");
    for (path, bytes) in all_files(home.path()) {
        assert!(
            !contains(&bytes, key.as_bytes()),
            "{} holds the API key in plain text",
            path.display()
        );
        assert!(
            !contains(&bytes, PASS.as_bytes()),
            "{} holds the passphrase",
            path.display()
        );
    }
    let config = std::fs::read_to_string(home.path().join("config.toml")).unwrap();
    assert!(config.contains("api_key = \"vault:api_key\""));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &str| {
            std::fs::metadata(home.path().join(p))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode("credentials/vault.json"), 0o600);
        assert_eq!(mode("config.toml"), 0o600);
    }
    // A second init refuses to overwrite.
    let again = rampart(
        home.path(),
        &["init", "--non-interactive"],
        Some(PASS),
        None,
    );
    assert_eq!(again.status.code(), Some(2));
}

#[test]
fn no_terminal_and_no_passphrase_source_fails_fast_with_exit_2() {
    let home = tempfile::tempdir().unwrap();
    let out = rampart(home.path(), &["init"], None, None);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    init(home.path());
    let out = rampart(home.path(), &["vault", "list"], None, None);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .to_lowercase()
            .contains("passphrase")
    );
}

#[test]
fn set_list_rm_and_no_plaintext_on_disk() {
    let home = tempfile::tempdir().unwrap();
    init(home.path());
    let secret = "sk-test-SUPERSECRET-0123456789";
    // Passphrase on the first stdin line, the value after it.
    let out = rampart(
        home.path(),
        &["--passphrase-stdin", "vault", "set", "openai_api_key"],
        None,
        Some(&format!("{PASS}\n{secret}\n")),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = rampart(home.path(), &["vault", "list"], Some(PASS), None);
    let names = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        names.lines().collect::<Vec<_>>(),
        [
            "api_key",
            "audit_signing_key",
            "openai_api_key",
            "peer_identity_key"
        ]
    );
    assert!(!names.contains(secret));

    use base64::Engine as _;
    let forms = [
        secret.as_bytes().to_vec(),
        base64::engine::general_purpose::STANDARD
            .encode(secret)
            .into_bytes(),
        secret
            .bytes()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
            .into_bytes(),
    ];
    for (path, bytes) in all_files(home.path()) {
        for form in &forms {
            assert!(
                !contains(&bytes, form),
                "{} holds the secret in some form",
                path.display()
            );
        }
    }

    let out = rampart(
        home.path(),
        &["vault", "rm", "openai_api_key"],
        Some(PASS),
        None,
    );
    assert!(out.status.success());
    let out = rampart(
        home.path(),
        &["vault", "rm", "openai_api_key"],
        Some(PASS),
        None,
    );
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn wrong_passphrase_is_exit_2_and_leaves_the_vault_untouched() {
    let home = tempfile::tempdir().unwrap();
    init(home.path());
    let vault = home.path().join("credentials/vault.json");
    let before = std::fs::read(&vault).unwrap();
    let out = rampart(
        home.path(),
        &["vault", "set", "x"],
        Some("not the passphrase"),
        Some("value"),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrong passphrase or damaged vault"));
    assert_eq!(std::fs::read(&vault).unwrap(), before);
}

#[test]
fn passwd_then_the_old_passphrase_fails() {
    let home = tempfile::tempdir().unwrap();
    init(home.path());
    let out = rampart(
        home.path(),
        &["--passphrase-stdin", "vault", "passwd"],
        None,
        Some(&format!("{PASS}\nan entirely new passphrase\n")),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        rampart(home.path(), &["vault", "list"], Some(PASS), None)
            .status
            .code(),
        Some(2)
    );
    let out = rampart(
        home.path(),
        &["vault", "list"],
        Some("an entirely new passphrase"),
        None,
    );
    assert!(out.status.success());
}

#[test]
fn start_refuses_a_wrong_passphrase_and_a_vault_reference_without_vault() {
    let home = tempfile::tempdir().unwrap();
    init(home.path());
    let out = rampart(home.path(), &["start"], Some("wrong"), None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrong passphrase or damaged vault"));

    let bare = tempfile::tempdir().unwrap();
    std::fs::write(
        bare.path().join("config.toml"),
        "api_key = \"vault:api_key\"\n",
    )
    .unwrap();
    let out = rampart(bare.path(), &["start"], Some(PASS), None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no vault"));
}
