//! kmock's Kafka client: settings, a shared cluster handle, a producer, a group consumer and a
//! consumer pool.
//!
//! The client speaks the Kafka protocol through `kmock-wire`, is generic over the byte stream
//! (TCP, or the in-memory network of the simulation, through a [`Connector`]), and takes all time
//! from `tokio::time`, so it runs unchanged in paused virtual time. It spawns tasks only with
//! `tokio::spawn` and works on a current-thread runtime.
//!
//! - [`settings`]: typed settings from the environment or an env file (`.env.test`).
//! - [`transport`]: how connections are opened ([`TcpConnector`], [`FnConnector`]).
//! - [`connection`]: one framed connection: correlation ids, request/response, timeouts.
//! - [`cluster`]: the shared broker handle: bootstrap, version negotiation, metadata, per-node
//!   connections, coordinator lookup, reconnects.
//! - [`partitioner`]: Kafka's murmur2 partitioner.
//! - [`producer`]: a thin producer over the cluster handle.
//! - [`transactional`]: an idempotent, transactional producer (begin, send, send_offsets, commit,
//!   abort).
//! - [`consumer`]: a classic consumer-group member (join, sync, heartbeat, fetch, commit, leave).
//! - [`pool`]: N consumers of one group, started and stopped concurrently.
//! - [`error`]: the typed errors.
//!
//! # Example
//!
//! The seed's fixture shape: the test owns the cluster handle; the producer is built from it and
//! needs no cleanup; the pool is stopped (bounded by `request_timeout`), then the handle closed.
//!
//! ```no_run
//! # async fn example() -> Result<(), kmock_client::ClientError> {
//! use kmock_client::{Cluster, ConsumerPool, Producer, Settings, TcpConnector};
//!
//! let settings = Settings::from_env_file(".env.test")?;
//! let cluster = Cluster::connect(settings, TcpConnector).await?;
//! let producer = Producer::new(cluster.clone());
//! let written = producer.publish("events", Some(b"key"), b"value", &[("h", b"1")]).await?;
//! println!("partition {} offset {}", written.partition, written.offset);
//!
//! let mut pool = ConsumerPool::start(cluster.clone(), &["events"]);
//! pool.wait_stable().await?;
//! if let Some(record) = pool.recv().await {
//!     println!("{:?}", record.value);
//! }
//! pool.stop().await?;
//! cluster.close().await;
//! # Ok(())
//! # }
//! ```

pub mod cluster;
pub mod connection;
pub mod consumer;
pub mod error;
pub mod partitioner;
pub mod pool;
pub mod producer;
pub mod settings;
pub mod transactional;
pub mod transport;

pub use cluster::{Cluster, ClusterOptions, Node, TopicMetadata};
pub use connection::Connection;
pub use consumer::{Consumer, ConsumerRecord, MemberState, STOP_GUARD};
pub use error::ClientError;
pub use pool::ConsumerPool;
pub use producer::{Producer, RecordMetadata};
pub use settings::{
    Acks, AssignmentStrategy, AutoOffsetReset, GroupProtocol, Settings, SettingsError,
    SettingsWarning,
};
pub use transactional::{GroupMember, TransactionalProducer};
pub use transport::{Connector, FnConnector, TcpConnector};
