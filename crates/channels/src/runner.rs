//! Drives one adapter: receive, take each message through the shared path, send the reply;
//! on errors, back off exponentially with full jitter.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::Random;
use crate::{Channel, Inbound, split_message};

/// The first wait after an error.
pub const BACKOFF_BASE: Duration = Duration::from_millis(500);
/// The longest wait between attempts.
///
/// # Security
/// A service that is down (or a token that was revoked) must not be hammered: at most one
/// request a minute once the backoff has grown, and jitter keeps many gateways from retrying in
/// step.
pub const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// Exponential backoff with full jitter: the n-th consecutive failure waits a uniformly random
/// time in `[0, min(BACKOFF_MAX, BACKOFF_BASE * 2^n)]`, never less than 50 ms.
#[derive(Debug)]
pub struct Backoff {
    failures: u32,
    random: Arc<dyn Random>,
}

impl Backoff {
    /// A backoff drawing its jitter from `random`.
    #[must_use]
    pub fn new(random: Arc<dyn Random>) -> Self {
        Self {
            failures: 0,
            random,
        }
    }

    /// The ceiling of the next wait (before jitter).
    #[must_use]
    pub fn ceiling(&self) -> Duration {
        let exp = BACKOFF_BASE.saturating_mul(1u32 << self.failures.min(16));
        exp.min(BACKOFF_MAX)
    }

    /// Records a failure; returns how long to wait before the next attempt.
    pub fn fail(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.failures = self.failures.saturating_add(1);
        let ms = u32::try_from(ceiling.as_millis()).unwrap_or(u32::MAX);
        let jittered = self.random.below(ms.saturating_add(1)).unwrap_or(ms);
        Duration::from_millis(u64::from(jittered.max(50)))
    }

    /// Records a success: the next failure starts from the base again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

/// Runs `channel` through `inbound` until the task is dropped or aborted.
pub async fn run(channel: Arc<dyn Channel>, inbound: Arc<Inbound>, random: Arc<dyn Random>) {
    let mut backoff = Backoff::new(random);
    let limits = channel.limits();
    tracing::info!(channel = channel.name(), "channel started");
    loop {
        let batch = match channel.receive().await {
            Ok(batch) => {
                backoff.reset();
                batch
            }
            Err(e) => {
                let wait = match &e {
                    crate::ChannelError::Api {
                        retry_after: Some(s),
                        ..
                    } => Duration::from_secs((*s).min(BACKOFF_MAX.as_secs())),
                    _ => backoff.fail(),
                };
                tracing::warn!(channel = channel.name(), error = %e, wait_ms = wait.as_millis(), "channel receive failed; backing off");
                tokio::time::sleep(wait).await;
                continue;
            }
        };
        for msg in batch {
            let Some(reply) = inbound.handle(&msg).await else {
                continue;
            };
            for part in split_message(&reply, limits.max_message_len) {
                if let Err(e) = channel.send(&msg.chat_id, &part).await {
                    tracing::warn!(channel = channel.name(), error = %e, "channel send failed");
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ChannelError;

    #[derive(Debug)]
    struct Max;
    impl Random for Max {
        fn below(&self, bound: u32) -> Result<u32, ChannelError> {
            Ok(bound - 1)
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_resets() {
        let mut b = Backoff::new(Arc::new(Max));
        let waits: Vec<u128> = (0..10).map(|_| b.fail().as_millis()).collect();
        assert_eq!(waits[..4], [500, 1000, 2000, 4000]);
        assert_eq!(*waits.last().unwrap_or(&0), 60_000);
        b.reset();
        assert_eq!(b.fail().as_millis(), 500);
    }

    #[test]
    fn jitter_stays_within_the_ceiling() {
        let mut b = Backoff::new(Arc::new(crate::clock::OsRandom::new()));
        for _ in 0..20 {
            let ceiling = b.ceiling();
            assert!(b.fail() <= ceiling.max(Duration::from_millis(50)));
        }
    }
}
