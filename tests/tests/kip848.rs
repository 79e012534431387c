//! KIP-848 (`group.protocol=consumer`) with a real client: confluent-kafka (librdkafka) over TCP.
//!
//! - Two consumers split 4 partitions 2+2 with the broker's assignor, the survivor takes all 4
//!   after one closes; the records consumed and the offsets committed are checked
//!   (`tests/python/kip848_confluent.py split`).
//! - The seed's question asked of the new protocol: with the response to the leave heartbeat
//!   (member epoch -1) held back 60 s, how long does `close()` take? Measured: librdkafka gives a
//!   ConsumerGroupHeartbeat the *heartbeat interval the broker sent* as its timeout, capped by
//!   `socket.timeout.ms` (its request timeout), and its timeout scan runs once a second. So close
//!   takes about min(socket.timeout.ms, group.consumer.heartbeat.interval.ms), rounded up to the
//!   next second: bounded by the request timeout, and with the broker's defaults (5 s interval)
//!   far below librdkafka's 60 s default request timeout. The member is gone at once: the broker
//!   applies the leave when it arrives.
//!
//! Each case runs against its own `kmock serve`, in parallel threads.

use std::thread;
use std::time::Duration;

use kmock_tests::{KmockServer, kmock_binary, python, run_python};
use serde_json::Value;

/// Broker settings that make the split quick: a 6 s session, a 500 ms heartbeat interval.
const FAST_GROUP: &[&str] = &[
    "--initial-rebalance-delay-ms",
    "0",
    "--group-consumer-session-timeout-ms",
    "6000",
    "--group-consumer-min-session-timeout-ms",
    "6000",
    "--group-consumer-heartbeat-interval-ms",
    "500",
    "--group-consumer-min-heartbeat-interval-ms",
    "100",
];

const LEAVE_DELAYED: &str = "consumer_group_heartbeat,epoch=-1:delay=60s";

/// Runs the script; its last stdout line as JSON, or the whole account of the failure.
fn run(server: &mut KmockServer, args: &[&str], timeout: Duration) -> Result<Value, String> {
    let mut all = vec![server.bootstrap().to_owned()];
    all.extend(args.iter().skip(1).map(|a| (*a).to_owned()));
    let mut script_args: Vec<&str> = vec![args[0]];
    script_args.extend(all.iter().map(String::as_str));
    let run = run_python("kip848_confluent.py", &script_args, timeout);
    let running = server.is_running();
    let fail = |why: &str| {
        Err(format!(
            "{why} (server still running: {running})\n{}\n--- server log ({}) ---\n{}",
            run.report(),
            server.log_path().display(),
            server.log()
        ))
    };
    if !run.success() {
        return fail("kip848_confluent.py failed");
    }
    match run.stdout.lines().last().map(serde_json::from_str::<Value>) {
        Some(Ok(value)) => Ok(value),
        _ => fail("the last stdout line is not JSON"),
    }
}

/// One close measurement: the broker's heartbeat interval, the client's socket.timeout.ms, and
/// the close() duration it must give.
struct CloseCase {
    heartbeat_interval_ms: u32,
    socket_timeout_ms: u32,
}

impl CloseCase {
    /// min(socket.timeout.ms, heartbeat interval), rounded up to librdkafka's 1 s timeout scan.
    fn expected_seconds(&self) -> (f64, f64) {
        let bound = f64::from(self.heartbeat_interval_ms.min(self.socket_timeout_ms)) / 1000.0;
        let scanned = bound.ceil().max(1.0);
        (scanned - 0.3, scanned + 1.2)
    }

    fn run(&self) -> Result<String, String> {
        let interval = self.heartbeat_interval_ms.to_string();
        let mut server = KmockServer::start(&[
            "--initial-rebalance-delay-ms",
            "0",
            "--group-consumer-heartbeat-interval-ms",
            &interval,
            "--group-consumer-min-heartbeat-interval-ms",
            "100",
            "--fault",
            LEAVE_DELAYED,
        ]);
        let socket_timeout = self.socket_timeout_ms.to_string();
        let result = run(
            &mut server,
            &["close", &socket_timeout],
            Duration::from_secs(90),
        )?;
        let name = format!(
            "heartbeat interval {} ms, socket.timeout.ms {}",
            self.heartbeat_interval_ms, self.socket_timeout_ms
        );
        let seconds = result["close_seconds"].as_f64().unwrap_or(f64::NAN);
        let (low, high) = self.expected_seconds();
        if !(low..=high).contains(&seconds) {
            return Err(format!(
                "[{name}] close() took {seconds:.3} s, want {low:.1}..={high:.1} s: {result}\n\
                 --- server log ---\n{}",
                server.log()
            ));
        }
        let described = &result["described_after_close"];
        if described["members"]
            .as_object()
            .is_none_or(|m| !m.is_empty())
        {
            return Err(format!(
                "[{name}] the member must be gone once the leave arrived (its response is held \
                 back): {described}"
            ));
        }
        if result["committed"] != serde_json::json!([10, 10, 10, 10]) {
            return Err(format!(
                "[{name}] committed offsets: {}",
                result["committed"]
            ));
        }
        Ok(format!("[{name}] close() took {seconds:.3} s"))
    }
}

#[test]
fn two_consumers_split_four_partitions_and_the_survivor_takes_all_four() {
    python();
    kmock_binary();
    let mut server = KmockServer::start(FAST_GROUP);
    let result = run(&mut server, &["split"], Duration::from_secs(120))
        .unwrap_or_else(|failure| panic!("{failure}"));
    assert_eq!(
        result["survivor"],
        serde_json::json!([0, 1, 2, 3]),
        "{result}"
    );
    assert_eq!(
        result["committed"],
        serde_json::json!([20, 20, 20, 20]),
        "{result}"
    );
    assert_eq!(result["consumed"], result["sent"], "{result}");
    assert!(server.is_running());
}

#[test]
fn close_with_a_held_back_leave_takes_the_smaller_of_request_timeout_and_heartbeat_interval() {
    python();
    kmock_binary();
    let cases = [
        // The broker's default interval (5 s) and librdkafka's request timeout below it.
        CloseCase {
            heartbeat_interval_ms: 5_000,
            socket_timeout_ms: 3_000,
        },
        // The default interval below the request timeout: the interval bounds close().
        CloseCase {
            heartbeat_interval_ms: 5_000,
            socket_timeout_ms: 20_000,
        },
        // A short interval (a test set-up): close() takes about a second.
        CloseCase {
            heartbeat_interval_ms: 500,
            socket_timeout_ms: 20_000,
        },
    ];
    let handles: Vec<_> = cases
        .into_iter()
        .map(|case| thread::spawn(move || case.run()))
        .collect();
    let mut failures = Vec::new();
    for handle in handles {
        match handle.join() {
            Ok(Ok(measured)) => report(&measured),
            Ok(Err(failure)) => failures.push(failure),
            Err(_) => failures.push("a case panicked".to_owned()),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[expect(
    clippy::print_stdout,
    reason = "the measured close() durations are the point of this test; shown with --nocapture"
)]
fn report(measured: &str) {
    println!("{measured}");
}
