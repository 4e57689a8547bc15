"""AlterPartition (key 56) v2-3: a partition leader asks the controller to change its ISR
(Kafka's ReplicationControlManager.alterPartition and validateAlterPartitionData).

Theory of operation: the leader proposes a whole new ISR together with the
leader epoch and partition epoch it based the proposal on. The controller
accepts it only if the leader's view is current, so concurrent changes (a new
leader elected, a broker fenced) win over a stale proposal, and writes one
PartitionChangeRecord through `build_partition_change` (an ISR change never
bumps the leader epoch; an unchanged ISR writes nothing). The response carries
the partition as it is after the change, so the leader can adopt the new
partition epoch.

Checks, in Kafka's order (the first failing one answers):

1. the sender's broker epoch matches its registration, else the whole
   response is STALE_BROKER_EPOCH with no topics (also for an unknown sender,
   as Kafka's checkBrokerEpoch);
2. the topic id is known, else UNKNOWN_TOPIC_ID for each of its partitions;
3. the partition exists, else UNKNOWN_TOPIC_OR_PARTITION;
4. a leader epoch or partition epoch *newer* than the controller's means this
   controller is behind: NOT_CONTROLLER, so the leader finds the real one;
5. an older leader epoch: FENCED_LEADER_EPOCH;
6. the sender is not the leader: INVALID_REQUEST;
7. an older partition epoch: INVALID_UPDATE_VERSION;
8. the ISR has duplicates, negative ids or non-replicas, or lacks the leader:
   INVALID_REQUEST; so does more than one member while RECOVERING, or going
   from RECOVERED back to RECOVERING;
9. a member that is not registered, in controlled shutdown, fenced, or (v3,
   when the request gives an epoch other than -1) has another broker epoch
   (KIP-903): INELIGIBLE_REPLICA.

Failed partitions carry Kafka's defaults besides the error (leader 0, epochs
0, empty ISR). The leader is in the new ISR and eligible, hence kept by the
election, unless the ISR change completes a reassignment that removes it
(kraft.controller.reassignments): then the record is written and the answer
is NEW_LEADER_ELECTED, as in Kafka.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Final

from kio.schema.errors import ErrorCode

from kraft.controller.partition_change import (
    RECOVERED,
    RECOVERING,
    build_partition_change,
    is_acceptable_leader,
    unclean_election_enabled,
)
from kraft.controller.result import ControllerContext, ControllerResult
from kraft.metadata.image import MetadataImage, PartitionRegistration
from kraft.metadata.records import PartitionChangeRecord
from kraft.net.api_keys import ApiKey
from kraft.net.codec import response_type
from kraft.net.messages import build, has_field, nested

__all__ = ["alter_partition"]


_NO_THROTTLE: Final = timedelta(0)


def _proposed_isr(partition_data: Any) -> list[tuple[int, int]]:
    """(broker id, broker epoch) for each proposed ISR member; v2 has no epochs (-1)."""
    if has_field(type(partition_data), "new_isr_with_epochs"):
        return [(m.broker_id, m.broker_epoch) for m in partition_data.new_isr_with_epochs]
    return [(broker_id, -1) for broker_id in partition_data.new_isr]


def _valid_isr(replicas: Sequence[int], isr: Sequence[int]) -> bool:
    """Kafka's Replicas.validateIsr: distinct, non-negative replica ids."""
    return len(set(isr)) == len(isr) and all(b >= 0 and b in replicas for b in isr)


def _validate(
    image: MetadataImage,
    broker_id: int,
    partition: PartitionRegistration | None,
    data: Any,
    isr: list[tuple[int, int]],
) -> ErrorCode:
    if partition is None:
        return ErrorCode.unknown_topic_or_partition
    if data.leader_epoch > partition.leader_epoch:
        return ErrorCode.not_controller
    if data.partition_epoch > partition.partition_epoch:
        return ErrorCode.not_controller
    if data.leader_epoch < partition.leader_epoch:
        return ErrorCode.fenced_leader_epoch
    if broker_id != partition.leader:
        return ErrorCode.invalid_request
    if data.partition_epoch < partition.partition_epoch:
        return ErrorCode.invalid_update_version
    members = [member for member, _ in isr]
    if not _valid_isr(partition.replicas, members) or partition.leader not in members:
        return ErrorCode.invalid_request
    if data.leader_recovery_state == RECOVERING and len(members) > 1:
        return ErrorCode.invalid_request
    if partition.leader_recovery_state == RECOVERED and data.leader_recovery_state == RECOVERING:
        return ErrorCode.invalid_request
    for member, epoch in isr:
        registration = image.cluster.brokers.get(member)
        if (
            registration is None
            or not registration.active
            or (epoch != -1 and epoch != registration.broker_epoch)
        ):
            return ErrorCode.ineligible_replica
    return ErrorCode.none


def alter_partition(
    image: MetadataImage, request: Any, version: int, ctx: ControllerContext
) -> ControllerResult[Any]:
    """Handle AlterPartition v2-3 (checks in the module doc). At most one
    PartitionChangeRecord per accepted partition; failed partitions write nothing."""
    cls = response_type(ApiKey.ALTER_PARTITION, version)
    topic_cls = nested(cls, "TopicData")
    partition_cls = nested(cls, "PartitionData")
    registration = image.cluster.brokers.get(request.broker_id)
    if registration is None or registration.broker_epoch != request.broker_epoch:
        error = ErrorCode.stale_broker_epoch
        return ControllerResult(
            (), build(cls, throttle_time=_NO_THROTTLE, error_code=error, topics=())
        )

    def failed(partition_index: int, error: ErrorCode) -> Any:
        return build(
            partition_cls,
            partition_index=partition_index,
            error_code=error,
            leader_id=0,
            leader_epoch=0,
            isr=(),
            leader_recovery_state=0,
            partition_epoch=0,
        )

    records: list[PartitionChangeRecord] = []
    # Partitions changed earlier in this request: a repeated entry is checked
    # against the change it follows, not the image.
    changed: dict[tuple[uuid.UUID, int], PartitionRegistration] = {}
    topics_out = []
    for topic_data in request.topics:
        topic_id: uuid.UUID | None = topic_data.topic_id
        topic = image.topics.by_id.get(topic_id) if topic_id is not None else None
        partitions_out = []
        if topic is None:
            partitions_out = [
                failed(p.partition_index, ErrorCode.unknown_topic_id) for p in topic_data.partitions
            ]
        else:
            for data in topic_data.partitions:
                key = (topic.topic_id, data.partition_index)
                partition = changed.get(key) or topic.partitions.get(data.partition_index)
                isr = _proposed_isr(data)
                error = _validate(image, request.broker_id, partition, data, isr)
                if error is not ErrorCode.none:
                    partitions_out.append(failed(data.partition_index, error))
                    continue
                assert partition is not None
                record = build_partition_change(
                    topic.topic_id,
                    data.partition_index,
                    partition,
                    lambda b: is_acceptable_leader(image, b),
                    target_isr=[member for member, _ in isr],
                    unclean=unclean_election_enabled(image, topic.name, ctx.config),
                    target_leader_recovery_state=data.leader_recovery_state,
                )
                if record is not None:
                    records.append(record)
                    partition = changed[key] = partition.merge(record)
                if partition.leader != request.broker_id:
                    # The ISR change completed a reassignment that removed the
                    # sender: the record stands, and the sender must learn the new
                    # leader from the metadata log (Kafka answers this way too).
                    partitions_out.append(failed(data.partition_index,
                                                 ErrorCode.new_leader_elected))
                    continue
                partitions_out.append(
                    build(
                        partition_cls,
                        partition_index=data.partition_index,
                        error_code=ErrorCode.none,
                        leader_id=partition.leader,
                        leader_epoch=partition.leader_epoch,
                        isr=partition.isr,
                        leader_recovery_state=partition.leader_recovery_state,
                        partition_epoch=partition.partition_epoch,
                    )
                )
        topics_out.append(build(topic_cls, topic_id=topic_id, partitions=tuple(partitions_out)))
    return ControllerResult(
        tuple(records),
        build(cls, throttle_time=_NO_THROTTLE, error_code=ErrorCode.none, topics=tuple(topics_out)),
    )
