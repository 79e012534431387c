//! Every scenario in `sims/` runs with its seed, must pass its expectations, and its trace must
//! match the committed insta snapshot (`tests/snapshots/`). CI (`CI=true`) never writes
//! snapshots, so any difference fails. Accept a reviewed change with
//! `INSTA_UPDATE=always cargo test -p kmock-tests --test scenarios` and review the diff.

use std::path::PathBuf;

use kmock_sim::{Verdict, run_file, scenario_files};

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
            eprintln!("{}", report.summary());
            failed.push(format!(
                "{}: reproduce: kmock sim run {} --seed {}",
                report.scenario,
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
            insta::assert_snapshot!(report.scenario.clone(), report.trace);
        });
    }
    assert!(
        failed.is_empty(),
        "failing scenarios:\n{}",
        failed.join("\n")
    );
}
