//! InitProducerId (v0–6): hands out producer ids and epochs for idempotent producers.
//!
//! Ids are allocated from [`FIRST_PRODUCER_ID`] upward with epoch 0. A request that names its
//! current id and epoch (v3+, KIP-360) gets the same id with the epoch bumped; a transactional id
//! seen before gets its id back with the epoch bumped (fencing the older producer instance). When
//! an epoch would overflow, a new id with epoch 0 is allocated instead. Transactions are otherwise
//! not supported: the transactional id (empty: INVALID_REQUEST, as Kafka) is only remembered (at most [`MAX_TRANSACTIONAL_IDS`]; beyond,
//! new transactional ids get fresh ids without being remembered) and the transaction timeout ignored.
//!
//! # References
//! - Kafka `TransactionCoordinator.handleInitProducerId`, `ProducerIdManager`,
//!   `InitProducerIdRequest.json`, `InitProducerIdResponse.json`
//! - KIP-98 (idempotence and transactions), KIP-360 (epoch bump for idempotent producers)

use std::collections::BTreeMap;

use kmock_wire::kafka_protocol::messages::{
    InitProducerIdRequest, InitProducerIdResponse, ProducerId,
};

use super::{LogStore, code};

/// The first producer id handed out.
pub const FIRST_PRODUCER_ID: i64 = 1_000;
/// Most transactional ids remembered.
pub const MAX_TRANSACTIONAL_IDS: usize = 100_000;

/// Producer id allocation state.
#[derive(Debug, Default)]
pub(crate) struct ProducerIds {
    /// Ids handed out so far.
    allocated: i64,
    /// Current `(producer id, epoch)` of each transactional id.
    by_transactional_id: BTreeMap<String, (i64, i16)>,
}

impl ProducerIds {
    fn allocate(&mut self) -> (i64, i16) {
        let id = FIRST_PRODUCER_ID + self.allocated;
        self.allocated += 1;
        (id, 0)
    }

    /// The same id with the next epoch, or a new id when the epoch is exhausted.
    fn bump(&mut self, producer_id: i64, epoch: i16) -> (i64, i16) {
        if epoch >= i16::MAX - 1 {
            self.allocate()
        } else {
            (producer_id, epoch + 1)
        }
    }
}

/// Answers an InitProducerId request.
pub(crate) fn handle(
    store: &mut LogStore,
    request: &InitProducerIdRequest,
    version: i16,
) -> InitProducerIdResponse {
    let ids = &mut store.producer_ids;
    let (producer_id, producer_epoch) = match &request.transactional_id {
        Some(transactional_id) if transactional_id.is_empty() => {
            // As Kafka's TransactionCoordinator: an empty transactional id is invalid.
            return error_response(request, version, code::INVALID_REQUEST);
        }
        Some(transactional_id) => {
            let key = transactional_id.as_str();
            let next = match ids.by_transactional_id.get(key).copied() {
                Some((id, epoch)) => ids.bump(id, epoch),
                None => ids.allocate(),
            };
            if ids.by_transactional_id.contains_key(key)
                || ids.by_transactional_id.len() < MAX_TRANSACTIONAL_IDS
            {
                ids.by_transactional_id.insert(key.to_owned(), next);
            }
            next
        }
        None if version >= 3 && request.producer_id.0 >= 0 && request.producer_epoch >= 0 => {
            ids.bump(request.producer_id.0, request.producer_epoch)
        }
        None => ids.allocate(),
    };
    InitProducerIdResponse::default()
        .with_producer_id(ProducerId(producer_id))
        .with_producer_epoch(producer_epoch)
}

/// An InitProducerId response carrying `code`.
pub(crate) fn error_response(
    _request: &InitProducerIdRequest,
    _version: i16,
    code: i16,
) -> InitProducerIdResponse {
    InitProducerIdResponse::default()
        .with_error_code(code)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1)
}
