//! Length-prefixed frames: a 2-byte big-endian length, then that many bytes.
//!
//! Every byte on a peer link travels in a frame: the three handshake messages and then one Noise
//! transport message per frame. [`FrameDecoder`] is the one parser of untrusted bytes off the
//! socket (fuzzed by `fuzz/fuzz_targets/peer_frame.rs`); the async helpers read and write through
//! it.

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

use crate::PeerError;

/// The largest frame body: the Noise Protocol's own maximum message length.
///
/// # Security
/// The length prefix is read before anything is authenticated, so it bounds what an
/// unauthenticated peer can make this node buffer: at most this many bytes per connection.
pub const MAX_FRAME_BYTES: usize = 65_535;

/// The largest handshake frame: the biggest of the three messages is the third (a 32-byte
/// ephemeral key is in the first; an encrypted static key, 48 bytes, and a short encrypted hello
/// payload in the second and third).
///
/// # Security
/// Before a peer has proven the shared secret it may not make this node hold more than this.
pub const MAX_HANDSHAKE_FRAME_BYTES: usize = 1024;

/// The size of the length prefix.
pub const FRAME_HEADER_BYTES: usize = 2;

/// How many bytes the async reader asks the socket for at a time.
const READ_CHUNK: usize = 8 * 1024;

/// A sans-I/O frame decoder: push bytes in, take whole frames out.
///
/// It holds at most one partial frame plus the last pushed chunk; a header announcing a length
/// of zero or above the limit is an error, and the caller closes the connection.
#[derive(Debug)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    max: usize,
}

impl FrameDecoder {
    /// A decoder that accepts frame bodies of `1..=max` bytes (`max` is capped at
    /// [`MAX_FRAME_BYTES`]).
    #[must_use]
    pub fn new(max: usize) -> Self {
        Self {
            buf: Vec::new(),
            max: max.min(MAX_FRAME_BYTES),
        }
    }

    /// Changes the limit (after the handshake the link accepts full-size frames).
    pub fn set_max(&mut self, max: usize) {
        self.max = max.min(MAX_FRAME_BYTES);
    }

    /// Appends bytes read from the socket.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes held that are not yet a whole frame.
    #[must_use]
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next whole frame, `Ok(None)` when more bytes are needed.
    ///
    /// # Errors
    /// [`PeerError::FrameLength`] for a zero or oversized length.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, PeerError> {
        let Some(header) = self.buf.get(..FRAME_HEADER_BYTES) else {
            return Ok(None);
        };
        let len = usize::from(u16::from_be_bytes([header[0], header[1]]));
        if len == 0 || len > self.max {
            return Err(PeerError::FrameLength { len, max: self.max });
        }
        let end = FRAME_HEADER_BYTES + len;
        if self.buf.len() < end {
            return Ok(None);
        }
        let frame = self.buf[FRAME_HEADER_BYTES..end].to_vec();
        self.buf.drain(..end);
        Ok(Some(frame))
    }
}

/// Encodes one frame (header and body).
///
/// # Errors
/// [`PeerError::FrameLength`] when `body` is empty or longer than [`MAX_FRAME_BYTES`].
pub fn encode_frame(body: &[u8]) -> Result<Vec<u8>, PeerError> {
    let len = u16::try_from(body.len())
        .ok()
        .filter(|l| *l > 0)
        .ok_or(PeerError::FrameLength {
            len: body.len(),
            max: MAX_FRAME_BYTES,
        })?;
    let mut out = Vec::with_capacity(FRAME_HEADER_BYTES + body.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(body);
    Ok(out)
}

/// Reads frames from an async stream through a [`FrameDecoder`].
#[derive(Debug)]
pub(crate) struct FrameReader<R> {
    inner: R,
    decoder: FrameDecoder,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub(crate) fn new(inner: R, max: usize) -> Self {
        Self {
            inner,
            decoder: FrameDecoder::new(max),
        }
    }

    pub(crate) fn set_max(&mut self, max: usize) {
        self.decoder.set_max(max);
    }

    /// The next frame; `Ok(None)` on a clean end of stream between frames.
    pub(crate) async fn next(&mut self) -> Result<Option<Vec<u8>>, PeerError> {
        let mut chunk = [0u8; READ_CHUNK];
        loop {
            if let Some(frame) = self.decoder.next_frame()? {
                return Ok(Some(frame));
            }
            let n = self.inner.read(&mut chunk).await?;
            if n == 0 {
                return if self.decoder.buffered() == 0 {
                    Ok(None)
                } else {
                    Err(PeerError::Io(std::io::ErrorKind::UnexpectedEof.into()))
                };
            }
            self.decoder.push(&chunk[..n]);
        }
    }
}

/// Writes one frame.
pub(crate) async fn write_frame<W: AsyncWrite + Unpin>(
    w: &mut W,
    body: &[u8],
) -> Result<(), PeerError> {
    w.write_all(&encode_frame(body)?).await?;
    w.flush().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn frames_split_anywhere_decode_the_same() {
        let mut wire = Vec::new();
        for body in [&b"a"[..], &[7u8; 300][..], b"xyz"] {
            wire.extend(encode_frame(body).unwrap());
        }
        for split in 0..wire.len() {
            let mut d = FrameDecoder::new(MAX_FRAME_BYTES);
            d.push(&wire[..split]);
            let mut got = Vec::new();
            while let Some(f) = d.next_frame().unwrap() {
                got.push(f);
            }
            d.push(&wire[split..]);
            while let Some(f) = d.next_frame().unwrap() {
                got.push(f);
            }
            assert_eq!(got.len(), 3, "split at {split}");
            assert_eq!(got[1], vec![7u8; 300]);
            assert_eq!(d.buffered(), 0);
        }
    }

    #[test]
    fn zero_and_oversized_lengths_are_errors() {
        let mut d = FrameDecoder::new(16);
        d.push(&[0, 0]);
        assert!(d.next_frame().is_err());
        let mut d = FrameDecoder::new(16);
        d.push(&[0, 17]);
        assert!(d.next_frame().is_err());
        assert!(encode_frame(&[]).is_err());
        assert!(encode_frame(&vec![0u8; MAX_FRAME_BYTES + 1]).is_err());
        assert!(encode_frame(&vec![0u8; MAX_FRAME_BYTES]).is_ok());
    }
}
