"""confluent-kafka group consumer workload for the benchmark harness (bench/run.py).

Usage: confluent_consume.py BOOTSTRAP TOPIC EXPECTED SESSION_TIMEOUT_MS IDLE_S

Reads the watermarks of every partition of TOPIC (summed: `low` is the sum of the log start
offsets, `high` of the high watermarks, `partitions` their count), prints `READY`, waits for one line on stdin, then subscribes a
consumer in a new group (auto.offset.reset earliest) and reads until EXPECTED records arrived or
nothing arrived for IDLE_S seconds. Prints one JSON line:
{"low": L, "high": H, "records": N, "assign_ms": A, "seconds": S, "records_per_s": R, ...}
assign_ms: subscribe() to the first assignment callback. seconds: first assignment to the last
record received (the idle wait is not counted).
"""

import json
import sys
import time
import uuid

from confluent_kafka import Consumer, TopicPartition


def main() -> int:
    bootstrap, topic, expected, session_ms, idle_s = sys.argv[1:6]
    expected, session_ms, idle_s = int(expected), int(session_ms), float(idle_s)
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": f"bench-{uuid.uuid4().hex[:12]}",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": session_ms,
        # librdkafka stops fetching for fetch.queue.backoff.ms (1 s) once its prefetch queue holds
        # queued.min.messages (100,000 by default): a fast broker then shows a 1 s stall that
        # measures the Python loop, not the broker. Raised for every broker alike.
        "queued.min.messages": 1000000,
    })
    partitions = sorted(consumer.list_topics(topic, timeout=10).topics[topic].partitions)
    low = high = 0
    for partition in partitions:
        lo, hi = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10, cached=False)
        low, high = low + lo, high + hi
    print("READY", flush=True)
    sys.stdin.readline()

    times = {}

    def on_assign(_consumer, partitions):
        times.setdefault("assigned", time.perf_counter())

    subscribed = time.perf_counter()
    consumer.subscribe([topic], on_assign=on_assign)
    count = 0
    errors = 0
    last = None
    first_offset = None
    last_offset = None
    give_up = subscribed + 120
    while count < expected:
        now = time.perf_counter()
        if now > give_up:
            break
        if last is not None and now - last > idle_s:
            break
        if last is None and "assigned" in times and now - times["assigned"] > idle_s:
            break
        messages = consumer.consume(num_messages=min(10000, expected - count), timeout=0.2)
        for message in messages:
            if message.error():
                errors += 1
                continue
            count += 1
            if first_offset is None:
                first_offset = message.offset()
            last_offset = message.offset()
        if messages:
            last = time.perf_counter()
    assigned = times.get("assigned")
    seconds = (last - assigned) if (last is not None and assigned is not None) else None
    consumer.close()
    print(json.dumps({
        "partitions": len(partitions),
        "low": low,
        "high": high,
        "records": count,
        "errors": errors,
        "first_offset": first_offset,
        "last_offset": last_offset,
        "assign_ms": None if assigned is None else round((assigned - subscribed) * 1000, 2),
        "seconds": None if seconds is None else round(seconds, 6),
        "records_per_s": None if not seconds else round(count / seconds, 1),
    }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
