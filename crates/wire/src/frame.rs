//! Length-prefixed framing: a 4-byte big-endian size, then that many bytes.
//!
//! Decoding is two-phase, after mini-redis: [`check_frame`] reports whether a whole frame is
//! buffered (an incomplete frame is a normal state, not an error) and rejects oversized prefixes
//! before any allocation; only then is the frame split off and parsed.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::WireError;

/// Default frame limit: 100 MiB, as Kafka's `socket.request.max.bytes`.
pub const DEFAULT_MAX_FRAME_BYTES: usize = 100 * 1024 * 1024;

/// What [`check_frame`] found at the front of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameCheck {
    /// A whole frame is there; its body is `len` bytes after the 4-byte prefix.
    Complete {
        /// Body length in bytes.
        len: usize,
    },
    /// More bytes are needed; `needed` is the total (prefix + body) when known.
    Incomplete {
        /// Total bytes needed for the frame, if the prefix has been read.
        needed: Option<usize>,
    },
}

/// Checks whether `buf` starts with a complete frame of at most `max_frame_bytes`.
pub fn check_frame(buf: &[u8], max_frame_bytes: usize) -> Result<FrameCheck, WireError> {
    let Some(prefix) = buf.get(..4) else {
        return Ok(FrameCheck::Incomplete { needed: None });
    };
    let size = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
    let Ok(len) = usize::try_from(size) else {
        return Err(WireError::NegativeFrameLength(size));
    };
    if len > max_frame_bytes {
        return Err(WireError::FrameTooLarge {
            size: len as u64,
            max: max_frame_bytes as u64,
        });
    }
    if buf.len() - 4 >= len {
        Ok(FrameCheck::Complete { len })
    } else {
        Ok(FrameCheck::Incomplete {
            needed: Some(4 + len),
        })
    }
}

/// Prepends the 4-byte length prefix to `body`.
pub fn encode_frame(body: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(4 + body.len());
    out.put_u32(u32::try_from(body.len()).expect("frames are built far below 4 GiB"));
    out.extend_from_slice(body);
    out.freeze()
}

/// Frames above this size get [`READ_AHEAD_ROOM_BYTES`] of extra buffer room.
const LARGE_FRAME_BYTES: usize = 64 * 1024;

/// Extra room after a large frame: the broker's connections read at most 64 KiB ahead while a
/// request is processed (`READ_AHEAD_BYTES` in kmock-broker's server).
const READ_AHEAD_ROOM_BYTES: usize = 64 * 1024;

/// An incremental frame reader over a byte buffer that the caller fills.
#[derive(Debug)]
pub struct FrameDecoder {
    buffer: BytesMut,
    max_frame_bytes: usize,
}

impl FrameDecoder {
    /// A decoder that rejects frames over `max_frame_bytes`.
    pub fn new(max_frame_bytes: usize) -> Self {
        Self {
            buffer: BytesMut::with_capacity(8 * 1024),
            max_frame_bytes,
        }
    }

    /// The buffer to read more bytes into.
    pub fn buffer_mut(&mut self) -> &mut BytesMut {
        &mut self.buffer
    }

    /// Bytes buffered but not yet returned as a frame.
    pub fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// Returns the next complete frame body (without the prefix), or `None` if more bytes are
    /// needed. Reserves room for the rest of an announced frame, but never beyond the limit.
    pub fn next_frame(&mut self) -> Result<Option<Bytes>, WireError> {
        match check_frame(&self.buffer, self.max_frame_bytes)? {
            FrameCheck::Complete { len } => {
                self.buffer.advance(4);
                Ok(Some(self.buffer.split_to(len).freeze()))
            }
            FrameCheck::Incomplete { needed } => {
                let wanted = needed.unwrap_or(4).min(4 + self.max_frame_bytes);
                // Grow in steps so that a peer announcing a huge frame and then stalling does not
                // make us allocate the whole announced size up front.
                let step = wanted.saturating_sub(self.buffer.len()).min(1024 * 1024);
                // A large frame gets room for what the connection reads ahead while the frame is
                // being processed, so that those bytes land in the same buffer; the buffer is
                // then reclaimed whole for the next frame once this one is dropped, instead of a
                // fresh allocation per frame (fresh pages cost a page fault each).
                let headroom = if wanted > LARGE_FRAME_BYTES {
                    READ_AHEAD_ROOM_BYTES
                } else {
                    0
                };
                self.buffer.reserve(step.max(4096) + headroom);
                Ok(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incomplete_prefix_is_not_an_error() {
        assert_eq!(
            check_frame(&[0, 0], 100),
            Ok(FrameCheck::Incomplete { needed: None })
        );
    }

    #[test]
    fn oversized_prefix_is_rejected_before_the_body_arrives() {
        let err = check_frame(&[0x7f, 0xff, 0xff, 0xff], 1024).unwrap_err();
        assert!(matches!(err, WireError::FrameTooLarge { max: 1024, .. }));
    }

    #[test]
    fn negative_prefix_is_rejected() {
        let err = check_frame(&[0xff, 0xff, 0xff, 0xfe], 1024).unwrap_err();
        assert_eq!(err, WireError::NegativeFrameLength(-2));
    }

    #[test]
    fn decoder_yields_frames_split_across_reads() {
        let mut decoder = FrameDecoder::new(1024);
        let frame = encode_frame(b"hello");
        decoder.buffer_mut().extend_from_slice(&frame[..6]);
        assert_eq!(decoder.next_frame().unwrap(), None);
        decoder.buffer_mut().extend_from_slice(&frame[6..]);
        decoder.buffer_mut().extend_from_slice(&encode_frame(b""));
        assert_eq!(
            decoder.next_frame().unwrap().as_deref(),
            Some(&b"hello"[..])
        );
        assert_eq!(decoder.next_frame().unwrap().as_deref(), Some(&b""[..]));
        assert_eq!(decoder.next_frame().unwrap(), None);
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let mut decoder = FrameDecoder::new(32);
            decoder.buffer_mut().extend_from_slice(&bytes);
            while let Ok(Some(_)) = decoder.next_frame() {}
        }
    }
}
