//! The Noise handshake (`Noise_XXpsk0_25519_ChaChaPoly_SHA256`) and the transport it yields.
//!
//! ```text
//!  initiator                                              responder
//!  -> psk, e                 [payload: empty, AEAD under the PSK]
//!  <- e, ee, s, es           [payload: {"node": responder name}]
//!  -> s, se                  [payload: {"node": initiator name}]
//! ```
//! See `docs/peer-protocol.md` for why each property holds.

use std::sync::Arc;

use snow::StatelessTransportState;
use subtle::ConstantTimeEq as _;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::frame::{FrameReader, MAX_FRAME_BYTES, write_frame};
use crate::{NodeIdentity, NodeName, PeerError, PublicKey, Refusal};

/// The Noise protocol name: XX (both static keys sent encrypted, both authenticated), the PSK
/// mixed in before the first message (`psk0`), X25519, ChaCha20-Poly1305, SHA-256.
pub const NOISE_PARAMS: &str = "Noise_XXpsk0_25519_ChaChaPoly_SHA256";

/// The prologue both sides mix into the handshake hash: a different protocol version on the
/// other end makes the first message fail authentication, so versions cannot be downgraded.
pub const PROLOGUE: &[u8] = b"rampart-peer/1";

/// The AEAD tag length.
const TAG: usize = 16;
/// The sequence number at the start of every transport plaintext.
const SEQ: usize = 8;

/// The largest plaintext body one transport frame carries.
pub const MAX_PLAINTEXT_BYTES: usize = MAX_FRAME_BYTES - TAG - SEQ;

/// What each side says about itself inside the encrypted handshake payload.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Hello {
    node: String,
}

/// A finished handshake: the authenticated peer and the keys.
pub(crate) struct Established {
    pub(crate) node: NodeName,
    pub(crate) key: PublicKey,
    pub(crate) sender: Sealer,
    pub(crate) receiver: Opener,
}

fn builder<'a>(
    identity: &'a NodeIdentity,
    psk: &'a [u8; 32],
) -> Result<snow::Builder<'a>, Failure> {
    let params = NOISE_PARAMS
        .parse()
        .map_err(|_| refused(Refusal::HandshakeFailed))?;
    let noise = |_| refused(Refusal::HandshakeFailed);
    snow::Builder::new(params)
        .local_private_key(identity.private())
        .map_err(noise)?
        .psk(0, psk)
        .map_err(noise)?
        .prologue(PROLOGUE)
        .map_err(noise)
}

/// Why a handshake failed: the claimed node name when it got that far, and the reason.
pub(crate) type Failure = (Option<NodeName>, Refusal);

fn refused(r: Refusal) -> Failure {
    (None, r)
}

fn io(_: PeerError) -> Failure {
    (None, Refusal::HandshakeFailed)
}

/// Reads one handshake frame; a clean end of stream counts as a failed handshake.
async fn read_hs<R: AsyncRead + Unpin>(r: &mut FrameReader<R>) -> Result<Vec<u8>, Failure> {
    match r.next().await {
        Ok(Some(f)) => Ok(f),
        Err(PeerError::FrameLength { .. }) => Err(refused(Refusal::Malformed)),
        Ok(None) | Err(_) => Err(refused(Refusal::HandshakeFailed)),
    }
}

fn hello(own: &NodeName) -> Vec<u8> {
    // Serializing a struct of one string cannot fail.
    serde_json::to_vec(&Hello {
        node: own.as_str().to_owned(),
    })
    .unwrap_or_default()
}

/// Parses the peer's hello and its static key, and refuses our own identity coming back.
fn peer_of(
    payload: &[u8],
    remote_static: Option<&[u8]>,
    identity: &NodeIdentity,
    own: &NodeName,
) -> Result<(NodeName, PublicKey), Failure> {
    let hello: Hello = serde_json::from_slice(payload).map_err(|_| refused(Refusal::Malformed))?;
    let key = remote_static
        .and_then(PublicKey::from_slice)
        .ok_or_else(|| refused(Refusal::Malformed))?;
    let node: NodeName = hello
        .node
        .parse()
        .map_err(|_| refused(Refusal::InvalidName))?;
    let same_name: bool = node
        .as_str()
        .as_bytes()
        .ct_eq(own.as_str().as_bytes())
        .into();
    if same_name || key.ct_eq(&identity.public()) {
        return Err((Some(node), Refusal::SelfConnection));
    }
    Ok((node, key))
}

/// The dialing side. `check` vets the responder's claimed identity (pins) before this side
/// reveals its own static key and name in message 3.
pub(crate) async fn initiate<R, W>(
    reader: &mut FrameReader<R>,
    writer: &mut W,
    identity: &NodeIdentity,
    psk: &[u8; 32],
    own: &NodeName,
    check: impl FnOnce(&NodeName, &PublicKey) -> Result<(), Refusal>,
) -> Result<Established, Failure>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut hs = builder(identity, psk)?
        .build_initiator()
        .map_err(|_| refused(Refusal::HandshakeFailed))?;
    let mut buf = vec![0u8; MAX_FRAME_BYTES];
    let mut payload = vec![0u8; MAX_FRAME_BYTES];
    let n = hs
        .write_message(&[], &mut buf)
        .map_err(|_| refused(Refusal::HandshakeFailed))?;
    write_frame(writer, &buf[..n]).await.map_err(io)?;

    let msg2 = read_hs(reader).await?;
    let n = hs
        .read_message(&msg2, &mut payload)
        .map_err(|_| refused(Refusal::HandshakeFailed))?;
    let (node, key) = peer_of(&payload[..n], hs.get_remote_static(), identity, own)?;
    check(&node, &key).map_err(|r| (Some(node.clone()), r))?;

    let n = hs
        .write_message(&hello(own), &mut buf)
        .map_err(|_| refused(Refusal::HandshakeFailed))?;
    write_frame(writer, &buf[..n]).await.map_err(io)?;
    finish(hs, node, key)
}

/// The listening side. `check` vets the initiator's claimed identity.
pub(crate) async fn respond<R, W>(
    reader: &mut FrameReader<R>,
    writer: &mut W,
    identity: &NodeIdentity,
    psk: &[u8; 32],
    own: &NodeName,
    check: impl FnOnce(&NodeName, &PublicKey) -> Result<(), Refusal>,
) -> Result<Established, Failure>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut hs = builder(identity, psk)?
        .build_responder()
        .map_err(|_| refused(Refusal::HandshakeFailed))?;
    let mut buf = vec![0u8; MAX_FRAME_BYTES];
    let mut payload = vec![0u8; MAX_FRAME_BYTES];
    let msg1 = read_hs(reader).await?;
    // With psk0 the first message's (empty) payload is sealed under the PSK: a peer with another
    // secret fails here, before this side has sent a single byte.
    hs.read_message(&msg1, &mut payload)
        .map_err(|_| refused(Refusal::HandshakeFailed))?;
    let n = hs
        .write_message(&hello(own), &mut buf)
        .map_err(|_| refused(Refusal::HandshakeFailed))?;
    write_frame(writer, &buf[..n]).await.map_err(io)?;

    let msg3 = read_hs(reader).await?;
    let n = hs
        .read_message(&msg3, &mut payload)
        .map_err(|_| refused(Refusal::HandshakeFailed))?;
    let (node, key) = peer_of(&payload[..n], hs.get_remote_static(), identity, own)?;
    check(&node, &key).map_err(|r| (Some(node.clone()), r))?;
    finish(hs, node, key)
}

fn finish(
    hs: snow::HandshakeState,
    node: NodeName,
    key: PublicKey,
) -> Result<Established, Failure> {
    let t = Arc::new(
        hs.into_stateless_transport_mode()
            .map_err(|_| refused(Refusal::HandshakeFailed))?,
    );
    Ok(Established {
        node,
        key,
        sender: Sealer {
            t: Arc::clone(&t),
            seq: 0,
        },
        receiver: Opener { t, seq: 0 },
    })
}

/// Seals outgoing transport frames: frame `n` is encrypted with nonce `n` under this direction's
/// key and carries `n` in its first 8 plaintext bytes.
pub(crate) struct Sealer {
    t: Arc<StatelessTransportState>,
    seq: u64,
}

impl Sealer {
    /// One frame body for `body`.
    pub(crate) fn seal(&mut self, body: &[u8]) -> Result<Vec<u8>, PeerError> {
        if body.len() > MAX_PLAINTEXT_BYTES {
            return Err(PeerError::MessageTooLarge(body.len()));
        }
        let mut plain = Vec::with_capacity(SEQ + body.len());
        plain.extend_from_slice(&self.seq.to_be_bytes());
        plain.extend_from_slice(body);
        let mut out = vec![0u8; plain.len() + TAG];
        let n = self
            .t
            .write_message(self.seq, &plain, &mut out)
            .map_err(|_| PeerError::MessageTooLarge(body.len()))?;
        out.truncate(n);
        self.seq = self.seq.checked_add(1).ok_or(PeerError::Closed)?;
        Ok(out)
    }
}

/// Opens incoming transport frames strictly in order.
pub(crate) struct Opener {
    t: Arc<StatelessTransportState>,
    seq: u64,
}

impl Opener {
    /// The body of the next frame. Any failure is fatal to the link: the AEAD check fails for a
    /// flipped bit, a replayed frame (its nonce is behind), a reordered or dropped frame (its
    /// nonce is not the expected one).
    pub(crate) fn open(&mut self, frame: &[u8]) -> Result<Vec<u8>, Refusal> {
        let mut plain = vec![0u8; frame.len()];
        let n = self
            .t
            .read_message(self.seq, frame, &mut plain)
            .map_err(|_| Refusal::FrameAuthentication)?;
        plain.truncate(n);
        let expected = self.seq.to_be_bytes();
        let seq_ok: bool = plain.get(..SEQ).is_some_and(|s| s.ct_eq(&expected).into());
        if !seq_ok {
            return Err(Refusal::BadFrame);
        }
        self.seq = self.seq.checked_add(1).ok_or(Refusal::BadFrame)?;
        plain.drain(..SEQ);
        Ok(plain)
    }
}
