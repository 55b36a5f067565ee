//! The adapter trait every channel implements, and the message it hands to the shared path.
//!
//! An adapter only speaks its service's protocol: it receives messages and sends text. It never
//! decides who may talk to an agent; [`crate::Inbound`] does, once, for every adapter.

use async_trait::async_trait;
use rampart_core::AgentName;

use crate::ChannelError;

/// One message received from a channel, as its adapter read it from the service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InboundMessage {
    /// The sender's user id **as the service verified it** (Telegram's `from.id`): what the
    /// allowlist, pairing and rate limits key on. Never a name the client chooses.
    pub user_id: String,
    /// Where the message was posted and where the reply goes (a DM's or a group's chat id).
    pub chat_id: String,
    /// True for a group chat, false for a direct message.
    pub is_group: bool,
    /// True when the message is addressed to the bot: always in a DM; in a group, when the bot
    /// is mentioned, replied to, or sent a command. Unaddressed group messages are ignored.
    pub addressed: bool,
    /// The sender's display name. Free text the sender picks: for logs only, never a key.
    pub display_name: String,
    /// The text, with the bot's own mention removed.
    pub text: String,
    /// The agent the sender addressed, on a channel where the sender picks it (the web chat's
    /// URL names one); `None`: the channel's `default_agent`. It picks an agent, never a right:
    /// the allowlist is the channel's.
    pub agent: Option<AgentName>,
}

/// What a channel can carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelLimits {
    /// The longest message the service accepts, in UTF-16 code units (Telegram: 4096). Longer
    /// replies are split on character boundaries ([`split_message`]).
    pub max_message_len: usize,
}

/// A chat channel's adapter.
#[async_trait]
pub trait Channel: Send + Sync + std::fmt::Debug {
    /// The channel's name, as in `[channels.NAME]` (`telegram`).
    fn name(&self) -> &'static str;

    /// What the channel can carry.
    fn limits(&self) -> ChannelLimits;

    /// Waits for the next messages (a long poll, for Telegram). An empty batch is fine.
    ///
    /// # Errors
    /// Transport, API and protocol errors; the runner backs off and calls again.
    async fn receive(&self) -> Result<Vec<InboundMessage>, ChannelError>;

    /// Sends `text` (already within [`ChannelLimits::max_message_len`]) to `chat_id`.
    ///
    /// # Errors
    /// Transport, API and protocol errors.
    async fn send(&self, chat_id: &str, text: &str) -> Result<(), ChannelError>;
}

/// The most parts one reply is split into; the rest is cut and marked.
///
/// # Security
/// A model can be talked into a gigantic answer; on a chat network each part is a message (and
/// an API call). Ten parts of 4096 characters is a long answer, not a flood.
pub const MAX_REPLY_PARTS: usize = 10;

/// Splits `text` into parts of at most `max_len` UTF-16 code units, never inside a character,
/// preferring to break after a newline (or else a space) in the second half of a part. At most
/// [`MAX_REPLY_PARTS`] parts; when that cuts the text, the last part ends with `…`.
#[must_use]
pub fn split_message(text: &str, max_len: usize) -> Vec<String> {
    let max_len = max_len.max(2);
    let mut parts = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        if parts.len() + 1 == MAX_REPLY_PARTS && utf16_len(rest) > max_len {
            let mut last = prefix_within(rest, max_len - 1).to_owned();
            last.push('…');
            parts.push(last);
            break;
        }
        let head = prefix_within(rest, max_len);
        let cut = if head.len() == rest.len() {
            head.len()
        } else {
            let half = head.len() / 2;
            head.rfind('\n')
                .filter(|i| *i >= half)
                .or_else(|| head.rfind(' ').filter(|i| *i >= half))
                .map_or(head.len(), |i| i + 1)
        };
        parts.push(rest[..cut].to_owned());
        rest = &rest[cut..];
    }
    parts
}

fn utf16_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

/// The longest prefix of `s` of at most `max` UTF-16 code units (at least one character, so
/// progress is always made).
fn prefix_within(s: &str, max: usize) -> &str {
    let mut units = 0;
    for (i, c) in s.char_indices() {
        units += c.len_utf16();
        if units > max {
            return if i == 0 { &s[..c.len_utf8()] } else { &s[..i] };
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_one_part() {
        assert_eq!(split_message("hello", 4096), vec!["hello".to_owned()]);
        assert!(split_message("", 4096).is_empty());
    }

    #[test]
    fn long_text_splits_on_char_boundaries_within_the_limit() {
        let text = "é😀a".repeat(3000);
        let parts = split_message(&text, 4096);
        assert!(parts.len() > 1);
        for p in &parts {
            assert!(utf16_len(p) <= 4096, "{}", utf16_len(p));
        }
        assert_eq!(parts.concat(), text);
    }

    #[test]
    fn prefers_newlines() {
        let text = format!("{}\n{}", "a".repeat(3000), "b".repeat(3000));
        let parts = split_message(&text, 4096);
        assert_eq!(parts[0], format!("{}\n", "a".repeat(3000)));
        assert_eq!(parts[1], "b".repeat(3000));
    }

    #[test]
    fn a_huge_reply_is_capped_and_marked() {
        let parts = split_message(&"x".repeat(100_000), 4096);
        assert_eq!(parts.len(), MAX_REPLY_PARTS);
        assert!(parts.last().is_some_and(|p| p.ends_with('…')));
        assert!(parts.iter().all(|p| utf16_len(p) <= 4096));
    }
}
