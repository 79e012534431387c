//! `kmock sim explore --scenario FILE --seeds N`: runs the scenario at N seeds, drawing its
//! `[random]` ranges from each; prints verdict counts, the teardown distribution and, for every
//! failing seed, a reproduction line that does reproduce the failure.

use std::process::Command;

use kmock_tests::{kmock_binary, log_dir, workspace_root};

#[test]
fn explore_summarises_and_every_failing_seed_reproduces() {
    // The seed's slow coordinator with a LeaveGroup delay drawn from 0..60 s and default timeouts:
    // teardown = min(delay, 40 s), so "teardown_ms <= 30_000" fails for some seeds.
    let text = std::fs::read_to_string(workspace_root().join("sims/slow-leave-default.toml"))
        .expect("read the scenario");
    let text = text
        .replace("\"teardown_ms >= 39_990\",", "")
        .replace("\"teardown_ms <= 40_050\",", "\"teardown_ms <= 30_000\",")
        .replace(
            "[settings]",
            "[random]\nfault_delay_ms = [0, 60_000]\n\n[settings]",
        );
    let path = log_dir().join(format!("explore-{}.toml", std::process::id()));
    std::fs::write(&path, text).expect("write the scenario");

    let output = Command::new(kmock_binary())
        .args(["sim", "explore", "--seeds", "40", "--scenario"])
        .arg(&path)
        .output()
        .expect("run kmock sim explore");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stderr.contains("40/40 seeds"), "progress: {stderr}");
    assert!(stdout.contains("verdicts: "), "{stdout}");
    assert!(stdout.contains("fault_delay_ms=[0, 60000]"), "{stdout}");
    assert!(
        stdout.contains("median") && stdout.contains("p99"),
        "{stdout}"
    );
    let repros: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.trim().strip_prefix("reproduce: "))
        .collect();
    assert!(!repros.is_empty(), "no failing seed among 40: {stdout}");
    let passes = stdout
        .lines()
        .find_map(|l| l.strip_prefix("verdicts: "))
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse::<usize>().ok())
        .expect("pass count");
    assert_eq!(passes + repros.len(), 40, "{stdout}");

    // The first reproduction line reproduces the failure.
    let line = repros[0].split('#').next().unwrap_or_default().trim();
    let args: Vec<&str> = line.split_whitespace().skip(1).collect();
    let again = Command::new(kmock_binary())
        .args(&args)
        .output()
        .expect("run the reproduction line");
    assert_eq!(
        again.status.code(),
        Some(1),
        "{line}\n{}",
        String::from_utf8_lossy(&again.stdout)
    );
    let _ = std::fs::remove_file(&path);
}
