//! What a caller of [`MockBroker`](super::MockBroker) can get wrong, and what can fail around it.

use std::io;

use kmock_core::cluster::ClusterError;
use kmock_core::{ConfigError, CreateTopicError, FaultRule, FaultRuleId, FaultSpecError};

use crate::server::BrokerStopped;

/// Why a [`MockBroker`](super::MockBroker) call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MockBrokerError {
    /// A configuration setting makes no sense.
    #[error("invalid broker configuration: {0}")]
    Config(#[from] ConfigError),
    /// A fault spec string does not parse (grammar: `docs/fault-spec.md`).
    #[error(transparent)]
    FaultSpec(#[from] FaultSpecError),
    /// A start topic cannot be created.
    #[error("cannot create topic {name:?} with {partitions} partitions: {source}")]
    Topic {
        /// The topic name.
        name: String,
        /// The partitions asked for.
        partitions: i32,
        /// Why (its `code()` is the Kafka error CreateTopics would answer with).
        source: CreateTopicError,
    },
    /// No fault rule has this id (removed already, or never installed).
    #[error("no fault {0}")]
    UnknownFault(FaultRuleId),
    /// The listening socket cannot be bound or read.
    #[error("cannot listen: {0}")]
    Bind(#[source] io::Error),
    /// `start` was awaited outside a tokio runtime (use `start_blocking` there).
    #[error(
        "MockBroker::start needs a tokio runtime (#[tokio::test]); outside one use MockBroker::start_blocking"
    )]
    NoRuntime,
    /// The runtime thread of a blocking broker cannot be started.
    #[error("cannot start the broker's runtime thread: {0}")]
    RuntimeThread(#[source] io::Error),
    /// The broker has shut down.
    #[error("the broker has stopped")]
    Stopped,
    /// A cluster operation names an unknown broker or partition, or cannot be done.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// `listeners` gave a number of listeners other than `brokers`.
    #[error("{listeners} listener(s) given for {brokers} broker(s)")]
    ListenerCount {
        /// Listeners given.
        listeners: usize,
        /// Brokers configured.
        brokers: i32,
    },
}

impl From<BrokerStopped> for MockBrokerError {
    fn from(BrokerStopped: BrokerStopped) -> Self {
        MockBrokerError::Stopped
    }
}

/// A fault rule, or a spec string that parses into one (`"leave_group:delay=60s"`).
pub trait IntoFaultRule {
    /// The rule, or why the spec does not parse.
    fn into_fault_rule(self) -> Result<FaultRule, FaultSpecError>;
}

impl IntoFaultRule for FaultRule {
    fn into_fault_rule(self) -> Result<FaultRule, FaultSpecError> {
        Ok(self)
    }
}

impl IntoFaultRule for &str {
    fn into_fault_rule(self) -> Result<FaultRule, FaultSpecError> {
        self.parse()
    }
}

impl IntoFaultRule for String {
    fn into_fault_rule(self) -> Result<FaultRule, FaultSpecError> {
        self.parse()
    }
}

impl IntoFaultRule for &String {
    fn into_fault_rule(self) -> Result<FaultRule, FaultSpecError> {
        self.parse()
    }
}
