//! Real Kafka clients against `kmock serve`: each Python script in `tests/python/` produces 100
//! messages to a new topic, consumes them back in a new group, commits and checks the committed
//! offset. A failure shows the script's output and the server log.
//!
//! Needs the virtual environment with the pinned clients (`bash .ci/run` creates it); a missing one
//! fails the test with instructions, it is never skipped.

use std::time::Duration;

use kmock_tests::{KmockServer, python, run_python};

/// The scripts bound themselves to 60 s; this is the backstop.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);

fn interop(script: &str) {
    // Fail on a missing venv before anything else, with instructions.
    python();
    let mut server = KmockServer::start(&["--initial-rebalance-delay-ms", "0"]);
    let run = run_python(script, &[server.bootstrap()], SCRIPT_TIMEOUT);
    let running = server.is_running();
    assert!(
        run.success() && running,
        "{script} against kmock at {} failed (server still running: {running})\n{}\n--- server log ({}) ---\n{}",
        server.bootstrap(),
        run.report(),
        server.log_path().display(),
        server.log()
    );
}

#[test]
fn aiokafka_produces_consumes_and_commits() {
    interop("interop_aiokafka.py");
}

#[test]
fn kafka_python_produces_consumes_and_commits() {
    interop("interop_kafka_python.py");
}

#[test]
fn confluent_kafka_produces_consumes_and_commits() {
    interop("interop_confluent.py");
}
