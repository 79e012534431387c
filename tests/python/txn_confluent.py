"""Transactions with confluent-kafka (librdkafka) against kmock.

Usage: txn_confluent.py BOOTSTRAP

Four scenarios, each on topics of its own:
1. commit: 10 messages in a transaction, committed; a read_committed consumer sees all of them.
2. abort: 10 messages in a transaction, aborted, then 5 committed; read_committed sees only the 5,
   read_uncommitted sees all 15.
3. send_offsets_to_transaction: a consume-transform-produce step in a consumer group. The group's
   committed offset stays where it was while the transaction is open and after an aborted one, and
   moves to the consumed position when the transaction commits; the output is visible to
   read_committed only then.
4. fencing: a second producer with the same transactional.id initialises; the first one's next
   transactional call fails with a fatal PRODUCER_FENCED (librdkafka `_FENCED`), and what it had
   written in its open transaction is aborted (invisible to read_committed).

Exit 0 on success; nonzero with a message on stderr on failure. A watchdog dumps every thread's
stack and exits 1 after OVERALL_TIMEOUT_S.
"""

import faulthandler
import sys
import time
import traceback
import uuid

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from confluent_support import poll_messages

OVERALL_TIMEOUT_S = 90
TIMEOUT_S = 20


def log(message: str) -> None:
    print(f"[txn_confluent] {message}", flush=True)


def create_topics(bootstrap: str, *topics: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(topic, 1, 1) for topic in topics])
    for topic, future in futures.items():
        future.result(TIMEOUT_S)


def transactional_producer(bootstrap: str, transactional_id: str) -> Producer:
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "transactional.id": transactional_id,
            "client.id": f"txn-confluent-{transactional_id}",
        }
    )
    producer.init_transactions(TIMEOUT_S)
    return producer


def read_all(bootstrap: str, topic: str, isolation_level: str) -> list[bytes]:
    """Every message a fresh consumer with `isolation_level` reads from the start of `topic`'s
    only partition, up to the end it can see (partition EOF)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{uuid.uuid4().hex[:8]}",
            "isolation.level": isolation_level,
            "enable.partition.eof": True,
            "enable.auto.commit": False,
        }
    )
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        values = []
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error() is not None:
                if message.error().code() == KafkaError._PARTITION_EOF:
                    return values
                raise KafkaException(message.error())
            values.append(message.value())
        raise AssertionError(f"no end of partition {topic} within {TIMEOUT_S} s ({len(values)} read)")
    finally:
        consumer.close()


def expect(actual, wanted, what: str) -> None:
    if actual != wanted:
        raise AssertionError(f"{what}: got {actual!r}, want {wanted!r}")


def commit_scenario(bootstrap: str, suffix: str) -> None:
    topic = f"txn-commit-{suffix}"
    create_topics(bootstrap, topic)
    producer = transactional_producer(bootstrap, f"commit-{suffix}")
    values = [f"committed-{i}".encode() for i in range(10)]
    producer.begin_transaction()
    for value in values:
        producer.produce(topic, value)
    producer.commit_transaction(TIMEOUT_S)
    expect(read_all(bootstrap, topic, "read_committed"), values, "read_committed after commit")
    log("commit: a read_committed consumer sees the 10 committed messages")


def abort_scenario(bootstrap: str, suffix: str) -> None:
    topic = f"txn-abort-{suffix}"
    create_topics(bootstrap, topic)
    producer = transactional_producer(bootstrap, f"abort-{suffix}")
    aborted = [f"aborted-{i}".encode() for i in range(10)]
    committed = [f"kept-{i}".encode() for i in range(5)]
    producer.begin_transaction()
    for value in aborted:
        producer.produce(topic, value)
    producer.flush(TIMEOUT_S)
    producer.abort_transaction(TIMEOUT_S)
    producer.begin_transaction()
    for value in committed:
        producer.produce(topic, value)
    producer.commit_transaction(TIMEOUT_S)
    expect(read_all(bootstrap, topic, "read_committed"), committed, "read_committed after abort")
    expect(
        read_all(bootstrap, topic, "read_uncommitted"),
        aborted + committed,
        "read_uncommitted after abort",
    )
    log("abort: read_committed sees only the committed 5, read_uncommitted all 15")


def committed_offset(observer: Consumer, topic: str) -> int:
    """The group's committed offset of `topic`/0, as a read_uncommitted member of the group sees
    it (a read_committed one asks with require_stable and waits while a transaction has an
    offset pending: UNSTABLE_OFFSET_COMMIT)."""
    [partition] = observer.committed([TopicPartition(topic, 0)], timeout=TIMEOUT_S)
    if partition.error is not None:
        raise KafkaException(partition.error)
    return partition.offset


def send_offsets_scenario(bootstrap: str, suffix: str) -> None:
    source = f"txn-source-{suffix}"
    sink = f"txn-sink-{suffix}"
    group = f"txn-group-{suffix}"
    create_topics(bootstrap, source, sink)
    plain = Producer({"bootstrap.servers": bootstrap})
    for i in range(6):
        plain.produce(source, f"in-{i}".encode())
    if plain.flush(TIMEOUT_S):
        raise AssertionError("source messages not delivered")
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    observer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "isolation.level": "read_uncommitted",
        }
    )
    producer = transactional_producer(bootstrap, f"pipeline-{suffix}")
    try:
        consumer.subscribe([source])
        # Step 1, aborted: consume 3, produce their transforms, send offsets, abort.
        batch = poll_messages(consumer, 3, TIMEOUT_S)
        producer.begin_transaction()
        for message in batch:
            producer.produce(sink, message.value().upper())
        producer.send_offsets_to_transaction(
            consumer.position(consumer.assignment()), consumer.consumer_group_metadata(), TIMEOUT_S
        )
        expect(committed_offset(observer, source), -1001, "committed offset while open")
        producer.abort_transaction(TIMEOUT_S)
        expect(committed_offset(observer, source), -1001, "committed offset after abort")
        expect(read_all(bootstrap, sink, "read_committed"), [], "sink after abort")
        log("send_offsets: an aborted transaction moves no committed offset")
        # Step 2, committed: the same 3 again (rewound to the committed offset), then commit.
        consumer.seek(TopicPartition(source, 0, 0))
        batch = poll_messages(consumer, 3, TIMEOUT_S)
        producer.begin_transaction()
        for message in batch:
            producer.produce(sink, message.value().upper())
        producer.send_offsets_to_transaction(
            consumer.position(consumer.assignment()), consumer.consumer_group_metadata(), TIMEOUT_S
        )
        expect(committed_offset(observer, source), -1001, "committed offset before commit")
        producer.commit_transaction(TIMEOUT_S)
        expect(committed_offset(observer, source), 3, "committed offset after commit")
        expect(
            read_all(bootstrap, sink, "read_committed"),
            [b"IN-0", b"IN-1", b"IN-2"],
            "sink after commit",
        )
        # The read_committed consumer (require_stable) sees it too, now that nothing is pending.
        expect(committed_offset(consumer, source), 3, "committed offset, require_stable")
        log("send_offsets: the group's committed offset moves to 3 only when the transaction commits")
    finally:
        consumer.close()
        observer.close()


def fencing_scenario(bootstrap: str, suffix: str) -> None:
    topic = f"txn-fence-{suffix}"
    create_topics(bootstrap, topic)
    transactional_id = f"fenced-{suffix}"
    first = transactional_producer(bootstrap, transactional_id)
    first.begin_transaction()
    first.produce(topic, b"zombie")
    first.flush(TIMEOUT_S)
    second = transactional_producer(bootstrap, transactional_id)
    log("fencing: a second producer with the same transactional.id initialised")
    try:
        first.commit_transaction(TIMEOUT_S)
    except KafkaException as error:
        kafka_error = error.args[0]
        if not kafka_error.fatal() or kafka_error.code() != KafkaError._FENCED:
            raise AssertionError(f"the first producer failed, but not as fenced: {kafka_error}")
        log(f"fencing: the first producer is fenced ({kafka_error.name()}, fatal)")
    else:
        raise AssertionError("the fenced producer committed")
    second.begin_transaction()
    second.produce(topic, b"survivor")
    second.commit_transaction(TIMEOUT_S)
    expect(read_all(bootstrap, topic, "read_committed"), [b"survivor"], "read_committed after fencing")
    log("fencing: the fenced producer's open transaction was aborted; the new one commits")


def run(bootstrap: str) -> None:
    suffix = uuid.uuid4().hex[:10]
    commit_scenario(bootstrap, suffix)
    abort_scenario(bootstrap, suffix)
    send_offsets_scenario(bootstrap, suffix)
    fencing_scenario(bootstrap, suffix)


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    faulthandler.dump_traceback_later(OVERALL_TIMEOUT_S, exit=True)
    try:
        run(sys.argv[1])
    except Exception as error:  # noqa: BLE001 - report any failure with its type
        traceback.print_exc()
        print(f"[txn_confluent] FAILED: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    log("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
