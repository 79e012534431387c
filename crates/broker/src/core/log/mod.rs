//! Topics, partition logs and the APIs that read and write them. TODO(helper).

use std::time::Duration;

use kmock_wire::kafka_protocol::messages::{RequestKind, ResponseKind};

use super::{Completion, ConnectionId, Reply, ResponseToken};
use crate::config::BrokerConfig;

/// All topics.
#[derive(Debug)]
pub struct LogStore {}

impl LogStore {
    /// No topics.
    pub fn new(_config: &BrokerConfig) -> Self {
        Self {}
    }

    /// See [`super::BrokerCore::set_advertised_address`].
    pub fn set_advertised_address(&mut self, _host: &str, _port: i32) {}

    /// Earliest deadline (parked fetches).
    pub fn next_deadline(&self) -> Option<Duration> {
        None
    }

    /// Answers fetches whose max wait has passed.
    pub fn handle_timeout(&mut self, _now: Duration, _out: &mut Vec<Completion>) {}

    /// Drops parked fetches of a closed connection.
    pub fn connection_closed(&mut self, _connection: ConnectionId) {}

    /// Partitions of `topic`, if it exists (the group coordinator checks OffsetCommit topics).
    pub fn partition_count(&self, _topic: &str) -> Option<i32> {
        None
    }

    /// Name of the topic with this id (OffsetCommit/OffsetFetch v10 address topics by id).
    pub fn topic_name(&self, _topic_id: uuid::Uuid) -> Option<&str> {
        None
    }

    /// Id of the topic with this name.
    pub fn topic_id(&self, _topic: &str) -> Option<uuid::Uuid> {
        None
    }

    /// Handles a topic/log request.
    pub fn handle(
        &mut self,
        _token: ResponseToken,
        _body: RequestKind,
        _now: Duration,
        _out: &mut Vec<Completion>,
    ) -> Reply {
        Reply::Close("not implemented yet".into())
    }
}

/// The error response for a log request (for fault rules), or `None` if not a log API.
pub fn error_response(_body: &RequestKind, _api_version: i16, _code: i16) -> Option<ResponseKind> {
    None
}
