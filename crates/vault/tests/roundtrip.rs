//! Round trips: what is saved is what opens, for arbitrary names and values.

mod common;

use std::fs;

use common::{FAST, pass, secret, vault_with};
use proptest::prelude::*;
use rampart_vault::{ExposeSecret, KdfParams, Vault, VaultError, VaultFile};

#[test]
fn set_save_open_round_trip() {
    let (_home, path, _) = vault_with(&[("openai_api_key", "sk-abc"), ("telegram", "123:xyz")]);
    let vault = Vault::open_with(&path, &pass("passphrase-1"), FAST).unwrap();
    assert_eq!(vault.names(), ["openai_api_key", "telegram"]);
    assert_eq!(vault.get("telegram").unwrap().expose_secret(), "123:xyz");
    assert!(vault.get("missing").is_none());
}

#[test]
fn remove_then_save_forgets_the_entry() {
    let (_home, path, mut vault) = vault_with(&[("a", "1"), ("b", "2")]);
    assert!(vault.remove("a"));
    assert!(!vault.remove("a"));
    vault.save().unwrap();
    let vault = Vault::open_with(&path, &pass("passphrase-1"), FAST).unwrap();
    assert_eq!(vault.names(), ["b"]);
}

#[test]
fn set_refuses_bad_names_and_huge_values() {
    let (_home, _path, mut vault) = vault_with(&[]);
    assert!(matches!(
        vault.set("a b", secret("x")),
        Err(VaultError::InvalidName(_))
    ));
    assert!(matches!(
        vault.set("", secret("x")),
        Err(VaultError::InvalidName(_))
    ));
    let huge = "x".repeat(rampart_vault::MAX_VALUE_LEN + 1);
    assert!(matches!(
        vault.set("k", secret(&huge)),
        Err(VaultError::ValueTooLarge { .. })
    ));
    assert!(vault.is_empty());
}

#[test]
fn create_never_overwrites_and_refuses_short_passphrases() {
    let (_home, path, _) = vault_with(&[("a", "1")]);
    let before = fs::read(&path).unwrap();
    assert!(matches!(
        Vault::create_with(&path, &pass("another-passphrase"), FAST),
        Err(VaultError::AlreadyExists { .. })
    ));
    assert_eq!(fs::read(&path).unwrap(), before);
    let home = tempfile::tempdir().unwrap();
    assert!(matches!(
        Vault::create_with(home.path().join("v.json"), &pass("short"), FAST),
        Err(VaultError::PassphraseTooShort { .. })
    ));
}

#[test]
fn missing_vault_is_not_found() {
    let home = tempfile::tempdir().unwrap();
    let err = Vault::open(
        rampart_vault::vault_path(home.path()),
        &pass("whatever-pass"),
    )
    .unwrap_err();
    assert!(matches!(err, VaultError::NotFound { .. }));
    assert_eq!(err.exit_code(), 2);
}

#[test]
fn file_and_directory_are_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let (home, path, _) = vault_with(&[("a", "1")]);
    let mode = fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let dir_mode = fs::metadata(home.path().join("credentials"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(dir_mode & 0o077, 0, "credentials/ must be owner-only");
}

#[test]
fn a_world_readable_vault_is_rewritten_0600_on_save() {
    use std::os::unix::fs::PermissionsExt as _;
    let (_home, path, vault) = vault_with(&[("a", "1")]);
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    vault.save().unwrap();
    assert_eq!(
        fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn the_nonce_differs_on_every_save() {
    let (_home, path, vault) = vault_with(&[("a", "1")]);
    let mut nonces = std::collections::HashSet::new();
    for _ in 0..50 {
        vault.save().unwrap();
        let file = VaultFile::parse(&fs::read(&path).unwrap()).unwrap();
        assert!(nonces.insert(*file.nonce()), "a nonce was reused");
    }
}

#[test]
fn each_vault_has_its_own_salt() {
    let (_h1, p1, _) = vault_with(&[]);
    let (_h2, p2, _) = vault_with(&[]);
    let f1 = VaultFile::parse(&fs::read(p1).unwrap()).unwrap();
    let f2 = VaultFile::parse(&fs::read(p2).unwrap()).unwrap();
    assert_ne!(f1.salt(), f2.salt());
}

#[test]
fn real_vaults_use_600k_iterations_and_open() {
    let home = tempfile::tempdir().unwrap();
    let path = rampart_vault::vault_path(home.path());
    let mut vault = Vault::create(&path, &pass("a real passphrase")).unwrap();
    vault.set("api_key", secret("rk-live")).unwrap();
    vault.save().unwrap();
    let file = VaultFile::parse(&fs::read(&path).unwrap()).unwrap();
    assert_eq!(file.iterations(), 600_000);
    assert_eq!(KdfParams::default().iterations(), 600_000);
    let vault = Vault::open(&path, &pass("a real passphrase")).unwrap();
    assert_eq!(vault.iterations(), 600_000);
    assert!(vault.matches("api_key", b"rk-live"));
    assert!(!vault.matches("api_key", b"rk-livf"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_names_and_values_round_trip(
        entries in proptest::collection::btree_map("[A-Za-z0-9._-]{1,128}", "\\PC{0,200}", 0..8)
    ) {
        let home = tempfile::tempdir().unwrap();
        let path = home.path().join("vault.json");
        let mut vault = Vault::create_with(&path, &pass("proptest-pass"), FAST).unwrap();
        for (n, v) in &entries {
            vault.set(n, secret(v)).unwrap();
        }
        vault.save().unwrap();
        let back = Vault::open_with(&path, &pass("proptest-pass"), FAST).unwrap();
        let names: Vec<&str> = entries.keys().map(String::as_str).collect();
        prop_assert_eq!(back.names(), names);
        for (n, v) in &entries {
            prop_assert_eq!(back.get(n).unwrap().expose_secret(), v.as_str());
        }
    }

    #[test]
    fn names_outside_the_grammar_are_refused(name in "\\PC*") {
        let valid = !name.is_empty()
            && name.len() <= rampart_vault::MAX_NAME_LEN
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        prop_assert_eq!(rampart_vault::validate_name(&name).is_ok(), valid);
    }
}
