"""The seed reproduction: how long aiokafka 0.12.0's `consumer.stop()` takes when the coordinator
answers LeaveGroup late (run kmock with `--fault 'leave_group:delay=60s'`).

Usage: seed_slow_leave.py BOOTSTRAP REQUEST_TIMEOUT_MS SESSION_TIMEOUT_MS HEARTBEAT_INTERVAL_MS

Steps: produce one message to a new topic; a consumer in a new group subscribes, waits for its
assignment and consumes the message; an admin client connects; then `await consumer.stop()` is timed
(it sends LeaveGroup and waits up to request_timeout_ms for the answer). One second into the stop,
while the LeaveGroup response is still held back, the admin client describes the group: the member
must already be gone (the coordinator removes it when the request arrives, not when it answers).

Prints one JSON object on the last stdout line:
  {"stop_seconds": float, "request_timeout_ms": int, "session_timeout_ms": int,
   "heartbeat_interval_ms": int, "group": str, "state_during_stop": str|null,
   "members_during_stop": [member ids]|null, "describe_error": str|null}
Exit 0 when the measurement was taken (the caller judges the numbers); nonzero otherwise.
"""

import asyncio
import faulthandler
import json
import sys
import time
import traceback
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

SETUP_TIMEOUT_S = 60
DESCRIBE_AFTER_S = 1.0


def log(message: str) -> None:
    print(f"[seed_slow_leave] {message}", flush=True)


async def describe(admin: AIOKafkaAdminClient, group: str) -> dict:
    responses = await admin.describe_consumer_groups([group])
    for response in responses:
        for described in response.to_object()["groups"]:
            if described["group"] == group:
                return {
                    "error_code": described["error_code"],
                    "state": described["state"],
                    "members": sorted(m["member_id"] for m in described["members"]),
                }
    raise AssertionError(f"DescribeGroups did not describe {group}: {responses!r}")


async def setup(bootstrap: str, request_ms: int, session_ms: int, heartbeat_ms: int):
    suffix = uuid.uuid4().hex[:12]
    topic = f"seed-slow-leave-{suffix}"
    group = f"seed-slow-leave-group-{suffix}"

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, client_id="seed-producer")
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"seed")
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        client_id="seed-consumer",
        auto_offset_reset="earliest",
        request_timeout_ms=request_ms,
        session_timeout_ms=session_ms,
        heartbeat_interval_ms=heartbeat_ms,
    )
    await consumer.start()
    record = await consumer.getone()
    if record.value != b"seed":
        raise AssertionError(f"consumed {record.value!r}, want b'seed'")
    if not consumer.assignment():
        raise AssertionError("consumer has no assignment after consuming")
    log(f"consumer in {group} consumed a message; assignment {sorted(consumer.assignment())}")

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="seed-admin")
    await admin.start()
    before = await describe(admin, group)
    log(f"group before stop: {before}")
    if len(before["members"]) != 1:
        raise AssertionError(f"want exactly one member before stop, got {before}")
    return consumer, admin, group


async def run(bootstrap: str, request_ms: int, session_ms: int, heartbeat_ms: int) -> dict:
    consumer, admin, group = await asyncio.wait_for(
        setup(bootstrap, request_ms, session_ms, heartbeat_ms), SETUP_TIMEOUT_S
    )
    result = {
        "request_timeout_ms": request_ms,
        "session_timeout_ms": session_ms,
        "heartbeat_interval_ms": heartbeat_ms,
        "group": group,
        "state_during_stop": None,
        "members_during_stop": None,
        "describe_error": None,
    }
    async def timed_stop() -> float:
        started = time.monotonic()
        await consumer.stop()
        return time.monotonic() - started

    try:
        stop = asyncio.create_task(timed_stop())
        await asyncio.sleep(DESCRIBE_AFTER_S)
        if stop.done():
            result["describe_error"] = f"stop() finished within {DESCRIBE_AFTER_S} s"
        try:
            during = await asyncio.wait_for(describe(admin, group), 10)
            result["state_during_stop"] = during["state"]
            result["members_during_stop"] = during["members"]
            log(f"group {DESCRIBE_AFTER_S} s into stop(): {during}")
        except Exception as error:  # noqa: BLE001 - reported in the JSON, judged by the caller
            result["describe_error"] = f"{type(error).__name__}: {error}"
        # stop() is bounded by request_timeout_ms; leave generous room before calling it hung.
        stop_seconds = await asyncio.wait_for(stop, request_ms / 1000 + 30)
        result["stop_seconds"] = round(stop_seconds, 3)
    finally:
        await admin.close()
    return result


def main() -> int:
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    bootstrap = sys.argv[1]
    request_ms, session_ms, heartbeat_ms = (int(arg) for arg in sys.argv[2:5])
    faulthandler.dump_traceback_later(SETUP_TIMEOUT_S + request_ms / 1000 + 60, exit=True)
    try:
        result = asyncio.run(run(bootstrap, request_ms, session_ms, heartbeat_ms))
    except Exception as error:  # noqa: BLE001 - report any failure with its type
        traceback.print_exc()
        print(f"[seed_slow_leave] FAILED: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
