//! Length-prefixed framing: a 4-byte big-endian size, then that many bytes.
//!
//! Decoding is two-phase, after mini-redis: [`check_frame`] reports whether a whole frame is
//! buffered (an incomplete frame is a normal state, not an error) and rejects oversized prefixes
//! before any allocation; only then is the frame split off and parsed.
//!
//! [`FrameDecoder`] is the incremental reader a connection uses. A large frame still arriving goes
//! into memory of its own; with [`FrameDecoder::read_target`], into the connection's receive arena
//! (`crate::arena`): an anonymous memory mapping that successive large frames fill back to back,
//! backed by transparent huge pages once the connection has moved a few megabytes, and faulted in
//! ahead of the socket (`madvise(MADV_POPULATE_WRITE)`, Linux 5.14+) rather than one 4 KiB page
//! fault at a time as the socket copies into it. A broker that retains produced batches as slices
//! of their request frame touches fresh memory for every record it keeps; faulting it in bulk
//! (BENCHMARKS.md, issue 6 change 5) and then in huge pages (issue 18) is most of what a produced
//! record costs the broker.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::WireError;
use crate::arena::{Arena, HUGE_PAGES_AFTER_BYTES, Pending};

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

/// An incremental frame reader over a byte buffer that the caller fills: either through
/// [`FrameDecoder::buffer_mut`], or, for a connection, through [`FrameDecoder::read_target`] and
/// [`FrameDecoder::received`].
#[derive(Debug)]
pub struct FrameDecoder {
    buffer: BytesMut,
    max_frame_bytes: usize,
    /// A large frame being received into the arena (see [`FrameDecoder::read_target`]).
    large: Option<Pending>,
    /// The arena the next large frame is claimed from.
    arena: Option<Arena>,
    /// Bytes of large frames received so far (arenas ask for huge pages past a threshold).
    large_bytes: usize,
}

/// Where [`FrameDecoder::read_target`] wants the next bytes from the peer.
#[derive(Debug)]
pub enum ReadTarget<'a> {
    /// Read into the shared buffer (e.g. with `read_buf`).
    Buffer(&'a mut BytesMut),
    /// Read into the rest of a large frame (e.g. with `read`), then report the count with
    /// [`FrameDecoder::received`].
    Frame(&'a mut [u8]),
}

impl FrameDecoder {
    /// A decoder that rejects frames over `max_frame_bytes`.
    pub fn new(max_frame_bytes: usize) -> Self {
        Self {
            buffer: BytesMut::with_capacity(8 * 1024),
            max_frame_bytes,
            large: None,
            arena: None,
            large_bytes: 0,
        }
    }

    /// Where the next bytes read from the peer should go.
    ///
    /// Once [`FrameDecoder::next_frame`] has found the prefix of a large frame (over
    /// [`LARGE_FRAME_BYTES`]) whose body has not all arrived, the frame is received into a range
    /// of exactly its body's size in the connection's arena (an anonymous memory mapping that
    /// successive large frames fill back to back), and the rest of it is read straight into that
    /// range (no copy). Pages are faulted in ahead of the socket up to the next 2 MiB boundary at
    /// a time, so a peer that announces a huge frame and stalls commits about that much memory.
    /// Otherwise, and where no mapping can be made, the shared buffer.
    pub fn read_target(&mut self) -> ReadTarget<'_> {
        match &mut self.large {
            // Bytes after a complete large frame go to the shared buffer.
            Some(large) if !large.is_complete() => ReadTarget::Frame(large.rest_mut()),
            _ => ReadTarget::Buffer(&mut self.buffer),
        }
    }

    /// Records that `count` bytes were read into the [`ReadTarget::Frame`] slice.
    pub fn received(&mut self, count: usize) {
        if let Some(large) = &mut self.large {
            large.received(count);
        }
    }

    /// A range of the arena for the incomplete large frame whose prefix starts the buffer (body
    /// `len` bytes, known from [`check_frame`]), if a mapping can be made; the body bytes already
    /// buffered move into it.
    fn start_large_frame(&mut self, len: usize) -> Option<Pending> {
        let claimed = self.arena.as_mut().and_then(|arena| arena.claim(len));
        let mut large = match claimed {
            Some(large) => large,
            None => {
                let huge = self.large_bytes >= HUGE_PAGES_AFTER_BYTES;
                let arena = self.arena.insert(Arena::new(len, huge)?);
                arena.claim(len)?
            }
        };
        self.large_bytes = self.large_bytes.saturating_add(len);
        large.fill_from(&self.buffer[4..]);
        self.buffer.clear();
        Some(large)
    }

    /// The buffer to read more bytes into.
    pub fn buffer_mut(&mut self) -> &mut BytesMut {
        &mut self.buffer
    }

    /// Bytes buffered but not yet returned as a frame.
    pub fn buffered(&self) -> usize {
        self.buffer.len() + self.large.as_ref().map_or(0, |large| 4 + large.filled())
    }

    /// Returns the next complete frame body (without the prefix), or `None` if more bytes are
    /// needed. Reserves room for the rest of an announced frame, but never beyond the limit.
    ///
    /// A large frame (over [`LARGE_FRAME_BYTES`]) is read into memory of exactly its size: a range
    /// of the connection's arena (see [`FrameDecoder::read_target`]; bytes put into
    /// [`FrameDecoder::buffer_mut`] meanwhile are moved there), or where no mapping can be made,
    /// an allocation of the whole frame. Either way the bytes read after it go elsewhere, and a
    /// broker that keeps slices of it (the record batches of a Produce) pins no small frames and
    /// no spare room of a growing buffer; slices of arena frames keep their arena's mapping (at
    /// most a few megabytes of other large frames). A large frame that arrived in a shared buffer
    /// anyway (behind other frames) is copied out.
    pub fn next_frame(&mut self) -> Result<Option<Bytes>, WireError> {
        if let Some(large) = &mut self.large {
            // Bytes put into the shared buffer (`buffer_mut`) belong to the large frame first.
            if !self.buffer.is_empty() && !large.is_complete() {
                let moved = large.fill_from(&self.buffer);
                self.buffer.advance(moved);
            }
            if !large.is_complete() {
                return Ok(None);
            }
            let large = self.large.take().expect("checked above");
            return Ok(Some(large.finish()));
        }
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
                    // `needed` is known here: without a prefix, `wanted` is 4.
                    if let Some(large) = self.start_large_frame(wanted - 4) {
                        self.large = Some(large);
                    } else if self.buffer.capacity() < wanted {
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
        assert_eq!(decoder.large.as_ref().map(|l| l.len()), Some(body.len()));
        assert_eq!(decoder.buffered(), 100);
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
        assert!(matches!(decoder.read_target(), ReadTarget::Frame(_)));
        assert!(decoder.large.as_ref().unwrap().populated_ahead() <= 2 * 1024 * 1024);
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

    /// Feeds `bytes` through `read_target`/`received` as a connection does, `chunk` at a time.
    fn feed(decoder: &mut FrameDecoder, mut bytes: &[u8], chunk: usize) {
        while !bytes.is_empty() {
            match decoder.read_target() {
                ReadTarget::Buffer(buffer) => {
                    let n = chunk.min(bytes.len());
                    buffer.extend_from_slice(&bytes[..n]);
                    bytes = &bytes[n..];
                }
                ReadTarget::Frame(rest) => {
                    let n = chunk.min(bytes.len()).min(rest.len());
                    rest[..n].copy_from_slice(&bytes[..n]);
                    bytes = &bytes[n..];
                    decoder.received(n);
                }
            }
        }
    }

    #[test]
    fn a_large_frame_is_received_into_its_own_mapping() {
        let body: Vec<u8> = (0..3 * GROWTH_STEP_BYTES + 5).map(|i| i as u8).collect();
        let mut stream = encode_frame(b"small").to_vec();
        stream.extend_from_slice(&encode_frame(&body));
        stream.extend_from_slice(&encode_frame(b"after"));
        for chunk in [1000, 65_536, 1 << 20] {
            let mut decoder = FrameDecoder::new(10 * body.len());
            let mut frames = Vec::new();
            let mut rest = &stream[..];
            while !rest.is_empty() {
                let n = chunk.min(rest.len());
                feed(&mut decoder, &rest[..n], chunk);
                rest = &rest[n..];
                while let Some(frame) = decoder.next_frame().unwrap() {
                    frames.push(frame);
                }
            }
            assert_eq!(frames.len(), 3, "chunk {chunk}");
            assert_eq!(&frames[0][..], b"small");
            assert_eq!(&frames[1][..], &body[..], "chunk {chunk}");
            assert_eq!(&frames[2][..], b"after");
            assert_eq!(decoder.buffered(), 0);
        }
    }

    #[test]
    fn a_stalled_large_frame_counts_as_buffered_and_faults_in_one_step() {
        let len = 5 * GROWTH_STEP_BYTES;
        let mut decoder = FrameDecoder::new(10 * len);
        let mut head = u32::try_from(len).unwrap().to_be_bytes().to_vec();
        head.extend_from_slice(&[1u8; 100]);
        feed(&mut decoder, &head, 1 << 20);
        assert_eq!(decoder.next_frame().unwrap(), None);
        assert!(matches!(decoder.read_target(), ReadTarget::Frame(_)));
        assert_eq!(decoder.buffered(), 104);
        let large = decoder.large.as_ref().unwrap();
        assert_eq!(large.len(), len);
        assert!(large.populated_ahead() <= 2 * 1024 * 1024);
        assert_eq!(decoder.next_frame().unwrap(), None);
    }

    #[test]
    fn an_oversized_prefix_is_still_an_error_after_read_target() {
        let mut decoder = FrameDecoder::new(1024);
        decoder.buffer_mut().extend_from_slice(&[0, 1, 0, 0]);
        assert!(matches!(decoder.read_target(), ReadTarget::Buffer(_)));
        assert!(decoder.next_frame().is_err());
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let mut decoder = FrameDecoder::new(32);
            decoder.buffer_mut().extend_from_slice(&bytes);
            while let Ok(Some(_)) = decoder.next_frame() {}
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
        /// Frames of any size, small and large (several arenas' worth, so claims cross mapping
        /// boundaries and later mappings use huge pages), read in chunks of any size, come out
        /// whole and in order, and stay intact after the decoder and later frames are gone.
        #[test]
        fn frames_of_any_size_come_out_intact_through_the_arena(
            sizes in proptest::collection::vec(
                proptest::prop_oneof![0usize..200, LARGE_FRAME_BYTES - 4..LARGE_FRAME_BYTES + 4, 60_000usize..3_500_000],
                1..16,
            ),
            chunk in proptest::prop_oneof![1usize..2000, 60_000usize..2_000_000],
            seed in proptest::num::u8::ANY,
        ) {
            let bodies: Vec<Vec<u8>> = sizes
                .iter()
                .enumerate()
                .map(|(n, &len)| (0..len).map(|i| (i as u8) ^ (n as u8).wrapping_mul(31) ^ seed).collect())
                .collect();
            let mut stream = Vec::new();
            for body in &bodies {
                stream.extend_from_slice(&encode_frame(body));
            }
            let mut decoder = FrameDecoder::new(4 << 20);
            let mut frames = Vec::new();
            let mut rest = &stream[..];
            while !rest.is_empty() {
                let n = chunk.min(rest.len());
                feed(&mut decoder, &rest[..n], chunk);
                rest = &rest[n..];
                while let Some(frame) = decoder.next_frame().unwrap() {
                    frames.push(frame);
                }
            }
            drop(decoder);
            proptest::prop_assert_eq!(frames.len(), bodies.len());
            for (frame, body) in frames.iter().zip(&bodies) {
                proptest::prop_assert!(frame[..] == body[..], "a frame of {} bytes came out changed", body.len());
            }
        }
    }
}
