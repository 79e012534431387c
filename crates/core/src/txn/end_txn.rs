//! EndTxn (API 26, v0–5): the producer commits or aborts its open transaction.
//!
//! In Kafka's order: empty transactional id → INVALID_REQUEST; unknown or another producer id →
//! INVALID_PRODUCER_ID_MAPPING; another epoch → PRODUCER_FENCED (INVALID_PRODUCER_EPOCH for
//! v0–1). Then by state:
//! - Ongoing: the transaction ends at once: a COMMIT or ABORT marker in each of its partitions,
//!   its group offsets made visible or dropped (see the coordinator's module docs); NONE;
//! - CompleteCommit with commit, CompleteAbort with abort: a retry, NONE;
//! - CompleteCommit with abort, CompleteAbort with commit, Empty: INVALID_TXN_STATE.
//!
//! v5 (KIP-890 part 2, "transactions v2"): ending a transaction bumps the producer epoch (a fresh
//! producer id with epoch 0 when it is exhausted); the markers carry the new epoch and the
//! response returns the producer id and epoch to use next. A retry of that EndTxn names the
//! epoch before the bump and gets NONE with the current id and epoch. Kafka answers the producer
//! id before a rotation with the exhausted epoch and lets the client find the new one; kmock
//! answers the new one.
//!
//! # References
//! - Kafka `TransactionCoordinator.handleEndTransaction` / `endTransaction`,
//!   `KafkaApis.handleEndTxnRequest`, `EndTxnRequest.json`, `EndTxnResponse.json`
//! - KIP-98, KIP-588 (PRODUCER_FENCED, v2+), KIP-890 (v5 epoch bump)

use kmock_wire::kafka_protocol::messages::{EndTxnRequest, EndTxnResponse, ProducerId};

use super::state::{NO_PRODUCER_EPOCH, NO_PRODUCER_ID, TransactionState, is_epoch_exhausted};
use super::{Effects, TransactionCoordinator, code, fenced_for};
use crate::BrokerTime;

/// Answers an EndTxn request.
pub(crate) fn handle(
    coordinator: &mut TransactionCoordinator,
    request: &EndTxnRequest,
    version: i16,
    now: BrokerTime,
    effects: &mut Effects<'_>,
) -> EndTxnResponse {
    match end(coordinator, request, version, now, effects) {
        Ok((producer_id, producer_epoch)) if version >= 5 => EndTxnResponse::default()
            .with_producer_id(ProducerId(producer_id))
            .with_producer_epoch(producer_epoch),
        Ok(_) => EndTxnResponse::default(),
        Err(code) => error_response(fenced_for(code, version >= 2)),
    }
}

/// Ends the transaction; the producer id and epoch to use next, or the error code.
fn end(
    coordinator: &mut TransactionCoordinator,
    request: &EndTxnRequest,
    version: i16,
    now: BrokerTime,
    effects: &mut Effects<'_>,
) -> Result<(i64, i16), i16> {
    let transactional_id: &str = &request.transactional_id;
    if transactional_id.is_empty() {
        return Err(code::INVALID_REQUEST);
    }
    let producer_id = request.producer_id.0;
    let epoch = request.producer_epoch;
    let commit = request.committed;
    let txn = coordinator
        .transactions
        .get(transactional_id)
        .ok_or(code::INVALID_PRODUCER_ID_MAPPING)?;
    // Transactions v2: the last end bumped the epoch, so a retry of it names the epoch before.
    let v2 = txn.epoch_bumped_at_end;
    let retry_on_overflow = v2
        && txn.previous_producer_id == producer_id
        && epoch == i16::MAX - 1
        && txn.producer_epoch == 0;
    let retry_on_epoch_bump = v2 && i32::from(txn.producer_epoch) == i32::from(epoch) + 1;
    let valid_epoch = match txn.state {
        TransactionState::CompleteCommit | TransactionState::CompleteAbort if v2 => {
            retry_on_epoch_bump || retry_on_overflow
        }
        TransactionState::PrepareCommit | TransactionState::PrepareAbort if v2 => {
            retry_on_epoch_bump
        }
        _ => epoch == txn.producer_epoch,
    };
    if txn.producer_id != producer_id && !retry_on_overflow {
        return Err(code::INVALID_PRODUCER_ID_MAPPING);
    }
    if !valid_epoch {
        return Err(code::PRODUCER_FENCED);
    }
    match (txn.state, commit) {
        (TransactionState::Ongoing, _) => {}
        (TransactionState::CompleteCommit, true) | (TransactionState::CompleteAbort, false) => {
            return Ok((txn.producer_id, txn.producer_epoch));
        }
        (TransactionState::PrepareCommit, true) | (TransactionState::PrepareAbort, false) => {
            return Err(code::CONCURRENT_TRANSACTIONS);
        }
        _ => return Err(code::INVALID_TXN_STATE),
    }
    if version >= 5 {
        end_bumping_epoch(coordinator, transactional_id, commit, now, effects);
    } else {
        coordinator.complete(transactional_id, commit, now, effects);
        let txn = coordinator
            .transactions
            .get_mut(transactional_id)
            .expect("found above");
        txn.epoch_bumped_at_end = false;
    }
    let txn = &coordinator.transactions[transactional_id];
    Ok((txn.producer_id, txn.producer_epoch))
}

/// Transactions v2: the epoch goes up by one before the markers are written; an exhausted epoch
/// moves to a fresh producer id with epoch 0 once they are.
fn end_bumping_epoch(
    coordinator: &mut TransactionCoordinator,
    transactional_id: &str,
    commit: bool,
    now: BrokerTime,
    effects: &mut Effects<'_>,
) {
    let exhausted = is_epoch_exhausted(coordinator.transactions[transactional_id].producer_epoch);
    let next_producer_id = exhausted.then(|| coordinator.allocate_producer_id());
    let txn = coordinator
        .transactions
        .get_mut(transactional_id)
        .expect("the caller found it");
    txn.last_producer_epoch = txn.producer_epoch;
    txn.producer_epoch = txn.producer_epoch.saturating_add(1);
    coordinator.complete(transactional_id, commit, now, effects);
    let txn = coordinator
        .transactions
        .get_mut(transactional_id)
        .expect("the caller found it");
    txn.previous_producer_id = txn.producer_id;
    txn.last_producer_epoch = txn.producer_epoch;
    if let Some(next) = next_producer_id {
        txn.producer_id = next;
        txn.producer_epoch = 0;
    }
    txn.epoch_bumped_at_end = true;
}

/// An EndTxn response carrying `code` (no producer id or epoch in v5).
pub(crate) fn error_response(code: i16) -> EndTxnResponse {
    EndTxnResponse::default()
        .with_error_code(code)
        .with_producer_id(ProducerId(NO_PRODUCER_ID))
        .with_producer_epoch(NO_PRODUCER_EPOCH)
}
