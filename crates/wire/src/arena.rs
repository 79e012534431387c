//! The receive arena for large frames: one anonymous memory mapping that successive large frames
//! of a connection are read into, back to back, each then handed out as a [`Bytes`] of its own
//! range that keeps the mapping alive.
//!
//! Why: a broker that retains produced batches as slices of their request frame touches fresh
//! memory for every record it keeps, and on Linux most of its CPU per produced record went to
//! faulting that memory in one 4 KiB page at a time (page allocation, memory-cgroup charging,
//! page-table updates: half the broker's CPU in a 2M-record produce, BENCHMARKS.md, issue 18). A
//! mapping shared by many frames can be backed by 2 MiB transparent huge pages
//! (`madvise(MADV_HUGEPAGE)`), which the kernel faults in, charges and maps once per 2 MiB.
//!
//! This module and `crc.rs`'s `simd` are the only `unsafe` code of the workspace. The invariant
//! that makes this one sound: a [`Region`] is only ever written through the one [`Pending`] that
//! [`Arena::claim`] made for a range, which no other `Pending` or [`Bytes`] overlaps (claims only
//! move forward), and a range is only read (as a [`Bytes`]) after its `Pending` was consumed by
//! [`Pending::finish`].
//!
//! Memory: a region is unmapped when the arena has moved on and the last frame cut from it is
//! dropped, so one retained frame keeps its whole region's touched pages. Huge pages are asked for
//! only once a connection has received [`HUGE_PAGES_AFTER_BYTES`] in large frames: a connection
//! that sends one 100 KiB frame and is gone keeps 100 KiB, not a 2 MiB page.
#![allow(unsafe_code)]

use std::sync::Arc;

use bytes::Bytes;
use memmap2::{MmapOptions, MmapRaw};

/// The size of a transparent huge page on x86-64 and most aarch64 kernels (PMD size).
const HUGE_PAGE: usize = 2 * 1024 * 1024;

/// Size of an arena mapping with huge pages (a frame larger than this gets a region of its own
/// size).
pub(crate) const ARENA_BYTES: usize = 8 * 1024 * 1024;

/// Size of an arena mapping in small pages: a connection's first.
pub(crate) const SMALL_ARENA_BYTES: usize = 2 * 1024 * 1024;

/// Large-frame bytes a connection must have received before its next arenas ask for huge pages:
/// past this, at most one partly used huge page per connection is memory beyond what it sent.
pub(crate) const HUGE_PAGES_AFTER_BYTES: usize = SMALL_ARENA_BYTES;

/// Bytes faulted in ahead of the socket at a time: one huge page, or 512 small pages in one call.
const POPULATE_STEP: usize = HUGE_PAGE;

/// One anonymous mapping, and within it the usable range `base..base + len` (2 MiB aligned).
#[derive(Debug)]
struct Region {
    map: MmapRaw,
    /// Offset of the usable range in `map`.
    offset: usize,
    /// Length of the usable range.
    len: usize,
}

impl Region {
    /// A mapping of at least `len` usable bytes starting on a huge-page boundary, advised to use
    /// huge pages when `huge` is set (best effort: a kernel without transparent huge pages maps
    /// small ones).
    fn new(len: usize, huge: bool) -> Option<Self> {
        // Over-map by a huge page so that an aligned range of `len` bytes fits whatever address
        // the kernel picks; the slack is address space only (never touched, never resident).
        let map: MmapRaw = MmapOptions::new()
            .len(len.checked_add(HUGE_PAGE)?)
            .map_anon()
            .ok()?
            .into();
        let address = map.as_ptr() as usize;
        let offset = address.next_multiple_of(HUGE_PAGE) - address;
        if huge {
            #[cfg(target_os = "linux")]
            let _ = map.advise_range(memmap2::Advice::HugePage, offset, len);
        }
        Some(Self { map, offset, len })
    }

    /// Faults in `start..start + len` (usable-range offsets) ahead of the socket. Best effort:
    /// where the kernel lacks `MADV_POPULATE_WRITE` (Linux < 5.14), pages fault in as written.
    fn populate(&self, start: usize, len: usize) {
        #[cfg(target_os = "linux")]
        let _ = self
            .map
            .advise_range(memmap2::Advice::PopulateWrite, self.offset + start, len);
        #[cfg(not(target_os = "linux"))]
        let _ = (start, len);
    }

    /// Pointer to usable-range offset `at` (`at <= self.len`).
    fn at(&self, at: usize) -> *mut u8 {
        debug_assert!(at <= self.len);
        // SAFETY: `offset + at` stays within the mapping: `offset < HUGE_PAGE` and
        // `at <= len`, and the mapping is `len + HUGE_PAGE` bytes long.
        unsafe { self.map.as_mut_ptr().add(self.offset + at) }
    }
}

/// A connection's current arena: the region large frames are claimed from, front to back.
#[derive(Debug)]
pub(crate) struct Arena {
    region: Arc<Region>,
    /// Bytes of the region claimed by frames so far (handed out or being received).
    claimed: usize,
}

impl Arena {
    /// A new arena with room for a frame of `len` bytes (huge pages if `huge`).
    pub(crate) fn new(len: usize, huge: bool) -> Option<Self> {
        let base = if huge { ARENA_BYTES } else { SMALL_ARENA_BYTES };
        let size = base.max(len.checked_next_multiple_of(HUGE_PAGE)?);
        Some(Self {
            region: Arc::new(Region::new(size, huge)?),
            claimed: 0,
        })
    }

    /// Bytes not yet claimed.
    pub(crate) fn remaining(&self) -> usize {
        self.region.len - self.claimed
    }

    /// Claims the next `len` bytes for one frame, if they fit.
    pub(crate) fn claim(&mut self, len: usize) -> Option<Pending> {
        if len > self.remaining() {
            return None;
        }
        let start = self.claimed;
        self.claimed += len;
        Some(Pending {
            region: Arc::clone(&self.region),
            start,
            len,
            filled: 0,
            populated: start,
        })
    }
}

/// A frame being received into its claimed range of a region: the only handle through which that
/// range is written.
#[derive(Debug)]
pub(crate) struct Pending {
    region: Arc<Region>,
    /// The claimed range: `start..start + len` of the region's usable range.
    start: usize,
    len: usize,
    /// Bytes received so far.
    filled: usize,
    /// Region offset up to which pages were faulted in ahead of the socket.
    populated: usize,
}

impl Pending {
    /// The frame's length.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Bytes received so far.
    pub(crate) fn filled(&self) -> usize {
        self.filled
    }

    /// Bytes faulted in ahead of the socket beyond what was received (for tests).
    #[cfg(test)]
    pub(crate) fn populated_ahead(&self) -> usize {
        self.populated.saturating_sub(self.start + self.filled)
    }

    /// The part of the frame not yet received, with the next pages faulted in once the socket has
    /// filled what was faulted in: up to the next huge-page boundary, within this frame's range
    /// (so a peer that announces a huge frame and stalls commits at most about 2 MiB).
    pub(crate) fn rest_mut(&mut self) -> &mut [u8] {
        let at = self.start + self.filled;
        let end = self.start + self.len;
        if at >= self.populated && at < end {
            let to = (at + 1).next_multiple_of(POPULATE_STEP).min(end);
            self.region.populate(at, to - at);
            self.populated = to;
        }
        // SAFETY: `at..end` lies within the region's usable range (`claim` checked
        // `start + len <= region.len`), no other `Pending` covers any of it (claims never
        // overlap), no `Bytes` reads it before `finish` consumed `self`, and the returned borrow
        // holds `&mut self`, so no second mutable slice of it exists at the same time.
        unsafe { std::slice::from_raw_parts_mut(self.region.at(at), end - at) }
    }

    /// Records that `count` bytes were written to the front of [`Pending::rest_mut`].
    pub(crate) fn received(&mut self, count: usize) {
        self.filled = (self.filled + count).min(self.len);
    }

    /// Appends `bytes` (at most what is still missing), returning how many were taken.
    pub(crate) fn fill_from(&mut self, bytes: &[u8]) -> usize {
        let rest = self.rest_mut();
        let count = bytes.len().min(rest.len());
        rest[..count].copy_from_slice(&bytes[..count]);
        self.received(count);
        count
    }

    /// Whether every byte of the frame was received.
    pub(crate) fn is_complete(&self) -> bool {
        self.filled == self.len
    }

    /// The received frame (call once [`Pending::is_complete`]), as bytes that keep the region
    /// mapped.
    pub(crate) fn finish(self) -> Bytes {
        debug_assert!(self.is_complete());
        Bytes::from_owner(Frame {
            region: self.region,
            start: self.start,
            len: self.filled,
        })
    }
}

/// A finished frame's range of a region (the owner behind its [`Bytes`]).
struct Frame {
    region: Arc<Region>,
    start: usize,
    len: usize,
}

impl AsRef<[u8]> for Frame {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `start..start + len` lies within the region's usable range, was written by the
        // frame's `Pending`, which `finish` consumed, and is never written again (later claims
        // start after it); the region stays mapped while `self.region` holds it.
        unsafe { std::slice::from_raw_parts(self.region.at(self.start), self.len) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_cut_back_to_back_and_keep_their_bytes() {
        let mut arena = Arena::new(10, false).unwrap();
        assert_eq!(arena.remaining(), SMALL_ARENA_BYTES);
        assert_eq!(Arena::new(10, true).unwrap().remaining(), ARENA_BYTES);
        let mut first = arena.claim(3).unwrap();
        let mut second = arena.claim(4).unwrap();
        assert_eq!(second.fill_from(b"wxyz!"), 4);
        assert_eq!(first.fill_from(b"ab"), 2);
        assert!(!first.is_complete());
        assert_eq!(first.fill_from(b"cd"), 1);
        let (first, second) = (first.finish(), second.finish());
        drop(arena);
        assert_eq!(&first[..], b"abc");
        assert_eq!(&second[..], b"wxyz");
    }

    #[test]
    fn a_claim_that_does_not_fit_is_refused() {
        let mut arena = Arena::new(0, false).unwrap();
        assert!(arena.claim(SMALL_ARENA_BYTES - 1).is_some());
        assert!(arena.claim(2).is_none());
        assert!(arena.claim(1).is_some());
        assert_eq!(arena.remaining(), 0);
    }

    #[test]
    fn a_frame_larger_than_an_arena_gets_a_region_of_its_size() {
        let len = ARENA_BYTES + 1;
        let mut arena = Arena::new(len, true).unwrap();
        assert_eq!(arena.remaining(), ARENA_BYTES + HUGE_PAGE);
        let mut frame = arena.claim(len).unwrap();
        let chunk = vec![5u8; 1 << 20];
        while !frame.is_complete() {
            frame.fill_from(&chunk);
        }
        let frame = frame.finish();
        assert_eq!(frame.len(), len);
        assert!(frame.iter().all(|&b| b == 5));
    }

    #[test]
    fn pages_are_faulted_in_at_most_to_the_next_huge_page_boundary() {
        let mut arena = Arena::new(0, true).unwrap();
        let mut frame = arena.claim(3 * HUGE_PAGE).unwrap();
        let _ = frame.rest_mut();
        assert_eq!(frame.populated_ahead(), HUGE_PAGE);
        frame.received(HUGE_PAGE - 10);
        let _ = frame.rest_mut();
        assert_eq!(
            frame.populated_ahead(),
            10,
            "not refaulted before the socket caught up"
        );
        frame.received(10);
        let _ = frame.rest_mut();
        assert_eq!(frame.populated_ahead(), HUGE_PAGE);
        // A frame starting mid-page populates only up to that page's end.
        let mut arena = Arena::new(0, true).unwrap();
        let _ = arena.claim(100).unwrap();
        let mut frame = arena.claim(3 * HUGE_PAGE).unwrap();
        let _ = frame.rest_mut();
        assert_eq!(frame.populated_ahead(), HUGE_PAGE - 100);
    }
}
