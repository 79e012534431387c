"""Topic and broker configs with aiokafka's AIOKafkaAdminClient against kmock.

Usage: configs_aiokafka.py BOOTSTRAP CONTROL_URL

Runs the scenario of configs_scenario.py. aiokafka 0.12 has no IncrementalAlterConfigs API, so
that step is skipped for it (the other two clients cover it). Exit 0 on success.
"""

import asyncio
import sys
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

import configs_scenario

TIMEOUT_S = 15
RESOURCE_TYPES = {"topic": ConfigResourceType.TOPIC, "broker": ConfigResourceType.BROKER}
# DescribeConfigsResponse.ConfigSource ids (aiokafka gives the number).
SOURCE_NAMES = {
    1: "DYNAMIC_TOPIC_CONFIG",
    2: "DYNAMIC_BROKER_CONFIG",
    3: "DYNAMIC_DEFAULT_BROKER_CONFIG",
    4: "STATIC_BROKER_CONFIG",
    5: "DEFAULT_CONFIG",
}
# aiokafka's timestamp types: 0 CreateTime, 1 LogAppendTime.
LOG_APPEND_TIME = 1


class AioKafka:
    incremental_supported = False
    full_alter_resets_omitted = True

    def __init__(self, bootstrap):
        self.bootstrap = bootstrap
        self.loop = asyncio.new_event_loop()
        self.admin = self.run(self._start_admin())

    def run(self, coroutine):
        return self.loop.run_until_complete(asyncio.wait_for(coroutine, TIMEOUT_S))

    async def _start_admin(self):
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, client_id="configs-aiokafka")
        await admin.start()
        return admin

    def create_topic(self, topic, configs):
        new_topic = NewTopic(topic, num_partitions=1, replication_factor=1, topic_configs=configs)
        response = self.run(self.admin.create_topics([new_topic]))
        return response.topic_errors[0][1]

    def describe(self, resource_type, name):
        resource = ConfigResource(RESOURCE_TYPES[resource_type], name)
        responses = self.run(self.admin.describe_configs([resource]))
        resources = responses[0].to_object()["resources"]
        if resources[0]["error_code"] != 0:
            raise AssertionError(f"DescribeConfigs {name}: {resources[0]}")
        return {
            entry["config_names"]: (entry["config_value"], SOURCE_NAMES.get(entry["config_source"]))
            for entry in resources[0]["config_entries"]
        }

    def alter(self, topic, configs):
        resource = ConfigResource(ConfigResourceType.TOPIC, topic, configs)
        responses = self.run(self.admin.alter_configs([resource]))
        return responses[0].to_object()["resources"][0]["error_code"]

    def incremental(self, topic, ops):
        raise NotImplementedError("aiokafka has no IncrementalAlterConfigs API")

    def produce(self, topic, value):
        return self.run(self._produce(topic, value))

    async def _produce(self, topic, value):
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, client_id="configs-aiokafka")
        await producer.start()
        try:
            await producer.send_and_wait(topic, value)
        except KafkaError as error:
            return error.errno
        finally:
            await producer.stop()
        return 0

    def consume_first(self, topic):
        return self.run(self._consume_first(topic))

    async def _consume_first(self, topic):
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=self.bootstrap,
            group_id=f"configs-aiokafka-{uuid.uuid4().hex[:8]}",
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            message = await consumer.getone()
            return message.timestamp_type == LOG_APPEND_TIME, message.timestamp
        finally:
            await consumer.stop()

    def earliest_offset(self, topic):
        return self.run(self._earliest_offset(topic))

    async def _earliest_offset(self, topic):
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap)
        await consumer.start()
        try:
            partition = TopicPartition(topic, 0)
            return (await consumer.beginning_offsets([partition]))[partition]
        finally:
            await consumer.stop()

    def close(self):
        self.run(self.admin.close())
        self.loop.close()


if __name__ == "__main__":
    sys.exit(configs_scenario.main(AioKafka, "aiokafka"))
