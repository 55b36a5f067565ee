//! `rampart keygen`: a new API key (SPEC A2).

use std::process::ExitCode;

use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};

use crate::exit::CliError;

/// Bytes of randomness in a key.
///
/// # Security
/// 256 bits: not guessable, and the same strength as the keys the vault protects.
pub(crate) const KEY_BYTES: usize = 32;

/// A fresh key: base64 (standard, padded) of 32 bytes from the OS CSPRNG.
pub(crate) fn new_key() -> Result<String, CliError> {
    let mut bytes = [0u8; KEY_BYTES];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| CliError::runtime(anyhow::anyhow!("the system random generator failed")))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// The argon2id hash of `key` at the argon2 crate's default cost (m = 19 MiB, t = 2, p = 1,
/// the OWASP recommendation), with a 16-byte salt from the OS CSPRNG, as a PHC string.
pub(crate) fn hash_key(key: &str) -> Result<String, CliError> {
    use argon2::PasswordHasher as _;
    let mut salt = [0u8; 16];
    SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| CliError::runtime(anyhow::anyhow!("the system random generator failed")))?;
    let salt = argon2::password_hash::SaltString::encode_b64(&salt)
        .map_err(|e| CliError::runtime(anyhow::anyhow!("encoding the salt: {e}")))?;
    let hash = argon2::Argon2::default()
        .hash_password(key.as_bytes(), &salt)
        .map_err(|e| CliError::runtime(anyhow::anyhow!("hashing the key: {e}")))?;
    Ok(hash.to_string())
}

/// `rampart keygen [--hash]`: the key on the first line; with `--hash`, `api_key_hash = "…"` for
/// a `[[users]]` entry on the second.
pub(crate) fn run(hash: bool) -> Result<ExitCode, CliError> {
    let key = zeroize::Zeroizing::new(new_key()?);
    println!("{}", key.as_str());
    if hash {
        println!("api_key_hash = \"{}\"", hash_key(&key)?);
    }
    Ok(ExitCode::SUCCESS)
}
