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

Prints one JSON object on the last stdout line; exit 0 when every step passed.
"""

import json
import sys
import time
import traceback
import uuid

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
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


def consume(consumer: Consumer, wanted: set, seen: set, batch: int) -> None:
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
        seen.add(message.value().decode())


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
    })
    consumer.subscribe([topic])
    seen = set()
    try:
        first = produce(producer, topic, 1)
        consume(consumer, first, seen, 1)
        down = coordinator_of(url, group)
        result["down"] = down
        log(f"taking broker {down} (the group's coordinator) down")
        control(url, "POST", f"/brokers/{down}/down")
        moved_to = coordinator_of(url, group)
        if moved_to == down:
            raise AssertionError(f"the coordinator stayed on broker {down}")
        result["coordinator_after_down"] = moved_to
        second = produce(producer, topic, 2)
        consume(consumer, second, seen, 2)
        log(f"bringing broker {down} back")
        control(url, "POST", f"/brokers/{down}/up")
        third = produce(producer, topic, 3)
        consume(consumer, third, seen, 3)
        missing = (first | second | third) - seen
        if missing:
            raise AssertionError(f"records never consumed: {sorted(missing)[:5]}")
        result["consumed"] = len(seen)
        consumer.commit(asynchronous=False)
    finally:
        consumer.close()
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
