//! The loop guard (SPEC T5): the same call over and over, or two calls in ping-pong, warn and
//! then block; a session that keeps tripping it is cut off by a circuit breaker.

use std::collections::VecDeque;

/// How many of a session's latest calls the guard remembers.
///
/// # Security
/// Bounds memory per session; repeats are counted inside this window, so a legitimate call
/// repeated far apart in a long session is not mistaken for a loop.
pub const LOOP_WINDOW: usize = 32;

/// Thresholds of the loop guard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoopGuardConfig {
    /// Identical calls within the window at which the call is allowed with a warning.
    pub warn_at: u32,
    /// Identical calls within the window at which the call is blocked.
    pub block_at: u32,
    /// Length of an alternating A/B/A/B… run at which the call is allowed with a warning.
    pub ping_pong_warn_at: u32,
    /// Length of an alternating run at which the call is blocked.
    pub ping_pong_block_at: u32,
    /// Blocks in one session after which every further tool call of the session is blocked.
    pub breaker_after: u32,
}

impl Default for LoopGuardConfig {
    fn default() -> Self {
        Self {
            warn_at: 3,
            block_at: 5,
            ping_pong_warn_at: 4,
            ping_pong_block_at: 6,
            breaker_after: 3,
        }
    }
}

/// What the loop guard says about one call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoopVerdict {
    /// Nothing unusual.
    Ok,
    /// Allowed, but the model is told it is repeating itself.
    Warn(String),
    /// Refused.
    Block(String),
}

/// One session's loop-guard state.
#[derive(Clone, Debug, Default)]
pub struct SessionLoop {
    recent: VecDeque<[u8; 32]>,
    blocks: u32,
    tripped: bool,
}

impl SessionLoop {
    /// True once the circuit breaker has opened for this session.
    #[must_use]
    pub fn tripped(&self) -> bool {
        self.tripped
    }

    /// Judges the call with `digest` (name + canonical arguments) and remembers it.
    pub fn check(&mut self, cfg: &LoopGuardConfig, digest: [u8; 32]) -> LoopVerdict {
        if self.tripped {
            return LoopVerdict::Block(
                "circuit breaker open: this session repeated tool calls too often; start a new \
                 session"
                    .to_owned(),
            );
        }
        if self.recent.len() == LOOP_WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back(digest);
        let same =
            u32::try_from(self.recent.iter().filter(|d| **d == digest).count()).unwrap_or(u32::MAX);
        let alternating = self.alternating_run();
        let verdict = if same >= cfg.block_at {
            LoopVerdict::Block(format!(
                "loop guard: the same call {same} times in a row of recent calls"
            ))
        } else if alternating >= cfg.ping_pong_block_at {
            LoopVerdict::Block(format!(
                "loop guard: two calls alternating {alternating} times (ping-pong)"
            ))
        } else if same >= cfg.warn_at || alternating >= cfg.ping_pong_warn_at {
            LoopVerdict::Warn(
                "loop guard: you are repeating the same tool calls; change approach or stop"
                    .to_owned(),
            )
        } else {
            LoopVerdict::Ok
        };
        if matches!(verdict, LoopVerdict::Block(_)) {
            self.blocks += 1;
            if self.blocks >= cfg.breaker_after {
                self.tripped = true;
            }
        }
        verdict
    }

    /// Length of the latest run of the form …A,B,A,B with A ≠ B.
    fn alternating_run(&self) -> u32 {
        let r: Vec<&[u8; 32]> = self.recent.iter().rev().collect();
        if r.len() < 2 || r[0] == r[1] {
            return 0;
        }
        let mut n = 2;
        while n < r.len() && r[n] == r[n - 2] {
            n += 1;
        }
        u32::try_from(n).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(b: u8) -> [u8; 32] {
        [b; 32]
    }

    #[test]
    fn repeats_warn_then_block_then_trip_the_breaker() {
        let cfg = LoopGuardConfig::default();
        let mut s = SessionLoop::default();
        assert_eq!(s.check(&cfg, d(1)), LoopVerdict::Ok);
        assert_eq!(s.check(&cfg, d(1)), LoopVerdict::Ok);
        assert!(matches!(s.check(&cfg, d(1)), LoopVerdict::Warn(_)));
        assert!(matches!(s.check(&cfg, d(1)), LoopVerdict::Warn(_)));
        assert!(matches!(s.check(&cfg, d(1)), LoopVerdict::Block(_)));
        assert!(matches!(s.check(&cfg, d(1)), LoopVerdict::Block(_)));
        assert!(!s.tripped());
        assert!(matches!(s.check(&cfg, d(1)), LoopVerdict::Block(_)));
        assert!(s.tripped());
        // Once open, even a fresh call is blocked.
        assert!(
            matches!(s.check(&cfg, d(9)), LoopVerdict::Block(m) if m.contains("circuit breaker"))
        );
    }

    #[test]
    fn ping_pong_is_caught() {
        let cfg = LoopGuardConfig::default();
        let mut s = SessionLoop::default();
        let seq = [1, 2, 1, 2, 1, 2];
        let verdicts: Vec<LoopVerdict> = seq.iter().map(|b| s.check(&cfg, d(*b))).collect();
        assert_eq!(
            verdicts[..3],
            [LoopVerdict::Ok, LoopVerdict::Ok, LoopVerdict::Ok]
        );
        assert!(matches!(verdicts[3], LoopVerdict::Warn(_)));
        assert!(matches!(verdicts[5], LoopVerdict::Block(ref m) if m.contains("ping-pong")));
    }

    #[test]
    fn varied_work_is_not_a_loop() {
        let cfg = LoopGuardConfig::default();
        let mut s = SessionLoop::default();
        for i in 0..200u8 {
            assert_eq!(s.check(&cfg, d(i)), LoopVerdict::Ok);
        }
    }
}
