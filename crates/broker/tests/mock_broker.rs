//! `MockBroker` as a test uses it, through the public API only: start, a client over TCP, faults,
//! the request log, reset (no request in flight left waiting), shutdown and drop; the blocking
//! variant from a plain `#[test]`.

use std::time::Duration;

use bytes::Bytes;
use kmock_broker::{ApiKey, GroupState, MockBroker, MockBrokerError, RequestFilter, ResetReport};
use kmock_client::{Cluster, Producer, Settings, TcpConnector};
use kmock_wire::kafka_protocol::messages::{ApiVersionsRequest, ResponseKind};
use kmock_wire::kafka_protocol::protocol::Request;
use kmock_wire::{decode_response, encode_request, error_code};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[path = "support/parked.rs"]
mod parked;

use parked::{FETCH_VERSION, JOIN_GROUP_VERSION};

/// How long a request in flight may wait for its answer (or close) after a reset.
const SETTLED_WITHIN: Duration = Duration::from_secs(1);

async fn send<R: Request>(stream: &mut TcpStream, request: &R, version: i16, correlation_id: i32) {
    let frame = encode_request(request, version, correlation_id, Some("mock-test")).unwrap();
    stream.write_all(&frame).await.unwrap();
}

/// The next response frame (without its length prefix), or `None` once the broker closed.
async fn read_frame(stream: &mut TcpStream) -> Option<Bytes> {
    let mut prefix = [0u8; 4];
    stream.read_exact(&mut prefix).await.ok()?;
    let mut body = vec![0u8; u32::from_be_bytes(prefix) as usize];
    stream.read_exact(&mut body).await.ok()?;
    Some(body.into())
}

/// The decoded response, or `None` if the connection was closed.
async fn response(stream: &mut TcpStream, api_key: ApiKey, version: i16) -> Option<ResponseKind> {
    let frame = read_frame(stream).await?;
    Some(decode_response(api_key, version, frame).unwrap().1)
}

/// Parks a JoinGroup (30 s initial rebalance delay) and a long-poll Fetch (60 s max wait) over
/// TCP, resets, and expects both answered within a second: JoinGroup with NOT_COORDINATOR, the
/// Fetch with its ordinary empty answer.
#[tokio::test]
async fn reset_answers_a_parked_join_group_and_a_long_poll_fetch() {
    let broker = MockBroker::builder()
        .group_initial_rebalance_delay_ms(30_000)
        .topic("events", 1)
        .start()
        .await
        .unwrap();
    let mut joiner = TcpStream::connect(broker.local_addr()).await.unwrap();
    let mut fetcher = TcpStream::connect(broker.local_addr()).await.unwrap();
    let join = parked::join_group("orders", "");
    send(&mut joiner, &join, JOIN_GROUP_VERSION, 1).await;
    let fetch = parked::long_poll_fetch("events", 60_000);
    send(&mut fetcher, &fetch, FETCH_VERSION, 1).await;
    wait_until_parked(&broker).await;

    let report = broker.reset().await.unwrap();
    assert_eq!(
        report,
        ResetReport {
            answered: 2,
            closed: 0
        }
    );

    let (join, fetch) = tokio::time::timeout(SETTLED_WITHIN, async {
        tokio::join!(
            response(&mut joiner, ApiKey::JoinGroup, JOIN_GROUP_VERSION),
            response(&mut fetcher, ApiKey::Fetch, FETCH_VERSION),
        )
    })
    .await
    .expect("both requests in flight are settled within a second of the reset");
    let Some(ResponseKind::JoinGroup(join)) = join else {
        panic!("the parked JoinGroup is answered, got {join:?}");
    };
    assert_eq!(join.error_code, error_code::NOT_COORDINATOR);
    let Some(ResponseKind::Fetch(fetch)) = fetch else {
        panic!("the long-poll Fetch is answered, got {fetch:?}");
    };
    assert_eq!(
        fetch.responses[0].partitions[0].error_code,
        error_code::NONE
    );
    // The fresh state: the start topic again, no group, an empty request log.
    assert_eq!(broker.groups().await.unwrap(), []);
    assert_eq!(broker.requests().await.unwrap(), []);
    assert_eq!(broker.topics().await.unwrap()[0].name, "events");
}

/// Polls the request log until the JoinGroup and the Fetch arrived, the group is preparing its
/// first rebalance and the fetch is parked (both unanswered).
async fn wait_until_parked(broker: &MockBroker) {
    for _ in 0..200 {
        let requests = broker.requests().await.unwrap();
        let preparing = broker
            .group("orders")
            .await
            .unwrap()
            .is_some_and(|g| g.state == GroupState::PreparingRebalance);
        if requests.len() == 2 && preparing && requests.iter().all(|r| r.outcome.is_none()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!(
        "the requests did not park: {:?}",
        broker.requests().await.unwrap()
    );
}

/// A dropped response has no answer to give: the reset closes its connection.
#[tokio::test]
async fn reset_closes_a_connection_whose_response_a_fault_dropped() {
    let broker = MockBroker::builder()
        .fault("api_versions:drop")
        .start()
        .await
        .unwrap();
    let mut stream = TcpStream::connect(broker.local_addr()).await.unwrap();
    send(&mut stream, &ApiVersionsRequest::default(), 0, 1).await;
    while broker.requests().await.unwrap().is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let report = broker.reset().await.unwrap();
    assert_eq!(
        report,
        ResetReport {
            answered: 0,
            closed: 1
        }
    );
    let closed = tokio::time::timeout(SETTLED_WITHIN, read_frame(&mut stream))
        .await
        .expect("closed within a second");
    assert_eq!(closed, None);
    // The start fault is back after the reset.
    assert_eq!(broker.faults().await.unwrap().len(), 1);
}

/// The done-when, in a test: start, publish with the client, add a fault, read the request
/// log, reset, drop.
#[tokio::test]
async fn a_client_publishes_and_the_test_reads_faults_and_the_request_log() {
    let broker = MockBroker::start().await.unwrap();
    let settings = Settings {
        bootstrap_servers: vec![broker.bootstrap_servers()],
        client_id: "mock-broker-test".into(),
        ..Settings::default()
    };
    let cluster = Cluster::connect(settings, TcpConnector).await.unwrap();
    let producer = Producer::new(cluster.clone());
    producer
        .publish("events", Some(b"k"), b"v", &[])
        .await
        .unwrap();
    let fault = broker
        .add_fault("produce:error=not_leader_or_follower,once")
        .await
        .unwrap();
    producer
        .publish("events", Some(b"k"), b"w", &[])
        .await
        .unwrap();

    let produces = broker
        .requests_matching(
            RequestFilter::new()
                .api(ApiKey::Produce)
                .client_id("mock-broker-test"),
        )
        .await
        .unwrap();
    let faulted: Vec<bool> = produces.iter().map(|r| r.fault.is_some()).collect();
    assert_eq!(faulted, [false, true, false]);
    assert_eq!(broker.faults().await.unwrap()[0].applied, 1);
    assert_eq!(broker.topics().await.unwrap()[0].high_watermarks, [2]);
    broker.remove_fault(fault).await.unwrap();
    assert!(matches!(
        broker.remove_fault(fault).await,
        Err(MockBrokerError::UnknownFault(id)) if id == fault
    ));

    broker.reset().await.unwrap();
    assert_eq!(broker.topics().await.unwrap(), []);
    cluster.close().await;
    broker.shutdown().await;
    assert!(matches!(
        broker.requests().await,
        Err(MockBrokerError::Stopped)
    ));
    assert!(
        TcpStream::connect(broker.local_addr()).await.is_err(),
        "the listener is closed after shutdown"
    );
}

#[tokio::test]
async fn what_a_caller_can_get_wrong_is_a_typed_error() {
    let spec = MockBroker::builder()
        .fault("leave_grop:delay=1s")
        .start()
        .await;
    assert!(
        matches!(&spec, Err(MockBrokerError::FaultSpec(e)) if e.to_string().contains("leave_group")),
        "{spec:?}"
    );
    let topic = MockBroker::builder().topic("bad name!", 1).start().await;
    assert!(
        matches!(&topic, Err(MockBrokerError::Topic { source, .. })
            if source.code() == error_code::INVALID_TOPIC_EXCEPTION),
        "{topic:?}"
    );
    let config = MockBroker::builder().default_partitions(0).start().await;
    assert!(
        matches!(config, Err(MockBrokerError::Config(_))),
        "{config:?}"
    );
    let broker = MockBroker::start().await.unwrap();
    assert!(matches!(
        broker.add_fault("fetch:hold").await,
        Err(MockBrokerError::FaultSpec(_))
    ));
}

/// Dropping the broker (without `shutdown`) closes the listener and the connections.
#[tokio::test]
async fn drop_stops_the_listener_and_closes_connections() {
    let broker = MockBroker::start().await.unwrap();
    let address = broker.local_addr();
    let mut stream = TcpStream::connect(address).await.unwrap();
    send(&mut stream, &ApiVersionsRequest::default(), 0, 1).await;
    assert!(
        response(&mut stream, ApiKey::ApiVersions, 0)
            .await
            .is_some()
    );
    let handle = broker.handle().clone();
    drop(broker);
    tokio::time::timeout(Duration::from_secs(5), handle.stopped())
        .await
        .expect("the broker stops after a drop");
    assert_eq!(read_frame(&mut stream).await, None);
    assert!(TcpStream::connect(address).await.is_err());
}

/// The blocking variant from a plain `#[test]`: no runtime of the test's own.
#[test]
fn start_blocking_serves_a_plain_test() {
    let broker = MockBroker::builder()
        .topic("events", 3)
        .start_blocking()
        .unwrap();
    let mut stream = std::net::TcpStream::connect(broker.bootstrap_servers()).unwrap();
    let rule = broker
        .add_fault("api_versions:error=unknown_server_error")
        .unwrap();
    let frame = encode_request(&ApiVersionsRequest::default(), 0, 7, Some("plain")).unwrap();
    std::io::Write::write_all(&mut stream, &frame).unwrap();
    let mut prefix = [0u8; 4];
    std::io::Read::read_exact(&mut stream, &mut prefix).unwrap();
    let mut body = vec![0u8; u32::from_be_bytes(prefix) as usize];
    std::io::Read::read_exact(&mut stream, &mut body).unwrap();
    let (_, response) = decode_response(ApiKey::ApiVersions, 0, body.into()).unwrap();
    let ResponseKind::ApiVersions(response) = response else {
        panic!("expected ApiVersions");
    };
    assert_eq!(response.error_code, error_code::UNKNOWN_SERVER_ERROR);
    let logged = broker
        .requests_matching(RequestFilter::new().client_id("plain"))
        .unwrap();
    assert_eq!(logged.len(), 1);
    assert!(logged[0].fault.is_some());
    assert_eq!(broker.topics().unwrap()[0].high_watermarks, [0, 0, 0]);
    assert_eq!(
        broker.remove_fault(rule).unwrap().to_string(),
        "api_versions:error=unknown_server_error"
    );
    broker.reset().unwrap();
    assert_eq!(broker.requests().unwrap(), []);
    assert_eq!(broker.topics().unwrap().len(), 1);
    drop(broker);
    assert_eq!(
        std::io::Read::read(&mut stream, &mut prefix).unwrap_or(0),
        0
    );
}

/// KIP-848: a consumer of the client crate with `group_protocol = consumer` joins over TCP; the
/// test sees the consumer group through `consumer_groups()` and `consumer_group()` (not
/// `groups()`, which lists classic groups), with its member, epoch and assignment.
#[tokio::test]
async fn consumer_groups_show_a_kip848_member_and_its_assignment() {
    let broker = MockBroker::builder()
        .group_consumer_session_timeout_ms(6_000)
        .group_consumer_min_session_timeout_ms(6_000)
        .group_consumer_heartbeat_interval_ms(200)
        .group_consumer_min_heartbeat_interval_ms(100)
        .topic("orders", 2)
        .start()
        .await
        .unwrap();
    let settings = Settings {
        bootstrap_servers: vec![broker.bootstrap_servers()],
        client_id: "kip848-test".into(),
        group_id: "kip848-group".into(),
        group_protocol: kmock_client::GroupProtocol::Consumer,
        ..Settings::default()
    };
    let cluster = Cluster::connect(settings, TcpConnector).await.unwrap();
    let mut consumer = kmock_client::Consumer::start(cluster.clone(), &["orders"]);
    let (epoch, assignment) = tokio::time::timeout(Duration::from_secs(10), consumer.wait_stable())
        .await
        .expect("joins in time")
        .expect("joins");
    assert_eq!(assignment.get("orders").cloned(), Some(vec![0, 1]));
    let groups = broker.consumer_groups().await.unwrap();
    assert_eq!(groups.len(), 1);
    let group = broker
        .consumer_group("kip848-group")
        .await
        .unwrap()
        .expect("a consumer group");
    assert_eq!(group.group_epoch, epoch);
    assert_eq!(group.assignor, "uniform");
    assert_eq!(group.members.len(), 1);
    assert_eq!(group.members[0].client_id, "kip848-test");
    assert_eq!(
        group.members[0].assigned,
        [("orders".to_owned(), 0), ("orders".to_owned(), 1)]
    );
    assert_eq!(broker.groups().await.unwrap(), [], "no classic group");
    consumer.stop().await.unwrap();
    let group = broker
        .consumer_group("kip848-group")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(group.members, []);
    assert_eq!(group.state, kmock_broker::ConsumerGroupState::Empty);
    cluster.close().await;
}
