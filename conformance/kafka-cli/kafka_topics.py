"""The part of Kafka's kafka-topics.sh that librdkafka's integration tests use, over the Admin API.

librdkafka's tests 0045 (topic removal, partition growth), 0052 and 0077 create, grow and delete
topics with `$KAFKA_PATH/bin/kafka-topics.sh --bootstrap-server B ...` (tests/test.c,
test_kafka_topics). kmock has no Kafka CLI; this answers the same command lines with
confluent-kafka's AdminClient and exits non-zero, with Kafka's error, when the broker refuses, as
the real tool does. Options, as Kafka's `TopicCommand` spells them:

    --bootstrap-server B (--create | --alter | --delete) --topic T
        [--partitions N] [--replication-factor R] [--config K=V ...]
"""

from __future__ import annotations

import argparse
import sys

TIMEOUT_S = 30


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="kafka-topics.sh", description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap-server", required=True)
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--create", action="store_true")
    action.add_argument("--alter", action="store_true")
    action.add_argument("--delete", action="store_true")
    parser.add_argument("--topic", required=True)
    parser.add_argument("--partitions", type=int)
    parser.add_argument("--replication-factor", type=int, default=-1)
    parser.add_argument("--config", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    if args.alter and args.partitions is None:
        parser.error("--alter needs --partitions (the only alteration the tests make)")
    for entry in args.config:
        if "=" not in entry:
            parser.error(f"--config {entry!r}: expected KEY=VALUE")
    return args


def main(argv: list[str]) -> int:
    args = parse(argv)
    try:
        from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic
    except ImportError:
        print(
            f"kafka-topics.sh (kmock conformance): confluent-kafka is not installed for {sys.executable}; "
            "run `bash .ci/run venv` or set KMOCK_VENV",
            file=sys.stderr,
        )
        return 2
    admin = AdminClient({"bootstrap.servers": args.bootstrap_server})
    if args.create:
        configs = dict(entry.split("=", 1) for entry in args.config)
        topic = NewTopic(args.topic, args.partitions or -1, args.replication_factor, config=configs)
        future = admin.create_topics([topic], request_timeout=TIMEOUT_S)[args.topic]
        done = f"Created topic {args.topic}."
    elif args.alter:
        future = admin.create_partitions(
            [NewPartitions(args.topic, args.partitions)], request_timeout=TIMEOUT_S
        )[args.topic]
        done = f"Altered partitions of topic {args.topic}."
    else:
        future = admin.delete_topics([args.topic], request_timeout=TIMEOUT_S)[args.topic]
        done = f"Deleted topic {args.topic}."
    try:
        future.result(TIMEOUT_S)
    except Exception as error:  # KafkaException carries the broker's error
        print(f"Error while executing topic command : {error}", file=sys.stderr)
        return 1
    print(done)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
