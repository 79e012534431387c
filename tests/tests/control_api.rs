//! The runtime control API of `kmock serve --control-port 0`: HTTP/1.1 + JSON on loopback. Fault
//! rules are listed, added, removed and cleared at run time; the request log is filtered; topics
//! and groups are listed; `POST /reset` goes back to the start state (`--config` topics and
//! faults); malformed requests get a 4xx with a message saying what is wrong.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use kmock_tests::{KafkaConnection, KmockServer, ReadOutcome};
use kmock_wire::kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kmock_wire::kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kmock_wire::kafka_protocol::messages::{
    ApiKey, GroupId, MetadataRequest, OffsetCommitRequest, ResponseKind, TopicName,
};
use kmock_wire::kafka_protocol::protocol::{Request, StrBytes};
use kmock_wire::{decode_response, encode_request};
use serde_json::Value;

/// A server with the control API and its base URL's `host:port`.
fn start(args: &[&str]) -> (KmockServer, String) {
    let mut all = vec!["--control-port", "0"];
    all.extend_from_slice(args);
    let server = KmockServer::start(&all);
    let url = server.control_url();
    let address = url
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("CONTROL= is not an http URL: {url}"));
    assert!(address.starts_with("127.0.0.1:"), "{url}");
    (server, address.to_owned())
}

/// Sends raw bytes, returns (status, body).
fn raw(address: &str, request: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(address).expect("connect to the control API");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    // A refused oversized request may close before we finish writing: ignore write errors.
    let _ = stream.write_all(request);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn http(address: &str, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
    let mut request =
        format!("{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n");
    if let Some(body) = body {
        request.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    request.push_str("\r\n");
    request.push_str(body.unwrap_or_default());
    let (status, text) = raw(address, request.as_bytes());
    let value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{method} {path}: body is not JSON ({e}): {text:?}"));
    (status, value)
}

#[test]
fn faults_are_added_listed_removed_and_cleared_at_run_time() {
    let (_server, api) = start(&[]);
    let (status, faults) = http(&api, "GET", "/faults", None);
    assert_eq!(status, 200, "{faults}");
    assert_eq!(
        faults["faults"].as_array().map(Vec::len),
        Some(0),
        "{faults}"
    );

    let (status, added) = http(
        &api,
        "POST",
        "/faults",
        Some(r#"{"spec": "leave_group:delay=60s"}"#),
    );
    assert_eq!(status, 201, "{added}");
    let id = added["id"].as_u64().expect("id");
    assert_eq!(added["spec"], "leave_group:delay=60s");
    let (_, second) = http(
        &api,
        "POST",
        "/faults",
        Some(r#"{"spec": "join_group:error=27,once"}"#),
    );

    let (_, faults) = http(&api, "GET", "/faults", None);
    let specs: Vec<&str> = faults["faults"]
        .as_array()
        .expect("faults")
        .iter()
        .filter_map(|f| f["spec"].as_str())
        .collect();
    assert_eq!(
        specs,
        [
            "leave_group:delay=60s",
            "join_group:error=rebalance_in_progress,once"
        ],
        "{faults}"
    );

    let (status, removed) = http(&api, "DELETE", &format!("/faults/{id}"), None);
    assert_eq!(status, 200, "{removed}");
    let (status, again) = http(&api, "DELETE", &format!("/faults/{id}"), None);
    assert_eq!(status, 404, "{again}");
    let (_, faults) = http(&api, "GET", "/faults", None);
    assert_eq!(faults["faults"][0]["id"], second["id"], "{faults}");

    let (status, _) = http(&api, "DELETE", "/faults", None);
    assert_eq!(status, 200);
    let (_, faults) = http(&api, "GET", "/faults", None);
    assert_eq!(
        faults["faults"].as_array().map(Vec::len),
        Some(0),
        "{faults}"
    );
}

#[test]
fn bad_requests_get_400_with_what_is_wrong() {
    let (_server, api) = start(&[]);
    let (status, error) = http(&api, "POST", "/faults", Some("{not json"));
    assert_eq!(status, 400, "{error}");
    assert!(
        error["error"].as_str().is_some_and(|e| e.contains("JSON")),
        "{error}"
    );

    let (status, error) = http(
        &api,
        "POST",
        "/faults",
        Some(r#"{"spec": "leave_grop:delay=60s"}"#),
    );
    assert_eq!(status, 400, "{error}");
    let message = error["error"].as_str().unwrap_or_default();
    assert!(
        message.contains("leave_grop") && message.contains("leave_group"),
        "{error}"
    );

    let (status, error) = http(
        &api,
        "POST",
        "/faults",
        Some(r#"{"rule": "leave_group:drop"}"#),
    );
    assert_eq!(status, 400, "{error}");
    assert!(
        error["error"].as_str().is_some_and(|e| e.contains("spec")),
        "{error}"
    );

    let (status, error) = http(&api, "GET", "/requests?since=abc", None);
    assert_eq!(status, 400, "{error}");
    let (status, error) = http(&api, "DELETE", "/faults/x", None);
    assert_eq!(status, 400, "{error}");
    let (status, error) = http(&api, "GET", "/nowhere", None);
    assert_eq!(status, 404, "{error}");
    let (status, error) = http(&api, "PUT", "/faults", None);
    assert_eq!(status, 405, "{error}");

    // Limits: a body over 1 MiB, headers over 16 KiB, chunked bodies.
    let (status, _) = raw(
        &api,
        b"POST /faults HTTP/1.1\r\nContent-Length: 2000000\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 413);
    let big = format!(
        "GET /faults HTTP/1.1\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(20_000)
    );
    let (status, _) = raw(&api, big.as_bytes());
    assert_eq!(status, 431);
    let (status, _) = raw(
        &api,
        b"POST /faults HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n",
    );
    assert_eq!(status, 411);
}

/// Sends `body` at `version` with `client_id` in the header on a new connection; returns the
/// response body.
fn request_as<R: Request>(
    bootstrap: &str,
    client_id: &str,
    body: &R,
    version: i16,
) -> ResponseKind {
    let api_key = ApiKey::try_from(R::KEY).expect("a known API");
    let mut connection = KafkaConnection::connect(bootstrap);
    let frame = encode_request(body, version, 7, Some(client_id)).expect("encodes");
    connection.write_raw(&frame).expect("sends");
    match connection.read_frame(Duration::from_secs(10)) {
        ReadOutcome::Frame(frame) => decode_response(api_key, version, frame).expect("decodes").1,
        other => panic!("no {api_key:?} response: {other:?}"),
    }
}

/// A simple-consumer commit (generation -1, no member) of `group`: it creates the group.
fn commit_offset(bootstrap: &str, client_id: &str, group: &str) {
    let request = OffsetCommitRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_owned())))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![
            OffsetCommitRequestTopic::default()
                .with_name(TopicName(StrBytes::from_static_str("committed")))
                .with_partitions(vec![
                    OffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(0),
                ]),
        ]);
    let ResponseKind::OffsetCommit(response) = request_as(bootstrap, client_id, &request, 2) else {
        panic!("OffsetCommit answered with another response type");
    };
    // The topic does not exist (no auto-creation through commits): the partition gets an error,
    // the group exists all the same.
    assert_eq!(response.topics.len(), 1, "{response:?}");
}

fn entries(log: &Value) -> Vec<Value> {
    log["requests"].as_array().cloned().unwrap_or_default()
}

#[test]
fn retention_runs_on_demand_and_says_what_it_removed() {
    let (_server, api) = start(&[]);
    let (status, report) = http(&api, "POST", "/retention", None);
    assert_eq!(
        (status, &report["partitions"]),
        (200, &Value::Array(Vec::new()))
    );
    let (status, error) = http(&api, "POST", "/retention", Some(r#"{"topic": "nope"}"#));
    assert_eq!(status, 404, "{error}");
    let (status, error) = http(&api, "POST", "/retention", Some(r#"{"topics": []}"#));
    assert_eq!(status, 400, "{error}");
    assert!(
        error["error"].as_str().is_some_and(|e| e.contains("topic")),
        "{error}"
    );
    let (status, error) = http(&api, "GET", "/retention", None);
    assert_eq!(status, 405, "{error}");
}

#[test]
fn request_log_is_filtered_by_api_client_and_since() {
    let (server, api) = start(&[]);
    // Two APIs from two client ids, one naming a group: each filter has something to drop.
    KafkaConnection::connect(server.bootstrap()).assert_api_versions_works();
    request_as(
        server.bootstrap(),
        "filter-other",
        &MetadataRequest::default().with_topics(Some(Vec::new())),
        12,
    );
    commit_offset(server.bootstrap(), "filter-other", "filtered-group");
    let (status, all) = http(&api, "GET", "/requests", None);
    assert_eq!(status, 200, "{all}");
    let all = entries(&all);
    let count = |api_name: &str, client: &str| {
        all.iter()
            .filter(|e| e["api"] == api_name && e["client_id"] == client)
            .count()
    };
    assert_eq!(count("ApiVersions", "kmock-tests"), 1, "{all:?}");
    assert_eq!(count("Metadata", "filter-other"), 1, "{all:?}");
    assert_eq!(count("OffsetCommit", "filter-other"), 1, "{all:?}");
    assert_eq!(all.len(), 3, "{all:?}");

    // api: exactly the ApiVersions entry, by any spelling.
    for spelling in ["api_versions", "ApiVersions", "18"] {
        let (status, log) = http(&api, "GET", &format!("/requests?api={spelling}"), None);
        assert_eq!(status, 200, "{log}");
        let by_api = entries(&log);
        assert_eq!(by_api.len(), 1, "api={spelling}: {log}");
        assert_eq!(by_api[0]["api"], "ApiVersions", "{log}");
    }
    let (_, none) = http(&api, "GET", "/requests?api=LeaveGroup", None);
    assert_eq!(entries(&none).len(), 0, "{none}");

    // client_id: exactly the other client's two entries.
    let (_, by_client) = http(&api, "GET", "/requests?client_id=filter-other", None);
    let by_client = entries(&by_client);
    assert_eq!(by_client.len(), 2, "{by_client:?}");
    assert!(
        by_client.iter().all(|e| e["client_id"] == "filter-other"),
        "{by_client:?}"
    );

    // group: exactly the commit naming the group.
    let (_, by_group) = http(&api, "GET", "/requests?group=filtered-group", None);
    let by_group = entries(&by_group);
    assert_eq!(by_group.len(), 1, "{by_group:?}");
    assert_eq!(by_group[0]["api"], "OffsetCommit", "{by_group:?}");
    let (_, nobody) = http(&api, "GET", "/requests?group=nobody", None);
    assert_eq!(entries(&nobody).len(), 0, "{nobody}");

    // since: from the second entry on, and nothing after the last.
    let second = all[1]["seq"].as_u64().expect("seq");
    let (_, from_second) = http(&api, "GET", &format!("/requests?since={second}"), None);
    assert_eq!(entries(&from_second).len(), 2, "{from_second}");
    let next = from_second["next"].as_u64().expect("next");
    let (_, later) = http(&api, "GET", &format!("/requests?since={next}"), None);
    assert_eq!(entries(&later).len(), 0, "{later}");
}

/// DeleteRecords shows in `GET /topics` (`log_start_offsets`); DeleteGroups and OffsetDelete are
/// found by the `group=` filter of the request log (every group a request names).
#[test]
fn admin_requests_show_in_topics_and_the_group_filter() {
    use kmock_wire::kafka_protocol::messages::delete_records_request::{
        DeleteRecordsPartition, DeleteRecordsTopic,
    };
    use kmock_wire::kafka_protocol::messages::produce_request::{
        PartitionProduceData, TopicProduceData,
    };
    use kmock_wire::kafka_protocol::messages::{
        CreateTopicsRequest, DeleteGroupsRequest, DeleteRecordsRequest, OffsetDeleteRequest,
        ProduceRequest, ResponseKind, create_topics_request::CreatableTopic,
    };
    use kmock_wire::kafka_protocol::protocol::StrBytes;
    use kmock_wire::kafka_protocol::records::Compression;
    let name = |s: &'static str| StrBytes::from_static_str(s);
    let (server, api) = start(&[]);
    let mut kafka = KafkaConnection::connect(server.bootstrap());
    kafka.request(
        &CreateTopicsRequest::default().with_topics(vec![
            CreatableTopic::default()
                .with_name(name("trimmed").into())
                .with_num_partitions(1)
                .with_replication_factor(1),
        ]),
        7,
    );
    let produce = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(1_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(name("trimmed").into())
                .with_partition_data(vec![
                    PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(kmock_core::fuzz::record_batch(5, Compression::None))),
                ]),
        ]);
    kafka.request(&produce, 9);
    let delete = DeleteRecordsRequest::default().with_topics(vec![
        DeleteRecordsTopic::default()
            .with_name(name("trimmed").into())
            .with_partitions(vec![
                DeleteRecordsPartition::default()
                    .with_partition_index(0)
                    .with_offset(3),
            ]),
    ]);
    let ResponseKind::DeleteRecords(deleted) = kafka.request(&delete, 2) else {
        panic!("DeleteRecords answered with another response type");
    };
    assert_eq!(deleted.topics[0].partitions[0].low_watermark, 3);
    let (_, topics) = http(&api, "GET", "/topics", None);
    let trimmed = &topics["topics"][0];
    assert_eq!(
        trimmed["high_watermarks"],
        serde_json::json!([5]),
        "{topics}"
    );
    assert_eq!(
        trimmed["log_start_offsets"],
        serde_json::json!([3]),
        "{topics}"
    );

    kafka.request(
        &DeleteGroupsRequest::default().with_groups_names(vec![name("x").into(), name("y").into()]),
        2,
    );
    kafka.request(
        &OffsetDeleteRequest::default().with_group_id(name("y").into()),
        0,
    );
    let apis = |group: &str| -> Vec<String> {
        let (_, log) = http(&api, "GET", &format!("/requests?group={group}"), None);
        log["requests"]
            .as_array()
            .expect("requests")
            .iter()
            .map(|e| e["api"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(apis("x"), ["DeleteGroups"]);
    assert_eq!(apis("y"), ["DeleteGroups", "OffsetDelete"]);
}

#[test]
fn config_file_topics_and_faults_come_back_after_reset() {
    let dir = kmock_tests::log_dir();
    let path = dir.join(format!("control-config-{}.toml", std::process::id()));
    std::fs::write(
        &path,
        "initial-rebalance-delay-ms = 0\nfault = [\"leave_group:delay=60s\"]\n\n[[topic]]\nname = \"events\"\npartitions = 3\n",
    )
    .expect("write config");
    let config = path.to_string_lossy().into_owned();
    let (server, api) = start(&["--config", &config]);

    let (_, topics) = http(&api, "GET", "/topics", None);
    let events = topics["topics"]
        .as_array()
        .expect("topics")
        .iter()
        .find(|t| t["name"] == "events")
        .unwrap_or_else(|| panic!("no topic events: {topics}"));
    assert_eq!(events["partitions"], 3, "{topics}");
    let (_, faults) = http(&api, "GET", "/faults", None);
    assert_eq!(
        faults["faults"][0]["spec"], "leave_group:delay=60s",
        "{faults}"
    );

    http(&api, "POST", "/faults", Some(r#"{"spec": "fetch:drop"}"#));
    KafkaConnection::connect(server.bootstrap()).assert_api_versions_works();
    // Something for the reset to remove: a group, a topic beyond the configured one, log entries.
    commit_offset(server.bootstrap(), "reset-test", "reset-me");
    request_as(
        server.bootstrap(),
        "reset-test",
        &MetadataRequest::default().with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(TopicName(StrBytes::from_static_str(
                "made-before-reset",
            )))),
        ])),
        12,
    );
    let (_, groups) = http(&api, "GET", "/groups", None);
    assert_eq!(
        groups["groups"].as_array().map(Vec::len),
        Some(1),
        "a group before the reset: {groups}"
    );
    let (_, topics) = http(&api, "GET", "/topics", None);
    assert_eq!(
        topics["topics"].as_array().map(Vec::len),
        Some(2),
        "an auto-created topic before the reset: {topics}"
    );
    let (status, reset) = http(&api, "POST", "/reset", None);
    assert_eq!(status, 200, "{reset}");
    let (_, faults) = http(&api, "GET", "/faults", None);
    let specs: Vec<&str> = faults["faults"]
        .as_array()
        .expect("faults")
        .iter()
        .filter_map(|f| f["spec"].as_str())
        .collect();
    assert_eq!(specs, ["leave_group:delay=60s"], "{faults}");
    let (_, log) = http(&api, "GET", "/requests", None);
    assert_eq!(log["requests"].as_array().map(Vec::len), Some(0), "{log}");
    let (_, groups) = http(&api, "GET", "/groups", None);
    assert_eq!(
        groups["groups"].as_array().map(Vec::len),
        Some(0),
        "{groups}"
    );
    let (_, topics) = http(&api, "GET", "/topics", None);
    assert_eq!(
        topics["topics"].as_array().map(Vec::len),
        Some(1),
        "{topics}"
    );
    // The broker still answers after the reset.
    KafkaConnection::connect(server.bootstrap()).assert_api_versions_works();
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_bad_config_file_is_a_usage_error() {
    let dir = kmock_tests::log_dir();
    let path = dir.join(format!("control-bad-config-{}.toml", std::process::id()));
    std::fs::write(&path, "initial-rebalance-dely-ms = 0\n").expect("write config");
    let output = std::process::Command::new(kmock_tests::kmock_binary())
        .args(["serve", "--port", "0", "--config"])
        .arg(&path)
        .output()
        .expect("run kmock serve");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("initial-rebalance-dely-ms"), "{stderr}");
    let _ = std::fs::remove_file(&path);
}

/// Issue 14: `POST /reset` must not strand a client. A JoinGroup parked by a 30 s initial
/// rebalance delay and a Fetch parked by a 60 s max wait, over real TCP, are both answered (or
/// closed) within a second of the reset: JoinGroup with NOT_COORDINATOR, the Fetch with its
/// ordinary empty answer.
#[test]
fn reset_answers_a_parked_join_group_and_a_long_poll_fetch_within_a_second() {
    use kmock_tests::ReadOutcome;
    use kmock_wire::kafka_protocol::messages::{ApiKey, ResponseKind};
    use kmock_wire::{decode_response, encode_request};
    use parked::{FETCH_VERSION, JOIN_GROUP_VERSION};

    let (server, api) = start(&["--initial-rebalance-delay-ms", "30000"]);
    let mut joiner = KafkaConnection::connect(server.bootstrap());
    let mut fetcher = KafkaConnection::connect(server.bootstrap());
    fetcher.request(&metadata_creating("reset-events"), 4);
    let join = parked::join_group("reset-test", "");
    let join = encode_request(&join, JOIN_GROUP_VERSION, 1, Some("joiner")).expect("encode");
    joiner.write_raw(&join).expect("send JoinGroup");
    let fetch = parked::long_poll_fetch("reset-events", 60_000);
    let fetch = encode_request(&fetch, FETCH_VERSION, 1, Some("fetcher")).expect("encode");
    fetcher.write_raw(&fetch).expect("send Fetch");
    wait_for_requests(&api, 3);

    let reset_at = Instant::now();
    let (status, reset) = http(&api, "POST", "/reset", None);
    assert_eq!(status, 200, "{reset}");
    assert_eq!(
        (reset["answered"].as_u64(), reset["closed"].as_u64()),
        (Some(2), Some(0)),
        "{reset}"
    );
    let settled = |connection: &mut KafkaConnection, api_key: ApiKey, version: i16| {
        let left = Duration::from_secs(1).saturating_sub(reset_at.elapsed());
        match connection.read_frame(left) {
            ReadOutcome::Frame(frame) => Some(decode_response(api_key, version, frame).unwrap().1),
            ReadOutcome::Closed { .. } => None,
            ReadOutcome::TimedOut { .. } => {
                panic!("{api_key:?} neither answered nor closed within a second of POST /reset")
            }
        }
    };
    let Some(ResponseKind::JoinGroup(join)) =
        settled(&mut joiner, ApiKey::JoinGroup, JOIN_GROUP_VERSION)
    else {
        panic!("the parked JoinGroup is answered");
    };
    assert_eq!(join.error_code, kmock_wire::error_code::NOT_COORDINATOR);
    let Some(ResponseKind::Fetch(fetch)) = settled(&mut fetcher, ApiKey::Fetch, FETCH_VERSION)
    else {
        panic!("the long-poll Fetch is answered");
    };
    assert_eq!(fetch.error_code, 0);
    // Both connections stay usable.
    joiner.assert_api_versions_works();
    fetcher.assert_api_versions_works();
}

/// Polls `GET /requests` until `count` requests arrived.
fn wait_for_requests(api: &str, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, log) = http(api, "GET", "/requests", None);
        if log["requests"].as_array().map(Vec::len) == Some(count) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{count} requests did not arrive: {log}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[path = "../../crates/broker/tests/support/parked.rs"]
mod parked;

/// Metadata for `topic`, which creates it (auto-create is on by default).
fn metadata_creating(topic: &str) -> kmock_wire::kafka_protocol::messages::MetadataRequest {
    use kmock_wire::kafka_protocol::messages::MetadataRequest;
    use kmock_wire::kafka_protocol::messages::metadata_request::MetadataRequestTopic;
    use kmock_wire::kafka_protocol::protocol::StrBytes;
    MetadataRequest::default().with_topics(Some(vec![
        MetadataRequestTopic::default()
            .with_name(Some(StrBytes::from_string(topic.to_owned()).into())),
    ]))
}

/// One response read off a keep-alive connection: status line, headers (lower-case names) and
/// body (`Content-Length` bytes, or none when `head_only`).
struct Response {
    status_line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn content_length(&self) -> usize {
        self.header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no Content-Length in {:?}", self.headers))
    }
}

/// Reads the next response from `stream`, keeping what follows it in `pending`.
fn read_response(stream: &mut TcpStream, pending: &mut Vec<u8>, head_only: bool) -> Response {
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = stream.read(&mut chunk).expect("read a response head");
        assert!(n > 0, "closed before a whole head: {pending:?}");
        pending.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&pending[..head_end]).into_owned();
    pending.drain(..head_end + 4);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default().to_owned();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut response = Response {
        status_line,
        headers,
        body: Vec::new(),
    };
    if !head_only && !response.status_line.contains(" 100 ") {
        let length = response.content_length();
        while pending.len() < length {
            let n = stream.read(&mut chunk).expect("read a response body");
            assert!(n > 0, "closed before the whole body");
            pending.extend_from_slice(&chunk[..n]);
        }
        response.body = pending.drain(..length).collect();
    }
    response
}

fn connect(address: &str) -> TcpStream {
    let stream = TcpStream::connect(address).expect("connect to the control API");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    stream
}

#[test]
fn head_sends_the_get_headers_without_the_body_on_a_kept_alive_connection() {
    let (_server, api) = start(&["--fault", "leave_group:delay=60s"]);
    let mut stream = connect(&api);
    let mut pending = Vec::new();
    // HEAD, then GET on the same connection: the GET's answer must follow the HEAD's headers
    // directly (a body after HEAD would be read as the next response).
    stream
        .write_all(
            b"HEAD /faults HTTP/1.1\r\nHost: x\r\n\r\nGET /faults HTTP/1.1\r\nHost: x\r\n\r\n",
        )
        .expect("write");
    let head = read_response(&mut stream, &mut pending, true);
    assert_eq!(head.status_line, "HTTP/1.1 200 OK");
    assert_eq!(head.header("connection"), Some("keep-alive"));
    let get = read_response(&mut stream, &mut pending, false);
    assert_eq!(get.status_line, "HTTP/1.1 200 OK", "{pending:?}");
    assert_eq!(head.content_length(), get.body.len());
    let faults: Value = serde_json::from_slice(&get.body).expect("JSON");
    assert_eq!(faults["faults"][0]["spec"], "leave_group:delay=60s");
    // HEAD of an unknown path: the 404's headers, no body.
    stream
        .write_all(
            b"HEAD /nowhere HTTP/1.1\r\n\r\nGET /topics HTTP/1.1\r\nConnection: close\r\n\r\n",
        )
        .expect("write");
    let head = read_response(&mut stream, &mut pending, true);
    assert_eq!(head.status_line, "HTTP/1.1 404 Not Found");
    assert!(head.content_length() > 0);
    let get = read_response(&mut stream, &mut pending, false);
    assert_eq!(get.status_line, "HTTP/1.1 200 OK", "{pending:?}");
}

#[test]
fn expect_100_continue_is_answered_before_the_body_is_sent() {
    let (_server, api) = start(&[]);
    let body = r#"{"spec": "leave_group:drop"}"#;
    let mut stream = connect(&api);
    let mut pending = Vec::new();
    // Headers only; the body waits for 100 Continue, as curl does for a larger body.
    write!(
        stream,
        "POST /faults HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .expect("write");
    let interim = read_response(&mut stream, &mut pending, true);
    assert_eq!(interim.status_line, "HTTP/1.1 100 Continue");
    stream.write_all(body.as_bytes()).expect("write the body");
    let created = read_response(&mut stream, &mut pending, false);
    assert_eq!(created.status_line, "HTTP/1.1 201 Created");

    // Too large: the final status at once, without reading (or waiting for) the body.
    let mut stream = connect(&api);
    stream
        .write_all(
            b"POST /faults HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2000000\r\n\r\n",
        )
        .expect("write");
    let refused = read_response(&mut stream, &mut Vec::new(), false);
    assert_eq!(refused.status_line, "HTTP/1.1 413 Content Too Large");

    // An expectation other than 100-continue.
    let (status, _) = raw(
        &api,
        b"POST /faults HTTP/1.1\r\nExpect: teapot\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
    );
    assert_eq!(status, 417);
}

#[test]
fn status_lines_carry_the_standard_reason_phrases() {
    let (_server, api) = start(&[]);
    let cases: [(&[u8], &str); 8] = [
        (b"GET /faults HTTP/1.1\r\n\r\n", "200 OK"),
        (
            b"POST /faults HTTP/1.1\r\nContent-Length: 27\r\n\r\n{\"spec\": \"fetch:drop,once\"}",
            "201 Created",
        ),
        (
            b"POST /faults HTTP/1.1\r\nContent-Length: 1\r\n\r\n{",
            "400 Bad Request",
        ),
        (b"GET /nowhere HTTP/1.1\r\n\r\n", "404 Not Found"),
        (b"PUT /faults HTTP/1.1\r\n\r\n", "405 Method Not Allowed"),
        (
            b"POST /faults HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "411 Length Required",
        ),
        (
            b"POST /faults HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n",
            "413 Content Too Large",
        ),
        (
            b"POST /faults HTTP/1.1\r\nExpect: x\r\n\r\n",
            "417 Expectation Failed",
        ),
    ];
    for (request, status) in cases {
        let mut stream = connect(&api);
        stream.write_all(request).expect("write");
        let response = read_response(&mut stream, &mut Vec::new(), false);
        assert_eq!(
            response.status_line,
            format!("HTTP/1.1 {status}"),
            "{}",
            String::from_utf8_lossy(request)
        );
    }
}

#[test]
fn a_client_that_stalls_mid_request_gets_408_and_the_connection_closes() {
    let (_server, api) = start(&[]);
    let mut stream = connect(&api);
    let started = Instant::now();
    stream
        .write_all(b"POST /faults HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"spec\"")
        .expect("write");
    let mut received = Vec::new();
    stream
        .read_to_end(&mut received)
        .expect("the server closes the connection");
    let took = started.elapsed();
    let received = String::from_utf8_lossy(&received);
    assert!(
        received.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
        "{received:?}"
    );
    // The deadline is 10 s from the request's first byte.
    assert!(
        (Duration::from_secs(9)..Duration::from_secs(15)).contains(&took),
        "{took:?}"
    );
}

/// `GET /groups` lists both protocols in group id order with their `type`; `GET /groups/{id}`
/// finds a KIP-848 consumer group, with its epochs, assignor and members.
#[test]
fn groups_of_both_protocols_are_listed_with_their_type() {
    use kmock_wire::kafka_protocol::messages::{
        ConsumerGroupHeartbeatRequest, CreateTopicsRequest, OffsetCommitRequest, ResponseKind,
        create_topics_request::CreatableTopic,
    };
    use kmock_wire::kafka_protocol::protocol::StrBytes;
    let name = |s: &'static str| StrBytes::from_static_str(s);
    let (server, api) = start(&[]);
    let mut kafka = KafkaConnection::connect(server.bootstrap());
    kafka.request(
        &CreateTopicsRequest::default().with_topics(vec![
            CreatableTopic::default()
                .with_name(name("orders").into())
                .with_num_partitions(2)
                .with_replication_factor(1),
        ]),
        7,
    );
    // A classic group holding an offset (a simple commit), and a KIP-848 group with a member.
    kafka.request(
        &OffsetCommitRequest::default()
            .with_group_id(name("a-classic").into())
            .with_generation_id_or_member_epoch(-1),
        9,
    );
    let join = ConsumerGroupHeartbeatRequest::default()
        .with_group_id(name("b-consumer").into())
        .with_member_id(name("member-1"))
        .with_member_epoch(0)
        .with_rebalance_timeout_ms(30_000)
        .with_subscribed_topic_names(Some(vec![name("orders").into()]))
        .with_topic_partitions(Some(Vec::new()));
    let ResponseKind::ConsumerGroupHeartbeat(joined) = kafka.request(&join, 1) else {
        panic!("ConsumerGroupHeartbeat answered with another response type");
    };
    assert_eq!(joined.error_code, 0, "{joined:?}");

    let (status, groups) = http(&api, "GET", "/groups", None);
    assert_eq!(status, 200, "{groups}");
    let listed: Vec<(&str, &str)> = groups["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| {
            (
                g["group_id"].as_str().unwrap_or_default(),
                g["type"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [("a-classic", "classic"), ("b-consumer", "consumer")],
        "{groups}"
    );
    let (status, group) = http(&api, "GET", "/groups/b-consumer", None);
    assert_eq!(status, 200, "{group}");
    assert_eq!(group["state"], "Stable", "{group}");
    assert_eq!(group["group_epoch"], 1, "{group}");
    assert_eq!(group["assignor"], "uniform", "{group}");
    assert_eq!(group["members"][0]["member_id"], "member-1", "{group}");
    assert_eq!(group["members"][0]["member_epoch"], 1, "{group}");
    assert_eq!(
        group["members"][0]["assignment"]["orders"],
        serde_json::json!([0, 1]),
        "{group}"
    );
}
