"""confluent-kafka consumers with `group.protocol=consumer` (KIP-848) against kmock.

Usage:
  kip848_confluent.py split BOOTSTRAP
  kip848_confluent.py close BOOTSTRAP SOCKET_TIMEOUT_MS

`split`: a topic of 4 partitions; two consumers of one group (the KIP-848 protocol, the broker's
`uniform` assignor) must end up with 2 partitions each; then 10 records per partition are produced,
each consumer consumes its 20 and commits synchronously; the admin client describes the group
(ConsumerGroupDescribe: type consumer, two members, 2+2 assigned); then the first consumer closes
and the survivor must own all 4 partitions and consume a second batch of 10 per partition; every
record is consumed exactly once, and the committed offsets, read by a fresh consumer of the group,
are the high watermarks (20).

`close`: one consumer joins, consumes and commits, then `close()` is timed while the broker holds
back the response to the leave heartbeat (run kmock with
`--fault 'consumer_group_heartbeat,epoch=-1:delay=60s'`). The group is described right after the
close: the member must be gone (the coordinator applies the leave when it arrives).

Prints one JSON object on the last stdout line; exit 0 when the steps passed (`close` leaves the
judgement of its numbers to the caller), nonzero otherwise.
"""

import json
import sys
import time
import traceback
import uuid

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

PARTITIONS = 4
RECORDS_PER_PARTITION = 10
STEP_TIMEOUT_S = 30


def log(message: str) -> None:
    print(f"[kip848_confluent] {message}", flush=True)


def create_topic(admin: AdminClient, topic: str) -> None:
    futures = admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)])
    for future in futures.values():
        future.result(timeout=STEP_TIMEOUT_S)


def produce(bootstrap: str, topic: str, batch: int) -> set:
    producer = Producer({"bootstrap.servers": bootstrap, "client.id": "kip848-producer"})
    sent = set()
    for partition in range(PARTITIONS):
        for i in range(RECORDS_PER_PARTITION):
            value = f"b{batch}-p{partition}-{i}"
            producer.produce(topic, value=value.encode(), partition=partition)
            sent.add(value)
    if producer.flush(STEP_TIMEOUT_S) != 0:
        raise AssertionError("records left unsent")
    return sent


def consumer(bootstrap: str, group: str, name: str, extra=None) -> Consumer:
    config = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "group.protocol": "consumer",
        "client.id": name,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    }
    config.update(extra or {})
    return Consumer(config)


def partitions(c: Consumer) -> list:
    return sorted(tp.partition for tp in c.assignment())


def poll_until(consumers: dict, seen: dict, done, what: str) -> None:
    """Polls every consumer (name -> Consumer) until `done()`; records consumed values per name."""
    deadline = time.monotonic() + STEP_TIMEOUT_S
    while not done():
        if time.monotonic() > deadline:
            state = {name: partitions(c) for name, c in consumers.items()}
            raise AssertionError(f"timed out waiting for {what}; assignments {state}")
        for name, c in consumers.items():
            message = c.poll(0.05)
            if message is None:
                continue
            if message.error():
                raise KafkaException(message.error())
            seen.setdefault(name, []).append(message.value().decode())


def describe(admin: AdminClient, group: str) -> dict:
    future = admin.describe_consumer_groups([group])[group]
    description = future.result(timeout=STEP_TIMEOUT_S)
    return {
        "type": str(getattr(description, "type", None)),
        "state": str(description.state),
        "members": {
            m.client_id: sorted(tp.partition for tp in m.assignment.topic_partitions)
            for m in description.members
        },
    }


def committed(bootstrap: str, group: str, topic: str) -> list:
    reader = consumer(bootstrap, group, "kip848-reader")
    try:
        offsets = reader.committed(
            [TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=STEP_TIMEOUT_S
        )
        return [tp.offset for tp in offsets]
    finally:
        reader.close()


def split(bootstrap: str) -> dict:
    suffix = uuid.uuid4().hex[:10]
    topic, group = f"kip848-split-{suffix}", f"kip848-split-group-{suffix}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    create_topic(admin, topic)
    c1, c2 = consumer(bootstrap, group, "c1"), consumer(bootstrap, group, "c2")
    c1.subscribe([topic])
    c2.subscribe([topic])
    both = {"c1": c1, "c2": c2}
    seen: dict = {}
    # The records come once the split is settled, so no partition changes hands mid-read.
    poll_until(
        both,
        seen,
        lambda: len(partitions(c1)) == 2 and len(partitions(c2)) == 2,
        "a 2+2 split",
    )
    split_assignment = {"c1": partitions(c1), "c2": partitions(c2)}
    log(f"split: {split_assignment}")
    sent = produce(bootstrap, topic, 1)
    half = 2 * RECORDS_PER_PARTITION
    poll_until(both, seen, lambda: all(len(seen.get(n, [])) >= half for n in both), "both halves")
    c1.commit(asynchronous=False)
    c2.commit(asynchronous=False)
    described = describe(admin, group)
    log(f"described: {described}")
    started = time.monotonic()
    c1.close()
    close_seconds = time.monotonic() - started
    poll_until({"c2": c2}, seen, lambda: partitions(c2) == list(range(PARTITIONS)), "c2 to own all 4")
    sent |= produce(bootstrap, topic, 2)
    poll_until({"c2": c2}, seen, lambda: sum(len(v) for v in seen.values()) >= len(sent), "every record")
    c2.commit(asynchronous=False)
    survivor = partitions(c2)
    c2.close()
    consumed = [value for values in seen.values() for value in values]
    offsets = committed(bootstrap, group, topic)
    result = {
        "split": split_assignment,
        "described": described,
        "survivor": survivor,
        "consumed": len(consumed),
        "distinct": len(set(consumed)),
        "sent": len(sent),
        "missing": sorted(sent - set(consumed))[:5],
        "committed": offsets,
        "first_close_seconds": round(close_seconds, 3),
    }
    checks = [
        (sorted(split_assignment["c1"] + split_assignment["c2"]) == list(range(PARTITIONS))
         and len(split_assignment["c1"]) == 2,
         "the two consumers split the 4 partitions 2+2"),
        (sorted(len(p) for p in described["members"].values()) == [2, 2],
         "ConsumerGroupDescribe shows two members with 2 partitions each"),
        ("CONSUMER" in described["type"].upper(), "the group is described as a consumer group"),
        (survivor == list(range(PARTITIONS)), "the survivor owns all 4 partitions"),
        (len(consumed) == len(sent) and set(consumed) == sent, "every record consumed exactly once"),
        (offsets == [2 * RECORDS_PER_PARTITION] * PARTITIONS,
         "committed offsets are the high watermarks"),
    ]
    failed = [what for ok, what in checks if not ok]
    if failed:
        raise AssertionError(f"{failed}: {result}")
    return result


def close(bootstrap: str, socket_timeout_ms: int) -> dict:
    suffix = uuid.uuid4().hex[:10]
    topic, group = f"kip848-close-{suffix}", f"kip848-close-group-{suffix}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    create_topic(admin, topic)
    sent = produce(bootstrap, topic, 1)
    c1 = consumer(bootstrap, group, "closer", {"socket.timeout.ms": socket_timeout_ms})
    c1.subscribe([topic])
    seen: dict = {}
    poll_until({"c1": c1}, seen, lambda: len(seen.get("c1", [])) >= len(sent), "every record")
    c1.commit(asynchronous=False)
    started = time.monotonic()
    c1.close()
    close_seconds = time.monotonic() - started
    described = describe(admin, group)
    log(f"close() took {close_seconds:.3f} s; then described: {described}")
    return {
        "close_seconds": round(close_seconds, 3),
        "socket_timeout_ms": socket_timeout_ms,
        "described_after_close": described,
        "committed": committed(bootstrap, group, topic),
    }


def main() -> int:
    try:
        if sys.argv[1] == "split":
            result = split(sys.argv[2])
        elif sys.argv[1] == "close":
            result = close(sys.argv[2], int(sys.argv[3]))
        else:
            raise SystemExit(f"unknown scenario {sys.argv[1]!r}")
    except Exception:  # noqa: BLE001 - the report is the point
        traceback.print_exc()
        return 1
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
