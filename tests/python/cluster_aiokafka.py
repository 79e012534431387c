"""aiokafka against `kmock serve --brokers 3`: a producer and a consumer group keep working across
the group's coordinator broker going down and coming back, and a coordinator move.

Usage:
  cluster_aiokafka.py BOOTSTRAP CONTROL_URL

A topic with replication factor 3 and 3 partitions is created; batch 1 is produced and consumed;
the broker coordinating the group is taken down (`POST /brokers/{id}/down`); batch 2 is produced
and consumed; the broker comes back (`POST /brokers/{id}/up`) and the group's coordinator is moved
back to it (`POST /groups/{g}/coordinator`); batch 3 is produced and consumed. Every record
produced must be consumed. Offsets are committed after each batch (to the moved coordinators); a
record of a committed batch consumed again fails the run; at the end the committed offsets are
the high watermarks and a new member of the group, once assigned every partition, receives
nothing. Prints one JSON object on the last stdout line; exit 0 when every step
passed.
"""

import asyncio
import json
import sys
import traceback
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
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


async def consume(consumer: AIOKafkaConsumer, wanted: set, seen: set, batch: int, committed: set) -> None:
    async def until_all():
        while not wanted <= seen:
            records = await consumer.getmany(timeout_ms=500)
            for messages in records.values():
                for m in messages:
                    value = m.value.decode()
                    if value in committed:
                        raise AssertionError(f"batch {batch}: {value} consumed again after its offset was committed")
                    seen.add(value)

    try:
        await asyncio.wait_for(until_all(), STEP_TIMEOUT_S)
    except asyncio.TimeoutError:
        raise AssertionError(f"batch {batch}: {len(wanted - seen)} records not consumed") from None


async def commit(consumer: AIOKafkaConsumer, batch: set, committed: set) -> None:
    await asyncio.wait_for(consumer.commit(), STEP_TIMEOUT_S)
    committed |= batch


async def check_committed(consumer: AIOKafkaConsumer, topic: str) -> dict:
    """The group's committed offsets equal the high watermarks."""
    partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    committed = {tp.partition: await consumer.committed(tp) for tp in partitions}
    high = {tp.partition: offset for tp, offset in (await consumer.end_offsets(partitions)).items()}
    if committed != high:
        raise AssertionError(f"committed offsets {committed} are not the high watermarks {high}")
    return committed


async def check_nothing_comes_back(bootstrap: str, group: str, topic: str) -> None:
    """A new member of the group, once assigned every partition, receives nothing."""
    again = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group,
                             auto_offset_reset="earliest", enable_auto_commit=False)
    await again.start()
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STEP_TIMEOUT_S
        quiet_until = None
        while quiet_until is None or loop.time() < quiet_until:
            if loop.time() > deadline:
                raise AssertionError(f"the new member got no assignment within {STEP_TIMEOUT_S} s")
            records = await again.getmany(timeout_ms=500)
            for messages in records.values():
                if messages:
                    raise AssertionError(f"a new member of the group received {messages[0].value!r}")
            if quiet_until is None and len(again.assignment()) == PARTITIONS:
                quiet_until = loop.time() + 3
    finally:
        try:
            await again.stop()
        except (Exception, asyncio.CancelledError) as error:  # noqa: BLE001
            log(f"stop (new member): {error!r}")


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
        enable_auto_commit=False,
    )
    await producer.start()
    await consumer.start()
    seen, committed = set(), set()
    try:
        first = await produce(producer, topic, 1)
        await consume(consumer, first, seen, 1, committed)
        await commit(consumer, first, committed)
        down = coordinator_of(url, group)
        result["down"] = down
        log(f"taking broker {down} (the group's coordinator) down")
        control(url, "POST", f"/brokers/{down}/down")
        result["coordinator_after_down"] = coordinator_of(url, group)
        second = await produce(producer, topic, 2)
        await consume(consumer, second, seen, 2, committed)
        await commit(consumer, second, committed)
        log(f"bringing broker {down} back and moving the coordinator to it")
        control(url, "POST", f"/brokers/{down}/up")
        control(url, "POST", f"/groups/{group}/coordinator", {"node": down})
        third = await produce(producer, topic, 3)
        await consume(consumer, third, seen, 3, committed)
        await commit(consumer, third, committed)
        missing = (first | second | third) - seen
        if missing:
            raise AssertionError(f"records never consumed: {sorted(missing)[:5]}")
        result["consumed"] = len(seen)
        result["committed"] = await check_committed(consumer, topic)
    finally:
        # aiokafka's stop() may raise CancelledError from a fetch task it cancels; the step that
        # failed (if any) is the error that matters.
        for client in (consumer, producer):
            try:
                await client.stop()
            except (Exception, asyncio.CancelledError) as error:  # noqa: BLE001
                log(f"stop: {error!r}")
    await check_nothing_comes_back(bootstrap, group, topic)
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
