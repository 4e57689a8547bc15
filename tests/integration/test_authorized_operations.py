"""Authorized operations with no authorizer (KIP-430): a client that asks is told
every operation the resource supports, as Apache Kafka 4.4 answers without an
authorizer (measured side by side: these are its sets); a client that does not
ask gets the schema's 'not requested' value."""

from __future__ import annotations

import confluent_kafka
from confluent_kafka import TopicCollection, TopicPartition
from confluent_kafka.admin import AclOperation, AdminClient, NewTopic
from kio.schema.metadata.v10.request import MetadataRequest, MetadataRequestTopic

from tests.integration import protocol
from tests.integration.dev import DevNode

NOT_REQUESTED = -(2**31)
TOPIC = {AclOperation.READ, AclOperation.WRITE, AclOperation.CREATE, AclOperation.DELETE,
         AclOperation.ALTER, AclOperation.DESCRIBE, AclOperation.DESCRIBE_CONFIGS,
         AclOperation.ALTER_CONFIGS}
GROUP = {AclOperation.READ, AclOperation.DELETE, AclOperation.DESCRIBE,
         AclOperation.DESCRIBE_CONFIGS, AclOperation.ALTER_CONFIGS}
CLUSTER = {AclOperation.CREATE, AclOperation.ALTER, AclOperation.DESCRIBE,
           AclOperation.CLUSTER_ACTION, AclOperation.DESCRIBE_CONFIGS,
           AclOperation.ALTER_CONFIGS, AclOperation.IDEMPOTENT_WRITE}


def test_every_supported_operation_when_asked(dev_node: DevNode) -> None:
    """confluent-kafka's describe_cluster, describe_topics and describe_consumer_groups
    with include_authorized_operations list Kafka's supported operations."""
    bootstrap = dev_node.bootstrap
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic("ops", 1, 1)])["ops"].result(30)
    consumer = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": "ops-g"})
    consumer.commit(offsets=[TopicPartition("ops", 0, 1)], asynchronous=False)
    consumer.close()

    cluster = admin.describe_cluster(include_authorized_operations=True).result(30)
    assert set(cluster.authorized_operations) == CLUSTER
    topic = admin.describe_topics(TopicCollection(["ops"]),
                                  include_authorized_operations=True)["ops"].result(30)
    assert set(topic.authorized_operations) == TOPIC
    group = admin.describe_consumer_groups(
        ["ops-g"], include_authorized_operations=True)["ops-g"].result(30)
    assert set(group.authorized_operations) == GROUP
    # Not asked: not requested.
    assert admin.describe_cluster().result(30).authorized_operations is None


def test_metadata_fields_follow_the_request(dev_node: DevNode) -> None:
    """Metadata v10: the topic and cluster fields carry the bit fields only when the
    request's include flags ask for them."""
    bootstrap = dev_node.bootstrap
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic("ops-md", 1, 1)])["ops-md"].result(30)
    every_topic_op = sum(1 << int(op.value) for op in TOPIC)
    every_cluster_op = sum(1 << int(op.value) for op in CLUSTER)
    for include in (False, True):
        answer = protocol.call_sync(bootstrap, MetadataRequest(
            topics=(MetadataRequestTopic(topic_id=None, name="ops-md"),),
            allow_auto_topic_creation=False,
            include_cluster_authorized_operations=include,
            include_topic_authorized_operations=include))
        (topic,) = answer.topics
        assert topic.topic_authorized_operations == (every_topic_op if include
                                                     else NOT_REQUESTED)
        assert answer.cluster_authorized_operations == (every_cluster_op if include
                                                        else NOT_REQUESTED)
