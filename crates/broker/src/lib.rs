//! kmock's mock Kafka broker: the tokio driver around the pure core.
//!
//! - [`server`]: the tokio driver that owns a [`kmock_core::BrokerCore`], accepts connections from a
//!   TCP listener or an in-memory listener, and wakes the core at its deadlines with `tokio::time`.
//! - The core itself (requests, groups, logs, faults, the request log) is the `kmock-core` crate,
//!   which cannot reach tokio; the types a driver's user needs are re-exported here.

pub mod server;

pub use kmock_core::{
    BrokerConfig, BrokerCore, ConfigError, ConnectionId, FaultAction, FaultRule, FaultRuleId,
    FaultSpecError, Output,
};
