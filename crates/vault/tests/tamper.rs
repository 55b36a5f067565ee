//! Attacks on the vault file: every one must be refused with a typed error, never garbage.

// Helper fns outside #[test] unwrap too: a failed setup step should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;

use common::{FAST, pass, secret, vault_with};
use rampart_vault::{ExposeSecret, KdfParams, MAX_ITERATIONS, Vault, VaultError, VaultFile};

fn open_bytes(bytes: &[u8], passphrase: &str) -> Result<Vault, VaultError> {
    Vault::from_bytes("unused.json".into(), bytes, &pass(passphrase), FAST)
}

#[test]
fn every_flipped_bit_of_a_saved_vault_is_detected() {
    let (_home, path, _) = vault_with(&[("openai_api_key", "sk-flip-me"), ("b", "2")]);
    let good = fs::read(&path).unwrap();
    assert!(open_bytes(&good, "passphrase-1").is_ok());
    let mut tried = 0;
    for i in 0..good.len() {
        for bit in 0..8 {
            let mut bad = good.clone();
            bad[i] ^= 1 << bit;
            let result = open_bytes(&bad, "passphrase-1");
            assert!(
                result.is_err(),
                "flipping bit {bit} of byte {i} went unnoticed"
            );
            tried += 1;
        }
    }
    assert_eq!(tried, good.len() * 8);
}

#[test]
fn a_flipped_byte_on_disk_is_refused_and_left_as_is() {
    let (_home, path, _) = vault_with(&[("k", "v")]);
    let mut bytes = fs::read(&path).unwrap();
    // Change one character in the middle of the ciphertext to another valid base64 character, so
    // the file still parses and only authenticated decryption can notice (flipping a raw bit could
    // make an invalid base64 character, a different, earlier refusal).
    let text = String::from_utf8(bytes.clone()).unwrap();
    let field = "\"ciphertext\":\"";
    let start = text.find(field).unwrap() + field.len();
    let len = text[start..].find('"').unwrap();
    let at = start + len / 2;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    fs::write(&path, &bytes).unwrap();
    let err = Vault::open_with(&path, &pass("passphrase-1"), FAST).unwrap_err();
    assert_eq!(err.to_string(), "wrong passphrase or damaged vault");
    assert_eq!(fs::read(&path).unwrap(), bytes);
}

#[test]
fn every_truncation_is_detected() {
    let (_home, path, _) = vault_with(&[("k", "value")]);
    let good = fs::read(&path).unwrap();
    for len in 0..good.len() {
        assert!(
            open_bytes(&good[..len], "passphrase-1").is_err(),
            "truncated to {len}"
        );
    }
}

#[test]
fn wrong_passphrase_is_refused_and_the_vault_untouched() {
    let (_home, path, _) = vault_with(&[("k", "v")]);
    let before = fs::read(&path).unwrap();
    let err = Vault::open_with(&path, &pass("passphrase-2"), FAST).unwrap_err();
    assert!(matches!(err, VaultError::WrongPassphraseOrDamaged));
    assert_eq!(err.exit_code(), 2);
    assert_eq!(fs::read(&path).unwrap(), before);
    assert!(Vault::open_with(&path, &pass("passphrase-1"), FAST).is_ok());
}

/// Replaces one JSON string field's value in a serialized vault.
fn with_field(bytes: &[u8], field: &str, value: &str) -> Vec<u8> {
    let mut json: serde_json::Value = serde_json::from_slice(bytes).unwrap();
    let target = if field == "salt" || field == "iterations" {
        &mut json["kdf"][field]
    } else {
        &mut json[field]
    };
    *target = serde_json::from_str(value).unwrap();
    serde_json::to_vec(&json).unwrap()
}

fn field(bytes: &[u8], name: &str) -> String {
    let json: serde_json::Value = serde_json::from_slice(bytes).unwrap();
    let v = if name == "salt" {
        &json["kdf"][name]
    } else {
        &json[name]
    };
    v.to_string()
}

#[test]
fn swapping_fields_between_vaults_and_saves_is_detected() {
    // Two vaults with the same passphrase, and two saves of the first.
    let (_h1, p1, v1) = vault_with(&[("k", "first")]);
    let a1 = fs::read(&p1).unwrap();
    v1.save().unwrap();
    let a2 = fs::read(&p1).unwrap();
    let (_h2, p2, _) = vault_with(&[("k", "second")]);
    let b = fs::read(&p2).unwrap();

    // The nonce of one save with the ciphertext of another.
    let mixed = with_field(&a1, "nonce", &field(&a2, "nonce"));
    assert!(matches!(
        open_bytes(&mixed, "passphrase-1"),
        Err(VaultError::WrongPassphraseOrDamaged)
    ));
    // One vault's ciphertext (and nonce) under another vault's header and salt.
    let grafted = with_field(
        &with_field(&a1, "ciphertext", &field(&b, "ciphertext")),
        "nonce",
        &field(&b, "nonce"),
    );
    assert!(matches!(
        open_bytes(&grafted, "passphrase-1"),
        Err(VaultError::WrongPassphraseOrDamaged)
    ));
    // The salt of the other vault.
    let salted = with_field(&a1, "salt", &field(&b, "salt"));
    assert!(matches!(
        open_bytes(&salted, "passphrase-1"),
        Err(VaultError::WrongPassphraseOrDamaged)
    ));
    // Nonce and ciphertext swapped with each other: wrong lengths.
    let swapped = with_field(
        &with_field(&a1, "nonce", &field(&a1, "ciphertext")),
        "ciphertext",
        &field(&a1, "nonce"),
    );
    assert!(matches!(
        open_bytes(&swapped, "passphrase-1"),
        Err(VaultError::Malformed(_))
    ));
    // The untouched files still open.
    assert!(open_bytes(&a2, "passphrase-1").is_ok());
    assert!(open_bytes(&b, "passphrase-1").is_ok());
}

#[test]
fn changing_the_iteration_count_is_detected() {
    let (_home, path, _) = vault_with(&[("k", "v")]);
    let good = fs::read(&path).unwrap();
    let raised = with_field(&good, "iterations", "17");
    assert!(matches!(
        open_bytes(&raised, "passphrase-1"),
        Err(VaultError::WrongPassphraseOrDamaged)
    ));
    let lowered = with_field(&good, "iterations", "15");
    assert!(matches!(
        open_bytes(&lowered, "passphrase-1"),
        Err(VaultError::WeakKdf { .. })
    ));
    let huge = with_field(&good, "iterations", &(MAX_ITERATIONS + 1).to_string());
    assert!(matches!(
        open_bytes(&huge, "passphrase-1"),
        Err(VaultError::KdfTooExpensive { .. })
    ));
    let zero = with_field(&good, "iterations", "0");
    assert!(open_bytes(&zero, "passphrase-1").is_err());
}

#[test]
fn a_real_open_refuses_a_weak_vault_even_with_the_right_passphrase() {
    // A downgrade: a vault that opens fine is refused by `open` because its work factor is low.
    let (_home, path, _) = vault_with(&[("k", "v")]);
    let err = Vault::open(&path, &pass("passphrase-1")).unwrap_err();
    assert!(matches!(
        err,
        VaultError::WeakKdf {
            iterations: 16,
            minimum: 600_000
        }
    ));
    // A test floor above the file's count refuses it too.
    assert!(matches!(
        Vault::open_with(
            &path,
            &pass("passphrase-1"),
            KdfParams::insecure_for_tests(17)
        ),
        Err(VaultError::WeakKdf { .. })
    ));
}

#[test]
fn unknown_fields_versions_and_algorithms_are_refused() {
    let (_home, path, _) = vault_with(&[("k", "v")]);
    let good = fs::read(&path).unwrap();
    let v2 = with_field(&good, "version", "2");
    assert!(matches!(
        open_bytes(&v2, "passphrase-1"),
        Err(VaultError::UnsupportedVersion(2))
    ));
    let cipher = with_field(&good, "cipher", "\"chacha20-poly1305\"");
    assert!(matches!(
        open_bytes(&cipher, "passphrase-1"),
        Err(VaultError::UnsupportedCipher)
    ));
    let extra = with_field(&good, "comment", "\"hello\"");
    assert!(matches!(
        open_bytes(&extra, "passphrase-1"),
        Err(VaultError::Malformed(_))
    ));
    for junk in [
        &b""[..],
        b"null",
        b"[]",
        b"{}",
        b"\xff\xfe",
        b"{\"version\":1}",
    ] {
        assert!(open_bytes(junk, "passphrase-1").is_err());
    }
}

#[test]
fn passwd_then_the_old_passphrase_fails() {
    let (_home, path, mut vault) = vault_with(&[("k", "kept")]);
    let old_salt = *VaultFile::parse(&fs::read(&path).unwrap()).unwrap().salt();
    vault
        .change_passphrase(&pass("the new passphrase"))
        .unwrap();
    assert!(matches!(
        Vault::open_with(&path, &pass("passphrase-1"), FAST),
        Err(VaultError::WrongPassphraseOrDamaged)
    ));
    let reopened = Vault::open_with(&path, &pass("the new passphrase"), FAST).unwrap();
    assert_eq!(reopened.get("k").unwrap().expose_secret(), "kept");
    let new_salt = *VaultFile::parse(&fs::read(&path).unwrap()).unwrap().salt();
    assert_ne!(
        old_salt, new_salt,
        "a passphrase change must use a new salt"
    );
    // Later saves use the new key.
    vault.set("k2", secret("v2")).unwrap();
    vault.save().unwrap();
    assert!(
        Vault::open_with(&path, &pass("the new passphrase"), FAST)
            .unwrap()
            .contains("k2")
    );
    assert!(matches!(
        vault.change_passphrase(&pass("short")),
        Err(VaultError::PassphraseTooShort { .. })
    ));
}

#[test]
fn a_failed_passwd_changes_nothing() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("credentials");
    let path = dir.join("vault.json");
    let mut vault = Vault::create_with(&path, &pass("passphrase-1"), FAST).unwrap();
    vault.set("k", secret("v")).unwrap();
    vault.save().unwrap();
    let before = fs::read(&path).unwrap();
    // Take the directory away so that writing fails, then put it back.
    let aside = home.path().join("aside");
    fs::rename(&dir, &aside).unwrap();
    assert!(matches!(
        vault.change_passphrase(&pass("the new passphrase")),
        Err(VaultError::Io { .. })
    ));
    fs::rename(&aside, &dir).unwrap();
    assert_eq!(fs::read(&path).unwrap(), before);
    // In memory the old key is still in use: a save is still opened by the old passphrase.
    vault.save().unwrap();
    assert!(Vault::open_with(&path, &pass("passphrase-1"), FAST).is_ok());
}
