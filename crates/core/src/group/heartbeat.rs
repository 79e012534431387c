//! Heartbeat (API 12, v0–4): a member keeps its session alive and learns of rebalances.
//!
//! Kafka's order: a static instance id (v3+) registered to another member id →
//! FENCED_INSTANCE_ID; unknown group or member → UNKNOWN_MEMBER_ID; wrong generation →
//! ILLEGAL_GENERATION; then by state: Empty → UNKNOWN_MEMBER_ID, PreparingRebalance →
//! REBALANCE_IN_PROGRESS (the member must rejoin), CompletingRebalance and Stable → NONE. Every
//! heartbeat from a known member with the right generation refreshes its session deadline, also
//! the one answered with REBALANCE_IN_PROGRESS. A KIP-848 consumer group's id gets
//! UNKNOWN_MEMBER_ID (FENCED_INSTANCE_ID for an instance id held by another member id): see
//! [`super::consumer`].
//!
//! # References
//! - Kafka `GroupCoordinator.handleHeartbeat`.

use kmock_wire::kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse, ResponseKind};

use super::state::GroupState;
use super::{GroupCoordinator, consumer, error_code};
use crate::{BrokerTime, ResponseToken};

/// A Heartbeat response carrying `code` (the only field besides the throttle time).
pub(crate) fn response(code: i16) -> ResponseKind {
    ResponseKind::Heartbeat(HeartbeatResponse::default().with_error_code(code))
}

/// Handles Heartbeat. See the module docs.
pub(crate) fn handle(
    coordinator: &mut GroupCoordinator,
    _token: &ResponseToken,
    request: &HeartbeatRequest,
    now: BrokerTime,
) -> ResponseKind {
    let member_id = request.member_id.as_str();
    let instance_id = request.group_instance_id.as_ref().map(|id| id.as_str());
    if let Some(code) =
        consumer::classic_member_error(coordinator, &request.group_id, member_id, instance_id)
    {
        return response(code);
    }
    let Some(group) = coordinator.groups.get_mut(request.group_id.0.as_str()) else {
        return response(error_code::UNKNOWN_MEMBER_ID);
    };
    if group.state == GroupState::Dead {
        return response(error_code::COORDINATOR_NOT_AVAILABLE);
    }
    if group.is_static_member_fenced(instance_id, member_id) {
        return response(error_code::FENCED_INSTANCE_ID);
    }
    if !group.members.contains_key(member_id) {
        return response(error_code::UNKNOWN_MEMBER_ID);
    }
    if request.generation_id != group.generation_id {
        return response(error_code::ILLEGAL_GENERATION);
    }
    match group.state {
        GroupState::Empty | GroupState::Dead => response(error_code::UNKNOWN_MEMBER_ID),
        GroupState::PreparingRebalance => {
            group.touch(member_id, now);
            response(error_code::REBALANCE_IN_PROGRESS)
        }
        GroupState::CompletingRebalance | GroupState::Stable => {
            group.touch(member_id, now);
            response(error_code::NONE)
        }
    }
}
