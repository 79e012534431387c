//! Frames to write: one buffer, or a chain of buffers written back to back.
//!
//! A Fetch response serves stored record batches; copying each into the response frame (and the
//! frame into fresh memory) was most of what serving a record cost. [`Frame`] lets a response
//! reference a large batch where it is stored: the encoder writes the fields, the small batches and
//! each large batch's patched header into one buffer, and the rest of each large batch is a part of
//! its own ([`FrameWriter::reference`]). A connection writes the parts with one vectored write
//! where its stream supports it.

use std::ops::RangeBounds;

use bytes::{Bytes, BytesMut};

/// A frame to write (its length prefix included): one buffer, or parts written back to back.
#[derive(Clone, Debug)]
pub struct Frame {
    parts: Parts,
}

#[derive(Clone, Debug)]
enum Parts {
    One(Bytes),
    Chain(Vec<Bytes>),
}

impl Frame {
    /// The frame as its parts, in order (one for a frame in a single buffer).
    pub fn parts(&self) -> &[Bytes] {
        match &self.parts {
            Parts::One(bytes) => std::slice::from_ref(bytes),
            Parts::Chain(parts) => parts,
        }
    }

    /// Bytes in the whole frame.
    pub fn len(&self) -> usize {
        self.parts().iter().map(Bytes::len).sum()
    }

    /// Whether the frame has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The frame in one buffer (a copy when it is a chain).
    pub fn to_bytes(&self) -> Bytes {
        match &self.parts {
            Parts::One(bytes) => bytes.clone(),
            Parts::Chain(parts) => {
                let mut out = BytesMut::with_capacity(self.len());
                for part in parts {
                    out.extend_from_slice(part);
                }
                out.freeze()
            }
        }
    }

    /// A range of the frame's bytes (a copy when the frame is a chain).
    pub fn slice(&self, range: impl RangeBounds<usize>) -> Bytes {
        self.to_bytes().slice(range)
    }
}

impl From<Bytes> for Frame {
    fn from(bytes: Bytes) -> Self {
        Self {
            parts: Parts::One(bytes),
        }
    }
}

/// Two frames are equal when their bytes are, however they are split into parts.
impl PartialEq for Frame {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.to_bytes() == other.to_bytes()
    }
}

impl Eq for Frame {}

/// Builds a [`Frame`]: bytes copied into one buffer, with referenced buffers in between.
#[derive(Debug, Default)]
pub struct FrameWriter {
    /// The copied bytes.
    buffer: Vec<u8>,
    /// What the frame is made of, in order.
    pieces: Vec<Piece>,
    /// Where the copied bytes not yet in `pieces` start.
    copied_from: usize,
    /// Bytes referenced so far.
    referenced: usize,
}

#[derive(Debug)]
enum Piece {
    /// `buffer[start..end]`.
    Copied(usize, usize),
    Referenced(Bytes),
}

impl FrameWriter {
    /// A writer whose copied bytes go into `buffer` (appended to what it holds).
    pub fn new(buffer: Vec<u8>) -> Self {
        Self {
            buffer,
            ..Self::default()
        }
    }

    /// The buffer copied bytes go to: append to it (and patch what was appended) freely.
    pub fn buffer(&mut self) -> &mut Vec<u8> {
        &mut self.buffer
    }

    /// Bytes written so far, copied and referenced.
    pub fn len(&self) -> usize {
        self.buffer.len() + self.referenced
    }

    /// Whether nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes `bytes` by reference: the frame holds them as a part of their own.
    pub fn reference(&mut self, bytes: Bytes) {
        if bytes.is_empty() {
            return;
        }
        if self.buffer.len() > self.copied_from {
            self.pieces
                .push(Piece::Copied(self.copied_from, self.buffer.len()));
            self.copied_from = self.buffer.len();
        }
        self.referenced += bytes.len();
        self.pieces.push(Piece::Referenced(bytes));
    }

    /// The frame, with the copied bytes in the buffer `freeze` makes of the writer's buffer.
    pub(crate) fn finish(mut self, freeze: impl FnOnce(Vec<u8>) -> Bytes) -> Frame {
        let end = self.buffer.len();
        let copied = freeze(std::mem::take(&mut self.buffer));
        if self.pieces.is_empty() {
            return Frame::from(copied);
        }
        if end > self.copied_from {
            self.pieces.push(Piece::Copied(self.copied_from, end));
        }
        let parts = self
            .pieces
            .into_iter()
            .map(|piece| match piece {
                Piece::Copied(start, end) => copied.slice(start..end),
                Piece::Referenced(bytes) => bytes,
            })
            .collect();
        Frame {
            parts: Parts::Chain(parts),
        }
    }

    /// Overwrites `bytes.len()` bytes of the copied buffer at `at` (the length prefix, once the
    /// frame's length is known).
    pub(crate) fn patch(&mut self, at: usize, bytes: &[u8]) {
        self.buffer[at..at + bytes.len()].copy_from_slice(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_is_its_parts_in_order_with_copied_bytes_between_references() {
        let mut writer = FrameWriter::new(Vec::new());
        writer.buffer().extend_from_slice(b"head");
        writer.reference(Bytes::from_static(b"-large-"));
        writer.reference(Bytes::new());
        writer.buffer().extend_from_slice(b"mid");
        writer.reference(Bytes::from_static(b"-again-"));
        writer.reference(Bytes::from_static(b"back-to-back"));
        writer.buffer().extend_from_slice(b"tail");
        assert_eq!(writer.len(), 4 + 7 + 3 + 7 + 12 + 4);
        writer.patch(0, b"H");
        let frame = writer.finish(Bytes::from);
        let parts: Vec<&[u8]> = frame.parts().iter().map(|p| &p[..]).collect();
        assert_eq!(
            parts,
            [
                &b"Head"[..],
                b"-large-",
                b"mid",
                b"-again-",
                b"back-to-back",
                b"tail"
            ]
        );
        assert_eq!(frame.len(), 37);
        assert_eq!(
            &frame.to_bytes()[..],
            b"Head-large-mid-again-back-to-backtail"
        );
        assert_eq!(&frame.slice(4..11)[..], b"-large-");
        assert_eq!(frame, Frame::from(frame.to_bytes()));
    }

    #[test]
    fn without_references_the_frame_is_one_buffer() {
        let mut writer = FrameWriter::new(b"ab".to_vec());
        writer.buffer().extend_from_slice(b"cd");
        let frame = writer.finish(Bytes::from);
        assert_eq!(frame.parts().len(), 1);
        assert_eq!(&frame.to_bytes()[..], b"abcd");
    }
}
