//! Fuzzes the vault file parser (`credentials/vault.json` is read before anything is
//! authenticated), the unlock path behind it, and the decrypted entry-list decoder.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_vault::{KdfParams, SecretString, Vault, VaultFile};

fuzz_target!(|data: &[u8]| {
    // The decoder of the decrypted entries must never panic either.
    let _ = rampart_vault::fuzzing::decode_entries(data);

    let Ok(file) = VaultFile::parse(data) else {
        return;
    };
    // What parses re-serializes to something that parses to the same thing.
    let again = VaultFile::parse(&file.to_bytes()).expect("re-serialized vault file must parse");
    assert_eq!(again, file);
    // Unlocking a parsed file fails cleanly (cheap work factors only, to keep the fuzzer fast).
    if file.iterations() <= 4 {
        let pass = SecretString::from("fuzz passphrase".to_owned());
        let _ = Vault::from_bytes("fuzz.json".into(), data, &pass, KdfParams::insecure_for_tests(1));
    }
});
