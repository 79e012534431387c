"""Topic and broker configs with confluent-kafka's AdminClient (librdkafka) against kmock.

Usage: configs_confluent.py BOOTSTRAP CONTROL_URL

Runs the scenario of configs_scenario.py: create_topics with configs, describe_configs of a topic
and of broker 0, alter_configs, incremental_alter_configs, and what the configs change
(max.message.bytes, LogAppendTime, retention). Exit 0 on success.
"""

import sys
import uuid

from confluent_kafka import (
    TIMESTAMP_LOG_APPEND_TIME,
    Consumer,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewTopic,
    ResourceType,
)

import configs_scenario
from confluent_support import poll_messages

TIMEOUT_S = 15
RESOURCE_TYPES = {"topic": ResourceType.TOPIC, "broker": ResourceType.BROKER}


def error_code(future):
    """0, or the Kafka error code the future failed with."""
    try:
        future.result(timeout=TIMEOUT_S)
    except KafkaException as error:
        return error.args[0].code()
    return 0


class Confluent:
    incremental_supported = True
    full_alter_resets_omitted = True

    def __init__(self, bootstrap):
        self.bootstrap = bootstrap
        self.admin = AdminClient({"bootstrap.servers": bootstrap, "client.id": "configs-confluent"})
        self.producer = Producer({"bootstrap.servers": bootstrap, "client.id": "configs-confluent"})

    def create_topic(self, topic, configs):
        topic_spec = NewTopic(topic, num_partitions=1, replication_factor=1, config=configs)
        return error_code(self.admin.create_topics([topic_spec])[topic])

    def describe(self, resource_type, name):
        resource = ConfigResource(RESOURCE_TYPES[resource_type], name)
        entries = self.admin.describe_configs([resource])[resource].result(timeout=TIMEOUT_S)
        # librdkafka gives the source as its number (ConfigSource's values).
        return {name: (entry.value, ConfigSource(entry.source).name) for name, entry in entries.items()}

    def alter(self, topic, configs):
        resource = ConfigResource(ResourceType.TOPIC, topic, set_config=configs)
        return error_code(self.admin.alter_configs([resource])[resource])

    def incremental(self, topic, ops):
        entries = [
            ConfigEntry(name, value, incremental_operation=AlterConfigOpType[op])
            for name, op, value in ops
        ]
        resource = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=entries)
        return error_code(self.admin.incremental_alter_configs([resource])[resource])

    def produce(self, topic, value):
        outcome = []
        self.producer.produce(topic, value, on_delivery=lambda error, _: outcome.append(error))
        self.producer.flush(TIMEOUT_S)
        if not outcome:
            raise AssertionError(f"no delivery report for {topic}")
        return 0 if outcome[0] is None else outcome[0].code()

    def consume_first(self, topic):
        consumer = Consumer({
            "bootstrap.servers": self.bootstrap,
            "group.id": f"configs-confluent-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
        })
        try:
            consumer.subscribe([topic])
            message = poll_messages(consumer, 1, TIMEOUT_S)[0]
            timestamp_type, timestamp = message.timestamp()
            return timestamp_type == TIMESTAMP_LOG_APPEND_TIME, timestamp
        finally:
            consumer.close()

    def earliest_offset(self, topic):
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "configs-confluent-offsets"})
        try:
            low, _high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=TIMEOUT_S)
            return low
        finally:
            consumer.close()

    def close(self):
        self.producer.flush(TIMEOUT_S)


if __name__ == "__main__":
    sys.exit(configs_scenario.main(Confluent, "confluent"))
