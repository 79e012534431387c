//! DeleteRecords (API 21, v0–2): moves partitions' log start offsets up (KIP-107).
//!
//! Per partition: an unknown topic or partition gets UNKNOWN_TOPIC_OR_PARTITION, a partition this
//! broker does not lead NOT_LEADER_OR_FOLLOWER; offset -1 means
//! the high watermark; another negative offset or one beyond the high watermark gets
//! OFFSET_OUT_OF_RANGE; otherwise the log start offset becomes the offset (it never moves back: a
//! lower offset changes nothing) and the response carries the new low watermark (the log start
//! offset; -1 with an error). Afterwards Fetch below the start gets OFFSET_OUT_OF_RANGE and
//! ListOffsets EARLIEST answers the start; fetches parked below it are answered with the error.
//! A partition named more than once is answered once, with the last offset given (Kafka collects
//! the request into a map). The `timeout_ms` is not needed: the replicas share one log, nothing to wait for.
//!
//! # References
//! - Kafka `KafkaApis.handleDeleteRecordsRequest`, `ReplicaManager.deleteRecords`,
//!   `Partition.deleteRecordsOnLeader` (-1 = high watermark, negative → OFFSET_OUT_OF_RANGE),
//!   `UnifiedLog.maybeIncrementLogStartOffset` (beyond the high watermark → OFFSET_OUT_OF_RANGE),
//!   `DeleteRecordsRequest.json`, `DeleteRecordsResponse.json`
//! - KIP-107 (DeleteRecords)

use indexmap::IndexMap;
use kmock_wire::kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kmock_wire::kafka_protocol::messages::{
    DeleteRecordsRequest, DeleteRecordsResponse, TopicName,
};

use super::{LogStore, code};

/// `offset` meaning "up to the high watermark" (Kafka's `DeleteRecordsRequest.HIGH_WATERMARK`).
const HIGH_WATERMARK: i64 = -1;

/// The low watermark of a failed partition (Kafka's `DeleteRecordsResponse.INVALID_LOW_WATERMARK`).
const INVALID_LOW_WATERMARK: i64 = -1;

/// The requested offset per partition, per topic, in request order; the last offset given wins.
fn requested(request: &DeleteRecordsRequest) -> IndexMap<&TopicName, IndexMap<i32, i64>> {
    let mut topics: IndexMap<&TopicName, IndexMap<i32, i64>> = IndexMap::new();
    for topic in &request.topics {
        let partitions = topics.entry(&topic.name).or_default();
        for partition in &topic.partitions {
            partitions.insert(partition.partition_index, partition.offset);
        }
    }
    topics
}

/// Answers a DeleteRecords request.
pub(crate) fn handle(
    store: &mut LogStore,
    request: &DeleteRecordsRequest,
    _version: i16,
    node: i32,
) -> DeleteRecordsResponse {
    respond(request, |topic, partition, offset| {
        store
            .check_leader(topic, partition, node)
            .map_err(|_| code::NOT_LEADER_OR_FOLLOWER)?;
        delete_before(store, topic, partition, offset)
    })
}

/// The response with each requested partition's `outcome` (low watermark or error code).
fn respond(
    request: &DeleteRecordsRequest,
    mut outcome: impl FnMut(&str, i32, i64) -> Result<i64, i16>,
) -> DeleteRecordsResponse {
    let topics = requested(request)
        .into_iter()
        .map(|(name, partitions)| {
            let results = partitions
                .into_iter()
                .map(|(partition, offset)| {
                    partition_result(partition, outcome(name.as_str(), partition, offset))
                })
                .collect();
            DeleteRecordsTopicResult::default()
                .with_name(name.clone())
                .with_partitions(results)
        })
        .collect();
    DeleteRecordsResponse::default().with_topics(topics)
}

/// Moves one partition's log start offset; the new low watermark or the error code.
fn delete_before(
    store: &mut LogStore,
    topic: &str,
    partition: i32,
    offset: i64,
) -> Result<i64, i16> {
    let log = store
        .partition_mut(topic, partition)
        .ok_or(code::UNKNOWN_TOPIC_OR_PARTITION)?;
    let offset = if offset == HIGH_WATERMARK {
        log.log_end_offset()
    } else {
        offset
    };
    if offset < 0 || offset > log.log_end_offset() {
        return Err(code::OFFSET_OUT_OF_RANGE);
    }
    log.truncate_before(offset);
    Ok(log.log_start_offset())
}

fn partition_result(partition: i32, outcome: Result<i64, i16>) -> DeleteRecordsPartitionResult {
    let result = DeleteRecordsPartitionResult::default().with_partition_index(partition);
    match outcome {
        Ok(low_watermark) => result.with_low_watermark(low_watermark),
        Err(error_code) => result
            .with_low_watermark(INVALID_LOW_WATERMARK)
            .with_error_code(error_code),
    }
}

/// A DeleteRecords response with `code` on every requested partition.
pub(crate) fn error_response(
    request: &DeleteRecordsRequest,
    _version: i16,
    code: i16,
) -> DeleteRecordsResponse {
    respond(request, |_, _, _| Err(code))
}
