"""Interop check: kafka-python (latest, default settings, no api_version pin) against kmock.

Usage: interop_kafka_python.py BOOTSTRAP

Produces 100 messages to a new (auto-created) topic, consumes them back as the only member of a new
group from the earliest offset, commits, checks the committed offset via the client API, and closes
cleanly. Exit 0 on success; nonzero with a message on stderr on failure. A watchdog dumps every
thread's stack and exits 1 after OVERALL_TIMEOUT_S.
"""

import faulthandler
import sys
import time
import traceback
import uuid

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

MESSAGE_COUNT = 100
OVERALL_TIMEOUT_S = 60
CONSUME_TIMEOUT_S = 30


def log(message: str) -> None:
    print(f"[interop_kafka_python] {message}", flush=True)


def run(bootstrap: str) -> None:
    suffix = uuid.uuid4().hex[:12]
    topic = f"interop-kafka-python-{suffix}"
    group = f"interop-kafka-python-group-{suffix}"
    expected = [f"message-{i}".encode() for i in range(MESSAGE_COUNT)]

    # Default settings on purpose: kafka-python must negotiate versions with kmock on its own.
    producer = KafkaProducer(bootstrap_servers=bootstrap, client_id="interop-kafka-python-producer")
    try:
        futures = [producer.send(topic, value) for value in expected]
        producer.flush(timeout=30)
        for future in futures:
            future.get(timeout=10)
    finally:
        producer.close(timeout=10)
    log(f"produced {MESSAGE_COUNT} messages to {topic}")

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        client_id="interop-kafka-python-consumer",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    try:
        received = []
        deadline = time.monotonic() + CONSUME_TIMEOUT_S
        while len(received) < MESSAGE_COUNT:
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"consumed {len(received)} of {MESSAGE_COUNT} messages within {CONSUME_TIMEOUT_S} s"
                )
            batches = consumer.poll(timeout_ms=1000)
            for records in batches.values():
                received.extend(record.value for record in records)
        if sorted(received) != sorted(expected) or len(received) != MESSAGE_COUNT:
            raise AssertionError(f"values differ: got {len(received)}, first {received[:3]!r}")
        log(f"consumed {len(received)} messages as a member of {group}")

        consumer.commit()
        assignment = consumer.assignment()
        if not assignment:
            raise AssertionError("consumer has no assignment after consuming")
        committed = 0
        for partition in sorted(assignment):
            offset = consumer.committed(TopicPartition(partition.topic, partition.partition))
            log(f"committed offset of {partition.topic}-{partition.partition}: {offset}")
            committed += offset or 0
        if committed != MESSAGE_COUNT:
            raise AssertionError(f"committed offsets add up to {committed}, want {MESSAGE_COUNT}")
    finally:
        consumer.close()
    log("closed cleanly")


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    faulthandler.dump_traceback_later(OVERALL_TIMEOUT_S, exit=True)
    try:
        run(sys.argv[1])
    except Exception as error:  # noqa: BLE001 - report any failure with its type
        traceback.print_exc()
        print(f"[interop_kafka_python] FAILED: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    log("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
