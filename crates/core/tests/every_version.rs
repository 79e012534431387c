//! Every advertised API version, round-tripped through the broker core: a request encoded as a
//! client encodes it, handled by the core with explicit time, the response decoded at the same
//! version and checked for the expected outcome.

use bytes::{Bytes, BytesMut};
use kmock_core::api_versions::{SUPPORTED_APIS, supported_versions};
use kmock_core::{BrokerConfig, BrokerCore, BrokerTime, ConnectionId, Output};
use kmock_wire::kafka_protocol::messages::consumer_group_heartbeat_request::TopicPartitions;
use kmock_wire::kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kmock_wire::kafka_protocol::messages::create_topics_request::CreatableTopic;
use kmock_wire::kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kmock_wire::kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kmock_wire::kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kmock_wire::kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kmock_wire::kafka_protocol::messages::leave_group_request::MemberIdentity;
use kmock_wire::kafka_protocol::messages::list_offsets_request::{
    ListOffsetsPartition, ListOffsetsTopic,
};
use kmock_wire::kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kmock_wire::kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kmock_wire::kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kmock_wire::kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kmock_wire::kafka_protocol::messages::produce_request::{
    PartitionProduceData, TopicProduceData,
};
use kmock_wire::kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kmock_wire::kafka_protocol::messages::*;
use kmock_wire::kafka_protocol::messages::{
    add_partitions_to_txn_request, txn_offset_commit_request,
};
use kmock_wire::kafka_protocol::protocol::{Request, StrBytes};
use kmock_wire::kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use kmock_wire::{decode_response, encode_request};

const CONN: ConnectionId = ConnectionId(1);

struct Harness {
    core: BrokerCore,
    now: BrokerTime,
    correlation_id: i32,
}

fn s(value: &str) -> StrBytes {
    StrBytes::from_string(value.to_owned())
}

impl Harness {
    fn new() -> Self {
        let mut core = BrokerCore::new(BrokerConfig {
            group_initial_rebalance_delay_ms: 0,
            ..BrokerConfig::default()
        });
        core.connection_opened(CONN);
        Self {
            core,
            now: BrokerTime::ZERO,
            correlation_id: 0,
        }
    }

    /// Sends a request and returns its response, advancing time to the core's deadlines while it
    /// is parked (at most 100 steps).
    fn call<R: Request>(&mut self, request: &R, version: i16) -> ResponseKind {
        let api_key = ApiKey::try_from(R::KEY).unwrap();
        self.correlation_id += 1;
        let frame = encode_request(request, version, self.correlation_id, Some("every-version"))
            .unwrap_or_else(|e| panic!("test bug: cannot encode {api_key:?} v{version}: {e}"));
        self.core.handle_frame(CONN, frame.slice(4..), self.now);
        for _ in 0..100 {
            match self.core.poll_output() {
                Some(Output::Send { frame, .. }) => {
                    let (correlation_id, response) =
                        decode_response(api_key, version, frame.slice(4..)).unwrap_or_else(|e| {
                            panic!("{api_key:?} v{version}: response does not decode: {e}")
                        });
                    assert_eq!(
                        correlation_id, self.correlation_id,
                        "{api_key:?} v{version}"
                    );
                    return response;
                }
                Some(other) => panic!("{api_key:?} v{version}: expected a response, got {other:?}"),
                None => {
                    let deadline = self.core.poll_timeout().unwrap_or_else(|| {
                        panic!("{api_key:?} v{version}: no response, no deadline")
                    });
                    self.now = self.now.max(deadline);
                    self.core.handle_timeout(self.now);
                }
            }
        }
        panic!("{api_key:?} v{version}: no response after 100 deadlines")
    }

    fn versions(api_key: ApiKey) -> std::ops::RangeInclusive<i16> {
        let (min, max) = supported_versions(api_key).expect("supported");
        min..=max
    }

    fn metadata(&mut self, topic: &str) -> MetadataResponse {
        let request = MetadataRequest::default()
            .with_topics(Some(vec![
                MetadataRequestTopic::default().with_name(Some(s(topic).into())),
            ]))
            .with_allow_auto_topic_creation(true);
        let ResponseKind::Metadata(response) = self.call(&request, 12) else {
            unreachable!()
        };
        response
    }

    fn topic_id(&mut self, topic: &str) -> uuid::Uuid {
        self.metadata(topic).topics[0].topic_id
    }

    /// Joins a fresh group as its only member with JoinGroup v5; returns (member id, generation).
    fn join(&mut self, group: &str) -> (StrBytes, i32) {
        let mut request = JoinGroupRequest::default()
            .with_group_id(s(group).into())
            .with_session_timeout_ms(10_000)
            .with_rebalance_timeout_ms(10_000)
            .with_protocol_type(s("consumer"))
            .with_protocols(vec![
                JoinGroupRequestProtocol::default()
                    .with_name(s("range"))
                    .with_metadata(Bytes::from_static(b"\x00\x01meta")),
            ]);
        for _ in 0..2 {
            let ResponseKind::JoinGroup(response) = self.call(&request, 5) else {
                unreachable!()
            };
            match response.error_code {
                0 => return (response.member_id, response.generation_id),
                79 => request.member_id = response.member_id,
                code => panic!("join {group}: error {code}"),
            }
        }
        panic!("join {group}: no member id after MEMBER_ID_REQUIRED")
    }

    fn join_and_sync(&mut self, group: &str) -> (StrBytes, i32) {
        let (member_id, generation) = self.join(group);
        let request = SyncGroupRequest::default()
            .with_group_id(s(group).into())
            .with_generation_id(generation)
            .with_member_id(member_id.clone())
            .with_assignments(vec![
                SyncGroupRequestAssignment::default()
                    .with_member_id(member_id.clone())
                    .with_assignment(Bytes::from_static(b"assignment")),
            ]);
        let ResponseKind::SyncGroup(response) = self.call(&request, 3) else {
            unreachable!()
        };
        assert_eq!(response.error_code, 0, "sync {group}");
        (member_id, generation)
    }
}

fn record_batch(value: &str) -> Bytes {
    let record = Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: 0,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp: 1_700_000_000_000,
        key: Some(Bytes::from_static(b"key")),
        value: Some(Bytes::copy_from_slice(value.as_bytes())),
        headers: Default::default(),
    };
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        [&record],
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .unwrap();
    buf.freeze()
}

#[test]
fn every_supported_api_is_covered_here() {
    // If an API is added to SUPPORTED_APIS, add a round trip for it below.
    assert_eq!(SUPPORTED_APIS.len(), 32);
}

#[test]
fn api_versions_every_version() {
    let mut h = Harness::new();
    for version in Harness::versions(ApiKey::ApiVersions) {
        let request = if version >= 3 {
            ApiVersionsRequest::default()
                .with_client_software_name(s("kmock-test"))
                .with_client_software_version(s("1.0"))
        } else {
            ApiVersionsRequest::default()
        };
        let ResponseKind::ApiVersions(response) = h.call(&request, version) else {
            unreachable!()
        };
        assert_eq!(response.error_code, 0, "v{version}");
        assert_eq!(response.api_keys.len(), SUPPORTED_APIS.len(), "v{version}");
    }
}

#[test]
fn metadata_every_version() {
    let mut h = Harness::new();
    for version in Harness::versions(ApiKey::Metadata) {
        let topic = format!("meta-{version}");
        let mut request = MetadataRequest::default().with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(s(&topic).into())),
        ]));
        if version >= 4 {
            request.allow_auto_topic_creation = true;
        }
        let ResponseKind::Metadata(response) = h.call(&request, version) else {
            unreachable!()
        };
        assert_eq!(response.brokers.len(), 1, "v{version}");
        assert_eq!(response.topics.len(), 1, "v{version}");
        let t = &response.topics[0];
        assert_eq!(t.error_code, 0, "v{version}: auto-created");
        assert_eq!(t.partitions.len(), 1, "v{version}");
        if version >= 10 {
            assert!(!t.topic_id.is_nil(), "v{version}: topic id");
        }
    }
}

#[test]
fn create_and_delete_topics_every_version() {
    let mut h = Harness::new();
    for version in Harness::versions(ApiKey::CreateTopics) {
        let topic = format!("created-{version}");
        let request = CreateTopicsRequest::default()
            .with_topics(vec![
                CreatableTopic::default()
                    .with_name(s(&topic).into())
                    .with_num_partitions(3)
                    .with_replication_factor(1),
            ])
            .with_timeout_ms(1000);
        let ResponseKind::CreateTopics(response) = h.call(&request, version) else {
            unreachable!()
        };
        assert_eq!(response.topics[0].error_code, 0, "create v{version}");
        assert_eq!(h.metadata(&topic).topics[0].partitions.len(), 3);
    }
    for version in Harness::versions(ApiKey::DeleteTopics) {
        let topic = format!("deleted-{version}");
        h.metadata(&topic);
        let request = if version >= 6 {
            DeleteTopicsRequest::default().with_topics(vec![
                DeleteTopicState::default().with_name(Some(s(&topic).into())),
            ])
        } else {
            DeleteTopicsRequest::default().with_topic_names(vec![s(&topic).into()])
        }
        .with_timeout_ms(1000);
        let ResponseKind::DeleteTopics(response) = h.call(&request, version) else {
            unreachable!()
        };
        assert_eq!(response.responses[0].error_code, 0, "delete v{version}");
    }
}

#[test]
fn produce_fetch_list_offsets_every_version() {
    let mut h = Harness::new();
    let topic = "data";
    let topic_id = h.topic_id(topic);
    let mut produced = 0i64;
    for version in Harness::versions(ApiKey::Produce) {
        let mut topic_data = TopicProduceData::default().with_partition_data(vec![
            PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(record_batch(&format!("v{version}")))),
        ]);
        if version >= 13 {
            topic_data.topic_id = topic_id;
        } else {
            topic_data.name = s(topic).into();
        }
        let request = ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(1000)
            .with_topic_data(vec![topic_data]);
        let ResponseKind::Produce(response) = h.call(&request, version) else {
            unreachable!()
        };
        let partition = &response.responses[0].partition_responses[0];
        assert_eq!(partition.error_code, 0, "produce v{version}");
        assert_eq!(partition.base_offset, produced, "produce v{version}");
        produced += 1;
    }
    for version in Harness::versions(ApiKey::Fetch) {
        let mut fetch_topic = FetchTopic::default().with_partitions(vec![
            FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20),
        ]);
        if version >= 13 {
            fetch_topic.topic_id = topic_id;
        } else {
            fetch_topic.topic = s(topic).into();
        }
        let mut request = FetchRequest::default()
            .with_max_wait_ms(100)
            .with_min_bytes(1)
            .with_max_bytes(1 << 20)
            .with_topics(vec![fetch_topic]);
        if version <= 14 {
            request.replica_id = (-1).into();
        }
        let ResponseKind::Fetch(response) = h.call(&request, version) else {
            unreachable!()
        };
        let partition = &response.responses[0].partitions[0];
        assert_eq!(partition.error_code, 0, "fetch v{version}: {partition:?}");
        assert_eq!(
            partition.high_watermark, produced,
            "fetch v{version}: {partition:?}"
        );
        let mut records = partition.records.clone().expect("records");
        let mut offsets = Vec::new();
        // The decoder reads one batch per call.
        while bytes::Buf::has_remaining(&records) {
            let batch =
                kmock_wire::kafka_protocol::records::RecordBatchDecoder::decode(&mut records)
                    .unwrap_or_else(|e| panic!("fetch v{version}: records decode: {e}"));
            offsets.extend(batch.records.iter().map(|r| r.offset));
        }
        assert_eq!(
            offsets,
            (0..produced).collect::<Vec<_>>(),
            "fetch v{version}"
        );
    }
    for version in Harness::versions(ApiKey::ListOffsets) {
        let request = ListOffsetsRequest::default()
            .with_replica_id((-1).into())
            .with_topics(vec![
                ListOffsetsTopic::default()
                    .with_name(s(topic).into())
                    .with_partitions(vec![
                        ListOffsetsPartition::default()
                            .with_partition_index(0)
                            .with_timestamp(-1),
                    ]),
            ]);
        let ResponseKind::ListOffsets(response) = h.call(&request, version) else {
            unreachable!()
        };
        let partition = &response.topics[0].partitions[0];
        assert_eq!(partition.error_code, 0, "list_offsets v{version}");
        assert_eq!(partition.offset, produced, "list_offsets v{version}");
    }
}

#[test]
fn init_producer_id_every_version() {
    let mut h = Harness::new();
    for version in Harness::versions(ApiKey::InitProducerId) {
        let mut request = InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(60_000);
        if version >= 3 {
            request.producer_id = (-1).into();
            request.producer_epoch = -1;
        }
        let ResponseKind::InitProducerId(response) = h.call(&request, version) else {
            unreachable!()
        };
        assert_eq!(response.error_code, 0, "v{version}");
        assert!(response.producer_id.0 >= 0, "v{version}");
    }
}

#[test]
fn find_coordinator_every_version() {
    let mut h = Harness::new();
    for version in Harness::versions(ApiKey::FindCoordinator) {
        let request = if version >= 4 {
            FindCoordinatorRequest::default().with_coordinator_keys(vec![s("g1"), s("g2")])
        } else {
            FindCoordinatorRequest::default().with_key(s("g1"))
        };
        let ResponseKind::FindCoordinator(response) = h.call(&request, version) else {
            unreachable!()
        };
        if version >= 4 {
            assert_eq!(response.coordinators.len(), 2, "v{version}");
            assert!(response.coordinators.iter().all(|c| c.error_code == 0));
        } else {
            assert_eq!(response.error_code, 0, "v{version}");
            assert_eq!(response.node_id.0, 0, "v{version}");
        }
    }
}

#[test]
fn join_group_every_version() {
    let mut h = Harness::new();
    for version in Harness::versions(ApiKey::JoinGroup) {
        let group = format!("join-{version}");
        let mut request = JoinGroupRequest::default()
            .with_group_id(s(&group).into())
            .with_session_timeout_ms(10_000)
            .with_protocol_type(s("consumer"))
            .with_protocols(vec![
                JoinGroupRequestProtocol::default()
                    .with_name(s("roundrobin"))
                    .with_metadata(Bytes::from_static(b"\x00\x01rr")),
            ]);
        if version >= 1 {
            request.rebalance_timeout_ms = 10_000;
        }
        let ResponseKind::JoinGroup(mut response) = h.call(&request, version) else {
            unreachable!()
        };
        if version >= 4 {
            assert_eq!(response.error_code, 79, "v{version}: MEMBER_ID_REQUIRED");
            request.member_id = response.member_id.clone();
            let ResponseKind::JoinGroup(again) = h.call(&request, version) else {
                unreachable!()
            };
            response = again;
        }
        assert_eq!(response.error_code, 0, "v{version}");
        assert_eq!(response.generation_id, 1, "v{version}");
        assert_eq!(response.leader, response.member_id, "v{version}");
        assert_eq!(response.members.len(), 1, "v{version}");
        assert_eq!(
            &response.members[0].metadata[..],
            b"\x00\x01rr",
            "v{version}"
        );
    }
}

#[test]
fn sync_heartbeat_leave_every_version() {
    let mut h = Harness::new();
    for version in Harness::versions(ApiKey::SyncGroup) {
        let group = format!("sync-{version}");
        let (member_id, generation) = h.join(&group);
        let mut request = SyncGroupRequest::default()
            .with_group_id(s(&group).into())
            .with_generation_id(generation)
            .with_member_id(member_id.clone())
            .with_assignments(vec![
                SyncGroupRequestAssignment::default()
                    .with_member_id(member_id.clone())
                    .with_assignment(Bytes::from_static(b"mine")),
            ]);
        if version >= 5 {
            request.protocol_type = Some(s("consumer"));
            request.protocol_name = Some(s("range"));
        }
        let ResponseKind::SyncGroup(response) = h.call(&request, version) else {
            unreachable!()
        };
        assert_eq!(response.error_code, 0, "sync v{version}");
        assert_eq!(&response.assignment[..], b"mine", "sync v{version}");
    }
    for version in Harness::versions(ApiKey::Heartbeat) {
        let group = format!("heartbeat-{version}");
        let (member_id, generation) = h.join_and_sync(&group);
        let request = HeartbeatRequest::default()
            .with_group_id(s(&group).into())
            .with_generation_id(generation)
            .with_member_id(member_id);
        let ResponseKind::Heartbeat(response) = h.call(&request, version) else {
            unreachable!()
        };
        assert_eq!(response.error_code, 0, "heartbeat v{version}");
    }
    for version in Harness::versions(ApiKey::LeaveGroup) {
        let group = format!("leave-{version}");
        let (member_id, _) = h.join_and_sync(&group);
        let request = if version >= 3 {
            let mut member = MemberIdentity::default().with_member_id(member_id);
            if version >= 5 {
                member.reason = Some(s("test"));
            }
            LeaveGroupRequest::default()
                .with_group_id(s(&group).into())
                .with_members(vec![member])
        } else {
            LeaveGroupRequest::default()
                .with_group_id(s(&group).into())
                .with_member_id(member_id)
        };
        let ResponseKind::LeaveGroup(response) = h.call(&request, version) else {
            unreachable!()
        };
        assert_eq!(response.error_code, 0, "leave v{version}");
        if version >= 3 {
            assert_eq!(response.members[0].error_code, 0, "leave v{version}");
        }
    }
}

#[test]
fn offset_commit_and_fetch_every_version() {
    let mut h = Harness::new();
    let topic = "offsets";
    h.metadata(topic);
    for version in Harness::versions(ApiKey::OffsetCommit) {
        let group = format!("commit-{version}");
        let (member_id, generation) = h.join_and_sync(&group);
        let request = OffsetCommitRequest::default()
            .with_group_id(s(&group).into())
            .with_generation_id_or_member_epoch(generation)
            .with_member_id(member_id)
            .with_topics(vec![
                OffsetCommitRequestTopic::default()
                    .with_name(s(topic).into())
                    .with_partitions(vec![
                        OffsetCommitRequestPartition::default()
                            .with_partition_index(0)
                            .with_committed_offset(42)
                            .with_committed_metadata(Some(s("meta"))),
                    ]),
            ]);
        let ResponseKind::OffsetCommit(response) = h.call(&request, version) else {
            unreachable!()
        };
        assert_eq!(
            response.topics[0].partitions[0].error_code, 0,
            "commit v{version}"
        );
    }
    for version in Harness::versions(ApiKey::OffsetFetch) {
        let group = format!("commit-{}", 2 + (version % 8));
        let (committed, error) = if version >= 8 {
            let request = OffsetFetchRequest::default().with_groups(vec![
                OffsetFetchRequestGroup::default()
                    .with_group_id(s(&group).into())
                    .with_topics(Some(vec![
                        OffsetFetchRequestTopics::default()
                            .with_name(s(topic).into())
                            .with_partition_indexes(vec![0]),
                    ])),
            ]);
            let ResponseKind::OffsetFetch(response) = h.call(&request, version) else {
                unreachable!()
            };
            let g = &response.groups[0];
            (g.topics[0].partitions[0].committed_offset, g.error_code)
        } else {
            let request = OffsetFetchRequest::default()
                .with_group_id(s(&group).into())
                .with_topics(Some(vec![
                    OffsetFetchRequestTopic::default()
                        .with_name(s(topic).into())
                        .with_partition_indexes(vec![0]),
                ]));
            let ResponseKind::OffsetFetch(response) = h.call(&request, version) else {
                unreachable!()
            };
            (
                response.topics[0].partitions[0].committed_offset,
                response.error_code,
            )
        };
        assert_eq!(error, 0, "offset_fetch v{version}");
        assert_eq!(committed, 42, "offset_fetch v{version}");
    }
}

#[test]
fn describe_and_list_groups_every_version() {
    let mut h = Harness::new();
    h.join_and_sync("described");
    for version in Harness::versions(ApiKey::DescribeGroups) {
        let request = DescribeGroupsRequest::default().with_groups(vec![s("described").into()]);
        let ResponseKind::DescribeGroups(response) = h.call(&request, version) else {
            unreachable!()
        };
        let group = &response.groups[0];
        assert_eq!(group.error_code, 0, "describe v{version}");
        assert_eq!(group.group_state.as_str(), "Stable", "describe v{version}");
        assert_eq!(group.members.len(), 1, "describe v{version}");
    }
    for version in Harness::versions(ApiKey::ListGroups) {
        let ResponseKind::ListGroups(response) = h.call(&ListGroupsRequest::default(), version)
        else {
            unreachable!()
        };
        assert_eq!(response.error_code, 0, "list v{version}");
        assert!(
            response
                .groups
                .iter()
                .any(|g| g.group_id.as_str() == "described"),
            "list v{version}"
        );
    }
}

impl Harness {
    /// Commits offset 1 of `topic` partition 0 for `group` without group management (generation
    /// -1): the group exists, Empty, with one offset.
    fn simple_commit(&mut self, group: &str, topic: &str) {
        let request = OffsetCommitRequest::default()
            .with_group_id(s(group).into())
            .with_generation_id_or_member_epoch(-1)
            .with_topics(vec![
                OffsetCommitRequestTopic::default()
                    .with_name(s(topic).into())
                    .with_partitions(vec![
                        OffsetCommitRequestPartition::default()
                            .with_partition_index(0)
                            .with_committed_offset(1),
                    ]),
            ]);
        let ResponseKind::OffsetCommit(response) = self.call(&request, 8) else {
            unreachable!()
        };
        assert_eq!(
            response.topics[0].partitions[0].error_code, 0,
            "commit {group}"
        );
    }
}

#[test]
fn create_partitions_and_delete_records_every_version() {
    let mut h = Harness::new();
    for version in Harness::versions(ApiKey::CreatePartitions) {
        let topic = format!("grown-{version}");
        h.metadata(&topic);
        let request = CreatePartitionsRequest::default()
            .with_topics(vec![
                CreatePartitionsTopic::default()
                    .with_name(s(&topic).into())
                    .with_count(3)
                    .with_assignments(None),
            ])
            .with_timeout_ms(1000);
        let ResponseKind::CreatePartitions(response) = h.call(&request, version) else {
            unreachable!()
        };
        assert_eq!(
            response.results[0].error_code, 0,
            "create_partitions v{version}"
        );
        assert_eq!(h.metadata(&topic).topics[0].partitions.len(), 3);
    }
    let topic = "trimmed";
    h.metadata(topic);
    for i in 0..4 {
        let request = ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(1000)
            .with_topic_data(vec![
                TopicProduceData::default()
                    .with_name(s(topic).into())
                    .with_partition_data(vec![
                        PartitionProduceData::default()
                            .with_index(0)
                            .with_records(Some(record_batch(&format!("r{i}")))),
                    ]),
            ]);
        h.call(&request, 9);
    }
    for version in Harness::versions(ApiKey::DeleteRecords) {
        let offset = i64::from(version) + 1;
        let request = DeleteRecordsRequest::default()
            .with_topics(vec![
                DeleteRecordsTopic::default()
                    .with_name(s(topic).into())
                    .with_partitions(vec![
                        DeleteRecordsPartition::default()
                            .with_partition_index(0)
                            .with_offset(offset),
                    ]),
            ])
            .with_timeout_ms(1000);
        let ResponseKind::DeleteRecords(response) = h.call(&request, version) else {
            unreachable!()
        };
        let partition = &response.topics[0].partitions[0];
        assert_eq!(partition.error_code, 0, "delete_records v{version}");
        assert_eq!(partition.low_watermark, offset, "delete_records v{version}");
    }
}

#[test]
fn offset_delete_and_delete_groups_every_version() {
    let mut h = Harness::new();
    let topic = "committed";
    h.metadata(topic);
    for version in Harness::versions(ApiKey::OffsetDelete) {
        let group = format!("offsets-deleted-{version}");
        h.simple_commit(&group, topic);
        let request = OffsetDeleteRequest::default()
            .with_group_id(s(&group).into())
            .with_topics(vec![
                OffsetDeleteRequestTopic::default()
                    .with_name(s(topic).into())
                    .with_partitions(vec![
                        OffsetDeleteRequestPartition::default().with_partition_index(0),
                    ]),
            ]);
        let ResponseKind::OffsetDelete(response) = h.call(&request, version) else {
            unreachable!()
        };
        assert_eq!(response.error_code, 0, "offset_delete v{version}");
        assert_eq!(
            response.topics[0].partitions[0].error_code, 0,
            "offset_delete v{version}"
        );
    }
    for version in Harness::versions(ApiKey::DeleteGroups) {
        let group = format!("deleted-{version}");
        h.simple_commit(&group, topic);
        let request = DeleteGroupsRequest::default().with_groups_names(vec![s(&group).into()]);
        let ResponseKind::DeleteGroups(response) = h.call(&request, version) else {
            unreachable!()
        };
        assert_eq!(
            response.results[0].error_code, 0,
            "delete_groups v{version}"
        );
    }
}

#[test]
fn consumer_group_heartbeat_and_describe_every_version() {
    let mut h = Harness::new();
    let topic_id = h.topic_id("kip848");
    for version in Harness::versions(ApiKey::ConsumerGroupHeartbeat) {
        let group = format!("kip848-{version}");
        // From v1 the client makes the member id (KIP-1082); v0 may leave it to the coordinator.
        let member_id = if version >= 1 { s("member-1") } else { s("") };
        let join = ConsumerGroupHeartbeatRequest::default()
            .with_group_id(s(&group).into())
            .with_member_id(member_id)
            .with_member_epoch(0)
            .with_rebalance_timeout_ms(30_000)
            .with_subscribed_topic_names(Some(vec![s("kip848").into()]))
            .with_topic_partitions(Some(Vec::new()));
        let ResponseKind::ConsumerGroupHeartbeat(joined) = h.call(&join, version) else {
            unreachable!()
        };
        assert_eq!(
            joined.error_code, 0,
            "join v{version}: {:?}",
            joined.error_message
        );
        assert_eq!(joined.member_epoch, 1, "join v{version}");
        let member_id = joined.member_id.clone().expect("a member id");
        let assignment = joined.assignment.expect("the join carries the assignment");
        assert_eq!(assignment.topic_partitions[0].topic_id, topic_id);
        let ack = ConsumerGroupHeartbeatRequest::default()
            .with_group_id(s(&group).into())
            .with_member_id(member_id.clone())
            .with_member_epoch(1)
            .with_topic_partitions(Some(vec![
                TopicPartitions::default()
                    .with_topic_id(topic_id)
                    .with_partitions(vec![0]),
            ]));
        let ResponseKind::ConsumerGroupHeartbeat(acked) = h.call(&ack, version) else {
            unreachable!()
        };
        assert_eq!(
            (acked.error_code, acked.member_epoch),
            (0, 1),
            "ack v{version}"
        );
        if version >= 1 {
            let regex = join
                .clone()
                .with_member_id(s("member-2"))
                .with_subscribed_topic_names(None)
                .with_subscribed_topic_regex(Some(s("kip8.*")));
            let ResponseKind::ConsumerGroupHeartbeat(response) = h.call(&regex, version) else {
                unreachable!()
            };
            assert_eq!(response.error_code, 0, "regex v{version}");
        }
        for describe_version in Harness::versions(ApiKey::ConsumerGroupDescribe) {
            let request = ConsumerGroupDescribeRequest::default()
                .with_group_ids(vec![s(&group).into(), s("nope").into()]);
            let ResponseKind::ConsumerGroupDescribe(response) = h.call(&request, describe_version)
            else {
                unreachable!()
            };
            assert_eq!(
                response.groups[0].error_code, 0,
                "describe v{describe_version}"
            );
            assert_eq!(response.groups[0].members[0].member_id, member_id);
            assert_eq!(
                response.groups[1].error_code, 69,
                "describe v{describe_version}"
            );
        }
        let leave = ConsumerGroupHeartbeatRequest::default()
            .with_group_id(s(&group).into())
            .with_member_id(member_id)
            .with_member_epoch(-1);
        let ResponseKind::ConsumerGroupHeartbeat(left) = h.call(&leave, version) else {
            unreachable!()
        };
        assert_eq!(
            (left.error_code, left.member_epoch),
            (0, -1),
            "leave v{version}"
        );
    }
}

/// `ConfigResource.Type.TOPIC`.
const TOPIC_RESOURCE: i8 = 2;

fn describe_topic(h: &mut Harness, topic: &str, version: i16) -> Vec<(String, Option<String>, i8)> {
    let request = DescribeConfigsRequest::default()
        .with_resources(vec![
            describe_configs_request::DescribeConfigsResource::default()
                .with_resource_type(TOPIC_RESOURCE)
                .with_resource_name(s(topic)),
        ])
        .with_include_synonyms(true);
    let ResponseKind::DescribeConfigs(response) = h.call(&request, version) else {
        unreachable!()
    };
    let result = &response.results[0];
    assert_eq!(result.error_code, 0, "describe v{version}: {result:?}");
    result
        .configs
        .iter()
        .map(|c| {
            (
                c.name.to_string(),
                c.value.as_ref().map(ToString::to_string),
                c.config_source,
            )
        })
        .collect()
}

fn topic_value(configs: &[(String, Option<String>, i8)], name: &str) -> (Option<String>, i8) {
    let (_, value, source) = configs
        .iter()
        .find(|(n, _, _)| n == name)
        .expect("described");
    (value.clone(), *source)
}

#[test]
fn config_apis_every_version() {
    let mut h = Harness::new();
    let create = CreateTopicsRequest::default()
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(s("configured").into())
                .with_num_partitions(1)
                .with_replication_factor(1)
                .with_configs(vec![
                    create_topics_request::CreatableTopicConfig::default()
                        .with_name(s("retention.ms"))
                        .with_value(Some(s("1000"))),
                ]),
        ])
        .with_timeout_ms(1000);
    let ResponseKind::CreateTopics(created) = h.call(&create, 7) else {
        unreachable!()
    };
    assert_eq!(created.topics[0].error_code, 0);
    for version in Harness::versions(ApiKey::DescribeConfigs) {
        let configs = describe_topic(&mut h, "configured", version);
        assert_eq!(
            topic_value(&configs, "retention.ms"),
            (Some("1000".into()), 1),
            "v{version}"
        );
    }
    for version in Harness::versions(ApiKey::AlterConfigs) {
        let value = format!("{}", 2000 + version);
        let request = AlterConfigsRequest::default().with_resources(vec![
            alter_configs_request::AlterConfigsResource::default()
                .with_resource_type(TOPIC_RESOURCE)
                .with_resource_name(s("configured"))
                .with_configs(vec![
                    alter_configs_request::AlterableConfig::default()
                        .with_name(s("max.message.bytes"))
                        .with_value(Some(s(&value))),
                ]),
        ]);
        let ResponseKind::AlterConfigs(response) = h.call(&request, version) else {
            unreachable!()
        };
        assert_eq!(response.responses[0].error_code, 0, "alter v{version}");
        let configs = describe_topic(&mut h, "configured", 4);
        assert_eq!(
            topic_value(&configs, "max.message.bytes"),
            (Some(value), 1),
            "v{version}"
        );
        assert_eq!(
            topic_value(&configs, "retention.ms").1,
            5,
            "v{version}: replaced"
        );
    }
    for version in Harness::versions(ApiKey::IncrementalAlterConfigs) {
        let value = format!("{}", 5000 + version);
        let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
            incremental_alter_configs_request::AlterConfigsResource::default()
                .with_resource_type(TOPIC_RESOURCE)
                .with_resource_name(s("configured"))
                .with_configs(vec![
                    incremental_alter_configs_request::AlterableConfig::default()
                        .with_name(s("retention.ms"))
                        .with_config_operation(0)
                        .with_value(Some(s(&value))),
                ]),
        ]);
        let ResponseKind::IncrementalAlterConfigs(response) = h.call(&request, version) else {
            unreachable!()
        };
        assert_eq!(
            response.responses[0].error_code, 0,
            "incremental v{version}"
        );
        let configs = describe_topic(&mut h, "configured", 4);
        assert_eq!(
            topic_value(&configs, "retention.ms"),
            (Some(value), 1),
            "v{version}"
        );
        assert_eq!(
            topic_value(&configs, "max.message.bytes").1,
            1,
            "v{version}: kept"
        );
    }
}

fn transactional_batch(producer_id: i64, producer_epoch: i16, value: &str) -> Bytes {
    let record = Record {
        transactional: true,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: 0,
        producer_id,
        producer_epoch,
        timestamp_type: TimestampType::Creation,
        offset: 0,
        sequence: 0,
        timestamp: 1_700_000_000_000,
        key: None,
        value: Some(Bytes::copy_from_slice(value.as_bytes())),
        headers: Default::default(),
    };
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        [&record],
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .unwrap();
    buf.freeze()
}

impl Harness {
    /// InitProducerId v4 for a transactional id: (producer id, epoch).
    fn init_transactional(&mut self, txn: &str) -> (i64, i16) {
        let request = InitProducerIdRequest::default()
            .with_transactional_id(Some(s(txn).into()))
            .with_transaction_timeout_ms(60_000)
            .with_producer_id((-1).into())
            .with_producer_epoch(-1);
        let ResponseKind::InitProducerId(response) = self.call(&request, 4) else {
            unreachable!()
        };
        assert_eq!(response.error_code, 0, "init {txn}");
        (response.producer_id.0, response.producer_epoch)
    }

    fn add_partition(&mut self, txn: &str, producer: (i64, i16), topic: &str) {
        let request = AddPartitionsToTxnRequest::default()
            .with_v3_and_below_transactional_id(s(txn).into())
            .with_v3_and_below_producer_id(producer.0.into())
            .with_v3_and_below_producer_epoch(producer.1)
            .with_v3_and_below_topics(vec![
                add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                    .with_name(s(topic).into())
                    .with_partitions(vec![0]),
            ]);
        let ResponseKind::AddPartitionsToTxn(response) = self.call(&request, 3) else {
            unreachable!()
        };
        let code =
            response.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code;
        assert_eq!(code, 0, "add {topic} to {txn}");
    }

    fn add_group(&mut self, txn: &str, producer: (i64, i16), group: &str) {
        let request = AddOffsetsToTxnRequest::default()
            .with_transactional_id(s(txn).into())
            .with_producer_id(producer.0.into())
            .with_producer_epoch(producer.1)
            .with_group_id(s(group).into());
        let ResponseKind::AddOffsetsToTxn(response) = self.call(&request, 3) else {
            unreachable!()
        };
        assert_eq!(response.error_code, 0, "add {group} to {txn}");
    }

    fn end_transaction(&mut self, txn: &str, producer: (i64, i16), version: i16) -> EndTxnResponse {
        let request = EndTxnRequest::default()
            .with_transactional_id(s(txn).into())
            .with_producer_id(producer.0.into())
            .with_producer_epoch(producer.1)
            .with_committed(true);
        let ResponseKind::EndTxn(response) = self.call(&request, version) else {
            unreachable!()
        };
        response
    }
}

#[test]
fn init_producer_id_with_a_transactional_id_every_version() {
    let mut h = Harness::new();
    for version in Harness::versions(ApiKey::InitProducerId) {
        let txn = format!("init-{version}");
        for expected_epoch in 0..2 {
            let mut request = InitProducerIdRequest::default()
                .with_transactional_id(Some(s(&txn).into()))
                .with_transaction_timeout_ms(60_000);
            if version >= 3 {
                request.producer_id = (-1).into();
                request.producer_epoch = -1;
            }
            let ResponseKind::InitProducerId(response) = h.call(&request, version) else {
                unreachable!()
            };
            assert_eq!(response.error_code, 0, "v{version}");
            assert_eq!(
                response.producer_epoch, expected_epoch,
                "v{version}: bumped"
            );
        }
    }
}

#[test]
fn add_partitions_to_txn_every_version() {
    let mut h = Harness::new();
    h.metadata("txn-data");
    for version in Harness::versions(ApiKey::AddPartitionsToTxn) {
        let txn = format!("apt-{version}");
        let producer = h.init_transactional(&txn);
        let topics = vec![
            add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                .with_name(s("txn-data").into())
                .with_partitions(vec![0]),
        ];
        let request = if version >= 4 {
            AddPartitionsToTxnRequest::default().with_transactions(vec![
                add_partitions_to_txn_request::AddPartitionsToTxnTransaction::default()
                    .with_transactional_id(s(&txn).into())
                    .with_producer_id(producer.0.into())
                    .with_producer_epoch(producer.1)
                    .with_topics(topics),
            ])
        } else {
            AddPartitionsToTxnRequest::default()
                .with_v3_and_below_transactional_id(s(&txn).into())
                .with_v3_and_below_producer_id(producer.0.into())
                .with_v3_and_below_producer_epoch(producer.1)
                .with_v3_and_below_topics(topics)
        };
        let ResponseKind::AddPartitionsToTxn(response) = h.call(&request, version) else {
            unreachable!()
        };
        let results = if version >= 4 {
            assert_eq!(response.results_by_transaction.len(), 1, "v{version}");
            assert_eq!(
                response.results_by_transaction[0].transactional_id.as_str(),
                txn,
                "v{version}"
            );
            response.results_by_transaction[0].topic_results.clone()
        } else {
            response.results_by_topic_v3_and_below
        };
        assert_eq!(results.len(), 1, "v{version}");
        assert_eq!(results[0].name.as_str(), "txn-data", "v{version}");
        assert_eq!(
            results[0].results_by_partition[0].partition_error_code, 0,
            "v{version}"
        );
    }
}

#[test]
fn add_offsets_to_txn_every_version() {
    let mut h = Harness::new();
    for version in Harness::versions(ApiKey::AddOffsetsToTxn) {
        let txn = format!("aot-{version}");
        let producer = h.init_transactional(&txn);
        let request = AddOffsetsToTxnRequest::default()
            .with_transactional_id(s(&txn).into())
            .with_producer_id(producer.0.into())
            .with_producer_epoch(producer.1)
            .with_group_id(s("g").into());
        let ResponseKind::AddOffsetsToTxn(response) = h.call(&request, version) else {
            unreachable!()
        };
        assert_eq!(response.error_code, 0, "v{version}");
    }
}

#[test]
fn txn_offset_commit_every_version() {
    let mut h = Harness::new();
    h.metadata("txn-data");
    for version in Harness::versions(ApiKey::TxnOffsetCommit) {
        let txn = format!("toc-{version}");
        let group = format!("toc-group-{version}");
        let producer = h.init_transactional(&txn);
        h.add_group(&txn, producer, &group);
        let request = TxnOffsetCommitRequest::default()
            .with_transactional_id(s(&txn).into())
            .with_group_id(s(&group).into())
            .with_producer_id(producer.0.into())
            .with_producer_epoch(producer.1)
            .with_generation_id(-1)
            .with_topics(vec![
                txn_offset_commit_request::TxnOffsetCommitRequestTopic::default()
                    .with_name(s("txn-data").into())
                    .with_partitions(vec![
                        txn_offset_commit_request::TxnOffsetCommitRequestPartition::default()
                            .with_partition_index(0)
                            .with_committed_offset(i64::from(version) + 10)
                            .with_committed_metadata(Some(s("meta"))),
                    ]),
            ]);
        let ResponseKind::TxnOffsetCommit(response) = h.call(&request, version) else {
            unreachable!()
        };
        assert_eq!(response.topics[0].name.as_str(), "txn-data", "v{version}");
        assert_eq!(response.topics[0].partitions[0].error_code, 0, "v{version}");
        assert_eq!(h.end_transaction(&txn, producer, 3).error_code, 0);
        let fetch = OffsetFetchRequest::default()
            .with_group_id(s(&group).into())
            .with_topics(Some(vec![
                OffsetFetchRequestTopic::default()
                    .with_name(s("txn-data").into())
                    .with_partition_indexes(vec![0]),
            ]));
        let ResponseKind::OffsetFetch(fetched) = h.call(&fetch, 5) else {
            unreachable!()
        };
        assert_eq!(
            fetched.topics[0].partitions[0].committed_offset,
            i64::from(version) + 10,
            "v{version}: committed with the transaction"
        );
    }
}

#[test]
fn end_txn_every_version() {
    let mut h = Harness::new();
    h.metadata("txn-data");
    for version in Harness::versions(ApiKey::EndTxn) {
        let txn = format!("end-{version}");
        let producer = h.init_transactional(&txn);
        h.add_partition(&txn, producer, "txn-data");
        let request = ProduceRequest::default()
            .with_transactional_id(Some(s(&txn).into()))
            .with_acks(-1)
            .with_timeout_ms(1000)
            .with_topic_data(vec![
                TopicProduceData::default()
                    .with_name(s("txn-data").into())
                    .with_partition_data(vec![
                        PartitionProduceData::default()
                            .with_index(0)
                            .with_records(Some(transactional_batch(producer.0, producer.1, &txn))),
                    ]),
            ]);
        let ResponseKind::Produce(produced) = h.call(&request, 9) else {
            unreachable!()
        };
        assert_eq!(
            produced.responses[0].partition_responses[0].error_code, 0,
            "v{version}"
        );
        let response = h.end_transaction(&txn, producer, version);
        assert_eq!(response.error_code, 0, "v{version}");
        if version >= 5 {
            assert_eq!(
                (response.producer_id.0, response.producer_epoch),
                (producer.0, producer.1 + 1),
                "v{version}: the epoch is bumped"
            );
        }
    }
}

#[test]
fn describe_and_list_transactions_every_version() {
    let mut h = Harness::new();
    let producer = h.init_transactional("described");
    for version in Harness::versions(ApiKey::DescribeTransactions) {
        let request = DescribeTransactionsRequest::default()
            .with_transactional_ids(vec![s("described").into()]);
        let ResponseKind::DescribeTransactions(response) = h.call(&request, version) else {
            unreachable!()
        };
        let described = &response.transaction_states[0];
        assert_eq!(described.error_code, 0, "v{version}");
        assert_eq!(described.transaction_state.as_str(), "Empty", "v{version}");
        assert_eq!(described.producer_id.0, producer.0, "v{version}");
    }
    for version in Harness::versions(ApiKey::ListTransactions) {
        let mut request = ListTransactionsRequest::default()
            .with_state_filters(vec![s("Empty")])
            .with_producer_id_filters(vec![producer.0.into()]);
        if version >= 1 {
            request.duration_filter = -1;
        }
        if version >= 2 {
            request.transactional_id_pattern = Some(s("desc.*"));
        }
        let ResponseKind::ListTransactions(response) = h.call(&request, version) else {
            unreachable!()
        };
        assert_eq!(response.error_code, 0, "v{version}");
        assert_eq!(response.transaction_states.len(), 1, "v{version}");
        assert_eq!(
            response.transaction_states[0].transactional_id.as_str(),
            "described",
            "v{version}"
        );
    }
}
