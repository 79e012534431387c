#!/bin/sh
# Kafka's kafka-topics.sh for librdkafka's tests that shell out to it (test_kafka_topics in
# tests/test.c), against kmock: the topic operations they use, through the Admin API
# (conformance/kafka-cli/kafka_topics.py, confluent-kafka). conformance/librdkafka.py points
# KAFKA_PATH here and names the Python in KMOCK_CONFORMANCE_PYTHON.
exec "${KMOCK_CONFORMANCE_PYTHON:-python3}" "$(dirname "$0")/../kafka_topics.py" "$@"
