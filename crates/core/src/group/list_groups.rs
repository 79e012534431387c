//! ListGroups (API 16, v0–5): every group this coordinator holds, in group id order.
//!
//! v4+ filter by state (`states_filter`, case-insensitive, empty = all) and report `group_state`;
//! v5 filters by type (`types_filter`, case-insensitive, empty = all) and reports `group_type`,
//! which is always "classic" here. Groups that only hold committed offsets are listed (Empty),
//! as in Kafka.
//!
//! # References
//! - KIP-518 (state filter, v4+), KIP-848 (type filter, v5).

use kmock_wire::kafka_protocol::messages::list_groups_response::ListedGroup;
use kmock_wire::kafka_protocol::messages::{
    GroupId, ListGroupsRequest, ListGroupsResponse, ResponseKind,
};

use super::{GroupCoordinator, str_bytes};
use crate::ResponseToken;

/// The type of every group kmock holds.
const GROUP_TYPE_CLASSIC: &str = "classic";

/// Handles ListGroups. See the module docs.
pub(crate) fn handle(
    coordinator: &GroupCoordinator,
    token: &ResponseToken,
    request: &ListGroupsRequest,
) -> ResponseKind {
    let version = token.api_version;
    let type_ok = version < 5
        || request.types_filter.is_empty()
        || request
            .types_filter
            .iter()
            .any(|t| t.as_str().eq_ignore_ascii_case(GROUP_TYPE_CLASSIC));
    let groups = coordinator
        .groups
        .values()
        .filter(|_| type_ok)
        .filter(|group| {
            version < 4
                || request.states_filter.is_empty()
                || request
                    .states_filter
                    .iter()
                    .any(|s| s.as_str().eq_ignore_ascii_case(group.state.name()))
        })
        .map(|group| {
            let listed = ListedGroup::default()
                .with_group_id(GroupId(str_bytes(&group.id)))
                .with_protocol_type(str_bytes(
                    group.protocol_type.as_deref().unwrap_or_default(),
                ));
            let listed = if version >= 4 {
                listed.with_group_state(str_bytes(group.state.name()))
            } else {
                listed
            };
            if version >= 5 {
                listed.with_group_type(str_bytes(GROUP_TYPE_CLASSIC))
            } else {
                listed
            }
        })
        .collect();
    ResponseKind::ListGroups(ListGroupsResponse::default().with_groups(groups))
}

/// The ListGroups response carrying `code` and no groups (for fault rules).
pub(crate) fn error_response(code: i16) -> ResponseKind {
    ResponseKind::ListGroups(ListGroupsResponse::default().with_error_code(code))
}
