//! Pairing codes (SPEC P2): how a person who is not on a channel's allowlist gets on it.
//!
//! An admin issues a code (`rampart pair CHANNEL` or `POST /api/channels/{channel}/pairing-codes`);
//! the person sends `/pair CODE` to the bot; the shared path ([`crate::Inbound`]) hands it here.
//!
//! - A code is 6 digits drawn uniformly from the OS CSPRNG, bound to one channel, valid for
//!   [`CODE_TTL_SECS`], and used once: consuming it and allowlisting the user is one SQLite
//!   transaction, so two people racing for one code cannot both win.
//! - The presented code is compared in constant time against every live code of the channel
//!   (no early exit, so timing shows neither which code nor how many digits matched).
//! - [`MAX_FAILED_ATTEMPTS`] wrong codes from one user within [`FAILURE_WINDOW_SECS`] lock that
//!   user out of pairing on that channel for [`LOCKOUT_SECS`]; while locked out even the right
//!   code is refused. Every attempt is audited (`pairing_attempt`, outcome ok/denied/blocked).
//! - The channel as a whole has a failure budget too
//!   ([`MAX_CHANNEL_FAILURES`] wrong codes from all users together in 15
//!   minutes), so N accounts do not buy 5·N guesses: once spent, every `/pair` on the channel is
//!   refused for 15 minutes (audited as `message_dropped`, reason `pairing_budget_spent`, beside
//!   the `pairing_attempt`), and every code issued until then is revoked. The lockout and the
//!   revocation are stored, so a restart lifts neither.

use std::sync::{Arc, Mutex};

use rampart_audit::{Actor, AuditSink, Event, Outcome, Record};
use rampart_store::{PairingFailure, Store};
use subtle::{ConditionallySelectable, ConstantTimeEq};
use zeroize::Zeroizing;

use crate::clock::{Clock, Random};
use crate::pairing_budget::{Budgets, Spent};
use crate::{ChannelError, blocking};

/// How long a pairing code is valid, in seconds.
///
/// # Security
/// Long enough to read a code off one screen and type it into a chat; short enough that a code
/// that leaks (a screenshot, a shoulder) is dead before it is found.
pub const CODE_TTL_SECS: i64 = 300;
/// Wrong codes from one user within [`FAILURE_WINDOW_SECS`] that lock them out.
///
/// # Security
/// With a 6-digit code, 5 guesses per 15 minutes per account make guessing a live code a
/// one-in-200,000 chance per code lifetime for one account.
pub const MAX_FAILED_ATTEMPTS: u32 = 5;
/// The window the failures are counted in, in seconds.
pub const FAILURE_WINDOW_SECS: i64 = 15 * 60;
/// How long a locked-out user may not pair, in seconds.
pub const LOCKOUT_SECS: i64 = 15 * 60;
/// The most unused, unexpired codes a channel may have at once.
///
/// # Security
/// Every live code is one more number a guess can hit; a cap keeps an admin script gone wrong
/// from filling the code space.
pub const MAX_ACTIVE_CODES: usize = 8;
/// The number of digits in a code.
pub const CODE_DIGITS: usize = 6;
/// The `message_dropped` reason of a `/pair` refused because the channel's failure budget is
/// spent.
pub const PAIRING_BUDGET_SPENT: &str = "pairing_budget_spent";

pub use crate::pairing_budget::{
    CHANNEL_FAILURE_WINDOW_SECS, CHANNEL_LOCKOUT_SECS, MAX_CHANNEL_FAILURES,
};

/// A freshly issued code. The digits are zeroized when it is dropped.
pub struct PairingCode {
    /// The 6 digits.
    pub code: Zeroizing<String>,
    /// Seconds since the Unix epoch; the code is refused from then on.
    pub expires_at: i64,
}

impl std::fmt::Debug for PairingCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PairingCode")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// How a `/pair CODE` attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PairOutcome {
    /// The code was right: the user is on the channel's allowlist now.
    Paired,
    /// Wrong, expired or used code.
    Refused,
    /// This failure (or an earlier one) locked the user out until this time.
    LockedOut(i64),
    /// The channel's failure budget is spent (by this failure or earlier ones, from anyone):
    /// every attempt on the channel is refused until this time.
    ChannelLocked(i64),
}

/// Issues and checks pairing codes. Cloning is cheap.
#[derive(Clone, Debug)]
pub struct Pairing {
    store: Store,
    clock: Arc<dyn Clock>,
    random: Arc<dyn Random>,
    audit: Option<AuditSink>,
    /// The channels' recent failures. Held for the whole of an attempt's store calls, so the
    /// last failure of a budget is taken once and the channel's lock is stored under it.
    budgets: Arc<Mutex<Budgets>>,
}

impl Pairing {
    /// Pairing over `store`, with this clock and random source, auditing to `audit`.
    #[must_use]
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        random: Arc<dyn Random>,
        audit: Option<AuditSink>,
    ) -> Self {
        Self {
            store,
            clock,
            random,
            audit,
            budgets: Arc::default(),
        }
    }

    /// The clock this pairing reads.
    #[must_use]
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Issues a code for `channel` on behalf of `actor` (audited as `pairing_code_issued`).
    ///
    /// # Errors
    /// [`ChannelError::TooManyCodes`], [`ChannelError::Random`], store errors.
    pub async fn issue(&self, channel: &str, actor: Actor) -> Result<PairingCode, ChannelError> {
        let n = self.random.below(1_000_000)?;
        let code = Zeroizing::new(format!("{n:06}"));
        let now = self.clock.now();
        let expires_at = now + CODE_TTL_SECS;
        let (store, ch, c) = (self.store.clone(), channel.to_owned(), code.clone());
        let stored =
            blocking(move || store.insert_pairing_code(&ch, &c, now, expires_at, MAX_ACTIVE_CODES))
                .await?;
        let outcome = if stored {
            Outcome::Ok
        } else {
            Outcome::Blocked
        };
        tracing::info!(
            channel,
            outcome = outcome.as_str(),
            "pairing code requested"
        );
        self.record(
            Record::new(Event::PairingCodeIssued {
                channel: channel.to_owned(),
            })
            .actor(actor)
            .outcome(outcome),
        )
        .await;
        if !stored {
            return Err(ChannelError::TooManyCodes(channel.to_owned()));
        }
        Ok(PairingCode { code, expires_at })
    }

    /// Checks `presented` for `user_id` on `channel`, pairing them when it is a live code.
    ///
    /// # Errors
    /// Store errors (the attempt then counts as not made: nothing was consumed).
    pub async fn attempt(
        &self,
        channel: &str,
        user_id: &str,
        presented: &str,
    ) -> Result<PairOutcome, ChannelError> {
        let now = self.clock.now();
        let presented = Zeroizing::new(presented.trim().to_owned());
        let (store, ch, user) = (self.store.clone(), channel.to_owned(), user_id.to_owned());
        let budgets = self.budgets.clone();
        let (outcome, spent_now) =
            blocking(move || -> Result<(PairOutcome, bool), ChannelError> {
                let mut budgets = budgets
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if user.is_empty() {
                    // Not a user id (the validator refuses it before here); the store keeps the
                    // channel's own lockout under it, so it is never checked or counted.
                    return Ok((PairOutcome::Refused, false));
                }
                if let Some(until) = store.channel_pairing_locked_until(&ch, now)? {
                    return Ok((PairOutcome::ChannelLocked(until), false));
                }
                if let Some(until) = store.pairing_locked_until(&ch, &user, now)? {
                    return Ok((PairOutcome::LockedOut(until), false));
                }
                let live = store.active_pairing_codes(&ch, now, MAX_ACTIVE_CODES)?;
                if let Some(id) = matching_code(&live, &presented)
                    && store.consume_pairing_code(id, &ch, &user, now)?
                {
                    return Ok((PairOutcome::Paired, false));
                }
                let user_outcome = match store.record_pairing_failure(
                    &ch,
                    &user,
                    now,
                    FAILURE_WINDOW_SECS,
                    MAX_FAILED_ATTEMPTS,
                    LOCKOUT_SECS,
                )? {
                    PairingFailure::LockedUntil(until) => PairOutcome::LockedOut(until),
                    PairingFailure::Counted(_) => PairOutcome::Refused,
                };
                match budgets.fail(&ch, now) {
                    Spent::Now(until) => {
                        // Stored before the count starts afresh: should it fail, the next
                        // failure spends the budget again.
                        store.lock_channel_pairing(&ch, now, until)?;
                        budgets.reset(&ch);
                        Ok((PairOutcome::ChannelLocked(until), true))
                    }
                    Spent::No => Ok((user_outcome, false)),
                }
            })
            .await?;
        let audit_outcome = match outcome {
            PairOutcome::Paired => Outcome::Ok,
            PairOutcome::Refused => Outcome::Denied,
            PairOutcome::LockedOut(_) | PairOutcome::ChannelLocked(_) => Outcome::Blocked,
        };
        tracing::warn!(
            channel,
            user_id = %user_id.escape_debug(),
            outcome = audit_outcome.as_str(),
            "pairing attempt"
        );
        self.record(
            Record::new(Event::PairingAttempt {
                channel: channel.to_owned(),
                user_id: user_id.to_owned(),
            })
            .actor(Actor::Channel {
                channel: channel.to_owned(),
                user_id: user_id.to_owned(),
            })
            .outcome(audit_outcome),
        )
        .await;
        if let PairOutcome::ChannelLocked(until) = outcome {
            self.record_budget_spent(channel, user_id, until, spent_now)
                .await;
        }
        Ok(outcome)
    }

    /// Audits an attempt refused (or a failure that spent the budget) because the channel's
    /// failure budget is spent; the moment it is spent is also a `rate_limited` event.
    async fn record_budget_spent(&self, channel: &str, user_id: &str, until: i64, now: bool) {
        let actor = Actor::Channel {
            channel: channel.to_owned(),
            user_id: user_id.to_owned(),
        };
        if now {
            tracing::warn!(
                channel,
                locked_until = until,
                "pairing failure budget spent: the channel refuses /pair and its codes are revoked"
            );
            self.record(
                Record::new(Event::RateLimited {
                    scope: "pairing_channel".to_owned(),
                    key: channel.to_owned(),
                })
                .actor(actor.clone())
                .outcome(Outcome::Blocked),
            )
            .await;
        }
        self.record(
            Record::new(Event::MessageDropped {
                channel: channel.to_owned(),
                user_id: user_id.to_owned(),
                reason: PAIRING_BUDGET_SPENT.to_owned(),
            })
            .actor(actor)
            .outcome(Outcome::Blocked),
        )
        .await;
    }

    async fn record(&self, record: Record) {
        if let Some(sink) = &self.audit
            && let Err(e) = sink.record(record).await
        {
            tracing::error!(error = %e, "could not append to the audit trail");
        }
    }
}

/// The id of the live code equal to `presented`, compared in constant time: every code is
/// compared in full, whatever matched before, and a presented value that is not exactly
/// [`CODE_DIGITS`] ASCII digits is compared as a value no code can have.
fn matching_code(live: &[rampart_store::PairingCodeRow], presented: &str) -> Option<i64> {
    let mut probe = [b'x'; CODE_DIGITS];
    if presented.len() == CODE_DIGITS && presented.bytes().all(|b| b.is_ascii_digit()) {
        probe.copy_from_slice(presented.as_bytes());
    }
    let mut found = subtle::Choice::from(0);
    let mut id = 0i64;
    for row in live {
        let eq = row.code.as_bytes().ct_eq(&probe);
        id = i64::conditional_select(&id, &row.id, eq & !found);
        found |= eq;
    }
    bool::from(found).then_some(id)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use std::sync::atomic::{AtomicI64, Ordering};

    use super::*;
    use crate::clock::OsRandom;

    #[derive(Debug)]
    struct TestClock(AtomicI64);
    impl Clock for TestClock {
        fn now(&self) -> i64 {
            self.0.load(Ordering::SeqCst)
        }
    }

    fn pairing() -> (Pairing, Arc<TestClock>, Store) {
        let store = Store::open_in_memory().unwrap();
        let clock = Arc::new(TestClock(AtomicI64::new(1_000_000)));
        let p = Pairing::new(
            store.clone(),
            clock.clone(),
            Arc::new(OsRandom::new()),
            None,
        );
        (p, clock, store)
    }

    fn wrong(code: &str) -> String {
        let n: u32 = code.parse().unwrap();
        format!("{:06}", (n + 1) % 1_000_000)
    }

    #[tokio::test]
    async fn a_code_works_once() {
        let (p, _, store) = pairing();
        let code = p.issue("telegram", Actor::System).await.unwrap();
        assert_eq!(code.code.len(), 6);
        assert!(code.code.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(
            p.attempt("telegram", "1", &code.code).await.unwrap(),
            PairOutcome::Paired
        );
        assert!(store.channel_user_paired("telegram", "1").unwrap());
        assert_eq!(
            p.attempt("telegram", "2", &code.code).await.unwrap(),
            PairOutcome::Refused
        );
        assert!(!store.channel_user_paired("telegram", "2").unwrap());
    }

    #[tokio::test]
    async fn a_code_is_dead_after_five_minutes() {
        let (p, clock, store) = pairing();
        let code = p.issue("telegram", Actor::System).await.unwrap();
        assert_eq!(code.expires_at, 1_000_000 + CODE_TTL_SECS);
        clock.0.fetch_add(CODE_TTL_SECS, Ordering::SeqCst);
        assert_eq!(
            p.attempt("telegram", "1", &code.code).await.unwrap(),
            PairOutcome::Refused
        );
        assert!(!store.channel_user_paired("telegram", "1").unwrap());
        // One second before expiry it would have worked.
        let code = p.issue("telegram", Actor::System).await.unwrap();
        clock.0.fetch_add(CODE_TTL_SECS - 1, Ordering::SeqCst);
        assert_eq!(
            p.attempt("telegram", "1", &code.code).await.unwrap(),
            PairOutcome::Paired
        );
    }

    #[tokio::test]
    async fn a_code_is_bound_to_its_channel() {
        let (p, _, store) = pairing();
        let code = p.issue("telegram", Actor::System).await.unwrap();
        assert_eq!(
            p.attempt("discord", "1", &code.code).await.unwrap(),
            PairOutcome::Refused
        );
        assert!(!store.channel_user_paired("discord", "1").unwrap());
    }

    #[tokio::test]
    async fn five_wrong_codes_lock_out_even_the_right_one_for_fifteen_minutes() {
        let (p, clock, _) = pairing();
        let code = p.issue("telegram", Actor::System).await.unwrap();
        for _ in 0..MAX_FAILED_ATTEMPTS - 1 {
            assert_eq!(
                p.attempt("telegram", "7", &wrong(&code.code))
                    .await
                    .unwrap(),
                PairOutcome::Refused
            );
        }
        let locked = p.attempt("telegram", "7", "abc").await.unwrap();
        assert_eq!(locked, PairOutcome::LockedOut(1_000_000 + LOCKOUT_SECS));
        assert_eq!(
            p.attempt("telegram", "7", &code.code).await.unwrap(),
            PairOutcome::LockedOut(1_000_000 + LOCKOUT_SECS)
        );
        // Another user is not locked out by the first one's failures.
        assert_eq!(
            p.attempt("telegram", "8", &code.code).await.unwrap(),
            PairOutcome::Paired
        );
        // After the lockout the user may try again.
        let code = p.issue("telegram", Actor::System).await.unwrap();
        clock.0.fetch_add(LOCKOUT_SECS, Ordering::SeqCst);
        let fresh = p.issue("telegram", Actor::System).await.unwrap();
        assert_eq!(
            p.attempt("telegram", "7", &code.code).await.unwrap(),
            PairOutcome::Refused,
            "the old code expired meanwhile"
        );
        assert_eq!(
            p.attempt("telegram", "7", &fresh.code).await.unwrap(),
            PairOutcome::Paired
        );
    }

    /// Wrong codes from one account after another, each staying one failure under its own
    /// lockout while the clock moves a little, until the channel locks. Returns the end of the
    /// lock and how many failures it took; fails the test when no lock comes within as many
    /// accounts as the budget has failures (each gives at least one).
    async fn spend_the_budget(p: &Pairing, clock: &TestClock, bad: &str) -> (i64, usize) {
        let per_user = MAX_FAILED_ATTEMPTS - 1;
        let mut failures = 0;
        for user in 0..MAX_CHANNEL_FAILURES {
            for _ in 0..per_user {
                clock.0.fetch_add(1, Ordering::SeqCst);
                let got = p
                    .attempt("telegram", &format!("u{user}"), bad)
                    .await
                    .unwrap();
                failures += 1;
                match got {
                    PairOutcome::Refused => {}
                    PairOutcome::ChannelLocked(until) => return (until, failures),
                    other => panic!("{other:?} after {failures} failures"),
                }
            }
        }
        panic!("{failures} failures from {MAX_CHANNEL_FAILURES} accounts did not lock the channel");
    }

    #[tokio::test]
    async fn many_users_under_their_own_limit_spend_the_channel_budget() {
        let (p, clock, store) = pairing();
        let code = p.issue("telegram", Actor::System).await.unwrap();
        let (until, failures) = spend_the_budget(&p, &clock, &wrong(&code.code)).await;
        assert_eq!(failures, MAX_CHANNEL_FAILURES, "the budget is per channel");
        assert_eq!(until, clock.now() + CHANNEL_LOCKOUT_SECS);
        // While it is spent even the right code, from a fresh account, is refused; nobody pairs.
        for user in ["fresh", "u0"] {
            assert_eq!(
                p.attempt("telegram", user, &code.code).await.unwrap(),
                PairOutcome::ChannelLocked(until)
            );
            assert!(!store.channel_user_paired("telegram", user).unwrap());
        }
        // A code an admin issues meanwhile is refused too, and another channel is not affected.
        let during = p.issue("telegram", Actor::System).await.unwrap();
        assert_eq!(
            p.attempt("telegram", "fresh", &during.code).await.unwrap(),
            PairOutcome::ChannelLocked(until)
        );
        let other = p.issue("discord", Actor::System).await.unwrap();
        assert_eq!(
            p.attempt("discord", "fresh", &other.code).await.unwrap(),
            PairOutcome::Paired
        );
        // After the window, a new code works.
        clock.0.store(until, Ordering::SeqCst);
        assert_eq!(
            p.attempt("telegram", "fresh", &code.code).await.unwrap(),
            PairOutcome::Refused,
            "the code outstanding when the budget was spent stays dead"
        );
        let after = p.issue("telegram", Actor::System).await.unwrap();
        assert_eq!(
            p.attempt("telegram", "fresh", &after.code).await.unwrap(),
            PairOutcome::Paired
        );
    }

    #[tokio::test]
    async fn a_spent_budget_and_its_revoked_codes_survive_a_restart() {
        let (p, clock, store) = pairing();
        let code = p.issue("telegram", Actor::System).await.unwrap();
        let (until, _) = spend_the_budget(&p, &clock, &wrong(&code.code)).await;
        drop(p);

        // A restart: a fresh pairing (no failures in memory) over the same store, well within
        // the code's lifetime.
        let restarted = Pairing::new(
            store.clone(),
            clock.clone(),
            Arc::new(OsRandom::new()),
            None,
        );
        assert!(clock.now() < code.expires_at);
        assert_eq!(
            restarted
                .attempt("telegram", "fresh", &code.code)
                .await
                .unwrap(),
            PairOutcome::ChannelLocked(until),
            "the lockout outlives the restart"
        );
        let during = restarted.issue("telegram", Actor::System).await.unwrap();
        assert_eq!(
            restarted
                .attempt("telegram", "fresh", &during.code)
                .await
                .unwrap(),
            PairOutcome::ChannelLocked(until)
        );
        assert!(!store.channel_user_paired("telegram", "fresh").unwrap());

        // The code outstanding when the budget was spent is revoked in the store, not just
        // refused by the lock: the lock outlasts a code's lifetime, so this is what keeps it
        // dead.
        let live = store
            .active_pairing_codes("telegram", clock.now(), MAX_ACTIVE_CODES)
            .unwrap();
        assert!(live.iter().all(|r| *r.code != *code.code), "{live:?}");
        assert_eq!(
            live.len(),
            1,
            "the code issued during the lock is not revoked"
        );
        // After the lockout, a new code works.
        clock.0.store(until, Ordering::SeqCst);
        let after = restarted.issue("telegram", Actor::System).await.unwrap();
        assert_eq!(
            restarted
                .attempt("telegram", "fresh", &after.code)
                .await
                .unwrap(),
            PairOutcome::Paired
        );
    }

    #[test]
    fn matching_is_exact() {
        let rows = vec![
            rampart_store::PairingCodeRow {
                id: 3,
                code: "123456".to_owned(),
                expires_at: 0,
            },
            rampart_store::PairingCodeRow {
                id: 4,
                code: "654321".to_owned(),
                expires_at: 0,
            },
        ];
        assert_eq!(matching_code(&rows, "654321"), Some(4));
        assert_eq!(matching_code(&rows, "123456"), Some(3));
        for bad in ["12345", "1234567", "12345x", "", "xxxxxx", "123 456"] {
            assert_eq!(matching_code(&rows, bad), None, "{bad}");
        }
    }
}
