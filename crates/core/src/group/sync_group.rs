//! SyncGroup (API 14, v0–5): members fetch their assignment; the leader brings it.
//!
//! Checks, in Kafka's order: a static instance id registered to another member id →
//! FENCED_INSTANCE_ID; unknown group or member → UNKNOWN_MEMBER_ID; wrong generation →
//! ILLEGAL_GENERATION; v5 protocol type or name not the group's → INCONSISTENT_GROUP_PROTOCOL; then
//! by state: Empty → UNKNOWN_MEMBER_ID, PreparingRebalance → REBALANCE_IN_PROGRESS,
//! CompletingRebalance → parked until the leader's SyncGroup stores the assignment (members the
//! leader omits get an empty one) and answers every parked sync, Stable → the stored assignment.
//!
//! Assignments are opaque bytes passed through untouched. The wait is bounded by the pending-sync
//! deadline in [`super::state`]. A KIP-848 consumer group's id gets UNKNOWN_MEMBER_ID
//! (FENCED_INSTANCE_ID for an instance id held by another member id): see [`super::consumer`].
//!
//! # References
//! - Kafka `GroupCoordinator.handleSyncGroup` / `doSyncGroup`.
//! - KIP-559: protocol type and name in SyncGroup v5.

use std::collections::BTreeMap;

use bytes::Bytes;
use kmock_wire::kafka_protocol::messages::{ResponseKind, SyncGroupRequest};

use super::answer::{sync_error as error, sync_response as response};
use super::state::GroupState;
use super::{GroupCoordinator, consumer, error_code};
use crate::{BrokerTime, Completion, Reply, ResponseToken};

/// The SyncGroup response carrying `code` (for fault rules).
pub(crate) fn error_response(_request: &SyncGroupRequest, version: i16, code: i16) -> ResponseKind {
    error(version, code)
}

/// Handles SyncGroup. See the module docs.
pub(crate) fn handle(
    coordinator: &mut GroupCoordinator,
    token: ResponseToken,
    request: SyncGroupRequest,
    now: BrokerTime,
    out: &mut Vec<Completion>,
) -> Reply {
    let version = token.api_version;
    let fail = |code: i16| Reply::Now(error(version, code));
    let member_id = request.member_id.as_str();
    let instance_id = request.group_instance_id.as_ref().map(|id| id.as_str());
    if let Some(code) =
        consumer::classic_member_error(coordinator, &request.group_id, member_id, instance_id)
    {
        return fail(code);
    }
    let Some(group) = coordinator.groups.get_mut(request.group_id.0.as_str()) else {
        return fail(error_code::UNKNOWN_MEMBER_ID);
    };
    if group.state == GroupState::Dead {
        return fail(error_code::COORDINATOR_NOT_AVAILABLE);
    }
    if group.is_static_member_fenced(instance_id, member_id) {
        return fail(error_code::FENCED_INSTANCE_ID);
    }
    if !group.members.contains_key(member_id) {
        return fail(error_code::UNKNOWN_MEMBER_ID);
    }
    if request.generation_id != group.generation_id {
        return fail(error_code::ILLEGAL_GENERATION);
    }
    if let Some(protocol_type) = &request.protocol_type
        && group.protocol_type.as_deref() != Some(protocol_type.as_str())
    {
        return fail(error_code::INCONSISTENT_GROUP_PROTOCOL);
    }
    if let Some(protocol_name) = &request.protocol_name
        && group.protocol_name.as_deref() != Some(protocol_name.as_str())
    {
        return fail(error_code::INCONSISTENT_GROUP_PROTOCOL);
    }
    match group.state {
        GroupState::Empty | GroupState::Dead => fail(error_code::UNKNOWN_MEMBER_ID),
        GroupState::PreparingRebalance => fail(error_code::REBALANCE_IN_PROGRESS),
        GroupState::CompletingRebalance => {
            group.pending_sync.remove(member_id);
            if group.pending_sync.is_empty() {
                group.sync_deadline = None;
            }
            let is_leader = group.is_leader(member_id);
            let member = group
                .members
                .get_mut(member_id)
                .expect("membership checked above");
            if let Some(replaced) = member.awaiting_sync.replace(token) {
                // A second SyncGroup while one is parked: release the earlier one.
                let response = error(replaced.api_version, error_code::REBALANCE_IN_PROGRESS);
                out.push(Completion {
                    token: replaced,
                    response: response.into(),
                });
            }
            if is_leader {
                let assignments: BTreeMap<String, Bytes> = request
                    .assignments
                    .into_iter()
                    .map(|a| (a.member_id.as_str().to_owned(), a.assignment))
                    .collect();
                group.set_assignment(assignments, now, out);
            }
            Reply::Parked
        }
        GroupState::Stable => {
            group.pending_sync.remove(member_id);
            if group.pending_sync.is_empty() {
                group.sync_deadline = None;
            }
            group.touch(member_id, now);
            let assignment = group
                .members
                .get(member_id)
                .map(|m| m.assignment.clone())
                .unwrap_or_default();
            Reply::Now(response(
                version,
                error_code::NONE,
                assignment,
                group.protocol_type.as_deref(),
                group.protocol_name.as_deref(),
            ))
        }
    }
}
