"""Topic and broker configs with kafka-python's KafkaAdminClient against kmock.

Usage: configs_kafka_python.py BOOTSTRAP CONTROL_URL

Runs the scenario of configs_scenario.py. kafka-python's non-incremental alter_configs re-sends
the modified configs it was not given (so nothing is reset by accident); the scenario expects that.
Exit 0 on success.
"""

import re
import sys
import uuid

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient
from kafka.errors import KafkaError

import configs_scenario

TIMEOUT_S = 15
RESOURCE_TYPES = {"topic": ConfigResourceType.TOPIC, "broker": ConfigResourceType.BROKER}


def result_code(result):
    """0 for 'OK', else the code in kafka-python's error text ('[Error 40] ...')."""
    if result == "OK":
        return 0
    match = re.search(r"\[Error (-?\d+)\]", result)
    if match is None:
        raise AssertionError(f"no error code in {result!r}")
    return int(match.group(1))


class KafkaPython:
    incremental_supported = True
    full_alter_resets_omitted = False

    def __init__(self, bootstrap):
        self.bootstrap = bootstrap
        self.admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="configs-kafka-python")

    def create_topic(self, topic, configs):
        spec = {topic: {"num_partitions": 1, "replication_factor": 1, "configs": configs}}
        result = self.admin.create_topics(spec, raise_errors=False)
        return result["topics"][0]["error_code"]

    def describe(self, resource_type, name):
        kind = RESOURCE_TYPES[resource_type]
        result = self.admin.describe_configs([ConfigResource(kind, name)], config_filter="all")
        configs = result[kind.name.lower()][name]
        return {key: (config["value"], config["config_source"]) for key, config in configs.items()}

    def _alter(self, topic, configs, incremental):
        resource = ConfigResource(ConfigResourceType.TOPIC, topic, configs)
        result = self.admin.alter_configs([resource], incremental=incremental)
        return result_code(result["topic"][topic])

    def alter(self, topic, configs):
        return self._alter(topic, dict(configs), incremental=False)

    def incremental(self, topic, ops):
        return self._alter(topic, {name: (op, value) for name, op, value in ops}, incremental=True)

    def produce(self, topic, value):
        # A producer per record: kafka-python's idempotent producer treats MESSAGE_TOO_LARGE as
        # fatal and fails every later send (its TransactionManager enters FATAL_ERROR; Java's
        # producer does not), which is the client's behaviour against any broker.
        producer = KafkaProducer(bootstrap_servers=self.bootstrap, client_id="configs-kafka-python")
        try:
            producer.send(topic, value).get(timeout=TIMEOUT_S)
        except KafkaError as error:
            return error.errno
        finally:
            producer.close()
        return 0

    def consume_first(self, topic):
        consumer = KafkaConsumer(
            topic,
            bootstrap_servers=self.bootstrap,
            group_id=f"configs-kafka-python-{uuid.uuid4().hex[:8]}",
            auto_offset_reset="earliest",
            consumer_timeout_ms=TIMEOUT_S * 1000,
        )
        try:
            for message in consumer:
                # kafka-python's timestamp types: 0 CreateTime, 1 LogAppendTime.
                return message.timestamp_type == 1, message.timestamp
        finally:
            consumer.close()
        raise AssertionError(f"nothing consumed from {topic}")

    def earliest_offset(self, topic):
        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap)
        try:
            partition = TopicPartition(topic, 0)
            return consumer.beginning_offsets([partition])[partition]
        finally:
            consumer.close()

    def close(self):
        self.admin.close()


if __name__ == "__main__":
    sys.exit(configs_scenario.main(KafkaPython, "kafka_python"))
