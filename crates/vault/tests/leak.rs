//! No secret on disk and none in `Debug` output (SPEC V4, V5).

// Helper fns outside #[test] unwrap too: a failed setup step should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use common::{FAST, pass, secret, vault_with};
use rampart_core::SecretRef;
use rampart_vault::passphrase::PassphraseReader;
use rampart_vault::resolve::Resolver;
use rampart_vault::{SecretString, Vault, VaultError};

const VALUE: &str = "sk-ant-api03-Very-Secret-Value-0123456789";

/// Every form of the secret that would count as a leak: raw, base64 (each variant and each of
/// the three alignments a longer encoded string could put it in) and hex.
fn forms(value: &str) -> Vec<Vec<u8>> {
    let mut out = vec![value.as_bytes().to_vec()];
    for shift in 0..3 {
        let mut shifted = vec![b'x'; shift];
        shifted.extend_from_slice(value.as_bytes());
        for engine in [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD] {
            let enc = engine.encode(&shifted);
            // Drop the characters that mix in the prefix or the padding.
            let start = if shift == 0 { 0 } else { 4 };
            let end = enc.trim_end_matches('=').len().saturating_sub(4);
            out.push(enc.as_bytes()[start..end].to_vec());
        }
    }
    out.push(hex::encode(value).into_bytes());
    out.push(hex::encode_upper(value).into_bytes());
    out
}

fn files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn after_set_and_save_no_file_under_the_home_holds_the_secret() {
    let (home, _path, mut vault) = vault_with(&[("anthropic", VALUE)]);
    // Several saves and a passphrase change: temp files and old versions must not leak either.
    vault.set("other", secret("x")).unwrap();
    vault.save().unwrap();
    vault
        .change_passphrase(&pass("a second passphrase"))
        .unwrap();
    let mut files = Vec::new();
    files_under(home.path(), &mut files);
    assert!(!files.is_empty());
    let needles = forms(VALUE);
    for file in &files {
        let bytes = fs::read(file).unwrap();
        for needle in &needles {
            assert!(
                !contains(&bytes, needle),
                "{} holds the secret as {}",
                file.display(),
                String::from_utf8_lossy(needle)
            );
        }
        // Nor the passphrases.
        assert!(!contains(&bytes, b"passphrase-1"));
        assert!(!contains(&bytes, b"a second passphrase"));
    }
    // And the check itself would see a raw copy.
    fs::write(home.path().join("plain.txt"), format!("key={VALUE}")).unwrap();
    assert!(contains(
        &fs::read(home.path().join("plain.txt")).unwrap(),
        needles[0].as_slice()
    ));
}

#[test]
fn debug_of_secret_types_shows_no_secret() {
    let (_home, path, vault) = vault_with(&[("anthropic", VALUE)]);
    let value = SecretString::from(VALUE.to_owned());
    let reference: SecretRef = VALUE.parse().unwrap();
    let resolver = Resolver::with_env(Some(&vault), |_| Some(VALUE.to_owned()));
    let reader = PassphraseReader::new(
        std::io::Cursor::new(VALUE.as_bytes()),
        false,
        |_| None,
        |_| Ok(VALUE.to_owned()),
    );
    let reopened = Vault::open_with(&path, &pass("passphrase-1"), FAST).unwrap();
    let printed = [
        format!("{vault:?}"),
        format!("{vault:#?}"),
        format!("{reopened:?}"),
        format!("{value:?}"),
        format!("{reference:?}"),
        format!("{resolver:?}"),
        format!("{reader:?}"),
        format!(
            "{:?}",
            resolver.resolve(&"vault:anthropic".parse().unwrap())
        ),
    ];
    for text in &printed {
        assert!(!text.contains(VALUE), "leaked in {text}");
        assert!(!text.contains("Very-Secret"), "leaked in {text}");
        assert!(!text.contains("passphrase-1"), "leaked in {text}");
    }
}

#[test]
fn errors_never_carry_a_value() {
    let (_home, path, vault) = vault_with(&[("anthropic", VALUE)]);
    let errors: Vec<VaultError> = vec![
        Vault::open_with(&path, &pass(VALUE), FAST).unwrap_err(),
        Resolver::with_env(Some(&vault), |_| None)
            .resolve(&"env:MISSING".parse().unwrap())
            .unwrap_err(),
        Resolver::with_env(None, |_| Some(VALUE.to_owned()))
            .resolve(&"vault:anthropic".parse().unwrap())
            .unwrap_err(),
    ];
    for e in &errors {
        assert!(!e.to_string().contains(VALUE));
        assert!(!format!("{e:?}").contains(VALUE));
    }
}
