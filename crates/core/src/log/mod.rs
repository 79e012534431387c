//! Topics, partition logs and the APIs that read and write them: Metadata, CreateTopics,
//! DeleteTopics, CreatePartitions, Produce, Fetch (with long polling), ListOffsets and
//! DeleteRecords; topic and broker configs and the APIs that read and change them:
//! DescribeConfigs, AlterConfigs and IncrementalAlterConfigs (`topic_config.rs`: Kafka's topic
//! configs and each topic's overrides; `broker_config.rs`: broker configs, dynamic broker defaults,
//! loggers; `config_resource.rs`: what the three APIs share); retention and compaction on demand
//! (`retention.rs`).
//!
//! [`LogStore`] owns the topics (by name, in name order, each with a stable id), their
//! partition logs (with each partition's producer state: `producer_state.rs`, sequences and
//! open and aborted transactions) and the fetches parked until enough bytes arrive or their max
//! wait passes. Transactions are the transaction coordinator's (`crate::txn`): it writes their
//! markers here (`LogStore::write_marker`), and Produce asks it, through
//! `TransactionVerifier`, whether a producer's first transactional batch in a partition belongs
//! to its transaction. One file per API, all of the same shape: a `handle`
//! that applies the request and builds the response at the request's version, and an
//! `error_response` for fault rules. It must not touch connections, timers of other modules or
//! groups: parked fetches leave through the `out` completions the core passes in.
//!
//! The store keeps the [`Cluster`] (brokers and internal partition tables, see [`crate::cluster`])
//! and each partition's leadership beside its log. A partition request (Produce, Fetch,
//! ListOffsets, DeleteRecords) that reaches a broker other than the partition's leader gets
//! NOT_LEADER_OR_FOLLOWER for that partition (with the leader in the KIP-951 fields where the
//! version has them); acks=-1 with fewer ISR members than `min.insync.replicas` gets
//! NOT_ENOUGH_REPLICAS. Every replica shares the one log, so acks 1 and -1 otherwise behave the
//! same. With one broker (the default), it leads everything.
//!
//! Topic ids come from a ChaCha8 PRNG seeded from `config.seed`, so a seed reproduces them; a
//! deleted and recreated topic gets a new id.
//!
//! Limits (peer-controlled state): at most [`MAX_PARTITIONS_PER_TOPIC`] partitions per topic and
//! [`MAX_PARTITIONS_TOTAL`] in all (beyond: INVALID_PARTITIONS), at most [`MAX_PARKED_FETCHES`]
//! parked fetches (beyond: answered at once), producer state as `producer_state.rs` says.
//!
//! Not supported: incremental fetch sessions (KIP-227: every fetch response is a
//! full one with session id 0), retention and compaction in the background (they run when asked:
//! [`LogStore::clean_logs`]), log segments (configs about segments, flushing and replication are
//! stored and reported, and change nothing else). The log start offset moves by DeleteRecords and
//! by retention.
//!
//! # References
//! - Kafka `KafkaApis` (handleTopicMetadataRequest, handleCreateTopicsRequest,
//!   handleDeleteTopicsRequest, handleCreatePartitionsRequest, handleProduceRequest,
//!   handleFetchRequest, handleListOffsetRequest, handleDeleteRecordsRequest)
//! - Kafka `Topic.validate` (topic name rules), `Uuid.randomUuid` (topic ids)
//! - KIP-516: topic ids
//! - KIP-133 / KIP-339: DescribeConfigs, AlterConfigs, IncrementalAlterConfigs

mod alter_configs;
mod batch;
mod broker_config;
mod config_resource;
mod create_partitions;
mod create_topics;
mod delete_records;
mod delete_topics;
mod describe_configs;
mod fetch;
mod incremental_alter_configs;
mod list_offsets;
mod metadata;
mod partition;
mod produce;
mod producer_state;
mod record_checks;
mod retention;
mod topic_config;

#[cfg(test)]
pub(crate) mod tests;

use std::collections::BTreeMap;

use kmock_wire::kafka_protocol::messages::{ProduceRequest, RequestKind, ResponseKind};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use uuid::Uuid;

use super::{Completion, ConnectionId, Reply, ResponseToken};
use crate::BrokerTime;
use crate::cluster::{Cluster, PartitionLeadership};
use crate::config::BrokerConfig;
use partition::{PartitionLog, StoredBatch};

pub(crate) use batch::Marker;

/// The control batch a marker is written as (for the transaction tests).
#[cfg(test)]
pub(crate) fn batch_for_tests(marker: &Marker) -> bytes::Bytes {
    batch::control_batch(marker).freeze()
}
pub use broker_config::MAX_DYNAMIC_BROKER_CONFIGS;
pub use config_resource::MAX_CONFIG_RESOURCES_PER_REQUEST;
pub use fetch::MAX_PARKED_FETCHES;
pub use producer_state::MAX_PRODUCERS_PER_PARTITION;
pub use retention::{PartitionCleanup, RetentionReport};
pub use topic_config::MAX_CONFIG_VALUE_BYTES;

/// Kafka error codes, from the workspace's one table.
pub(crate) use kmock_wire::error_code as code;

/// What Produce asks before appending a producer's first transactional batch to a partition
/// (KIP-890 verification): the transaction coordinator's answer.
pub(crate) trait TransactionVerifier {
    /// `Ok` if the partition is in the producer's open transaction (with `check.add`, after
    /// adding it); otherwise the coordinator's error code (INVALID_PRODUCER_ID_MAPPING,
    /// PRODUCER_FENCED, TRANSACTION_ABORTABLE, ...), which Produce maps for its version.
    fn verify_partition(&mut self, check: PartitionVerification<'_>) -> Result<(), i16>;
}

/// One verification (see [`TransactionVerifier`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PartitionVerification<'a> {
    pub(crate) transactional_id: &'a str,
    pub(crate) producer_id: i64,
    pub(crate) producer_epoch: i16,
    pub(crate) topic: &'a str,
    pub(crate) partition: i32,
    /// Produce v12+ (transactions v2): add the partition instead of only checking it.
    pub(crate) add: bool,
    pub(crate) now: BrokerTime,
}

/// Why a topic cannot be created (CreateTopics, auto-creation, or a direct `create_topic`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CreateTopicError {
    /// The name is empty, too long, `.`/`..`, or has a character outside `[a-zA-Z0-9._-]`
    /// (Kafka's `Topic.validate`).
    #[error(
        "topic name {name:?} is illegal: use 1 to {MAX_TOPIC_NAME_CHARS} characters of [a-zA-Z0-9._-], not '.' or '..'"
    )]
    InvalidName {
        /// The name asked for.
        name: String,
    },
    /// A topic of that name exists.
    #[error("topic {name:?} already exists")]
    AlreadyExists {
        /// The name asked for.
        name: String,
    },
    /// The partition count is not 1 to [`MAX_PARTITIONS_PER_TOPIC`].
    #[error("number of partitions must be 1 to {MAX_PARTITIONS_PER_TOPIC}, got {partitions}")]
    InvalidPartitions {
        /// The count asked for.
        partitions: i32,
    },
    /// The broker would hold more than [`MAX_PARTITIONS_TOTAL`] partitions.
    #[error("kmock holds at most {MAX_PARTITIONS_TOTAL} partitions in all")]
    TooManyPartitions,
    /// A topic config Kafka would refuse (an unknown name or a bad value), with Kafka's message.
    #[error("{message}")]
    InvalidConfig {
        /// What is wrong.
        message: String,
    },
    /// The replication factor is not positive or exceeds the brokers that are up, with Kafka's
    /// message.
    #[error("{message}")]
    InvalidReplicationFactor {
        /// What is wrong.
        message: String,
    },
}

impl CreateTopicError {
    /// The Kafka error code CreateTopics answers with.
    pub fn code(&self) -> i16 {
        match self {
            Self::InvalidName { .. } => code::INVALID_TOPIC_EXCEPTION,
            Self::AlreadyExists { .. } => code::TOPIC_ALREADY_EXISTS,
            Self::InvalidPartitions { .. } | Self::TooManyPartitions => code::INVALID_PARTITIONS,
            Self::InvalidConfig { .. } => code::INVALID_CONFIG,
            Self::InvalidReplicationFactor { .. } => code::INVALID_REPLICATION_FACTOR,
        }
    }
}

/// Most partitions one topic may have.
pub const MAX_PARTITIONS_PER_TOPIC: i32 = 10_000;
/// Most partitions all topics together may have.
pub const MAX_PARTITIONS_TOTAL: usize = 100_000;
/// Longest topic name (Kafka `Topic.MAX_NAME_LENGTH`).
const MAX_TOPIC_NAME_CHARS: usize = 249;
/// Mixed into `config.seed` so topic ids differ from other ids drawn from the same seed.
const TOPIC_ID_SEED_SALT: u64 = 0x746f_7069_635f_6964; // "topic_id"

/// A topic.
#[derive(Debug)]
pub(crate) struct Topic {
    /// Stable for the topic's life (KIP-516).
    pub(crate) id: Uuid,
    /// Its partitions, by index.
    pub(crate) partitions: Vec<PartitionLog>,
    /// Its configs (overrides and the settings resolved from them).
    pub(crate) config: topic_config::TopicConfig,
    /// Each partition's replicas, ISR and leader, by partition index (as long as `partitions`).
    pub(crate) leadership: Vec<PartitionLeadership>,
}

/// A read-only view of a topic, for assertions and the control API.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TopicSummary {
    /// The topic name.
    pub name: String,
    /// Its id (KIP-516), as Metadata reports it.
    pub topic_id: Uuid,
    /// The high watermark (log end offset) of each partition, by partition index; its length is
    /// the partition count.
    pub high_watermarks: Vec<i64>,
    /// The log start offset of each partition, by partition index (moved by DeleteRecords and retention).
    pub log_start_offsets: Vec<i64>,
    /// The topic's own configs (its overrides), in Kafka's string form.
    pub configs: BTreeMap<String, String>,
}

/// All topics, their logs, parked fetches and producer ids. See the module docs.
#[derive(Debug)]
pub struct LogStore {
    /// The brokers and the coordinators' internal partitions.
    pub(crate) cluster: Cluster,
    cluster_id: String,
    /// `auto.create.topics.enable`: Metadata creates unknown topics.
    auto_create_topics: bool,
    /// Partitions of auto-created topics and of CreateTopics with `num_partitions` -1.
    default_partitions: i32,
    /// `default.replication.factor`: replicas of auto-created topics and of CreateTopics with
    /// `replication_factor` -1.
    default_replication_factor: i32,
    /// Topics by name; iterated in name order for deterministic responses.
    pub(crate) topics: BTreeMap<String, Topic>,
    /// Topic names by id.
    names_by_id: BTreeMap<Uuid, String>,
    /// Sum of all topics' partitions (bounded by [`MAX_PARTITIONS_TOTAL`]).
    partitions_total: usize,
    /// Topic ids are drawn from here and only here.
    topic_id_rng: ChaCha8Rng,
    /// Fetches waiting for bytes, in arrival order.
    parked_fetches: Vec<fetch::ParkedFetch>,
    /// Dynamic broker configs, kmock's settings as broker configs, broker loggers.
    broker_configs: broker_config::BrokerConfigs,
    /// Unix time in ms at broker time zero: LogAppendTime stamps and time-based retention read
    /// the broker's wall clock as this plus the broker time (see `BrokerConfig`).
    wall_clock_start_unix_ms: i64,
}

impl LogStore {
    /// No topics.
    pub fn new(config: &BrokerConfig) -> Self {
        Self {
            cluster: Cluster::new(config),
            cluster_id: config.cluster_id.clone(),
            auto_create_topics: config.auto_create_topics,
            default_partitions: config.default_partitions,
            default_replication_factor: config.default_replication_factor,
            topics: BTreeMap::new(),
            names_by_id: BTreeMap::new(),
            partitions_total: 0,
            topic_id_rng: ChaCha8Rng::seed_from_u64(config.seed ^ TOPIC_ID_SEED_SALT),
            parked_fetches: Vec::new(),
            broker_configs: broker_config::BrokerConfigs::new(config),
            wall_clock_start_unix_ms: config.wall_clock_start_unix_ms,
        }
    }

    /// The broker's wall clock at broker time `now`, in Unix milliseconds.
    pub(crate) fn wall_clock_ms(&self, now: BrokerTime) -> i64 {
        let elapsed = i64::try_from(now.since_start().as_millis()).unwrap_or(i64::MAX);
        self.wall_clock_start_unix_ms.saturating_add(elapsed)
    }

    /// The brokers and coordinators (for assertions and the control API).
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// A partition's replicas, ISR and leader, if it exists.
    pub fn leadership(&self, topic: &str, partition: i32) -> Option<&PartitionLeadership> {
        let index = usize::try_from(partition).ok()?;
        self.topics.get(topic)?.leadership.get(index)
    }

    /// Every topic partition's leadership, in topic then partition order.
    pub fn leaderships(&self) -> impl Iterator<Item = (&str, i32, &PartitionLeadership)> {
        self.topics.iter().flat_map(|(name, topic)| {
            topic
                .leadership
                .iter()
                .enumerate()
                .map(move |(index, leadership)| {
                    let partition = i32::try_from(index).expect("partitions are bounded");
                    (name.as_str(), partition, leadership)
                })
        })
    }

    /// `Err` with the current leadership when `node` does not lead the partition (the caller
    /// answers NOT_LEADER_OR_FOLLOWER); `Ok` for an unknown partition (the handler reports it).
    pub(crate) fn check_leader(
        &self,
        topic: &str,
        partition: i32,
        node: i32,
    ) -> Result<(), PartitionLeadership> {
        match self.leadership(topic, partition) {
            Some(leadership) if leadership.leader != node => Err(leadership.clone()),
            _ => Ok(()),
        }
    }

    /// Earliest deadline (parked fetches).
    pub fn next_deadline(&self) -> Option<BrokerTime> {
        self.parked_fetches.iter().map(|p| p.deadline).min()
    }

    /// Answers fetches whose max wait has passed.
    pub(crate) fn handle_timeout(&mut self, now: BrokerTime, out: &mut Vec<Completion>) {
        fetch::complete_parked(self, now, out);
    }

    /// Answers every parked fetch now with what the logs hold (see
    /// [`BrokerCore::reset`](crate::BrokerCore::reset)).
    pub(crate) fn complete_every_parked_fetch(&mut self, out: &mut Vec<Completion>) {
        fetch::complete_every_parked(self, out);
    }

    /// Drops parked fetches of a closed connection.
    pub(crate) fn connection_closed(&mut self, connection: ConnectionId) {
        self.parked_fetches
            .retain(|parked| parked.token.connection != connection);
    }

    /// Partitions of `topic`, if it exists (the group coordinator checks OffsetCommit topics).
    pub fn partition_count(&self, topic: &str) -> Option<i32> {
        self.topics
            .get(topic)
            .map(|t| i32::try_from(t.partitions.len()).expect("partitions are bounded"))
    }

    /// Name of the topic with this id (OffsetCommit/OffsetFetch v10 address topics by id).
    pub fn topic_name(&self, topic_id: Uuid) -> Option<&str> {
        self.names_by_id.get(&topic_id).map(String::as_str)
    }

    /// Id of the topic with this name.
    pub fn topic_id(&self, topic: &str) -> Option<Uuid> {
        self.topics.get(topic).map(|t| t.id)
    }

    /// Topic names, in name order.
    pub fn topic_names(&self) -> impl Iterator<Item = &str> {
        self.topics.keys().map(String::as_str)
    }

    /// A summary of every topic, in name order (for assertions and the control API).
    pub fn topics(&self) -> impl Iterator<Item = TopicSummary> + '_ {
        self.topics.iter().map(|(name, topic)| TopicSummary {
            name: name.clone(),
            topic_id: topic.id,
            high_watermarks: topic
                .partitions
                .iter()
                .map(PartitionLog::log_end_offset)
                .collect(),
            log_start_offsets: topic
                .partitions
                .iter()
                .map(PartitionLog::log_start_offset)
                .collect(),
            configs: topic.config.overrides.clone(),
        })
    }

    /// High watermark (log end offset) of a partition, if it exists.
    pub fn high_watermark(&self, topic: &str, partition: i32) -> Option<i64> {
        self.partition(topic, partition)
            .map(PartitionLog::log_end_offset)
    }

    /// Log start offset of a partition, if it exists.
    pub fn log_start_offset(&self, topic: &str, partition: i32) -> Option<i64> {
        self.partition(topic, partition)
            .map(PartitionLog::log_start_offset)
    }

    /// Stored record batches of a partition (bytes as served by Fetch), if it exists.
    pub fn batches(&self, topic: &str, partition: i32) -> Option<Vec<bytes::Bytes>> {
        self.partition(topic, partition)
            .map(|p| p.batches().iter().map(StoredBatch::served).collect())
    }

    /// Fetches currently parked (long polling).
    pub fn parked_fetch_count(&self) -> usize {
        self.parked_fetches.len()
    }

    /// Creates a topic directly (tests, control API). Same rules as CreateTopics with the default
    /// replication factor; `partitions` -1 means the default. Returns the topic id or the Kafka
    /// error code.
    pub fn create_topic(&mut self, name: &str, partitions: i32) -> Result<Uuid, CreateTopicError> {
        let partitions = if partitions == -1 {
            self.default_partitions
        } else {
            partitions
        };
        self.check_new_topic(name, partitions)?;
        let replicas = self.place_default(partitions)?;
        Ok(self.insert_topic(name, replicas))
    }

    /// Replicas of `partitions` new partitions with the default replication factor.
    pub(crate) fn place_default(&self, partitions: i32) -> Result<Vec<Vec<i32>>, CreateTopicError> {
        let count = usize::try_from(partitions).unwrap_or(0);
        self.cluster
            .place_replicas(count, self.default_replication_factor, 0)
            .map_err(|message| CreateTopicError::InvalidReplicationFactor { message })
    }

    /// Like [`Self::create_topic`], with topic configs (checked as CreateTopics checks them).
    pub fn create_topic_with_configs(
        &mut self,
        name: &str,
        partitions: i32,
        configs: &BTreeMap<String, String>,
    ) -> Result<Uuid, CreateTopicError> {
        let partitions = if partitions == -1 {
            self.default_partitions
        } else {
            partitions
        };
        self.check_new_topic(name, partitions)?;
        let replicas = self.place_default(partitions)?;
        let config =
            self.check_topic_configs(configs)
                .map_err(|error| CreateTopicError::InvalidConfig {
                    message: error.message.unwrap_or_default(),
                })?;
        Ok(self.insert_topic_with(name, replicas, config))
    }

    /// A topic's own configs (its overrides), in Kafka's string form, if the topic exists.
    pub fn topic_configs(&self, topic: &str) -> Option<&BTreeMap<String, String>> {
        self.topics.get(topic).map(|t| &t.config.overrides)
    }

    /// Appends a transaction marker to a partition (the transaction coordinator ends a
    /// transaction); returns its offset, or `None` if the partition is gone (Kafka drops the
    /// markers of a deleted partition). Parked fetches are not re-checked here: see
    /// [`Self::complete_parked_fetches`].
    pub(crate) fn write_marker(
        &mut self,
        topic: &str,
        partition: i32,
        marker: Marker,
    ) -> Option<i64> {
        let log_append_time = self.topics.get(topic)?.config.settings.timestamp_type
            == topic_config::TimestampType::LogAppendTime;
        let log = self.partition_mut(topic, partition)?;
        Some(log.append_marker(marker, log_append_time))
    }

    /// Answers the parked fetches that are now satisfied (or past their max wait).
    pub(crate) fn complete_parked_fetches(&mut self, now: BrokerTime, out: &mut Vec<Completion>) {
        fetch::complete_parked(self, now, out);
    }

    /// The last stable offset of a partition (the first offset of its earliest open
    /// transaction, or the high watermark), if it exists.
    pub fn last_stable_offset(&self, topic: &str, partition: i32) -> Option<i64> {
        self.partition(topic, partition)
            .map(PartitionLog::last_stable_offset)
    }

    /// The open transactions of a partition: `(producer id, producer epoch, first offset)`, by
    /// first offset (for assertions and the control API).
    pub fn open_transactions(&self, topic: &str, partition: i32) -> Vec<(i64, i16, i64)> {
        self.partition(topic, partition)
            .map(|log| {
                log.producer_states()
                    .open_transactions()
                    .map(|open| (open.producer_id, open.producer_epoch, open.first_offset))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The aborted transactions of a partition still in its log: `(producer id, first offset,
    /// last offset)`, the last being the ABORT marker's.
    pub fn aborted_transactions(&self, topic: &str, partition: i32) -> Vec<(i64, i64, i64)> {
        self.partition(topic, partition)
            .map(|log| {
                log.producer_states()
                    .aborted_between(i64::MIN, i64::MAX)
                    .map(|t| (t.producer_id, t.first_offset, t.last_offset))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A Produce, from a borrow of its request (see `BrokerCore::process_produce`).
    pub(crate) fn handle_produce(
        &mut self,
        token: ResponseToken,
        request: &ProduceRequest,
        now: BrokerTime,
        transactions: &mut dyn TransactionVerifier,
        out: &mut Vec<Completion>,
    ) -> Reply {
        produce::handle(self, token, request, now, transactions, out)
    }

    /// Handles a topic/log request. Produce asks `transactions` about transactional batches.
    pub(crate) fn handle(
        &mut self,
        token: ResponseToken,
        body: RequestKind,
        now: BrokerTime,
        transactions: &mut dyn TransactionVerifier,
        out: &mut Vec<Completion>,
    ) -> Reply {
        let version = token.api_version;
        match body {
            RequestKind::Metadata(request) => Reply::Now(ResponseKind::Metadata(metadata::handle(
                self, &request, version,
            ))),
            RequestKind::CreateTopics(request) => Reply::Now(ResponseKind::CreateTopics(
                create_topics::handle(self, &request, version),
            )),
            RequestKind::DeleteTopics(request) => {
                let response = delete_topics::handle(self, &request, version);
                // Fetches parked on a deleted topic now have an error to report.
                fetch::complete_parked(self, now, out);
                Reply::Now(ResponseKind::DeleteTopics(response))
            }
            RequestKind::Produce(request) => {
                produce::handle(self, token, &request, now, transactions, out)
            }
            RequestKind::Fetch(request) => fetch::handle(self, token, request, now),
            RequestKind::ListOffsets(request) => Reply::Now(ResponseKind::ListOffsets(
                list_offsets::handle(self, &request, version, token.node),
            )),
            RequestKind::CreatePartitions(request) => Reply::Now(ResponseKind::CreatePartitions(
                create_partitions::handle(self, &request, version),
            )),
            RequestKind::DeleteRecords(request) => {
                let response = delete_records::handle(self, &request, version, token.node);
                // Fetches parked below a new log start offset now have an error to report.
                fetch::complete_parked(self, now, out);
                Reply::Now(ResponseKind::DeleteRecords(response))
            }
            RequestKind::DescribeConfigs(request) => Reply::Now(ResponseKind::DescribeConfigs(
                describe_configs::handle(self, &request, version),
            )),
            RequestKind::AlterConfigs(request) => Reply::Now(ResponseKind::AlterConfigs(
                alter_configs::handle(self, &request, version),
            )),
            RequestKind::IncrementalAlterConfigs(request) => {
                Reply::Now(ResponseKind::IncrementalAlterConfigs(
                    incremental_alter_configs::handle(self, &request, version),
                ))
            }
            _ => Reply::Close(format!("{:?} is not a log request", token.api_key)),
        }
    }

    fn partition(&self, topic: &str, partition: i32) -> Option<&PartitionLog> {
        let index = usize::try_from(partition).ok()?;
        self.topics.get(topic)?.partitions.get(index)
    }

    fn partition_mut(&mut self, topic: &str, partition: i32) -> Option<&mut PartitionLog> {
        let index = usize::try_from(partition).ok()?;
        self.topics.get_mut(topic)?.partitions.get_mut(index)
    }

    /// Whether a topic named `name` may be created with `partitions` partitions; the error code and
    /// message if not.
    fn check_new_topic(&self, name: &str, partitions: i32) -> Result<(), CreateTopicError> {
        if !is_valid_topic_name(name) {
            return Err(CreateTopicError::InvalidName {
                name: name.to_owned(),
            });
        }
        if self.topics.contains_key(name) {
            return Err(CreateTopicError::AlreadyExists {
                name: name.to_owned(),
            });
        }
        self.check_partition_count(0, partitions)
    }

    /// Whether a topic with `existing` partitions may have `partitions` (more than `existing`)
    /// within kmock's limits (CreateTopics and CreatePartitions answer INVALID_PARTITIONS if not).
    fn check_partition_count(
        &self,
        existing: usize,
        partitions: i32,
    ) -> Result<(), CreateTopicError> {
        if partitions <= 0 || partitions > MAX_PARTITIONS_PER_TOPIC {
            return Err(CreateTopicError::InvalidPartitions { partitions });
        }
        let partitions = usize::try_from(partitions).expect("checked positive");
        if self.partitions_total - existing + partitions > MAX_PARTITIONS_TOTAL {
            return Err(CreateTopicError::TooManyPartitions);
        }
        Ok(())
    }

    /// Adds a topic that [`Self::check_new_topic`] accepted, with no config overrides, its
    /// partitions on these replicas.
    fn insert_topic(&mut self, name: &str, replicas: Vec<Vec<i32>>) -> Uuid {
        let config = self.topic_config(BTreeMap::new());
        self.insert_topic_with(name, replicas, config)
    }

    /// Adds a topic that [`Self::check_new_topic`] accepted, with checked configs, its partitions
    /// on these replicas (one list per partition).
    fn insert_topic_with(
        &mut self,
        name: &str,
        replicas: Vec<Vec<i32>>,
        config: topic_config::TopicConfig,
    ) -> Uuid {
        let id = self.new_topic_id();
        let count = replicas.len();
        let leadership = replicas
            .into_iter()
            .map(|replicas| self.cluster.new_leadership(replicas))
            .collect();
        let topic = Topic {
            id,
            partitions: (0..count).map(|_| PartitionLog::default()).collect(),
            config,
            leadership,
        };
        self.partitions_total += count;
        self.topics.insert(name.to_owned(), topic);
        self.names_by_id.insert(id, name.to_owned());
        id
    }

    /// Removes a topic; returns whether it existed.
    fn remove_topic(&mut self, name: &str) -> bool {
        let Some(topic) = self.topics.remove(name) else {
            return false;
        };
        self.partitions_total -= topic.partitions.len();
        self.names_by_id.remove(&topic.id);
        true
    }

    /// A fresh random (v4) topic id: never nil, never Kafka's reserved metadata topic id (1), never
    /// one whose base64 form starts with '-' (as Kafka's `Uuid.randomUuid`), never one in use.
    fn new_topic_id(&mut self) -> Uuid {
        loop {
            let mut bytes = [0u8; 16];
            self.topic_id_rng.fill_bytes(&mut bytes);
            let id = uuid::Builder::from_random_bytes(bytes).into_uuid();
            let reserved = id.as_u128() <= 1;
            let dash_first = bytes[0] >> 2 == 62;
            if !reserved && !dash_first && !self.names_by_id.contains_key(&id) {
                return id;
            }
        }
    }
}

/// Kafka's topic name rule: 1 to 249 characters of `[a-zA-Z0-9._-]`, neither "." nor "..".
pub(crate) fn is_valid_topic_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_TOPIC_NAME_CHARS
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The error response for a log request (for fault rules), or `None` if not a log API.
pub fn error_response(body: &RequestKind, api_version: i16, code: i16) -> Option<ResponseKind> {
    Some(match body {
        RequestKind::Metadata(request) => {
            ResponseKind::Metadata(metadata::error_response(request, api_version, code))
        }
        RequestKind::CreateTopics(request) => {
            ResponseKind::CreateTopics(create_topics::error_response(request, api_version, code))
        }
        RequestKind::DeleteTopics(request) => {
            ResponseKind::DeleteTopics(delete_topics::error_response(request, api_version, code))
        }
        RequestKind::Produce(request) => {
            ResponseKind::Produce(produce::error_response(request, api_version, code))
        }
        RequestKind::Fetch(request) => {
            ResponseKind::Fetch(fetch::error_response(request, api_version, code))
        }
        RequestKind::ListOffsets(request) => {
            ResponseKind::ListOffsets(list_offsets::error_response(request, api_version, code))
        }
        RequestKind::CreatePartitions(request) => ResponseKind::CreatePartitions(
            create_partitions::error_response(request, api_version, code),
        ),
        RequestKind::DeleteRecords(request) => {
            ResponseKind::DeleteRecords(delete_records::error_response(request, api_version, code))
        }
        RequestKind::DescribeConfigs(request) => ResponseKind::DescribeConfigs(
            describe_configs::error_response(request, api_version, code),
        ),
        RequestKind::AlterConfigs(request) => {
            ResponseKind::AlterConfigs(alter_configs::error_response(request, api_version, code))
        }
        RequestKind::IncrementalAlterConfigs(request) => ResponseKind::IncrementalAlterConfigs(
            incremental_alter_configs::error_response(request, api_version, code),
        ),
        _ => return None,
    })
}

/// A `StrBytes` from a `&str` (response fields).
fn str_bytes(s: &str) -> kmock_wire::kafka_protocol::protocol::StrBytes {
    kmock_wire::kafka_protocol::protocol::StrBytes::from_string(s.to_owned())
}

/// A `TopicName` from a `&str`.
fn topic_name(s: &str) -> kmock_wire::kafka_protocol::messages::TopicName {
    str_bytes(s).into()
}

/// Cluster events on the topics' leaderships (see [`crate::cluster`]).
impl LogStore {
    /// Fences `node` in every topic partition (the cluster has marked it down); the partitions
    /// whose leader changed.
    pub(crate) fn fence_topics(&mut self, node: i32) -> Vec<(String, i32)> {
        let cluster = &self.cluster;
        let mut moved = Vec::new();
        for (name, topic) in &mut self.topics {
            for (index, leadership) in topic.leadership.iter_mut().enumerate() {
                if leadership.fence(node, |n| cluster.is_up(n)) {
                    moved.push((name.clone(), i32::try_from(index).expect("bounded")));
                }
            }
        }
        moved
    }

    /// Unfences `node` in every topic partition (the cluster has marked it up); the partitions
    /// whose leader changed.
    pub(crate) fn unfence_topics(&mut self, node: i32) -> Vec<(String, i32)> {
        let mut moved = Vec::new();
        for (name, topic) in &mut self.topics {
            for (index, leadership) in topic.leadership.iter_mut().enumerate() {
                if leadership.unfence(node) {
                    moved.push((name.clone(), i32::try_from(index).expect("bounded")));
                }
            }
        }
        moved
    }

    /// Applies `change` to one partition's leadership; whether its leader changed.
    pub(crate) fn change_leadership(
        &mut self,
        topic: &str,
        partition: i32,
        change: impl FnOnce(
            &mut PartitionLeadership,
            crate::cluster::PartitionName<'_>,
            &Cluster,
        ) -> Result<bool, crate::cluster::ClusterError>,
    ) -> Result<bool, crate::cluster::ClusterError> {
        let unknown = || crate::cluster::ClusterError::UnknownPartition {
            topic: topic.to_owned(),
            partition,
        };
        let index = usize::try_from(partition).map_err(|_| unknown())?;
        let leadership = self
            .topics
            .get_mut(topic)
            .and_then(|t| t.leadership.get_mut(index))
            .ok_or_else(unknown)?;
        let name = crate::cluster::PartitionName { topic, partition };
        change(leadership, name, &self.cluster)
    }
}
