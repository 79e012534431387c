//! The fetch loop of one generation: start positions (committed offset, else ListOffsets per
//! `auto_offset_reset`), long-polling Fetch per leader on a dedicated connection, record batch
//! decoding, and delivery into the consumer's channel (which gives backpressure).
//!
//! Transactions: control batches (markers) are never delivered, and the position moves past
//! them. With `isolation_level` read_committed, Fetch and ListOffsets ask for committed data only
//! (the broker stops at the last stable offset) and the records of the aborted transactions the
//! response lists are dropped, as Java's `CompletedFetch` does: a transactional batch of producer
//! P is dropped from the first offset of one of P's aborted transactions until P's ABORT marker.
//!
//! Owns: fetch positions and the fetch connections of one generation. It is aborted (and its
//! connections closed) when the member rebalances or stops; a new one starts with the next
//! assignment.
//!
//! One task per leader node with the partitions it leads; when a partition's leader moves
//! (NOT_LEADER_OR_FOLLOWER) or a leader cannot be reached (its broker went down), the tasks stop
//! and the partitions are grouped again by the leaders a fresh Metadata names, resuming from the
//! positions the tasks reached (shared, written after every fetch).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kmock_wire::kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kmock_wire::kafka_protocol::messages::list_offsets_request::{
    ListOffsetsPartition, ListOffsetsTopic,
};
use kmock_wire::kafka_protocol::messages::{FetchRequest, ListOffsetsRequest};
use kmock_wire::kafka_protocol::protocol::StrBytes;
use kmock_wire::kafka_protocol::records::RecordBatchDecoder;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::protocol::Assignment;
use super::{ConsumerRecord, Delivery, Positions};
use crate::cluster::{Cluster, Node};
use crate::connection::Connection;
use crate::error::{ClientError, codes};
use crate::settings::{AutoOffsetReset, Settings};

/// Bytes asked per partition per fetch (Kafka's `max.partition.fetch.bytes`).
const MAX_PARTITION_FETCH_BYTES: i32 = 1024 * 1024;
/// Bytes asked per fetch (Kafka's `fetch.max.bytes`).
const FETCH_MAX_BYTES: i32 = 50 * 1024 * 1024;

/// Everything one generation's fetcher needs.
pub(crate) struct FetcherContext {
    pub(crate) cluster: Cluster,
    pub(crate) settings: Settings,
    pub(crate) generation: i32,
    pub(crate) assignment: Assignment,
    pub(crate) committed: BTreeMap<(String, i32), i64>,
    pub(crate) sink: mpsc::Sender<Delivery>,
    pub(crate) positions: Arc<Positions>,
}

type TopicPartition = (String, i32);

/// Fetch positions of the generation, shared by its per-leader tasks (`None`: not yet known, to
/// be looked up with ListOffsets). A task writes its positions back after every fetch, so a
/// relocation resumes where the tasks were (at most one fetch is delivered twice: at-least-once).
type SharedPositions = Arc<std::sync::Mutex<BTreeMap<TopicPartition, Option<i64>>>>;

/// Why a per-leader task ended.
enum Ended {
    /// The consumer's channel closed: the generation is over.
    SinkClosed,
    /// Its leader stopped leading (NOT_LEADER_OR_FOLLOWER), or cannot be reached: regroup the
    /// partitions by their current leaders.
    Relocate,
}

/// Runs until aborted or until the consumer's channel closes.
pub(crate) async fn run(context: FetcherContext) {
    let context = Arc::new(context);
    let positions: SharedPositions = Arc::new(std::sync::Mutex::new(
        context
            .assignment
            .iter()
            .flat_map(|(topic, partitions)| partitions.iter().map(|p| (topic.clone(), *p)))
            .map(|tp| {
                let committed = context.committed.get(&tp).copied();
                (tp, committed)
            })
            .collect(),
    ));
    loop {
        let by_leader = group_by_leader(&context).await;
        let mut tasks = JoinSet::new();
        for (leader, partitions) in by_leader {
            tasks.spawn(fetch_from(
                context.clone(),
                leader,
                partitions,
                positions.clone(),
            ));
        }
        match tasks.join_next().await {
            None | Some(Ok(Ended::SinkClosed)) => return,
            Some(Ok(Ended::Relocate)) | Some(Err(_)) => {
                tasks.abort_all();
                while tasks.join_next().await.is_some() {}
                for topic in context.assignment.keys() {
                    context.cluster.invalidate_topic(topic);
                }
                tracing::debug!("a partition leader moved or cannot be reached; regrouping");
                tokio::time::sleep(context.settings.retry_backoff()).await;
            }
        }
    }
}

/// The assigned partitions grouped by their current leaders, retrying metadata until every
/// topic has leaders.
async fn group_by_leader(context: &FetcherContext) -> BTreeMap<i32, Vec<TopicPartition>> {
    let mut by_leader: BTreeMap<i32, Vec<TopicPartition>> = BTreeMap::new();
    for (topic, partitions) in &context.assignment {
        if partitions.is_empty() {
            continue;
        }
        let metadata = loop {
            match context.cluster.topic(topic).await {
                Ok(metadata) if partitions.iter().all(|p| metadata.leader(*p).is_some()) => {
                    break metadata;
                }
                Ok(_) => {
                    tracing::debug!(%topic, "an assigned partition has no leader yet; retrying");
                    context.cluster.invalidate_topic(topic);
                }
                Err(error) => {
                    tracing::debug!(%topic, %error, "no metadata for an assigned topic; retrying");
                }
            }
            tokio::time::sleep(context.settings.retry_backoff()).await;
        };
        for partition in partitions {
            let Some(leader) = metadata.leader(*partition) else {
                continue;
            };
            by_leader
                .entry(leader)
                .or_default()
                .push((topic.clone(), *partition));
        }
    }
    by_leader
}

/// The leader's address, refreshing the broker list once if it is unknown; `None` when the
/// metadata does not list it (it is down).
async fn leader_node(context: &FetcherContext, leader: i32) -> Option<Node> {
    if let Some(node) = context.cluster.node(leader) {
        return Some(node);
    }
    if let Err(error) = context.cluster.refresh_metadata(&[]).await {
        tracing::debug!(%error, "metadata refresh failed");
    }
    context.cluster.node(leader)
}

/// Fetches `partitions` from `leader` until the channel closes or the leader stops leading
/// them or cannot be reached.
async fn fetch_from(
    context: Arc<FetcherContext>,
    leader: i32,
    partitions: Vec<TopicPartition>,
    positions: SharedPositions,
) -> Ended {
    let mut next: BTreeMap<TopicPartition, Option<i64>> = {
        let shared = positions.lock().expect("positions lock is never poisoned");
        partitions
            .iter()
            .map(|tp| (tp.clone(), shared.get(tp).copied().flatten()))
            .collect()
    };
    let mut connection: Option<Connection> = None;
    let backoff = context.settings.retry_backoff();
    loop {
        let conn = match connection.as_ref().filter(|c| !c.is_closed()) {
            Some(conn) => conn.clone(),
            None => {
                // A leader that is gone from the metadata, or refuses connections (its broker
                // is down): regroup by the current leaders.
                let Some(node) = leader_node(&context, leader).await else {
                    return Ended::Relocate;
                };
                match context.cluster.open_dedicated(&node).await {
                    Ok(conn) => {
                        connection = Some(conn.clone());
                        conn
                    }
                    Err(error) => {
                        tracing::debug!(%error, "cannot open a fetch connection");
                        return Ended::Relocate;
                    }
                }
            }
        };
        if next.values().any(Option::is_none)
            && let Err(error) = reset_offsets(&context, &conn, &mut next).await
        {
            tracing::debug!(%error, "ListOffsets failed");
            if is_not_leader(&error) {
                return Ended::Relocate;
            }
            tokio::time::sleep(backoff).await;
            continue;
        }
        let outcome = fetch_once(&context, &conn, &mut next).await;
        {
            // What `extend` with clones of `next` did, without copying the keys already there.
            let mut shared = positions.lock().expect("positions lock is never poisoned");
            for (tp, position) in &next {
                match shared.get_mut(tp) {
                    Some(shared_position) => *shared_position = *position,
                    None => {
                        shared.insert(tp.clone(), *position);
                    }
                }
            }
        }
        match outcome {
            Ok(FetchOutcome::Continue) => {}
            Ok(FetchOutcome::SinkClosed) => return Ended::SinkClosed,
            Ok(FetchOutcome::Backoff) => tokio::time::sleep(backoff).await,
            Ok(FetchOutcome::NotLeader) => return Ended::Relocate,
            Err(error) => {
                tracing::debug!(%error, "fetch failed");
                tokio::time::sleep(backoff).await;
            }
        }
    }
}

/// A ListOffsets answer of NOT_LEADER_OR_FOLLOWER: the partition's leader moved.
fn is_not_leader(error: &ClientError) -> bool {
    matches!(error, ClientError::Broker { code, .. } if *code == codes::NOT_LEADER_OR_FOLLOWER)
}

enum FetchOutcome {
    Continue,
    Backoff,
    SinkClosed,
    /// A partition's leader moved (NOT_LEADER_OR_FOLLOWER).
    NotLeader,
}

/// Sets the positions that are `None` from ListOffsets (earliest or latest).
async fn reset_offsets(
    context: &FetcherContext,
    connection: &Connection,
    next: &mut BTreeMap<TopicPartition, Option<i64>>,
) -> Result<(), ClientError> {
    let timestamp = match context.settings.auto_offset_reset {
        AutoOffsetReset::Earliest => -2,
        AutoOffsetReset::Latest => -1,
    };
    let mut topics: BTreeMap<&str, Vec<ListOffsetsPartition>> = BTreeMap::new();
    for ((topic, partition), position) in next.iter() {
        if position.is_none() {
            topics.entry(topic).or_default().push(
                ListOffsetsPartition::default()
                    .with_partition_index(*partition)
                    .with_timestamp(timestamp),
            );
        }
    }
    let version = context
        .cluster
        .versions()
        .version_of::<ListOffsetsRequest>()?;
    let mut request = ListOffsetsRequest::default().with_replica_id((-1).into());
    if version >= 2 {
        request.isolation_level = context.settings.isolation_level.as_i8();
    }
    let request = request.with_topics(
        topics
            .into_iter()
            .map(|(topic, partitions)| {
                ListOffsetsTopic::default()
                    .with_name(StrBytes::from_string(topic.to_owned()).into())
                    .with_partitions(partitions)
            })
            .collect(),
    );
    let response = connection
        .send(&request, version, context.settings.request_timeout())
        .await?;
    for topic in &response.topics {
        for partition in &topic.partitions {
            let key = (topic.name.0.to_string(), partition.partition_index);
            if partition.error_code != codes::NONE {
                return Err(ClientError::broker(
                    "ListOffsets",
                    partition.error_code,
                    None,
                ));
            }
            if let Some(slot) = next.get_mut(&key)
                && slot.is_none()
                && partition.offset >= 0
            {
                *slot = Some(partition.offset);
            }
        }
    }
    Ok(())
}

async fn fetch_once(
    context: &FetcherContext,
    connection: &Connection,
    next: &mut BTreeMap<TopicPartition, Option<i64>>,
) -> Result<FetchOutcome, ClientError> {
    // `next` is ordered by topic, then partition: a topic's partitions are consecutive, so they
    // are grouped as they come, in topic order (what a map by topic gave).
    let mut topics: Vec<(&str, Vec<FetchPartition>)> = Vec::new();
    for ((topic, partition), position) in next.iter() {
        if let Some(offset) = position {
            let fetch = FetchPartition::default()
                .with_partition(*partition)
                .with_fetch_offset(*offset)
                .with_partition_max_bytes(MAX_PARTITION_FETCH_BYTES);
            match topics.last_mut() {
                Some((last, partitions)) if *last == topic.as_str() => partitions.push(fetch),
                _ => topics.push((topic, vec![fetch])),
            }
        }
    }
    if topics.is_empty() {
        return Ok(FetchOutcome::Backoff);
    }
    let version = context.cluster.versions().version_of::<FetchRequest>()?;
    let max_wait_ms = i32::try_from(context.settings.fetch_max_wait_ms).unwrap_or(i32::MAX);
    let request = FetchRequest::default()
        .with_replica_id((-1).into())
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(FETCH_MAX_BYTES)
        .with_isolation_level(context.settings.isolation_level.as_i8())
        .with_topics(
            topics
                .into_iter()
                .map(|(topic, partitions)| {
                    FetchTopic::default()
                        .with_topic(StrBytes::from_string(topic.to_owned()).into())
                        .with_partitions(partitions)
                })
                .collect(),
        );
    let timeout = context.settings.request_timeout()
        + Duration::from_millis(context.settings.fetch_max_wait_ms.into());
    let response = connection.send(&request, version, timeout).await?;
    if response.error_code != codes::NONE {
        return Err(ClientError::broker("Fetch", response.error_code, None));
    }
    let mut backoff = false;
    let mut not_leader = false;
    for topic in &response.responses {
        let topic_name = topic.topic.0.to_string();
        for partition in &topic.partitions {
            let key = (topic_name.clone(), partition.partition_index);
            let Some(Some(position)) = next.get(&key).copied() else {
                continue;
            };
            match partition.error_code {
                codes::NONE => {}
                codes::OFFSET_OUT_OF_RANGE => {
                    tracing::debug!(?key, position, "offset out of range; resetting");
                    next.insert(key, None);
                    continue;
                }
                code => {
                    tracing::debug!(?key, code, "fetch partition error");
                    if matches!(
                        code,
                        codes::NOT_LEADER_OR_FOLLOWER | codes::UNKNOWN_TOPIC_OR_PARTITION
                    ) {
                        context.cluster.invalidate_topic(&topic_name);
                    }
                    not_leader |= code == codes::NOT_LEADER_OR_FOLLOWER;
                    backoff = true;
                    continue;
                }
            }
            let Some(records) = partition.records.clone() else {
                continue;
            };
            let aborted: Vec<(i64, i64)> = partition
                .aborted_transactions
                .iter()
                .flatten()
                .map(|aborted| (aborted.producer_id.0, aborted.first_offset))
                .collect();
            let decoded = match decode_records(records, &aborted) {
                Ok(decoded) => decoded,
                Err(error) => {
                    tracing::warn!(?key, %error, "undecodable records");
                    backoff = true;
                    continue;
                }
            };
            let mut new_position = decoded
                .next_offset
                .map_or(position, |next| next.max(position));
            for record in decoded.records {
                if record.offset < position {
                    continue;
                }
                new_position = new_position.max(record.offset + 1);
                let delivery = Delivery {
                    record: ConsumerRecord {
                        topic: topic_name.clone(),
                        partition: partition.partition_index,
                        offset: record.offset,
                        timestamp: record.timestamp,
                        key: record.key,
                        value: record.value,
                        headers: record
                            .headers
                            .into_iter()
                            .map(|(k, v)| (k.to_string(), v))
                            .collect(),
                    },
                    generation: context.generation,
                    positions: context.positions.clone(),
                };
                if context.sink.send(delivery).await.is_err() {
                    return Ok(FetchOutcome::SinkClosed);
                }
            }
            // The key is there (its position was read above): update it in place.
            if let Some(slot) = next.get_mut(&key) {
                *slot = Some(new_position);
            }
        }
    }
    Ok(if not_leader {
        FetchOutcome::NotLeader
    } else if backoff {
        FetchOutcome::Backoff
    } else {
        FetchOutcome::Continue
    })
}

/// What a fetched partition's bytes hold for the application.
struct Decoded {
    /// The data records to deliver (markers and aborted records left out).
    records: Vec<DecodedRecord>,
    /// The offset after the last record of any kind (markers included), if there was one.
    next_offset: Option<i64>,
}

/// A decoded record (control records are skipped).
struct DecodedRecord {
    offset: i64,
    timestamp: i64,
    key: Option<Bytes>,
    value: Option<Bytes>,
    headers: Vec<(StrBytes, Option<Bytes>)>,
}

/// Decodes the complete record batches in `records`; a partial batch at the end (which brokers
/// may send) is ignored. `aborted` lists `(producer id, first offset)` of the aborted
/// transactions the response named (read_committed); their records are left out.
fn decode_records(mut records: Bytes, aborted: &[(i64, i64)]) -> Result<Decoded, ClientError> {
    let mut aborted: Vec<(i64, i64)> = aborted.to_vec();
    aborted.sort_unstable_by_key(|(producer_id, first_offset)| (*first_offset, *producer_id));
    let mut pending_aborted = aborted.into_iter().peekable();
    // Producers whose records are being dropped until their ABORT marker.
    let mut aborting: std::collections::BTreeSet<i64> = std::collections::BTreeSet::new();
    let mut decoded = Decoded {
        records: Vec::new(),
        next_offset: None,
    };
    while records.len() >= 12 {
        let length = i32::from_be_bytes([records[8], records[9], records[10], records[11]]);
        let Ok(length) = usize::try_from(length) else {
            return Err(ClientError::Protocol(format!(
                "negative batch length {length}"
            )));
        };
        if records.len() < 12 + length {
            break;
        }
        let mut batch = records.split_to(12 + length);
        let set = RecordBatchDecoder::decode(&mut batch)
            .map_err(|e| ClientError::Protocol(format!("malformed record batch: {e:#}")))?;
        let Some(first) = set.records.first() else {
            continue;
        };
        let (base_offset, producer_id) = (first.offset, first.producer_id);
        while let Some((aborted_producer, _)) =
            pending_aborted.next_if(|(_, first_offset)| *first_offset <= base_offset)
        {
            aborting.insert(aborted_producer);
        }
        let dropped = first.transactional && !first.control && aborting.contains(&producer_id);
        for record in set.records {
            decoded.next_offset = Some(record.offset + 1);
            if record.control {
                // An ABORT marker (key: version 0, type 0) ends the producer's aborted range.
                if record
                    .key
                    .as_deref()
                    .is_some_and(|key| key.get(2..4) == Some(&[0, 0]))
                {
                    aborting.remove(&record.producer_id);
                }
                continue;
            }
            if dropped {
                continue;
            }
            decoded.records.push(DecodedRecord {
                offset: record.offset,
                timestamp: record.timestamp,
                key: record.key,
                value: record.value,
                headers: record.headers.into_iter().collect(),
            });
        }
    }
    Ok(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kmock_wire::kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };

    fn batch(base: i64, n: i64) -> Bytes {
        let records: Vec<Record> = (0..n)
            .map(|i| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: base + i,
                sequence: -1,
                timestamp: 7,
                key: Some(Bytes::from(format!("k{i}"))),
                value: Some(Bytes::from(format!("v{i}"))),
                headers: Default::default(),
            })
            .collect();
        let mut out = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut out,
            records.iter(),
            &RecordEncodeOptions {
                version: 2,
                compression: Compression::None,
            },
        )
        .unwrap();
        out.freeze()
    }

    #[test]
    fn decodes_batches_and_ignores_a_trailing_partial_one() {
        let mut bytes = BytesMut::new();
        bytes.extend_from_slice(&batch(0, 2));
        bytes.extend_from_slice(&batch(2, 3));
        let partial = batch(5, 1);
        bytes.extend_from_slice(&partial[..partial.len() - 3]);
        let decoded = decode_records(bytes.freeze(), &[]).unwrap();
        let offsets: Vec<i64> = decoded.records.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, vec![0, 1, 2, 3, 4]);
        assert_eq!(decoded.records[1].key.as_deref(), Some(&b"k1"[..]));
        assert_eq!(decoded.next_offset, Some(5));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut bytes = BytesMut::new();
        bytes.extend_from_slice(&[0; 8]);
        bytes.extend_from_slice(&20i32.to_be_bytes());
        bytes.extend_from_slice(&[0xff; 20]);
        assert!(decode_records(bytes.freeze(), &[]).is_err());
        assert!(
            decode_records(Bytes::from_static(&[0; 8]), &[])
                .unwrap()
                .records
                .is_empty()
        );
    }

    /// A transactional batch of producer `producer_id` at `base`, or its marker when `marker`
    /// is `Some(commit)`.
    fn transactional(base: i64, producer_id: i64, values: &[&str], marker: Option<bool>) -> Bytes {
        let records: Vec<Record> = match marker {
            Some(commit) => vec![Record {
                transactional: true,
                control: true,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id,
                producer_epoch: 0,
                timestamp_type: TimestampType::Creation,
                offset: base,
                sequence: -1,
                timestamp: 7,
                key: Some(Bytes::copy_from_slice(&[0, 0, 0, u8::from(commit)])),
                value: Some(Bytes::from_static(&[0, 0, 0, 0, 0, 0])),
                headers: Default::default(),
            }],
            None => values
                .iter()
                .enumerate()
                .map(|(i, value)| Record {
                    transactional: true,
                    control: false,
                    delete_horizon: false,
                    partition_leader_epoch: -1,
                    producer_id,
                    producer_epoch: 0,
                    timestamp_type: TimestampType::Creation,
                    offset: base + i as i64,
                    sequence: i as i32,
                    timestamp: 7,
                    key: None,
                    value: Some(Bytes::copy_from_slice(value.as_bytes())),
                    headers: Default::default(),
                })
                .collect(),
        };
        let mut out = BytesMut::new();
        RecordBatchEncoder::encode(
            &mut out,
            records.iter(),
            &RecordEncodeOptions {
                version: 2,
                compression: Compression::None,
            },
        )
        .unwrap();
        out.freeze()
    }

    #[test]
    fn markers_are_not_delivered_and_the_position_moves_past_them() {
        let mut bytes = BytesMut::new();
        bytes.extend_from_slice(&transactional(0, 7, &["a", "b"], None));
        bytes.extend_from_slice(&transactional(2, 7, &[], Some(true)));
        let decoded = decode_records(bytes.freeze(), &[]).unwrap();
        let values: Vec<&[u8]> = decoded
            .records
            .iter()
            .map(|r| r.value.as_deref().unwrap())
            .collect();
        assert_eq!(values, vec![&b"a"[..], &b"b"[..]]);
        assert_eq!(decoded.next_offset, Some(3), "past the COMMIT marker");
    }

    #[test]
    fn records_of_aborted_transactions_are_dropped_until_the_abort_marker() {
        let mut bytes = BytesMut::new();
        bytes.extend_from_slice(&transactional(0, 7, &["aborted"], None));
        bytes.extend_from_slice(&transactional(1, 8, &["other"], None));
        bytes.extend_from_slice(&transactional(2, 7, &[], Some(false)));
        bytes.extend_from_slice(&transactional(3, 7, &["later"], None));
        let decoded = decode_records(bytes.freeze(), &[(7, 0)]).unwrap();
        let values: Vec<&[u8]> = decoded
            .records
            .iter()
            .map(|r| r.value.as_deref().unwrap())
            .collect();
        assert_eq!(values, vec![&b"other"[..], &b"later"[..]]);
        assert_eq!(decoded.next_offset, Some(4));
    }
}
