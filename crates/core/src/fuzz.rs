//! The fuzzing entry point: raw bytes → frame decoding → request dispatch in a fresh broker core.
//!
//! Shared by the cargo-fuzz target (`fuzz/fuzz_targets/broker_core.rs`), the plain-Rust driver that
//! runs on stable (`fuzz/src/bin/drive.rs`), and the proptest mutation suite
//! (`crates/broker/tests/mutation.rs`), so all three exercise exactly the same code. Not part of the
//! broker's API (hidden from the docs); see `ROBUSTNESS.md` for how it is run.
//!
//! An input is what a peer writes on one connection: a stream of length-prefixed frames. Frames are
//! split with the server's [`FrameDecoder`] under [`FUZZ_MAX_FRAME_BYTES`]; a trailing incomplete
//! frame or a framing error ends the stream, but its remaining bytes are still handed to the core as
//! one (malformed) frame body, so request decoding is exercised even when the length prefix is
//! wrong. When the core closes the connection, the following frames go to a new connection, as a
//! client that reconnects would send them. After the last frame every timer the core asks for is
//! fired (a bounded number of times), so parked and delayed requests complete too.
//!
//! Checked on every input (a failed check panics, which is what fuzzers look for): every response
//! frame carries a length prefix that matches its length, is no larger than the frame limit, and
//! answers a connection that sent a request.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kmock_wire::FrameDecoder;
use kmock_wire::kafka_protocol::messages::{
    AlterConfigsRequest, ApiKey, ApiVersionsRequest, BrokerId, ConsumerGroupDescribeRequest,
    ConsumerGroupHeartbeatRequest, CreatePartitionsRequest, CreateTopicsRequest,
    DeleteGroupsRequest, DeleteRecordsRequest, DeleteTopicsRequest, DescribeConfigsRequest,
    DescribeGroupsRequest, FetchRequest, FindCoordinatorRequest, GroupId, HeartbeatRequest,
    IncrementalAlterConfigsRequest, JoinGroupRequest, LeaveGroupRequest, ListGroupsRequest,
    ListOffsetsRequest, MetadataRequest, OffsetCommitRequest, OffsetDeleteRequest,
    OffsetFetchRequest, ProduceRequest, SyncGroupRequest, TopicName, alter_configs_request,
    create_partitions_request::{CreatePartitionsAssignment, CreatePartitionsTopic},
    create_topics_request::CreatableTopic,
    create_topics_request::CreatableTopicConfig,
    delete_records_request::{DeleteRecordsPartition, DeleteRecordsTopic},
    delete_topics_request::DeleteTopicState,
    describe_configs_request::DescribeConfigsResource,
    fetch_request::{FetchPartition, FetchTopic},
    incremental_alter_configs_request,
    join_group_request::JoinGroupRequestProtocol,
    leave_group_request::MemberIdentity,
    list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic},
    metadata_request::MetadataRequestTopic,
    offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic},
    offset_delete_request::{OffsetDeleteRequestPartition, OffsetDeleteRequestTopic},
    offset_fetch_request::{
        OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
    },
    produce_request::{PartitionProduceData, TopicProduceData},
    sync_group_request::SyncGroupRequestAssignment,
};
use kmock_wire::kafka_protocol::protocol::{Request, StrBytes};
use kmock_wire::kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use super::{BrokerCore, ConnectionId, Output, api_versions};

mod txn_seeds;
use crate::BrokerTime;
use crate::config::BrokerConfig;

/// Frame limit of the fuzzed broker: large enough for every seed, small enough that a run that
/// allocates a few times this much is noticed.
pub const FUZZ_MAX_FRAME_BYTES: usize = 1 << 20;

/// Timer firings after the last frame (parked JoinGroup/SyncGroup/Fetch, delayed responses, session
/// expiry). Bounded so that an input can never loop.
const MAX_TIMEOUTS: usize = 64;

/// What one input did, for the drivers' statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FuzzOutcome {
    /// Frames handed to the core (including a trailing malformed one).
    pub frames: u64,
    /// Response frames the core produced.
    pub responses: u64,
    /// Connections the core closed.
    pub closes: u64,
    /// Inputs whose framing was rejected (oversized or negative length prefix).
    pub framing_errors: u64,
}

impl FuzzOutcome {
    /// Adds another outcome's counters.
    pub fn add(&mut self, other: &FuzzOutcome) {
        self.frames += other.frames;
        self.responses += other.responses;
        self.closes += other.closes;
        self.framing_errors += other.framing_errors;
    }
}

/// The broker configuration every fuzz input runs against (small limits, no rebalance delay).
pub fn fuzz_config() -> BrokerConfig {
    BrokerConfig {
        group_initial_rebalance_delay_ms: 0,
        max_frame_bytes: FUZZ_MAX_FRAME_BYTES,
        request_log_capacity: 64,
        group_max_size: 16,
        ..BrokerConfig::default()
    }
}

/// Runs one input through a fresh broker core. Panics only if kmock has a bug.
pub fn run_input(data: &[u8]) -> FuzzOutcome {
    let mut core = BrokerCore::new(fuzz_config());
    run_on(&mut core, data)
}

/// Runs one input through `core` (see the module docs).
pub fn run_on(core: &mut BrokerCore, data: &[u8]) -> FuzzOutcome {
    let mut outcome = FuzzOutcome::default();
    let mut connection = ConnectionId(1);
    let mut now = BrokerTime::ZERO;
    core.connection_opened(connection);
    let mut decoder = FrameDecoder::new(core.config().max_frame_bytes);
    decoder.buffer_mut().extend_from_slice(data);
    loop {
        let frame = match decoder.next_frame() {
            Ok(Some(frame)) => Some(frame),
            Ok(None) => None,
            Err(_) => {
                outcome.framing_errors += 1;
                None
            }
        };
        let last = frame.is_none();
        let frame = frame.or_else(|| {
            // The rest, without its (bad or incomplete) length prefix, as one malformed body.
            let rest = decoder.buffer_mut().split().freeze();
            (rest.len() > 4).then(|| rest.slice(4..))
        });
        let Some(frame) = frame else { break };
        outcome.frames += 1;
        core.handle_frame(connection, frame, now);
        now += Duration::from_millis(1);
        if drain(core, connection, &mut outcome) {
            connection = ConnectionId(connection.0 + 1);
            core.connection_opened(connection);
        }
        if last {
            break;
        }
    }
    for _ in 0..MAX_TIMEOUTS {
        let Some(at) = core.poll_timeout() else { break };
        now = now.max(at);
        core.handle_timeout(now);
        drain(core, connection, &mut outcome);
    }
    core.connection_closed(connection, now);
    drain(core, connection, &mut outcome);
    outcome
}

/// Takes every output and checks it; returns whether `current` was closed.
fn drain(core: &mut BrokerCore, current: ConnectionId, outcome: &mut FuzzOutcome) -> bool {
    let mut closed = false;
    let limit = core.config().max_frame_bytes;
    while let Some(output) = core.poll_output() {
        match output {
            Output::Send { connection, frame } => {
                assert!(
                    connection <= current,
                    "response to {connection} never opened"
                );
                assert!(frame.len() >= 8, "response frame of {} bytes", frame.len());
                let prefix = u32::from_be_bytes(frame.slice(..4)[..].try_into().expect("4 bytes"));
                assert_eq!(prefix as usize, frame.len() - 4, "length prefix mismatch");
                assert!(
                    frame.len() <= limit + 4,
                    "response of {} bytes",
                    frame.len()
                );
                outcome.responses += 1;
            }
            Output::Ready { .. } => {}
            Output::Close { connection, .. } => {
                outcome.closes += 1;
                closed |= connection == current;
            }
        }
    }
    closed
}

// ---------------------------------------------------------------------------------------------
// Seeds: one valid request frame per API and advertised version, plus a few multi-request flows.

const TOPIC: &str = "fuzz";
const GROUP: &str = "fuzz-group";

fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

fn topic_name() -> TopicName {
    TopicName(str_bytes(TOPIC))
}

fn group_id() -> GroupId {
    GroupId(str_bytes(GROUP))
}

/// A record batch of `count` small records (what a producer sends).
pub fn record_batch(count: usize, compression: Compression) -> Bytes {
    let records: Vec<Record> = (0..count)
        .map(|i| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: i as i32,
            timestamp: 1_000 + i as i64,
            key: Some(Bytes::from(format!("key-{i}"))),
            value: Some(Bytes::from(format!("value-{i}"))),
            headers: Default::default(),
        })
        .collect();
    let mut buffer = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buffer,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .expect("a small batch encodes");
    buffer.freeze()
}

/// Encodes the first candidate body that exists at `version`.
fn first_encodable<R: Request + Default>(
    candidates: Vec<R>,
    version: i16,
    correlation_id: i32,
) -> Option<Bytes> {
    candidates
        .into_iter()
        .chain([R::default()])
        .find_map(|body| {
            kmock_wire::encode_request(&body, version, correlation_id, Some("kmock-fuzz")).ok()
        })
}

fn produce(compression: Compression) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(1_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(topic_name())
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(record_batch(3, compression))),
                ]),
        ])
}

fn fetch(by_id: bool) -> FetchRequest {
    let partition = FetchPartition::default()
        .with_partition(0)
        .with_fetch_offset(0)
        .with_partition_max_bytes(1 << 16);
    let topic = FetchTopic::default().with_partitions(vec![partition]);
    let topic = if by_id {
        topic.with_topic_id(uuid::Uuid::from_u128(1))
    } else {
        topic.with_topic(topic_name())
    };
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(100)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_topics(vec![topic])
}

fn list_offsets(timestamp: i64) -> ListOffsetsRequest {
    ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![
            ListOffsetsTopic::default()
                .with_name(topic_name())
                .with_partitions(vec![
                    ListOffsetsPartition::default()
                        .with_partition_index(0)
                        .with_timestamp(timestamp),
                ]),
        ])
}

fn join_group(member_id: &str) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(group_id())
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_member_id(str_bytes(member_id))
        .with_protocol_type(str_bytes("consumer"))
        .with_protocols(vec![
            JoinGroupRequestProtocol::default()
                .with_name(str_bytes("range"))
                .with_metadata(Bytes::from_static(
                    b"\0\x01\0\0\0\x01\0\x04fuzz\xff\xff\xff\xff",
                )),
        ])
}

/// `ConfigResource.Type` ids the config seeds name.
const TOPIC_RESOURCE: i8 = 2;
const BROKER_RESOURCE: i8 = 4;
const BROKER_LOGGER_RESOURCE: i8 = 8;

fn describe_configs() -> DescribeConfigsRequest {
    let resource = |resource_type, name: &str| {
        DescribeConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(str_bytes(name))
    };
    DescribeConfigsRequest::default()
        .with_resources(vec![
            resource(TOPIC_RESOURCE, TOPIC).with_configuration_keys(Some(vec![
                str_bytes("retention.ms"),
                str_bytes("cleanup.policy"),
            ])),
            resource(BROKER_RESOURCE, "0"),
            resource(BROKER_LOGGER_RESOURCE, "0"),
        ])
        .with_include_synonyms(true)
        .with_include_documentation(true)
}

fn alter_configs() -> AlterConfigsRequest {
    let config = |name: &str, value: &str| {
        alter_configs_request::AlterableConfig::default()
            .with_name(str_bytes(name))
            .with_value(Some(str_bytes(value)))
    };
    AlterConfigsRequest::default().with_resources(vec![
        alter_configs_request::AlterConfigsResource::default()
            .with_resource_type(TOPIC_RESOURCE)
            .with_resource_name(str_bytes(TOPIC))
            .with_configs(vec![
                config("retention.ms", "1000"),
                config("max.message.bytes", "100"),
            ]),
        alter_configs_request::AlterConfigsResource::default()
            .with_resource_type(BROKER_RESOURCE)
            .with_resource_name(str_bytes(""))
            .with_configs(vec![config("log.retention.bytes", "4096")]),
    ])
}

fn incremental_alter_configs() -> IncrementalAlterConfigsRequest {
    use incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
    let op = |name: &str, operation: i8, value: Option<&str>| {
        AlterableConfig::default()
            .with_name(str_bytes(name))
            .with_config_operation(operation)
            .with_value(value.map(str_bytes))
    };
    IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(TOPIC_RESOURCE)
            .with_resource_name(str_bytes(TOPIC))
            .with_configs(vec![
                op("cleanup.policy", 2, Some("compact")),
                op("message.timestamp.type", 0, Some("LogAppendTime")),
                op("retention.ms", 1, None),
            ]),
        AlterConfigsResource::default()
            .with_resource_type(BROKER_RESOURCE)
            .with_resource_name(str_bytes("0"))
            .with_configs(vec![op("message.max.bytes", 0, Some("2000"))]),
        AlterConfigsResource::default()
            .with_resource_type(BROKER_LOGGER_RESOURCE)
            .with_resource_name(str_bytes("0"))
            .with_configs(vec![op("kmock_core", 0, Some("DEBUG"))]),
    ])
}

/// Candidate bodies per API, richest first (a candidate that a version lacks fields for is
/// skipped by [`first_encodable`]).
fn seed_for(api_key: ApiKey, version: i16, correlation_id: i32) -> Option<Bytes> {
    let c = correlation_id;
    match api_key {
        ApiKey::Produce => first_encodable(
            vec![produce(if version % 2 == 0 {
                Compression::None
            } else {
                Compression::Gzip
            })],
            version,
            c,
        ),
        ApiKey::Fetch => first_encodable(vec![fetch(false), fetch(true)], version, c),
        ApiKey::ListOffsets => first_encodable(vec![list_offsets(1_001)], version, c),
        ApiKey::Metadata => first_encodable(
            vec![
                MetadataRequest::default()
                    .with_topics(Some(vec![
                        MetadataRequestTopic::default().with_name(Some(topic_name())),
                    ]))
                    .with_allow_auto_topic_creation(true),
                MetadataRequest::default().with_topics(Some(vec![
                    MetadataRequestTopic::default().with_name(Some(topic_name())),
                ])),
            ],
            version,
            c,
        ),
        ApiKey::OffsetCommit => first_encodable(
            vec![
                OffsetCommitRequest::default()
                    .with_group_id(group_id())
                    .with_generation_id_or_member_epoch(-1)
                    .with_retention_time_ms(-1)
                    .with_topics(vec![
                        OffsetCommitRequestTopic::default()
                            .with_name(topic_name())
                            .with_partitions(vec![
                                OffsetCommitRequestPartition::default()
                                    .with_partition_index(0)
                                    .with_committed_offset(2)
                                    .with_committed_metadata(Some(str_bytes("m"))),
                            ]),
                    ]),
                OffsetCommitRequest::default()
                    .with_group_id(group_id())
                    .with_generation_id_or_member_epoch(-1)
                    .with_topics(vec![
                        OffsetCommitRequestTopic::default()
                            .with_name(topic_name())
                            .with_partitions(vec![
                                OffsetCommitRequestPartition::default()
                                    .with_partition_index(0)
                                    .with_committed_offset(2),
                            ]),
                    ]),
            ],
            version,
            c,
        ),
        ApiKey::OffsetFetch => first_encodable(
            vec![
                OffsetFetchRequest::default()
                    .with_group_id(group_id())
                    .with_topics(Some(vec![
                        OffsetFetchRequestTopic::default()
                            .with_name(topic_name())
                            .with_partition_indexes(vec![0, 1]),
                    ])),
                OffsetFetchRequest::default().with_groups(vec![
                    OffsetFetchRequestGroup::default()
                        .with_group_id(group_id())
                        .with_topics(Some(vec![
                            OffsetFetchRequestTopics::default()
                                .with_name(topic_name())
                                .with_partition_indexes(vec![0]),
                        ])),
                ]),
            ],
            version,
            c,
        ),
        ApiKey::FindCoordinator => first_encodable(
            vec![
                FindCoordinatorRequest::default().with_key(str_bytes(GROUP)),
                FindCoordinatorRequest::default().with_coordinator_keys(vec![str_bytes(GROUP)]),
            ],
            version,
            c,
        ),
        ApiKey::JoinGroup => first_encodable(vec![join_group("")], version, c),
        ApiKey::Heartbeat => first_encodable(
            vec![
                HeartbeatRequest::default()
                    .with_group_id(group_id())
                    .with_generation_id(1)
                    .with_member_id(str_bytes("member-1")),
            ],
            version,
            c,
        ),
        ApiKey::LeaveGroup => first_encodable(
            vec![
                LeaveGroupRequest::default()
                    .with_group_id(group_id())
                    .with_member_id(str_bytes("member-1")),
                LeaveGroupRequest::default()
                    .with_group_id(group_id())
                    .with_members(vec![
                        MemberIdentity::default().with_member_id(str_bytes("member-1")),
                    ]),
            ],
            version,
            c,
        ),
        ApiKey::SyncGroup => first_encodable(
            vec![
                SyncGroupRequest::default()
                    .with_group_id(group_id())
                    .with_generation_id(1)
                    .with_member_id(str_bytes("member-1"))
                    .with_protocol_type(Some(str_bytes("consumer")))
                    .with_protocol_name(Some(str_bytes("range")))
                    .with_assignments(vec![
                        SyncGroupRequestAssignment::default()
                            .with_member_id(str_bytes("member-1"))
                            .with_assignment(Bytes::from_static(b"\0\x01\0\0\0\x01")),
                    ]),
                SyncGroupRequest::default()
                    .with_group_id(group_id())
                    .with_generation_id(1)
                    .with_member_id(str_bytes("member-1"))
                    .with_assignments(vec![
                        SyncGroupRequestAssignment::default()
                            .with_member_id(str_bytes("member-1"))
                            .with_assignment(Bytes::from_static(b"\0\x01\0\0\0\x01")),
                    ]),
            ],
            version,
            c,
        ),
        ApiKey::DescribeGroups => first_encodable(
            vec![DescribeGroupsRequest::default().with_groups(vec![group_id()])],
            version,
            c,
        ),
        ApiKey::ListGroups => first_encodable(vec![ListGroupsRequest::default()], version, c),
        ApiKey::ApiVersions => first_encodable(
            vec![
                ApiVersionsRequest::default()
                    .with_client_software_name(str_bytes("kmock-fuzz"))
                    .with_client_software_version(str_bytes("1.0")),
            ],
            version,
            c,
        ),
        ApiKey::CreateTopics => first_encodable(
            vec![
                CreateTopicsRequest::default()
                    .with_topics(vec![
                        CreatableTopic::default()
                            .with_name(topic_name())
                            .with_num_partitions(2)
                            .with_replication_factor(1)
                            .with_configs(vec![
                                CreatableTopicConfig::default()
                                    .with_name(str_bytes("segment.bytes"))
                                    .with_value(Some(str_bytes("1048576"))),
                            ]),
                    ])
                    .with_timeout_ms(1_000),
            ],
            version,
            c,
        ),
        ApiKey::DeleteTopics => first_encodable(
            vec![
                DeleteTopicsRequest::default()
                    .with_topic_names(vec![topic_name()])
                    .with_timeout_ms(1_000),
                DeleteTopicsRequest::default()
                    .with_topics(vec![
                        DeleteTopicState::default().with_name(Some(topic_name())),
                    ])
                    .with_timeout_ms(1_000),
            ],
            version,
            c,
        ),
        other => {
            admin_seed_for(other, version, c).or_else(|| txn_seeds::seed_for(other, version, c))
        }
    }
}

/// Seeds for the admin APIs: CreatePartitions, DeleteRecords, DeleteGroups, OffsetDelete,
/// DescribeConfigs, AlterConfigs, IncrementalAlterConfigs.
fn admin_seed_for(api_key: ApiKey, version: i16, c: i32) -> Option<Bytes> {
    match api_key {
        ApiKey::CreatePartitions => first_encodable(
            vec![
                CreatePartitionsRequest::default()
                    .with_topics(vec![
                        CreatePartitionsTopic::default()
                            .with_name(topic_name())
                            .with_count(3)
                            .with_assignments(Some(vec![
                                CreatePartitionsAssignment::default()
                                    .with_broker_ids(vec![BrokerId(0)]),
                            ])),
                    ])
                    .with_timeout_ms(1_000),
            ],
            version,
            c,
        ),
        ApiKey::DeleteRecords => first_encodable(
            vec![
                DeleteRecordsRequest::default()
                    .with_topics(vec![
                        DeleteRecordsTopic::default()
                            .with_name(topic_name())
                            .with_partitions(vec![
                                DeleteRecordsPartition::default()
                                    .with_partition_index(0)
                                    .with_offset(1),
                            ]),
                    ])
                    .with_timeout_ms(1_000),
            ],
            version,
            c,
        ),
        ApiKey::DeleteGroups => first_encodable(
            vec![DeleteGroupsRequest::default().with_groups_names(vec![group_id()])],
            version,
            c,
        ),
        ApiKey::OffsetDelete => first_encodable(
            vec![
                OffsetDeleteRequest::default()
                    .with_group_id(group_id())
                    .with_topics(vec![
                        OffsetDeleteRequestTopic::default()
                            .with_name(topic_name())
                            .with_partitions(vec![
                                OffsetDeleteRequestPartition::default().with_partition_index(0),
                            ]),
                    ]),
            ],
            version,
            c,
        ),
        ApiKey::DescribeConfigs => first_encodable(vec![describe_configs()], version, c),
        ApiKey::AlterConfigs => first_encodable(vec![alter_configs()], version, c),
        ApiKey::IncrementalAlterConfigs => {
            first_encodable(vec![incremental_alter_configs()], version, c)
        }
        ApiKey::DescribeAcls | ApiKey::CreateAcls | ApiKey::DeleteAcls => {
            acl_seed_for(api_key, version, c)
        }
        other => consumer_group_seed_for(other, version, c),
    }
}

/// Seeds for the ACL APIs (KIP-140): a literal READ grant on the fuzz topic for `User:fuzz`, and
/// the filter matching it (resource type TOPIC 2, pattern LITERAL 3, operation READ 3, permission
/// ALLOW 3; Kafka's `ResourceType`, `PatternType`, `AclOperation`, `AclPermissionType` codes).
fn acl_seed_for(api_key: ApiKey, version: i16, c: i32) -> Option<Bytes> {
    use kmock_wire::kafka_protocol::messages::create_acls_request::AclCreation;
    use kmock_wire::kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
    use kmock_wire::kafka_protocol::messages::{
        CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest,
    };
    let (topic, principal, host) = (
        str_bytes("fuzz-topic"),
        str_bytes("User:fuzz"),
        str_bytes("*"),
    );
    match api_key {
        ApiKey::CreateAcls => first_encodable(
            vec![CreateAclsRequest::default().with_creations(vec![
                AclCreation::default()
                    .with_resource_type(2)
                    .with_resource_name(topic)
                    .with_resource_pattern_type(3)
                    .with_principal(principal)
                    .with_host(host)
                    .with_operation(3)
                    .with_permission_type(3),
            ])],
            version,
            c,
        ),
        ApiKey::DescribeAcls => first_encodable(
            vec![
                DescribeAclsRequest::default()
                    .with_resource_type_filter(2)
                    .with_resource_name_filter(Some(topic))
                    .with_pattern_type_filter(3)
                    .with_principal_filter(Some(principal))
                    .with_host_filter(Some(host))
                    .with_operation(3)
                    .with_permission_type(3),
            ],
            version,
            c,
        ),
        ApiKey::DeleteAcls => first_encodable(
            vec![DeleteAclsRequest::default().with_filters(vec![
                DeleteAclsFilter::default()
                    .with_resource_type_filter(2)
                    .with_resource_name_filter(Some(topic))
                    .with_pattern_type_filter(3)
                    .with_principal_filter(Some(principal))
                    .with_host_filter(Some(host))
                    .with_operation(3)
                    .with_permission_type(3),
            ])],
            version,
            c,
        ),
        _ => None,
    }
}

/// Seeds for the KIP-848 APIs: a join by topic names (v0–1) or by regex (v1), a describe.
fn consumer_group_seed_for(api_key: ApiKey, version: i16, c: i32) -> Option<Bytes> {
    let join = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(str_bytes("kip848-group")))
        .with_member_id(str_bytes("kip848-member"))
        .with_member_epoch(0)
        .with_rebalance_timeout_ms(30_000)
        .with_subscribed_topic_names(Some(vec![topic_name()]))
        .with_topic_partitions(Some(Vec::new()));
    match api_key {
        ApiKey::ConsumerGroupHeartbeat => first_encodable(
            vec![
                join.clone()
                    .with_subscribed_topic_names(None)
                    .with_subscribed_topic_regex(Some(str_bytes("fuzz.*"))),
                join,
            ],
            version,
            c,
        ),
        ApiKey::ConsumerGroupDescribe => first_encodable(
            vec![
                ConsumerGroupDescribeRequest::default()
                    .with_group_ids(vec![GroupId(str_bytes("kip848-group")), group_id()])
                    .with_include_authorized_operations(true),
            ],
            version,
            c,
        ),
        _ => None,
    }
}

/// A named seed input.
#[derive(Debug, Clone)]
pub struct Seed {
    /// File name in the corpus (`metadata-v12`, `flow-produce-fetch-v3`...).
    pub name: String,
    /// The input: one or more length-prefixed request frames.
    pub bytes: Bytes,
}

/// Seed inputs: one valid request frame for every API kmock serves at every advertised version,
/// plus multi-request flows (create, produce plain and gzip, fetch, list offsets by timestamp; a
/// group's find-coordinator, join, sync, heartbeat, commit, fetch offsets, leave; the admin APIs:
/// delete records, create partitions, delete offsets, delete groups; topic configs described,
/// altered both ways, and produced under; a KIP-848 consumer group's heartbeats by regex and by
/// names, describe, commit and fetch offsets, list and describe; a transaction: init, add,
/// produce, commit offsets, commit, read_committed fetch).
pub fn seeds() -> Vec<Seed> {
    let mut seeds = Vec::new();
    for api_key in api_versions::SUPPORTED_APIS {
        let (min, max) = api_versions::supported_versions(*api_key).expect("a supported API");
        for version in min..=max {
            if let Some(frame) = seed_for(*api_key, version, 1) {
                seeds.push(Seed {
                    name: format!("{}-v{version}", kmock_wire::api_snake_name(*api_key)),
                    bytes: frame,
                });
            }
        }
    }
    let flow = |name: &str, steps: &[(ApiKey, i16)]| {
        let mut bytes = BytesMut::new();
        for (i, (api_key, version)) in steps.iter().enumerate() {
            if let Some(frame) = seed_for(*api_key, *version, i as i32 + 1) {
                bytes.extend_from_slice(&frame);
            }
        }
        Seed {
            name: name.to_owned(),
            bytes: bytes.freeze(),
        }
    };
    seeds.push(flow(
        "flow-produce-fetch",
        &[
            (ApiKey::ApiVersions, 3),
            (ApiKey::CreateTopics, 5),
            (ApiKey::Produce, 8),
            (ApiKey::Produce, 7),
            (ApiKey::Fetch, 11),
            (ApiKey::ListOffsets, 5),
            (ApiKey::Metadata, 9),
            (ApiKey::DeleteTopics, 4),
        ],
    ));
    seeds.push(flow(
        "flow-configs",
        &[
            (ApiKey::CreateTopics, 7),
            (ApiKey::DescribeConfigs, 4),
            (ApiKey::IncrementalAlterConfigs, 1),
            (ApiKey::Produce, 9),
            (ApiKey::AlterConfigs, 2),
            (ApiKey::Produce, 9),
            (ApiKey::DescribeConfigs, 1),
            (ApiKey::Fetch, 12),
        ],
    ));
    seeds.push(flow(
        "flow-group",
        &[
            (ApiKey::FindCoordinator, 2),
            (ApiKey::JoinGroup, 3),
            (ApiKey::SyncGroup, 3),
            (ApiKey::Heartbeat, 3),
            (ApiKey::OffsetCommit, 5),
            (ApiKey::OffsetFetch, 5),
            (ApiKey::DescribeGroups, 3),
            (ApiKey::ListGroups, 3),
            (ApiKey::LeaveGroup, 2),
        ],
    ));
    seeds.push(flow(
        "flow-admin",
        &[
            (ApiKey::CreateTopics, 7),
            (ApiKey::Produce, 9),
            (ApiKey::DeleteRecords, 2),
            (ApiKey::Fetch, 12),
            (ApiKey::CreatePartitions, 3),
            (ApiKey::OffsetCommit, 8),
            (ApiKey::OffsetDelete, 0),
            (ApiKey::DeleteGroups, 2),
        ],
    ));
    seeds.push(flow(
        "flow-group-flexible",
        &[
            (ApiKey::FindCoordinator, 4),
            (ApiKey::JoinGroup, 5),
            (ApiKey::JoinGroup, 5),
            (ApiKey::SyncGroup, 5),
            (ApiKey::OffsetCommit, 8),
            (ApiKey::OffsetFetch, 8),
            (ApiKey::LeaveGroup, 5),
        ],
    ));
    seeds.push(flow(
        "flow-consumer-group",
        &[
            (ApiKey::Metadata, 12),
            (ApiKey::FindCoordinator, 4),
            (ApiKey::ConsumerGroupHeartbeat, 1),
            (ApiKey::ConsumerGroupHeartbeat, 0),
            (ApiKey::ConsumerGroupDescribe, 1),
            (ApiKey::OffsetCommit, 9),
            (ApiKey::OffsetFetch, 9),
            (ApiKey::ListGroups, 5),
            (ApiKey::DescribeGroups, 5),
        ],
    ));
    seeds.push(txn_seeds::flow());
    seeds
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_supported_api_has_seeds_and_they_get_answers() {
        let seeds = seeds();
        for api_key in api_versions::SUPPORTED_APIS {
            let prefix = format!("{}-v", kmock_wire::api_snake_name(*api_key));
            assert!(
                seeds.iter().any(|s| s.name.starts_with(&prefix)),
                "no seed for {api_key:?}"
            );
        }
        for seed in &seeds {
            let outcome = run_input(&seed.bytes);
            assert_eq!(outcome.framing_errors, 0, "{}", seed.name);
            assert!(outcome.responses >= 1, "{}: {outcome:?}", seed.name);
        }
    }

    #[test]
    fn garbage_and_empty_inputs_are_harmless() {
        assert_eq!(run_input(&[]), FuzzOutcome::default());
        let outcome = run_input(&[0xff; 64]);
        assert_eq!(outcome.framing_errors, 1);
        let outcome = run_input(b"\0\0\0\x08\0\x12\0\x03\0\0\0\x01");
        assert_eq!(outcome.closes, 1, "{outcome:?}");
    }
}
