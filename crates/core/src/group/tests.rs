//! Group coordinator tests with explicit time: one test per Kafka rule.
//!
//! Requests are encoded at their version and decoded again (so a test cannot send a field its
//! version lacks), then handed to [`GroupCoordinator::handle_with_catalog`] with a fixed topic table;
//! every response, immediate or completed later, is encoded at the request's version and decoded
//! again, so every test also checks that the coordinator only sets fields the version has.

use std::collections::BTreeMap;

use bytes::Bytes;
use kmock_wire::kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kmock_wire::kafka_protocol::messages::leave_group_request::MemberIdentity;
use kmock_wire::kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kmock_wire::kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kmock_wire::kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kmock_wire::kafka_protocol::messages::*;
use kmock_wire::kafka_protocol::protocol::{Request, StrBytes};
use kmock_wire::{decode_request, decode_response, encode_request, encode_response};

use super::*;
use crate::{BrokerTime, ConnectionId, ResponsePlan};

const NONE: i16 = error_code::NONE;
const ILLEGAL_GENERATION: i16 = error_code::ILLEGAL_GENERATION;
const INCONSISTENT_GROUP_PROTOCOL: i16 = error_code::INCONSISTENT_GROUP_PROTOCOL;
const UNKNOWN_MEMBER_ID: i16 = error_code::UNKNOWN_MEMBER_ID;
const REBALANCE_IN_PROGRESS: i16 = error_code::REBALANCE_IN_PROGRESS;
const MEMBER_ID_REQUIRED: i16 = error_code::MEMBER_ID_REQUIRED;

const SESSION_MS: i32 = 10_000;
const REBALANCE_MS: i32 = 30_000;

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

fn ms(ms: u64) -> BrokerTime {
    BrokerTime::from_millis(ms)
}

/// A fixed topic table.
#[derive(Default)]
struct Topics(BTreeMap<String, (i32, uuid::Uuid)>);

impl TopicCatalog for Topics {
    fn partition_count(&self, topic: &str) -> Option<i32> {
        self.0.get(topic).map(|(count, _)| *count)
    }
    fn topic_id(&self, topic: &str) -> Option<uuid::Uuid> {
        self.0.get(topic).map(|(_, id)| *id)
    }
    fn topic_name(&self, topic_id: uuid::Uuid) -> Option<String> {
        self.0
            .iter()
            .find(|(_, (_, id))| *id == topic_id)
            .map(|(name, _)| name.clone())
    }
}

/// Drives a coordinator with explicit time and collects every response by correlation id.
struct Harness {
    coordinator: GroupCoordinator,
    topics: Topics,
    next_correlation_id: i32,
    /// Responses not yet looked at, by correlation id.
    responses: BTreeMap<i32, ResponseKind>,
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
        topics
            .0
            .insert("orders".into(), (3, uuid::Uuid::from_u128(0x0123)));
        topics
            .0
            .insert("payments".into(), (1, uuid::Uuid::from_u128(0x0456)));
        Self {
            coordinator: GroupCoordinator::new(&config),
            topics,
            next_correlation_id: 1,
            responses: BTreeMap::new(),
        }
    }

    /// Sends a request (encoded and decoded at `version`) at `now_ms`; returns its correlation id.
    fn send<R: Request>(&mut self, request: &R, version: i16, client_id: &str, now_ms: u64) -> i32 {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id += 1;
        let frame = encode_request(request, version, correlation_id, Some(client_id))
            .expect("test request encodes at its version");
        let decoded = decode_request(frame.slice(4..)).expect("test request decodes");
        let token = ResponseToken {
            connection: ConnectionId(1),
            correlation_id,
            api_key: decoded.api_key,
            api_version: version,
            client_id: client_id.into(),
            seq: correlation_id as u64,
            plan: ResponsePlan::Send,
            node: 0,
        };
        let mut out = Vec::new();
        let reply = self.coordinator.handle_with_catalog(
            token.clone(),
            decoded.body,
            ms(now_ms),
            &self.topics,
            &mut out,
        );
        match reply {
            Reply::Now(response) => self.record(&token, response),
            Reply::Parked => {}
            other => panic!("unexpected reply {other:?}"),
        }
        self.record_all(out);
        correlation_id
    }

    fn record_all(&mut self, completions: Vec<Completion>) {
        for Completion { token, response } in completions {
            let crate::Response::Body(response) = response else {
                panic!("a group response encoded by its handler: {response:?}");
            };
            self.record(&token, response);
        }
    }

    /// Round-trips a response through the wire at its version and keeps the decoded one.
    fn record(&mut self, token: &ResponseToken, response: ResponseKind) {
        let frame = encode_response(
            token.api_key,
            token.api_version,
            token.correlation_id,
            &response,
        )
        .unwrap_or_else(|e| panic!("response to {token:?} does not encode: {e}"));
        let (correlation_id, decoded) =
            decode_response(token.api_key, token.api_version, frame.slice(4..))
                .expect("response decodes");
        assert!(
            self.responses.insert(correlation_id, decoded).is_none(),
            "two responses to correlation id {correlation_id}"
        );
    }

    fn tick(&mut self, now_ms: u64) {
        let mut out = Vec::new();
        self.coordinator
            .handle_timeout(ms(now_ms), &self.topics, &mut out);
        self.record_all(out);
    }

    fn answered(&self, correlation_id: i32) -> bool {
        self.responses.contains_key(&correlation_id)
    }

    fn take(&mut self, correlation_id: i32) -> ResponseKind {
        self.responses
            .remove(&correlation_id)
            .unwrap_or_else(|| panic!("no response to correlation id {correlation_id}"))
    }

    fn group(&self, group_id: &str) -> GroupSummary {
        self.coordinator.group(group_id).expect("group exists")
    }
}

macro_rules! response_as {
    ($harness:expr, $corr:expr, $kind:ident) => {
        match $harness.take($corr) {
            ResponseKind::$kind(response) => response,
            other => panic!("expected {}, got {other:?}", stringify!($kind)),
        }
    };
}

/// Consumer protocols: (assignor, metadata).
fn protocols(list: &[(&str, &[u8])]) -> Vec<JoinGroupRequestProtocol> {
    list.iter()
        .map(|(name, metadata)| {
            JoinGroupRequestProtocol::default()
                .with_name(sb(name))
                .with_metadata(Bytes::copy_from_slice(metadata))
        })
        .collect()
}

fn join_request(
    version: i16,
    group: &str,
    member_id: &str,
    list: &[(&str, &[u8])],
    session_ms: i32,
    rebalance_ms: i32,
) -> JoinGroupRequest {
    let request = JoinGroupRequest::default()
        .with_group_id(GroupId(sb(group)))
        .with_session_timeout_ms(session_ms)
        .with_member_id(sb(member_id))
        .with_protocol_type(sb("consumer"))
        .with_protocols(protocols(list));
    if version >= 1 {
        request.with_rebalance_timeout_ms(rebalance_ms)
    } else {
        request
    }
}

const RANGE: &[(&str, &[u8])] = &[("range", b"range-metadata")];

impl Harness {
    /// JoinGroup at `version` with default timeouts and the range protocol.
    fn join(
        &mut self,
        version: i16,
        group: &str,
        member_id: &str,
        client: &str,
        now_ms: u64,
    ) -> i32 {
        let request = join_request(version, group, member_id, RANGE, SESSION_MS, REBALANCE_MS);
        self.send(&request, version, client, now_ms)
    }

    /// A v5 join that goes through MEMBER_ID_REQUIRED; returns the correlation id of the parked
    /// second join and the member id.
    fn join_new(&mut self, group: &str, client: &str, now_ms: u64) -> (i32, String) {
        self.join_new_with(group, client, RANGE, REBALANCE_MS, now_ms)
    }

    fn join_new_with(
        &mut self,
        group: &str,
        client: &str,
        list: &[(&str, &[u8])],
        rebalance_ms: i32,
        now_ms: u64,
    ) -> (i32, String) {
        let request = join_request(5, group, "", list, SESSION_MS, rebalance_ms);
        let first = self.send(&request, 5, client, now_ms);
        let response = response_as!(self, first, JoinGroup);
        assert_eq!(response.error_code, MEMBER_ID_REQUIRED);
        let member_id = response.member_id.as_str().to_owned();
        let request = join_request(5, group, &member_id, list, SESSION_MS, rebalance_ms);
        (self.send(&request, 5, client, now_ms), member_id)
    }

    fn sync(
        &mut self,
        version: i16,
        group: &str,
        generation: i32,
        member_id: &str,
        assignments: &[(&str, &[u8])],
        now_ms: u64,
    ) -> i32 {
        let assignments = assignments
            .iter()
            .map(|(member, assignment)| {
                SyncGroupRequestAssignment::default()
                    .with_member_id(sb(member))
                    .with_assignment(Bytes::copy_from_slice(assignment))
            })
            .collect();
        let request = SyncGroupRequest::default()
            .with_group_id(GroupId(sb(group)))
            .with_generation_id(generation)
            .with_member_id(sb(member_id))
            .with_assignments(assignments);
        self.send(&request, version, "client", now_ms)
    }

    fn heartbeat(&mut self, group: &str, generation: i32, member_id: &str, now_ms: u64) -> i16 {
        let request = HeartbeatRequest::default()
            .with_group_id(GroupId(sb(group)))
            .with_generation_id(generation)
            .with_member_id(sb(member_id));
        let corr = self.send(&request, 4, "client", now_ms);
        response_as!(self, corr, Heartbeat).error_code
    }

    fn leave_v3(&mut self, group: &str, member_ids: &[&str], now_ms: u64) -> LeaveGroupResponse {
        let members = member_ids
            .iter()
            .map(|id| MemberIdentity::default().with_member_id(sb(id)))
            .collect();
        let request = LeaveGroupRequest::default()
            .with_group_id(GroupId(sb(group)))
            .with_members(members);
        let corr = self.send(&request, 3, "client", now_ms);
        response_as!(self, corr, LeaveGroup)
    }

    /// Brings `clients.len()` members into a Stable group (v5 joins, v3 syncs) at `now_ms`;
    /// returns the member ids in join order and the generation.
    fn stable_group(&mut self, group: &str, clients: &[&str], now_ms: u64) -> (Vec<String>, i32) {
        let mut joins = Vec::new();
        let mut member_ids = Vec::new();
        for client in clients {
            let (corr, member_id) = self.join_new(group, client, now_ms);
            joins.push(corr);
            member_ids.push(member_id);
            // With a zero initial delay the first member completes a generation alone; let every
            // member rejoin until all are in one generation.
            for (i, corr) in joins.clone().into_iter().enumerate() {
                if self.answered(corr) {
                    let response = response_as!(self, corr, JoinGroup);
                    assert_eq!(response.error_code, NONE);
                    joins[i] = self.join(5, group, &member_ids[i], clients[i], now_ms);
                }
            }
        }
        // Everyone has a parked join now, or the phase completed: collect the responses.
        let generation = self.group(group).generation_id;
        let leader = self.group(group).leader_id.expect("leader");
        for corr in joins {
            if self.answered(corr) {
                let response = response_as!(self, corr, JoinGroup);
                assert_eq!(response.error_code, NONE);
            }
        }
        let summary = self.group(group);
        assert_eq!(
            summary.state,
            GroupState::CompletingRebalance,
            "{summary:?}"
        );
        let assignments: Vec<(String, Vec<u8>)> = member_ids
            .iter()
            .map(|id| (id.clone(), format!("assignment-of-{id}").into_bytes()))
            .collect();
        let assignment_refs: Vec<(&str, &[u8])> = assignments
            .iter()
            .map(|(id, a)| (id.as_str(), a.as_slice()))
            .collect();
        let mut syncs = Vec::new();
        for id in &member_ids {
            let list: &[(&str, &[u8])] = if *id == leader { &assignment_refs } else { &[] };
            syncs.push(self.sync(3, group, generation, id, list, now_ms));
        }
        for corr in syncs {
            assert_eq!(response_as!(self, corr, SyncGroup).error_code, NONE);
        }
        assert_eq!(self.group(group).state, GroupState::Stable);
        (member_ids, generation)
    }
}

// ---------------------------------------------------------------------------------------------
// FindCoordinator

#[test]
fn find_coordinator_v0_to_v3_returns_this_broker() {
    for version in 0..=3 {
        let mut h = Harness::new();
        h.coordinator.set_advertised_address("broker.test", 19092);
        let mut request = FindCoordinatorRequest::default().with_key(sb("g"));
        if version >= 1 {
            request = request.with_key_type(1);
        }
        let corr = h.send(&request, version, "c", 0);
        let response = response_as!(h, corr, FindCoordinator);
        assert_eq!(response.error_code, NONE);
        assert_eq!(response.node_id, BrokerId(0));
        assert_eq!(response.host.as_str(), "broker.test");
        assert_eq!(response.port, 19092);
    }
}

#[test]
fn find_coordinator_v4_plus_answers_every_batched_key() {
    for version in 4..=6 {
        let mut h = Harness::new();
        let request = FindCoordinatorRequest::default()
            .with_coordinator_keys(vec![sb("a"), sb("b")])
            .with_key_type(0);
        let corr = h.send(&request, version, "c", 0);
        let response = response_as!(h, corr, FindCoordinator);
        let keys: Vec<&str> = response
            .coordinators
            .iter()
            .map(|c| c.key.as_str())
            .collect();
        assert_eq!(keys, ["a", "b"]);
        for c in &response.coordinators {
            assert_eq!((c.error_code, c.node_id, c.port), (NONE, BrokerId(0), 9092));
            assert_eq!(c.host.as_str(), "127.0.0.1");
        }
    }
}

#[test]
fn find_coordinator_unknown_key_type_is_invalid_request() {
    let mut h = Harness::new();
    let request = FindCoordinatorRequest::default()
        .with_key(sb("g"))
        .with_key_type(7);
    let corr = h.send(&request, 3, "c", 0);
    assert_eq!(
        response_as!(h, corr, FindCoordinator).error_code,
        error_code::INVALID_REQUEST
    );
}

// ---------------------------------------------------------------------------------------------
// JoinGroup validation

#[test]
fn join_v4_with_empty_member_id_gets_member_id_required() {
    for version in 4..=9 {
        let mut h = Harness::new();
        let corr = h.join(version, "g", "", "my-client", 0);
        let response = response_as!(h, corr, JoinGroup);
        assert_eq!(response.error_code, MEMBER_ID_REQUIRED);
        let member_id = response.member_id.as_str();
        assert!(member_id.starts_with("my-client-"), "{member_id}");
        assert_eq!(member_id.len(), "my-client-".len() + 36);
        let summary = h.group("g");
        assert_eq!(summary.pending_member_ids, [member_id.to_owned()]);
        assert!(summary.members.is_empty());
        assert_eq!(summary.state, GroupState::Empty);
    }
}

#[test]
fn join_v0_to_v3_with_empty_member_id_joins_directly() {
    for version in 0..=3 {
        let mut h = Harness::new();
        let corr = h.join(version, "g", "", "c", 0);
        let response = response_as!(h, corr, JoinGroup);
        assert_eq!(response.error_code, NONE, "v{version}");
        assert_eq!(response.generation_id, 1);
        assert_eq!(response.leader, response.member_id);
        assert_eq!(
            response.protocol_name.as_ref().map(|p| p.as_str()),
            Some("range")
        );
        assert_eq!(response.members.len(), 1);
    }
}

#[test]
fn join_with_empty_group_id_is_invalid_group_id() {
    let mut h = Harness::new();
    let corr = h.join(5, "", "", "c", 0);
    assert_eq!(
        response_as!(h, corr, JoinGroup).error_code,
        error_code::INVALID_GROUP_ID
    );
}

#[test]
fn session_timeout_below_min_is_invalid_session_timeout() {
    let mut h = Harness::new();
    let request = join_request(5, "g", "", RANGE, 5_999, REBALANCE_MS);
    let corr = h.send(&request, 5, "c", 0);
    assert_eq!(
        response_as!(h, corr, JoinGroup).error_code,
        error_code::INVALID_SESSION_TIMEOUT
    );
    let request = join_request(5, "g", "", RANGE, 6_000, REBALANCE_MS);
    let corr = h.send(&request, 5, "c", 0);
    assert_eq!(
        response_as!(h, corr, JoinGroup).error_code,
        MEMBER_ID_REQUIRED
    );
}

#[test]
fn session_timeout_above_max_is_invalid_session_timeout() {
    let mut h = Harness::with_config(BrokerConfig {
        group_max_session_timeout_ms: 20_000,
        ..config()
    });
    let request = join_request(5, "g", "", RANGE, 20_001, REBALANCE_MS);
    let corr = h.send(&request, 5, "c", 0);
    assert_eq!(
        response_as!(h, corr, JoinGroup).error_code,
        error_code::INVALID_SESSION_TIMEOUT
    );
}

#[test]
fn join_with_unknown_member_id_is_unknown_member_id() {
    let mut h = Harness::new();
    // Unknown group.
    let corr = h.join(5, "g", "ghost", "c", 0);
    assert_eq!(
        response_as!(h, corr, JoinGroup).error_code,
        UNKNOWN_MEMBER_ID
    );
    // Known group, unknown member.
    h.stable_group("g", &["a"], 0);
    let corr = h.join(5, "g", "ghost", "c", 0);
    assert_eq!(
        response_as!(h, corr, JoinGroup).error_code,
        UNKNOWN_MEMBER_ID
    );
}

#[test]
fn join_with_other_protocol_type_is_inconsistent_group_protocol() {
    let mut h = Harness::new();
    h.stable_group("g", &["a"], 0);
    let request =
        join_request(5, "g", "", RANGE, SESSION_MS, REBALANCE_MS).with_protocol_type(sb("connect"));
    let corr = h.send(&request, 5, "c", 0);
    assert_eq!(
        response_as!(h, corr, JoinGroup).error_code,
        INCONSISTENT_GROUP_PROTOCOL
    );
}

#[test]
fn join_without_a_common_protocol_is_inconsistent_group_protocol() {
    let mut h = Harness::new();
    h.stable_group("g", &["a"], 0);
    let request = join_request(5, "g", "", &[("sticky", b"s")], SESSION_MS, REBALANCE_MS);
    let corr = h.send(&request, 5, "c", 0);
    assert_eq!(
        response_as!(h, corr, JoinGroup).error_code,
        INCONSISTENT_GROUP_PROTOCOL
    );
    // An empty protocol list never joins an empty group either.
    let request = join_request(5, "other", "", &[], SESSION_MS, REBALANCE_MS);
    let corr = h.send(&request, 5, "c", 0);
    assert_eq!(
        response_as!(h, corr, JoinGroup).error_code,
        INCONSISTENT_GROUP_PROTOCOL
    );
    assert!(
        h.coordinator.group("other").is_none(),
        "a refused join creates no group"
    );
}

#[test]
fn join_beyond_group_max_size_is_group_max_size_reached() {
    let mut h = Harness::with_config(BrokerConfig {
        group_max_size: 2,
        ..config()
    });
    h.stable_group("g", &["a", "b"], 0);
    let corr = h.join(5, "g", "", "c", 0);
    assert_eq!(
        response_as!(h, corr, JoinGroup).error_code,
        error_code::GROUP_MAX_SIZE_REACHED
    );
}

// ---------------------------------------------------------------------------------------------
// Join phase

#[test]
fn first_join_waits_initial_rebalance_delay() {
    let mut h = Harness::with_config(BrokerConfig {
        group_initial_rebalance_delay_ms: 3_000,
        ..config()
    });
    let (corr, _) = h.join_new("g", "a", 0);
    assert!(!h.answered(corr));
    assert_eq!(h.group("g").state, GroupState::PreparingRebalance);
    assert_eq!(h.coordinator.next_deadline(), Some(ms(3_000)));
    h.tick(2_999);
    assert!(!h.answered(corr));
    h.tick(3_000);
    let response = response_as!(h, corr, JoinGroup);
    assert_eq!((response.error_code, response.generation_id), (NONE, 1));
}

#[test]
fn initial_delay_extends_while_new_members_arrive() {
    let mut h = Harness::with_config(BrokerConfig {
        group_initial_rebalance_delay_ms: 3_000,
        ..config()
    });
    let (a, _) = h.join_new("g", "a", 0);
    let (b, _) = h.join_new("g", "b", 1_000);
    h.tick(3_000);
    assert!(
        !h.answered(a),
        "a new member arrived: the delay is extended"
    );
    assert_eq!(h.coordinator.next_deadline(), Some(ms(6_000)));
    h.tick(6_000);
    let (a, b) = (response_as!(h, a, JoinGroup), response_as!(h, b, JoinGroup));
    assert_eq!((a.generation_id, b.generation_id), (1, 1));
    assert_eq!(a.leader, b.leader);
}

#[test]
fn zero_initial_delay_completes_the_first_join_at_once() {
    let mut h = Harness::new();
    let (corr, member_id) = h.join_new("g", "a", 0);
    let response = response_as!(h, corr, JoinGroup);
    assert_eq!(response.generation_id, 1);
    assert_eq!(response.leader.as_str(), member_id);
    assert_eq!(h.group("g").state, GroupState::CompletingRebalance);
}

#[test]
fn join_phase_completes_when_all_members_rejoin() {
    let mut h = Harness::new();
    let (members, generation) = h.stable_group("g", &["a", "b", "c"], 0);
    let ja = h.join(5, "g", &members[0], "a", 100);
    assert_eq!(h.group("g").state, GroupState::PreparingRebalance);
    let jb = h.join(5, "g", &members[1], "b", 200);
    assert!(!h.answered(ja) && !h.answered(jb));
    let jc = h.join(5, "g", &members[2], "c", 300);
    for corr in [ja, jb, jc] {
        let response = response_as!(h, corr, JoinGroup);
        assert_eq!(response.error_code, NONE);
        assert_eq!(response.generation_id, generation + 1);
    }
    assert_eq!(h.group("g").members.len(), 3);
}

#[test]
fn rebalance_timeout_is_max_over_members_and_evicts_non_rejoiners() {
    let mut h = Harness::new();
    // a: rebalance timeout 20 s, b: 40 s.
    let (ja, a) = h.join_new_with("g", "a", RANGE, 20_000, 0);
    let _ = response_as!(h, ja, JoinGroup);
    let (jb, b) = h.join_new_with("g", "b", RANGE, 40_000, 0);
    // b's join started a rebalance; a rejoins, then both are in generation 2.
    let request = join_request(5, "g", &a, RANGE, SESSION_MS, 20_000);
    let ja = h.send(&request, 5, "a", 0);
    let (ra, rb) = (
        response_as!(h, ja, JoinGroup),
        response_as!(h, jb, JoinGroup),
    );
    assert_eq!((ra.generation_id, rb.generation_id), (2, 2));
    let leader = ra.leader.as_str().to_owned();
    let assignments: [(&str, &[u8]); 2] = [(a.as_str(), b"x"), (b.as_str(), b"y")];
    let sa = h.sync(
        3,
        "g",
        2,
        &a,
        if leader == a { &assignments } else { &[] },
        0,
    );
    let sb_ = h.sync(
        3,
        "g",
        2,
        &b,
        if leader == b { &assignments } else { &[] },
        0,
    );
    let _ = (h.take(sa), h.take(sb_));
    // a rejoins at t=1 s; b never does. The phase lasts max(20 s, 40 s).
    let request = join_request(5, "g", &a, RANGE, 60_000, 20_000);
    let ja = h.send(&request, 5, "a", 1_000);
    // b keeps heartbeating (REBALANCE_IN_PROGRESS) so its session does not end first.
    for t in (5_000..=40_000).step_by(5_000) {
        assert_eq!(h.heartbeat("g", 2, &b, t), REBALANCE_IN_PROGRESS);
        h.tick(t);
    }
    assert!(!h.answered(ja));
    assert_eq!(h.coordinator.next_deadline(), Some(ms(41_000)));
    h.tick(41_000);
    let response = response_as!(h, ja, JoinGroup);
    assert_eq!((response.error_code, response.generation_id), (NONE, 3));
    let summary = h.group("g");
    let ids: Vec<&str> = summary
        .members
        .iter()
        .map(|m| m.member_id.as_str())
        .collect();
    assert_eq!(ids, [a.as_str()]);
    assert_eq!(summary.leader_id.as_deref(), Some(a.as_str()));
}

#[test]
fn v0_join_uses_session_timeout_as_rebalance_timeout() {
    let mut h = Harness::new();
    let ja = h.join(0, "g", "", "a", 0);
    let a = response_as!(h, ja, JoinGroup).member_id.as_str().to_owned();
    let sa = h.sync(0, "g", 1, &a, &[(a.as_str(), b"x")], 0);
    let _ = h.take(sa);
    let jb = h.join(0, "g", "", "b", 100);
    assert!(!h.answered(jb));
    // a never rejoins: the phase ends after a's session timeout (10 s) used as rebalance timeout.
    h.tick(100 + SESSION_MS as u64);
    let response = response_as!(h, jb, JoinGroup);
    assert_eq!(response.generation_id, 2);
    assert_eq!(h.group("g").members.len(), 1);
}

#[test]
fn leader_gets_all_member_metadata_followers_get_none() {
    let mut h = Harness::new();
    let (ja, a) = h.join_new_with("g", "a", &[("range", b"meta-a")], REBALANCE_MS, 0);
    let _ = response_as!(h, ja, JoinGroup);
    let (jb, b) = h.join_new_with("g", "b", &[("range", b"meta-b")], REBALANCE_MS, 0);
    let request = join_request(
        5,
        "g",
        &a,
        &[("range", b"meta-a")],
        SESSION_MS,
        REBALANCE_MS,
    );
    let ja = h.send(&request, 5, "a", 0);
    let (ra, rb) = (
        response_as!(h, ja, JoinGroup),
        response_as!(h, jb, JoinGroup),
    );
    assert_eq!(ra.leader.as_str(), a, "the first member stays leader");
    assert_eq!(rb.leader.as_str(), a);
    let listed: Vec<(&str, &[u8])> = ra
        .members
        .iter()
        .map(|m| (m.member_id.as_str(), m.metadata.as_ref()))
        .collect();
    assert_eq!(
        listed,
        [(a.as_str(), &b"meta-a"[..]), (b.as_str(), &b"meta-b"[..])]
    );
    assert!(rb.members.is_empty());
    assert_eq!(rb.member_id.as_str(), b);
}

#[test]
fn protocol_is_chosen_by_member_votes() {
    let mut h = Harness::new();
    let both: &[(&str, &[u8])] = &[("range", b"r"), ("roundrobin", b"rr")];
    let rr_first: &[(&str, &[u8])] = &[("roundrobin", b"rr"), ("range", b"r")];
    let (j1, m1) = h.join_new_with("g", "a", both, REBALANCE_MS, 0);
    let _ = h.take(j1);
    let (j2, _) = h.join_new_with("g", "b", rr_first, REBALANCE_MS, 0);
    let (j3, _) = h.join_new_with("g", "c", rr_first, REBALANCE_MS, 0);
    let request = join_request(5, "g", &m1, both, SESSION_MS, REBALANCE_MS);
    let j1 = h.send(&request, 5, "a", 0);
    for corr in [j1, j2, j3] {
        let response = response_as!(h, corr, JoinGroup);
        assert_eq!(
            response.protocol_name.as_ref().map(|p| p.as_str()),
            Some("roundrobin"),
            "two votes to one"
        );
    }
}

#[test]
fn stable_follower_rejoin_with_same_metadata_gets_current_generation() {
    let mut h = Harness::new();
    let (members, generation) = h.stable_group("g", &["a", "b"], 0);
    let corr = h.join(5, "g", &members[1], "b", 100);
    let response = response_as!(h, corr, JoinGroup);
    assert_eq!(
        (response.error_code, response.generation_id),
        (NONE, generation)
    );
    assert!(response.members.is_empty());
    assert_eq!(h.group("g").state, GroupState::Stable);
}

#[test]
fn stable_leader_rejoin_triggers_rebalance() {
    let mut h = Harness::new();
    let (members, _) = h.stable_group("g", &["a", "b"], 0);
    let corr = h.join(5, "g", &members[0], "a", 100);
    assert!(!h.answered(corr));
    assert_eq!(h.group("g").state, GroupState::PreparingRebalance);
}

#[test]
fn stable_follower_rejoin_with_new_metadata_triggers_rebalance() {
    let mut h = Harness::new();
    let (members, _) = h.stable_group("g", &["a", "b"], 0);
    let request = join_request(
        5,
        "g",
        &members[1],
        &[("range", b"new")],
        SESSION_MS,
        REBALANCE_MS,
    );
    let corr = h.send(&request, 5, "b", 100);
    assert!(!h.answered(corr));
    assert_eq!(h.group("g").state, GroupState::PreparingRebalance);
}

#[test]
fn completing_rebalance_rejoin_with_same_metadata_repeats_join_response() {
    let mut h = Harness::new();
    let (corr, a) = h.join_new("g", "a", 0);
    let first = response_as!(h, corr, JoinGroup);
    let corr = h.join(5, "g", &a, "a", 10);
    let again = response_as!(h, corr, JoinGroup);
    assert_eq!(again.generation_id, first.generation_id);
    assert_eq!(
        again.members.len(),
        1,
        "the leader gets the member list again"
    );
    assert_eq!(h.group("g").state, GroupState::CompletingRebalance);
}

// ---------------------------------------------------------------------------------------------
// SyncGroup

#[test]
fn follower_sync_parks_until_leader_assigns() {
    let mut h = Harness::new();
    let (ja, a) = h.join_new("g", "a", 0);
    let _ = h.take(ja);
    let (jb, b) = h.join_new("g", "b", 0);
    let ja = h.join(5, "g", &a, "a", 0);
    let (_, _) = (h.take(ja), h.take(jb));
    let sb_ = h.sync(3, "g", 2, &b, &[], 10);
    assert!(!h.answered(sb_), "the follower waits for the leader");
    assert_eq!(h.group("g").state, GroupState::CompletingRebalance);
    let sa = h.sync(3, "g", 2, &a, &[(a.as_str(), b"A"), (b.as_str(), b"B")], 20);
    assert_eq!(response_as!(h, sb_, SyncGroup).assignment.as_ref(), b"B");
    assert_eq!(response_as!(h, sa, SyncGroup).assignment.as_ref(), b"A");
    assert_eq!(h.group("g").state, GroupState::Stable);
}

#[test]
fn leader_assignment_omitting_a_member_gives_it_an_empty_assignment() {
    let mut h = Harness::new();
    let (ja, a) = h.join_new("g", "a", 0);
    let _ = h.take(ja);
    let (jb, b) = h.join_new("g", "b", 0);
    let ja = h.join(5, "g", &a, "a", 0);
    let (_, _) = (h.take(ja), h.take(jb));
    let sb_ = h.sync(3, "g", 2, &b, &[], 10);
    let sa = h.sync(3, "g", 2, &a, &[(a.as_str(), b"A"), ("stranger", b"S")], 20);
    assert!(response_as!(h, sb_, SyncGroup).assignment.is_empty());
    assert_eq!(response_as!(h, sa, SyncGroup).assignment.as_ref(), b"A");
}

#[test]
fn sync_in_stable_returns_stored_assignment() {
    let mut h = Harness::new();
    let (members, generation) = h.stable_group("g", &["a", "b"], 0);
    let corr = h.sync(3, "g", generation, &members[1], &[], 100);
    let expected = format!("assignment-of-{}", members[1]);
    assert_eq!(
        response_as!(h, corr, SyncGroup).assignment.as_ref(),
        expected.as_bytes()
    );
}

#[test]
fn sync_from_unknown_member_or_group_is_unknown_member_id() {
    let mut h = Harness::new();
    let corr = h.sync(3, "nope", 1, "ghost", &[], 0);
    assert_eq!(
        response_as!(h, corr, SyncGroup).error_code,
        UNKNOWN_MEMBER_ID
    );
    let (_, generation) = h.stable_group("g", &["a"], 0);
    let corr = h.sync(3, "g", generation, "ghost", &[], 0);
    assert_eq!(
        response_as!(h, corr, SyncGroup).error_code,
        UNKNOWN_MEMBER_ID
    );
}

#[test]
fn sync_with_wrong_generation_is_illegal_generation() {
    let mut h = Harness::new();
    let (members, generation) = h.stable_group("g", &["a"], 0);
    let corr = h.sync(3, "g", generation + 7, &members[0], &[], 0);
    assert_eq!(
        response_as!(h, corr, SyncGroup).error_code,
        ILLEGAL_GENERATION
    );
}

#[test]
fn sync_during_rebalance_is_rebalance_in_progress() {
    let mut h = Harness::new();
    let (members, generation) = h.stable_group("g", &["a", "b"], 0);
    let _ = h.join(5, "g", &members[0], "a", 10);
    let corr = h.sync(3, "g", generation, &members[1], &[], 20);
    assert_eq!(
        response_as!(h, corr, SyncGroup).error_code,
        REBALANCE_IN_PROGRESS
    );
}

#[test]
fn sync_v5_with_other_protocol_is_inconsistent_group_protocol() {
    let mut h = Harness::new();
    let (members, generation) = h.stable_group("g", &["a"], 0);
    let request = SyncGroupRequest::default()
        .with_group_id(GroupId(sb("g")))
        .with_generation_id(generation)
        .with_member_id(sb(&members[0]))
        .with_protocol_type(Some(sb("consumer")))
        .with_protocol_name(Some(sb("roundrobin")));
    let corr = h.send(&request, 5, "a", 0);
    assert_eq!(
        response_as!(h, corr, SyncGroup).error_code,
        INCONSISTENT_GROUP_PROTOCOL
    );
    let request = request.with_protocol_name(Some(sb("range")));
    let corr = h.send(&request, 5, "a", 0);
    let response = response_as!(h, corr, SyncGroup);
    assert_eq!(response.error_code, NONE);
    assert_eq!(
        response.protocol_type.as_ref().map(|p| p.as_str()),
        Some("consumer")
    );
    assert_eq!(
        response.protocol_name.as_ref().map(|p| p.as_str()),
        Some("range")
    );
}

#[test]
fn pending_sync_expiry_removes_unsynced_members_and_rebalances() {
    let mut h = Harness::new();
    let (ja, a) = h.join_new("g", "a", 0);
    let _ = h.take(ja);
    let (jb, b) = h.join_new("g", "b", 0);
    let ja = h.join(5, "g", &a, "a", 0);
    let (_, _) = (h.take(ja), h.take(jb));
    // The follower syncs and waits; the leader (a) keeps heartbeating but never syncs.
    let sb_ = h.sync(3, "g", 2, &b, &[], 10);
    for t in (5_000..REBALANCE_MS as u64).step_by(5_000) {
        assert_eq!(h.heartbeat("g", 2, &a, t), NONE);
        h.tick(t);
    }
    h.tick(REBALANCE_MS as u64 - 1);
    assert!(!h.answered(sb_));
    h.tick(REBALANCE_MS as u64);
    assert_eq!(
        response_as!(h, sb_, SyncGroup).error_code,
        REBALANCE_IN_PROGRESS
    );
    let summary = h.group("g");
    let ids: Vec<&str> = summary
        .members
        .iter()
        .map(|m| m.member_id.as_str())
        .collect();
    assert_eq!(ids, [b.as_str()]);
    assert_eq!(summary.state, GroupState::PreparingRebalance);
    // b rejoins and becomes the leader of generation 3.
    let jb = h.join(5, "g", &b, "b", REBALANCE_MS as u64 + 1);
    let response = response_as!(h, jb, JoinGroup);
    assert_eq!(
        (response.generation_id, response.leader.as_str()),
        (3, b.as_str())
    );
}

// ---------------------------------------------------------------------------------------------
// Sessions and heartbeats

#[test]
fn pending_member_expires_after_session_timeout() {
    let mut h = Harness::new();
    let corr = h.join(5, "g", "", "a", 0);
    let member_id = response_as!(h, corr, JoinGroup)
        .member_id
        .as_str()
        .to_owned();
    assert_eq!(h.coordinator.next_deadline(), Some(ms(SESSION_MS as u64)));
    h.tick(SESSION_MS as u64);
    assert!(h.group("g").pending_member_ids.is_empty());
    let corr = h.join(5, "g", &member_id, "a", SESSION_MS as u64 + 1);
    assert_eq!(
        response_as!(h, corr, JoinGroup).error_code,
        UNKNOWN_MEMBER_ID
    );
}

#[test]
fn pending_member_blocks_join_phase_until_it_rejoins_or_expires() {
    let mut h = Harness::new();
    let (members, _) = h.stable_group("g", &["a"], 0);
    // b got its id but has not come back; a rejoins: the phase waits for b.
    let corr = h.join(5, "g", "", "b", 100);
    let _pending = response_as!(h, corr, JoinGroup).member_id;
    let ja = h.join(5, "g", &members[0], "a", 200);
    assert!(!h.answered(ja));
    h.tick(100 + SESSION_MS as u64);
    let response = response_as!(h, ja, JoinGroup);
    assert_eq!(response.error_code, NONE);
}

#[test]
fn member_expires_after_session_timeout_and_group_rebalances() {
    let mut h = Harness::new();
    let (members, generation) = h.stable_group("g", &["a", "b"], 0);
    // a heartbeats, b goes silent.
    for t in (3_000..=9_000).step_by(3_000) {
        assert_eq!(h.heartbeat("g", generation, &members[0], t), NONE);
    }
    h.tick(SESSION_MS as u64 - 1);
    assert_eq!(h.group("g").members.len(), 2);
    h.tick(SESSION_MS as u64);
    let summary = h.group("g");
    assert_eq!(summary.members.len(), 1);
    assert_eq!(summary.members[0].member_id, members[0]);
    assert_eq!(summary.state, GroupState::PreparingRebalance);
    assert_eq!(
        h.heartbeat("g", generation, &members[0], SESSION_MS as u64 + 1),
        REBALANCE_IN_PROGRESS
    );
}

#[test]
fn last_member_session_expiry_empties_the_group() {
    let mut h = Harness::new();
    let (_, generation) = h.stable_group("g", &["a"], 0);
    h.tick(SESSION_MS as u64);
    let summary = h.group("g");
    assert_eq!(summary.state, GroupState::Empty);
    assert!(summary.members.is_empty());
    assert_eq!(summary.generation_id, generation + 1);
    assert_eq!(h.coordinator.next_deadline(), None);
}

#[test]
fn parked_join_keeps_the_member_alive() {
    let mut h = Harness::new();
    let (members, generation) = h.stable_group("g", &["a", "b"], 0);
    let ja = h.join(5, "g", &members[0], "a", 1_000);
    // b keeps heartbeating, a only waits in its parked join past its session timeout.
    for t in (3_000..=15_000).step_by(3_000) {
        let _ = h.heartbeat("g", generation, &members[1], t);
        h.tick(t);
    }
    assert!(!h.answered(ja));
    assert_eq!(h.group("g").members.len(), 2);
}

#[test]
fn heartbeat_unknown_member() {
    let mut h = Harness::new();
    assert_eq!(h.heartbeat("nope", 1, "ghost", 0), UNKNOWN_MEMBER_ID);
    let (_, generation) = h.stable_group("g", &["a"], 0);
    assert_eq!(h.heartbeat("g", generation, "ghost", 0), UNKNOWN_MEMBER_ID);
}

#[test]
fn heartbeat_illegal_generation() {
    let mut h = Harness::new();
    let (members, generation) = h.stable_group("g", &["a"], 0);
    assert_eq!(
        h.heartbeat("g", generation - 1, &members[0], 0),
        ILLEGAL_GENERATION
    );
}

#[test]
fn heartbeat_during_rebalance_gets_rebalance_in_progress() {
    let mut h = Harness::new();
    let (members, generation) = h.stable_group("g", &["a", "b"], 0);
    let _ = h.join(5, "g", &members[0], "a", 10);
    assert_eq!(
        h.heartbeat("g", generation, &members[1], 20),
        REBALANCE_IN_PROGRESS
    );
}

#[test]
fn heartbeat_during_completing_rebalance_is_ok() {
    let mut h = Harness::new();
    let (corr, member_id) = h.join_new("g", "a", 0);
    let _ = h.take(corr);
    assert_eq!(h.group("g").state, GroupState::CompletingRebalance);
    assert_eq!(h.heartbeat("g", 1, &member_id, 10), NONE);
}

#[test]
fn heartbeat_in_stable_is_ok_and_extends_the_session() {
    let mut h = Harness::new();
    let (members, generation) = h.stable_group("g", &["a"], 0);
    assert_eq!(h.heartbeat("g", generation, &members[0], 9_000), NONE);
    assert_eq!(
        h.coordinator.next_deadline(),
        Some(ms(9_000 + SESSION_MS as u64))
    );
    h.tick(SESSION_MS as u64);
    assert_eq!(h.group("g").members.len(), 1);
}

// ---------------------------------------------------------------------------------------------
// LeaveGroup

#[test]
fn leave_group_v0_to_v2_top_level_error() {
    for version in 0..=2 {
        let mut h = Harness::new();
        let (members, _) = h.stable_group("g", &["a"], 0);
        let request = LeaveGroupRequest::default()
            .with_group_id(GroupId(sb("g")))
            .with_member_id(sb("ghost"));
        let corr = h.send(&request, version, "a", 0);
        assert_eq!(
            response_as!(h, corr, LeaveGroup).error_code,
            UNKNOWN_MEMBER_ID
        );
        let request = request.with_member_id(sb(&members[0]));
        let corr = h.send(&request, version, "a", 0);
        assert_eq!(response_as!(h, corr, LeaveGroup).error_code, NONE);
    }
}

#[test]
fn leave_group_v3_batch_per_member_errors() {
    for version in 3..=5 {
        let mut h = Harness::new();
        let (members, _) = h.stable_group("g", &["a", "b"], 0);
        let identities = vec![
            MemberIdentity::default().with_member_id(sb(&members[0])),
            MemberIdentity::default().with_member_id(sb("ghost")),
        ];
        let request = LeaveGroupRequest::default()
            .with_group_id(GroupId(sb("g")))
            .with_members(identities);
        let corr = h.send(&request, version, "a", 0);
        let response = response_as!(h, corr, LeaveGroup);
        assert_eq!(response.error_code, NONE);
        let results: Vec<(&str, i16)> = response
            .members
            .iter()
            .map(|m| (m.member_id.as_str(), m.error_code))
            .collect();
        assert_eq!(
            results,
            [(members[0].as_str(), NONE), ("ghost", UNKNOWN_MEMBER_ID)]
        );
    }
}

#[test]
fn leave_group_unknown_group_per_member_unknown_member_id() {
    let mut h = Harness::new();
    let response = h.leave_v3("nope", &["x", "y"], 0);
    assert_eq!(response.error_code, NONE);
    assert!(
        response
            .members
            .iter()
            .all(|m| m.error_code == UNKNOWN_MEMBER_ID)
    );
    assert_eq!(response.members.len(), 2);
    let request = LeaveGroupRequest::default()
        .with_group_id(GroupId(sb("nope")))
        .with_member_id(sb("x"));
    let corr = h.send(&request, 1, "c", 0);
    assert_eq!(
        response_as!(h, corr, LeaveGroup).error_code,
        UNKNOWN_MEMBER_ID
    );
}

#[test]
fn leave_group_by_instance_id_with_other_member_id_is_fenced() {
    let mut h = Harness::new();
    let request = join_request(5, "g", "", RANGE, SESSION_MS, REBALANCE_MS)
        .with_group_instance_id(Some(sb("instance-1")));
    let corr = h.send(&request, 5, "a", 0);
    let member_id = response_as!(h, corr, JoinGroup)
        .member_id
        .as_str()
        .to_owned();
    let request = request.with_member_id(sb(&member_id));
    let corr = h.send(&request, 5, "a", 0);
    let _ = h.take(corr);
    let leave = |member: &str| {
        LeaveGroupRequest::default()
            .with_group_id(GroupId(sb("g")))
            .with_members(vec![
                MemberIdentity::default()
                    .with_member_id(sb(member))
                    .with_group_instance_id(Some(sb("instance-1"))),
            ])
    };
    let corr = h.send(&leave("someone-else"), 4, "a", 0);
    assert_eq!(
        response_as!(h, corr, LeaveGroup).members[0].error_code,
        error_code::FENCED_INSTANCE_ID
    );
    let corr = h.send(&leave(""), 4, "a", 0);
    assert_eq!(
        response_as!(h, corr, LeaveGroup).members[0].error_code,
        NONE
    );
    assert!(h.group("g").members.is_empty());
}

#[test]
fn leave_removes_member_immediately_and_triggers_rebalance() {
    let mut h = Harness::new();
    let (members, generation) = h.stable_group("g", &["a", "b"], 0);
    let response = h.leave_v3("g", &[&members[1]], 50);
    assert_eq!(response.members[0].error_code, NONE);
    let summary = h.group("g");
    let ids: Vec<&str> = summary
        .members
        .iter()
        .map(|m| m.member_id.as_str())
        .collect();
    assert_eq!(ids, [members[0].as_str()]);
    assert_eq!(summary.state, GroupState::PreparingRebalance);
    assert_eq!(
        h.heartbeat("g", generation, &members[0], 60),
        REBALANCE_IN_PROGRESS
    );
    let corr = h.join(5, "g", &members[0], "a", 70);
    assert_eq!(
        response_as!(h, corr, JoinGroup).generation_id,
        generation + 1
    );
}

#[test]
fn last_member_leaving_empties_the_group() {
    let mut h = Harness::new();
    let (members, generation) = h.stable_group("g", &["a"], 0);
    let _ = h.leave_v3("g", &[&members[0]], 10);
    let summary = h.group("g");
    assert_eq!(summary.state, GroupState::Empty);
    assert_eq!(summary.generation_id, generation + 1);
    assert_eq!(summary.leader_id, None);
}

#[test]
fn leave_completes_the_leavers_parked_join_with_unknown_member_id() {
    let mut h = Harness::new();
    let (members, _) = h.stable_group("g", &["a", "b"], 0);
    let ja = h.join(5, "g", &members[0], "a", 10);
    assert!(!h.answered(ja));
    let _ = h.leave_v3("g", &[&members[0]], 20);
    assert_eq!(response_as!(h, ja, JoinGroup).error_code, UNKNOWN_MEMBER_ID);
    // b is now the only member and leader; its rejoin completes the phase at once.
    let jb = h.join(5, "g", &members[1], "b", 30);
    assert_eq!(response_as!(h, jb, JoinGroup).leader.as_str(), members[1]);
}

#[test]
fn leave_of_a_pending_member_forgets_it() {
    let mut h = Harness::new();
    let corr = h.join(5, "g", "", "a", 0);
    let member_id = response_as!(h, corr, JoinGroup)
        .member_id
        .as_str()
        .to_owned();
    let response = h.leave_v3("g", &[&member_id], 10);
    assert_eq!(response.members[0].error_code, NONE);
    assert!(h.group("g").pending_member_ids.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Static membership (KIP-345)

fn static_join(member_id: &str, instance_id: &str, list: &[(&str, &[u8])]) -> JoinGroupRequest {
    join_request(5, "g", member_id, list, SESSION_MS, REBALANCE_MS)
        .with_group_instance_id(Some(sb(instance_id)))
}

impl Harness {
    /// A Stable group of static member `a` (leader, instance "i-a") and dynamic member `b`.
    fn static_group(&mut self) -> (String, String) {
        let ja = self.send(&static_join("", "i-a", RANGE), 5, "a", 0);
        let a = response_as!(self, ja, JoinGroup)
            .member_id
            .as_str()
            .to_owned();
        let (jb, b) = self.join_new("g", "b", 0);
        let ja = self.send(&static_join(&a, "i-a", RANGE), 5, "a", 0);
        let (ra, _) = (response_as!(self, ja, JoinGroup), self.take(jb));
        assert_eq!((ra.generation_id, ra.leader.as_str()), (2, a.as_str()));
        let sa = self.sync(3, "g", 2, &a, &[(a.as_str(), b"A"), (b.as_str(), b"B")], 0);
        let sb_ = self.sync(3, "g", 2, &b, &[], 0);
        let _ = (self.take(sa), self.take(sb_));
        assert_eq!(self.group("g").state, GroupState::Stable);
        (a, b)
    }
}

#[test]
fn static_member_joins_without_member_id_required() {
    let mut h = Harness::new();
    let corr = h.send(&static_join("", "i-a", RANGE), 5, "a", 0);
    let response = response_as!(h, corr, JoinGroup);
    assert_eq!((response.error_code, response.generation_id), (NONE, 1));
    let summary = h.group("g");
    assert_eq!(summary.members[0].group_instance_id.as_deref(), Some("i-a"));
}

#[test]
fn static_member_restart_replaces_old_member_without_rebalance() {
    let mut h = Harness::new();
    let (a, b) = h.static_group();
    let corr = h.send(&static_join("", "i-a", RANGE), 5, "a", 1_000);
    let response = response_as!(h, corr, JoinGroup);
    let new_a = response.member_id.as_str().to_owned();
    assert_eq!(response.error_code, NONE);
    assert_ne!(new_a, a);
    assert_eq!(response.generation_id, 2, "no rebalance");
    assert_eq!(
        response.leader.as_str(),
        a,
        "the previous leader id, so no reassignment runs"
    );
    let summary = h.group("g");
    assert_eq!(summary.state, GroupState::Stable);
    let ids: Vec<&str> = summary
        .members
        .iter()
        .map(|m| m.member_id.as_str())
        .collect();
    assert_eq!(ids, [new_a.as_str(), b.as_str()]);
    assert_eq!(summary.leader_id.as_deref(), Some(new_a.as_str()));
    let corr = h.sync(3, "g", 2, &new_a, &[], 1_000);
    assert_eq!(response_as!(h, corr, SyncGroup).assignment.as_ref(), b"A");
    // The old incarnation is fenced when it names the instance, unknown otherwise.
    let heartbeat = HeartbeatRequest::default()
        .with_group_id(GroupId(sb("g")))
        .with_generation_id(2)
        .with_member_id(sb(&a))
        .with_group_instance_id(Some(sb("i-a")));
    let corr = h.send(&heartbeat, 3, "a", 1_000);
    assert_eq!(
        response_as!(h, corr, Heartbeat).error_code,
        error_code::FENCED_INSTANCE_ID
    );
    assert_eq!(h.heartbeat("g", 2, &a, 1_000), UNKNOWN_MEMBER_ID);
}

#[test]
fn static_member_restart_with_other_protocols_rebalances() {
    let mut h = Harness::new();
    let (_, b) = h.static_group();
    let both: &[(&str, &[u8])] = &[("roundrobin", b"rr"), ("range", b"r")];
    let corr = h.send(&static_join("", "i-a", both), 5, "a", 1_000);
    // The leader now prefers roundrobin, b only knows range: still range, so no rebalance.
    assert_eq!(response_as!(h, corr, JoinGroup).generation_id, 2);
    // b leaves (a rebalance); the restarted a completes it alone, now with roundrobin.
    let _ = h.leave_v3("g", &[&b], 2_000);
    let corr = h.send(&static_join("", "i-a", both), 5, "a", 3_000);
    let response = response_as!(h, corr, JoinGroup);
    assert_eq!(
        response.protocol_name.as_ref().map(|p| p.as_str()),
        Some("roundrobin")
    );
}

#[test]
fn static_member_with_fenced_instance_id_is_rejected_everywhere() {
    let mut h = Harness::new();
    let (a, _) = h.static_group();
    let corr = h.send(&static_join("impostor", "i-a", RANGE), 5, "x", 0);
    assert_eq!(
        response_as!(h, corr, JoinGroup).error_code,
        error_code::FENCED_INSTANCE_ID
    );
    let sync = SyncGroupRequest::default()
        .with_group_id(GroupId(sb("g")))
        .with_generation_id(2)
        .with_member_id(sb("impostor"))
        .with_group_instance_id(Some(sb("i-a")));
    let corr = h.send(&sync, 3, "x", 0);
    assert_eq!(
        response_as!(h, corr, SyncGroup).error_code,
        error_code::FENCED_INSTANCE_ID
    );
    let commit = commit_request("g", 2, "impostor", &[("orders", 0, 1)])
        .with_group_instance_id(Some(sb("i-a")));
    let corr = h.send(&commit, 7, "x", 0);
    assert_eq!(
        response_as!(h, corr, OffsetCommit).topics[0].partitions[0].error_code,
        error_code::FENCED_INSTANCE_ID
    );
    let commit = commit.with_member_id(sb(&a));
    let corr = h.send(&commit, 7, "a", 0);
    assert_eq!(
        response_as!(h, corr, OffsetCommit).topics[0].partitions[0].error_code,
        NONE
    );
}

// ---------------------------------------------------------------------------------------------
// Metadata and assignments pass through

#[test]
fn assignment_metadata_passed_through_untouched() {
    // Real consumer protocol bytes (version, topics, user data) for two assignors; kmock must not
    // parse or change them.
    let range_meta: &[u8] = &[
        0, 1, 0, 0, 0, 1, 0, 6, b'o', b'r', b'd', b'e', b'r', b's', 0xff, 0xff, 0xff, 0xff,
    ];
    let rr_meta: &[u8] = &[0, 3, 0, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0];
    let list: &[(&str, &[u8])] = &[("range", range_meta), ("roundrobin", rr_meta)];
    for (preferred, expected) in [("range", range_meta), ("roundrobin", rr_meta)] {
        let mut h = Harness::new();
        let ordered: Vec<(&str, &[u8])> = if preferred == "range" {
            list.to_vec()
        } else {
            list.iter().rev().copied().collect()
        };
        let (corr, member_id) = h.join_new_with("g", "a", &ordered, REBALANCE_MS, 0);
        let response = response_as!(h, corr, JoinGroup);
        assert_eq!(
            response.protocol_name.as_ref().map(|p| p.as_str()),
            Some(preferred)
        );
        assert_eq!(response.members[0].metadata.as_ref(), expected);
        let assignment: &[u8] = &[
            0, 1, 0, 0, 0, 1, 0, 6, b'o', b'r', b'd', b'e', b'r', b's', 0, 0, 0, 1, 0, 0, 0, 2, 0,
            0, 0, 0,
        ];
        let corr = h.sync(
            5,
            "g",
            1,
            &member_id,
            &[(member_id.as_str(), assignment)],
            0,
        );
        assert_eq!(
            response_as!(h, corr, SyncGroup).assignment.as_ref(),
            assignment
        );
        let describe = DescribeGroupsRequest::default().with_groups(vec![GroupId(sb("g"))]);
        let corr = h.send(&describe, 5, "a", 0);
        let described = response_as!(h, corr, DescribeGroups);
        let member = &described.groups[0].members[0];
        assert_eq!(member.member_metadata.as_ref(), expected);
        assert_eq!(member.member_assignment.as_ref(), assignment);
        assert_eq!(described.groups[0].protocol_data.as_str(), preferred);
    }
}

// ---------------------------------------------------------------------------------------------
// OffsetCommit

fn commit_request(
    group: &str,
    generation: i32,
    member_id: &str,
    offsets: &[(&str, i32, i64)],
) -> OffsetCommitRequest {
    let mut topics: Vec<OffsetCommitRequestTopic> = Vec::new();
    for (topic, partition, offset) in offsets {
        let partition = OffsetCommitRequestPartition::default()
            .with_partition_index(*partition)
            .with_committed_offset(*offset)
            .with_committed_metadata(Some(sb("meta")));
        match topics.iter_mut().find(|t| t.name.0.as_str() == *topic) {
            Some(t) => t.partitions.push(partition),
            None => topics.push(
                OffsetCommitRequestTopic::default()
                    .with_name(TopicName(sb(topic)))
                    .with_partitions(vec![partition]),
            ),
        }
    }
    OffsetCommitRequest::default()
        .with_group_id(GroupId(sb(group)))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(sb(member_id))
        .with_topics(topics)
}

impl Harness {
    fn commit(
        &mut self,
        version: i16,
        group: &str,
        generation: i32,
        member_id: &str,
        offsets: &[(&str, i32, i64)],
        now_ms: u64,
    ) -> Vec<(String, i32, i16)> {
        let request = commit_request(group, generation, member_id, offsets);
        let corr = self.send(&request, version, "c", now_ms);
        response_as!(self, corr, OffsetCommit)
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions.iter().map(|p| {
                    (
                        t.name.0.as_str().to_owned(),
                        p.partition_index,
                        p.error_code,
                    )
                })
            })
            .collect()
    }
}

fn codes(results: &[(String, i32, i16)]) -> Vec<i16> {
    results.iter().map(|(_, _, code)| *code).collect()
}

#[test]
fn offset_commit_simple_commit_creates_an_empty_group() {
    for version in 2..=9 {
        let mut h = Harness::new();
        let results = h.commit(
            version,
            "g",
            -1,
            "",
            &[("orders", 0, 42), ("orders", 2, 7)],
            0,
        );
        assert_eq!(codes(&results), [NONE, NONE], "v{version}");
        assert_eq!(h.coordinator.committed_offset("g", "orders", 0), Some(42));
        assert_eq!(h.coordinator.committed_offset("g", "orders", 2), Some(7));
        assert_eq!(h.group("g").state, GroupState::Empty);
    }
}

#[test]
fn offset_commit_unknown_topic_or_partition() {
    let mut h = Harness::new();
    let results = h.commit(
        8,
        "g",
        -1,
        "",
        &[("orders", 3, 1), ("nope", 0, 1), ("payments", 0, 5)],
        0,
    );
    assert_eq!(
        codes(&results),
        [
            error_code::UNKNOWN_TOPIC_OR_PARTITION,
            error_code::UNKNOWN_TOPIC_OR_PARTITION,
            NONE
        ]
    );
    assert_eq!(h.coordinator.committed_offset("g", "orders", 3), None);
}

#[test]
fn offset_commit_with_too_large_metadata_is_rejected() {
    let mut h = Harness::new();
    let request = OffsetCommitRequest::default()
        .with_group_id(GroupId(sb("g")))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![
            OffsetCommitRequestTopic::default()
                .with_name(TopicName(sb("orders")))
                .with_partitions(vec![
                    OffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(1)
                        .with_committed_metadata(Some(sb(
                            &"x".repeat(MAX_OFFSET_METADATA_BYTES + 1)
                        ))),
                ]),
        ]);
    let corr = h.send(&request, 8, "c", 0);
    assert_eq!(
        response_as!(h, corr, OffsetCommit).topics[0].partitions[0].error_code,
        error_code::OFFSET_METADATA_TOO_LARGE
    );
}

#[test]
fn offset_commit_by_stable_member_is_stored() {
    let mut h = Harness::new();
    let (members, generation) = h.stable_group("g", &["a"], 0);
    let results = h.commit(
        8,
        "g",
        generation,
        &members[0],
        &[("orders", 1, 100)],
        5_000,
    );
    assert_eq!(codes(&results), [NONE]);
    assert_eq!(h.coordinator.committed_offset("g", "orders", 1), Some(100));
    // The commit counts as a heartbeat.
    assert_eq!(
        h.coordinator.next_deadline(),
        Some(ms(5_000 + SESSION_MS as u64))
    );
}

#[test]
fn offset_commit_unknown_member_is_unknown_member_id() {
    let mut h = Harness::new();
    let (_, generation) = h.stable_group("g", &["a"], 0);
    let results = h.commit(8, "g", generation, "ghost", &[("orders", 0, 1)], 0);
    assert_eq!(codes(&results), [UNKNOWN_MEMBER_ID]);
    // generation < 0 on a group with members is not a simple commit.
    let results = h.commit(8, "g", -1, "", &[("orders", 0, 1)], 0);
    assert_eq!(codes(&results), [UNKNOWN_MEMBER_ID]);
}

#[test]
fn offset_commit_wrong_generation_is_illegal_generation() {
    let mut h = Harness::new();
    let (members, generation) = h.stable_group("g", &["a"], 0);
    let results = h.commit(8, "g", generation + 1, &members[0], &[("orders", 0, 1)], 0);
    assert_eq!(codes(&results), [ILLEGAL_GENERATION]);
    // Unknown group with a generation: a commit from a gone generation.
    let results = h.commit(8, "nope", 3, "m", &[("orders", 0, 1)], 0);
    assert_eq!(codes(&results), [ILLEGAL_GENERATION]);
    assert!(h.coordinator.group("nope").is_none());
}

#[test]
fn offset_commit_during_completing_rebalance_is_rebalance_in_progress() {
    let mut h = Harness::new();
    let (corr, member_id) = h.join_new("g", "a", 0);
    let _ = h.take(corr);
    let results = h.commit(8, "g", 1, &member_id, &[("orders", 0, 1)], 0);
    assert_eq!(codes(&results), [REBALANCE_IN_PROGRESS]);
}

#[test]
fn offset_commit_during_preparing_rebalance_is_accepted() {
    let mut h = Harness::new();
    let (members, generation) = h.stable_group("g", &["a", "b"], 0);
    let _ = h.join(5, "g", &members[0], "a", 10);
    let results = h.commit(8, "g", generation, &members[1], &[("orders", 0, 9)], 20);
    assert_eq!(codes(&results), [NONE]);
}

// ---------------------------------------------------------------------------------------------
// OffsetFetch

/// (topic, partition, offset, metadata, error code) of one fetched partition.
type FetchRow = (String, i32, i64, String, i16);

impl Harness {
    /// OffsetFetch v1–7 for one group: (topic, partition, offset, metadata, code) and top-level code.
    fn fetch_single(
        &mut self,
        version: i16,
        group: &str,
        topics: Option<&[(&str, &[i32])]>,
    ) -> (Vec<FetchRow>, i16) {
        let topics = topics.map(|topics| {
            topics
                .iter()
                .map(|(name, partitions)| {
                    OffsetFetchRequestTopic::default()
                        .with_name(TopicName(sb(name)))
                        .with_partition_indexes(partitions.to_vec())
                })
                .collect()
        });
        let request = OffsetFetchRequest::default()
            .with_group_id(GroupId(sb(group)))
            .with_topics(topics);
        let corr = self.send(&request, version, "c", 0);
        let response = response_as!(self, corr, OffsetFetch);
        let rows = response
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions.iter().map(|p| {
                    (
                        t.name.0.as_str().to_owned(),
                        p.partition_index,
                        p.committed_offset,
                        p.metadata
                            .as_ref()
                            .map(|m| m.as_str().to_owned())
                            .unwrap_or_default(),
                        p.error_code,
                    )
                })
            })
            .collect();
        (rows, response.error_code)
    }
}

#[test]
fn offset_fetch_returns_committed_and_minus_one_for_absent() {
    for version in 1..=7 {
        let mut h = Harness::new();
        h.commit(2, "g", -1, "", &[("orders", 0, 42)], 0);
        let (rows, top) = h.fetch_single(version, "g", Some(&[("orders", &[0, 1])]));
        assert_eq!(top, NONE);
        assert_eq!(
            rows,
            [
                ("orders".to_owned(), 0, 42, "meta".to_owned(), NONE),
                ("orders".to_owned(), 1, -1, String::new(), NONE),
            ],
            "v{version}"
        );
    }
}

#[test]
fn offset_fetch_null_topics_returns_all_committed_partitions() {
    let mut h = Harness::new();
    h.commit(
        8,
        "g",
        -1,
        "",
        &[("payments", 0, 5), ("orders", 2, 7), ("orders", 0, 1)],
        0,
    );
    let (rows, _) = h.fetch_single(7, "g", None);
    let keys: Vec<(&str, i32, i64)> = rows.iter().map(|r| (r.0.as_str(), r.1, r.2)).collect();
    assert_eq!(
        keys,
        [("orders", 0, 1), ("orders", 2, 7), ("payments", 0, 5)]
    );
}

#[test]
fn offset_fetch_unknown_group_gives_minus_one_without_error() {
    let mut h = Harness::new();
    let (rows, top) = h.fetch_single(5, "nope", Some(&[("orders", &[0])]));
    assert_eq!(top, NONE);
    assert_eq!(rows, [("orders".to_owned(), 0, -1, String::new(), NONE)]);
    let (rows, _) = h.fetch_single(5, "nope", None);
    assert!(rows.is_empty());
}

#[test]
fn offset_fetch_v8_plus_answers_each_batched_group() {
    for version in 8..=9 {
        let mut h = Harness::new();
        h.commit(8, "g1", -1, "", &[("orders", 0, 11)], 0);
        h.commit(8, "g2", -1, "", &[("orders", 0, 22), ("payments", 0, 3)], 0);
        let request = OffsetFetchRequest::default().with_groups(vec![
            OffsetFetchRequestGroup::default()
                .with_group_id(GroupId(sb("g1")))
                .with_topics(Some(vec![
                    OffsetFetchRequestTopics::default()
                        .with_name(TopicName(sb("orders")))
                        .with_partition_indexes(vec![0]),
                ])),
            OffsetFetchRequestGroup::default()
                .with_group_id(GroupId(sb("g2")))
                .with_topics(None),
            OffsetFetchRequestGroup::default()
                .with_group_id(GroupId(sb("g3")))
                .with_topics(None),
        ]);
        let corr = h.send(&request, version, "c", 0);
        let response = response_as!(h, corr, OffsetFetch);
        let rows: Vec<(&str, &str, i64)> = response
            .groups
            .iter()
            .flat_map(|g| {
                g.topics.iter().flat_map(move |t| {
                    t.partitions.iter().map(move |p| {
                        (g.group_id.0.as_str(), t.name.0.as_str(), p.committed_offset)
                    })
                })
            })
            .collect();
        assert_eq!(
            rows,
            [
                ("g1", "orders", 11),
                ("g2", "orders", 22),
                ("g2", "payments", 3)
            ]
        );
        assert_eq!(response.groups.len(), 3);
        assert!(response.groups.iter().all(|g| g.error_code == NONE));
    }
}

// ---------------------------------------------------------------------------------------------
// DescribeGroups and ListGroups

#[test]
fn describe_groups_shows_state_protocol_and_members() {
    for version in 0..=6 {
        let mut h = Harness::new();
        let (members, _) = h.stable_group("g", &["a", "b"], 0);
        let request = DescribeGroupsRequest::default().with_groups(vec![GroupId(sb("g"))]);
        let corr = h.send(&request, version, "c", 0);
        let response = response_as!(h, corr, DescribeGroups);
        let group = &response.groups[0];
        assert_eq!(group.error_code, NONE);
        assert_eq!(group.group_state.as_str(), "Stable");
        assert_eq!(group.protocol_type.as_str(), "consumer");
        assert_eq!(group.protocol_data.as_str(), "range");
        let ids: Vec<&str> = group.members.iter().map(|m| m.member_id.as_str()).collect();
        assert_eq!(ids, [members[0].as_str(), members[1].as_str()]);
        assert_eq!(group.members[0].client_id.as_str(), "a");
        assert_eq!(group.members[0].client_host.as_str(), "/127.0.0.1");
        assert_eq!(group.members[0].member_metadata.as_ref(), b"range-metadata");
        if version >= 3 {
            assert_eq!(group.authorized_operations, i32::MIN);
        }
    }
}

#[test]
fn describe_groups_hides_metadata_outside_stable() {
    let mut h = Harness::new();
    let (members, _) = h.stable_group("g", &["a", "b"], 0);
    let _ = h.join(5, "g", &members[0], "a", 10);
    let request = DescribeGroupsRequest::default().with_groups(vec![GroupId(sb("g"))]);
    let corr = h.send(&request, 5, "c", 0);
    let response = response_as!(h, corr, DescribeGroups);
    let group = &response.groups[0];
    assert_eq!(group.group_state.as_str(), "PreparingRebalance");
    assert_eq!(group.protocol_data.as_str(), "");
    assert!(group.members.iter().all(|m| m.member_metadata.is_empty()));
}

#[test]
fn describe_unknown_group_is_dead_before_v6_and_group_id_not_found_from_v6() {
    let mut h = Harness::new();
    let request = DescribeGroupsRequest::default().with_groups(vec![GroupId(sb("nope"))]);
    let corr = h.send(&request, 5, "c", 0);
    let group = response_as!(h, corr, DescribeGroups).groups.remove(0);
    assert_eq!(
        (group.error_code, group.group_state.as_str()),
        (NONE, "Dead")
    );
    let corr = h.send(&request, 6, "c", 0);
    let group = response_as!(h, corr, DescribeGroups).groups.remove(0);
    assert_eq!(group.error_code, error_code::GROUP_ID_NOT_FOUND);
}

#[test]
fn list_groups_lists_every_group_with_state_and_type_filters() {
    let mut h = Harness::new();
    h.stable_group("stable", &["a"], 0);
    h.commit(8, "offsets-only", -1, "", &[("orders", 0, 1)], 0);
    for version in 0..=5 {
        let corr = h.send(&ListGroupsRequest::default(), version, "c", 0);
        let response = response_as!(h, corr, ListGroups);
        let listed: Vec<(&str, &str)> = response
            .groups
            .iter()
            .map(|g| (g.group_id.0.as_str(), g.protocol_type.as_str()))
            .collect();
        assert_eq!(listed, [("offsets-only", ""), ("stable", "consumer")]);
        if version >= 4 {
            assert_eq!(response.groups[1].group_state.as_str(), "Stable");
        }
        if version >= 5 {
            assert_eq!(response.groups[1].group_type.as_str(), "classic");
        }
    }
    let request = ListGroupsRequest::default().with_states_filter(vec![sb("empty")]);
    let corr = h.send(&request, 4, "c", 0);
    let listed: Vec<String> = response_as!(h, corr, ListGroups)
        .groups
        .iter()
        .map(|g| g.group_id.0.as_str().to_owned())
        .collect();
    assert_eq!(listed, ["offsets-only"]);
    let request = ListGroupsRequest::default().with_types_filter(vec![sb("consumer")]);
    let corr = h.send(&request, 5, "c", 0);
    assert!(response_as!(h, corr, ListGroups).groups.is_empty());
    let request = ListGroupsRequest::default().with_types_filter(vec![sb("Classic")]);
    let corr = h.send(&request, 5, "c", 0);
    assert_eq!(response_as!(h, corr, ListGroups).groups.len(), 2);
}

// ---------------------------------------------------------------------------------------------
// Versions, determinism, timers, fault responses

#[test]
fn every_join_and_sync_version_encodes_a_full_rebalance() {
    for join_version in 0..=9 {
        for sync_version in 0..=5 {
            let mut h = Harness::new();
            let first = h.join(join_version, "g", "", "a", 0);
            let mut response = response_as!(h, first, JoinGroup);
            if response.error_code == MEMBER_ID_REQUIRED {
                let member_id = response.member_id.as_str().to_owned();
                let corr = h.join(join_version, "g", &member_id, "a", 0);
                response = response_as!(h, corr, JoinGroup);
            }
            assert_eq!(response.error_code, NONE);
            let member_id = response.member_id.as_str().to_owned();
            let corr = h.sync(
                sync_version,
                "g",
                1,
                &member_id,
                &[(member_id.as_str(), b"x")],
                0,
            );
            assert_eq!(response_as!(h, corr, SyncGroup).assignment.as_ref(), b"x");
            for version in 0..=4 {
                let request = HeartbeatRequest::default()
                    .with_group_id(GroupId(sb("g")))
                    .with_generation_id(1)
                    .with_member_id(sb(&member_id));
                let corr = h.send(&request, version, "a", 0);
                assert_eq!(response_as!(h, corr, Heartbeat).error_code, NONE);
            }
        }
    }
}

#[test]
fn error_responses_encode_at_every_version_with_the_code_everywhere() {
    const CODE: i16 = error_code::COORDINATOR_NOT_AVAILABLE;
    let requests: Vec<(RequestKind, ApiKey)> = vec![
        (
            RequestKind::FindCoordinator(
                FindCoordinatorRequest::default().with_coordinator_keys(vec![sb("g")]),
            ),
            ApiKey::FindCoordinator,
        ),
        (
            RequestKind::JoinGroup(join_request(5, "g", "m", RANGE, SESSION_MS, REBALANCE_MS)),
            ApiKey::JoinGroup,
        ),
        (
            RequestKind::SyncGroup(SyncGroupRequest::default()),
            ApiKey::SyncGroup,
        ),
        (
            RequestKind::Heartbeat(HeartbeatRequest::default()),
            ApiKey::Heartbeat,
        ),
        (
            RequestKind::LeaveGroup(
                LeaveGroupRequest::default()
                    .with_member_id(sb("m"))
                    .with_members(vec![MemberIdentity::default().with_member_id(sb("m"))]),
            ),
            ApiKey::LeaveGroup,
        ),
        (
            RequestKind::OffsetCommit(commit_request("g", 1, "m", &[("orders", 0, 1)])),
            ApiKey::OffsetCommit,
        ),
        (
            RequestKind::OffsetFetch(
                OffsetFetchRequest::default()
                    .with_topics(Some(vec![
                        OffsetFetchRequestTopic::default()
                            .with_name(TopicName(sb("orders")))
                            .with_partition_indexes(vec![0]),
                    ]))
                    .with_groups(vec![
                        OffsetFetchRequestGroup::default()
                            .with_group_id(GroupId(sb("g")))
                            .with_topics(Some(vec![
                                OffsetFetchRequestTopics::default()
                                    .with_name(TopicName(sb("orders")))
                                    .with_partition_indexes(vec![0]),
                            ])),
                    ]),
            ),
            ApiKey::OffsetFetch,
        ),
        (
            RequestKind::DescribeGroups(
                DescribeGroupsRequest::default().with_groups(vec![GroupId(sb("g"))]),
            ),
            ApiKey::DescribeGroups,
        ),
        (
            RequestKind::ListGroups(ListGroupsRequest::default()),
            ApiKey::ListGroups,
        ),
    ];
    for (request, api_key) in &requests {
        let range = api_key.valid_versions();
        for version in range.min..=range.max {
            let response = error_response(request, version, CODE).expect("a group API");
            let frame = encode_response(*api_key, version, 1, &response)
                .unwrap_or_else(|e| panic!("{api_key:?} v{version}: {e}"));
            let (_, decoded) = decode_response(*api_key, version, frame.slice(4..)).unwrap();
            let codes = error_codes(&decoded);
            assert!(
                !codes.is_empty(),
                "{api_key:?} v{version} carries no error code"
            );
            assert!(
                codes.iter().all(|c| *c == CODE),
                "{api_key:?} v{version}: {codes:?}"
            );
        }
    }
    assert!(
        error_response(
            &RequestKind::ApiVersions(ApiVersionsRequest::default()),
            0,
            CODE
        )
        .is_none()
    );
}

/// Every error code a client reads in a response.
fn error_codes(response: &ResponseKind) -> Vec<i16> {
    match response {
        ResponseKind::FindCoordinator(r) if r.coordinators.is_empty() => vec![r.error_code],
        ResponseKind::FindCoordinator(r) => r.coordinators.iter().map(|c| c.error_code).collect(),
        ResponseKind::JoinGroup(r) => vec![r.error_code],
        ResponseKind::SyncGroup(r) => vec![r.error_code],
        ResponseKind::Heartbeat(r) => vec![r.error_code],
        ResponseKind::LeaveGroup(r) => std::iter::once(r.error_code)
            .chain(r.members.iter().map(|m| m.error_code))
            .collect(),
        ResponseKind::OffsetCommit(r) => r
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
            .collect(),
        ResponseKind::OffsetFetch(r) if !r.groups.is_empty() => r
            .groups
            .iter()
            .flat_map(|g| {
                std::iter::once(g.error_code).chain(
                    g.topics
                        .iter()
                        .flat_map(|t| t.partitions.iter().map(|p| p.error_code)),
                )
            })
            .collect(),
        ResponseKind::OffsetFetch(r) => r
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| p.error_code))
            .collect(),
        ResponseKind::DescribeGroups(r) => r.groups.iter().map(|g| g.error_code).collect(),
        ResponseKind::ListGroups(r) => vec![r.error_code],
        other => panic!("not a group response: {other:?}"),
    }
}

#[test]
fn spurious_timeout_is_a_no_op() {
    let mut h = Harness::with_config(BrokerConfig {
        group_initial_rebalance_delay_ms: 3_000,
        ..config()
    });
    let (corr, _) = h.join_new("g", "a", 0);
    let before = h.group("g");
    h.tick(1_000);
    h.tick(1_000);
    assert!(!h.answered(corr));
    assert_eq!(h.group("g"), before);
    assert_eq!(h.coordinator.next_deadline(), Some(ms(3_000)));
}

#[test]
fn member_ids_are_deterministic_per_seed() {
    let ids = |seed: u64| {
        let mut h = Harness::with_config(BrokerConfig { seed, ..config() });
        (0..3)
            .map(|_| {
                let corr = h.join(5, "g", "", "c", 0);
                response_as!(h, corr, JoinGroup)
                    .member_id
                    .as_str()
                    .to_owned()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(7), ids(7));
    assert_ne!(ids(7), ids(8));
    let distinct: std::collections::BTreeSet<_> = ids(7).into_iter().collect();
    assert_eq!(distinct.len(), 3);
}

#[test]
fn a_second_parked_join_releases_the_first() {
    let mut h = Harness::new();
    let (members, _) = h.stable_group("g", &["a", "b"], 0);
    let first = h.join(5, "g", &members[0], "a", 10);
    let second = h.join(5, "g", &members[0], "a", 20);
    assert_eq!(
        response_as!(h, first, JoinGroup).error_code,
        REBALANCE_IN_PROGRESS
    );
    assert!(!h.answered(second));
}

// ---------------------------------------------------------------------------------------------
// Through the broker core: frames in, frames out.

#[test]
fn broker_core_runs_a_group_through_frames() {
    use crate::{BrokerCore, Output};

    fn roundtrip<R: Request>(
        core: &mut BrokerCore,
        request: &R,
        version: i16,
        correlation_id: i32,
        now: BrokerTime,
    ) -> Option<ResponseKind> {
        let frame = encode_request(request, version, correlation_id, Some("client")).unwrap();
        core.handle_frame(ConnectionId(correlation_id as u64), frame.slice(4..), now);
        next_response(core, R::KEY, version)
    }

    fn next_response(core: &mut BrokerCore, key: i16, version: i16) -> Option<ResponseKind> {
        match core.poll_output()? {
            Output::Send { frame, .. } => {
                let api_key = ApiKey::try_from(key).unwrap();
                Some(
                    decode_response(api_key, version, frame.slice(4..))
                        .unwrap()
                        .1,
                )
            }
            other => panic!("unexpected output {other:?}"),
        }
    }

    let mut core = BrokerCore::new(config());
    let find = FindCoordinatorRequest::default().with_key(sb("g"));
    let Some(ResponseKind::FindCoordinator(found)) = roundtrip(&mut core, &find, 3, 1, ms(0))
    else {
        panic!("expected FindCoordinator");
    };
    assert_eq!(found.port, 9092);
    let join = join_request(5, "g", "", RANGE, SESSION_MS, REBALANCE_MS);
    let Some(ResponseKind::JoinGroup(joined)) = roundtrip(&mut core, &join, 5, 2, ms(0)) else {
        panic!("expected JoinGroup");
    };
    assert_eq!(joined.error_code, MEMBER_ID_REQUIRED);
    let member_id = joined.member_id.as_str().to_owned();
    let join = join.with_member_id(sb(&member_id));
    let Some(ResponseKind::JoinGroup(joined)) = roundtrip(&mut core, &join, 5, 3, ms(0)) else {
        panic!("expected JoinGroup");
    };
    assert_eq!((joined.error_code, joined.generation_id), (NONE, 1));
    let sync = SyncGroupRequest::default()
        .with_group_id(GroupId(sb("g")))
        .with_generation_id(1)
        .with_member_id(sb(&member_id))
        .with_assignments(vec![
            SyncGroupRequestAssignment::default()
                .with_member_id(sb(&member_id))
                .with_assignment(Bytes::from_static(b"all")),
        ]);
    let Some(ResponseKind::SyncGroup(synced)) = roundtrip(&mut core, &sync, 5, 4, ms(1)) else {
        panic!("expected SyncGroup");
    };
    assert_eq!(synced.assignment.as_ref(), b"all");
    let leave = LeaveGroupRequest::default()
        .with_group_id(GroupId(sb("g")))
        .with_members(vec![
            MemberIdentity::default().with_member_id(sb(&member_id)),
        ]);
    let Some(ResponseKind::LeaveGroup(left)) = roundtrip(&mut core, &leave, 5, 5, ms(2)) else {
        panic!("expected LeaveGroup");
    };
    assert_eq!(left.members[0].error_code, NONE);
    assert_eq!(core.groups().group("g").unwrap().state, GroupState::Empty);
    assert_eq!(core.poll_timeout(), None);
}

// ---------------------------------------------------------------------------------------------
// Properties: whatever peers send, in any order, the coordinator never panics, answers every
// request exactly once (eventually, as time passes), only encodes valid responses, and keeps its
// state consistent.

mod properties {
    use proptest::prelude::*;

    use super::*;

    /// Clients in the generated runs.
    const CLIENTS: usize = 4;

    #[derive(Debug, Clone)]
    enum Op {
        Join {
            client: usize,
            version: i16,
            known_member: bool,
            protocol_set: usize,
            session_ms: i32,
            rebalance_ms: i32,
            static_member: bool,
        },
        Sync {
            client: usize,
            version: i16,
            generation_skew: i32,
            assign: bool,
        },
        Heartbeat {
            client: usize,
            generation_skew: i32,
        },
        Leave {
            client: usize,
            version: i16,
        },
        Commit {
            client: usize,
            generation_skew: i32,
            partition: i32,
        },
        Fetch {
            version: i16,
        },
        Describe {
            version: i16,
        },
        List {
            version: i16,
        },
        Advance {
            ms: u64,
        },
        /// The next step a well-behaved consumer would take (join, sync, heartbeat, rejoin).
        Behave {
            client: usize,
        },
    }

    /// Where a well-behaved client is in the protocol.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Phase {
        NeedJoin,
        NeedSync,
        Synced,
    }

    /// Mostly the right generation, sometimes one off.
    fn skew() -> impl Strategy<Value = i32> {
        prop_oneof![8 => Just(0), 1 => Just(-1), 1 => Just(1)]
    }

    fn op() -> impl Strategy<Value = Op> {
        let client = 0..CLIENTS;
        prop_oneof![
            4 => (
                client.clone(),
                0i16..=9,
                prop::bool::weighted(0.8),
                prop_oneof![6 => Just(0usize), 3 => Just(1), 1 => Just(2)],
                prop::sample::select(vec![5_000, 6_000, 10_000, 20_000]),
                prop::sample::select(vec![0, 1_000, 15_000, 30_000]),
                prop::bool::weighted(0.3),
            )
                .prop_map(
                    |(client, version, known_member, protocol_set, session_ms, rebalance_ms, static_member)| {
                        Op::Join {
                            client,
                            version,
                            known_member,
                            protocol_set,
                            session_ms,
                            rebalance_ms,
                            static_member,
                        }
                    }
                ),
            4 => (client.clone(), 0i16..=5, skew(), prop::bool::weighted(0.8)).prop_map(
                |(client, version, generation_skew, assign)| Op::Sync {
                    client,
                    version,
                    generation_skew,
                    assign,
                }
            ),
            3 => (client.clone(), skew()).prop_map(|(client, generation_skew)| Op::Heartbeat {
                client,
                generation_skew
            }),
            1 => (client.clone(), 0i16..=5).prop_map(|(client, version)| Op::Leave { client, version }),
            1 => (client, skew(), 0i32..4).prop_map(|(client, generation_skew, partition)| {
                Op::Commit {
                    client,
                    generation_skew,
                    partition,
                }
            }),
            1 => (1i16..=9).prop_map(|version| Op::Fetch { version }),
            1 => (0i16..=6).prop_map(|version| Op::Describe { version }),
            1 => (0i16..=5).prop_map(|version| Op::List { version }),
            3 => prop_oneof![3 => 0u64..3_000, 1 => 0u64..40_000].prop_map(|ms| Op::Advance { ms }),
            12 => (0..CLIENTS).prop_map(|client| Op::Behave { client }),
        ]
    }

    const PROTOCOL_SETS: [&[(&str, &[u8])]; 3] = [
        &[("range", b"r")],
        &[("roundrobin", b"rr"), ("range", b"r")],
        &[("sticky", b"s")],
    ];

    struct Run {
        h: Harness,
        now_ms: u64,
        /// Every correlation id sent.
        sent: Vec<i32>,
        /// Join correlation ids not yet read back, with their client.
        joins: Vec<(i32, usize)>,
        member_ids: [String; CLIENTS],
        generations: [i32; CLIENTS],
        /// Sync and heartbeat correlation ids not yet read back, with their client.
        others: Vec<(i32, usize)>,
        phases: [Phase; CLIENTS],
        leaders: [bool; CLIENTS],
    }

    impl Run {
        fn learn(&mut self) {
            let joins = std::mem::take(&mut self.joins);
            for (corr, client) in joins {
                match self.h.responses.get(&corr) {
                    Some(ResponseKind::JoinGroup(response)) => {
                        self.phases[client] = Phase::NeedJoin;
                        if response.error_code == NONE {
                            self.phases[client] = Phase::NeedSync;
                            self.leaders[client] = response.leader == response.member_id;
                        }
                        if response.error_code == NONE || response.error_code == MEMBER_ID_REQUIRED
                        {
                            self.member_ids[client] = response.member_id.as_str().to_owned();
                            self.generations[client] = response.generation_id;
                        } else if response.error_code == UNKNOWN_MEMBER_ID {
                            self.member_ids[client].clear();
                        }
                    }
                    Some(other) => panic!("join answered with {other:?}"),
                    None => self.joins.push((corr, client)),
                }
            }
            let others = std::mem::take(&mut self.others);
            for (corr, client) in others {
                let code = match self.h.responses.get(&corr) {
                    Some(ResponseKind::SyncGroup(response)) => {
                        if response.error_code == NONE {
                            self.phases[client] = Phase::Synced;
                        }
                        response.error_code
                    }
                    Some(ResponseKind::Heartbeat(response)) => response.error_code,
                    Some(other) => panic!("unexpected {other:?}"),
                    None => {
                        self.others.push((corr, client));
                        continue;
                    }
                };
                if code == UNKNOWN_MEMBER_ID {
                    self.member_ids[client].clear();
                }
                if code != NONE {
                    self.phases[client] = Phase::NeedJoin;
                }
            }
        }

        fn busy(&self, client: usize) -> bool {
            self.joins
                .iter()
                .chain(&self.others)
                .any(|(_, c)| *c == client)
        }

        /// The next request of a well-behaved client, if it is not waiting for one.
        fn behave(&mut self, client: usize) -> Option<i32> {
            if self.busy(client) {
                return None;
            }
            let now = self.now_ms;
            let member_id = self.member_ids[client].clone();
            let generation = self.generations[client];
            let corr = match self.phases[client] {
                Phase::NeedJoin => {
                    let request = join_request(5, "g", &member_id, RANGE, SESSION_MS, REBALANCE_MS);
                    let corr = self.h.send(&request, 5, &format!("client-{client}"), now);
                    self.joins.push((corr, client));
                    return Some(corr);
                }
                Phase::NeedSync => {
                    let member_ids = self.member_ids.clone();
                    let assignments: Vec<(&str, &[u8])> = if self.leaders[client] {
                        member_ids
                            .iter()
                            .map(|id| (id.as_str(), &b"a"[..]))
                            .collect()
                    } else {
                        Vec::new()
                    };
                    self.h
                        .sync(3, "g", generation, &member_id, &assignments, now)
                }
                Phase::Synced => {
                    let request = HeartbeatRequest::default()
                        .with_group_id(GroupId(sb("g")))
                        .with_generation_id(generation)
                        .with_member_id(sb(&member_id));
                    self.h.send(&request, 4, "c", now)
                }
            };
            self.others.push((corr, client));
            Some(corr)
        }

        fn apply(&mut self, op: &Op) {
            let now = self.now_ms;
            let corr = match op.clone() {
                Op::Join {
                    client,
                    version,
                    known_member,
                    protocol_set,
                    session_ms,
                    rebalance_ms,
                    static_member,
                } => {
                    let member_id = if known_member {
                        self.member_ids[client].clone()
                    } else {
                        String::new()
                    };
                    let request = join_request(
                        version,
                        "g",
                        &member_id,
                        PROTOCOL_SETS[protocol_set],
                        session_ms,
                        rebalance_ms,
                    );
                    let request = if static_member && version >= 5 {
                        request.with_group_instance_id(Some(sb(&format!("instance-{client}"))))
                    } else {
                        request
                    };
                    let corr = self
                        .h
                        .send(&request, version, &format!("client-{client}"), now);
                    self.joins.push((corr, client));
                    corr
                }
                Op::Sync {
                    client,
                    version,
                    generation_skew,
                    assign,
                } => {
                    let member_ids = self.member_ids.clone();
                    let assignments: Vec<(&str, &[u8])> = if assign {
                        member_ids
                            .iter()
                            .map(|id| (id.as_str(), &b"a"[..]))
                            .collect()
                    } else {
                        Vec::new()
                    };
                    self.h.sync(
                        version,
                        "g",
                        self.generations[client] + generation_skew,
                        &member_ids[client],
                        &assignments,
                        now,
                    )
                }
                Op::Heartbeat {
                    client,
                    generation_skew,
                } => {
                    let request = HeartbeatRequest::default()
                        .with_group_id(GroupId(sb("g")))
                        .with_generation_id(self.generations[client] + generation_skew)
                        .with_member_id(sb(&self.member_ids[client]));
                    self.h.send(&request, 4, "c", now)
                }
                Op::Leave { client, version } => {
                    let request = LeaveGroupRequest::default().with_group_id(GroupId(sb("g")));
                    let request = if version >= 3 {
                        request.with_members(vec![
                            MemberIdentity::default().with_member_id(sb(&self.member_ids[client])),
                        ])
                    } else {
                        request.with_member_id(sb(&self.member_ids[client]))
                    };
                    self.h.send(&request, version, "c", now)
                }
                Op::Commit {
                    client,
                    generation_skew,
                    partition,
                } => {
                    let request = commit_request(
                        "g",
                        self.generations[client] + generation_skew,
                        &self.member_ids[client],
                        &[("orders", partition, 5)],
                    );
                    self.h.send(&request, 8, "c", now)
                }
                Op::Fetch { version } => {
                    let request = if version >= 8 {
                        OffsetFetchRequest::default().with_groups(vec![
                            OffsetFetchRequestGroup::default()
                                .with_group_id(GroupId(sb("g")))
                                .with_topics(None),
                        ])
                    } else {
                        OffsetFetchRequest::default()
                            .with_group_id(GroupId(sb("g")))
                            .with_topics(Some(vec![
                                OffsetFetchRequestTopic::default()
                                    .with_name(TopicName(sb("orders")))
                                    .with_partition_indexes(vec![0, 1]),
                            ]))
                    };
                    self.h.send(&request, version, "c", now)
                }
                Op::Describe { version } => {
                    let request =
                        DescribeGroupsRequest::default().with_groups(vec![GroupId(sb("g"))]);
                    self.h.send(&request, version, "c", now)
                }
                Op::List { version } => {
                    self.h
                        .send(&ListGroupsRequest::default(), version, "c", now)
                }
                Op::Behave { client } => match self.behave(client) {
                    Some(corr) => corr,
                    None => return,
                },
                Op::Advance { ms } => {
                    self.now_ms += ms;
                    self.fire_due();
                    self.learn();
                    return;
                }
            };
            self.sent.push(corr);
            // The driver wakes the core at once for deadlines that are already due.
            self.fire_due();
            self.learn();
        }

        /// Calls handle_timeout while a deadline is due (a few rounds at most: a zero rebalance
        /// timeout may chain deadlines at the same instant).
        fn fire_due(&mut self) {
            for _ in 0..8 {
                match self.h.coordinator.next_deadline() {
                    Some(deadline) if deadline <= ms(self.now_ms) => self.h.tick(self.now_ms),
                    _ => return,
                }
            }
            panic!("deadlines keep coming due at {} ms", self.now_ms);
        }

        fn check_invariants(&self) {
            let Some(group) = self.h.coordinator.group("g") else {
                return;
            };
            let ids: Vec<&str> = group.members.iter().map(|m| m.member_id.as_str()).collect();
            match group.state {
                GroupState::Empty => {
                    assert!(group.members.is_empty(), "{group:?}");
                    assert_eq!(group.leader_id, None, "{group:?}");
                }
                GroupState::PreparingRebalance => {}
                GroupState::CompletingRebalance | GroupState::Stable => {
                    assert!(!group.members.is_empty(), "{group:?}");
                    assert!(group.protocol_name.is_some(), "{group:?}");
                    assert!(group.members.iter().all(|m| !m.awaiting_join), "{group:?}");
                }
                GroupState::Dead => panic!("kmock never kills a group"),
            }
            if group.state == GroupState::Stable {
                assert!(group.members.iter().all(|m| !m.awaiting_sync), "{group:?}");
            }
            if let Some(leader) = &group.leader_id {
                assert!(
                    ids.contains(&leader.as_str()),
                    "leader not a member: {group:?}"
                );
            } else {
                assert!(group.members.is_empty(), "{group:?}");
            }
            if let Some(deadline) = self.h.coordinator.next_deadline() {
                assert!(deadline > ms(self.now_ms), "a due deadline was not fired");
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

        #[test]
        fn any_request_sequence_is_answered_once_and_keeps_the_group_consistent(
            ops in prop::collection::vec(op(), 1..120),
            initial_delay_ms in prop::sample::select(vec![0, 3_000]),
            seed in 0u64..4,
        ) {
            let first = play(&ops, initial_delay_ms, seed)?;
            // Same seed, same requests, same times: the same responses, byte for byte.
            let second = play(&ops, initial_delay_ms, seed)?;
            prop_assert!(first == second, "a replay with the same seed differs");
        }
    }

    /// Plays `ops`, lets time run out, checks the properties; returns every response.
    fn play(
        ops: &[Op],
        initial_delay_ms: i32,
        seed: u64,
    ) -> Result<BTreeMap<i32, ResponseKind>, TestCaseError> {
        let mut run = Run {
            h: Harness::with_config(BrokerConfig {
                group_initial_rebalance_delay_ms: initial_delay_ms,
                seed,
                ..config()
            }),
            now_ms: 0,
            sent: Vec::new(),
            joins: Vec::new(),
            member_ids: Default::default(),
            generations: [0; CLIENTS],
            others: Vec::new(),
            phases: [Phase::NeedJoin; CLIENTS],
            leaders: [false; CLIENTS],
        };
        for op in ops {
            run.apply(op);
            run.check_invariants();
        }
        // Let time run: every parked request is answered by some deadline.
        for _ in 0..100 {
            let Some(deadline) = run.h.coordinator.next_deadline() else {
                break;
            };
            run.now_ms = u64::try_from(deadline.since_start().as_millis()).unwrap();
            run.fire_due();
            run.check_invariants();
        }
        for corr in &run.sent {
            prop_assert!(run.h.answered(*corr), "request {} never answered", corr);
        }
        prop_assert_eq!(run.h.coordinator.next_deadline(), None);
        Ok(run.h.responses)
    }
}

#[test]
fn broker_core_completes_parked_joins_at_group_deadlines() {
    use crate::{BrokerCore, Output};

    let mut core = BrokerCore::new(BrokerConfig {
        group_initial_rebalance_delay_ms: 3_000,
        ..config()
    });
    let send =
        |core: &mut BrokerCore, connection: u64, request: &JoinGroupRequest, now: BrokerTime| {
            let frame = encode_request(request, 3, connection as i32, Some("client")).unwrap();
            core.handle_frame(ConnectionId(connection), frame.slice(4..), now);
        };
    let join = join_request(3, "g", "", RANGE, SESSION_MS, REBALANCE_MS);
    send(&mut core, 1, &join, ms(0));
    send(&mut core, 2, &join, ms(1_000));
    assert_eq!(core.poll_output(), None, "both joins are parked");
    assert_eq!(core.poll_timeout(), Some(ms(3_000)));
    core.handle_timeout(ms(3_000));
    assert_eq!(
        core.poll_output(),
        None,
        "a member arrived during the delay: extended"
    );
    assert_eq!(core.poll_timeout(), Some(ms(6_000)));
    core.handle_timeout(ms(6_000));
    let mut leaders = Vec::new();
    for expected in [1, 2] {
        let Some(Output::Send { connection, frame }) = core.poll_output() else {
            panic!("expected a join response");
        };
        assert_eq!(connection, ConnectionId(expected));
        let (correlation_id, ResponseKind::JoinGroup(response)) =
            decode_response(ApiKey::JoinGroup, 3, frame.slice(4..)).unwrap()
        else {
            panic!("expected JoinGroup");
        };
        assert_eq!(correlation_id, expected as i32);
        assert_eq!((response.error_code, response.generation_id), (NONE, 1));
        leaders.push(response.leader);
    }
    assert_eq!(leaders[0], leaders[1]);
    // Nobody syncs or heartbeats: both sessions end (before the pending sync would) and the
    // group is empty again.
    assert_eq!(core.poll_timeout(), Some(ms(6_000 + SESSION_MS as u64)));
    core.handle_timeout(ms(6_000 + SESSION_MS as u64));
    let group = core.groups().group("g").unwrap();
    assert!(group.members.is_empty());
    assert_eq!(group.state, GroupState::Empty);
    assert_eq!(core.poll_timeout(), None);
}

mod admin;
