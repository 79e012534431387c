"""confluent-kafka's AdminClient (librdkafka) against kmock: the plan in admin_support.py.

Usage: admin_confluent.py BOOTSTRAP

confluent-kafka 2.16 does not wrap librdkafka's DeleteConsumerGroupOffsets, so no offsets are
deleted here (admin_kafka_python.py covers OffsetDelete). Also checks KIP-430 authorized operations
through describe_topics, describe_cluster and describe_consumer_groups, asked for and not, and the
ACL APIs answered as Kafka answers them without an authorizer (SECURITY_DISABLED).
"""

import sys

from confluent_kafka import (
    Consumer,
    ConsumerGroupState,
    ConsumerGroupTopicPartitions,
    OFFSET_BEGINNING,
    Producer,
    TopicCollection,
    TopicPartition,
)
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewPartitions,
    NewTopic,
    OffsetSpec,
    ResourcePatternType,
    ResourceType,
)

import admin_support as plan
from confluent_support import poll_messages
from admin_support import Script, expect, expect_error

SCRIPT = Script("admin_confluent")


def names(operations) -> set:
    """The operations' names; an empty set when the client got none."""
    return {operation.name for operation in operations or []}


def produce(bootstrap: str) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "client.id": "admin-confluent-producer"})
    for value in SCRIPT.values:
        producer.produce(SCRIPT.topic, value.encode(), partition=0)
    expect(producer.flush(plan.TIMEOUT_S), 0, "messages left after flush")


def consumer(bootstrap: str, group: str) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "client.id": "admin-confluent-consumer",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )


def consume(member: Consumer, count: int) -> list:
    """`count` messages as (partition, offset, value)."""
    messages = poll_messages(member, count, plan.TIMEOUT_S)
    return [(m.partition(), m.offset(), m.value().decode()) for m in messages]


def grow_partitions(admin: AdminClient) -> None:
    topic = SCRIPT.topic
    admin.create_partitions([NewPartitions(topic, plan.PARTITIONS)])[topic].result(plan.TIMEOUT_S)
    partitions = admin.list_topics(topic, timeout=plan.TIMEOUT_S).topics[topic].partitions
    expect(sorted(partitions), list(range(plan.PARTITIONS)), "partitions after create_partitions")
    expect_error(
        lambda: admin.create_partitions([NewPartitions(topic, 2)])[topic].result(plan.TIMEOUT_S),
        "INVALID_PARTITIONS",
        "create_partitions to fewer partitions",
    )
    SCRIPT.log(f"create_partitions: {topic} has {plan.PARTITIONS} partitions")


def delete_records(admin: AdminClient, bootstrap: str) -> None:
    partition = TopicPartition(SCRIPT.topic, 0, plan.DELETE_BEFORE)
    deleted = admin.delete_records([partition])[partition].result(plan.TIMEOUT_S)
    expect(deleted.low_watermark, plan.DELETE_BEFORE, "delete_records low watermark")
    beyond = TopicPartition(SCRIPT.topic, 0, plan.MESSAGE_COUNT + 1)
    expect_error(
        lambda: admin.delete_records([beyond])[beyond].result(plan.TIMEOUT_S),
        "OFFSET_OUT_OF_RANGE",
        "delete_records beyond the high watermark",
    )
    spec = {TopicPartition(SCRIPT.topic, 0): OffsetSpec.earliest()}
    earliest = admin.list_offsets(spec)[TopicPartition(SCRIPT.topic, 0)].result(plan.TIMEOUT_S)
    expect(earliest.offset, plan.DELETE_BEFORE, "list_offsets earliest")
    reader = consumer(bootstrap, SCRIPT.group + "-reader")
    try:
        reader.assign([TopicPartition(SCRIPT.topic, 0, OFFSET_BEGINNING)])
        first = consume(reader, 1)[0]
        expect(first, plan.FIRST_KEPT, "first message from the beginning")
    finally:
        reader.close()
    SCRIPT.log(f"delete_records: the log starts at {plan.DELETE_BEFORE}")


def describe_group(admin: AdminClient, state, members: int):
    description = admin.describe_consumer_groups([SCRIPT.group], include_authorized_operations=True)[
        SCRIPT.group
    ].result(plan.TIMEOUT_S)
    expect(description.state, state, "group state")
    expect(len(description.members), members, "group members")
    expect(names(description.authorized_operations), plan.GROUP_OPERATIONS, "group authorized operations")
    return description


def check_active_group(admin: AdminClient) -> None:
    listed = admin.list_consumer_groups().result(plan.TIMEOUT_S)
    states = {group.group_id: group.state for group in listed.valid}
    expect(states.get(SCRIPT.group), ConsumerGroupState.STABLE, "listed group state")
    description = describe_group(admin, ConsumerGroupState.STABLE, 1)
    member = description.members[0]
    expect(member.client_id, "admin-confluent-consumer", "member client id")
    assigned = sorted(tp.partition for tp in member.assignment.topic_partitions)
    expect(assigned, list(range(plan.PARTITIONS)), "member assignment")
    expect_error(
        lambda: admin.delete_consumer_groups([SCRIPT.group])[SCRIPT.group].result(plan.TIMEOUT_S),
        "NON_EMPTY_GROUP",
        "delete_consumer_groups with an active member",
    )
    SCRIPT.log("list/describe groups: Stable with one member; deleting it: NON_EMPTY_GROUP")


def group_offsets(admin: AdminClient) -> dict:
    request = [ConsumerGroupTopicPartitions(SCRIPT.group)]
    listed = admin.list_consumer_group_offsets(request)[SCRIPT.group].result(plan.TIMEOUT_S)
    return {tp.partition: tp.offset for tp in listed.topic_partitions if tp.offset >= 0}


def alter_and_delete_group(admin: AdminClient) -> None:
    describe_group(admin, ConsumerGroupState.EMPTY, 0)
    expect(group_offsets(admin), {0: plan.MESSAGE_COUNT}, "offsets committed by the consumer")
    altered = [TopicPartition(SCRIPT.topic, 0, plan.ALTERED_OFFSET), TopicPartition(SCRIPT.topic, 1, 0)]
    request = [ConsumerGroupTopicPartitions(SCRIPT.group, altered)]
    result = admin.alter_consumer_group_offsets(request)[SCRIPT.group].result(plan.TIMEOUT_S)
    expect([tp.error for tp in result.topic_partitions], [None, None], "alter_consumer_group_offsets errors")
    expect(group_offsets(admin), {0: plan.ALTERED_OFFSET, 1: 0}, "offsets after alter_consumer_group_offsets")
    admin.delete_consumer_groups([SCRIPT.group])[SCRIPT.group].result(plan.TIMEOUT_S)
    listed = admin.list_consumer_groups().result(plan.TIMEOUT_S)
    expect(SCRIPT.group in {group.group_id for group in listed.valid}, False, "group listed after deletion")
    expect(group_offsets(admin), {}, "offsets after delete_consumer_groups")
    SCRIPT.log("alter/list offsets, delete_consumer_groups: the group and its offsets are gone")


def check_authorized_operations(admin: AdminClient) -> None:
    topics = TopicCollection([SCRIPT.topic])
    asked = admin.describe_topics(topics, include_authorized_operations=True)
    described = asked[SCRIPT.topic].result(plan.TIMEOUT_S)
    expect(names(described.authorized_operations), plan.TOPIC_OPERATIONS, "topic authorized operations")
    expect(len(described.partitions), plan.PARTITIONS, "describe_topics partitions")
    described = admin.describe_topics(topics)[SCRIPT.topic].result(plan.TIMEOUT_S)
    expect(described.authorized_operations, None, "topic authorized operations not asked for")
    cluster = admin.describe_cluster(include_authorized_operations=True).result(plan.TIMEOUT_S)
    expect(names(cluster.authorized_operations), plan.CLUSTER_OPERATIONS, "cluster authorized operations")
    expect(admin.describe_cluster().result(plan.TIMEOUT_S).authorized_operations, None, "cluster, not asked")
    SCRIPT.log("describe_topics/describe_cluster: every operation, as Kafka without an authorizer")


def check_acls_without_authorizer(admin: AdminClient) -> None:
    """Kafka's AclApis with no authorizer: SECURITY_DISABLED for describe, create and delete."""
    binding = AclBinding(ResourceType.TOPIC, SCRIPT.topic, ResourcePatternType.LITERAL, "User:alice",
                         "*", AclOperation.READ, AclPermissionType.ALLOW)
    every = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None,
                             AclOperation.ANY, AclPermissionType.ANY)
    # librdkafka 2.12 reads DescribeAcls's top-level error but does not raise it
    # (rd_kafka_DescribeAclsResponse_parse): against Kafka, as here, the answer is an empty list.
    expect(admin.describe_acls(every).result(plan.TIMEOUT_S), [], "describe_acls")
    expect_error(lambda: admin.create_acls([binding])[binding].result(plan.TIMEOUT_S), "SECURITY_DISABLED",
                 "create_acls")
    expect_error(lambda: admin.delete_acls([every])[every].result(plan.TIMEOUT_S), "SECURITY_DISABLED",
                 "delete_acls")
    SCRIPT.log("create/delete_acls: SECURITY_DISABLED, as Kafka without an authorizer; describe_acls: []")


def run(bootstrap: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap, "client.id": "admin-confluent"})
    admin.create_topics([NewTopic(SCRIPT.topic, 1, 1)])[SCRIPT.topic].result(plan.TIMEOUT_S)
    produce(bootstrap)
    grow_partitions(admin)
    delete_records(admin, bootstrap)
    check_authorized_operations(admin)
    check_acls_without_authorizer(admin)
    member = consumer(bootstrap, SCRIPT.group)
    try:
        member.subscribe([SCRIPT.topic])
        received = consume(member, plan.MESSAGE_COUNT - plan.DELETE_BEFORE)
        expect(received[0][1:], plan.FIRST_KEPT[1:], "the group's first message")
        member.commit(asynchronous=False)
        check_active_group(admin)
    finally:
        member.close()
    alter_and_delete_group(admin)


if __name__ == "__main__":
    sys.exit(SCRIPT.main(run))
