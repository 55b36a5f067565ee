//! Shared helpers for the vault's integration tests (included with `mod common;`).

// Helpers outside #[test] fns: a failed setup step should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code, unreachable_pub)]

use std::path::PathBuf;

use rampart_vault::{KdfParams, SecretString, Vault};

/// Test vaults use few iterations so that thousands of opens stay fast; the real count has its
/// own test.
pub const FAST: KdfParams = KdfParams::insecure_for_tests(16);

pub fn pass(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

pub fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

/// A fresh home with a vault holding `entries`, saved.
pub fn vault_with(entries: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf, Vault) {
    let home = tempfile::tempdir().unwrap();
    let path = rampart_vault::vault_path(home.path());
    let mut vault = Vault::create_with(&path, &pass("passphrase-1"), FAST).unwrap();
    for (n, v) in entries {
        vault.set(n, secret(v)).unwrap();
    }
    vault.save().unwrap();
    (home, path, vault)
}
