//! The per-channel pairing failure budget: wrong codes counted across **all** users of a
//! channel, so many accounts do not multiply the guesses (SPEC P2, ★).
//!
//! The per-user lockout alone lets an attacker with N accounts make 5·N guesses every 15
//! minutes. The budget caps the channel as a whole at [`MAX_CHANNEL_FAILURES`] wrong codes per
//! [`CHANNEL_FAILURE_WINDOW_SECS`]; once spent, every `/pair` on the channel is refused until
//! [`CHANNEL_LOCKOUT_SECS`] have passed, and every code issued up to that moment is revoked
//! (dead for good, even after the lockout), so the guesser cannot keep working on them. An
//! admin issues a fresh code once the lockout is over.
//!
//! The lockout and the revocation are in the store (written under the same lock as the count,
//! the moment the budget is spent), so a restart within a code's lifetime neither lifts the
//! lockout nor revives the codes. The count of recent failures lives in the gateway's memory: a
//! restart starts it afresh, but a restart is the operator's act, not the attacker's. The
//! per-user lockouts are in the store too.

use std::collections::{HashMap, VecDeque};

/// Wrong codes, from all users together, that spend a channel's budget within
/// [`CHANNEL_FAILURE_WINDOW_SECS`].
///
/// # Security
/// Each wrong guess hits one of the channel's live codes with probability at most
/// `MAX_ACTIVE_CODES / 10^6` (8 in a million). 20 guesses before the budget is spent and the
/// codes are revoked give a guesser at most a 1-in-50,000 chance against a single live code (1 in
/// 6,250 with the most live codes a channel may hold), per 15 minutes, however many accounts
/// they use. A person who mistypes is nowhere near 20; a script finds the channel closed.
pub const MAX_CHANNEL_FAILURES: usize = 20;
/// The window the channel's failures are counted in, in seconds.
pub const CHANNEL_FAILURE_WINDOW_SECS: i64 = 15 * 60;
/// How long a channel whose budget is spent refuses every `/pair`, in seconds.
pub const CHANNEL_LOCKOUT_SECS: i64 = 15 * 60;

/// What a failure did to the budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Spent {
    /// Still within the budget.
    No,
    /// This failure spent it: the channel is to be locked until then. The count starts afresh
    /// once the caller has stored the lock ([`Budgets::reset`]).
    Now(i64),
}

/// The recent failures of every channel. Callers hold it under one lock with the store calls of
/// an attempt, so two attempts cannot both take the last failure.
#[derive(Debug, Default)]
pub(crate) struct Budgets {
    /// When each recent failure of a channel happened (at most [`MAX_CHANNEL_FAILURES`]).
    failures: HashMap<String, VecDeque<i64>>,
}

impl Budgets {
    /// Counts one wrong code on `channel` at `now`.
    pub(crate) fn fail(&mut self, channel: &str, now: i64) -> Spent {
        let failures = self.failures.entry(channel.to_owned()).or_default();
        while failures
            .front()
            .is_some_and(|at| *at <= now - CHANNEL_FAILURE_WINDOW_SECS)
        {
            failures.pop_front();
        }
        failures.push_back(now);
        // A spent budget whose lock could not be stored stays spent: the next failure tries
        // again, and the list never grows past the budget.
        while failures.len() > MAX_CHANNEL_FAILURES {
            failures.pop_front();
        }
        if failures.len() < MAX_CHANNEL_FAILURES {
            return Spent::No;
        }
        Spent::Now(now + CHANNEL_LOCKOUT_SECS)
    }

    /// Starts `channel`'s count afresh (its lock is stored).
    pub(crate) fn reset(&mut self, channel: &str) {
        self.failures.remove(channel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_counts_a_sliding_window() {
        let mut b = Budgets::default();
        for i in 0..MAX_CHANNEL_FAILURES - 1 {
            assert_eq!(b.fail("telegram", i64::try_from(i).unwrap_or(0)), Spent::No);
        }
        // The first failure falls out of the window: still within the budget.
        assert_eq!(b.fail("telegram", CHANNEL_FAILURE_WINDOW_SECS), Spent::No);
        assert_eq!(b.fail("discord", CHANNEL_FAILURE_WINDOW_SECS), Spent::No);
        let now = CHANNEL_FAILURE_WINDOW_SECS;
        assert_eq!(
            b.fail("telegram", now),
            Spent::Now(now + CHANNEL_LOCKOUT_SECS)
        );
        // Until the lock is stored, every failure spends it again.
        assert_eq!(
            b.fail("telegram", now + 1),
            Spent::Now(now + 1 + CHANNEL_LOCKOUT_SECS)
        );
        b.reset("telegram");
        assert_eq!(b.fail("telegram", now + 2), Spent::No);
    }
}
