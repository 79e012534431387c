//! `kmock demo`: the README's first command. It runs the bundled scenarios from any working
//! directory (they are embedded), prints the measured table, and `--json` gives the same rows as
//! data; it finishes in seconds.

use std::process::Command;
use std::time::{Duration, Instant};

use kmock_tests::kmock_binary;

fn demo(args: &[&str]) -> (String, Duration) {
    let started = Instant::now();
    // Run from a directory without sims/: the scenarios must come from the binary.
    let output = Command::new(kmock_binary())
        .arg("demo")
        .args(args)
        .current_dir(std::env::temp_dir())
        .output()
        .expect("run kmock demo");
    let took = started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "kmock demo {args:?} failed: {:?}\nstdout:\n{stdout}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    (stdout, took)
}

#[test]
fn demo_prints_the_seed_table_measured() {
    let (out, took) = demo(&[]);
    assert!(took < Duration::from_secs(20), "demo took {took:?}\n{out}");
    assert!(out.contains("| metric"), "{out}");
    let teardown = out
        .lines()
        .find(|l| l.starts_with("| consumer teardown with a slow LeaveGroup"))
        .unwrap_or_else(|| panic!("no teardown row:\n{out}"));
    assert!(
        teardown.contains("40.0 s") && teardown.contains("5.0 s"),
        "{teardown}"
    );
    assert!(out.contains("wall time"), "{out}");
    // The real-client table is shown as recorded, never as this run's measurement.
    assert!(
        out.contains("Real clients over TCP, as recorded in docs/teardown.md")
            && out.contains("not measured by this demo")
            && out.contains("| during the stop | aiokafka"),
        "{out}"
    );
    let commit_row = out
        .lines()
        .find(|l| l.starts_with("| consumer teardown, slow OffsetCommit then slow LeaveGroup"))
        .unwrap_or_else(|| panic!("no slow-commit row:\n{out}"));
    assert!(
        commit_row.contains("40.0 s") && commit_row.contains("5.0 s"),
        "one request timeout for commit and leave together: {commit_row}"
    );
    assert!(out.contains("sims/slow-leave-default.toml"), "{out}");
    let kip848 = out
        .lines()
        .find(|l| l.starts_with("| KIP-848 consumer teardown with a slow leave heartbeat"))
        .unwrap_or_else(|| panic!("no KIP-848 teardown row:\n{out}"));
    assert!(
        kip848.contains("40.0 s") && kip848.contains("5.0 s"),
        "{kip848}"
    );
}

#[test]
fn demo_json_has_rows_and_wall_time() {
    let (out, _) = demo(&["--json"]);
    let value: serde_json::Value =
        serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"));
    let rows = value["rows"].as_array().expect("rows");
    assert!(rows.len() >= 3, "{value}");
    for row in rows {
        assert!(row["metric"].is_string(), "{row}");
        assert!(row["default_ms"].is_number(), "{row}");
        assert!(row["test_env_ms"].is_number(), "{row}");
    }
    let teardown = &rows[0];
    let default = teardown["default_ms"].as_f64().unwrap_or_default();
    let test_env = teardown["test_env_ms"].as_f64().unwrap_or_default();
    assert!((39_990.0..=40_050.0).contains(&default), "{teardown}");
    assert!((4_990.0..=5_050.0).contains(&test_env), "{teardown}");
    let first = rows
        .iter()
        .find(|r| {
            r["metric"]
                .as_str()
                .is_some_and(|m| m.contains("first assignment"))
        })
        .expect("first assignment row");
    assert!(
        first["default_ms"].as_f64() > first["test_env_ms"].as_f64(),
        "{first}"
    );
    assert!(
        value["wall_ms"].as_f64().is_some_and(|w| w > 0.0),
        "{value}"
    );
    assert_eq!(value["verdict"], "pass", "{value}");
    let recorded = &value["recorded_real_clients"];
    assert_eq!(recorded["measured_by_this_run"], false, "{value}");
    assert!(
        recorded["lines"]
            .as_array()
            .is_some_and(|lines| lines.len() >= 5),
        "{value}"
    );
}
