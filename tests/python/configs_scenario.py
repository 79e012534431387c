"""The topic and broker config scenario every admin client runs against kmock.

A client script (configs_confluent.py, configs_kafka_python.py, configs_aiokafka.py) wraps its
client in an adapter with the methods below and calls `main(adapter_factory, name)`. The scenario,
and every assertion, is the same for all clients:

1. CreateTopics with configs; an unknown config name and a bad value are INVALID_CONFIG (40).
2. DescribeConfigs of the topic (values and sources: DYNAMIC_TOPIC_CONFIG for what was set,
   DEFAULT_CONFIG otherwise) and of broker 0 (kmock's real settings:
   group.initial.rebalance.delay.ms=0 from the command line is a STATIC_BROKER_CONFIG).
3. A record over the topic's max.message.bytes is refused with MESSAGE_TOO_LARGE (10) and not
   stored.
4. AlterConfigs (legacy): the new set replaces the old one (for clients that send it as is); a bad
   value is INVALID_CONFIG; message.timestamp.type=LogAppendTime makes the broker stamp records.
5. IncrementalAlterConfigs (clients that have it): APPEND to cleanup.policy, DELETE, SET.
6. retention.bytes + `POST /retention` on the control API: the oldest batches go and the log start
   offset (the client's earliest offset) moves.

Adapter methods (errors are Kafka error codes, 0 for success):
    create_topic(topic, configs) -> int
    describe(resource_type, name) -> {config name: (value, source name)}   resource_type: "topic" or "broker"
    alter(topic, configs) -> int                    (AlterConfigs: the whole set)
    incremental(topic, [(name, op, value)]) -> int  (op: "SET", "DELETE", "APPEND", "SUBTRACT")
    produce(topic, value: bytes) -> int             (one batch, flushed)
    consume_first(topic) -> (is_log_append_time: bool, timestamp_ms: int)
    earliest_offset(topic) -> int
    close()
Adapter attributes: `incremental_supported` (bool), `full_alter_resets_omitted` (bool: the client
sends AlterConfigs as given; kafka-python re-sends the modified configs it did not name).
"""

import faulthandler
import json
import sys
import time
import traceback
import urllib.request
import uuid

OVERALL_TIMEOUT_S = 60

INVALID_CONFIG = 40
MESSAGE_TOO_LARGE = 10
KAFKA_RETENTION_MS_DEFAULT = "604800000"


class Scenario:
    def __init__(self, client, control_url, name):
        self.client = client
        self.control_url = control_url.rstrip("/")
        self.name = name
        self.topic = f"configs-{name}-{uuid.uuid4().hex[:10]}"

    def log(self, message):
        print(f"[configs_{self.name}] {message}", flush=True)

    def expect(self, condition, message):
        if not condition:
            raise AssertionError(message)

    def expect_config(self, configs, name, value, source):
        got = configs.get(name)
        self.expect(got == (value, source), f"{name}: got {got}, want {(value, source)}")

    def run(self):
        self.create_topics()
        self.describe()
        self.max_message_bytes()
        self.full_alter()
        self.log_append_time()
        if self.client.incremental_supported:
            self.incremental_alter()
        else:
            self.log("this client has no IncrementalAlterConfigs API: skipped")
        self.retention()

    def create_topics(self):
        code = self.client.create_topic(self.topic, {"retention.ms": "3600000", "max.message.bytes": "2000"})
        self.expect(code == 0, f"CreateTopics with configs: error {code}")
        unknown = self.client.create_topic(self.topic + "-unknown", {"retention.mss": "1"})
        self.expect(unknown == INVALID_CONFIG, f"unknown config name: error {unknown}, want INVALID_CONFIG")
        bad = self.client.create_topic(self.topic + "-bad", {"retention.ms": "soon"})
        self.expect(bad == INVALID_CONFIG, f"bad config value: error {bad}, want INVALID_CONFIG")
        self.log(f"created {self.topic} with configs; unknown names and bad values are INVALID_CONFIG")

    def describe(self):
        configs = self.client.describe("topic", self.topic)
        self.expect_config(configs, "retention.ms", "3600000", "DYNAMIC_TOPIC_CONFIG")
        self.expect_config(configs, "max.message.bytes", "2000", "DYNAMIC_TOPIC_CONFIG")
        self.expect_config(configs, "segment.bytes", "1073741824", "DEFAULT_CONFIG")
        self.expect_config(configs, "cleanup.policy", "delete", "DEFAULT_CONFIG")
        self.expect_config(configs, "message.timestamp.type", "CreateTime", "DEFAULT_CONFIG")
        broker = self.client.describe("broker", "0")
        self.expect_config(broker, "group.initial.rebalance.delay.ms", "0", "STATIC_BROKER_CONFIG")
        self.expect_config(broker, "message.max.bytes", "1048588", "DEFAULT_CONFIG")
        self.expect_config(broker, "num.partitions", "1", "DEFAULT_CONFIG")
        self.log(f"described {len(configs)} topic configs and {len(broker)} broker configs")

    def max_message_bytes(self):
        code = self.client.produce(self.topic, b"x" * 5000)
        self.expect(code == MESSAGE_TOO_LARGE, f"5000-byte record over max.message.bytes=2000: error {code}")
        earliest = self.client.earliest_offset(self.topic)
        self.expect(earliest == 0, f"earliest offset {earliest}")
        self.log("a record over max.message.bytes is MESSAGE_TOO_LARGE")

    def full_alter(self):
        bad = self.client.alter(self.topic, {"retention.ms": "-5"})
        self.expect(bad == INVALID_CONFIG, f"AlterConfigs retention.ms=-5: error {bad}")
        code = self.client.alter(self.topic, {"max.message.bytes": "100000", "message.timestamp.type": "LogAppendTime"})
        self.expect(code == 0, f"AlterConfigs: error {code}")
        configs = self.client.describe("topic", self.topic)
        self.expect_config(configs, "max.message.bytes", "100000", "DYNAMIC_TOPIC_CONFIG")
        self.expect_config(configs, "message.timestamp.type", "LogAppendTime", "DYNAMIC_TOPIC_CONFIG")
        if self.client.full_alter_resets_omitted:
            self.expect_config(configs, "retention.ms", KAFKA_RETENTION_MS_DEFAULT, "DEFAULT_CONFIG")
        else:
            self.expect_config(configs, "retention.ms", "3600000", "DYNAMIC_TOPIC_CONFIG")
        self.log("AlterConfigs replaced the topic's configs")

    def log_append_time(self):
        before_ms = int(time.time() * 1000)
        code = self.client.produce(self.topic, b"stamped")
        self.expect(code == 0, f"produce to the LogAppendTime topic: error {code}")
        log_append_time, timestamp = self.client.consume_first(self.topic)
        after_ms = int(time.time() * 1000)
        self.expect(log_append_time, "the record's timestamp type is not LogAppendTime")
        self.expect(before_ms - 5000 <= timestamp <= after_ms + 5000, f"stamp {timestamp} not within [{before_ms}, {after_ms}]")
        self.log(f"the broker stamped the record with its clock ({timestamp})")

    def incremental_alter(self):
        ops = [
            ("cleanup.policy", "APPEND", "compact"),
            ("message.timestamp.type", "DELETE", None),
            ("segment.ms", "SET", "3600000"),
        ]
        code = self.client.incremental(self.topic, ops)
        self.expect(code == 0, f"IncrementalAlterConfigs: error {code}")
        bad = self.client.incremental(self.topic, [("retention.ms", "APPEND", "1")])
        self.expect(bad == INVALID_CONFIG, f"APPEND to a non-list config: error {bad}")
        configs = self.client.describe("topic", self.topic)
        self.expect_config(configs, "cleanup.policy", "delete,compact", "DYNAMIC_TOPIC_CONFIG")
        self.expect_config(configs, "message.timestamp.type", "CreateTime", "DEFAULT_CONFIG")
        self.expect_config(configs, "segment.ms", "3600000", "DYNAMIC_TOPIC_CONFIG")
        self.expect_config(configs, "max.message.bytes", "100000", "DYNAMIC_TOPIC_CONFIG")
        self.log("IncrementalAlterConfigs applied APPEND, DELETE and SET")

    def retention(self):
        topic = self.topic + "-retention"
        code = self.client.create_topic(topic, {"retention.bytes": "1"})
        self.expect(code == 0, f"CreateTopics {topic}: error {code}")
        for value in (b"first", b"second", b"third"):
            code = self.client.produce(topic, value)
            self.expect(code == 0, f"produce {value!r}: error {code}")
        report = self.post_retention(topic)
        partitions = report["partitions"]
        self.expect(len(partitions) == 1 and partitions[0]["deleted_batches"] == 2, f"POST /retention: {report}")
        earliest = self.client.earliest_offset(topic)
        self.expect(earliest == 2, f"earliest offset after retention: {earliest}, want 2")
        self.log("retention.bytes removed the two oldest batches; the earliest offset is 2")

    def post_retention(self, topic):
        body = json.dumps({"topic": topic}).encode()
        request = urllib.request.Request(
            f"{self.control_url}/retention", data=body, method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)


def main(adapter_factory, name):
    """Entry point of a client script: `configs_<client>.py BOOTSTRAP CONTROL_URL`."""
    if len(sys.argv) != 3:
        print(f"usage: configs_{name}.py BOOTSTRAP CONTROL_URL", file=sys.stderr)
        return 2
    faulthandler.dump_traceback_later(OVERALL_TIMEOUT_S, exit=True)
    bootstrap, control_url = sys.argv[1], sys.argv[2]
    client = None
    try:
        client = adapter_factory(bootstrap)
        Scenario(client, control_url, name).run()
    except Exception as error:  # noqa: BLE001 - report any failure with its type
        traceback.print_exc()
        print(f"[configs_{name}] FAILED: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    finally:
        if client is not None:
            client.close()
    print(f"[configs_{name}] OK", flush=True)
    return 0
