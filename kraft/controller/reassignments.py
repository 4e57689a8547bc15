"""AlterPartitionReassignments (key 45) v0-1 and ListPartitionReassignments (key 46) v0:
moving a partition's replicas between brokers (KIP-455; Kafka's
ReplicationControlManager.alterPartitionReassignments and
listPartitionReassignments).

Theory of operation: a reassignment is *target replicas* for a partition.
Starting one writes a PartitionChangeRecord that grows the replica set to the
target followed by the current replicas not in it (so the target's first
replica is preferred), with `adding` = target - current and `removing` =
current - target; the leader and ISR stay. "Current" is the whole replica
set, also while another reassignment is in progress (Kafka's
PartitionReassignmentReplicas), so a replica that was being added and is not
in the new target becomes a removing one: it keeps its data, and its place in
the ISR, until the new reassignment completes. New replicas open the partition
and fetch from the leader like any follower; the leader adds each to the ISR
once caught up (AlterPartition). `build_partition_change` completes the
reassignment in whichever change puts the last adding replica in the ISR
(at once when nothing is added): replicas become the target, removing
replicas leave the ISR, the leader is elected again if it was removed, and
the leader epoch is bumped; brokers no longer replicas delete their copy.

Per partition, in Kafka's order: unknown topic or partition is
UNKNOWN_TOPIC_OR_PARTITION; a target that is empty, has duplicates or names
an unregistered broker is INVALID_REPLICA_ASSIGNMENT; v1 with
allow_replication_factor_change false and a target of another size than the
current replicas is INVALID_REPLICATION_FACTOR. Null target replicas cancel:
NO_REASSIGNMENT_IN_PROGRESS if there is none, else the replica set reverts
to the current replicas minus the adding ones (in their current order, as
Kafka's PartitionReassignmentRevert), the ISR keeps only those
replicas, and if none of them is in the ISR the cancel is refused with
INVALID_REPLICA_ASSIGNMENT unless unclean leader election is enabled for
the topic. A target equal to the current replicas with nothing in progress
changes nothing.

ListPartitionReassignments reports partitions with adding or removing
replicas (all topics when the request names none), each with its full
replica set.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any, Final

from kio.schema.errors import ErrorCode

from kraft.controller.partition_change import (
    build_partition_change,
    is_acceptable_leader,
    unclean_election_enabled,
)
from kraft.controller.result import ControllerContext, ControllerResult
from kraft.metadata.image import MetadataImage, PartitionRegistration
from kraft.metadata.records import PartitionChangeRecord
from kraft.net.api_keys import ApiKey
from kraft.net.codec import response_type
from kraft.net.messages import build, nested

__all__ = ["alter_partition_reassignments", "list_partition_reassignments", "start_reassignment"]

_NO_THROTTLE: Final = timedelta(0)


def _original(partition: PartitionRegistration) -> tuple[int, ...]:
    """The replicas before the reassignment in progress (all of them if none is)."""
    return tuple(r for r in partition.replicas if r not in partition.adding_replicas)


def _invalid_target(image: MetadataImage, target: Sequence[int]) -> str | None:
    if not target:
        return "The manual partition assignment includes an empty replica list."
    if len(set(target)) != len(target):
        twice = next(b for b in target if target.count(b) > 1)
        return f"The manual partition assignment includes the broker {twice} more than once."
    for broker_id in target:
        if broker_id not in image.cluster.brokers:
            return (f"The manual partition assignment includes broker {broker_id}, but no "
                    f"such broker is registered.")
    return None


def _reassign(
    image: MetadataImage, name: str, topic_id: Any, partition_id: int,
    partition: PartitionRegistration, target: Sequence[int], ctx: ControllerContext,
) -> tuple[ErrorCode, str | None, PartitionChangeRecord | None]:
    current = partition.replicas
    replicas = tuple(target) + tuple(r for r in current if r not in target)
    # Adding: target replicas that were not replicas before any reassignment in
    # progress (so one still being added stays so); removing: every current
    # replica outside the target, including ones still being added.
    adding = tuple(r for r in target if r not in _original(partition))
    removing = tuple(r for r in current if r not in target)
    record = build_partition_change(
        topic_id, partition_id, partition, lambda b: is_acceptable_leader(image, b),
        target_replicas=replicas, target_adding=adding, target_removing=removing,
        unclean=unclean_election_enabled(image, name, ctx.config),
    )
    return ErrorCode.none, None, record


def start_reassignment(
    image: MetadataImage, name: str, topic_id: Any, partition_id: int,
    partition: PartitionRegistration, target: Sequence[int], ctx: ControllerContext,
) -> PartitionChangeRecord | None:
    """The record that starts moving `partition` to `target`, for the controller's own
    reassignments (kraft.controller.balancer); None if `target` is not a valid
    assignment or changes nothing."""
    if _invalid_target(image, target) is not None:
        return None
    return _reassign(image, name, topic_id, partition_id, partition, target, ctx)[2]


def _cancel(
    image: MetadataImage, name: str, topic_id: Any, partition_id: int,
    partition: PartitionRegistration, ctx: ControllerContext,
) -> tuple[ErrorCode, str | None, PartitionChangeRecord | None]:
    if not partition.adding_replicas and not partition.removing_replicas:
        return ErrorCode.no_reassignment_in_progress, None, None
    original = _original(partition)
    isr = tuple(r for r in partition.isr if r in original)
    unclean = unclean_election_enabled(image, name, ctx.config)
    if not isr and not unclean:
        return (ErrorCode.invalid_replica_assignment,
                f"Unable to revert partition assignment for {name}:{partition_id} because "
                f"it would require an unclean leader election.", None)
    record = build_partition_change(
        topic_id, partition_id, partition, lambda b: is_acceptable_leader(image, b),
        target_replicas=original, target_adding=(), target_removing=(),
        target_isr=isr, unclean=unclean,
    )
    return ErrorCode.none, None, record


def alter_partition_reassignments(
    image: MetadataImage, request: Any, version: int, ctx: ControllerContext
) -> ControllerResult[Any]:
    """Start or cancel reassignments (see module doc); records apply in request order."""
    cls = response_type(ApiKey.ALTER_PARTITION_REASSIGNMENTS, version)
    assert cls is not None
    topic_cls = nested(cls, "ReassignableTopicResponse")
    partition_cls = nested(cls, "ReassignablePartitionResponse")
    allow_rf_change = getattr(request, "allow_replication_factor_change", True)
    records: list[PartitionChangeRecord] = []
    changed: dict[tuple[Any, int], PartitionRegistration] = {}
    topics_out = []
    for t in request.topics:
        topic = image.topics.by_name.get(t.name)
        partitions_out = []
        for p in t.partitions:
            code: ErrorCode = ErrorCode.none
            message: str | None = None
            partition = None
            if topic is not None:
                partition = changed.get((topic.topic_id, p.partition_index)) or \
                    topic.partitions.get(p.partition_index)
            if topic is None:
                code = ErrorCode.unknown_topic_or_partition
                message = f"Unable to find a topic named {t.name}."
            elif partition is None:
                code = ErrorCode.unknown_topic_or_partition
                message = f"Unable to find partition {t.name}:{p.partition_index}."
            elif p.replicas is None:
                code, message, record = _cancel(image, t.name, topic.topic_id,
                                                p.partition_index, partition, ctx)
                if record is not None:
                    records.append(record)
                    changed[(topic.topic_id, p.partition_index)] = partition.merge(record)
            elif (problem := _invalid_target(image, p.replicas)) is not None:
                code, message = ErrorCode.invalid_replica_assignment, problem
            elif not allow_rf_change and len(p.replicas) != len(_original(partition)):
                code = ErrorCode.invalid_replication_factor
                message = (f"The replication factor is changed from "
                           f"{len(_original(partition))} to {len(p.replicas)}")
            else:
                code, message, record = _reassign(image, t.name, topic.topic_id,
                                                  p.partition_index, partition, p.replicas, ctx)
                if record is not None:
                    records.append(record)
                    changed[(topic.topic_id, p.partition_index)] = partition.merge(record)
            partitions_out.append(build(partition_cls, partition_index=p.partition_index,
                                        error_code=code, error_message=message))
        topics_out.append(build(topic_cls, name=t.name, partitions=tuple(partitions_out)))
    return ControllerResult(tuple(records), build(
        cls, throttle_time=_NO_THROTTLE, error_code=ErrorCode.none, error_message=None,
        allow_replication_factor_change=allow_rf_change, responses=tuple(topics_out)))


def _ongoing(image: MetadataImage, request: Any
             ) -> Iterator[tuple[str, list[tuple[int, PartitionRegistration]]]]:
    if request.topics is None:
        wanted = [(name, sorted(topic.partitions)) for name, topic
                  in sorted(image.topics.by_name.items())]
    else:
        wanted = [(t.name, list(t.partition_indexes)) for t in request.topics]
    for name, indexes in wanted:
        topic = image.topics.by_name.get(name)
        if topic is None:
            continue
        found = [(i, topic.partitions[i]) for i in indexes if i in topic.partitions
                 and (topic.partitions[i].adding_replicas
                      or topic.partitions[i].removing_replicas)]
        if found:
            yield name, found


def list_partition_reassignments(
    image: MetadataImage, request: Any, version: int, ctx: ControllerContext
) -> ControllerResult[Any]:
    """The reassignments in progress (see module doc); writes nothing."""
    cls = response_type(ApiKey.LIST_PARTITION_REASSIGNMENTS, version)
    assert cls is not None
    topic_cls = nested(cls, "OngoingTopicReassignment")
    partition_cls = nested(cls, "OngoingPartitionReassignment")
    return ControllerResult((), build(
        cls, throttle_time=_NO_THROTTLE, error_code=ErrorCode.none, error_message=None,
        topics=tuple(
            build(topic_cls, name=name, partitions=tuple(
                build(partition_cls, partition_index=i, replicas=p.replicas,
                      adding_replicas=p.adding_replicas, removing_replicas=p.removing_replicas)
                for i, p in found))
            for name, found in _ongoing(image, request)
        )))
