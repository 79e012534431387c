//! DescribeTransactions (API 65, v0): the state of each named transactional id.
//!
//! Per id: empty → INVALID_REQUEST; unknown → TRANSACTIONAL_ID_NOT_FOUND; otherwise its state
//! name, producer id and epoch, timeout, the start of its current (or last) transaction in Unix
//! milliseconds (-1 if none started) and the partitions of its open transaction. Kafka lists the
//! `__consumer_offsets` partitions of the groups added with AddOffsetsToTxn too; kmock has no such
//! topic and lists the data partitions only (the control API shows the groups).
//!
//! # References
//! - Kafka `TransactionCoordinator.handleDescribeTransactions`, `DescribeTransactionsRequest.json`
//! - KIP-664

use std::collections::BTreeMap;

use kmock_wire::kafka_protocol::messages::describe_transactions_response::{
    TopicData, TransactionState as DescribedTransaction,
};
use kmock_wire::kafka_protocol::messages::{
    DescribeTransactionsRequest, DescribeTransactionsResponse, ProducerId, TopicName,
};

use super::{TransactionCoordinator, code, str_bytes};
use crate::log::LogStore;

/// Answers a DescribeTransactions request.
pub(crate) fn handle(
    coordinator: &TransactionCoordinator,
    request: &DescribeTransactionsRequest,
    logs: &LogStore,
) -> DescribeTransactionsResponse {
    let states = request
        .transactional_ids
        .iter()
        .map(|id| {
            let described = DescribedTransaction::default().with_transactional_id(id.clone());
            if id.is_empty() {
                return described.with_error_code(code::INVALID_REQUEST);
            }
            let Some(txn) = coordinator.transactions.get(id.as_str()) else {
                return described.with_error_code(code::TRANSACTIONAL_ID_NOT_FOUND);
            };
            let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
            for (topic, partition) in &txn.partitions {
                topics.entry(topic).or_default().push(*partition);
            }
            let topics = topics
                .into_iter()
                .map(|(topic, partitions)| {
                    TopicData::default()
                        .with_topic(TopicName(str_bytes(topic)))
                        .with_partitions(partitions)
                })
                .collect();
            described
                .with_transaction_state(str_bytes(txn.state.name()))
                .with_transaction_timeout_ms(txn.timeout_ms)
                .with_transaction_start_time_ms(
                    txn.started
                        .map_or(-1, |started| logs.wall_clock_ms(started)),
                )
                .with_producer_id(ProducerId(txn.producer_id))
                .with_producer_epoch(txn.producer_epoch)
                .with_topics(topics)
        })
        .collect();
    DescribeTransactionsResponse::default().with_transaction_states(states)
}

/// A DescribeTransactions response with `code` for every named transactional id.
pub(crate) fn error_response(
    request: &DescribeTransactionsRequest,
    code: i16,
) -> DescribeTransactionsResponse {
    let states = request
        .transactional_ids
        .iter()
        .map(|id| {
            DescribedTransaction::default()
                .with_transactional_id(id.clone())
                .with_error_code(code)
        })
        .collect();
    DescribeTransactionsResponse::default().with_transaction_states(states)
}
