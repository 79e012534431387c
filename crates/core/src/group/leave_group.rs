//! LeaveGroup (API 13, v0–5): members leave; the group rebalances at once.
//!
//! v0–2 carry one `member_id` and answer with a top-level error; v3+ carry `members[]` (member id,
//! KIP-345 instance id, v5 reason) and answer per member with a top-level NONE. An unknown group
//! gives each member UNKNOWN_MEMBER_ID (not GROUP_ID_NOT_FOUND). A member named by instance id
//! whose member id does not match gets FENCED_INSTANCE_ID.
//!
//! The state change happens here, when the request is handled: the member is removed and the
//! group goes to PreparingRebalance (or Empty when it was the last member) even if a fault delays
//! the *response*. A parked JoinGroup or SyncGroup of the leaving member is answered with
//! UNKNOWN_MEMBER_ID. A leaving KIP-394 pending member is simply forgotten. For a KIP-848 consumer
//! group's id every member gets UNKNOWN_MEMBER_ID (FENCED_INSTANCE_ID for an instance id held by
//! another member id, unless the member id is empty): see [`super::consumer`].
//!
//! # References
//! - Kafka `GroupCoordinator.handleLeaveGroup`, `removeMemberAndUpdateGroup`.
//! - KIP-345 (batch leave by instance id, v3+), KIP-800 (`reason`, v5).

use kmock_wire::kafka_protocol::messages::leave_group_response::MemberResponse;
use kmock_wire::kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse, ResponseKind};

use super::state::Group;
use super::{GroupCoordinator, Settings, consumer, error_code, str_bytes};
use crate::{BrokerTime, Completion, ResponseToken};

/// Who a request says is leaving: (member id, instance id).
fn identities(request: &LeaveGroupRequest, version: i16) -> Vec<(String, Option<String>)> {
    if version >= 3 {
        request
            .members
            .iter()
            .map(|m| {
                (
                    m.member_id.as_str().to_owned(),
                    m.group_instance_id
                        .as_ref()
                        .map(|id| id.as_str().to_owned()),
                )
            })
            .collect()
    } else {
        vec![(request.member_id.as_str().to_owned(), None)]
    }
}

/// The response with one code per leaving member.
fn response(version: i16, results: Vec<(String, Option<String>, i16)>) -> LeaveGroupResponse {
    if version < 3 {
        let code = results
            .first()
            .map_or(error_code::NONE, |(_, _, code)| *code);
        return LeaveGroupResponse::default().with_error_code(code);
    }
    let members = results
        .into_iter()
        .map(|(member_id, group_instance_id, code)| {
            MemberResponse::default()
                .with_member_id(str_bytes(&member_id))
                .with_group_instance_id(group_instance_id.as_deref().map(str_bytes))
                .with_error_code(code)
        })
        .collect();
    LeaveGroupResponse::default().with_members(members)
}

/// Handles LeaveGroup. See the module docs.
pub(crate) fn handle(
    coordinator: &mut GroupCoordinator,
    token: &ResponseToken,
    request: &LeaveGroupRequest,
    now: BrokerTime,
    out: &mut Vec<Completion>,
) -> ResponseKind {
    let version = token.api_version;
    let settings = coordinator.settings.clone();
    if coordinator
        .consumer_groups
        .contains_key(request.group_id.as_str())
    {
        let results = identities(request, version)
            .into_iter()
            .map(|(member_id, instance_id)| {
                let code = consumer::classic_member_error(
                    coordinator,
                    &request.group_id,
                    &member_id,
                    instance_id.as_deref().filter(|_| !member_id.is_empty()),
                )
                .unwrap_or(error_code::UNKNOWN_MEMBER_ID);
                (member_id, instance_id, code)
            })
            .collect();
        return ResponseKind::LeaveGroup(response(version, results));
    }
    let group = coordinator.groups.get_mut(request.group_id.0.as_str());
    let results = match group {
        None => identities(request, version)
            .into_iter()
            .map(|(member_id, instance_id)| (member_id, instance_id, error_code::UNKNOWN_MEMBER_ID))
            .collect(),
        Some(group) => identities(request, version)
            .into_iter()
            .map(|(member_id, instance_id)| {
                let code = leave(
                    group,
                    &member_id,
                    instance_id.as_deref(),
                    now,
                    &settings,
                    out,
                );
                (member_id, instance_id, code)
            })
            .collect(),
    };
    ResponseKind::LeaveGroup(response(version, results))
}

/// Removes one member; returns its error code.
fn leave(
    group: &mut Group,
    member_id: &str,
    instance_id: Option<&str>,
    now: BrokerTime,
    settings: &Settings,
    out: &mut Vec<Completion>,
) -> i16 {
    let target = match instance_id {
        Some(instance_id) => {
            let Some(member) = group
                .members
                .values()
                .find(|m| m.group_instance_id.as_deref() == Some(instance_id))
            else {
                return error_code::UNKNOWN_MEMBER_ID;
            };
            if !member_id.is_empty() && member.member_id != member_id {
                return error_code::FENCED_INSTANCE_ID;
            }
            member.member_id.clone()
        }
        None => member_id.to_owned(),
    };
    if group.pending_members.contains_key(&target) {
        group.remove_pending_member(&target, now, out);
        return error_code::NONE;
    }
    if !group.members.contains_key(&target) {
        return error_code::UNKNOWN_MEMBER_ID;
    }
    tracing::debug!(group = %group.id, member_id = %target, "member left");
    group.remove_member(&target, now, settings, out);
    error_code::NONE
}

/// The LeaveGroup response carrying `code`: top level, and per member for v3+.
pub(crate) fn error_response(request: &LeaveGroupRequest, version: i16, code: i16) -> ResponseKind {
    let results = identities(request, version)
        .into_iter()
        .map(|(member_id, instance_id)| (member_id, instance_id, code))
        .collect();
    let mut response = response(version, results);
    response.error_code = code;
    ResponseKind::LeaveGroup(response)
}
