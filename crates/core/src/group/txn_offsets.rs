//! Offsets committed inside transactions (TxnOffsetCommit): kept pending per group and producer
//! until the transaction ends, then made the group's committed offsets (commit) or dropped
//! (abort). The transaction coordinator (`crate::txn`) validates the transaction and calls
//! [`GroupCoordinator::store_transactional_offsets`] and
//! [`GroupCoordinator::complete_transactional_offsets`]; OffsetFetch with `require_stable` asks
//! [`GroupCoordinator::has_pending_transactional_offset`] (UNSTABLE_OFFSET_COMMIT while one is
//! pending).
//!
//! For a KIP-848 consumer group the member id and epoch are checked as Kafka's
//! `ConsumerGroup.validateOffsetCommit` checks a transactional commit (UNKNOWN_MEMBER_ID,
//! STALE_MEMBER_EPOCH; nothing when no member is named), and the offsets land in that group.
//!
//! Group rules of a transactional commit to a classic group, in Kafka's order
//! (`GroupCoordinator.doTxnCommitOffsets`):
//! an empty group id → INVALID_GROUP_ID; an unknown group is created Empty (a transactional
//! producer need not be a member); a Dead group → COORDINATOR_NOT_AVAILABLE; a static instance id
//! registered to another member → FENCED_INSTANCE_ID; a member id that is set but not a member →
//! UNKNOWN_MEMBER_ID; a generation that is set (>= 0) but not the group's → ILLEGAL_GENERATION.
//! Then per partition: metadata longer than `MAX_OFFSET_METADATA_BYTES` →
//! OFFSET_METADATA_TOO_LARGE.
//!
//! Differences from Kafka: when a transaction commits, its offsets replace the group's even if a
//! plain OffsetCommit of the same partition came in between (Kafka keeps whichever record is
//! later in `__consumer_offsets`, which is the plain commit).
//!
//! Limits: at most [`MAX_PENDING_TRANSACTIONAL_OFFSETS`] pending offsets in all; beyond,
//! INVALID_REQUEST for the partitions that do not fit (Kafka has no limit).
//!
//! # References
//! - Kafka `GroupCoordinator.handleTxnCommitOffsets` / `doTxnCommitOffsets`,
//!   `GroupMetadata.prepareTxnOffsetCommit` / `completePendingTxnOffsetCommit`,
//!   `GroupMetadataManager.getOffsets` (`requireStable`)
//! - KIP-98 (TxnOffsetCommit), KIP-447 (member id and generation in TxnOffsetCommit v3+,
//!   `require_stable` in OffsetFetch v7+)

use std::collections::BTreeMap;

use super::state::{CommittedOffset, GroupState};
use super::{GroupCoordinator, MAX_OFFSET_METADATA_BYTES, error_code};

/// Most pending transactional offsets, over every group and producer.
pub const MAX_PENDING_TRANSACTIONAL_OFFSETS: usize = 1_000_000;

/// One offset a transaction commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TransactionalOffset {
    pub(crate) topic: String,
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    pub(crate) leader_epoch: i32,
    pub(crate) metadata: String,
}

/// Who commits: the consumer-group fields of TxnOffsetCommit v3+ (KIP-447); -1 and "" for older
/// versions, which skip the checks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TransactionalCommitter<'a> {
    pub(crate) member_id: &'a str,
    pub(crate) group_instance_id: Option<&'a str>,
    pub(crate) generation_id: i32,
}

/// One producer's pending offsets for one group, by (topic, partition).
type ProducerOffsets = BTreeMap<(String, i32), CommittedOffset>;

/// Pending offsets: group → producer id → partition → offset.
#[derive(Debug, Default)]
pub(crate) struct PendingTransactionalOffsets {
    by_group: BTreeMap<String, BTreeMap<i64, ProducerOffsets>>,
    /// Entries in `by_group` (bounded by [`MAX_PENDING_TRANSACTIONAL_OFFSETS`]).
    count: usize,
}

impl GroupCoordinator {
    /// Checks a transactional commit against the group and stores what passes as pending for
    /// `producer_id`; returns each offset's error code (NONE when stored), in order.
    pub(crate) fn store_transactional_offsets(
        &mut self,
        group_id: &str,
        producer_id: i64,
        committer: TransactionalCommitter<'_>,
        offsets: Vec<TransactionalOffset>,
    ) -> Vec<i16> {
        if let Err(code) = self.check_transactional_committer(group_id, committer) {
            return vec![code; offsets.len()];
        }
        let pending = &mut self.pending_transactional;
        let partitions = pending
            .by_group
            .entry(group_id.to_owned())
            .or_default()
            .entry(producer_id)
            .or_default();
        let codes = offsets
            .into_iter()
            .map(|offset| {
                if offset.metadata.len() > MAX_OFFSET_METADATA_BYTES {
                    return error_code::OFFSET_METADATA_TOO_LARGE;
                }
                let key = (offset.topic, offset.partition);
                if !partitions.contains_key(&key) {
                    if pending.count >= MAX_PENDING_TRANSACTIONAL_OFFSETS {
                        return error_code::INVALID_REQUEST;
                    }
                    pending.count += 1;
                }
                partitions.insert(
                    key,
                    CommittedOffset {
                        offset: offset.offset,
                        leader_epoch: offset.leader_epoch,
                        metadata: offset.metadata,
                    },
                );
                error_code::NONE
            })
            .collect();
        self.pending_transactional.prune(group_id, producer_id);
        codes
    }

    /// The group rules of a transactional commit (see the module docs).
    fn check_transactional_committer(
        &mut self,
        group_id: &str,
        committer: TransactionalCommitter<'_>,
    ) -> Result<(), i16> {
        if group_id.is_empty() {
            return Err(error_code::INVALID_GROUP_ID);
        }
        if let Some(group) = self.consumer_groups.get(group_id) {
            return consumer_group_check(group, committer);
        }
        let group = self
            .group_or_create(group_id)
            .ok_or(error_code::COORDINATOR_NOT_AVAILABLE)?;
        if group.state == GroupState::Dead {
            return Err(error_code::COORDINATOR_NOT_AVAILABLE);
        }
        if group.is_static_member_fenced(committer.group_instance_id, committer.member_id) {
            return Err(error_code::FENCED_INSTANCE_ID);
        }
        if !committer.member_id.is_empty() && !group.members.contains_key(committer.member_id) {
            return Err(error_code::UNKNOWN_MEMBER_ID);
        }
        if committer.generation_id >= 0 && committer.generation_id != group.generation_id {
            return Err(error_code::ILLEGAL_GENERATION);
        }
        Ok(())
    }

    /// The transaction of `producer_id` ended: its pending offsets for `group_id` become the
    /// group's committed offsets (`commit`) or are dropped.
    pub(crate) fn complete_transactional_offsets(
        &mut self,
        group_id: &str,
        producer_id: i64,
        commit: bool,
    ) {
        let pending = &mut self.pending_transactional;
        let Some(by_producer) = pending.by_group.get_mut(group_id) else {
            return;
        };
        let Some(offsets) = by_producer.remove(&producer_id) else {
            return;
        };
        pending.count -= offsets.len();
        pending.prune(group_id, producer_id);
        if !commit {
            return;
        }
        if let Some(group) = self.consumer_groups.get_mut(group_id) {
            group.offsets.extend(offsets);
            return;
        }
        match self.groups.get_mut(group_id) {
            Some(group) if group.state != GroupState::Dead => group.offsets.extend(offsets),
            // Deleted meanwhile: Kafka drops offsets of a group that is gone.
            _ => {}
        }
    }

    /// Whether a transaction has an offset pending for this partition of `group_id`.
    pub fn has_pending_transactional_offset(
        &self,
        group_id: &str,
        topic: &str,
        partition: i32,
    ) -> bool {
        let key = (topic.to_owned(), partition);
        self.pending_transactional
            .by_group
            .get(group_id)
            .is_some_and(|by_producer| by_producer.values().any(|p| p.contains_key(&key)))
    }

    /// The pending transactional offsets of `group_id`: producer id → `(topic, partition, offset)`
    /// (for assertions and the control API).
    pub fn pending_transactional_offsets(
        &self,
        group_id: &str,
    ) -> BTreeMap<i64, Vec<(String, i32, i64)>> {
        self.pending_transactional
            .by_group
            .get(group_id)
            .map(|by_producer| {
                by_producer
                    .iter()
                    .map(|(producer_id, offsets)| {
                        let offsets = offsets
                            .iter()
                            .map(|((topic, partition), committed)| {
                                (topic.clone(), *partition, committed.offset)
                            })
                            .collect();
                        (*producer_id, offsets)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A transactional commit to a KIP-848 consumer group (Kafka's `ConsumerGroup.validateOffsetCommit`
/// with `isTransactional`): an empty group takes a commit without a member epoch; a commit naming
/// no member at all is not checked; otherwise the member must exist (UNKNOWN_MEMBER_ID) at that
/// epoch (STALE_MEMBER_EPOCH).
fn consumer_group_check(
    group: &super::consumer::group::ConsumerGroup,
    committer: TransactionalCommitter<'_>,
) -> Result<(), i16> {
    if committer.generation_id < 0 && group.members.is_empty() {
        return Ok(());
    }
    if committer.generation_id == -1
        && committer.member_id.is_empty()
        && committer.group_instance_id.is_none()
    {
        return Ok(());
    }
    let member = group
        .members
        .get(committer.member_id)
        .ok_or(error_code::UNKNOWN_MEMBER_ID)?;
    if member.member_epoch != committer.generation_id {
        return Err(error_code::STALE_MEMBER_EPOCH);
    }
    Ok(())
}

impl PendingTransactionalOffsets {
    /// Removes empty maps left for `group_id` / `producer_id`.
    fn prune(&mut self, group_id: &str, producer_id: i64) {
        let Some(by_producer) = self.by_group.get_mut(group_id) else {
            return;
        };
        if by_producer
            .get(&producer_id)
            .is_some_and(BTreeMap::is_empty)
        {
            by_producer.remove(&producer_id);
        }
        if by_producer.is_empty() {
            self.by_group.remove(group_id);
        }
    }
}
