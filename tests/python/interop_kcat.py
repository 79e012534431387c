"""Interop check: kcat (the librdkafka command line client) against a kmock broker.

Usage: interop_kcat.py BOOTSTRAP

Lists the cluster with `kcat -L` (librdkafka's "all topics" Metadata request, whose v9+ form carries
3 stray bytes after the body: librdkafka issue #5049) and checks the broker and topic are listed.
Produces 100 messages with `kcat -P` to a new (auto-created) topic, consumes them back with
`kcat -G` (a balanced consumer in a new group) from the earliest offset; kcat commits on close. The
committed offset (100) is then read with confluent-kafka's `Consumer.committed`. Exit 0 on success;
nonzero with a message on stderr on failure. Every kcat run is bounded by a timeout.
"""

import shutil
import subprocess
import sys
import traceback
import uuid

from confluent_kafka import Consumer, KafkaException, TopicPartition

MESSAGE_COUNT = 100
KCAT_TIMEOUT_S = 30


def log(message: str) -> None:
    print(f"[interop_kcat] {message}", flush=True)


def kcat(args: list[str], stdin: str = "") -> str:
    command = ["kcat", *args]
    result = subprocess.run(
        command, input=stdin, capture_output=True, text=True, timeout=KCAT_TIMEOUT_S, check=False
    )
    if result.returncode != 0:
        raise AssertionError(
            f"{' '.join(command)} exited {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result.stdout


def run(bootstrap: str) -> None:
    if shutil.which("kcat") is None:
        raise AssertionError("kcat is not installed (Debian: apt-get install kcat; .ci/run does it)")
    suffix = uuid.uuid4().hex[:12]
    topic = f"interop-kcat-{suffix}"
    group = f"interop-kcat-group-{suffix}"
    expected = [f"message-{i}" for i in range(MESSAGE_COUNT)]

    kcat(["-P", "-b", bootstrap, "-t", topic, "-X", "client.id=interop-kcat-producer"],
         stdin="\n".join(expected) + "\n")
    log(f"produced {MESSAGE_COUNT} messages to {topic}")

    listing = kcat(["-L", "-b", bootstrap, "-X", "client.id=interop-kcat-list"])
    host, port = bootstrap.rsplit(":", 1)
    if f"broker 0 at {host}:{port}" not in listing:
        raise AssertionError(f"kcat -L does not list broker 0 at {bootstrap}:\n{listing}")
    if f'topic "{topic}" with ' not in listing:
        raise AssertionError(f"kcat -L does not list topic {topic}:\n{listing}")
    log(f"kcat -L lists broker 0 and {topic}")

    output = kcat([
        "-b", bootstrap, "-G", group, topic,
        "-X", "client.id=interop-kcat-consumer",
        "-X", "auto.offset.reset=earliest",
        "-c", str(MESSAGE_COUNT), "-f", "%s\n", "-q",
    ])
    received = output.splitlines()
    if sorted(received) != sorted(expected):
        raise AssertionError(f"values differ: got {len(received)}, first {received[:3]!r}")
    log(f"consumed {len(received)} messages as a member of {group}")

    # kcat commits the consumed offsets when it closes; read them back without joining the group.
    reader = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        metadata = reader.list_topics(topic, timeout=10)
        partitions = [TopicPartition(topic, p) for p in sorted(metadata.topics[topic].partitions)]
        committed = 0
        for tp in reader.committed(partitions, timeout=10):
            if tp.error is not None:
                raise KafkaException(tp.error)
            log(f"committed offset of {tp.topic}-{tp.partition}: {tp.offset}")
            committed += max(tp.offset, 0)
        if committed != MESSAGE_COUNT:
            raise AssertionError(f"committed offsets add up to {committed}, want {MESSAGE_COUNT}")
    finally:
        reader.close()
    log("closed cleanly")


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        run(sys.argv[1])
    except Exception as error:  # noqa: BLE001 - report any failure with its type
        traceback.print_exc()
        print(f"[interop_kcat] FAILED: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    log("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
