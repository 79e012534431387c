//! AddPartitionsToTxn (API 24, v0–5): partitions join a producer's transaction.
//!
//! v0–3 (what clients send) carry one transaction; v4+ (KIP-890, sent by brokers in Kafka) carry
//! a batch, each either added or, with `verify_only`, only checked. Per transaction, in Kafka's
//! order:
//! - a partition that does not exist → UNKNOWN_TOPIC_OR_PARTITION for it and
//!   OPERATION_NOT_ATTEMPTED for the others (nothing is added);
//! - empty transactional id → INVALID_REQUEST; unknown → INVALID_PRODUCER_ID_MAPPING; another
//!   producer id → INVALID_PRODUCER_ID_MAPPING; another epoch → PRODUCER_FENCED
//!   (INVALID_PRODUCER_EPOCH for v0–1); markers being written → CONCURRENT_TRANSACTIONS;
//! - add: the partitions join the transaction (which opens if it was not), NONE on each;
//!   verify: NONE for each partition in the open transaction, TRANSACTION_ABORTABLE for the
//!   others.
//!
//! An error of the transaction is reported on each of its partitions. The v4+ top-level error code
//! is NONE. Beyond the coordinator's limits (`MAX_PARTITIONS_PER_TRANSACTION`, ...): INVALID_REQUEST.
//!
//! # References
//! - Kafka `KafkaApis.handleAddPartitionsToTxnRequest`,
//!   `TransactionCoordinator.handleAddPartitionsToTransaction` /
//!   `handleVerifyPartitionsInTransaction`, `AddPartitionsToTxnRequest.json`
//! - KIP-98, KIP-588 (PRODUCER_FENCED, v2+), KIP-890 (v4+ batches and `verify_only`, v5
//!   TRANSACTION_ABORTABLE)

use std::collections::BTreeSet;

use kmock_wire::kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kmock_wire::kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use kmock_wire::kafka_protocol::messages::{
    AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, TopicName,
};

use super::{TransactionCoordinator, code, fenced_for, str_bytes};
use crate::BrokerTime;
use crate::log::LogStore;

/// One transaction of the request (v0–3: the only one).
struct Transaction<'a> {
    transactional_id: &'a str,
    producer_id: i64,
    producer_epoch: i16,
    verify_only: bool,
    topics: &'a [AddPartitionsToTxnTopic],
}

fn transactions(request: &AddPartitionsToTxnRequest, version: i16) -> Vec<Transaction<'_>> {
    if version < 4 {
        return vec![Transaction {
            transactional_id: &request.v3_and_below_transactional_id,
            producer_id: request.v3_and_below_producer_id.0,
            producer_epoch: request.v3_and_below_producer_epoch,
            verify_only: false,
            topics: &request.v3_and_below_topics,
        }];
    }
    request
        .transactions
        .iter()
        .map(|txn| Transaction {
            transactional_id: &txn.transactional_id,
            producer_id: txn.producer_id.0,
            producer_epoch: txn.producer_epoch,
            verify_only: txn.verify_only,
            topics: &txn.topics,
        })
        .collect()
}

/// Answers an AddPartitionsToTxn request.
pub(crate) fn handle(
    coordinator: &mut TransactionCoordinator,
    request: &AddPartitionsToTxnRequest,
    version: i16,
    now: BrokerTime,
    logs: &LogStore,
) -> AddPartitionsToTxnResponse {
    let results = transactions(request, version)
        .into_iter()
        .map(|txn| {
            let topics = answer(coordinator, &txn, version, now, logs);
            (txn.transactional_id, topics)
        })
        .collect();
    response(version, results)
}

/// Each partition's code for one transaction.
fn answer(
    coordinator: &mut TransactionCoordinator,
    txn: &Transaction<'_>,
    version: i16,
    now: BrokerTime,
    logs: &LogStore,
) -> Vec<AddPartitionsToTxnTopicResult> {
    let exists = |topic: &str, partition: i32| {
        logs.partition_count(topic)
            .is_some_and(|count| (0..count).contains(&partition))
    };
    let missing = txn
        .topics
        .iter()
        .flat_map(|t| t.partitions.iter().map(move |p| (t.name.as_str(), *p)))
        .any(|(topic, partition)| !exists(topic, partition));
    if missing {
        return topic_results(txn.topics, |topic, partition| {
            if exists(topic, partition) {
                code::OPERATION_NOT_ATTEMPTED
            } else {
                code::UNKNOWN_TOPIC_OR_PARTITION
            }
        });
    }
    let partitions: BTreeSet<(String, i32)> = txn
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.as_str().to_owned(), *p))
        })
        .collect();
    let outcome = if txn.verify_only {
        verify(coordinator, txn, &partitions)
    } else {
        add(coordinator, txn, partitions, now).map(|()| BTreeSet::new())
    };
    match outcome {
        Ok(not_in_transaction) => topic_results(txn.topics, |topic, partition| {
            if not_in_transaction.contains(&(topic.to_owned(), partition)) {
                code::TRANSACTION_ABORTABLE
            } else {
                code::NONE
            }
        }),
        Err(error) => {
            let error = fenced_for(error, version >= 2);
            topic_results(txn.topics, |_, _| error)
        }
    }
}

/// Adds the partitions (`handleAddPartitionsToTransaction`).
fn add(
    coordinator: &mut TransactionCoordinator,
    txn: &Transaction<'_>,
    partitions: BTreeSet<(String, i32)>,
    now: BrokerTime,
) -> Result<(), i16> {
    let metadata = coordinator.producer_transaction(
        txn.transactional_id,
        txn.producer_id,
        txn.producer_epoch,
    )?;
    if metadata.is_ongoing() && partitions.is_subset(&metadata.partitions) {
        return Ok(());
    }
    coordinator.add_to_transaction(txn.transactional_id, partitions, BTreeSet::new(), now)
}

/// The partitions not in the open transaction (`handleVerifyPartitionsInTransaction`).
fn verify(
    coordinator: &mut TransactionCoordinator,
    txn: &Transaction<'_>,
    partitions: &BTreeSet<(String, i32)>,
) -> Result<BTreeSet<(String, i32)>, i16> {
    let metadata = coordinator.producer_transaction(
        txn.transactional_id,
        txn.producer_id,
        txn.producer_epoch,
    )?;
    Ok(partitions
        .iter()
        .filter(|p| !(metadata.is_ongoing() && metadata.partitions.contains(*p)))
        .cloned()
        .collect())
}

fn topic_results(
    topics: &[AddPartitionsToTxnTopic],
    code_of: impl Fn(&str, i32) -> i16,
) -> Vec<AddPartitionsToTxnTopicResult> {
    topics
        .iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|partition| {
                    AddPartitionsToTxnPartitionResult::default()
                        .with_partition_index(*partition)
                        .with_partition_error_code(code_of(topic.name.as_str(), *partition))
                })
                .collect();
            AddPartitionsToTxnTopicResult::default()
                .with_name(TopicName(str_bytes(topic.name.as_str())))
                .with_results_by_partition(partitions)
        })
        .collect()
}

fn response(
    version: i16,
    results: Vec<(&str, Vec<AddPartitionsToTxnTopicResult>)>,
) -> AddPartitionsToTxnResponse {
    if version < 4 {
        let topics = results
            .into_iter()
            .next()
            .map(|(_, topics)| topics)
            .unwrap_or_default();
        return AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(topics);
    }
    let results = results
        .into_iter()
        .map(|(transactional_id, topics)| {
            AddPartitionsToTxnResult::default()
                .with_transactional_id(str_bytes(transactional_id).into())
                .with_topic_results(topics)
        })
        .collect();
    AddPartitionsToTxnResponse::default().with_results_by_transaction(results)
}

/// An AddPartitionsToTxn response with `code` on every partition of every transaction.
pub(crate) fn error_response(
    request: &AddPartitionsToTxnRequest,
    version: i16,
    code: i16,
) -> AddPartitionsToTxnResponse {
    let results = transactions(request, version)
        .into_iter()
        .map(|txn| (txn.transactional_id, topic_results(txn.topics, |_, _| code)))
        .collect();
    response(version, results)
}
