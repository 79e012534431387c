//! Properties of the client on a 3-broker cluster (`[broker] brokers = 3`, replication factor 3)
//! under random cluster events at random virtual times: one broker down for a while (any node,
//! the coordinator's too), partition leaders and the group's coordinator moved to a broker that
//! is up. Each case is a generated scenario file (the events are `[[faults]] cluster = ...`
//! entries, so they land whatever the timeline is doing: a produce, a rebalance, a stop):
//!
//! - while records are produced and consumed, every record is acknowledged (the producer follows
//!   NOT_LEADER_OR_FOLLOWER and closed connections to the new leader) and every acknowledged
//!   record is delivered at least once;
//! - a consumer pool's `stop()` never outlasts `request_timeout` (+ slack), whatever event lands
//!   during it (the coordinator moving or its broker going down under the final commit or the
//!   LeaveGroup).
//!
//! A failing case prints the scenario text (saved to a file) and the line that reproduces it
//! (`reproduce: kmock sim run FILE --seed N`). Cases per property: `PROPTEST_CASES` (default 16;
//! CI runs 256, see `.ci/run`); each run draws a fresh proptest seed, printed with the line that
//! replays the run; failing cases are persisted in `tests/proptest-regressions/cluster_properties.txt`
//! and replayed first: commit it.

use std::path::PathBuf;

use kmock_sim::{RunReport, Scenario, Value, Verdict, run_scenario};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

/// kmock's binaries allocate with mimalloc (root Cargo.toml says why).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Scheduling slack allowed around a virtual-time bound, in ms.
const SLACK_MS: f64 = 50.0;
/// Brokers in every generated cluster (node ids 0..3).
const BROKERS: i32 = 3;

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16);
    let seed = kmock_tests::proptest_seed("cluster_properties", cases);
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/cluster_properties.txt",
        ))),
        rng_seed: proptest::test_runner::RngSeed::Fixed(seed),
        ..ProptestConfig::default()
    }
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs generated scenario text; the second value is the text (saved to a temporary file) and
/// the reproduction line, for a failure message.
fn run(name: &str, text: &str, seed: u64) -> (RunReport, kmock_tests::Reproduction) {
    let scenario = Scenario::parse(name, name, text, &repo_root().join("sims"))
        .unwrap_or_else(|e| panic!("generated scenario is invalid: {e}\n{text}"));
    let report = run_scenario(&scenario, seed);
    let reproduce = kmock_tests::Reproduction::new(
        "kmock-sim-cluster-properties",
        name,
        report.summary(),
        text,
        text.to_owned(),
        seed,
    );
    (report, reproduce)
}

fn number(report: &RunReport, key: &str) -> Option<f64> {
    match report.metrics.get(key) {
        Some(Value::Number(n)) => Some(*n),
        _ => None,
    }
}

/// One cluster event at a virtual time.
#[derive(Debug, Clone)]
enum Event {
    /// `node` down at `at_ms`, up again `down_ms` later.
    Down { node: i32, at_ms: u64, down_ms: u64 },
    /// The leader of `partition` (modulo the topic's partitions) to `node`.
    MoveLeader {
        partition: i32,
        node: i32,
        at_ms: u64,
    },
    /// The group's coordinator to `node`.
    MoveCoordinator { node: i32, at_ms: u64 },
}

impl Event {
    /// The `[[faults]]` entry.
    fn toml(&self, partitions: i32, group: &str) -> String {
        match self {
            Event::Down {
                node,
                at_ms,
                down_ms,
            } => format!(
                "[[faults]]\ncluster = \"broker_down\"\nnode = {node}\nat_ms = {at_ms}\nuntil_ms = {}\n",
                at_ms + down_ms
            ),
            Event::MoveLeader {
                partition,
                node,
                at_ms,
            } => format!(
                "[[faults]]\ncluster = \"move_leader\"\ntopic = \"events\"\npartition = {}\nnode = {node}\nat_ms = {at_ms}\n",
                partition % partitions
            ),
            Event::MoveCoordinator { node, at_ms } => format!(
                "[[faults]]\ncluster = \"move_coordinator\"\ngroup = \"{group}\"\nnode = {node}\nat_ms = {at_ms}\n"
            ),
        }
    }
}

/// A plan of cluster events within `[from_ms, from_ms + window_ms]`: at most one broker down (a
/// cluster of three keeps a replica of everything), and moves only to the brokers that stay up
/// (a move to a broker that is down is refused, which fails a scenario).
fn cluster_events(from_ms: u64, window_ms: u64) -> impl Strategy<Value = Vec<Event>> {
    let at = move || (0..=window_ms).prop_map(move |ms| from_ms + ms);
    let down = proptest::option::of((0..BROKERS, at(), 1u64..=10_000));
    down.prop_flat_map(move |down| {
        // Targets of moves: never the node that goes down.
        let down_node = down.map(|(node, _, _)| node);
        let targets: Vec<i32> = (0..BROKERS).filter(|n| Some(*n) != down_node).collect();
        let target = proptest::sample::select(targets);
        let moves = proptest::collection::vec(
            prop_oneof![
                (0i32..8, target.clone(), at()).prop_map(|(partition, node, at_ms)| {
                    Event::MoveLeader {
                        partition,
                        node,
                        at_ms,
                    }
                }),
                (target, at()).prop_map(|(node, at_ms)| Event::MoveCoordinator { node, at_ms }),
            ],
            0..=3,
        );
        moves.prop_map(move |mut events| {
            if let Some((node, at_ms, down_ms)) = down {
                events.insert(
                    0,
                    Event::Down {
                        node,
                        at_ms,
                        down_ms,
                    },
                );
            }
            events
        })
    })
}

/// The settings and cluster of every generated scenario; `events` go before the timeline.
fn header(settings: &str, partitions: i32, records: u32, pool_size: usize, events: &str) -> String {
    format!(
        r#"seed = 0

[settings]
{settings}

[broker]
brokers = {BROKERS}
default_replication_factor = {BROKERS}

[[topics]]
name = "events"
partitions = {partitions}

[[actors]]
name = "producer"
kind = "producer"
records = {records}

[[actors]]
name = "pool"
kind = "pool"
size = {pool_size}
group = "g"

{events}"#
    )
}

/// Request timeout, session timeout, heartbeat interval: heartbeat ≤ session / 3, request <
/// session, session within the broker's bounds.
fn timeouts() -> impl Strategy<Value = (u32, u32, u32)> {
    (6_000u32..=30_000).prop_flat_map(|session| {
        (1_000u32..session, 100u32..=session / 3)
            .prop_map(move |(request, heartbeat)| (request, session, heartbeat))
    })
}

/// A broker fault on the stop's requests, so that it lasts long enough for an event to land in
/// it: the final commit or the LeaveGroup answered late (up to twice the request timeout).
fn stop_fault(request: u32) -> impl Strategy<Value = Option<String>> {
    let late = 0..=u64::from(request) * 2;
    prop_oneof![
        Just(None),
        late.clone()
            .prop_map(|ms| Some(format!("offset_commit:delay={ms}ms"))),
        late.prop_map(|ms| Some(format!("leave_group:delay={ms}ms"))),
    ]
}

/// Every `teardown_ms[...]` and `pool_teardown_ms[...]` metric.
fn teardowns(report: &RunReport) -> Vec<(String, f64)> {
    report
        .metrics
        .iter()
        .filter(|(k, _)| k.starts_with("teardown_ms[") || k.starts_with("pool_teardown_ms["))
        .filter_map(|(k, v)| match v {
            Value::Number(n) => Some((k.clone(), *n)),
            Value::Text(_) => None,
        })
        .collect()
}

proptest! {
    #![proptest_config(config())]

    /// Cluster events during three produce steps (at 0, 1 s and 2 s; Produce answers perhaps held
    /// back up to 1.5 s) and the consumption: every record acknowledged, every acknowledged record delivered at least once, no partition owned
    /// twice in a generation.
    #[test]
    fn acknowledged_records_are_delivered_through_cluster_events(
        seed in any::<u64>(),
        pool_size in 1usize..=3,
        partitions in 1i32..=6,
        records in 1u32..=12,
        events in cluster_events(0, 3_000),
        produce_delay_ms in proptest::option::of(1u64..=1_500),
    ) {
        let mut plan: String = events.iter().map(|e| e.toml(partitions, "g")).collect();
        // Produce answers held back, so that a broker going down or a leader moving catches
        // Produce requests in flight.
        if let Some(ms) = produce_delay_ms {
            plan.push_str(&format!("[[faults]]\nrule = \"produce:delay={ms}ms\"\n"));
        }
        let mut text = header("env = \".env.test\"", partitions, records, pool_size, &plan);
        text.push_str(
            r#"
[[timeline]]
do = "start"
actor = "pool"

[[timeline]]
do = "start"
actor = "producer"

[[timeline]]
do = "produce"
actor = "producer"

[[timeline]]
at_ms = 1_000
do = "produce"
actor = "producer"

[[timeline]]
at_ms = 2_000
do = "produce"
actor = "producer"

[[timeline]]
do = "wait_delivered"
actor = "pool"
timeout_ms = 300_000

[[timeline]]
do = "stop"
actor = "pool"
"#,
        );
        let text = text.replace("env = \".env.test\"", &format!(
            "env = {:?}", repo_root().join(".env.test").display().to_string()));
        let (report, reproduce) = run("cluster-at-least-once", &text, seed);
        prop_assert_eq!(report.verdict, Verdict::Pass, "{}", reproduce);
        prop_assert_eq!(number(&report, "produce_failed"), Some(0.0), "{}", reproduce);
        prop_assert_eq!(
            number(&report, "produced"), Some(f64::from(records * 3)), "{}", reproduce);
        prop_assert_eq!(number(&report, "lost"), Some(0.0), "{}", reproduce);
        prop_assert_eq!(number(&report, "ownership_conflicts"), Some(0.0), "{}", reproduce);
    }

    /// The pool stops at 1 s, its final commit or LeaveGroup perhaps answered late; cluster
    /// events land from just before the stop to past its deadline: every member's stop and the
    /// pool's stop take at most request_timeout (+ slack).
    #[test]
    fn stop_is_bounded_by_request_timeout_through_cluster_events(
        seed in any::<u64>(),
        (request, session, heartbeat, fault) in timeouts().prop_flat_map(|(r, s, h)| {
            stop_fault(r).prop_map(move |fault| (r, s, h, fault))
        }),
        pool_size in 1usize..=4,
        partitions in 1i32..=6,
        records in 1u32..=8,
        events_and_window in (500u64..=12_000).prop_flat_map(|window| cluster_events(900, window)),
    ) {
        let events = events_and_window;
        let settings = format!(
            "KAFKA_REQUEST_TIMEOUT_MS = {request}\nKAFKA_SESSION_TIMEOUT_MS = {session}\nKAFKA_HEARTBEAT_INTERVAL_MS = {heartbeat}"
        );
        let plan: String = events.iter().map(|e| e.toml(partitions, "g")).collect();
        let mut text = header(&settings, partitions, records, pool_size, &plan);
        text.push_str(
            r#"
[[timeline]]
do = "start"
actor = "pool"

[[timeline]]
do = "wait_stable"
actor = "pool"

[[timeline]]
do = "start"
actor = "producer"

[[timeline]]
do = "produce"
actor = "producer"

[[timeline]]
do = "wait_delivered"
actor = "pool"
"#,
        );
        if let Some(rule) = &fault {
            text.push_str(&format!("\n[[timeline]]\ndo = \"fault\"\nrule = \"{rule}\"\n"));
        }
        text.push_str("\n[[timeline]]\nat_ms = 1_000\ndo = \"stop\"\nactor = \"pool\"\n");
        let (report, reproduce) = run("cluster-stop-bound", &text, seed);
        prop_assert_eq!(report.verdict, Verdict::Pass, "{}", reproduce);
        let bound = f64::from(request) + SLACK_MS;
        let all = teardowns(&report);
        prop_assert_eq!(all.len(), pool_size + 2, "{}", reproduce);
        for (name, took) in all {
            prop_assert!(took <= bound, "{name} took {took} ms > {bound} ms\n{}", reproduce);
        }
    }
}

#[test]
fn generated_events_are_valid_scenario_text() {
    let events = [
        Event::Down {
            node: 2,
            at_ms: 5,
            down_ms: 10,
        },
        Event::MoveLeader {
            partition: 7,
            node: 1,
            at_ms: 6,
        },
        Event::MoveCoordinator { node: 0, at_ms: 7 },
    ];
    let plan: String = events.iter().map(|e| e.toml(3, "g")).collect();
    let text = header("", 3, 1, 1, &plan);
    let scenario = Scenario::parse("t", "t", &text, &repo_root().join("sims"))
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(scenario.faults.len(), 3);
    assert!(text.contains("partition = 1\n"), "{text}");
}
