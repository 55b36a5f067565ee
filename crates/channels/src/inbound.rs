//! The one inbound path every channel's messages take, in this order:
//!
//! ```text
//! adapter.receive()            the service's verified user id, chat id, group and mention flags
//!  └ ids                       user and chat id non-empty, ≤ 256 characters (SPEC I2), else dropped
//!    └ addressed?              a group message not addressed to the bot is ignored (not an input)
//!      └ per-user rate limit   GCRA on the verified user id (SPEC P3) → dropped, audited once a minute
//!        └ allowlist           open, or allowed_users, or paired in the store (SPEC P1); DMs and
//!          │                   groups alike. Anyone else: dropped without a reply, audited —
//!          │                   except `/pair CODE` in a DM, which goes to pairing (SPEC P2)
//!          └ input defense     the same InputValidator as the HTTP fronts: control characters
//!            │                 stripped, injections refused and audited (SPEC I1)
//!            └ agent turn      the channel's default_agent, one session per (chat, user)
//!              └ leak guard    every reply text passes the known-secret guard (SPEC L2)
//!                └ adapter.send()
//! ```
//!
//! Adapters never make any of these decisions; they only turn their protocol into
//! [`InboundMessage`]s and send text back.

use std::sync::Arc;

use rampart_agent::{Runtime, TurnRequest};
use rampart_audit::{Actor, AuditSink, Event, Outcome, Record};
use rampart_config::{AllowlistMode, ChannelAccess};
use rampart_guard::{GuardError, InputValidator, SharedLeakGuard};
use rampart_store::Store;

use crate::limiter::UserLimiter;
use crate::pairing::{PairOutcome, Pairing};
use crate::{InboundMessage, blocking};

/// The confirmation a user gets once paired.
pub const PAIRED_REPLY: &str = "Paired: you can talk to the agent now.";
/// The answer to a wrong, expired or used code.
pub const PAIR_REFUSED_REPLY: &str = "That pairing code is not valid.";
/// The answer while a user is locked out of pairing.
pub const PAIR_LOCKED_REPLY: &str = "Too many wrong pairing codes: try again later.";
/// The answer when the agent could not run (the detail goes to the log only).
pub const TURN_FAILED_REPLY: &str = "Sorry, the agent could not answer that.";

/// Everything the shared path needs, handed down from `main`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct InboundDeps {
    /// The agent runtime that runs the turn.
    pub runtime: Arc<Runtime>,
    /// The store (allowlist additions).
    pub store: Store,
    /// Pairing codes.
    pub pairing: Pairing,
    /// The input defense every inbound message passes (the gateway's, shared).
    pub validator: Arc<InputValidator>,
    /// The known-secret leak guard every reply passes.
    pub leak: SharedLeakGuard,
    /// The audit trail, when enabled.
    pub audit: Option<AuditSink>,
}

impl InboundDeps {
    /// The dependencies.
    #[must_use]
    pub fn new(
        runtime: Arc<Runtime>,
        store: Store,
        pairing: Pairing,
        validator: Arc<InputValidator>,
        leak: SharedLeakGuard,
        audit: Option<AuditSink>,
    ) -> Self {
        Self {
            runtime,
            store,
            pairing,
            validator,
            leak,
            audit,
        }
    }
}

/// The shared inbound path of one channel.
#[derive(Debug)]
pub struct Inbound {
    channel: &'static str,
    access: ChannelAccess,
    limiter: UserLimiter,
    deps: InboundDeps,
}

impl Inbound {
    /// The path for `channel` with its `[channels.NAME]` settings.
    #[must_use]
    pub fn new(channel: &'static str, access: ChannelAccess, deps: InboundDeps) -> Self {
        Self {
            channel,
            limiter: UserLimiter::new(access.rate_limit_per_user),
            access,
            deps,
        }
    }

    /// The channel's name.
    #[must_use]
    pub fn channel(&self) -> &'static str {
        self.channel
    }

    /// Takes one message through the path; returns the reply to send to `msg.chat_id`, already
    /// through the leak guard, or `None` to send nothing.
    pub async fn handle(&self, msg: &InboundMessage) -> Option<String> {
        let reply = self.decide(msg).await?;
        let destination = format!("channel:{}", self.channel);
        Some(self.deps.leak.redact(&destination, &reply).into_owned())
    }

    async fn decide(&self, msg: &InboundMessage) -> Option<String> {
        let v = &self.deps.validator;
        if v.validate_channel_id(&msg.user_id).is_err()
            || v.validate_channel_id(&msg.chat_id).is_err()
        {
            tracing::warn!(
                channel = self.channel,
                "message with an invalid user or chat id dropped"
            );
            return None;
        }
        if !msg.addressed {
            return None;
        }
        if let Err(limited) = self.limiter.check(&msg.user_id) {
            if limited.audit {
                tracing::warn!(
                    channel = self.channel,
                    user_id = %msg.user_id.escape_debug(),
                    "channel rate limit hit"
                );
                let key = format!("{}:{}", self.channel, msg.user_id);
                self.record(
                    Record::new(Event::RateLimited {
                        scope: "channel_user".to_owned(),
                        key,
                    })
                    .actor(self.actor(msg))
                    .outcome(Outcome::Denied),
                )
                .await;
            }
            return None;
        }
        let pair_code = pair_command(&msg.text);
        if !self.is_allowed(&msg.user_id).await {
            if let Some(code) = pair_code
                && !msg.is_group
            {
                return self.pair(msg, code).await;
            }
            self.drop_message(msg, "not_allowlisted").await;
            return None;
        }
        if pair_code.is_some() {
            return Some("You are already paired.".to_owned());
        }
        let agent = self.access.default_agent.clone();
        let text = match v.validate_message(&msg.text) {
            Ok(clean) => clean.into_owned(),
            Err(GuardError::PromptInjectionDetected { findings }) => {
                let mut categories: Vec<String> = findings
                    .iter()
                    .map(|f| f.category.as_str().to_owned())
                    .collect();
                categories.sort();
                categories.dedup();
                tracing::warn!(
                    channel = self.channel,
                    ?categories,
                    "prompt injection refused"
                );
                self.record(
                    Record::new(Event::InjectionDetected {
                        source: format!("channel:{}", self.channel),
                        categories,
                    })
                    .agent(agent)
                    .actor(self.actor(msg))
                    .outcome(Outcome::Denied),
                )
                .await;
                return Some("Message refused: it matches prompt-injection patterns.".to_owned());
            }
            Err(e) => return Some(format!("Message refused: {e}")),
        };
        let turn = TurnRequest {
            agent,
            session_id: Some(session_id(self.channel, &msg.chat_id, &msg.user_id)),
            message: text,
        };
        match self.deps.runtime.run_turn(turn, None).await {
            Ok(outcome) => Some(outcome.reply),
            Err(e) => {
                tracing::warn!(channel = self.channel, error = %e, "channel turn failed");
                Some(TURN_FAILED_REPLY.to_owned())
            }
        }
    }

    async fn pair(&self, msg: &InboundMessage, code: &str) -> Option<String> {
        match self
            .deps
            .pairing
            .attempt(self.channel, &msg.user_id, code)
            .await
        {
            Ok(PairOutcome::Paired) => Some(PAIRED_REPLY.to_owned()),
            Ok(PairOutcome::LockedOut(_) | PairOutcome::ChannelLocked(_)) => {
                Some(PAIR_LOCKED_REPLY.to_owned())
            }
            Ok(_) => Some(PAIR_REFUSED_REPLY.to_owned()),
            Err(e) => {
                tracing::error!(channel = self.channel, error = %e, "pairing failed");
                None
            }
        }
    }

    /// Open mode, `allowed_users`, or paired in the store. A store failure counts as "no".
    async fn is_allowed(&self, user_id: &str) -> bool {
        if self.access.allowlist == AllowlistMode::Open
            || self.access.allowed_users.iter().any(|u| u == user_id)
        {
            return true;
        }
        let (store, channel, user) = (self.deps.store.clone(), self.channel, user_id.to_owned());
        match blocking(move || store.channel_user_paired(channel, &user)).await {
            Ok(paired) => paired,
            Err(e) => {
                tracing::error!(channel = self.channel, error = %e, "allowlist lookup failed");
                false
            }
        }
    }

    async fn drop_message(&self, msg: &InboundMessage, reason: &str) {
        tracing::info!(
            channel = self.channel,
            user_id = %msg.user_id.escape_debug(),
            group = msg.is_group,
            reason,
            "channel message dropped"
        );
        self.record(
            Record::new(Event::MessageDropped {
                channel: self.channel.to_owned(),
                user_id: msg.user_id.clone(),
                reason: reason.to_owned(),
            })
            .actor(self.actor(msg))
            .outcome(Outcome::Denied),
        )
        .await;
    }

    fn actor(&self, msg: &InboundMessage) -> Actor {
        Actor::Channel {
            channel: self.channel.to_owned(),
            user_id: msg.user_id.clone(),
        }
    }

    async fn record(&self, record: Record) {
        if let Some(sink) = &self.deps.audit
            && let Err(e) = sink.record(record).await
        {
            tracing::error!(error = %e, "could not append to the audit trail");
        }
    }
}

/// The code of a `/pair CODE` command, or `None` for any other text.
fn pair_command(text: &str) -> Option<&str> {
    let rest = text.trim().strip_prefix("/pair")?;
    if rest.is_empty() {
        return Some("");
    }
    rest.starts_with(char::is_whitespace).then(|| rest.trim())
}

/// The agent session of one user in one chat: a digest, so any id characters are safe and two
/// users in one group never share a history.
fn session_id(channel: &str, chat_id: &str, user_id: &str) -> String {
    let mut input = Vec::with_capacity(channel.len() + chat_id.len() + user_id.len() + 2);
    for part in [channel, chat_id, user_id] {
        input.extend_from_slice(part.as_bytes());
        input.push(0);
    }
    let d = ring::digest::digest(&ring::digest::SHA256, &input);
    let hex: String = d.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("ch-{channel}-{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pair_commands_parse() {
        assert_eq!(pair_command("/pair 123456"), Some("123456"));
        assert_eq!(pair_command("  /pair   123456 "), Some("123456"));
        assert_eq!(pair_command("/pair"), Some(""));
        assert_eq!(pair_command("/pairing 123456"), None);
        assert_eq!(pair_command("hello /pair 1"), None);
    }

    #[test]
    fn sessions_are_per_chat_and_user() {
        let a = session_id("telegram", "-100", "1");
        assert_ne!(a, session_id("telegram", "-100", "2"));
        assert_ne!(a, session_id("telegram", "-1001", ""));
        assert_eq!(a, session_id("telegram", "-100", "1"));
        assert!(a.len() <= 256);
    }
}
