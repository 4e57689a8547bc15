"""OffsetDelete (key 47), version 0: delete a group's committed offsets (KIP-496).

Partitions of unknown topics are UNKNOWN_TOPIC_OR_PARTITION. Then, for the
group (kraft.broker.group.api.delete_offsets, Kafka 4's rules):
INVALID_GROUP_ID for "", GROUP_ID_NOT_FOUND if it does not exist,
NON_EMPTY_GROUP if it has members and does not use the consumer protocol;
a consumer group with members may lose offsets only of topics it no longer
subscribes to (GROUP_SUBSCRIBED_TO_TOPIC otherwise). Tombstones are written
to `__consumer_offsets` with acks=all before the answer. A group-level error
is answered alone at the top level, beside the unknown-topic partitions.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from kio.schema.errors import ErrorCode

from kraft.broker.context import BrokerContext
from kraft.broker.group import api
from kraft.net.codec import RequestHeader
from kraft.net.messages import build, nested, response_class
from kraft.net.registry import RequestContext
from kraft.security.acl import AclOperation, ResourceType


async def handle(
    broker: BrokerContext, ctx: RequestContext, header: RequestHeader, request: Any
) -> Any:
    image = broker.image
    cls = response_class(header)
    if not broker.access.allowed(ctx, AclOperation.DELETE, ResourceType.GROUP,
                                 request.group_id):
        return build(cls, error_code=ErrorCode.group_authorization_failed,
                     throttle_time=timedelta(0), topics=())
    readable = broker.access.checker(ctx, AclOperation.READ)
    answers: dict[tuple[str, int], ErrorCode] = {}
    valid: list[tuple[str, int]] = []
    for topic in request.topics:
        known = image.topics.by_name.get(topic.name)
        for p in topic.partitions:
            tp = (topic.name, p.partition_index)
            if not readable(topic.name):
                answers[tp] = ErrorCode.topic_authorization_failed
            elif known is None or p.partition_index not in known.partitions:
                answers[tp] = ErrorCode.unknown_topic_or_partition
            else:
                valid.append(tp)
    error = ErrorCode.none
    if valid:
        error, errors = await api.delete_offsets(broker.group_coordinator, request.group_id,
                                                 valid)
        answers.update(zip(valid, errors, strict=False))
    topic_cls = nested(cls, "OffsetDeleteResponseTopic")
    partition_cls = nested(cls, "OffsetDeleteResponsePartition")
    topics = []
    for topic in request.topics:
        partitions = tuple(build(partition_cls, partition_index=p.partition_index,
                                 error_code=answers[(topic.name, p.partition_index)])
                           for p in topic.partitions if (topic.name, p.partition_index) in answers)
        if partitions:
            topics.append(build(topic_cls, name=topic.name, partitions=partitions))
    return build(cls, error_code=error, throttle_time=timedelta(0), topics=tuple(topics))
