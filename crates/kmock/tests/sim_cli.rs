//! `kmock sim run`: the seed scenarios pass with their teardown, `--json` carries the fields the
//! issue names, a failing scenario exits 1 with the reproduction line, a malformed one exits 2.

use std::path::PathBuf;
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn kmock_sim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kmock"))
        .current_dir(repo())
        .arg("sim")
        .arg("run")
        .args(args)
        .output()
        .expect("kmock runs")
}

#[test]
fn json_reports_the_seed_scenarios() {
    let output = kmock_sim(&[
        "sims/slow-leave-default.toml",
        "sims/slow-leave-test-env.toml",
        "--json",
    ]);
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let reports: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(reports.len(), 2);
    for (report, teardown) in reports.iter().zip([40_000.0, 5_000.0]) {
        assert_eq!(report["verdict"], "pass", "{report}");
        assert_eq!(report["teardown_ms"].as_f64(), Some(teardown), "{report}");
        assert_eq!(report["seed"], 42);
        assert!(report["virtual_ms"].as_f64().unwrap() >= teardown);
        assert!(report["wall_ms"].as_f64().is_some());
        let expectations = report["expectations"].as_array().unwrap();
        assert!(
            expectations
                .iter()
                .all(|e| e["passed"] == true && !e["measured"].is_null())
        );
    }
    assert_eq!(reports[0]["scenario"], "slow-leave-default");
}

#[test]
fn a_failing_scenario_exits_1_with_the_reproduction_line() {
    let dir = std::env::temp_dir().join(format!("kmock-sim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = std::fs::read_to_string(repo().join("sims/clean-stop-default.toml")).unwrap();
    let failing = dir.join("failing.toml");
    std::fs::write(
        &failing,
        text.replace("\"teardown_ms <= 10\"", "\"teardown_ms > 10\""),
    )
    .unwrap();
    let output = kmock_sim(&[failing.to_str().unwrap(), "--seed", "5"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        stdout.contains(&format!(
            "reproduce: kmock sim run {} --seed 5",
            failing.display()
        )),
        "{stdout}"
    );

    std::fs::write(&failing, "[[timeline]]\ndo = \"jump\"\n").unwrap();
    let output = kmock_sim(&[failing.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("failing.toml:2:6: unknown step \"jump\""),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
