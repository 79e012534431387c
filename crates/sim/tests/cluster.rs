//! A 3-broker cluster in the simulation: `[broker] brokers = 3`, cluster steps in the timeline
//! (`broker_down`, `broker_up`, `move_coordinator`, `move_leader`), the in-memory network routing
//! each connection to the broker its port names; the pool keeps delivering every record.

use std::path::Path;

use kmock_sim::runner::run_scenario;
use kmock_sim::scenario::Scenario;

const SCENARIO: &str = r#"
description = "3 brokers; the group's coordinator broker goes down and comes back; a leader moves"
seed = 7
expect = ["delivered == produced"]

[settings]
KAFKA_SESSION_TIMEOUT_MS = 6000
KAFKA_HEARTBEAT_INTERVAL_MS = 1000
KAFKA_REQUEST_TIMEOUT_MS = 5000
SSE_CONSUMER_POOL_SIZE = 1

[broker]
brokers = 3
default_replication_factor = 3

[[topics]]
name = "events"
partitions = 3

[[actors]]
name = "producer"
kind = "producer"
records = 9

[[actors]]
name = "sse"
kind = "pool"
group = "sse-consumers"

[[timeline]]
do = "start"
actor = "sse"

[[timeline]]
do = "wait_stable"
actor = "sse"

[[timeline]]
do = "start"
actor = "producer"

[[timeline]]
do = "produce"
actor = "producer"

[[timeline]]
do = "wait_delivered"
actor = "sse"

[[timeline]]
do = "broker_down"
node = BROKER

[[timeline]]
do = "produce"
actor = "producer"

[[timeline]]
do = "wait_delivered"
actor = "sse"

[[timeline]]
do = "broker_up"
node = BROKER

[[timeline]]
do = "move_coordinator"
group = "sse-consumers"
node = BROKER

[[timeline]]
do = "move_leader"
topic = "events"
partition = 0
node = 2

[[timeline]]
do = "produce"
actor = "producer"

[[timeline]]
do = "wait_delivered"
actor = "sse"
"#;

fn scenario(broker: i32) -> Scenario {
    let text = SCENARIO.replace("BROKER", &broker.to_string());
    Scenario::parse("cluster.toml", "cluster", &text, Path::new("."))
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_pool_keeps_delivering_across_broker_down_up_and_moves() {
    // "sse-consumers" hashes to __consumer_offsets-… led by one of the brokers; each broker in
    // turn goes down, so one run takes the coordinator's down.
    for broker in 0..3 {
        let report = run_scenario(&scenario(broker), 7);
        assert!(
            report.failures.is_empty() && report.expectations.iter().all(|e| e.passed),
            "broker {broker} down: {}\n{}",
            report.summary(),
            report.trace()
        );
        assert!(
            report
                .trace()
                .contains(&format!("cluster: broker {broker} down")),
            "{}",
            report.trace()
        );
    }
}

#[test]
fn cluster_steps_are_checked() {
    let bad = SCENARIO.replace("node = BROKER", "").replace("BROKER", "1");
    let error = Scenario::parse("cluster.toml", "cluster", &bad, Path::new("."))
        .expect_err("a cluster step without node");
    assert!(error.to_string().contains("needs `node = N`"), "{error}");
}

/// A parked long-poll Fetch that a leader move completes is answered at the move's virtual time
/// (the broker's clock moves to the time of a cluster operation before it runs), not at the time
/// of the broker's last input: its trace line says `(after N ms)` and ends at the move.
#[test]
fn a_parked_fetch_completed_by_a_leader_move_is_answered_at_the_move() {
    let text = r#"
seed = 3
[settings]
KAFKA_SESSION_TIMEOUT_MS = 6000
KAFKA_HEARTBEAT_INTERVAL_MS = 2000
KAFKA_REQUEST_TIMEOUT_MS = 5000
SSE_CONSUMER_POOL_SIZE = 1

[broker]
brokers = 3
default_replication_factor = 3

[[topics]]
name = "events"
partitions = 1

[[actors]]
name = "sse"
kind = "pool"
group = "g"

[[faults]]
cluster = "move_leader"
topic = "events"
partition = 0
node = 1
at_ms = 250

[[timeline]]
do = "start"
actor = "sse"

[[timeline]]
do = "wait_stable"
actor = "sse"

[[timeline]]
at_ms = 1_000
do = "stop"
actor = "sse"
"#;
    let scenario = Scenario::parse("parked.toml", "parked", text, Path::new("."))
        .unwrap_or_else(|e| panic!("{e}"));
    let report = run_scenario(&scenario, 3);
    let trace = report.trace();
    let line = trace
        .lines()
        .find(|l| l.contains(" Fetch v") && l.contains("not_leader_or_follower"))
        .unwrap_or_else(|| panic!("no Fetch answered NOT_LEADER_OR_FOLLOWER\n{trace}"));
    let sent_ms: f64 = line
        .split_whitespace()
        .next()
        .and_then(|t| t.strip_suffix("ms"))
        .and_then(|t| t.parse().ok())
        .expect("a time first");
    let after_ms: f64 = line
        .split_once("(after ")
        .and_then(|(_, rest)| rest.split_once("ms)"))
        .and_then(|(ms, _)| ms.parse().ok())
        .unwrap_or(0.0);
    assert_eq!(sent_ms + after_ms, 250.0, "{line}\n{trace}");
}
