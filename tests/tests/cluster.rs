//! `kmock serve --brokers 3`: three listeners sharing one state, Metadata listing them all, the
//! control API's cluster routes (a broker down refuses connections and comes back on the same
//! port), and confluent-kafka's producer and consumer group following a broker down and up
//! (`tests/python/cluster_confluent.py`), and aiokafka's across a broker down and up and a
//! coordinator move (`tests/python/cluster_aiokafka.py`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use kmock_tests::{KafkaConnection, KmockServer, python, run_python};
use kmock_wire::kafka_protocol::messages::{MetadataRequest, ResponseKind};
use serde_json::Value;

const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);

/// A 3-broker server with the control API: the server, its broker addresses, the control
/// `host:port`.
fn start() -> (KmockServer, Vec<String>, String) {
    let server = KmockServer::start(&[
        "--brokers",
        "3",
        "--control-port",
        "0",
        "--initial-rebalance-delay-ms",
        "0",
    ]);
    let url = server.control_url();
    let control = url.trim_start_matches("http://").to_owned();
    let brokers = server.bootstrap().split(',').map(str::to_owned).collect();
    (server, brokers, control)
}

/// `method path` with an optional JSON body: (status, JSON answer).
fn http(address: &str, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    let body = body.unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut stream = TcpStream::connect(address).expect("connect to the control API");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {response:?}"));
    let text = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let value = serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {text:?}"));
    (status, value)
}

fn broker_ids(address: &str) -> Vec<i32> {
    let mut connection = KafkaConnection::connect(address);
    let ResponseKind::Metadata(metadata) =
        connection.request(&MetadataRequest::default().with_topics(None), 12)
    else {
        panic!("expected Metadata")
    };
    metadata.brokers.iter().map(|b| b.node_id.0).collect()
}

#[test]
fn three_brokers_listen_and_each_lists_them_all() {
    let (_server, brokers, _) = start();
    assert_eq!(brokers.len(), 3, "BOOTSTRAP= lists every broker");
    for address in &brokers {
        assert_eq!(
            broker_ids(address),
            vec![0, 1, 2],
            "Metadata from {address}"
        );
    }
}

#[test]
fn a_broker_down_refuses_connections_and_comes_back_on_its_port() {
    let (_server, brokers, control) = start();
    let (status, answer) = http(&control, "POST", "/brokers/1/down", None);
    assert_eq!(status, 200, "{answer}");
    assert!(
        TcpStream::connect(&brokers[1]).is_err(),
        "broker 1 is down: its port must refuse connections"
    );
    assert_eq!(broker_ids(&brokers[0]), vec![0, 2]);
    let (_, cluster) = http(&control, "GET", "/cluster", None);
    assert_eq!(cluster["brokers"][1]["up"], false, "{cluster}");

    let (status, answer) = http(&control, "POST", "/brokers/1/up", None);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(broker_ids(&brokers[1]), vec![0, 1, 2]);
}

#[test]
fn cluster_routes_explain_bad_input() {
    let (_server, _, control) = start();
    let (status, answer) = http(&control, "POST", "/brokers/7/down", None);
    assert_eq!(
        (status, answer["error"].as_str()),
        (404, Some("no broker has node id 7"))
    );
    let (status, answer) = http(
        &control,
        "POST",
        "/topics/nope/partitions/0/leader?node=1",
        None,
    );
    assert_eq!(status, 404, "{answer}");
    let (status, answer) = http(
        &control,
        "POST",
        "/groups/g/coordinator",
        Some("{\"nod\": 1}"),
    );
    assert_eq!(status, 400, "{answer}");
    let (status, answer) = http(
        &control,
        "POST",
        "/groups/g/coordinator",
        Some("{\"node\": 2}"),
    );
    assert_eq!(status, 200, "{answer}");
    http(&control, "POST", "/brokers/2/down", None);
    let (status, answer) = http(
        &control,
        "POST",
        "/groups/g/coordinator",
        Some("{\"node\": 2}"),
    );
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("broker 2 is down"))
    );
}

#[test]
fn confluent_kafka_producer_and_group_follow_a_broker_down_and_up() {
    python();
    let (mut server, _, control) = start();
    let bootstrap = server.bootstrap().to_owned();
    let url = format!("http://{control}");
    let run = run_python("cluster_confluent.py", &[&bootstrap, &url], SCRIPT_TIMEOUT);
    server.assert_script_succeeded("cluster_confluent.py", &run);
}

#[test]
fn aiokafka_producer_and_group_follow_a_broker_down_up_and_a_coordinator_move() {
    python();
    let (mut server, _, control) = start();
    let bootstrap = server.bootstrap().to_owned();
    let url = format!("http://{control}");
    let run = run_python("cluster_aiokafka.py", &[&bootstrap, &url], SCRIPT_TIMEOUT);
    server.assert_script_succeeded("cluster_aiokafka.py", &run);
}
