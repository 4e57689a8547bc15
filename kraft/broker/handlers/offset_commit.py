"""OffsetCommit (key 8), versions 2-9: store a group's consumed positions.

Per partition, in Kafka's order: the topic and partition must exist
(UNKNOWN_TOPIC_OR_PARTITION, decided here from the metadata image); then the
coordinator checks the group (kraft.broker.group.api.commit_offsets):
COORDINATOR_NOT_AVAILABLE / NOT_COORDINATOR / COORDINATOR_LOAD_IN_PROGRESS;
a commit with a generation (>= 0), member id or group instance id must come
from a current member of the current generation (UNKNOWN_MEMBER_ID,
FENCED_INSTANCE_ID, ILLEGAL_GENERATION; REBALANCE_IN_PROGRESS while the
group awaits its assignment); without them ("simple" commits, generation
-1) only while the group is Empty, and a group that does not exist is
created for it. A commit for an unknown group with a generation is
ILLEGAL_GENERATION, or GROUP_ID_NOT_FOUND from v9. Metadata longer than
offset.metadata.max.bytes (4096) is OFFSET_METADATA_TOO_LARGE. The
offsets are written to `__consumer_offsets` with acks=all before the
answer; the metadata string is returned by OffsetFetch as committed (null
becomes ""). v2-v4's retention time sets an explicit expiry; v6+ carries the
leader epoch, v7+ the group instance id.

Not done: v10 (topic ids, KIP-848 era) is not served.
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

_MS = timedelta(milliseconds=1)


async def handle(
    broker: BrokerContext, ctx: RequestContext, header: RequestHeader, request: Any
) -> Any:
    image = broker.image
    answers: dict[tuple[str, int], ErrorCode] = {}
    entries: list[api.OffsetCommitEntry] = []
    # READ on the group (else every partition is GROUP_AUTHORIZATION_FAILED), then
    # READ on each topic, decided before whether it exists (Kafka's order).
    group_ok = broker.access.allowed(ctx, AclOperation.READ, ResourceType.GROUP,
                                     request.group_id)
    readable = broker.access.checker(ctx, AclOperation.READ)
    for topic in request.topics:
        known = image.topics.by_name.get(topic.name)
        for p in topic.partitions:
            if not group_ok:
                answers[(topic.name, p.partition_index)] = ErrorCode.group_authorization_failed
            elif not readable(topic.name):
                answers[(topic.name, p.partition_index)] = ErrorCode.topic_authorization_failed
            elif known is None or p.partition_index not in known.partitions:
                answers[(topic.name, p.partition_index)] = ErrorCode.unknown_topic_or_partition
            else:
                entries.append(api.OffsetCommitEntry(
                    topic.name, p.partition_index, p.committed_offset,
                    getattr(p, "committed_leader_epoch", -1), p.committed_metadata))
    retention = getattr(request, "retention_time", None)
    if entries:
        errors = await api.commit_offsets(
            broker.group_coordinator,
            request.group_id,
            member_id=request.member_id,
            group_instance_id=getattr(request, "group_instance_id", None),
            generation_id=request.generation_id_or_member_epoch,
            retention_ms=-1 if retention is None else retention // _MS,
            entries=entries,
            api_version=header.api_version,
        )
        for entry, error in zip(entries, errors, strict=True):
            answers[(entry.topic, entry.partition)] = error
    cls = response_class(header)
    topic_cls = nested(cls, "OffsetCommitResponseTopic")
    partition_cls = nested(cls, "OffsetCommitResponsePartition")
    return build(cls, throttle_time=timedelta(0), topics=tuple(
        build(topic_cls, name=topic.name, partitions=tuple(
            build(partition_cls, partition_index=p.partition_index,
                  error_code=answers[(topic.name, p.partition_index)])
            for p in topic.partitions))
        for topic in request.topics
    ))
