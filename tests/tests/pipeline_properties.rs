//! Properties of the exactly-once pipeline in the simulation (`kind = "pipeline"`, see
//! `crates/sim/src/pipeline.rs`): over seeds, partitions, record counts, batch sizes and fault
//! plans on the transaction APIs and the pipeline's Produce requests, a read_committed reader of
//! the output sees every acknowledged input record's output exactly once and no aborted one; a
//! transaction left open past its timeout is aborted by the broker, and the pipeline still ends
//! with every record once.
//!
//! Each case is a generated scenario file run in virtual time; a failing case prints the scenario
//! text and the line that reproduces it. Cases per property: `PROPTEST_CASES` (default 16; CI
//! runs 256). Each run draws a new proptest seed and prints it with the line that replays the run;
//! failing cases are persisted in `tests/proptest-regressions/pipeline_properties.txt`: commit it.

use std::path::PathBuf;

use kmock_sim::{RunReport, Scenario, Value, Verdict, run_scenario};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

/// kmock's binaries allocate with mimalloc (root Cargo.toml says why).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16);
    let seed = kmock_tests::proptest_seed("pipeline_properties", cases);
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/pipeline_properties.txt",
        ))),
        rng_seed: proptest::test_runner::RngSeed::Fixed(seed),
        ..ProptestConfig::default()
    }
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs generated scenario text; the message of a failure carries the text (saved to a temporary
/// file, the env file pointed at the repository's) and the reproduction line.
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
        "kmock-sim-pipeline-properties",
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

/// Broker fault rules on the transaction APIs and the pipeline's (client `etl`) Produce requests:
/// late answers (below and beyond the 5 s request timeout), retriable errors, a fake fencing, lost
/// answers.
fn fault_plan() -> impl Strategy<Value = Vec<String>> {
    let one = prop_oneof![
        (0u64..=12_000).prop_map(|ms| format!("end_txn:delay={ms}ms,once")),
        (0u64..=3_000).prop_map(|ms| format!("add_partitions_to_txn:delay={ms}ms")),
        (0u64..=3_000).prop_map(|ms| format!("add_offsets_to_txn:delay={ms}ms")),
        (0u64..=3_000).prop_map(|ms| format!("txn_offset_commit:delay={ms}ms")),
        (1u64..=3)
            .prop_map(|n| format!("add_partitions_to_txn:error=concurrent_transactions,times={n}")),
        (1u64..=3)
            .prop_map(|n| format!("init_producer_id:error=coordinator_load_in_progress,times={n}")),
        Just("end_txn:error=producer_fenced,once".to_owned()),
        Just("add_offsets_to_txn:error=producer_fenced,once".to_owned()),
        Just("txn_offset_commit:error=invalid_producer_epoch,once".to_owned()),
        (1u64..=3).prop_map(|n| format!("end_txn:error=not_coordinator,times={n}")),
        (1u64..=2).prop_map(|n| format!("produce,client=etl:drop,times={n}")),
        (1u64..=2).prop_map(|n| format!("produce,client=etl:close=after,times={n}")),
        (0u64..=8_000).prop_map(|ms| format!("produce,client=etl:delay={ms}ms,once")),
        (1u64..=2).prop_map(|n| format!("end_txn:close=after,times={n}")),
    ];
    proptest::collection::vec(one, 0..=3)
}

/// A scenario: `records` acknowledged into `in` in three produce steps around the pipeline's
/// start, processed into `out` with `batch` records per transaction, under `faults`.
fn pipeline_scenario(
    partitions: i32,
    records: u32,
    batch: u32,
    transaction_timeout_ms: u64,
    faults: &[String],
) -> String {
    let faults: String = faults
        .iter()
        .map(|rule| format!("[[faults]]\nrule = {rule:?}\n\n"))
        .collect();
    let first = records / 3;
    let second = records / 3;
    let third = records - first - second;
    let mut steps = String::new();
    for (action, extra) in [
        ("start", "actor = \"source\"".to_owned()),
        ("produce", format!("actor = \"source\"\nrecords = {first}")),
        ("start", "actor = \"etl\"".to_owned()),
        ("produce", format!("actor = \"source\"\nrecords = {second}")),
        ("produce", format!("actor = \"source\"\nrecords = {third}")),
        (
            "wait_processed",
            "actor = \"etl\"\ntimeout_ms = 600_000".to_owned(),
        ),
        ("stop", "actor = \"etl\"".to_owned()),
    ] {
        if action == "produce" && extra.ends_with("records = 0") {
            continue;
        }
        steps.push_str(&format!("[[timeline]]\ndo = \"{action}\"\n{extra}\n\n"));
    }
    format!(
        r#"description = "generated: exactly-once pipeline under faults"
max_virtual_ms = 3_600_000
[settings]
env = ".env.test"

[[topics]]
name = "in"
partitions = {partitions}

[[topics]]
name = "out"
partitions = {partitions}

[[actors]]
name = "source"
kind = "producer"
topics = ["in"]

[[actors]]
name = "etl"
kind = "pipeline"
topics = ["in"]
output = "out"
group = "etl"
transactional_id = "etl-tx"
batch = {batch}
transaction_timeout_ms = {transaction_timeout_ms}

{faults}{steps}"#
    )
}

proptest! {
    #![proptest_config(config())]

    /// Every acknowledged input record has exactly one output a read_committed reader sees,
    /// whatever the broker does to the transaction APIs and the pipeline's Produce requests.
    #[test]
    fn the_pipeline_commits_every_record_exactly_once_under_faults(
        seed in any::<u64>(),
        partitions in 1i32..=4,
        records in 1u32..=40,
        batch in 1u32..=10,
        faults in fault_plan(),
    ) {
        let text = pipeline_scenario(partitions, records, batch, 60_000, &faults);
        let (report, reproduce) = run("pipeline-exactly-once", &text, seed);
        prop_assert_eq!(report.verdict, Verdict::Pass, "{}", reproduce);
        prop_assert_eq!(number(&report, "produced"), Some(f64::from(records)), "{}", reproduce);
        prop_assert_eq!(number(&report, "pipeline_missing"), Some(0.0), "{}", reproduce);
        prop_assert_eq!(number(&report, "pipeline_duplicates"), Some(0.0), "{}", reproduce);
        prop_assert_eq!(
            number(&report, "pipeline_committed"),
            Some(f64::from(records)),
            "{}",
            reproduce
        );
    }

    /// A transaction still open past its timeout (its first Produce answered later than that) is
    /// aborted by the broker, which fences the producer: the pipeline restarts, and the output is
    /// still every record exactly once.
    #[test]
    fn a_transaction_open_past_its_timeout_is_aborted_by_the_broker(
        seed in any::<u64>(),
        partitions in 1i32..=3,
        records in 3u32..=30,
        batch in 1u32..=10,
        timeout_ms in 1_000u64..=4_000,
        late_by_ms in 100u64..=3_000,
    ) {
        let fault = format!("produce,client=etl:delay={}ms,once", timeout_ms + late_by_ms);
        let text = pipeline_scenario(partitions, records, batch, timeout_ms, &[fault]);
        let (report, reproduce) = run("pipeline-timeout", &text, seed);
        prop_assert_eq!(report.verdict, Verdict::Pass, "{}", reproduce);
        prop_assert!(
            number(&report, "aborted_transactions").unwrap_or(0.0) >= 1.0,
            "the broker aborted no transaction\n{}",
            reproduce
        );
        prop_assert!(
            number(&report, "pipeline_restarts").unwrap_or(0.0) >= 1.0,
            "the pipeline never restarted\n{}",
            reproduce
        );
        prop_assert_eq!(number(&report, "pipeline_missing"), Some(0.0), "{}", reproduce);
        prop_assert_eq!(number(&report, "pipeline_duplicates"), Some(0.0), "{}", reproduce);
    }
}
