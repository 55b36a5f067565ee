//! What checking a `[[users]]` key costs (SPEC A5): a cached key against an unknown one, at the
//! default argon2id cost of `rampart keygen --hash` (m = 19 MiB, t = 2, p = 1), for directories of
//! 1, 4 and 16 users. An unknown key is verified against every enabled user's hash (no early exit),
//! so its cost grows with the number of users; a known key costs one HMAC and a map lookup after
//! its first use.
//!
//! `cargo bench -p rampart-gateway --bench key_check` prints the median time per check.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    reason = "a benchmark harness: a failure is a failed run, output is the point"
)]

use std::time::{Duration, Instant};

use argon2::PasswordHasher as _;
use rampart_gateway::Authenticator;

fn hash(key: &str) -> String {
    let salt = argon2::password_hash::SaltString::encode_b64(b"bench-salt-16byt").unwrap();
    argon2::Argon2::default()
        .hash_password(key.as_bytes(), &salt)
        .unwrap()
        .to_string()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    for n in [1usize, 4, 16] {
        let toml: String = (0..n)
            .map(|i| {
                format!(
                    "[[users]]\nname = \"u{i}\"\nrole = \"user\"\napi_key_hash = \"{}\"\n",
                    hash(&format!("key-{i}"))
                )
            })
            .collect();
        let users = rampart_config::Config::from_toml_str(&toml, "config.toml")
            .unwrap()
            .users;
        let auth = Authenticator::with_users(None, true, &users);
        let last = format!("key-{}", n - 1);
        let (hit, miss) = rt.block_on(async {
            assert!(
                auth.verify(&last).await.is_some(),
                "first use verifies and caches"
            );
            let mut hit = Vec::new();
            for _ in 0..2000 {
                let t = Instant::now();
                assert!(auth.verify(&last).await.is_some());
                hit.push(t.elapsed());
            }
            let mut miss = Vec::new();
            for i in 0..5 {
                let t = Instant::now();
                assert!(auth.verify(&format!("wrong-{i}")).await.is_none());
                miss.push(t.elapsed());
            }
            (median(hit), median(miss))
        });
        println!(
            "users={n:>2}  cached key: {:>8.2} µs   unknown key: {:>8.1} ms",
            hit.as_secs_f64() * 1e6,
            miss.as_secs_f64() * 1e3
        );
    }
}
