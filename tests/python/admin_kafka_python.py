"""kafka-python's KafkaAdminClient against kmock: the plan in admin_support.py.

Usage: admin_kafka_python.py BOOTSTRAP

kafka-python 3.x offers every step, OffsetDelete included: while the member is active, deleting the
offsets of the topic it subscribes to gets GROUP_SUBSCRIBED_TO_TOPIC; once it has left they go.
Its describe_topics and describe_groups always ask for KIP-430 authorized operations.
"""

import sys
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import GroupSubscribedToTopicError, NoError, UnknownMemberIdError
from kafka.protocol.consumer.offsets import OffsetSpec
from kafka.structs import OffsetAndMetadata

import admin_support as plan
from admin_support import Script, expect, expect_error

SCRIPT = Script("admin_kafka_python")


def tp(partition: int) -> TopicPartition:
    return TopicPartition(SCRIPT.topic, partition)


def produce(bootstrap: str) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, client_id="admin-kafka-python-producer")
    try:
        for value in SCRIPT.values:
            producer.send(SCRIPT.topic, value.encode(), partition=0).get(timeout=plan.TIMEOUT_S)
    finally:
        producer.close()


def consumer(bootstrap: str, group: str, **config) -> KafkaConsumer:
    return KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        client_id="admin-kafka-python-consumer",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **config,
    )


def consume(member: KafkaConsumer, count: int) -> list:
    """`count` messages as (partition, offset, value)."""
    received = []
    deadline = time.monotonic() + plan.TIMEOUT_S
    while len(received) < count:
        if time.monotonic() >= deadline:
            raise AssertionError(f"consumed {len(received)} of {count} messages: {received}")
        for records in member.poll(timeout_ms=500).values():
            received.extend((r.partition, r.offset, r.value.decode()) for r in records)
    return received


def grow_partitions(admin: KafkaAdminClient) -> None:
    admin.create_partitions({SCRIPT.topic: plan.PARTITIONS})
    [topic] = admin.describe_topics([SCRIPT.topic])
    partitions = sorted(p["partition_index"] for p in topic["partitions"])
    expect(partitions, list(range(plan.PARTITIONS)), "partitions")
    operations = set(topic["authorized_operations"] or [])
    expect(operations, plan.TOPIC_OPERATIONS, "topic authorized operations")
    expect_error(
        lambda: admin.create_partitions({SCRIPT.topic: 2}),
        "INVALID_PARTITIONS",
        "create_partitions to fewer partitions",
    )
    SCRIPT.log(f"create_partitions: {SCRIPT.topic} has {plan.PARTITIONS} partitions")


def delete_records(admin: KafkaAdminClient, bootstrap: str) -> None:
    deleted = admin.delete_records({tp(0): plan.DELETE_BEFORE})
    expect(deleted[tp(0)]["low_watermark"], plan.DELETE_BEFORE, "delete_records low watermark")
    expect_error(
        lambda: admin.delete_records({tp(0): plan.MESSAGE_COUNT + 1}),
        "OFFSET_OUT_OF_RANGE",
        "delete_records beyond the high watermark",
    )
    earliest = admin.list_partition_offsets({tp(0): OffsetSpec.EARLIEST})
    expect(earliest[tp(0)].offset, plan.DELETE_BEFORE, "list_partition_offsets earliest")
    reader = consumer(bootstrap, None)
    try:
        reader.assign([tp(0)])
        reader.seek_to_beginning(tp(0))
        expect(consume(reader, 1)[0], plan.FIRST_KEPT, "first message from the beginning")
    finally:
        reader.close()
    SCRIPT.log(f"delete_records: the log starts at {plan.DELETE_BEFORE}")


def describe_group(admin: KafkaAdminClient, state: str, members: int) -> dict:
    description = admin.describe_groups([SCRIPT.group])[SCRIPT.group]
    expect(description["error"], None, "describe_groups error")
    expect(description["group_state"], state, "group state")
    expect(len(description["members"]), members, "group members")
    operations = set(description["authorized_operations"] or [])
    expect(operations, plan.GROUP_OPERATIONS, "group authorized operations")
    return description


def check_active_group(admin: KafkaAdminClient) -> None:
    listed = {group["group_id"]: group for group in admin.list_groups()}
    expect(listed[SCRIPT.group]["protocol_type"], "consumer", "listed group protocol type")
    member = describe_group(admin, "Stable", 1)["members"][0]
    expect(member["client_id"], "admin-kafka-python-consumer", "member client id")
    expect(member["member_metadata"]["topics"], [SCRIPT.topic], "member subscription")
    expect(admin.delete_groups([SCRIPT.group]), {SCRIPT.group: "NonEmptyGroupError"}, "delete_groups, active")
    deleted = admin.delete_group_offsets(SCRIPT.group, [tp(0)])
    expect(deleted, {tp(0): GroupSubscribedToTopicError}, "delete_group_offsets of a subscribed topic")
    altered = admin.alter_group_offsets(SCRIPT.group, {tp(0): OffsetAndMetadata(1, "", None)})
    expect(altered, {tp(0): UnknownMemberIdError}, "alter_group_offsets while a member is active")
    SCRIPT.log(
        "list/describe groups: Stable with one member; deleting it: NON_EMPTY_GROUP; its offsets: "
        "GROUP_SUBSCRIBED_TO_TOPIC; altering them: UNKNOWN_MEMBER_ID"
    )


def group_offsets(admin: KafkaAdminClient) -> dict:
    offsets = admin.list_group_offsets(SCRIPT.group)[SCRIPT.group]
    return {tp.partition: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}


def alter_and_delete_group(admin: KafkaAdminClient) -> None:
    describe_group(admin, "Empty", 0)
    # kafka-python commits the position of every assigned partition, empty ones included.
    expect(group_offsets(admin), {0: plan.MESSAGE_COUNT, 1: 0, 2: 0}, "offsets committed by the consumer")
    altered = {
        tp(0): OffsetAndMetadata(plan.ALTERED_OFFSET, "", None),
        tp(1): OffsetAndMetadata(0, "", None),
        tp(2): OffsetAndMetadata(1, "", None),
    }
    expect(set(admin.alter_group_offsets(SCRIPT.group, altered).values()), {NoError}, "alter_group_offsets")
    expect(group_offsets(admin), {0: plan.ALTERED_OFFSET, 1: 0, 2: 1}, "offsets after alter_group_offsets")
    deleted = admin.delete_group_offsets(SCRIPT.group, [tp(2), TopicPartition("no-such-topic", 0)])
    expect(deleted[tp(2)], NoError, "delete_group_offsets")
    unknown = deleted[TopicPartition("no-such-topic", 0)]
    expect(unknown.__name__, "UnknownTopicOrPartitionError", "delete_group_offsets of an unknown topic")
    expect(group_offsets(admin), {0: plan.ALTERED_OFFSET, 1: 0}, "offsets after delete_group_offsets")
    expect(admin.delete_groups([SCRIPT.group]), {SCRIPT.group: "OK"}, "delete_groups")
    expect(SCRIPT.group in {group["group_id"] for group in admin.list_groups()}, False, "listed after deletion")
    expect(group_offsets(admin), {}, "offsets after delete_groups")
    expect(admin.delete_groups([SCRIPT.group]), {SCRIPT.group: "GroupIdNotFoundError"}, "deleting it again")
    SCRIPT.log("alter/list/delete offsets, delete_groups: the group and its offsets are gone")


def run(bootstrap: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="admin-kafka-python")
    try:
        admin.create_topics([NewTopic(SCRIPT.topic, 1, 1)])
        produce(bootstrap)
        grow_partitions(admin)
        delete_records(admin, bootstrap)
        member = consumer(bootstrap, SCRIPT.group)
        try:
            member.subscribe([SCRIPT.topic])
            received = consume(member, plan.MESSAGE_COUNT - plan.DELETE_BEFORE)
            expect(min(r[1] for r in received if r[0] == 0), plan.DELETE_BEFORE, "the group's first offset")
            member.commit()
            check_active_group(admin)
        finally:
            member.close()
        alter_and_delete_group(admin)
    finally:
        admin.close()


if __name__ == "__main__":
    sys.exit(SCRIPT.main(run))
