//! The seed reproduction (see shared/design.md, "What kmock is for"): with LeaveGroup responses
//! delayed 60 s by a fault, aiokafka 0.12.0's `consumer.stop()` waits exactly its
//! `request_timeout_ms`: about 40 s with the production defaults, about 5 s with the `.env.test`
//! values. Meanwhile the member is already gone from the group, because the coordinator applies a
//! LeaveGroup when it arrives even though the response is held back.
//!
//! The `.env.test` case reads its timeouts from the repository's `.env.test`, so the test follows
//! the file. The two cases run in parallel threads, each against its own server, to save wall time.

use std::thread;
use std::time::Duration;

use kmock_tests::{KmockServer, kmock_binary, python, run_python, workspace_root};
use serde_json::Value;

/// One timeout setting and the stop() duration it must produce.
struct Case {
    name: String,
    request_timeout_ms: u32,
    session_timeout_ms: u32,
    heartbeat_interval_ms: u32,
    stop_seconds: (f64, f64),
}

/// aiokafka's defaults (and the seed project's production values): stop() takes ~40 s.
fn production_defaults() -> Case {
    Case {
        name: "production defaults".into(),
        request_timeout_ms: 40_000,
        session_timeout_ms: 45_000,
        heartbeat_interval_ms: 10_000,
        stop_seconds: (39.0, 42.0),
    }
}

/// The values in `<workspace>/.env.test` (5000 / 6000 / 2000 today): stop() takes about
/// request_timeout_ms, so 4.5..=6.5 s for 5000.
fn env_test() -> Case {
    let path = workspace_root().join(".env.test");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let value = |key: &str| -> u32 {
        text.lines()
            .map(str::trim)
            .filter(|line| !line.starts_with('#'))
            .find_map(|line| line.strip_prefix(key)?.trim_start().strip_prefix('='))
            .unwrap_or_else(|| panic!("{} has no {key}=", path.display()))
            .trim()
            .parse()
            .unwrap_or_else(|e| {
                panic!(
                    "{}: {key} is not a number of milliseconds: {e}",
                    path.display()
                )
            })
    };
    let request_timeout_ms = value("KAFKA_REQUEST_TIMEOUT_MS");
    let session_timeout_ms = value("KAFKA_SESSION_TIMEOUT_MS");
    let heartbeat_interval_ms = value("KAFKA_HEARTBEAT_INTERVAL_MS");
    assert!(
        request_timeout_ms < session_timeout_ms,
        "{}: the rule request_timeout_ms < session_timeout_ms is broken \
         ({request_timeout_ms} >= {session_timeout_ms})",
        path.display()
    );
    let request_timeout_s = f64::from(request_timeout_ms) / 1000.0;
    Case {
        name: ".env.test".into(),
        request_timeout_ms,
        session_timeout_ms,
        heartbeat_interval_ms,
        stop_seconds: (request_timeout_s - 0.5, request_timeout_s + 1.5),
    }
}

/// Runs one case; returns `Err` with a full account (script output, server log) on any failure.
fn run_case(case: &Case) -> Result<String, String> {
    let mut server = KmockServer::start(&[
        "--fault",
        "leave_group:delay=60s",
        "--initial-rebalance-delay-ms",
        "0",
    ]);
    let args = [
        case.request_timeout_ms.to_string(),
        case.session_timeout_ms.to_string(),
        case.heartbeat_interval_ms.to_string(),
    ];
    let timeout =
        Duration::from_millis(u64::from(case.request_timeout_ms)) + Duration::from_secs(90);
    let run = run_python(
        "seed_slow_leave.py",
        &[server.bootstrap(), &args[0], &args[1], &args[2]],
        timeout,
    );
    let running = server.is_running();
    let fail = |why: String| {
        Err(format!(
            "[{}] {why} (server still running: {running})\n{}\n--- server log ({}) ---\n{}",
            case.name,
            run.report(),
            server.log_path().display(),
            server.log()
        ))
    };
    if !run.success() {
        return fail("seed_slow_leave.py failed".into());
    }
    let Some(last_line) = run.stdout.lines().last() else {
        return fail("no output".into());
    };
    let result: Value = match serde_json::from_str(last_line) {
        Ok(value) => value,
        Err(e) => return fail(format!("last stdout line is not JSON: {e}")),
    };
    let Some(stop_seconds) = result["stop_seconds"].as_f64() else {
        return fail("no stop_seconds in the result".into());
    };
    let (low, high) = case.stop_seconds;
    if !(low..=high).contains(&stop_seconds) {
        return fail(format!(
            "stop() took {stop_seconds:.3} s, want {low}..={high} s (request_timeout_ms {})",
            case.request_timeout_ms
        ));
    }
    if !result["describe_error"].is_null() {
        return fail(format!(
            "describing the group during stop() failed: {}",
            result["describe_error"]
        ));
    }
    let members = &result["members_during_stop"];
    let state = &result["state_during_stop"];
    if members.as_array().is_none_or(|m| !m.is_empty()) || state.as_str() != Some("Empty") {
        return fail(format!(
            "1 s into stop() (LeaveGroup received, response held back) the group must be Empty \
             with no members; DescribeGroups saw state {state} and members {members}"
        ));
    }
    if !running {
        return fail("the server died".into());
    }
    Ok(format!("[{}] stop() took {stop_seconds:.3} s", case.name))
}

#[test]
fn stop_waits_request_timeout_when_leave_group_is_slow_and_the_member_is_gone_at_once() {
    // Prerequisites first, on this thread, so their failures read plainly.
    python();
    kmock_binary();
    let (slow_case, fast_case) = (production_defaults(), env_test());
    let slow_name = slow_case.name.clone();
    let slow = thread::Builder::new()
        .name("seed-production-defaults".into())
        .spawn(move || run_case(&slow_case))
        .expect("spawn a thread");
    let fast = run_case(&fast_case);
    let slow = slow.join().unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "<non-string panic>".into());
        Err(format!("[{slow_name}] panicked: {message}"))
    });
    let mut failures = Vec::new();
    for result in [fast, slow] {
        match result {
            Ok(measured) => report(&measured),
            Err(failure) => failures.push(failure),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[expect(
    clippy::print_stdout,
    reason = "the measured stop() durations are the point of this test; shown with --nocapture"
)]
fn report(measured: &str) {
    println!("{measured}");
}
