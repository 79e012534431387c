"""What the confluent-kafka (librdkafka) scripts share: polling a consumer for messages."""

import time

from confluent_kafka import KafkaError, KafkaException


def poll_messages(consumer, count, timeout_s):
    """The next `count` messages of `consumer` (partition-EOF events skipped; any other error
    raised). AssertionError, with what arrived, if they do not all arrive within `timeout_s`."""
    messages = []
    deadline = time.monotonic() + timeout_s
    while len(messages) < count:
        if time.monotonic() >= deadline:
            values = [message.value() for message in messages[:3]]
            raise AssertionError(
                f"consumed {len(messages)} of {count} messages within {timeout_s} s (first: {values!r})"
            )
        message = consumer.poll(0.5)
        if message is None:
            continue
        if message.error() is not None:
            if message.error().code() == KafkaError._PARTITION_EOF:
                continue
            raise KafkaException(message.error())
        messages.append(message)
    return messages
