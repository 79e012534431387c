//! One transactional id's transaction metadata and its state transitions (Kafka's
//! `TransactionMetadata`), without the side effects: writing markers and completing group offsets
//! is the coordinator's (`mod.rs`).
//!
//! kmock writes the markers of a transaction at once, inside the request that ends it, so the
//! states PrepareCommit, PrepareAbort and PrepareEpochFence are passed through within one step
//! and never seen by another request; Dead is never entered (an evicted transactional id is
//! simply forgotten). They are kept in [`TransactionState`] for their names, which
//! DescribeTransactions and ListTransactions use.
//!
//! # References
//! - Kafka `TransactionMetadata` (states and their valid previous states, `prepareIncrementProducerEpoch`,
//!   `prepareProducerIdRotation`, `prepareFenceProducerEpoch`, `prepareAddPartitions`,
//!   `prepareAbortOrCommit`, `prepareComplete`), `TransactionCoordinator.prepareInitProducerIdTransit`
//! - KIP-98, KIP-360 / KIP-588 (epoch bumps with the current producer id and epoch), KIP-890 part 2
//!   (an epoch bump at the end of every transaction, EndTxn v5)

use std::collections::BTreeSet;
use std::fmt;

use super::code;
use crate::BrokerTime;

/// A transaction's state, as Kafka names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TransactionState {
    /// No transaction since the producer id or epoch was (re)initialised.
    Empty,
    /// A transaction is open: partitions or groups were added.
    Ongoing,
    /// Commit decided, markers being written (transient in kmock).
    PrepareCommit,
    /// Abort decided, markers being written (transient in kmock).
    PrepareAbort,
    /// The last transaction committed.
    CompleteCommit,
    /// The last transaction aborted.
    CompleteAbort,
    /// The transactional id is being expired (never entered by kmock).
    Dead,
    /// The producer is being fenced; its open transaction will abort (transient in kmock).
    PrepareEpochFence,
}

impl TransactionState {
    /// Every state, in Kafka's id order.
    pub const ALL: [TransactionState; 8] = [
        Self::Empty,
        Self::Ongoing,
        Self::PrepareCommit,
        Self::PrepareAbort,
        Self::CompleteCommit,
        Self::CompleteAbort,
        Self::Dead,
        Self::PrepareEpochFence,
    ];

    /// Kafka's name (`TransactionState.name`), as DescribeTransactions reports it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Empty => "Empty",
            Self::Ongoing => "Ongoing",
            Self::PrepareCommit => "PrepareCommit",
            Self::PrepareAbort => "PrepareAbort",
            Self::CompleteCommit => "CompleteCommit",
            Self::CompleteAbort => "CompleteAbort",
            Self::Dead => "Dead",
            Self::PrepareEpochFence => "PrepareEpochFence",
        }
    }

    /// The state with this Kafka name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.name() == name)
    }
}

impl fmt::Display for TransactionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// "No producer id" / "no epoch" (Kafka's `RecordBatch.NO_PRODUCER_ID` / `NO_PRODUCER_EPOCH`).
pub(crate) const NO_PRODUCER_ID: i64 = -1;
/// See [`NO_PRODUCER_ID`].
pub(crate) const NO_PRODUCER_EPOCH: i16 = -1;

/// Whether an epoch is the last a producer id may use: the coordinator must always be able to
/// bump it once more to fence (Kafka's `TransactionMetadata.isEpochExhausted`).
pub(crate) fn is_epoch_exhausted(epoch: i16) -> bool {
    epoch >= i16::MAX - 1
}

/// One transactional id's metadata. See the module docs.
#[derive(Debug, Clone)]
pub(crate) struct TransactionMetadata {
    pub(crate) producer_id: i64,
    /// The producer id before the last rotation (a retry after an overflow may name it).
    pub(crate) previous_producer_id: i64,
    pub(crate) producer_epoch: i16,
    /// The epoch before the last bump (a retried InitProducerId may name it).
    pub(crate) last_producer_epoch: i16,
    pub(crate) timeout_ms: i32,
    pub(crate) state: TransactionState,
    /// Partitions of the open transaction, by (topic, partition).
    pub(crate) partitions: BTreeSet<(String, i32)>,
    /// Groups whose offsets the open transaction commits (AddOffsetsToTxn).
    pub(crate) groups: BTreeSet<String>,
    /// When the current (or last) transaction started.
    pub(crate) started: Option<BrokerTime>,
    /// The last change (eviction picks the oldest).
    pub(crate) last_update: BrokerTime,
    /// The last transaction ended with EndTxn v5+ (KIP-890 part 2): its end bumped the epoch.
    pub(crate) epoch_bumped_at_end: bool,
}

impl TransactionMetadata {
    /// A new transactional id with `producer_id` and no epoch yet.
    pub(crate) fn new(producer_id: i64, timeout_ms: i32, now: BrokerTime) -> Self {
        Self {
            producer_id,
            previous_producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            last_producer_epoch: NO_PRODUCER_EPOCH,
            timeout_ms,
            state: TransactionState::Empty,
            partitions: BTreeSet::new(),
            groups: BTreeSet::new(),
            started: None,
            last_update: now,
            epoch_bumped_at_end: false,
        }
    }

    /// Whether a transaction is open (partitions or groups added, not yet ended).
    pub(crate) fn is_ongoing(&self) -> bool {
        self.state == TransactionState::Ongoing
    }

    /// When an open transaction times out.
    pub(crate) fn deadline(&self) -> Option<BrokerTime> {
        let started = self.started.filter(|_| self.is_ongoing())?;
        let timeout = std::time::Duration::from_millis(u64::try_from(self.timeout_ms).unwrap_or(0));
        Some(started + timeout)
    }

    /// What a request naming `producer_id` and `producer_epoch` may do to this transaction
    /// (AddPartitionsToTxn, AddOffsetsToTxn, the verification of TxnOffsetCommit and Produce):
    /// INVALID_PRODUCER_ID_MAPPING for another producer id, PRODUCER_FENCED for another epoch,
    /// CONCURRENT_TRANSACTIONS while markers are being written.
    pub(crate) fn check_producer(&self, producer_id: i64, producer_epoch: i16) -> Result<(), i16> {
        if self.producer_id != producer_id {
            return Err(code::INVALID_PRODUCER_ID_MAPPING);
        }
        if self.producer_epoch != producer_epoch {
            return Err(code::PRODUCER_FENCED);
        }
        if matches!(
            self.state,
            TransactionState::PrepareCommit | TransactionState::PrepareAbort
        ) {
            return Err(code::CONCURRENT_TRANSACTIONS);
        }
        Ok(())
    }

    /// Adds partitions and groups (`prepareAddPartitions`): the transaction is Ongoing, started
    /// now unless it already was.
    pub(crate) fn add(
        &mut self,
        partitions: impl IntoIterator<Item = (String, i32)>,
        groups: impl IntoIterator<Item = String>,
        now: BrokerTime,
    ) {
        if !self.is_ongoing() {
            self.started = Some(now);
            self.state = TransactionState::Ongoing;
        }
        self.partitions.extend(partitions);
        self.groups.extend(groups);
        self.last_update = now;
    }

    /// Whether InitProducerId's expected producer id and epoch (KIP-360) may take this
    /// transactional id over (`isValidProducerId`): the metadata was just created, or the id is
    /// the current one (the epoch is checked later), or the previous one with an exhausted epoch
    /// (a retry after a rotation whose answer was lost).
    pub(crate) fn accepts_expected_producer(&self, producer_id: i64, producer_epoch: i16) -> bool {
        self.producer_epoch == NO_PRODUCER_EPOCH
            || producer_id == self.producer_id
            || (producer_id == self.previous_producer_id && is_epoch_exhausted(producer_epoch))
    }

    /// InitProducerId on an Empty or completed transaction (`prepareIncrementProducerEpoch`, or
    /// `prepareProducerIdRotation` when the epoch is exhausted: `new_producer_id` is then called
    /// for the new id). The result is Empty.
    pub(crate) fn reinitialise(
        &mut self,
        timeout_ms: i32,
        expected_epoch: Option<i16>,
        now: BrokerTime,
        new_producer_id: impl FnOnce() -> i64,
    ) -> Result<(), i16> {
        if is_epoch_exhausted(self.producer_epoch)
            && expected_epoch.is_none_or(|epoch| epoch == self.producer_epoch)
        {
            self.previous_producer_id = self.producer_id;
            self.producer_id = new_producer_id();
            self.last_producer_epoch = if expected_epoch.is_some() {
                self.producer_epoch
            } else {
                NO_PRODUCER_EPOCH
            };
            self.producer_epoch = 0;
        } else {
            let bumped = self.producer_epoch + 1;
            let (epoch, last_epoch) = match expected_epoch {
                None => (bumped, NO_PRODUCER_EPOCH),
                Some(expected)
                    if self.producer_epoch == NO_PRODUCER_EPOCH
                        || expected == self.producer_epoch =>
                {
                    (bumped, self.producer_epoch)
                }
                // A retry whose answer was lost: the bump already happened.
                Some(expected) if expected == self.last_producer_epoch => {
                    (self.producer_epoch, self.last_producer_epoch)
                }
                Some(_) => return Err(code::PRODUCER_FENCED),
            };
            self.previous_producer_id = self.producer_id;
            self.producer_epoch = epoch;
            self.last_producer_epoch = last_epoch;
        }
        self.timeout_ms = timeout_ms;
        self.state = TransactionState::Empty;
        self.partitions.clear();
        self.groups.clear();
        self.started = None;
        self.last_update = now;
        Ok(())
    }

    /// Fences the current producer (`prepareFenceProducerEpoch`, then the abort's handling of the
    /// fence): the epoch goes up by one, and no earlier epoch is remembered. The caller aborts
    /// the open transaction with the new epoch.
    pub(crate) fn fence(&mut self) {
        self.producer_epoch = self.producer_epoch.saturating_add(1);
        self.last_producer_epoch = NO_PRODUCER_EPOCH;
    }
}
