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

/// Frames above this size get an allocation of their own (see [`FrameDecoder::next_frame`]).
pub const LARGE_FRAME_BYTES: usize = 64 * 1024;

/// Growth step for a large frame still arriving: a peer announcing a huge frame and then stalling
/// does not make the decoder allocate the whole announced size up front.
const GROWTH_STEP_BYTES: usize = 1024 * 1024;

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
    ///
    /// A large frame (over [`LARGE_FRAME_BYTES`]) is read into an allocation of exactly its size
    /// (prefix included), which it then owns alone: a broker that keeps slices of it (the record
    /// batches of a Produce) pins neither neighbouring frames nor spare room, and the bytes read
    /// after it go to another buffer. A large frame that arrived in a shared buffer anyway (behind
    /// other frames) is copied out.
    pub fn next_frame(&mut self) -> Result<Option<Bytes>, WireError> {
        match check_frame(&self.buffer, self.max_frame_bytes)? {
            FrameCheck::Complete { len } => {
                let shared = len > LARGE_FRAME_BYTES
                    && (self.buffer.len() > 4 + len || self.buffer.capacity() > 4 + len);
                self.buffer.advance(4);
                let frame = self.buffer.split_to(len);
                if shared {
                    Ok(Some(Bytes::copy_from_slice(&frame)))
                } else {
                    Ok(Some(frame.freeze()))
                }
            }
            FrameCheck::Incomplete { needed } => {
                let wanted = needed.unwrap_or(4).min(4 + self.max_frame_bytes);
                let have = self.buffer.len();
                if wanted > LARGE_FRAME_BYTES {
                    if self.buffer.capacity() < wanted {
                        // A new allocation, exact once the whole frame fits; in the meantime
                        // growing geometrically (amortised copies) from 1 MiB steps.
                        let capacity = wanted.min(have + GROWTH_STEP_BYTES.max(have));
                        let mut own = BytesMut::with_capacity(capacity);
                        own.extend_from_slice(&self.buffer);
                        self.buffer = own;
                    }
                } else {
                    let step = wanted.saturating_sub(have).min(GROWTH_STEP_BYTES);
                    self.buffer.reserve(step.max(4096));
                }
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

    #[test]
    fn a_large_frame_owns_its_allocation() {
        let body = vec![7u8; LARGE_FRAME_BYTES + 10];
        let frame = encode_frame(&body);
        let mut decoder = FrameDecoder::new(10 * 1024 * 1024);
        decoder.buffer_mut().extend_from_slice(&frame[..100]);
        assert_eq!(decoder.next_frame().unwrap(), None);
        assert_eq!(decoder.buffer_mut().capacity(), frame.len());
        decoder.buffer_mut().extend_from_slice(&frame[100..]);
        let got = decoder.next_frame().unwrap().expect("a whole frame");
        assert_eq!(&got[..], &body[..]);
        // Bytes after the frame go to a new buffer, not into the frame's allocation.
        decoder
            .buffer_mut()
            .extend_from_slice(&encode_frame(b"next"));
        assert_eq!(decoder.next_frame().unwrap().as_deref(), Some(&b"next"[..]));
        assert_eq!(&got[..], &body[..]);
    }

    #[test]
    fn a_large_frame_behind_another_is_copied_out_whole() {
        let body = vec![9u8; LARGE_FRAME_BYTES + 1];
        let mut decoder = FrameDecoder::new(10 * 1024 * 1024);
        decoder.buffer_mut().extend_from_slice(&encode_frame(b"a"));
        decoder.buffer_mut().extend_from_slice(&encode_frame(&body));
        decoder.buffer_mut().extend_from_slice(&encode_frame(b"b"));
        assert_eq!(decoder.next_frame().unwrap().as_deref(), Some(&b"a"[..]));
        assert_eq!(decoder.next_frame().unwrap().as_deref(), Some(&body[..]));
        assert_eq!(decoder.next_frame().unwrap().as_deref(), Some(&b"b"[..]));
    }

    #[test]
    fn a_huge_frame_grows_in_steps() {
        let len = 5 * GROWTH_STEP_BYTES;
        let mut decoder = FrameDecoder::new(10 * len);
        decoder
            .buffer_mut()
            .extend_from_slice(&u32::try_from(len).unwrap().to_be_bytes());
        assert_eq!(decoder.next_frame().unwrap(), None);
        assert!(decoder.buffer_mut().capacity() <= 4 + GROWTH_STEP_BYTES);
        let chunk = vec![1u8; 64 * 1024];
        let mut sent = 0;
        while sent < len {
            let n = chunk.len().min(len - sent);
            decoder.buffer_mut().extend_from_slice(&chunk[..n]);
            sent += n;
            if sent < len {
                assert_eq!(decoder.next_frame().unwrap(), None);
            }
        }
        assert_eq!(decoder.next_frame().unwrap().map(|f| f.len()), Some(len));
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
