//! Record batch headers (magic v2): parsing and validating what a producer sent, and patching the
//! fields the broker assigns (base offset, partition leader epoch) without touching the records.
//!
//! Batches are stored as received. The CRC-32C covers `attributes` to the end of the batch, so the
//! broker may rewrite `baseOffset`, `batchLength` and `partitionLeaderEpoch` without recomputing it.
//! A LogAppendTime topic's batches are the exception: the broker sets the timestamp type bit and
//! `maxTimestamp` and recomputes the CRC ([`stamp_log_append_time`], Kafka's
//! `DefaultRecordBatch.setMaxTimestamp`). Records are never decoded here.
//!
//! Layout (big endian):
//!
//! ```text
//! 0  baseOffset i64        8  batchLength i32     12 partitionLeaderEpoch i32
//! 16 magic i8              17 crc u32             21 attributes i16
//! 23 lastOffsetDelta i32   27 baseTimestamp i64   35 maxTimestamp i64
//! 43 producerId i64        51 producerEpoch i16   53 baseSequence i32
//! 57 recordCount i32       61 records...
//! ```
//!
//! # References
//! - Kafka protocol guide, "Record Batch": <https://kafka.apache.org/documentation/#recordbatch>
//! - Kafka `DefaultRecordBatch` (clients/src/main/java/org/apache/kafka/common/record)
//! - Kafka `LogValidator.validateBatch` (what the broker checks before appending)

use super::code;

/// Bytes before the records: the smallest possible batch.
pub(crate) const BATCH_OVERHEAD_BYTES: usize = 61;
/// `baseOffset` and `batchLength`: the bytes not counted by `batchLength`.
const LOG_OVERHEAD_BYTES: usize = 12;
const PARTITION_LEADER_EPOCH_OFFSET: usize = 12;
const MAGIC_OFFSET: usize = 16;
const CRC_OFFSET: usize = 17;
const ATTRIBUTES_OFFSET: usize = 21;
const LAST_OFFSET_DELTA_OFFSET: usize = 23;
const MAX_TIMESTAMP_OFFSET: usize = 35;
const PRODUCER_ID_OFFSET: usize = 43;
const PRODUCER_EPOCH_OFFSET: usize = 51;
const BASE_SEQUENCE_OFFSET: usize = 53;
const RECORD_COUNT_OFFSET: usize = 57;

/// Attributes bit: the batch belongs to a transaction.
const TRANSACTIONAL_FLAG: i16 = 0x10;
/// Attributes bit: the batch holds control records (transaction markers).
const CONTROL_FLAG: i16 = 0x20;
/// Attributes bit: the timestamps are the broker's log append time.
const LOG_APPEND_TIME_FLAG: i16 = 0x08;

/// The header fields of one batch the broker needs, and where the batch lies in its buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchHeader {
    /// Byte position of the batch in the produced `records`.
    pub(crate) position: usize,
    /// Total size of the batch in bytes (`batchLength` + 12).
    pub(crate) size: usize,
    /// Offset of the last record relative to the base offset.
    pub(crate) last_offset_delta: i32,
    /// Largest record timestamp in the batch.
    pub(crate) max_timestamp: i64,
    /// Idempotent producer id, or -1.
    pub(crate) producer_id: i64,
    /// Producer epoch, or -1.
    pub(crate) producer_epoch: i16,
    /// Sequence number of the first record, or -1.
    pub(crate) base_sequence: i32,
    /// Whether the transactional attribute is set.
    pub(crate) transactional: bool,
}

impl BatchHeader {
    /// Sequence number of the last record (sequences wrap from `i32::MAX` to 0, as in Kafka).
    pub(crate) fn last_sequence(&self) -> i32 {
        increment_sequence(self.base_sequence, self.last_offset_delta)
    }

    /// Whether sequence numbers must be checked (an idempotent batch).
    pub(crate) fn is_idempotent(&self) -> bool {
        self.producer_id >= 0 && self.base_sequence >= 0
    }
}

/// `sequence + increment`, wrapping past `i32::MAX` to 0 (Kafka `DefaultRecordBatch.incrementSequence`).
pub(crate) fn increment_sequence(sequence: i32, increment: i32) -> i32 {
    if sequence > i32::MAX - increment {
        increment - (i32::MAX - sequence) - 1
    } else {
        sequence + increment
    }
}

fn read_i16(bytes: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([bytes[at], bytes[at + 1]])
}

fn read_i32(bytes: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

fn read_i64(bytes: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

/// Parses and validates every batch in `records`, which must be exactly covered by whole batches.
///
/// Errors (as Kafka error codes): `UNSUPPORTED_FOR_MESSAGE_FORMAT` for magic 0 or 1,
/// `INVALID_RECORD` for a control batch (only the broker writes those), `CORRUPT_MESSAGE` for
/// anything else wrong: no batch, truncation, a bad length, an unknown magic, a CRC mismatch, or a
/// record count that does not match `lastOffsetDelta`.
#[cfg(test)]
pub(crate) fn parse_batches(records: &[u8]) -> Result<Vec<BatchHeader>, i16> {
    parse_batches_limited(records, usize::MAX)
}

/// [`parse_batches`], with `MESSAGE_TOO_LARGE` for a batch over `max_batch_bytes` (Kafka's
/// `max.message.bytes`, checked on each batch before its CRC, as `UnifiedLog.analyzeAndValidateRecords`
/// does).
pub(crate) fn parse_batches_limited(
    records: &[u8],
    max_batch_bytes: usize,
) -> Result<Vec<BatchHeader>, i16> {
    let mut headers = Vec::new();
    let mut position = 0;
    while position < records.len() {
        let rest = &records[position..];
        if rest.len() < BATCH_OVERHEAD_BYTES {
            return Err(code::CORRUPT_MESSAGE);
        }
        let magic = rest[MAGIC_OFFSET] as i8;
        match magic {
            2 => {}
            0 | 1 => return Err(code::UNSUPPORTED_FOR_MESSAGE_FORMAT),
            _ => return Err(code::CORRUPT_MESSAGE),
        }
        let batch_length = read_i32(rest, 8);
        let Ok(batch_length) = usize::try_from(batch_length) else {
            return Err(code::CORRUPT_MESSAGE);
        };
        let size = batch_length.saturating_add(LOG_OVERHEAD_BYTES);
        if size < BATCH_OVERHEAD_BYTES || size > rest.len() {
            return Err(code::CORRUPT_MESSAGE);
        }
        if size > max_batch_bytes {
            return Err(code::MESSAGE_TOO_LARGE);
        }
        let batch = &rest[..size];
        let crc = u32::from_be_bytes(
            batch[CRC_OFFSET..CRC_OFFSET + 4]
                .try_into()
                .expect("4 bytes"),
        );
        if kmock_wire::crc32c(&batch[ATTRIBUTES_OFFSET..]) != crc {
            return Err(code::CORRUPT_MESSAGE);
        }
        let last_offset_delta = read_i32(batch, LAST_OFFSET_DELTA_OFFSET);
        let record_count = read_i32(batch, RECORD_COUNT_OFFSET);
        // Kafka's LogValidator: a positive count that matches the offset range.
        if record_count <= 0 || last_offset_delta != record_count - 1 {
            return Err(code::CORRUPT_MESSAGE);
        }
        let attributes = read_i16(batch, ATTRIBUTES_OFFSET);
        if attributes & CONTROL_FLAG != 0 {
            // Kafka's LogValidator: "Clients are not allowed to write control records".
            return Err(code::INVALID_RECORD);
        }
        headers.push(BatchHeader {
            position,
            size,
            last_offset_delta,
            max_timestamp: read_i64(batch, MAX_TIMESTAMP_OFFSET),
            producer_id: read_i64(batch, PRODUCER_ID_OFFSET),
            producer_epoch: read_i16(batch, PRODUCER_EPOCH_OFFSET),
            base_sequence: read_i32(batch, BASE_SEQUENCE_OFFSET),
            transactional: attributes & TRANSACTIONAL_FLAG != 0,
        });
        position += size;
    }
    if headers.is_empty() {
        return Err(code::CORRUPT_MESSAGE);
    }
    Ok(headers)
}

/// What Produce needs to know of a partition's first batch before validating it: the producer
/// and whether the batch is transactional. Read from the header without any check (`None` when
/// there is no whole v2 header; the append then reports what is wrong).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProducerPeek {
    pub(crate) producer_id: i64,
    pub(crate) producer_epoch: i16,
    pub(crate) transactional: bool,
}

/// See [`ProducerPeek`].
pub(crate) fn peek_producer(records: &[u8]) -> Option<ProducerPeek> {
    if records.len() < BATCH_OVERHEAD_BYTES || records[MAGIC_OFFSET] != 2 {
        return None;
    }
    let attributes = read_i16(records, ATTRIBUTES_OFFSET);
    Some(ProducerPeek {
        producer_id: read_i64(records, PRODUCER_ID_OFFSET),
        producer_epoch: read_i16(records, PRODUCER_EPOCH_OFFSET),
        transactional: attributes & TRANSACTIONAL_FLAG != 0 && attributes & CONTROL_FLAG == 0,
    })
}

/// Marks a batch's timestamps as the broker's log append time `now_ms`: sets the timestamp type
/// attribute and `maxTimestamp`, and recomputes the CRC that covers them. `batch` is one whole
/// batch that [`parse_batches_limited`] accepted.
pub(crate) fn stamp_log_append_time(batch: &mut [u8], now_ms: i64) {
    let attributes = read_i16(batch, ATTRIBUTES_OFFSET) | LOG_APPEND_TIME_FLAG;
    batch[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2].copy_from_slice(&attributes.to_be_bytes());
    batch[MAX_TIMESTAMP_OFFSET..MAX_TIMESTAMP_OFFSET + 8].copy_from_slice(&now_ms.to_be_bytes());
    let crc = kmock_wire::crc32c(&batch[ATTRIBUTES_OFFSET..]);
    batch[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Sets a batch's `lastOffsetDelta` (a compacted batch keeps its original last offset) and
/// recomputes the CRC.
pub(crate) fn set_last_offset_delta(batch: &mut [u8], last_offset_delta: i32) {
    batch[LAST_OFFSET_DELTA_OFFSET..LAST_OFFSET_DELTA_OFFSET + 4]
        .copy_from_slice(&last_offset_delta.to_be_bytes());
    let crc = kmock_wire::crc32c(&batch[ATTRIBUTES_OFFSET..]);
    batch[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Whether a stored batch's timestamps are log append times.
pub(crate) fn is_log_append_time(batch: &[u8]) -> bool {
    read_i16(batch, ATTRIBUTES_OFFSET) & LOG_APPEND_TIME_FLAG != 0
}

/// Writes the broker-assigned base offset and partition leader epoch into a batch (not covered by
/// the CRC). `batch` starts at the batch's first byte.
pub(crate) fn patch_header(batch: &mut [u8], base_offset: i64, partition_leader_epoch: i32) {
    batch[..8].copy_from_slice(&base_offset.to_be_bytes());
    batch[PARTITION_LEADER_EPOCH_OFFSET..PARTITION_LEADER_EPOCH_OFFSET + 4]
        .copy_from_slice(&partition_leader_epoch.to_be_bytes());
}

/// A transaction marker to write into a partition (Kafka's `EndTransactionMarker`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Marker {
    /// The transaction's producer.
    pub(crate) producer_id: i64,
    /// Its epoch when the transaction ended.
    pub(crate) producer_epoch: i16,
    /// COMMIT (true) or ABORT (false).
    pub(crate) commit: bool,
    /// The coordinator epoch (always 0: one coordinator that never moves).
    pub(crate) coordinator_epoch: i32,
    /// The record's timestamp (the broker's wall clock).
    pub(crate) timestamp_ms: i64,
}

/// Control record type of an ABORT marker (Kafka's `ControlRecordType`).
const CONTROL_TYPE_ABORT: i16 = 0;
/// Control record type of a COMMIT marker.
const CONTROL_TYPE_COMMIT: i16 = 1;

/// One control batch holding `marker`: magic 2, transactional and control attributes, sequence
/// -1, one record whose key is `(version 0, type)` and value `(version 0, coordinator epoch)`,
/// uncompressed, with its CRC. The base offset (0 here) is written when served.
pub(crate) fn control_batch(marker: &Marker) -> bytes::BytesMut {
    let control_type = if marker.commit {
        CONTROL_TYPE_COMMIT
    } else {
        CONTROL_TYPE_ABORT
    };
    let mut key = Vec::with_capacity(4);
    key.extend_from_slice(&0i16.to_be_bytes());
    key.extend_from_slice(&control_type.to_be_bytes());
    let mut value = Vec::with_capacity(6);
    value.extend_from_slice(&0i16.to_be_bytes());
    value.extend_from_slice(&marker.coordinator_epoch.to_be_bytes());
    // The record: attributes, timestamp delta, offset delta, key, value, no headers. Every
    // varint here is a small non-negative number: one zigzag byte.
    let mut record = vec![0u8, 0, 0];
    record.push(zigzag_byte(key.len()));
    record.extend_from_slice(&key);
    record.push(zigzag_byte(value.len()));
    record.extend_from_slice(&value);
    record.push(0);
    let size = BATCH_OVERHEAD_BYTES + 1 + record.len();
    let mut batch = bytes::BytesMut::with_capacity(size);
    batch.extend_from_slice(&0i64.to_be_bytes());
    let batch_length = i32::try_from(size - LOG_OVERHEAD_BYTES).expect("a marker is tiny");
    batch.extend_from_slice(&batch_length.to_be_bytes());
    batch.extend_from_slice(&0i32.to_be_bytes());
    batch.extend_from_slice(&[2]);
    batch.extend_from_slice(&[0; 4]);
    batch.extend_from_slice(&(TRANSACTIONAL_FLAG | CONTROL_FLAG).to_be_bytes());
    batch.extend_from_slice(&0i32.to_be_bytes());
    batch.extend_from_slice(&marker.timestamp_ms.to_be_bytes());
    batch.extend_from_slice(&marker.timestamp_ms.to_be_bytes());
    batch.extend_from_slice(&marker.producer_id.to_be_bytes());
    batch.extend_from_slice(&marker.producer_epoch.to_be_bytes());
    batch.extend_from_slice(&(-1i32).to_be_bytes());
    batch.extend_from_slice(&1i32.to_be_bytes());
    batch.extend_from_slice(&[zigzag_byte(record.len())]);
    batch.extend_from_slice(&record);
    debug_assert_eq!(batch.len(), size);
    let crc = kmock_wire::crc32c(&batch[ATTRIBUTES_OFFSET..]);
    batch[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
    batch
}

/// The one-byte zigzag varint of a small length (below 64).
fn zigzag_byte(value: usize) -> u8 {
    debug_assert!(value < 64, "one zigzag byte holds 0..64");
    u8::try_from(value << 1).expect("below 64")
}
