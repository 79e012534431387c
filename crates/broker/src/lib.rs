//! kmock's mock Kafka broker.
//!
//! - [`core`]: the broker as a pure state machine (no tokio, no clock, no sockets): frames and the
//!   current time go in, response frames and the next deadline come out.
//! - [`server`]: the tokio driver that owns the core, accepts connections from a TCP listener or an
//!   in-memory listener, and wakes the core at its deadlines with `tokio::time`.
//! - [`config`]: broker settings with their Kafka names and defaults.

pub mod config;
pub mod core;
pub mod server;

pub use config::{BrokerConfig, ConfigError};
pub use core::fault::{FaultAction, FaultRule, FaultRuleId, FaultSpecError};
pub use core::{BrokerCore, ConnectionId, Output};
