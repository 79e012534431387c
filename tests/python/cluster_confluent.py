"""confluent-kafka (librdkafka) against `kmock serve --brokers 3`.

Usage:
  cluster_confluent.py BOOTSTRAP CONTROL_URL

1. Metadata lists 3 brokers; a topic with replication factor 3 and 3 partitions is created, each
   partition with 3 replicas; replication factor 4 fails with INVALID_REPLICATION_FACTOR.
2. A producer and a consumer group (one consumer) keep working across a broker going down and
   coming back: the broker that coordinates the group is taken down (`POST /brokers/{id}/down`),
   which also moves the leadership of the partitions it led; a second batch is produced and
   consumed; the broker comes back (`POST /brokers/{id}/up`); a third batch is produced and
   consumed. Every record produced must be consumed, and the group's coordinator must have moved.
3. No committed record comes back: offsets are committed synchronously after each batch (the
   second and third commits go to the new coordinator), a record of a committed batch consumed
   again fails the run, and at the end the group's committed offsets are the high watermarks and a
   new consumer of the group receives nothing.

Prints one JSON object on the last stdout line; exit 0 when every step passed.
"""

import json
import sys
import time
import traceback
import uuid

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from control_support import control

PARTITIONS = 3
RECORDS_PER_BATCH = 30
STEP_TIMEOUT_S = 40


def log(message: str) -> None:
    print(f"[cluster_confluent] {message}", flush=True)


def create_topics(admin: AdminClient, topic: str) -> None:
    futures = admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=3)])
    for future in futures.values():
        future.result(timeout=STEP_TIMEOUT_S)
    futures = admin.create_topics([NewTopic(topic + "-rf4", num_partitions=1, replication_factor=4)])
    try:
        for future in futures.values():
            future.result(timeout=STEP_TIMEOUT_S)
    except KafkaException as error:
        code = error.args[0].code()
        if code != KafkaError.INVALID_REPLICATION_FACTOR:
            raise AssertionError(f"replication factor 4: expected INVALID_REPLICATION_FACTOR, got {error}")
    else:
        raise AssertionError("replication factor 4 on 3 brokers was accepted")


def check_metadata(admin: AdminClient, topic: str) -> dict:
    metadata = admin.list_topics(topic, timeout=STEP_TIMEOUT_S)
    brokers = sorted(metadata.brokers)
    if brokers != [0, 1, 2]:
        raise AssertionError(f"expected brokers [0, 1, 2], got {brokers}")
    partitions = metadata.topics[topic].partitions
    replicas = {p: sorted(partitions[p].replicas) for p in partitions}
    if any(r != [0, 1, 2] for r in replicas.values()):
        raise AssertionError(f"expected 3 replicas per partition, got {replicas}")
    return {str(p): partitions[p].leader for p in partitions}


def produce(producer: Producer, topic: str, batch: int) -> set:
    sent = set()
    for i in range(RECORDS_PER_BATCH):
        value = f"b{batch}-{i}"
        producer.produce(topic, value=value.encode(), partition=i % PARTITIONS)
        sent.add(value)
    left = producer.flush(STEP_TIMEOUT_S)
    if left != 0:
        raise AssertionError(f"batch {batch}: {left} records left unsent")
    return sent


def consume(consumer: Consumer, wanted: set, seen: set, batch: int, committed: set) -> None:
    """Polls until every record of `wanted` is in `seen`; a record in `committed` (a batch whose
    offsets were committed) must never come again."""
    deadline = time.monotonic() + STEP_TIMEOUT_S
    while not wanted <= seen:
        if time.monotonic() > deadline:
            raise AssertionError(f"batch {batch}: {len(wanted - seen)} records not consumed")
        message = consumer.poll(0.5)
        if message is None:
            continue
        if message.error():
            log(f"consumer error (non-fatal): {message.error()}")
            continue
        value = message.value().decode()
        if value in committed:
            raise AssertionError(f"batch {batch}: {value} consumed again after its offset was committed")
        seen.add(value)


def commit(consumer: Consumer, batch: set, committed: set) -> None:
    """Commits the consumer's positions synchronously; the batch's records count as committed."""
    consumer.commit(asynchronous=False)
    committed |= batch


def check_committed(consumer: Consumer, topic: str) -> dict:
    """The group's committed offsets equal the high watermarks."""
    partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    committed = {tp.partition: tp.offset for tp in consumer.committed(partitions, timeout=STEP_TIMEOUT_S)}
    high = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=STEP_TIMEOUT_S)[1]
            for p in range(PARTITIONS)}
    if committed != high:
        raise AssertionError(f"committed offsets {committed} are not the high watermarks {high}")
    return committed


def check_nothing_comes_back(bootstrap: str, group: str, topic: str) -> None:
    """A new member of the group, once assigned every partition, receives nothing: every record
    was committed, and the commits that went to the moved coordinator hold."""
    assigned = []
    again = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                      "client.id": "cluster-consumer-again", "enable.auto.commit": False})
    try:
        again.subscribe([topic], on_assign=lambda _c, partitions: assigned.extend(partitions))
        deadline = time.monotonic() + STEP_TIMEOUT_S
        quiet_until = None
        while quiet_until is None or time.monotonic() < quiet_until:
            if time.monotonic() > deadline:
                raise AssertionError(f"the new member got no assignment within {STEP_TIMEOUT_S} s")
            message = again.poll(0.5)
            if message is not None and not message.error():
                raise AssertionError(f"a new member of the group received {message.value()!r}")
            if quiet_until is None and len(assigned) == PARTITIONS:
                quiet_until = time.monotonic() + 3
    finally:
        again.close()


def coordinator_of(url: str, group: str) -> int:
    for entry in control(url, "GET", "/cluster")["group_coordinators"]:
        if entry["group"] == group:
            return entry["node_id"]
    raise AssertionError(f"group {group} not in GET /cluster")


def main() -> int:
    bootstrap, url = sys.argv[1], sys.argv[2]
    topic = f"cluster-{uuid.uuid4().hex[:8]}"
    group = f"cluster-group-{uuid.uuid4().hex[:8]}"
    result = {"topic": topic, "group": group}
    admin = AdminClient({"bootstrap.servers": bootstrap})
    create_topics(admin, topic)
    result["leaders_before"] = check_metadata(admin, topic)
    producer = Producer({"bootstrap.servers": bootstrap, "client.id": "cluster-producer", "acks": "all"})
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "client.id": "cluster-consumer",
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 500,
        "reconnect.backoff.max.ms": 500,
        "enable.auto.commit": False,
    })
    consumer.subscribe([topic])
    seen, committed = set(), set()
    try:
        first = produce(producer, topic, 1)
        consume(consumer, first, seen, 1, committed)
        commit(consumer, first, committed)
        down = coordinator_of(url, group)
        result["down"] = down
        log(f"taking broker {down} (the group's coordinator) down")
        control(url, "POST", f"/brokers/{down}/down")
        moved_to = coordinator_of(url, group)
        if moved_to == down:
            raise AssertionError(f"the coordinator stayed on broker {down}")
        result["coordinator_after_down"] = moved_to
        second = produce(producer, topic, 2)
        consume(consumer, second, seen, 2, committed)
        commit(consumer, second, committed)
        log(f"bringing broker {down} back")
        control(url, "POST", f"/brokers/{down}/up")
        third = produce(producer, topic, 3)
        consume(consumer, third, seen, 3, committed)
        commit(consumer, third, committed)
        missing = (first | second | third) - seen
        if missing:
            raise AssertionError(f"records never consumed: {sorted(missing)[:5]}")
        result["consumed"] = len(seen)
        result["committed"] = check_committed(consumer, topic)
    finally:
        consumer.close()
    check_nothing_comes_back(bootstrap, group, topic)
    result["ok"] = True
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception:
        traceback.print_exc()
        print(json.dumps({"ok": False}), flush=True)
        sys.exit(1)
