//! The cluster model and what each broker of a 3-broker core answers, driven by frames.

use kmock_wire::kafka_protocol::messages::create_topics_request::CreatableTopic;
use kmock_wire::kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kmock_wire::kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kmock_wire::kafka_protocol::messages::produce_request::{
    PartitionProduceData, TopicProduceData,
};
use kmock_wire::kafka_protocol::messages::{
    ApiKey, CreateTopicsRequest, FetchRequest, FindCoordinatorRequest, HeartbeatRequest,
    JoinGroupRequest, MetadataRequest, ProduceRequest, ResponseKind, TopicName,
};
use kmock_wire::kafka_protocol::protocol::{Request, StrBytes};
use kmock_wire::{decode_response, encode_request, error_code};

use super::*;
use crate::{BrokerConfig, BrokerCore, BrokerTime, ConnectionId, Output};

fn three_brokers() -> BrokerCore {
    BrokerCore::new(BrokerConfig {
        brokers: 3,
        group_initial_rebalance_delay_ms: 0,
        ..BrokerConfig::default()
    })
}

fn name(s: &str) -> TopicName {
    StrBytes::from_string(s.to_owned()).into()
}

/// Sends `request` on `connection` (opened on `node` if new) and returns the response.
fn send<R: Request>(
    core: &mut BrokerCore,
    connection: u64,
    node: i32,
    request: &R,
    version: i16,
) -> Option<ResponseKind> {
    let connection = ConnectionId(connection);
    if !core.connections.contains_key(&connection) {
        core.connection_opened_on(connection, node);
    }
    let frame = encode_request(request, version, 7, Some("t")).unwrap();
    core.handle_frame(connection, frame.slice(4..), BrokerTime::ZERO);
    let api_key = ApiKey::try_from(R::KEY).unwrap();
    while let Some(output) = core.poll_output() {
        if let Output::Send { frame, .. } = output {
            return Some(
                decode_response(api_key, version, frame.slice(4..))
                    .unwrap()
                    .1,
            );
        }
    }
    None
}

fn create(core: &mut BrokerCore, topic: &str, partitions: i32, replication_factor: i16) -> i16 {
    let request = CreateTopicsRequest::default().with_topics(vec![
        CreatableTopic::default()
            .with_name(name(topic))
            .with_num_partitions(partitions)
            .with_replication_factor(replication_factor),
    ]);
    let Some(ResponseKind::CreateTopics(response)) = send(core, 99, 0, &request, 7) else {
        panic!("expected CreateTopics")
    };
    response.topics[0].error_code
}

fn produce(
    core: &mut BrokerCore,
    connection: u64,
    node: i32,
    version: i16,
    acks: i16,
) -> ResponseKind {
    let request = ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(1_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(name("t"))
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(crate::log::tests::batch_of(&["a"]))),
                ]),
        ]);
    send(core, connection, node, &request, version).unwrap()
}

#[test]
fn java_string_hash_and_partition_for_match_kafka() {
    assert_eq!(java_string_hash(""), 0);
    assert_eq!(java_string_hash("hello"), 99_162_322);
    // UTF-16 code units: a surrogate pair counts as two.
    assert_eq!(java_string_hash("😀"), 0xD83D * 31 + 0xDE00);
    // Utils.abs(Integer.MIN_VALUE) is 0.
    assert_eq!(java_string_hash("polygenelubricants"), i32::MIN);
    assert_eq!(
        Cluster::partition_for("polygenelubricants", CoordinatorKind::Group),
        0
    );
    assert_eq!(Cluster::partition_for("hello", CoordinatorKind::Group), 22);
    assert_eq!(
        Cluster::partition_for("group", CoordinatorKind::Transaction),
        47
    );
}

#[test]
fn replicas_are_placed_as_kafka_admin_utils_with_start_and_shift_zero() {
    let placed = assign_replicas(&[0, 1, 2], 6, 3, 0);
    assert_eq!(
        placed,
        vec![
            vec![0, 1, 2],
            vec![1, 2, 0],
            vec![2, 0, 1],
            vec![0, 2, 1],
            vec![1, 0, 2],
            vec![2, 1, 0]
        ]
    );
    assert_eq!(
        assign_replicas(&[0, 1, 2], 2, 2, 3),
        vec![vec![0, 2], vec![1, 0]]
    );
}

#[test]
fn one_broker_leads_and_coordinates_everything() {
    let cluster = Cluster::new(&BrokerConfig::default());
    assert_eq!(cluster.node_ids(), vec![0]);
    assert!(cluster.coordinates(0, "any", CoordinatorKind::Group));
    assert!(cluster.coordinates(0, "any", CoordinatorKind::Transaction));
    assert_eq!(
        cluster.place_replicas(2, 1, 0).unwrap(),
        vec![vec![0], vec![0]]
    );
    assert!(cluster.place_replicas(1, 2, 0).is_err());
}

#[test]
fn metadata_lists_every_broker_and_replicated_partitions() {
    let mut core = three_brokers();
    assert_eq!(create(&mut core, "t", 3, 3), error_code::NONE);
    assert_eq!(
        create(&mut core, "big", 1, 4),
        error_code::INVALID_REPLICATION_FACTOR
    );
    let Some(ResponseKind::Metadata(response)) = send(
        &mut core,
        1,
        2,
        &MetadataRequest::default().with_topics(None),
        12,
    ) else {
        panic!()
    };
    let nodes: Vec<i32> = response.brokers.iter().map(|b| b.node_id.0).collect();
    assert_eq!(nodes, vec![0, 1, 2]);
    let ports: Vec<i32> = response.brokers.iter().map(|b| b.port).collect();
    assert_eq!(ports, vec![9092, 9093, 9094]);
    let partitions = &response.topics[0].partitions;
    let leaders: Vec<i32> = partitions.iter().map(|p| p.leader_id.0).collect();
    assert_eq!(leaders, vec![0, 1, 2]);
    assert_eq!(
        partitions[1]
            .replica_nodes
            .iter()
            .map(|n| n.0)
            .collect::<Vec<_>>(),
        vec![1, 2, 0]
    );
    assert_eq!(partitions[1].isr_nodes.len(), 3);
}

#[test]
fn produce_to_a_follower_is_not_leader_or_follower_with_the_leader_from_v10() {
    let mut core = three_brokers();
    create(&mut core, "t", 1, 3);
    let ResponseKind::Produce(response) = produce(&mut core, 1, 1, 10, 1) else {
        panic!()
    };
    let partition = &response.responses[0].partition_responses[0];
    assert_eq!(partition.error_code, error_code::NOT_LEADER_OR_FOLLOWER);
    assert_eq!(partition.current_leader.leader_id.0, 0);
    assert_eq!(response.node_endpoints.len(), 1);
    assert_eq!(response.node_endpoints[0].port, 9092);
    let ResponseKind::Produce(response) = produce(&mut core, 2, 1, 9, 1) else {
        panic!()
    };
    assert_eq!(
        response.responses[0].partition_responses[0].error_code,
        error_code::NOT_LEADER_OR_FOLLOWER
    );
    let ResponseKind::Produce(response) = produce(&mut core, 3, 0, 9, 1) else {
        panic!()
    };
    assert_eq!(
        response.responses[0].partition_responses[0].error_code,
        error_code::NONE
    );
    assert_eq!(core.logs().high_watermark("t", 0), Some(1));
}

#[test]
fn fetch_from_a_follower_is_not_leader_or_follower_with_the_leader_from_v12() {
    let mut core = three_brokers();
    create(&mut core, "t", 1, 3);
    let topic_id = core.logs().topic_id("t").unwrap();
    for version in [11, 12, 16] {
        let topic = FetchTopic::default().with_partitions(vec![
            FetchPartition::default()
                .with_partition(0)
                .with_partition_max_bytes(1 << 20),
        ]);
        let topic = if version >= 13 {
            topic.with_topic_id(topic_id)
        } else {
            topic.with_topic(name("t"))
        };
        let request = FetchRequest::default()
            .with_max_bytes(1 << 20)
            .with_max_wait_ms(500)
            .with_topics(vec![topic]);
        let Some(ResponseKind::Fetch(response)) =
            send(&mut core, 10 + version as u64, 2, &request, version)
        else {
            panic!("fetch v{version} must be answered at once")
        };
        let partition = &response.responses[0].partitions[0];
        assert_eq!(
            partition.error_code,
            error_code::NOT_LEADER_OR_FOLLOWER,
            "v{version}"
        );
        let expected_leader = if version >= 12 { 0 } else { -1 };
        assert_eq!(
            partition.current_leader.leader_id.0, expected_leader,
            "v{version}"
        );
        assert_eq!(
            response.node_endpoints.len(),
            usize::from(version >= 16),
            "v{version}"
        );
    }
}

#[test]
fn acks_all_needs_min_insync_replicas() {
    let mut core = three_brokers();
    create(&mut core, "t", 1, 3);
    core.logs
        .topics
        .get_mut("t")
        .unwrap()
        .config
        .settings
        .min_insync_replicas = 2;
    core.set_isr("t", 0, &[0]).unwrap();
    let ResponseKind::Produce(response) = produce(&mut core, 1, 0, 9, -1) else {
        panic!()
    };
    assert_eq!(
        response.responses[0].partition_responses[0].error_code,
        error_code::NOT_ENOUGH_REPLICAS
    );
    let ResponseKind::Produce(response) = produce(&mut core, 1, 0, 9, 1) else {
        panic!()
    };
    assert_eq!(
        response.responses[0].partition_responses[0].error_code,
        error_code::NONE
    );
    core.set_isr("t", 0, &[0, 2]).unwrap();
    let ResponseKind::Produce(response) = produce(&mut core, 1, 0, 9, -1) else {
        panic!()
    };
    assert_eq!(
        response.responses[0].partition_responses[0].error_code,
        error_code::NONE
    );
}

fn find_coordinator(core: &mut BrokerCore, key: &str, version: i16) -> (i16, i32) {
    let request = if version >= 4 {
        FindCoordinatorRequest::default()
            .with_coordinator_keys(vec![StrBytes::from_string(key.into())])
    } else {
        FindCoordinatorRequest::default().with_key(StrBytes::from_string(key.into()))
    };
    let Some(ResponseKind::FindCoordinator(response)) = send(core, 50, 0, &request, version) else {
        panic!()
    };
    if version >= 4 {
        let c = &response.coordinators[0];
        (c.error_code, c.node_id.0)
    } else {
        (response.error_code, response.node_id.0)
    }
}

fn heartbeat(core: &mut BrokerCore, connection: u64, node: i32, group: &str) -> i16 {
    let request = HeartbeatRequest::default()
        .with_group_id(StrBytes::from_string(group.into()).into())
        .with_member_id(StrBytes::from_static_str("m"))
        .with_generation_id(1);
    let Some(ResponseKind::Heartbeat(response)) = send(core, connection, node, &request, 4) else {
        panic!()
    };
    response.error_code
}

#[test]
fn group_requests_go_to_the_hashed_coordinator_and_elsewhere_get_not_coordinator() {
    let mut core = three_brokers();
    // "hello" hashes to __consumer_offsets-22, led by broker 22 mod 3 = 1.
    assert_eq!(
        find_coordinator(&mut core, "hello", 3),
        (error_code::NONE, 1)
    );
    assert_eq!(
        find_coordinator(&mut core, "hello", 4),
        (error_code::NONE, 1)
    );
    assert_eq!(
        heartbeat(&mut core, 1, 0, "hello"),
        error_code::NOT_COORDINATOR
    );
    assert_eq!(
        heartbeat(&mut core, 2, 1, "hello"),
        error_code::UNKNOWN_MEMBER_ID
    );

    core.move_group_coordinator("hello", 2).unwrap();
    assert_eq!(
        find_coordinator(&mut core, "hello", 4),
        (error_code::NONE, 2)
    );
    assert_eq!(
        heartbeat(&mut core, 2, 1, "hello"),
        error_code::NOT_COORDINATOR
    );
    assert_eq!(
        heartbeat(&mut core, 3, 2, "hello"),
        error_code::UNKNOWN_MEMBER_ID
    );
}

#[test]
fn moving_a_coordinator_answers_a_parked_join_with_not_coordinator() {
    let mut core = BrokerCore::new(BrokerConfig {
        brokers: 3,
        group_initial_rebalance_delay_ms: 3_000,
        ..BrokerConfig::default()
    });
    let join = JoinGroupRequest::default()
        .with_group_id(StrBytes::from_static_str("hello").into())
        .with_member_id(StrBytes::from_static_str(""))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_protocol_type(StrBytes::from_static_str("consumer"))
        .with_protocols(vec![
            JoinGroupRequestProtocol::default().with_name(StrBytes::from_static_str("range")),
        ]);
    // v3: no MEMBER_ID_REQUIRED round; the initial rebalance delay parks the join.
    assert!(send(&mut core, 1, 1, &join, 3).is_none());
    core.move_group_coordinator("hello", 0).unwrap();
    let Some(Output::Send { frame, .. }) = core.poll_output() else {
        panic!("the parked join must be answered")
    };
    let (_, ResponseKind::JoinGroup(response)) =
        decode_response(ApiKey::JoinGroup, 3, frame.slice(4..)).unwrap()
    else {
        panic!()
    };
    assert_eq!(response.error_code, error_code::NOT_COORDINATOR);
}

#[test]
fn broker_down_closes_its_connections_and_moves_leaders_and_coordinators() {
    let mut core = three_brokers();
    create(&mut core, "t", 3, 2);
    core.connection_opened_on(ConnectionId(5), 1);
    let changes = core.broker_down(1).unwrap();
    let closed: Vec<_> = std::iter::from_fn(|| core.poll_output())
        .filter_map(|o| match o {
            Output::Close { connection, .. } => Some(connection),
            _ => None,
        })
        .collect();
    assert_eq!(closed, vec![ConnectionId(5)]);
    // t-1 was on [1, 2]: 2 leads now, epoch 1; t-0 on [0, 1] keeps 0, without 1 in its ISR.
    assert_eq!(changes.partitions, vec![("t".to_owned(), 1)]);
    let moved = core.logs().leadership("t", 1).unwrap();
    assert_eq!(
        (moved.leader, moved.leader_epoch, moved.isr.clone()),
        (2, 1, vec![2])
    );
    assert_eq!(core.logs().leadership("t", 0).unwrap().isr, vec![0]);
    // __consumer_offsets-22 is on [1, 0, 2] (the shift grew at every 3rd partition): 0 leads now.
    assert_eq!(find_coordinator(&mut core, "hello", 3).1, 0);
    assert!(!changes.group_partitions.is_empty());
    // A new connection to the down broker is closed at once.
    core.connection_opened_on(ConnectionId(6), 1);
    assert!(matches!(core.poll_output(), Some(Output::Close { .. })));
    let Some(ResponseKind::Metadata(response)) = send(
        &mut core,
        7,
        0,
        &MetadataRequest::default().with_topics(None),
        12,
    ) else {
        panic!()
    };
    assert_eq!(
        response
            .brokers
            .iter()
            .map(|b| b.node_id.0)
            .collect::<Vec<_>>(),
        vec![0, 2]
    );
    assert_eq!(response.topics[0].partitions[0].offline_replicas.len(), 1);

    core.broker_up(1).unwrap();
    assert_eq!(core.logs().leadership("t", 0).unwrap().isr, vec![0, 1]);
    assert_eq!(core.logs().leadership("t", 1).unwrap().leader, 2);
}

#[test]
fn the_last_isr_member_down_leaves_no_leader_until_it_returns() {
    let mut core = three_brokers();
    create(&mut core, "t", 1, 1);
    core.broker_down(0).unwrap();
    let leadership = core.logs().leadership("t", 0).unwrap();
    assert_eq!(
        (leadership.leader, leadership.isr.clone()),
        (NO_LEADER, vec![0])
    );
    let Some(ResponseKind::Metadata(response)) = send(
        &mut core,
        1,
        1,
        &MetadataRequest::default().with_topics(None),
        12,
    ) else {
        panic!()
    };
    assert_eq!(
        response.topics[0].partitions[0].error_code,
        error_code::LEADER_NOT_AVAILABLE
    );
    assert_eq!(response.topics[0].partitions[0].leader_id.0, NO_LEADER);
    core.broker_up(0).unwrap();
    let leadership = core.logs().leadership("t", 0).unwrap();
    assert_eq!((leadership.leader, leadership.leader_epoch), (0, 2));
}

#[test]
fn every_internal_replica_down_makes_the_coordinator_unavailable() {
    let mut core = three_brokers();
    core.broker_down(1).unwrap();
    core.broker_down(2).unwrap();
    core.broker_down(0).unwrap();
    core.broker_up(2).unwrap();
    // __consumer_offsets-22 kept 0 as its last ISR member: no leader while 0 is down.
    let leadership = &core.cluster().internal_partitions(CoordinatorKind::Group)[22];
    assert_eq!(leadership.leader, NO_LEADER);
    let request = FindCoordinatorRequest::default().with_key(StrBytes::from_static_str("hello"));
    let Some(ResponseKind::FindCoordinator(response)) = send(&mut core, 1, 2, &request, 3) else {
        panic!()
    };
    assert_eq!(response.error_code, error_code::COORDINATOR_NOT_AVAILABLE);
}

#[test]
fn cluster_operations_refuse_bad_input() {
    let mut core = three_brokers();
    create(&mut core, "t", 1, 2);
    assert_eq!(
        core.broker_down(7),
        Err(ClusterError::UnknownNode { node_id: 7 })
    );
    assert!(matches!(
        core.move_leader("t", 0, 2),
        Err(ClusterError::NotAReplica { .. })
    ));
    assert!(matches!(
        core.move_leader("t", 5, 1),
        Err(ClusterError::UnknownPartition { .. })
    ));
    assert!(matches!(
        core.move_leader("nope", 0, 1),
        Err(ClusterError::UnknownPartition { .. })
    ));
    assert!(matches!(
        core.set_isr("t", 0, &[]),
        Err(ClusterError::InvalidIsr { .. })
    ));
    assert!(matches!(
        core.set_isr("t", 0, &[1]),
        Err(ClusterError::InvalidIsr { .. })
    ));
    assert!(matches!(
        core.set_isr("t", 0, &[0, 0]),
        Err(ClusterError::InvalidIsr { .. })
    ));
    core.set_isr("t", 0, &[0]).unwrap();
    assert!(matches!(
        core.move_leader("t", 0, 1),
        Err(ClusterError::NotInIsr { .. })
    ));
    core.broker_down(1).unwrap();
    assert_eq!(
        core.move_group_coordinator("g", 1),
        Err(ClusterError::BrokerDown { node_id: 1 })
    );
    let changes = core.move_leader("t", 0, 0).unwrap();
    assert!(changes.is_empty());
}

#[test]
fn a_fault_matches_the_broker_a_request_reached() {
    let mut core = three_brokers();
    let rule: crate::FaultRule = "metadata,node=1:error=unknown_server_error"
        .parse()
        .unwrap();
    assert_eq!(
        rule.to_string(),
        "metadata,node=1:error=unknown_server_error"
    );
    core.add_fault(rule);
    let request = MetadataRequest::default().with_topics(None);
    let Some(ResponseKind::Metadata(response)) = send(&mut core, 1, 1, &request, 13) else {
        panic!()
    };
    assert_eq!(response.error_code, error_code::UNKNOWN_SERVER_ERROR);
    let Some(ResponseKind::Metadata(response)) = send(&mut core, 2, 2, &request, 13) else {
        panic!()
    };
    assert_eq!(response.error_code, error_code::NONE);
    let nodes: Vec<i32> = core.request_log().entries().map(|e| e.node).collect();
    assert_eq!(
        nodes,
        vec![1, 2],
        "the request log records the broker each request reached"
    );
    assert!("metadata,node=x:drop".parse::<crate::FaultRule>().is_err());
}

#[test]
fn list_groups_lists_what_the_broker_coordinates() {
    use kmock_wire::kafka_protocol::messages::ListGroupsRequest;
    let mut core = three_brokers();
    // "hello" is coordinated by broker 1, "group" by broker 2 (see above); both exist once
    // a member asked about them.
    for (group, node) in [("hello", 1), ("group", 2)] {
        let join = JoinGroupRequest::default()
            .with_group_id(StrBytes::from_string(group.into()).into())
            .with_member_id(StrBytes::from_static_str(""))
            .with_session_timeout_ms(10_000)
            .with_rebalance_timeout_ms(10_000)
            .with_protocol_type(StrBytes::from_static_str("consumer"))
            .with_protocols(vec![
                JoinGroupRequestProtocol::default().with_name(StrBytes::from_static_str("range")),
            ]);
        send(&mut core, 10 + node as u64, node, &join, 3).expect("joined");
    }
    for (node, expected) in [(0, vec![]), (1, vec!["hello"]), (2, vec!["group"])] {
        let Some(ResponseKind::ListGroups(response)) = send(
            &mut core,
            20 + node as u64,
            node,
            &ListGroupsRequest::default(),
            4,
        ) else {
            panic!()
        };
        let listed: Vec<&str> = response
            .groups
            .iter()
            .map(|g| g.group_id.as_str())
            .collect();
        assert_eq!(listed, expected, "broker {node}");
    }
}
