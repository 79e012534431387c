//! ListOffsets (v1–10): offsets by timestamp, including the special timestamps.
//!
//! Per partition: -1 LATEST → the high watermark, or the last stable offset when the request's
//! `isolation_level` (v2+) is READ_COMMITTED; a timestamp lookup answers only offsets below that
//! same bound (Kafka's `Partition.fetchOffsetForTimestamp`); -2 EARLIEST and -4 EARLIEST_LOCAL (v8+) → the log start offset; -3 MAX_TIMESTAMP (v7+) → the
//! earliest record with the largest timestamp; -5 LATEST_TIERED (v9+) → no offset (no tiered
//! storage); any other value → the earliest record whose timestamp is at least that value (the
//! batch is found by its max timestamp, then decoded; a batch that cannot be decoded answers with
//! its base offset). No such record → offset -1, timestamp -1. Leader epoch 0 (v4+). Unknown
//! topic or partition → UNKNOWN_TOPIC_OR_PARTITION. (v0 is not defined by kafka-protocol 0.18.)
//!
//! # References
//! - Kafka `KafkaApis.handleListOffsetRequest`, `UnifiedLog.fetchOffsetByTimestamp`,
//!   `ListOffsetsRequest.json`, `ListOffsetsResponse.json`
//! - KIP-79 (timestamps), KIP-734 (MAX_TIMESTAMP), KIP-405/KIP-1005 (-4, -5), KIP-98 (isolation
//!   level)

use kmock_wire::kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kmock_wire::kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use super::partition::{LEADER_EPOCH, PartitionLog};
use super::{LogStore, code};

const LATEST_TIMESTAMP: i64 = -1;
const EARLIEST_TIMESTAMP: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL_TIMESTAMP: i64 = -4;
const LATEST_TIERED_TIMESTAMP: i64 = -5;
/// `isolation_level` READ_COMMITTED.
const READ_COMMITTED: i8 = 1;

/// Answers a ListOffsets request.
pub(crate) fn handle(
    store: &LogStore,
    request: &ListOffsetsRequest,
    version: i16,
) -> ListOffsetsResponse {
    let topics = request
        .topics
        .iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|requested| {
                    let response = ListOffsetsPartitionResponse::default()
                        .with_partition_index(requested.partition_index);
                    let Some(log) = store.partition(topic.name.as_str(), requested.partition_index)
                    else {
                        return response.with_error_code(code::UNKNOWN_TOPIC_OR_PARTITION);
                    };
                    let read_committed = version >= 2 && request.isolation_level == READ_COMMITTED;
                    let (offset, timestamp) =
                        lookup(log, requested.timestamp, version, read_committed);
                    let response = response.with_offset(offset).with_timestamp(timestamp);
                    if version >= 4 {
                        response.with_leader_epoch(LEADER_EPOCH)
                    } else {
                        response
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(topic.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}

/// `(offset, timestamp)` for a requested timestamp; `(-1, -1)` when there is none.
fn lookup(log: &PartitionLog, timestamp: i64, version: i16, read_committed: bool) -> (i64, i64) {
    const NONE: (i64, i64) = (-1, -1);
    let last_fetchable = if read_committed {
        log.last_stable_offset()
    } else {
        log.log_end_offset()
    };
    let fetchable = |found: Option<(i64, i64)>| {
        found
            .filter(|(offset, _)| *offset < last_fetchable)
            .unwrap_or(NONE)
    };
    match timestamp {
        LATEST_TIMESTAMP => (last_fetchable, -1),
        EARLIEST_TIMESTAMP => (log.log_start_offset(), -1),
        EARLIEST_LOCAL_TIMESTAMP if version >= 8 => (log.log_start_offset(), -1),
        MAX_TIMESTAMP if version >= 7 => fetchable(log.max_timestamp_offset()),
        LATEST_TIERED_TIMESTAMP if version >= 9 => NONE,
        timestamp => fetchable(log.offset_for_timestamp(timestamp)),
    }
}

/// A ListOffsets response with `code` on every requested partition.
pub(crate) fn error_response(
    request: &ListOffsetsRequest,
    _version: i16,
    code: i16,
) -> ListOffsetsResponse {
    let topics = request
        .topics
        .iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|requested| {
                    ListOffsetsPartitionResponse::default()
                        .with_partition_index(requested.partition_index)
                        .with_error_code(code)
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(topic.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}
