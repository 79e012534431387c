//! The transaction coordinator: producer ids and epochs, transactional ids and their
//! transactions, and the APIs that drive them: InitProducerId, AddPartitionsToTxn,
//! AddOffsetsToTxn, TxnOffsetCommit, EndTxn, DescribeTransactions and ListTransactions; and the
//! check Produce asks of it before a producer's first transactional batch in a partition
//! (KIP-890 verification, `TransactionCoordinator::verify_partition`).
//!
//! [`TransactionCoordinator`] owns every transactional id's metadata (`state.rs`: Kafka's
//! `TransactionMetadata` and its transitions) and the producer id allocator. It is pure: time
//! enters as `now`, the timeouts of open transactions leave through
//! [`TransactionCoordinator::next_deadline`] and are acted on in
//! `TransactionCoordinator::handle_timeout`. Ending a transaction has effects elsewhere, which
//! it reaches through `Effects`: a COMMIT or ABORT marker (a control batch) appended to each of
//! its partitions' logs, the group offsets it committed made visible or dropped, and parked
//! fetches re-checked (the last stable offset moved). kmock writes the markers at once, within the
//! request that ends the transaction (Kafka writes them asynchronously and answers
//! CONCURRENT_TRANSACTIONS meanwhile), so a transaction is never seen in PrepareCommit or
//! PrepareAbort.
//!
//! One file per API, of the same shape as `log/` and `group/`: `handle` applies the request and
//! builds the response at the request's version, `error_response` builds it with one error code
//! (for fault rules).
//!
//! Rules shared by the APIs, in Kafka's order: an empty transactional id → INVALID_REQUEST; an
//! unknown one → INVALID_PRODUCER_ID_MAPPING; another producer id → INVALID_PRODUCER_ID_MAPPING;
//! another epoch → PRODUCER_FENCED (INVALID_PRODUCER_EPOCH for the versions before it existed:
//! InitProducerId v0–3, AddPartitionsToTxn, AddOffsetsToTxn and EndTxn v0–1).
//!
//! Timeouts: InitProducerId's `transaction_timeout_ms` must be 1 to `transaction_max_timeout_ms`
//! (Kafka's `transaction.max.timeout.ms`, 900000 by default) or INVALID_TRANSACTION_TIMEOUT. An
//! open transaction still open `transaction_timeout_ms` after its first partition or group was
//! added is aborted by the coordinator with the epoch bumped (so the old producer is fenced), as
//! Kafka's `abortTimedOutTransactions` does — exactly at the timeout, where Kafka checks every
//! `transaction.abort.timed.out.transaction.cleanup.interval.ms` (10 s).
//!
//! Limits (state a peer grows): at most [`MAX_TRANSACTIONAL_IDS`] transactional ids (a new one
//! beyond evicts the id without an open transaction that changed least recently, as Kafka's
//! `transactional.id.expiration.ms` would expire it; with every id in a transaction, a new id
//! gets COORDINATOR_NOT_AVAILABLE), [`MAX_PARTITIONS_PER_TRANSACTION`] partitions and
//! [`MAX_GROUPS_PER_TRANSACTION`] groups per transaction and
//! [`MAX_TRANSACTION_MEMBERS_TOTAL`] partitions and groups over all open transactions (beyond:
//! INVALID_REQUEST for the request that would exceed them). Kafka has none of these limits.
//!
//! # References
//! - Kafka `TransactionCoordinator` (handleInitProducerId, handleAddPartitionsToTransaction,
//!   handleVerifyPartitionsInTransaction, handleEndTransaction, handleDescribeTransactions,
//!   handleListTransactions, abortTimedOutTransactions), `TransactionStateManager`
//!   (`validateTransactionTimeoutMs`, `timedOutTransactions`, `listTransactionStates`),
//!   `TransactionMetadata`, `KafkaApis` (handleInitProducerIdRequest, handleEndTxnRequest,
//!   handleAddPartitionsToTxnRequest, handleAddOffsetsToTxnRequest, handleTxnOffsetCommitRequest),
//!   `AddPartitionsToTxnManager` (verification errors)
//! - KIP-98 (transactions), KIP-360 / KIP-588 (epoch bumps), KIP-447 (TxnOffsetCommit group
//!   fields), KIP-664 (DescribeTransactions, ListTransactions), KIP-890 (verification, batched
//!   AddPartitionsToTxn v4+, epoch bump per transaction with EndTxn v5)

mod add_offsets_to_txn;
mod add_partitions_to_txn;
mod describe_transactions;
mod end_txn;
mod init_producer_id;
mod list_transactions;
mod state;
mod txn_offset_commit;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use kmock_wire::kafka_protocol::messages::{RequestKind, ResponseKind};

use crate::config::BrokerConfig;
use crate::group::GroupCoordinator;
use crate::log::{LogStore, PartitionVerification, TransactionVerifier};
use crate::{BrokerTime, Completion, Reply, ResponseToken};
use state::TransactionMetadata;
pub use state::TransactionState;

/// Kafka error codes, from the workspace's one table.
pub(crate) use kmock_wire::error_code as code;

/// The first producer id handed out.
pub const FIRST_PRODUCER_ID: i64 = 1_000;
/// Most transactional ids remembered (see the module docs).
pub const MAX_TRANSACTIONAL_IDS: usize = 100_000;
/// Most partitions in one transaction.
pub const MAX_PARTITIONS_PER_TRANSACTION: usize = 10_000;
/// Most groups one transaction commits offsets to.
pub const MAX_GROUPS_PER_TRANSACTION: usize = 1_000;
/// Most partitions and groups over all open transactions.
pub const MAX_TRANSACTION_MEMBERS_TOTAL: usize = 1_000_000;

/// Where the end of a transaction takes effect: the partition logs (markers), the groups
/// (transactional offsets) and the fetches parked on those logs.
pub(crate) struct Effects<'a> {
    pub(crate) logs: &'a mut LogStore,
    pub(crate) groups: &'a mut GroupCoordinator,
    pub(crate) out: &'a mut Vec<Completion>,
}

/// Every transactional id and producer id. See the module docs.
#[derive(Debug)]
pub struct TransactionCoordinator {
    /// `transaction.max.timeout.ms`.
    max_timeout_ms: i32,
    /// The next producer id to hand out.
    next_producer_id: i64,
    /// Transaction metadata by transactional id, in id order.
    transactions: BTreeMap<String, TransactionMetadata>,
    /// When each open transaction times out.
    deadlines: BTreeSet<(BrokerTime, String)>,
    /// Partitions and groups of all open transactions (bounded by
    /// [`MAX_TRANSACTION_MEMBERS_TOTAL`]).
    members_total: usize,
}

/// A read-only view of one transactional id, for assertions and the control API.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransactionSummary {
    /// The transactional id.
    pub transactional_id: String,
    /// Its current producer id.
    pub producer_id: i64,
    /// Its current producer epoch (-1 before the first InitProducerId completed).
    pub producer_epoch: i16,
    /// The state of its (last) transaction.
    pub state: TransactionState,
    /// `transaction.timeout.ms` of its producer.
    pub timeout_ms: i32,
    /// When the current (or last) transaction started, on the broker's clock.
    pub started: Option<BrokerTime>,
    /// The partitions of the open transaction.
    pub partitions: Vec<(String, i32)>,
    /// The groups whose offsets the open transaction commits.
    pub groups: Vec<String>,
}

impl TransactionCoordinator {
    /// No transactional ids; producer ids start at [`FIRST_PRODUCER_ID`].
    pub fn new(config: &BrokerConfig) -> Self {
        Self {
            max_timeout_ms: config.transaction_max_timeout_ms,
            next_producer_id: FIRST_PRODUCER_ID,
            transactions: BTreeMap::new(),
            deadlines: BTreeSet::new(),
            members_total: 0,
        }
    }

    /// A fresh producer id.
    fn allocate_producer_id(&mut self) -> i64 {
        let id = self.next_producer_id;
        self.next_producer_id += 1;
        id
    }

    /// When the earliest open transaction times out.
    pub fn next_deadline(&self) -> Option<BrokerTime> {
        self.deadlines.first().map(|(at, _)| *at)
    }

    /// Aborts the open transactions whose timeout has passed at `now`, fencing their producers
    /// (the epoch goes up by one). A call before any deadline is a no-op.
    pub(crate) fn handle_timeout(&mut self, now: BrokerTime, effects: &mut Effects<'_>) {
        while let Some((at, transactional_id)) = self.deadlines.first().cloned() {
            if at > now {
                break;
            }
            tracing::info!(%transactional_id, "transaction timed out: aborting it and fencing its producer");
            self.fence_and_abort(&transactional_id, now, effects);
        }
    }

    /// Handles a transaction request.
    pub(crate) fn handle(
        &mut self,
        token: &ResponseToken,
        body: RequestKind,
        now: BrokerTime,
        effects: &mut Effects<'_>,
    ) -> Reply {
        let version = token.api_version;
        Reply::Now(match body {
            RequestKind::InitProducerId(request) => ResponseKind::InitProducerId(
                init_producer_id::handle(self, &request, version, now, effects),
            ),
            RequestKind::AddPartitionsToTxn(request) => ResponseKind::AddPartitionsToTxn(
                add_partitions_to_txn::handle(self, &request, version, now, effects.logs),
            ),
            RequestKind::AddOffsetsToTxn(request) => ResponseKind::AddOffsetsToTxn(
                add_offsets_to_txn::handle(self, &request, version, now),
            ),
            RequestKind::TxnOffsetCommit(request) => ResponseKind::TxnOffsetCommit(
                txn_offset_commit::handle(self, &request, version, now, effects),
            ),
            RequestKind::EndTxn(request) => {
                ResponseKind::EndTxn(end_txn::handle(self, &request, version, now, effects))
            }
            RequestKind::DescribeTransactions(request) => ResponseKind::DescribeTransactions(
                describe_transactions::handle(self, &request, effects.logs),
            ),
            RequestKind::ListTransactions(request) => ResponseKind::ListTransactions(
                list_transactions::handle(self, &request, version, now),
            ),
            _ => {
                return Reply::Close(format!(
                    "the transaction coordinator does not handle {:?}",
                    token.api_key
                ));
            }
        })
    }

    /// A summary of every transactional id, in id order.
    pub fn transactions(&self) -> impl Iterator<Item = TransactionSummary> + '_ {
        self.transactions.iter().map(|(id, txn)| summary(id, txn))
    }

    /// A summary of one transactional id.
    pub fn transaction(&self, transactional_id: &str) -> Option<TransactionSummary> {
        self.transactions
            .get(transactional_id)
            .map(|txn| summary(transactional_id, txn))
    }

    /// The metadata of `transactional_id` for a request naming `producer_id` and `epoch`
    /// (AddPartitionsToTxn, AddOffsetsToTxn, verification): see [`TransactionMetadata::check_producer`].
    fn producer_transaction(
        &mut self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
    ) -> Result<&mut TransactionMetadata, i16> {
        if transactional_id.is_empty() {
            return Err(code::INVALID_REQUEST);
        }
        let txn = self
            .transactions
            .get_mut(transactional_id)
            .ok_or(code::INVALID_PRODUCER_ID_MAPPING)?;
        txn.check_producer(producer_id, producer_epoch)?;
        Ok(txn)
    }

    /// Adds partitions and groups to `transactional_id`'s transaction (opening it if needed),
    /// within the limits. The caller checked the producer.
    fn add_to_transaction(
        &mut self,
        transactional_id: &str,
        partitions: BTreeSet<(String, i32)>,
        groups: BTreeSet<String>,
        now: BrokerTime,
    ) -> Result<(), i16> {
        let txn = self
            .transactions
            .get_mut(transactional_id)
            .expect("the caller found the transaction");
        let new_partitions = partitions.difference(&txn.partitions).count();
        let new_groups = groups.difference(&txn.groups).count();
        if txn.partitions.len() + new_partitions > MAX_PARTITIONS_PER_TRANSACTION
            || txn.groups.len() + new_groups > MAX_GROUPS_PER_TRANSACTION
            || self.members_total + new_partitions + new_groups > MAX_TRANSACTION_MEMBERS_TOTAL
        {
            return Err(code::INVALID_REQUEST);
        }
        let was_ongoing = txn.is_ongoing();
        txn.add(partitions, groups, now);
        self.members_total += new_partitions + new_groups;
        if !was_ongoing {
            let deadline = txn
                .deadline()
                .expect("an ongoing transaction has a deadline");
            self.deadlines
                .insert((deadline, transactional_id.to_owned()));
        }
        Ok(())
    }

    /// Ends `transactional_id`'s open transaction (see the module docs): markers at the
    /// transaction's current producer id and epoch, group offsets completed, state Complete*.
    fn complete(
        &mut self,
        transactional_id: &str,
        commit: bool,
        now: BrokerTime,
        effects: &mut Effects<'_>,
    ) {
        let txn = self
            .transactions
            .get_mut(transactional_id)
            .expect("the caller found the transaction");
        debug_assert!(txn.is_ongoing(), "only an open transaction ends");
        if let Some(deadline) = txn.deadline() {
            self.deadlines
                .remove(&(deadline, transactional_id.to_owned()));
        }
        let marker = crate::log::Marker {
            producer_id: txn.producer_id,
            producer_epoch: txn.producer_epoch,
            commit,
            coordinator_epoch: 0,
            timestamp_ms: effects.logs.wall_clock_ms(now),
        };
        for (topic, partition) in &txn.partitions {
            effects.logs.write_marker(topic, *partition, marker);
        }
        for group in &txn.groups {
            effects
                .groups
                .complete_transactional_offsets(group, txn.producer_id, commit);
        }
        self.members_total -= txn.partitions.len() + txn.groups.len();
        txn.partitions.clear();
        txn.groups.clear();
        txn.state = if commit {
            TransactionState::CompleteCommit
        } else {
            TransactionState::CompleteAbort
        };
        txn.last_update = now;
        effects.logs.complete_parked_fetches(now, effects.out);
    }

    /// Fences the producer of `transactional_id` and aborts its open transaction with the bumped
    /// epoch (a timeout, or a new producer instance's InitProducerId).
    fn fence_and_abort(
        &mut self,
        transactional_id: &str,
        now: BrokerTime,
        effects: &mut Effects<'_>,
    ) {
        let txn = self
            .transactions
            .get_mut(transactional_id)
            .expect("the caller found the transaction");
        txn.fence();
        txn.epoch_bumped_at_end = false;
        self.complete(transactional_id, false, now, effects);
    }

    /// Makes room for one more transactional id: evicts the one without an open transaction
    /// that changed least recently, if the table is full. `false` if every id has a
    /// transaction open.
    fn make_room(&mut self) -> bool {
        if self.transactions.len() < MAX_TRANSACTIONAL_IDS {
            return true;
        }
        let oldest = self
            .transactions
            .iter()
            .filter(|(_, txn)| !txn.is_ongoing())
            .min_by_key(|(id, txn)| (txn.last_update, *id))
            .map(|(id, _)| id.clone());
        match oldest {
            Some(id) => {
                self.transactions.remove(&id);
                true
            }
            None => false,
        }
    }
}

impl TransactionVerifier for TransactionCoordinator {
    /// KIP-890: whether the partition is in the producer's transaction (per partition: NONE, or
    /// TRANSACTION_ABORTABLE); with `add` (Produce v12+, transactions v2) it is added instead.
    fn verify_partition(&mut self, check: PartitionVerification<'_>) -> Result<(), i16> {
        let key = (check.topic.to_owned(), check.partition);
        let txn = self.producer_transaction(
            check.transactional_id,
            check.producer_id,
            check.producer_epoch,
        )?;
        if txn.is_ongoing() && txn.partitions.contains(&key) {
            return Ok(());
        }
        if !check.add {
            return Err(code::TRANSACTION_ABORTABLE);
        }
        self.add_to_transaction(
            check.transactional_id,
            BTreeSet::from([key]),
            BTreeSet::new(),
            check.now,
        )
    }
}

fn summary(transactional_id: &str, txn: &TransactionMetadata) -> TransactionSummary {
    TransactionSummary {
        transactional_id: transactional_id.to_owned(),
        producer_id: txn.producer_id,
        producer_epoch: txn.producer_epoch,
        state: txn.state,
        timeout_ms: txn.timeout_ms,
        started: txn.started,
        partitions: txn.partitions.iter().cloned().collect(),
        groups: txn.groups.iter().cloned().collect(),
    }
}

/// PRODUCER_FENCED for clients that know it; INVALID_PRODUCER_EPOCH for the older versions
/// (`KafkaApis`: "older clients could not understand the new PRODUCER_FENCED error code").
fn fenced_for(code: i16, knows_producer_fenced: bool) -> i16 {
    if code == code::PRODUCER_FENCED && !knows_producer_fenced {
        code::INVALID_PRODUCER_EPOCH
    } else {
        code
    }
}

/// The error response for a transaction request (for fault rules), or `None` if not one.
pub fn error_response(body: &RequestKind, api_version: i16, code: i16) -> Option<ResponseKind> {
    Some(match body {
        RequestKind::InitProducerId(_) => {
            ResponseKind::InitProducerId(init_producer_id::error_response(code))
        }
        RequestKind::AddPartitionsToTxn(request) => ResponseKind::AddPartitionsToTxn(
            add_partitions_to_txn::error_response(request, api_version, code),
        ),
        RequestKind::AddOffsetsToTxn(_) => {
            ResponseKind::AddOffsetsToTxn(add_offsets_to_txn::error_response(code))
        }
        RequestKind::TxnOffsetCommit(request) => {
            ResponseKind::TxnOffsetCommit(txn_offset_commit::error_response(request, code))
        }
        RequestKind::EndTxn(_) => ResponseKind::EndTxn(end_txn::error_response(code)),
        RequestKind::DescribeTransactions(request) => {
            ResponseKind::DescribeTransactions(describe_transactions::error_response(request, code))
        }
        RequestKind::ListTransactions(_) => {
            ResponseKind::ListTransactions(list_transactions::error_response(code))
        }
        _ => return None,
    })
}

/// A `StrBytes` copy of `s`.
fn str_bytes(s: &str) -> kmock_wire::kafka_protocol::protocol::StrBytes {
    kmock_wire::kafka_protocol::protocol::StrBytes::from_string(s.to_owned())
}
