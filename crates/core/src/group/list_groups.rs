//! ListGroups (API 16, v0–5): every group this coordinator holds, in group id order.
//!
//! v4+ filter by state (`states_filter`, case-insensitive, empty = all) and report `group_state`;
//! v5 filters by type (`types_filter`, case-insensitive, empty = all) and reports `group_type`:
//! "classic", or "consumer" for KIP-848 consumer groups (protocol type "consumer", states Empty,
//! Assigning, Reconciling, Stable). Both kinds are listed together in group id order. Groups that
//! only hold committed offsets are listed (Empty), as in Kafka.
//!
//! # References
//! - KIP-518 (state filter, v4+), KIP-848 (type filter, v5).

use kmock_wire::kafka_protocol::messages::list_groups_response::ListedGroup;
use kmock_wire::kafka_protocol::messages::{
    GroupId, ListGroupsRequest, ListGroupsResponse, ResponseKind,
};

use super::{GroupCoordinator, str_bytes};
use crate::ResponseToken;

/// The type of classic groups.
const GROUP_TYPE_CLASSIC: &str = "classic";
/// The type, and protocol type, of KIP-848 consumer groups.
const GROUP_TYPE_CONSUMER: &str = "consumer";

/// A group as ListGroups shows it.
struct Listed<'a> {
    group_id: &'a str,
    protocol_type: &'a str,
    state: &'static str,
    group_type: &'static str,
}

/// Handles ListGroups. See the module docs.
pub(crate) fn handle(
    coordinator: &GroupCoordinator,
    token: &ResponseToken,
    request: &ListGroupsRequest,
) -> ResponseKind {
    let version = token.api_version;
    let classic = coordinator.groups.values().map(|group| Listed {
        group_id: &group.id,
        protocol_type: group.protocol_type.as_deref().unwrap_or_default(),
        state: group.state.name(),
        group_type: GROUP_TYPE_CLASSIC,
    });
    let consumer = coordinator.consumer_groups.values().map(|group| Listed {
        group_id: &group.id,
        protocol_type: GROUP_TYPE_CONSUMER,
        state: group.state().name(),
        group_type: GROUP_TYPE_CONSUMER,
    });
    let mut all: Vec<Listed<'_>> = classic.chain(consumer).collect();
    all.sort_by(|a, b| a.group_id.cmp(b.group_id));
    let groups = all
        .into_iter()
        .filter(|group| {
            version < 5
                || request.types_filter.is_empty()
                || request
                    .types_filter
                    .iter()
                    .any(|t| t.as_str().trim().eq_ignore_ascii_case(group.group_type))
        })
        .filter(|group| {
            version < 4
                || request.states_filter.is_empty()
                || request
                    .states_filter
                    .iter()
                    .any(|s| s.as_str().trim().eq_ignore_ascii_case(group.state))
        })
        .map(|group| {
            let listed = ListedGroup::default()
                .with_group_id(GroupId(str_bytes(group.group_id)))
                .with_protocol_type(str_bytes(group.protocol_type));
            let listed = if version >= 4 {
                listed.with_group_state(str_bytes(group.state))
            } else {
                listed
            };
            if version >= 5 {
                listed.with_group_type(str_bytes(group.group_type))
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
