"""The seed scenario for the benchmark harness (bench/run.py), as in tests/python/seed_slow_leave.py:
an aiokafka 0.12 consumer in a new group consumes one record, then `await consumer.stop()` is timed
while the broker answers LeaveGroup 60 s late (kmock `--fault leave_group:delay=60s`; librdkafka's
mock: a LeaveGroup RTT pushed by bench/peers/rdkafka_mock.py).

Usage: seed_stop.py BOOTSTRAP REQUEST_TIMEOUT_MS SESSION_TIMEOUT_MS HEARTBEAT_INTERVAL_MS [--describe]

With --describe, one second into stop() an admin client describes the group (DescribeGroups, which
librdkafka's mock does not implement) to check the member is already gone.

Prints one JSON line: {"scenario_seconds": S, "stop_seconds": S, "members_during_stop": [...]|null}
scenario_seconds: from the first producer start to the end of stop() (the whole scenario, in this
process; interpreter start-up excluded).
"""

import asyncio
import json
import sys
import time
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient


async def run(bootstrap: str, request_ms: int, session_ms: int, heartbeat_ms: int, describe: bool) -> dict:
    suffix = uuid.uuid4().hex[:12]
    topic, group = f"seed-{suffix}", f"seed-group-{suffix}"
    started = time.perf_counter()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"seed", partition=0)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                                request_timeout_ms=request_ms, session_timeout_ms=session_ms,
                                heartbeat_interval_ms=heartbeat_ms)
    await consumer.start()
    record = await asyncio.wait_for(consumer.getone(), 60)
    assert record.value == b"seed", record
    admin = None
    if describe:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
    stop_started = time.perf_counter()
    stop = asyncio.create_task(consumer.stop())
    members = None
    if admin is not None:
        await asyncio.sleep(1.0)
        for response in await admin.describe_consumer_groups([group]):
            for described in response.to_object()["groups"]:
                if described["group"] == group:
                    members = sorted(m["member_id"] for m in described["members"])
    await asyncio.wait_for(stop, request_ms / 1000 + 30)
    ended = time.perf_counter()
    if admin is not None:
        await admin.close()
    return {"scenario_seconds": round(ended - started, 4), "stop_seconds": round(ended - stop_started, 4),
            "members_during_stop": members}


def main() -> int:
    bootstrap = sys.argv[1]
    request_ms, session_ms, heartbeat_ms = (int(a) for a in sys.argv[2:5])
    result = asyncio.run(run(bootstrap, request_ms, session_ms, heartbeat_ms, "--describe" in sys.argv[5:]))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
