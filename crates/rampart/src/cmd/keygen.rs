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

pub(crate) fn run() -> Result<ExitCode, CliError> {
    println!("{}", new_key()?);
    Ok(ExitCode::SUCCESS)
}
