//! DeleteGroups (API 42, v0–2): removes empty groups and their committed offsets.
//!
//! Each distinct group id, in request order, gets one result: an unknown group
//! GROUP_ID_NOT_FOUND; a group with members (PreparingRebalance, CompletingRebalance, Stable)
//! NON_EMPTY_GROUP; an Empty group is removed with every offset committed to it (a later
//! OffsetFetch finds nothing, a later commit starts a new group) and gets NONE. KIP-394 member
//! ids handed out but never used to join do not make a group non-empty, as in Kafka. The empty
//! group id is a valid id here, as in Kafka (INVALID_GROUP_ID is only for a null id, which this
//! request cannot carry). A KIP-848 consumer group is deleted, with its offsets, when Empty, and
//! gets NON_EMPTY_GROUP otherwise.
//!
//! # References
//! - Kafka `KafkaApis.handleDeleteGroupsRequest` (distinct ids), `GroupCoordinator.
//!   handleDeleteGroups` (3.x), `GroupCoordinatorShard.deleteGroups` and `ClassicGroup.
//!   validateDeleteGroup` (4.x), `DeleteGroupsRequest.json`, `DeleteGroupsResponse.json`
//! - KIP-229 (DeleteGroups)

use indexmap::IndexSet;
use kmock_wire::kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kmock_wire::kafka_protocol::messages::{
    DeleteGroupsRequest, DeleteGroupsResponse, GroupId, ResponseKind,
};

use super::consumer::ConsumerGroupState;
use super::state::GroupState;
use super::{GroupCoordinator, error_code};

/// Handles DeleteGroups. See the module docs.
pub(crate) fn handle(
    coordinator: &mut GroupCoordinator,
    request: &DeleteGroupsRequest,
) -> ResponseKind {
    respond(request, |group_id| delete(coordinator, group_id.as_str()))
}

/// Deletes one group if it is empty; the result code.
fn delete(coordinator: &mut GroupCoordinator, group_id: &str) -> i16 {
    if let Some(group) = coordinator.consumer_groups.get(group_id) {
        // Kafka's `ConsumerGroup.validateDeleteGroup`.
        if group.state() != ConsumerGroupState::Empty {
            return error_code::NON_EMPTY_GROUP;
        }
        coordinator.consumer_groups.remove(group_id);
        tracing::debug!(group = group_id, "consumer group deleted");
        return error_code::NONE;
    }
    let Some(group) = coordinator.groups.get(group_id) else {
        return error_code::GROUP_ID_NOT_FOUND;
    };
    match group.state {
        GroupState::Empty => {
            coordinator.groups.remove(group_id);
            tracing::debug!(group = group_id, "group deleted");
            error_code::NONE
        }
        GroupState::Dead => error_code::GROUP_ID_NOT_FOUND,
        GroupState::PreparingRebalance | GroupState::CompletingRebalance | GroupState::Stable => {
            error_code::NON_EMPTY_GROUP
        }
    }
}

/// One result per distinct group id, in request order, with `code_for` each.
fn respond(
    request: &DeleteGroupsRequest,
    mut code_for: impl FnMut(&GroupId) -> i16,
) -> ResponseKind {
    let distinct: IndexSet<&GroupId> = request.groups_names.iter().collect();
    let results = distinct
        .into_iter()
        .map(|group_id| {
            DeletableGroupResult::default()
                .with_group_id(group_id.clone())
                .with_error_code(code_for(group_id))
        })
        .collect();
    ResponseKind::DeleteGroups(DeleteGroupsResponse::default().with_results(results))
}

/// The DeleteGroups response with `code` for every requested group (for fault rules).
pub(crate) fn error_response(request: &DeleteGroupsRequest, code: i16) -> ResponseKind {
    respond(request, |_| code)
}
