//! Log API tests through [`BrokerCore::handle_frame`]: every request is encoded as a client sends
//! it and every response decoded at the request's version, so encoding per version is tested too.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kmock_wire::kafka_protocol::messages::create_topics_request::CreatableTopic;
use kmock_wire::kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kmock_wire::kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kmock_wire::kafka_protocol::messages::list_offsets_request::{
    ListOffsetsPartition, ListOffsetsTopic,
};
use kmock_wire::kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kmock_wire::kafka_protocol::messages::produce_request::{
    PartitionProduceData, TopicProduceData,
};
use kmock_wire::kafka_protocol::messages::{
    ApiKey, CreateTopicsRequest, CreateTopicsResponse, DeleteTopicsRequest, DeleteTopicsResponse,
    FetchRequest, FetchResponse, ListOffsetsRequest, ListOffsetsResponse, MetadataRequest,
    MetadataResponse, ProduceRequest, ProduceResponse, RequestKind, ResponseKind,
};
use kmock_wire::kafka_protocol::protocol::{Request, StrBytes};
use kmock_wire::kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use kmock_wire::{decode_response, encode_request, encode_response};
use uuid::Uuid;

use super::{batch, code, is_valid_topic_name};
use crate::BrokerTime;
use crate::config::BrokerConfig;
use crate::{BrokerCore, ConnectionId, Output};

const CONN: ConnectionId = ConnectionId(1);
const OTHER_CONN: ConnectionId = ConnectionId(2);

fn versions(api_key: ApiKey) -> std::ops::RangeInclusive<i16> {
    let range = api_key.valid_versions();
    range.min..=range.max
}

fn name(s: &str) -> kmock_wire::kafka_protocol::messages::TopicName {
    StrBytes::from_string(s.to_owned()).into()
}

/// A broker driven with explicit time.
struct Broker {
    core: BrokerCore,
    next_correlation_id: i32,
    now: BrokerTime,
}

impl Broker {
    fn new() -> Self {
        Self::with_config(BrokerConfig::default())
    }

    fn with_config(config: BrokerConfig) -> Self {
        let mut core = BrokerCore::new(config);
        core.connection_opened(CONN);
        core.connection_opened(OTHER_CONN);
        Self {
            core,
            next_correlation_id: 1,
            now: BrokerTime::ZERO,
        }
    }

    fn send<R: Request>(&mut self, connection: ConnectionId, body: &R, version: i16) -> i32 {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id += 1;
        let frame = encode_request(body, version, correlation_id, Some("log-test")).unwrap();
        self.core
            .handle_frame(connection, frame.slice(4..), self.now);
        correlation_id
    }

    /// The next output, decoded when it is a response.
    fn output(&mut self, api_key: ApiKey, version: i16) -> Option<(ConnectionId, ResponseKind)> {
        match self.core.poll_output()? {
            Output::Send { connection, frame } => {
                let (_, response) = decode_response(api_key, version, frame.slice(4..))
                    .unwrap_or_else(|e| panic!("{api_key:?} v{version}: {e}"));
                Some((connection, response))
            }
            other => panic!("expected a response, got {other:?}"),
        }
    }

    fn call<R: Request>(&mut self, body: &R, version: i16) -> ResponseKind {
        self.send(CONN, body, version);
        let api_key = ApiKey::try_from(R::KEY).unwrap();
        let (_, response) = self
            .output(api_key, version)
            .unwrap_or_else(|| panic!("no response to {api_key:?} v{version}"));
        response
    }

    fn metadata(&mut self, request: &MetadataRequest, version: i16) -> MetadataResponse {
        let ResponseKind::Metadata(r) = self.call(request, version) else {
            panic!()
        };
        r
    }

    fn create_topics(
        &mut self,
        request: &CreateTopicsRequest,
        version: i16,
    ) -> CreateTopicsResponse {
        let ResponseKind::CreateTopics(r) = self.call(request, version) else {
            panic!()
        };
        r
    }

    fn delete_topics(
        &mut self,
        request: &DeleteTopicsRequest,
        version: i16,
    ) -> DeleteTopicsResponse {
        let ResponseKind::DeleteTopics(r) = self.call(request, version) else {
            panic!()
        };
        r
    }

    fn produce(&mut self, request: &ProduceRequest, version: i16) -> ProduceResponse {
        let ResponseKind::Produce(r) = self.call(request, version) else {
            panic!()
        };
        r
    }

    fn fetch(&mut self, request: &FetchRequest, version: i16) -> FetchResponse {
        let ResponseKind::Fetch(r) = self.call(request, version) else {
            panic!()
        };
        r
    }

    fn list_offsets(&mut self, request: &ListOffsetsRequest, version: i16) -> ListOffsetsResponse {
        let ResponseKind::ListOffsets(r) = self.call(request, version) else {
            panic!()
        };
        r
    }

    fn create(&mut self, topic: &str, partitions: i32) -> Uuid {
        let response = self.create_topics(&create_request(topic, partitions, 1), 7);
        assert_eq!(response.topics[0].error_code, 0, "{response:?}");
        response.topics[0].topic_id
    }

    /// Produces one batch with acks=1 at v9; returns (error code, base offset).
    fn produce_batch(&mut self, topic: &str, partition: i32, records: Bytes) -> (i16, i64) {
        let response = self.produce(&produce_request(topic, partition, records, 1), 9);
        let partition = &response.responses[0].partition_responses[0];
        (partition.error_code, partition.base_offset)
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        self.core.handle_timeout(self.now);
    }
}

fn create_request(topic: &str, partitions: i32, replication_factor: i16) -> CreateTopicsRequest {
    CreateTopicsRequest::default()
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(name(topic))
                .with_num_partitions(partitions)
                .with_replication_factor(replication_factor),
        ])
        .with_timeout_ms(1_000)
}

fn metadata_request(topics: &[&str]) -> MetadataRequest {
    MetadataRequest::default()
        .with_topics(Some(
            topics
                .iter()
                .map(|t| MetadataRequestTopic::default().with_name(Some(name(t))))
                .collect(),
        ))
        .with_allow_auto_topic_creation(true)
}

fn produce_request(topic: &str, partition: i32, records: Bytes, acks: i16) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(1_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(name(topic))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(records)),
                ]),
        ])
}

fn fetch_request(
    version: i16,
    topic: &str,
    topic_id: Uuid,
    fetch_offset: i64,
    max_wait_ms: i32,
    min_bytes: i32,
) -> FetchRequest {
    let partition = FetchPartition::default()
        .with_partition(0)
        .with_fetch_offset(fetch_offset)
        .with_partition_max_bytes(1 << 20);
    let fetch_topic = FetchTopic::default().with_partitions(vec![partition]);
    let fetch_topic = if version >= 13 {
        fetch_topic.with_topic_id(topic_id)
    } else {
        fetch_topic.with_topic(name(topic))
    };
    FetchRequest::default()
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(min_bytes)
        .with_max_bytes(1 << 24)
        .with_topics(vec![fetch_topic])
}

fn list_offsets_request(topic: &str, partition: i32, timestamp: i64) -> ListOffsetsRequest {
    ListOffsetsRequest::default().with_topics(vec![
        ListOffsetsTopic::default()
            .with_name(name(topic))
            .with_partitions(vec![
                ListOffsetsPartition::default()
                    .with_partition_index(partition)
                    .with_timestamp(timestamp),
            ]),
    ])
}

/// Batch options for [`encode_batch`].
#[derive(Clone, Copy)]
struct Producer {
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
}

const PLAIN: Producer = Producer {
    producer_id: -1,
    producer_epoch: -1,
    base_sequence: -1,
};

fn encode_batch(
    values: &[&str],
    first_timestamp: i64,
    producer: Producer,
    compression: Compression,
) -> Bytes {
    encode_records(&records(values, first_timestamp, producer), compression)
}

/// Keyless records with these values, timestamps from `first_timestamp` on.
fn records(values: &[&str], first_timestamp: i64, producer: Producer) -> Vec<Record> {
    values
        .iter()
        .enumerate()
        .map(|(i, value)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: producer.producer_id,
            producer_epoch: producer.producer_epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // The encoder starts a new batch when `offset - sequence` changes: plain records
            // count their sequence like their offset (the header says producer id -1).
            sequence: if producer.base_sequence >= 0 {
                producer.base_sequence + i as i32
            } else {
                i as i32
            },
            timestamp: first_timestamp + i as i64,
            key: None,
            value: Some(Bytes::from(value.to_string())),
            headers: Default::default(),
        })
        .collect()
}

/// One record batch of `records`.
fn encode_records(records: &[Record], compression: Compression) -> Bytes {
    let mut buffer = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buffer,
        records,
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .unwrap();
    buffer.freeze()
}

pub(crate) fn batch_of(values: &[&str]) -> Bytes {
    encode_batch(values, 1_000, PLAIN, Compression::None)
}

/// `(offset, value)` of every record in fetched bytes.
fn decode(records: &Bytes) -> Vec<(i64, String)> {
    let mut buffer = records.clone();
    RecordBatchDecoder::decode_all(&mut buffer)
        .unwrap()
        .into_iter()
        .flat_map(|set| set.records)
        .map(|r| {
            (
                r.offset,
                String::from_utf8(r.value.unwrap().to_vec()).unwrap(),
            )
        })
        .collect()
}

#[test]
fn topic_names_follow_kafka_rules() {
    assert!(is_valid_topic_name("orders.v1_x-y"));
    assert!(is_valid_topic_name(&"a".repeat(249)));
    assert!(!is_valid_topic_name(&"a".repeat(250)));
    assert!(!is_valid_topic_name(""));
    assert!(!is_valid_topic_name("."));
    assert!(!is_valid_topic_name(".."));
    assert!(!is_valid_topic_name("with space"));
    assert!(!is_valid_topic_name("ünïcode"));
}

#[test]
fn metadata_auto_creates_topics_at_every_version() {
    let mut broker = Broker::new();
    for version in versions(ApiKey::Metadata) {
        let topic = format!("auto-{version}");
        let response = broker.metadata(&metadata_request(&[&topic]), version);
        assert_eq!(response.brokers.len(), 1);
        assert_eq!(response.brokers[0].host.as_str(), "127.0.0.1");
        assert_eq!(response.brokers[0].port, 9092);
        assert_eq!(response.topics.len(), 1, "v{version}");
        let described = &response.topics[0];
        assert_eq!(described.error_code, 0, "v{version}");
        assert_eq!(
            described.name.as_deref().map(|n| n.as_str()),
            Some(topic.as_str())
        );
        assert_eq!(described.partitions.len(), 1);
        assert_eq!(described.partitions[0].leader_id.0, 0);
        assert_eq!(described.partitions[0].replica_nodes.len(), 1);
        if version >= 2 {
            assert_eq!(response.cluster_id.as_deref(), Some("kmock-cluster"));
        }
        if version >= 10 {
            assert_eq!(
                Some(described.topic_id),
                broker.core.logs().topic_id(&topic)
            );
            assert!(!described.topic_id.is_nil());
        }
    }
}

#[test]
fn metadata_lists_all_topics_in_name_order() {
    let mut broker = Broker::new();
    broker.create("b", 2);
    broker.create("a", 1);
    let all = broker.metadata(&MetadataRequest::default().with_topics(None), 12);
    let names: Vec<_> = all
        .topics
        .iter()
        .map(|t| t.name.clone().unwrap().0.to_string())
        .collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(all.topics[1].partitions.len(), 2);
    // v0: an empty list means all topics.
    let all_v0 = broker.metadata(&MetadataRequest::default().with_topics(Some(vec![])), 0);
    assert_eq!(all_v0.topics.len(), 2);
    // v1+: an empty list means none.
    let none = broker.metadata(&MetadataRequest::default().with_topics(Some(vec![])), 1);
    assert!(none.topics.is_empty());
}

#[test]
fn metadata_without_auto_creation_reports_unknown_and_invalid_topics() {
    let mut broker = Broker::new();
    let request = metadata_request(&["missing", "bad name"]).with_allow_auto_topic_creation(false);
    let response = broker.metadata(&request, 9);
    assert_eq!(
        response.topics[0].error_code,
        code::UNKNOWN_TOPIC_OR_PARTITION
    );
    assert_eq!(response.topics[1].error_code, code::INVALID_TOPIC_EXCEPTION);
    assert_eq!(broker.core.logs().topic_names().count(), 0);

    let mut broker = Broker::with_config(BrokerConfig {
        auto_create_topics: false,
        ..BrokerConfig::default()
    });
    let response = broker.metadata(&metadata_request(&["missing"]), 12);
    assert_eq!(
        response.topics[0].error_code,
        code::UNKNOWN_TOPIC_OR_PARTITION
    );
}

#[test]
fn metadata_resolves_topic_ids() {
    let mut broker = Broker::new();
    let id = broker.create("by-id", 1);
    let request = MetadataRequest::default().with_topics(Some(vec![
        MetadataRequestTopic::default()
            .with_topic_id(id)
            .with_name(None),
        MetadataRequestTopic::default().with_topic_id(Uuid::from_u128(42)),
    ]));
    let response = broker.metadata(&request, 12);
    assert_eq!(response.topics[0].error_code, 0);
    assert_eq!(
        response.topics[0].name.as_deref().map(|n| n.as_str()),
        Some("by-id")
    );
    assert_eq!(response.topics[1].error_code, code::UNKNOWN_TOPIC_ID);
}

#[test]
fn create_topics_rules_at_every_version() {
    let mut broker = Broker::new();
    for version in versions(ApiKey::CreateTopics) {
        let topic = format!("created-{version}");
        let response = broker.create_topics(&create_request(&topic, 3, -1), version);
        let result = &response.topics[0];
        assert_eq!(result.error_code, 0, "v{version}");
        assert_eq!(broker.core.logs().partition_count(&topic), Some(3));
        if version >= 5 {
            assert_eq!(result.num_partitions, 3);
            assert_eq!(result.replication_factor, 1);
        }
        if version >= 7 {
            assert_eq!(Some(result.topic_id), broker.core.logs().topic_id(&topic));
        }
        let again = broker.create_topics(&create_request(&topic, 3, 1), version);
        assert_eq!(again.topics[0].error_code, code::TOPIC_ALREADY_EXISTS);
        let replicated = broker.create_topics(&create_request("replicated", 1, 3), version);
        assert_eq!(
            replicated.topics[0].error_code,
            code::INVALID_REPLICATION_FACTOR
        );
        let invalid = broker.create_topics(&create_request("no/slash", 1, 1), version);
        assert_eq!(invalid.topics[0].error_code, code::INVALID_TOPIC_EXCEPTION);
        let zero = broker.create_topics(&create_request("zero", 0, 1), version);
        assert_eq!(zero.topics[0].error_code, code::INVALID_PARTITIONS);
    }
    let default = broker.create_topics(&create_request("default", -1, -1), 7);
    assert_eq!(default.topics[0].num_partitions, 1);
}

#[test]
fn create_topics_validate_only_creates_nothing() {
    let mut broker = Broker::new();
    let response = broker.create_topics(&create_request("dry", 2, 1).with_validate_only(true), 7);
    assert_eq!(response.topics[0].error_code, 0);
    assert_eq!(broker.core.logs().partition_count("dry"), None);
}

#[test]
fn create_topics_with_assignments() {
    use kmock_wire::kafka_protocol::messages::BrokerId;
    use kmock_wire::kafka_protocol::messages::create_topics_request::CreatableReplicaAssignment;
    let mut broker = Broker::new();
    let assigned = |topic: &str, partitions: &[(i32, i32)]| {
        let mut request = create_request(topic, -1, -1);
        request.topics[0].assignments = partitions
            .iter()
            .map(|(index, node)| {
                CreatableReplicaAssignment::default()
                    .with_partition_index(*index)
                    .with_broker_ids(vec![BrokerId(*node)])
            })
            .collect();
        request
    };
    let ok = broker.create_topics(&assigned("ok", &[(1, 0), (0, 0)]), 5);
    assert_eq!(ok.topics[0].error_code, 0);
    assert_eq!(ok.topics[0].num_partitions, 2);
    let other_node = broker.create_topics(&assigned("other", &[(0, 3)]), 5);
    assert_eq!(
        other_node.topics[0].error_code,
        code::INVALID_REPLICA_ASSIGNMENT
    );
    let gap = broker.create_topics(&assigned("gap", &[(0, 0), (2, 0)]), 5);
    assert_eq!(gap.topics[0].error_code, code::INVALID_REPLICA_ASSIGNMENT);
    let mut both = assigned("both", &[(0, 0)]);
    both.topics[0].num_partitions = 1;
    assert_eq!(
        broker.create_topics(&both, 5).topics[0].error_code,
        code::INVALID_REQUEST
    );
}

#[test]
fn create_topics_rejects_a_name_given_twice() {
    let mut broker = Broker::new();
    let mut request = create_request("twice", 1, 1);
    request.topics.push(request.topics[0].clone());
    let response = broker.create_topics(&request, 4);
    assert!(
        response
            .topics
            .iter()
            .all(|t| t.error_code == code::INVALID_REQUEST)
    );
    assert_eq!(broker.core.logs().partition_count("twice"), None);
}

#[test]
fn delete_topics_by_name_and_by_id() {
    let mut broker = Broker::new();
    for version in 1..=5 {
        let topic = format!("doomed-{version}");
        broker.create(&topic, 1);
        let request = DeleteTopicsRequest::default()
            .with_topic_names(vec![name(&topic), name("never-was")])
            .with_timeout_ms(1_000);
        let response = broker.delete_topics(&request, version);
        assert_eq!(response.responses[0].error_code, 0);
        assert_eq!(
            response.responses[1].error_code,
            code::UNKNOWN_TOPIC_OR_PARTITION
        );
        assert_eq!(broker.core.logs().topic_id(&topic), None);
    }
    let old_id = broker.create("by-id", 1);
    let request = DeleteTopicsRequest::default().with_topics(vec![
        DeleteTopicState::default().with_topic_id(old_id),
        DeleteTopicState::default().with_topic_id(Uuid::from_u128(7)),
    ]);
    let response = broker.delete_topics(&request, 6);
    assert_eq!(response.responses[0].error_code, 0);
    assert_eq!(
        response.responses[0].name.as_deref().map(|n| n.as_str()),
        Some("by-id")
    );
    assert_eq!(response.responses[1].error_code, code::UNKNOWN_TOPIC_ID);
    assert_eq!(broker.core.logs().topic_name(old_id), None);
    let new_id = broker.create("by-id", 1);
    assert_ne!(new_id, old_id, "a recreated topic gets a new id");
}

#[test]
fn topic_ids_are_seeded_and_shared_across_apis() {
    let ids = |seed| {
        let mut broker = Broker::with_config(BrokerConfig {
            seed,
            ..BrokerConfig::default()
        });
        (broker.create("x", 1), broker.create("y", 1))
    };
    assert_eq!(ids(1), ids(1));
    assert_ne!(ids(1), ids(2));

    let mut broker = Broker::new();
    let created = broker.create("shared", 1);
    let metadata = broker.metadata(&metadata_request(&["shared"]), 12);
    assert_eq!(metadata.topics[0].topic_id, created);
    broker.produce_batch("shared", 0, batch_of(&["v"]));
    let fetched = broker.fetch(&fetch_request(13, "shared", created, 0, 0, 1), 13);
    assert_eq!(fetched.responses[0].topic_id, created);
    assert_eq!(fetched.responses[0].partitions[0].error_code, 0);
    assert_eq!(
        decode(fetched.responses[0].partitions[0].records.as_ref().unwrap()).len(),
        1
    );
}

#[test]
fn produce_then_fetch_round_trips_at_every_version() {
    let mut broker = Broker::new();
    let id = broker.create("rt", 1);
    let mut expected = Vec::new();
    for version in versions(ApiKey::Produce) {
        let values = [format!("a{version}"), format!("b{version}")];
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        let mut request = produce_request("rt", 0, batch_of(&refs), -1);
        if version >= 13 {
            request.topic_data[0].topic_id = id;
        }
        let response = broker.produce(&request, version);
        let partition = &response.responses[0].partition_responses[0];
        assert_eq!(partition.error_code, 0, "v{version}");
        assert_eq!(partition.base_offset, expected.len() as i64);
        assert_eq!(partition.log_append_time_ms, -1);
        if version >= 5 {
            assert_eq!(partition.log_start_offset, 0);
        }
        if version >= 13 {
            assert_eq!(response.responses[0].topic_id, id);
        }
        for value in values {
            expected.push((expected.len() as i64, value));
        }
    }
    assert_eq!(
        broker.core.logs().high_watermark("rt", 0),
        Some(expected.len() as i64)
    );
    for version in versions(ApiKey::Fetch) {
        let response = broker.fetch(&fetch_request(version, "rt", id, 0, 0, 1), version);
        let partition = &response.responses[0].partitions[0];
        assert_eq!(partition.error_code, 0, "v{version}");
        assert_eq!(partition.high_watermark, expected.len() as i64);
        assert_eq!(partition.last_stable_offset, expected.len() as i64);
        assert_eq!(
            decode(partition.records.as_ref().unwrap()),
            expected,
            "v{version}"
        );
        if version >= 7 {
            assert_eq!(response.session_id, 0);
        }
        if version >= 11 {
            assert_eq!(partition.preferred_read_replica.0, -1);
        }
    }
    // A fetch from the middle of a batch returns the whole batch (clients skip earlier records).
    let response = broker.fetch(&fetch_request(4, "rt", id, 3, 0, 1), 4);
    let records = decode(
        response.responses[0].partitions[0]
            .records
            .as_ref()
            .unwrap(),
    );
    assert_eq!(records.first().unwrap().0, 2);
    // At the high watermark: nothing, no error.
    let response = broker.fetch(&fetch_request(4, "rt", id, expected.len() as i64, 0, 1), 4);
    assert_eq!(response.responses[0].partitions[0].error_code, 0);
    assert!(
        response.responses[0].partitions[0]
            .records
            .as_ref()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn compressed_batches_are_stored_and_served_as_received() {
    let mut broker = Broker::new();
    broker.create("gz", 1);
    let gzip = encode_batch(&["x", "y", "z"], 5, PLAIN, Compression::Gzip);
    let snappy = encode_batch(&["w"], 9, PLAIN, Compression::Snappy);
    assert_eq!(broker.produce_batch("gz", 0, gzip.clone()), (0, 0));
    assert_eq!(broker.produce_batch("gz", 0, snappy), (0, 3));
    let stored = broker.core.logs().batches("gz", 0).unwrap();
    assert_eq!(stored[0].len(), gzip.len());
    assert_eq!(
        stored[0][16..],
        gzip[16..],
        "only the base offset and partition leader epoch are patched"
    );
    assert_eq!(stored[0][12..16], 0i32.to_be_bytes(), "leader epoch 0");
    let response = broker.fetch(&fetch_request(12, "gz", Uuid::nil(), 0, 0, 1), 12);
    let records = decode(
        response.responses[0].partitions[0]
            .records
            .as_ref()
            .unwrap(),
    );
    let values: Vec<_> = records.iter().map(|(o, v)| (*o, v.as_str())).collect();
    assert_eq!(values, [(0, "x"), (1, "y"), (2, "z"), (3, "w")]);
}

#[test]
fn several_batches_in_one_produce_get_consecutive_offsets() {
    let mut broker = Broker::new();
    broker.create("multi", 1);
    let mut records = BytesMut::new();
    records.extend_from_slice(&batch_of(&["a", "b"]));
    records.extend_from_slice(&batch_of(&["c"]));
    assert_eq!(broker.produce_batch("multi", 0, records.freeze()), (0, 0));
    assert_eq!(broker.produce_batch("multi", 0, batch_of(&["d"])), (0, 3));
    let response = broker.fetch(&fetch_request(4, "multi", Uuid::nil(), 0, 0, 1), 4);
    let records = decode(
        response.responses[0].partitions[0]
            .records
            .as_ref()
            .unwrap(),
    );
    let offsets: Vec<i64> = records.iter().map(|r| r.0).collect();
    assert_eq!(offsets, [0, 1, 2, 3]);
}

#[test]
fn produce_to_unknown_topic_or_partition_fails() {
    let mut broker = Broker::new();
    broker.create("known", 1);
    assert_eq!(
        broker.produce_batch("unknown", 0, batch_of(&["v"])).0,
        code::UNKNOWN_TOPIC_OR_PARTITION
    );
    assert_eq!(
        broker.produce_batch("known", 1, batch_of(&["v"])).0,
        code::UNKNOWN_TOPIC_OR_PARTITION
    );
    assert_eq!(
        broker.core.logs().partition_count("unknown"),
        None,
        "produce never creates"
    );
    let mut request = produce_request("known", 0, batch_of(&["v"]), 1);
    request.topic_data[0].topic_id = Uuid::from_u128(5);
    let response = broker.produce(&request, 13);
    assert_eq!(
        response.responses[0].partition_responses[0].error_code,
        code::UNKNOWN_TOPIC_ID
    );
    let response = broker.produce(&produce_request("known", 0, batch_of(&["v"]), 2), 9);
    assert_eq!(
        response.responses[0].partition_responses[0].error_code,
        code::INVALID_REQUIRED_ACKS
    );
}

#[test]
fn corrupt_batches_are_rejected() {
    let mut broker = Broker::new();
    broker.create("c", 1);
    let good = batch_of(&["value"]);
    let mut flipped = BytesMut::from(&good[..]);
    let last = flipped.len() - 1;
    flipped[last] ^= 0xff;
    assert_eq!(
        broker.produce_batch("c", 0, flipped.freeze()).0,
        code::CORRUPT_MESSAGE
    );
    assert_eq!(
        broker.produce_batch("c", 0, good.slice(..good.len() - 1)).0,
        code::CORRUPT_MESSAGE
    );
    assert_eq!(
        broker.produce_batch("c", 0, good.slice(..20)).0,
        code::CORRUPT_MESSAGE
    );
    assert_eq!(
        broker.produce_batch("c", 0, Bytes::new()).0,
        code::CORRUPT_MESSAGE
    );
    let mut old_magic = BytesMut::from(&good[..]);
    old_magic[16] = 1;
    assert_eq!(
        broker.produce_batch("c", 0, old_magic.freeze()).0,
        code::UNSUPPORTED_FOR_MESSAGE_FORMAT
    );
    // A good batch followed by garbage: nothing is appended.
    let mut trailing = BytesMut::from(&good[..]);
    trailing.extend_from_slice(&[0, 1, 2]);
    assert_eq!(
        broker.produce_batch("c", 0, trailing.freeze()).0,
        code::CORRUPT_MESSAGE
    );
    assert_eq!(broker.core.logs().high_watermark("c", 0), Some(0));
    // The base offset is not covered by the CRC: a client may send any.
    let mut any_base = BytesMut::from(&good[..]);
    any_base[..8].copy_from_slice(&77i64.to_be_bytes());
    assert_eq!(broker.produce_batch("c", 0, any_base.freeze()), (0, 0));
}

#[test]
fn idempotent_retries_return_the_original_offset() {
    let mut broker = Broker::new();
    broker.create("idem", 1);
    let producer = |base_sequence| Producer {
        producer_id: 1_000,
        producer_epoch: 0,
        base_sequence,
    };
    let first = encode_batch(&["a", "b"], 1, producer(0), Compression::None);
    let second = encode_batch(&["c"], 1, producer(2), Compression::None);
    assert_eq!(
        broker.produce_batch("idem", 0, batch_of(&["plain"])),
        (0, 0)
    );
    assert_eq!(broker.produce_batch("idem", 0, first.clone()), (0, 1));
    assert_eq!(broker.produce_batch("idem", 0, second.clone()), (0, 3));
    assert_eq!(broker.produce_batch("idem", 0, first), (0, 1), "duplicate");
    assert_eq!(broker.produce_batch("idem", 0, second), (0, 3), "duplicate");
    assert_eq!(broker.core.logs().high_watermark("idem", 0), Some(4));
    let gap = encode_batch(&["d"], 1, producer(5), Compression::None);
    assert_eq!(
        broker.produce_batch("idem", 0, gap).0,
        code::OUT_OF_ORDER_SEQUENCE_NUMBER
    );
    let next = encode_batch(&["d"], 1, producer(3), Compression::None);
    assert_eq!(broker.produce_batch("idem", 0, next), (0, 4));
    // A new epoch starts at sequence 0; an old epoch is fenced.
    let bumped = |base_sequence| Producer {
        producer_epoch: 1,
        ..producer(base_sequence)
    };
    let wrong_start = encode_batch(&["e"], 1, bumped(4), Compression::None);
    assert_eq!(
        broker.produce_batch("idem", 0, wrong_start).0,
        code::OUT_OF_ORDER_SEQUENCE_NUMBER
    );
    let new_epoch = encode_batch(&["e"], 1, bumped(0), Compression::None);
    assert_eq!(broker.produce_batch("idem", 0, new_epoch), (0, 5));
    let fenced = encode_batch(&["f"], 1, producer(4), Compression::None);
    assert_eq!(
        broker.produce_batch("idem", 0, fenced).0,
        code::INVALID_PRODUCER_EPOCH
    );
}

#[test]
fn sequences_wrap_like_kafka() {
    assert_eq!(batch::increment_sequence(i32::MAX, 1), 0);
    assert_eq!(batch::increment_sequence(i32::MAX - 1, 3), 1);
    assert_eq!(batch::increment_sequence(5, 3), 8);
}

#[test]
fn acks_zero_gets_no_response_and_a_failure_closes_the_connection() {
    let mut broker = Broker::new();
    broker.create("quiet", 1);
    broker.send(CONN, &produce_request("quiet", 0, batch_of(&["v"]), 0), 7);
    assert_eq!(
        broker.core.poll_output(),
        Some(Output::Ready { connection: CONN })
    );
    assert_eq!(broker.core.logs().high_watermark("quiet", 0), Some(1));
    broker.send(CONN, &produce_request("nope", 0, batch_of(&["v"]), 0), 7);
    assert!(matches!(
        broker.core.poll_output(),
        Some(Output::Close {
            connection: CONN,
            ..
        })
    ));
}

#[test]
fn fetch_errors() {
    let mut broker = Broker::new();
    let id = broker.create("f", 1);
    broker.produce_batch("f", 0, batch_of(&["v"]));
    let beyond = broker.fetch(&fetch_request(12, "f", id, 2, 500, 1), 12);
    assert_eq!(
        beyond.responses[0].partitions[0].error_code,
        code::OFFSET_OUT_OF_RANGE
    );
    assert_eq!(beyond.responses[0].partitions[0].high_watermark, 1);
    let negative = broker.fetch(&fetch_request(12, "f", id, -1, 500, 1), 12);
    assert_eq!(
        negative.responses[0].partitions[0].error_code,
        code::OFFSET_OUT_OF_RANGE
    );
    let unknown = broker.fetch(&fetch_request(12, "g", id, 0, 500, 1), 12);
    assert_eq!(
        unknown.responses[0].partitions[0].error_code,
        code::UNKNOWN_TOPIC_OR_PARTITION
    );
    let unknown_id = broker.fetch(&fetch_request(13, "f", Uuid::from_u128(9), 0, 500, 1), 13);
    assert_eq!(
        unknown_id.responses[0].partitions[0].error_code,
        code::UNKNOWN_TOPIC_ID
    );
    assert_eq!(unknown_id.responses[0].topic_id, Uuid::from_u128(9));
    assert_eq!(
        broker.core.logs().parked_fetch_count(),
        0,
        "errors answer at once"
    );
}

#[test]
fn fetch_limits_keep_at_least_one_batch() {
    let mut broker = Broker::new();
    broker.create("big", 2);
    let big = encode_batch(&["x".repeat(500).as_str()], 1, PLAIN, Compression::None);
    broker.produce_batch("big", 0, big.clone());
    broker.produce_batch("big", 0, big.clone());
    broker.produce_batch("big", 1, big.clone());
    let partition = |index| {
        FetchPartition::default()
            .with_partition(index)
            .with_fetch_offset(0)
            .with_partition_max_bytes(100)
    };
    let request = FetchRequest::default()
        .with_max_wait_ms(0)
        .with_max_bytes(1 << 20)
        .with_topics(vec![
            FetchTopic::default()
                .with_topic(name("big"))
                .with_partitions(vec![partition(0), partition(1)]),
        ]);
    let response = broker.fetch(&request, 10);
    let partitions = &response.responses[0].partitions;
    assert_eq!(
        partitions[0].records.as_ref().unwrap().len(),
        big.len(),
        "KIP-74"
    );
    assert!(partitions[1].records.as_ref().unwrap().is_empty());
    // Within the limits, both batches of partition 0 come back.
    let request = request.with_max_bytes(1 << 20);
    let mut request = request;
    request.topics[0].partitions[0].partition_max_bytes = 1 << 20;
    request.topics[0].partitions[1].partition_max_bytes = 1 << 20;
    let response = broker.fetch(&request, 10);
    let partitions = &response.responses[0].partitions;
    assert_eq!(partitions[0].records.as_ref().unwrap().len(), 2 * big.len());
    assert_eq!(partitions[1].records.as_ref().unwrap().len(), big.len());
    // The total max_bytes applies across partitions.
    request.max_bytes = i32::try_from(big.len()).unwrap() + 1;
    let response = broker.fetch(&request, 10);
    let partitions = &response.responses[0].partitions;
    assert_eq!(partitions[0].records.as_ref().unwrap().len(), big.len());
    assert!(partitions[1].records.as_ref().unwrap().is_empty());
}

#[test]
fn long_poll_fetch_completes_on_produce() {
    let mut broker = Broker::new();
    let id = broker.create("lp", 1);
    for version in [4, 12, 13, 18] {
        let offset = broker.core.logs().high_watermark("lp", 0).unwrap();
        broker.send(
            CONN,
            &fetch_request(version, "lp", id, offset, 10_000, 1),
            version,
        );
        assert!(broker.core.poll_output().is_none(), "parked");
        assert_eq!(broker.core.logs().parked_fetch_count(), 1);
        assert_eq!(
            broker.core.poll_timeout(),
            Some(broker.now + Duration::from_secs(10))
        );
        broker.now += Duration::from_millis(5);
        broker.send(
            OTHER_CONN,
            &produce_request("lp", 0, batch_of(&["hello"]), 1),
            9,
        );
        let (connection, produced) = broker.output(ApiKey::Produce, 9).unwrap();
        assert_eq!(connection, OTHER_CONN);
        assert!(matches!(produced, ResponseKind::Produce(_)));
        let (connection, fetched) = broker.output(ApiKey::Fetch, version).unwrap();
        assert_eq!(connection, CONN);
        let ResponseKind::Fetch(fetched) = fetched else {
            panic!()
        };
        let records = decode(fetched.responses[0].partitions[0].records.as_ref().unwrap());
        assert_eq!(records, [(offset, "hello".to_owned())]);
        assert_eq!(broker.core.logs().parked_fetch_count(), 0);
    }
}

#[test]
fn long_poll_fetch_waits_for_min_bytes() {
    let mut broker = Broker::new();
    broker.create("mb", 1);
    let one = batch_of(&["v"]);
    let min_bytes = i32::try_from(one.len() * 2).unwrap();
    broker.send(
        CONN,
        &fetch_request(11, "mb", Uuid::nil(), 0, 10_000, min_bytes),
        11,
    );
    broker.send(OTHER_CONN, &produce_request("mb", 0, one.clone(), 1), 9);
    broker.output(ApiKey::Produce, 9).unwrap();
    assert!(broker.core.poll_output().is_none(), "still below min_bytes");
    broker.send(OTHER_CONN, &produce_request("mb", 0, one, 1), 9);
    broker.output(ApiKey::Produce, 9).unwrap();
    let (_, ResponseKind::Fetch(fetched)) = broker.output(ApiKey::Fetch, 11).unwrap() else {
        panic!()
    };
    assert_eq!(
        decode(fetched.responses[0].partitions[0].records.as_ref().unwrap()).len(),
        2
    );
}

#[test]
fn long_poll_fetch_answers_empty_after_max_wait() {
    let mut broker = Broker::new();
    broker.create("idle", 1);
    broker.send(CONN, &fetch_request(7, "idle", Uuid::nil(), 0, 500, 1), 7);
    broker.advance(Duration::from_millis(499));
    assert!(broker.core.poll_output().is_none());
    broker.advance(Duration::from_millis(1));
    let (_, ResponseKind::Fetch(fetched)) = broker.output(ApiKey::Fetch, 7).unwrap() else {
        panic!()
    };
    assert_eq!(fetched.responses[0].partitions[0].error_code, 0);
    assert!(
        fetched.responses[0].partitions[0]
            .records
            .as_ref()
            .unwrap()
            .is_empty()
    );
    assert_eq!(broker.core.poll_timeout(), None);
}

#[test]
fn parked_fetches_end_with_their_connection_or_topic() {
    let mut broker = Broker::new();
    broker.create("gone", 1);
    broker.send(CONN, &fetch_request(7, "gone", Uuid::nil(), 0, 500, 1), 7);
    broker.core.connection_closed(CONN, broker.now);
    assert_eq!(broker.core.logs().parked_fetch_count(), 0);

    broker.send(
        OTHER_CONN,
        &fetch_request(7, "gone", Uuid::nil(), 0, 500, 1),
        7,
    );
    assert_eq!(broker.core.logs().parked_fetch_count(), 1);
    let delete = DeleteTopicsRequest::default().with_topic_names(vec![name("gone")]);
    broker.core.connection_opened(CONN);
    broker.send(CONN, &delete, 4);
    let mut outputs = Vec::new();
    while let Some(output) = broker.core.poll_output() {
        outputs.push(output);
    }
    assert_eq!(
        outputs.len(),
        2,
        "delete response and the parked fetch's answer"
    );
    let Output::Send { frame, .. } = &outputs[1] else {
        panic!()
    };
    let (_, ResponseKind::Fetch(fetched)) =
        decode_response(ApiKey::Fetch, 7, frame.slice(4..)).unwrap()
    else {
        panic!()
    };
    assert_eq!(
        fetched.responses[0].partitions[0].error_code,
        code::UNKNOWN_TOPIC_OR_PARTITION
    );
}

#[test]
fn list_offsets_earliest_latest_and_by_timestamp() {
    let mut broker = Broker::new();
    broker.create("lo", 1);
    for version in versions(ApiKey::ListOffsets) {
        let response = broker.list_offsets(&list_offsets_request("lo", 0, -1), version);
        let p = &response.topics[0].partitions[0];
        assert_eq!((p.error_code, p.offset), (0, 0), "v{version}");
        if version >= 4 {
            assert_eq!(p.leader_epoch, 0);
        }
        let p = &broker
            .list_offsets(&list_offsets_request("lo", 0, 100), version)
            .topics[0]
            .partitions[0];
        assert_eq!((p.offset, p.timestamp), (-1, -1), "no record yet");
    }
    // Timestamps: batch 1 holds 100, 101, 102; batch 2 (gzip) holds 200, 201; batch 3 holds 150.
    broker.produce_batch(
        "lo",
        0,
        encode_batch(&["a", "b", "c"], 100, PLAIN, Compression::None),
    );
    broker.produce_batch(
        "lo",
        0,
        encode_batch(&["d", "e"], 200, PLAIN, Compression::Gzip),
    );
    broker.produce_batch("lo", 0, encode_batch(&["f"], 150, PLAIN, Compression::None));
    let lookup = |broker: &mut Broker, timestamp, version| {
        let response = broker.list_offsets(&list_offsets_request("lo", 0, timestamp), version);
        let p = &response.topics[0].partitions[0];
        assert_eq!(p.error_code, 0);
        (p.offset, p.timestamp)
    };
    assert_eq!(lookup(&mut broker, -2, 1), (0, -1));
    assert_eq!(lookup(&mut broker, -1, 1), (6, -1));
    assert_eq!(lookup(&mut broker, 0, 1), (0, 100));
    assert_eq!(lookup(&mut broker, 101, 5), (1, 101));
    assert_eq!(lookup(&mut broker, 103, 5), (3, 200));
    assert_eq!(lookup(&mut broker, 201, 10), (4, 201));
    assert_eq!(lookup(&mut broker, 202, 10), (-1, -1));
    assert_eq!(lookup(&mut broker, -3, 7), (4, 201), "max timestamp");
    assert_eq!(lookup(&mut broker, -4, 8), (0, -1), "earliest local");
    let unknown = broker.list_offsets(&list_offsets_request("lo", 3, -1), 5);
    assert_eq!(
        unknown.topics[0].partitions[0].error_code,
        code::UNKNOWN_TOPIC_OR_PARTITION
    );
}

/// A request of every log API naming a topic with two partitions.
fn sample_requests() -> Vec<(ApiKey, RequestKind)> {
    let partition = |index| {
        FetchPartition::default()
            .with_partition(index)
            .with_partition_max_bytes(1)
    };
    vec![
        (
            ApiKey::Metadata,
            RequestKind::Metadata(metadata_request(&["t"])),
        ),
        (
            ApiKey::CreateTopics,
            RequestKind::CreateTopics(create_request("t", 2, 1)),
        ),
        (
            ApiKey::DeleteTopics,
            RequestKind::DeleteTopics(
                DeleteTopicsRequest::default()
                    .with_topic_names(vec![name("t")])
                    .with_topics(vec![DeleteTopicState::default().with_name(Some(name("t")))]),
            ),
        ),
        (
            ApiKey::Produce,
            RequestKind::Produce(produce_request("t", 1, batch_of(&["v"]), 1)),
        ),
        (
            ApiKey::Fetch,
            RequestKind::Fetch(FetchRequest::default().with_topics(vec![
                FetchTopic::default()
                    .with_topic(name("t"))
                    .with_topic_id(Uuid::from_u128(3))
                    .with_partitions(vec![partition(0), partition(1)]),
            ])),
        ),
        (
            ApiKey::ListOffsets,
            RequestKind::ListOffsets(list_offsets_request("t", 1, -1)),
        ),
        (
            ApiKey::DescribeConfigs,
            RequestKind::DescribeConfigs(configs::describe_request(2, "t")),
        ),
        (
            ApiKey::AlterConfigs,
            RequestKind::AlterConfigs(configs::alter_request(2, "t", &[("retention.ms", "1")])),
        ),
        (
            ApiKey::IncrementalAlterConfigs,
            RequestKind::IncrementalAlterConfigs(configs::incremental_request(
                2,
                "t",
                &[("retention.ms", configs::SET, Some("1"))],
            )),
        ),
    ]
}

#[test]
fn every_error_response_encodes_at_every_version() {
    for (api_key, request) in sample_requests() {
        for version in versions(api_key) {
            let response = super::error_response(&request, version, 6)
                .unwrap_or_else(|| panic!("{api_key:?} has an error response"));
            let frame = encode_response(api_key, version, 1, &response)
                .unwrap_or_else(|e| panic!("{api_key:?} v{version}: {e}"));
            let (_, decoded) = decode_response(api_key, version, frame.slice(4..)).unwrap();
            let codes: Vec<i16> = match decoded {
                ResponseKind::Metadata(r) => r.topics.iter().map(|t| t.error_code).collect(),
                ResponseKind::CreateTopics(r) => r.topics.iter().map(|t| t.error_code).collect(),
                ResponseKind::DeleteTopics(r) => r.responses.iter().map(|t| t.error_code).collect(),
                ResponseKind::Produce(r) => r.responses[0]
                    .partition_responses
                    .iter()
                    .map(|p| p.error_code)
                    .collect(),
                ResponseKind::Fetch(r) => r.responses[0]
                    .partitions
                    .iter()
                    .map(|p| p.error_code)
                    .collect(),
                ResponseKind::ListOffsets(r) => r.topics[0]
                    .partitions
                    .iter()
                    .map(|p| p.error_code)
                    .collect(),
                ResponseKind::DescribeConfigs(r) => {
                    r.results.iter().map(|t| t.error_code).collect()
                }
                ResponseKind::AlterConfigs(r) => r.responses.iter().map(|t| t.error_code).collect(),
                ResponseKind::IncrementalAlterConfigs(r) => {
                    r.responses.iter().map(|t| t.error_code).collect()
                }
                other => panic!("unexpected {other:?}"),
            };
            assert!(
                !codes.is_empty() && codes.iter().all(|c| *c == 6),
                "{api_key:?} v{version}"
            );
        }
    }
}

#[test]
fn every_log_api_answers_at_every_version() {
    // Real handlers (not error responses) must encode at every version too.
    for (api_key, request) in sample_requests() {
        for version in versions(api_key) {
            let mut broker = Broker::new();
            broker.create("t", 2);
            let token = crate::ResponseToken {
                connection: CONN,
                correlation_id: 1,
                api_key,
                api_version: version,
                client_id: "".into(),
                seq: 0,
                plan: crate::ResponsePlan::Send,
                node: 0,
            };
            let mut out = Vec::new();
            let core = &mut broker.core;
            let reply = core.logs.handle(
                token,
                request.clone(),
                crate::BrokerTime::ZERO,
                &mut core.txns,
                &mut out,
            );
            match reply {
                crate::Reply::Now(response) => {
                    encode_response(api_key, version, 1, &response)
                        .unwrap_or_else(|e| panic!("{api_key:?} v{version}: {e}"));
                }
                // Fetch: encoded by its handler.
                crate::Reply::Encoded(encoded) => {
                    encoded
                        .frame
                        .unwrap_or_else(|e| panic!("{api_key:?} v{version}: {e}"));
                }
                reply => panic!("{api_key:?} v{version}: {reply:?}"),
            }
        }
    }
}

/// DescribeConfigs, AlterConfigs, IncrementalAlterConfigs, topic configs in Produce, retention.
mod configs;

mod properties {
    use proptest::prelude::*;

    use super::super::batch;

    proptest! {
        #[test]
        fn batch_parsing_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = batch::parse_batches(&bytes);
        }

        #[test]
        fn a_valid_header_with_garbage_records_never_panics(
            tail in proptest::collection::vec(any::<u8>(), 0..64),
            length_delta in -70i32..70,
        ) {
            let mut bytes = super::batch_of(&["v"]).to_vec();
            bytes.extend_from_slice(&tail);
            let length = i32::from_be_bytes(bytes[8..12].try_into().unwrap()) + length_delta;
            bytes[8..12].copy_from_slice(&length.to_be_bytes());
            let _ = batch::parse_batches(&bytes);
        }
    }
}

mod admin;
