//! Produce (v3–13): appends record batches to partition logs.
//!
//! Each partition's `records` is validated batch by batch (magic 2, CRC-32C, lengths; see
//! [`super::batch`]) and stored as received with the broker-assigned base offset patched in. Acks
//! 0, 1 and -1 behave the same (one broker); acks=0 gets no response, and a failed acks=0 produce
//! closes the connection, as Kafka does. Other acks values get INVALID_REQUIRED_ACKS. Unknown topics
//! get UNKNOWN_TOPIC_OR_PARTITION (v3–12, by name) or UNKNOWN_TOPIC_ID (v13, by id): Produce never
//! creates topics.
//!
//! The topic's configs apply (see [`super::topic_config`]): a batch larger than
//! `max.message.bytes` gets MESSAGE_TOO_LARGE and a partition's records larger than `segment.bytes`
//! RECORD_LIST_TOO_LARGE (nothing is stored); a compacted topic refuses keyless records
//! (INVALID_RECORD) and finite `message.timestamp.before/after.max.ms` refuse out-of-range
//! CreateTime records (INVALID_TIMESTAMP), with per-record errors and Kafka's message in v8+; a
//! LogAppendTime topic stores each batch stamped with the broker's clock and answers the stamp in
//! `log_append_time_ms` (-1 for CreateTime topics).
//!
//! Idempotent producers (producer id >= 0): per partition, the producer's epoch and last five
//! batches' sequence ranges are kept; a retry of one of them returns NONE and the original base
//! offset, a gap or reordering gets OUT_OF_ORDER_SEQUENCE_NUMBER, an older epoch
//! INVALID_PRODUCER_EPOCH (see `producer_state.rs`).
//!
//! Transactional batches: a request carrying any without a `transactional_id` gets
//! TRANSACTIONAL_ID_AUTHORIZATION_FAILED on every partition (Kafka's check, which it makes
//! before authorizing). A producer's first transactional batch in a partition (no transaction of
//! it open there) is verified with the transaction coordinator (KIP-890): the partition must be
//! in the producer's open transaction, else INVALID_TXN_STATE (v3–10) or TRANSACTION_ABORTABLE
//! (v11); v12+ (transactions v2) adds the partition to the transaction instead. An unknown
//! transactional id or another producer id gets INVALID_PRODUCER_ID_MAPPING, another epoch
//! INVALID_PRODUCER_EPOCH. A non-transactional batch from a producer with an open transaction
//! gets INVALID_TXN_STATE, a control batch INVALID_RECORD. Only each partition's first batch
//! is looked at for these checks (Kafka 4 requires exactly one batch per partition).
//!
//! More than one batch per partition is accepted (Kafka 4 requires exactly one for v3+).
//! Every append re-checks parked fetches, which complete in the same call when satisfied.
//!
//! # References
//! - Kafka `KafkaApis.handleProduceRequest`, `ReplicaManager.appendRecords`, `LogValidator`,
//!   `UnifiedLog.analyzeAndValidateRecords` (RecordTooLargeException → MESSAGE_TOO_LARGE),
//!   `UnifiedLog.append` (RecordBatchTooLargeException → RECORD_LIST_TOO_LARGE),
//!   `ProduceRequest.json`, `ProduceResponse.json`
//! - KIP-98 (idempotence, sequence numbers), KIP-360 (unknown producers), KIP-516 (v13 topic ids),
//!   KIP-32 (LogAppendTime), KIP-467 (record errors), KIP-937 (timestamp limits), KIP-890
//!   (transaction verification; `ReplicaManager.appendRecords` and `AddPartitionsToTxnManager`
//!   map its errors)

use std::borrow::Cow;

use kmock_wire::kafka_protocol::messages::produce_request::PartitionProduceData;
use kmock_wire::kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kmock_wire::kafka_protocol::messages::{ProduceRequest, ProduceResponse};

use super::batch;
use super::partition::{AppendError, AppendOutcome, AppendRules};
use super::record_checks::RecordRules;
use super::topic_config::TimestampType;
use super::{LogStore, PartitionVerification, TransactionVerifier, code, fetch, str_bytes};
use crate::{BrokerTime, Completion, Reply, ResponseToken};

/// A partition's successful append, as the response reports it.
struct Appended {
    outcome: AppendOutcome,
    log_start_offset: i64,
    /// The LogAppendTime stamp, or -1.
    log_append_time_ms: i64,
}

/// Answers a Produce request (see the module docs).
pub(crate) fn handle(
    store: &mut LogStore,
    token: ResponseToken,
    request: &ProduceRequest,
    now: BrokerTime,
    transactions: &mut dyn TransactionVerifier,
    out: &mut Vec<Completion>,
) -> Reply {
    let version = token.api_version;
    if request.transactional_id.is_none() && has_transactional_batch(request) {
        let error = code::TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
        if request.acks == 0 {
            return Reply::Close(format!("acks=0 produce failed with error code {error}"));
        }
        return Reply::Now(kmock_wire::kafka_protocol::messages::ResponseKind::Produce(
            error_response(request, version, error),
        ));
    }
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
        let rules = name
            .as_deref()
            .and_then(|name| append_rules(store, name, now));
        let mut partitions = Vec::with_capacity(topic.partition_data.len());
        for data in &topic.partition_data {
            let outcome = match (acks_valid, name.as_deref(), rules) {
                (false, _, _) => Err(code::INVALID_REQUIRED_ACKS.into()),
                (true, None, _) => Err(unknown_topic.into()),
                (true, Some(name), Some(rules)) => {
                    let transaction = Transaction {
                        transactional_id: request.transactional_id.as_ref().map(|id| id.as_str()),
                        version,
                        now,
                    };
                    verify(store, name, data, transaction, transactions)
                        .and_then(|()| append(store, name, data, &rules))
                }
                (true, Some(_), None) => Err(code::UNKNOWN_TOPIC_OR_PARTITION.into()),
            };
            match &outcome {
                Ok(done) => appended |= matches!(done.outcome, AppendOutcome::Appended { .. }),
                Err(error) => {
                    first_error.get_or_insert(error.code);
                }
            }
            partitions.push(partition_response(data.index, outcome, version));
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

/// What the topic's configs ask of an append at broker time `now`; `None` for an unknown topic.
fn append_rules(store: &LogStore, topic: &str, now: BrokerTime) -> Option<AppendRules> {
    let settings = &store.topics.get(topic)?.config.settings;
    let now_ms = store.wall_clock_ms(now);
    let create_time = settings.timestamp_type == TimestampType::CreateTime;
    let bounded =
        settings.timestamp_before_max_ms != i64::MAX || settings.timestamp_after_max_ms != i64::MAX;
    Some(AppendRules {
        max_batch_bytes: usize::try_from(settings.max_message_bytes).unwrap_or(0),
        max_append_bytes: usize::try_from(settings.segment_bytes).unwrap_or(0),
        log_append_time_ms: (!create_time).then_some(now_ms),
        records: RecordRules {
            keys_required: settings.compact,
            timestamp_range: (create_time && bounded).then(|| {
                (
                    now_ms.saturating_sub(settings.timestamp_before_max_ms),
                    now_ms.saturating_add(settings.timestamp_after_max_ms),
                )
            }),
        },
    })
}

/// Whether any partition's first batch is transactional.
fn has_transactional_batch(request: &ProduceRequest) -> bool {
    request
        .topic_data
        .iter()
        .flat_map(|topic| &topic.partition_data)
        .filter_map(|data| data.records.as_deref())
        .filter_map(batch::peek_producer)
        .any(|peek| peek.transactional)
}

/// The request's transaction context.
#[derive(Debug, Clone, Copy)]
struct Transaction<'a> {
    transactional_id: Option<&'a str>,
    version: i16,
    now: BrokerTime,
}

/// KIP-890: a producer's first transactional batch in a partition must belong to its open
/// transaction (see the module docs).
fn verify(
    store: &LogStore,
    topic: &str,
    data: &PartitionProduceData,
    transaction: Transaction<'_>,
    transactions: &mut dyn TransactionVerifier,
) -> Result<(), AppendError> {
    let (Some(transactional_id), Some(peek)) = (
        transaction.transactional_id,
        data.records.as_deref().and_then(batch::peek_producer),
    ) else {
        return Ok(());
    };
    let Some(log) = store.partition(topic, data.index) else {
        return Ok(());
    };
    if !peek.transactional
        || peek.producer_id < 0
        || log.producer_states().has_open_transaction(peek.producer_id)
    {
        return Ok(());
    }
    transactions
        .verify_partition(PartitionVerification {
            transactional_id,
            producer_id: peek.producer_id,
            producer_epoch: peek.producer_epoch,
            topic,
            partition: data.index,
            add: transaction.version >= 12,
            now: transaction.now,
        })
        .map_err(|error| verification_error(error, transaction.version).into())
}

/// The coordinator's verification error as Produce answers it (Kafka's
/// `AddPartitionsToTxnManager` and `ReplicaManager.appendRecords`).
fn verification_error(error: i16, version: i16) -> i16 {
    match error {
        code::PRODUCER_FENCED => code::INVALID_PRODUCER_EPOCH,
        code::TRANSACTION_ABORTABLE if version < 11 => code::INVALID_TXN_STATE,
        code::CONCURRENT_TRANSACTIONS
        | code::COORDINATOR_NOT_AVAILABLE
        | code::COORDINATOR_LOAD_IN_PROGRESS
        | code::NOT_COORDINATOR => code::NOT_ENOUGH_REPLICAS,
        other => other,
    }
}

/// Appends one partition's records.
fn append(
    store: &mut LogStore,
    topic: &str,
    data: &PartitionProduceData,
    rules: &AppendRules,
) -> Result<Appended, AppendError> {
    let log = store
        .partition_mut(topic, data.index)
        .ok_or(code::UNKNOWN_TOPIC_OR_PARTITION)?;
    let records = data.records.as_ref().ok_or(code::CORRUPT_MESSAGE)?;
    let outcome = log.append(records, rules)?;
    let log_append_time_ms = match (rules.log_append_time_ms, outcome) {
        (None, _) => -1,
        (Some(now_ms), AppendOutcome::Appended { .. }) => now_ms,
        // A retry answers the original batch's stamp, as Kafka's duplicate detection does.
        (Some(now_ms), AppendOutcome::Duplicate { base_offset }) => {
            log.batch_max_timestamp(base_offset).unwrap_or(now_ms)
        }
    };
    Ok(Appended {
        outcome,
        log_start_offset: log.log_start_offset(),
        log_append_time_ms,
    })
}

fn partition_response(
    index: i32,
    outcome: Result<Appended, AppendError>,
    version: i16,
) -> PartitionProduceResponse {
    let response = PartitionProduceResponse::default().with_index(index);
    match outcome {
        Ok(done) => {
            let (AppendOutcome::Appended { base_offset }
            | AppendOutcome::Duplicate { base_offset }) = done.outcome;
            response
                .with_base_offset(base_offset)
                .with_log_start_offset(done.log_start_offset)
                .with_log_append_time_ms(done.log_append_time_ms)
        }
        Err(error) => {
            let response = response.with_error_code(error.code).with_base_offset(-1);
            if version < 8 {
                return response;
            }
            let record_errors = error
                .record_errors
                .iter()
                .map(|(index, message)| {
                    BatchIndexAndErrorMessage::default()
                        .with_batch_index(*index)
                        .with_batch_index_error_message(Some(str_bytes(message)))
                })
                .collect();
            response
                .with_record_errors(record_errors)
                .with_error_message(error.message.as_deref().map(str_bytes))
        }
    }
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
