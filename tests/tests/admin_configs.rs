//! Topic and broker configs with real admin clients against `kmock serve`: confluent-kafka's
//! AdminClient, kafka-python's KafkaAdminClient and aiokafka's AIOKafkaAdminClient each run the
//! scenario of `tests/python/configs_scenario.py` — create a topic with configs, describe the
//! topic's and broker 0's configs (values and sources), alter them (AlterConfigs, and
//! IncrementalAlterConfigs where the client has it), and see what the configs change:
//! MESSAGE_TOO_LARGE over `max.message.bytes`, LogAppendTime stamps, and retention run through the
//! control API's `POST /retention`. A failure shows the script's output and the server log.
//!
//! Needs the Python venv with the pinned clients (`bash .ci/run`); never skipped.

use std::time::Duration;

use kmock_tests::{KmockServer, python, run_python};

/// The scripts bound themselves to 60 s; this is the backstop (nextest stops a test at 120 s).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(100);

fn configs_scenario(script: &str) {
    python();
    let mut server =
        KmockServer::start(&["--initial-rebalance-delay-ms", "0", "--control-port", "0"]);
    let control = server.control_url();
    let run = run_python(script, &[server.bootstrap(), &control], SCRIPT_TIMEOUT);
    server.assert_script_succeeded(script, &run);
}

#[test]
fn confluent_kafka_admin_client_creates_describes_and_alters_configs() {
    configs_scenario("configs_confluent.py");
}

#[test]
fn kafka_python_admin_client_creates_describes_and_alters_configs() {
    configs_scenario("configs_kafka_python.py");
}

#[test]
fn aiokafka_admin_client_creates_describes_and_alters_configs() {
    configs_scenario("configs_aiokafka.py");
}
