"""The seed's service shape on FastStream 0.7 (aiokafka underneath): a `KafkaBroker` with a
subscriber whose result a publisher sends on, a second subscriber downstream, and the seed's
`UnifiedProducer`, a thin wrapper that delegates to `broker.publish()` and has no start/stop of its
own (the connection belongs to whoever owns the broker handle).

Against kmock the messages go over the Kafka protocol through real consumer groups; with the
`.env.test` timeouts, a LeaveGroup answered 60 s late makes `broker.stop()` cost
request_timeout_ms (5 s), and the groups are empty while it waits.
"""

import asyncio
import time
import uuid
from typing import Any, Optional

import pytest
from faststream.kafka import KafkaBroker

# .env.test
SESSION_TIMEOUT_MS = 6000
HEARTBEAT_INTERVAL_MS = 2000
REQUEST_TIMEOUT_MS = 5000


class UnifiedProducer:
    """The seed's producer: delegates to the broker it is given; no lifecycle of its own."""

    def __init__(self, broker: KafkaBroker) -> None:
        self._broker = broker

    async def send(self, topic: str, payload: dict[str, Any], key: Optional[bytes] = None) -> None:
        await self._broker.publish(payload, topic=topic, key=key)


def orders_service(
    bootstrap_servers: str,
) -> tuple[KafkaBroker, dict[str, str], "asyncio.Queue[dict]"]:
    """orders -> confirm (subscriber + publisher) -> confirmations -> audit (subscriber)."""
    suffix = uuid.uuid4().hex[:8]
    names = {
        "orders": f"orders-{suffix}",
        "confirmations": f"confirmations-{suffix}",
        "confirm_group": f"confirm-{suffix}",
        "audit_group": f"audit-{suffix}",
    }
    broker = KafkaBroker(bootstrap_servers, request_timeout_ms=REQUEST_TIMEOUT_MS)
    audited: asyncio.Queue[dict] = asyncio.Queue()
    consumer_settings = dict(
        auto_offset_reset="earliest",
        session_timeout_ms=SESSION_TIMEOUT_MS,
        heartbeat_interval_ms=HEARTBEAT_INTERVAL_MS,
    )

    @broker.subscriber(names["orders"], group_id=names["confirm_group"], **consumer_settings)
    @broker.publisher(names["confirmations"])
    async def confirm(order: dict) -> dict:
        return {"order": order["id"], "status": "confirmed"}

    @broker.subscriber(names["confirmations"], group_id=names["audit_group"], **consumer_settings)
    async def audit(confirmation: dict) -> None:
        await audited.put(confirmation)

    return broker, names, audited


@pytest.mark.asyncio
async def test_orders_flow_through_the_publisher_and_both_groups(kmock):
    broker, names, audited = orders_service(kmock.bootstrap_servers)
    await broker.start()
    try:
        producer = UnifiedProducer(broker)
        await producer.send(names["orders"], {"id": 1}, key=b"customer-7")
        assert await asyncio.wait_for(audited.get(), 30) == {"order": 1, "status": "confirmed"}

        for group in (names["confirm_group"], names["audit_group"]):
            state = kmock.group(group)
            assert state["state"] == "Stable" and len(state["members"]) == 1, state
        topics = {topic["name"]: topic["high_watermarks"] for topic in kmock.topics()}
        assert topics[names["orders"]] == [1] and topics[names["confirmations"]] == [1], topics
    finally:
        await broker.stop()
    # A clean stop: both members left at once (no fault installed).
    assert [kmock.group(g)["members"] for g in (names["confirm_group"], names["audit_group"])] == [
        [],
        [],
    ]


@pytest.mark.asyncio
async def test_a_slow_leave_group_costs_one_request_timeout_on_broker_stop(kmock):
    broker, names, audited = orders_service(kmock.bootstrap_servers)
    await broker.start()
    stopped = False
    try:
        await UnifiedProducer(broker).send(names["orders"], {"id": 2})
        assert await asyncio.wait_for(audited.get(), 30) == {"order": 2, "status": "confirmed"}

        kmock.add_fault("leave_group:delay=60s")
        started = time.monotonic()
        stop = asyncio.create_task(broker.stop())
        await asyncio.sleep(0.5)
        for group in (names["confirm_group"], names["audit_group"]):
            during = kmock.group(group)
            assert during["members"] == [] and during["state"] == "Empty", during
        assert not stop.done()
        await asyncio.wait_for(stop, REQUEST_TIMEOUT_MS / 1000 + 30)
        stopped = True
        took = time.monotonic() - started
    finally:
        if not stopped:
            await broker.stop()

    # FastStream stops its subscribers concurrently: two late LeaveGroups cost one
    # request_timeout_ms, not two.
    assert 4.5 <= took <= 6.5, (
        f"broker.stop() took {took:.2f} s, want about request_timeout_ms (5 s)"
    )
    leaves = kmock.requests(api="leave_group")
    assert sorted(entry["group"] for entry in leaves) == sorted(
        [names["confirm_group"], names["audit_group"]]
    ), leaves
    assert all(entry["fault"] for entry in leaves), leaves
