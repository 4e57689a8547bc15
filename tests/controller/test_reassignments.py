"""Partition reassignment (kraft.controller.reassignments and the completion rule of
build_partition_change): grow, catch up through AlterPartition, complete; only
removing completes at once; cancel reverts; Kafka's errors."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from kio.schema.errors import ErrorCode

from kraft.controller.alter_partition import alter_partition
from kraft.controller.reassignments import (
    alter_partition_reassignments,
    list_partition_reassignments,
)
from kraft.controller.result import apply_records
from kraft.metadata.image import MetadataImage
from kraft.metadata.records import PartitionChangeRecord
from kraft.net.codec import encode_response, request_type
from kraft.net.messages import build, nested
from tests.controller.test_partition_change import (
    broker,
    cluster_image,
    context,
    partition_of,
    topic,
)


def reassign(version: int, targets: dict[int, list[int] | None], name: str = "t",
             allow_rf_change: bool = True) -> Any:
    cls = request_type(45, version)
    topic_cls = nested(cls, "ReassignableTopic")
    partition_cls = nested(cls, "ReassignablePartition")
    return build(cls, allow_replication_factor_change=allow_rf_change, topics=(
        topic_cls(name=name, partitions=tuple(
            partition_cls(partition_index=p, replicas=None if r is None else tuple(r))
            for p, r in targets.items())),))


def codes(response: Any) -> dict[int, ErrorCode]:
    return {p.partition_index: p.error_code for t in response.responses for p in t.partitions}


def four_brokers() -> tuple[uuid.UUID, MetadataImage]:
    """Brokers 1-4; topic t partition 0 on [1, 2, 3], ISR all, led by 1."""
    tid, records = topic("t", [([1, 2, 3], [1, 2, 3], 1)])
    return tid, cluster_image(broker(1), broker(2), broker(3), broker(4), records)


def expand_isr(image: MetadataImage, tid: uuid.UUID, leader: int, isr: list[int]) -> Any:
    """The leader's AlterPartition (v2) proposing `isr` for partition 0."""
    cls = request_type(56, 2)
    part = nested(cls, "PartitionData")
    current = partition_of(image, tid)
    request = build(cls, broker_id=leader, broker_epoch=image.cluster.brokers[leader].broker_epoch,
                    topics=(nested(cls, "TopicData")(topic_id=tid, partitions=(build(
                        part, partition_index=0, leader_epoch=current.leader_epoch,
                        new_isr=tuple(isr), leader_recovery_state=0,
                        partition_epoch=current.partition_epoch),)),))
    return alter_partition(image, request, 2, context(image))


@pytest.mark.parametrize("version", (0, 1))
def test_move_grows_then_completes_when_the_new_replica_joins_the_isr(version: int) -> None:
    """[1, 2, 3] -> [4, 2, 3]: the replica set grows to target first, then the removed
    one; leader and leader epoch stay. When the leader puts 4 in the ISR, the same
    change completes the reassignment: 1 leaves, 4 (preferred) leads, the leader epoch
    is bumped, and the old leader is told NEW_LEADER_ELECTED."""
    tid, image = four_brokers()
    result = alter_partition_reassignments(image, reassign(version, {0: [4, 2, 3]}), version,
                                           context(image))
    assert codes(result.response) == {0: ErrorCode.none}
    encode_response(version, result.response)
    grown = apply_records(image, result.records)
    p = partition_of(grown, tid)
    assert (p.replicas, p.adding_replicas, p.removing_replicas) == ((4, 2, 3, 1), (4,), (1,))
    assert (p.leader, p.leader_epoch, p.isr) == (1, 0, (1, 2, 3))
    listed = list_partition_reassignments(grown, build(request_type(46, 0), topics=None), 0,
                                          context(grown)).response
    (ongoing,) = listed.topics
    assert [(q.partition_index, q.replicas, q.adding_replicas, q.removing_replicas)
            for q in ongoing.partitions] == [(0, (4, 2, 3, 1), (4,), (1,))]

    answer = expand_isr(grown, tid, 1, [1, 2, 3, 4])
    (out,) = answer.response.topics[0].partitions
    assert out.error_code == ErrorCode.new_leader_elected
    done = partition_of(apply_records(grown, answer.records), tid)
    assert (done.replicas, done.isr, done.adding_replicas, done.removing_replicas) == (
        (4, 2, 3), (2, 3, 4), (), ())
    assert (done.leader, done.leader_epoch) == (4, 1)


def test_only_removing_completes_at_once_and_bumps_the_epoch() -> None:
    """[1, 2, 3] -> [1, 2]: nothing to add, so one record completes it; the leader
    stays and its epoch is bumped (the removed follower is fenced)."""
    tid, image = four_brokers()
    result = alter_partition_reassignments(image, reassign(0, {0: [1, 2]}), 0, context(image))
    done = partition_of(apply_records(image, result.records), tid)
    assert (done.replicas, done.isr, done.adding_replicas, done.removing_replicas) == (
        (1, 2), (1, 2), (), ())
    assert (done.leader, done.leader_epoch) == (1, 1)


def test_cancel_reverts_to_the_original_replicas() -> None:
    """Cancelling drops the adding replicas and keeps the rest, in the grown order (as
    Kafka's PartitionReassignmentRevert does: the original order is not kept)."""
    tid, image = four_brokers()
    grown = apply_records(image, alter_partition_reassignments(
        image, reassign(0, {0: [4, 2, 3]}), 0, context(image)).records)
    result = alter_partition_reassignments(grown, reassign(0, {0: None}), 0, context(grown))
    assert codes(result.response) == {0: ErrorCode.none}
    back = partition_of(apply_records(grown, result.records), tid)
    assert (back.replicas, back.isr, back.adding_replicas, back.removing_replicas) == (
        (2, 3, 1), (1, 2, 3), (), ())
    again = alter_partition_reassignments(image, reassign(0, {0: None}), 0, context(image))
    assert codes(again.response) == {0: ErrorCode.no_reassignment_in_progress}
    assert again.records == ()


def test_errors_write_nothing() -> None:
    _, image = four_brokers()
    result = alter_partition_reassignments(
        image, reassign(1, {0: [], 1: [2]}), 1, context(image))
    assert codes(result.response) == {0: ErrorCode.invalid_replica_assignment,
                                      1: ErrorCode.unknown_topic_or_partition}
    for target in ([2, 2, 3], [1, 2, 9]):
        bad = alter_partition_reassignments(image, reassign(1, {0: target}), 1, context(image))
        assert codes(bad.response) == {0: ErrorCode.invalid_replica_assignment}, target
        assert bad.records == ()
    rf = alter_partition_reassignments(image, reassign(1, {0: [1, 2]}, allow_rf_change=False),
                                       1, context(image))
    assert codes(rf.response) == {0: ErrorCode.invalid_replication_factor}
    unknown = alter_partition_reassignments(image, reassign(1, {0: [1]}, name="nope"), 1,
                                            context(image))
    assert codes(unknown.response) == {0: ErrorCode.unknown_topic_or_partition}
    assert result.records == rf.records == unknown.records == ()


def test_same_replicas_change_nothing() -> None:
    _, image = four_brokers()
    result = alter_partition_reassignments(image, reassign(0, {0: [1, 2, 3]}), 0,
                                           context(image))
    assert codes(result.response) == {0: ErrorCode.none}
    assert result.records == ()


def test_shrinking_waits_for_lagging_target_replicas() -> None:
    """[1, 2, 3] with 2 out of the ISR -> [1, 2]: completing now would drop in-sync 3
    and keep only 1 (KAFKA-15665); it completes once 2 is back in the ISR."""
    tid, records = topic("t", [([1, 2, 3], [1, 3], 1)])
    image = cluster_image(broker(1), broker(2), broker(3), records)
    started = apply_records(image, alter_partition_reassignments(
        image, reassign(0, {0: [1, 2]}), 0, context(image)).records)
    p = partition_of(started, tid)
    assert (p.replicas, p.isr, p.removing_replicas) == ((1, 2, 3), (1, 3), (3,))
    answer = expand_isr(started, tid, 1, [1, 2, 3])
    done = partition_of(apply_records(started, answer.records), tid)
    assert (done.replicas, done.isr, done.removing_replicas) == ((1, 2), (1, 2), ())


def test_a_new_target_keeps_replicas_being_added_until_it_completes() -> None:
    """A reassignment replacing one in progress starts from all current replicas: an
    adding replica that alone is in sync (and leads) becomes a removing one and keeps
    leading; it is not dropped (which would leave the partition without a copy)."""
    tid, records = topic("t", [([4, 1], [4], 4)])
    image = cluster_image(broker(1, fenced=True), broker(4), broker(5), broker(6), records)
    # Replica 4 is the adding replica of an earlier move [1] -> [4].
    image = apply_records(image, [PartitionChangeRecord(
        partition_id=0, topic_id=tid, adding_replicas=(4,), removing_replicas=(1,))])
    result = alter_partition_reassignments(image, reassign(0, {0: [5, 6]}), 0, context(image))
    p = partition_of(apply_records(image, result.records), tid)
    assert (p.replicas, p.isr, p.leader) == ((5, 6, 4, 1), (4,), 4)
    assert (p.adding_replicas, p.removing_replicas) == ((5, 6), (4, 1))


def test_cancel_bumps_the_leader_epoch() -> None:
    """A replica leaving the replica set (here by cancel) fences it with a new epoch."""
    tid, image = four_brokers()
    grown = apply_records(image, alter_partition_reassignments(
        image, reassign(0, {0: [4, 2, 3]}), 0, context(image)).records)
    before = partition_of(grown, tid).leader_epoch
    back = apply_records(grown, alter_partition_reassignments(
        grown, reassign(0, {0: None}), 0, context(grown)).records)
    assert partition_of(back, tid).leader_epoch == before + 1


def test_reissued_or_retargeted_reassignments_keep_their_adding_replicas() -> None:
    """The same growth target sent twice keeps 4 adding (it is not in the ISR yet);
    retargeting a move keeps 4 adding and a cancel then reverts to the original
    replicas."""
    tid, image = four_brokers()
    grow = reassign(0, {0: [1, 2, 3, 4]})
    once = apply_records(image, alter_partition_reassignments(image, grow, 0,
                                                              context(image)).records)
    twice = apply_records(once, alter_partition_reassignments(once, grow, 0,
                                                              context(once)).records)
    p = partition_of(twice, tid)
    assert (p.replicas, p.adding_replicas, p.removing_replicas) == ((1, 2, 3, 4), (4,), ())

    moved = apply_records(image, alter_partition_reassignments(
        image, reassign(0, {0: [4, 2, 3]}), 0, context(image)).records)
    retargeted = apply_records(moved, alter_partition_reassignments(
        moved, reassign(0, {0: [4, 1, 2]}), 0, context(moved)).records)
    p = partition_of(retargeted, tid)
    assert (p.replicas, p.adding_replicas, p.removing_replicas) == ((4, 1, 2, 3), (4,), (3,))
    back = apply_records(retargeted, alter_partition_reassignments(
        retargeted, reassign(0, {0: None}), 0, context(retargeted)).records)
    assert sorted(partition_of(back, tid).replicas) == [1, 2, 3]
