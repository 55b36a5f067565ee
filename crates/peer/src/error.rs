//! The crate's one error type.

use std::fmt;

/// Why a peer operation failed. Messages never contain key material or the shared secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PeerError {
    /// A node name outside `[a-z0-9][a-z0-9_-]{0,63}`.
    #[error("invalid node name {0:?}: use 1-64 lowercase letters, digits, `-` or `_`")]
    InvalidNodeName(String),
    /// An address that is not `agent@node`.
    #[error("invalid peer address {0:?}: expected \"agent@node\"")]
    InvalidAddress(String),
    /// A key that is not 32 bytes of base64.
    #[error("invalid key: {0}")]
    InvalidKey(&'static str),
    /// A frame header announced a length outside `1..=max`.
    #[error("frame length {len} is outside 1..={max}")]
    FrameLength {
        /// The announced length.
        len: usize,
        /// The limit in force.
        max: usize,
    },
    /// The link was refused or closed for a protocol reason.
    #[error("peer link refused: {0}")]
    Refused(Refusal),
    /// The message does not fit in one frame.
    #[error("message too large for the peer link ({0} bytes encoded)")]
    MessageTooLarge(usize),
    /// No authenticated link to that node.
    #[error("no link to node {0}")]
    NotConnected(String),
    /// The remote node did not answer in time.
    #[error("the remote node did not answer in time")]
    Timeout,
    /// The link closed before the answer came.
    #[error("the peer link closed before the answer came")]
    Closed,
    /// The remote node refused the request (its policy, its input defense, no such agent…).
    #[error("the remote node refused: {code}: {message}")]
    Remote {
        /// A contract error code (`forbidden`, `not_found`, `prompt_injection_detected`, …).
        code: String,
        /// The remote's explanation.
        message: String,
    },
    /// Too many links, handshakes or requests in flight.
    #[error("peer link busy: {0}")]
    Busy(&'static str),
    /// Socket I/O.
    #[error("peer I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The pin store could not be read or written.
    #[error("peer identity store: {0}")]
    Pins(String),
}

/// Why a handshake or a link was refused or closed; the text goes to the audit trail.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// A handshake message failed authentication: a different shared secret, a different
    /// protocol version, a replayed or garbled message. Noise cannot tell these apart, and
    /// neither side learns which.
    HandshakeFailed,
    /// The handshake did not finish within the handshake timeout (a stalled peer).
    HandshakeTimeout,
    /// A handshake frame had an impossible length or the payload did not parse.
    Malformed,
    /// The peer claimed this node's own name or key (a reflected or looped connection).
    SelfConnection,
    /// The peer claimed a node name whose pinned key is a different one.
    IdentityMismatch,
    /// The claimed node name is not a valid name.
    InvalidName,
    /// A transport frame failed authentication: tampered, replayed, reordered or dropped.
    FrameAuthentication,
    /// A transport frame decrypted but its sequence number or body was wrong.
    BadFrame,
    /// The link was silent longer than the idle timeout.
    Idle,
    /// The stream ended without a close message (truncation, or the peer died).
    Truncated,
    /// The remote closed the link in an orderly way.
    ClosedByPeer,
    /// This node is shutting down or replaced the link with a newer one.
    ClosedLocally,
    /// The connection limits were reached.
    TooManyConnections,
}

impl Refusal {
    /// The stable snake_case name used in audit entries.
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::HandshakeFailed => "handshake_failed",
            Self::HandshakeTimeout => "handshake_timeout",
            Self::Malformed => "malformed",
            Self::SelfConnection => "self_connection",
            Self::IdentityMismatch => "identity_mismatch",
            Self::InvalidName => "invalid_node_name",
            Self::FrameAuthentication => "frame_authentication_failed",
            Self::BadFrame => "bad_frame",
            Self::Idle => "idle_timeout",
            Self::Truncated => "truncated",
            Self::ClosedByPeer => "closed_by_peer",
            Self::ClosedLocally => "closed_locally",
            Self::TooManyConnections => "too_many_connections",
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
