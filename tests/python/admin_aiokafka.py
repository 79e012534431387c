"""aiokafka 0.12's AIOKafkaAdminClient against kmock: the plan in admin_support.py, as far as it
goes.

Usage: admin_aiokafka.py BOOTSTRAP

AIOKafkaAdminClient 0.12 offers create_partitions, delete_records, list_consumer_groups,
describe_consumer_groups (with include_authorized_operations) and list_consumer_group_offsets; it
has no call to alter or delete group offsets or to delete groups. Offsets are altered the way an
aiokafka application does it, with a consumer's commit of explicit offsets; deleting groups and
offsets is left to the other admin scripts.

describe_consumer_groups(include_authorized_operations=True) sends DescribeGroups v3 asking for the
operations, but aiokafka 0.12 reads the answer with the v2 schema (DescribeGroupsRequest_v3's
RESPONSE_TYPE is DescribeGroupsResponse_v2), so the operations never reach the caller; the other
scripts check them.
"""

import asyncio
import sys

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic, RecordsToDelete

import admin_support as plan
from admin_support import Script, expect, expect_error_async

SCRIPT = Script("admin_aiokafka")


def tp(partition: int) -> TopicPartition:
    return TopicPartition(SCRIPT.topic, partition)


async def produce(bootstrap: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, client_id="admin-aiokafka-producer")
    await producer.start()
    try:
        for value in SCRIPT.values:
            await producer.send_and_wait(SCRIPT.topic, value.encode(), partition=0)
    finally:
        await producer.stop()


def consumer(bootstrap: str, group) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        client_id="admin-aiokafka-consumer",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )


async def consume(member: AIOKafkaConsumer, count: int) -> list:
    """`count` messages as (partition, offset, value)."""
    received = []
    while len(received) < count:
        batches = await asyncio.wait_for(member.getmany(timeout_ms=500), plan.TIMEOUT_S)
        for records in batches.values():
            received.extend((r.partition, r.offset, r.value.decode()) for r in records)
    return received


async def grow_partitions(admin: AIOKafkaAdminClient) -> None:
    await admin.create_partitions({SCRIPT.topic: NewPartitions(plan.PARTITIONS)})
    [topic] = (await admin.describe_topics([SCRIPT.topic]))
    expect(sorted(p["partition"] for p in topic["partitions"]), list(range(plan.PARTITIONS)), "partitions")
    await expect_error_async(
        admin.create_partitions({SCRIPT.topic: NewPartitions(2)}),
        "INVALID_PARTITIONS",
        "create_partitions to fewer partitions",
    )
    SCRIPT.log(f"create_partitions: {SCRIPT.topic} has {plan.PARTITIONS} partitions")


async def delete_records(admin: AIOKafkaAdminClient, bootstrap: str) -> None:
    deleted = await admin.delete_records({tp(0): RecordsToDelete(plan.DELETE_BEFORE)})
    expect(deleted, {tp(0): plan.DELETE_BEFORE}, "delete_records low watermarks")
    await expect_error_async(
        admin.delete_records({tp(0): RecordsToDelete(plan.MESSAGE_COUNT + 1)}),
        "OFFSET_OUT_OF_RANGE",
        "delete_records beyond the high watermark",
    )
    reader = consumer(bootstrap, None)
    await reader.start()
    try:
        expect(await reader.beginning_offsets([tp(0)]), {tp(0): plan.DELETE_BEFORE}, "beginning_offsets")
        reader.assign([tp(0)])
        await reader.seek_to_beginning(tp(0))
        first = (await consume(reader, 1))[0]
        expect(first, plan.FIRST_KEPT, "first message from the beginning")
    finally:
        await reader.stop()
    SCRIPT.log(f"delete_records: the log starts at {plan.DELETE_BEFORE}")


async def describe_group(admin: AIOKafkaAdminClient, state: str, members: int):
    [response] = await admin.describe_consumer_groups([SCRIPT.group], include_authorized_operations=True)
    # Six fields: the v2 schema (see the module docs), without authorized_operations.
    [(error_code, group_id, group_state, protocol_type, _, described)] = response.groups
    expect((error_code, group_id, group_state), (0, SCRIPT.group, state), "described group")
    expect(protocol_type, "consumer", "protocol type")
    expect(len(described), members, "group members")
    return described


async def check_active_group(admin: AIOKafkaAdminClient) -> None:
    expect((SCRIPT.group, "consumer") in await admin.list_consumer_groups(), True, "group listed")
    [(_, client_id, _, _, _)] = await describe_group(admin, "Stable", 1)
    expect(client_id, "admin-aiokafka-consumer", "member client id")
    SCRIPT.log("list/describe groups: Stable with one member")


async def group_offsets(admin: AIOKafkaAdminClient) -> dict:
    offsets = await admin.list_consumer_group_offsets(SCRIPT.group)
    return {tp.partition: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}


async def alter_offsets(admin: AIOKafkaAdminClient, bootstrap: str) -> None:
    await describe_group(admin, "Empty", 0)
    # aiokafka commits the position of every assigned partition, empty ones included.
    expected = {0: plan.MESSAGE_COUNT, 1: 0, 2: 0}
    expect(await group_offsets(admin), expected, "offsets committed by the consumer")
    committer = consumer(bootstrap, SCRIPT.group)
    await committer.start()
    try:
        # A consumer commits only for partitions it holds: assigned by hand, outside the group.
        committer.assign([tp(0), tp(2)])
        await committer.commit({tp(0): plan.ALTERED_OFFSET, tp(2): 1})
    finally:
        await committer.stop()
    expect(await group_offsets(admin), {0: plan.ALTERED_OFFSET, 1: 0, 2: 1}, "offsets after the commit")
    SCRIPT.log("offsets altered by a commit and listed")


async def run_async(bootstrap: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="admin-aiokafka")
    await admin.start()
    try:
        await admin.create_topics([NewTopic(SCRIPT.topic, 1, 1)])
        await produce(bootstrap)
        await grow_partitions(admin)
        await delete_records(admin, bootstrap)
        member = consumer(bootstrap, SCRIPT.group)
        await member.start()
        try:
            member.subscribe([SCRIPT.topic])
            received = await consume(member, plan.MESSAGE_COUNT - plan.DELETE_BEFORE)
            expect(received[0][1:], plan.FIRST_KEPT[1:], "the group's first message")
            await member.commit()
            await check_active_group(admin)
        finally:
            await member.stop()
        await alter_offsets(admin, bootstrap)
    finally:
        await admin.close()


if __name__ == "__main__":
    sys.exit(SCRIPT.main(lambda bootstrap: asyncio.run(run_async(bootstrap))))
