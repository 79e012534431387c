//! The shared broker handle: bootstrap, ApiVersions negotiation, metadata, one connection per
//! broker node, coordinator lookup, dedicated connections, reconnects.
//!
//! Owns: the negotiated version table, the cached cluster metadata (brokers, topics, partition
//! leaders; callers that find a topic missing at once share one lookup) and the shared per-node
//! connections that the producer and metadata requests use.
//! Consumers get *dedicated* connections ([`Cluster::open_dedicated`]) for their coordinator and
//! fetch traffic: a broker processes one request at a time per connection, so a parked JoinGroup
//! or a long-polling Fetch must not sit in front of anyone else's request.
//!
//! Lifecycle: [`Cluster::connect`] bootstraps; [`Cluster::close`] closes the shared connections.
//! Both belong to the owner of the handle (producers and consumers never close it). A closed
//! connection is replaced on next use (reconnect with `retry_backoff` between attempts).
//!
//! Every request is bounded by `request_timeout` ([`ClientError::RequestTimeout`]), with the two
//! extensions Kafka's own client makes: a JoinGroup or SyncGroup, which the broker parks until the
//! rebalance completes, may take `max(request_timeout, max_poll_interval + 5 s)`; a Fetch may take
//! `request_timeout + fetch_max_wait`. A consumer's `stop()` is bounded by `request_timeout` in
//! every case.
//!
//! # References
//! - KIP-35 / KIP-511 (ApiVersions), Kafka `NetworkClient` and `Metadata`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kmock_wire::kafka_protocol::messages::api_versions_response::ApiVersion;
use kmock_wire::kafka_protocol::messages::create_topics_request::CreatableTopic;
use kmock_wire::kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kmock_wire::kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, CreateTopicsRequest, FindCoordinatorRequest,
    MetadataRequest,
};
use kmock_wire::kafka_protocol::protocol::{Request, StrBytes};

use crate::connection::{Connection, api_name};
use crate::error::{ClientError, codes};
use crate::settings::{Settings, split_host_port};
use crate::transport::Connector;

/// The APIs this client implements and the versions it can build and read, before intersecting
/// with the crate's codecs. Versions above these change field shapes the client does not handle
/// (e.g. Fetch v13+ addresses topics by id).
pub const CLIENT_APIS: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 12),
    (ApiKey::Fetch, 4, 12),
    (ApiKey::ListOffsets, 1, 7),
    (ApiKey::Metadata, 1, 12),
    (ApiKey::OffsetCommit, 2, 8),
    (ApiKey::OffsetFetch, 1, 7),
    (ApiKey::FindCoordinator, 0, 4),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::ApiVersions, 0, 3),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::InitProducerId, 0, 4),
    (ApiKey::AddPartitionsToTxn, 0, 3),
    (ApiKey::AddOffsetsToTxn, 0, 3),
    (ApiKey::EndTxn, 0, 4),
    (ApiKey::TxnOffsetCommit, 0, 3),
    // KIP-848 members (`KAFKA_GROUP_PROTOCOL=consumer`); v1: the client makes the member id.
    (ApiKey::ConsumerGroupHeartbeat, 1, 1),
];

/// The ApiVersions version sent first.
const API_VERSIONS_VERSION: i16 = 3;

/// A broker as advertised in Metadata or FindCoordinator.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Node {
    /// Node id.
    pub node_id: i32,
    /// Advertised host.
    pub host: String,
    /// Advertised port.
    pub port: u16,
}

impl Node {
    /// `host:port`.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// A partition and its leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionMetadata {
    /// Partition index.
    pub partition: i32,
    /// Leader node id (-1 when none).
    pub leader: i32,
}

/// A topic's partitions, indexed by partition number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMetadata {
    /// Topic name.
    pub name: String,
    /// Topic id (Metadata v10+; nil before). KIP-848 assignments name topics by id.
    pub topic_id: uuid::Uuid,
    /// Partitions sorted by index.
    pub partitions: Vec<PartitionMetadata>,
}

impl TopicMetadata {
    /// Number of partitions.
    pub fn partition_count(&self) -> i32 {
        i32::try_from(self.partitions.len()).unwrap_or(i32::MAX)
    }

    /// The leader of `partition`, if known.
    pub fn leader(&self, partition: i32) -> Option<i32> {
        self.partitions
            .iter()
            .find(|p| p.partition == partition)
            .map(|p| p.leader)
            .filter(|leader| *leader >= 0)
    }
}

/// The version chosen for each API: the highest that broker and client both implement.
///
/// Flat tables rather than maps: a cluster handle and each of its connections negotiate once, and
/// every request looks its version up (BENCHMARKS.md part 8).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionTable {
    /// By API key: the chosen version (`None`: not both).
    chosen: Vec<Option<i16>>,
    /// The broker's advertised `(key, min, max)`, sorted by key.
    broker: Vec<(i16, i16, i16)>,
}

impl VersionTable {
    /// Negotiates from the broker's advertised ranges.
    pub fn negotiate(broker_apis: &[ApiVersion]) -> Self {
        Self::negotiate_capped(broker_apis, &BTreeMap::new())
    }

    /// Negotiates with the client's versions further capped: `caps` maps an API key to the
    /// highest version to use (tests use this to exercise old versions).
    pub fn negotiate_capped(broker_apis: &[ApiVersion], caps: &BTreeMap<i16, i16>) -> Self {
        let mut broker: Vec<(i16, i16, i16)> = broker_apis
            .iter()
            .map(|api| (api.api_key, api.min_version, api.max_version))
            .collect();
        // As a map did: the last range advertised for a key counts.
        broker.reverse();
        broker.sort_by_key(|(key, _, _)| *key);
        broker.dedup_by_key(|(key, _, _)| *key);
        let mut table = VersionTable {
            chosen: Vec::new(),
            broker,
        };
        for (key, client_min, client_max) in CLIENT_APIS {
            let codec = kmock_wire::codec_versions(*key);
            let client_min = (*client_min).max(codec.min);
            let client_max = (*client_max)
                .min(codec.max)
                .min(caps.get(&(*key as i16)).copied().unwrap_or(i16::MAX));
            if let Some((broker_min, broker_max)) = table.broker_range(*key as i16) {
                let version = client_max.min(broker_max);
                if version >= client_min.max(broker_min) {
                    let index = *key as usize;
                    if table.chosen.len() <= index {
                        table.chosen.resize(index + 1, None);
                    }
                    table.chosen[index] = Some(version);
                }
            }
        }
        table
    }

    /// The broker's advertised `(min, max)` of `api_key`.
    fn broker_range(&self, api_key: i16) -> Option<(i16, i16)> {
        self.broker
            .binary_search_by_key(&api_key, |(key, _, _)| *key)
            .ok()
            .map(|i| (self.broker[i].1, self.broker[i].2))
    }

    /// The version to use for `api_key`.
    pub fn version(&self, api_key: ApiKey) -> Result<i16, ClientError> {
        if let Some(Some(version)) = self.chosen.get(api_key as usize) {
            return Ok(*version);
        }
        let (client_min, client_max) = CLIENT_APIS
            .iter()
            .find(|(key, _, _)| *key == api_key)
            .map(|(_, min, max)| (*min, *max))
            .unwrap_or((-1, -1));
        let (broker_min, broker_max) = self.broker_range(api_key as i16).unwrap_or((-1, -1));
        Err(ClientError::UnsupportedApi {
            api: format!("{api_key:?}"),
            broker_min,
            broker_max,
            client_min,
            client_max,
        })
    }

    /// The broker advertises `version` of `api_key` (whatever the client would choose).
    pub fn broker_supports(&self, api_key: ApiKey, version: i16) -> bool {
        self.broker_range(api_key as i16)
            .is_some_and(|(min, max)| (min..=max).contains(&version))
    }

    /// The version of request type `R`.
    pub fn version_of<R: Request>(&self) -> Result<i16, ClientError> {
        let key = ApiKey::try_from(R::KEY)
            .map_err(|()| ClientError::Protocol(format!("unknown API key {}", R::KEY)))?;
        self.version(key)
    }
}

/// Options of [`Cluster::connect_with`] beyond the settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClusterOptions {
    /// Highest version to use per API key (on top of what client and broker implement).
    pub max_versions: BTreeMap<i16, i16>,
    /// Seed of the KIP-848 member ids this handle's consumers make (KIP-1082: the client makes
    /// them). `None`: seeded from the process's hash keys (`RandomState`, the OS's randomness),
    /// so two processes never share ids; the simulation passes a seed so a run is reproducible.
    pub member_id_seed: Option<u64>,
}

impl ClusterOptions {
    /// Seeds the KIP-848 member ids (see [`ClusterOptions::member_id_seed`]).
    pub fn with_member_id_seed(mut self, seed: u64) -> Self {
        self.member_id_seed = Some(seed);
        self
    }

    /// Caps `api_key` at `version`.
    pub fn with_max_version(mut self, api_key: ApiKey, version: i16) -> Self {
        self.max_versions.insert(api_key as i16, version);
        self
    }
}

#[derive(Debug, Default)]
struct State {
    closed: bool,
    brokers: BTreeMap<i32, Node>,
    topics: BTreeMap<String, TopicMetadata>,
    /// The bootstrap connection (no node id), used for metadata until a node connection exists.
    bootstrap: Option<Connection>,
}

struct Inner {
    settings: Settings,
    connector: Arc<dyn Connector>,
    versions: VersionTable,
    state: Mutex<State>,
    /// Shared connection per node id; the async mutex serializes (re)connects to one node.
    nodes: Mutex<BTreeMap<i32, Arc<tokio::sync::Mutex<Option<Connection>>>>>,
    /// State of the KIP-848 member id generator (splitmix64).
    member_ids: Mutex<u64>,
    /// Cold topic lookups in flight ([`Cluster::with_topic`]), by topic: callers that find the
    /// same topic missing at once share one Metadata request and its outcome.
    lookups: Mutex<BTreeMap<String, TopicLookup>>,
}

/// One cold lookup of a topic, shared by every caller that found it missing meanwhile.
type TopicLookup = Arc<tokio::sync::OnceCell<Result<TopicMetadata, ClientError>>>;

/// The shared broker handle. Cheap to clone; every clone shares connections and metadata.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("bootstrap_servers", &self.inner.settings.bootstrap_servers)
            .field("versions", &self.inner.versions)
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// Validates `settings`, connects to the first reachable bootstrap server, negotiates API
    /// versions and loads the broker list.
    pub async fn connect(
        settings: Settings,
        connector: impl Connector,
    ) -> Result<Cluster, ClientError> {
        Self::connect_with(settings, connector, ClusterOptions::default()).await
    }

    /// [`Cluster::connect`] with options.
    pub async fn connect_with(
        settings: Settings,
        connector: impl Connector,
        options: ClusterOptions,
    ) -> Result<Cluster, ClientError> {
        settings.validate()?;
        let connector: Arc<dyn Connector> = Arc::new(connector);
        let mut last_error = None;
        for address in &settings.bootstrap_servers {
            match bootstrap_one(&settings, connector.as_ref(), address, &options).await {
                Ok((connection, versions)) => {
                    let cluster = Cluster {
                        inner: Arc::new(Inner {
                            settings,
                            connector,
                            versions,
                            state: Mutex::new(State {
                                bootstrap: Some(connection),
                                ..State::default()
                            }),
                            nodes: Mutex::new(BTreeMap::new()),
                            member_ids: Mutex::new(options.member_id_seed.unwrap_or_else(|| {
                                use std::hash::BuildHasher;
                                std::collections::hash_map::RandomState::new()
                                    .hash_one("kmock member ids")
                            })),
                            lookups: Mutex::new(BTreeMap::new()),
                        }),
                    };
                    cluster.refresh_metadata(&[]).await?;
                    return Ok(cluster);
                }
                Err(error) => {
                    tracing::debug!(%address, %error, "bootstrap server failed");
                    last_error = Some(error);
                }
            }
        }
        Err(ClientError::Bootstrap {
            addresses: settings.bootstrap_servers.join(","),
            last_error: Box::new(last_error.unwrap_or(ClientError::Closed)),
        })
    }

    /// A new KIP-848 member id: 22 characters of URL-safe base64 over 16 bytes, as Java's
    /// `Uuid.randomUuid().toString()` (see [`ClusterOptions::member_id_seed`]).
    pub fn next_member_id(&self) -> String {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut state = self
            .inner
            .member_ids
            .lock()
            .expect("the member id lock is never poisoned");
        let mut next = || {
            *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = *state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        loop {
            let bits = (u128::from(next()) << 64) | u128::from(next());
            let mut id: String = (0..21u32)
                .map(|i| char::from(ALPHABET[((bits >> (122 - 6 * i)) & 0x3f) as usize]))
                .collect();
            id.push(char::from(ALPHABET[((bits & 0x3) << 4) as usize]));
            // As Java's `Uuid.randomUuid`: an id must not look like a command-line flag.
            if !id.starts_with('-') {
                return id;
            }
        }
    }

    /// The settings this handle was built with.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// The negotiated versions.
    pub fn versions(&self) -> &VersionTable {
        &self.inner.versions
    }

    /// The request timeout.
    pub fn request_timeout(&self) -> Duration {
        self.inner.settings.request_timeout()
    }

    /// Closes every shared connection; later requests fail with [`ClientError::Closed`].
    /// Dedicated connections belong to whoever opened them.
    pub async fn close(&self) {
        let (bootstrap, slots) = {
            let mut state = self.lock_state();
            state.closed = true;
            let slots: Vec<_> = self
                .inner
                .nodes
                .lock()
                .expect("never poisoned")
                .values()
                .cloned()
                .collect();
            (state.bootstrap.take(), slots)
        };
        if let Some(connection) = bootstrap {
            connection.close("cluster handle closed");
        }
        for slot in slots {
            if let Some(connection) = slot.lock().await.take() {
                connection.close("cluster handle closed");
            }
        }
    }

    /// Whether [`Cluster::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.lock_state().closed
    }

    fn lock_state(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .expect("state lock is never poisoned")
    }

    /// Known brokers.
    pub fn brokers(&self) -> Vec<Node> {
        self.lock_state().brokers.values().cloned().collect()
    }

    /// The broker with this id, if known.
    pub fn node(&self, node_id: i32) -> Option<Node> {
        self.lock_state().brokers.get(&node_id).cloned()
    }

    /// Opens a new connection to `node` that the caller owns (and closes).
    pub async fn open_dedicated(&self, node: &Node) -> Result<Connection, ClientError> {
        if self.is_closed() {
            return Err(ClientError::Closed);
        }
        open(
            self.inner.connector.as_ref(),
            &node.host,
            node.port,
            &self.inner.settings,
        )
        .await
    }

    /// The shared connection to `node_id`, (re)connecting if needed.
    pub async fn node_connection(&self, node_id: i32) -> Result<Connection, ClientError> {
        if self.is_closed() {
            return Err(ClientError::Closed);
        }
        let slot = self
            .inner
            .nodes
            .lock()
            .expect("never poisoned")
            .entry(node_id)
            .or_default()
            .clone();
        let mut slot = slot.lock().await;
        if let Some(connection) = slot.as_ref().filter(|c| !c.is_closed()) {
            return Ok(connection.clone());
        }
        let node = match self.node(node_id) {
            Some(node) => node,
            None => {
                self.refresh_metadata(&[]).await?;
                self.node(node_id).ok_or_else(|| {
                    ClientError::Protocol(format!("unknown broker node {node_id}"))
                })?
            }
        };
        let connection = self.open_dedicated(&node).await?;
        if self.is_closed() {
            connection.close("cluster handle closed");
            return Err(ClientError::Closed);
        }
        *slot = Some(connection.clone());
        Ok(connection)
    }

    /// Some live connection for cluster-wide requests (Metadata, FindCoordinator): the bootstrap
    /// connection, reopened to a known broker or a bootstrap server when it has closed.
    async fn any_connection(&self) -> Result<Connection, ClientError> {
        let (bootstrap, brokers) = {
            let state = self.lock_state();
            if state.closed {
                return Err(ClientError::Closed);
            }
            (
                state.bootstrap.clone().filter(|c| !c.is_closed()),
                state.brokers.values().cloned().collect::<Vec<_>>(),
            )
        };
        if let Some(connection) = bootstrap {
            return Ok(connection);
        }
        let settings = &self.inner.settings;
        let candidates = brokers
            .into_iter()
            .map(|node| (node.host, node.port))
            .chain(
                settings
                    .bootstrap_servers
                    .iter()
                    .filter_map(|address| split_host_port(address)),
            );
        let mut last_error = ClientError::Closed;
        for (host, port) in candidates {
            match open(self.inner.connector.as_ref(), &host, port, settings).await {
                Ok(connection) => {
                    let mut state = self.lock_state();
                    if state.closed {
                        connection.close("cluster handle closed");
                        return Err(ClientError::Closed);
                    }
                    state.bootstrap = Some(connection.clone());
                    return Ok(connection);
                }
                Err(error) => last_error = error,
            }
        }
        Err(last_error)
    }

    /// Sends a cluster-wide request on any connection, retrying once on a fresh connection if the
    /// one chosen turns out to be closed.
    pub async fn send_any<R: Request>(&self, body: &R) -> Result<R::Response, ClientError> {
        let version = self.inner.versions.version_of::<R>()?;
        let mut attempt = 0;
        loop {
            let connection = self.any_connection().await?;
            match connection.send(body, version, self.request_timeout()).await {
                Err(ClientError::ConnectionClosed { .. }) if attempt == 0 => {
                    attempt += 1;
                    tokio::time::sleep(self.inner.settings.retry_backoff()).await;
                }
                other => return other,
            }
        }
    }

    /// Sends a request to `node_id` on its shared connection.
    pub async fn send_to_node<R: Request>(
        &self,
        node_id: i32,
        body: &R,
    ) -> Result<R::Response, ClientError> {
        let version = self.inner.versions.version_of::<R>()?;
        let connection = self.node_connection(node_id).await?;
        connection.send(body, version, self.request_timeout()).await
    }

    /// Fetches metadata for `topics` (all brokers; no topics when empty), allowing auto-creation,
    /// and updates the cache.
    pub async fn refresh_metadata(
        &self,
        topics: &[&str],
    ) -> Result<BTreeMap<String, Result<TopicMetadata, i16>>, ClientError> {
        let request = MetadataRequest::default()
            .with_topics(Some(
                topics
                    .iter()
                    .map(|t| {
                        MetadataRequestTopic::default()
                            .with_name(Some(StrBytes::from_string((*t).to_owned()).into()))
                    })
                    .collect(),
            ))
            // v4+ carry the flag; older versions imply it (the default is `true`).
            .with_allow_auto_topic_creation(true);
        let response = self.send_any(&request).await?;
        let mut result = BTreeMap::new();
        let mut state = self.lock_state();
        for broker in &response.brokers {
            let Ok(port) = u16::try_from(broker.port) else {
                continue;
            };
            state.brokers.insert(
                broker.node_id.0,
                Node {
                    node_id: broker.node_id.0,
                    host: broker.host.to_string(),
                    port,
                },
            );
        }
        for topic in &response.topics {
            let Some(name) = topic.name.as_ref().map(|n| n.0.to_string()) else {
                continue;
            };
            if topic.error_code != codes::NONE {
                state.topics.remove(&name);
                result.insert(name, Err(topic.error_code));
                continue;
            }
            let mut partitions: Vec<PartitionMetadata> = topic
                .partitions
                .iter()
                .map(|p| PartitionMetadata {
                    partition: p.partition_index,
                    leader: p.leader_id.0,
                })
                .collect();
            partitions.sort_by_key(|p| p.partition);
            let metadata = TopicMetadata {
                name: name.clone(),
                topic_id: topic.topic_id,
                partitions,
            };
            state.topics.insert(name.clone(), metadata.clone());
            result.insert(name, Ok(metadata));
        }
        Ok(result)
    }

    /// The topic's metadata, from the cache or the broker (auto-creating it if the broker
    /// allows). Retries while the topic has no leader yet, within the request timeout.
    pub async fn topic(&self, topic: &str) -> Result<TopicMetadata, ClientError> {
        if let Some(metadata) = self.lock_state().topics.get(topic) {
            return Ok(metadata.clone());
        }
        self.fetch_topic(topic).await
    }

    /// `f` applied to [`Cluster::topic`]'s answer, without copying the cached metadata (the
    /// producer asks twice per record).
    pub(crate) async fn with_topic<R>(
        &self,
        topic: &str,
        f: impl FnOnce(&TopicMetadata) -> R,
    ) -> Result<R, ClientError> {
        if let Some(metadata) = self.lock_state().topics.get(topic) {
            return Ok(f(metadata));
        }
        // Not known yet: one Metadata request for every caller that finds it missing meanwhile,
        // as Kafka's clients keep one metadata request in flight. A hundred publishes started at
        // once to a new topic sent a hundred before (BENCHMARKS.md part 8). A caller that gives up
        // while it fetches leaves the fetch to the next one waiting (`OnceCell`).
        let lookup = self
            .inner
            .lookups
            .lock()
            .expect("lookups lock is never poisoned")
            .entry(topic.to_owned())
            .or_default()
            .clone();
        let result = lookup.get_or_init(|| self.fetch_topic(topic)).await.clone();
        {
            // Done: the next lookup (after an invalidation, or after this one failed) is fresh.
            let mut lookups = self
                .inner
                .lookups
                .lock()
                .expect("lookups lock is never poisoned");
            if lookups
                .get(topic)
                .is_some_and(|current| Arc::ptr_eq(current, &lookup))
            {
                lookups.remove(topic);
            }
        }
        result.map(|metadata| f(&metadata))
    }

    /// Like [`Cluster::topic`], but always asks the broker.
    pub async fn fetch_topic(&self, topic: &str) -> Result<TopicMetadata, ClientError> {
        let deadline = tokio::time::Instant::now() + self.request_timeout();
        loop {
            let mut topics = self.refresh_metadata(&[topic]).await?;
            let retry_code = match topics.remove(topic) {
                Some(Ok(metadata))
                    if !metadata.partitions.is_empty()
                        && metadata.partitions.iter().all(|p| p.leader >= 0) =>
                {
                    return Ok(metadata);
                }
                Some(Ok(_)) => codes::LEADER_NOT_AVAILABLE,
                Some(Err(code)) => code,
                None => codes::UNKNOWN_TOPIC_OR_PARTITION,
            };
            let retriable = matches!(
                retry_code,
                codes::LEADER_NOT_AVAILABLE | codes::UNKNOWN_TOPIC_OR_PARTITION
            );
            let backoff = self.inner.settings.retry_backoff();
            if !retriable || tokio::time::Instant::now() + backoff >= deadline {
                return Err(if retry_code == codes::UNKNOWN_TOPIC_OR_PARTITION {
                    ClientError::UnknownTopic {
                        topic: topic.to_owned(),
                    }
                } else {
                    ClientError::broker("Metadata", retry_code, None)
                });
            }
            tokio::time::sleep(backoff).await;
        }
    }

    /// Creates `topic` with `partitions` partitions (replication factor 1); a topic that already
    /// exists is fine.
    pub async fn create_topic(&self, topic: &str, partitions: i32) -> Result<(), ClientError> {
        let request = CreateTopicsRequest::default()
            .with_timeout_ms(
                i32::try_from(self.inner.settings.request_timeout_ms).unwrap_or(i32::MAX),
            )
            .with_topics(vec![
                CreatableTopic::default()
                    .with_name(StrBytes::from_string(topic.to_owned()).into())
                    .with_num_partitions(partitions)
                    .with_replication_factor(1),
            ]);
        let response = self.send_any(&request).await?;
        self.invalidate_topic(topic);
        match response.topics.iter().find(|t| t.name.0.as_str() == topic) {
            Some(result)
                if result.error_code == codes::NONE
                    || result.error_code == codes::TOPIC_ALREADY_EXISTS =>
            {
                Ok(())
            }
            Some(result) => Err(ClientError::broker(
                "CreateTopics",
                result.error_code,
                result.error_message.as_ref().map(|m| m.to_string()),
            )),
            None => Err(ClientError::Protocol(format!(
                "CreateTopics response without {topic}"
            ))),
        }
    }

    /// Forgets cached metadata of `topic` (after a NOT_LEADER or UNKNOWN_TOPIC error).
    pub fn invalidate_topic(&self, topic: &str) {
        self.lock_state().topics.remove(topic);
    }

    /// Finds the group coordinator of `group_id`, retrying while it is not available, within the
    /// request timeout.
    pub async fn find_coordinator(&self, group_id: &str) -> Result<Node, ClientError> {
        self.find_coordinator_of(0, group_id).await
    }

    /// Finds the transaction coordinator of `transactional_id` (FindCoordinator key type 1), as
    /// [`Cluster::find_coordinator`] does for groups.
    pub async fn find_transaction_coordinator(
        &self,
        transactional_id: &str,
    ) -> Result<Node, ClientError> {
        self.find_coordinator_of(1, transactional_id).await
    }

    async fn find_coordinator_of(&self, key_type: i8, key: &str) -> Result<Node, ClientError> {
        let version = self.inner.versions.version(ApiKey::FindCoordinator)?;
        let key = StrBytes::from_string(key.to_owned());
        let request = if version >= 4 {
            FindCoordinatorRequest::default()
                .with_key_type(key_type)
                .with_coordinator_keys(vec![key])
        } else if version >= 1 {
            FindCoordinatorRequest::default()
                .with_key(key)
                .with_key_type(key_type)
        } else {
            FindCoordinatorRequest::default().with_key(key)
        };
        let deadline = tokio::time::Instant::now() + self.request_timeout();
        loop {
            let response = self.send_any(&request).await?;
            let (code, message, node_id, host, port) = if version >= 4 {
                match response.coordinators.first() {
                    Some(c) => (
                        c.error_code,
                        c.error_message.clone(),
                        c.node_id.0,
                        c.host.to_string(),
                        c.port,
                    ),
                    None => {
                        return Err(ClientError::Protocol(
                            "FindCoordinator response without coordinators".into(),
                        ));
                    }
                }
            } else {
                (
                    response.error_code,
                    response.error_message.clone(),
                    response.node_id.0,
                    response.host.to_string(),
                    response.port,
                )
            };
            if code == codes::NONE {
                let port = u16::try_from(port).map_err(|_| {
                    ClientError::Protocol(format!("coordinator port {port} out of range"))
                })?;
                return Ok(Node {
                    node_id,
                    host,
                    port,
                });
            }
            let backoff = self.inner.settings.retry_backoff();
            if !codes::is_coordinator_moved(code)
                || tokio::time::Instant::now() + backoff >= deadline
            {
                return Err(ClientError::broker(
                    "FindCoordinator",
                    code,
                    message.map(|m| m.to_string()),
                ));
            }
            tokio::time::sleep(backoff).await;
        }
    }
}

/// Connects to `host:port` within the request timeout.
async fn open(
    connector: &dyn Connector,
    host: &str,
    port: u16,
    settings: &Settings,
) -> Result<Connection, ClientError> {
    let address = format!("{host}:{port}");
    let stream =
        match tokio::time::timeout(settings.request_timeout(), connector.connect(host, port)).await
        {
            Ok(Ok(stream)) => stream,
            Ok(Err(error)) => {
                return Err(ClientError::Connect {
                    address,
                    reason: error.to_string(),
                });
            }
            Err(_) => {
                return Err(ClientError::Connect {
                    address,
                    reason: format!("timed out after {:?}", settings.request_timeout()),
                });
            }
        };
    Ok(Connection::spawn(
        stream,
        address,
        settings.client_id.clone(),
    ))
}

/// Connects to one bootstrap address and negotiates versions (KIP-511: on UNSUPPORTED_VERSION
/// the broker answers with a v0 body listing its ranges; retry at the highest it supports).
async fn bootstrap_one(
    settings: &Settings,
    connector: &dyn Connector,
    address: &str,
    options: &ClusterOptions,
) -> Result<(Connection, VersionTable), ClientError> {
    let (host, port) = split_host_port(address).ok_or_else(|| ClientError::Connect {
        address: address.to_owned(),
        reason: "not host:port".into(),
    })?;
    let connection = open(connector, &host, port, settings).await?;
    let mut version = API_VERSIONS_VERSION;
    for _ in 0..2 {
        let response = api_versions(&connection, version, settings.request_timeout()).await?;
        if response.error_code == codes::UNSUPPORTED_VERSION {
            let broker_max = response
                .api_keys
                .iter()
                .find(|k| k.api_key == ApiKey::ApiVersions as i16)
                .map(|k| k.max_version)
                .unwrap_or(0);
            version = broker_max.clamp(0, API_VERSIONS_VERSION);
            continue;
        }
        if response.error_code != codes::NONE {
            return Err(ClientError::broker(
                "ApiVersions",
                response.error_code,
                None,
            ));
        }
        let table = VersionTable::negotiate_capped(&response.api_keys, &options.max_versions);
        tracing::debug!(%address, ?table, "negotiated API versions");
        return Ok((connection, table));
    }
    Err(ClientError::Protocol(
        "ApiVersions negotiation did not converge".into(),
    ))
}

async fn api_versions(
    connection: &Connection,
    version: i16,
    timeout: Duration,
) -> Result<ApiVersionsResponse, ClientError> {
    let mut request = ApiVersionsRequest::default();
    if version >= 3 {
        request = request
            .with_client_software_name(StrBytes::from_static_str("kmock-client"))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
    }
    let frame = connection.round_trip(&request, version, timeout).await?;
    // An UNSUPPORTED_VERSION answer has a v0 body whatever version we sent.
    match crate::connection::decode_response_body::<ApiVersionsRequest>(version, frame.clone()) {
        Ok(response) => Ok(response),
        Err(error) if version > 0 => {
            crate::connection::decode_response_body::<ApiVersionsRequest>(0, frame)
                .map_err(|_| error)
        }
        Err(error) => Err(error),
    }
}

/// The API name of `R`, for errors.
pub fn request_name<R: Request>() -> String {
    api_name::<R>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(key: ApiKey, min: i16, max: i16) -> ApiVersion {
        ApiVersion::default()
            .with_api_key(key as i16)
            .with_min_version(min)
            .with_max_version(max)
    }

    #[test]
    fn negotiation_picks_the_highest_common_version_the_client_implements() {
        let table = VersionTable::negotiate(&[
            api(ApiKey::Fetch, 4, 17),
            api(ApiKey::JoinGroup, 0, 5),
            api(ApiKey::Heartbeat, 5, 9),
            api(ApiKey::Metadata, 0, 13),
        ]);
        // Fetch: the broker goes to 17, the client implements up to 12 (topic names).
        assert_eq!(table.version(ApiKey::Fetch).unwrap(), 12);
        assert_eq!(table.version(ApiKey::JoinGroup).unwrap(), 5);
        assert_eq!(table.version(ApiKey::Metadata).unwrap(), 12);
        // No overlap, and an API the broker does not list.
        assert!(matches!(
            table.version(ApiKey::Heartbeat),
            Err(ClientError::UnsupportedApi {
                broker_min: 5,
                broker_max: 9,
                ..
            })
        ));
        assert!(table.version(ApiKey::LeaveGroup).is_err());
    }

    #[test]
    fn client_ranges_stay_within_the_codecs() {
        for (key, min, max) in CLIENT_APIS {
            let codec = kmock_wire::codec_versions(*key);
            assert!(codec.min <= *max && *min <= codec.max, "{key:?}");
        }
    }
}
