//! The answers the group coordinator gives to JoinGroup and SyncGroup, and their encoding.
//!
//! Both requests may be answered long after they arrive: by the handler, or by the group state
//! machine ([`super::state`]) when a join phase completes, an assignment arrives, a member is
//! removed or the group is unloaded. Both build the version-independent outcome here and encode it
//! here, so the state machine does not depend on the per-API modules (which depend on it).
//!
//! # References
//! - Kafka `GroupCoordinator.joinError` / `JoinGroupResult` / `SyncGroupResult`.

use bytes::Bytes;
use kmock_wire::kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kmock_wire::kafka_protocol::messages::{JoinGroupResponse, ResponseKind, SyncGroupResponse};

use super::str_bytes;

/// A member as the leader sees it in its JoinGroup response.
#[derive(Debug, Clone)]
pub(crate) struct JoinedMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    /// The member's metadata for the chosen protocol, passed through untouched.
    pub metadata: Bytes,
}

/// The content of a JoinGroup response, independent of the version.
#[derive(Debug, Clone)]
pub(crate) struct JoinOutcome {
    pub error_code: i16,
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub member_id: String,
    /// All members for the leader, empty for followers.
    pub members: Vec<JoinedMember>,
}

impl JoinOutcome {
    /// An error answer, as Kafka's `joinError` builds it.
    pub fn error(member_id: &str, code: i16) -> Self {
        Self {
            error_code: code,
            generation_id: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            member_id: member_id.to_owned(),
            members: Vec::new(),
        }
    }
}

/// The JoinGroup response for `outcome` at `version` (only fields the version has are set).
pub(crate) fn join_response(version: i16, outcome: JoinOutcome) -> ResponseKind {
    let members = outcome
        .members
        .into_iter()
        .map(|m| {
            let member = JoinGroupResponseMember::default()
                .with_member_id(str_bytes(&m.member_id))
                .with_metadata(m.metadata);
            if version >= 5 {
                member.with_group_instance_id(m.group_instance_id.as_deref().map(str_bytes))
            } else {
                member
            }
        })
        .collect();
    let mut response = JoinGroupResponse::default()
        .with_error_code(outcome.error_code)
        .with_generation_id(outcome.generation_id)
        .with_leader(str_bytes(&outcome.leader))
        .with_member_id(str_bytes(&outcome.member_id))
        .with_members(members);
    // protocol_name is nullable only from v7; before that an absent protocol is "".
    response.protocol_name = if version >= 7 {
        outcome.protocol_name.as_deref().map(str_bytes)
    } else {
        Some(str_bytes(
            outcome.protocol_name.as_deref().unwrap_or_default(),
        ))
    };
    if version >= 7 {
        response.protocol_type = outcome.protocol_type.as_deref().map(str_bytes);
    }
    ResponseKind::JoinGroup(response)
}

/// A SyncGroup response at `version`.
pub(crate) fn sync_response(
    version: i16,
    code: i16,
    assignment: Bytes,
    protocol_type: Option<&str>,
    protocol_name: Option<&str>,
) -> ResponseKind {
    let mut response = SyncGroupResponse::default()
        .with_error_code(code)
        .with_assignment(assignment);
    if version >= 5 {
        response.protocol_type = protocol_type.map(str_bytes);
        response.protocol_name = protocol_name.map(str_bytes);
    }
    ResponseKind::SyncGroup(response)
}

/// A SyncGroup error response (empty assignment, no protocol).
pub(crate) fn sync_error(version: i16, code: i16) -> ResponseKind {
    sync_response(version, code, Bytes::new(), None, None)
}
