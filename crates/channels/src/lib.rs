//! # rampart-channels
//!
//! Chat channels: who may talk to the agents from outside the HTTP API, and how (SPEC P1–P3, R5).
//!
//! Every channel is an adapter implementing [`Channel`]: it turns its service's protocol into
//! [`InboundMessage`]s (with the service's **verified** user id, the chat id, group and mention
//! flags) and sends text back. It decides nothing. Every message of every adapter then goes
//! through **one** shared path, [`Inbound`]:
//!
//! ```text
//! ids (SPEC I2) → addressed? → per-user rate limit (P3) → allowlist or /pair (P1, P2)
//!   → input defense (I1) → agent turn → leak guard (L2) → adapter.send
//! ```
//!
//! so allowlists, pairing, rate limits, input defense and their audit events happen once, for
//! direct messages and group messages alike, never in an adapter. [`runner::run`] drives an
//! adapter through that path, with exponential backoff and jitter on errors.
//!
//! Two channels exist:
//! - `telegram` ([`telegram`]): a polled adapter driven by the runner.
//! - `webchat` ([`WEBCHAT`]): the gateway's own WebSocket. The route authenticates the API key,
//!   builds an [`InboundMessage`] whose user id is the **principal's name** (never client input)
//!   and calls [`Inbound::decide`], which makes every decision above and hands back a
//!   [`Decision`]: drop, answer (pairing, refusals), or the turn to run, which the route streams.
//!   Its allowlist (closed by default) is every enabled `[[users]]` entry with role user or
//!   above, the gateway's `api_key`, `[channels.webchat] allowed_users`, `channel_bindings`
//!   and pairings; the loopback bypass `local` only when listed.
//!
//! The [`ChannelDesk`] holds the running channels' paths (the WebSocket route finds `webchat`
//! there; pairing codes are issued only for channels on it). [`Inbound::apply`] swaps a
//! channel's settings on a config reload; [`screen`] is the input defense with its audit event,
//! shared with the gateway's HTTP fronts.
//!
//! - [`pairing`]: 6-digit codes from the OS CSPRNG, 5 minutes, single use, bound to a channel,
//!   compared in constant time; 5 wrong codes in 15 minutes lock a user out for 15 minutes, and
//!   20 wrong codes from all users of a channel together lock the channel's pairing for 15
//!   minutes and revoke its outstanding codes, so many accounts do not buy many guesses.
//! - [`limiter`]: GCRA per verified user id; a new display name is not a new budget.
//! - [`telegram`]: the Bot API adapter (long polling, `sendMessage`, groups, mentions).
//! - [`clock`]: time and randomness behind traits, so tests move the clock.
//!
//! ## Trust assumptions
//! The service (Telegram) is trusted to say who sent a message: that is the identity the
//! allowlist is about. Everything else in a message (text, display name) is hostile input. The
//! configuration, the store and the agent runtime are trusted.
//!
//! ```
//! use rampart_channels::{InboundMessage, split_message};
//!
//! let msg = InboundMessage {
//!     user_id: "42".into(),
//!     chat_id: "42".into(),
//!     is_group: false,
//!     addressed: true,
//!     display_name: "anyone can pick this".into(),
//!     text: "/pair 123456".into(),
//!     agent: None,
//! };
//! assert!(!msg.is_group);
//! // Replies longer than a channel's limit are split on character boundaries.
//! let parts = split_message(&"é".repeat(5000), 4096);
//! assert_eq!(parts.len(), 2);
//! ```

#![forbid(unsafe_code)]

mod channel;
pub mod clock;
mod defense;
mod desk;
mod error;
mod inbound;
pub mod limiter;
pub mod pairing;
mod pairing_budget;
pub mod runner;
pub mod telegram;

pub use channel::{Channel, ChannelLimits, InboundMessage, MAX_REPLY_PARTS, split_message};
pub use defense::{Refusal, screen};
pub use desk::{ChannelDesk, PairingDesk};
pub use error::{ChannelError, ProtocolDetail};
pub use inbound::{
    ALREADY_PAIRED_REPLY, Answer, AnswerKind, Decision, DropReason, INJECTION_REPLY, Inbound,
    InboundDeps, PAIR_LOCKED_REPLY, PAIR_REFUSED_REPLY, PAIRED_REPLY, TURN_FAILED_REPLY,
};
pub use pairing::{PairOutcome, Pairing, PairingCode};
pub use telegram::TelegramChannel;

/// The channel name of the gateway's own web chat (the WebSocket route, `[channels.webchat]`).
pub const WEBCHAT: &str = "webchat";

/// Runs a synchronous store call on the blocking pool.
pub(crate) async fn blocking<T, E>(
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, ChannelError>
where
    T: Send + 'static,
    E: Into<ChannelError> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| ChannelError::Task)?
        .map_err(Into::into)
}
