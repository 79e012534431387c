//! ConsumerGroupDescribe (API 69, v0–1): KIP-848 groups with their epochs, assignor and members.
//!
//! One result per requested id, in request order: an empty id INVALID_GROUP_ID; an unknown id, or
//! a classic group's, GROUP_ID_NOT_FOUND with Kafka's message; a consumer group its state, group
//! and assignment epochs, the assignor the group uses (the one most members asked for, else
//! `uniform`), and each member's epoch, ids, subscription, current and target assignment (topic
//! ids with names). v1 adds `member_type`: 1, a member of the consumer protocol (kmock hosts no
//! classic members in consumer groups). Authorized operations, when asked for, are every group
//! operation (no authorizer); otherwise `i32::MIN`. `client_host` is "/127.0.0.1", as in
//! DescribeGroups.
//!
//! # References
//! - Kafka `GroupMetadataManager.consumerGroupDescribe`, `ConsumerGroup.asDescribedGroup`,
//!   `ConsumerGroupMember.asConsumerGroupDescribeMember`, `GroupCoordinatorService.
//!   consumerGroupDescribe` (empty ids) (4.0); KIP-848; KIP-1099 (`member_type`, v1).

use kmock_wire::kafka_protocol::messages::consumer_group_describe_response::{
    Assignment as DescribedAssignment, DescribedGroup, Member as DescribedMember, TopicPartitions,
};
use kmock_wire::kafka_protocol::messages::{
    ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, GroupId, ResponseKind, TopicName,
};

use super::group::ConsumerGroup;
use super::member::{Assignment, Member};
use crate::group::{GroupCoordinator, TopicCatalog, error_code, str_bytes};
use crate::{ResponseToken, authorized_operations};

/// The host shown for every member (kmock does not know client addresses).
const CLIENT_HOST: &str = "/127.0.0.1";

/// KIP-1099 member type of a member using the consumer protocol.
const MEMBER_TYPE_CONSUMER: i8 = 1;

fn error(group_id: &GroupId, code: i16, message: Option<String>) -> DescribedGroup {
    DescribedGroup::default()
        .with_group_id(group_id.clone())
        .with_error_code(code)
        .with_error_message(message.map(|m| str_bytes(&m)))
}

fn assignment(
    assignment: &Assignment,
    group: &ConsumerGroup,
    topics: &dyn TopicCatalog,
) -> DescribedAssignment {
    let topic_partitions = assignment
        .iter()
        .filter_map(|(topic_id, partitions)| {
            // As Kafka: a topic no longer in the metadata is left out.
            let name = topics
                .topic_name(*topic_id)
                .or_else(|| group.topic_name(*topic_id).map(str::to_owned))?;
            Some(
                TopicPartitions::default()
                    .with_topic_id(*topic_id)
                    .with_topic_name(TopicName(str_bytes(&name)))
                    .with_partitions(partitions.iter().copied().collect()),
            )
        })
        .collect();
    DescribedAssignment::default().with_topic_partitions(topic_partitions)
}

fn member(
    member: &Member,
    group: &ConsumerGroup,
    version: i16,
    topics: &dyn TopicCatalog,
) -> DescribedMember {
    let empty = Assignment::new();
    let described = DescribedMember::default()
        .with_member_id(str_bytes(&member.member_id))
        .with_instance_id(member.instance_id.as_deref().map(str_bytes))
        .with_rack_id(member.rack_id.as_deref().map(str_bytes))
        .with_member_epoch(member.member_epoch)
        .with_client_id(str_bytes(&member.client_id))
        .with_client_host(str_bytes(CLIENT_HOST))
        .with_subscribed_topic_names(
            member
                .subscribed_topic_names
                .iter()
                .map(|name| TopicName(str_bytes(name)))
                .collect(),
        )
        .with_subscribed_topic_regex(member.subscribed_topic_regex.as_deref().map(str_bytes))
        .with_assignment(assignment(&member.assigned, group, topics))
        .with_target_assignment(assignment(
            group.target.get(&member.member_id).unwrap_or(&empty),
            group,
            topics,
        ));
    if version >= 1 {
        described.with_member_type(MEMBER_TYPE_CONSUMER)
    } else {
        described
    }
}

fn describe(
    coordinator: &GroupCoordinator,
    group_id: &GroupId,
    version: i16,
    operations: i32,
    topics: &dyn TopicCatalog,
) -> DescribedGroup {
    let id = group_id.as_str();
    if id.is_empty() {
        return error(group_id, error_code::INVALID_GROUP_ID, None);
    }
    let Some(group) = coordinator.consumer_groups.get(id) else {
        let message = if coordinator.groups.contains_key(id) {
            format!("Group {id} is not a consumer group")
        } else {
            format!("Group {id} not found.")
        };
        return error(group_id, error_code::GROUP_ID_NOT_FOUND, Some(message));
    };
    DescribedGroup::default()
        .with_group_id(group_id.clone())
        .with_group_state(str_bytes(group.state().name()))
        .with_group_epoch(group.group_epoch)
        .with_assignment_epoch(group.assignment_epoch)
        .with_assignor_name(str_bytes(group.preferred_assignor()))
        .with_members(
            group
                .members
                .values()
                .map(|m| member(m, group, version, topics))
                .collect(),
        )
        .with_authorized_operations(operations)
}

/// Handles ConsumerGroupDescribe. See the module docs.
pub(crate) fn handle(
    coordinator: &GroupCoordinator,
    token: &ResponseToken,
    request: &ConsumerGroupDescribeRequest,
    topics: &dyn TopicCatalog,
) -> ResponseKind {
    let operations = authorized_operations::if_requested(
        request.include_authorized_operations,
        authorized_operations::GROUP,
    );
    let groups = request
        .group_ids
        .iter()
        .map(|id| describe(coordinator, id, token.api_version, operations, topics))
        .collect();
    ResponseKind::ConsumerGroupDescribe(
        ConsumerGroupDescribeResponse::default().with_groups(groups),
    )
}

/// The response with `code` for every requested group (for fault rules).
pub(crate) fn error_response(request: &ConsumerGroupDescribeRequest, code: i16) -> ResponseKind {
    let groups = request
        .group_ids
        .iter()
        .map(|id| error(id, code, None))
        .collect();
    ResponseKind::ConsumerGroupDescribe(
        ConsumerGroupDescribeResponse::default().with_groups(groups),
    )
}
