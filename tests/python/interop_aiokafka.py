"""Interop check: aiokafka 0.12.0 against a kmock broker.

Usage: interop_aiokafka.py BOOTSTRAP

Produces 100 messages to a new (auto-created) topic, consumes them back as the only member of a new
group from the earliest offset, commits, checks the committed offset via the client API, and closes
cleanly. Exit 0 on success; nonzero with a message on stderr on failure. Bounded by OVERALL_TIMEOUT_S.
"""

import asyncio
import faulthandler
import sys
import traceback
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

MESSAGE_COUNT = 100
OVERALL_TIMEOUT_S = 60
CONSUME_TIMEOUT_S = 30


def log(message: str) -> None:
    print(f"[interop_aiokafka] {message}", flush=True)


async def run(bootstrap: str) -> None:
    suffix = uuid.uuid4().hex[:12]
    topic = f"interop-aiokafka-{suffix}"
    group = f"interop-aiokafka-group-{suffix}"
    expected = [f"message-{i}".encode() for i in range(MESSAGE_COUNT)]

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, client_id="interop-aiokafka-producer")
    await producer.start()
    try:
        for value in expected:
            await producer.send_and_wait(topic, value)
    finally:
        await producer.stop()
    log(f"produced {MESSAGE_COUNT} messages to {topic}")

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        client_id="interop-aiokafka-consumer",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        received = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CONSUME_TIMEOUT_S
        while len(received) < MESSAGE_COUNT:
            left = deadline - loop.time()
            if left <= 0:
                raise AssertionError(
                    f"consumed {len(received)} of {MESSAGE_COUNT} messages within {CONSUME_TIMEOUT_S} s"
                )
            batches = await consumer.getmany(timeout_ms=int(min(left, 1.0) * 1000))
            for records in batches.values():
                received.extend(record.value for record in records)
        if sorted(received) != sorted(expected) or len(received) != MESSAGE_COUNT:
            raise AssertionError(f"values differ: got {len(received)}, first {received[:3]!r}")
        log(f"consumed {len(received)} messages as a member of {group}")

        await consumer.commit()
        assignment = consumer.assignment()
        if not assignment:
            raise AssertionError("consumer has no assignment after consuming")
        committed = 0
        for partition in sorted(assignment):
            offset = await consumer.committed(TopicPartition(partition.topic, partition.partition))
            log(f"committed offset of {partition.topic}-{partition.partition}: {offset}")
            committed += offset or 0
        if committed != MESSAGE_COUNT:
            raise AssertionError(f"committed offsets add up to {committed}, want {MESSAGE_COUNT}")
    finally:
        await consumer.stop()
    log("closed cleanly")


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    # Backstop if the event loop itself is stuck: dump every thread's stack and exit 1.
    faulthandler.dump_traceback_later(OVERALL_TIMEOUT_S + 15, exit=True)
    try:
        asyncio.run(asyncio.wait_for(run(sys.argv[1]), OVERALL_TIMEOUT_S))
    except asyncio.TimeoutError:
        print(f"[interop_aiokafka] FAILED: not done within {OVERALL_TIMEOUT_S} s", file=sys.stderr)
        return 1
    except Exception as error:  # noqa: BLE001 - report any failure with its type
        traceback.print_exc()
        print(f"[interop_aiokafka] FAILED: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    log("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
