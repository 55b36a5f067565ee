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
//! [`InboundMessage`]s and send text back. [`Inbound::handle`] runs the whole path; an adapter
//! that streams the turn itself (the web chat) calls [`Inbound::decide`], which runs every check
//! and returns a [`Decision`], and passes what it sends through the leak guard.
//! [`Inbound::apply`] swaps the channel's settings on a config reload.

use std::sync::{Arc, RwLock};

use rampart_agent::{Runtime, TurnRequest};
use rampart_audit::{Actor, AuditSink, Event, Outcome, Record};
use rampart_config::{AllowlistMode, ChannelAccess};
use rampart_guard::{InputValidator, SharedLeakGuard};
use rampart_store::Store;

use crate::defense::{Refusal, screen};

use crate::limiter::UserLimiter;
use crate::pairing::{PairOutcome, Pairing};
use crate::{InboundMessage, blocking};

/// The confirmation a user gets once paired.
pub const PAIRED_REPLY: &str = "Paired: you can talk to the agent now.";
/// The answer to a wrong, expired or used code.
pub const PAIR_REFUSED_REPLY: &str = "That pairing code is not valid.";
/// The answer while a user is locked out of pairing.
pub const PAIR_LOCKED_REPLY: &str = "Too many wrong pairing codes: try again later.";
/// The answer to `/pair` from someone already on the allowlist.
pub const ALREADY_PAIRED_REPLY: &str = "You are already paired.";
/// The answer to a message refused as a prompt injection.
pub const INJECTION_REPLY: &str = "Message refused: it matches prompt-injection patterns.";
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

/// What the shared path decided about one message.
#[derive(Debug)]
#[non_exhaustive]
pub enum Decision {
    /// Send nothing.
    Drop(DropReason),
    /// Answer with this text; the agent is not involved (pairing, a refusal).
    Answer(Answer),
    /// Run this turn (input defense passed); its reply goes back to the chat.
    Turn(TurnRequest),
}

/// Why a message got no answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DropReason {
    /// A user or chat id that is empty or too long (SPEC I2).
    InvalidId,
    /// A group message not addressed to the bot.
    NotAddressed,
    /// Over `rate_limit_per_user` (audited once a minute per user).
    RateLimited,
    /// Not on the allowlist (audited as `message_dropped`).
    NotAllowlisted,
    /// Pairing could not be checked (store failure, logged).
    PairingFailed,
}

/// An answer the shared path gives itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// What it is about.
    pub kind: AnswerKind,
    /// The text for the user.
    pub text: String,
}

/// What an [`Answer`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AnswerKind {
    /// A `/pair` outcome, or "already paired".
    Pairing,
    /// Refused by input defense as a prompt injection (audited as `injection_detected`).
    PromptInjection,
    /// Refused by input defense as invalid input.
    InvalidInput,
}

impl Answer {
    fn decision(kind: AnswerKind, text: impl Into<String>) -> Option<Decision> {
        Some(Decision::Answer(Self {
            kind,
            text: text.into(),
        }))
    }
}

/// A channel's settings as the path applies them: replaced whole by a reload.
#[derive(Debug)]
struct Settings {
    access: ChannelAccess,
    limiter: Arc<UserLimiter>,
}

/// The shared inbound path of one channel.
#[derive(Debug)]
pub struct Inbound {
    channel: &'static str,
    settings: RwLock<Arc<Settings>>,
    deps: InboundDeps,
}

impl Inbound {
    /// The path for `channel` with its `[channels.NAME]` settings.
    #[must_use]
    pub fn new(channel: &'static str, access: ChannelAccess, deps: InboundDeps) -> Self {
        Self {
            channel,
            settings: RwLock::new(Arc::new(Settings {
                limiter: Arc::new(UserLimiter::new(access.rate_limit_per_user)),
                access,
            })),
            deps,
        }
    }

    /// The channel's name.
    #[must_use]
    pub fn channel(&self) -> &'static str {
        self.channel
    }

    fn settings(&self) -> Arc<Settings> {
        self.settings
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Applies new settings from a reload, from the next message on. The per-user rate budgets
    /// start afresh only when `rate_limit_per_user` changed. Returns what changed, in words
    /// (counts, never ids), or `None` when nothing did.
    pub fn apply(&self, access: ChannelAccess) -> Option<String> {
        let mut slot = self
            .settings
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let old = &slot.access;
        let mut said = Vec::new();
        if old.allowlist != access.allowlist {
            said.push(format!("allowlist {:?}", access.allowlist).to_lowercase());
        }
        if old.allowed_users != access.allowed_users {
            said.push(format!("{} allowed user(s)", access.allowed_users.len()));
        }
        if old.default_agent != access.default_agent {
            said.push(format!("default_agent {}", access.default_agent));
        }
        let rate_changed = old.rate_limit_per_user != access.rate_limit_per_user;
        if rate_changed {
            said.push(format!(
                "rate_limit_per_user {}",
                access.rate_limit_per_user
            ));
        }
        if said.is_empty() {
            return None;
        }
        let limiter = if rate_changed {
            Arc::new(UserLimiter::new(access.rate_limit_per_user))
        } else {
            // Keep the budgets users already spent: a reload is not a way to a fresh one.
            slot.limiter.clone()
        };
        *slot = Arc::new(Settings { access, limiter });
        Some(said.join(", "))
    }

    /// Takes one message through the path; returns the reply to send to `msg.chat_id`, already
    /// through the leak guard, or `None` to send nothing.
    pub async fn handle(&self, msg: &InboundMessage) -> Option<String> {
        let reply = match self.decide(msg).await {
            Decision::Drop(_) => return None,
            Decision::Answer(a) => a.text,
            Decision::Turn(turn) => match self.deps.runtime.run_turn(turn, None).await {
                Ok(outcome) => outcome.reply,
                Err(e) => {
                    tracing::warn!(channel = self.channel, error = %e, "channel turn failed");
                    TURN_FAILED_REPLY.to_owned()
                }
            },
        };
        let destination = format!("channel:{}", self.channel);
        Some(self.deps.leak.redact(&destination, &reply).into_owned())
    }

    /// Takes one message through every check of the path and says what to do with it. An
    /// adapter that runs the turn itself (the web chat streams it) calls this instead of
    /// [`Inbound::handle`]; it must pass the reply through the leak guard.
    pub async fn decide(&self, msg: &InboundMessage) -> Decision {
        let v = &self.deps.validator;
        if v.validate_channel_id(&msg.user_id).is_err()
            || v.validate_channel_id(&msg.chat_id).is_err()
        {
            tracing::warn!(
                channel = self.channel,
                "message with an invalid user or chat id dropped"
            );
            return Decision::Drop(DropReason::InvalidId);
        }
        if !msg.addressed {
            return Decision::Drop(DropReason::NotAddressed);
        }
        let settings = self.settings();
        if let Err(limited) = settings.limiter.check(&msg.user_id) {
            // An unlisted sender learns nothing, not even that it is limited (SPEC P1); its
            // flood is audited as dropped once a minute, not once per message.
            if !self.is_allowed(&settings.access, &msg.user_id).await {
                if limited.audit {
                    self.drop_message(msg, "not_allowlisted").await;
                }
                return Decision::Drop(DropReason::NotAllowlisted);
            }
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
            return Decision::Drop(DropReason::RateLimited);
        }
        let pair_code = pair_command(&msg.text);
        if !self.is_allowed(&settings.access, &msg.user_id).await {
            if let Some(code) = pair_code
                && !msg.is_group
            {
                return self
                    .pair(msg, code)
                    .await
                    .unwrap_or(Decision::Drop(DropReason::PairingFailed));
            }
            self.drop_message(msg, "not_allowlisted").await;
            return Decision::Drop(DropReason::NotAllowlisted);
        }
        if pair_code.is_some() {
            return Decision::Answer(Answer {
                kind: AnswerKind::Pairing,
                text: ALREADY_PAIRED_REPLY.to_owned(),
            });
        }
        let agent = msg
            .agent
            .clone()
            .unwrap_or_else(|| settings.access.default_agent.clone());
        let source = format!("channel:{}", self.channel);
        let text = match screen(
            v,
            self.deps.audit.as_ref(),
            self.actor(msg),
            &agent,
            &source,
            &msg.text,
        )
        .await
        {
            Ok(clean) => clean,
            Err(Refusal::Injection(_)) => {
                return Decision::Answer(Answer {
                    kind: AnswerKind::PromptInjection,
                    text: INJECTION_REPLY.to_owned(),
                });
            }
            Err(Refusal::Invalid(why)) => {
                return Decision::Answer(Answer {
                    kind: AnswerKind::InvalidInput,
                    text: format!("Message refused: {why}"),
                });
            }
        };
        Decision::Turn(TurnRequest {
            agent,
            session_id: Some(session_id(self.channel, &msg.chat_id, &msg.user_id)),
            message: text,
        })
    }

    async fn pair(&self, msg: &InboundMessage, code: &str) -> Option<Decision> {
        match self
            .deps
            .pairing
            .attempt(self.channel, &msg.user_id, code)
            .await
        {
            Ok(PairOutcome::Paired) => Answer::decision(AnswerKind::Pairing, PAIRED_REPLY),
            Ok(PairOutcome::LockedOut(_) | PairOutcome::ChannelLocked(_)) => {
                Answer::decision(AnswerKind::Pairing, PAIR_LOCKED_REPLY)
            }
            Ok(_) => Answer::decision(AnswerKind::Pairing, PAIR_REFUSED_REPLY),
            Err(e) => {
                tracing::error!(channel = self.channel, error = %e, "pairing failed");
                None
            }
        }
    }

    /// Open mode, `allowed_users`, or paired in the store. A store failure counts as "no".
    async fn is_allowed(&self, access: &ChannelAccess, user_id: &str) -> bool {
        if access.allowlist == AllowlistMode::Open
            || access.allowed_users.iter().any(|u| u == user_id)
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
