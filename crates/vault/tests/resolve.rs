//! The resolution chain (SPEC V3): explicit references are followed exactly; settings are looked
//! up vault > config file > environment.

// Helper fns outside #[test] unwrap too: a failed setup step should stop the test loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;

use common::vault_with;
use rampart_core::SecretRef;
use rampart_vault::resolve::{Resolver, Setting};
use rampart_vault::{ExposeSecret, VaultError};

fn r(s: &str) -> SecretRef {
    s.parse().unwrap()
}

const SETTING: Setting<'static> = Setting {
    vault_name: "openai_api_key",
    env_var: "OPENAI_API_KEY",
};

fn env_of(pairs: &[(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> + 'static {
    let map: HashMap<&str, &str> = pairs.iter().copied().collect();
    move |k| map.get(k).map(|v| (*v).to_owned())
}

#[test]
fn explicit_references_are_followed_exactly() {
    let (_home, _path, vault) = vault_with(&[("api_key", "from-vault")]);
    let res = Resolver::with_env(
        Some(&vault),
        env_of(&[("API_KEY", "from-env"), ("X", "x-env")]),
    );
    assert_eq!(
        res.resolve(&r("vault:api_key")).unwrap().expose_secret(),
        "from-vault"
    );
    assert_eq!(res.resolve(&r("env:X")).unwrap().expose_secret(), "x-env");
    assert_eq!(
        res.resolve(&r("a literal")).unwrap().expose_secret(),
        "a literal"
    );
}

#[test]
fn a_missing_vault_entry_never_falls_back_to_the_environment() {
    // An attacker who can set environment variables must not substitute a vault secret.
    let (_home, _path, vault) = vault_with(&[]);
    let res = Resolver::with_env(
        Some(&vault),
        env_of(&[("peer_secret", "planted"), ("PEER_SECRET", "planted")]),
    );
    assert!(matches!(
        res.resolve(&r("vault:peer_secret")),
        Err(VaultError::SecretNotFound { name }) if name == "peer_secret"
    ));
    let locked = Resolver::with_env(None, env_of(&[("PEER_SECRET", "planted")]));
    let err = locked.resolve(&r("vault:peer_secret")).unwrap_err();
    assert!(matches!(err, VaultError::VaultLocked { .. }));
    assert_eq!(err.exit_code(), 2);
}

#[test]
fn unset_or_empty_env_is_an_error_and_bad_names_are_refused() {
    let res = Resolver::with_env(None, env_of(&[("EMPTY", "")]));
    assert!(matches!(
        res.resolve(&r("env:UNSET")),
        Err(VaultError::EnvNotSet { .. })
    ));
    assert!(matches!(
        res.resolve(&r("env:EMPTY")),
        Err(VaultError::EnvNotSet { .. })
    ));
    let (_home, _path, vault) = vault_with(&[]);
    let res = Resolver::with_env(Some(&vault), |_| None);
    assert!(matches!(
        res.resolve(&r("vault:../x")),
        Err(VaultError::InvalidName(_))
    ));
}

#[test]
fn settings_resolve_vault_then_config_then_environment() {
    let (_home, _path, vault) = vault_with(&[("openai_api_key", "from-vault"), ("other", "o")]);
    let env = env_of(&[
        ("OPENAI_API_KEY", "from-env"),
        ("CONFIGURED", "configured-env"),
    ]);
    let with_vault = Resolver::with_env(Some(&vault), &env);

    // 1. The vault entry wins over the config file and the environment.
    let got = with_vault
        .resolve_setting(SETTING, Some(&r("config-literal")))
        .unwrap();
    assert_eq!(got.expose_secret(), "from-vault");
    assert_eq!(
        with_vault
            .resolve_setting(SETTING, None)
            .unwrap()
            .expose_secret(),
        "from-vault"
    );

    // 2. Without the entry, the config file's value (followed exactly) wins over the environment.
    let (_h2, _p2, empty) = vault_with(&[("other", "o")]);
    let no_entry = Resolver::with_env(Some(&empty), &env);
    let literal = no_entry
        .resolve_setting(SETTING, Some(&r("config-literal")))
        .unwrap();
    assert_eq!(literal.expose_secret(), "config-literal");
    let via_env_ref = no_entry
        .resolve_setting(SETTING, Some(&r("env:CONFIGURED")))
        .unwrap();
    assert_eq!(via_env_ref.expose_secret(), "configured-env");
    let via_vault_ref = no_entry
        .resolve_setting(SETTING, Some(&r("vault:other")))
        .unwrap();
    assert_eq!(via_vault_ref.expose_secret(), "o");
    // A configured reference that fails is an error, not a fall-through to the environment.
    assert!(matches!(
        no_entry.resolve_setting(SETTING, Some(&r("vault:missing"))),
        Err(VaultError::SecretNotFound { .. })
    ));

    // 3. Nothing in the vault or config: the environment.
    assert_eq!(
        no_entry
            .resolve_setting(SETTING, None)
            .unwrap()
            .expose_secret(),
        "from-env"
    );
    let locked = Resolver::with_env(None, &env);
    assert_eq!(
        locked
            .resolve_setting(SETTING, None)
            .unwrap()
            .expose_secret(),
        "from-env"
    );

    // 4. Nowhere: a clear error naming where it looked.
    let nothing = Resolver::with_env(None, |_| None);
    let err = nothing.resolve_setting(SETTING, None).unwrap_err();
    assert!(
        err.to_string().contains("openai_api_key") && err.to_string().contains("OPENAI_API_KEY")
    );
}
