"""OffsetFetch (key 9), versions 1-9: a group's committed offsets.

For the partitions asked, or (v2+, topics null) for every partition the
group has committed: the offset, its leader epoch (v5+) and metadata as
committed; -1 and "" where nothing is committed, also for unknown groups
and topics (no error, as Kafka). v2+ report group errors at the top level
(v1 in every partition); v8+ ask for several groups at once, each answered
on its own (KIP-709); v9's member id and epoch belong to KIP-848 groups and
are ignored for classic groups, as Kafka does. With require_stable (v7+)
the answer waits for commits still being replicated (Kafka 4 waits too),
and a partition with a transactional commit not yet decided by its marker
(TxnOffsetCommit, KIP-447) answers UNSTABLE_OFFSET_COMMIT, which the
consumer retries.

Errors (per group): COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR,
COORDINATOR_LOAD_IN_PROGRESS.

Not done: v10 (topic ids) is not served.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from kio.schema.errors import ErrorCode

from kraft.broker.context import BrokerContext
from kraft.broker.group import api
from kraft.broker.group.records import OffsetCommitValue
from kraft.net.codec import RequestHeader
from kraft.net.messages import build, nested, response_class
from kraft.net.registry import RequestContext
from kraft.security.acl import AclOperation, ResourceType

BATCHED_FROM = 8
TopicPartition = tuple[str, int]


async def handle(
    broker: BrokerContext, ctx: RequestContext, header: RequestHeader, request: Any
) -> Any:
    version = header.api_version
    cls = response_class(header)
    stable = getattr(request, "require_stable", False)
    if version < BATCHED_FROM:
        error, topics = await _fetch(broker, ctx, request.group_id, request.topics, stable,
                                     cls, version)
        return build(cls, throttle_time=timedelta(0), error_code=error, topics=topics)
    group_cls = nested(cls, "OffsetFetchResponseGroup")
    groups = []
    for group in request.groups:
        error, topics = await _fetch(broker, ctx, group.group_id, group.topics, stable, cls,
                                     version)
        groups.append(build(group_cls, group_id=group.group_id, error_code=error, topics=topics))
    return build(cls, throttle_time=timedelta(0), groups=tuple(groups))


async def _fetch(
    broker: BrokerContext,
    ctx: RequestContext,
    group_id: str,
    topics: Any,
    require_stable: bool,
    cls: Any,
    version: int,
) -> tuple[ErrorCode, tuple[Any, ...]]:
    """(group error, response topics) for one group."""
    batched = version >= BATCHED_FROM
    topic_cls = nested(cls, "OffsetFetchResponseTopics" if batched else "OffsetFetchResponseTopic")
    partition_cls = nested(cls, "OffsetFetchResponsePartitions" if batched
                           else "OffsetFetchResponsePartition")
    wanted: list[TopicPartition] | None = None
    if topics is not None:
        wanted = [(t.name, p) for t in topics for p in t.partition_indexes]
    # DESCRIBE on the group, then on each topic: topics asked for and denied are
    # TOPIC_AUTHORIZATION_FAILED, denied ones are left out of "all topics" (Kafka's).
    if not broker.access.allowed(ctx, AclOperation.DESCRIBE, ResourceType.GROUP, group_id):
        if version >= 2:
            return ErrorCode.group_authorization_failed, ()
        return ErrorCode.none, tuple(build(topic_cls, name=t.name, partitions=tuple(
            _partition(partition_cls, p, None, ErrorCode.group_authorization_failed)
            for p in t.partition_indexes)) for t in topics or ())
    describable = broker.access.checker(ctx, AclOperation.DESCRIBE)
    denied = [tp for tp in wanted or () if not describable(tp[0])]
    if denied:
        assert wanted is not None
        wanted = [tp for tp in wanted if describable(tp[0])]
    error, offsets = await api.fetch_offsets(broker.group_coordinator, group_id, wanted,
                                             require_stable=require_stable)
    if wanted is None:
        offsets = [(tp, value) for tp, value in offsets if describable(tp[0])]
    if error != ErrorCode.none:
        if version >= 2:
            return error, ()
        # v1 has no group error: every partition asked carries it.
        offsets = [(tp, None) for tp in wanted or ()]
    unstable = (api.unstable_partitions(broker.group_coordinator, group_id,
                                        [tp for tp, _ in offsets])
                if require_stable and error == ErrorCode.none else set())
    by_topic: dict[str, list[Any]] = {}
    for (topic, partition), value in offsets:
        if (topic, partition) in unstable:
            by_topic.setdefault(topic, []).append(_partition(
                partition_cls, partition, None, ErrorCode.unstable_offset_commit))
            continue
        by_topic.setdefault(topic, []).append(_partition(partition_cls, partition, value,
                                                         error if version < 2 else None))
    for topic, partition in denied:
        by_topic.setdefault(topic, []).append(_partition(
            partition_cls, partition, None, ErrorCode.topic_authorization_failed))
    return ErrorCode.none, tuple(build(topic_cls, name=name, partitions=tuple(parts))
                                 for name, parts in by_topic.items())


def _partition(
    partition_cls: Any, index: int, value: OffsetCommitValue | None, error: ErrorCode | None
) -> Any:
    return build(
        partition_cls,
        partition_index=index,
        committed_offset=-1 if value is None else value.offset,
        committed_leader_epoch=-1 if value is None else value.leader_epoch,
        metadata="" if value is None else value.metadata,
        error_code=error or ErrorCode.none,
    )
