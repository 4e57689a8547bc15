"""OffsetForLeaderEpoch (key 23), versions 2-4: where a leader epoch ends.

Consumers use it to validate their position after a leader change (KIP-320;
librdkafka sends v2 when Metadata reports leader epochs); followers use it
with their replica id (v3+). Per partition: UNKNOWN_TOPIC_OR_PARTITION,
NOT_LEADER_OR_FOLLOWER unless led here, FENCED_LEADER_EPOCH /
UNKNOWN_LEADER_EPOCH for a current leader epoch older / newer than ours; then
the leader epoch cache's answer (Kafka's endOffsetFor): the largest epoch at
or below the requested one and the offset where it ends (the log end offset
for the current epoch), or (-1, -1) for an epoch above every known one.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from kio.schema.errors import ErrorCode

from kraft.broker.context import BrokerContext
from kraft.net.codec import RequestHeader
from kraft.net.messages import build, nested, response_class
from kraft.net.registry import RequestContext
from kraft.security.acl import AclOperation


async def handle(
    broker: BrokerContext, ctx: RequestContext, header: RequestHeader, request: Any
) -> Any:
    cls = response_class(header)
    topic_cls = nested(cls, "OffsetForLeaderTopicResult")
    partition_cls = nested(cls, "EpochEndOffset")
    image = broker.image
    topics = []
    # CLUSTER_ACTION (followers), else DESCRIBE on each topic (consumers, KIP-320).
    describable = (_everything if broker.access.cluster(ctx, AclOperation.CLUSTER_ACTION)
                   else broker.access.checker(ctx, AclOperation.DESCRIBE))
    for t in request.topics:
        topic = image.topics.by_name.get(t.topic)
        partitions = []
        for p in t.partitions:
            error, epoch, end_offset = ErrorCode.none, -1, -1
            partition = (
                broker.replica_manager.get_by_id(topic.topic_id, p.partition)
                if topic is not None and p.partition in topic.partitions else None
            )
            if not describable(t.topic):
                error = ErrorCode.topic_authorization_failed
            elif topic is None or p.partition not in topic.partitions:
                error = ErrorCode.unknown_topic_or_partition
            elif partition is None or not partition.is_leader:
                error = ErrorCode.not_leader_or_follower
            elif (epoch_error := partition.leader_epoch_error(p.current_leader_epoch)) is not None:
                error = epoch_error
            else:
                epoch, end_offset = partition.log.end_offset_for_epoch(p.leader_epoch)
            partitions.append(build(partition_cls, error_code=error, partition=p.partition,
                                    leader_epoch=epoch, end_offset=end_offset))
        topics.append(build(topic_cls, topic=t.topic, partitions=tuple(partitions)))
    return build(cls, throttle_time=timedelta(0), topics=tuple(topics))


def _everything(name: str) -> bool:
    return True
