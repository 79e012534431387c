//! Requests for a group or transactional id that reach a broker other than its coordinator get
//! NOT_COORDINATOR, as Kafka's `GroupCoordinator` and `TransactionCoordinator` answer them (the
//! client looks the coordinator up again with FindCoordinator and resends there).
//!
//! Group APIs (JoinGroup, SyncGroup, Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch,
//! OffsetDelete, DescribeGroups, DeleteGroups, ConsumerGroupHeartbeat, ConsumerGroupDescribe)
//! and TxnOffsetCommit (which Kafka sends to the *group* coordinator) check their group ids;
//! InitProducerId (with a transactional id), AddPartitionsToTxn, AddOffsetsToTxn, EndTxn and
//! DescribeTransactions check their transactional ids. The answer is the API's error response
//! with NOT_COORDINATOR in every error field (the response a fault's `error=not_coordinator`
//! sends).
//!
//! A request naming several ids (DescribeGroups, DeleteGroups, OffsetFetch v8+,
//! ConsumerGroupDescribe, AddPartitionsToTxn v4+, DescribeTransactions) is refused when none of
//! them is coordinated here and served whole when at least one is: Kafka answers per id, but
//! clients (librdkafka, the Java admin client) group their ids by coordinator before sending,
//! so a mixed request does not occur in practice. ListGroups and ListTransactions list only the
//! groups and transactional ids the broker coordinates, as Kafka's do (admin clients ask every
//! broker and merge the answers).
//!
//! # References
//! - Kafka `GroupCoordinator.validateGroupStatus` / `isCoordinatorForGroup`,
//!   `TransactionStateManager.getTransactionState` (NOT_COORDINATOR).

use kmock_wire::error_code;
use kmock_wire::kafka_protocol::messages::{RequestKind, ResponseKind};

use super::{Cluster, CoordinatorKind};
use crate::ResponseToken;
use crate::fault::NamedIds;

/// NOT_COORDINATOR for a request whose ids are all coordinated by other brokers; `None` to serve
/// it here (see the module docs).
pub(crate) fn not_coordinator(
    cluster: &Cluster,
    token: &ResponseToken,
    body: &RequestKind,
) -> Option<ResponseKind> {
    let kind = coordinator_kind(body)?;
    let ids = NamedIds::of(body, token.api_version);
    let keys = match kind {
        CoordinatorKind::Group => ids.group_ids,
        CoordinatorKind::Transaction => ids.transactional_ids,
    };
    if keys.is_empty()
        || keys
            .iter()
            .any(|key| cluster.coordinates(token.node, key, kind))
    {
        return None;
    }
    crate::error_response(body, token.api_version, error_code::NOT_COORDINATOR)
}

/// Which coordinator serves the API, or `None` when any broker does.
fn coordinator_kind(body: &RequestKind) -> Option<CoordinatorKind> {
    Some(match body {
        RequestKind::JoinGroup(_)
        | RequestKind::SyncGroup(_)
        | RequestKind::Heartbeat(_)
        | RequestKind::LeaveGroup(_)
        | RequestKind::OffsetCommit(_)
        | RequestKind::OffsetFetch(_)
        | RequestKind::OffsetDelete(_)
        | RequestKind::DescribeGroups(_)
        | RequestKind::DeleteGroups(_)
        | RequestKind::ConsumerGroupHeartbeat(_)
        | RequestKind::ConsumerGroupDescribe(_)
        | RequestKind::TxnOffsetCommit(_) => CoordinatorKind::Group,
        RequestKind::InitProducerId(_)
        | RequestKind::AddPartitionsToTxn(_)
        | RequestKind::AddOffsetsToTxn(_)
        | RequestKind::EndTxn(_)
        | RequestKind::DescribeTransactions(_) => CoordinatorKind::Transaction,
        _ => return None,
    })
}

/// Keeps, in a ListGroups or ListTransactions response, only what the broker the request reached
/// coordinates (every other response is left as it is).
pub(crate) fn keep_own_listings(
    cluster: &Cluster,
    token: &ResponseToken,
    response: &mut ResponseKind,
) {
    match response {
        ResponseKind::ListGroups(listing) => listing.groups.retain(|group| {
            cluster.coordinates(token.node, &group.group_id, CoordinatorKind::Group)
        }),
        ResponseKind::ListTransactions(listing) => listing.transaction_states.retain(|state| {
            cluster.coordinates(
                token.node,
                &state.transactional_id,
                CoordinatorKind::Transaction,
            )
        }),
        _ => {}
    }
}
