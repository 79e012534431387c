//! `kmock sim run FILE... [--seed N] [--trace] [--json] [--timeline OUT.svg]`: runs scenario files
//! in the deterministic simulation and exits non-zero when any fails. A failing run prints the line
//! that reproduces it. `kmock sim explore --scenario FILE --seeds N`: the same scenario across many
//! seeds, with a summary and the reproduction line of every failing seed.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use kmock_sim::{RunReport, Scenario, Verdict, run_file, run_scenario};

/// Exit code when a scenario fails its expectations.
const EXIT_FAILED: u8 = 1;
/// Exit code when a scenario file is malformed.
const EXIT_INVALID: u8 = 2;

#[derive(Debug, clap::Subcommand)]
pub enum SimCommand {
    /// Run scenario files (sims/*.toml).
    Run(RunArgs),
    /// Run one scenario across many seeds (drawing its `[random]` ranges from each seed): a
    /// progress line on stderr, then verdict counts, the teardown distribution and the
    /// reproduction line of every failing seed. Exit status 1 if any seed failed.
    Explore(ExploreArgs),
}

#[derive(Debug, clap::Args)]
pub struct ExploreArgs {
    /// The scenario file.
    #[arg(long, value_name = "FILE")]
    scenario: PathBuf,
    /// How many seeds to run.
    #[arg(long, value_name = "N", default_value_t = 100)]
    seeds: u64,
    /// The first seed; the seeds run are FIRST, FIRST+1, ..., FIRST+N-1.
    #[arg(long, value_name = "FIRST", default_value_t = 0)]
    first_seed: u64,
    /// Print the summary as one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Scenario files.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Seed for every run (default: each file's `seed`).
    #[arg(long)]
    seed: Option<u64>,
    /// Print each run's trace.
    #[arg(long)]
    trace: bool,
    /// Print one JSON object per scenario (one per line) instead of the summary.
    #[arg(long)]
    json: bool,
    /// Draw the run as a sequence diagram (SVG) into this file: one lane per actor, requests and
    /// responses as arrows, faults in red, teardown shaded. Needs exactly one scenario file.
    #[arg(long, value_name = "OUT.svg")]
    timeline: Option<PathBuf>,
}

fn json(report: &RunReport) -> serde_json::Value {
    let mut value = serde_json::to_value(report).unwrap_or_default();
    if report.verdict == Verdict::Fail
        && let Some(object) = value.as_object_mut()
    {
        object.insert("reproduce".into(), report.reproduce_line().into());
    }
    value
}

/// Runs the subcommand.
pub fn run(command: SimCommand) -> ExitCode {
    let args = match command {
        SimCommand::Run(args) => args,
        SimCommand::Explore(args) => return explore(&args),
    };
    if args.timeline.is_some() && args.files.len() != 1 {
        let _ = writeln!(
            std::io::stderr(),
            "kmock sim: --timeline draws one run: give exactly one scenario file (got {})",
            args.files.len()
        );
        return ExitCode::from(EXIT_INVALID);
    }
    let mut stdout = std::io::stdout().lock();
    let mut code = ExitCode::SUCCESS;
    for file in &args.files {
        match run_file(file, args.seed) {
            Ok(report) => {
                if args.trace {
                    let _ = write!(stdout, "{}", report.trace());
                }
                if args.json {
                    let mut value = json(&report);
                    if args.trace
                        && let Some(object) = value.as_object_mut()
                    {
                        object.insert("trace".into(), report.trace().into());
                    }
                    let _ = writeln!(stdout, "{value}");
                } else {
                    let _ = write!(stdout, "{}", report.summary());
                }
                if let Some(path) = &args.timeline {
                    let title = format!(
                        "{} seed={} {} teardown={}",
                        report.scenario,
                        report.seed,
                        match report.verdict {
                            Verdict::Pass => "PASS",
                            Verdict::Fail => "FAIL",
                        },
                        report
                            .teardown_ms
                            .map_or_else(|| "-".to_owned(), |t| format!("{t:.0}ms"))
                    );
                    let svg = kmock_sim::timeline::svg(&title, report.trace());
                    if let Err(e) = std::fs::write(path, svg) {
                        let _ = writeln!(
                            std::io::stderr(),
                            "kmock sim: cannot write {}: {e}",
                            path.display()
                        );
                        return ExitCode::from(EXIT_INVALID);
                    }
                    let _ = writeln!(std::io::stderr(), "timeline: {}", path.display());
                }
                if report.verdict == Verdict::Fail && code == ExitCode::SUCCESS {
                    code = ExitCode::from(EXIT_FAILED);
                }
            }
            Err(error) => {
                let _ = writeln!(std::io::stderr(), "kmock sim: {error}");
                code = ExitCode::from(EXIT_INVALID);
            }
        }
    }
    code
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted.get(rank.min(sorted.len()) - 1).copied()
}

/// What `kmock sim explore` measured over its seeds.
struct Exploration {
    passed: u64,
    failed: Vec<RunReport>,
    /// Teardown of every run that stopped a consumer, sorted.
    teardowns: Vec<f64>,
    wall_ms: f64,
}

impl Exploration {
    /// `(name, value)` of the teardown statistics: min, median, p99, max.
    fn teardown_stats(&self) -> [(&'static str, Option<f64>); 4] {
        let teardowns = &self.teardowns;
        [
            ("min", teardowns.first().copied()),
            ("median", percentile(teardowns, 50.0)),
            ("p99", percentile(teardowns, 99.0)),
            ("max", teardowns.last().copied()),
        ]
    }
}

fn explore(args: &ExploreArgs) -> ExitCode {
    let scenario = match Scenario::load(&args.scenario) {
        Ok(s) => s,
        Err(error) => {
            let _ = writeln!(std::io::stderr(), "kmock sim: {error}");
            return ExitCode::from(EXIT_INVALID);
        }
    };
    let exploration = run_seeds(&scenario, args);
    let mut stdout = std::io::stdout().lock();
    if args.json {
        let _ = writeln!(
            stdout,
            "{}",
            exploration_json(&scenario, args, &exploration)
        );
    } else {
        write_exploration(&mut stdout, &scenario, args, &exploration);
    }
    if exploration.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILED)
    }
}

/// Runs every seed, with a progress bar on stderr.
fn run_seeds(scenario: &Scenario, args: &ExploreArgs) -> Exploration {
    let started = std::time::Instant::now();
    let mut stderr = std::io::stderr();
    let mut passed = 0u64;
    let mut failed: Vec<RunReport> = Vec::new();
    let mut teardowns: Vec<f64> = Vec::new();
    let last = args.first_seed.saturating_add(args.seeds);
    let terminal = std::io::IsTerminal::is_terminal(&stderr);
    let mut drawn = usize::MAX;
    for (done, seed) in (args.first_seed..last).enumerate() {
        let report = run_scenario(scenario, seed);
        if let Some(t) = report.teardown_ms {
            teardowns.push(t);
        }
        match report.verdict {
            Verdict::Pass => passed += 1,
            Verdict::Fail => failed.push(report),
        }
        let done = done as u64 + 1;
        let filled = usize::try_from(done * 30 / args.seeds.max(1)).unwrap_or(30);
        // On a terminal, redraw for every seed; in a log, only when the bar grows.
        if !terminal && filled == drawn && done != args.seeds {
            continue;
        }
        drawn = filled;
        let _ = write!(
            stderr,
            "\r[{}{}] {done}/{} seeds, {} failed, last seed {seed}   ",
            "#".repeat(filled),
            ".".repeat(30 - filled.min(30)),
            args.seeds,
            failed.len()
        );
        let _ = stderr.flush();
    }
    let _ = writeln!(stderr);
    teardowns.sort_by(f64::total_cmp);
    Exploration {
        passed,
        failed,
        teardowns,
        wall_ms: started.elapsed().as_secs_f64() * 1000.0,
    }
}

/// `--json`: the summary as one object.
fn exploration_json(
    scenario: &Scenario,
    args: &ExploreArgs,
    exploration: &Exploration,
) -> serde_json::Value {
    let mut teardown = serde_json::Map::new();
    for (name, value) in exploration.teardown_stats() {
        teardown.insert(format!("{name}_ms"), value.into());
    }
    teardown.insert("runs".into(), exploration.teardowns.len().into());
    serde_json::json!({
        "scenario": scenario.file,
        "seeds": args.seeds,
        "first_seed": args.first_seed,
        "pass": exploration.passed,
        "fail": exploration.failed.len(),
        "teardown": teardown,
        "wall_ms": exploration.wall_ms,
        "failing": exploration.failed.iter().map(|r| serde_json::json!({
            "seed": r.seed,
            "reproduce": r.reproduce_line(),
            "teardown_ms": r.teardown_ms,
        })).collect::<Vec<_>>(),
    })
}

/// The summary as text: what was randomised, verdicts, the teardown distribution, and the
/// reproduction line of every failing seed.
fn write_exploration(
    out: &mut impl Write,
    scenario: &Scenario,
    args: &ExploreArgs,
    exploration: &Exploration,
) {
    let _ = writeln!(
        out,
        "explore {}: {} seeds ({}..{}) in {:.0} ms wall",
        scenario.file,
        args.seeds,
        args.first_seed,
        args.first_seed.saturating_add(args.seeds).saturating_sub(1),
        exploration.wall_ms
    );
    let random = &scenario.random;
    let mut ranges = Vec::new();
    if let Some((a, b)) = random.pool_size {
        ranges.push(format!("pool_size=[{a}, {b}]"));
    }
    if let Some((a, b)) = random.fault_delay_ms {
        ranges.push(format!("fault_delay_ms=[{a}, {b}]"));
    }
    let _ = writeln!(
        out,
        "randomised: the seed{}",
        if ranges.is_empty() {
            " only (the file has no [random] table)".to_owned()
        } else {
            format!(" and [random] {}", ranges.join(" "))
        }
    );
    let failed = &exploration.failed;
    let _ = writeln!(
        out,
        "verdicts: {} pass, {} fail",
        exploration.passed,
        failed.len()
    );
    let stats = exploration.teardown_stats();
    let show = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |t| format!("{t:.0}ms"));
    let _ = writeln!(
        out,
        "teardown ({} runs): min {}  median {}  p99 {}  max {}",
        exploration.teardowns.len(),
        show(stats[0].1),
        show(stats[1].1),
        show(stats[2].1),
        show(stats[3].1)
    );
    if !failed.is_empty() {
        let _ = writeln!(out, "failing seeds:");
        for report in failed {
            let why = report
                .expectations
                .iter()
                .find(|e| !e.passed)
                .map(|e| e.expectation.clone())
                .or_else(|| report.failures.first().cloned())
                .unwrap_or_default();
            let _ = writeln!(out, "  {}   # {why}", report.reproduce_line());
        }
    }
}
