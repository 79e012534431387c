//! OffsetDelete (API 47, v0): removes a group's committed offsets for some partitions (KIP-496,
//! `deleteConsumerGroupOffsets`).
//!
//! Group errors come first and replace every partition result (the response then has no topics):
//! the empty group id INVALID_GROUP_ID; an unknown group GROUP_ID_NOT_FOUND; a group with members
//! whose protocol type is not "consumer" NON_EMPTY_GROUP. Then per partition: an unknown topic or
//! partition UNKNOWN_TOPIC_OR_PARTITION; a topic an active member subscribes to
//! GROUP_SUBSCRIBED_TO_TOPIC; otherwise the committed offset, if any, is removed and the result is
//! NONE. An Empty group subscribes to nothing.
//!
//! Subscriptions are read from the members' metadata for the group's protocol, parsed as Kafka's
//! consumer protocol subscription at version 0 (the prefix of every version). When they cannot be
//! known — no protocol chosen yet, or metadata that does not parse — every topic counts as
//! subscribed, as in Kafka. Kafka reads the subscriptions cached at the last generation; kmock
//! reads the current members', which differs only while a rebalance is being prepared.
//!
//! A KIP-848 consumer group has no group-level error (whatever its state); a topic its members
//! subscribe to, by name or through a resolved regex, gets GROUP_SUBSCRIBED_TO_TOPIC.
//!
//! The group stays (Empty, or with its members) when its last offset goes, as in Kafka 4, whose
//! periodic cleanup removes it later; kmock never expires groups.
//!
//! # References
//! - Kafka `KafkaApis.handleOffsetDeleteRequest` (topic checks, merged responses),
//!   `GroupCoordinatorService.deleteOffsets` (empty id), `OffsetMetadataManager.deleteOffsets`,
//!   `ClassicGroup.validateOffsetDelete` / `isSubscribedToTopic` / `computeSubscribedTopics`,
//!   `GroupCoordinator.handleDeleteOffsets` (3.x), `ConsumerGroup.validateOffsetDelete` /
//!   `isSubscribedToTopic` (4.0), `OffsetDeleteRequest.json`,
//!   `OffsetDeleteResponse.json`
//! - KIP-496 (OffsetDelete)

use std::collections::BTreeSet;

use bytes::{Buf, Bytes};
use kmock_wire::kafka_protocol::messages::ConsumerProtocolSubscription;
use kmock_wire::kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kmock_wire::kafka_protocol::messages::{
    OffsetDeleteRequest, OffsetDeleteResponse, ResponseKind,
};
use kmock_wire::kafka_protocol::protocol::Decodable;

use super::state::{Group, GroupState};
use super::{GroupCoordinator, TopicCatalog, error_code};

/// The protocol type of consumer groups.
const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

/// Which topics the group's members subscribe to; `None` when it cannot be known (then every
/// topic counts as subscribed).
type Subscriptions = Option<BTreeSet<String>>;

/// Handles OffsetDelete. See the module docs.
pub(crate) fn handle(
    coordinator: &mut GroupCoordinator,
    request: &OffsetDeleteRequest,
    topics: &dyn TopicCatalog,
) -> ResponseKind {
    if let Some(group) = coordinator
        .consumer_groups
        .get_mut(request.group_id.as_str())
    {
        // A KIP-848 consumer group: Kafka's `ConsumerGroup.validateOffsetDelete` accepts any.
        let subscribed = group.subscribed_topic_names();
        return respond(request, error_code::NONE, |topic, partition| {
            let exists = topics
                .partition_count(topic)
                .is_some_and(|count| (0..count).contains(&partition));
            if !exists {
                return error_code::UNKNOWN_TOPIC_OR_PARTITION;
            }
            if subscribed.contains(topic) {
                return error_code::GROUP_SUBSCRIBED_TO_TOPIC;
            }
            group.offsets.remove(&(topic.to_owned(), partition));
            error_code::NONE
        });
    }
    let group = match checked_group(coordinator, request.group_id.as_str()) {
        Ok(group) => group,
        Err(code) => return group_error(code),
    };
    let subscriptions = subscriptions(group);
    respond(request, error_code::NONE, |topic, partition| {
        let exists = topics
            .partition_count(topic)
            .is_some_and(|count| (0..count).contains(&partition));
        if !exists {
            return error_code::UNKNOWN_TOPIC_OR_PARTITION;
        }
        if subscriptions.as_ref().is_none_or(|set| set.contains(topic)) {
            return error_code::GROUP_SUBSCRIBED_TO_TOPIC;
        }
        group.offsets.remove(&(topic.to_owned(), partition));
        error_code::NONE
    })
}

/// The group, if offsets may be deleted from it at all; the group-level error otherwise.
fn checked_group<'a>(
    coordinator: &'a mut GroupCoordinator,
    group_id: &str,
) -> Result<&'a mut Group, i16> {
    if group_id.is_empty() {
        return Err(error_code::INVALID_GROUP_ID);
    }
    let group = coordinator
        .groups
        .get_mut(group_id)
        .ok_or(error_code::GROUP_ID_NOT_FOUND)?;
    match group.state {
        GroupState::Dead => Err(error_code::GROUP_ID_NOT_FOUND),
        GroupState::Empty => Ok(group),
        _ if group.protocol_type.as_deref() != Some(CONSUMER_PROTOCOL_TYPE) => {
            Err(error_code::NON_EMPTY_GROUP)
        }
        _ => Ok(group),
    }
}

/// Kafka's `ClassicGroup.computeSubscribedTopics` over the current members.
fn subscriptions(group: &Group) -> Subscriptions {
    if group.members.is_empty() {
        return Some(BTreeSet::new());
    }
    let protocol = group.protocol_name.as_deref()?;
    let mut topics = BTreeSet::new();
    for member in group.members.values() {
        topics.extend(subscribed_topics(member.metadata(protocol))?);
    }
    Some(topics)
}

/// The topics of a consumer protocol subscription, read at version 0; `None` if it does not
/// parse (Kafka's `ConsumerProtocol.deserializeVersion` rejects negative versions).
fn subscribed_topics(mut metadata: Bytes) -> Option<Vec<String>> {
    if metadata.remaining() < 2 || metadata.get_i16() < 0 {
        return None;
    }
    let subscription = ConsumerProtocolSubscription::decode(&mut metadata, 0).ok()?;
    Some(
        subscription
            .topics
            .iter()
            .map(|topic| topic.as_str().to_owned())
            .collect(),
    )
}

/// A response with a group-level error and no topics.
fn group_error(code: i16) -> ResponseKind {
    ResponseKind::OffsetDelete(OffsetDeleteResponse::default().with_error_code(code))
}

/// The response: `top_level` and each requested partition's `code_for(topic, partition)`, in
/// request order.
fn respond(
    request: &OffsetDeleteRequest,
    top_level: i16,
    mut code_for: impl FnMut(&str, i32) -> i16,
) -> ResponseKind {
    let topics = request
        .topics
        .iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    OffsetDeleteResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code_for(topic.name.as_str(), p.partition_index))
                })
                .collect();
            OffsetDeleteResponseTopic::default()
                .with_name(topic.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    ResponseKind::OffsetDelete(
        OffsetDeleteResponse::default()
            .with_error_code(top_level)
            .with_topics(topics),
    )
}

/// The OffsetDelete response with `code` at the top level and on every requested partition (for
/// fault rules).
pub(crate) fn error_response(request: &OffsetDeleteRequest, code: i16) -> ResponseKind {
    respond(request, code, |_, _| code)
}
