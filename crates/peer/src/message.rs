//! The messages inside transport frames: JSON objects tagged by `type`.

use serde::{Deserialize, Serialize};

use crate::PeerError;
use crate::handshake::MAX_PLAINTEXT_BYTES;

/// The most text one request or reply carries.
///
/// # Security
/// Bounds what a remote node can hand to a local agent turn in one message (the same bound as a
/// user message through the API); the frame limit bounds the encoded form again.
pub const MAX_PEER_TEXT_BYTES: usize = 32 * 1024;

/// One message on an established link.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Body {
    /// A message from `from` (an agent on the sending node) to the agent `to` on the receiving
    /// node; answered by a [`Body::Reply`] or [`Body::Refused`] with the same `id`.
    Request {
        /// Chosen by the sender, unique per link.
        id: u64,
        /// The sending agent's name (the node is the link's authenticated peer).
        from: String,
        /// The receiving agent's name.
        to: String,
        /// The message.
        text: String,
    },
    /// The receiving agent's reply.
    Reply {
        /// The request's id.
        id: u64,
        /// The reply text.
        text: String,
    },
    /// The receiving node refused or failed the request.
    Refused {
        /// The request's id.
        id: u64,
        /// A contract error code.
        code: String,
        /// Why.
        message: String,
    },
    /// Keep-alive.
    Ping,
    /// Answer to a ping.
    Pong,
    /// An orderly end of the link; anything else ending the stream counts as truncation.
    Close,
}

impl Body {
    /// The JSON form, checked against the frame's plaintext limit.
    ///
    /// # Errors
    /// [`PeerError::MessageTooLarge`].
    pub fn encode(&self) -> Result<Vec<u8>, PeerError> {
        let bytes = serde_json::to_vec(self).map_err(|_| PeerError::MessageTooLarge(0))?;
        if bytes.len() > MAX_PLAINTEXT_BYTES {
            return Err(PeerError::MessageTooLarge(bytes.len()));
        }
        Ok(bytes)
    }

    /// Parses an authenticated plaintext. Authenticated does not mean well-formed: the peer is
    /// another node, trusted with the shared secret but not with this node's memory.
    ///
    /// # Errors
    /// [`PeerError::Remote`] with code `invalid_input` when it does not parse or a text is over
    /// [`MAX_PEER_TEXT_BYTES`].
    pub fn decode(bytes: &[u8]) -> Result<Self, PeerError> {
        let bad = |m: &str| PeerError::Remote {
            code: "invalid_input".to_owned(),
            message: m.to_owned(),
        };
        let body: Self = serde_json::from_slice(bytes).map_err(|_| bad("malformed message"))?;
        let too_long = match &body {
            Self::Request { from, to, text, .. } => {
                text.len() > MAX_PEER_TEXT_BYTES || from.len() > 128 || to.len() > 128
            }
            Self::Reply { text, .. } => text.len() > MAX_PEER_TEXT_BYTES,
            Self::Refused { code, message, .. } => code.len() > 64 || message.len() > 1024,
            _ => false,
        };
        if too_long {
            return Err(bad("message field too long"));
        }
        Ok(body)
    }
}

/// `text` cut to at most `max` bytes on a character boundary.
pub(crate) fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn round_trip_and_strict_parsing() {
        let b = Body::Request {
            id: 7,
            from: "a".into(),
            to: "b".into(),
            text: "hi".into(),
        };
        assert_eq!(Body::decode(&b.encode().unwrap()).unwrap(), b);
        assert_eq!(Body::decode(br#"{"type":"ping"}"#).unwrap(), Body::Ping);
        assert!(Body::decode(br#"{"type":"reply","id":1,"text":"x","extra":1}"#).is_err());
        assert!(Body::decode(br#"{"type":"reply","id":-1,"text":"x"}"#).is_err());
        assert!(Body::decode(br#"{"type":"nope"}"#).is_err());
        let long = "x".repeat(MAX_PEER_TEXT_BYTES + 1);
        let b = Body::Reply { id: 1, text: long };
        assert!(Body::decode(&b.encode().unwrap()).is_err());
        assert_eq!(truncate("héllo", 2), "h");
    }
}
