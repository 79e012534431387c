//! kmock's Kafka client: settings, a shared cluster handle, a producer, a group consumer and a
//! consumer pool.
//!
//! The client speaks the Kafka protocol through `kmock-wire`, is generic over the byte stream
//! (TCP, or the in-memory network of the simulation, through a [`Connector`]), and takes all time
//! from `tokio::time`, so it runs unchanged in paused virtual time. It spawns tasks only with
//! `tokio::spawn` and works on a current-thread runtime.
//!
//! - [`settings`]: typed settings from the environment or an env file (`.env.test`).

pub mod error;
pub mod settings;

pub use error::ClientError;
pub use settings::{
    Acks, AssignmentStrategy, AutoOffsetReset, Settings, SettingsError, SettingsWarning,
};
