//! KIP-848 consumer group tests with explicit time: one test per Kafka rule, named after it.
//!
//! As the classic tests: every request is encoded at its version and decoded again, every
//! response encoded at the request's version and decoded again, so a test also checks that the
//! coordinator only sets fields the version has.

use std::collections::BTreeMap;

use kmock_wire::kafka_protocol::messages::consumer_group_heartbeat_request::TopicPartitions;
use kmock_wire::kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kmock_wire::kafka_protocol::messages::leave_group_request::MemberIdentity;
use kmock_wire::kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kmock_wire::kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kmock_wire::kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopics,
};
use kmock_wire::kafka_protocol::messages::*;
use kmock_wire::kafka_protocol::protocol::{Request, StrBytes};
use kmock_wire::{decode_request, decode_response, encode_request, encode_response};
use uuid::Uuid;

use super::*;
use crate::config::BrokerConfig;
use crate::{Completion, ConnectionId, Reply, ResponsePlan};

const NONE: i16 = error_code::NONE;
const SESSION_MS: u64 = 45_000;
const HEARTBEAT_INTERVAL_MS: i32 = 5_000;
const REBALANCE_MS: i32 = 30_000;
const GROUP: &str = "g";

const ORDERS: Uuid = Uuid::from_u128(0x0a);
const PAYMENTS: Uuid = Uuid::from_u128(0x0b);

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

fn ms(ms: u64) -> BrokerTime {
    BrokerTime::from_millis(ms)
}

/// A topic table that can change during a test.
#[derive(Default)]
struct Topics(BTreeMap<String, (i32, Uuid)>);

impl TopicCatalog for Topics {
    fn partition_count(&self, topic: &str) -> Option<i32> {
        self.0.get(topic).map(|(count, _)| *count)
    }
    fn topic_id(&self, topic: &str) -> Option<Uuid> {
        self.0.get(topic).map(|(_, id)| *id)
    }
    fn topic_name(&self, topic_id: Uuid) -> Option<String> {
        self.0
            .iter()
            .find(|(_, (_, id))| *id == topic_id)
            .map(|(name, _)| name.clone())
    }
    fn topic_names(&self) -> Vec<String> {
        self.0.keys().cloned().collect()
    }
}

struct Harness {
    coordinator: GroupCoordinator,
    topics: Topics,
    next_correlation_id: i32,
}

fn config() -> BrokerConfig {
    BrokerConfig {
        group_initial_rebalance_delay_ms: 0,
        ..BrokerConfig::default()
    }
}

impl Harness {
    fn new() -> Self {
        Self::with_config(config())
    }

    fn with_config(config: BrokerConfig) -> Self {
        let mut topics = Topics::default();
        topics.0.insert("orders".into(), (4, ORDERS));
        topics.0.insert("payments".into(), (2, PAYMENTS));
        Self {
            coordinator: GroupCoordinator::new(&config),
            topics,
            next_correlation_id: 1,
        }
    }

    /// Sends a request at `version` at `now_ms`; returns its (round-tripped) response.
    fn call<R: Request>(&mut self, request: &R, version: i16, now_ms: u64) -> ResponseKind {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id += 1;
        let frame = encode_request(request, version, correlation_id, Some("client"))
            .expect("test request encodes at its version");
        let decoded = decode_request(frame.slice(4..)).expect("test request decodes");
        let token = ResponseToken {
            connection: ConnectionId(1),
            correlation_id,
            api_key: decoded.api_key,
            api_version: version,
            client_id: "client".into(),
            seq: correlation_id as u64,
            plan: ResponsePlan::Send,
            node: 0,
        };
        let mut out: Vec<Completion> = Vec::new();
        let reply = self.coordinator.handle_with_catalog(
            token.clone(),
            decoded.body,
            ms(now_ms),
            &self.topics,
            &mut out,
        );
        let response = match reply {
            Reply::Now(response) => response,
            other => panic!("unexpected reply {other:?}"),
        };
        let frame = encode_response(token.api_key, version, correlation_id, &response)
            .unwrap_or_else(|e| panic!("response does not encode at v{version}: {e}"));
        decode_response(token.api_key, version, frame.slice(4..))
            .expect("response decodes")
            .1
    }

    fn heartbeat(&mut self, request: &ConsumerGroupHeartbeatRequest, now_ms: u64) -> Hb {
        match self.call(request, 1, now_ms) {
            ResponseKind::ConsumerGroupHeartbeat(response) => Hb(response),
            other => panic!("expected a heartbeat response, got {other:?}"),
        }
    }

    /// A member joins (epoch 0) subscribing to `topics`.
    fn join(&mut self, member_id: &str, topics: &[&str], now_ms: u64) -> Hb {
        self.heartbeat(&join(member_id, topics), now_ms)
    }

    /// A member heartbeats at `epoch` reporting `owned` partitions.
    fn beat(&mut self, member_id: &str, epoch: i32, owned: &[(Uuid, &[i32])], now_ms: u64) -> Hb {
        self.heartbeat(&beat(member_id, epoch, owned), now_ms)
    }

    fn tick(&mut self, now_ms: u64) {
        let mut out = Vec::new();
        self.coordinator
            .handle_timeout(ms(now_ms), &self.topics, &mut out);
        assert!(out.is_empty(), "consumer groups park nothing");
    }

    fn group(&self) -> ConsumerGroupSummary {
        self.coordinator
            .consumer_group(GROUP)
            .expect("consumer group exists")
    }

    fn member(&self, member_id: &str) -> ConsumerMemberSummary {
        self.group()
            .members
            .into_iter()
            .find(|m| m.member_id == member_id)
            .unwrap_or_else(|| panic!("no member {member_id}"))
    }

    /// A classic member joins group `group_id` (two steps, KIP-394) and syncs as leader.
    fn classic_member(&mut self, group_id: &str, now_ms: u64) -> String {
        let request = JoinGroupRequest::default()
            .with_group_id(GroupId(sb(group_id)))
            .with_session_timeout_ms(10_000)
            .with_rebalance_timeout_ms(10_000)
            .with_protocol_type(sb("consumer"))
            .with_protocols(vec![
                JoinGroupRequestProtocol::default()
                    .with_name(sb("range"))
                    .with_metadata(bytes::Bytes::from_static(&[0, 0, 0, 0, 0, 0])),
            ]);
        let ResponseKind::JoinGroup(first) = self.call(&request, 9, now_ms) else {
            panic!("join response expected");
        };
        assert_eq!(first.error_code, error_code::MEMBER_ID_REQUIRED);
        let member_id = first.member_id.as_str().to_owned();
        let mut out = Vec::new();
        let frame = encode_request(
            &request.clone().with_member_id(sb(&member_id)),
            9,
            999,
            Some("client"),
        )
        .unwrap();
        let decoded = decode_request(frame.slice(4..)).unwrap();
        let token = ResponseToken {
            connection: ConnectionId(2),
            correlation_id: 999,
            api_key: decoded.api_key,
            api_version: 9,
            client_id: "client".into(),
            seq: 999,
            plan: ResponsePlan::Send,
            node: 0,
        };
        let reply = self.coordinator.handle_with_catalog(
            token,
            decoded.body,
            ms(now_ms),
            &self.topics,
            &mut out,
        );
        assert!(
            matches!(reply, Reply::Parked),
            "the join waits for the phase"
        );
        self.tick(now_ms);
        member_id
    }
}

/// A heartbeat response with accessors.
#[derive(Debug)]
struct Hb(ConsumerGroupHeartbeatResponse);

impl Hb {
    fn code(&self) -> i16 {
        self.0.error_code
    }
    fn ok(self) -> Self {
        assert_eq!(self.0.error_code, NONE, "{:?}", self.0.error_message);
        self
    }
    fn epoch(&self) -> i32 {
        self.0.member_epoch
    }
    /// The assignment as (topic id, partitions), `None` when the response has none.
    fn assignment(&self) -> Option<Vec<(Uuid, Vec<i32>)>> {
        self.0.assignment.as_ref().map(|a| {
            a.topic_partitions
                .iter()
                .map(|t| (t.topic_id, t.partitions.clone()))
                .collect()
        })
    }
    fn partitions(&self) -> Vec<i32> {
        self.assignment()
            .expect("an assignment")
            .into_iter()
            .flat_map(|(_, p)| p)
            .collect()
    }
}

fn join(member_id: &str, topics: &[&str]) -> ConsumerGroupHeartbeatRequest {
    ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(sb(GROUP)))
        .with_member_id(sb(member_id))
        .with_member_epoch(0)
        .with_rebalance_timeout_ms(REBALANCE_MS)
        .with_subscribed_topic_names(Some(topics.iter().map(|t| TopicName(sb(t))).collect()))
        .with_topic_partitions(Some(Vec::new()))
}

fn owned_list(owned: &[(Uuid, &[i32])]) -> Vec<TopicPartitions> {
    owned
        .iter()
        .map(|(topic_id, partitions)| {
            TopicPartitions::default()
                .with_topic_id(*topic_id)
                .with_partitions(partitions.to_vec())
        })
        .collect()
}

fn beat(member_id: &str, epoch: i32, owned: &[(Uuid, &[i32])]) -> ConsumerGroupHeartbeatRequest {
    ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(sb(GROUP)))
        .with_member_id(sb(member_id))
        .with_member_epoch(epoch)
        .with_topic_partitions(Some(owned_list(owned)))
}

fn leave(member_id: &str, epoch: i32) -> ConsumerGroupHeartbeatRequest {
    ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(sb(GROUP)))
        .with_member_id(sb(member_id))
        .with_member_epoch(epoch)
}

fn commit(member_id: &str, epoch: i32, offset: i64) -> OffsetCommitRequest {
    OffsetCommitRequest::default()
        .with_group_id(GroupId(sb(GROUP)))
        .with_generation_id_or_member_epoch(epoch)
        .with_member_id(sb(member_id))
        .with_topics(vec![
            OffsetCommitRequestTopic::default()
                .with_name(TopicName(sb("orders")))
                .with_partitions(vec![
                    OffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(offset),
                ]),
        ])
}

fn commit_code(response: ResponseKind) -> i16 {
    match response {
        ResponseKind::OffsetCommit(r) => r.topics[0].partitions[0].error_code,
        other => panic!("expected OffsetCommit, got {other:?}"),
    }
}

/// m1 alone, reconciled to all 4 partitions of `orders`; returns its epoch.
fn one_member_owning_orders(h: &mut Harness) -> i32 {
    let response = h.join("m1", &["orders"], 0).ok();
    assert_eq!(response.partitions(), [0, 1, 2, 3]);
    response.epoch()
}

// --- validation ------------------------------------------------------------------------------

#[test]
fn v1_heartbeat_without_member_id_is_invalid_request() {
    let mut h = Harness::new();
    let response = h.join("", &["orders"], 0);
    assert_eq!(response.code(), error_code::INVALID_REQUEST);
    assert_eq!(
        response.0.error_message.as_deref(),
        Some("MemberId can't be empty.")
    );
    assert!(h.coordinator.consumer_group(GROUP).is_none());
}

#[test]
fn v0_join_without_member_id_gets_a_member_id_from_the_coordinator() {
    let mut h = Harness::new();
    let ResponseKind::ConsumerGroupHeartbeat(response) = h.call(&join("", &["orders"]), 0, 0)
    else {
        panic!("heartbeat response expected");
    };
    assert_eq!(response.error_code, NONE);
    let member_id = response.member_id.expect("a member id").to_string();
    assert_eq!(
        member_id.len(),
        22,
        "Kafka's Uuid in URL-safe base64: {member_id}"
    );
    assert_eq!(h.group().members[0].member_id, member_id);
}

#[test]
fn empty_group_id_is_invalid_request() {
    let mut h = Harness::new();
    let response = h.heartbeat(&join("m1", &["orders"]).with_group_id(GroupId(sb(" "))), 0);
    assert_eq!(response.code(), error_code::INVALID_REQUEST);
    assert_eq!(
        response.0.error_message.as_deref(),
        Some("GroupId can't be empty.")
    );
}

#[test]
fn join_without_rebalance_timeout_is_invalid_request() {
    let mut h = Harness::new();
    let response = h.heartbeat(&join("m1", &["orders"]).with_rebalance_timeout_ms(-1), 0);
    assert_eq!(response.code(), error_code::INVALID_REQUEST);
}

#[test]
fn join_with_owned_partitions_is_invalid_request() {
    let mut h = Harness::new();
    let owning = join("m1", &["orders"]).with_topic_partitions(Some(owned_list(&[(ORDERS, &[0])])));
    assert_eq!(h.heartbeat(&owning, 0).code(), error_code::INVALID_REQUEST);
    let unknown = join("m1", &["orders"]).with_topic_partitions(None);
    assert_eq!(h.heartbeat(&unknown, 0).code(), error_code::INVALID_REQUEST);
}

#[test]
fn join_without_topic_names_or_regex_is_invalid_request() {
    let mut h = Harness::new();
    let response = h.heartbeat(&join("m1", &[]).with_subscribed_topic_names(None), 0);
    assert_eq!(response.code(), error_code::INVALID_REQUEST);
    // An empty list is a subscription to nothing: accepted, as in Kafka 4.
    assert_eq!(h.join("m1", &[], 0).code(), NONE);
}

#[test]
fn static_leave_without_instance_id_is_invalid_request() {
    let mut h = Harness::new();
    one_member_owning_orders(&mut h);
    let response = h.heartbeat(&leave("m1", -2), 1_000);
    assert_eq!(response.code(), error_code::INVALID_REQUEST);
    assert_eq!(
        response.0.error_message.as_deref(),
        Some("InstanceId can't be null.")
    );
}

#[test]
fn member_epoch_below_minus_two_is_invalid_request() {
    let mut h = Harness::new();
    let response = h.heartbeat(&leave("m1", -3), 0);
    assert_eq!(response.code(), error_code::INVALID_REQUEST);
    assert_eq!(
        response.0.error_message.as_deref(),
        Some("MemberEpoch is invalid.")
    );
}

#[test]
fn unknown_server_assignor_is_unsupported_assignor() {
    let mut h = Harness::new();
    let response = h.heartbeat(
        &join("m1", &["orders"]).with_server_assignor(Some(sb("sticky"))),
        0,
    );
    assert_eq!(response.code(), error_code::UNSUPPORTED_ASSIGNOR);
    assert_eq!(
        response.0.error_message.as_deref(),
        Some("ServerAssignor sticky is not supported. Supported assignors: uniform, range.")
    );
}

#[test]
fn more_subscribed_topic_names_than_the_limit_is_invalid_request() {
    let mut h = Harness::new();
    let names: Vec<String> = (0..=MAX_SUBSCRIBED_TOPIC_NAMES)
        .map(|i| format!("t{i}"))
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    assert_eq!(h.join("m1", &names, 0).code(), error_code::INVALID_REQUEST);
}

// --- joining, epochs, reconciliation ---------------------------------------------------------

#[test]
fn first_member_gets_every_partition_at_the_new_group_epoch() {
    let mut h = Harness::new();
    let response = h.join("m1", &["orders"], 0).ok();
    assert_eq!(response.epoch(), 1);
    assert_eq!(response.0.heartbeat_interval_ms, HEARTBEAT_INTERVAL_MS);
    assert_eq!(
        response.assignment(),
        Some(vec![(ORDERS, vec![0, 1, 2, 3])])
    );
    let group = h.group();
    assert_eq!((group.group_epoch, group.assignment_epoch), (1, 1));
    assert_eq!(group.state, ConsumerGroupState::Stable);
}

#[test]
fn a_new_member_waits_for_partitions_until_their_owner_revokes_them() {
    let mut h = Harness::new();
    let epoch = one_member_owning_orders(&mut h);
    // m2 joins: epoch 2, target 2+2, but m1 still owns everything: m2 gets nothing yet.
    let m2 = h.join("m2", &["orders"], 100).ok();
    assert_eq!(m2.epoch(), 2);
    assert_eq!(m2.partitions(), Vec::<i32>::new());
    assert_eq!(h.member("m2").state, MemberState::UnreleasedPartitions);
    assert_eq!(h.group().state, ConsumerGroupState::Reconciling);
    // m1 is asked to revoke two partitions and stays at its epoch.
    let m1 = h.beat("m1", epoch, &[(ORDERS, &[0, 1, 2, 3])], 200).ok();
    assert_eq!(m1.epoch(), epoch);
    assert_eq!(m1.partitions(), [0, 1]);
    assert_eq!(h.member("m1").state, MemberState::UnrevokedPartitions);
    // Still owned: no progress.
    let m1 = h.beat("m1", epoch, &[(ORDERS, &[0, 1, 2, 3])], 300).ok();
    assert_eq!((m1.epoch(), m1.assignment()), (epoch, None));
    // m1 revoked: it moves to epoch 2, and m2 now gets 2 and 3.
    let m1 = h.beat("m1", epoch, &[(ORDERS, &[0, 1])], 400).ok();
    assert_eq!(m1.epoch(), 2);
    let m2 = h.beat("m2", 2, &[], 500).ok();
    assert_eq!(m2.partitions(), [2, 3]);
    assert_eq!(h.group().state, ConsumerGroupState::Stable);
}

#[test]
fn heartbeat_from_unknown_member_is_unknown_member_id() {
    let mut h = Harness::new();
    one_member_owning_orders(&mut h);
    assert_eq!(
        h.beat("ghost", 1, &[], 100).code(),
        error_code::UNKNOWN_MEMBER_ID
    );
}

#[test]
fn heartbeat_to_unknown_group_is_group_id_not_found() {
    let mut h = Harness::new();
    let response = h.beat("m1", 1, &[], 0);
    assert_eq!(response.code(), error_code::GROUP_ID_NOT_FOUND);
    assert_eq!(
        response.0.error_message.as_deref(),
        Some("Consumer group g not found.")
    );
}

#[test]
fn heartbeat_with_greater_epoch_is_fenced_member_epoch() {
    let mut h = Harness::new();
    let epoch = one_member_owning_orders(&mut h);
    let response = h.beat("m1", epoch + 1, &[], 100);
    assert_eq!(response.code(), error_code::FENCED_MEMBER_EPOCH);
}

#[test]
fn heartbeat_with_smaller_epoch_is_fenced_member_epoch() {
    let mut h = Harness::new();
    one_member_owning_orders(&mut h);
    h.join("m2", &["orders"], 100).ok();
    h.beat("m1", 1, &[(ORDERS, &[0, 1])], 200).ok();
    h.beat("m2", 2, &[], 300).ok();
    h.beat("m1", 2, &[(ORDERS, &[0, 1])], 400).ok();
    // m1 at epoch 2, previous 1: a rejoin with epoch 0 is fenced.
    assert_eq!(
        h.join("m1", &["orders"], 500).code(),
        error_code::FENCED_MEMBER_EPOCH
    );
    let m3 = h.join("m3", &["orders"], 600).ok();
    assert_eq!(m3.epoch(), 3);
    h.beat("m1", 2, &[(ORDERS, &[0, 1])], 700).ok();
    assert_eq!(
        h.member("m1").member_epoch,
        3,
        "m1 keeps 0 and 1: no revocation"
    );
    // Neither the current (3) nor the previous epoch (2): fenced.
    assert_eq!(
        h.beat("m1", 1, &[], 800).code(),
        error_code::FENCED_MEMBER_EPOCH
    );
    // The previous epoch owning more than its assignment: fenced.
    let owned_more = h.beat("m1", 2, &[(ORDERS, &[0, 1, 2])], 900);
    assert_eq!(owned_more.code(), error_code::FENCED_MEMBER_EPOCH);
}

#[test]
fn heartbeat_with_previous_epoch_and_owned_subset_is_accepted() {
    let mut h = Harness::new();
    // The join response (epoch 1) was lost: the member retries with epoch 0 and owns nothing.
    one_member_owning_orders(&mut h);
    let retry = h.join("m1", &["orders"], 100).ok();
    assert_eq!(retry.epoch(), 1);
    assert_eq!(retry.partitions(), [0, 1, 2, 3]);
    // Owning something outside its assignment, the previous epoch is fenced.
    let response = h.heartbeat(&join("m1", &["orders"]).with_member_epoch(0), 200);
    assert_eq!(response.code(), NONE);
}

#[test]
fn full_heartbeat_or_changed_assignment_carries_the_assignment_otherwise_none() {
    let mut h = Harness::new();
    let epoch = one_member_owning_orders(&mut h);
    let quiet = h.beat("m1", epoch, &[(ORDERS, &[0, 1, 2, 3])], 100).ok();
    assert_eq!(quiet.assignment(), None);
    let full = h
        .heartbeat(
            &beat("m1", epoch, &[(ORDERS, &[0, 1, 2, 3])])
                .with_rebalance_timeout_ms(REBALANCE_MS)
                .with_subscribed_topic_names(Some(vec![TopicName(sb("orders"))])),
            200,
        )
        .ok();
    assert_eq!(full.partitions(), [0, 1, 2, 3]);
}

#[test]
fn new_partitions_of_a_subscribed_topic_bump_the_group_epoch() {
    let mut h = Harness::new();
    let epoch = one_member_owning_orders(&mut h);
    h.topics.0.insert("orders".into(), (6, ORDERS));
    let response = h.beat("m1", epoch, &[(ORDERS, &[0, 1, 2, 3])], 100).ok();
    assert_eq!(response.epoch(), epoch + 1);
    assert_eq!(response.partitions(), [0, 1, 2, 3, 4, 5]);
}

#[test]
fn a_subscription_change_bumps_the_epoch_and_moves_partitions() {
    let mut h = Harness::new();
    let epoch = one_member_owning_orders(&mut h);
    let response = h
        .heartbeat(
            &beat("m1", epoch, &[(ORDERS, &[0, 1, 2, 3])])
                .with_subscribed_topic_names(Some(vec![TopicName(sb("payments"))])),
            100,
        )
        .ok();
    // Revoke before assign: orders goes first, epoch unchanged.
    assert_eq!(response.epoch(), epoch);
    assert_eq!(response.assignment(), Some(vec![]));
    let response = h.beat("m1", epoch, &[], 200).ok();
    assert_eq!(response.epoch(), epoch + 1);
    assert_eq!(response.assignment(), Some(vec![(PAYMENTS, vec![0, 1])]));
}

#[test]
fn range_assignor_is_used_when_members_ask_for_it() {
    let mut h = Harness::new();
    let request = join("m1", &["orders"]).with_server_assignor(Some(sb("range")));
    h.heartbeat(&request, 0).ok();
    h.heartbeat(
        &join("m2", &["orders"]).with_server_assignor(Some(sb("range"))),
        10,
    )
    .ok();
    assert_eq!(h.group().assignor, "range");
    assert_eq!(
        h.member("m1").target,
        [("orders".to_owned(), 0), ("orders".to_owned(), 1)]
    );
    assert_eq!(
        h.member("m2").target,
        [("orders".to_owned(), 2), ("orders".to_owned(), 3)]
    );
}

#[test]
fn group_full_is_group_max_size_reached() {
    let mut h = Harness::with_config(BrokerConfig {
        group_consumer_max_size: 1,
        ..config()
    });
    one_member_owning_orders(&mut h);
    let response = h.join("m2", &["orders"], 100);
    assert_eq!(response.code(), error_code::GROUP_MAX_SIZE_REACHED);
    assert_eq!(h.group().members.len(), 1);
}

// --- leaving and timeouts --------------------------------------------------------------------

#[test]
fn leave_with_epoch_minus_one_fences_the_member_and_the_survivor_takes_all() {
    let mut h = Harness::new();
    one_member_owning_orders(&mut h);
    h.join("m2", &["orders"], 100).ok();
    h.beat("m1", 1, &[(ORDERS, &[0, 1])], 200).ok();
    h.beat("m2", 2, &[], 300).ok();
    let response = h.heartbeat(&leave("m1", -1), 400).ok();
    assert_eq!(response.epoch(), -1);
    assert_eq!(response.0.member_id.as_deref(), Some("m1"));
    assert_eq!(h.group().group_epoch, 3);
    assert_eq!(h.group().state, ConsumerGroupState::Assigning);
    let m2 = h.beat("m2", 2, &[(ORDERS, &[2, 3])], 500).ok();
    assert_eq!(m2.epoch(), 3);
    assert_eq!(m2.partitions(), [0, 1, 2, 3]);
}

#[test]
fn leave_of_unknown_member_is_unknown_member_id() {
    let mut h = Harness::new();
    one_member_owning_orders(&mut h);
    assert_eq!(
        h.heartbeat(&leave("ghost", -1), 100).code(),
        error_code::UNKNOWN_MEMBER_ID
    );
    let mut h = Harness::new();
    assert_eq!(
        h.heartbeat(&leave("m1", -1), 0).code(),
        error_code::GROUP_ID_NOT_FOUND
    );
}

#[test]
fn session_timeout_fences_a_member_that_stops_heartbeating() {
    let mut h = Harness::new();
    one_member_owning_orders(&mut h);
    assert_eq!(h.coordinator.next_deadline(), Some(ms(SESSION_MS)));
    h.tick(SESSION_MS - 1);
    assert_eq!(h.group().members.len(), 1);
    h.tick(SESSION_MS);
    let group = h.group();
    assert!(group.members.is_empty());
    assert_eq!(group.state, ConsumerGroupState::Empty);
    assert_eq!(group.group_epoch, 2);
}

#[test]
fn a_heartbeat_restarts_the_session() {
    let mut h = Harness::new();
    let epoch = one_member_owning_orders(&mut h);
    h.beat("m1", epoch, &[(ORDERS, &[0, 1, 2, 3])], 40_000).ok();
    h.tick(SESSION_MS);
    assert_eq!(h.group().members.len(), 1);
    assert_eq!(h.coordinator.next_deadline(), Some(ms(40_000 + SESSION_MS)));
}

#[test]
fn rebalance_timeout_fences_a_member_that_does_not_revoke() {
    let mut h = Harness::new();
    let epoch = one_member_owning_orders(&mut h);
    h.join("m2", &["orders"], 1_000).ok();
    h.beat("m1", epoch, &[(ORDERS, &[0, 1, 2, 3])], 2_000).ok();
    assert_eq!(h.member("m1").state, MemberState::UnrevokedPartitions);
    // m1 keeps heartbeating (its session lives) but never revokes.
    for t in [10_000, 20_000, 31_000] {
        h.beat("m1", epoch, &[(ORDERS, &[0, 1, 2, 3])], t).ok();
        h.beat("m2", 2, &[], t).ok();
    }
    h.tick(2_000 + REBALANCE_MS as u64 - 1);
    assert_eq!(h.group().members.len(), 2);
    h.tick(2_000 + REBALANCE_MS as u64);
    assert_eq!(
        h.group().members.len(),
        1,
        "m1 fenced at its rebalance timeout"
    );
    assert_eq!(
        h.beat("m1", epoch, &[], 33_000).code(),
        error_code::UNKNOWN_MEMBER_ID
    );
}

// --- static membership -----------------------------------------------------------------------

fn static_join(member_id: &str, instance_id: &str) -> ConsumerGroupHeartbeatRequest {
    join(member_id, &["orders"]).with_instance_id(Some(sb(instance_id)))
}

#[test]
fn static_member_leaving_with_minus_two_keeps_its_partitions() {
    let mut h = Harness::new();
    h.heartbeat(&static_join("m1", "i1"), 0).ok();
    let response = h
        .heartbeat(&leave("m1", -2).with_instance_id(Some(sb("i1"))), 100)
        .ok();
    assert_eq!(response.epoch(), -2);
    let member = h.member("m1");
    assert_eq!(member.member_epoch, -2);
    assert_eq!(member.assigned.len(), 4);
    assert_eq!(h.group().group_epoch, 1, "no rebalance");
    // A new member cannot take them meanwhile.
    let m2 = h.join("m2", &["orders"], 200).ok();
    assert_eq!(m2.partitions(), [] as [i32; 0]);
}

#[test]
fn static_member_rejoining_after_minus_two_takes_over_without_a_rebalance() {
    let mut h = Harness::new();
    h.heartbeat(&static_join("m1", "i1"), 0).ok();
    h.heartbeat(&leave("m1", -2).with_instance_id(Some(sb("i1"))), 100)
        .ok();
    let response = h.heartbeat(&static_join("m1-restarted", "i1"), 200).ok();
    assert_eq!(response.epoch(), 1);
    assert_eq!(response.partitions(), [0, 1, 2, 3]);
    let group = h.group();
    assert_eq!(group.group_epoch, 1);
    assert_eq!(group.members.len(), 1);
    assert_eq!(group.members[0].member_id, "m1-restarted");
}

#[test]
fn static_member_joining_while_its_instance_id_is_held_is_unreleased_instance_id() {
    let mut h = Harness::new();
    h.heartbeat(&static_join("m1", "i1"), 0).ok();
    let response = h.heartbeat(&static_join("m2", "i1"), 100);
    assert_eq!(response.code(), error_code::UNRELEASED_INSTANCE_ID);
}

#[test]
fn static_member_heartbeating_with_another_member_id_is_fenced_instance_id() {
    let mut h = Harness::new();
    h.heartbeat(&static_join("m1", "i1"), 0).ok();
    let response = h.heartbeat(&beat("m2", 1, &[]).with_instance_id(Some(sb("i1"))), 100);
    assert_eq!(response.code(), error_code::FENCED_INSTANCE_ID);
    let response = h.heartbeat(&beat("m1", 1, &[]).with_instance_id(Some(sb("i9"))), 100);
    assert_eq!(response.code(), error_code::UNKNOWN_MEMBER_ID);
}

#[test]
fn static_member_that_does_not_come_back_expires_with_its_session() {
    let mut h = Harness::new();
    h.heartbeat(&static_join("m1", "i1"), 0).ok();
    h.heartbeat(&leave("m1", -2).with_instance_id(Some(sb("i1"))), 100)
        .ok();
    h.tick(SESSION_MS);
    assert!(h.group().members.is_empty());
}

// --- regular expressions ---------------------------------------------------------------------

fn regex_join(member_id: &str, regex: &str) -> ConsumerGroupHeartbeatRequest {
    join(member_id, &[])
        .with_subscribed_topic_names(None)
        .with_subscribed_topic_regex(Some(sb(regex)))
}

#[test]
fn regex_subscription_assigns_the_topics_it_matches_whole() {
    let mut h = Harness::new();
    h.topics
        .0
        .insert("orders-eu".into(), (1, Uuid::from_u128(0x0c)));
    let response = h.heartbeat(&regex_join("m1", "orders.*"), 0).ok();
    let topics: Vec<Uuid> = response
        .assignment()
        .unwrap()
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    assert_eq!(topics, [ORDERS, Uuid::from_u128(0x0c)]);
    assert_eq!(
        h.member("m1").subscribed_topic_regex.as_deref(),
        Some("orders.*")
    );
}

#[test]
fn invalid_regex_is_invalid_regular_expression_and_changes_nothing() {
    let mut h = Harness::new();
    let response = h.heartbeat(&regex_join("m1", "orders("), 0);
    assert_eq!(response.code(), error_code::INVALID_REGULAR_EXPRESSION);
    assert!(
        h.coordinator.consumer_group(GROUP).is_none(),
        "no group left behind"
    );
}

#[test]
fn regexes_are_resolved_again_after_ten_seconds() {
    let mut h = Harness::new();
    let epoch = h.heartbeat(&regex_join("m1", "audit-.*"), 0).ok().epoch();
    h.topics
        .0
        .insert("audit-eu".into(), (1, Uuid::from_u128(0x0d)));
    let early = h.beat("m1", epoch, &[], 5_000).ok();
    assert_eq!(early.assignment(), None, "resolved at most every 10 s");
    let late = h.beat("m1", epoch, &[], 10_000).ok();
    assert_eq!(late.epoch(), epoch + 1);
    assert_eq!(
        late.assignment(),
        Some(vec![(Uuid::from_u128(0x0d), vec![0])])
    );
}

// --- the two protocols side by side ----------------------------------------------------------

#[test]
fn heartbeat_to_classic_group_with_members_is_group_id_not_found() {
    let mut h = Harness::new();
    h.classic_member(GROUP, 0);
    let response = h.join("m1", &["orders"], 100);
    assert_eq!(response.code(), error_code::GROUP_ID_NOT_FOUND);
    assert_eq!(
        response.0.error_message.as_deref(),
        Some("Group g is not a consumer group")
    );
}

#[test]
fn heartbeat_to_empty_classic_group_converts_it_keeping_its_offsets() {
    let mut h = Harness::new();
    // A simple commit creates an empty classic group holding an offset.
    assert_eq!(commit_code(h.call(&commit("", -1, 42), 9, 0)), NONE);
    h.join("m1", &["orders"], 100).ok();
    assert!(
        h.coordinator.group(GROUP).is_none(),
        "the classic group is gone"
    );
    assert_eq!(h.group().committed_offsets[0].offset, 42);
}

#[test]
fn join_group_to_consumer_group_with_members_is_inconsistent_group_protocol() {
    let mut h = Harness::new();
    one_member_owning_orders(&mut h);
    let request = JoinGroupRequest::default()
        .with_group_id(GroupId(sb(GROUP)))
        .with_session_timeout_ms(10_000)
        .with_protocol_type(sb("consumer"))
        .with_protocols(vec![
            JoinGroupRequestProtocol::default().with_name(sb("range")),
        ]);
    let ResponseKind::JoinGroup(response) = h.call(&request, 9, 100) else {
        panic!("join response expected");
    };
    assert_eq!(response.error_code, error_code::INCONSISTENT_GROUP_PROTOCOL);
}

#[test]
fn join_group_to_empty_consumer_group_replaces_it_keeping_its_offsets() {
    let mut h = Harness::new();
    let epoch = one_member_owning_orders(&mut h);
    assert_eq!(commit_code(h.call(&commit("m1", epoch, 7), 9, 10)), NONE);
    h.heartbeat(&leave("m1", -1), 20).ok();
    h.classic_member(GROUP, 30);
    assert!(h.coordinator.consumer_group(GROUP).is_none());
    let classic = h.coordinator.group(GROUP).expect("a classic group");
    assert_eq!(classic.committed_offsets[0].offset, 7);
}

#[test]
fn classic_heartbeat_sync_and_leave_to_consumer_group_are_unknown_member_id() {
    let mut h = Harness::new();
    let epoch = one_member_owning_orders(&mut h);
    let heartbeat = HeartbeatRequest::default()
        .with_group_id(GroupId(sb(GROUP)))
        .with_member_id(sb("m1"))
        .with_generation_id(epoch);
    let ResponseKind::Heartbeat(response) = h.call(&heartbeat, 4, 100) else {
        panic!()
    };
    assert_eq!(response.error_code, error_code::UNKNOWN_MEMBER_ID);
    let sync = SyncGroupRequest::default()
        .with_group_id(GroupId(sb(GROUP)))
        .with_member_id(sb("m1"))
        .with_generation_id(epoch);
    let ResponseKind::SyncGroup(response) = h.call(&sync, 5, 100) else {
        panic!()
    };
    assert_eq!(response.error_code, error_code::UNKNOWN_MEMBER_ID);
    let leave = LeaveGroupRequest::default()
        .with_group_id(GroupId(sb(GROUP)))
        .with_members(vec![MemberIdentity::default().with_member_id(sb("m1"))]);
    let ResponseKind::LeaveGroup(response) = h.call(&leave, 5, 100) else {
        panic!()
    };
    assert_eq!(
        response.members[0].error_code,
        error_code::UNKNOWN_MEMBER_ID
    );
    assert_eq!(h.group().members.len(), 1, "nothing changed");
}

// --- offsets ---------------------------------------------------------------------------------

#[test]
fn offset_commit_by_a_member_at_its_epoch_commits() {
    let mut h = Harness::new();
    let epoch = one_member_owning_orders(&mut h);
    assert_eq!(commit_code(h.call(&commit("m1", epoch, 5), 9, 100)), NONE);
    assert_eq!(h.coordinator.committed_offset(GROUP, "orders", 0), Some(5));
}

#[test]
fn offset_commit_at_another_epoch_is_stale_member_epoch() {
    let mut h = Harness::new();
    let epoch = one_member_owning_orders(&mut h);
    let code = commit_code(h.call(&commit("m1", epoch + 1, 5), 9, 100));
    assert_eq!(code, error_code::STALE_MEMBER_EPOCH);
}

#[test]
fn offset_commit_below_v9_by_a_member_is_unsupported_version() {
    let mut h = Harness::new();
    let epoch = one_member_owning_orders(&mut h);
    let code = commit_code(h.call(&commit("m1", epoch, 5), 8, 100));
    assert_eq!(code, error_code::UNSUPPORTED_VERSION);
}

#[test]
fn offset_commit_by_an_unknown_member_is_unknown_member_id() {
    let mut h = Harness::new();
    one_member_owning_orders(&mut h);
    let code = commit_code(h.call(&commit("ghost", 1, 5), 9, 100));
    assert_eq!(code, error_code::UNKNOWN_MEMBER_ID);
    // An admin commit (negative epoch) to a group with members, too.
    let code = commit_code(h.call(&commit("", -1, 5), 9, 100));
    assert_eq!(code, error_code::UNKNOWN_MEMBER_ID);
}

#[test]
fn offset_commit_with_negative_epoch_to_an_empty_consumer_group_commits() {
    let mut h = Harness::new();
    one_member_owning_orders(&mut h);
    h.heartbeat(&leave("m1", -1), 100).ok();
    assert_eq!(commit_code(h.call(&commit("", -1, 9), 9, 200)), NONE);
    assert_eq!(h.coordinator.committed_offset(GROUP, "orders", 0), Some(9));
}

#[test]
fn offset_commit_v9_to_an_unknown_group_is_group_id_not_found() {
    let mut h = Harness::new();
    assert_eq!(
        commit_code(h.call(&commit("m1", 3, 1), 9, 0)),
        error_code::GROUP_ID_NOT_FOUND
    );
    assert_eq!(
        commit_code(h.call(&commit("m1", 3, 1), 8, 0)),
        error_code::ILLEGAL_GENERATION
    );
}

fn fetch(member_id: Option<&str>, epoch: i32) -> OffsetFetchRequest {
    OffsetFetchRequest::default().with_groups(vec![
        OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(sb(GROUP)))
            .with_member_id(member_id.map(sb))
            .with_member_epoch(epoch)
            .with_topics(Some(vec![
                OffsetFetchRequestTopics::default()
                    .with_name(TopicName(sb("orders")))
                    .with_partition_indexes(vec![0]),
            ])),
    ])
}

#[test]
fn offset_fetch_by_a_member_checks_its_epoch() {
    let mut h = Harness::new();
    let epoch = one_member_owning_orders(&mut h);
    h.call(&commit("m1", epoch, 11), 9, 100);
    let ResponseKind::OffsetFetch(ok) = h.call(&fetch(Some("m1"), epoch), 9, 200) else {
        panic!()
    };
    assert_eq!(ok.groups[0].error_code, NONE);
    assert_eq!(ok.groups[0].topics[0].partitions[0].committed_offset, 11);
    let ResponseKind::OffsetFetch(stale) = h.call(&fetch(Some("m1"), epoch + 1), 9, 200) else {
        panic!()
    };
    assert_eq!(stale.groups[0].error_code, error_code::STALE_MEMBER_EPOCH);
    let ResponseKind::OffsetFetch(unknown) = h.call(&fetch(Some("ghost"), epoch), 9, 200) else {
        panic!()
    };
    assert_eq!(unknown.groups[0].error_code, error_code::UNKNOWN_MEMBER_ID);
    let ResponseKind::OffsetFetch(admin) = h.call(&fetch(None, -1), 9, 200) else {
        panic!()
    };
    assert_eq!(admin.groups[0].topics[0].partitions[0].committed_offset, 11);
}

#[test]
fn offset_delete_of_a_subscribed_topic_is_group_subscribed_to_topic() {
    let mut h = Harness::new();
    let epoch = one_member_owning_orders(&mut h);
    h.call(&commit("m1", epoch, 11), 9, 100);
    let request = OffsetDeleteRequest::default()
        .with_group_id(GroupId(sb(GROUP)))
        .with_topics(vec![
            OffsetDeleteRequestTopic::default()
                .with_name(TopicName(sb("orders")))
                .with_partitions(vec![
                    OffsetDeleteRequestPartition::default().with_partition_index(0),
                ]),
        ]);
    let ResponseKind::OffsetDelete(response) = h.call(&request, 0, 200) else {
        panic!()
    };
    assert_eq!(response.error_code, NONE);
    assert_eq!(
        response.topics[0].partitions[0].error_code,
        error_code::GROUP_SUBSCRIBED_TO_TOPIC
    );
}

// --- admin APIs ------------------------------------------------------------------------------

#[test]
fn describe_shows_epochs_assignor_members_and_assignments() {
    let mut h = Harness::new();
    one_member_owning_orders(&mut h);
    h.join("m2", &["orders"], 100).ok();
    for version in 0..=1 {
        let request = ConsumerGroupDescribeRequest::default()
            .with_group_ids(vec![GroupId(sb(GROUP))])
            .with_include_authorized_operations(true);
        let ResponseKind::ConsumerGroupDescribe(response) = h.call(&request, version, 200) else {
            panic!()
        };
        let group = &response.groups[0];
        assert_eq!(group.error_code, NONE);
        assert_eq!(group.group_state.as_str(), "Reconciling");
        assert_eq!((group.group_epoch, group.assignment_epoch), (2, 2));
        assert_eq!(group.assignor_name.as_str(), "uniform");
        assert_eq!(
            group.authorized_operations,
            crate::authorized_operations::GROUP
        );
        let m1 = &group.members[0];
        assert_eq!(m1.member_id.as_str(), "m1");
        assert_eq!(m1.assignment.topic_partitions[0].partitions, [0, 1, 2, 3]);
        assert_eq!(
            m1.assignment.topic_partitions[0].topic_name.as_str(),
            "orders"
        );
        assert_eq!(m1.target_assignment.topic_partitions[0].partitions, [0, 1]);
        assert_eq!(m1.member_type, if version >= 1 { 1 } else { -1 });
    }
}

#[test]
fn describe_of_an_unknown_or_classic_group_is_group_id_not_found() {
    let mut h = Harness::new();
    h.classic_member("classic", 0);
    let request = ConsumerGroupDescribeRequest::default().with_group_ids(vec![
        GroupId(sb("nope")),
        GroupId(sb("classic")),
        GroupId(sb("")),
    ]);
    let ResponseKind::ConsumerGroupDescribe(response) = h.call(&request, 1, 100) else {
        panic!()
    };
    let codes: Vec<i16> = response.groups.iter().map(|g| g.error_code).collect();
    assert_eq!(
        codes,
        [
            error_code::GROUP_ID_NOT_FOUND,
            error_code::GROUP_ID_NOT_FOUND,
            error_code::INVALID_GROUP_ID
        ]
    );
    assert_eq!(
        response.groups[1].error_message.as_deref(),
        Some("Group classic is not a consumer group")
    );
}

#[test]
fn describe_groups_of_a_consumer_group_is_dead_or_group_id_not_found_from_v6() {
    let mut h = Harness::new();
    one_member_owning_orders(&mut h);
    for (version, code) in [(5, NONE), (6, error_code::GROUP_ID_NOT_FOUND)] {
        let request = DescribeGroupsRequest::default().with_groups(vec![GroupId(sb(GROUP))]);
        let ResponseKind::DescribeGroups(response) = h.call(&request, version, 100) else {
            panic!()
        };
        assert_eq!(response.groups[0].error_code, code);
        assert_eq!(response.groups[0].group_state.as_str(), "Dead");
    }
}

#[test]
fn list_groups_shows_both_types_and_filters_by_type() {
    let mut h = Harness::new();
    one_member_owning_orders(&mut h);
    h.classic_member("classic", 0);
    let list = |h: &mut Harness, types: &[&str]| {
        let request =
            ListGroupsRequest::default().with_types_filter(types.iter().map(|t| sb(t)).collect());
        let ResponseKind::ListGroups(response) = h.call(&request, 5, 100) else {
            panic!()
        };
        response
            .groups
            .iter()
            .map(|g| {
                (
                    g.group_id.to_string(),
                    g.group_type.to_string(),
                    g.protocol_type.to_string(),
                    g.group_state.to_string(),
                )
            })
            .collect::<Vec<_>>()
    };
    let all = list(&mut h, &[]);
    assert_eq!(all.len(), 2);
    assert_eq!(
        all[1],
        (
            "g".into(),
            "consumer".into(),
            "consumer".into(),
            "Stable".into()
        )
    );
    assert_eq!(all[0].1, "classic");
    assert_eq!(list(&mut h, &["Consumer"]).len(), 1);
    assert_eq!(list(&mut h, &["share"]).len(), 0);
}

#[test]
fn delete_groups_of_a_consumer_group_with_members_is_non_empty_group() {
    let mut h = Harness::new();
    one_member_owning_orders(&mut h);
    let request = DeleteGroupsRequest::default().with_groups_names(vec![GroupId(sb(GROUP))]);
    let ResponseKind::DeleteGroups(response) = h.call(&request, 2, 100) else {
        panic!()
    };
    assert_eq!(response.results[0].error_code, error_code::NON_EMPTY_GROUP);
    h.heartbeat(&leave("m1", -1), 200).ok();
    let ResponseKind::DeleteGroups(response) = h.call(&request, 2, 300) else {
        panic!()
    };
    assert_eq!(response.results[0].error_code, NONE);
    assert!(h.coordinator.consumer_group(GROUP).is_none());
}

// --- faults ----------------------------------------------------------------------------------

#[test]
fn a_fault_error_answers_both_apis_at_every_version_with_its_code() {
    let heartbeat = RequestKind::ConsumerGroupHeartbeat(join("m1", &["orders"]));
    let describe = RequestKind::ConsumerGroupDescribe(
        ConsumerGroupDescribeRequest::default().with_group_ids(vec![GroupId(sb(GROUP))]),
    );
    for version in 0..=1 {
        for (body, api_key) in [
            (&heartbeat, ApiKey::ConsumerGroupHeartbeat),
            (&describe, ApiKey::ConsumerGroupDescribe),
        ] {
            let response = crate::error_response(body, version, error_code::NOT_COORDINATOR)
                .expect("a fault error response");
            let frame = encode_response(api_key, version, 7, &response)
                .unwrap_or_else(|e| panic!("{api_key:?} v{version}: {e}"));
            let (_, decoded) = decode_response(api_key, version, frame.slice(4..)).unwrap();
            let code = match decoded {
                ResponseKind::ConsumerGroupHeartbeat(r) => r.error_code,
                ResponseKind::ConsumerGroupDescribe(r) => r.groups[0].error_code,
                other => panic!("{other:?}"),
            };
            assert_eq!(code, error_code::NOT_COORDINATOR, "{api_key:?} v{version}");
        }
    }
}
