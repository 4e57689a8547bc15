"""DeleteRecords (key 21), versions 0-2: move a partition's log start offset up
(KIP-107; AdminClient.delete_records, `kafka-delete-records.sh`).

Clients send it to each partition's leader. Per partition, in Kafka's order
(ReplicaManager.deleteRecords and Partition.deleteRecordsOnLeader):

1. the topic and partition exist, else UNKNOWN_TOPIC_OR_PARTITION;
2. the topic is not internal (`__consumer_offsets`), else
   INVALID_TOPIC_EXCEPTION ("Cannot delete records of internal topic");
3. this broker leads it, else NOT_LEADER_OR_FOLLOWER;
4. its cleanup.policy includes delete, else POLICY_VIOLATION (a compacted
   topic keeps its keys);
5. the offset is -1 (meaning the high watermark) or in [0, high watermark],
   else OFFSET_OUT_OF_RANGE.

Records below the offset become unreadable at once and segments wholly below
it are deleted. The answer waits, up to the request's timeout, until every
in-sync follower reports a log start offset at least the requested offset
(followers learn it from fetch responses and report theirs in fetch
requests; right after a leader change a follower counts as unknown until it
fetches), and carries the low watermark: the lowest log start offset over
the leader and its ISR. The partitions of one request are waited for
together, as one delayed operation in the broker's purgatory (Kafka's
DelayedDeleteRecords). A partition still waiting at the timeout answers
REQUEST_TIMED_OUT with the low watermark it had when its records were
deleted (they are deleted on the leader all the same, as in Kafka); one that
loses leadership meanwhile answers NOT_LEADER_OR_FOLLOWER, one removed from
this broker UNKNOWN_TOPIC_OR_PARTITION if its topic is gone. An offset at or
below the current log start offset deletes nothing and waits the same way.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import trio
from kio.schema.errors import ErrorCode

from kraft.broker.context import BrokerContext
from kraft.broker.internal_topics import INTERNAL_TOPICS
from kraft.broker.partition import Partition
from kraft.log.errors import OffsetOutOfRangeError
from kraft.net.codec import RequestHeader
from kraft.net.messages import build, nested, response_class
from kraft.net.server import Deferred, RequestContext
from kraft.security.acl import AclOperation

HIGH_WATERMARK = -1  # DeleteRecordsRequest.HIGH_WATERMARK


class _Outcome:
    __slots__ = ("error", "low_watermark", "partition", "target")

    def __init__(self, error: ErrorCode, partition: Partition | None = None,
                 target: int = -1) -> None:
        self.error = error
        self.partition = partition  # set while the answer waits for followers
        self.target = target
        self.low_watermark = -1


async def handle(
    broker: BrokerContext, ctx: RequestContext, header: RequestHeader, request: Any
) -> Any:
    deletable = broker.access.checker(ctx, AclOperation.DELETE)
    outcomes = [(t.name, [(p.partition_index,
                           _delete(broker, t.name, p.partition_index, p.offset)
                           if deletable(t.name)
                           else _Outcome(ErrorCode.topic_authorization_failed))
                          for p in t.partitions])
                for t in request.topics]
    waiting = [o for _, results in outcomes for _, o in results if o.partition is not None]
    if not waiting:
        return _response(header, outcomes)

    keys = [o.partition.key for o in waiting if o.partition is not None]

    def try_complete() -> bool:
        for outcome in waiting:
            _check_low_watermark(broker, outcome)
        return all(o.partition is None for o in waiting)

    async def replicated() -> Any:
        deadline = trio.current_time() + max(request.timeout.total_seconds(), 0)
        await broker.replica_manager.purgatory.wait(keys, try_complete, deadline)
        for outcome in waiting:
            if outcome.partition is not None:  # still waiting at the timeout
                outcome.error = ErrorCode.request_timed_out
        return _response(header, outcomes)

    # The deletion is done, in request order; the connection goes on while the
    # answer waits for the followers.
    return Deferred(replicated)


def _delete(broker: BrokerContext, name: str, index: int, offset: int) -> _Outcome:
    """Steps 1-5 of the module doc; on success the outcome waits for followers."""
    topic = broker.image.topics.by_name.get(name)
    if topic is None or index not in topic.partitions:
        return _Outcome(ErrorCode.unknown_topic_or_partition)
    if name in INTERNAL_TOPICS:
        return _Outcome(ErrorCode.invalid_topic_exception)
    partition = broker.replica_manager.get_by_id(topic.topic_id, index)
    if partition is None or not partition.is_leader:
        return _Outcome(ErrorCode.not_leader_or_follower)
    if not partition.log.config.delete:
        return _Outcome(ErrorCode.policy_violation)
    target = partition.high_watermark if offset == HIGH_WATERMARK else offset
    try:
        partition.delete_records_before(target)
    except OffsetOutOfRangeError:
        return _Outcome(ErrorCode.offset_out_of_range)
    outcome = _Outcome(ErrorCode.none, partition, target)
    outcome.low_watermark = partition.low_watermark  # answered if the wait times out
    return outcome


def _check_low_watermark(broker: BrokerContext, outcome: _Outcome) -> None:
    """Settle `outcome` (clearing its partition) once the low watermark reaches its
    target or the partition is no longer led here."""
    partition = outcome.partition
    if partition is None:
        return
    if (partition.is_leader and not partition.closed
            and partition.low_watermark < outcome.target):
        return
    if partition.closed:
        outcome.error = (ErrorCode.not_leader_or_follower
                         if partition.topic in broker.image.topics.by_name
                         else ErrorCode.unknown_topic_or_partition)
    elif partition.is_leader:
        outcome.low_watermark = partition.low_watermark
    else:
        outcome.error = ErrorCode.not_leader_or_follower
    outcome.partition = None


def _response(header: RequestHeader, outcomes: list[tuple[str, list[tuple[int, _Outcome]]]]
              ) -> Any:
    cls = response_class(header)
    topic_cls = nested(cls, "DeleteRecordsTopicResult")
    partition_cls = nested(cls, "DeleteRecordsPartitionResult")
    return build(cls, throttle_time=timedelta(0), topics=tuple(
        build(topic_cls, name=name, partitions=tuple(
            build(partition_cls, partition_index=index, low_watermark=o.low_watermark,
                  error_code=o.error)
            for index, o in results))
        for name, results in outcomes
    ))
