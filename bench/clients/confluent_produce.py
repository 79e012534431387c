"""confluent-kafka producer workload for the benchmark harness (bench/run.py).

Usage: confluent_produce.py BOOTSTRAP TOPIC RECORDS VALUE_BYTES ACKS [--no-create] [--partitions P]

Creates TOPIC (P partitions, default 1, replication 1) with the AdminClient (unless --no-create:
the harness created it), connects a producer (linger.ms 5,
batch.num.messages 10000, acks ACKS), prints `READY`, waits for one line on stdin, then produces
RECORDS records of VALUE_BYTES bytes (no key), record i to partition i % P, flushes, and prints one
JSON line:
{"records": N, "delivered": N, "errors": N, "seconds": S, "records_per_s": R}.
The timed phase is first produce() to the end of flush() (every delivery report received).
"""

import json
import sys
import time

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic


def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)],
                                  operation_timeout=10, request_timeout=30)
    for future in futures.values():
        future.result(timeout=30)


def main() -> int:
    bootstrap, topic, records, value_bytes, acks = sys.argv[1:6]
    records, value_bytes = int(records), int(value_bytes)
    options = sys.argv[6:]
    partitions = int(options[options.index("--partitions") + 1]) if "--partitions" in options else 1
    if "--no-create" not in options:
        create_topic(bootstrap, topic, partitions)
    producer = Producer({
        "bootstrap.servers": bootstrap,
        "linger.ms": 5,
        "batch.num.messages": 10000,
        "acks": acks,
        "queue.buffering.max.messages": max(100000, records + 1000),
        "queue.buffering.max.kbytes": 2097151,
    })
    # Metadata for the topic before the timed phase (waits until the partition has a leader).
    deadline = time.monotonic() + 30
    while True:
        md = producer.list_topics(topic, timeout=10)
        t = md.topics.get(topic)
        if (t is not None and t.error is None and len(t.partitions) == partitions
                and all(t.partitions[i].leader >= 0 for i in range(partitions))):
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"topic {topic}: not every partition has a leader after 30 s: {t}")
        time.sleep(0.05)
    print("READY", flush=True)
    sys.stdin.readline()

    value = b"x" * value_bytes
    counts = {"delivered": 0, "errors": 0}

    def on_delivery(err, _msg):
        if err is None:
            counts["delivered"] += 1
        else:
            counts["errors"] += 1

    produce = producer.produce
    started = time.perf_counter()
    # One loop per case: the 1-partition loop (figure 2) stays free of the modulo.
    if partitions == 1:
        for _ in range(records):
            while True:
                try:
                    produce(topic, value, partition=0, on_delivery=on_delivery)
                    break
                except BufferError:
                    producer.poll(0.01)
    else:
        for i in range(records):
            while True:
                try:
                    produce(topic, value, partition=i % partitions, on_delivery=on_delivery)
                    break
                except BufferError:
                    producer.poll(0.01)
    remaining = producer.flush(120)
    seconds = time.perf_counter() - started
    print(json.dumps({
        "records": records,
        "delivered": counts["delivered"],
        "errors": counts["errors"],
        "undelivered": remaining,
        "seconds": round(seconds, 6),
        "records_per_s": round(counts["delivered"] / seconds, 1),
    }), flush=True)
    return 0 if counts["errors"] == 0 and remaining == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
