"""ListOffsets (key 2), versions 1-11: offsets by timestamp for consumers.

Per partition, in Kafka's order: a partition named twice in one request is
INVALID_REQUEST (Kafka's duplicate check); an unsupported special timestamp
(below) is UNSUPPORTED_VERSION; then UNKNOWN_TOPIC_OR_PARTITION; this broker
must lead it (NOT_LEADER_OR_FOLLOWER); a current leader epoch (v4+) older than
ours is FENCED_LEADER_EPOCH, newer UNKNOWN_LEADER_EPOCH.

Timestamps: -2 earliest (and -4 earliest-local, v8+) is the log start offset; -1
latest is the high watermark (read_uncommitted) or the last stable offset
(read_committed, v2+), which are equal without transactions, with the current
leader epoch; -3 max timestamp (v7+) is the record with the largest timestamp;
-5 latest-tiered (v9+) and -6 earliest-pending-upload (v11+) have no answer
without tiered storage (offset -1); a special timestamp at a version older than
the one that introduced it, or any other negative timestamp, is
UNSUPPORTED_VERSION for that partition (Kafka's ReplicaManager); a real
timestamp finds the first record at or after it, with the epoch of that record
(not the current leader epoch: Redpanda's CORE-12505), and no answer (offset -1)
when it lies at or above the high watermark (the last stable offset for
read_committed).
Requests from a replica (replica_id >= 0) or the debugging id (-2) are not
bound by the high watermark: latest is the log end offset (Kafka's
isolation "none" for followers).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from kio.schema.errors import ErrorCode

from kraft.broker.context import BrokerContext
from kraft.broker.partition import Partition
from kraft.log.results import (
    EARLIEST_LOCAL_TIMESTAMP,
    EARLIEST_TIMESTAMP,
    LATEST_TIMESTAMP,
    MAX_TIMESTAMP,
)
from kraft.net.codec import RequestHeader
from kraft.net.messages import build, nested, response_class
from kraft.net.registry import RequestContext
from kraft.security.acl import AclOperation

LATEST_TIERED_TIMESTAMP = -5
EARLIEST_PENDING_UPLOAD_TIMESTAMP = -6
# The first version that may ask for each special timestamp (Kafka's
# ReplicaManager.timestampMinSupportedVersion): asked earlier, or any other
# negative timestamp, that partition is UNSUPPORTED_VERSION.
_SPECIAL_SINCE = {
    EARLIEST_TIMESTAMP: 1,
    LATEST_TIMESTAMP: 1,
    MAX_TIMESTAMP: 7,
    EARLIEST_LOCAL_TIMESTAMP: 8,
    LATEST_TIERED_TIMESTAMP: 9,
    EARLIEST_PENDING_UPLOAD_TIMESTAMP: 11,
}
CONSUMER = -1
READ_COMMITTED = 1


async def handle(
    broker: BrokerContext, ctx: RequestContext, header: RequestHeader, request: Any
) -> Any:
    cls = response_class(header)
    topic_cls = nested(cls, "ListOffsetsTopicResponse")
    partition_cls = nested(cls, "ListOffsetsPartitionResponse")
    image = broker.image
    topics = []
    describable = broker.access.checker(ctx, AclOperation.DESCRIBE)
    for topic_request in request.topics:
        topic = image.topics.by_name.get(topic_request.name)
        counts: dict[int, int] = {}
        for p in topic_request.partitions:
            counts[p.partition_index] = counts.get(p.partition_index, 0) + 1
        partitions = []
        for p in topic_request.partitions:
            error, timestamp, offset, epoch = ErrorCode.none, -1, -1, -1
            # Kafka's order: authorization, duplicates, unsupported timestamps, the topic.
            if not describable(topic_request.name):
                error = ErrorCode.topic_authorization_failed
            elif counts[p.partition_index] > 1:
                error = ErrorCode.invalid_request
            elif p.timestamp < 0 and header.api_version < _SPECIAL_SINCE.get(p.timestamp, 1 << 15):
                error = ErrorCode.unsupported_version
            elif topic is None or p.partition_index not in topic.partitions:
                error = ErrorCode.unknown_topic_or_partition
            else:
                partition = broker.replica_manager.get_by_id(topic.topic_id, p.partition_index)
                error, timestamp, offset, epoch = _lookup(
                    partition, p, request.replica_id,
                    getattr(request, "isolation_level", 0))  # v2+
            partitions.append(build(
                partition_cls, partition_index=p.partition_index, error_code=error,
                timestamp=timestamp, offset=offset, leader_epoch=epoch,
            ))
        topics.append(build(topic_cls, name=topic_request.name, partitions=tuple(partitions)))
    return build(cls, throttle_time=timedelta(0), topics=tuple(topics))


def _lookup(
    partition: Partition | None, p: Any, replica_id: int, isolation_level: int
) -> tuple[ErrorCode, int, int, int]:
    """(error, timestamp, offset, leader epoch) for one partition."""
    if partition is None or not partition.is_leader:
        return ErrorCode.not_leader_or_follower, -1, -1, -1
    epoch_error = partition.leader_epoch_error(getattr(p, "current_leader_epoch", -1))
    if epoch_error is not None:
        return epoch_error, -1, -1, -1
    timestamp = p.timestamp
    if replica_id != CONSUMER:
        bound = partition.log_end_offset
    elif isolation_level == READ_COMMITTED:
        bound = partition.last_stable_offset
    else:
        bound = partition.high_watermark
    if timestamp == LATEST_TIMESTAMP:
        return ErrorCode.none, -1, bound, partition.leader_epoch
    if timestamp in (LATEST_TIERED_TIMESTAMP, EARLIEST_PENDING_UPLOAD_TIMESTAMP):
        return ErrorCode.none, -1, -1, -1  # no tiered storage: nothing uploaded
    found = partition.log.offset_for_timestamp(timestamp)
    if found is None or (timestamp >= 0 and found.offset >= bound):
        return ErrorCode.none, -1, -1, -1
    epoch = found.leader_epoch if found.leader_epoch is not None else -1
    return ErrorCode.none, found.timestamp, found.offset, epoch
