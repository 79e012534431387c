//! kmock's mock Kafka broker: a broker that real Kafka clients accept, in one line of a test.
//!
//! ```toml
//! [dev-dependencies]
//! kmock-broker = { path = "../kmock/crates/broker" }   # or a git dependency
//! ```
//!
//! [`MockBroker::start`] binds `127.0.0.1` on a free port with test defaults (no initial
//! rebalance delay, topics auto-created); point any client at [`MockBroker::bootstrap_servers`].
//! Faults, the request log, topics, groups and reset hang off the same value, and dropping it
//! shuts the broker down:
//!
//! ```
//! use kmock_broker::{ApiKey, MockBroker, RequestFilter};
//! use kmock_client::{Cluster, Producer, Settings, TcpConnector};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let broker = MockBroker::start().await?;
//!
//! let settings = Settings {
//!     bootstrap_servers: vec![broker.bootstrap_servers()],
//!     ..Settings::default()
//! };
//! let cluster = Cluster::connect(settings, TcpConnector).await?;
//! let producer = Producer::new(cluster.clone());
//! producer.publish("events", Some(b"key"), b"value", &[]).await?;
//!
//! // The second Produce fails once with a retriable error; the producer retries it.
//! broker.add_fault("produce:error=not_leader_or_follower,once").await?;
//! producer.publish("events", Some(b"key"), b"again", &[]).await?;
//!
//! let produces = broker
//!     .requests_matching(RequestFilter::new().api(ApiKey::Produce))
//!     .await?;
//! assert_eq!(produces.len(), 3);
//! assert!(produces[1].fault.is_some(), "{:?}", produces[1]);
//! assert_eq!(broker.topics().await?[0].high_watermarks, [2]);
//! cluster.close().await;
//! # Ok(())
//! # }
//! ```
//!
//! [`MockBroker::builder`] sets every [`BrokerConfig`] setting, topics and fault rules to start
//! with (restored by [`MockBroker::reset`]); [`MockBroker::start_blocking`] runs the broker on a
//! runtime of its own for plain `#[test]`s and synchronous clients such as the `rdkafka` crate
//! ([`BlockingMockBroker`]). The fault grammar is `docs/fault-spec.md` in the repository.
//!
//! # Modules
//! - [`mock`]: [`MockBroker`], its builder, the blocking variant, errors and the request filter.
//! - [`server`]: the tokio driver that owns a [`kmock_core::BrokerCore`], accepts connections from
//!   a TCP listener or an in-memory listener, and wakes the core at its deadlines with
//!   `tokio::time`. `MockBroker` is built on it; the simulation drives it directly.
//! - The core itself (requests, groups, logs, faults, the request log) is the `kmock-core` crate,
//!   which cannot reach tokio; the types a driver's user needs are re-exported here.

pub mod mock;
pub mod server;

pub use kmock_core::fault::FaultRuleStatus;
pub use kmock_core::group::consumer::{
    ConsumerGroupState, ConsumerGroupSummary, ConsumerMemberSummary, MemberState,
};
pub use kmock_core::group::{GroupState, GroupSummary, MemberSummary};
pub use kmock_core::log::{PartitionCleanup, RetentionReport, TopicSummary};
pub use kmock_core::request_log::LogEntry;
pub use kmock_core::txn::{TransactionState, TransactionSummary};
pub use kmock_core::{
    BrokerConfig, BrokerCore, ConfigError, ConnectionId, FaultAction, FaultRule, FaultRuleId,
    FaultSpecError, Output, ResetReport,
};
pub use kmock_wire::kafka_protocol::messages::ApiKey;
pub use mock::{
    BlockingMockBroker, IntoFaultRule, MockBroker, MockBrokerBuilder, MockBrokerError,
    RequestFilter, Startup,
};
