"""WriteTxnMarkers (key 27), version 1 (Kafka 4.x serves 0-1; kio decodes 1+):
the transaction coordinator ends a transaction on the partitions it spans
(KIP-98; Kafka's KafkaApis.handleWriteTxnMarkersRequest).

An inter-broker API: the coordinator of a transactional id sends it to each
partition leader. Per marker and partition, in Kafka's order: the topic and
partition exist, else UNKNOWN_TOPIC_OR_PARTITION; this broker leads it, else
NOT_LEADER_OR_FOLLOWER; the ISR has at least min.insync.replicas members,
else NOT_ENOUGH_REPLICAS. The partition then appends a control batch
(log.control) with the producer's id and epoch, unless the producer epoch is
older than the partition last saw (INVALID_PRODUCER_EPOCH) or the coordinator
epoch older than that of the last marker (TRANSACTION_COORDINATOR_FENCED):
a zombie coordinator or a late retry writes nothing. Internal topics accept
markers (`__consumer_offsets` carries transactional offset commits: once its
marker is replicated the group coordinator applies or drops them).

As Kafka's (acks=-1) the answer waits until every appended marker is below
the high watermark, as one delayed operation in the broker's purgatory, or
answers NOT_LEADER_OR_FOLLOWER / NOT_ENOUGH_REPLICAS_AFTER_APPEND /
REQUEST_TIMED_OUT (after Kafka's request.timeout.ms default, 30 s).

Not done: the CLUSTER_ACTION authorization Kafka requires (any client may
send it today; the security work adds the caller check).
"""

from __future__ import annotations

import time
from typing import Any

import trio
from kio.schema.errors import ErrorCode

from kraft.broker.context import BrokerContext
from kraft.broker.internal_topics import GROUP_METADATA_TOPIC
from kraft.broker.partition import Partition
from kraft.net.codec import RequestHeader
from kraft.net.messages import build, nested, response_class
from kraft.net.server import Deferred, RequestContext
from kraft.security.acl import AclOperation

REQUEST_TIMEOUT_S = 30.0  # Kafka's request.timeout.ms default, which it waits here


class _Outcome:
    __slots__ = ("commit", "error", "partition", "producer_id", "wait_offset", "written")

    def __init__(self, error: ErrorCode, partition: Partition | None = None,
                 wait_offset: int = -1) -> None:
        self.error = error
        self.partition = partition  # set while the answer waits for the ISR
        self.written = partition  # the partition, once its marker was appended
        self.wait_offset = wait_offset
        self.producer_id = -1
        self.commit = False


Results = list[tuple[int, list[tuple[str, list[tuple[int, _Outcome]]]]]]


async def handle(
    broker: BrokerContext, ctx: RequestContext, header: RequestHeader, request: Any
) -> Any:
    now_ms = time.time_ns() // 1_000_000
    results: Results = []
    # Only brokers write markers: CLUSTER_ACTION, else every partition is
    # CLUSTER_AUTHORIZATION_FAILED (Kafka's authorizeClusterOperation).
    allowed = broker.access.cluster(ctx, AclOperation.CLUSTER_ACTION)
    if not allowed:
        broker.access.log_denied_node(ctx, "WriteTxnMarkers")
    for marker in request.markers:
        topics = []
        for topic in marker.topics:
            topics.append((topic.name, [
                (index, _write(broker, marker, topic.name, index, now_ms) if allowed
                 else _Outcome(ErrorCode.cluster_authorization_failed))
                for index in topic.partition_indexes
            ]))
        results.append((marker.producer_id, topics))
    waiting = [o for _, topics in results for _, parts in topics for _, o in parts
               if o.partition is not None]
    if not waiting:
        return _response(header, results)
    offsets = [o for o in waiting if o.written is not None
               and o.written.topic == GROUP_METADATA_TOPIC]
    keys = [o.partition.key for o in waiting if o.partition is not None]

    def try_complete() -> bool:
        for outcome in waiting:
            _check_replicated(outcome)
        return all(o.partition is None for o in waiting)

    async def replicated() -> Any:
        deadline = trio.current_time() + REQUEST_TIMEOUT_S
        await broker.replica_manager.purgatory.wait(keys, try_complete, deadline)
        for outcome in waiting:
            if outcome.partition is not None:
                outcome.error = ErrorCode.request_timed_out
                outcome.partition = None
        for outcome in offsets:  # the group coordinator applies or drops the offsets
            if outcome.error == ErrorCode.none and outcome.written is not None:
                broker.group_coordinator.complete_transaction(
                    outcome.written.partition, outcome.producer_id, outcome.commit)
        return _response(header, results)

    return Deferred(replicated)


def _write(broker: BrokerContext, marker: Any, name: str, index: int, now_ms: int) -> _Outcome:
    topic = broker.image.topics.by_name.get(name)
    if topic is None or index not in topic.partitions:
        return _Outcome(ErrorCode.unknown_topic_or_partition)
    partition = broker.replica_manager.get_by_id(topic.topic_id, index)
    if partition is None or not partition.is_leader:
        return _Outcome(ErrorCode.not_leader_or_follower)
    if len(partition.isr) < partition.min_insync_replicas:
        return _Outcome(ErrorCode.not_enough_replicas)
    info = partition.append_marker(
        marker.producer_id, marker.producer_epoch, marker.coordinator_epoch,
        bool(marker.transaction_result), now_ms)
    error = ErrorCode(int(info.error_code))
    if error != ErrorCode.none:
        return _Outcome(error)
    outcome = _Outcome(ErrorCode.none, partition, info.last_offset)
    outcome.producer_id = marker.producer_id
    outcome.commit = bool(marker.transaction_result)
    return outcome


def _check_replicated(outcome: _Outcome) -> None:
    """Settle `outcome` once its marker is below the high watermark, or the
    partition is no longer led here, or its ISR fell below min.insync.replicas."""
    partition = outcome.partition
    if partition is None:
        return
    too_few = len(partition.isr) < partition.min_insync_replicas
    if partition.high_watermark > outcome.wait_offset:
        if too_few:
            outcome.error = ErrorCode.not_enough_replicas_after_append
    elif not partition.is_leader:
        outcome.error = ErrorCode.not_leader_or_follower
    elif too_few:
        outcome.error = ErrorCode.not_enough_replicas_after_append
    else:
        return
    outcome.partition = None


def _response(header: RequestHeader, results: Results) -> Any:
    cls = response_class(header)
    marker_cls = nested(cls, "WritableTxnMarkerResult")
    topic_cls = nested(cls, "WritableTxnMarkerTopicResult")
    partition_cls = nested(cls, "WritableTxnMarkerPartitionResult")
    return build(cls, markers=tuple(
        build(marker_cls, producer_id=producer_id, topics=tuple(
            build(topic_cls, name=name, partitions=tuple(
                build(partition_cls, partition_index=index, error_code=o.error)
                for index, o in parts))
            for name, parts in topics))
        for producer_id, topics in results))
