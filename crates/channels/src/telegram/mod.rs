//! The Telegram adapter (SPEC R5): Bot API long polling and `sendMessage`.
//!
//! - Requests go to `{api_base_url}/bot{token}/METHOD` (so tests point it at a fake server on
//!   loopback). The token is part of every URL, so transport errors are stripped of their URL
//!   before they are logged or returned, and any remaining copy of the token is masked.
//! - `getUpdates` with `offset` (one past the last update seen: the service then forgets the
//!   earlier ones) and `timeout` (a long poll). The offset moves forward before the batch is
//!   handled: a crash loses at most that batch instead of running its turns twice. An adapter
//!   that replaces another (a reload that restarts the channel) resumes from the old one's
//!   offset ([`TelegramChannel::resume_from`]).
//! - The user is `from.id` (verified by Telegram: it is what the allowlist keys on), the reply
//!   goes to `chat.id`. Messages from bots and without text are skipped; so are channel posts.
//! - In a group the bot is addressed when it is @mentioned, replied to, or sent a command
//!   (`/cmd` or `/cmd@thisbot`); `/cmd@otherbot` and ordinary chatter are not for it. The
//!   mention is removed from the text and `/cmd@thisbot` becomes `/cmd`.
//! - Replies are split at [`MAX_MESSAGE_LEN`] (UTF-16 units, Telegram's limit) by the runner.

mod wire;

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use secrecy::{ExposeSecret as _, SecretString};
use serde::de::DeserializeOwned;
use tokio::sync::{Mutex, OnceCell};

use crate::{Channel, ChannelError, ChannelLimits, InboundMessage, ProtocolDetail};

/// Telegram's longest message, in UTF-16 code units.
pub const MAX_MESSAGE_LEN: usize = 4096;
/// The long-poll timeout asked of `getUpdates`, in seconds.
pub const POLL_TIMEOUT_SECS: u64 = 30;
/// The most updates asked for per poll (the Bot API's own maximum).
pub const MAX_UPDATES_PER_POLL: u32 = 100;
/// The largest answer read from the Bot API.
///
/// # Security
/// The answer is untrusted bytes from the network (or from whatever `api_base_url` points at);
/// 100 updates of 4096 characters fit in well under this, a hostile endless body does not.
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;
/// Time allowed for a request on top of the long-poll timeout.
pub const REQUEST_SLACK: Duration = Duration::from_secs(15);

const CHANNEL: &str = "telegram";

/// What `getMe` says about the bot.
#[derive(Debug, Clone)]
struct Me {
    id: i64,
    username: String,
}

/// A Telegram bot, polled.
pub struct TelegramChannel {
    client: reqwest::Client,
    base: String,
    token: SecretString,
    poll_timeout_secs: u64,
    /// Held for a whole `getUpdates`, so two polls never race for one offset.
    polling: Mutex<()>,
    /// One past the last update received: the next poll's `offset`.
    offset: AtomicI64,
    me: OnceCell<Me>,
}

impl std::fmt::Debug for TelegramChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelegramChannel")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl TelegramChannel {
    /// A bot at `api_base_url` (no trailing slash) with `token`, long-polling for
    /// [`POLL_TIMEOUT_SECS`].
    ///
    /// # Errors
    /// [`ChannelError::Transport`] when no HTTP client can be built (no TLS provider installed).
    pub fn new(api_base_url: &str, token: SecretString) -> Result<Self, ChannelError> {
        Self::with_poll_timeout(api_base_url, token, POLL_TIMEOUT_SECS)
    }

    /// As [`TelegramChannel::new`] with another long-poll timeout (tests use a short one).
    ///
    /// # Errors
    /// As [`TelegramChannel::new`].
    pub fn with_poll_timeout(
        api_base_url: &str,
        token: SecretString,
        secs: u64,
    ) -> Result<Self, ChannelError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| ChannelError::Transport {
                channel: CHANNEL,
                detail: e.without_url().to_string(),
            })?;
        Ok(Self {
            client,
            base: api_base_url.trim_end_matches('/').to_owned(),
            token,
            poll_timeout_secs: secs,
            polling: Mutex::new(()),
            offset: AtomicI64::new(0),
            me: OnceCell::new(),
        })
    }

    /// The `offset` of the next poll: one past the last update received (0 before the first).
    /// Updates below it are confirmed: the service does not deliver them again.
    #[must_use]
    pub fn next_offset(&self) -> i64 {
        self.offset.load(Ordering::SeqCst)
    }

    /// Starts polling at `offset` (a [`TelegramChannel::next_offset`] of the adapter this one
    /// replaces) instead of 0, so a restarted adapter is not handed again the updates the old
    /// one already answered.
    #[must_use]
    pub fn resume_from(self, offset: i64) -> Self {
        self.offset.store(offset, Ordering::SeqCst);
        self
    }

    /// Masks the token wherever it might still appear in `text`.
    fn mask(&self, text: &str) -> String {
        let token = self.token.expose_secret();
        if token.is_empty() {
            text.to_owned()
        } else {
            text.replace(token, "[bot token]")
        }
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        body: &serde_json::Value,
        timeout: Duration,
    ) -> Result<T, ChannelError> {
        let url = format!("{}/bot{}/{method}", self.base, self.token.expose_secret());
        let transport = |e: reqwest::Error| ChannelError::Transport {
            channel: CHANNEL,
            detail: self.mask(&e.without_url().to_string()),
        };
        let mut resp = self
            .client
            .post(url)
            .timeout(timeout)
            .json(body)
            .send()
            .await
            .map_err(transport)?;
        let status = resp.status().as_u16();
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(transport)? {
            if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(ChannelError::Protocol {
                    channel: CHANNEL,
                    detail: ProtocolDetail::TooLarge(MAX_RESPONSE_BYTES),
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        let envelope: wire::Envelope<T> = match serde_json::from_slice(&bytes) {
            Ok(env) => env,
            Err(e) if (200..300).contains(&status) => {
                return Err(ChannelError::Protocol {
                    channel: CHANNEL,
                    detail: ProtocolDetail::Json(e),
                });
            }
            Err(_) => {
                return Err(ChannelError::Api {
                    channel: CHANNEL,
                    status,
                    description: "(no Bot API error body)".to_owned(),
                    retry_after: None,
                });
            }
        };
        match envelope {
            wire::Envelope {
                ok: true,
                result: Some(result),
                ..
            } => Ok(result),
            e => Err(ChannelError::Api {
                channel: CHANNEL,
                status,
                description: self.mask(
                    &e.description
                        .unwrap_or_default()
                        .chars()
                        .take(200)
                        .collect::<String>(),
                ),
                retry_after: e.parameters.and_then(|p| p.retry_after),
            }),
        }
    }

    async fn me(&self) -> Result<&Me, ChannelError> {
        self.me
            .get_or_try_init(|| async {
                let user: wire::User = self
                    .call("getMe", &serde_json::json!({}), REQUEST_SLACK)
                    .await?;
                Ok(Me {
                    id: user.id,
                    username: user.username.unwrap_or_default(),
                })
            })
            .await
    }
}

#[async_trait]
impl Channel for TelegramChannel {
    fn name(&self) -> &'static str {
        CHANNEL
    }

    fn limits(&self) -> ChannelLimits {
        ChannelLimits {
            max_message_len: MAX_MESSAGE_LEN,
        }
    }

    async fn receive(&self) -> Result<Vec<InboundMessage>, ChannelError> {
        let me = self.me().await?.clone();
        let _polling = self.polling.lock().await;
        let body = serde_json::json!({
            "offset": self.next_offset(),
            "timeout": self.poll_timeout_secs,
            "limit": MAX_UPDATES_PER_POLL,
            "allowed_updates": ["message"],
        });
        let timeout = Duration::from_secs(self.poll_timeout_secs) + REQUEST_SLACK;
        let updates: Vec<wire::Update> = self.call("getUpdates", &body, timeout).await?;
        let mut out = Vec::with_capacity(updates.len());
        for u in updates {
            self.offset
                .fetch_max(u.update_id.saturating_add(1), Ordering::SeqCst);
            if let Some(m) = u.message.and_then(|m| to_inbound(m, &me)) {
                out.push(m);
            }
        }
        Ok(out)
    }

    async fn send(&self, chat_id: &str, text: &str) -> Result<(), ChannelError> {
        let chat: serde_json::Value = chat_id
            .parse::<i64>()
            .map_or_else(|_| chat_id.into(), Into::into);
        let body = serde_json::json!({ "chat_id": chat, "text": text });
        let _: serde_json::Value = self.call("sendMessage", &body, REQUEST_SLACK).await?;
        Ok(())
    }
}

/// The shared path's view of one Telegram message, or `None` for what the bot ignores.
fn to_inbound(m: wire::Message, me: &Me) -> Option<InboundMessage> {
    let from = m.from?;
    if from.is_bot {
        return None;
    }
    let is_group = match m.chat.kind.as_str() {
        "private" => false,
        "group" | "supergroup" => true,
        _ => return None,
    };
    let text = m.text?;
    let replied_to_me = m
        .reply_to_message
        .as_ref()
        .and_then(|r| r.from.as_ref())
        .is_some_and(|u| u.id == me.id);
    let (text, mentioned, command_for_me) = address(&text, &me.username);
    let addressed = !is_group || mentioned || replied_to_me || command_for_me;
    let display_name = match &from.last_name {
        Some(last) => format!("{} {last}", from.first_name),
        None => from.first_name.clone(),
    };
    Some(InboundMessage {
        user_id: from.id.to_string(),
        chat_id: m.chat.id.to_string(),
        is_group,
        addressed,
        display_name,
        text,
        agent: None,
    })
}

/// Finds whether `text` addresses the bot `@username` and returns the text without the mention:
/// `(text, mentioned, is a command for this bot)`.
fn address(text: &str, username: &str) -> (String, bool, bool) {
    let mut text = text.trim().to_owned();
    let mut command_for_me = false;
    if text.starts_with('/') {
        let end = text.find(char::is_whitespace).unwrap_or(text.len());
        let (cmd, rest) = text.split_at(end);
        match cmd.split_once('@') {
            None => command_for_me = true,
            Some((name, bot)) if !username.is_empty() && bot.eq_ignore_ascii_case(username) => {
                command_for_me = true;
                text = format!("{name}{rest}");
            }
            Some(_) => {}
        }
    }
    let mut mentioned = false;
    if !username.is_empty() {
        let needle = format!("@{}", username.to_ascii_lowercase());
        let mut kept = String::with_capacity(text.len());
        let lower = text.to_ascii_lowercase();
        let mut i = 0;
        while let Some(pos) = lower[i..].find(&needle) {
            let start = i + pos;
            let end = start + needle.len();
            let boundary = lower[end..]
                .chars()
                .next()
                .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
            kept.push_str(&text[i..start]);
            if boundary {
                mentioned = true;
            } else {
                kept.push_str(&text[start..end]);
            }
            i = end;
        }
        kept.push_str(&text[i..]);
        text = kept.split_whitespace().collect::<Vec<_>>().join(" ");
    }
    (text, mentioned, command_for_me)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_and_commands_address_the_bot() {
        assert_eq!(
            address("@Rampart_Bot what time is it?", "rampart_bot"),
            ("what time is it?".to_owned(), true, false)
        );
        assert_eq!(
            address("hey @rampart_bot!", "rampart_bot"),
            ("hey !".to_owned(), true, false)
        );
        assert_eq!(
            address("@rampart_botx hi", "rampart_bot"),
            ("@rampart_botx hi".to_owned(), false, false)
        );
        assert_eq!(
            address("/pair@rampart_bot 123456", "rampart_bot"),
            ("/pair 123456".to_owned(), false, true)
        );
        assert_eq!(
            address("/pair@other_bot 123456", "rampart_bot"),
            ("/pair@other_bot 123456".to_owned(), false, false)
        );
        assert!(address("/start", "rampart_bot").2);
        assert_eq!(
            address("just chatting", "rampart_bot"),
            ("just chatting".to_owned(), false, false)
        );
    }

    fn channel(base: &str) -> TelegramChannel {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let token = SecretString::from("123456:SECRET-TOKEN-abcdef");
        TelegramChannel::new(base, token).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn errors_never_carry_the_token() {
        let tg = channel("http://127.0.0.1:9");
        assert_eq!(
            tg.mask("GET http://x/bot123456:SECRET-TOKEN-abcdef/getMe"),
            "GET http://x/bot[bot token]/getMe"
        );
        assert!(!format!("{tg:?}").contains("SECRET"));
    }

    #[tokio::test]
    async fn a_resumed_adapter_is_not_handed_again_what_the_old_one_took() {
        use rampart_testkit::{FakeTelegram, TgUser};
        let user = TgUser::new(42, "Someone");
        let first = FakeTelegram::start("123456:SECRET-TOKEN-abcdef").await;
        let taken = first.dm(&user, "answered already");
        let old = channel(&first.base_url());
        assert_eq!(old.next_offset(), 0);
        let got = old.receive().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got.len(), 1);
        assert_eq!(old.next_offset(), taken + 1);

        // The service still holds that update (not yet confirmed by a later poll) and a new one.
        let second = FakeTelegram::start("123456:SECRET-TOKEN-abcdef").await;
        assert_eq!(second.dm(&user, "answered already"), taken);
        second.dm(&user, "new");
        let resumed = channel(&second.base_url()).resume_from(old.next_offset());
        let got = resumed.receive().await.unwrap_or_else(|e| panic!("{e}"));
        let texts: Vec<&str> = got.iter().map(|m| m.text.as_str()).collect();
        assert_eq!(texts, ["new"]);
    }

    #[tokio::test]
    async fn a_transport_error_names_no_url() {
        // Port 9 (discard) on loopback: nothing listens, the connection is refused.
        let tg = channel("http://127.0.0.1:9");
        let err = tg.send("1", "hi").await.err().map(|e| e.to_string());
        let err = err.unwrap_or_default();
        assert!(err.contains("transport"), "{err}");
        assert!(!err.contains("SECRET"), "{err}");
        assert!(!err.contains("/bot"), "{err}");
    }
}
