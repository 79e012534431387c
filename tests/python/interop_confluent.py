"""Interop check: confluent-kafka (librdkafka) against kmock.

Usage: interop_confluent.py BOOTSTRAP

Produces 100 messages to a new (auto-created) topic, lists every topic with
`AdminClient.list_topics()` (librdkafka's "all topics" Metadata v12+ request, which carries 3 stray
bytes after its body: librdkafka issue #5049; Kafka ignores them), consumes them back as the only
member of a new group from the earliest offset, commits synchronously, checks the committed offset via
`Consumer.committed`, and closes cleanly. Exit 0 on success; nonzero with a message on stderr on
failure. A watchdog dumps every thread's stack and exits 1 after OVERALL_TIMEOUT_S.
"""

import faulthandler
import sys
import traceback
import uuid

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from confluent_support import poll_messages

MESSAGE_COUNT = 100
OVERALL_TIMEOUT_S = 60
CONSUME_TIMEOUT_S = 30


def log(message: str) -> None:
    print(f"[interop_confluent] {message}", flush=True)


def run(bootstrap: str) -> None:
    suffix = uuid.uuid4().hex[:12]
    topic = f"interop-confluent-{suffix}"
    group = f"interop-confluent-group-{suffix}"
    expected = [f"message-{i}".encode() for i in range(MESSAGE_COUNT)]

    delivery_errors = []
    delivered = []

    def on_delivery(error, message):
        if error is not None:
            delivery_errors.append(error)
        else:
            delivered.append(message.value())

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "client.id": "interop-confluent-producer",
            "message.timeout.ms": 30000,
        }
    )
    for value in expected:
        producer.produce(topic, value, on_delivery=on_delivery)
        producer.poll(0)
    left = producer.flush(30)
    if left:
        raise AssertionError(f"{left} messages still undelivered after 30 s")
    if delivery_errors:
        raise AssertionError(f"delivery failed: {delivery_errors[:3]}")
    if len(delivered) != MESSAGE_COUNT:
        raise AssertionError(f"{len(delivered)} of {MESSAGE_COUNT} delivery reports")
    log(f"produced {MESSAGE_COUNT} messages to {topic}")

    admin = AdminClient({"bootstrap.servers": bootstrap, "client.id": "interop-confluent-admin"})
    cluster = admin.list_topics(timeout=10)
    if topic not in cluster.topics or list(cluster.brokers) != [0]:
        raise AssertionError(f"list_topics(): brokers {list(cluster.brokers)}, topics {sorted(cluster.topics)}")
    log(f"AdminClient.list_topics() lists broker 0 and {topic}")

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "client.id": "interop-confluent-consumer",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    try:
        consumer.subscribe([topic])
        received = [m.value() for m in poll_messages(consumer, MESSAGE_COUNT, CONSUME_TIMEOUT_S)]
        if sorted(received) != sorted(expected) or len(received) != MESSAGE_COUNT:
            raise AssertionError(f"values differ: got {len(received)}, first {received[:3]!r}")
        log(f"consumed {len(received)} messages as a member of {group}")

        consumer.commit(asynchronous=False)
        assignment = consumer.assignment()
        if not assignment:
            raise AssertionError("consumer has no assignment after consuming")
        partitions = [TopicPartition(tp.topic, tp.partition) for tp in assignment]
        committed = 0
        for tp in consumer.committed(partitions, timeout=10):
            if tp.error is not None:
                raise KafkaException(tp.error)
            log(f"committed offset of {tp.topic}-{tp.partition}: {tp.offset}")
            committed += max(tp.offset, 0)
        if committed != MESSAGE_COUNT:
            raise AssertionError(f"committed offsets add up to {committed}, want {MESSAGE_COUNT}")
    finally:
        consumer.close()
    log("closed cleanly")


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    faulthandler.dump_traceback_later(OVERALL_TIMEOUT_S, exit=True)
    try:
        run(sys.argv[1])
    except Exception as error:  # noqa: BLE001 - report any failure with its type
        traceback.print_exc()
        print(f"[interop_confluent] FAILED: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    log("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
