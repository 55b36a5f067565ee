//! The Bot API's JSON shapes, as far as this adapter reads them. Unknown fields are ignored: the
//! service adds fields over time, and this is its protocol, not our configuration.

use serde::Deserialize;

/// Every Bot API answer: `{"ok":true,"result":…}` or `{"ok":false,"error_code":…,"description":…}`.
#[derive(Debug, Deserialize)]
pub(crate) struct Envelope<T> {
    pub(crate) ok: bool,
    pub(crate) result: Option<T>,
    #[serde(default)]
    pub(crate) description: Option<String>,
    #[serde(default)]
    pub(crate) parameters: Option<Parameters>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Parameters {
    #[serde(default)]
    pub(crate) retry_after: Option<u64>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Update {
    pub(crate) update_id: i64,
    #[serde(default)]
    pub(crate) message: Option<Message>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Message {
    #[serde(default)]
    pub(crate) from: Option<User>,
    pub(crate) chat: Chat,
    #[serde(default)]
    pub(crate) text: Option<String>,
    #[serde(default)]
    pub(crate) reply_to_message: Option<Box<Message>>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct User {
    pub(crate) id: i64,
    #[serde(default)]
    pub(crate) is_bot: bool,
    #[serde(default)]
    pub(crate) first_name: String,
    #[serde(default)]
    pub(crate) last_name: Option<String>,
    #[serde(default)]
    pub(crate) username: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Chat {
    pub(crate) id: i64,
    #[serde(rename = "type")]
    pub(crate) kind: String,
}
