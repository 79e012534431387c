//! JoinGroup (API 11, v0–9): a member enters or rejoins a group; the request is parked until the
//! join phase completes (see [`super::state`]).
//!
//! Validation, in Kafka's order: empty group id → INVALID_GROUP_ID; session timeout outside the
//! broker's bounds → INVALID_SESSION_TIMEOUT; then, for a new member (empty member id): protocol
//! type or protocols incompatible with the group → INCONSISTENT_GROUP_PROTOCOL, group full →
//! GROUP_MAX_SIZE_REACHED, v4+ → MEMBER_ID_REQUIRED with a generated id (the member is *pending*
//! until it rejoins with it, and expires after its session timeout), v0–3 → added directly. For a
//! known member id: unknown group or member → UNKNOWN_MEMBER_ID; a rejoin in PreparingRebalance
//! updates the member and waits; in CompletingRebalance with unchanged metadata, or in Stable from
//! a follower with unchanged metadata, the current generation is returned at once; otherwise the
//! rejoin starts a rebalance.
//!
//! Static members (KIP-345, v5+ `group_instance_id`) join without MEMBER_ID_REQUIRED; one that
//! comes back with an empty member id while its instance id is registered replaces its old
//! incarnation (see [`rejoin_static_member`]); a known member id that does not match the
//! instance id's registration gets FENCED_INSTANCE_ID.
//!
//! v0 has no rebalance timeout: the session timeout stands in for it, as in Kafka.
//!
//! The id of a KIP-848 consumer group with members → INCONSISTENT_GROUP_PROTOCOL; an empty consumer
//! group of that id is replaced by a classic one that keeps its committed offsets (see
//! [`super::consumer`]).
//!
//! # References
//! - Kafka `GroupCoordinator.handleJoinGroup` / `doNewMemberJoinGroup` / `doCurrentMemberJoinGroup`.
//! - KIP-394: require member id for initial join group request.
//! - KIP-345 (`group_instance_id`, v5+), KIP-559 (`protocol_type` in the response, v7+),
//!   KIP-800 (`reason`, v8+), KIP-814 (`skip_assignment`, v9+; always false here).

use std::time::Duration;

use bytes::Bytes;
use kmock_wire::kafka_protocol::messages::{JoinGroupRequest, ResponseKind};

use super::answer::{JoinOutcome, join_response as response};
use super::state::{Group, GroupState, Member};
use super::{GroupCoordinator, Settings, error_code};
use crate::{BrokerTime, Completion, Reply, ResponseToken};

/// The JoinGroup response carrying `code` (for fault rules).
pub(crate) fn error_response(request: &JoinGroupRequest, version: i16, code: i16) -> ResponseKind {
    response(
        version,
        JoinOutcome::error(request.member_id.as_str(), code),
    )
}

/// What a JoinGroup asks for, validated and in the coordinator's terms.
struct JoinRequest {
    group_id: String,
    member_id: String,
    group_instance_id: Option<String>,
    protocol_type: String,
    protocols: Vec<(String, Bytes)>,
    session_timeout: Duration,
    rebalance_timeout: Duration,
}

impl JoinRequest {
    /// Kafka's first checks (`GroupCoordinator.handleJoinGroup`): a group id, and a session timeout
    /// within the broker's bounds. v0 has no rebalance timeout: the session timeout stands in.
    fn validate(request: JoinGroupRequest, version: i16, settings: &Settings) -> Result<Self, i16> {
        let group_id = request.group_id.0.as_str().to_owned();
        if group_id.is_empty() {
            return Err(error_code::INVALID_GROUP_ID);
        }
        if request.session_timeout_ms < settings.min_session_timeout_ms
            || request.session_timeout_ms > settings.max_session_timeout_ms
        {
            return Err(error_code::INVALID_SESSION_TIMEOUT);
        }
        let session_timeout = millis(request.session_timeout_ms);
        Ok(Self {
            group_id,
            member_id: request.member_id.as_str().to_owned(),
            group_instance_id: request
                .group_instance_id
                .as_ref()
                .map(|id| id.as_str().to_owned()),
            protocol_type: request.protocol_type.as_str().to_owned(),
            protocols: request
                .protocols
                .iter()
                .map(|p| (p.name.as_str().to_owned(), p.metadata.clone()))
                .collect(),
            session_timeout,
            rebalance_timeout: if version >= 1 {
                millis(request.rebalance_timeout_ms)
            } else {
                session_timeout
            },
        })
    }

    /// The member this request makes, with the join parked on `token`.
    fn into_member(self, member_id: String, token: ResponseToken, now: BrokerTime) -> Member {
        Member {
            member_id,
            group_instance_id: self.group_instance_id,
            client_id: token.client_id.to_string(),
            session_timeout: self.session_timeout,
            rebalance_timeout: self.rebalance_timeout,
            protocol_type: self.protocol_type,
            protocols: self.protocols,
            assignment: Bytes::new(),
            session_deadline: now + self.session_timeout,
            awaiting_join: Some(token),
            awaiting_sync: None,
        }
    }
}

/// A JoinGroup error answer at `version`.
fn fail(version: i16, member_id: &str, code: i16) -> Reply {
    Reply::Now(response(version, JoinOutcome::error(member_id, code)))
}

/// Handles JoinGroup. See the module docs.
pub(crate) fn handle(
    coordinator: &mut GroupCoordinator,
    token: ResponseToken,
    request: JoinGroupRequest,
    now: BrokerTime,
    out: &mut Vec<Completion>,
) -> Reply {
    let version = token.api_version;
    let member_id = request.member_id.as_str().to_owned();
    let request = match JoinRequest::validate(request, version, &coordinator.settings) {
        Ok(request) => request,
        Err(code) => return fail(version, &member_id, code),
    };
    if let Some(consumer_group) = coordinator.consumer_groups.get(&request.group_id) {
        if !consumer_group.members.is_empty() {
            // Kafka would host this member in the consumer group (online migration), which kmock
            // does not: see `consumer`.
            return fail(version, &member_id, error_code::INCONSISTENT_GROUP_PROTOCOL);
        }
        // Kafka's `maybeDeleteEmptyConsumerGroup`: the empty consumer group makes way, its
        // committed offsets stay with the id.
        let offsets = coordinator
            .consumer_groups
            .remove(&request.group_id)
            .map(|group| group.offsets)
            .unwrap_or_default();
        if let Some(group) = coordinator.group_or_create(&request.group_id) {
            group.offsets = offsets;
        }
    }
    if request.member_id.is_empty() {
        join_new_member(coordinator, token, request, now, out)
    } else {
        join_known_member(coordinator, token, request, now, out)
    }
}

/// Kafka's `doNewMemberJoinGroup`: a member with an empty member id. Refused joins leave no group
/// behind; a restarted static member takes over its old entry; v4+ dynamic members get
/// MEMBER_ID_REQUIRED (KIP-394); others join and a rebalance starts.
fn join_new_member(
    coordinator: &mut GroupCoordinator,
    token: ResponseToken,
    request: JoinRequest,
    now: BrokerTime,
    out: &mut Vec<Completion>,
) -> Reply {
    let version = token.api_version;
    let settings = coordinator.settings.clone();
    let existed = coordinator.groups.contains_key(&request.group_id);
    let new_member_id = coordinator.generate_member_id(&token.client_id);
    let Some(group) = coordinator.group_or_create(&request.group_id) else {
        return fail(version, "", error_code::COORDINATOR_NOT_AVAILABLE);
    };
    // KIP-345: a static member that restarts comes back with an empty member id.
    let replaces = request
        .group_instance_id
        .as_deref()
        .and_then(|instance_id| group.static_member_id(instance_id))
        .map(str::to_owned);
    if let Some(code) = new_member_refusal(group, &request, replaces.is_some(), &settings) {
        if !existed {
            // A refused join leaves no trace: a peer must not create groups with bad joins.
            coordinator.groups.remove(&request.group_id);
        }
        return fail(version, "", code);
    }
    if let Some(old_member_id) = replaces {
        let rejoin = StaticRejoin {
            old_member_id,
            new_member_id,
            protocols: request.protocols,
            session_timeout: request.session_timeout,
            rebalance_timeout: request.rebalance_timeout,
        };
        return rejoin_static_member(group, token, rejoin, now, &settings, out);
    }
    if version >= 4 && request.group_instance_id.is_none() {
        // KIP-394: hand out the id and wait for the member to come back with it. Static members
        // (KIP-345) are known by their instance id and join at once.
        group
            .pending_members
            .insert(new_member_id.clone(), now + request.session_timeout);
        return fail(version, &new_member_id, error_code::MEMBER_ID_REQUIRED);
    }
    let member = request.into_member(new_member_id, token, now);
    group.add_member_and_rebalance(member, now, &settings, out);
    Reply::Parked
}

/// Why a new member may not join `group`, if it may not.
fn new_member_refusal(
    group: &Group,
    request: &JoinRequest,
    replaces_static_member: bool,
    settings: &Settings,
) -> Option<i16> {
    if group.state == GroupState::Dead {
        Some(error_code::COORDINATOR_NOT_AVAILABLE)
    } else if !group.supports_protocols(&request.protocol_type, &request.protocols) {
        Some(error_code::INCONSISTENT_GROUP_PROTOCOL)
    } else if !replaces_static_member && group.size() >= settings.max_group_size {
        Some(error_code::GROUP_MAX_SIZE_REACHED)
    } else {
        None
    }
}

/// Kafka's `doCurrentMemberJoinGroup`: a member that names its member id. A KIP-394 pending member
/// joins; a member with unchanged metadata may get the current generation at once; otherwise the
/// member is updated and the group rebalances.
fn join_known_member(
    coordinator: &mut GroupCoordinator,
    token: ResponseToken,
    request: JoinRequest,
    now: BrokerTime,
    out: &mut Vec<Completion>,
) -> Reply {
    let version = token.api_version;
    let settings = coordinator.settings.clone();
    let member_id = request.member_id.clone();
    let Some(group) = coordinator.groups.get_mut(&request.group_id) else {
        return fail(version, &member_id, error_code::UNKNOWN_MEMBER_ID);
    };
    if group.state == GroupState::Dead {
        return fail(version, &member_id, error_code::COORDINATOR_NOT_AVAILABLE);
    }
    if !group.supports_protocols(&request.protocol_type, &request.protocols) {
        return fail(version, &member_id, error_code::INCONSISTENT_GROUP_PROTOCOL);
    }
    if group.pending_members.contains_key(&member_id) {
        // A pending member (KIP-394) rejoining with its id is accepted.
        let member = request.into_member(member_id, token, now);
        group.add_member_and_rebalance(member, now, &settings, out);
        return Reply::Parked;
    }
    if group.is_static_member_fenced(request.group_instance_id.as_deref(), &member_id) {
        return fail(version, &member_id, error_code::FENCED_INSTANCE_ID);
    }
    let Some(member) = group.members.get(&member_id) else {
        return fail(version, &member_id, error_code::UNKNOWN_MEMBER_ID);
    };
    let unchanged = member.matches(&request.protocols);
    let is_leader = group.is_leader(&member_id);
    let answer_now = match group.state {
        GroupState::PreparingRebalance => None,
        // The member probably missed its join response: repeat it.
        GroupState::CompletingRebalance if unchanged => Some(is_leader),
        // A follower with nothing new gets the current generation and goes on to SyncGroup; the
        // leader's rejoin always rebalances (it may know of topic changes the metadata hides).
        GroupState::Stable if unchanged && !is_leader => Some(false),
        GroupState::CompletingRebalance | GroupState::Stable => None,
        GroupState::Empty | GroupState::Dead => {
            return fail(version, &member_id, error_code::UNKNOWN_MEMBER_ID);
        }
    };
    if let Some(include_members) = answer_now {
        group.touch(&member_id, now);
        return Reply::Now(response(
            version,
            group.current_join_outcome(&member_id, include_members),
        ));
    }
    update_member_and_rebalance(group, token, request, now, &settings, out);
    Reply::Parked
}

/// Kafka's `updateMemberAndRebalance`: the member's protocols and timeouts change and its join is
/// parked for the rebalance this starts (or continues).
fn update_member_and_rebalance(
    group: &mut Group,
    token: ResponseToken,
    request: JoinRequest,
    now: BrokerTime,
    settings: &Settings,
    out: &mut Vec<Completion>,
) {
    let Some(member) = group.members.get_mut(&request.member_id) else {
        return;
    };
    member.protocols = request.protocols;
    member.session_timeout = request.session_timeout;
    member.rebalance_timeout = request.rebalance_timeout;
    member.client_id.replace_range(.., &token.client_id);
    if let Some(replaced) = member.awaiting_join.replace(token) {
        // A second JoinGroup while one is parked: the earlier one will never be answered by the
        // phase, so release it now.
        let response = response(
            replaced.api_version,
            JoinOutcome::error(&request.member_id, error_code::REBALANCE_IN_PROGRESS),
        );
        out.push(Completion {
            token: replaced,
            response: response.into(),
        });
    }
    group.maybe_prepare_rebalance(now, settings, out);
    group.poll_join(now, out);
}

/// A static member's rejoin under a new member id.
struct StaticRejoin {
    old_member_id: String,
    new_member_id: String,
    protocols: Vec<(String, Bytes)>,
    session_timeout: Duration,
    rebalance_timeout: Duration,
}

/// Kafka's `updateStaticMemberAndRebalance`: the restarted static member takes over its old
/// entry. In Stable, if the chosen protocol would not change, it gets the current generation at
/// once (with the *previous* leader id, so a restarted leader does not run a pointless
/// assignment) and no rebalance happens; otherwise, and in CompletingRebalance, the group
/// rebalances.
fn rejoin_static_member(
    group: &mut Group,
    token: ResponseToken,
    rejoin: StaticRejoin,
    now: BrokerTime,
    settings: &Settings,
    out: &mut Vec<Completion>,
) -> Reply {
    let version = token.api_version;
    let previous_leader = group.leader_id.clone().unwrap_or_default();
    let StaticRejoin {
        old_member_id,
        new_member_id,
        protocols,
        session_timeout,
        rebalance_timeout,
    } = rejoin;
    group.replace_static_member(&old_member_id, &new_member_id, out);
    let Some(member) = group.members.get_mut(&new_member_id) else {
        return Reply::Now(response(
            version,
            JoinOutcome::error(&new_member_id, error_code::UNKNOWN_MEMBER_ID),
        ));
    };
    member.protocols = protocols;
    member.session_timeout = session_timeout;
    member.rebalance_timeout = rebalance_timeout;
    member.client_id.replace_range(.., &token.client_id);
    member.session_deadline = now + session_timeout;
    match group.state {
        GroupState::Stable if group.protocol_name.as_deref() == Some(&group.next_protocol()) => {
            let mut outcome = group.current_join_outcome(&new_member_id, false);
            outcome.leader = previous_leader;
            return Reply::Now(response(version, outcome));
        }
        GroupState::Stable | GroupState::CompletingRebalance => {
            if let Some(member) = group.members.get_mut(&new_member_id) {
                member.awaiting_join = Some(token);
            }
            group.maybe_prepare_rebalance(now, settings, out);
        }
        GroupState::PreparingRebalance | GroupState::Empty | GroupState::Dead => {
            if let Some(member) = group.members.get_mut(&new_member_id) {
                member.awaiting_join = Some(token);
            }
        }
    }
    group.poll_join(now, out);
    Reply::Parked
}

/// A non-negative millisecond count as a duration.
fn millis(ms: i32) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}
