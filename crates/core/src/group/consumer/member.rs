//! One member of a KIP-848 consumer group, and its reconciliation towards the target assignment.
//!
//! A member moves through epochs. It owns `assigned` partitions at its `member_epoch`, and while it
//! must give some up (`pending_revocation`) it stays at its epoch in `UnrevokedPartitions`. Only when
//! its heartbeat no longer lists them may it move to the target epoch and receive new partitions;
//! a new partition still owned by another member (its partition epoch is set) is held back
//! (`UnreleasedPartitions`) until that member releases it. This is Kafka's
//! `CurrentAssignmentBuilder`, rule for rule: revoke before assign.
//!
//! It does not know the group: the caller passes the target assignment, its epoch and the
//! partition owners.
//!
//! # References
//! - Kafka `CurrentAssignmentBuilder`, `ConsumerGroupMember`, `MemberState` (4.0).
//! - KIP-848 "Member Reconciliation".

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use uuid::Uuid;

use crate::BrokerTime;

/// Partitions by topic id.
pub(crate) type Assignment = BTreeMap<Uuid, BTreeSet<i32>>;

/// Kafka's `MemberState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MemberState {
    /// The member owns its assignment at its epoch (it may still be behind the target epoch).
    Stable,
    /// The member must revoke partitions before it may move on.
    UnrevokedPartitions,
    /// The member waits for partitions other members still own.
    UnreleasedPartitions,
}

impl MemberState {
    /// The name Kafka uses (`MemberState.toString`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Stable => "STABLE",
            Self::UnrevokedPartitions => "UNREVOKED_PARTITIONS",
            Self::UnreleasedPartitions => "UNRELEASED_PARTITIONS",
        }
    }
}

/// Member epoch of a static member that left temporarily (KIP-848: epoch -2 in a heartbeat).
pub(crate) const LEAVE_GROUP_STATIC_MEMBER_EPOCH: i32 = -2;
/// Member epoch of a member that leaves for good (epoch -1 in a heartbeat).
pub(crate) const LEAVE_GROUP_MEMBER_EPOCH: i32 = -1;

/// A member of a consumer group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Member {
    pub member_id: String,
    /// KIP-345 static instance id: the member's identity across restarts.
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    /// From the request header of its last heartbeat; shown by ConsumerGroupDescribe.
    pub client_id: String,
    /// How long the member may take to revoke partitions (its `max.poll.interval.ms`).
    pub rebalance_timeout: Duration,
    /// Topics subscribed by name, as the member sent them (Kafka keeps its order).
    pub subscribed_topic_names: Vec<String>,
    /// Topics subscribed by a regular expression (KIP-848, RE2 syntax).
    pub subscribed_topic_regex: Option<String>,
    /// The server assignor the member asked for, if any.
    pub server_assignor: Option<String>,
    pub state: MemberState,
    pub member_epoch: i32,
    pub previous_member_epoch: i32,
    /// Partitions the member owns (or is being given) at `member_epoch`.
    pub assigned: Assignment,
    /// Partitions the member must revoke before moving to the next epoch.
    pub pending_revocation: Assignment,
    /// The member is removed (fenced) when `now` reaches this.
    pub session_deadline: BrokerTime,
    /// Set while the member must revoke partitions: `(deadline, epoch)`; the member is fenced at
    /// the deadline if still at that epoch (Kafka's rebalance timeout).
    pub rebalance_deadline: Option<(BrokerTime, i32)>,
}

impl Member {
    /// A member as Kafka's `ConsumerGroupMember.Builder(memberId)` makes it: epoch 0, previous
    /// epoch -1, Stable, nothing assigned.
    pub fn new(member_id: String, now: BrokerTime) -> Self {
        Self {
            member_id,
            instance_id: None,
            rack_id: None,
            client_id: String::new(),
            rebalance_timeout: Duration::ZERO,
            subscribed_topic_names: Vec::new(),
            subscribed_topic_regex: None,
            server_assignor: None,
            state: MemberState::Stable,
            member_epoch: 0,
            previous_member_epoch: -1,
            assigned: Assignment::new(),
            pending_revocation: Assignment::new(),
            session_deadline: now,
            rebalance_deadline: None,
        }
    }

    /// Kafka's `isReconciledTo`.
    pub fn is_reconciled_to(&self, target_epoch: i32) -> bool {
        self.state == MemberState::Stable && self.member_epoch == target_epoch
    }

    /// Kafka's `Builder.updateMemberEpoch`: the old epoch becomes the previous one.
    fn update_member_epoch(&mut self, epoch: i32) {
        self.previous_member_epoch = self.member_epoch;
        self.member_epoch = epoch;
    }
}

/// What reconciliation reads about the group.
pub(crate) struct Target<'a> {
    /// The target assignment epoch.
    pub epoch: i32,
    /// The member's target assignment.
    pub assignment: &'a Assignment,
    /// The epoch of the member currently owning a partition, if any (Kafka's
    /// `currentPartitionEpoch`, -1 when free).
    pub partition_owner_epoch: &'a dyn Fn(Uuid, i32) -> Option<i32>,
}

/// Kafka's `CurrentAssignmentBuilder.build`: the member after reconciling towards `target`, given
/// the partitions it reported owning (`None` when the heartbeat did not say).
pub(crate) fn reconcile(
    member: &Member,
    target: &Target<'_>,
    owned: Option<&Assignment>,
) -> Member {
    match member.state {
        MemberState::Stable => {
            if member.member_epoch != target.epoch {
                next_assignment(member, member.member_epoch, target, owned)
            } else {
                member.clone()
            }
        }
        MemberState::UnrevokedPartitions => {
            if owns_any(owned, &member.pending_revocation) {
                member.clone()
            } else {
                next_assignment(member, member.member_epoch.saturating_add(1), target, owned)
            }
        }
        MemberState::UnreleasedPartitions => {
            next_assignment(member, member.member_epoch, target, owned)
        }
    }
}

/// Kafka's `ownsRevokedPartitions`: an unknown owned set counts as owning them.
fn owns_any(owned: Option<&Assignment>, partitions: &Assignment) -> bool {
    let Some(owned) = owned else {
        return true;
    };
    owned.iter().any(|(topic_id, owned_partitions)| {
        partitions
            .get(topic_id)
            .is_some_and(|revoking| owned_partitions.iter().any(|p| revoking.contains(p)))
    })
}

/// Kafka's `computeNextAssignment`.
fn next_assignment(
    member: &Member,
    member_epoch: i32,
    target: &Target<'_>,
    owned: Option<&Assignment>,
) -> Member {
    let mut has_unreleased = false;
    let mut assigned = Assignment::new();
    let mut revoking = Assignment::new();
    let mut assigning = Assignment::new();
    let topic_ids: BTreeSet<Uuid> = target
        .assignment
        .keys()
        .chain(member.assigned.keys())
        .copied()
        .collect();
    let empty = BTreeSet::new();
    for topic_id in topic_ids {
        let wanted = target.assignment.get(&topic_id).unwrap_or(&empty);
        let current = member.assigned.get(&topic_id).unwrap_or(&empty);
        let kept: BTreeSet<i32> = current.intersection(wanted).copied().collect();
        let revoke: BTreeSet<i32> = current.difference(&kept).copied().collect();
        let mut assign: BTreeSet<i32> = wanted.difference(&kept).copied().collect();
        let before = assign.len();
        assign.retain(|partition| (target.partition_owner_epoch)(topic_id, *partition).is_none());
        has_unreleased |= assign.len() != before;
        if !kept.is_empty() {
            assigned.insert(topic_id, kept);
        }
        if !revoke.is_empty() {
            revoking.insert(topic_id, revoke);
        }
        if !assign.is_empty() {
            assigning.insert(topic_id, assign);
        }
    }
    let mut next = member.clone();
    if !revoking.is_empty() && owns_any(owned, &revoking) {
        next.state = MemberState::UnrevokedPartitions;
        next.update_member_epoch(member_epoch);
        next.assigned = assigned;
        next.pending_revocation = revoking;
        return next;
    }
    for (topic_id, partitions) in assigning.iter() {
        assigned
            .entry(*topic_id)
            .or_default()
            .extend(partitions.iter().copied());
    }
    next.state = if has_unreleased {
        MemberState::UnreleasedPartitions
    } else {
        MemberState::Stable
    };
    next.update_member_epoch(target.epoch);
    next.assigned = assigned;
    next.pending_revocation = Assignment::new();
    next
}

/// Kafka's `isSubset`: every partition the member reports owning is in `target`. An unknown owned
/// set is not a subset.
pub(crate) fn is_subset(owned: Option<&Assignment>, target: &Assignment) -> bool {
    let Some(owned) = owned else {
        return false;
    };
    owned.iter().all(|(topic_id, partitions)| {
        target
            .get(topic_id)
            .is_some_and(|assigned| partitions.is_subset(assigned))
    })
}
