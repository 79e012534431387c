//! InitProducerId (API 22, v0–5): producer ids for idempotent producers, and the
//! initialisation of a transactional producer (its epoch bumped, older instances fenced).
//!
//! Without a transactional id: a fresh producer id with epoch 0, always (Kafka ignores a
//! producer id and epoch sent with it). With one, in Kafka's order:
//! - an empty transactional id → INVALID_REQUEST; a producer id without an epoch or the reverse
//!   (v3+) → INVALID_REQUEST; `transaction_timeout_ms` not 1 to `transaction.max.timeout.ms` →
//!   INVALID_TRANSACTION_TIMEOUT;
//! - an unknown transactional id gets a fresh producer id (evicting an idle id when
//!   `MAX_TRANSACTIONAL_IDS` are known; COORDINATOR_NOT_AVAILABLE if every one is in a
//!   transaction);
//! - a producer id and epoch sent with the request (KIP-360, v3+) that do not name this
//!   transactional id's producer → PRODUCER_FENCED;
//! - an open transaction: the old producer is fenced (epoch + 1) and the transaction aborted at
//!   once; the answer is CONCURRENT_TRANSACTIONS, and the client's retry bumps the epoch again;
//! - otherwise the epoch goes up by one (the same producer id), or a fresh producer id with
//!   epoch 0 when the epoch is exhausted; a retry naming the epoch before the last bump gets the
//!   current one again.
//!
//! PRODUCER_FENCED is answered as INVALID_PRODUCER_EPOCH before v4.
//!
//! # References
//! - Kafka `TransactionCoordinator.handleInitProducerId` / `prepareInitProducerIdTransit`,
//!   `KafkaApis.handleInitProducerIdRequest`, `InitProducerIdRequest.json`
//! - KIP-98, KIP-360 (producer id and epoch in the request, v3+), KIP-588 (PRODUCER_FENCED, v4+)

use kmock_wire::kafka_protocol::messages::{
    InitProducerIdRequest, InitProducerIdResponse, ProducerId,
};

use super::state::{NO_PRODUCER_EPOCH, NO_PRODUCER_ID, TransactionMetadata};
use super::{Effects, TransactionCoordinator, code, fenced_for};
use crate::BrokerTime;

/// Answers an InitProducerId request.
pub(crate) fn handle(
    coordinator: &mut TransactionCoordinator,
    request: &InitProducerIdRequest,
    version: i16,
    now: BrokerTime,
    effects: &mut Effects<'_>,
) -> InitProducerIdResponse {
    match init(coordinator, request, version, now, effects) {
        Ok((producer_id, producer_epoch)) => InitProducerIdResponse::default()
            .with_producer_id(ProducerId(producer_id))
            .with_producer_epoch(producer_epoch),
        Err(code) => error_response(fenced_for(code, version >= 4)),
    }
}

/// The producer id and epoch for the request, or the error code.
fn init(
    coordinator: &mut TransactionCoordinator,
    request: &InitProducerIdRequest,
    version: i16,
    now: BrokerTime,
    effects: &mut Effects<'_>,
) -> Result<(i64, i16), i16> {
    let expected = match (request.producer_id.0, request.producer_epoch) {
        _ if version < 3 => None,
        (NO_PRODUCER_ID, NO_PRODUCER_EPOCH) => None,
        (NO_PRODUCER_ID, _) | (_, NO_PRODUCER_EPOCH) => return Err(code::INVALID_REQUEST),
        (producer_id, epoch) => Some((producer_id, epoch)),
    };
    let Some(transactional_id) = request.transactional_id.as_ref().map(|id| id.as_str()) else {
        return Ok((coordinator.allocate_producer_id(), 0));
    };
    if transactional_id.is_empty() {
        return Err(code::INVALID_REQUEST);
    }
    let timeout_ms = request.transaction_timeout_ms;
    if timeout_ms <= 0 || timeout_ms > coordinator.max_timeout_ms {
        return Err(code::INVALID_TRANSACTION_TIMEOUT);
    }
    if !coordinator.transactions.contains_key(transactional_id) {
        if !coordinator.make_room() {
            return Err(code::COORDINATOR_NOT_AVAILABLE);
        }
        let producer_id = coordinator.allocate_producer_id();
        coordinator.transactions.insert(
            transactional_id.to_owned(),
            TransactionMetadata::new(producer_id, timeout_ms, now),
        );
    }
    let txn = coordinator
        .transactions
        .get(transactional_id)
        .expect("inserted above");
    if let Some((producer_id, epoch)) = expected
        && !txn.accepts_expected_producer(producer_id, epoch)
    {
        return Err(code::PRODUCER_FENCED);
    }
    if txn.is_ongoing() {
        // Fence the old instance and abort its transaction; the client retries and gets the
        // next epoch (Kafka's PrepareEpochFence).
        coordinator.fence_and_abort(transactional_id, now, effects);
        return Err(code::CONCURRENT_TRANSACTIONS);
    }
    let next_id = coordinator.next_producer_id;
    let mut rotated = false;
    let txn = coordinator
        .transactions
        .get_mut(transactional_id)
        .expect("inserted above");
    txn.reinitialise(timeout_ms, expected.map(|(_, epoch)| epoch), now, || {
        rotated = true;
        next_id
    })?;
    let answer = (txn.producer_id, txn.producer_epoch);
    if rotated {
        coordinator.allocate_producer_id();
    }
    Ok(answer)
}

/// An InitProducerId response carrying `code`, with no producer id or epoch.
pub(crate) fn error_response(code: i16) -> InitProducerIdResponse {
    InitProducerIdResponse::default()
        .with_error_code(code)
        .with_producer_id(ProducerId(NO_PRODUCER_ID))
        .with_producer_epoch(NO_PRODUCER_EPOCH)
}
