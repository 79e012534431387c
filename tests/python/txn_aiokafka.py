"""Transactions with aiokafka 0.12.0 against kmock.

Usage: txn_aiokafka.py BOOTSTRAP

`async with producer.transaction()`: a transaction that commits (its messages visible to a
read_committed consumer), one that aborts by raising inside the block (invisible to read_committed,
visible to read_uncommitted), then one more that commits; and `send_offsets_to_transaction` in a
consume-transform-produce step, after which the group's committed offset is the consumed
position. Exit 0 on success; nonzero with a message on stderr on failure. Bounded by
OVERALL_TIMEOUT_S.
"""

import asyncio
import faulthandler
import sys
import traceback
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

OVERALL_TIMEOUT_S = 60
TIMEOUT_S = 20


def log(message: str) -> None:
    print(f"[txn_aiokafka] {message}", flush=True)


class Abort(Exception):
    """Raised inside a transaction block to abort it."""


async def read_all(bootstrap: str, topic: str, isolation_level: str) -> list[bytes]:
    """Every message of `topic`/0 a fresh consumer with `isolation_level` sees, up to the end
    offset for that isolation level."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        isolation_level=isolation_level,
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        end = (await consumer.end_offsets([partition]))[partition]
        values = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TIMEOUT_S
        while await consumer.position(partition) < end:
            if loop.time() > deadline:
                raise AssertionError(f"{topic}: read {len(values)} messages, not to offset {end}")
            batches = await consumer.getmany(partition, timeout_ms=500)
            for records in batches.values():
                values.extend(record.value for record in records)
        return values
    finally:
        await consumer.stop()


def expect(actual, wanted, what: str) -> None:
    if actual != wanted:
        raise AssertionError(f"{what}: got {actual!r}, want {wanted!r}")


async def commit_and_abort(bootstrap: str, suffix: str) -> None:
    topic = f"txn-aiokafka-{suffix}"
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        transactional_id=f"aiokafka-{suffix}",
        client_id="txn-aiokafka-producer",
    )
    await producer.start()
    try:
        async with producer.transaction():
            for i in range(3):
                await producer.send_and_wait(topic, f"first-{i}".encode())
        log("a transaction committed")
        try:
            async with producer.transaction():
                for i in range(3):
                    await producer.send_and_wait(topic, f"aborted-{i}".encode())
                raise Abort()
        except Abort:
            log("a transaction aborted")
        async with producer.transaction():
            await producer.send_and_wait(topic, b"last")
    finally:
        await producer.stop()
    committed = [b"first-0", b"first-1", b"first-2", b"last"]
    expect(await read_all(bootstrap, topic, "read_committed"), committed, "read_committed")
    expect(
        await read_all(bootstrap, topic, "read_uncommitted"),
        [b"first-0", b"first-1", b"first-2", b"aborted-0", b"aborted-1", b"aborted-2", b"last"],
        "read_uncommitted",
    )
    log("read_committed sees the committed 4, read_uncommitted all 7")


async def send_offsets(bootstrap: str, suffix: str) -> None:
    source = f"txn-aiokafka-source-{suffix}"
    sink = f"txn-aiokafka-sink-{suffix}"
    group = f"txn-aiokafka-group-{suffix}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(source, 1, 1), NewTopic(sink, 1, 1)])
    finally:
        await admin.close()
    plain = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await plain.start()
    try:
        for i in range(4):
            await plain.send_and_wait(source, f"in-{i}".encode())
    finally:
        await plain.stop()
    consumer = AIOKafkaConsumer(
        source,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"pipe-{suffix}")
    await consumer.start()
    await producer.start()
    try:
        consumed = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TIMEOUT_S
        while len(consumed) < 4:
            if loop.time() > deadline:
                raise AssertionError(f"consumed {len(consumed)} of 4 source messages")
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                consumed.extend(records)
        partition = TopicPartition(source, 0)
        async with producer.transaction():
            for record in consumed:
                await producer.send_and_wait(sink, record.value.upper())
            await producer.send_offsets_to_transaction(
                {partition: await consumer.position(partition)}, group
            )
        expect(await consumer.committed(partition), 4, "committed offset after commit")
        expect(
            await read_all(bootstrap, sink, "read_committed"),
            [b"IN-0", b"IN-1", b"IN-2", b"IN-3"],
            "sink",
        )
        log("send_offsets_to_transaction: the group's committed offset is 4 after the commit")
    finally:
        await producer.stop()
        await consumer.stop()


async def run(bootstrap: str) -> None:
    suffix = uuid.uuid4().hex[:10]
    await commit_and_abort(bootstrap, suffix)
    await send_offsets(bootstrap, suffix)


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    faulthandler.dump_traceback_later(OVERALL_TIMEOUT_S, exit=True)
    try:
        asyncio.run(run(sys.argv[1]))
    except Exception as error:  # noqa: BLE001 - report any failure with its type
        traceback.print_exc()
        print(f"[txn_aiokafka] FAILED: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    log("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
