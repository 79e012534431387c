"""confluent-kafka (librdkafka) against the `kmock` fixture: a JoinGroup answered with
REBALANCE_IN_PROGRESS reaches the poll loop as a non-fatal error, librdkafka rejoins and the
consumer still gets every record; and librdkafka's
`close()` waits for the LeaveGroup response up to `socket.timeout.ms` (its request timeout; default
60000) — with 5000, a LeaveGroup answered 60 s late costs 5 s, while the broker has already removed
the member.
"""

import threading
import time
import uuid

from confluent_kafka import Consumer, KafkaError, Producer

# .env.test; librdkafka's request timeout is socket.timeout.ms.
SESSION_TIMEOUT_MS = 6000
HEARTBEAT_INTERVAL_MS = 2000
REQUEST_TIMEOUT_MS = 5000


def produce(bootstrap_servers: str, topic: str, count: int) -> None:
    producer = Producer({"bootstrap.servers": bootstrap_servers, "client.id": "orders-producer"})
    for i in range(count):
        producer.produce(topic, key=b"customer-%d" % (i % 3), value=b"order-%d" % i)
    assert producer.flush(30) == 0, "records still queued after 30 s"


def consumer(bootstrap_servers: str, group: str) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": bootstrap_servers,
            "client.id": "orders-consumer",
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": SESSION_TIMEOUT_MS,
            "heartbeat.interval.ms": HEARTBEAT_INTERVAL_MS,
            "socket.timeout.ms": REQUEST_TIMEOUT_MS,
        }
    )


def consume(consumer: Consumer, count: int) -> tuple[list[bytes], list[KafkaError]]:
    """Polls until `count` records arrived (at most 30 s): their values, and the errors librdkafka
    delivered through poll() meanwhile (none of them fatal)."""
    values, errors = [], []
    deadline = time.monotonic() + 30
    while len(values) < count and time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is None:
            continue
        if message.error() is not None:
            assert not message.error().fatal(), message.error()
            errors.append(message.error())
        else:
            values.append(message.value())
    return values, errors


def test_a_failed_join_is_retried_and_every_record_arrives(kmock):
    suffix = uuid.uuid4().hex[:8]
    topic, group = f"orders-{suffix}", f"billing-{suffix}"
    kmock.add_fault("join_group:error=rebalance_in_progress,once")
    produce(kmock.bootstrap_servers, topic, 10)

    billing = consumer(kmock.bootstrap_servers, group)
    try:
        billing.subscribe([topic])
        values, errors = consume(billing, 10)
        assert values == [b"order-%d" % i for i in range(10)]
        # librdkafka hands the failed join to the poll loop as a (non-fatal) error event, rejoins,
        # and goes on.
        assert [error.code() for error in errors] == [KafkaError.REBALANCE_IN_PROGRESS], errors
        billing.commit(asynchronous=False)
        assert kmock.group(group)["committed_offsets"] == [
            {"topic": topic, "partition": 0, "offset": 10}
        ]
    finally:
        billing.close()

    joins = kmock.requests(api="join_group", group=group)
    assert joins[0]["fault"] and all(not join["fault"] for join in joins[1:]), joins
    assert len(joins) >= 2, joins
    assert [rule["applied"] for rule in kmock.faults()] == [1]


def test_close_waits_socket_timeout_for_a_slow_leave_group(kmock):
    suffix = uuid.uuid4().hex[:8]
    topic, group = f"events-{suffix}", f"sse-{suffix}"
    produce(kmock.bootstrap_servers, topic, 1)
    sse = consumer(kmock.bootstrap_servers, group)
    sse.subscribe([topic])
    assert consume(sse, 1) == ([b"order-0"], [])
    assert len(kmock.group(group)["members"]) == 1

    kmock.add_fault("leave_group:delay=60s")
    took = []

    def close() -> None:
        started = time.monotonic()
        sse.close()
        took.append(time.monotonic() - started)

    closing = threading.Thread(target=close)
    closing.start()
    time.sleep(0.5)
    during = kmock.group(group)
    assert during["members"] == [] and during["state"] == "Empty", during
    assert closing.is_alive(), "close() returned before the LeaveGroup response"
    closing.join(REQUEST_TIMEOUT_MS / 1000 + 30)
    assert took, "close() did not return"

    assert 4.5 <= took[0] <= 6.5, (
        f"close() took {took[0]:.2f} s, want about socket.timeout.ms (5 s)"
    )
    leaves = kmock.requests(api="leave_group", group=group)
    assert len(leaves) == 1 and leaves[0]["fault"], leaves
