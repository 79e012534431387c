//! AddOffsetsToTxn (API 25, v0–4): a group joins a producer's transaction, so that the offsets
//! the producer commits to it (TxnOffsetCommit) become visible when the transaction commits.
//!
//! The same rules as AddPartitionsToTxn for one transaction (Kafka adds the group's
//! `__consumer_offsets` partition): empty transactional id → INVALID_REQUEST; unknown or another
//! producer id → INVALID_PRODUCER_ID_MAPPING; another epoch → PRODUCER_FENCED
//! (INVALID_PRODUCER_EPOCH for v0–1); otherwise the group joins the transaction, which opens if
//! it was not open. The group need not exist. kmock tracks the group itself where Kafka tracks
//! its offsets partition (`abs(hash(group)) % 50`), so two groups never share a slot.
//!
//! # References
//! - Kafka `KafkaApis.handleAddOffsetsToTxnRequest`,
//!   `TransactionCoordinator.handleAddPartitionsToTransaction`, `AddOffsetsToTxnRequest.json`
//! - KIP-98, KIP-588 (PRODUCER_FENCED, v2+)

use std::collections::BTreeSet;

use kmock_wire::kafka_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};

use super::{TransactionCoordinator, fenced_for};
use crate::BrokerTime;

/// Answers an AddOffsetsToTxn request.
pub(crate) fn handle(
    coordinator: &mut TransactionCoordinator,
    request: &AddOffsetsToTxnRequest,
    version: i16,
    now: BrokerTime,
) -> AddOffsetsToTxnResponse {
    match add(coordinator, request, now) {
        Ok(()) => AddOffsetsToTxnResponse::default(),
        Err(code) => error_response(fenced_for(code, version >= 2)),
    }
}

fn add(
    coordinator: &mut TransactionCoordinator,
    request: &AddOffsetsToTxnRequest,
    now: BrokerTime,
) -> Result<(), i16> {
    let transactional_id: &str = &request.transactional_id;
    let group_id: &str = &request.group_id;
    let txn = coordinator.producer_transaction(
        transactional_id,
        request.producer_id.0,
        request.producer_epoch,
    )?;
    if txn.is_ongoing() && txn.groups.contains(group_id) {
        return Ok(());
    }
    coordinator.add_to_transaction(
        transactional_id,
        BTreeSet::new(),
        BTreeSet::from([group_id.to_owned()]),
        now,
    )
}

/// An AddOffsetsToTxn response carrying `code`.
pub(crate) fn error_response(code: i16) -> AddOffsetsToTxnResponse {
    AddOffsetsToTxnResponse::default().with_error_code(code)
}
