"""The seed's finding with aiokafka 0.12.0 and the `.env.test` timeouts: a LeaveGroup answered 60 s
late (injected mid-test through the `kmock` fixture) makes `consumer.stop()` take
request_timeout_ms (5 s), not the 40 s of the defaults. Meanwhile the broker has already removed
the member: the group is empty while stop() is still waiting.
"""

import asyncio
import time
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

# .env.test
SESSION_TIMEOUT_MS = 6000
HEARTBEAT_INTERVAL_MS = 2000
REQUEST_TIMEOUT_MS = 5000


@pytest.mark.asyncio
async def test_slow_leave_group_costs_request_timeout(kmock):
    suffix = uuid.uuid4().hex[:8]
    topic, group = f"events-{suffix}", f"sse-{suffix}"

    producer = AIOKafkaProducer(bootstrap_servers=kmock.bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"hello")
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kmock.bootstrap_servers,
        group_id=group,
        auto_offset_reset="earliest",
        session_timeout_ms=SESSION_TIMEOUT_MS,
        heartbeat_interval_ms=HEARTBEAT_INTERVAL_MS,
        request_timeout_ms=REQUEST_TIMEOUT_MS,
    )
    await consumer.start()
    record = await asyncio.wait_for(consumer.getone(), 30)
    assert record.value == b"hello"
    assert len(kmock.group(group)["members"]) == 1

    # In the middle of the test: the coordinator now answers LeaveGroup a minute late.
    kmock.add_fault("leave_group:delay=60s")

    started = time.monotonic()
    stop = asyncio.create_task(consumer.stop())
    await asyncio.sleep(0.5)
    # The leave was processed when it arrived; only its response is late.
    during = kmock.group(group)
    assert during["members"] == [], during
    assert during["state"] == "Empty", during
    assert not stop.done()
    await asyncio.wait_for(stop, REQUEST_TIMEOUT_MS / 1000 + 30)
    took = time.monotonic() - started

    assert 4.5 <= took <= 6.5, f"stop() took {took:.2f} s, want about request_timeout_ms (5 s)"
    leaves = kmock.requests(api="leave_group", group=group)
    assert len(leaves) == 1 and leaves[0]["fault"], leaves


def test_each_test_starts_from_a_reset_broker(kmock):
    assert kmock.faults() == []
    assert kmock.groups() == []
    assert kmock.topics() == []
