//! `kmock demo [--json]`: the seed's finding, measured. Runs the bundled scenarios (embedded in
//! the binary with `include_str!`, so it needs no working directory and no external process) in
//! virtual time and prints a table comparing the production default timeouts with `.env.test`.
//! Every number in that table comes from a run of kmock's own client; the wall time of the whole
//! demo is printed with it. Below it, the real-client teardown summary of `docs/teardown.md`
//! (embedded too), labelled as recorded by the teardown matrix: the demo runs no real client.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use kmock_sim::{RunReport, Scenario, Value, Verdict, run_scenario};

/// Exit code when a bundled scenario fails (the table would be wrong).
const EXIT_FAILED: u8 = 1;

/// The `.env.test` of the repository, embedded.
const ENV_TEST: &str = include_str!("../../../.env.test");

/// The bundled scenarios: (path in the repository, text).
const SCENARIOS: &[(&str, &str)] = &[
    (
        "sims/slow-leave-default.toml",
        include_str!("../../../sims/slow-leave-default.toml"),
    ),
    (
        "sims/slow-leave-test-env.toml",
        include_str!("../../../sims/slow-leave-test-env.toml"),
    ),
    (
        "sims/pool-of-ten-slow-leave.toml",
        include_str!("../../../sims/pool-of-ten-slow-leave.toml"),
    ),
    (
        "sims/pool-of-ten.toml",
        include_str!("../../../sims/pool-of-ten.toml"),
    ),
    (
        "sims/pool-of-one-test-env.toml",
        include_str!("../../../sims/pool-of-one-test-env.toml"),
    ),
    (
        "sims/slow-commit-and-leave-default.toml",
        include_str!("../../../sims/slow-commit-and-leave-default.toml"),
    ),
    (
        "sims/slow-commit-and-leave-test-env.toml",
        include_str!("../../../sims/slow-commit-and-leave-test-env.toml"),
    ),
    (
        "sims/kip848-slow-leave-default.toml",
        include_str!("../../../sims/kip848-slow-leave-default.toml"),
    ),
    (
        "sims/kip848-slow-leave.toml",
        include_str!("../../../sims/kip848-slow-leave.toml"),
    ),
];

/// The real-client teardown table recorded by `tests/tests/teardown_matrix.rs` (embedded). The
/// demo runs no real client: it shows this table as recorded, saying so, next to its own rows.
const TEARDOWN_DOC: &str = include_str!("../../../docs/teardown.md");

/// The summary table of docs/teardown.md: the lines from its `## Summary` heading to the next
/// heading, table rows and the note under them.
fn recorded_real_clients() -> Vec<&'static str> {
    TEARDOWN_DOC
        .lines()
        .skip_while(|line| *line != "## Summary")
        .skip(1)
        .take_while(|line| !line.starts_with("## "))
        .filter(|line| !line.trim().is_empty())
        .collect()
}

/// One row: what, the metric, the scenario with default timeouts, the one with `.env.test`.
struct RowSpec {
    metric: &'static str,
    key: &'static str,
    default: &'static str,
    test_env: &'static str,
}

const ROWS: &[RowSpec] = &[
    RowSpec {
        metric: "consumer teardown with a slow LeaveGroup",
        key: "teardown_ms",
        default: "sims/slow-leave-default.toml",
        test_env: "sims/slow-leave-test-env.toml",
    },
    RowSpec {
        metric: "pool of 10 vs pool of 1: teardown with a slow LeaveGroup",
        key: "pool_teardown_ms",
        default: "sims/pool-of-ten-slow-leave.toml",
        test_env: "sims/slow-leave-test-env.toml",
    },
    RowSpec {
        metric: "pool of 10 vs pool of 1: time to first assignment",
        key: "first_assignment_ms",
        default: "sims/pool-of-ten.toml",
        test_env: "sims/pool-of-one-test-env.toml",
    },
    RowSpec {
        metric: "pool of 10 vs pool of 1: every member assigned",
        key: "all_assigned_ms",
        default: "sims/pool-of-ten.toml",
        test_env: "sims/pool-of-one-test-env.toml",
    },
    RowSpec {
        metric: "pool of 10 vs pool of 1: clean teardown",
        key: "pool_teardown_ms",
        default: "sims/pool-of-ten.toml",
        test_env: "sims/pool-of-one-test-env.toml",
    },
    RowSpec {
        metric: "consumer teardown, slow OffsetCommit then slow LeaveGroup",
        key: "teardown_ms",
        default: "sims/slow-commit-and-leave-default.toml",
        test_env: "sims/slow-commit-and-leave-test-env.toml",
    },
    RowSpec {
        metric: "KIP-848 consumer teardown with a slow leave heartbeat",
        key: "teardown_ms",
        default: "sims/kip848-slow-leave-default.toml",
        test_env: "sims/kip848-slow-leave.toml",
    },
    RowSpec {
        metric: "KIP-848 pool of 2: teardown with a slow leave heartbeat",
        key: "pool_teardown_ms",
        default: "sims/kip848-slow-leave-default.toml",
        test_env: "sims/kip848-slow-leave.toml",
    },
];

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Print the result as one JSON object: {"rows": [{"metric", "default_ms", "test_env_ms",
    /// "default_scenario", "test_env_scenario"}], "wall_ms", "virtual_ms", "scenarios", "verdict"}.
    #[arg(long)]
    json: bool,
}

/// A measured row.
struct Row {
    spec: &'static RowSpec,
    default_ms: Option<f64>,
    test_env_ms: Option<f64>,
}

fn metric(report: &RunReport, key: &str) -> Option<f64> {
    match report.metrics.get(key) {
        Some(Value::Number(n)) => Some(*n),
        _ => None,
    }
}

/// Runs every bundled scenario once, at its own seed.
fn run_all() -> Result<BTreeMap<&'static str, RunReport>, String> {
    let mut reports = BTreeMap::new();
    for (path, text) in SCENARIOS {
        let stem = path
            .rsplit('/')
            .next()
            .and_then(|f| f.strip_suffix(".toml"))
            .unwrap_or(path);
        let scenario = Scenario::parse_embedded(path, stem, text, &[(".env.test", ENV_TEST)])
            .map_err(|e| format!("bundled scenario is malformed: {e}"))?;
        reports.insert(*path, run_scenario(&scenario, scenario.seed));
    }
    Ok(reports)
}

fn human(ms: Option<f64>) -> String {
    match ms {
        None => "-".into(),
        Some(ms) if ms >= 1000.0 => format!("{:.1} s", ms / 1000.0),
        Some(ms) => format!("{ms:.0} ms"),
    }
}

/// Runs the demo.
pub fn run(args: &DemoArgs) -> ExitCode {
    let started = Instant::now();
    let reports = match run_all() {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "kmock demo: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    let rows: Vec<Row> = ROWS
        .iter()
        .map(|spec| Row {
            spec,
            default_ms: reports.get(spec.default).and_then(|r| metric(r, spec.key)),
            test_env_ms: reports.get(spec.test_env).and_then(|r| metric(r, spec.key)),
        })
        .collect();
    let wall_ms = started.elapsed().as_secs_f64() * 1000.0;
    let virtual_ms: f64 = reports.values().map(|r| r.virtual_ms).sum();
    let failed: Vec<&RunReport> = reports
        .values()
        .filter(|r| r.verdict == Verdict::Fail)
        .collect();

    let mut out = std::io::stdout().lock();
    if args.json {
        let value = serde_json::json!({
            "rows": rows.iter().map(|r| serde_json::json!({
                "metric": r.spec.metric,
                "default_ms": r.default_ms,
                "test_env_ms": r.test_env_ms,
                "default_scenario": r.spec.default,
                "test_env_scenario": r.spec.test_env,
            })).collect::<Vec<_>>(),
            "wall_ms": wall_ms,
            "virtual_ms": virtual_ms,
            "scenarios": SCENARIOS.iter().map(|(p, _)| *p).collect::<Vec<_>>(),
            "verdict": if failed.is_empty() { "pass" } else { "fail" },
            "recorded_real_clients": {
                "source": "docs/teardown.md (tests/tests/teardown_matrix.rs, real clients over TCP)",
                "measured_by_this_run": false,
                "lines": recorded_real_clients(),
            },
        });
        let _ = writeln!(out, "{value}");
    } else {
        let _ = writeln!(
            out,
            "kmock demo: the seed's finding, measured in the deterministic simulation (virtual time)\n"
        );
        let width = ROWS.iter().map(|r| r.metric.len()).max().unwrap_or(6);
        let _ = writeln!(
            out,
            "| {:width$} | default timeouts | .env.test |",
            "metric"
        );
        let _ = writeln!(
            out,
            "|{}|------------------|-----------|",
            "-".repeat(width + 2)
        );
        for row in &rows {
            let _ = writeln!(
                out,
                "| {:width$} | {:>16} | {:>9} |",
                row.spec.metric,
                human(row.default_ms),
                human(row.test_env_ms)
            );
        }
        let _ = writeln!(
            out,
            "\ndefault timeouts: session 45 s, heartbeat 10 s, request 40 s, pool of 10\n\
             .env.test:        session 6 s, heartbeat 2 s, request 5 s, pool of 1\n\
             broker: LeaveGroup answered 60 s late in the slow rows (and the final OffsetCommit in \
             the last classic row); initial rebalance delay 3 s (Kafka's default) in the pool rows\n\
             client: kmock's own (kmock-client), whose stop() shares one request timeout between the \
             final commit and the LeaveGroup\n\
             KIP-848 rows: KAFKA_GROUP_PROTOCOL=consumer, a pool of 2, the leave heartbeat (epoch -1) \
             answered 60 s late\n"
        );
        let _ = writeln!(
            out,
            "Real clients over TCP, as recorded in docs/teardown.md by tests/tests/teardown_matrix.rs \
             (not measured by this demo; request timeout 2 s there):\n"
        );
        for line in recorded_real_clients() {
            let _ = writeln!(out, "{line}");
        }
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{} scenarios, {:.1} s of virtual time in {:.0} ms of wall time.",
            reports.len(),
            virtual_ms / 1000.0,
            wall_ms
        );
        let _ = writeln!(
            out,
            "Scenario files (embedded in this binary; in the repository under sims/):"
        );
        for (path, _) in SCENARIOS {
            let _ = writeln!(out, "  {path}");
        }
        let _ = writeln!(
            out,
            "Run one yourself: kmock sim run sims/slow-leave-default.toml --trace"
        );
    }
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        for report in failed {
            let _ = write!(std::io::stderr(), "{}", report.summary());
        }
        ExitCode::from(EXIT_FAILED)
    }
}
