//! The checks of an append that need the records themselves, not just the batch headers: a
//! compacted topic's records must have keys (INVALID_RECORD), and a CreateTime topic with finite
//! `message.timestamp.before.max.ms` / `after.max.ms` refuses records whose timestamps are out of
//! range of the broker's clock (INVALID_TIMESTAMP). Both answer with Kafka's per-record errors and
//! message (Produce v8+ `record_errors`, `error_message`).
//!
//! At most [`MAX_RECORD_ERRORS`] record errors are answered (Kafka answers all): a request of
//! many small keyless records must not turn into a response many times its size.
//!
//! Batches are decoded only when a topic's configs ask for one of these checks (default topics
//! never pay for it). A batch kmock cannot decode (lz4 or zstd compression, which kmock does not
//! build in) is accepted unchecked.
//!
//! # References
//! - Kafka `LogValidator` (`validateKey`, `validateTimestamp`, `recordHasInvalidTimestamp`,
//!   `processRecordErrors`), `RecordValidationException`
//! - KIP-467 (per-record errors in Produce v8), KIP-937 (before/after limits)

use bytes::Bytes;
use kmock_wire::kafka_protocol::records::{NO_TIMESTAMP, Record, RecordBatchDecoder};

use super::batch::BatchHeader;
use super::code;
use super::partition::AppendError;

/// Kafka prints at most this many record errors in the message.
const ERRORS_IN_MESSAGE: usize = 3;

/// Most record errors one partition's answer carries.
pub const MAX_RECORD_ERRORS: usize = 1_000;

/// What a topic asks of each record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct RecordRules {
    /// `cleanup.policy` includes `compact`: every record needs a key.
    pub(crate) keys_required: bool,
    /// CreateTime timestamps must lie in `[min, max]` (the broker's clock minus `before.max.ms`,
    /// plus `after.max.ms`); `None` when both limits are unbounded or the topic is LogAppendTime.
    pub(crate) timestamp_range: Option<(i64, i64)>,
}

impl RecordRules {
    fn decoding_needed(&self) -> bool {
        self.keys_required || self.timestamp_range.is_some()
    }
}

/// Checks the records of every batch (see the module docs).
pub(crate) fn check(
    records: &Bytes,
    headers: &[BatchHeader],
    rules: &RecordRules,
) -> Result<(), AppendError> {
    if !rules.decoding_needed() {
        return Ok(());
    }
    let mut errors: Vec<(i32, String, i16)> = Vec::new();
    for header in headers {
        let mut batch = records.slice(header.position..header.position + header.size);
        let Ok(set) = RecordBatchDecoder::decode(&mut batch) else {
            continue;
        };
        for (index, record) in set.records.iter().enumerate() {
            let index = i32::try_from(index).unwrap_or(i32::MAX);
            if let Some((message, error_code)) = record_error(record, rules) {
                errors.push((index, message, error_code));
            }
        }
    }
    if errors.is_empty() {
        return Ok(());
    }
    Err(rejection(errors))
}

/// Kafka's `validateKey` then `validateTimestamp` for one record.
fn record_error(record: &Record, rules: &RecordRules) -> Option<(String, i16)> {
    if rules.keys_required && record.key.is_none() {
        return Some((
            "Compacted topic cannot accept message without key".to_owned(),
            code::INVALID_RECORD,
        ));
    }
    let (min, max) = rules.timestamp_range?;
    if record.timestamp == NO_TIMESTAMP || (min..=max).contains(&record.timestamp) {
        return None;
    }
    Some((
        format!(
            "Timestamp {} of message with offset {} is out of range. The timestamp should be within [{min}, {max}]",
            record.timestamp, record.offset
        ),
        code::INVALID_TIMESTAMP,
    ))
}

/// Kafka's `processRecordErrors`: INVALID_TIMESTAMP if any record's timestamp is wrong, else
/// INVALID_RECORD, with every record's error.
fn rejection(errors: Vec<(i32, String, i16)>) -> AppendError {
    let timestamps = errors.iter().any(|(_, _, c)| *c == code::INVALID_TIMESTAMP);
    let message = if timestamps {
        "One or more records have been rejected due to invalid timestamp".to_owned()
    } else {
        let shown: Vec<String> = errors
            .iter()
            .take(ERRORS_IN_MESSAGE)
            .map(|(index, message, _)| {
                format!("RecordError(batchIndex={index}, message='{message}')")
            })
            .collect();
        format!(
            "One or more records have been rejected due to {} record errors in total, and only showing the first three errors at most: [{}]",
            errors.len(),
            shown.join(", ")
        )
    };
    let record_errors = errors
        .into_iter()
        .take(MAX_RECORD_ERRORS)
        .map(|(index, message, _)| (index, message))
        .collect();
    AppendError {
        code: if timestamps {
            code::INVALID_TIMESTAMP
        } else {
            code::INVALID_RECORD
        },
        message: Some(message),
        record_errors,
    }
}
