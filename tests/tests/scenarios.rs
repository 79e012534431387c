//! Every scenario in `sims/` runs with its seed, must pass its expectations, and its trace must
//! match the committed insta snapshot (`tests/snapshots/`). CI (`CI=true`) never writes
//! snapshots, so any difference fails. Accept a reviewed change with
//! `INSTA_UPDATE=always cargo test -p kmock-tests --test scenarios` and review the diff.

use std::path::PathBuf;

use kmock_sim::{Verdict, run_file, scenario_files};

/// kmock's binaries allocate with mimalloc (root Cargo.toml says why).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn sims_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../sims")
}

#[test]
fn every_scenario_passes_and_matches_its_snapshot() {
    let files = scenario_files(sims_dir()).expect("sims/ is readable");
    assert!(files.len() >= 2, "expected scenario files in sims/");
    let mut failed = Vec::new();
    for file in &files {
        let relative = PathBuf::from("sims").join(file.file_name().expect("a file name"));
        let report = run_file(file, None).unwrap_or_else(|e| panic!("{e}"));
        if report.verdict != Verdict::Pass {
            failed.push(format!(
                "{}reproduce: kmock sim run {} --seed {}",
                report.summary(),
                relative.display(),
                report.seed
            ));
            continue;
        }
        insta::with_settings!({
            snapshot_path => "../snapshots",
            prepend_module_to_snapshot => false,
            omit_expression => true,
            description => format!("{} --seed {}", relative.display(), report.seed),
        }, {
            insta::assert_snapshot!(report.scenario.clone(), report.trace());
        });
    }
    assert!(
        failed.is_empty(),
        "failing scenarios:\n{}",
        failed.join("\n")
    );
}

/// A malformed scenario gets an error with the line and column and what was expected.
#[test]
fn malformed_scenarios_report_line_column_and_what_was_expected() {
    let cases: &[(&str, &str, &str)] = &[
        ("seed = \n", "x.toml:1:8:", "quoted"),
        ("seed = \"x\"\n", "x.toml:1:8:", "expected u64"),
        (
            "sed = 1\n",
            "x.toml:1:1:",
            "unknown field `sed`, expected one of",
        ),
        (
            "[[actors]]\nname = \"p\"\nkind = \"pool\"\ntopics = [\"t\"]\n\n[[timeline]]\ndo = \"start\"\nactor = \"q\"\n",
            "x.toml:8:9:",
            "unknown actor \"q\": expected one of p",
        ),
        (
            "[[timeline]]\ndo = \"jump\"\n",
            "x.toml:2:6:",
            "unknown step \"jump\": expected one of start",
        ),
        (
            "[[faults]]\nrule = \"leave_grp:delay=60s\"\n",
            "x.toml:2:8:",
            "did you mean leave_group?",
        ),
        (
            "expect = [\"teardown <= 5\"]\n",
            "x.toml:1:11:",
            "unknown metric \"teardown\"",
        ),
        (
            "expect = [\"teardown_ms 5\"]\n",
            "x.toml:1:11:",
            "expected METRIC OP VALUE",
        ),
        (
            "[[actors]]\nname = \"p\"\nkind = \"consumer\"\n",
            "x.toml:3:8:",
            "expected \"producer\", \"pool\" or \"pipeline\"",
        ),
        (
            "[settings]\nenv = \".env.nope\"\n",
            "x.toml:2:7:",
            "not found",
        ),
        (
            "[settings]\nKAFKA_REQEST_TIMEOUT_MS = 5\n",
            "x.toml:2:27:",
            "unknown setting \"KAFKA_REQEST_TIMEOUT_MS\": expected `env` or one of",
        ),
        (
            "seed = 1\n\n[[faults]]\nat_ms = 5\n",
            "x.toml:3:1:",
            "needs `rule = \"SPEC\"`, `network",
        ),
        (
            "seed = 1\n\n[[faults]]\ncluster = \"reboot\"\nnode = 1\n",
            "x.toml:4:11:",
            "unknown cluster event \"reboot\": expected broker_down",
        ),
        (
            "seed = 1\n\n[[faults]]\ncluster = \"move_leader\"\nnode = 1\n",
            "x.toml:4:11:",
            "`move_leader` needs `topic = \"NAME\"`, `partition = N` and `node = N`",
        ),
        (
            "seed = 1\n\n[[faults]]\ncluster = \"move_coordinator\"\ngroup = \"g\"\nnode = 1\nuntil_ms = 5\n",
            "x.toml:4:11:",
            "`until_ms` is for `cluster = \"broker_down\"`",
        ),
        (
            "seed = 1\n\n[[faults]]\ncluster = \"broker_down\"\nrule = \"leave_group:drop\"\nnode = 1\n",
            "x.toml:3:1:",
            "one of `rule`, `network` or `cluster`, not several",
        ),
        (
            "[settings]\nKAFKA_REQUEST_TIMEOUT_MS = 50000\n",
            "x.toml:2:28:",
            "invalid settings",
        ),
    ];
    for (text, position, expected) in cases {
        let error = kmock_sim::Scenario::parse("x.toml", "x", text, &sims_dir())
            .expect_err(text)
            .to_string();
        assert!(
            error.starts_with(position) && error.contains(expected),
            "for {text:?}: got {error:?}, expected {position} ... {expected}"
        );
    }
}
