//! A thin producer in the seed's style: built from a shared [`Cluster`] handle, no start/stop of
//! its own (the connection lifecycle belongs to the handle's owner), and
//! [`Producer::publish`]`(topic, key, value, headers)` returning the partition and offset.
//!
//! Owns: partition choice (murmur2 for keyed records, round-robin for unkeyed ones), record batch
//! encoding (magic 2, uncompressed), the Produce request and its error handling (metadata refresh
//! and retry on leader changes). Concurrent publishes to one partition are batched: records queued
//! while a Produce to that partition is in flight go out together in the next request. Each
//! partition's records are sent by one task, started by its first record and kept (idle between
//! records) until the last producer handle is dropped.
//!
//! Record timestamps come from an injectable wall clock ([`Producer::with_clock`]); the default
//! reads the system clock, the simulation passes a virtual one.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};

use bytes::{Bytes, BytesMut};
use indexmap::IndexMap;
use kmock_wire::kafka_protocol::messages::ProduceRequest;
use kmock_wire::kafka_protocol::messages::produce_request::{
    PartitionProduceData, TopicProduceData,
};
use kmock_wire::kafka_protocol::protocol::StrBytes;
use kmock_wire::kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

use crate::cluster::{Cluster, TopicMetadata};
use crate::error::{ClientError, codes};
use crate::partitioner::partition_for_key;
use crate::settings::Acks;

/// Where a record was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordMetadata {
    /// Partition.
    pub partition: i32,
    /// Offset of the record (-1 with `acks=0`).
    pub offset: i64,
}

/// Milliseconds since the Unix epoch, for record timestamps.
pub type WallClock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Attempts per publish on retriable errors (leader moved, connection lost).
const MAX_ATTEMPTS: usize = 3;

/// Most records sent in one Produce request for one partition.
const MAX_BATCH_RECORDS: usize = 10_000;

/// Most key, value and header bytes sent in one Produce request for one partition (a single
/// larger record still goes alone); below Kafka's default `message.max.bytes` of 1 MiB.
const MAX_BATCH_BYTES: usize = 512 * 1024;

fn record_bytes(record: &Record) -> usize {
    record.key.as_ref().map_or(0, Bytes::len)
        + record.value.as_ref().map_or(0, Bytes::len)
        + record
            .headers
            .iter()
            .map(|(k, v)| k.len() + v.as_ref().map_or(0, Bytes::len))
            .sum::<usize>()
}

/// A record waiting for the next Produce to its partition.
struct Queued {
    record: Record,
    reply: oneshot::Sender<Result<RecordMetadata, ClientError>>,
}

#[derive(Default)]
struct PartitionQueue {
    /// Records waiting.
    queued: Vec<Queued>,
    /// Whether the partition's sender task is draining this queue (otherwise it waits for its
    /// `wake`, or has not been started yet).
    sending: bool,
    /// The partition's sender task; `None` until the first record starts it.
    sender: Option<SenderTask>,
}

/// A partition's sender task and what wakes it when records arrive for an idle queue.
struct SenderTask {
    wake: Arc<Notify>,
    task: JoinHandle<()>,
}

struct Inner {
    cluster: Cluster,
    acks: Acks,
    clock: WallClock,
    next_unkeyed: AtomicU32,
    /// By topic, then partition (looked up by `&str`: no key allocated per record).
    queues: Mutex<BTreeMap<String, BTreeMap<i32, PartitionQueue>>>,
}

impl Drop for Inner {
    /// The last producer handle is gone: the idle sender tasks wake, find no producer and end.
    fn drop(&mut self) {
        let queues = self.queues.get_mut().unwrap_or_else(|e| e.into_inner());
        for queue in queues.values().flat_map(BTreeMap::values) {
            if let Some(sender) = &queue.sender {
                sender.wake.notify_one();
            }
        }
    }
}

/// The producer. Cheap to clone.
#[derive(Clone)]
pub struct Producer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("acks", &self.inner.acks)
            .finish_non_exhaustive()
    }
}

fn system_clock() -> WallClock {
    Arc::new(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    })
}

impl Producer {
    /// A producer on `cluster` with the handle's `acks` setting.
    pub fn new(cluster: Cluster) -> Self {
        let acks = cluster.settings().acks;
        Self::with_options(cluster, acks, system_clock())
    }

    /// A producer with explicit acks.
    pub fn with_acks(cluster: Cluster, acks: Acks) -> Self {
        Self::with_options(cluster, acks, system_clock())
    }

    /// A producer whose record timestamps come from `clock` (e.g. a virtual clock in the
    /// simulation).
    pub fn with_clock(cluster: Cluster, clock: WallClock) -> Self {
        let acks = cluster.settings().acks;
        Self::with_options(cluster, acks, clock)
    }

    fn with_options(cluster: Cluster, acks: Acks, clock: WallClock) -> Self {
        Self {
            inner: Arc::new(Inner {
                cluster,
                acks,
                clock,
                next_unkeyed: AtomicU32::new(0),
                queues: Mutex::new(BTreeMap::new()),
            }),
        }
    }

    /// The cluster handle.
    pub fn cluster(&self) -> &Cluster {
        &self.inner.cluster
    }

    /// Publishes one record and waits for its acknowledgement. Keyed records go to
    /// `murmur2(key) % partitions`; unkeyed records are spread round-robin.
    pub async fn publish(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        value: &[u8],
        headers: &[(&str, &[u8])],
    ) -> Result<RecordMetadata, ClientError> {
        self.publish_to(topic, None, key, Some(value), headers)
            .await
    }

    /// Publishes one record, to `partition` if given (else as [`Producer::publish`]); `value`
    /// `None` is a tombstone.
    pub async fn publish_to(
        &self,
        topic: &str,
        partition: Option<i32>,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[(&str, &[u8])],
    ) -> Result<RecordMetadata, ClientError> {
        let partitions = self
            .inner
            .cluster
            .with_topic(topic, TopicMetadata::partition_count)
            .await?;
        if partitions <= 0 {
            return Err(ClientError::UnknownTopic {
                topic: topic.to_owned(),
            });
        }
        let partition = match (partition, key) {
            (Some(p), _) if (0..partitions).contains(&p) => p,
            (Some(p), _) => {
                return Err(ClientError::broker(
                    "Produce",
                    codes::UNKNOWN_TOPIC_OR_PARTITION,
                    Some(format!("partition {p} of {topic} does not exist")),
                ));
            }
            (None, Some(key)) => partition_for_key(key, partitions),
            (None, None) => {
                let n = self.inner.next_unkeyed.fetch_add(1, Ordering::Relaxed);
                i32::try_from(n % partitions as u32).unwrap_or(0)
            }
        };
        let record = Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: 0,
            sequence: -1,
            timestamp: (self.inner.clock)(),
            key: key.map(Bytes::copy_from_slice),
            value: value.map(Bytes::copy_from_slice),
            headers: headers
                .iter()
                .map(|(k, v)| {
                    (
                        StrBytes::from_string((*k).to_owned()),
                        Some(Bytes::copy_from_slice(v)),
                    )
                })
                .collect::<IndexMap<_, _>>(),
        };
        let (reply, result) = oneshot::channel();
        {
            let mut queues = self.inner.queues.lock().expect("never poisoned");
            let partitions = match queues.get_mut(topic) {
                Some(partitions) => partitions,
                None => queues.entry(topic.to_owned()).or_default(),
            };
            let queue = partitions.entry(partition).or_default();
            queue.queued.push(Queued { record, reply });
            // The sender is a task, so a caller that gives up does not strand the others'
            // records. One per partition, kept while the producer lives: it waits for the next
            // records instead of ending (a spawn per published record was a task allocation and
            // set-up per record for a producer that publishes one at a time). Woken, it is
            // scheduled where a freshly spawned task would have been.
            match &queue.sender {
                // Running: it takes these records with the others, or is woken for them.
                Some(sender) if !sender.task.is_finished() => {
                    if !std::mem::replace(&mut queue.sending, true) {
                        sender.wake.notify_one();
                    }
                }
                // The first record, or the task is gone with the runtime it ran on (a producer
                // kept across `#[tokio::test]`s, each with its own runtime): a new one here.
                _ => {
                    let wake = Arc::new(Notify::new());
                    let task = tokio::spawn(drain(
                        Arc::downgrade(&self.inner),
                        topic.to_owned(),
                        partition,
                        wake.clone(),
                    ));
                    queue.sender = Some(SenderTask { wake, task });
                    queue.sending = true;
                }
            }
        }
        result.await.unwrap_or(Err(ClientError::Closed))
    }
}

/// The sender task of one partition: drains its queue whenever records arrive, until the
/// producer is gone. Holds the producer only while it sends, so dropping the last handle ends it.
async fn drain(inner: Weak<Inner>, topic: String, partition: i32, wake: Arc<Notify>) {
    loop {
        match inner.upgrade() {
            Some(inner) => send_queued(&inner, &topic, partition).await,
            None => return,
        }
        wake.notified().await;
    }
}

/// Sends the queued records of one partition, batch after batch, until the queue is empty.
async fn send_queued(inner: &Inner, topic: &str, partition: i32) {
    loop {
        let batch: Vec<Queued> = {
            let mut queues = inner.queues.lock().expect("never poisoned");
            let Some(queue) = queues
                .get_mut(topic)
                .and_then(|partitions| partitions.get_mut(&partition))
            else {
                return;
            };
            if queue.queued.is_empty() {
                queue.sending = false;
                return;
            }
            let mut take = 0;
            let mut bytes = 0;
            for queued in queue.queued.iter().take(MAX_BATCH_RECORDS) {
                bytes += record_bytes(&queued.record);
                if take > 0 && bytes > MAX_BATCH_BYTES {
                    break;
                }
                take += 1;
            }
            queue.queued.drain(..take).collect()
        };
        // Offsets within the batch are relative; the broker assigns the base. The encoder puts
        // records into one record batch while `offset - sequence` stays the same, and writes the
        // first record's sequence as the batch's base sequence: `index - 1` gives one batch with
        // base sequence -1 (none), as Java's producer writes without idempotence. (With the same
        // sequence on every record, each record became a batch of its own: 61 bytes of header per
        // record, and a stored batch per record on the broker.)
        // The records are moved out of the queue, not copied: a copy of a record's key and value
        // allocated twice per record (a `Bytes` made from a `Vec` allocates its shared header on
        // its first clone).
        let (records, replies): (Vec<Record>, Vec<_>) = batch
            .into_iter()
            .enumerate()
            .map(|(index, queued)| {
                let record = Record {
                    offset: index as i64,
                    sequence: i32::try_from(index).unwrap_or(i32::MAX) - 1,
                    ..queued.record
                };
                (record, queued.reply)
            })
            .unzip();
        let result = send_batch(inner, topic, partition, &records).await;
        drop(records);
        for (index, reply) in replies.into_iter().enumerate() {
            let outcome = result.clone().map(|base_offset| RecordMetadata {
                partition,
                offset: if base_offset < 0 {
                    -1
                } else {
                    base_offset + index as i64
                },
            });
            let _ = reply.send(outcome);
        }
    }
}

/// Bytes a v2 batch of `records` takes, about (a 61-byte header; per record its key, value and
/// header bytes plus up to 20 bytes of lengths, deltas and attributes): the encoder's buffer is
/// allocated once instead of grown step by step.
fn batch_size_estimate(records: &[Record]) -> usize {
    let payload: usize = records
        .iter()
        .map(|record| {
            let key = record.key.as_ref().map_or(0, Bytes::len);
            let value = record.value.as_ref().map_or(0, Bytes::len);
            let headers: usize = record
                .headers
                .iter()
                .map(|(name, value)| name.len() + value.as_ref().map_or(0, Bytes::len) + 10)
                .sum();
            20 + key + value + headers
        })
        .sum();
    61 + payload
}

/// Produces `records` to one partition; returns the base offset.
async fn send_batch(
    inner: &Inner,
    topic: &str,
    partition: i32,
    records: &[Record],
) -> Result<i64, ClientError> {
    let cluster = &inner.cluster;
    let mut encoded = BytesMut::with_capacity(batch_size_estimate(records));
    RecordBatchEncoder::encode(
        &mut encoded,
        records.iter(),
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .map_err(|e| ClientError::Protocol(format!("cannot encode a record batch: {e:#}")))?;
    let request = ProduceRequest::default()
        .with_acks(inner.acks.as_i16())
        .with_timeout_ms(i32::try_from(cluster.settings().request_timeout_ms).unwrap_or(i32::MAX))
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(StrBytes::from_string(topic.to_owned()).into())
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(encoded.freeze())),
                ]),
        ]);
    let mut last_error = ClientError::Closed;
    for attempt in 0..MAX_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(cluster.settings().retry_backoff()).await;
        }
        let leader = cluster
            .with_topic(topic, |metadata| metadata.leader(partition))
            .await?;
        let Some(leader) = leader else {
            cluster.invalidate_topic(topic);
            last_error = ClientError::broker("Produce", codes::LEADER_NOT_AVAILABLE, None);
            continue;
        };
        if inner.acks == Acks::None {
            let version = cluster.versions().version_of::<ProduceRequest>()?;
            let connection = cluster.node_connection(leader).await?;
            connection.send_without_response(&request, version)?;
            return Ok(-1);
        }
        let response = match cluster.send_to_node(leader, &request).await {
            Ok(response) => response,
            Err(error @ (ClientError::ConnectionClosed { .. } | ClientError::Connect { .. })) => {
                // The leader's broker may be gone: look the leader up again.
                cluster.invalidate_topic(topic);
                last_error = error;
                continue;
            }
            Err(error) => return Err(error),
        };
        let Some(result) = response
            .responses
            .iter()
            .filter(|t| t.name.0.as_str() == topic)
            .flat_map(|t| t.partition_responses.iter())
            .find(|p| p.index == partition)
        else {
            return Err(ClientError::Protocol(format!(
                "Produce response without {topic}-{partition}"
            )));
        };
        match result.error_code {
            codes::NONE => return Ok(result.base_offset),
            code @ (codes::NOT_LEADER_OR_FOLLOWER
            | codes::LEADER_NOT_AVAILABLE
            | codes::UNKNOWN_TOPIC_OR_PARTITION) => {
                cluster.invalidate_topic(topic);
                last_error = if code == codes::UNKNOWN_TOPIC_OR_PARTITION {
                    ClientError::UnknownTopic {
                        topic: topic.to_owned(),
                    }
                } else {
                    ClientError::broker("Produce", code, None)
                };
            }
            code => {
                return Err(ClientError::broker(
                    "Produce",
                    code,
                    result.error_message.as_ref().map(|m| m.to_string()),
                ));
            }
        }
    }
    Err(last_error)
}
