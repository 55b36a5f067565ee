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
//! The budget lives in the gateway's memory: a restart starts it afresh, but a restart is the
//! operator's act, not the attacker's. The per-user lockouts stay in the store.

use std::collections::{HashMap, VecDeque};

use crate::pairing::CODE_TTL_SECS;

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

/// One channel's state.
#[derive(Debug, Default)]
struct ChannelState {
    /// When each recent failure happened (at most [`MAX_CHANNEL_FAILURES`]).
    failures: VecDeque<i64>,
    /// The channel refuses every attempt until then.
    locked_until: Option<i64>,
    /// Codes issued at or before this time are revoked.
    revoked_through: Option<i64>,
}

/// What a failure did to the budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Spent {
    /// Still within the budget.
    No,
    /// This failure spent it: the channel is locked until then.
    Now(i64),
}

/// The budgets of every channel. Callers hold it under one lock with the store calls of an
/// attempt, so two attempts cannot both take the last failure.
#[derive(Debug, Default)]
pub(crate) struct Budgets {
    channels: HashMap<String, ChannelState>,
}

impl Budgets {
    /// The end of `channel`'s lockout, when it is locked at `now`.
    pub(crate) fn locked_until(&mut self, channel: &str, now: i64) -> Option<i64> {
        let state = self.channels.get_mut(channel)?;
        match state.locked_until {
            Some(until) if now < until => Some(until),
            Some(_) => {
                state.locked_until = None;
                state.failures.clear();
                None
            }
            None => None,
        }
    }

    /// Whether a code of `channel` expiring at `expires_at` was revoked by a spent budget.
    pub(crate) fn revoked(&self, channel: &str, expires_at: i64) -> bool {
        self.channels
            .get(channel)
            .and_then(|s| s.revoked_through)
            .is_some_and(|through| expires_at - CODE_TTL_SECS <= through)
    }

    /// Counts one wrong code on `channel` at `now`.
    pub(crate) fn fail(&mut self, channel: &str, now: i64) -> Spent {
        let state = self.channels.entry(channel.to_owned()).or_default();
        while state
            .failures
            .front()
            .is_some_and(|at| *at <= now - CHANNEL_FAILURE_WINDOW_SECS)
        {
            state.failures.pop_front();
        }
        state.failures.push_back(now);
        if state.failures.len() < MAX_CHANNEL_FAILURES {
            return Spent::No;
        }
        state.failures.clear();
        let until = now + CHANNEL_LOCKOUT_SECS;
        state.locked_until = Some(until);
        state.revoked_through = Some(now);
        Spent::Now(until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_counts_a_sliding_window_and_revokes_older_codes() {
        let mut b = Budgets::default();
        for i in 0..MAX_CHANNEL_FAILURES - 1 {
            assert_eq!(b.fail("telegram", i64::try_from(i).unwrap_or(0)), Spent::No);
        }
        // The first failure falls out of the window: still within the budget.
        assert_eq!(b.fail("telegram", CHANNEL_FAILURE_WINDOW_SECS), Spent::No);
        let now = CHANNEL_FAILURE_WINDOW_SECS;
        assert_eq!(
            b.fail("telegram", now),
            Spent::Now(now + CHANNEL_LOCKOUT_SECS)
        );
        assert_eq!(
            b.locked_until("telegram", now),
            Some(now + CHANNEL_LOCKOUT_SECS)
        );
        assert_eq!(b.locked_until("discord", now), None);
        assert!(b.revoked("telegram", now + CODE_TTL_SECS));
        assert!(!b.revoked("telegram", now + 1 + CODE_TTL_SECS));
        assert!(!b.revoked("discord", now + CODE_TTL_SECS));
        assert_eq!(b.locked_until("telegram", now + CHANNEL_LOCKOUT_SECS), None);
    }
}
