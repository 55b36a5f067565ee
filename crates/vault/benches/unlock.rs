//! How long unlocking takes: `Vault::open` at the real 600,000 PBKDF2 iterations. This is the
//! KDF's cost by design; run with `cargo bench -p rampart-vault --bench unlock`.

// criterion_group! generates an undocumented pub fn.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use rampart_vault::{SecretString, Vault};

fn unlock(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = rampart_vault::vault_path(dir.path());
    let pass = SecretString::from("bench passphrase, not secret".to_owned());
    let mut vault = Vault::create(&path, &pass).expect("create");
    for i in 0..20 {
        vault
            .set(
                &format!("key_{i}"),
                SecretString::from(format!("sk-{i:040}")),
            )
            .expect("set");
    }
    vault.save().expect("save");

    let mut group = c.benchmark_group("vault");
    group.sample_size(10);
    group.bench_function("unlock_600k", |b| {
        b.iter(|| Vault::open(black_box(&path), black_box(&pass)).expect("open"));
    });
    group.bench_function("save", |b| b.iter(|| vault.save().expect("save")));
    group.finish();
}

criterion_group!(benches, unlock);
criterion_main!(benches);
