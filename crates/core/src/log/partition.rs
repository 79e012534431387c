//! One partition's log: record batches stored as received, the log start and end offsets, and the
//! idempotent-producer sequence state.
//!
//! Memory: one [`StoredBatch`] (a `Bytes` slice plus three integers) per batch. A large Produce
//! (at least [`SHARE_FRAME_BYTES`] of batches for the partition) is stored without a copy: its
//! batches are slices of the request frame, which the frame decoder gives its own allocation
//! (`kmock_wire::FrameDecoder`), so they pin nothing else. A smaller one is copied (exactly the
//! bytes the producer sent), so that it does not pin a read buffer shared with other requests.
//! The broker-assigned header fields (base offset, partition leader epoch; not covered by the CRC)
//! are written when the batch is served ([`StoredBatch::served`], [`PartitionLog::read`]), which
//! copies the batch into the Fetch response anyway. Lookups by
//! offset are binary searches. Lookups by timestamp scan batches linearly (Kafka keeps a time
//! index; kmock's logs are small).
//!
//! An append obeys its topic's configs ([`AppendRules`]: batch and append size limits, record
//! checks, LogAppendTime stamping). The log start offset moves up only through
//! [`PartitionLog::truncate_before`] (DeleteRecords and retention): whole batches below it are
//! dropped and their memory released; the start may point inside a batch, as Kafka's
//! `logStartOffset` may, and that batch is still served whole (the client skips the records before
//! its fetch offset) while lookups by timestamp skip the records before the start. Compaction swaps
//! in rewritten batches with [`PartitionLog::replace_batches`] (see `retention.rs`).
//!
//! Producer state (sequences, open and aborted transactions) lives in `producer_state.rs`; the
//! last stable offset is the first offset of the earliest open transaction. Transaction markers
//! are control batches the transaction coordinator appends ([`PartitionLog::append_marker`]).
//!
//! Limits: offsets are `i64` and grow without bound. Producer state is kept for at most
//! `MAX_PRODUCERS_PER_PARTITION` producers per partition (see `producer_state.rs`).
//!
//! # References
//! - Kafka `UnifiedLog` / `LogSegment` (append, read, offsetForTimestamp)
//! - Kafka `ProducerStateManager` / `ProducerAppendInfo` (KIP-98: the last 5 batches per producer)
//! - KIP-74: a fetch returns at least one batch even if larger than the fetch limit
//! - Kafka `UnifiedLog.maybeIncrementLogStartOffset` / `deleteOldSegments` (KIP-107: the log start
//!   offset moved by DeleteRecords)

use bytes::{Bytes, BytesMut};
use kmock_wire::kafka_protocol::records::RecordBatchDecoder;
use kmock_wire::{FetchRecords, FrameWriter, REFERENCE_MIN_BYTES};

use super::batch::{self, BatchHeader};
use super::code;
use super::producer_state::ProducerStates;
use super::record_checks::{self, RecordRules};

/// The partition leader epoch written into served batches (one broker, never re-elected).
pub(crate) const LEADER_EPOCH: i32 = 0;

/// Batches of one Produce partition at least this large are kept as slices of the request frame;
/// smaller ones are copied (see the module docs).
pub(crate) const SHARE_FRAME_BYTES: usize = 64 * 1024;

/// One record batch as stored.
#[derive(Debug, Clone)]
pub(crate) struct StoredBatch {
    /// Offset of the first record (written into the header when served).
    pub(crate) base_offset: i64,
    /// Offset of the last record.
    pub(crate) last_offset: i64,
    /// Largest record timestamp in the batch (from the header), for ListOffsets.
    pub(crate) max_timestamp: i64,
    /// The whole batch, header included, as the producer sent it: Fetch serves it with
    /// `base_offset` and the partition leader epoch written into the header.
    pub(crate) bytes: Bytes,
}

impl StoredBatch {
    /// The batch as served by Fetch: a copy with the base offset and leader epoch written.
    pub(crate) fn served(&self) -> Bytes {
        let mut buffer = Vec::with_capacity(self.bytes.len());
        self.write_served(&mut buffer);
        Bytes::from(buffer)
    }

    /// Writes the batch as served into a frame: a large batch by reference, after a copy of its
    /// header's first bytes with the fields served differently (base offset, leader epoch).
    fn write_served_into(&self, out: &mut FrameWriter) {
        if self.bytes.len() < REFERENCE_MIN_BYTES {
            return self.write_served(out.buffer());
        }
        let buffer = out.buffer();
        let at = buffer.len();
        buffer.extend_from_slice(&self.bytes[..PATCHED_HEADER_BYTES]);
        batch::patch_header(&mut buffer[at..], self.base_offset, LEADER_EPOCH);
        out.reference(self.bytes.slice(PATCHED_HEADER_BYTES..));
    }

    /// Bytes of the batch [`StoredBatch::write_served_into`] copies.
    fn copied_len(&self) -> usize {
        if self.bytes.len() < REFERENCE_MIN_BYTES {
            self.bytes.len()
        } else {
            PATCHED_HEADER_BYTES
        }
    }

    /// Appends the batch as served to `buffer`.
    fn write_served(&self, buffer: &mut Vec<u8>) {
        let at = buffer.len();
        buffer.extend_from_slice(&self.bytes);
        batch::patch_header(&mut buffer[at..], self.base_offset, LEADER_EPOCH);
    }
}

/// The first bytes of a batch header, up to and including the fields Fetch serves differently
/// from how they were produced: base offset (8), batch length (4), partition leader epoch (4).
const PATCHED_HEADER_BYTES: usize = 16;

/// A partition's records in a Fetch response: stored batches, each written as served.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ServedRecords<'a> {
    batches: &'a [StoredBatch],
    /// Their bytes, summed.
    bytes: usize,
}

impl FetchRecords for ServedRecords<'_> {
    fn len(&self) -> usize {
        self.bytes
    }

    fn copied_len(&self) -> usize {
        self.batches.iter().map(StoredBatch::copied_len).sum()
    }

    fn write_to(&self, out: &mut FrameWriter) {
        for batch in self.batches {
            batch.write_served_into(out);
        }
    }
}

impl ServedRecords<'_> {
    /// The records as one buffer (what the frame carries).
    #[cfg(test)]
    pub(crate) fn to_bytes(self) -> Bytes {
        let mut buffer = Vec::with_capacity(self.bytes);
        for batch in self.batches {
            batch.write_served(&mut buffer);
        }
        Bytes::from(buffer)
    }
}

/// The result of a successful append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AppendOutcome {
    /// The batches were appended from this offset.
    Appended {
        /// Offset of the first appended record.
        base_offset: i64,
    },
    /// A retry of a batch appended before: nothing appended, the original offset is returned.
    Duplicate {
        /// Offset the original batch was appended at.
        base_offset: i64,
    },
}

/// Why an append was refused: Kafka's error code, and for record-level errors (Produce v8+)
/// the message and each record's error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AppendError {
    pub(crate) code: i16,
    pub(crate) message: Option<String>,
    /// `(index of the record in its batch, why)`.
    pub(crate) record_errors: Vec<(i32, String)>,
}

impl From<i16> for AppendError {
    fn from(code: i16) -> Self {
        Self {
            code,
            message: None,
            record_errors: Vec::new(),
        }
    }
}

/// What a topic's configs ask of an append (see `LogStore::append_rules`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AppendRules {
    /// Largest batch (`max.message.bytes`): MESSAGE_TOO_LARGE beyond.
    pub(crate) max_batch_bytes: usize,
    /// Largest append to one partition (`segment.bytes`): RECORD_LIST_TOO_LARGE beyond.
    pub(crate) max_append_bytes: usize,
    /// `Some(now)` for a LogAppendTime topic: each batch is stamped with the broker's clock.
    pub(crate) log_append_time_ms: Option<i64>,
    /// Checks of the records themselves.
    pub(crate) records: RecordRules,
}

impl Default for AppendRules {
    /// No limits, CreateTime, no record checks.
    fn default() -> Self {
        Self {
            max_batch_bytes: usize::MAX,
            max_append_bytes: usize::MAX,
            log_append_time_ms: None,
            records: RecordRules::default(),
        }
    }
}

/// Which batches a read returns: `batches[start..end]`, `bytes` in total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReadPlan {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) bytes: usize,
}

/// One partition's log. See the module docs.
#[derive(Debug, Default)]
pub(crate) struct PartitionLog {
    batches: Vec<StoredBatch>,
    /// First offset still in the log: 0, or where DeleteRecords or retention moved it (possibly
    /// inside the first stored batch).
    log_start_offset: i64,
    /// Offset the next record gets; also the high watermark (one replica).
    log_end_offset: i64,
    /// Idempotent and transactional producers: sequences, open and aborted transactions.
    producers: ProducerStates,
}

impl PartitionLog {
    /// First offset in the log.
    pub(crate) fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    /// Offset of the next record: the high watermark and last stable offset on one broker.
    pub(crate) fn log_end_offset(&self) -> i64 {
        self.log_end_offset
    }

    /// The stored batches, in offset order.
    pub(crate) fn batches(&self) -> &[StoredBatch] {
        &self.batches
    }

    /// The last stable offset: the first offset of the earliest open transaction (not below the
    /// log start), or the log end offset when none is open.
    pub(crate) fn last_stable_offset(&self) -> i64 {
        self.producers
            .first_unstable_offset()
            .map_or(self.log_end_offset, |first| {
                first.max(self.log_start_offset)
            })
    }

    /// The producer state (open and aborted transactions, sequences).
    pub(crate) fn producer_states(&self) -> &ProducerStates {
        &self.producers
    }

    /// Appends a transaction marker (a control batch, see [`batch::control_batch`]) of
    /// `producer_id` at `producer_epoch` and returns its offset; the producer's open transaction
    /// here ends (committed, or aborted and remembered for read_committed fetches). A
    /// LogAppendTime topic's marker is stamped like any batch. Markers are written by the
    /// transaction coordinator, never by a client.
    pub(crate) fn append_marker(&mut self, marker: batch::Marker, log_append_time: bool) -> i64 {
        let mut bytes = batch::control_batch(&marker);
        if log_append_time {
            batch::stamp_log_append_time(&mut bytes, marker.timestamp_ms);
        }
        let offset = self.log_end_offset;
        self.batches.push(StoredBatch {
            base_offset: offset,
            last_offset: offset,
            max_timestamp: marker.timestamp_ms,
            bytes: bytes.freeze(),
        });
        self.log_end_offset = offset + 1;
        self.producers.record_marker(
            marker.producer_id,
            marker.producer_epoch,
            marker.commit,
            offset,
        );
        offset
    }

    /// Validates and appends the record batches a producer sent for this partition.
    ///
    /// Every batch is validated (see [`batch::parse_batches_limited`]), its records checked as the
    /// topic asks ([`record_checks`]), the whole append held to `rules.max_append_bytes`, and every
    /// batch sequence-checked before any is appended: a partition's records are appended entirely
    /// or not at all (Kafka's order: `UnifiedLog.append`). A retry of one of the producer's last
    /// five batches (same epoch, same sequence range) in first position is a duplicate: nothing is
    /// appended and the original base offset is returned (the rest of the request, if any, is
    /// ignored). A LogAppendTime topic's batches are stored stamped with `rules.log_append_time_ms`.
    pub(crate) fn append(
        &mut self,
        records: &Bytes,
        rules: &AppendRules,
    ) -> Result<AppendOutcome, AppendError> {
        let headers = batch::parse_batches_limited(records, rules.max_batch_bytes)?;
        record_checks::check(records, &headers, &rules.records)?;
        let appended_bytes: usize = headers.iter().map(|header| header.size).sum();
        if appended_bytes > rules.max_append_bytes {
            return Err(code::RECORD_LIST_TOO_LARGE.into());
        }
        if let Some(base_offset) = self.producers.check(&headers)? {
            return Ok(AppendOutcome::Duplicate { base_offset });
        }
        let first = headers
            .first()
            .expect("parse_batches returns at least one batch");
        let last = headers
            .last()
            .expect("parse_batches returns at least one batch");
        let covered = first.position..last.position + last.size;
        let buffer = match rules.log_append_time_ms {
            Some(now_ms) => stamped(&records[covered], &headers, now_ms),
            None if covered.len() >= SHARE_FRAME_BYTES => records.slice(covered),
            None => Bytes::copy_from_slice(&records[covered]),
        };
        let base_offset = self.log_end_offset;
        let mut next_offset = base_offset;
        self.batches.reserve(headers.len());
        for header in &headers {
            let at = header.position - first.position;
            let last_offset = next_offset + i64::from(header.last_offset_delta);
            self.batches.push(StoredBatch {
                base_offset: next_offset,
                last_offset,
                max_timestamp: rules.log_append_time_ms.unwrap_or(header.max_timestamp),
                bytes: buffer.slice(at..at + header.size),
            });
            self.producers
                .record_batch(header, next_offset, last_offset);
            next_offset = last_offset + 1;
        }
        self.log_end_offset = next_offset;
        Ok(AppendOutcome::Appended { base_offset })
    }

    /// Replaces the stored batches with rewritten ones (compaction): the same offsets, fewer
    /// records. Offsets, log start and end offsets do not move.
    pub(crate) fn replace_batches(&mut self, batches: Vec<StoredBatch>) {
        debug_assert!(
            batches
                .windows(2)
                .all(|w| w[0].last_offset < w[1].base_offset),
            "batches stay in offset order"
        );
        self.batches = batches;
    }

    /// The max timestamp of the batch holding `offset` (a duplicate's log append time).
    pub(crate) fn batch_max_timestamp(&self, offset: i64) -> Option<i64> {
        let index = self.batches.partition_point(|b| b.last_offset < offset);
        self.batches.get(index).map(|b| b.max_timestamp)
    }

    /// Which batches to return for a fetch at `fetch_offset`: from the batch containing it, while
    /// the total stays within `max_bytes`; the first batch even if larger when `min_one_batch`
    /// (KIP-74); only batches that end before `end_offset` (the high watermark, or the last
    /// stable offset for read_committed). The caller checks `fetch_offset` is within the log.
    pub(crate) fn plan_read(
        &self,
        fetch_offset: i64,
        end_offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
    ) -> ReadPlan {
        let start = self
            .batches
            .partition_point(|batch| batch.last_offset < fetch_offset);
        let mut end = start;
        let mut bytes = 0usize;
        for batch in &self.batches[start..] {
            let size = batch.bytes.len();
            let first = end == start;
            if batch.last_offset >= end_offset {
                break;
            }
            if bytes + size > max_bytes && !(first && min_one_batch) {
                break;
            }
            bytes += size;
            end += 1;
        }
        ReadPlan { start, end, bytes }
    }

    /// The offset after the last record of a planned read, `None` if it reads nothing.
    pub(crate) fn read_end_offset(&self, plan: ReadPlan) -> Option<i64> {
        (plan.end > plan.start).then(|| self.batches[plan.end - 1].last_offset + 1)
    }

    /// The records of a planned read: the stored batches, written as served (with their offsets
    /// and the leader epoch) straight into the Fetch response frame.
    pub(crate) fn read(&self, plan: ReadPlan) -> ServedRecords<'_> {
        ServedRecords {
            batches: &self.batches[plan.start..plan.end],
            bytes: plan.bytes,
        }
    }

    /// Moves the log start offset up to `offset` and drops the batches wholly below it (Kafka's
    /// `UnifiedLog.maybeIncrementLogStartOffset`, then `deleteOldSegments`). The start may land
    /// inside a batch, which is kept. An `offset` at or below the current start changes nothing;
    /// one beyond the log end is clamped to it (the caller answers OFFSET_OUT_OF_RANGE first, as
    /// Kafka does beyond the high watermark).
    ///
    /// Memory: the dropped batches are released, and the kept batches that shared a buffer with
    /// them (appended by the same Produce) are copied into a buffer of their own, so nothing below
    /// the start stays allocated — except when a large Produce's frame also holds batches of
    /// another partition, which keep that frame alive (see the module docs).
    pub(crate) fn truncate_before(&mut self, offset: i64) {
        let offset = offset.min(self.log_end_offset);
        if offset <= self.log_start_offset {
            return;
        }
        self.log_start_offset = offset;
        self.producers.truncate_before(offset);
        let dropped = self
            .batches
            .partition_point(|batch| batch.last_offset < offset);
        let Some(last_dropped) = dropped.checked_sub(1).map(|i| &self.batches[i]) else {
            return;
        };
        let dropped_end = last_dropped.bytes.as_ptr() as usize + last_dropped.bytes.len();
        self.batches.drain(..dropped);
        copy_out_of_shared_buffer(&mut self.batches, dropped_end);
        if self.batches.capacity() > 2 * self.batches.len() {
            self.batches.shrink_to_fit();
        }
    }

    /// ListOffsets for a timestamp: the earliest offset from the log start whose record timestamp
    /// is at least `timestamp`, with that record's timestamp; `None` if there is none.
    ///
    /// Finds the batches whose max timestamp reaches `timestamp`, then decodes them to find the
    /// record; if a batch cannot be decoded (e.g. zstd/lz4 compression, which kmock does not
    /// build in), answers with the batch's first offset from the start and its max timestamp.
    pub(crate) fn offset_for_timestamp(&self, timestamp: i64) -> Option<(i64, i64)> {
        self.batches
            .iter()
            .filter(|batch| batch.max_timestamp >= timestamp)
            .find_map(|stored| match self.records_from_start(stored) {
                Some(records) => records
                    .into_iter()
                    .find(|(_, record_timestamp)| *record_timestamp >= timestamp),
                None => Some((self.first_offset_of(stored), stored.max_timestamp)),
            })
    }

    /// ListOffsets MAX_TIMESTAMP (KIP-734): the offset and timestamp of the earliest record from
    /// the log start with the largest timestamp; `None` for an empty log.
    pub(crate) fn max_timestamp_offset(&self) -> Option<(i64, i64)> {
        let mut best: Option<(&StoredBatch, i64)> = None;
        for stored in &self.batches {
            let Some(max_timestamp) = self.max_timestamp_from_start(stored) else {
                continue;
            };
            if best.is_none_or(|(_, best_timestamp)| max_timestamp > best_timestamp) {
                best = Some((stored, max_timestamp));
            }
        }
        let (stored, max_timestamp) = best?;
        let found = self.records_from_start(stored).and_then(|records| {
            records
                .into_iter()
                .find(|(_, record_timestamp)| *record_timestamp == max_timestamp)
        });
        Some(found.unwrap_or((self.first_offset_of(stored), max_timestamp)))
    }

    /// The batch's largest timestamp among its records from the log start: the header's, unless
    /// the start is inside the batch (then decoded; `None` if no record is left).
    fn max_timestamp_from_start(&self, stored: &StoredBatch) -> Option<i64> {
        if stored.base_offset >= self.log_start_offset {
            return Some(stored.max_timestamp);
        }
        match self.records_from_start(stored) {
            Some(records) => records.iter().map(|(_, timestamp)| *timestamp).max(),
            None => Some(stored.max_timestamp),
        }
    }

    /// The batch's first offset that is still in the log.
    fn first_offset_of(&self, stored: &StoredBatch) -> i64 {
        stored.base_offset.max(self.log_start_offset)
    }

    /// `(offset, timestamp)` of the batch's records from the log start, or `None` if it cannot be
    /// decoded.
    fn records_from_start(&self, stored: &StoredBatch) -> Option<Vec<(i64, i64)>> {
        let mut records = decode_records(stored)?;
        records.retain(|(offset, _)| *offset >= self.log_start_offset);
        Some(records)
    }
}

/// Batches appended by one Produce are slices of one buffer, back to back. The leading `batches`
/// that continue the buffer of a dropped batch (ending at address `dropped_end`) would keep that
/// whole buffer alive: copy them into a buffer of their own. (Two buffers that merely happen to
/// be adjacent cost one needless copy.)
fn copy_out_of_shared_buffer(batches: &mut [StoredBatch], dropped_end: usize) {
    let mut end = dropped_end;
    let shared = batches
        .iter()
        .take_while(|batch| {
            let start = batch.bytes.as_ptr() as usize;
            let continues = start == end;
            end = start + batch.bytes.len();
            continues
        })
        .count();
    if shared == 0 {
        return;
    }
    let total: usize = batches[..shared].iter().map(|b| b.bytes.len()).sum();
    let mut buffer = BytesMut::with_capacity(total);
    for batch in &batches[..shared] {
        buffer.extend_from_slice(&batch.bytes);
    }
    let buffer = buffer.freeze();
    let mut at = 0;
    for batch in &mut batches[..shared] {
        let len = batch.bytes.len();
        batch.bytes = buffer.slice(at..at + len);
        at += len;
    }
}

/// `(offset, timestamp)` of each record of a stored batch, or `None` if it cannot be decoded. A
/// LogAppendTime batch's records all have the batch's time, as Kafka's readers see them.
fn decode_records(stored: &StoredBatch) -> Option<Vec<(i64, i64)>> {
    let mut buffer = stored.served();
    let set = RecordBatchDecoder::decode(&mut buffer).ok()?;
    let log_append_time = batch::is_log_append_time(&stored.bytes);
    Some(
        set.records
            .iter()
            .map(|record| {
                let timestamp = if log_append_time {
                    stored.max_timestamp
                } else {
                    record.timestamp
                };
                (record.offset, timestamp)
            })
            .collect(),
    )
}

/// A copy of the appended batches, each stamped with the log append time.
fn stamped(covered: &[u8], headers: &[BatchHeader], now_ms: i64) -> Bytes {
    let mut buffer = BytesMut::from(covered);
    let first = headers.first().map_or(0, |header| header.position);
    for header in headers {
        let at = header.position - first;
        batch::stamp_log_append_time(&mut buffer[at..at + header.size], now_ms);
    }
    buffer.freeze()
}
