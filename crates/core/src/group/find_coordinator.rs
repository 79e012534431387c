//! FindCoordinator (API 10, v0–6): where each group's or transactional id's coordinator is —
//! the leader of the `__consumer_offsets` or `__transaction_state` partition the key hashes to
//! (see [`crate::cluster`]; with one broker, this broker), or COORDINATOR_NOT_AVAILABLE when that
//! partition has no leader. Any broker answers.
//!
//! v0–3 carry one `key` (v1+ with `key_type`: 0 group, 1 transaction); v4+ carry a batch of
//! `coordinator_keys` and get one `coordinators[]` entry per key. A key type other than 0 or 1
//! gets INVALID_REQUEST.
//!
//! # References
//! - KIP-98 (`key_type`, transaction coordinators), KIP-699 (batched lookups, v4+).

use kmock_wire::kafka_protocol::messages::find_coordinator_response::Coordinator;
use kmock_wire::kafka_protocol::messages::{
    BrokerId, FindCoordinatorRequest, FindCoordinatorResponse, ResponseKind,
};
use kmock_wire::kafka_protocol::protocol::StrBytes;

use super::{GroupCoordinator, TopicCatalog, error_code, str_bytes};
use crate::ResponseToken;
use crate::cluster::CoordinatorKind;

/// Key type of a consumer group.
const KEY_TYPE_GROUP: i8 = 0;
/// Key type of a transactional id.
const KEY_TYPE_TRANSACTION: i8 = 1;

/// Where a key's coordinator is, or an error code.
struct Answer {
    code: i16,
    node_id: i32,
    host: String,
    port: i32,
}

impl Answer {
    fn error(code: i16) -> Self {
        Self {
            code,
            node_id: -1,
            host: String::new(),
            port: -1,
        }
    }
}

fn response(
    request: &FindCoordinatorRequest,
    version: i16,
    answer: impl Fn(&str) -> Answer,
) -> ResponseKind {
    if version >= 4 {
        let coordinators = request
            .coordinator_keys
            .iter()
            .map(|key| {
                let a = answer(key);
                Coordinator::default()
                    .with_key(key.clone())
                    .with_node_id(BrokerId(a.node_id))
                    .with_host(str_bytes(&a.host))
                    .with_port(a.port)
                    .with_error_code(a.code)
                    .with_error_message(error_message(a.code))
            })
            .collect();
        return ResponseKind::FindCoordinator(
            FindCoordinatorResponse::default().with_coordinators(coordinators),
        );
    }
    let a = answer(&request.key);
    let mut response = FindCoordinatorResponse::default()
        .with_error_code(a.code)
        .with_node_id(BrokerId(a.node_id))
        .with_host(str_bytes(&a.host))
        .with_port(a.port);
    if version >= 1 {
        response.error_message = error_message(a.code);
    }
    ResponseKind::FindCoordinator(response)
}

fn error_message(code: i16) -> Option<StrBytes> {
    (code != error_code::NONE).then(|| str_bytes(&format!("error code {code}")))
}

/// Handles FindCoordinator. See the module docs.
pub(crate) fn handle(
    coordinator: &GroupCoordinator,
    token: &ResponseToken,
    request: &FindCoordinatorRequest,
    topics: &dyn TopicCatalog,
) -> ResponseKind {
    let settings = &coordinator.settings;
    let kind = match request.key_type {
        KEY_TYPE_GROUP => Some(CoordinatorKind::Group),
        KEY_TYPE_TRANSACTION => Some(CoordinatorKind::Transaction),
        _ => None,
    };
    response(request, token.api_version, |key| {
        let Some(kind) = kind else {
            return Answer::error(error_code::INVALID_REQUEST);
        };
        let Some(cluster) = topics.cluster() else {
            return Answer {
                code: error_code::NONE,
                node_id: settings.node_id,
                host: settings.host.clone(),
                port: settings.port,
            };
        };
        match cluster.coordinator(key, kind) {
            Some(broker) => Answer {
                code: error_code::NONE,
                node_id: broker.node_id,
                host: broker.host.clone(),
                port: broker.port,
            },
            None => Answer::error(error_code::COORDINATOR_NOT_AVAILABLE),
        }
    })
}

/// The FindCoordinator response carrying `code` (top level for v0–3, per key for v4+).
pub(crate) fn error_response(
    request: &FindCoordinatorRequest,
    version: i16,
    code: i16,
) -> ResponseKind {
    response(request, version, |_| Answer::error(code))
}
