"""DescribeTopicPartitions (key 75), version 0: topics and their partitions with a
partition limit and a cursor (KIP-966; kafka-python's describe_topic_partitions,
Kafka's AdminClient.describeTopics since 3.8).

As Kafka's DescribeTopicPartitionsRequestHandler: an empty topic list means
every topic; topics are answered in name order, each partition as Metadata
answers it (kraft.broker.handlers.metadata.partition_fields), at most
min(response_partition_limit, 2000) partitions in all. When more remain,
`next_cursor` names the topic and partition to ask for next; a request's
cursor starts there (topics before it are skipped, and a named topic list
must contain the cursor's topic, else every topic is INVALID_REQUEST, as is
a negative cursor partition). Once the limit is reached the cursor points at
the next topic, partition 0. An unknown named topic is
UNKNOWN_TOPIC_OR_PARTITION (INVALID_TOPIC_EXCEPTION for an illegal name);
unknown topics are simply absent when all are listed. A partition without a
leader has leader -1 and no error (unlike Metadata). Eligible leader
replicas (ELR, KIP-966) are not implemented: their lists are empty.
Authorized operations are always answered for the topics found (every
operation a topic supports: no authorizer), as Kafka does.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any, Final

from kio.schema.errors import ErrorCode

from kraft.broker import authorized_operations as ops
from kraft.broker.context import BrokerContext
from kraft.broker.handlers.metadata import partition_fields
from kraft.broker.internal_topics import INTERNAL_TOPICS
from kraft.broker.topic_creation import invalid_name
from kraft.metadata.image import MetadataImage, PartitionRegistration
from kraft.net.codec import RequestHeader
from kraft.net.messages import build, nested, response_class
from kraft.net.registry import RequestContext
from kraft.security.acl import AclOperation, ResourceType

MAX_PARTITIONS: Final = 2000  # Kafka's max.request.partition.size.limit default


async def handle(
    broker: BrokerContext, ctx: RequestContext, header: RequestHeader, request: Any
) -> Any:
    cls = response_class(header)
    topic_cls = nested(cls, "DescribeTopicPartitionsResponseTopic")
    partition_cls = nested(cls, "DescribeTopicPartitionsResponsePartition")
    image = broker.image
    cursor = request.cursor
    cursor_topic = cursor.topic_name if cursor is not None else ""
    every_topic = not request.topics
    names = sorted(image.topics.by_name) if every_topic else sorted(
        {t.name for t in request.topics})
    names = [n for n in names if n >= cursor_topic]
    # DESCRIBE on each topic: denied ones are left out of "every topic" and
    # TOPIC_AUTHORIZATION_FAILED when asked for (Kafka's handler).
    describable = broker.access.checker(ctx, AclOperation.DESCRIBE)
    if every_topic:
        names = [n for n in names if describable(n)]

    def error_topic(name: str, code: ErrorCode) -> Any:
        # Kafka still answers the operations of a describable unknown topic.
        operations = (broker.access.operations(ctx, ResourceType.TOPIC, name)
                      if code == ErrorCode.unknown_topic_or_partition else ops.NOT_REQUESTED)
        return build(topic_cls, error_code=code, name=name, topic_id=uuid.UUID(int=0),
                     is_internal=False, partitions=(), topic_authorized_operations=operations)

    if cursor is not None and (cursor.partition_index < 0
                               or (not every_topic and cursor_topic not in names)):
        return build(cls, throttle_time=timedelta(0), next_cursor=None, topics=tuple(
            error_topic(t.name, ErrorCode.invalid_request) for t in request.topics))
    remaining = max(min(request.response_partition_limit, MAX_PARTITIONS), 1)
    topics: list[Any] = []
    next_cursor = None
    for name in names:
        if remaining == 0:
            # As Kafka: the next page starts at this topic (known or not).
            next_cursor = build(nested(cls, "Cursor"), topic_name=name, partition_index=0)
            break
        if not describable(name):
            topics.append(error_topic(name, ErrorCode.topic_authorization_failed))
            continue
        topic = image.topics.by_name.get(name)
        if topic is None:
            if not every_topic:
                code = (ErrorCode.invalid_topic_exception if invalid_name(name)
                        else ErrorCode.unknown_topic_or_partition)
                topics.append(error_topic(name, code))
            continue
        start = cursor.partition_index if cursor is not None and name == cursor_topic else 0
        indexes = [i for i in sorted(topic.partitions) if i >= start]
        taken = indexes[:remaining]
        remaining -= len(taken)
        topics.append(build(
            topic_cls, error_code=ErrorCode.none, name=name, topic_id=topic.topic_id,
            is_internal=name in INTERNAL_TOPICS,
            # Always answered, as Kafka's DescribeTopicPartitionsRequestHandler.
            topic_authorized_operations=broker.access.operations(ctx, ResourceType.TOPIC, name),
            partitions=tuple(_partition(partition_cls, image, i, topic.partitions[i])
                             for i in taken),
        ))
        if len(taken) < len(indexes):
            next_cursor = build(nested(cls, "Cursor"), topic_name=name,
                                partition_index=indexes[len(taken)])
            break
    return build(cls, throttle_time=timedelta(0), topics=tuple(topics), next_cursor=next_cursor)


def _partition(cls: type, image: MetadataImage, index: int, p: PartitionRegistration) -> Any:
    """As Metadata answers the partition, except that a partition without a leader is
    no error here (leader -1, error NONE, as Kafka's describeTopicResponse)."""
    fields = partition_fields(image, index, p)
    fields["error_code"] = ErrorCode.none
    return build(cls, eligible_leader_replicas=(), last_known_elr=(), **fields)
