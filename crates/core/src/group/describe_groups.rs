//! DescribeGroups (API 15, v0–6): state, protocol and members of groups.
//!
//! As Kafka's group summary: in Stable the chosen protocol and each member's metadata (for that
//! protocol) and assignment are shown; in any other state the protocol is "" and members carry no
//! metadata or assignment. An unknown group is described as state "Dead" with no error, except v6+
//! which answers GROUP_ID_NOT_FOUND. A KIP-848 consumer group's id is described the same way (v6+:
//! "Group X is not a classic group."); ConsumerGroupDescribe describes it. kmock does not know client addresses: `client_host` is
//! "/127.0.0.1". Authorized operations (v3+), when `include_authorized_operations` asks for them,
//! are every group operation, as Kafka reports them without an authorizer, on each group described
//! without an error (see [`crate::authorized_operations`]); otherwise `i32::MIN`.
//!
//! # References
//! - Kafka `GroupCoordinator.handleDescribeGroup`, `GroupMetadata.summary`,
//!   `KafkaApis.handleDescribeGroupsRequest` (authorized operations).
//! - KIP-430 (authorized operations, v3+), KIP-345 (instance ids, v4+), KIP-1043 (v6 errors).

use kmock_wire::kafka_protocol::messages::describe_groups_response::{
    DescribedGroup, DescribedGroupMember,
};
use kmock_wire::kafka_protocol::messages::{
    DescribeGroupsRequest, DescribeGroupsResponse, GroupId, ResponseKind,
};

use super::state::{Group, GroupState};
use super::{GroupCoordinator, error_code, str_bytes};
use crate::{ResponseToken, authorized_operations};

/// The host DescribeGroups shows for every member.
const CLIENT_HOST: &str = "/127.0.0.1";

fn base(group_id: &GroupId, code: i16) -> DescribedGroup {
    DescribedGroup::default()
        .with_group_id(group_id.clone())
        .with_error_code(code)
}

/// A KIP-848 consumer group's id: Kafka's `classicGroup` lookup fails and the group is described
/// as Dead; v6+ (KIP-1043) says why.
fn not_classic(group_id: &GroupId, version: i16) -> DescribedGroup {
    let described =
        base(group_id, error_code::NONE).with_group_state(str_bytes(GroupState::Dead.name()));
    if version >= 6 {
        described
            .with_error_code(error_code::GROUP_ID_NOT_FOUND)
            .with_error_message(Some(str_bytes(&format!(
                "Group {} is not a classic group.",
                group_id.as_str()
            ))))
    } else {
        described
    }
}

fn describe(group_id: &GroupId, group: Option<&Group>, version: i16) -> DescribedGroup {
    let Some(group) = group else {
        let described =
            base(group_id, error_code::NONE).with_group_state(str_bytes(GroupState::Dead.name()));
        return if version >= 6 {
            described
                .with_error_code(error_code::GROUP_ID_NOT_FOUND)
                .with_error_message(Some(str_bytes(&format!(
                    "Group {} not found.",
                    group_id.0.as_str()
                ))))
        } else {
            described
        };
    };
    let stable = group.state == GroupState::Stable;
    let protocol = if stable {
        group.protocol_name.clone().unwrap_or_default()
    } else {
        String::new()
    };
    let members = group
        .members
        .values()
        .map(|m| {
            let member = DescribedGroupMember::default()
                .with_member_id(str_bytes(&m.member_id))
                .with_client_id(str_bytes(&m.client_id))
                .with_client_host(str_bytes(CLIENT_HOST));
            let member = if stable {
                member
                    .with_member_metadata(m.metadata(&protocol))
                    .with_member_assignment(m.assignment.clone())
            } else {
                member
            };
            if version >= 4 {
                member.with_group_instance_id(m.group_instance_id.as_deref().map(str_bytes))
            } else {
                member
            }
        })
        .collect();
    base(group_id, error_code::NONE)
        .with_group_state(str_bytes(group.state.name()))
        .with_protocol_type(str_bytes(
            group.protocol_type.as_deref().unwrap_or_default(),
        ))
        .with_protocol_data(str_bytes(&protocol))
        .with_members(members)
}

/// Handles DescribeGroups. See the module docs.
pub(crate) fn handle(
    coordinator: &GroupCoordinator,
    token: &ResponseToken,
    request: &DescribeGroupsRequest,
) -> ResponseKind {
    let version = token.api_version;
    let operations = authorized_operations::if_requested(
        version >= 3 && request.include_authorized_operations,
        authorized_operations::GROUP,
    );
    let groups = request
        .groups
        .iter()
        .map(|id| {
            let described = if coordinator.consumer_groups.contains_key(id.as_str()) {
                not_classic(id, version)
            } else {
                describe(id, coordinator.groups.get(id.0.as_str()), version)
            };
            if described.error_code == error_code::NONE {
                described.with_authorized_operations(operations)
            } else {
                described
            }
        })
        .collect();
    ResponseKind::DescribeGroups(DescribeGroupsResponse::default().with_groups(groups))
}

/// The DescribeGroups response with `code` for every requested group (for fault rules).
pub(crate) fn error_response(
    request: &DescribeGroupsRequest,
    _version: i16,
    code: i16,
) -> ResponseKind {
    let groups = request.groups.iter().map(|id| base(id, code)).collect();
    ResponseKind::DescribeGroups(DescribeGroupsResponse::default().with_groups(groups))
}
