//! `kmock sim run FILE... [--seed N] [--trace] [--json]`: runs scenario files in the deterministic
//! simulation and exits non-zero when any fails. A failing run prints the line that reproduces it.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use kmock_sim::{RunReport, Verdict, run_file};

/// Exit code when a scenario fails its expectations.
const EXIT_FAILED: u8 = 1;
/// Exit code when a scenario file is malformed.
const EXIT_INVALID: u8 = 2;

#[derive(Debug, clap::Subcommand)]
pub enum SimCommand {
    /// Run scenario files (sims/*.toml).
    Run(RunArgs),
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
    let SimCommand::Run(args) = command;
    let mut stdout = std::io::stdout().lock();
    let mut code = ExitCode::SUCCESS;
    for file in &args.files {
        match run_file(file, args.seed) {
            Ok(report) => {
                if args.trace {
                    let _ = write!(stdout, "{}", report.trace);
                }
                if args.json {
                    let mut value = json(&report);
                    if args.trace
                        && let Some(object) = value.as_object_mut()
                    {
                        object.insert("trace".into(), report.trace.clone().into());
                    }
                    let _ = writeln!(stdout, "{value}");
                } else {
                    let _ = write!(stdout, "{}", report.summary());
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
