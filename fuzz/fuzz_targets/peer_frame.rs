//! Fuzzes the peer link's frame decoder (the one parser of unauthenticated bytes off a peer
//! socket) and the message parser behind it. Input: one byte picking the frame limit and the
//! chunk size, then the stream. Invariants: no panic; every frame is 1..=limit bytes; the frames
//! re-encode to exactly the bytes consumed; what is held back is less than one frame; the
//! message parser never panics on any frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart_peer::{Body, FRAME_HEADER_BYTES, FrameDecoder, MAX_FRAME_BYTES, encode_frame};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, stream)) = data.split_first() else {
        return;
    };
    let max = if mode & 1 == 0 { 1024 } else { MAX_FRAME_BYTES };
    let chunk = usize::from(mode >> 1).max(1);
    let mut decoder = FrameDecoder::new(max);
    let mut consumed = Vec::new();
    for piece in stream.chunks(chunk) {
        decoder.push(piece);
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => {
                    assert!(!frame.is_empty() && frame.len() <= max);
                    let _ = Body::decode(&frame);
                    consumed.extend(encode_frame(&frame).expect("a decoded frame re-encodes"));
                }
                Ok(None) => break,
                Err(_) => return, // the link would be closed here
            }
        }
    }
    assert_eq!(&stream[..consumed.len()], &consumed[..]);
    assert!(decoder.buffered() < FRAME_HEADER_BYTES + max);
    assert_eq!(consumed.len() + decoder.buffered(), stream.len());
});
