//! Produce (v3–13): appends record batches to partition logs.
//!
//! Each partition's `records` is validated batch by batch (magic 2, CRC-32C, lengths; see
//! [`super::batch`]) and stored as received with the broker-assigned base offset patched in; records
//! are never decoded. Acks 0, 1 and -1 behave the same (one broker); acks=0 gets no response, and a
//! failed acks=0 produce closes the connection, as Kafka does. Other acks values get
//! INVALID_REQUIRED_ACKS. Unknown topics get UNKNOWN_TOPIC_OR_PARTITION (v3–12, by name) or
//! UNKNOWN_TOPIC_ID (v13, by id): Produce never creates topics.
//!
//! Idempotent producers (producer id >= 0): per partition, the producer's epoch and last five
//! batches' sequence ranges are kept; a retry of one of them returns NONE and the original base
//! offset, a gap or reordering gets OUT_OF_ORDER_SEQUENCE_NUMBER, an older epoch
//! INVALID_PRODUCER_EPOCH. Transactional batches (and a non-null `transactional_id`) are accepted
//! and stored as plain batches: kmock does not implement transactions.
//!
//! More than one batch per partition is accepted (Kafka 4 requires exactly one for v3+).
//! Every append re-checks parked fetches, which complete in the same call when satisfied.
//!
//! # References
//! - Kafka `KafkaApis.handleProduceRequest`, `ReplicaManager.appendRecords`, `LogValidator`,
//!   `ProduceRequest.json`, `ProduceResponse.json`
//! - KIP-98 (idempotence, sequence numbers), KIP-360 (unknown producers), KIP-516 (v13 topic ids)

use std::borrow::Cow;

use kmock_wire::kafka_protocol::messages::produce_response::{
    PartitionProduceResponse, TopicProduceResponse,
};
use kmock_wire::kafka_protocol::messages::{ProduceRequest, ProduceResponse};

use super::partition::AppendOutcome;
use super::{LogStore, code, fetch};
use crate::{BrokerTime, Completion, Reply, ResponseToken};

/// Answers a Produce request (see the module docs).
pub(crate) fn handle(
    store: &mut LogStore,
    token: ResponseToken,
    request: &ProduceRequest,
    now: BrokerTime,
    out: &mut Vec<Completion>,
) -> Reply {
    let version = token.api_version;
    let acks_valid = (-1..=1).contains(&request.acks);
    let mut appended = false;
    let mut first_error: Option<i16> = None;
    let mut responses = Vec::with_capacity(request.topic_data.len());
    for topic in &request.topic_data {
        // v13 names topics by id; the name is copied out of the store to append to it.
        let (name, unknown_topic): (Option<Cow<'_, str>>, i16) = if version >= 13 {
            (
                store
                    .topic_name(topic.topic_id)
                    .map(|name| Cow::Owned(name.to_owned())),
                code::UNKNOWN_TOPIC_ID,
            )
        } else {
            (
                Some(Cow::Borrowed(topic.name.as_str())),
                code::UNKNOWN_TOPIC_OR_PARTITION,
            )
        };
        let mut partitions = Vec::with_capacity(topic.partition_data.len());
        for data in &topic.partition_data {
            let outcome = if !acks_valid {
                Err(code::INVALID_REQUIRED_ACKS)
            } else {
                match name
                    .as_deref()
                    .and_then(|name| store.partition_mut(name, data.index))
                {
                    None if name.is_none() => Err(unknown_topic),
                    None => Err(code::UNKNOWN_TOPIC_OR_PARTITION),
                    Some(log) => match &data.records {
                        None => Err(code::CORRUPT_MESSAGE),
                        Some(records) => log
                            .append(records)
                            .map(|outcome| (outcome, log.log_start_offset())),
                    },
                }
            };
            let response = PartitionProduceResponse::default().with_index(data.index);
            partitions.push(match outcome {
                Ok((outcome, log_start_offset)) => {
                    let base_offset = match outcome {
                        AppendOutcome::Appended { base_offset } => {
                            appended = true;
                            base_offset
                        }
                        AppendOutcome::Duplicate { base_offset } => base_offset,
                    };
                    response
                        .with_base_offset(base_offset)
                        .with_log_start_offset(log_start_offset)
                }
                Err(error_code) => {
                    first_error.get_or_insert(error_code);
                    response.with_error_code(error_code).with_base_offset(-1)
                }
            });
        }
        let response = TopicProduceResponse::default().with_partition_responses(partitions);
        responses.push(if version >= 13 {
            response.with_topic_id(topic.topic_id)
        } else {
            response.with_name(topic.name.clone())
        });
    }
    if appended {
        fetch::complete_parked(store, now, out);
    }
    if request.acks == 0 {
        return match first_error {
            Some(error_code) => Reply::Close(format!(
                "acks=0 produce failed with error code {error_code}"
            )),
            None => Reply::NoResponse,
        };
    }
    Reply::Now(kmock_wire::kafka_protocol::messages::ResponseKind::Produce(
        ProduceResponse::default().with_responses(responses),
    ))
}

/// A Produce response with `code` on every requested partition.
pub(crate) fn error_response(request: &ProduceRequest, version: i16, code: i16) -> ProduceResponse {
    let responses = request
        .topic_data
        .iter()
        .map(|topic| {
            let partitions = topic
                .partition_data
                .iter()
                .map(|data| {
                    PartitionProduceResponse::default()
                        .with_index(data.index)
                        .with_error_code(code)
                        .with_base_offset(-1)
                })
                .collect();
            let response = TopicProduceResponse::default().with_partition_responses(partitions);
            if version >= 13 {
                response.with_topic_id(topic.topic_id)
            } else {
                response.with_name(topic.name.clone())
            }
        })
        .collect();
    ProduceResponse::default().with_responses(responses)
}
