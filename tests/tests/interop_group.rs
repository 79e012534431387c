//! Deeper interop: each real client's consumer group on a 6-partition topic against `kmock serve`
//! (`python/interop_group.py`, `node/interop_group_kafkajs.mjs`; their docstrings list the steps):
//! three members share the partitions, each assigned exactly once (before any record exists); one leaves and the other two
//! take over all six; keyed records land on the partition murmur2 gives their key, checked against
//! the client's own partitioner; headers and gzip/snappy-compressed batches round-trip; a new
//! member resumes at the committed offsets. kcat (librdkafka): keyed records by murmur2
//! (`partitioner=murmur2_random`), headers, gzip/snappy, a group member resuming after another's
//! commits.
//!
//! Needs the venv (with cramjam and python-snappy for the Python clients' snappy), the Node.js
//! packages (kafkajs-snappy) and kcat: `bash .ci/run venv`; missing ones fail with instructions.

use std::time::Duration;

use kmock_tests::{KmockServer, ScriptRun, node, python, require_program, run_node, run_python};

/// The scripts bound themselves to 120 s; this is the backstop.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(180);

fn group_interop(what: &str, run_script: impl FnOnce(&str) -> ScriptRun) {
    let mut server = KmockServer::start(&[
        "--initial-rebalance-delay-ms",
        "0",
        "--default-partitions",
        "6",
    ]);
    let run = run_script(server.bootstrap());
    let running = server.is_running();
    assert!(
        run.success() && running,
        "{what} against kmock at {} failed (server still running: {running})\n{}\n--- server log ({}) ---\n{}",
        server.bootstrap(),
        run.report(),
        server.log_path().display(),
        server.log()
    );
}

fn python_group(client: &str) {
    python();
    group_interop(client, |bootstrap| {
        run_python("interop_group.py", &[client, bootstrap], SCRIPT_TIMEOUT)
    });
}

#[test]
fn aiokafka_group_of_three_on_six_partitions() {
    python_group("aiokafka");
}

#[test]
fn kafka_python_group_of_three_on_six_partitions() {
    python_group("kafka-python");
}

#[test]
fn confluent_kafka_group_of_three_on_six_partitions() {
    python_group("confluent-kafka");
}

#[test]
fn kcat_keyed_compressed_records_and_group_resume() {
    require_program("kcat", "install it: apt-get install kcat (.ci/run does it)");
    python_group("kcat");
}

#[test]
fn kafkajs_group_of_three_on_six_partitions() {
    node();
    group_interop("kafkajs", |bootstrap| {
        run_node("interop_group_kafkajs.mjs", &[bootstrap], SCRIPT_TIMEOUT)
    });
}
