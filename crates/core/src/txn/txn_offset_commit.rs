//! TxnOffsetCommit (API 28, v0–5): a transactional producer commits a group's offsets inside its
//! transaction; they stay pending (invisible to OffsetFetch, UNSTABLE_OFFSET_COMMIT with
//! `require_stable`) until EndTxn commits them, and an abort drops them.
//!
//! In Kafka's order:
//! - per partition: a topic or partition that does not exist → UNKNOWN_TOPIC_OR_PARTITION (the
//!   others go on);
//! - an empty group id → INVALID_GROUP_ID;
//! - the transaction (Kafka's verification of the group's offsets partition, KIP-890): empty
//!   transactional id → INVALID_REQUEST; unknown or another producer id →
//!   INVALID_PRODUCER_ID_MAPPING; another epoch → INVALID_PRODUCER_EPOCH (the verification's
//!   PRODUCER_FENCED as Produce answers it); the group not added with AddOffsetsToTxn →
//!   INVALID_TXN_STATE (v0–3) or TRANSACTION_ABORTABLE (v4); v5 (transactions v2) adds the group
//!   to the transaction instead;
//! - the group (see `group/txn_offsets.rs`): Dead, fenced static member, unknown member id,
//!   wrong generation, oversized metadata.
//!
//! # References
//! - Kafka `KafkaApis.handleTxnOffsetCommitRequest`, `GroupCoordinator.handleTxnCommitOffsets`,
//!   `AddPartitionsToTxnManager` (error mapping), `TxnOffsetCommitRequest.json`
//! - KIP-98, KIP-447 (member id, generation and instance id, v3+), KIP-890 (verification, v4
//!   TRANSACTION_ABORTABLE, v5 implicit add)

use std::collections::BTreeSet;

use kmock_wire::kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kmock_wire::kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};

use super::{Effects, TransactionCoordinator, code};
use crate::BrokerTime;
use crate::group::{TransactionalCommitter, TransactionalOffset};

/// Answers a TxnOffsetCommit request.
pub(crate) fn handle(
    coordinator: &mut TransactionCoordinator,
    request: &TxnOffsetCommitRequest,
    version: i16,
    now: BrokerTime,
    effects: &mut Effects<'_>,
) -> TxnOffsetCommitResponse {
    // Each requested partition's code, in request order; `None` until decided.
    let mut codes: Vec<Vec<Option<i16>>> = request
        .topics
        .iter()
        .map(|topic| {
            let count = effects.logs.partition_count(topic.name.as_str());
            topic
                .partitions
                .iter()
                .map(|p| {
                    let exists = count.is_some_and(|c| (0..c).contains(&p.partition_index));
                    (!exists).then_some(code::UNKNOWN_TOPIC_OR_PARTITION)
                })
                .collect()
        })
        .collect();
    let group_id: &str = &request.group_id;
    let verdict = if group_id.is_empty() {
        Err(code::INVALID_GROUP_ID)
    } else {
        verify(coordinator, request, version, now)
    };
    let stored = match verdict {
        Err(code) => vec![code; pending(&codes).count()],
        Ok(()) => {
            let offsets = pending(&codes)
                .map(|(t, p)| {
                    let topic = &request.topics[t];
                    let partition = &topic.partitions[p];
                    TransactionalOffset {
                        topic: topic.name.as_str().to_owned(),
                        partition: partition.partition_index,
                        offset: partition.committed_offset,
                        leader_epoch: partition.committed_leader_epoch,
                        metadata: partition
                            .committed_metadata
                            .as_deref()
                            .unwrap_or_default()
                            .to_owned(),
                    }
                })
                .collect();
            let committer = TransactionalCommitter {
                member_id: &request.member_id,
                group_instance_id: request.group_instance_id.as_deref(),
                generation_id: if version >= 3 {
                    request.generation_id
                } else {
                    -1
                },
            };
            effects.groups.store_transactional_offsets(
                group_id,
                request.producer_id.0,
                committer,
                offsets,
            )
        }
    };
    let slots: Vec<(usize, usize)> = pending(&codes).collect();
    for ((t, p), code) in slots.into_iter().zip(stored) {
        codes[t][p] = Some(code);
    }
    response(request, |t, p| codes[t][p].unwrap_or(code::NONE))
}

/// `(topic index, partition index)` of the partitions still undecided.
fn pending(codes: &[Vec<Option<i16>>]) -> impl Iterator<Item = (usize, usize)> + '_ {
    codes.iter().enumerate().flat_map(|(t, partitions)| {
        partitions
            .iter()
            .enumerate()
            .filter(|(_, code)| code.is_none())
            .map(move |(p, _)| (t, p))
    })
}

/// The transaction's check of the group (see the module docs).
fn verify(
    coordinator: &mut TransactionCoordinator,
    request: &TxnOffsetCommitRequest,
    version: i16,
    now: BrokerTime,
) -> Result<(), i16> {
    let transactional_id: &str = &request.transactional_id;
    let group_id: &str = &request.group_id;
    let in_transaction = coordinator
        .producer_transaction(
            transactional_id,
            request.producer_id.0,
            request.producer_epoch,
        )
        .map(|txn| txn.is_ongoing() && txn.groups.contains(group_id))
        .map_err(|code| {
            if code == code::PRODUCER_FENCED {
                code::INVALID_PRODUCER_EPOCH
            } else {
                code
            }
        })?;
    match (in_transaction, version) {
        (true, _) => Ok(()),
        (false, 5..) => coordinator.add_to_transaction(
            transactional_id,
            BTreeSet::new(),
            BTreeSet::from([group_id.to_owned()]),
            now,
        ),
        (false, 4) => Err(code::TRANSACTION_ABORTABLE),
        (false, _) => Err(code::INVALID_TXN_STATE),
    }
}

fn response(
    request: &TxnOffsetCommitRequest,
    code_of: impl Fn(usize, usize) -> i16,
) -> TxnOffsetCommitResponse {
    let topics = request
        .topics
        .iter()
        .enumerate()
        .map(|(t, topic)| {
            let partitions = topic
                .partitions
                .iter()
                .enumerate()
                .map(|(p, partition)| {
                    TxnOffsetCommitResponsePartition::default()
                        .with_partition_index(partition.partition_index)
                        .with_error_code(code_of(t, p))
                })
                .collect();
            TxnOffsetCommitResponseTopic::default()
                .with_name(topic.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    TxnOffsetCommitResponse::default().with_topics(topics)
}

/// A TxnOffsetCommit response with `code` on every requested partition.
pub(crate) fn error_response(
    request: &TxnOffsetCommitRequest,
    code: i16,
) -> TxnOffsetCommitResponse {
    response(request, |_, _| code)
}
