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
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(line) = server
            .stdout_after_bootstrap()
            .into_iter()
            .find(|l| l.starts_with("CONTROL="))
        {
            let url = line.trim().trim_start_matches("CONTROL=");
            let address = url
                .strip_prefix("http://")
                .unwrap_or_else(|| panic!("CONTROL= is not an http URL: {line}"));
            assert!(address.starts_with("127.0.0.1:"), "{line}");
            return (server, address.to_owned());
        }
        assert!(
            Instant::now() < deadline,
            "no CONTROL= line after BOOTSTRAP=\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
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
