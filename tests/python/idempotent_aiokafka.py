"""An idempotent aiokafka 0.12.0 producer whose Produce responses are dropped.

Usage: idempotent_aiokafka.py BOOTSTRAP CONTROL_URL

Installs the fault `produce,client=idempotent-aiokafka:drop,times=2` through kmock's control API:
the first two Produce requests of the producer are appended but never answered (a hung broker).
The producer (enable_idempotence, request_timeout_ms 2000) times each out, closes the connection
and retries the batch on a new one with the same sequence numbers; kmock recognises the retry as a
duplicate and answers the original offset. Checks that every send succeeded at its own offset,
that the partition holds every message exactly once and in order, and that the fault was applied
twice.

Exit 0 on success; nonzero with a message on stderr on failure. Bounded by OVERALL_TIMEOUT_S.
"""

import asyncio
import faulthandler
import sys
import traceback
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from control_support import applied_fault, control

MESSAGE_COUNT = 60
OVERALL_TIMEOUT_S = 60
TIMEOUT_S = 30
CLIENT_ID = "idempotent-aiokafka"
FAULT = f"produce,client={CLIENT_ID}:drop,times=2"


def log(message: str) -> None:
    print(f"[idempotent_aiokafka] {message}", flush=True)


async def run(bootstrap: str, control_url: str) -> None:
    topic = f"idempotent-aiokafka-{uuid.uuid4().hex[:10]}"
    control(control_url, "POST", "/faults", {"spec": FAULT})
    log(f"installed fault {FAULT}")
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=CLIENT_ID,
        enable_idempotence=True,
        request_timeout_ms=2000,
        retry_backoff_ms=50,
    )
    expected = [f"message-{i}".encode() for i in range(MESSAGE_COUNT)]
    await producer.start()
    try:
        # In groups of ten, so that several batches (and so both dropped answers) happen.
        offsets = []
        for start in range(0, MESSAGE_COUNT, 10):
            futures = [
                await producer.send(topic, value, partition=0)
                for value in expected[start : start + 10]
            ]
            offsets.extend([(await future).offset for future in futures])
    finally:
        await producer.stop()
    if offsets != list(range(MESSAGE_COUNT)):
        raise AssertionError(f"sends got offsets {offsets[:12]}..., want 0..{MESSAGE_COUNT - 1}")
    log(f"{MESSAGE_COUNT} sends succeeded at offsets 0..{MESSAGE_COUNT - 1}")

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        end = (await consumer.end_offsets([partition]))[partition]
        if end != MESSAGE_COUNT:
            raise AssertionError(f"the partition ends at {end}, want {MESSAGE_COUNT}: duplicates")
        values = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TIMEOUT_S
        while await consumer.position(partition) < end:
            if loop.time() > deadline:
                raise AssertionError(f"read {len(values)} of {end} messages")
            batches = await consumer.getmany(partition, timeout_ms=500)
            for records in batches.values():
                values.extend(record.value for record in records)
    finally:
        await consumer.stop()
    if values != expected:
        raise AssertionError(f"the partition holds {values[:5]}..., want each message once, in order")
    log("the partition holds every message exactly once, in order")
    applied = applied_fault(control_url, FAULT)["applied"]
    if applied != 2:
        raise AssertionError(f"the fault applied {applied} times, want 2")
    log("the fault dropped 2 Produce answers")


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    faulthandler.dump_traceback_later(OVERALL_TIMEOUT_S, exit=True)
    try:
        asyncio.run(run(sys.argv[1], sys.argv[2]))
    except Exception as error:  # noqa: BLE001 - report any failure with its type
        traceback.print_exc()
        print(f"[idempotent_aiokafka] FAILED: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    log("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
