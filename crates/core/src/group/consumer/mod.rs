//! The KIP-848 consumer group protocol beside the classic one: ConsumerGroupHeartbeat,
//! ConsumerGroupDescribe, and what the classic APIs answer about consumer groups.
//!
//! Consumer groups live in their own table of the [`GroupCoordinator`]
//! (`consumer_groups`), classic groups in theirs (`groups`); a group id is in at most one. The
//! server computes assignments (`assignor.rs`), members reconcile towards them epoch by epoch
//! (`member.rs`), the group tracks epochs, owners and deadlines (`group.rs`); one file per API
//! (`heartbeat.rs`, `describe.rs`). Pure like the rest of the coordinator: time enters as `now`,
//! session and rebalance timeouts are deadlines fired by `handle_timeout`.
//!
//! What the classic APIs do with a consumer group's id, as Kafka 4:
//! - JoinGroup: a consumer group with members → INCONSISTENT_GROUP_PROTOCOL; an empty one is
//!   replaced by a classic group (its committed offsets kept).
//! - SyncGroup, Heartbeat, LeaveGroup (per member): UNKNOWN_MEMBER_ID (FENCED_INSTANCE_ID for an
//!   instance id held by another member id): no member of a consumer group uses the classic
//!   protocol.
//! - OffsetCommit: the member epoch is the generation; an unknown member → UNKNOWN_MEMBER_ID, a
//!   version below 9 from a member → UNSUPPORTED_VERSION, another epoch → STALE_MEMBER_EPOCH; an
//!   empty group accepts commits with a negative epoch (admin clients). OffsetFetch v9+ with a
//!   member id checks it the same way.
//! - DescribeGroups: described as Dead (v6+: GROUP_ID_NOT_FOUND, "is not a classic group");
//!   ListGroups: listed with type and protocol type `consumer` and the consumer group state;
//!   DeleteGroups: NON_EMPTY_GROUP unless Empty; OffsetDelete: GROUP_SUBSCRIBED_TO_TOPIC for a
//!   subscribed topic.
//! - ConsumerGroupHeartbeat to a classic group with members → GROUP_ID_NOT_FOUND; to an empty
//!   classic group: it becomes a consumer group (its committed offsets kept).
//!
//! Differences from Kafka 4.0, chosen and documented:
//! - **No online upgrade or downgrade.** Kafka's default `group.consumer.migration.policy`
//!   (bidirectional) converts a classic group of consumers to a consumer group when a KIP-848
//!   member joins it, and hosts classic members inside consumer groups (JoinGroup/SyncGroup/
//!   Heartbeat answered from the consumer group's state). kmock behaves as Kafka with the policy
//!   `disabled`: only empty groups change protocol. Following the upgrade exactly means a second
//!   implementation of the classic protocol on top of consumer groups (Kafka's
//!   `classicGroupJoinToConsumerGroup` and its siblings, about 1,500 lines).
//! - **Regular expressions resolve at once**, in the heartbeat that brings them (Kafka resolves
//!   them in a background task, so the topics arrive one heartbeat later), and again at most every
//!   10 s of broker time, as Kafka's batch refresh. There is no authorizer, so no topic is hidden.
//! - Per-group configs (`consumer.session.timeout.ms` set with IncrementalAlterConfigs on a group)
//!   are not supported: the broker settings apply to every group. No rack-aware assignment.
//!
//! # References
//! - Kafka `GroupMetadataManager` (consumerGroupHeartbeat, consumerGroupDescribe, classicGroup*,
//!   getOrMaybeCreateConsumerGroup), `ConsumerGroup.validateOffsetCommit` / `validateOffsetFetch`,
//!   `OffsetMetadataManager.validateOffsetCommit` (4.0).
//! - KIP-848 (the next generation consumer rebalance protocol), KIP-1082 (client-side member ids),
//!   KIP-1043 (group types in admin APIs, DescribeGroups v6).

mod assignor;
mod describe;
pub(crate) mod group;
mod heartbeat;
mod member;
mod regex;

#[cfg(test)]
mod tests;

use std::collections::BTreeSet;

use kmock_wire::kafka_protocol::messages::{RequestKind, ResponseKind};
use rand::RngCore;
use uuid::Uuid;

pub use assignor::{ASSIGNORS, RANGE, UNIFORM};
pub use group::ConsumerGroupState;
pub use heartbeat::MAX_SUBSCRIBED_TOPIC_NAMES;
pub use member::MemberState;
pub use regex::{MAX_AUTOMATON_BYTES, MAX_NEST, MAX_REGEX_BYTES};

use super::{CommittedOffsetSummary, GroupCoordinator, MAX_GROUPS, TopicCatalog, error_code};
use crate::{BrokerTime, ResponseToken};
use group::ConsumerGroup;
use member::Assignment;

/// Which table a group id is in.
pub(crate) enum GroupLookup<'a> {
    /// Neither.
    Missing,
    /// A consumer group.
    Consumer(&'a ConsumerGroup),
    /// A classic group without members (or pending members).
    EmptyClassic,
    /// A classic group with members.
    Classic,
}

/// Handles ConsumerGroupHeartbeat or ConsumerGroupDescribe; `None` for other requests.
pub(crate) fn handle(
    coordinator: &mut GroupCoordinator,
    token: &ResponseToken,
    body: &RequestKind,
    now: BrokerTime,
    topics: &dyn TopicCatalog,
) -> Option<ResponseKind> {
    Some(match body {
        RequestKind::ConsumerGroupHeartbeat(request) => {
            heartbeat::handle(coordinator, token, request, now, topics)
        }
        RequestKind::ConsumerGroupDescribe(request) => {
            describe::handle(coordinator, token, request, topics)
        }
        _ => return None,
    })
}

/// The error response of a consumer group API carrying `code` (for fault rules); `None` for other
/// requests.
pub(crate) fn error_response(body: &RequestKind, code: i16) -> Option<ResponseKind> {
    Some(match body {
        RequestKind::ConsumerGroupHeartbeat(_) => heartbeat::error_response(code, None),
        RequestKind::ConsumerGroupDescribe(request) => describe::error_response(request, code),
        _ => return None,
    })
}

impl GroupCoordinator {
    /// Which table `group_id` is in.
    pub(crate) fn lookup(&self, group_id: &str) -> GroupLookup<'_> {
        if let Some(group) = self.consumer_groups.get(group_id) {
            return GroupLookup::Consumer(group);
        }
        match self.groups.get(group_id) {
            None => GroupLookup::Missing,
            Some(group) if group.size() == 0 => GroupLookup::EmptyClassic,
            Some(_) => GroupLookup::Classic,
        }
    }

    /// Both tables together hold fewer than [`MAX_GROUPS`] groups.
    pub(crate) fn has_room_for_new_group(&self) -> bool {
        self.groups.len() + self.consumer_groups.len() < MAX_GROUPS
    }

    /// The consumer group `group_id` out of its table for an update, or a new one (taking over
    /// the committed offsets of the empty classic group it replaces). Put it back with
    /// `consumer_groups.insert`.
    pub(crate) fn take_consumer_group(
        &mut self,
        group_id: &str,
        exists: bool,
        replaces_classic_group: bool,
    ) -> ConsumerGroup {
        if exists && let Some(group) = self.consumer_groups.remove(group_id) {
            return group;
        }
        let mut group = ConsumerGroup::new(group_id.to_owned());
        if replaces_classic_group && let Some(classic) = self.groups.remove(group_id) {
            tracing::debug!(
                group = group_id,
                "empty classic group replaced by a consumer group"
            );
            group.offsets = classic.offsets;
        }
        group
    }

    /// The consumer group `group_id`, or Kafka's GROUP_ID_NOT_FOUND.
    pub(crate) fn consumer_group_mut(
        &mut self,
        group_id: &str,
    ) -> Result<&mut ConsumerGroup, (i16, String)> {
        let classic = self.groups.contains_key(group_id);
        self.consumer_groups.get_mut(group_id).ok_or_else(|| {
            let message = if classic {
                format!("Group {group_id} is not a consumer group")
            } else {
                format!("Group {group_id} not found.")
            };
            (error_code::GROUP_ID_NOT_FOUND, message)
        })
    }

    /// A member id as Kafka's `Uuid.randomUuid().toString()` makes them (22 characters of
    /// URL-safe base64, never starting with '-'), from the seeded PRNG. Only ConsumerGroupHeartbeat
    /// v0 asks the coordinator for one; from v1 the client makes it.
    pub(crate) fn generate_consumer_member_id(&mut self) -> String {
        loop {
            let mut bytes = [0u8; 16];
            self.rng.fill_bytes(&mut bytes);
            let id = base64_url(&bytes);
            if !id.starts_with('-') {
                return id;
            }
        }
    }

    /// The earliest session or rebalance deadline of a consumer group member.
    pub(crate) fn consumer_next_deadline(&self) -> Option<BrokerTime> {
        self.consumer_groups
            .values()
            .filter_map(ConsumerGroup::next_deadline)
            .min()
    }

    /// Fences every member whose session or rebalance timeout passed at `now`.
    pub(crate) fn consumer_handle_timeout(&mut self, now: BrokerTime, topics: &dyn TopicCatalog) {
        for group in self.consumer_groups.values_mut() {
            for (member_id, reason) in group.expired_members(now) {
                tracing::debug!(group = %group.id, %member_id, "member fenced: {reason}");
                group.fence_member(&member_id, topics);
            }
        }
    }

    /// A summary of every consumer group, in group id order.
    pub fn consumer_groups(&self) -> impl Iterator<Item = ConsumerGroupSummary> + '_ {
        self.consumer_groups.values().map(summary)
    }

    /// A summary of one consumer group.
    pub fn consumer_group(&self, group_id: &str) -> Option<ConsumerGroupSummary> {
        self.consumer_groups.get(group_id).map(summary)
    }
}

/// What the classic Heartbeat, SyncGroup and LeaveGroup answer for a member of a consumer group:
/// Kafka's `validateConsumerGroupMember` then `throwIfMemberDoesNotUseClassicProtocol`. No member
/// of a kmock consumer group uses the classic protocol, so the answer is always an error.
pub(crate) fn classic_member_error(
    coordinator: &GroupCoordinator,
    group_id: &str,
    member_id: &str,
    instance_id: Option<&str>,
) -> Option<i16> {
    let group = coordinator.consumer_groups.get(group_id)?;
    let fenced = instance_id
        .and_then(|instance_id| group.static_member(instance_id))
        .is_some_and(|m| m.member_id != member_id);
    Some(if fenced {
        error_code::FENCED_INSTANCE_ID
    } else {
        error_code::UNKNOWN_MEMBER_ID
    })
}

/// Kafka's `ConsumerGroup.validateOffsetCommit` (non-transactional): `None` means commit.
pub(crate) fn offset_commit_error(
    group: &ConsumerGroup,
    member_id: &str,
    member_epoch: i32,
    api_version: i16,
) -> Option<i16> {
    if member_epoch < 0 && group.members.is_empty() {
        return None;
    }
    let Some(member) = group.members.get(member_id) else {
        return Some(error_code::UNKNOWN_MEMBER_ID);
    };
    if api_version < 9 {
        return Some(error_code::UNSUPPORTED_VERSION);
    }
    (member.member_epoch != member_epoch).then_some(error_code::STALE_MEMBER_EPOCH)
}

/// Kafka's `ConsumerGroup.validateOffsetFetch`: `None` means fetch.
pub(crate) fn offset_fetch_error(
    group: &ConsumerGroup,
    member_id: Option<&str>,
    member_epoch: i32,
) -> Option<i16> {
    let Some(member_id) = member_id else {
        if member_epoch < 0 {
            return None;
        }
        return Some(error_code::UNKNOWN_MEMBER_ID);
    };
    let Some(member) = group.members.get(member_id) else {
        return Some(error_code::UNKNOWN_MEMBER_ID);
    };
    (member.member_epoch != member_epoch).then_some(error_code::STALE_MEMBER_EPOCH)
}

fn base64_url(bytes: &[u8; 16]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(22);
    let mut bits = 0u32;
    let mut width = 0u32;
    for byte in bytes {
        bits = (bits << 8) | u32::from(*byte);
        width += 8;
        while width >= 6 {
            width -= 6;
            out.push(char::from(ALPHABET[((bits >> width) & 0x3f) as usize]));
        }
    }
    if width > 0 {
        out.push(char::from(
            ALPHABET[((bits << (6 - width)) & 0x3f) as usize],
        ));
    }
    out
}

/// A read-only view of a consumer group, for assertions and the control API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupSummary {
    /// The group id.
    pub group_id: String,
    /// Its state.
    pub state: ConsumerGroupState,
    /// The group epoch.
    pub group_epoch: i32,
    /// The epoch of the target assignment.
    pub assignment_epoch: i32,
    /// The assignor the group uses.
    pub assignor: &'static str,
    /// Members in member id order.
    pub members: Vec<ConsumerMemberSummary>,
    /// Committed offsets, by topic then partition.
    pub committed_offsets: Vec<CommittedOffsetSummary>,
}

/// A read-only view of a consumer group member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerMemberSummary {
    /// The member id.
    pub member_id: String,
    /// The static instance id, if any.
    pub instance_id: Option<String>,
    /// The client id of its last heartbeat.
    pub client_id: String,
    /// Its epoch (-2: a static member that left temporarily).
    pub member_epoch: i32,
    /// Its reconciliation state.
    pub state: MemberState,
    /// Topics it subscribes to by name.
    pub subscribed_topic_names: Vec<String>,
    /// The regular expression it subscribes to, if any.
    pub subscribed_topic_regex: Option<String>,
    /// Partitions it owns: (topic, partition), topic names where known.
    pub assigned: Vec<(String, i32)>,
    /// Partitions it must revoke.
    pub pending_revocation: Vec<(String, i32)>,
    /// Its target assignment.
    pub target: Vec<(String, i32)>,
}

fn named(group: &ConsumerGroup, assignment: &Assignment) -> Vec<(String, i32)> {
    let mut named: BTreeSet<(String, i32)> = BTreeSet::new();
    for (topic_id, partitions) in assignment {
        let name = group
            .topic_name(*topic_id)
            .map_or_else(|| topic_id_string(*topic_id), str::to_owned);
        named.extend(partitions.iter().map(|p| (name.clone(), *p)));
    }
    named.into_iter().collect()
}

fn topic_id_string(topic_id: Uuid) -> String {
    topic_id.to_string()
}

fn summary(group: &ConsumerGroup) -> ConsumerGroupSummary {
    let empty = Assignment::new();
    ConsumerGroupSummary {
        group_id: group.id.clone(),
        state: group.state(),
        group_epoch: group.group_epoch,
        assignment_epoch: group.assignment_epoch,
        assignor: group.preferred_assignor(),
        members: group
            .members
            .values()
            .map(|m| ConsumerMemberSummary {
                member_id: m.member_id.clone(),
                instance_id: m.instance_id.clone(),
                client_id: m.client_id.clone(),
                member_epoch: m.member_epoch,
                state: m.state,
                subscribed_topic_names: m.subscribed_topic_names.clone(),
                subscribed_topic_regex: m.subscribed_topic_regex.clone(),
                assigned: named(group, &m.assigned),
                pending_revocation: named(group, &m.pending_revocation),
                target: named(group, group.target.get(&m.member_id).unwrap_or(&empty)),
            })
            .collect(),
        committed_offsets: group
            .offsets
            .iter()
            .map(|((topic, partition), committed)| CommittedOffsetSummary {
                topic: topic.clone(),
                partition: *partition,
                offset: committed.offset,
                leader_epoch: committed.leader_epoch,
                metadata: committed.metadata.clone(),
            })
            .collect(),
    }
}
