//! OffsetFetch (API 9, v1–10): read committed offsets.
//!
//! v1–7 ask for one group (`group_id`, `topics`), v8+ for a batch (`groups[]`). Null topics (v2+)
//! mean every partition the group has committed. A partition without a committed offset, and any
//! partition of an unknown group, gets offset -1, metadata "" and no error. The top-level
//! `error_code` exists in v2–7 only; v8+ has one per group. v10 names topics by id (the crate's
//! request decoder stops at v9; the response side is handled anyway). The v9 member id and epoch
//! are checked for KIP-848 consumer groups only (UNKNOWN_MEMBER_ID, STALE_MEMBER_EPOCH as the
//! group's error, no topics: see [`super::consumer`]), as Kafka's `ClassicGroup` ignores them.
//! With `require_stable` (v7+, KIP-447) a partition whose offset a transaction has pending gets
//! UNSTABLE_OFFSET_COMMIT.
//!
//! # References
//! - Kafka `GroupCoordinator.handleFetchOffsets`, `GroupMetadataManager.getOffsets`.
//! - KIP-88 (null topics = all), KIP-709 (batched groups, v8+), KIP-516 (topic ids), KIP-447
//!   (`require_stable`).

use std::collections::BTreeMap;

use kmock_wire::kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kmock_wire::kafka_protocol::messages::{
    GroupId, OffsetFetchRequest, OffsetFetchResponse, ResponseKind, TopicName,
};

use super::state::CommittedOffset;
use super::{GroupCoordinator, TopicCatalog, consumer, error_code, str_bytes};
use crate::ResponseToken;

/// Offset Kafka returns for a partition without a committed offset.
const NO_OFFSET: i64 = -1;

/// One partition's answer.
struct FetchedPartition {
    partition: i32,
    offset: i64,
    leader_epoch: i32,
    metadata: String,
    code: i16,
}

/// One topic's answer.
struct FetchedTopic {
    name: String,
    partitions: Vec<FetchedPartition>,
}

/// One group's answer.
struct FetchedGroup {
    group_id: String,
    code: i16,
    topics: Vec<FetchedTopic>,
}

/// What one group asks for: `None` = everything committed.
type Wanted = Option<Vec<(String, Vec<i32>)>>;

fn wanted(request: &OffsetFetchRequest, version: i16) -> Vec<(String, Wanted)> {
    if version >= 8 {
        request
            .groups
            .iter()
            .map(|group| {
                let topics = group.topics.as_ref().map(|topics| {
                    topics
                        .iter()
                        .map(|t| (t.name.0.as_str().to_owned(), t.partition_indexes.clone()))
                        .collect()
                });
                (group.group_id.0.as_str().to_owned(), topics)
            })
            .collect()
    } else {
        let topics = request.topics.as_ref().map(|topics| {
            topics
                .iter()
                .map(|t| (t.name.0.as_str().to_owned(), t.partition_indexes.clone()))
                .collect()
        });
        vec![(request.group_id.0.as_str().to_owned(), topics)]
    }
}

/// The member id and epoch of each group (v9+; before, none and -1).
fn members(request: &OffsetFetchRequest, version: i16) -> Vec<(Option<&str>, i32)> {
    if version >= 9 {
        request
            .groups
            .iter()
            .map(|g| (g.member_id.as_deref(), g.member_epoch))
            .collect()
    } else if version >= 8 {
        request.groups.iter().map(|_| (None, -1)).collect()
    } else {
        vec![(None, -1)]
    }
}

fn no_offset(partition: i32, code: i16) -> FetchedPartition {
    FetchedPartition {
        partition,
        offset: NO_OFFSET,
        leader_epoch: -1,
        metadata: String::new(),
        code,
    }
}

/// A group's committed offsets by (topic, partition).
type Offsets = BTreeMap<(String, i32), CommittedOffset>;

fn fetch(group_id: String, group: Option<&Offsets>, wanted: Wanted) -> FetchedGroup {
    let topics = match wanted {
        Some(topics) => topics
            .into_iter()
            .map(|(name, partitions)| {
                let partitions = partitions
                    .into_iter()
                    .map(
                        |partition| match group.and_then(|g| g.get(&(name.clone(), partition))) {
                            Some(committed) => FetchedPartition {
                                partition,
                                offset: committed.offset,
                                leader_epoch: committed.leader_epoch,
                                metadata: committed.metadata.clone(),
                                code: error_code::NONE,
                            },
                            None => no_offset(partition, error_code::NONE),
                        },
                    )
                    .collect();
                FetchedTopic { name, partitions }
            })
            .collect(),
        None => {
            let mut by_topic: BTreeMap<&str, Vec<FetchedPartition>> = BTreeMap::new();
            for ((topic, partition), committed) in group.iter().flat_map(|g| g.iter()) {
                by_topic.entry(topic).or_default().push(FetchedPartition {
                    partition: *partition,
                    offset: committed.offset,
                    leader_epoch: committed.leader_epoch,
                    metadata: committed.metadata.clone(),
                    code: error_code::NONE,
                });
            }
            by_topic
                .into_iter()
                .map(|(name, partitions)| FetchedTopic {
                    name: name.to_owned(),
                    partitions,
                })
                .collect()
        }
    };
    FetchedGroup {
        group_id,
        code: error_code::NONE,
        topics,
    }
}

/// Handles OffsetFetch. See the module docs.
pub(crate) fn handle(
    coordinator: &GroupCoordinator,
    token: &ResponseToken,
    request: &OffsetFetchRequest,
    topics: &dyn TopicCatalog,
) -> ResponseKind {
    let version = token.api_version;
    let require_stable = version >= 7 && request.require_stable;
    let members = members(request, version);
    let groups = wanted(request, version)
        .into_iter()
        .zip(members)
        .map(|((group_id, wanted), (member_id, member_epoch))| {
            let mut fetched = match coordinator.consumer_groups.get(&group_id) {
                Some(group) => match consumer::offset_fetch_error(group, member_id, member_epoch) {
                    Some(code) => FetchedGroup {
                        group_id,
                        code,
                        topics: Vec::new(),
                    },
                    None => fetch(group_id, Some(&group.offsets), wanted),
                },
                None => {
                    let group = coordinator.groups.get(&group_id).map(|g| &g.offsets);
                    fetch(group_id, group, wanted)
                }
            };
            if require_stable {
                mark_unstable(coordinator, &mut fetched);
            }
            fetched
        })
        .collect();
    response(version, groups, topics)
}

/// `require_stable` (KIP-447): a partition with a transactional offset pending gets
/// UNSTABLE_OFFSET_COMMIT and no offset, so the consumer retries until the transaction ends.
fn mark_unstable(coordinator: &GroupCoordinator, group: &mut FetchedGroup) {
    for topic in &mut group.topics {
        for partition in &mut topic.partitions {
            if coordinator.has_pending_transactional_offset(
                &group.group_id,
                &topic.name,
                partition.partition,
            ) {
                *partition = no_offset(partition.partition, error_code::UNSTABLE_OFFSET_COMMIT);
            }
        }
    }
}

fn response(version: i16, groups: Vec<FetchedGroup>, catalog: &dyn TopicCatalog) -> ResponseKind {
    if version >= 8 {
        let groups = groups
            .into_iter()
            .map(|group| {
                let topics = group
                    .topics
                    .into_iter()
                    .map(|topic| {
                        let partitions = topic
                            .partitions
                            .into_iter()
                            .map(|p| {
                                OffsetFetchResponsePartitions::default()
                                    .with_partition_index(p.partition)
                                    .with_committed_offset(p.offset)
                                    .with_committed_leader_epoch(p.leader_epoch)
                                    .with_metadata(Some(str_bytes(&p.metadata)))
                                    .with_error_code(p.code)
                            })
                            .collect();
                        let response_topic =
                            OffsetFetchResponseTopics::default().with_partitions(partitions);
                        if version >= 10 {
                            response_topic
                                .with_topic_id(catalog.topic_id(&topic.name).unwrap_or_default())
                        } else {
                            response_topic.with_name(TopicName(str_bytes(&topic.name)))
                        }
                    })
                    .collect();
                OffsetFetchResponseGroup::default()
                    .with_group_id(GroupId(str_bytes(&group.group_id)))
                    .with_error_code(group.code)
                    .with_topics(topics)
            })
            .collect();
        return ResponseKind::OffsetFetch(OffsetFetchResponse::default().with_groups(groups));
    }
    let mut response = OffsetFetchResponse::default();
    for group in groups {
        if version >= 2 {
            response.error_code = group.code;
        }
        response.topics = group
            .topics
            .into_iter()
            .map(|topic| {
                let partitions = topic
                    .partitions
                    .into_iter()
                    .map(|p| {
                        OffsetFetchResponsePartition::default()
                            .with_partition_index(p.partition)
                            .with_committed_offset(p.offset)
                            .with_committed_leader_epoch(p.leader_epoch)
                            .with_metadata(Some(str_bytes(&p.metadata)))
                            .with_error_code(p.code)
                    })
                    .collect();
                OffsetFetchResponseTopic::default()
                    .with_name(TopicName(str_bytes(&topic.name)))
                    .with_partitions(partitions)
            })
            .collect();
    }
    ResponseKind::OffsetFetch(response)
}

/// No topic ids known: fault responses for v10 carry the nil id.
struct NoTopics;

impl TopicCatalog for NoTopics {
    fn partition_count(&self, _topic: &str) -> Option<i32> {
        None
    }
    fn topic_id(&self, _topic: &str) -> Option<uuid::Uuid> {
        None
    }
    fn topic_name(&self, _topic_id: uuid::Uuid) -> Option<String> {
        None
    }
}

/// The OffsetFetch response with `code` at the top level (v2–7) or per group (v8+), and on every
/// requested partition (for fault rules).
pub(crate) fn error_response(
    request: &OffsetFetchRequest,
    version: i16,
    code: i16,
) -> ResponseKind {
    let groups = wanted(request, version)
        .into_iter()
        .map(|(group_id, wanted)| FetchedGroup {
            group_id,
            code,
            topics: wanted
                .unwrap_or_default()
                .into_iter()
                .map(|(name, partitions)| FetchedTopic {
                    name,
                    partitions: partitions.into_iter().map(|p| no_offset(p, code)).collect(),
                })
                .collect(),
        })
        .collect();
    response(version, groups, &NoTopics)
}
