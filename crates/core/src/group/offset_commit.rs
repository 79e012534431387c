//! OffsetCommit (API 8, v2–10): store consumed positions per (group, topic, partition).
//!
//! Per partition first: a topic or partition the log store does not know →
//! UNKNOWN_TOPIC_OR_PARTITION; metadata longer than [`MAX_OFFSET_METADATA_BYTES`] →
//! OFFSET_METADATA_TOO_LARGE. Then the group rules, in Kafka's order (every remaining partition
//! gets the group's code):
//! - a KIP-848 consumer group: see [`super::consumer`] (UNKNOWN_MEMBER_ID, UNSUPPORTED_VERSION below
//!   v9, STALE_MEMBER_EPOCH; a negative epoch commits to an empty group);
//! - unknown group: generation < 0 creates it Empty and commits (a "simple" commit by a client that
//!   does not use group management); otherwise GROUP_ID_NOT_FOUND from v9, ILLEGAL_GENERATION
//!   before;
//! - generation < 0 and group Empty: simple commit;
//! - a static instance id (v7+) registered to another member id → FENCED_INSTANCE_ID;
//! - unknown member → UNKNOWN_MEMBER_ID; wrong generation → ILLEGAL_GENERATION;
//! - CompletingRebalance → REBALANCE_IN_PROGRESS; Stable or PreparingRebalance → commit (and the
//!   commit counts as a heartbeat).
//!
//! Field notes: `generation_id_or_member_epoch` is the generation for classic groups and the member
//! epoch for consumer groups; v10 names
//! topics by id (the crate's request decoder stops at v9, the response side is handled anyway).
//!
//! # References
//! - Kafka `GroupCoordinator.handleCommitOffsets` / `doCommitOffsets`, `KafkaApis` topic checks.
//! - KIP-848 (`generation_id_or_member_epoch`), KIP-516 (topic ids).

use kmock_wire::kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kmock_wire::kafka_protocol::messages::{
    OffsetCommitRequest, OffsetCommitResponse, ResponseKind, TopicName,
};

use super::state::{CommittedOffset, Group, GroupState};
use super::{
    GroupCoordinator, MAX_OFFSET_METADATA_BYTES, TopicCatalog, consumer, error_code, str_bytes,
};
use crate::{BrokerTime, ResponseToken};

/// One requested partition and its fate.
struct PartitionCommit {
    partition: i32,
    offset: i64,
    leader_epoch: i32,
    metadata: String,
    /// Set when the partition fails its own checks; otherwise the group's code decides.
    code: Option<i16>,
}

/// One requested topic.
struct TopicCommit {
    /// Name as resolved (empty if a v10 topic id is unknown).
    name: String,
    topic_id: uuid::Uuid,
    partitions: Vec<PartitionCommit>,
}

fn resolve(
    request: &OffsetCommitRequest,
    version: i16,
    topics: &dyn TopicCatalog,
) -> Vec<TopicCommit> {
    request
        .topics
        .iter()
        .map(|topic| {
            let name = if version >= 10 {
                topics.topic_name(topic.topic_id).unwrap_or_default()
            } else {
                topic.name.0.as_str().to_owned()
            };
            let partition_count = if name.is_empty() {
                None
            } else {
                topics.partition_count(&name)
            };
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let metadata = p
                        .committed_metadata
                        .as_ref()
                        .map(|m| m.as_str().to_owned())
                        .unwrap_or_default();
                    let exists = partition_count
                        .is_some_and(|count| (0..count).contains(&p.partition_index));
                    let code = if !exists {
                        Some(error_code::UNKNOWN_TOPIC_OR_PARTITION)
                    } else if metadata.len() > MAX_OFFSET_METADATA_BYTES {
                        Some(error_code::OFFSET_METADATA_TOO_LARGE)
                    } else {
                        None
                    };
                    PartitionCommit {
                        partition: p.partition_index,
                        offset: p.committed_offset,
                        leader_epoch: p.committed_leader_epoch,
                        metadata,
                        code,
                    }
                })
                .collect();
            TopicCommit {
                name,
                topic_id: topic.topic_id,
                partitions,
            }
        })
        .collect()
}

/// The group-level verdict: `None` means commit.
fn group_verdict(
    group: &Group,
    member_id: &str,
    instance_id: Option<&str>,
    generation: i32,
) -> Option<i16> {
    if group.state == GroupState::Dead {
        return Some(error_code::COORDINATOR_NOT_AVAILABLE);
    }
    if generation < 0 && group.state == GroupState::Empty {
        return None;
    }
    if group.is_static_member_fenced(instance_id, member_id) {
        return Some(error_code::FENCED_INSTANCE_ID);
    }
    if !group.members.contains_key(member_id) {
        return Some(error_code::UNKNOWN_MEMBER_ID);
    }
    if generation != group.generation_id {
        return Some(error_code::ILLEGAL_GENERATION);
    }
    match group.state {
        GroupState::CompletingRebalance => Some(error_code::REBALANCE_IN_PROGRESS),
        GroupState::Stable | GroupState::PreparingRebalance => None,
        GroupState::Empty | GroupState::Dead => Some(error_code::UNKNOWN_MEMBER_ID),
    }
}

/// Handles OffsetCommit. See the module docs.
pub(crate) fn handle(
    coordinator: &mut GroupCoordinator,
    token: &ResponseToken,
    request: &OffsetCommitRequest,
    now: BrokerTime,
    topics: &dyn TopicCatalog,
) -> ResponseKind {
    let version = token.api_version;
    let mut commits = resolve(request, version, topics);
    let group_id = request.group_id.0.as_str();
    let member_id = request.member_id.as_str();
    let generation = request.generation_id_or_member_epoch;
    let instance_id = request.group_instance_id.as_ref().map(|id| id.as_str());
    let exists = coordinator.groups.contains_key(group_id);
    let verdict = if let Some(group) = coordinator.consumer_groups.get_mut(group_id) {
        // A KIP-848 consumer group: the member epoch is the generation; no session to refresh.
        match consumer::offset_commit_error(group, member_id, generation, version) {
            Some(code) => Err(code),
            None => Ok(&mut group.offsets),
        }
    } else if !exists && generation >= 0 {
        // Not a simple commit, and no group: a commit from an older generation of a gone group.
        // From v9 Kafka says so for both protocols; before, ILLEGAL_GENERATION.
        Err(if version >= 9 {
            error_code::GROUP_ID_NOT_FOUND
        } else {
            error_code::ILLEGAL_GENERATION
        })
    } else {
        match coordinator.group_or_create(group_id) {
            None => Err(error_code::COORDINATOR_NOT_AVAILABLE),
            Some(group) => match group_verdict(group, member_id, instance_id, generation) {
                Some(code) => Err(code),
                None => {
                    group.touch(member_id, now);
                    Ok(&mut group.offsets)
                }
            },
        }
    };
    match verdict {
        Ok(offsets) => {
            for topic in &mut commits {
                for p in &mut topic.partitions {
                    if p.code.is_none() {
                        offsets.insert(
                            (topic.name.clone(), p.partition),
                            CommittedOffset {
                                offset: p.offset,
                                leader_epoch: p.leader_epoch,
                                metadata: std::mem::take(&mut p.metadata),
                            },
                        );
                        p.code = Some(error_code::NONE);
                    }
                }
            }
        }
        Err(code) => {
            for p in commits.iter_mut().flat_map(|t| t.partitions.iter_mut()) {
                p.code.get_or_insert(code);
            }
        }
    }
    response(version, commits)
}

fn response(version: i16, commits: Vec<TopicCommit>) -> ResponseKind {
    let topics = commits
        .into_iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition)
                        .with_error_code(p.code.unwrap_or(error_code::NONE))
                })
                .collect();
            let response_topic = OffsetCommitResponseTopic::default().with_partitions(partitions);
            if version >= 10 {
                response_topic.with_topic_id(topic.topic_id)
            } else {
                response_topic.with_name(TopicName(str_bytes(&topic.name)))
            }
        })
        .collect();
    ResponseKind::OffsetCommit(OffsetCommitResponse::default().with_topics(topics))
}

/// The OffsetCommit response with `code` for every requested partition (for fault rules).
pub(crate) fn error_response(
    request: &OffsetCommitRequest,
    version: i16,
    code: i16,
) -> ResponseKind {
    let commits = request
        .topics
        .iter()
        .map(|topic| TopicCommit {
            name: topic.name.0.as_str().to_owned(),
            topic_id: topic.topic_id,
            partitions: topic
                .partitions
                .iter()
                .map(|p| PartitionCommit {
                    partition: p.partition_index,
                    offset: p.committed_offset,
                    leader_epoch: p.committed_leader_epoch,
                    metadata: String::new(),
                    code: Some(code),
                })
                .collect(),
        })
        .collect();
    response(version, commits)
}
