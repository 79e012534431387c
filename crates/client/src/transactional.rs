//! An idempotent, transactional producer (KIP-98), sequential by design: one request at a time,
//! so what it sends is easy to follow in a simulation trace.
//!
//! [`TransactionalProducer::init`] finds the transaction coordinator of its `transactional.id`
//! (FindCoordinator key type 1) and gets a producer id and epoch (InitProducerId), which fences an
//! older instance with the same id. Then, per transaction: [`TransactionalProducer::begin`];
//! [`TransactionalProducer::send`] (the partition joins the transaction with AddPartitionsToTxn
//! the first time, then a Produce of one batch with the producer id, epoch and the partition's
//! next sequence number); [`TransactionalProducer::send_offsets`] (AddOffsetsToTxn, then
//! TxnOffsetCommit to the group coordinator: the group's offsets move when the transaction
//! commits); [`TransactionalProducer::commit`] or [`TransactionalProducer::abort`] (EndTxn).
//!
//! Retries, each operation within [`MAX_ATTEMPTS`] attempts: a lost answer (connection closed,
//! request timeout) is retried as it was — a Produce with the same sequence number, which the
//! broker answers with the original offset; an EndTxn, which the broker answers NONE once the
//! transaction has ended as asked. CONCURRENT_TRANSACTIONS and COORDINATOR_LOAD_IN_PROGRESS are
//! retried after the retry backoff; NOT_COORDINATOR and COORDINATOR_NOT_AVAILABLE after looking
//! the coordinator up again.
//!
//! Errors: PRODUCER_FENCED, INVALID_PRODUCER_EPOCH and INVALID_PRODUCER_ID_MAPPING mean another
//! instance (or the broker, after the transaction timed out) took the transactional id over:
//! the producer is fenced, every later call fails with [`ClientError::Broker`] carrying that code
//! (Java's `ProducerFencedException` is fatal the same way). Any other error of a transaction
//! leaves it open: the caller aborts it.
//!
//! # References
//! - Kafka `TransactionManager`, `Sender` (the Java producer), librdkafka `rdkafka_txnmgr.c`
//! - KIP-98 (transactions), KIP-447 (TxnOffsetCommit group metadata)

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kmock_wire::kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kmock_wire::kafka_protocol::messages::produce_request::{
    PartitionProduceData, TopicProduceData,
};
use kmock_wire::kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kmock_wire::kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, EndTxnRequest, InitProducerIdRequest,
    ProduceRequest, ProducerId, TxnOffsetCommitRequest,
};
use kmock_wire::kafka_protocol::protocol::StrBytes;
use kmock_wire::kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use crate::cluster::Cluster;
use crate::error::{ClientError, codes};
use crate::partitioner::partition_for_key;
use crate::producer::{RecordMetadata, WallClock};

/// Attempts per operation (a request and its retries).
pub const MAX_ATTEMPTS: usize = 10;

/// A consumer group member's identity for [`TransactionalProducer::send_offsets`] (KIP-447): the
/// broker checks it as it checks an OffsetCommit.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupMember {
    /// The member id ("" for none).
    pub member_id: String,
    /// The generation (-1 for none).
    pub generation_id: i32,
}

/// What to do after a failed attempt.
enum Next {
    /// Send the same request again after the retry backoff.
    Retry,
    /// Look the coordinator up again, then retry.
    FindCoordinator,
    /// Give up with this error.
    Fail(ClientError),
}

/// The producer. See the module docs.
pub struct TransactionalProducer {
    cluster: Cluster,
    transactional_id: String,
    timeout_ms: i32,
    clock: WallClock,
    producer_id: i64,
    producer_epoch: i16,
    /// The transaction coordinator's node id.
    coordinator: i32,
    in_transaction: bool,
    /// Partitions and groups already in the open transaction.
    partitions: BTreeSet<(String, i32)>,
    groups: BTreeSet<String>,
    /// The next sequence number per partition (this producer id and epoch).
    sequences: BTreeMap<(String, i32), i32>,
    /// Set once fenced: every later call fails with it.
    fenced: Option<ClientError>,
}

impl std::fmt::Debug for TransactionalProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransactionalProducer")
            .field("transactional_id", &self.transactional_id)
            .field("producer_id", &self.producer_id)
            .field("producer_epoch", &self.producer_epoch)
            .field("in_transaction", &self.in_transaction)
            .finish_non_exhaustive()
    }
}

impl TransactionalProducer {
    /// Initialises `transactional_id` (fencing an older instance) with `transaction_timeout`;
    /// record timestamps come from `clock`.
    pub async fn init(
        cluster: Cluster,
        transactional_id: &str,
        transaction_timeout: Duration,
        clock: WallClock,
    ) -> Result<Self, ClientError> {
        let coordinator = cluster
            .find_transaction_coordinator(transactional_id)
            .await?;
        let mut producer = Self {
            cluster,
            transactional_id: transactional_id.to_owned(),
            timeout_ms: i32::try_from(transaction_timeout.as_millis()).unwrap_or(i32::MAX),
            clock,
            producer_id: -1,
            producer_epoch: -1,
            coordinator: coordinator.node_id,
            in_transaction: false,
            partitions: BTreeSet::new(),
            groups: BTreeSet::new(),
            sequences: BTreeMap::new(),
            fenced: None,
        };
        let request = InitProducerIdRequest::default()
            .with_transactional_id(Some(producer.id().into()))
            .with_transaction_timeout_ms(producer.timeout_ms);
        let response = producer
            .coordinator_call("InitProducerId", &request, |r| r.error_code)
            .await?;
        producer.producer_id = response.producer_id.0;
        producer.producer_epoch = response.producer_epoch;
        Ok(producer)
    }

    /// The producer id and epoch.
    pub fn producer(&self) -> (i64, i16) {
        (self.producer_id, self.producer_epoch)
    }

    /// Whether a transaction is open.
    pub fn in_transaction(&self) -> bool {
        self.in_transaction
    }

    fn id(&self) -> StrBytes {
        StrBytes::from_string(self.transactional_id.clone())
    }

    fn check_usable(&self) -> Result<(), ClientError> {
        match &self.fenced {
            Some(error) => Err(error.clone()),
            None => Ok(()),
        }
    }

    /// Starts a transaction (locally: the broker learns of it with the first partition or group).
    pub fn begin(&mut self) -> Result<(), ClientError> {
        self.check_usable()?;
        if self.in_transaction {
            return Err(ClientError::Protocol(
                "begin: a transaction is already open".into(),
            ));
        }
        self.in_transaction = true;
        Ok(())
    }

    /// Sends one record in the open transaction, to `partition` or, when `None`, to the key's
    /// murmur2 partition (partition 0 for a keyless record); waits for its offset.
    pub async fn send(
        &mut self,
        topic: &str,
        partition: Option<i32>,
        key: Option<&[u8]>,
        value: &[u8],
    ) -> Result<RecordMetadata, ClientError> {
        self.check_usable()?;
        if !self.in_transaction {
            return Err(ClientError::Protocol(
                "send: no transaction is open (call begin)".into(),
            ));
        }
        let metadata = self.cluster.topic(topic).await?;
        let partition = match (partition, key) {
            (Some(partition), _) => partition,
            (None, Some(key)) => partition_for_key(key, metadata.partition_count()),
            (None, None) => 0,
        };
        let tp = (topic.to_owned(), partition);
        if !self.partitions.contains(&tp) {
            self.add_partition(topic, partition).await?;
            self.partitions.insert(tp.clone());
        }
        let sequence = self.sequences.get(&tp).copied().unwrap_or(0);
        let batch = self.batch(key, value, sequence)?;
        let offset = self.produce(topic, partition, batch).await?;
        self.sequences.insert(tp, sequence.wrapping_add(1).max(0));
        Ok(RecordMetadata { partition, offset })
    }

    /// One transactional batch of one record at `sequence`.
    fn batch(&self, key: Option<&[u8]>, value: &[u8], sequence: i32) -> Result<Bytes, ClientError> {
        let record = Record {
            transactional: true,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: self.producer_id,
            producer_epoch: self.producer_epoch,
            timestamp_type: TimestampType::Creation,
            offset: 0,
            sequence,
            timestamp: (self.clock)(),
            key: key.map(Bytes::copy_from_slice),
            value: Some(Bytes::copy_from_slice(value)),
            headers: Default::default(),
        };
        let mut encoded = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut encoded,
            [&record],
            &RecordEncodeOptions {
                version: 2,
                compression: Compression::None,
            },
        )
        .map_err(|e| ClientError::Protocol(format!("cannot encode a record batch: {e:#}")))?;
        Ok(encoded.freeze())
    }

    async fn add_partition(&mut self, topic: &str, partition: i32) -> Result<(), ClientError> {
        let request = AddPartitionsToTxnRequest::default()
            .with_v3_and_below_transactional_id(self.id().into())
            .with_v3_and_below_producer_id(ProducerId(self.producer_id))
            .with_v3_and_below_producer_epoch(self.producer_epoch)
            .with_v3_and_below_topics(vec![
                AddPartitionsToTxnTopic::default()
                    .with_name(StrBytes::from_string(topic.to_owned()).into())
                    .with_partitions(vec![partition]),
            ]);
        self.coordinator_call("AddPartitionsToTxn", &request, |r| {
            r.results_by_topic_v3_and_below
                .iter()
                .flat_map(|t| t.results_by_partition.iter())
                .map(|p| p.partition_error_code)
                .find(|code| *code != codes::NONE)
                .unwrap_or(codes::NONE)
        })
        .await
        .map(|_| ())
    }

    /// Produces one batch to the partition's leader; its base offset.
    async fn produce(
        &mut self,
        topic: &str,
        partition: i32,
        batch: Bytes,
    ) -> Result<i64, ClientError> {
        let request = ProduceRequest::default()
            .with_transactional_id(Some(self.id().into()))
            .with_acks(-1)
            .with_timeout_ms(
                i32::try_from(self.cluster.settings().request_timeout_ms).unwrap_or(i32::MAX),
            )
            .with_topic_data(vec![
                TopicProduceData::default()
                    .with_name(StrBytes::from_string(topic.to_owned()).into())
                    .with_partition_data(vec![
                        PartitionProduceData::default()
                            .with_index(partition)
                            .with_records(Some(batch)),
                    ]),
            ]);
        let mut last_error = ClientError::Closed;
        for attempt in 0..MAX_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(self.cluster.settings().retry_backoff()).await;
            }
            let metadata = self.cluster.topic(topic).await?;
            let Some(leader) = metadata.leader(partition) else {
                self.cluster.invalidate_topic(topic);
                continue;
            };
            let response = match self.cluster.send_to_node(leader, &request).await {
                Ok(response) => response,
                Err(error) if error.is_connection_error() => {
                    // The batch may be in the log: the retry's sequence makes it a duplicate.
                    last_error = error;
                    continue;
                }
                Err(error) => return Err(error),
            };
            let Some(result) = response
                .responses
                .iter()
                .flat_map(|t| t.partition_responses.iter())
                .find(|p| p.index == partition)
            else {
                return Err(ClientError::Protocol(format!(
                    "Produce response without {topic}-{partition}"
                )));
            };
            match result.error_code {
                codes::NONE => return Ok(result.base_offset),
                code @ (codes::NOT_LEADER_OR_FOLLOWER | codes::NOT_ENOUGH_REPLICAS) => {
                    self.cluster.invalidate_topic(topic);
                    last_error = ClientError::broker("Produce", code, None);
                }
                code => return Err(self.failed("Produce", code)),
            }
        }
        Err(last_error)
    }

    /// Adds `group_id` to the open transaction and commits `offsets` (`(topic, partition,
    /// offset)`: the next offset to consume) for it; they become the group's committed offsets
    /// when the transaction commits.
    pub async fn send_offsets(
        &mut self,
        group_id: &str,
        offsets: &[(String, i32, i64)],
        member: &GroupMember,
    ) -> Result<(), ClientError> {
        self.check_usable()?;
        if !self.in_transaction {
            return Err(ClientError::Protocol(
                "send_offsets: no transaction is open (call begin)".into(),
            ));
        }
        if !self.groups.contains(group_id) {
            let request = AddOffsetsToTxnRequest::default()
                .with_transactional_id(self.id().into())
                .with_producer_id(ProducerId(self.producer_id))
                .with_producer_epoch(self.producer_epoch)
                .with_group_id(StrBytes::from_string(group_id.to_owned()).into());
            self.coordinator_call("AddOffsetsToTxn", &request, |r| r.error_code)
                .await?;
            self.groups.insert(group_id.to_owned());
        }
        let mut by_topic: BTreeMap<&str, Vec<TxnOffsetCommitRequestPartition>> = BTreeMap::new();
        for (topic, partition, offset) in offsets {
            by_topic.entry(topic).or_default().push(
                TxnOffsetCommitRequestPartition::default()
                    .with_partition_index(*partition)
                    .with_committed_offset(*offset)
                    .with_committed_metadata(Some(StrBytes::from_static_str(""))),
            );
        }
        let mut request = TxnOffsetCommitRequest::default()
            .with_transactional_id(self.id().into())
            .with_group_id(StrBytes::from_string(group_id.to_owned()).into())
            .with_producer_id(ProducerId(self.producer_id))
            .with_producer_epoch(self.producer_epoch)
            .with_topics(
                by_topic
                    .into_iter()
                    .map(|(topic, partitions)| {
                        TxnOffsetCommitRequestTopic::default()
                            .with_name(StrBytes::from_string(topic.to_owned()).into())
                            .with_partitions(partitions)
                    })
                    .collect(),
            );
        if self
            .cluster
            .versions()
            .version_of::<TxnOffsetCommitRequest>()?
            >= 3
        {
            request.member_id = StrBytes::from_string(member.member_id.clone());
            request.generation_id = member.generation_id;
        }
        let mut last_error = ClientError::Closed;
        for attempt in 0..MAX_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(self.cluster.settings().retry_backoff()).await;
            }
            let coordinator = self.cluster.find_coordinator(group_id).await?;
            let response = match self
                .cluster
                .send_to_node(coordinator.node_id, &request)
                .await
            {
                Ok(response) => response,
                Err(error) if error.is_connection_error() => {
                    last_error = error;
                    continue;
                }
                Err(error) => return Err(error),
            };
            let code = response
                .topics
                .iter()
                .flat_map(|t| t.partitions.iter())
                .map(|p| p.error_code)
                .find(|code| *code != codes::NONE)
                .unwrap_or(codes::NONE);
            match code {
                codes::NONE => return Ok(()),
                code if codes::is_coordinator_moved(code)
                    || code == codes::CONCURRENT_TRANSACTIONS =>
                {
                    last_error = ClientError::broker("TxnOffsetCommit", code, None);
                }
                code => return Err(self.failed("TxnOffsetCommit", code)),
            }
        }
        Err(last_error)
    }

    /// Commits the open transaction (EndTxn).
    pub async fn commit(&mut self) -> Result<(), ClientError> {
        self.end(true).await
    }

    /// Aborts the open transaction (EndTxn); records sent in it are hidden from read_committed
    /// consumers and its offsets dropped.
    pub async fn abort(&mut self) -> Result<(), ClientError> {
        self.end(false).await
    }

    async fn end(&mut self, commit: bool) -> Result<(), ClientError> {
        self.check_usable()?;
        if !self.in_transaction {
            return Err(ClientError::Protocol("no transaction is open".into()));
        }
        if !self.partitions.is_empty() || !self.groups.is_empty() {
            let request = EndTxnRequest::default()
                .with_transactional_id(self.id().into())
                .with_producer_id(ProducerId(self.producer_id))
                .with_producer_epoch(self.producer_epoch)
                .with_committed(commit);
            self.coordinator_call("EndTxn", &request, |r| r.error_code)
                .await?;
        }
        self.in_transaction = false;
        self.partitions.clear();
        self.groups.clear();
        Ok(())
    }

    /// Sends `request` to the transaction coordinator with the retries of the module docs.
    async fn coordinator_call<R>(
        &mut self,
        api: &str,
        request: &R,
        error_code: impl Fn(&R::Response) -> i16,
    ) -> Result<R::Response, ClientError>
    where
        R: kmock_wire::kafka_protocol::protocol::Request,
    {
        let mut last_error = ClientError::Closed;
        for attempt in 0..MAX_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(self.cluster.settings().retry_backoff()).await;
            }
            let outcome = self.cluster.send_to_node(self.coordinator, request).await;
            let next = match outcome {
                Ok(response) => match error_code(&response) {
                    codes::NONE => return Ok(response),
                    code @ (codes::CONCURRENT_TRANSACTIONS
                    | codes::COORDINATOR_LOAD_IN_PROGRESS) => {
                        last_error = ClientError::broker(api, code, None);
                        Next::Retry
                    }
                    code @ (codes::NOT_COORDINATOR | codes::COORDINATOR_NOT_AVAILABLE) => {
                        last_error = ClientError::broker(api, code, None);
                        Next::FindCoordinator
                    }
                    code => Next::Fail(self.failed(api, code)),
                },
                Err(error) if error.is_connection_error() => {
                    last_error = error;
                    Next::Retry
                }
                Err(error) => Next::Fail(error),
            };
            match next {
                Next::Retry => {}
                Next::FindCoordinator => {
                    self.coordinator = self
                        .cluster
                        .find_transaction_coordinator(&self.transactional_id)
                        .await?
                        .node_id;
                }
                Next::Fail(error) => return Err(error),
            }
        }
        Err(last_error)
    }

    /// The error for `code`; a fencing code also fences this producer.
    fn failed(&mut self, api: &str, code: i16) -> ClientError {
        let error = ClientError::broker(api, code, None);
        if matches!(
            code,
            codes::PRODUCER_FENCED
                | codes::INVALID_PRODUCER_EPOCH
                | codes::INVALID_PRODUCER_ID_MAPPING
        ) {
            tracing::info!(transactional_id = %self.transactional_id, %error, "producer fenced");
            self.fenced = Some(error.clone());
            self.in_transaction = false;
        }
        error
    }
}
