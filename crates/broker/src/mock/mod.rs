//! [`MockBroker`]: a mock Kafka broker in one line of a test.
//!
//! The test's first line starts the broker on loopback (`127.0.0.1`, a free port, no initial
//! rebalance delay); everything else — faults, the request log, topics, groups, reset — hangs off
//! that one value, as with rdkafka's `MockCluster` or franz-go's `kfake.NewCluster`. Dropping it
//! shuts the broker down.
//!
//! This module owns the start-up wiring (build the core, advertise the bound address, create the
//! start topics and faults, spawn the TCP accept loop) and what a reset restores ([`Startup`]). It
//! decides nothing Kafka-level: that is the core's job ([`BrokerCore`]), reached through the
//! [`BrokerHandle`].
//!
//! [`MockBroker::start_blocking`] runs the same broker on a runtime of its own, on a thread of its
//! own, for plain `#[test]`s and synchronous clients (see [`BlockingMockBroker`]).

mod blocking;
mod error;
mod filter;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Mutex;

use kmock_core::fault::FaultRuleStatus;
use kmock_core::group::GroupSummary;
use kmock_core::group::consumer::ConsumerGroupSummary;
use kmock_core::log::{RetentionReport, TopicSummary};
use kmock_core::request_log::LogEntry;
use kmock_core::txn::TransactionSummary;
use kmock_core::{BrokerConfig, BrokerCore, FaultRule, FaultRuleId, ResetReport};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::server::{Broker, BrokerHandle};
pub use blocking::BlockingMockBroker;
pub use error::{IntoFaultRule, MockBrokerError};
pub use filter::RequestFilter;

/// What a broker starts with and what [`MockBroker::reset`] restores: topics and fault rules.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Startup {
    /// Topics created at start: `(name, partitions)`.
    pub topics: Vec<(String, i32)>,
    /// Fault rules installed at start, in evaluation order.
    pub faults: Vec<FaultRule>,
}

impl Startup {
    /// Creates the topics and installs the fault rules on `core`.
    fn apply(&self, core: &mut BrokerCore) -> Result<(), MockBrokerError> {
        for (name, partitions) in &self.topics {
            core.create_topic(name, *partitions)
                .map_err(|source| MockBrokerError::Topic {
                    name: name.clone(),
                    partitions: *partitions,
                    source,
                })?;
        }
        for rule in &self.faults {
            core.add_fault(rule.clone());
        }
        Ok(())
    }
}

/// A running mock broker. See the [module docs](self) and the crate docs for examples.
///
/// Every method talks to the broker task; after [`MockBroker::shutdown`] they return
/// [`MockBrokerError::Stopped`]. Dropping the value shuts the broker down without waiting (no
/// runtime is needed for that); [`MockBroker::shutdown`] waits until every connection is closed.
#[derive(Debug)]
pub struct MockBroker {
    handle: BrokerHandle,
    /// Where the broker accepts connections.
    local_addr: SocketAddr,
    /// What clients are told to connect to (Metadata, FindCoordinator).
    advertised: SocketAddr,
    startup: Startup,
    /// The TCP accept loop (taken by the first shutdown).
    accept: Mutex<Option<JoinHandle<()>>>,
}

/// Builds a [`MockBroker`]: configuration, topics and fault rules to start with.
///
/// Starts from [`BrokerConfig::default`] with `group_initial_rebalance_delay_ms` 0 (a first
/// JoinGroup completes at once, which tests want); every other setting keeps Kafka's default.
#[derive(Debug)]
#[must_use = "a builder does nothing until .start() or .start_blocking()"]
pub struct MockBrokerBuilder {
    config: BrokerConfig,
    startup: Startup,
    listener: Option<std::net::TcpListener>,
    /// The first invalid fault spec given, reported by `start`.
    error: Option<MockBrokerError>,
}

/// The configuration a [`MockBroker`] starts from: Kafka's defaults, no initial rebalance delay,
/// the broker's wall clock (LogAppendTime stamps, time-based retention) at the real time.
fn test_config() -> BrokerConfig {
    BrokerConfig {
        group_initial_rebalance_delay_ms: 0,
        wall_clock_start_unix_ms: wall_clock_unix_ms(),
        ..BrokerConfig::default()
    }
}

/// The system's wall clock in Unix milliseconds (0 before 1970), for
/// [`BrokerConfig::wall_clock_start_unix_ms`] of a broker on real sockets in real time (a
/// `MockBroker`, `kmock serve`); the simulation, which must be deterministic, never reads it.
pub fn wall_clock_unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

/// A setter for one [`BrokerConfig`] field, documented with the field's own meaning.
macro_rules! config_setters {
    ($($(#[$doc:meta])* $field:ident: $type:ty;)*) => {
        $(
            $(#[$doc])*
            pub fn $field(mut self, $field: $type) -> Self {
                self.config.$field = $field;
                self
            }
        )*
    };
}

impl MockBrokerBuilder {
    config_setters! {
        /// Node id of the broker (`node.id`, default 0).
        node_id: i32;
        /// Cluster id returned in Metadata.
        cluster_id: String;
        /// Whether Metadata creates unknown topics (`auto.create.topics.enable`, default true).
        auto_create_topics: bool;
        /// Partitions of an auto-created topic (`num.partitions`, default 1).
        default_partitions: i32;
        /// Lowest session timeout a member may ask for (`group.min.session.timeout.ms`, 6000).
        group_min_session_timeout_ms: i32;
        /// Highest session timeout a member may ask for (`group.max.session.timeout.ms`).
        group_max_session_timeout_ms: i32;
        /// How long the first join to an empty group waits (`group.initial.rebalance.delay.ms`;
        /// 0 here, Kafka's default is 3000).
        group_initial_rebalance_delay_ms: i32;
        /// Most members in one group (`group.max.size`, default 1000).
        group_max_size: usize;
        /// Session timeout of KIP-848 consumer group members
        /// (`group.consumer.session.timeout.ms`, default 45000; within the two bounds below).
        group_consumer_session_timeout_ms: i32;
        /// Lower bound of the KIP-848 session timeout (`group.consumer.min.session.timeout.ms`,
        /// default 45000): lower it with the session timeout for short test sessions.
        group_consumer_min_session_timeout_ms: i32;
        /// Upper bound of the KIP-848 session timeout (`group.consumer.max.session.timeout.ms`,
        /// default 60000).
        group_consumer_max_session_timeout_ms: i32;
        /// Heartbeat interval told to KIP-848 members (`group.consumer.heartbeat.interval.ms`,
        /// default 5000; below the session timeout, within the two bounds below).
        group_consumer_heartbeat_interval_ms: i32;
        /// Lower bound of the KIP-848 heartbeat interval
        /// (`group.consumer.min.heartbeat.interval.ms`, default 5000).
        group_consumer_min_heartbeat_interval_ms: i32;
        /// Upper bound of the KIP-848 heartbeat interval
        /// (`group.consumer.max.heartbeat.interval.ms`, default 15000).
        group_consumer_max_heartbeat_interval_ms: i32;
        /// Most members in one KIP-848 consumer group (`group.consumer.max.size`, default 1000).
        group_consumer_max_size: usize;
        /// Largest request frame accepted (`socket.request.max.bytes`, default 100 MiB).
        max_frame_bytes: usize;
        /// Entries kept in the request log (oldest evicted first; default 100,000).
        request_log_capacity: usize;
        /// Most connections served at once (`max.connections`, default 10,000).
        max_connections: usize;
        /// Seed of the broker's PRNG (fault probabilities, generated member and topic ids).
        seed: u64;
        /// The broker's wall clock at its start, in Unix ms (default: the real time at build).
        wall_clock_start_unix_ms: i64;
    }

    /// Replaces the whole configuration (e.g. one shared by several tests). The advertised host
    /// and port are always those of the bound listener.
    pub fn config(mut self, config: BrokerConfig) -> Self {
        self.config = config;
        self
    }

    /// A topic to create at start (and again at every reset).
    pub fn topic(mut self, name: impl Into<String>, partitions: i32) -> Self {
        self.startup.topics.push((name.into(), partitions));
        self
    }

    /// A fault rule to install at start (and again at every reset), after the ones given before:
    /// a spec string such as `"leave_group:delay=60s"` (grammar: `docs/fault-spec.md`) or a
    /// [`FaultRule`]. An invalid spec is reported by `start` as [`MockBrokerError::FaultSpec`].
    pub fn fault(mut self, rule: impl IntoFaultRule) -> Self {
        match rule.into_fault_rule() {
            Ok(rule) => self.startup.faults.push(rule),
            Err(error) => {
                self.error.get_or_insert(error.into());
            }
        }
        self
    }

    /// Serves this listener instead of binding `127.0.0.1:0` (e.g. a fixed port, or another
    /// interface). The listener's address is advertised, with `127.0.0.1` for an unspecified one.
    pub fn listener(mut self, listener: std::net::TcpListener) -> Self {
        self.listener = Some(listener);
        self
    }

    /// Starts the broker on the current tokio runtime (it needs the `net` and `time` drivers, as
    /// `#[tokio::test]` and `#[tokio::main]` enable).
    pub async fn start(self) -> Result<MockBroker, MockBrokerError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(MockBrokerError::NoRuntime);
        }
        if let Some(error) = self.error {
            return Err(error);
        }
        self.config.validate()?;
        let listener = match self.listener {
            Some(listener) => {
                listener
                    .set_nonblocking(true)
                    .map_err(MockBrokerError::Bind)?;
                TcpListener::from_std(listener).map_err(MockBrokerError::Bind)?
            }
            None => TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                .await
                .map_err(MockBrokerError::Bind)?,
        };
        let local_addr = listener.local_addr().map_err(MockBrokerError::Bind)?;
        let advertised = advertised_address(local_addr);
        let mut core = BrokerCore::new(self.config);
        core.set_advertised_address(&advertised.ip().to_string(), i32::from(advertised.port()));
        self.startup.apply(&mut core)?;
        let handle = Broker::start_with_core(core);
        let serving = handle.clone();
        let accept = tokio::spawn(async move { serving.serve_tcp(listener).await });
        tracing::debug!(%local_addr, %advertised, "mock broker started");
        Ok(MockBroker {
            handle,
            local_addr,
            advertised,
            startup: self.startup,
            accept: Mutex::new(Some(accept)),
        })
    }

    /// Starts the broker on a tokio runtime of its own, on a thread of its own; see
    /// [`BlockingMockBroker`].
    pub fn start_blocking(self) -> Result<BlockingMockBroker, MockBrokerError> {
        BlockingMockBroker::start(self)
    }
}

/// Clients must be able to connect to what is advertised: never `0.0.0.0` or `::`.
fn advertised_address(local: SocketAddr) -> SocketAddr {
    let ip = if local.ip().is_unspecified() {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        local.ip()
    };
    SocketAddr::new(ip, local.port())
}

impl MockBroker {
    /// Starts a broker with the test defaults: `127.0.0.1`, a free port, no initial rebalance
    /// delay, topics auto-created with one partition, no faults.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), kmock_broker::MockBrokerError> {
    /// let broker = kmock_broker::MockBroker::start().await?;
    /// assert!(broker.bootstrap_servers().starts_with("127.0.0.1:"));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn start() -> Result<Self, MockBrokerError> {
        Self::builder().start().await
    }

    /// A builder for every [`BrokerConfig`] setting, topics and fault rules.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), kmock_broker::MockBrokerError> {
    /// use kmock_broker::MockBroker;
    ///
    /// let broker = MockBroker::builder()
    ///     .topic("orders", 3)
    ///     .auto_create_topics(false)
    ///     .group_min_session_timeout_ms(1_000)
    ///     .fault("join_group:error=rebalance_in_progress,once")
    ///     .start()
    ///     .await?;
    /// assert_eq!(broker.topics().await?[0].high_watermarks, [0, 0, 0]);
    /// assert_eq!(broker.faults().await?.len(), 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn builder() -> MockBrokerBuilder {
        MockBrokerBuilder {
            config: test_config(),
            startup: Startup::default(),
            listener: None,
            error: None,
        }
    }

    /// [`MockBroker::start`] on a runtime of its own (for a plain `#[test]`, or a synchronous
    /// client such as the `rdkafka` crate's `BaseProducer`). The methods are the same, blocking.
    ///
    /// ```
    /// use kmock_broker::MockBroker;
    ///
    /// # fn main() -> Result<(), kmock_broker::MockBrokerError> {
    /// let broker = MockBroker::start_blocking()?;       // no async, no runtime of the test's
    /// let slow = broker.add_fault("fetch:hold=250ms")?;
    /// // ... point a client at broker.bootstrap_servers() ...
    /// broker.remove_fault(slow)?;
    /// assert_eq!(broker.requests()?, []);
    /// # Ok(())
    /// # }
    /// ```
    pub fn start_blocking() -> Result<BlockingMockBroker, MockBrokerError> {
        Self::builder().start_blocking()
    }

    /// `host:port` for a client's `bootstrap.servers`.
    pub fn bootstrap_servers(&self) -> String {
        self.advertised.to_string()
    }

    /// The address the broker accepts connections on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The topics and fault rules it started with, which [`MockBroker::reset`] restores.
    pub fn startup(&self) -> &Startup {
        &self.startup
    }

    /// The driver handle, for what this type does not offer (e.g. [`BrokerHandle::inspect`] to
    /// read anything from the core).
    pub fn handle(&self) -> &BrokerHandle {
        &self.handle
    }

    /// Installs a fault rule after the existing ones: a spec string such as
    /// `"join_group:error=rebalance_in_progress,once"` (grammar: `docs/fault-spec.md`) or a
    /// [`FaultRule`]. Rules are evaluated in install order; the first that applies wins.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), kmock_broker::MockBrokerError> {
    /// use kmock_broker::{MockBroker, MockBrokerError};
    ///
    /// let broker = MockBroker::start().await?;
    /// let slow_leave = broker.add_fault("leave_group:delay=60s").await?;
    /// broker.add_fault("heartbeat,group=orders:error=27,nth=3").await?;
    /// assert!(matches!(
    ///     broker.add_fault("leave_grop:delay=60s").await,
    ///     Err(MockBrokerError::FaultSpec(_)) // "unknown API ... (did you mean leave_group?)"
    /// ));
    /// let removed = broker.remove_fault(slow_leave).await?;
    /// assert_eq!(removed.to_string(), "leave_group:delay=60s");
    /// broker.clear_faults().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn add_fault(
        &self,
        rule: impl IntoFaultRule,
    ) -> Result<FaultRuleId, MockBrokerError> {
        let rule = rule.into_fault_rule()?;
        Ok(self.handle.add_fault(rule).await?)
    }

    /// Removes a fault rule; [`MockBrokerError::UnknownFault`] if no rule has this id.
    pub async fn remove_fault(&self, id: FaultRuleId) -> Result<FaultRule, MockBrokerError> {
        self.handle
            .remove_fault(id)
            .await?
            .ok_or(MockBrokerError::UnknownFault(id))
    }

    /// Removes every fault rule.
    pub async fn clear_faults(&self) -> Result<(), MockBrokerError> {
        Ok(self.handle.clear_faults().await?)
    }

    /// The installed fault rules in evaluation order, with how often each matched and applied.
    pub async fn faults(&self) -> Result<Vec<FaultRuleStatus>, MockBrokerError> {
        Ok(self.handle.faults().await?)
    }

    /// Every request in the request log, oldest first, with what became of it.
    pub async fn requests(&self) -> Result<Vec<LogEntry>, MockBrokerError> {
        self.requests_matching(RequestFilter::new()).await
    }

    /// The request log entries `filter` selects, oldest first. Each entry has the request and
    /// response bodies, the client id, the fault applied and what became of the response.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use kmock_broker::{ApiKey, MockBroker, RequestFilter};
    /// use kmock_client::{Cluster, Settings, TcpConnector};
    ///
    /// let broker = MockBroker::start().await?;
    /// let settings = Settings {
    ///     bootstrap_servers: vec![broker.bootstrap_servers()],
    ///     client_id: "billing".into(),
    ///     ..Settings::default()
    /// };
    /// let cluster = Cluster::connect(settings, TcpConnector).await?;
    /// let metadata = broker
    ///     .requests_matching(RequestFilter::new().api(ApiKey::Metadata).client_id("billing"))
    ///     .await?;
    /// assert!(!metadata.is_empty());
    /// assert_eq!(metadata[0].outcome.as_deref(), Some("sent"));
    /// cluster.close().await;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn requests_matching(
        &self,
        filter: RequestFilter,
    ) -> Result<Vec<LogEntry>, MockBrokerError> {
        Ok(self.handle.inspect(move |core| filter.select(core)).await?)
    }

    /// Every topic, in name order.
    pub async fn topics(&self) -> Result<Vec<TopicSummary>, MockBrokerError> {
        Ok(self
            .handle
            .inspect(|core| core.logs().topics().collect())
            .await?)
    }

    /// Every classic group, in group id order (KIP-848 groups: [`MockBroker::consumer_groups`]).
    pub async fn groups(&self) -> Result<Vec<GroupSummary>, MockBrokerError> {
        Ok(self
            .handle
            .inspect(|core| core.groups().groups().collect())
            .await?)
    }

    /// One classic group, if it exists.
    pub async fn group(&self, group_id: &str) -> Result<Option<GroupSummary>, MockBrokerError> {
        let group_id = group_id.to_owned();
        Ok(self
            .handle
            .inspect(move |core| core.groups().group(&group_id))
            .await?)
    }

    /// Every transactional id the transaction coordinator knows, in id order, with the state of
    /// its (last) transaction and the partitions and groups of an open one.
    pub async fn transactions(&self) -> Result<Vec<TransactionSummary>, MockBrokerError> {
        Ok(self
            .handle
            .inspect(|core| core.transactions().transactions().collect())
            .await?)
    }

    /// One transactional id, if the coordinator knows it.
    pub async fn transaction(
        &self,
        transactional_id: &str,
    ) -> Result<Option<TransactionSummary>, MockBrokerError> {
        let transactional_id = transactional_id.to_owned();
        Ok(self
            .handle
            .inspect(move |core| core.transactions().transaction(&transactional_id))
            .await?)
    }

    /// Every KIP-848 consumer group (`group.protocol=consumer`), in group id order: epochs,
    /// assignor, members with their epochs, owned and target partitions, committed offsets.
    pub async fn consumer_groups(&self) -> Result<Vec<ConsumerGroupSummary>, MockBrokerError> {
        Ok(self
            .handle
            .inspect(|core| core.groups().consumer_groups().collect())
            .await?)
    }

    /// One KIP-848 consumer group, if it exists.
    pub async fn consumer_group(
        &self,
        group_id: &str,
    ) -> Result<Option<ConsumerGroupSummary>, MockBrokerError> {
        let group_id = group_id.to_owned();
        Ok(self
            .handle
            .inspect(move |core| core.groups().consumer_group(&group_id))
            .await?)
    }

    /// Applies retention and compaction now to `topic`, or to every topic, as each topic's
    /// configs say (`retention.ms`, `retention.bytes`, `cleanup.policy`); what was removed, or
    /// `None` for an unknown topic. See [`BrokerCore::clean_logs`].
    pub async fn clean_logs(
        &self,
        topic: Option<&str>,
    ) -> Result<Option<RetentionReport>, MockBrokerError> {
        let topic = topic.map(str::to_owned);
        Ok(self
            .handle
            .update(move |core| core.clean_logs(topic.as_deref()))
            .await?)
    }

    /// Back to the state right after start: every request in flight is answered or its
    /// connection closed first ([`BrokerCore::reset`] says which), then no groups, an empty
    /// request log, and only the [`Startup`] topics and fault rules. Idle connections stay open.
    pub async fn reset(&self) -> Result<ResetReport, MockBrokerError> {
        let startup = self.startup.clone();
        self.handle
            .update(move |core| {
                let report = core.reset();
                startup.apply(core).map(|()| report)
            })
            .await?
    }

    /// Stops accepting, writes the responses already produced, closes every connection, and
    /// waits until that is done (a few seconds at most). Idempotent.
    pub async fn shutdown(&self) {
        self.handle.shutdown().await;
        let accept = self
            .accept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(accept) = accept {
            // The accept loop returns at shutdown; a join error would be its panic, already logged.
            let _ = accept.await;
        }
    }
}

impl Drop for MockBroker {
    /// Stops the listener and asks the broker to shut down, without waiting: works in or outside
    /// a runtime (if the runtime is already gone, so are the broker's tasks).
    fn drop(&mut self) {
        let accept = self
            .accept
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(accept) = accept {
            accept.abort();
        }
        self.handle.request_shutdown();
    }
}

#[cfg(test)]
mod tests;
