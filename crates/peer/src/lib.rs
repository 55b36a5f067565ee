//! # rampart-peer
//!
//! The peer network (SPEC O1, O2): Rampart gateways on different machines authenticate each
//! other with a shared secret and let an agent on one ask an agent on another (`agent@node`).
//!
//! - **Handshake**: the Noise Protocol Framework, `Noise_XXpsk0_25519_ChaChaPoly_SHA256`
//!   ([`NOISE_PARAMS`]), through the `snow` crate. The PSK is HKDF-SHA256 of the shared secret
//!   ([`derive_psk`]); each node has a static X25519 key ([`NodeIdentity`], kept in the vault)
//!   and sends its name inside the encrypted handshake payload, so both names, both static keys,
//!   both fresh ephemeral keys and the PSK are all bound into what the handshake authenticates.
//!   Names are pinned to keys ([`PinStore`]: configured pins, else trust on first use): a node
//!   claiming another's name is refused.
//! - **Transport**: one Noise transport message per length-prefixed frame ([`FrameDecoder`],
//!   at most [`MAX_FRAME_BYTES`]); separate keys per direction; frame `n` uses nonce `n` and
//!   carries `n`, so a flipped bit, a replayed, reordered or dropped frame fails authentication
//!   and closes the link; a stream that ends without a close message counts as truncated.
//! - **Messaging**: [`PeerNode::send`] sends a message to `agent@node` and waits for the reply;
//!   requests from remote nodes go to the [`InboundHandler`] the gateway provides, with the role
//!   this node gives peers (`[network] peer_role`, default `user`) — never one the remote chose.
//! - **Bounds**: handshake timeout, handshakes in flight overall and per IP, links overall and
//!   per node, requests in flight per link, idle timeout, reconnect with exponential backoff and
//!   jitter (see [`config`]).
//!
//! `docs/peer-protocol.md` has the message diagrams and why each property holds.
//!
//! ## Trust assumptions
//! Everything before the handshake completes is hostile. After it, the remote is a member that
//! holds the shared secret and its own pinned key: trusted to be who it says, not trusted with
//! anything else — its messages are parsed strictly, bounded, and pass the receiving gateway's
//! own policy and input defense. The shared secret must be high-entropy (`rampart keygen`): a
//! captured first handshake message allows offline guessing.
//!
//! ## Example
//! ```
//! use std::sync::Arc;
//! use rampart_peer::*;
//!
//! #[derive(Debug)]
//! struct Echo;
//! #[async_trait::async_trait]
//! impl InboundHandler for Echo {
//!     async fn handle(&self, r: InboundRequest) -> Result<String, InboundRefusal> {
//!         Ok(format!("{} heard: {}", r.to_agent, r.text))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let secret = [7u8; 32];
//! let node = |name: &str, listen: bool| -> Result<Arc<PeerNode>, PeerError> {
//!     let mut cfg = PeerConfig::new(name.parse()?);
//!     if listen {
//!         cfg.listen_addr = Some("127.0.0.1:0".parse().expect("address"));
//!     }
//!     PeerNode::new(cfg, NodeIdentity::generate()?, &secret, Arc::new(MemoryPins::default()), None)
//! };
//! let (a, b) = (node("a", false)?, node("b", true)?);
//! let addr = b.start(Arc::new(Echo)).await?.expect("bound");
//! a.start(Arc::new(Echo)).await?;
//! assert_eq!(a.connect(&addr.to_string()).await?.as_str(), "b");
//! let reply = a.send(&"me".parse()?, &"assistant@b".parse()?, "hello").await?;
//! assert_eq!(reply, "assistant heard: hello");
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

pub mod config;
mod error;
mod frame;
mod handler;
mod handshake;
mod identity;
mod message;
mod node;
mod pins;

pub use config::{PeerConfig, PeerLimits};
pub use error::{PeerError, Refusal};
pub use frame::{
    FRAME_HEADER_BYTES, FrameDecoder, MAX_FRAME_BYTES, MAX_HANDSHAKE_FRAME_BYTES, encode_frame,
};
pub use handler::{InboundHandler, InboundRefusal, InboundRequest};
pub use handshake::{MAX_PLAINTEXT_BYTES, NOISE_PARAMS, PROLOGUE};
pub use identity::{
    MAX_NODE_NAME_LEN, MIN_SHARED_SECRET_BYTES, NodeIdentity, NodeName, PeerAddress, PublicKey,
    derive_psk,
};
pub use message::{Body, MAX_PEER_TEXT_BYTES};
pub use node::{Direction, MAX_PENDING_REQUESTS_PER_LINK, PeerEvent, PeerInfo, PeerNode};
pub use pins::{MemoryPins, PinCheck, PinStore};
