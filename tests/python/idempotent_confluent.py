"""An idempotent confluent-kafka (librdkafka) producer whose Produce responses are lost.

Usage: idempotent_confluent.py BOOTSTRAP CONTROL_URL

Installs the fault `produce,client=idempotent-producer:close=after,times=2` through kmock's control
API: the first two Produce requests of the producer are appended, then their connection is closed
instead of answering. The producer (enable.idempotence) retries them on a new connection with the
same sequence numbers; kmock recognises the retries and answers the original offsets. Checks that
every message was delivered, that the partition holds each exactly once and in order, and that the
fault was applied twice.

(librdkafka bounds an in-flight ProduceRequest by the message timeout, not `request.timeout.ms`,
so a response that never comes (`drop`) fails its messages with _MSG_TIMED_OUT, as a hung Kafka
broker would; `idempotent_aiokafka.py` covers `drop` with aiokafka, which times the request
out and retries it.)

Exit 0 on success; nonzero with a message on stderr on failure. A watchdog dumps every thread's
stack and exits 1 after OVERALL_TIMEOUT_S.
"""

import faulthandler
import sys
import time
import traceback
import uuid

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from control_support import applied_fault, control

MESSAGE_COUNT = 300
OVERALL_TIMEOUT_S = 90
TIMEOUT_S = 60
CLIENT_ID = "idempotent-producer"
FAULT = f"produce,client={CLIENT_ID}:close=after,times=2"


def log(message: str) -> None:
    print(f"[idempotent_confluent] {message}", flush=True)


def run(bootstrap: str, control_url: str) -> None:
    topic = f"idempotent-{uuid.uuid4().hex[:10]}"
    fault = control(control_url, "POST", "/faults", {"spec": FAULT})
    log(f"installed fault {fault['spec']}")
    delivered = []
    errors = []

    def on_delivery(error, message):
        if error is not None:
            errors.append(error)
        else:
            delivered.append((message.offset(), message.value()))

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "client.id": CLIENT_ID,
            "enable.idempotence": True,
            "message.timeout.ms": 45000,
            "linger.ms": 5,
            "batch.num.messages": 50,
        }
    )
    expected = [f"message-{i}".encode() for i in range(MESSAGE_COUNT)]
    for value in expected:
        producer.produce(topic, value, partition=0, on_delivery=on_delivery)
        producer.poll(0)
    left = producer.flush(TIMEOUT_S)
    if left or errors:
        raise AssertionError(f"{left} undelivered, errors: {errors[:3]}")
    offsets = sorted(offset for offset, _ in delivered)
    if offsets != list(range(MESSAGE_COUNT)):
        raise AssertionError(f"delivery reports name offsets {offsets[:5]}..., want 0..{MESSAGE_COUNT}")
    log(f"{MESSAGE_COUNT} messages delivered at offsets 0..{MESSAGE_COUNT - 1}")

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"idempotent-reader-{uuid.uuid4().hex[:8]}",
            "enable.partition.eof": True,
            "enable.auto.commit": False,
        }
    )
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        values = []
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            if time.monotonic() > deadline:
                raise AssertionError(f"read {len(values)} messages, no end of partition")
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error() is not None:
                if message.error().code() == KafkaError._PARTITION_EOF:
                    break
                raise KafkaException(message.error())
            values.append(message.value())
    finally:
        consumer.close()
    if values != expected:
        duplicates = len(values) - len(set(values))
        raise AssertionError(
            f"the partition holds {len(values)} messages ({duplicates} duplicates), want the "
            f"{MESSAGE_COUNT} produced, once each, in order"
        )
    log("the partition holds every message exactly once, in order")

    applied = applied_fault(control_url, FAULT)["applied"]
    if applied != 2:
        raise AssertionError(f"the fault applied {applied} times, want 2")
    produces = control(control_url, "GET", f"/requests?api=produce&client_id={CLIENT_ID}")["requests"]
    lost = [r for r in produces if r["fault"] is not None]
    log(f"{len(produces)} Produce requests, {len(lost)} answers lost with their connection")


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    faulthandler.dump_traceback_later(OVERALL_TIMEOUT_S, exit=True)
    try:
        run(sys.argv[1], sys.argv[2])
    except Exception as error:  # noqa: BLE001 - report any failure with its type
        traceback.print_exc()
        print(f"[idempotent_confluent] FAILED: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    log("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
