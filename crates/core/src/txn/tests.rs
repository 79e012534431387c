//! Transaction coordinator and transactional log tests through [`BrokerCore::handle_frame`]:
//! every request is encoded as a client sends it and every response decoded at the request's
//! version. One test per rule, named after it.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kmock_wire::kafka_protocol::messages::add_partitions_to_txn_request::{
    AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
};
use kmock_wire::kafka_protocol::messages::create_topics_request::CreatableTopic;
use kmock_wire::kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kmock_wire::kafka_protocol::messages::fetch_response::PartitionData;
use kmock_wire::kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kmock_wire::kafka_protocol::messages::list_offsets_request::{
    ListOffsetsPartition, ListOffsetsTopic,
};
use kmock_wire::kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kmock_wire::kafka_protocol::messages::produce_request::{
    PartitionProduceData, TopicProduceData,
};
use kmock_wire::kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kmock_wire::kafka_protocol::messages::*;
use kmock_wire::kafka_protocol::protocol::{Request, StrBytes};
use kmock_wire::kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use kmock_wire::{decode_response, encode_request, encode_response};

use super::state::TransactionMetadata;
use super::{MAX_PARTITIONS_PER_TRANSACTION, MAX_TRANSACTIONAL_IDS, TransactionState, code};
use crate::config::BrokerConfig;
use crate::{BrokerCore, BrokerTime, ConnectionId, Output};

const CONN: ConnectionId = ConnectionId(1);
const TOPIC: &str = "t";
const READ_UNCOMMITTED: i8 = 0;
const READ_COMMITTED: i8 = 1;

fn s(value: &str) -> StrBytes {
    StrBytes::from_string(value.to_owned())
}

/// A producer's identity in a request or batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pid {
    id: i64,
    epoch: i16,
}

/// A broker driven with explicit time.
struct Broker {
    core: BrokerCore,
    now: BrokerTime,
    correlation_id: i32,
}

impl Broker {
    fn new() -> Self {
        let mut core = BrokerCore::new(BrokerConfig {
            group_initial_rebalance_delay_ms: 0,
            ..BrokerConfig::default()
        });
        core.connection_opened(CONN);
        let mut broker = Self {
            core,
            now: BrokerTime::ZERO,
            correlation_id: 0,
        };
        broker.create(TOPIC, 2);
        broker
    }

    fn call<R: Request>(&mut self, request: &R, version: i16) -> ResponseKind {
        let api_key = ApiKey::try_from(R::KEY).unwrap();
        self.correlation_id += 1;
        let frame = encode_request(request, version, self.correlation_id, Some("txn-test"))
            .unwrap_or_else(|e| panic!("{api_key:?} v{version}: {e}"));
        self.core.handle_frame(CONN, frame.slice(4..), self.now);
        match self.core.poll_output() {
            Some(Output::Send { frame, .. }) => {
                decode_response(api_key, version, frame.slice(4..))
                    .unwrap_or_else(|e| panic!("{api_key:?} v{version}: {e}"))
                    .1
            }
            other => panic!("{api_key:?} v{version}: expected a response, got {other:?}"),
        }
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        self.core.handle_timeout(self.now);
    }

    fn create(&mut self, topic: &str, partitions: i32) {
        let request = CreateTopicsRequest::default().with_topics(vec![
            CreatableTopic::default()
                .with_name(s(topic).into())
                .with_num_partitions(partitions)
                .with_replication_factor(1),
        ]);
        let ResponseKind::CreateTopics(response) = self.call(&request, 7) else {
            unreachable!()
        };
        assert_eq!(response.topics[0].error_code, 0);
    }

    fn init_request(
        &mut self,
        request: &InitProducerIdRequest,
        version: i16,
    ) -> InitProducerIdResponse {
        let ResponseKind::InitProducerId(response) = self.call(request, version) else {
            unreachable!()
        };
        response
    }

    /// InitProducerId v4 for `txn` with a 60 s timeout; panics unless it succeeds.
    fn init(&mut self, txn: &str) -> Pid {
        let response = self.init_request(&init_request(Some(txn), 60_000), 4);
        assert_eq!(response.error_code, 0, "init {txn}");
        Pid {
            id: response.producer_id.0,
            epoch: response.producer_epoch,
        }
    }

    /// AddPartitionsToTxn v3: each partition's code.
    fn add_partitions_at(
        &mut self,
        txn: &str,
        pid: Pid,
        partitions: &[(&str, i32)],
        version: i16,
    ) -> Vec<i16> {
        let request = AddPartitionsToTxnRequest::default()
            .with_v3_and_below_transactional_id(s(txn).into())
            .with_v3_and_below_producer_id(ProducerId(pid.id))
            .with_v3_and_below_producer_epoch(pid.epoch)
            .with_v3_and_below_topics(topics(partitions));
        let ResponseKind::AddPartitionsToTxn(response) = self.call(&request, version) else {
            unreachable!()
        };
        response
            .results_by_topic_v3_and_below
            .iter()
            .flat_map(|t| {
                t.results_by_partition
                    .iter()
                    .map(|p| p.partition_error_code)
            })
            .collect()
    }

    fn add_partitions(&mut self, txn: &str, pid: Pid, partitions: &[(&str, i32)]) -> Vec<i16> {
        self.add_partitions_at(txn, pid, partitions, 3)
    }

    fn add_offsets(&mut self, txn: &str, pid: Pid, group: &str, version: i16) -> i16 {
        let request = AddOffsetsToTxnRequest::default()
            .with_transactional_id(s(txn).into())
            .with_producer_id(ProducerId(pid.id))
            .with_producer_epoch(pid.epoch)
            .with_group_id(s(group).into());
        let ResponseKind::AddOffsetsToTxn(response) = self.call(&request, version) else {
            unreachable!()
        };
        response.error_code
    }

    fn end_at(&mut self, txn: &str, pid: Pid, commit: bool, version: i16) -> EndTxnResponse {
        let request = EndTxnRequest::default()
            .with_transactional_id(s(txn).into())
            .with_producer_id(ProducerId(pid.id))
            .with_producer_epoch(pid.epoch)
            .with_committed(commit);
        let ResponseKind::EndTxn(response) = self.call(&request, version) else {
            unreachable!()
        };
        response
    }

    fn end(&mut self, txn: &str, pid: Pid, commit: bool) -> i16 {
        self.end_at(txn, pid, commit, 3).error_code
    }

    /// Produce of one batch to `TOPIC`/`partition`: (error code, base offset).
    fn produce_at(
        &mut self,
        txn: Option<&str>,
        partition: i32,
        records: Bytes,
        version: i16,
    ) -> (i16, i64) {
        let request = ProduceRequest::default()
            .with_transactional_id(txn.map(|t| s(t).into()))
            .with_acks(-1)
            .with_timeout_ms(1_000)
            .with_topic_data(vec![
                TopicProduceData::default()
                    .with_name(s(TOPIC).into())
                    .with_partition_data(vec![
                        PartitionProduceData::default()
                            .with_index(partition)
                            .with_records(Some(records)),
                    ]),
            ]);
        let ResponseKind::Produce(response) = self.call(&request, version) else {
            unreachable!()
        };
        let p = &response.responses[0].partition_responses[0];
        (p.error_code, p.base_offset)
    }

    fn produce(&mut self, txn: Option<&str>, partition: i32, records: Bytes) -> (i16, i64) {
        self.produce_at(txn, partition, records, 9)
    }

    fn fetch(&mut self, partition: i32, offset: i64, isolation_level: i8) -> PartitionData {
        let request = FetchRequest::default()
            .with_replica_id((-1).into())
            .with_max_wait_ms(0)
            .with_max_bytes(1 << 20)
            .with_isolation_level(isolation_level)
            .with_topics(vec![
                FetchTopic::default()
                    .with_topic(s(TOPIC).into())
                    .with_partitions(vec![
                        FetchPartition::default()
                            .with_partition(partition)
                            .with_fetch_offset(offset)
                            .with_partition_max_bytes(1 << 20),
                    ]),
            ]);
        let ResponseKind::Fetch(response) = self.call(&request, 11) else {
            unreachable!()
        };
        response.responses[0].partitions[0].clone()
    }

    /// Values of the data records a read_committed or read_uncommitted consumer keeps.
    fn consume(&mut self, partition: i32, isolation_level: i8) -> Vec<String> {
        let data = self.fetch(partition, 0, isolation_level);
        visible_values(&data)
    }

    fn list_latest(&mut self, isolation_level: i8) -> i64 {
        let request = ListOffsetsRequest::default()
            .with_replica_id((-1).into())
            .with_isolation_level(isolation_level)
            .with_topics(vec![
                ListOffsetsTopic::default()
                    .with_name(s(TOPIC).into())
                    .with_partitions(vec![
                        ListOffsetsPartition::default()
                            .with_partition_index(0)
                            .with_timestamp(-1),
                    ]),
            ]);
        let ResponseKind::ListOffsets(response) = self.call(&request, 5) else {
            unreachable!()
        };
        response.topics[0].partitions[0].offset
    }

    fn txn_offset_commit(&mut self, request: &TxnOffsetCommitRequest, version: i16) -> Vec<i16> {
        let ResponseKind::TxnOffsetCommit(response) = self.call(request, version) else {
            unreachable!()
        };
        response
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
            .collect()
    }

    /// OffsetFetch v7 of `TOPIC`/0: (offset, partition error code).
    fn offset_fetch(&mut self, group: &str, require_stable: bool) -> (i64, i16) {
        let request = OffsetFetchRequest::default()
            .with_group_id(s(group).into())
            .with_require_stable(require_stable)
            .with_topics(Some(vec![
                OffsetFetchRequestTopic::default()
                    .with_name(s(TOPIC).into())
                    .with_partition_indexes(vec![0]),
            ]));
        let ResponseKind::OffsetFetch(response) = self.call(&request, 7) else {
            unreachable!()
        };
        let p = &response.topics[0].partitions[0];
        (p.committed_offset, p.error_code)
    }

    fn state(&self, txn: &str) -> TransactionState {
        self.core.transactions().transaction(txn).unwrap().state
    }

    fn last_stable_offset(&self, partition: i32) -> i64 {
        self.core
            .logs()
            .last_stable_offset(TOPIC, partition)
            .unwrap()
    }
}

fn init_request(txn: Option<&str>, timeout_ms: i32) -> InitProducerIdRequest {
    InitProducerIdRequest::default()
        .with_transactional_id(txn.map(|t| s(t).into()))
        .with_transaction_timeout_ms(timeout_ms)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1)
}

fn topics(partitions: &[(&str, i32)]) -> Vec<AddPartitionsToTxnTopic> {
    let mut topics: Vec<AddPartitionsToTxnTopic> = Vec::new();
    for (topic, partition) in partitions {
        match topics.iter_mut().find(|t| t.name.as_str() == *topic) {
            Some(t) => t.partitions.push(*partition),
            None => topics.push(
                AddPartitionsToTxnTopic::default()
                    .with_name(s(topic).into())
                    .with_partitions(vec![*partition]),
            ),
        }
    }
    topics
}

/// One batch of `values` from `pid` starting at `sequence`.
fn batch(pid: Pid, sequence: i32, transactional: bool, values: &[&str]) -> Bytes {
    keyed_batch(pid, sequence, transactional, values, None)
}

/// [`batch`] with every record keyed `key`.
fn keyed_batch(
    pid: Pid,
    sequence: i32,
    transactional: bool,
    values: &[&str],
    key: Option<&str>,
) -> Bytes {
    let records: Vec<Record> = values
        .iter()
        .enumerate()
        .map(|(i, value)| Record {
            transactional,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: pid.id,
            producer_epoch: pid.epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: sequence + i as i32,
            timestamp: 1_000 + i as i64,
            key: key.map(|key| Bytes::from(key.to_owned())),
            value: Some(Bytes::from(value.to_string())),
            headers: Default::default(),
        })
        .collect();
    let mut buffer = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buffer,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .unwrap();
    buffer.freeze()
}

/// What a consumer keeps of fetched data: data records, minus those of aborted transactions
/// when the response lists them (read_committed).
fn visible_values(data: &PartitionData) -> Vec<String> {
    let mut bytes = data.records.clone().unwrap_or_default();
    let batches = RecordBatchDecoder::decode_all(&mut bytes).unwrap();
    let aborted = data.aborted_transactions.clone().unwrap_or_default();
    let mut values = Vec::new();
    for set in batches {
        for record in set.records {
            let in_aborted = record.transactional
                && aborted.iter().any(|a| {
                    a.producer_id.0 == record.producer_id && record.offset >= a.first_offset
                });
            // An aborted range ends at the producer's ABORT marker.
            if record.control || in_aborted {
                continue;
            }
            values.push(String::from_utf8(record.value.unwrap().to_vec()).unwrap());
        }
    }
    values
}

/// `(offset, commit?)` of each control record in fetched data.
fn markers(data: &PartitionData) -> Vec<(i64, i16, bool)> {
    let mut bytes = data.records.clone().unwrap_or_default();
    RecordBatchDecoder::decode_all(&mut bytes)
        .unwrap()
        .into_iter()
        .flat_map(|set| set.records)
        .filter(|record| record.control)
        .map(|record| {
            let key = record.key.unwrap();
            (
                record.offset,
                record.producer_epoch,
                key[..] == [0, 0, 0, 1],
            )
        })
        .collect()
}

/// A transactional producer with partition `TOPIC`/0 in an open transaction, after one batch.
fn open_transaction(broker: &mut Broker, txn: &str, values: &[&str]) -> Pid {
    let pid = broker.init(txn);
    assert_eq!(broker.add_partitions(txn, pid, &[(TOPIC, 0)]), vec![0]);
    let (error, _) = broker.produce(Some(txn), 0, batch(pid, 0, true, values));
    assert_eq!(error, 0);
    pid
}

// ---- InitProducerId ----

#[test]
fn init_producer_id_without_transactional_id_allocates_a_fresh_id_with_epoch_0() {
    let mut broker = Broker::new();
    let first = broker.init_request(&init_request(None, 0), 0);
    assert_eq!((first.error_code, first.producer_epoch), (0, 0));
    // Kafka ignores the producer id and epoch of a non-transactional request: a fresh id.
    let again = init_request(None, 0)
        .with_producer_id(first.producer_id)
        .with_producer_epoch(3);
    let second = broker.init_request(&again, 4);
    assert_eq!(second.producer_id.0, first.producer_id.0 + 1);
    assert_eq!(second.producer_epoch, 0);
}

#[test]
fn init_producer_id_with_an_empty_transactional_id_is_invalid_request() {
    let mut broker = Broker::new();
    let response = broker.init_request(&init_request(Some(""), 60_000), 4);
    assert_eq!(response.error_code, code::INVALID_REQUEST);
    assert_eq!((response.producer_id.0, response.producer_epoch), (-1, -1));
}

#[test]
fn init_producer_id_with_a_producer_id_but_no_epoch_is_invalid_request() {
    let mut broker = Broker::new();
    let request = init_request(Some("tx"), 60_000).with_producer_id(ProducerId(1_000));
    assert_eq!(
        broker.init_request(&request, 3).error_code,
        code::INVALID_REQUEST
    );
}

#[test]
fn init_producer_id_rejects_a_timeout_above_transaction_max_timeout_ms() {
    let mut broker = Broker::new();
    for timeout_ms in [900_001, i32::MAX, 0, -1] {
        let response = broker.init_request(&init_request(Some("tx"), timeout_ms), 4);
        assert_eq!(
            response.error_code,
            code::INVALID_TRANSACTION_TIMEOUT,
            "{timeout_ms}"
        );
    }
    assert_eq!(
        broker
            .init_request(&init_request(Some("tx"), 900_000), 4)
            .error_code,
        0
    );
}

#[test]
fn init_producer_id_bumps_the_epoch_of_a_known_transactional_id() {
    let mut broker = Broker::new();
    let first = broker.init("tx");
    assert_eq!(first.epoch, 0);
    let second = broker.init("tx");
    assert_eq!((second.id, second.epoch), (first.id, 1));
    assert_eq!(broker.state("tx"), TransactionState::Empty);
}

#[test]
fn init_producer_id_fences_an_open_transaction_and_answers_concurrent_transactions() {
    let mut broker = Broker::new();
    let old = open_transaction(&mut broker, "tx", &["zombie"]);
    let response = broker.init_request(&init_request(Some("tx"), 60_000), 4);
    assert_eq!(response.error_code, code::CONCURRENT_TRANSACTIONS);
    // The open transaction was aborted at once with the bumped epoch.
    assert_eq!(broker.state("tx"), TransactionState::CompleteAbort);
    let data = broker.fetch(0, 0, READ_UNCOMMITTED);
    assert_eq!(markers(&data), vec![(1, old.epoch + 1, false)]);
    assert!(broker.consume(0, READ_COMMITTED).is_empty());
    // The retry gets the epoch after the fence.
    let new = broker.init("tx");
    assert_eq!((new.id, new.epoch), (old.id, old.epoch + 2));
    // The old instance is fenced.
    assert_eq!(broker.end("tx", old, true), code::PRODUCER_FENCED);
}

#[test]
fn init_producer_id_naming_another_producer_is_producer_fenced() {
    let mut broker = Broker::new();
    let pid = broker.init("tx");
    let stale = init_request(Some("tx"), 60_000)
        .with_producer_id(ProducerId(pid.id + 7))
        .with_producer_epoch(0);
    assert_eq!(
        broker.init_request(&stale, 4).error_code,
        code::PRODUCER_FENCED
    );
    // Before v4 clients do not know PRODUCER_FENCED.
    assert_eq!(
        broker.init_request(&stale, 3).error_code,
        code::INVALID_PRODUCER_EPOCH
    );
}

#[test]
fn init_producer_id_naming_the_current_epoch_bumps_it_and_a_retry_gets_the_same_answer() {
    let mut broker = Broker::new();
    broker.init("tx");
    let pid = broker.init("tx");
    assert_eq!(pid.epoch, 1);
    let bump = init_request(Some("tx"), 60_000)
        .with_producer_id(ProducerId(pid.id))
        .with_producer_epoch(pid.epoch);
    let first = broker.init_request(&bump, 4);
    assert_eq!((first.error_code, first.producer_epoch), (0, pid.epoch + 1));
    // The answer was lost; the retry names the epoch before the bump (KIP-360).
    let retry = broker.init_request(&bump, 4);
    assert_eq!((retry.error_code, retry.producer_epoch), (0, pid.epoch + 1));
    // An epoch older than that is fenced.
    let stale = bump.with_producer_epoch(pid.epoch - 1);
    assert_eq!(
        broker.init_request(&stale, 4).error_code,
        code::PRODUCER_FENCED
    );
}

#[test]
fn init_producer_id_rotates_the_producer_id_when_the_epoch_is_exhausted() {
    let mut broker = Broker::new();
    let pid = broker.init("tx");
    broker
        .core
        .txns
        .transactions
        .get_mut("tx")
        .unwrap()
        .producer_epoch = i16::MAX - 1;
    let next = broker.init("tx");
    assert_ne!(next.id, pid.id);
    assert_eq!(next.epoch, 0);
}

#[test]
fn transactional_ids_beyond_the_limit_evict_the_one_idle_longest() {
    let mut broker = Broker::new();
    let coordinator = &mut broker.core.txns;
    for i in 0..MAX_TRANSACTIONAL_IDS {
        let mut txn = TransactionMetadata::new(i as i64, 1_000, BrokerTime::ZERO);
        txn.last_update = BrokerTime::ZERO + Duration::from_millis(i as u64 + 1);
        coordinator.transactions.insert(format!("id-{i}"), txn);
    }
    broker.init("new");
    let ids = &broker.core.txns.transactions;
    assert_eq!(ids.len(), MAX_TRANSACTIONAL_IDS);
    assert!(!ids.contains_key("id-0"), "the idlest id is evicted");
    assert!(ids.contains_key("id-1") && ids.contains_key("new"));
}

#[test]
fn transactional_ids_all_in_transactions_refuse_a_new_one_with_coordinator_not_available() {
    let mut broker = Broker::new();
    let coordinator = &mut broker.core.txns;
    for i in 0..MAX_TRANSACTIONAL_IDS {
        let mut txn = TransactionMetadata::new(i as i64, 1_000, BrokerTime::ZERO);
        txn.state = TransactionState::Ongoing;
        coordinator.transactions.insert(format!("id-{i}"), txn);
    }
    let response = broker.init_request(&init_request(Some("new"), 60_000), 4);
    assert_eq!(response.error_code, code::COORDINATOR_NOT_AVAILABLE);
}

// ---- AddPartitionsToTxn ----

#[test]
fn add_partitions_for_an_unknown_transactional_id_is_invalid_producer_id_mapping() {
    let mut broker = Broker::new();
    let codes = broker.add_partitions(
        "nobody",
        Pid {
            id: 1_000,
            epoch: 0,
        },
        &[(TOPIC, 0)],
    );
    assert_eq!(codes, vec![code::INVALID_PRODUCER_ID_MAPPING]);
}

#[test]
fn add_partitions_with_another_producer_id_is_invalid_producer_id_mapping() {
    let mut broker = Broker::new();
    let pid = broker.init("tx");
    let other = Pid {
        id: pid.id + 1,
        ..pid
    };
    assert_eq!(
        broker.add_partitions("tx", other, &[(TOPIC, 0)]),
        vec![code::INVALID_PRODUCER_ID_MAPPING]
    );
}

#[test]
fn add_partitions_with_an_old_epoch_is_producer_fenced_or_invalid_producer_epoch_before_v2() {
    let mut broker = Broker::new();
    let old = broker.init("tx");
    broker.init("tx");
    assert_eq!(
        broker.add_partitions_at("tx", old, &[(TOPIC, 0)], 2),
        vec![code::PRODUCER_FENCED]
    );
    assert_eq!(
        broker.add_partitions_at("tx", old, &[(TOPIC, 0)], 1),
        vec![code::INVALID_PRODUCER_EPOCH]
    );
}

#[test]
fn add_partitions_with_an_unknown_partition_adds_none_of_them() {
    let mut broker = Broker::new();
    let pid = broker.init("tx");
    let codes = broker.add_partitions("tx", pid, &[(TOPIC, 0), (TOPIC, 9), ("missing", 0)]);
    assert_eq!(
        codes,
        vec![
            code::OPERATION_NOT_ATTEMPTED,
            code::UNKNOWN_TOPIC_OR_PARTITION,
            code::UNKNOWN_TOPIC_OR_PARTITION
        ]
    );
    assert_eq!(broker.state("tx"), TransactionState::Empty);
}

#[test]
fn add_partitions_opens_the_transaction_and_starts_its_timeout() {
    let mut broker = Broker::new();
    let pid = broker.init("tx");
    broker.advance(Duration::from_secs(5));
    assert_eq!(
        broker.add_partitions("tx", pid, &[(TOPIC, 0), (TOPIC, 1)]),
        vec![0, 0]
    );
    let summary = broker.core.transactions().transaction("tx").unwrap();
    assert_eq!(summary.state, TransactionState::Ongoing);
    assert_eq!(
        summary.partitions,
        vec![(TOPIC.to_owned(), 0), (TOPIC.to_owned(), 1)]
    );
    assert_eq!(summary.started, Some(broker.now));
    assert_eq!(
        broker.core.poll_timeout(),
        Some(broker.now + Duration::from_secs(60))
    );
}

#[test]
fn add_partitions_beyond_the_per_transaction_limit_is_invalid_request() {
    let mut broker = Broker::new();
    broker.create("wide", MAX_PARTITIONS_PER_TRANSACTION as i32);
    let pid = broker.init("tx");
    let mut all: Vec<(&str, i32)> = (0..MAX_PARTITIONS_PER_TRANSACTION as i32)
        .map(|p| ("wide", p))
        .collect();
    all.push((TOPIC, 0));
    let codes = broker.add_partitions("tx", pid, &all);
    assert!(codes.iter().all(|c| *c == code::INVALID_REQUEST));
    assert_eq!(broker.state("tx"), TransactionState::Empty);
}

#[test]
fn add_partitions_v4_verify_only_reports_the_partitions_not_in_the_transaction() {
    let mut broker = Broker::new();
    let pid = broker.init("tx");
    broker.add_partitions("tx", pid, &[(TOPIC, 0)]);
    let other = broker.init("other");
    let request = AddPartitionsToTxnRequest::default().with_transactions(vec![
        AddPartitionsToTxnTransaction::default()
            .with_transactional_id(s("tx").into())
            .with_producer_id(ProducerId(pid.id))
            .with_producer_epoch(pid.epoch)
            .with_verify_only(true)
            .with_topics(topics(&[(TOPIC, 0), (TOPIC, 1)])),
        AddPartitionsToTxnTransaction::default()
            .with_transactional_id(s("other").into())
            .with_producer_id(ProducerId(other.id))
            .with_producer_epoch(other.epoch)
            .with_topics(topics(&[(TOPIC, 1)])),
    ]);
    let ResponseKind::AddPartitionsToTxn(response) = broker.call(&request, 5) else {
        unreachable!()
    };
    assert_eq!(response.error_code, 0);
    let codes: Vec<Vec<i16>> = response
        .results_by_transaction
        .iter()
        .map(|txn| {
            txn.topic_results
                .iter()
                .flat_map(|t| {
                    t.results_by_partition
                        .iter()
                        .map(|p| p.partition_error_code)
                })
                .collect()
        })
        .collect();
    assert_eq!(codes, vec![vec![0, code::TRANSACTION_ABORTABLE], vec![0]]);
    // Verification added nothing; the second transaction was added to.
    assert_eq!(
        broker
            .core
            .transactions()
            .transaction("tx")
            .unwrap()
            .partitions
            .len(),
        1
    );
    assert_eq!(broker.state("other"), TransactionState::Ongoing);
}

// ---- AddOffsetsToTxn ----

#[test]
fn add_offsets_adds_the_group_to_the_transaction() {
    let mut broker = Broker::new();
    let pid = broker.init("tx");
    assert_eq!(broker.add_offsets("tx", pid, "g", 3), 0);
    let summary = broker.core.transactions().transaction("tx").unwrap();
    assert_eq!(summary.state, TransactionState::Ongoing);
    assert_eq!(summary.groups, vec!["g".to_owned()]);
}

#[test]
fn add_offsets_with_an_old_epoch_is_producer_fenced_or_invalid_producer_epoch_before_v2() {
    let mut broker = Broker::new();
    let old = broker.init("tx");
    broker.init("tx");
    assert_eq!(broker.add_offsets("tx", old, "g", 2), code::PRODUCER_FENCED);
    assert_eq!(
        broker.add_offsets("tx", old, "g", 0),
        code::INVALID_PRODUCER_EPOCH
    );
    assert_eq!(
        broker.add_offsets("nobody", old, "g", 3),
        code::INVALID_PRODUCER_ID_MAPPING
    );
}

// ---- TxnOffsetCommit ----

fn txn_offset_commit_request(
    txn: &str,
    pid: Pid,
    group: &str,
    offset: i64,
) -> TxnOffsetCommitRequest {
    TxnOffsetCommitRequest::default()
        .with_transactional_id(s(txn).into())
        .with_group_id(s(group).into())
        .with_producer_id(ProducerId(pid.id))
        .with_producer_epoch(pid.epoch)
        .with_generation_id(-1)
        .with_topics(vec![
            TxnOffsetCommitRequestTopic::default()
                .with_name(s(TOPIC).into())
                .with_partitions(vec![
                    TxnOffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(offset)
                        .with_committed_metadata(Some(s("m"))),
                ]),
        ])
}

#[test]
fn txn_offset_commit_becomes_the_committed_offset_only_when_the_transaction_commits() {
    let mut broker = Broker::new();
    let pid = broker.init("tx");
    assert_eq!(broker.add_offsets("tx", pid, "g", 3), 0);
    let request = txn_offset_commit_request("tx", pid, "g", 42);
    assert_eq!(broker.txn_offset_commit(&request, 3), vec![0]);
    assert_eq!(
        broker.offset_fetch("g", false),
        (-1, 0),
        "pending, not visible"
    );
    assert_eq!(broker.end("tx", pid, true), 0);
    assert_eq!(broker.offset_fetch("g", false), (42, 0));
}

#[test]
fn txn_offset_commit_is_dropped_when_the_transaction_aborts() {
    let mut broker = Broker::new();
    let pid = broker.init("tx");
    broker.add_offsets("tx", pid, "g", 3);
    broker.txn_offset_commit(&txn_offset_commit_request("tx", pid, "g", 42), 3);
    assert_eq!(broker.end("tx", pid, false), 0);
    assert_eq!(broker.offset_fetch("g", true), (-1, 0));
    assert!(
        broker
            .core
            .groups()
            .pending_transactional_offsets("g")
            .is_empty()
    );
}

#[test]
fn offset_fetch_require_stable_is_unstable_offset_commit_while_a_transactional_offset_is_pending() {
    let mut broker = Broker::new();
    let pid = broker.init("tx");
    broker.add_offsets("tx", pid, "g", 3);
    broker.txn_offset_commit(&txn_offset_commit_request("tx", pid, "g", 42), 3);
    assert_eq!(
        broker.offset_fetch("g", true),
        (-1, code::UNSTABLE_OFFSET_COMMIT)
    );
    broker.end("tx", pid, true);
    assert_eq!(broker.offset_fetch("g", true), (42, 0));
}

#[test]
fn txn_offset_commit_for_a_group_not_in_the_transaction_is_invalid_txn_state_or_abortable_or_added_by_version()
 {
    let mut broker = Broker::new();
    let pid = broker.init("tx");
    let request = txn_offset_commit_request("tx", pid, "g", 1);
    assert_eq!(
        broker.txn_offset_commit(&request, 3),
        vec![code::INVALID_TXN_STATE]
    );
    assert_eq!(
        broker.txn_offset_commit(&request, 4),
        vec![code::TRANSACTION_ABORTABLE]
    );
    // v5 (transactions v2) adds the group instead.
    assert_eq!(broker.txn_offset_commit(&request, 5), vec![0]);
    assert_eq!(
        broker.core.transactions().transaction("tx").unwrap().groups,
        vec!["g".to_owned()]
    );
}

#[test]
fn txn_offset_commit_with_an_old_epoch_is_invalid_producer_epoch() {
    let mut broker = Broker::new();
    let old = broker.init("tx");
    broker.init("tx");
    let request = txn_offset_commit_request("tx", old, "g", 1);
    assert_eq!(
        broker.txn_offset_commit(&request, 3),
        vec![code::INVALID_PRODUCER_EPOCH]
    );
    let unknown = txn_offset_commit_request("nobody", old, "g", 1);
    assert_eq!(
        broker.txn_offset_commit(&unknown, 3),
        vec![code::INVALID_PRODUCER_ID_MAPPING]
    );
}

#[test]
fn txn_offset_commit_checks_the_member_and_generation_when_given() {
    let mut broker = Broker::new();
    let join = JoinGroupRequest::default()
        .with_group_id(s("g").into())
        .with_member_id(s("m-1"))
        .with_group_instance_id(Some(s("i-1")))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![
            JoinGroupRequestProtocol::default().with_name(s("range")),
        ]);
    let ResponseKind::JoinGroup(joined) = broker.call(&join.with_member_id(s("")), 5) else {
        unreachable!()
    };
    assert_eq!(joined.error_code, 0);
    let pid = broker.init("tx");
    broker.add_offsets("tx", pid, "g", 3);
    let base = txn_offset_commit_request("tx", pid, "g", 1);
    let unknown_member = base.clone().with_member_id(s("stranger"));
    assert_eq!(
        broker.txn_offset_commit(&unknown_member, 3),
        vec![code::UNKNOWN_MEMBER_ID]
    );
    let wrong_generation = base
        .clone()
        .with_member_id(joined.member_id.clone())
        .with_generation_id(joined.generation_id + 1);
    assert_eq!(
        broker.txn_offset_commit(&wrong_generation, 3),
        vec![code::ILLEGAL_GENERATION]
    );
    let fenced = base
        .clone()
        .with_member_id(s("other-member"))
        .with_group_instance_id(Some(s("i-1")));
    assert_eq!(
        broker.txn_offset_commit(&fenced, 3),
        vec![code::FENCED_INSTANCE_ID]
    );
    let good = base
        .with_member_id(joined.member_id)
        .with_generation_id(joined.generation_id);
    assert_eq!(broker.txn_offset_commit(&good, 3), vec![0]);
    // Before v3 the member fields do not exist and are not checked.
    let old = txn_offset_commit_request("tx", pid, "g", 2);
    assert_eq!(broker.txn_offset_commit(&old, 2), vec![0]);
}

#[test]
fn txn_offset_commit_to_a_kip848_consumer_group_checks_the_member_epoch_and_lands_in_that_group() {
    let mut broker = Broker::new();
    let join = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(s("cg").into())
        .with_member_id(s("m1"))
        .with_member_epoch(0)
        .with_rebalance_timeout_ms(30_000)
        .with_subscribed_topic_names(Some(vec![s(TOPIC).into()]))
        .with_topic_partitions(Some(Vec::new()));
    let ResponseKind::ConsumerGroupHeartbeat(joined) = broker.call(&join, 1) else {
        unreachable!()
    };
    assert_eq!(joined.error_code, 0);
    let epoch = joined.member_epoch;
    let pid = broker.init("tx");
    broker.add_offsets("tx", pid, "cg", 3);
    let base = txn_offset_commit_request("tx", pid, "cg", 9);
    assert_eq!(
        broker.txn_offset_commit(
            &base
                .clone()
                .with_member_id(s("m1"))
                .with_generation_id(epoch + 5),
            3
        ),
        vec![code::STALE_MEMBER_EPOCH]
    );
    assert_eq!(
        broker.txn_offset_commit(
            &base
                .clone()
                .with_member_id(s("ghost"))
                .with_generation_id(epoch),
            3
        ),
        vec![code::UNKNOWN_MEMBER_ID]
    );
    assert_eq!(
        broker.txn_offset_commit(&base.with_member_id(s("m1")).with_generation_id(epoch), 3),
        vec![0]
    );
    assert_eq!(
        broker.core.groups().committed_offset("cg", TOPIC, 0),
        None,
        "pending"
    );
    assert_eq!(broker.end("tx", pid, true), 0);
    assert_eq!(
        broker.core.groups().committed_offset("cg", TOPIC, 0),
        Some(9)
    );
    assert!(
        broker.core.groups().group("cg").is_none(),
        "no classic group made beside it"
    );
}

#[test]
fn txn_offset_commit_of_an_unknown_partition_is_unknown_topic_or_partition() {
    let mut broker = Broker::new();
    let pid = broker.init("tx");
    broker.add_offsets("tx", pid, "g", 3);
    let mut request = txn_offset_commit_request("tx", pid, "g", 1);
    request.topics[0].partitions.push(
        TxnOffsetCommitRequestPartition::default()
            .with_partition_index(9)
            .with_committed_offset(1),
    );
    assert_eq!(
        broker.txn_offset_commit(&request, 3),
        vec![0, code::UNKNOWN_TOPIC_OR_PARTITION]
    );
}

#[test]
fn txn_offset_commit_with_an_empty_group_id_is_invalid_group_id() {
    let mut broker = Broker::new();
    let pid = broker.init("tx");
    let request = txn_offset_commit_request("tx", pid, "", 1);
    assert_eq!(
        broker.txn_offset_commit(&request, 3),
        vec![code::INVALID_GROUP_ID]
    );
}

#[test]
fn txn_offset_commit_with_oversized_metadata_is_offset_metadata_too_large() {
    let mut broker = Broker::new();
    let pid = broker.init("tx");
    broker.add_offsets("tx", pid, "g", 3);
    let mut request = txn_offset_commit_request("tx", pid, "g", 1);
    request.topics[0].partitions[0].committed_metadata =
        Some(s(&"x".repeat(crate::group::MAX_OFFSET_METADATA_BYTES + 1)));
    assert_eq!(
        broker.txn_offset_commit(&request, 3),
        vec![code::OFFSET_METADATA_TOO_LARGE]
    );
}

// ---- EndTxn ----

#[test]
fn end_txn_commit_writes_a_commit_marker_and_makes_the_records_visible_to_read_committed() {
    let mut broker = Broker::new();
    let pid = open_transaction(&mut broker, "tx", &["a", "b"]);
    assert!(
        broker.consume(0, READ_COMMITTED).is_empty(),
        "open: not stable"
    );
    assert_eq!(broker.end("tx", pid, true), 0);
    assert_eq!(broker.state("tx"), TransactionState::CompleteCommit);
    assert_eq!(broker.consume(0, READ_COMMITTED), vec!["a", "b"]);
    let data = broker.fetch(0, 0, READ_UNCOMMITTED);
    assert_eq!(markers(&data), vec![(2, pid.epoch, true)]);
    assert_eq!(broker.last_stable_offset(0), 3);
}

#[test]
fn end_txn_abort_hides_the_records_from_read_committed_and_not_from_read_uncommitted() {
    let mut broker = Broker::new();
    let pid = open_transaction(&mut broker, "tx", &["a", "b"]);
    broker.produce(
        None,
        0,
        batch(Pid { id: -1, epoch: -1 }, -1, false, &["plain"]),
    );
    assert_eq!(broker.end("tx", pid, false), 0);
    assert_eq!(broker.consume(0, READ_COMMITTED), vec!["plain"]);
    assert_eq!(broker.consume(0, READ_UNCOMMITTED), vec!["a", "b", "plain"]);
    let data = broker.fetch(0, 0, READ_COMMITTED);
    let aborted: Vec<(i64, i64)> = data
        .aborted_transactions
        .unwrap()
        .iter()
        .map(|a| (a.producer_id.0, a.first_offset))
        .collect();
    assert_eq!(aborted, vec![(pid.id, 0)]);
    assert_eq!(
        markers(&broker.fetch(0, 0, READ_UNCOMMITTED)),
        vec![(3, pid.epoch, false)]
    );
    assert_eq!(
        broker.core.logs().aborted_transactions(TOPIC, 0),
        vec![(pid.id, 0, 3)]
    );
}

#[test]
fn end_txn_retried_after_it_completed_is_none_and_the_opposite_outcome_is_invalid_txn_state() {
    let mut broker = Broker::new();
    let pid = open_transaction(&mut broker, "tx", &["a"]);
    assert_eq!(broker.end("tx", pid, true), 0);
    assert_eq!(broker.end("tx", pid, true), 0, "retry");
    assert_eq!(broker.end("tx", pid, false), code::INVALID_TXN_STATE);
    assert_eq!(
        markers(&broker.fetch(0, 0, READ_UNCOMMITTED)).len(),
        1,
        "one marker"
    );
}

#[test]
fn end_txn_without_an_open_transaction_is_invalid_txn_state() {
    let mut broker = Broker::new();
    let pid = broker.init("tx");
    assert_eq!(broker.end("tx", pid, true), code::INVALID_TXN_STATE);
    assert_eq!(broker.end("tx", pid, false), code::INVALID_TXN_STATE);
}

#[test]
fn end_txn_with_an_old_epoch_is_producer_fenced_or_invalid_producer_epoch_before_v2() {
    let mut broker = Broker::new();
    let old = broker.init("tx");
    let new = broker.init("tx");
    broker.add_partitions("tx", new, &[(TOPIC, 0)]);
    assert_eq!(
        broker.end_at("tx", old, true, 2).error_code,
        code::PRODUCER_FENCED
    );
    assert_eq!(
        broker.end_at("tx", old, true, 1).error_code,
        code::INVALID_PRODUCER_EPOCH
    );
    assert_eq!(broker.state("tx"), TransactionState::Ongoing);
}

#[test]
fn end_txn_for_an_unknown_transactional_id_is_invalid_producer_id_mapping() {
    let mut broker = Broker::new();
    let pid = Pid {
        id: 1_000,
        epoch: 0,
    };
    assert_eq!(
        broker.end("nobody", pid, true),
        code::INVALID_PRODUCER_ID_MAPPING
    );
    assert_eq!(broker.end("", pid, true), code::INVALID_REQUEST);
}

#[test]
fn end_txn_v5_bumps_the_epoch_writes_the_markers_with_it_and_accepts_a_retry() {
    let mut broker = Broker::new();
    let pid = open_transaction(&mut broker, "tx", &["a"]);
    let response = broker.end_at("tx", pid, true, 5);
    assert_eq!(response.error_code, 0);
    let next = Pid {
        id: response.producer_id.0,
        epoch: response.producer_epoch,
    };
    assert_eq!(
        next,
        Pid {
            id: pid.id,
            epoch: pid.epoch + 1
        }
    );
    assert_eq!(
        markers(&broker.fetch(0, 0, READ_UNCOMMITTED)),
        vec![(1, next.epoch, true)]
    );
    // The answer was lost: the retry names the old epoch and gets the same answer.
    let retry = broker.end_at("tx", pid, true, 5);
    assert_eq!(
        (retry.error_code, retry.producer_id.0, retry.producer_epoch),
        (0, next.id, next.epoch)
    );
    // The next transaction uses the new epoch from sequence 0.
    broker.add_partitions("tx", next, &[(TOPIC, 0)]);
    let (error, _) = broker.produce(Some("tx"), 0, batch(next, 0, true, &["b"]));
    assert_eq!(error, 0);
}

// ---- Timeouts ----

#[test]
fn an_open_transaction_is_aborted_at_its_timeout_and_its_producer_fenced() {
    let mut broker = Broker::new();
    let response = broker.init_request(&init_request(Some("tx"), 10_000), 4);
    let pid = Pid {
        id: response.producer_id.0,
        epoch: response.producer_epoch,
    };
    broker.add_partitions("tx", pid, &[(TOPIC, 0)]);
    broker.produce(Some("tx"), 0, batch(pid, 0, true, &["late"]));
    assert_eq!(
        broker.core.poll_timeout(),
        Some(broker.now + Duration::from_secs(10))
    );
    broker.advance(Duration::from_millis(9_999));
    assert_eq!(broker.state("tx"), TransactionState::Ongoing);
    broker.advance(Duration::from_millis(1));
    assert_eq!(broker.state("tx"), TransactionState::CompleteAbort);
    assert_eq!(broker.core.poll_timeout(), None);
    assert_eq!(
        markers(&broker.fetch(0, 0, READ_UNCOMMITTED)),
        vec![(1, pid.epoch + 1, false)]
    );
    assert!(broker.consume(0, READ_COMMITTED).is_empty());
    assert_eq!(broker.end("tx", pid, true), code::PRODUCER_FENCED);
    let (error, _) = broker.produce(Some("tx"), 0, batch(pid, 1, true, &["zombie"]));
    assert_eq!(error, code::INVALID_PRODUCER_EPOCH);
}

// ---- Produce, Fetch, ListOffsets ----

#[test]
fn transactional_produce_to_a_partition_not_in_the_transaction_is_refused_by_version() {
    let mut broker = Broker::new();
    let pid = broker.init("tx");
    let records = batch(pid, 0, true, &["a"]);
    assert_eq!(
        broker.produce_at(Some("tx"), 0, records.clone(), 10).0,
        code::INVALID_TXN_STATE
    );
    assert_eq!(
        broker.produce_at(Some("tx"), 0, records.clone(), 11).0,
        code::TRANSACTION_ABORTABLE
    );
    assert_eq!(broker.core.logs().high_watermark(TOPIC, 0), Some(0));
    // v12+ (transactions v2) adds the partition to the transaction.
    assert_eq!(broker.produce_at(Some("tx"), 0, records, 12), (0, 0));
    assert_eq!(broker.state("tx"), TransactionState::Ongoing);
}

#[test]
fn transactional_produce_without_a_transactional_id_is_transactional_id_authorization_failed() {
    let mut broker = Broker::new();
    let pid = broker.init("tx");
    broker.add_partitions("tx", pid, &[(TOPIC, 0)]);
    let (error, _) = broker.produce(None, 0, batch(pid, 0, true, &["a"]));
    assert_eq!(error, code::TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
}

#[test]
fn transactional_produce_naming_another_producer_is_invalid_producer_id_mapping() {
    let mut broker = Broker::new();
    let pid = broker.init("tx");
    let other = Pid {
        id: pid.id + 50,
        ..pid
    };
    let (error, _) = broker.produce(Some("tx"), 0, batch(other, 0, true, &["a"]));
    assert_eq!(error, code::INVALID_PRODUCER_ID_MAPPING);
}

#[test]
fn non_transactional_batch_from_a_producer_with_an_open_transaction_is_invalid_txn_state() {
    let mut broker = Broker::new();
    let pid = open_transaction(&mut broker, "tx", &["a"]);
    let (error, _) = broker.produce(Some("tx"), 0, batch(pid, 1, false, &["b"]));
    assert_eq!(error, code::INVALID_TXN_STATE);
}

#[test]
fn control_batch_from_a_client_is_invalid_record() {
    let mut broker = Broker::new();
    let marker = crate::log::Marker {
        producer_id: 1,
        producer_epoch: 0,
        commit: true,
        coordinator_epoch: 0,
        timestamp_ms: 0,
    };
    let bytes = crate::log::batch_for_tests(&marker);
    let (error, _) = broker.produce(None, 0, bytes);
    assert_eq!(error, code::INVALID_RECORD);
}

#[test]
fn transaction_marker_is_a_control_batch_with_a_valid_crc() {
    let marker = crate::log::Marker {
        producer_id: 1_234,
        producer_epoch: 7,
        commit: false,
        coordinator_epoch: 3,
        timestamp_ms: 1_700_000_000_000,
    };
    let mut bytes = crate::log::batch_for_tests(&marker);
    let set = RecordBatchDecoder::decode(&mut bytes).expect("decodes, CRC checked");
    assert_eq!(set.records.len(), 1);
    let record = &set.records[0];
    assert!(record.control && record.transactional);
    assert_eq!(
        (record.producer_id, record.producer_epoch, record.sequence),
        (1_234, 7, -1)
    );
    assert_eq!(record.timestamp, 1_700_000_000_000);
    assert_eq!(
        record.key.as_deref(),
        Some(&[0u8, 0, 0, 0][..]),
        "version 0, ABORT"
    );
    assert_eq!(
        record.value.as_deref(),
        Some(&[0u8, 0, 0, 0, 0, 3][..]),
        "version 0, epoch 3"
    );
}

#[test]
fn last_stable_offset_is_the_first_offset_of_the_earliest_open_transaction() {
    let mut broker = Broker::new();
    broker.produce(
        None,
        0,
        batch(Pid { id: -1, epoch: -1 }, -1, false, &["p0", "p1"]),
    );
    let first = open_transaction(&mut broker, "tx-1", &["a"]);
    let second = open_transaction(&mut broker, "tx-2", &["b"]);
    assert_eq!(broker.last_stable_offset(0), 2);
    assert_eq!(broker.fetch(0, 0, READ_COMMITTED).last_stable_offset, 2);
    assert_eq!(broker.fetch(0, 0, READ_UNCOMMITTED).high_watermark, 4);
    assert_eq!(broker.consume(0, READ_COMMITTED), vec!["p0", "p1"]);
    broker.end("tx-2", second, true);
    assert_eq!(
        broker.last_stable_offset(0),
        2,
        "the earlier transaction is still open"
    );
    broker.end("tx-1", first, true);
    assert_eq!(broker.last_stable_offset(0), 6);
    assert_eq!(
        broker.consume(0, READ_COMMITTED),
        vec!["p0", "p1", "a", "b"]
    );
}

#[test]
fn list_offsets_latest_is_the_last_stable_offset_for_read_committed() {
    let mut broker = Broker::new();
    broker.produce(None, 0, batch(Pid { id: -1, epoch: -1 }, -1, false, &["p"]));
    open_transaction(&mut broker, "tx", &["a", "b"]);
    assert_eq!(broker.list_latest(READ_COMMITTED), 1);
    assert_eq!(broker.list_latest(READ_UNCOMMITTED), 3);
}

#[test]
fn read_committed_fetch_parked_on_an_open_transaction_completes_when_it_commits() {
    let mut broker = Broker::new();
    let pid = open_transaction(&mut broker, "tx", &["a"]);
    let request = FetchRequest::default()
        .with_replica_id((-1).into())
        .with_max_wait_ms(30_000)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_isolation_level(READ_COMMITTED)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(s(TOPIC).into())
                .with_partitions(vec![
                    FetchPartition::default()
                        .with_partition(0)
                        .with_fetch_offset(0)
                        .with_partition_max_bytes(1 << 20),
                ]),
        ]);
    let frame = encode_request(&request, 11, 99, Some("parked")).unwrap();
    let other = ConnectionId(2);
    broker.core.connection_opened(other);
    broker
        .core
        .handle_frame(other, frame.slice(4..), broker.now);
    assert!(
        broker.core.poll_output().is_none(),
        "parked: nothing stable yet"
    );
    assert_eq!(broker.end("tx", pid, true), 0);
    let Some(Output::Send { connection, frame }) = broker.core.poll_output() else {
        panic!("the parked fetch completes with the commit")
    };
    assert_eq!(connection, other);
    let (_, ResponseKind::Fetch(response)) =
        decode_response(ApiKey::Fetch, 11, frame.slice(4..)).unwrap()
    else {
        unreachable!()
    };
    assert_eq!(
        visible_values(&response.responses[0].partitions[0]),
        vec!["a"]
    );
}

#[test]
fn aborted_transactions_in_a_fetch_are_those_overlapping_the_data_returned() {
    let mut broker = Broker::new();
    let pid = open_transaction(&mut broker, "tx", &["a"]);
    broker.end("tx", pid, false);
    let pid = broker.init("tx");
    broker.add_partitions("tx", pid, &[(TOPIC, 0)]);
    broker.produce(Some("tx"), 0, batch(pid, 0, true, &["c"]));
    broker.end("tx", pid, true);
    // From offset 2 on, the first transaction (offsets 0–1) is not in the data.
    let from_two = broker.fetch(0, 2, READ_COMMITTED);
    assert_eq!(from_two.aborted_transactions, Some(vec![]));
    let from_zero = broker.fetch(0, 0, READ_COMMITTED);
    assert_eq!(from_zero.aborted_transactions.unwrap().len(), 1);
    assert_eq!(
        broker.fetch(0, 0, READ_UNCOMMITTED).aborted_transactions,
        None
    );
}

#[test]
fn idempotent_retry_of_a_transactional_batch_answers_the_original_offset() {
    let mut broker = Broker::new();
    let pid = broker.init("tx");
    broker.add_partitions("tx", pid, &[(TOPIC, 0)]);
    let records = batch(pid, 0, true, &["a", "b"]);
    assert_eq!(broker.produce(Some("tx"), 0, records.clone()), (0, 0));
    assert_eq!(broker.produce(Some("tx"), 0, records), (0, 0), "duplicate");
    assert_eq!(broker.core.logs().high_watermark(TOPIC, 0), Some(2));
    let (error, _) = broker.produce(Some("tx"), 0, batch(pid, 5, true, &["gap"]));
    assert_eq!(error, code::OUT_OF_ORDER_SEQUENCE_NUMBER);
}

#[test]
fn compaction_keeps_the_records_of_open_transactions_and_what_they_would_supersede() {
    let mut broker = Broker::new();
    let configs = [("cleanup.policy".to_owned(), "compact".to_owned())].into();
    broker
        .core
        .logs
        .create_topic_with_configs("compacted", 1, &configs)
        .unwrap();
    let plain = Pid { id: -1, epoch: -1 };
    let produce = |broker: &mut Broker, txn: Option<&str>, records: Bytes| {
        let request = ProduceRequest::default()
            .with_transactional_id(txn.map(|t| s(t).into()))
            .with_acks(-1)
            .with_topic_data(vec![
                TopicProduceData::default()
                    .with_name(s("compacted").into())
                    .with_partition_data(vec![
                        PartitionProduceData::default()
                            .with_index(0)
                            .with_records(Some(records)),
                    ]),
            ]);
        let ResponseKind::Produce(response) = broker.call(&request, 9) else {
            unreachable!()
        };
        assert_eq!(response.responses[0].partition_responses[0].error_code, 0);
    };
    produce(
        &mut broker,
        None,
        keyed_batch(plain, -1, false, &["v1"], Some("k")),
    );
    let pid = broker.init("tx");
    let add = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(s("tx").into())
        .with_v3_and_below_producer_id(ProducerId(pid.id))
        .with_v3_and_below_producer_epoch(pid.epoch)
        .with_v3_and_below_topics(topics(&[("compacted", 0)]));
    broker.call(&add, 3);
    produce(
        &mut broker,
        Some("tx"),
        keyed_batch(pid, 0, true, &["v2"], Some("k")),
    );
    let report = broker.core.clean_logs(Some("compacted")).unwrap();
    assert!(
        report.partitions.is_empty(),
        "nothing below the LSO is superseded: {report:?}"
    );
    broker.end("tx", pid, true);
    let report = broker.core.clean_logs(Some("compacted")).unwrap();
    assert_eq!(
        report.partitions[0].compacted_records, 1,
        "v1 goes once v2 is committed"
    );
}

// ---- DescribeTransactions, ListTransactions ----

#[test]
fn describe_transactions_reports_state_producer_timeout_and_partitions() {
    let mut broker = Broker::new();
    broker.advance(Duration::from_secs(2));
    let pid = open_transaction(&mut broker, "tx", &["a"]);
    let request = DescribeTransactionsRequest::default().with_transactional_ids(vec![
        s("tx").into(),
        s("nobody").into(),
        s("").into(),
    ]);
    let ResponseKind::DescribeTransactions(response) = broker.call(&request, 0) else {
        unreachable!()
    };
    let described = &response.transaction_states;
    assert_eq!(described[0].error_code, 0);
    assert_eq!(described[0].transaction_state.as_str(), "Ongoing");
    assert_eq!(described[0].producer_id.0, pid.id);
    assert_eq!(described[0].producer_epoch, pid.epoch);
    assert_eq!(described[0].transaction_timeout_ms, 60_000);
    assert_eq!(described[0].transaction_start_time_ms, 2_000);
    assert_eq!(described[0].topics[0].topic.as_str(), TOPIC);
    assert_eq!(described[0].topics[0].partitions, vec![0]);
    assert_eq!(described[1].error_code, code::TRANSACTIONAL_ID_NOT_FOUND);
    assert_eq!(described[2].error_code, code::INVALID_REQUEST);
}

fn list(
    broker: &mut Broker,
    request: &ListTransactionsRequest,
    version: i16,
) -> ListTransactionsResponse {
    let ResponseKind::ListTransactions(response) = broker.call(request, version) else {
        unreachable!()
    };
    response
}

fn listed_ids(response: &ListTransactionsResponse) -> Vec<String> {
    response
        .transaction_states
        .iter()
        .map(|t| t.transactional_id.to_string())
        .collect()
}

#[test]
fn list_transactions_filters_by_state_producer_id_duration_and_pattern() {
    let mut broker = Broker::new();
    let old = open_transaction(&mut broker, "orders-1", &["a"]);
    broker.advance(Duration::from_secs(30));
    broker.init("orders-2");
    broker.init("payments");
    let all = list(
        &mut broker,
        &ListTransactionsRequest::default().with_duration_filter(-1),
        1,
    );
    assert_eq!(listed_ids(&all), vec!["orders-1", "orders-2", "payments"]);
    let ongoing = ListTransactionsRequest::default()
        .with_state_filters(vec![s("Ongoing"), s("NoSuchState")])
        .with_duration_filter(-1);
    let response = list(&mut broker, &ongoing, 0);
    assert_eq!(listed_ids(&response), vec!["orders-1"]);
    assert_eq!(response.unknown_state_filters, vec![s("NoSuchState")]);
    let by_producer = ListTransactionsRequest::default()
        .with_producer_id_filters(vec![ProducerId(old.id)])
        .with_duration_filter(-1);
    assert_eq!(
        listed_ids(&list(&mut broker, &by_producer, 1)),
        vec!["orders-1"]
    );
    // Running longer than 20 s: only the transaction started 30 s ago (and ids never started).
    let long = ListTransactionsRequest::default()
        .with_state_filters(vec![s("Ongoing")])
        .with_duration_filter(20_000);
    assert_eq!(listed_ids(&list(&mut broker, &long, 1)), vec!["orders-1"]);
    let pattern = ListTransactionsRequest::default()
        .with_duration_filter(-1)
        .with_transactional_id_pattern(Some(s("orders-[0-9]+")));
    assert_eq!(
        listed_ids(&list(&mut broker, &pattern, 2)),
        vec!["orders-1", "orders-2"]
    );
    let partial = pattern
        .clone()
        .with_transactional_id_pattern(Some(s("orders")));
    assert!(
        listed_ids(&list(&mut broker, &partial, 2)).is_empty(),
        "whole ids only"
    );
    let invalid = pattern.with_transactional_id_pattern(Some(s("orders-[")));
    assert_eq!(
        list(&mut broker, &invalid, 2).error_code,
        code::INVALID_REGULAR_EXPRESSION
    );
}

// ---- Fault responses ----

#[test]
fn every_transaction_error_response_encodes_at_every_advertised_version() {
    let requests = [
        (
            ApiKey::InitProducerId,
            RequestKind::InitProducerId(init_request(Some("tx"), 1)),
        ),
        (
            ApiKey::AddPartitionsToTxn,
            RequestKind::AddPartitionsToTxn(
                AddPartitionsToTxnRequest::default()
                    .with_v3_and_below_topics(topics(&[(TOPIC, 0)]))
                    .with_transactions(vec![
                        AddPartitionsToTxnTransaction::default().with_topics(topics(&[(TOPIC, 0)])),
                    ]),
            ),
        ),
        (
            ApiKey::AddOffsetsToTxn,
            RequestKind::AddOffsetsToTxn(AddOffsetsToTxnRequest::default()),
        ),
        (
            ApiKey::TxnOffsetCommit,
            RequestKind::TxnOffsetCommit(txn_offset_commit_request(
                "tx",
                Pid { id: 1, epoch: 0 },
                "g",
                1,
            )),
        ),
        (
            ApiKey::EndTxn,
            RequestKind::EndTxn(EndTxnRequest::default()),
        ),
        (
            ApiKey::DescribeTransactions,
            RequestKind::DescribeTransactions(
                DescribeTransactionsRequest::default().with_transactional_ids(vec![s("tx").into()]),
            ),
        ),
        (
            ApiKey::ListTransactions,
            RequestKind::ListTransactions(ListTransactionsRequest::default()),
        ),
    ];
    for (api_key, request) in requests {
        let (min, max) = crate::api_versions::supported_versions(api_key).unwrap();
        for version in min..=max {
            let response = super::error_response(&request, version, 51)
                .unwrap_or_else(|| panic!("{api_key:?} has an error response"));
            let frame = encode_response(api_key, version, 1, &response)
                .unwrap_or_else(|e| panic!("{api_key:?} v{version}: {e}"));
            let (_, decoded) = decode_response(api_key, version, frame.slice(4..)).unwrap();
            let codes: Vec<i16> = match decoded {
                ResponseKind::InitProducerId(r) => vec![r.error_code],
                ResponseKind::AddPartitionsToTxn(r) if version < 4 => r
                    .results_by_topic_v3_and_below
                    .iter()
                    .flat_map(|t| {
                        t.results_by_partition
                            .iter()
                            .map(|p| p.partition_error_code)
                    })
                    .collect(),
                ResponseKind::AddPartitionsToTxn(r) => r
                    .results_by_transaction
                    .iter()
                    .flat_map(|t| &t.topic_results)
                    .flat_map(|t| {
                        t.results_by_partition
                            .iter()
                            .map(|p| p.partition_error_code)
                    })
                    .collect(),
                ResponseKind::AddOffsetsToTxn(r) => vec![r.error_code],
                ResponseKind::TxnOffsetCommit(r) => r
                    .topics
                    .iter()
                    .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
                    .collect(),
                ResponseKind::EndTxn(r) => vec![r.error_code],
                ResponseKind::DescribeTransactions(r) => {
                    r.transaction_states.iter().map(|t| t.error_code).collect()
                }
                ResponseKind::ListTransactions(r) => vec![r.error_code],
                other => panic!("unexpected {other:?}"),
            };
            assert!(
                !codes.is_empty() && codes.iter().all(|c| *c == 51),
                "{api_key:?} v{version}: {codes:?}"
            );
        }
    }
}
