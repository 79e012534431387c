//! [`BrokerCore::reset`] with explicit time: every request in flight is answered or its connection
//! closed, idle connections stay, and the state is fresh afterwards.

use std::collections::BTreeMap;

use kmock_wire::kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, GroupId, ListGroupsRequest, MetadataRequest, ResponseKind,
    SyncGroupRequest,
};
use kmock_wire::kafka_protocol::protocol::{Request, StrBytes};
use kmock_wire::{decode_response, encode_request, error_code};

use crate::{BrokerConfig, BrokerCore, BrokerTime, ConnectionId, Output, ResetReport};

#[path = "../../../broker/tests/support/parked.rs"]
mod parked;

use parked::{FETCH_VERSION, JOIN_GROUP_VERSION as JOIN_VERSION};

const SYNC_VERSION: i16 = 3;

fn join_request(member_id: &str) -> kmock_wire::kafka_protocol::messages::JoinGroupRequest {
    parked::join_group("orders", member_id)
}

fn long_poll_fetch() -> kmock_wire::kafka_protocol::messages::FetchRequest {
    parked::long_poll_fetch("events", 60_000)
}

/// A core with a 30 s initial rebalance delay, so a first JoinGroup parks.
fn core_with_initial_delay(delay_ms: i32) -> BrokerCore {
    let mut core = BrokerCore::new(BrokerConfig {
        group_initial_rebalance_delay_ms: delay_ms,
        ..BrokerConfig::default()
    });
    core.create_topic("events", 1).expect("a valid topic");
    core
}

/// Sends `request` on `connection` (opened here) with `correlation_id` and client id `client`.
fn send<R: Request>(
    core: &mut BrokerCore,
    connection: u64,
    request: &R,
    version: i16,
    client: &str,
    correlation_id: i32,
) {
    let frame = encode_request(request, version, correlation_id, Some(client)).unwrap();
    core.connection_opened(ConnectionId(connection));
    core.handle_frame(ConnectionId(connection), frame.slice(4..), BrokerTime::ZERO);
}

/// What the driver would do next, per connection: decoded responses, or the close.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // a few per test, matched at once
enum Outcome {
    Answered(ResponseKind),
    Closed,
}

/// Drains the outputs; responses are decoded as `api_key` at `version` of their connection.
fn outcomes(core: &mut BrokerCore, apis: &BTreeMap<u64, (ApiKey, i16)>) -> BTreeMap<u64, Outcome> {
    let mut outcomes = BTreeMap::new();
    while let Some(output) = core.poll_output() {
        let (connection, outcome) = match output {
            Output::Send { connection, frame } => {
                let (api_key, version) = apis[&connection.0];
                let (_, response) = decode_response(api_key, version, frame.slice(4..)).unwrap();
                (connection, Outcome::Answered(response))
            }
            Output::Close { connection, .. } => (connection, Outcome::Closed),
            Output::Ready { connection } => panic!("unexpected Ready for {connection}"),
        };
        let previous = outcomes.insert(connection.0, outcome);
        assert!(previous.is_none(), "two outcomes for conn-{}", connection.0);
    }
    outcomes
}

fn add_fault(core: &mut BrokerCore, spec: &str) {
    core.add_fault(spec.parse().expect("a valid fault spec"));
}

#[test]
fn reset_answers_or_closes_every_request_in_flight_and_leaves_idle_connections_alone() {
    let mut core = core_with_initial_delay(30_000);
    add_fault(&mut core, "api_versions:delay=60s");
    add_fault(&mut core, "metadata:drop");
    add_fault(&mut core, "list_groups:hold=60s");
    add_fault(&mut core, "fetch,client=closer:close=after");
    let api_versions = ApiVersionsRequest::default();
    let apis = BTreeMap::from([
        (1, (ApiKey::JoinGroup, JOIN_VERSION)),
        (2, (ApiKey::Fetch, FETCH_VERSION)),
        (3, (ApiKey::ApiVersions, 0)),
        (4, (ApiKey::Metadata, 1)),
        (5, (ApiKey::ListGroups, 0)),
        (6, (ApiKey::Fetch, FETCH_VERSION)),
        (7, (ApiKey::ApiVersions, 0)),
    ]);
    send(&mut core, 1, &join_request(""), JOIN_VERSION, "joiner", 1);
    send(
        &mut core,
        2,
        &long_poll_fetch(),
        FETCH_VERSION,
        "fetcher",
        2,
    );
    send(&mut core, 3, &api_versions, 0, "slow", 3);
    send(&mut core, 4, &MetadataRequest::default(), 1, "dropped", 4);
    send(&mut core, 5, &ListGroupsRequest::default(), 0, "held", 5);
    send(&mut core, 6, &long_poll_fetch(), FETCH_VERSION, "closer", 6);
    core.connection_opened(ConnectionId(7));
    assert!(
        outcomes(&mut core, &apis).is_empty(),
        "every request is in flight"
    );

    let report = core.reset();

    assert_eq!(
        report,
        ResetReport {
            answered: 4,
            closed: 2
        }
    );
    let mut settled = outcomes(&mut core, &apis);
    let Some(Outcome::Answered(ResponseKind::JoinGroup(join))) = settled.remove(&1) else {
        panic!("the parked JoinGroup is answered");
    };
    assert_eq!(join.error_code, error_code::NOT_COORDINATOR);
    let Some(Outcome::Answered(ResponseKind::Fetch(fetch))) = settled.remove(&2) else {
        panic!("the long-poll Fetch is answered");
    };
    let partition = &fetch.responses[0].partitions[0];
    assert_eq!(
        (partition.error_code, partition.high_watermark),
        (error_code::NONE, 0)
    );
    assert!(matches!(
        settled.remove(&3),
        Some(Outcome::Answered(ResponseKind::ApiVersions(_)))
    ));
    assert!(matches!(settled.remove(&4), Some(Outcome::Closed)));
    assert!(matches!(
        settled.remove(&5),
        Some(Outcome::Answered(ResponseKind::ListGroups(_)))
    ));
    assert!(matches!(settled.remove(&6), Some(Outcome::Closed)));
    assert!(settled.is_empty(), "the idle connection is left alone");
    assert_fresh(&core);

    // The answered and the idle connections serve the next request from the fresh state.
    let apis = BTreeMap::from([(1, (ApiKey::ApiVersions, 0)), (7, (ApiKey::ApiVersions, 0))]);
    for connection in apis.keys() {
        send(&mut core, *connection, &api_versions, 0, "after", 10);
    }
    let after = outcomes(&mut core, &apis);
    for connection in apis.keys() {
        assert!(
            matches!(
                after.get(connection),
                Some(Outcome::Answered(ResponseKind::ApiVersions(r))) if r.error_code == 0
            ),
            "{after:?}"
        );
    }
}

/// No groups, no faults, no parked fetches, no timers, an empty request log; topics only as
/// created afresh.
fn assert_fresh(core: &BrokerCore) {
    assert_eq!(core.groups().groups().count(), 0);
    assert!(core.faults().is_empty());
    assert_eq!(core.logs().topic_names().count(), 0);
    assert_eq!(core.logs().parked_fetch_count(), 0);
    assert_eq!(core.request_log().entries().count(), 0);
    assert_eq!(core.poll_timeout(), None);
}

#[test]
fn a_follower_waiting_for_the_leaders_assignment_gets_not_coordinator() {
    let mut core = core_with_initial_delay(0);
    let apis = BTreeMap::from([
        (1, (ApiKey::JoinGroup, JOIN_VERSION)),
        (2, (ApiKey::JoinGroup, JOIN_VERSION)),
    ]);
    // The leader joins alone (the join completes at once), then a follower joins and the leader
    // rejoins: both are answered with generation 2.
    send(&mut core, 1, &join_request(""), JOIN_VERSION, "leader", 1);
    let leader = joined_member_id(outcomes(&mut core, &apis).remove(&1));
    send(&mut core, 2, &join_request(""), JOIN_VERSION, "follower", 2);
    send(
        &mut core,
        1,
        &join_request(&leader),
        JOIN_VERSION,
        "leader",
        3,
    );
    let mut joined = outcomes(&mut core, &apis);
    let follower = joined_member_id(joined.remove(&2));
    let sync = SyncGroupRequest::default()
        .with_group_id(GroupId(StrBytes::from_static_str("orders")))
        .with_generation_id(2)
        .with_member_id(StrBytes::from_string(follower));
    send(&mut core, 2, &sync, SYNC_VERSION, "follower", 4);
    let apis = BTreeMap::from([(2, (ApiKey::SyncGroup, SYNC_VERSION))]);
    assert!(
        outcomes(&mut core, &apis).is_empty(),
        "the follower's sync is parked"
    );

    let report = core.reset();

    assert_eq!(
        report,
        ResetReport {
            answered: 1,
            closed: 0
        }
    );
    let Some(Outcome::Answered(ResponseKind::SyncGroup(sync))) =
        outcomes(&mut core, &apis).remove(&2)
    else {
        panic!("the parked SyncGroup is answered");
    };
    assert_eq!(sync.error_code, error_code::NOT_COORDINATOR);
    assert_fresh(&core);
}

fn joined_member_id(outcome: Option<Outcome>) -> String {
    let Some(Outcome::Answered(ResponseKind::JoinGroup(join))) = outcome else {
        panic!("expected a JoinGroup response, got {outcome:?}");
    };
    assert_eq!(join.error_code, error_code::NONE, "{join:?}");
    join.member_id.as_str().to_owned()
}

#[test]
fn reset_keeps_the_configuration_and_the_advertised_address() {
    let mut core = core_with_initial_delay(0);
    core.set_advertised_address("broker.test", 19092);
    let before = core.config().clone();
    assert_eq!(core.reset(), ResetReport::default());
    assert_eq!(core.config(), &before);
    assert_eq!(core.poll_output(), None);
}

/// A test may hold a fault id or a request-log position across a reset: neither may come to name
/// something new afterwards.
#[test]
fn reset_never_reuses_a_fault_id_or_a_request_log_sequence_number() {
    let mut core = core_with_initial_delay(0);
    let before: crate::FaultRule = "leave_group:delay=60s".parse().expect("a valid spec");
    let old_id = core.add_fault(before);
    send(&mut core, 1, &ApiVersionsRequest::default(), 3, "c", 1);
    while core.poll_output().is_some() {}
    let next_seq_before = core.request_log().next_seq();
    assert!(next_seq_before > 0);

    core.reset();

    assert!(core.faults().is_empty(), "reset removes the rules");
    let new_id = core.add_fault("heartbeat:drop".parse().expect("a valid spec"));
    assert!(new_id > old_id, "{new_id:?} after {old_id:?}");
    assert!(core.remove_fault(old_id).is_none());
    assert_eq!(
        core.request_log().entries().count(),
        0,
        "reset empties the log"
    );
    send(&mut core, 1, &ApiVersionsRequest::default(), 3, "c", 2);
    let first_after = core.request_log().entries().next().expect("logged").seq;
    assert_eq!(first_after, next_seq_before);
}
