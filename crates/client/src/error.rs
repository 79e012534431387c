//! The client's typed errors: what a caller, the network, or a broker can cause.
//!
//! Kafka error codes stay data ([`ClientError::Broker`] carries the code and its name); Rust-side
//! failures (timeouts, closed connections, malformed frames) have their own variants. Nothing a
//! broker sends makes the client panic: it becomes one of these.

use std::time::Duration;

use kmock_wire::WireError;

use crate::settings::SettingsError;

/// Every error of the client crate.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The settings are invalid.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// Opening a connection failed.
    #[error("cannot connect to {address}: {reason}")]
    Connect {
        /// `host:port`.
        address: String,
        /// The I/O error.
        reason: String,
    },
    /// No bootstrap server answered.
    #[error("no bootstrap server reachable ({addresses}): {last_error}")]
    Bootstrap {
        /// The addresses tried.
        addresses: String,
        /// Why the last one failed.
        last_error: Box<ClientError>,
    },
    /// The connection closed (or failed) before the response arrived.
    #[error("connection to {address} closed: {reason}")]
    ConnectionClosed {
        /// `host:port` (or the connector's name for it).
        address: String,
        /// What happened.
        reason: String,
    },
    /// No response within the request timeout.
    #[error("{api} request to {address} timed out after {timeout:?}")]
    RequestTimeout {
        /// The API (`LeaveGroup`, ...).
        api: String,
        /// The broker.
        address: String,
        /// The bound that expired.
        timeout: Duration,
    },
    /// A frame could not be encoded or decoded.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// The broker answered with a Kafka error code.
    #[error("{api}: broker error {code} ({name}){}", message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Broker {
        /// The API.
        api: String,
        /// Kafka error code.
        code: i16,
        /// Its name (`REBALANCE_IN_PROGRESS`, ...).
        name: String,
        /// The error message, when the broker sent one.
        message: Option<String>,
    },
    /// The topic does not exist (and was not auto-created).
    #[error("unknown topic {topic}")]
    UnknownTopic {
        /// The topic.
        topic: String,
    },
    /// The broker does not implement a version of an API that this client implements.
    #[error(
        "no common version of {api}: broker {broker_min}..={broker_max}, client {client_min}..={client_max}"
    )]
    UnsupportedApi {
        /// The API.
        api: String,
        /// Broker range.
        broker_min: i16,
        /// Broker range.
        broker_max: i16,
        /// Client range.
        client_min: i16,
        /// Client range.
        client_max: i16,
    },
    /// The broker sent something that breaks the protocol (e.g. an undecodable assignment).
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// The cluster handle or consumer was closed.
    #[error("closed")]
    Closed,
    /// The group is rebalancing; the operation cannot be done now.
    #[error("the group is rebalancing")]
    RebalanceInProgress,
    /// A consumer's stop sequence (commit, LeaveGroup, close) was still running `guard` after its
    /// deadline and was aborted. The sequence bounds every step by the deadline itself, so this is
    /// a bug in it; tests treat it as a broken teardown bound.
    #[error("the stop sequence was still running {guard:?} after its deadline: aborted")]
    StopOverran {
        /// How long past the deadline the sequence was given.
        guard: Duration,
    },
}

impl ClientError {
    /// A broker error for `code` in a response to `api`.
    pub fn broker(api: &str, code: i16, message: Option<String>) -> Self {
        ClientError::Broker {
            api: api.to_owned(),
            code,
            name: error_name(code),
            message,
        }
    }

    /// The Kafka error code, if this is a broker error.
    pub fn code(&self) -> Option<i16> {
        match self {
            ClientError::Broker { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Whether this is a request timeout.
    pub fn is_timeout(&self) -> bool {
        matches!(self, ClientError::RequestTimeout { .. })
    }

    /// Whether the connection is unusable (closed, timed out, could not connect).
    pub fn is_connection_error(&self) -> bool {
        matches!(
            self,
            ClientError::ConnectionClosed { .. }
                | ClientError::RequestTimeout { .. }
                | ClientError::Connect { .. }
                | ClientError::Bootstrap { .. }
        )
    }
}

/// Kafka's name for an error code, in upper snake case (`REBALANCE_IN_PROGRESS`), from the
/// workspace's one table; `UNKNOWN(N)` for a code it does not know.
pub fn error_name(code: i16) -> String {
    kmock_wire::error_code::name(code).map_or_else(|| format!("UNKNOWN({code})"), str::to_owned)
}

/// Kafka error codes (the workspace's one table, `kmock_wire::error_code`) and how the client reads them.
pub mod codes {
    pub use kmock_wire::error_code::*;

    /// Whether a group/coordinator error means "find the coordinator again".
    pub fn is_coordinator_moved(code: i16) -> bool {
        matches!(
            code,
            COORDINATOR_NOT_AVAILABLE | NOT_COORDINATOR | COORDINATOR_LOAD_IN_PROGRESS
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_names_are_kafka_style() {
        assert_eq!(error_name(27), "REBALANCE_IN_PROGRESS");
        assert_eq!(error_name(25), "UNKNOWN_MEMBER_ID");
        assert_eq!(error_name(0), "NONE");
        let err = ClientError::broker("LeaveGroup", 16, None);
        assert_eq!(
            err.to_string(),
            "LeaveGroup: broker error 16 (NOT_COORDINATOR)"
        );
    }
}
