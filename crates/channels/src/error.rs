//! The error type of this crate.

/// Why a channel operation failed.
///
/// No message ever holds a bot token or a pairing code: adapters strip request URLs (which carry
/// the token) from transport errors before they become one of these.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChannelError {
    /// The channel's service could not be reached or the connection failed.
    #[error("{channel}: transport error: {detail}")]
    Transport {
        /// The channel.
        channel: &'static str,
        /// What went wrong, with every URL removed.
        detail: String,
    },
    /// The service answered with an error (HTTP status, or `ok: false`).
    #[error("{channel}: the API answered {status}: {description}")]
    Api {
        /// The channel.
        channel: &'static str,
        /// The HTTP status.
        status: u16,
        /// The service's description, shortened.
        description: String,
        /// Seconds the service asked us to wait (Telegram's `retry_after`), if it did.
        retry_after: Option<u64>,
    },
    /// The service answered something that is not the protocol (bad JSON, too large).
    #[error("{channel}: unexpected answer: {detail}")]
    Protocol {
        /// The channel.
        channel: &'static str,
        /// What was wrong.
        #[source]
        detail: ProtocolDetail,
    },
    /// The database failed.
    #[error("store: {0}")]
    Store(#[from] rampart_store::StoreError),
    /// The operating system's random number generator failed.
    #[error("random number generator failed")]
    Random,
    /// The channel has too many unused pairing codes; wait for one to be used or expire.
    #[error("{0} already has the most unused pairing codes allowed; wait for one to expire")]
    TooManyCodes(String),
    /// A blocking task was cancelled or panicked.
    #[error("internal task failed")]
    Task,
}

/// What was wrong with an answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolDetail {
    /// The body was not the expected JSON.
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The body was larger than the limit.
    #[error("answer larger than {0} bytes")]
    TooLarge(usize),
}
