//! What one partition remembers of its producers (Kafka's `ProducerStateManager`): each
//! idempotent producer's epoch and last five batches (duplicate and sequence checks), each
//! transactional producer's open transaction (its first offset, which holds the last stable
//! offset back), and the aborted transactions a read_committed Fetch reports.
//!
//! Rules, in Kafka's order (`ProducerAppendInfo`):
//! - a batch with an older epoch than the producer's → INVALID_PRODUCER_EPOCH;
//! - a retry of one of the producer's last five batches (same epoch and sequence range, first in
//!   its request) → a duplicate: the original offset is answered, nothing is appended;
//! - a new epoch must start at sequence 0, the same epoch must continue the last sequence (an
//!   epoch moved by a transaction marker, with no batch since, expects 0) →
//!   OUT_OF_ORDER_SEQUENCE_NUMBER; a producer the partition does not know may start anywhere
//!   (KIP-360);
//! - a non-transactional batch from a producer with an open transaction → INVALID_TXN_STATE;
//!   a transactional batch from a producer without one opens it at the batch's first offset.
//!
//! A transaction marker ([`ProducerStates::record_marker`]) closes the producer's open
//! transaction; an ABORT marker records the aborted range `[first offset, marker offset]`. The
//! marker's epoch becomes the producer's (a bumped epoch forgets the batches).
//!
//! Limits: at most [`MAX_PRODUCERS_PER_PARTITION`] producers. A new one beyond evicts the producer
//! without an open transaction whose last write is oldest (Kafka expires producer state after
//! `producer.id.expiration.ms` instead); when every remembered producer has an open transaction,
//! the new producer's batch is refused with NOT_ENOUGH_REPLICAS (retriable; Kafka has no limit).
//! Aborted transactions are kept while their marker is in the log.
//!
//! # References
//! - Kafka `ProducerStateManager`, `ProducerAppendInfo` (checkProducerEpoch, checkSequence,
//!   appendDataBatch, appendEndTxnMarker), `ProducerStateEntry` (`NUM_BATCHES_TO_RETAIN` = 5)
//! - Kafka `UnifiedLog.firstUnstableOffset`, `TransactionIndex.collectAbortedTxns`
//! - KIP-98 (idempotence, transactions, LSO), KIP-360 (unknown producers)

use std::collections::{BTreeMap, VecDeque};

use super::batch::{self, BatchHeader};
use super::code;

/// Batches remembered per producer for duplicate detection (Kafka's `NUM_BATCHES_TO_RETAIN`).
const PRODUCER_BATCHES_RETAINED: usize = 5;

/// Producers remembered per partition (see the module docs for what happens beyond).
pub const MAX_PRODUCERS_PER_PARTITION: usize = 10_000;

/// One appended idempotent batch: enough to recognise a retry of it.
#[derive(Debug, Clone, Copy)]
struct SequenceRange {
    first_sequence: i32,
    last_sequence: i32,
    base_offset: i64,
}

/// What the partition remembers of one producer.
#[derive(Debug, Clone)]
struct ProducerState {
    /// Epoch of the latest batch or marker.
    epoch: i16,
    /// The latest batches of this epoch, oldest first, at most [`PRODUCER_BATCHES_RETAINED`].
    recent: VecDeque<SequenceRange>,
    /// First offset of the producer's open transaction in this partition.
    transaction_first_offset: Option<i64>,
    /// Offset of the producer's latest write (batch or marker): eviction picks the oldest.
    last_offset: i64,
}

/// A transaction aborted in this partition: its records are `first_offset..=last_offset` (the
/// last is the ABORT marker's offset), as Fetch reports them to read_committed consumers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AbortedTransaction {
    pub(crate) producer_id: i64,
    pub(crate) first_offset: i64,
    pub(crate) last_offset: i64,
}

/// An open transaction in this partition (for inspection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OpenTransaction {
    pub(crate) producer_id: i64,
    pub(crate) producer_epoch: i16,
    pub(crate) first_offset: i64,
}

/// Producer state of one partition. See the module docs.
#[derive(Debug, Default)]
pub(crate) struct ProducerStates {
    producers: BTreeMap<i64, ProducerState>,
    /// Open transactions: first offset → producer id. The smallest key is the first unstable
    /// offset.
    open: BTreeMap<i64, i64>,
    /// Aborted transactions in marker order (so by `last_offset`).
    aborted: VecDeque<AbortedTransaction>,
}

impl ProducerStates {
    /// Checks every batch of one append before any is appended. `Ok(Some(offset))`: the first
    /// batch retries one appended at `offset` (the append is a duplicate).
    pub(crate) fn check(&self, headers: &[BatchHeader]) -> Result<Option<i64>, i16> {
        let mut new_producers = 0;
        for (index, header) in headers.iter().enumerate() {
            let earlier = &headers[..index];
            if let Some(base_offset) = self.check_sequence(earlier, header)? {
                return Ok(Some(base_offset));
            }
            if header.producer_id < 0 {
                continue;
            }
            let earlier_same = earlier
                .iter()
                .filter(|h| h.producer_id == header.producer_id);
            let state = self.producers.get(&header.producer_id);
            let open = state.is_some_and(|s| s.transaction_first_offset.is_some())
                || earlier_same.clone().any(|h| h.transactional);
            if open && !header.transactional {
                return Err(code::INVALID_TXN_STATE);
            }
            if state.is_none() && earlier_same.count() == 0 {
                new_producers += 1;
            }
        }
        if new_producers > 0 && !self.has_room_for(new_producers) {
            return Err(code::NOT_ENOUGH_REPLICAS);
        }
        Ok(None)
    }

    /// Whether `count` new producers fit, evicting producers without open transactions.
    fn has_room_for(&self, count: usize) -> bool {
        let evictable = self
            .producers
            .values()
            .filter(|state| state.transaction_first_offset.is_none())
            .count();
        self.producers.len() - evictable + count <= MAX_PRODUCERS_PER_PARTITION
    }

    /// Checks an idempotent batch's epoch and sequence against the producer's state and the
    /// batches before it in the same request.
    fn check_sequence(
        &self,
        earlier: &[BatchHeader],
        header: &BatchHeader,
    ) -> Result<Option<i64>, i16> {
        if !header.is_idempotent() {
            return Ok(None);
        }
        let previous = earlier
            .iter()
            .rev()
            .find(|h| h.is_idempotent() && h.producer_id == header.producer_id)
            .map(|h| (h.producer_epoch, Some(h.last_sequence())));
        let (epoch, last_sequence) = match previous {
            Some(previous) => previous,
            None => {
                let Some(state) = self.producers.get(&header.producer_id) else {
                    // A producer this partition has not seen: any sequence starts it (KIP-360).
                    return Ok(None);
                };
                if earlier.is_empty() && state.epoch == header.producer_epoch {
                    let last_sequence = header.last_sequence();
                    if let Some(range) = state.recent.iter().find(|r| {
                        r.first_sequence == header.base_sequence && r.last_sequence == last_sequence
                    }) {
                        return Ok(Some(range.base_offset));
                    }
                }
                (state.epoch, state.recent.back().map(|r| r.last_sequence))
            }
        };
        if header.producer_epoch < epoch {
            return Err(code::INVALID_PRODUCER_EPOCH);
        }
        let expected = match last_sequence {
            Some(last) if header.producer_epoch == epoch => batch::increment_sequence(last, 1),
            // A new epoch, or an epoch a marker moved to with no batch since.
            _ => 0,
        };
        if header.base_sequence != expected {
            return Err(code::OUT_OF_ORDER_SEQUENCE_NUMBER);
        }
        Ok(None)
    }

    /// Records a batch appended at `base_offset..=last_offset` (checked by [`Self::check`]).
    pub(crate) fn record_batch(
        &mut self,
        header: &BatchHeader,
        base_offset: i64,
        last_offset: i64,
    ) {
        if header.producer_id < 0 {
            return;
        }
        let state = self.state_mut(header.producer_id, header.producer_epoch);
        state.last_offset = last_offset;
        if header.is_idempotent() {
            if state.recent.len() == PRODUCER_BATCHES_RETAINED {
                state.recent.pop_front();
            }
            state.recent.push_back(SequenceRange {
                first_sequence: header.base_sequence,
                last_sequence: header.last_sequence(),
                base_offset,
            });
        }
        if header.transactional && state.transaction_first_offset.is_none() {
            state.transaction_first_offset = Some(base_offset);
            self.open.insert(base_offset, header.producer_id);
        }
    }

    /// Records a transaction marker of `producer_id` at `epoch`, written at `marker_offset`: the
    /// producer's open transaction (if any) ends, and is remembered as aborted unless `commit`.
    pub(crate) fn record_marker(
        &mut self,
        producer_id: i64,
        epoch: i16,
        commit: bool,
        marker_offset: i64,
    ) {
        if !self.producers.contains_key(&producer_id) && !self.has_room_for(1) {
            // Every remembered producer has an open transaction: this one has none here, so
            // there is nothing to close; the marker is written but not remembered.
            return;
        }
        let state = self.state_mut(producer_id, epoch);
        state.last_offset = marker_offset;
        if let Some(first_offset) = state.transaction_first_offset.take() {
            self.open.remove(&first_offset);
            if !commit {
                self.aborted.push_back(AbortedTransaction {
                    producer_id,
                    first_offset,
                    last_offset: marker_offset,
                });
            }
        }
    }

    /// The producer's state, created (evicting another if full: [`Self::check`] made room) and
    /// moved to `epoch` (a new epoch forgets the batches of the old one).
    fn state_mut(&mut self, producer_id: i64, epoch: i16) -> &mut ProducerState {
        if !self.producers.contains_key(&producer_id)
            && self.producers.len() >= MAX_PRODUCERS_PER_PARTITION
        {
            self.evict_one();
        }
        let state = self
            .producers
            .entry(producer_id)
            .or_insert_with(|| ProducerState {
                epoch,
                recent: VecDeque::with_capacity(PRODUCER_BATCHES_RETAINED),
                transaction_first_offset: None,
                last_offset: -1,
            });
        if state.epoch != epoch {
            state.epoch = epoch;
            state.recent.clear();
        }
        state
    }

    /// Forgets the producer without an open transaction whose last write is oldest.
    fn evict_one(&mut self) {
        let oldest = self
            .producers
            .iter()
            .filter(|(_, state)| state.transaction_first_offset.is_none())
            .min_by_key(|(id, state)| (state.last_offset, **id))
            .map(|(id, _)| *id);
        if let Some(id) = oldest {
            self.producers.remove(&id);
        }
    }

    /// Whether `producer_id` has an open transaction in this partition.
    pub(crate) fn has_open_transaction(&self, producer_id: i64) -> bool {
        self.producers
            .get(&producer_id)
            .is_some_and(|state| state.transaction_first_offset.is_some())
    }

    /// The first offset of the earliest open transaction: the last stable offset, if any is open.
    pub(crate) fn first_unstable_offset(&self) -> Option<i64> {
        self.open.keys().next().copied()
    }

    /// The open transactions, by first offset.
    pub(crate) fn open_transactions(&self) -> impl Iterator<Item = OpenTransaction> + '_ {
        self.open
            .iter()
            .map(|(first_offset, producer_id)| OpenTransaction {
                producer_id: *producer_id,
                producer_epoch: self.producers.get(producer_id).map_or(-1, |s| s.epoch),
                first_offset: *first_offset,
            })
    }

    /// Aborted transactions with records in `from..to` (Kafka's `collectAbortedTxns`: the
    /// marker at or after `from`, the first record before `to`).
    pub(crate) fn aborted_between(
        &self,
        from: i64,
        to: i64,
    ) -> impl Iterator<Item = &AbortedTransaction> + '_ {
        let start = self.aborted.partition_point(|t| t.last_offset < from);
        self.aborted
            .range(start..)
            .filter(move |t| t.first_offset < to)
    }

    /// The log start moved to `offset`: forget aborted transactions wholly below it.
    pub(crate) fn truncate_before(&mut self, offset: i64) {
        while self.aborted.front().is_some_and(|t| t.last_offset < offset) {
            self.aborted.pop_front();
        }
    }
}
