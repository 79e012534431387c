//! The classic consumer-group coordinator. TODO(helper).

use std::time::Duration;

use kmock_wire::kafka_protocol::messages::{RequestKind, ResponseKind};

use super::log::LogStore;
use super::{Completion, Reply, ResponseToken};
use crate::config::BrokerConfig;

/// All groups and their committed offsets.
#[derive(Debug)]
pub struct GroupCoordinator {}

impl GroupCoordinator {
    /// An empty coordinator.
    pub fn new(_config: &BrokerConfig) -> Self {
        Self {}
    }

    /// See [`super::BrokerCore::set_advertised_address`].
    pub fn set_advertised_address(&mut self, _host: &str, _port: i32) {}

    /// Earliest deadline (join phase end, session expiry, ...).
    pub fn next_deadline(&self) -> Option<Duration> {
        None
    }

    /// Fires deadlines due at `now`; responses to parked requests go to `out`.
    pub fn handle_timeout(&mut self, _now: Duration, _out: &mut Vec<Completion>) {}

    /// Handles a group request.
    pub fn handle(
        &mut self,
        _token: ResponseToken,
        _body: RequestKind,
        _now: Duration,
        _logs: &LogStore,
        _out: &mut Vec<Completion>,
    ) -> Reply {
        Reply::Close("not implemented yet".into())
    }
}

/// The error response for a group request (for fault rules), or `None` if not a group API.
pub fn error_response(_body: &RequestKind, _api_version: i16, _code: i16) -> Option<ResponseKind> {
    None
}
