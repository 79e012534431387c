"""Interop check: every client reads back large record batches whole.

Usage: large_batches.py BOOTSTRAP

kmock serves a stored batch of 4 KiB or more by reference (the Fetch response frame is a chain of
parts written with vectored writes; BENCHMARKS.md, issue 18 part 7) and copies smaller ones. This
script produces both into one topic with confluent-kafka: 20,000 records of 200 B over 2 partitions
with a long linger (batches of up to 1 MB), then 10 records flushed one by one (batches of one small
record). Then kafka-python, aiokafka, confluent-kafka and kcat each read the whole topic from the
earliest offset (assigned partitions, no group) and check every value, its partition and its offset:
offsets run 0..n per partition with no gap, as produced. kafka-python and aiokafka check each
batch's CRC-32C (their default), so a byte out of place in a referenced batch fails them.
Exit 0 on success; nonzero with a message on stderr on failure.
"""

import asyncio
import shutil
import subprocess
import sys
import time
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition

from admin_support import Script

LARGE_RECORDS = 20_000
SMALL_RECORDS = 10
PARTITIONS = 2
VALUE_BYTES = 200
OVERALL_TIMEOUT_S = 120
READ_TIMEOUT_S = 40

SCRIPT = Script("large_batches")
log = SCRIPT.log


def value(i: int) -> bytes:
    # Printable, so kcat's one-line-per-record output splits cleanly.
    return f"{i:08d}-".encode() + bytes(65 + (i + j) % 26 for j in range(VALUE_BYTES - 9))


def produce(bootstrap: str, topic: str) -> dict:
    """Returns {(partition, offset): value} as acknowledged."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)])[topic].result(30)
    acked = {}

    def on_delivery(error, message):
        if error is not None:
            raise AssertionError(f"delivery failed: {error}")
        acked[(message.partition(), message.offset())] = message.value()

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 200,
            "batch.size": 1_000_000,
            "batch.num.messages": 100_000,
            "compression.type": "none",
        }
    )
    for i in range(LARGE_RECORDS):
        while True:
            try:
                producer.produce(topic, value(i), partition=i % PARTITIONS, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.05)
    producer.flush(30)
    for i in range(LARGE_RECORDS, LARGE_RECORDS + SMALL_RECORDS):
        producer.produce(topic, value(i), partition=i % PARTITIONS, on_delivery=on_delivery)
        producer.flush(30)
    total = LARGE_RECORDS + SMALL_RECORDS
    if len(acked) != total:
        raise AssertionError(f"{len(acked)} of {total} records acknowledged")
    for partition in range(PARTITIONS):
        offsets = sorted(o for p, o in acked if p == partition)
        if offsets != list(range(len(offsets))):
            raise AssertionError(f"partition {partition}: acknowledged offsets are not 0..n")
    log(f"produced {total} records to {topic} ({PARTITIONS} partitions)")
    return acked


def check(client: str, got: list, acked: dict) -> None:
    """`got`: (partition, offset, value) as read."""
    read = {}
    for partition, offset, val in got:
        if (partition, offset) in read:
            raise AssertionError(f"{client}: {partition}@{offset} read twice")
        read[(partition, offset)] = val
    if read.keys() != acked.keys():
        missing = sorted(acked.keys() - read.keys())[:5]
        extra = sorted(read.keys() - acked.keys())[:5]
        raise AssertionError(f"{client}: read {len(read)} of {len(acked)}; missing {missing}, unexpected {extra}")
    wrong = [key for key, val in read.items() if val != acked[key]]
    if wrong:
        raise AssertionError(f"{client}: {len(wrong)} values differ, first at {wrong[0]}")
    log(f"{client}: read all {len(read)} records, values and offsets as produced")


def read_confluent(bootstrap: str, topic: str, total: int) -> list:
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"unused-{uuid.uuid4().hex[:6]}", "enable.auto.commit": False}
    )
    consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    got = []
    deadline = time.monotonic() + READ_TIMEOUT_S
    try:
        while len(got) < total and time.monotonic() < deadline:
            for message in consumer.consume(num_messages=10_000, timeout=1.0):
                if message.error():
                    raise AssertionError(f"confluent-kafka: {message.error()}")
                got.append((message.partition(), message.offset(), message.value()))
    finally:
        consumer.close()
    return got


def read_kafka_python(bootstrap: str, topic: str, total: int) -> list:
    from kafka import KafkaConsumer
    from kafka import TopicPartition as KafkaPythonPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, check_crcs=True)
    partitions = [KafkaPythonPartition(topic, p) for p in range(PARTITIONS)]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    got = []
    deadline = time.monotonic() + READ_TIMEOUT_S
    try:
        while len(got) < total and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=1000, max_records=10_000).values():
                got.extend((r.partition, r.offset, r.value) for r in records)
    finally:
        consumer.close()
    return got


def read_aiokafka(bootstrap: str, topic: str, total: int) -> list:
    from aiokafka import AIOKafkaConsumer
    from aiokafka import TopicPartition as AioPartition

    async def go() -> list:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, check_crcs=True)
        await consumer.start()
        got = []
        try:
            partitions = [AioPartition(topic, p) for p in range(PARTITIONS)]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            deadline = time.monotonic() + READ_TIMEOUT_S
            while len(got) < total and time.monotonic() < deadline:
                batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
                for records in batches.values():
                    got.extend((r.partition, r.offset, r.value) for r in records)
        finally:
            await consumer.stop()
        return got

    return asyncio.run(go())


def read_kcat(bootstrap: str, topic: str, total: int) -> list:
    if shutil.which("kcat") is None:
        raise AssertionError("kcat is not installed: apt-get install kcat (.ci/run does it)")
    # One line per record: partition, offset, value as hex (values are binary).
    result = subprocess.run(
        ["kcat", "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%p %o %s\n"],
        capture_output=True,
        timeout=READ_TIMEOUT_S,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(f"kcat exited {result.returncode}: {result.stderr.decode(errors='replace')}")
    got = []
    for line in result.stdout.split(b"\n"):
        if not line:
            continue
        partition, offset, val = line.split(b" ", 2)
        got.append((int(partition), int(offset), val))
    return got


def run(bootstrap: str) -> None:
    topic = f"large-batches-{uuid.uuid4().hex[:12]}"
    acked = produce(bootstrap, topic)
    total = len(acked)
    check("confluent-kafka", read_confluent(bootstrap, topic, total), acked)
    check("kafka-python", read_kafka_python(bootstrap, topic, total), acked)
    check("aiokafka", read_aiokafka(bootstrap, topic, total), acked)
    check("kcat", read_kcat(bootstrap, topic, total), acked)


if __name__ == "__main__":
    sys.exit(SCRIPT.main(run, timeout_s=OVERALL_TIMEOUT_S))
