"""aiokafka against `kmock serve --brokers 3`: a producer and a consumer group keep working across
the group's coordinator broker going down and coming back, and a coordinator move.

Usage:
  cluster_aiokafka.py BOOTSTRAP CONTROL_URL

A topic with replication factor 3 and 3 partitions is created; batch 1 is produced and consumed;
the broker coordinating the group is taken down (`POST /brokers/{id}/down`); batch 2 is produced
and consumed; the broker comes back (`POST /brokers/{id}/up`) and the group's coordinator is moved
back to it (`POST /groups/{g}/coordinator`); batch 3 is produced and consumed. Every record
produced must be consumed. Prints one JSON object on the last stdout line; exit 0 when every step
passed.
"""

import asyncio
import json
import sys
import traceback
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from control_support import control

PARTITIONS = 3
RECORDS_PER_BATCH = 30
STEP_TIMEOUT_S = 40


def log(message: str) -> None:
    print(f"[cluster_aiokafka] {message}", flush=True)


async def produce(producer: AIOKafkaProducer, topic: str, batch: int) -> set:
    sent = set()
    for i in range(RECORDS_PER_BATCH):
        value = f"b{batch}-{i}"
        await asyncio.wait_for(
            producer.send_and_wait(topic, value.encode(), partition=i % PARTITIONS),
            STEP_TIMEOUT_S,
        )
        sent.add(value)
    return sent


async def consume(consumer: AIOKafkaConsumer, wanted: set, seen: set, batch: int) -> None:
    async def until_all():
        while not wanted <= seen:
            records = await consumer.getmany(timeout_ms=500)
            for messages in records.values():
                seen.update(m.value.decode() for m in messages)

    try:
        await asyncio.wait_for(until_all(), STEP_TIMEOUT_S)
    except asyncio.TimeoutError:
        raise AssertionError(f"batch {batch}: {len(wanted - seen)} records not consumed") from None


def coordinator_of(url: str, group: str) -> int:
    for entry in control(url, "GET", "/cluster")["group_coordinators"]:
        if entry["group"] == group:
            return entry["node_id"]
    raise AssertionError(f"group {group} not in GET /cluster")


async def main() -> int:
    bootstrap, url = sys.argv[1], sys.argv[2]
    topic = f"cluster-{uuid.uuid4().hex[:8]}"
    group = f"cluster-group-{uuid.uuid4().hex[:8]}"
    result = {"topic": topic, "group": group}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=3)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", request_timeout_ms=10000)
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
        request_timeout_ms=5000,
        retry_backoff_ms=100,
    )
    await producer.start()
    await consumer.start()
    seen = set()
    try:
        first = await produce(producer, topic, 1)
        await consume(consumer, first, seen, 1)
        down = coordinator_of(url, group)
        result["down"] = down
        log(f"taking broker {down} (the group's coordinator) down")
        control(url, "POST", f"/brokers/{down}/down")
        result["coordinator_after_down"] = coordinator_of(url, group)
        second = await produce(producer, topic, 2)
        await consume(consumer, second, seen, 2)
        log(f"bringing broker {down} back and moving the coordinator to it")
        control(url, "POST", f"/brokers/{down}/up")
        control(url, "POST", f"/groups/{group}/coordinator", {"node": down})
        third = await produce(producer, topic, 3)
        await consume(consumer, third, seen, 3)
        missing = (first | second | third) - seen
        if missing:
            raise AssertionError(f"records never consumed: {sorted(missing)[:5]}")
        result["consumed"] = len(seen)
    finally:
        # aiokafka's stop() may raise CancelledError from a fetch task it cancels; the step that
        # failed (if any) is the error that matters.
        for client in (consumer, producer):
            try:
                await client.stop()
            except (Exception, asyncio.CancelledError) as error:  # noqa: BLE001
                log(f"stop: {error!r}")
    result["ok"] = True
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main()))
    except Exception:
        traceback.print_exc()
        print(json.dumps({"ok": False}), flush=True)
        sys.exit(1)
