//! Key derivation: PBKDF2-HMAC-SHA256 from the passphrase to the AES-256 key.

use std::num::NonZeroU32;

use ring::pbkdf2;
use zeroize::Zeroizing;

use crate::VaultError;

/// PBKDF2 iterations for every vault Rampart creates (SPEC V1).
///
/// # Security
/// The work factor is what makes an offline guess cost; 600,000 is OWASP's 2023 figure for
/// PBKDF2-HMAC-SHA256. Unlocking costs this once per start, by design.
pub const DEFAULT_ITERATIONS: u32 = 600_000;

/// The fewest PBKDF2 iterations [`crate::Vault::open`] accepts.
///
/// # Security
/// The header is authenticated, so nobody without the passphrase can lower the count of a real
/// vault; but a vault written with a weak count (a test vault copied into a home, a file planted by
/// someone who chose the passphrase for you) would be brute-forced cheaply and keep being re-saved
/// with that count. Such a file is refused unless the caller lowers the floor on purpose with
/// [`KdfParams::insecure_for_tests`].
pub const MIN_ITERATIONS: u32 = DEFAULT_ITERATIONS;

/// The most PBKDF2 iterations any vault may ask for.
///
/// # Security
/// The count comes from the file, before anything is authenticated: without a ceiling a tampered
/// header could make unlocking take hours (denial of service). 10,000,000 is ~17× the default.
pub const MAX_ITERATIONS: u32 = 10_000_000;

/// Length of the derived AES-256 key.
pub(crate) const KEY_LEN: usize = 32;

/// How hard the key derivation works: the PBKDF2 iteration count.
///
/// When creating a vault it is the count written to the header; when opening one it is the floor
/// the header must meet. [`KdfParams::recommended`] (the [`Default`]) is 600,000 for both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    iterations: u32,
}

impl KdfParams {
    /// 600,000 iterations: what every real vault uses and requires.
    #[must_use]
    pub const fn recommended() -> Self {
        Self {
            iterations: DEFAULT_ITERATIONS,
        }
    }

    /// A low iteration count, **for tests only** (audit every use outside tests).
    ///
    /// Creating with it writes a vault whose header records that low count; opening with it lowers
    /// the floor below [`MIN_ITERATIONS`] so such a vault opens. Values are clamped to
    /// `1..=MAX_ITERATIONS`.
    #[must_use]
    pub const fn insecure_for_tests(iterations: u32) -> Self {
        let iterations = if iterations == 0 {
            1
        } else if iterations > MAX_ITERATIONS {
            MAX_ITERATIONS
        } else {
            iterations
        };
        Self { iterations }
    }

    /// The iteration count.
    #[must_use]
    pub const fn iterations(&self) -> u32 {
        self.iterations
    }
}

impl Default for KdfParams {
    fn default() -> Self {
        Self::recommended()
    }
}

/// Checks a header's count against the caller's floor and [`MAX_ITERATIONS`].
pub(crate) fn check_iterations(iterations: u32, floor: KdfParams) -> Result<(), VaultError> {
    if iterations > MAX_ITERATIONS {
        return Err(VaultError::KdfTooExpensive {
            iterations,
            maximum: MAX_ITERATIONS,
        });
    }
    if iterations < floor.iterations || iterations == 0 {
        return Err(VaultError::WeakKdf {
            iterations,
            minimum: floor.iterations.max(1),
        });
    }
    Ok(())
}

/// Derives the 32-byte key from the passphrase and salt.
pub(crate) fn derive_key(
    passphrase: &[u8],
    salt: &[u8],
    iterations: u32,
) -> Result<Zeroizing<[u8; KEY_LEN]>, VaultError> {
    let iterations = NonZeroU32::new(iterations).ok_or(VaultError::WeakKdf {
        iterations: 0,
        minimum: 1,
    })?;
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        iterations,
        salt,
        passphrase,
        key.as_mut(),
    );
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_refuses_downgrade_and_ceiling_refuses_dos() {
        let real = KdfParams::recommended();
        assert!(check_iterations(DEFAULT_ITERATIONS, real).is_ok());
        assert!(matches!(
            check_iterations(1_000, real),
            Err(VaultError::WeakKdf {
                iterations: 1_000,
                minimum: DEFAULT_ITERATIONS
            })
        ));
        assert!(matches!(
            check_iterations(MAX_ITERATIONS + 1, KdfParams::insecure_for_tests(1)),
            Err(VaultError::KdfTooExpensive { .. })
        ));
        assert!(check_iterations(0, KdfParams::insecure_for_tests(0)).is_err());
        assert!(check_iterations(10, KdfParams::insecure_for_tests(10)).is_ok());
    }

    #[test]
    fn pbkdf2_matches_a_published_vector() {
        // RFC 7914 §11 PBKDF2-HMAC-SHA256 vector: P="passwd", S="salt", c=1, dkLen=64 (first 32 bytes).
        let key = derive_key(b"passwd", b"salt", 1).unwrap();
        assert_eq!(
            key.as_slice(),
            [
                0x55, 0xac, 0x04, 0x6e, 0x56, 0xe3, 0x08, 0x9f, 0xec, 0x16, 0x91, 0xc2, 0x25, 0x44,
                0xb6, 0x05, 0xf9, 0x41, 0x85, 0x21, 0x6d, 0xde, 0x04, 0x65, 0xe6, 0x8b, 0x9d, 0x57,
                0xc2, 0x0d, 0xac, 0xbc
            ]
        );
    }
}
