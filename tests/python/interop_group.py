"""Deeper interop: a real client's consumer group on a 6-partition topic against kmock.

Usage: interop_group.py CLIENT BOOTSTRAP     CLIENT: aiokafka | kafka-python | confluent-kafka | kcat
(run `kmock serve --default-partitions 6 --initial-rebalance-delay-ms 0`: new topics get 6
partitions).

aiokafka, kafka-python, confluent-kafka:
 1. three members join one group on the new topic: every partition is assigned to exactly one;
 2. produce 60 keyed records with a header, half gzip- and half snappy-compressed; each lands on
    the partition murmur2 gives its key, checked against the client's own partitioner (aiokafka's
    and kafka-python's DefaultPartitioner; librdkafka's `murmur2_random`, against the Java formula
    below) and against the Java formula;
 3. they consume all 60: each record on its key's partition, value and header intact; they commit;
 4. one member leaves: the group rebalances, the two left own all 6 partitions, once each;
 5. all leave; 6 more records; a new member of the group resumes at the committed offsets: it gets
    exactly the 6 new records.
kcat (librdkafka underneath): keyed records with `-X partitioner=murmur2_random` land by murmur2;
headers and gzip/snappy round-trip; a consumer group member (`-G`) commits and a second one resumes.

Exit 0 when everything held; nonzero with a message on stderr otherwise. A watchdog dumps every
thread's stack and exits after OVERALL_TIMEOUT_S.
"""

import asyncio
import concurrent.futures
import faulthandler
import subprocess
import sys
import threading
import time
import traceback
import uuid

PARTITIONS = 6
RECORDS = 60
OVERALL_TIMEOUT_S = 120
STEP_TIMEOUT_S = 30


def log(message: str) -> None:
    print(f"[interop_group] {message}", flush=True)


def java_murmur2(data: bytes) -> int:
    """org.apache.kafka.common.utils.Utils.murmur2, as a signed 32-bit int."""
    length = len(data)
    seed = 0x9747B28C
    m = 0x5BD1E995
    r = 24
    h = (seed ^ length) & 0xFFFFFFFF
    for i in range(length // 4):
        k = int.from_bytes(data[4 * i : 4 * i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    tail = length & ~3
    rest = length % 4
    if rest == 3:
        h ^= data[tail + 2] << 16
    if rest >= 2:
        h ^= data[tail + 1] << 8
    if rest >= 1:
        h ^= data[tail]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def murmur2_partition(key: bytes) -> int:
    """Java's DefaultPartitioner for a keyed record: toPositive(murmur2(key)) % partitions."""
    return (java_murmur2(key) & 0x7FFFFFFF) % PARTITIONS


def check(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def records_to_produce(count: int, first: int = 0) -> list:
    return [
        (f"key-{i}".encode(), f"value-{i}".encode(), [("index", str(i).encode())])
        for i in range(first, first + count)
    ]


def check_assignment(assignments: list, what: str) -> None:
    owned = sorted(p for assignment in assignments for p in assignment)
    check(
        owned == list(range(PARTITIONS)),
        f"{what}: every partition must be assigned exactly once, got {assignments}",
    )
    check(all(assignments), f"{what}: every member must own a partition, got {assignments}")


def check_records(got: list, expected: list, what: str) -> None:
    """got: (partition, key, value, headers) as consumed."""
    by_key = {key: (value, headers) for key, value, headers in expected}
    seen = set()
    for partition, key, value, headers in got:
        check(key in by_key, f"{what}: unexpected record {key!r}")
        check(key not in seen, f"{what}: {key!r} delivered twice")
        seen.add(key)
        want_value, want_headers = by_key[key]
        check(value == want_value, f"{what}: {key!r} value {value!r}, want {want_value!r}")
        check(
            [(k, bytes(v)) for k, v in headers] == want_headers,
            f"{what}: {key!r} headers {headers!r}, want {want_headers!r}",
        )
        check(
            partition == murmur2_partition(key),
            f"{what}: {key!r} consumed from partition {partition}, murmur2 says {murmur2_partition(key)}",
        )
    check(len(seen) == len(by_key), f"{what}: consumed {len(seen)} of {len(by_key)} records")


# --- the group scenario, over a per-client adapter ------------------------------------------------


def group_scenario(client) -> None:
    suffix = uuid.uuid4().hex[:10]
    topic = f"interop-group-{client.name}-{suffix}"
    group = f"interop-group-{client.name}-{suffix}"

    # The group settles before any record exists: a member that joined alone first would fetch
    # records the rebalance then hands to another member, which reads them again (at-least-once),
    # and "each record once" could not be checked.
    client.create_topic(topic)
    members = [client.member(topic, group, f"member-{i}") for i in range(3)]
    assignments = settled_assignments(members, 3, "three members assigned")
    check_assignment(assignments, "three members")
    log(f"three members, assignment {assignments}")

    first = records_to_produce(RECORDS)
    for i, (key, value, headers) in enumerate(first):
        compression = "gzip" if i % 2 == 0 else "snappy"
        partition = client.produce(topic, key, value, headers, compression)
        want = murmur2_partition(key)
        own = client.own_partitioner(key)
        check(own == want, f"the client's own partitioner puts {key!r} on {own}, murmur2 on {want}")
        check(partition == want, f"{key!r} was produced to partition {partition}, murmur2 says {want}")
    client.flush()
    log(f"produced {RECORDS} keyed records (gzip and snappy, with headers) to {topic}, each on its murmur2 partition")

    got = consume(members, RECORDS, "three members")
    check_records(got, first, "three members")
    for member in members:
        member.commit()
    log(f"consumed all {RECORDS} records on their murmur2 partitions with headers intact; committed")

    leaving = members.pop()
    leaving.close()
    assignments = settled_assignments(members, 2, "two members after one left")
    check_assignment(assignments, "two members after one left")
    log(f"one member left: the two others own {assignments}")
    for member in members:
        member.commit()
        member.close()

    more = records_to_produce(PARTITIONS, first=RECORDS)
    for key, value, headers in more:
        client.produce(topic, key, value, headers, "gzip")
    client.flush()
    newcomer = client.member(topic, group, "member-new")
    got = consume([newcomer], len(more), "a new member")
    check_records(got, more, "a new member")
    # Nothing older than the commits may come back.
    late = consume([newcomer], 0, "a new member, afterwards", settle_s=1.0)
    check(not late, f"a new member got already committed records again: {late}")
    newcomer.close()
    client.close()
    log("a new member resumed at the committed offsets: exactly the 6 new records")


def poll_all(members: list, timeout_s: float) -> list:
    """Polls every member at once, each on its own thread (one thread polling several members in
    turn starves the ones waiting in a rebalance: kafka-python 3.0.12 then drops a SyncGroup it
    already got when its poll times out, and the group never settles)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(members)) as pool:
        return list(pool.map(lambda member: member.poll(timeout_s), members))


def stable_assignments(members: list, count: int):
    for member, records in zip(members, poll_all(members, 0.3)):
        # Records that arrive while the group settles are kept for consume().
        member.buffer.extend(records)
    assignments = [sorted(member.assignment()) for member in members]
    owned = [p for assignment in assignments for p in assignment]
    # Settled means every member has its share: a member that joined alone first owns all six
    # partitions until the others' joins rebalance the group, and records it fetches meanwhile are
    # read again by their next owner (at-least-once), which "each record once" would flag.
    if len(members) == count and sorted(owned) == list(range(PARTITIONS)) and all(assignments):
        return assignments
    return None


# How long an assignment must hold before the group counts as settled. A member may rejoin right
# after a rebalance completes (kafka-python does, ~0.4 s after the group went Stable, when its
# metadata refresh differs from the snapshot its assignment was made from): records consumed
# across that rebalance could be read twice and a commit meanwhile gets REBALANCE_IN_PROGRESS,
# both correct client behaviour that "each record once" would flag.
SETTLE_S = 1.5


def settled_assignments(members: list, count: int, what: str):
    """Waits until `stable_assignments` has held, unchanged, for SETTLE_S."""
    since = {"assignments": None, "at": 0.0}

    def probe():
        assignments = stable_assignments(members, count)
        now = time.monotonic()
        if assignments != since["assignments"]:
            since["assignments"], since["at"] = assignments, now
            return None
        if assignments is not None and now - since["at"] >= SETTLE_S:
            return assignments
        return None

    return wait_for(probe, what)


def wait_for(probe, what: str):
    deadline = time.monotonic() + STEP_TIMEOUT_S
    while time.monotonic() < deadline:
        value = probe()
        if value is not None:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {STEP_TIMEOUT_S} s")


def consume(members: list, count: int, what: str, settle_s: float = 0.0) -> list:
    got = []
    for member in members:
        got.extend(member.buffer)
        member.buffer.clear()
    deadline = time.monotonic() + (settle_s if count == 0 else STEP_TIMEOUT_S)
    while time.monotonic() < deadline and (count == 0 or len(got) < count):
        for records in poll_all(members, 0.3):
            got.extend(records)
    check(count == 0 or len(got) >= count, f"{what}: consumed {len(got)} of {count} records")
    return got


# --- adapters -----------------------------------------------------------------------------------


class AsyncRunner:
    """An asyncio loop on its own thread, for driving aiokafka from the synchronous scenario."""

    def __init__(self):
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

    def run(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(STEP_TIMEOUT_S)


class Aiokafka:
    name = "aiokafka"

    def __init__(self, bootstrap: str):
        from aiokafka import AIOKafkaProducer
        from aiokafka.partitioner import DefaultPartitioner

        self.bootstrap = bootstrap
        self.runner = AsyncRunner()
        self.partitioner = DefaultPartitioner()
        self.producers = {}
        for compression in ("gzip", "snappy"):
            producer = self.runner.run(self._producer(AIOKafkaProducer, compression))
            self.producers[compression] = producer

    async def _producer(self, cls, compression):
        producer = cls(bootstrap_servers=self.bootstrap, compression_type=compression, acks="all")
        await producer.start()
        return producer

    def create_topic(self, topic):
        # A metadata request for it auto-creates it (6 partitions on this server).
        partitions = self.runner.run(self.producers["gzip"].partitions_for(topic))
        check(len(partitions) == PARTITIONS, f"{topic} has partitions {partitions}")

    def own_partitioner(self, key: bytes) -> int:
        partitions = list(range(PARTITIONS))
        return self.partitioner(key, partitions, partitions)

    def produce(self, topic, key, value, headers, compression) -> int:
        producer = self.producers[compression]
        return self.runner.run(producer.send_and_wait(topic, value, key=key, headers=headers)).partition

    def flush(self):
        pass

    def member(self, topic, group, client_id):
        return AiokafkaMember(self.runner, self.bootstrap, topic, group, client_id)

    def close(self):
        for producer in self.producers.values():
            self.runner.run(producer.stop())


class AiokafkaMember:
    def __init__(self, runner, bootstrap, topic, group, client_id):
        self.buffer = []
        from aiokafka import AIOKafkaConsumer

        self.runner = runner

        async def start():
            consumer = AIOKafkaConsumer(
                topic,
                bootstrap_servers=bootstrap,
                group_id=group,
                client_id=client_id,
                auto_offset_reset="earliest",
                enable_auto_commit=False,
                session_timeout_ms=10_000,
                heartbeat_interval_ms=500,
            )
            await consumer.start()
            return consumer

        self.consumer = runner.run(start())

    def poll(self, timeout_s: float) -> list:
        batches = self.runner.run(self.consumer.getmany(timeout_ms=int(timeout_s * 1000)))
        return [
            (record.partition, record.key, record.value, list(record.headers))
            for records in batches.values()
            for record in records
        ]

    def assignment(self):
        return {tp.partition for tp in self.consumer.assignment()}

    def commit(self):
        self.runner.run(self.consumer.commit())

    def close(self):
        self.runner.run(self.consumer.stop())


class KafkaPython:
    name = "kafka-python"

    def __init__(self, bootstrap: str):
        from kafka import KafkaProducer

        self.bootstrap = bootstrap
        self.producers = {
            compression: KafkaProducer(bootstrap_servers=bootstrap, compression_type=compression, acks="all")
            for compression in ("gzip", "snappy")
        }

    def create_topic(self, topic):
        partitions = self.producers["gzip"].partitions_for(topic)
        check(len(partitions) == PARTITIONS, f"{topic} has partitions {partitions}")

    def own_partitioner(self, key: bytes) -> int:
        from kafka.partitioner.default import murmur2

        return (murmur2(key) & 0x7FFFFFFF) % PARTITIONS

    def produce(self, topic, key, value, headers, compression) -> int:
        future = self.producers[compression].send(topic, value=value, key=key, headers=headers)
        return future.get(timeout=STEP_TIMEOUT_S).partition

    def flush(self):
        for producer in self.producers.values():
            producer.flush(STEP_TIMEOUT_S)

    def member(self, topic, group, client_id):
        from kafka import KafkaConsumer

        consumer = KafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=group,
            client_id=client_id,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            session_timeout_ms=10_000,
            heartbeat_interval_ms=500,
        )
        # Metadata first: see teardown_matrix.py on kafka-python 3.0.12 and a rejoin after an
        # empty first assignment.
        check(consumer.partitions_for_topic(topic) is not None, f"no metadata for {topic}")
        consumer.subscribe([topic])
        return KafkaPythonMember(consumer)

    def close(self):
        for producer in self.producers.values():
            producer.close()


class KafkaPythonMember:
    def __init__(self, consumer):
        self.buffer = []
        self.consumer = consumer

    def poll(self, timeout_s: float) -> list:
        batches = self.consumer.poll(timeout_ms=int(timeout_s * 1000))
        return [
            (record.partition, record.key, record.value, list(record.headers))
            for records in batches.values()
            for record in records
        ]

    def assignment(self):
        return {tp.partition for tp in self.consumer.assignment()}

    def commit(self):
        self.consumer.commit()

    def close(self):
        self.consumer.close()


class Confluent:
    name = "confluent-kafka"

    def __init__(self, bootstrap: str):
        from confluent_kafka import Producer

        self.bootstrap = bootstrap
        self.producers = {
            compression: Producer(
                {
                    "bootstrap.servers": bootstrap,
                    "compression.type": compression,
                    # Java's partitioner; librdkafka's default is a CRC32 one.
                    "partitioner": "murmur2_random",
                    "acks": "all",
                }
            )
            for compression in ("gzip", "snappy")
        }

    def create_topic(self, topic):
        metadata = self.producers["gzip"].list_topics(topic, timeout=STEP_TIMEOUT_S)
        partitions = metadata.topics[topic].partitions
        check(len(partitions) == PARTITIONS, f"{topic} has partitions {sorted(partitions)}")

    def own_partitioner(self, key: bytes) -> int:
        # librdkafka's partitioner is not exposed in Python: the partition it chose (checked in
        # produce()) must match the Java formula.
        return murmur2_partition(key)

    def produce(self, topic, key, value, headers, compression) -> int:
        delivered = []
        producer = self.producers[compression]
        producer.produce(topic, value, key=key, headers=headers, on_delivery=lambda e, m: delivered.append((e, m)))
        producer.flush(STEP_TIMEOUT_S)
        check(len(delivered) == 1 and delivered[0][0] is None, f"delivery of {key!r}: {delivered}")
        return delivered[0][1].partition()

    def flush(self):
        for producer in self.producers.values():
            producer.flush(STEP_TIMEOUT_S)

    def member(self, topic, group, client_id):
        from confluent_kafka import Consumer

        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": group,
                "client.id": client_id,
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "session.timeout.ms": 10_000,
                "heartbeat.interval.ms": 500,
            }
        )
        consumer.subscribe([topic])
        return ConfluentMember(consumer)

    def close(self):
        pass


class ConfluentMember:
    def __init__(self, consumer):
        self.buffer = []
        self.consumer = consumer

    def poll(self, timeout_s: float) -> list:
        got = []
        for message in self.consumer.consume(num_messages=100, timeout=timeout_s):
            check(message.error() is None, f"consume error: {message.error()}")
            got.append((message.partition(), message.key(), message.value(), list(message.headers() or [])))
        return got

    def assignment(self):
        return {tp.partition for tp in self.consumer.assignment()}

    def commit(self):
        if self.consumer.assignment():
            try:
                self.consumer.commit(asynchronous=False)
            except Exception as error:  # noqa: BLE001 - nothing consumed since the last commit
                if "NO_OFFSET" not in str(error):
                    raise

    def close(self):
        self.consumer.close()


# --- kcat ---------------------------------------------------------------------------------------


def kcat(*args: str, stdin: str | None = None, timeout: float = STEP_TIMEOUT_S) -> str:
    run = subprocess.run(
        ["kcat", *args], input=stdin, capture_output=True, text=True, timeout=timeout, check=False
    )
    check(run.returncode == 0, f"kcat {' '.join(args)} failed ({run.returncode}): {run.stderr}")
    return run.stdout


def kcat_scenario(bootstrap: str) -> None:
    suffix = uuid.uuid4().hex[:10]
    topic = f"interop-group-kcat-{suffix}"
    group = f"interop-group-kcat-{suffix}"
    records = records_to_produce(30)
    for compression in ("gzip", "snappy"):
        lines = "".join(f"{key.decode()}\t{value.decode()}\n" for key, value, _ in records)
        kcat(
            "-P", "-b", bootstrap, "-t", topic, "-K", "\t", "-z", compression,
            "-X", "partitioner=murmur2_random", "-H", "via=kcat", stdin=lines,
        )
    fmt = "%p\t%k\t%s\t%h\n"
    out = kcat("-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-f", fmt)
    got = [line.split("\t") for line in out.splitlines() if line]
    check(len(got) == 2 * len(records), f"kcat consumed {len(got)} of {2 * len(records)}: {out[:300]}")
    for partition, key, value, headers in got:
        check(
            int(partition) == murmur2_partition(key.encode()),
            f"kcat: {key} on partition {partition}, murmur2 says {murmur2_partition(key.encode())}",
        )
        check(value == key.replace("key", "value"), f"kcat: {key} value {value}")
        check(headers == "via=kcat", f"kcat: {key} headers {headers!r}")
    log(f"kcat: {len(got)} keyed records (gzip and snappy, with a header) on their murmur2 partitions")

    # A group member consumes everything and commits; a second one resumes after the commits.
    # `-o` would override the committed offsets in a group: the reset policy says where to start.
    earliest = ("-X", "auto.offset.reset=earliest")
    first = kcat("-G", group, "-b", bootstrap, *earliest, "-e", "-f", "%k\n", topic, timeout=60)
    check(len(first.split()) == 2 * len(records), f"kcat -G consumed {len(first.split())}: {first[:200]}")
    kcat("-P", "-b", bootstrap, "-t", topic, "-K", "\t", stdin="late\tvalue-late\n")
    second = kcat("-G", group, "-b", bootstrap, *earliest, "-e", "-f", "%k\n", topic, timeout=60)
    check(second.split() == ["late"], f"kcat -G after the commit got {second.split()[:10]}, want ['late']")
    log("kcat: a second group member resumed at the committed offsets")


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    client_name, bootstrap = sys.argv[1:]
    faulthandler.dump_traceback_later(OVERALL_TIMEOUT_S, exit=True)
    try:
        if client_name == "kcat":
            kcat_scenario(bootstrap)
        else:
            client = {"aiokafka": Aiokafka, "kafka-python": KafkaPython, "confluent-kafka": Confluent}[client_name]
            group_scenario(client(bootstrap))
    except Exception as error:  # noqa: BLE001 - report any failure with its type
        traceback.print_exc()
        print(f"[interop_group] FAILED ({client_name}): {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    log("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
