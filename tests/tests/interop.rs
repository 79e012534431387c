//! Real Kafka clients against `kmock serve`: each interop script (`tests/python/interop_*.py`,
//! `tests/node/interop_*.mjs`) produces 100 messages to a new topic, consumes them back in a new
//! group, commits and checks the committed offset. Each admin script (`tests/python/admin_*.py`,
//! the plan in `admin_support.py`) drives one client's admin API: create partitions, delete
//! records, list/describe/delete groups, alter/list/delete group offsets, authorized operations,
//! asserting the results. `large_batches.py` has every client read back record batches that kmock
//! serves by reference and ones it copies. A failure shows the script's output and the server log.
//!
//! Needs the Python venv and the Node.js packages with the pinned clients, and kcat (`bash .ci/run`
//! installs them all); anything missing fails the test with instructions, it is never skipped.

use std::time::Duration;

use kmock_tests::{KmockServer, ScriptRun, node, python, require_program, run_node, run_python};

/// The scripts bound themselves to 60 s; this is the backstop.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs one interop script against a fresh server and asserts it succeeded.
fn interop(script: &str, run_script: impl FnOnce(&str) -> ScriptRun) {
    let mut server = KmockServer::start(&["--initial-rebalance-delay-ms", "0"]);
    let run = run_script(server.bootstrap());
    server.assert_script_succeeded(script, &run);
}

fn interop_python(script: &str) {
    // Fail on a missing venv before anything else, with instructions.
    python();
    interop(script, |bootstrap| {
        run_python(script, &[bootstrap], SCRIPT_TIMEOUT)
    });
}

#[test]
fn aiokafka_produces_consumes_and_commits() {
    interop_python("interop_aiokafka.py");
}

#[test]
fn kafka_python_produces_consumes_and_commits() {
    interop_python("interop_kafka_python.py");
}

#[test]
fn confluent_kafka_produces_consumes_and_commits() {
    interop_python("interop_confluent.py");
}

/// Batches of 4 KiB and more are served by reference (a chained Fetch frame, vectored writes),
/// smaller ones copied: kafka-python, aiokafka, confluent-kafka and kcat each read 20,010 records
/// of both kinds back with their values and offsets (the Python clients check every batch's CRC).
#[test]
fn every_client_reads_back_large_and_small_batches_whole() {
    require_program("kcat", "install it: apt-get install kcat (.ci/run does it)");
    interop_python("large_batches.py");
}

#[test]
fn kcat_produces_consumes_and_commits() {
    require_program("kcat", "install it: apt-get install kcat (.ci/run does it)");
    interop_python("interop_kcat.py");
}

#[test]
fn kafkajs_produces_consumes_and_commits() {
    node();
    let script = "interop_kafkajs.mjs";
    interop(script, |bootstrap| {
        run_node(script, &[bootstrap], SCRIPT_TIMEOUT)
    });
}

#[test]
fn confluent_kafka_admin_client_manages_partitions_records_groups_and_offsets() {
    interop_python("admin_confluent.py");
}

#[test]
fn kafka_python_admin_client_manages_partitions_records_groups_and_offsets() {
    interop_python("admin_kafka_python.py");
}

#[test]
fn aiokafka_admin_client_manages_partitions_records_groups_and_offsets() {
    interop_python("admin_aiokafka.py");
}
