//! Properties of the simulation over seeds, timeouts (valid triples), pool sizes 1–16, partitions
//! and records, LeaveGroup and OffsetCommit delays 0–120 s, random fault plans and network faults
//! (partition, disconnect, latency) at the stop. Each case is a generated scenario file run in
//! virtual time; a failing case prints the scenario text and the line that reproduces it.
//!
//! Cases per property: `PROPTEST_CASES` (default 16, so a local `cargo test` stays fast; CI runs
//! 256, see `.ci/run`). Each run draws a new proptest seed and prints it with the line that
//! replays the run (`PROPTEST_RNG_SEED=N`); failing cases are persisted in
//! `tests/proptest-regressions/properties.txt` and replayed first on every run: commit it.

use std::path::{Path, PathBuf};

use kmock_sim::{RunReport, Scenario, Value, Verdict, run_scenario};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

/// kmock's binaries allocate with mimalloc (root Cargo.toml says why).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Scheduling slack allowed around a virtual-time bound, in ms.
const SLACK_MS: f64 = 50.0;

/// Errors the stop retries until its deadline (coordinator lookups): a stop may end at the
/// deadline with the last of them instead of a request timeout.
const RETRIED_UNTIL_THE_DEADLINE: [&str; 3] = [
    "COORDINATOR_NOT_AVAILABLE",
    "NOT_COORDINATOR",
    "COORDINATOR_LOAD_IN_PROGRESS",
];

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16);
    let seed = kmock_tests::proptest_seed("properties", cases);
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/properties.txt",
        ))),
        rng_seed: proptest::test_runner::RngSeed::Fixed(seed),
        ..ProptestConfig::default()
    }
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs generated scenario text; on a failed verdict or property, the message carries the text
/// (saved to a temporary file) and the reproduction line.
fn run(name: &str, text: &str, seed: u64) -> (RunReport, kmock_tests::Reproduction) {
    let scenario = Scenario::parse(name, name, text, &repo_root().join("sims"))
        .unwrap_or_else(|e| panic!("generated scenario is invalid: {e}\n{text}"));
    let report = run_scenario(&scenario, seed);
    // The env file path is resolved relative to the scenario, so point it at the repository.
    let saved = text.replace(
        "env = \".env.test\"",
        &format!(
            "env = {:?}",
            repo_root().join(".env.test").display().to_string()
        ),
    );
    let reproduce = kmock_tests::Reproduction::new(
        "kmock-sim-properties",
        name,
        report.summary(),
        text,
        saved,
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

/// Request timeout, session timeout, heartbeat interval: heartbeat ≤ session / 3, request <
/// session, session within the broker's bounds.
fn timeouts() -> impl Strategy<Value = (u32, u32, u32)> {
    (6_000u32..=60_000).prop_flat_map(|session| {
        (1_000u32..session, 100u32..=session / 3)
            .prop_map(move |(request, heartbeat)| (request, session, heartbeat))
    })
}

/// A broker fault installed just before the pool stops.
fn stop_fault() -> impl Strategy<Value = Vec<String>> {
    prop_oneof![
        Just(vec![]),
        // A late commit, then a late leave: the two share one deadline (real clients give each
        // its own request timeout).
        (0u64..=60_000, 0u64..=60_000).prop_map(|(commit, leave)| vec![
            format!("offset_commit:delay={commit}ms"),
            format!("leave_group:delay={leave}ms"),
        ]),
        (0u64..=60_000).prop_map(|d| vec![format!("heartbeat:delay={d}ms")]),
        (0u64..=60_000).prop_map(|d| vec![format!("find_coordinator:delay={d}ms")]),
        (0u64..=120_000).prop_map(|d| vec![format!("leave_group:delay={d}ms")]),
        Just(vec!["leave_group:drop".to_owned()]),
        Just(vec!["leave_group:error=unknown_member_id".to_owned()]),
        Just(vec!["leave_group:close".to_owned()]),
        Just(vec!["leave_group:close=after".to_owned()]),
        (0u64..=120_000).prop_map(|d| vec![format!("offset_commit:delay={d}ms")]),
        Just(vec![
            "offset_commit:drop".to_owned(),
            "leave_group:drop".to_owned()
        ]),
        Just(vec![
            "find_coordinator:error=coordinator_not_available".to_owned(),
            "offset_commit:error=not_coordinator".to_owned(),
            "leave_group:error=coordinator_not_available".to_owned(),
        ]),
    ]
}

/// A network fault on the pool's links, from just before the stop.
#[derive(Debug, Clone, PartialEq)]
enum StopNetworkFault {
    None,
    /// Every byte held: no request of the stop reaches the broker.
    Partition,
    /// Every connection dropped: the stop reconnects.
    Disconnect,
    /// Added latency each way.
    Latency(u64),
}

fn stop_network_fault() -> impl Strategy<Value = StopNetworkFault> {
    prop_oneof![
        3 => Just(StopNetworkFault::None),
        1 => Just(StopNetworkFault::Partition),
        1 => Just(StopNetworkFault::Disconnect),
        1 => (1u64..=2_000).prop_map(StopNetworkFault::Latency),
    ]
}

impl StopNetworkFault {
    fn timeline(&self) -> String {
        match self {
            StopNetworkFault::None => String::new(),
            StopNetworkFault::Partition => {
                "\n[[timeline]]\ndo = \"partition\"\nactor = \"pool\"\n".to_owned()
            }
            StopNetworkFault::Disconnect => {
                "\n[[timeline]]\ndo = \"disconnect\"\nactor = \"pool\"\n".to_owned()
            }
            StopNetworkFault::Latency(ms) => {
                format!("\n[[timeline]]\ndo = \"latency\"\nactor = \"pool\"\nlatency_ms = {ms}\n")
            }
        }
    }
}

/// How a member's stop ended, read from its trace line (`stop ended after Nms: ok | error: ...`).
#[derive(Debug, Clone, PartialEq)]
enum StopEnding {
    /// Every request answered without error.
    Ok,
    /// The deadline cut this request short (`RequestTimeout`).
    Deadline(String),
    /// A broker error or a closed connection.
    Error(String),
    /// The sequence overran its deadline and the guard aborted it: the bound is broken.
    Overran,
}

/// `(member, took ms, ending)` of every member's stop in the trace.
fn stop_endings(report: &RunReport) -> Vec<(String, f64, StopEnding)> {
    report
        .trace()
        .lines()
        .filter_map(|line| {
            let (before, after) = line.split_once("stop ended after ")?;
            let member = before.split_whitespace().nth(1)?.to_owned();
            let (took, ending) = after.split_once("ms: ")?;
            let took: f64 = took.parse().ok()?;
            let ending = if ending == "ok" {
                StopEnding::Ok
            } else if ending.contains("after its deadline") {
                StopEnding::Overran
            } else if let Some(error) = ending.strip_prefix("error: ") {
                match error.split_once(" request to ") {
                    Some((api, rest)) if rest.contains(" timed out after ") => {
                        StopEnding::Deadline(api.to_owned())
                    }
                    _ => StopEnding::Error(error.to_owned()),
                }
            } else {
                StopEnding::Error(ending.to_owned())
            };
            Some((member, took, ending))
        })
        .collect()
}

fn pool_scenario(
    settings: &str,
    pool_size: usize,
    partitions: i32,
    records: u32,
    stop_faults: &[String],
) -> String {
    pool_scenario_with(
        settings,
        pool_size,
        partitions,
        records,
        stop_faults,
        &StopNetworkFault::None,
    )
}

fn pool_scenario_with(
    settings: &str,
    pool_size: usize,
    partitions: i32,
    records: u32,
    stop_faults: &[String],
    network: &StopNetworkFault,
) -> String {
    let mut text = format!(
        r#"seed = 0

[settings]
{settings}

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
"#
    );
    for rule in stop_faults {
        text.push_str(&format!(
            "\n[[timeline]]\ndo = \"fault\"\nrule = \"{rule}\"\n"
        ));
    }
    text.push_str(&network.timeline());
    text.push_str("\n[[timeline]]\ndo = \"stop\"\nactor = \"pool\"\n");
    text
}

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

    /// Teardown ≤ request_timeout + slack for every consumer and for the pool, whatever the
    /// broker does to the final commit, the LeaveGroup, a heartbeat or the coordinator lookup and
    /// whatever the network does at the stop — and each stop ends by its own sequence: a stop
    /// that lasts the request timeout was cut short by the deadline (a request timeout naming
    /// the request), a request timeout ends a stop exactly at the deadline, none overruns it (the
    /// handle's guard would say so), and behind a partition every stop ends at the deadline.
    #[test]
    fn teardown_is_bounded_by_request_timeout(
        seed in any::<u64>(),
        (request, session, heartbeat) in timeouts(),
        pool_size in 1usize..=16,
        partitions in 1i32..=8,
        records in 1u32..=20,
        faults in stop_fault(),
        network in stop_network_fault(),
    ) {
        let settings = format!(
            "KAFKA_REQUEST_TIMEOUT_MS = {request}\nKAFKA_SESSION_TIMEOUT_MS = {session}\nKAFKA_HEARTBEAT_INTERVAL_MS = {heartbeat}"
        );
        let text =
            pool_scenario_with(&settings, pool_size, partitions, records, &faults, &network);
        let (report, reproduce) = run("teardown-bound", &text, seed);
        prop_assert_eq!(report.verdict, Verdict::Pass, "{}", reproduce);
        let bound = f64::from(request) + SLACK_MS;
        let all = teardowns(&report);
        prop_assert_eq!(all.len(), pool_size + 2, "{}", reproduce);
        for (name, took) in all {
            prop_assert!(took <= bound, "{name} took {took} ms > {bound} ms\n{}", reproduce);
        }
        let endings = stop_endings(&report);
        prop_assert_eq!(endings.len(), pool_size, "{}", reproduce);
        let deadline = f64::from(request);
        for (member, took, ending) in endings {
            // Exact: in virtual time a stop the deadline ends lasts the request timeout to the
            // millisecond (a latency can make an honest answer arrive within any slack of it).
            let at_deadline = (took - deadline).abs() < 1.0;
            prop_assert!(ending != StopEnding::Overran, "{member} overran\n{}", reproduce);
            // The deadline ends a stop with a request timeout, or with the last error of a
            // retry loop it cut short (a coordinator lookup answered with a retriable error).
            let cut_short = match &ending {
                StopEnding::Deadline(_) => true,
                StopEnding::Error(error) => RETRIED_UNTIL_THE_DEADLINE
                    .iter()
                    .any(|name| error.contains(name)),
                StopEnding::Ok | StopEnding::Overran => false,
            };
            prop_assert!(
                !matches!(ending, StopEnding::Deadline(_)) || at_deadline,
                "{} ended {:?} after {} ms: a request timeout ends a stop at the deadline\n{}",
                member, ending, took, reproduce
            );
            prop_assert!(
                !at_deadline || cut_short,
                "{} took {} ms and ended {:?}: a stop that lasts the request timeout was cut \
                 short by the deadline\n{}",
                member, took, ending, reproduce
            );
            if network == StopNetworkFault::Partition {
                prop_assert!(
                    at_deadline,
                    "{} ended {:?} after {} ms behind a partition\n{}",
                    member, ending, took, reproduce
                );
            }
        }
    }

    /// With default timeouts and LeaveGroup answered D late: teardown = min(D, request_timeout).
    #[test]
    fn default_teardown_is_the_leave_delay_capped_by_request_timeout(
        seed in any::<u64>(),
        delay_ms in 0u64..=120_000,
        pool_size in 1usize..=4,
    ) {
        let faults = vec![format!("leave_group:delay={delay_ms}ms")];
        let text = pool_scenario("SSE_CONSUMER_POOL_SIZE = 1", pool_size, 4, 2, &faults);
        let (report, reproduce) = run("default-leave-delay", &text, seed);
        prop_assert_eq!(report.verdict, Verdict::Pass, "{}", reproduce);
        let expected = (delay_ms as f64).min(40_000.0);
        let teardown = report.teardown_ms.unwrap_or(-1.0);
        prop_assert!(
            (teardown - expected).abs() <= SLACK_MS,
            "teardown {teardown} ms, expected {expected} ms\n{}", reproduce
        );
    }

    /// Every acknowledged record is delivered at least once, through random network and broker
    /// faults while records are produced.
    #[test]
    fn acknowledged_records_are_delivered_at_least_once(
        seed in any::<u64>(),
        pool_size in 1usize..=4,
        partitions in 1i32..=6,
        records in 1u32..=20,
        plan in prop_oneof![
            Just(String::new()),
            (0u64..=15_000).prop_map(|ms| format!(
                "[[faults]]\nnetwork = \"partition\"\nactor = \"pool\"\nat_ms = 1\nuntil_ms = {}\n", 1 + ms)),
            Just("[[faults]]\nnetwork = \"disconnect\"\nactor = \"pool\"\nat_ms = 1\n".to_owned()),
            (1u64..=200).prop_map(|ms| format!(
                "[[faults]]\nnetwork = \"latency\"\nactor = \"pool\"\nlatency_ms = {ms}\n")),
            Just("[[faults]]\nrule = \"heartbeat:error=rebalance_in_progress,once\"\n".to_owned()),
            Just("[[faults]]\nrule = \"fetch:hold=300ms,prob=0.5\"\n".to_owned()),
            Just("[[faults]]\nrule = \"join_group:error=27,once\"\n".to_owned()),
        ],
    ) {
        let text = format!(
            r#"seed = 0
expect = ["lost == 0", "ownership_conflicts == 0"]

[settings]
env = ".env.test"

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

{plan}
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
"#
        );
        let (report, reproduce) = run("at-least-once", &text, seed);
        prop_assert_eq!(report.verdict, Verdict::Pass, "{}", reproduce);
        prop_assert_eq!(number(&report, "lost"), Some(0.0), "{}", reproduce);
    }

    /// A stable group (no faults, everyone joined before producing) delivers each record once;
    /// each partition has at most one owner per generation.
    #[test]
    fn a_stable_group_delivers_each_record_once(
        seed in any::<u64>(),
        pool_size in 1usize..=8,
        partitions in 1i32..=8,
        records in 1u32..=40,
    ) {
        let text = pool_scenario("env = \".env.test\"", pool_size, partitions, records, &[]);
        let (report, reproduce) = run("exactly-once-stable", &text, seed);
        prop_assert_eq!(report.verdict, Verdict::Pass, "{}", reproduce);
        prop_assert_eq!(number(&report, "produced"), Some(f64::from(records)), "{}", reproduce);
        prop_assert_eq!(number(&report, "delivered"), Some(f64::from(records)), "{}", reproduce);
        prop_assert_eq!(number(&report, "duplicates"), Some(0.0), "{}", reproduce);
        prop_assert_eq!(number(&report, "ownership_conflicts"), Some(0.0), "{}", reproduce);
    }
}

#[test]
fn generated_scenarios_resolve_the_env_file() {
    let text = pool_scenario("env = \".env.test\"", 1, 1, 1, &[]);
    let scenario = Scenario::parse("t", "t", &text, &repo_root().join("sims")).unwrap();
    assert_eq!(scenario.settings.request_timeout_ms, 5_000);
    assert!(Path::new(&repo_root().join(".env.test")).is_file());
}

/// A broker fault installed just before a KIP-848 pool stops: on the leave heartbeat (member epoch
/// -1), on the final commit, or on the coordinator.
fn kip848_stop_fault() -> impl Strategy<Value = Vec<String>> {
    prop_oneof![
        Just(vec![]),
        (0u64..=120_000)
            .prop_map(|d| vec![format!("consumer_group_heartbeat,epoch=-1:delay={d}ms")]),
        Just(vec!["consumer_group_heartbeat,epoch=-1:drop".to_owned()]),
        Just(vec![
            "consumer_group_heartbeat,epoch=-1:error=unknown_member_id".to_owned()
        ]),
        Just(vec!["consumer_group_heartbeat,epoch=-1:close".to_owned()]),
        Just(vec!["consumer_group_heartbeat:close=after".to_owned()]),
        (0u64..=120_000).prop_map(|d| vec![format!("consumer_group_heartbeat:delay={d}ms")]),
        (0u64..=120_000).prop_map(|d| vec![format!("offset_commit:delay={d}ms")]),
        Just(vec![
            "find_coordinator:error=coordinator_not_available".to_owned(),
            "offset_commit:error=not_coordinator".to_owned(),
            "consumer_group_heartbeat:error=coordinator_not_available".to_owned(),
        ]),
    ]
}

proptest! {
    #![proptest_config(config())]

    /// KIP-848 (`KAFKA_GROUP_PROTOCOL=consumer`): teardown ≤ request_timeout + slack for every
    /// member and for the pool, whatever the leave heartbeat (or the final commit, or the
    /// coordinator, or every heartbeat) does.
    #[test]
    fn kip848_teardown_is_bounded_by_request_timeout(
        seed in any::<u64>(),
        (request, session, heartbeat) in timeouts(),
        pool_size in 1usize..=8,
        faults in kip848_stop_fault(),
    ) {
        let settings = format!(
            "KAFKA_GROUP_PROTOCOL = \"consumer\"\nKAFKA_REQUEST_TIMEOUT_MS = {request}\nKAFKA_SESSION_TIMEOUT_MS = {session}\nKAFKA_HEARTBEAT_INTERVAL_MS = {heartbeat}"
        );
        let text = pool_scenario(&settings, pool_size, 4, 4, &faults);
        let (report, reproduce) = run("kip848-teardown-bound", &text, seed);
        prop_assert_eq!(report.verdict, Verdict::Pass, "{}", reproduce);
        let bound = f64::from(request) + SLACK_MS;
        let all = teardowns(&report);
        prop_assert_eq!(all.len(), pool_size + 2, "{}", reproduce);
        for (name, took) in all {
            prop_assert!(took <= bound, "{name} took {took} ms > {bound} ms\n{}", reproduce);
        }
    }
}
