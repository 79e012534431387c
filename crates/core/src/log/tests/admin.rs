//! CreatePartitions, DeleteRecords (and the log start offset it moves) and Metadata's authorized
//! operations, through the broker core at every version; the error responses of the four admin
//! APIs for fault rules.

use kmock_wire::kafka_protocol::messages::create_partitions_request::{
    CreatePartitionsAssignment, CreatePartitionsTopic,
};
use kmock_wire::kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kmock_wire::kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kmock_wire::kafka_protocol::messages::{
    BrokerId, CreatePartitionsRequest, CreatePartitionsResponse, DeleteGroupsRequest,
    DeleteRecordsRequest, DeleteRecordsResponse, OffsetDeleteRequest,
};

use super::super::partition::{AppendRules, PartitionLog, SHARE_FRAME_BYTES};
use super::super::{MAX_PARTITIONS_PER_TOPIC, MAX_PARTITIONS_TOTAL};
use super::*;
use crate::authorized_operations;
use crate::fault::FaultRule;

impl Broker {
    fn create_partitions(
        &mut self,
        request: &CreatePartitionsRequest,
        version: i16,
    ) -> CreatePartitionsResponse {
        let ResponseKind::CreatePartitions(r) = self.call(request, version) else {
            panic!()
        };
        r
    }

    fn delete_records(
        &mut self,
        request: &DeleteRecordsRequest,
        version: i16,
    ) -> DeleteRecordsResponse {
        let ResponseKind::DeleteRecords(r) = self.call(request, version) else {
            panic!()
        };
        r
    }

    /// `(error code, low watermark)` of DeleteRecords v2 for one partition.
    fn delete_before(&mut self, topic: &str, partition: i32, offset: i64) -> (i16, i64) {
        let response =
            self.delete_records(&delete_records_request(topic, &[(partition, offset)]), 2);
        let p = &response.topics[0].partitions[0];
        (p.error_code, p.low_watermark)
    }

    fn partition_count(&mut self, topic: &str) -> usize {
        self.metadata(&metadata_request(&[topic]), 12).topics[0]
            .partitions
            .len()
    }

    /// `(offset, timestamp)` ListOffsets v7 answers for `timestamp`.
    fn lookup(&mut self, topic: &str, timestamp: i64) -> (i64, i64) {
        let response = self.list_offsets(&list_offsets_request(topic, 0, timestamp), 7);
        let p = &response.topics[0].partitions[0];
        assert_eq!(p.error_code, 0);
        (p.offset, p.timestamp)
    }
}

/// Grow `topic` to `count` partitions, placed by the broker (null assignments, as clients send).
fn grow(topic: &str, count: i32) -> CreatePartitionsTopic {
    CreatePartitionsTopic::default()
        .with_name(name(topic))
        .with_count(count)
        .with_assignments(None)
}

fn create_partitions_request(topics: Vec<CreatePartitionsTopic>) -> CreatePartitionsRequest {
    CreatePartitionsRequest::default()
        .with_topics(topics)
        .with_timeout_ms(1_000)
}

fn assignments(replicas: &[&[i32]]) -> Option<Vec<CreatePartitionsAssignment>> {
    Some(
        replicas
            .iter()
            .map(|ids| {
                CreatePartitionsAssignment::default()
                    .with_broker_ids(ids.iter().map(|id| BrokerId(*id)).collect())
            })
            .collect(),
    )
}

fn delete_records_request(topic: &str, offsets: &[(i32, i64)]) -> DeleteRecordsRequest {
    DeleteRecordsRequest::default()
        .with_topics(vec![
            DeleteRecordsTopic::default()
                .with_name(name(topic))
                .with_partitions(
                    offsets
                        .iter()
                        .map(|(partition, offset)| {
                            DeleteRecordsPartition::default()
                                .with_partition_index(*partition)
                                .with_offset(*offset)
                        })
                        .collect(),
                ),
        ])
        .with_timeout_ms(1_000)
}

/// A topic with one partition holding offsets 0–2 (timestamps 100–102), 3–4 (gzip, 200–201) and
/// 5 (150), in three batches.
fn three_batches(broker: &mut Broker, topic: &str) {
    broker.create(topic, 1);
    for (values, timestamp, compression) in [
        (&["a", "b", "c"][..], 100, Compression::None),
        (&["d", "e"][..], 200, Compression::Gzip),
        (&["f"][..], 150, Compression::None),
    ] {
        let (error_code, _) = broker.produce_batch(
            topic,
            0,
            encode_batch(values, timestamp, PLAIN, compression),
        );
        assert_eq!(error_code, 0);
    }
}

#[test]
fn create_partitions_adds_empty_partitions_at_every_version() {
    let mut broker = Broker::new();
    for version in versions(ApiKey::CreatePartitions) {
        let topic = format!("grown-{version}");
        broker.create(&topic, 2);
        let response =
            broker.create_partitions(&create_partitions_request(vec![grow(&topic, 5)]), version);
        let result = &response.results[0];
        assert_eq!(result.name.as_str(), topic, "v{version}");
        assert_eq!(result.error_code, 0, "v{version}: {result:?}");
        assert_eq!(result.error_message, None, "v{version}");
        assert_eq!(broker.partition_count(&topic), 5, "v{version}");
        let (error_code, base_offset) = broker.produce_batch(&topic, 4, batch_of(&["new"]));
        assert_eq!(
            (error_code, base_offset),
            (0, 0),
            "v{version}: the new partition"
        );
    }
}

#[test]
fn create_partitions_answers_bad_counts_with_kafka_codes() {
    let mut broker = Broker::new();
    broker.create("t", 3);
    let cases = [
        ("unknown", 4, code::UNKNOWN_TOPIC_OR_PARTITION),
        ("t", 3, code::INVALID_PARTITIONS),
        ("t", 2, code::INVALID_PARTITIONS),
        ("t", 0, code::INVALID_PARTITIONS),
        ("t", -7, code::INVALID_PARTITIONS),
        ("t", MAX_PARTITIONS_PER_TOPIC + 1, code::INVALID_PARTITIONS),
        ("t", i32::MAX, code::INVALID_PARTITIONS),
    ];
    for (topic, count, expected) in cases {
        let response =
            broker.create_partitions(&create_partitions_request(vec![grow(topic, count)]), 3);
        let result = &response.results[0];
        assert_eq!(
            result.error_code, expected,
            "{topic} to {count}: {result:?}"
        );
        assert!(
            result.error_message.is_some(),
            "{topic} to {count}: a message"
        );
    }
    assert_eq!(broker.partition_count("t"), 3, "nothing changed");
    let response = broker.create_partitions(&create_partitions_request(vec![grow("t", 2)]), 0);
    assert_eq!(
        response.results[0].error_message.as_deref(),
        Some("The topic t currently has 3 partition(s); 2 would not be an increase.")
    );
}

#[test]
fn create_partitions_respects_the_partition_total() {
    let mut broker = Broker::new();
    let full_topics = MAX_PARTITIONS_TOTAL / MAX_PARTITIONS_PER_TOPIC as usize - 1;
    for i in 0..full_topics {
        broker.create(&format!("full-{i}"), MAX_PARTITIONS_PER_TOPIC);
    }
    broker.create("almost", MAX_PARTITIONS_PER_TOPIC - 1);
    broker.create("one", 1);
    let response = broker.create_partitions(
        &create_partitions_request(vec![grow("almost", MAX_PARTITIONS_PER_TOPIC)]),
        3,
    );
    assert_eq!(response.results[0].error_code, code::INVALID_PARTITIONS);
    broker.delete_topics(
        &DeleteTopicsRequest::default().with_topic_names(vec![name("one")]),
        5,
    );
    let response = broker.create_partitions(
        &create_partitions_request(vec![grow("almost", MAX_PARTITIONS_PER_TOPIC)]),
        3,
    );
    assert_eq!(response.results[0].error_code, 0, "room again");
}

#[test]
fn create_partitions_validate_only_changes_nothing() {
    let mut broker = Broker::new();
    broker.create("t", 2);
    let request = create_partitions_request(vec![grow("t", 4)]).with_validate_only(true);
    let response = broker.create_partitions(&request, 1);
    assert_eq!(response.results[0].error_code, 0);
    assert_eq!(broker.partition_count("t"), 2);
    let request = create_partitions_request(vec![grow("t", 1)]).with_validate_only(true);
    let response = broker.create_partitions(&request, 1);
    assert_eq!(response.results[0].error_code, code::INVALID_PARTITIONS);
}

#[test]
fn create_partitions_checks_manual_assignments() {
    let mut broker = Broker::new();
    broker.create("t", 1);
    let bad: [&[&[i32]]; 5] = [&[], &[&[0]], &[&[0], &[1]], &[&[0], &[]], &[&[0], &[0, 0]]];
    for replicas in bad {
        let topic = grow("t", 3).with_assignments(assignments(replicas));
        let response = broker.create_partitions(&create_partitions_request(vec![topic]), 2);
        assert_eq!(
            response.results[0].error_code,
            code::INVALID_REPLICA_ASSIGNMENT,
            "{replicas:?}"
        );
    }
    assert_eq!(broker.partition_count("t"), 1);
    let topic = grow("t", 3).with_assignments(assignments(&[&[0], &[0]]));
    let response = broker.create_partitions(&create_partitions_request(vec![topic]), 2);
    assert_eq!(response.results[0].error_code, 0);
    assert_eq!(broker.partition_count("t"), 3);
}

#[test]
fn create_partitions_answers_a_duplicate_name_once_and_first() {
    let mut broker = Broker::new();
    broker.create("t", 1);
    broker.create("u", 1);
    let request = create_partitions_request(vec![grow("u", 2), grow("t", 2), grow("t", 3)]);
    let response = broker.create_partitions(&request, 3);
    let results: Vec<(&str, i16)> = response
        .results
        .iter()
        .map(|r| (r.name.as_str(), r.error_code))
        .collect();
    assert_eq!(results, [("t", code::INVALID_REQUEST), ("u", 0)]);
    assert_eq!(broker.partition_count("t"), 1);
    assert_eq!(broker.partition_count("u"), 2);
}

#[test]
fn delete_records_moves_the_log_start_at_every_version() {
    let mut broker = Broker::new();
    for version in versions(ApiKey::DeleteRecords) {
        let topic = format!("deleted-{version}");
        three_batches(&mut broker, &topic);
        let response = broker.delete_records(&delete_records_request(&topic, &[(0, 4)]), version);
        let result = &response.topics[0];
        assert_eq!(result.name.as_str(), topic);
        let p = &result.partitions[0];
        assert_eq!(
            (p.partition_index, p.error_code, p.low_watermark),
            (0, 0, 4),
            "v{version}"
        );
        assert_eq!(broker.lookup(&topic, -2), (4, -1), "v{version}: earliest");
        assert_eq!(broker.lookup(&topic, -1), (6, -1), "v{version}: latest");
    }
}

#[test]
fn fetch_below_the_log_start_is_out_of_range_and_serves_the_batch_holding_it() {
    let mut broker = Broker::new();
    three_batches(&mut broker, "t");
    let topic_id = broker.core.logs().topic_id("t").unwrap();
    assert_eq!(broker.delete_before("t", 0, 4), (0, 4));
    for version in [5, 12, 18] {
        let response = broker.fetch(&fetch_request(version, "t", topic_id, 3, 0, 1), version);
        let p = &response.responses[0].partitions[0];
        assert_eq!(p.error_code, code::OFFSET_OUT_OF_RANGE, "v{version}");
        assert_eq!(p.log_start_offset, 4, "v{version}");
        let response = broker.fetch(&fetch_request(version, "t", topic_id, 4, 0, 1), version);
        let p = &response.responses[0].partitions[0];
        assert_eq!((p.error_code, p.log_start_offset), (0, 4), "v{version}");
        let offsets: Vec<i64> = decode(p.records.as_ref().unwrap())
            .into_iter()
            .map(|(offset, _)| offset)
            .collect();
        assert_eq!(offsets, [3, 4, 5], "v{version}: from the batch holding 4");
    }
}

#[test]
fn delete_records_answers_bad_offsets_with_kafka_codes() {
    let mut broker = Broker::new();
    three_batches(&mut broker, "t");
    assert_eq!(
        broker.delete_before("t", 0, 7),
        (code::OFFSET_OUT_OF_RANGE, -1)
    );
    assert_eq!(
        broker.delete_before("t", 0, -2),
        (code::OFFSET_OUT_OF_RANGE, -1)
    );
    assert_eq!(
        broker.delete_before("t", 0, i64::MIN),
        (code::OFFSET_OUT_OF_RANGE, -1)
    );
    assert_eq!(
        broker.delete_before("t", 1, 0),
        (code::UNKNOWN_TOPIC_OR_PARTITION, -1)
    );
    assert_eq!(
        broker.delete_before("t", -1, 0),
        (code::UNKNOWN_TOPIC_OR_PARTITION, -1)
    );
    assert_eq!(
        broker.delete_before("nope", 0, 0),
        (code::UNKNOWN_TOPIC_OR_PARTITION, -1)
    );
    assert_eq!(broker.lookup("t", -2), (0, -1), "nothing deleted");
    assert_eq!(broker.delete_before("t", 0, 2), (0, 2));
    assert_eq!(
        broker.delete_before("t", 0, 1),
        (0, 2),
        "the start never moves back"
    );
    assert_eq!(
        broker.delete_before("t", 0, -1),
        (0, 6),
        "-1: the high watermark"
    );
    assert_eq!(broker.lookup("t", -2), (6, -1));
}

#[test]
fn delete_records_answers_a_partition_named_twice_once_with_the_last_offset() {
    let mut broker = Broker::new();
    three_batches(&mut broker, "t");
    let mut request = delete_records_request("t", &[(0, 1), (0, 3)]);
    request.topics.push(request.topics[0].clone());
    request.topics[1].partitions[1].offset = 5;
    let response = broker.delete_records(&request, 1);
    assert_eq!(response.topics.len(), 1);
    let partitions: Vec<(i32, i16, i64)> = response.topics[0]
        .partitions
        .iter()
        .map(|p| (p.partition_index, p.error_code, p.low_watermark))
        .collect();
    assert_eq!(partitions, [(0, 0, 5)]);
}

#[test]
fn list_offsets_by_timestamp_skips_records_below_the_log_start() {
    let mut broker = Broker::new();
    three_batches(&mut broker, "t");
    assert_eq!(broker.lookup("t", 0), (0, 100));
    assert_eq!(broker.delete_before("t", 0, 2), (0, 2));
    assert_eq!(broker.lookup("t", 0), (2, 102), "inside the first batch");
    assert_eq!(broker.lookup("t", 101), (2, 102));
    assert_eq!(broker.lookup("t", -3), (4, 201), "max timestamp");
    // A batch whose largest timestamp is below the start no longer wins MAX_TIMESTAMP.
    let mut broker = Broker::new();
    broker.create("m", 1);
    broker.produce_batch(
        "m",
        0,
        encode_batch(&["x", "y"], 300, PLAIN, Compression::None),
    );
    broker.produce_batch("m", 0, encode_batch(&["z"], 250, PLAIN, Compression::None));
    assert_eq!(broker.lookup("m", -3), (1, 301));
    assert_eq!(broker.delete_before("m", 0, 2), (0, 2));
    assert_eq!(broker.lookup("m", -3), (2, 250));
    assert_eq!(broker.lookup("m", 260), (-1, -1));
}

#[test]
fn delete_records_answers_fetches_parked_below_the_new_start() {
    let mut broker = Broker::new();
    three_batches(&mut broker, "t");
    let topic_id = broker.core.logs().topic_id("t").unwrap();
    broker.send(
        OTHER_CONN,
        &fetch_request(12, "t", topic_id, 0, 10_000, 1 << 20),
        12,
    );
    assert!(broker.core.poll_output().is_none(), "parked for min_bytes");
    assert_eq!(broker.delete_before("t", 0, 3), (0, 3));
    let (connection, ResponseKind::Fetch(response)) = broker
        .output(ApiKey::Fetch, 12)
        .expect("the parked fetch is answered")
    else {
        panic!()
    };
    assert_eq!(connection, OTHER_CONN);
    assert_eq!(
        response.responses[0].partitions[0].error_code,
        code::OFFSET_OUT_OF_RANGE
    );
}

/// Three batches of about 30 KiB in one Produce: stored as slices of the request's buffer.
fn large_records() -> Bytes {
    let value = "v".repeat(SHARE_FRAME_BYTES / 2);
    let mut records = BytesMut::new();
    for i in 0..3 {
        records.extend_from_slice(&encode_batch(
            &[value.as_str(), value.as_str()][..1 + (i % 2)],
            1_000,
            PLAIN,
            Compression::None,
        ));
    }
    records.freeze()
}

#[test]
fn truncate_before_releases_the_memory_of_dropped_batches() {
    let records = large_records();
    let mut log = PartitionLog::default();
    log.append(&records, &AppendRules::default()).unwrap();
    assert_eq!(log.log_end_offset(), 4, "offsets 0, 1–2, 3");
    assert!(!records.is_unique(), "the log shares the Produce's buffer");
    log.truncate_before(0);
    assert_eq!((log.log_start_offset(), log.batches().len()), (0, 3));
    log.truncate_before(2);
    assert_eq!(log.log_start_offset(), 2, "inside the second batch");
    assert_eq!(log.batches().len(), 2, "the first batch is dropped");
    assert!(
        records.is_unique(),
        "the kept batches no longer pin the dropped batch's buffer"
    );
    assert_eq!(log.batches()[0].base_offset, 1);
    let plan = log.plan_read(2, log.log_end_offset(), 1 << 20, true);
    let served = decode(&log.read(plan).to_bytes());
    assert_eq!(served.len(), 3, "offsets 1, 2 and 3 are still served");
    log.truncate_before(10);
    assert_eq!(
        (log.log_start_offset(), log.batches().len()),
        (4, 0),
        "clamped to the end"
    );
    assert_eq!(log.batches().len(), 0);
}

#[test]
fn metadata_reports_authorized_operations_when_asked() {
    let mut broker = Broker::new();
    broker.create("t", 1);
    for version in 8..=versions(ApiKey::Metadata).last().unwrap() {
        for asked in [false, true] {
            let mut request = metadata_request(&["t", "missing"])
                .with_allow_auto_topic_creation(false)
                .with_include_topic_authorized_operations(asked);
            if version <= 10 {
                request.include_cluster_authorized_operations = asked;
            }
            let response = broker.metadata(&request, version);
            let topic_operations = if asked {
                authorized_operations::TOPIC
            } else {
                i32::MIN
            };
            for topic in &response.topics {
                assert_eq!(
                    topic.topic_authorized_operations, topic_operations,
                    "v{version} {:?}",
                    topic.name
                );
            }
            let cluster_operations = if asked && version <= 10 {
                authorized_operations::CLUSTER
            } else {
                i32::MIN
            };
            assert_eq!(
                response.cluster_authorized_operations, cluster_operations,
                "v{version}"
            );
        }
    }
}

/// A request of each admin API.
fn admin_requests() -> Vec<(ApiKey, RequestKind)> {
    vec![
        (
            ApiKey::CreatePartitions,
            RequestKind::CreatePartitions(create_partitions_request(vec![grow("t", 3)])),
        ),
        (
            ApiKey::DeleteRecords,
            RequestKind::DeleteRecords(delete_records_request("t", &[(0, 1), (1, -1)])),
        ),
        (
            ApiKey::DeleteGroups,
            RequestKind::DeleteGroups(
                DeleteGroupsRequest::default()
                    .with_groups_names(vec![StrBytes::from_static_str("g").into()]),
            ),
        ),
        (
            ApiKey::OffsetDelete,
            RequestKind::OffsetDelete(
                OffsetDeleteRequest::default()
                    .with_group_id(StrBytes::from_static_str("g").into())
                    .with_topics(vec![
                        OffsetDeleteRequestTopic::default()
                            .with_name(name("t"))
                            .with_partitions(vec![
                                OffsetDeleteRequestPartition::default().with_partition_index(0),
                            ]),
                    ]),
            ),
        ),
    ]
}

/// Every error code a client reads in a response.
fn admin_error_codes(response: ResponseKind) -> Vec<i16> {
    match response {
        ResponseKind::CreatePartitions(r) => r.results.iter().map(|t| t.error_code).collect(),
        ResponseKind::DeleteRecords(r) => r
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
            .collect(),
        ResponseKind::DeleteGroups(r) => r.results.iter().map(|g| g.error_code).collect(),
        ResponseKind::OffsetDelete(r) => std::iter::once(r.error_code)
            .chain(
                r.topics
                    .iter()
                    .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
            )
            .collect(),
        other => panic!("unexpected {other:?}"),
    }
}

/// The frame body (without its length prefix) of an admin request.
fn encode_admin(request: &RequestKind, version: i16) -> Bytes {
    let frame = match request {
        RequestKind::CreatePartitions(r) => encode_request(r, version, 1, Some("t")),
        RequestKind::DeleteRecords(r) => encode_request(r, version, 1, Some("t")),
        RequestKind::DeleteGroups(r) => encode_request(r, version, 1, Some("t")),
        RequestKind::OffsetDelete(r) => encode_request(r, version, 1, Some("t")),
        other => panic!("not an admin request: {other:?}"),
    };
    frame.unwrap().slice(4..)
}

#[test]
fn admin_error_responses_encode_at_every_version() {
    for (api_key, request) in admin_requests() {
        for version in versions(api_key) {
            let response = crate::error_response(&request, version, 6)
                .unwrap_or_else(|| panic!("{api_key:?} has an error response"));
            let frame = encode_response(api_key, version, 1, &response)
                .unwrap_or_else(|e| panic!("{api_key:?} v{version}: {e}"));
            let (_, decoded) = decode_response(api_key, version, frame.slice(4..)).unwrap();
            let codes = admin_error_codes(decoded);
            assert!(
                !codes.is_empty() && codes.iter().all(|c| *c == 6),
                "{api_key:?} v{version}: {codes:?}"
            );
        }
    }
}

#[test]
fn faults_apply_to_the_admin_apis() {
    for (api_key, request) in admin_requests() {
        let mut broker = Broker::new();
        broker.create("t", 2);
        let api_name = crate::fault::api_key_name(api_key);
        let rule: FaultRule = format!("{api_name}:error=policy_violation,once")
            .parse()
            .unwrap();
        broker.core.add_fault(rule);
        let version = versions(api_key).last().unwrap();
        broker
            .core
            .handle_frame(CONN, encode_admin(&request, version), broker.now);
        let (_, faulted) = broker.output(api_key, version).expect("a response");
        let codes = admin_error_codes(faulted);
        assert!(
            codes.iter().all(|c| *c == code::POLICY_VIOLATION),
            "{api_name}: {codes:?}"
        );
        broker
            .core
            .handle_frame(CONN, encode_admin(&request, version), broker.now);
        let (_, served) = broker.output(api_key, version).expect("a response");
        assert!(
            !admin_error_codes(served).contains(&code::POLICY_VIOLATION),
            "{api_name}: served once the fault is spent"
        );
        let entries: Vec<_> = broker.core.request_log().entries().collect();
        assert_eq!(
            entries.len(),
            3,
            "{api_name}: the request log holds every request"
        );
        assert!(
            entries[1].fault.is_some(),
            "{api_name}: the fault is logged"
        );
    }
}
