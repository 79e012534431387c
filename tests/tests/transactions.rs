//! Transactions and idempotence against `kmock serve`: real clients (`tests/python/txn_*.py`,
//! `tests/python/idempotent_*.py`) and the control API's view of transactions.
//!
//! - confluent-kafka: commit, abort (hidden from read_committed, visible to read_uncommitted),
//!   `send_offsets_to_transaction` (the group's committed offset moves only on commit), fencing
//!   of a second producer with the same transactional.id;
//! - aiokafka 0.12.0: `async with producer.transaction()` commit and abort,
//!   `send_offsets_to_transaction`;
//! - idempotent producers whose Produce answers are lost (confluent-kafka: the connection closes
//!   after the append; aiokafka: the answer is dropped and the request times out): no duplicates;
//! - `GET /transactions` and the request log's `transactional_id=` filter while a transaction is
//!   open, and after a `txn=` fault rule made EndTxn fail.
//!
//! Needs the Python venv with the pinned clients (`bash .ci/run venv`); a missing one fails the
//! test with instructions, it is never skipped.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use kmock_tests::{KafkaConnection, KmockServer, python, run_python};
use kmock_wire::kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kmock_wire::kafka_protocol::messages::create_topics_request::CreatableTopic;
use kmock_wire::kafka_protocol::messages::{
    AddPartitionsToTxnRequest, CreateTopicsRequest, EndTxnRequest, InitProducerIdRequest,
    ResponseKind,
};
use kmock_wire::kafka_protocol::protocol::StrBytes;
use serde_json::Value;

/// The scripts bound themselves to 90 s; this is the backstop.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(150);

/// Runs a script against a fresh server (with the control API when `with_control`) and asserts
/// it succeeded.
fn run_script(script: &str, with_control: bool) {
    python();
    let mut args = vec!["--initial-rebalance-delay-ms", "0"];
    if with_control {
        args.extend(["--control-port", "0"]);
    }
    let mut server = KmockServer::start(&args);
    let control = with_control.then(|| server.control_url());
    let mut script_args = vec![server.bootstrap().to_owned()];
    script_args.extend(control);
    let script_args: Vec<&str> = script_args.iter().map(String::as_str).collect();
    let run = run_python(script, &script_args, SCRIPT_TIMEOUT);
    server.assert_script_succeeded(script, &run);
}

#[test]
fn confluent_kafka_commits_aborts_sends_offsets_and_is_fenced() {
    run_script("txn_confluent.py", false);
}

#[test]
fn aiokafka_transaction_blocks_commit_abort_and_send_offsets() {
    run_script("txn_aiokafka.py", false);
}

#[test]
fn confluent_kafka_idempotent_producer_writes_no_duplicates_when_answers_are_lost() {
    run_script("idempotent_confluent.py", true);
}

#[test]
fn aiokafka_idempotent_producer_writes_no_duplicates_when_answers_are_dropped() {
    run_script("idempotent_aiokafka.py", true);
}

/// `GET path` on the control API; the status and the JSON body.
fn get(control_url: &str, path: &str) -> (u16, Value) {
    let address = control_url.strip_prefix("http://").expect("an http URL");
    let mut stream = TcpStream::connect(address).expect("connect to the control API");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut text = String::new();
    stream.read_to_string(&mut text).expect("read");
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {text:?}"));
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_owned())
}

#[test]
fn control_api_lists_open_transactions_and_filters_requests_by_transactional_id() {
    let server = KmockServer::start(&[
        "--control-port",
        "0",
        "--fault",
        "end_txn,txn=tx-a:error=concurrent_transactions,once",
    ]);
    let control = server.control_url();
    let mut kafka = KafkaConnection::connect(server.bootstrap());
    kafka.request(
        &CreateTopicsRequest::default().with_topics(vec![
            CreatableTopic::default()
                .with_name(s("t").into())
                .with_num_partitions(2)
                .with_replication_factor(1),
        ]),
        7,
    );
    let ResponseKind::InitProducerId(init) = kafka.request(
        &InitProducerIdRequest::default()
            .with_transactional_id(Some(s("tx-a").into()))
            .with_transaction_timeout_ms(60_000),
        4,
    ) else {
        panic!("InitProducerId answered with another response type")
    };
    assert_eq!(init.error_code, 0);
    let add = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(s("tx-a").into())
        .with_v3_and_below_producer_id(init.producer_id)
        .with_v3_and_below_producer_epoch(init.producer_epoch)
        .with_v3_and_below_topics(vec![
            AddPartitionsToTxnTopic::default()
                .with_name(s("t").into())
                .with_partitions(vec![1]),
        ]);
    kafka.request(&add, 3);

    let (status, listed) = get(&control, "/transactions");
    assert_eq!(status, 200, "{listed}");
    let txn = &listed["transactions"][0];
    assert_eq!(txn["transactional_id"], "tx-a", "{listed}");
    assert_eq!(txn["state"], "Ongoing", "{listed}");
    assert_eq!(txn["producer_id"], init.producer_id.0, "{listed}");
    assert_eq!(txn["partitions"][0]["topic"], "t", "{listed}");
    assert_eq!(txn["partitions"][0]["partition"], 1, "{listed}");
    let (status, missing) = get(&control, "/transactions/nobody");
    assert_eq!(status, 404, "{missing}");

    // The fault answers the first EndTxn of tx-a; the transaction stays open until the retry.
    let end = EndTxnRequest::default()
        .with_transactional_id(s("tx-a").into())
        .with_producer_id(init.producer_id)
        .with_producer_epoch(init.producer_epoch)
        .with_committed(true);
    let ResponseKind::EndTxn(first) = kafka.request(&end, 3) else {
        panic!("EndTxn answered with another response type")
    };
    assert_eq!(
        first.error_code, 51,
        "CONCURRENT_TRANSACTIONS from the fault"
    );
    let (_, one) = get(&control, "/transactions/tx-a");
    assert_eq!(one["state"], "Ongoing", "{one}");
    let ResponseKind::EndTxn(retry) = kafka.request(&end, 3) else {
        panic!("EndTxn answered with another response type")
    };
    assert_eq!(retry.error_code, 0);
    let (_, one) = get(&control, "/transactions/tx-a");
    assert_eq!(one["state"], "CompleteCommit", "{one}");

    let (status, log) = get(&control, "/requests?transactional_id=tx-a");
    assert_eq!(status, 200, "{log}");
    let apis: Vec<&str> = log["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .map(|entry| entry["api"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        apis,
        vec!["InitProducerId", "AddPartitionsToTxn", "EndTxn", "EndTxn"],
        "{log}"
    );
}
