//! Time and randomness, behind small traits so tests can move the clock (pairing expiry,
//! lockouts) and pin the codes.

use std::fmt::Debug;

use ring::rand::{SecureRandom, SystemRandom};

use crate::ChannelError;

/// The policy layer's clock: one notion of "now" (whole seconds since the Unix epoch) for approvals,
/// budgets, pairing codes and lockouts alike.
pub use rampart_policy::{Clock, SystemClock};

/// Where random numbers come from.
pub trait Random: Send + Sync + Debug {
    /// A uniformly random number in `0..bound` (`bound > 0`).
    ///
    /// # Errors
    /// [`ChannelError::Random`] when the source fails.
    fn below(&self, bound: u32) -> Result<u32, ChannelError>;
}

/// The operating system's CSPRNG (`getrandom` through `ring`), with rejection sampling so every
/// value is equally likely.
#[derive(Debug)]
pub struct OsRandom(SystemRandom);

impl Default for OsRandom {
    fn default() -> Self {
        Self::new()
    }
}

impl OsRandom {
    /// The OS generator.
    #[must_use]
    pub fn new() -> Self {
        Self(SystemRandom::new())
    }
}

impl Random for OsRandom {
    fn below(&self, bound: u32) -> Result<u32, ChannelError> {
        let bound = bound.max(1);
        // The largest multiple of `bound` that fits: values at or above it would bias the result.
        let zone = u32::MAX - (u32::MAX % bound);
        // Each draw is rejected with probability < 1/2, so 64 draws fail with p < 2^-64.
        for _ in 0..64 {
            let mut b = [0u8; 4];
            self.0.fill(&mut b).map_err(|_| ChannelError::Random)?;
            let v = u32::from_le_bytes(b);
            if v < zone {
                return Ok(v % bound);
            }
        }
        Err(ChannelError::Random)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn os_random_stays_below_the_bound_and_varies() {
        let r = OsRandom::new();
        let draws: Vec<u32> = (0..64).map(|_| r.below(1_000_000).unwrap()).collect();
        assert!(draws.iter().all(|d| *d < 1_000_000));
        let first = draws[0];
        assert!(draws.iter().any(|d| *d != first));
        assert_eq!(r.below(1).unwrap(), 0);
    }
}
