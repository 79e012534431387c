//! `kmock-bench-sim REPO_ROOT LIFECYCLE_CASES SEED_RUNS PROPERTY_CASES`: simulation throughput for
//! BENCHMARKS.md (figure 5 and the simulation column of figure 4), in one release process on one
//! thread (the simulation is a current-thread runtime with paused time). Prints one JSON line:
//!
//! - `lifecycle`: `bench/sims/lifecycle-100.toml` (fresh world, a consumer joins, 100 records
//!   produced and consumed, stop, teardown) run LIFECYCLE_CASES times with seeds 1..=N: total wall
//!   time, cases/s, per-case wall ms (median, min, max); every case must pass.
//! - `seed`: `sims/slow-leave-default.toml` and `sims/slow-leave-test-env.toml`, each run
//!   SEED_RUNS times with its own seed: wall ms per run (median, min, max; the whole
//!   `run_scenario` call, its checks and dropping its report, i.e. everything after parsing),
//!   virtual ms, the consumer's teardown (stop()) in virtual ms, virtual/wall ratio.
//! - `property`: PROPERTY_CASES cases of the `teardown_is_bounded_by_request_timeout` property of
//!   `tests/tests/properties.rs` (same generated scenario text: random seed, valid timeout triple,
//!   pool size 1–16, one of the stop faults), generated from a fixed PRNG, each parsed and run and
//!   its bound checked: cases/s.
//!
//! One untimed warm-up run of each scenario comes first. Exit status 1 if any case fails.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use kmock_sim::{RunReport, Scenario, Value, Verdict, run_scenario};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

/// kmock's binaries allocate with mimalloc (root Cargo.toml says why).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn stats(mut values: Vec<f64>) -> serde_json::Value {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let median = if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    };
    json!({
        "median": median,
        "min": values.first().copied().unwrap_or(f64::NAN),
        "max": values.last().copied().unwrap_or(f64::NAN),
        "n": n,
    })
}

fn load(path: &Path) -> Scenario {
    Scenario::load(path).unwrap_or_else(|e| panic!("{e}"))
}

fn check(report: &RunReport, failures: &mut Vec<String>) {
    if report.verdict != Verdict::Pass && failures.len() < 5 {
        failures.push(report.summary());
    }
}

/// What one timed run measured.
struct TimedRun {
    wall_ms: f64,
    virtual_ms: f64,
    teardown_ms: Option<f64>,
}

/// Runs `scenario` once and times it as a caller pays it: world, checks, report, and tearing it
/// all down (the report owns the broker core the trace is rendered from).
fn timed_run(scenario: &Scenario, seed: u64, failures: &mut Vec<String>) -> TimedRun {
    let started = Instant::now();
    let report = run_scenario(scenario, seed);
    check(&report, failures);
    let (virtual_ms, teardown_ms) = (report.virtual_ms, report.teardown_ms);
    drop(report);
    TimedRun {
        wall_ms: started.elapsed().as_secs_f64() * 1e3,
        virtual_ms,
        teardown_ms,
    }
}

fn lifecycle(root: &Path, cases: u64, failures: &mut Vec<String>) -> serde_json::Value {
    let scenario = load(&root.join("bench/sims/lifecycle-100.toml"));
    check(&run_scenario(&scenario, 0), failures);
    let mut walls = Vec::new();
    let started = Instant::now();
    for seed in 1..=cases {
        walls.push(timed_run(&scenario, seed, failures).wall_ms);
    }
    let total = started.elapsed().as_secs_f64();
    json!({
        "cases": cases,
        "total_s": total,
        "cases_per_s": cases as f64 / total,
        "wall_ms": stats(walls),
    })
}

fn seed_scenario(
    root: &Path,
    file: &str,
    runs: u64,
    failures: &mut Vec<String>,
) -> serde_json::Value {
    let scenario = load(&root.join(file));
    check(&run_scenario(&scenario, scenario.seed), failures);
    let (mut walls, mut virtuals, mut teardowns) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let run = timed_run(&scenario, scenario.seed, failures);
        walls.push(run.wall_ms);
        virtuals.push(run.virtual_ms);
        teardowns.push(run.teardown_ms.unwrap_or(f64::NAN));
    }
    let ratios: Vec<f64> = virtuals.iter().zip(&walls).map(|(v, w)| v / w).collect();
    json!({
        "file": file,
        "runs": runs,
        "wall_ms": stats(walls),
        "virtual_ms": stats(virtuals),
        "teardown_virtual_ms": stats(teardowns),
        "virtual_per_wall": stats(ratios),
    })
}

/// The generated text of `pool_scenario` in tests/tests/properties.rs.
fn pool_scenario(settings: &str, pool_size: usize, stop_faults: &[String]) -> String {
    let mut text = format!(
        "seed = 0\n\n[settings]\n{settings}\n\n[[topics]]\nname = \"events\"\npartitions = 4\n\n\
         [[actors]]\nname = \"producer\"\nkind = \"producer\"\nrecords = 4\n\n\
         [[actors]]\nname = \"pool\"\nkind = \"pool\"\nsize = {pool_size}\ngroup = \"g\"\n\n\
         [[timeline]]\ndo = \"start\"\nactor = \"pool\"\n\n\
         [[timeline]]\ndo = \"wait_stable\"\nactor = \"pool\"\n\n\
         [[timeline]]\ndo = \"start\"\nactor = \"producer\"\n\n\
         [[timeline]]\ndo = \"produce\"\nactor = \"producer\"\n\n\
         [[timeline]]\ndo = \"wait_delivered\"\nactor = \"pool\"\n"
    );
    for rule in stop_faults {
        text.push_str(&format!(
            "\n[[timeline]]\ndo = \"fault\"\nrule = \"{rule}\"\n"
        ));
    }
    text.push_str("\n[[timeline]]\ndo = \"stop\"\nactor = \"pool\"\n");
    text
}

/// One of the stop faults of `stop_fault()` in tests/tests/properties.rs.
fn stop_fault(rng: &mut SmallRng) -> Vec<String> {
    let own = |s: &[&str]| s.iter().map(|r| (*r).to_owned()).collect::<Vec<_>>();
    match rng.random_range(0..9) {
        0 => vec![],
        1 => vec![format!(
            "leave_group:delay={}ms",
            rng.random_range(0..=120_000u64)
        )],
        2 => own(&["leave_group:drop"]),
        3 => own(&["leave_group:error=unknown_member_id"]),
        4 => own(&["leave_group:close"]),
        5 => own(&["leave_group:close=after"]),
        6 => vec![format!(
            "offset_commit:delay={}ms",
            rng.random_range(0..=120_000u64)
        )],
        7 => own(&["offset_commit:drop", "leave_group:drop"]),
        _ => own(&[
            "find_coordinator:error=coordinator_not_available",
            "offset_commit:error=not_coordinator",
            "leave_group:error=coordinator_not_available",
        ]),
    }
}

fn property(root: &Path, cases: u64, failures: &mut Vec<String>) -> serde_json::Value {
    let mut rng = SmallRng::seed_from_u64(6);
    let sims = root.join("sims");
    let started = Instant::now();
    for _ in 0..cases {
        let seed: u64 = rng.random();
        let session = rng.random_range(6_000u32..=60_000);
        let request = rng.random_range(1_000u32..session);
        let heartbeat = rng.random_range(100u32..=session / 3);
        let pool_size = rng.random_range(1usize..=16);
        let faults = stop_fault(&mut rng);
        let settings = format!(
            "KAFKA_REQUEST_TIMEOUT_MS = {request}\nKAFKA_SESSION_TIMEOUT_MS = {session}\nKAFKA_HEARTBEAT_INTERVAL_MS = {heartbeat}"
        );
        let text = pool_scenario(&settings, pool_size, &faults);
        let scenario = Scenario::parse("teardown-bound", "teardown-bound", &text, &sims)
            .unwrap_or_else(|e| panic!("{e}"));
        let report = run_scenario(&scenario, seed);
        check(&report, failures);
        let bound = f64::from(request) + 50.0;
        let teardowns: Vec<f64> = report
            .metrics
            .iter()
            .filter(|(k, _)| k.starts_with("teardown_ms[") || k.starts_with("pool_teardown_ms["))
            .filter_map(|(_, v)| match v {
                Value::Number(n) => Some(*n),
                Value::Text(_) => None,
            })
            .collect();
        if (teardowns.len() != pool_size + 2 || teardowns.iter().any(|t| *t > bound))
            && failures.len() < 5
        {
            failures.push(format!("property violated: {}", report.reproduce_line()));
        }
    }
    let total = started.elapsed().as_secs_f64();
    json!({
        "property": "teardown_is_bounded_by_request_timeout",
        "cases": cases,
        "total_s": total,
        "cases_per_s": cases as f64 / total,
    })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [root, lifecycle_cases, seed_runs, property_cases] = args.as_slice() else {
        let _ = writeln!(
            std::io::stderr(),
            "usage: kmock-bench-sim REPO_ROOT LIFECYCLE_CASES SEED_RUNS PROPERTY_CASES"
        );
        return ExitCode::from(2);
    };
    let number = |raw: &str| -> u64 {
        raw.parse()
            .unwrap_or_else(|_| panic!("expected a number, got {raw:?}"))
    };
    let root = PathBuf::from(root);
    let mut failures = Vec::new();
    let lifecycle = lifecycle(&root, number(lifecycle_cases), &mut failures);
    let seed_runs = number(seed_runs);
    let default = seed_scenario(
        &root,
        "sims/slow-leave-default.toml",
        seed_runs,
        &mut failures,
    );
    let test_env = seed_scenario(
        &root,
        "sims/slow-leave-test-env.toml",
        seed_runs,
        &mut failures,
    );
    let property = property(&root, number(property_cases), &mut failures);
    let out = json!({
        "lifecycle": lifecycle,
        "seed": {"slow-leave-default": default, "slow-leave-test-env": test_env},
        "property": property,
        "failures": failures,
    });
    let _ = writeln!(std::io::stdout(), "{out}");
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
