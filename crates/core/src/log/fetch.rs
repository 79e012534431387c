//! Fetch (v4–18): serves stored record batches, with long polling.
//!
//! Per partition: the batches from the one containing `fetch_offset`, as stored (the client skips
//! records before its offset), while within `partition_max_bytes` and the request's `max_bytes`; the
//! first batch of the response is returned even if larger (KIP-74). The high watermark is the log
//! end offset; the last stable offset (every response carries it) is the first offset of the
//! earliest open transaction, or the high watermark when none is open. read_uncommitted
//! (`isolation_level` 0) reads up to the high watermark; read_committed (1) up to the last stable
//! offset, and its response lists the aborted transactions whose records it may contain
//! (`aborted_transactions`: producer id and first offset of each aborted transaction with records
//! between the fetch offset and the end of the data returned) so the client can drop them; the
//! transaction markers (control batches) are served in both modes, and clients skip them. A
//! `fetch_offset` below the log start or above the high watermark
//! gets OFFSET_OUT_OF_RANGE; an unknown topic UNKNOWN_TOPIC_OR_PARTITION (v4–12, by name) or
//! UNKNOWN_TOPIC_ID (v13+, by id). A partition this broker does not lead gets
//! NOT_LEADER_OR_FOLLOWER, with the leader in `current_leader` (v12+) and its address in
//! `node_endpoints` (v16+, KIP-951): consumers fetch from the leader (Kafka lets followers serve
//! only replica fetchers and KIP-392 rack-aware consumers, which kmock does not implement).
//!
//! Long polling: when fewer than `min_bytes` are available, no partition has an error and
//! `max_wait_ms` > 0, the request is parked (its token kept) until a Produce makes enough bytes
//! available or `max_wait_ms` passes, then answered with what is there. A closed connection's
//! parked fetches are dropped. At most [`MAX_PARKED_FETCHES`] are parked; beyond, fetches are
//! answered at once.
//!
//! The response is encoded here, while the partition logs are at hand: each partition's stored
//! batches go into the frame as served (`kmock_wire::encode_fetch_response`): small ones copied,
//! larger ones referenced where they are stored after a copy of their patched header, so serving a
//! record copies it at most once in the broker (BENCHMARKS.md, issue 18 part 7).
//!
//! Fetch sessions (KIP-227) are not implemented: every response is a full one with session id 0,
//! which tells clients to keep sending full requests; `forgotten_topics_data` is ignored.
//! Rack-aware fetching (KIP-392) is not implemented:
//! `preferred_read_replica` is always -1.
//!
//! # References
//! - Kafka `KafkaApis.handleFetchRequest`, `ReplicaManager.fetchMessages`, `DelayedFetch`,
//!   `FetchRequest.json`, `FetchResponse.json`
//! - KIP-74 (max_bytes, first batch always returned), KIP-227 (sessions), KIP-516 (v13 topic ids)
//! - KIP-98 (isolation levels, last stable offset, aborted transactions), Kafka
//!   `UnifiedLog.collectAbortedTransactions`

use std::mem;
use std::time::Duration;

use bytes::Bytes;
use kmock_wire::kafka_protocol::messages::fetch_response::{
    AbortedTransaction, FetchableTopicResponse, LeaderIdAndEpoch, NodeEndpoint, PartitionData,
};
use kmock_wire::kafka_protocol::messages::{
    BrokerId, FetchRequest, FetchResponse, ProducerId, ResponseKind,
};

use super::partition::ServedRecords;
use super::{LogStore, code};
use crate::{BrokerTime, Completion, Encoded, Reply, Response, ResponseToken};
use kmock_wire::{FetchRecords, encode_fetch_response};

/// Most fetches parked at once.
pub const MAX_PARKED_FETCHES: usize = 10_000;

/// `isolation_level` READ_COMMITTED.
const READ_COMMITTED: i8 = 1;

/// A fetch waiting for `min_bytes`.
#[derive(Debug)]
pub(crate) struct ParkedFetch {
    /// Whom to answer, at which version.
    pub(crate) token: ResponseToken,
    /// The request, re-evaluated after every append.
    request: FetchRequest,
    /// When `max_wait_ms` has passed.
    pub(crate) deadline: BrokerTime,
}

/// What a read found: bytes available within the limits, and whether a partition has an error.
#[derive(Debug, Clone, Copy)]
struct Available {
    bytes: usize,
    has_error: bool,
}

/// Answers a Fetch request now, or parks it.
pub(crate) fn handle(
    store: &mut LogStore,
    token: ResponseToken,
    request: FetchRequest,
    now: BrokerTime,
) -> Reply {
    let version = token.api_version;
    let available = read(store, &request, version, token.node, None);
    if is_satisfied(&request, available)
        || request.max_wait_ms <= 0
        || store.parked_fetches.len() >= MAX_PARKED_FETCHES
    {
        return Reply::Encoded(respond(store, &request, &token));
    }
    let max_wait = Duration::from_millis(u64::try_from(request.max_wait_ms).unwrap_or(0));
    store.parked_fetches.push(ParkedFetch {
        token,
        request,
        deadline: now + max_wait,
    });
    Reply::Parked
}

/// Completes parked fetches that are satisfied or whose max wait has passed at `now`.
pub(crate) fn complete_parked(store: &mut LogStore, now: BrokerTime, out: &mut Vec<Completion>) {
    complete_parked_where(store, out, |store, fetch| {
        fetch.deadline <= now
            || is_satisfied(
                &fetch.request,
                read(
                    store,
                    &fetch.request,
                    fetch.token.api_version,
                    fetch.token.node,
                    None,
                ),
            )
    });
}

/// Completes every parked fetch now with what the logs hold, as its max wait passing would (Kafka
/// completes a `DelayedFetch` early when the partition's leadership moves).
pub(crate) fn complete_every_parked(store: &mut LogStore, out: &mut Vec<Completion>) {
    complete_parked_where(store, out, |_, _| true);
}

/// Answers the parked fetches for which `done` holds; the others stay parked, in order.
fn complete_parked_where(
    store: &mut LogStore,
    out: &mut Vec<Completion>,
    done: impl Fn(&LogStore, &ParkedFetch) -> bool,
) {
    if store.parked_fetches.is_empty() {
        return;
    }
    let mut parked = mem::take(&mut store.parked_fetches);
    for fetch in parked.drain(..) {
        if done(store, &fetch) {
            let response = respond(store, &fetch.request, &fetch.token);
            out.push(Completion {
                token: fetch.token,
                response: Response::Encoded(response),
            });
        } else {
            store.parked_fetches.push(fetch);
        }
    }
    // Every fetch answered (the common case: one consumer's long poll met by a Produce): keep
    // the emptied list's allocation for the next fetch that parks.
    if store.parked_fetches.is_empty() {
        store.parked_fetches = parked;
    }
}

/// Kafka's `DelayedFetch` completion rule (no partitions, an error, or `min_bytes` reached).
fn is_satisfied(request: &FetchRequest, available: Available) -> bool {
    available.has_error
        || request
            .topics
            .iter()
            .all(|topic| topic.partitions.is_empty())
        || available.bytes >= usize::try_from(request.min_bytes).unwrap_or(0)
}

/// The full response to `token`'s `request`, as the logs stand, encoded: the records go from
/// the stored batches straight into the frame.
fn respond(store: &LogStore, request: &FetchRequest, token: &ResponseToken) -> Encoded {
    let version = token.api_version;
    let mut topics = Vec::with_capacity(request.topics.len());
    let mut records = Vec::new();
    read(
        store,
        request,
        version,
        token.node,
        Some(Sink {
            topics: &mut topics,
            records: &mut records,
        }),
    );
    let mut response = FetchResponse::default().with_responses(topics);
    if version >= 16 {
        response.node_endpoints = node_endpoints(store, &response);
    }
    let frame = encode_fetch_response(version, token.correlation_id, &response, &records);
    Encoded {
        body: ResponseKind::Fetch(response),
        frame,
        record_bytes: records.iter().map(FetchRecords::len).sum(),
    }
}

/// The addresses of the leaders named in NOT_LEADER_OR_FOLLOWER partitions (v16+, KIP-951).
fn node_endpoints(store: &LogStore, response: &FetchResponse) -> Vec<NodeEndpoint> {
    let mut leaders: Vec<i32> = response
        .responses
        .iter()
        .flat_map(|topic| &topic.partitions)
        .filter(|p| p.error_code == code::NOT_LEADER_OR_FOLLOWER)
        .map(|p| p.current_leader.leader_id.0)
        .collect();
    leaders.sort_unstable();
    leaders.dedup();
    leaders
        .into_iter()
        .filter_map(|leader| store.cluster.broker(leader).filter(|b| b.up))
        .map(|broker| {
            NodeEndpoint::default()
                .with_node_id(BrokerId(broker.node_id))
                .with_host(super::str_bytes(&broker.host))
                .with_port(broker.port)
        })
        .collect()
}

/// NOT_LEADER_OR_FOLLOWER for a partition this broker does not lead, with the leader (KIP-951,
/// v12+).
fn not_leader(
    data: PartitionData,
    leadership: &crate::cluster::PartitionLeadership,
    version: i16,
) -> PartitionData {
    let data = unknown_partition(data, code::NOT_LEADER_OR_FOLLOWER);
    if version < 12 {
        return data;
    }
    data.with_current_leader(
        LeaderIdAndEpoch::default()
            .with_leader_id(BrokerId(leadership.leader))
            .with_leader_epoch(leadership.leader_epoch),
    )
}

/// Where [`read`] puts what it builds: the topic responses (records left out), and each
/// partition's records, in the same order.
struct Sink<'s, 'a> {
    topics: &'s mut Vec<FetchableTopicResponse>,
    records: &'s mut Vec<ServedRecords<'a>>,
}

/// Plans the read of every requested partition; when `sink` is given, also builds the topic
/// responses and the records to serve into it.
fn read<'a>(
    store: &'a LogStore,
    request: &FetchRequest,
    version: i16,
    node: i32,
    mut sink: Option<Sink<'_, 'a>>,
) -> Available {
    let mut remaining = usize::try_from(request.max_bytes).unwrap_or(0);
    let mut min_one_batch = true;
    let mut available = Available {
        bytes: 0,
        has_error: false,
    };
    let read_committed = request.isolation_level == READ_COMMITTED;
    let building = sink.is_some();
    for topic in &request.topics {
        let (name, unknown_topic) = if version >= 13 {
            (store.topic_name(topic.topic_id), code::UNKNOWN_TOPIC_ID)
        } else {
            (Some(topic.topic.as_str()), code::UNKNOWN_TOPIC_OR_PARTITION)
        };
        let mut partitions = Vec::new();
        // Every partition of the response gets its records (none for an error), in order.
        let mut answer = |data: PartitionData, records: ServedRecords<'a>| {
            if let Some(sink) = sink.as_mut() {
                partitions.push(data);
                sink.records.push(records);
            }
        };
        for fetch in &topic.partitions {
            let data = PartitionData::default()
                .with_partition_index(fetch.partition)
                .with_aborted_transactions(read_committed.then(Vec::new))
                .with_records(None);
            let Some(log) = name.and_then(|name| store.partition(name, fetch.partition)) else {
                available.has_error = true;
                let error_code = if name.is_none() {
                    unknown_topic
                } else {
                    code::UNKNOWN_TOPIC_OR_PARTITION
                };
                answer(
                    unknown_partition(data, error_code),
                    ServedRecords::default(),
                );
                continue;
            };
            if let Some(Err(leadership)) =
                name.map(|name| store.check_leader(name, fetch.partition, node))
            {
                available.has_error = true;
                answer(
                    not_leader(data, &leadership, version),
                    ServedRecords::default(),
                );
                continue;
            }
            let high_watermark = log.log_end_offset();
            let last_stable_offset = log.last_stable_offset();
            let data = data
                .with_high_watermark(high_watermark)
                .with_last_stable_offset(last_stable_offset)
                .with_log_start_offset(log.log_start_offset());
            if fetch.fetch_offset < log.log_start_offset() || fetch.fetch_offset > high_watermark {
                available.has_error = true;
                answer(
                    data.with_error_code(code::OFFSET_OUT_OF_RANGE),
                    ServedRecords::default(),
                );
                continue;
            }
            let limit = usize::try_from(fetch.partition_max_bytes)
                .unwrap_or(0)
                .min(remaining);
            let end_offset = if read_committed {
                last_stable_offset
            } else {
                high_watermark
            };
            let plan = log.plan_read(fetch.fetch_offset, end_offset, limit, min_one_batch);
            if plan.bytes > 0 {
                min_one_batch = false;
            }
            remaining = remaining.saturating_sub(plan.bytes);
            available.bytes += plan.bytes;
            if building {
                let data =
                    match log.read_end_offset(plan) {
                        Some(upper) if read_committed => data.with_aborted_transactions(Some(
                            aborted(log, fetch.fetch_offset, upper),
                        )),
                        _ => data,
                    };
                answer(data, log.read(plan));
            }
        }
        if let Some(sink) = sink.as_mut() {
            let response = FetchableTopicResponse::default().with_partitions(partitions);
            sink.topics.push(if version >= 13 {
                response.with_topic_id(topic.topic_id)
            } else {
                response.with_topic(topic.topic.clone())
            });
        }
    }
    available
}

/// The aborted transactions with records in `from..to`, as Fetch reports them.
fn aborted(log: &super::partition::PartitionLog, from: i64, to: i64) -> Vec<AbortedTransaction> {
    log.producer_states()
        .aborted_between(from, to)
        .map(|aborted| {
            AbortedTransaction::default()
                .with_producer_id(ProducerId(aborted.producer_id))
                .with_first_offset(aborted.first_offset)
        })
        .collect()
}

fn unknown_partition(data: PartitionData, error_code: i16) -> PartitionData {
    data.with_error_code(error_code)
        .with_high_watermark(-1)
        .with_last_stable_offset(-1)
        .with_log_start_offset(-1)
}

/// A Fetch response with `code` at the top level (v7+) and on every requested partition.
pub(crate) fn error_response(request: &FetchRequest, version: i16, code: i16) -> FetchResponse {
    let topics = request
        .topics
        .iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|fetch| {
                    unknown_partition(
                        PartitionData::default()
                            .with_partition_index(fetch.partition)
                            .with_records(Some(Bytes::new())),
                        code,
                    )
                })
                .collect();
            let response = FetchableTopicResponse::default().with_partitions(partitions);
            if version >= 13 {
                response.with_topic_id(topic.topic_id)
            } else {
                response.with_topic(topic.topic.clone())
            }
        })
        .collect();
    FetchResponse::default()
        .with_error_code(code)
        .with_responses(topics)
}
