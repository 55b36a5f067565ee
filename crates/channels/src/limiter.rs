//! Per-user rate limits (SPEC P3): GCRA (`governor`) keyed on the channel's verified user id.
//!
//! The key is [`crate::InboundMessage::user_id`], which the service vouches for. The display
//! name, which the sender can change at will, is never part of it: renaming yourself does not buy
//! a new budget. Memory stays bounded as in the gateway's per-IP limiter: stale keys are evicted
//! regularly and past [`MAX_TRACKED_USERS`] live keys every user shares one overflow bucket.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// The most user keys tracked at once per channel.
///
/// # Security
/// An attacker with many accounts (or a channel with open access) must not grow the limiter
/// without bound; 64 Ki keys are a few MB.
pub const MAX_TRACKED_USERS: usize = 65_536;
/// How often (in checks) the key count is looked at and stale keys evicted.
const EVICT_EVERY: u64 = 1024;
/// The key every user shares while the limiter is full.
const OVERFLOW_KEY: &str = "\u{0}overflow";

/// A refusal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limited {
    /// True for the first refusal of this user in the current minute: audit that one only, so a
    /// flood cannot turn into an audit-trail flood.
    pub audit: bool,
}

/// `rate_limit_per_user` messages a minute per user, the same number back to back.
pub struct UserLimiter {
    limiter: DefaultKeyedRateLimiter<String>,
    audit_gate: DefaultKeyedRateLimiter<String>,
    checks: AtomicU64,
    overflow: AtomicBool,
}

impl std::fmt::Debug for UserLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserLimiter")
            .field("keys", &self.limiter.len())
            .finish_non_exhaustive()
    }
}

impl UserLimiter {
    /// `per_minute` messages a minute per user.
    #[must_use]
    pub fn new(per_minute: NonZeroU32) -> Self {
        Self {
            limiter: RateLimiter::keyed(Quota::per_minute(per_minute)),
            audit_gate: RateLimiter::keyed(Quota::per_minute(NonZeroU32::MIN)),
            checks: AtomicU64::new(0),
            overflow: AtomicBool::new(false),
        }
    }

    /// Takes one message from `user_id`'s budget.
    ///
    /// # Errors
    /// [`Limited`] when the user is over their rate.
    pub fn check(&self, user_id: &str) -> Result<(), Limited> {
        let n = self.checks.fetch_add(1, Ordering::Relaxed);
        if n.is_multiple_of(EVICT_EVERY) {
            if self.limiter.len() >= MAX_TRACKED_USERS || n.is_multiple_of(EVICT_EVERY * 16) {
                self.limiter.retain_recent();
                self.limiter.shrink_to_fit();
                self.audit_gate.retain_recent();
                self.audit_gate.shrink_to_fit();
            }
            self.overflow
                .store(self.limiter.len() >= MAX_TRACKED_USERS, Ordering::Relaxed);
        }
        let key = if self.overflow.load(Ordering::Relaxed) {
            OVERFLOW_KEY.to_owned()
        } else {
            user_id.to_owned()
        };
        match self.limiter.check_key(&key) {
            Ok(()) => Ok(()),
            Err(_) => Err(Limited {
                audit: self.audit_gate.check_key(&key).is_ok(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    #[test]
    fn each_user_has_their_own_budget() {
        let l = UserLimiter::new(NonZeroU32::new(3).unwrap());
        for _ in 0..3 {
            assert!(l.check("1").is_ok());
        }
        assert_eq!(l.check("1"), Err(Limited { audit: true }));
        assert_eq!(l.check("1"), Err(Limited { audit: false }));
        assert!(l.check("2").is_ok());
    }
}
