"""AlterPartition (kraft.controller.alter_partition): Kafka's checks in Kafka's order,
ISR-only records, responses describing the partition after the change."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kio.schema.errors import ErrorCode

from kraft.controller.alter_partition import alter_partition
from kraft.controller.partition_change import RECOVERED, RECOVERING
from kraft.controller.result import apply_records
from kraft.metadata.image import MetadataImage
from kraft.metadata.records import PartitionChangeRecord, PartitionRecord
from kraft.net.codec import encode_response, request_type
from kraft.net.messages import build, nested
from tests.controller.test_partition_change import (
    broker,
    cluster_image,
    context,
    partition_of,
    replay,
    topic,
)

VERSIONS = (2, 3)


def partition_data(
    version: int,
    isr: Sequence[int | tuple[int, int]],
    *,
    partition: int = 0,
    leader_epoch: int = 0,
    partition_epoch: int = 0,
    leader_recovery_state: int = RECOVERED,
    epochs: dict[int, int] | None = None,
) -> Any:
    """One partition entry; v3 members carry `epochs[b]` (default -1: not checked)."""
    cls = nested(request_type(56, version), "PartitionData")
    fields: dict[str, Any] = dict(
        partition_index=partition,
        leader_epoch=leader_epoch,
        partition_epoch=partition_epoch,
        leader_recovery_state=leader_recovery_state,
    )
    if version >= 3:
        state = nested(request_type(56, version), "BrokerState")
        fields["new_isr_with_epochs"] = tuple(
            state(broker_id=b, broker_epoch=(epochs or {}).get(b, -1)) for b in isr
        )
    else:
        fields["new_isr"] = tuple(isr)
    return build(cls, **fields)


def alter_request(
    version: int, broker_id: int, broker_epoch: int, topics: dict[uuid.UUID, list[Any]]
) -> Any:
    cls = request_type(56, version)
    topic_cls = nested(cls, "TopicData")
    return build(
        cls,
        broker_id=broker_id,
        broker_epoch=broker_epoch,
        topics=tuple(topic_cls(topic_id=t, partitions=tuple(ps)) for t, ps in topics.items()),
    )


def three_brokers() -> tuple[uuid.UUID, MetadataImage]:
    """Brokers 1-3 (epochs 1-3); topic t with partition 0 on [1, 2, 3], ISR [1, 2], led by 1."""
    tid, records = topic("t", [([1, 2, 3], [1, 2], 1)])
    return tid, cluster_image(broker(1), broker(2), broker(3), records)


def only_partition(result: Any) -> Any:
    (topic_out,) = result.response.topics
    (partition_out,) = topic_out.partitions
    return partition_out


@pytest.mark.parametrize("version", VERSIONS)
def test_isr_expansion_writes_isr_only_record(version: int) -> None:
    """A valid expansion writes one ISR-only record; the response carries the partition
    after it (same leader epoch, next partition epoch); it encodes."""
    tid, image = three_brokers()
    request = alter_request(version, 1, 1, {tid: [partition_data(version, [1, 2, 3])]})
    result = alter_partition(image, request, version, context(image))
    assert result.records == (PartitionChangeRecord(partition_id=0, topic_id=tid, isr=(1, 2, 3)),)
    out = only_partition(result)
    assert (out.error_code, out.partition_index, out.leader_id, out.leader_epoch) == (
        ErrorCode.none, 0, 1, 0
    )
    assert (tuple(out.isr), out.partition_epoch, out.leader_recovery_state) == ((1, 2, 3), 1, 0)
    after = partition_of(apply_records(image, result.records), tid)
    assert (after.isr, after.leader_epoch, after.partition_epoch) == ((1, 2, 3), 0, 1)
    encode_response(1, result.response)


def test_isr_shrink_does_not_bump_leader_epoch() -> None:
    """Shrinking the ISR keeps the leader epoch (KAFKA-15021)."""
    tid, image = three_brokers()
    request = alter_request(3, 1, 1, {tid: [partition_data(3, [1])]})
    result = alter_partition(image, request, 3, context(image))
    assert result.records == (PartitionChangeRecord(partition_id=0, topic_id=tid, isr=(1,)),)
    assert only_partition(result).leader_epoch == 0


def test_unchanged_isr_writes_nothing() -> None:
    """Proposing the current ISR writes no record and answers the current state."""
    tid, image = three_brokers()
    request = alter_request(3, 1, 1, {tid: [partition_data(3, [1, 2])]})
    result = alter_partition(image, request, 3, context(image))
    assert result.records == ()
    out = only_partition(result)
    assert (out.error_code, tuple(out.isr), out.partition_epoch) == (ErrorCode.none, (1, 2), 0)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(("broker_id", "epoch"), [(1, 7), (9, 1)])
def test_stale_broker_epoch_fails_whole_request(version: int, broker_id: int, epoch: int) -> None:
    """A sender with a stale epoch (or unknown) gets a top-level STALE_BROKER_EPOCH."""
    tid, image = three_brokers()
    request = alter_request(version, broker_id, epoch, {tid: [partition_data(version, [1])]})
    result = alter_partition(image, request, version, context(image))
    assert result.records == ()
    assert result.response.error_code == ErrorCode.stale_broker_epoch
    assert result.response.topics == ()
    encode_response(1, result.response)


def test_unknown_topic_id() -> None:
    """Every partition of an unknown topic id is UNKNOWN_TOPIC_ID."""
    _, image = three_brokers()
    unknown = uuid.uuid4()
    request = alter_request(
        3, 1, 1, {unknown: [partition_data(3, [1]), partition_data(3, [1], partition=1)]}
    )
    result = alter_partition(image, request, 3, context(image))
    assert result.records == ()
    (topic_out,) = result.response.topics
    assert topic_out.topic_id == unknown
    assert [(p.partition_index, p.error_code) for p in topic_out.partitions] == [
        (0, ErrorCode.unknown_topic_id), (1, ErrorCode.unknown_topic_id)
    ]
    encode_response(1, result.response)


# (partition entry overrides, image changes) -> expected error, in Kafka's check order.
CASES: list[tuple[str, dict[str, Any], Any]] = [
    ("unknown partition", dict(partition=5), ErrorCode.unknown_topic_or_partition),
    ("newer leader epoch", dict(leader_epoch=1), ErrorCode.not_controller),
    ("newer partition epoch", dict(partition_epoch=1), ErrorCode.not_controller),
    ("not the leader", dict(sender=2), ErrorCode.invalid_request),
    ("duplicate member", dict(isr=[1, 2, 2]), ErrorCode.invalid_request),
    ("non-replica member", dict(isr=[1, 4]), ErrorCode.invalid_request),
    ("leader missing", dict(isr=[2, 3]), ErrorCode.invalid_request),
    ("empty ISR", dict(isr=[]), ErrorCode.invalid_request),
    ("recovering with two", dict(isr=[1, 2], leader_recovery_state=RECOVERING),
     ErrorCode.invalid_request),
    ("recovered to recovering", dict(isr=[1], leader_recovery_state=RECOVERING),
     ErrorCode.invalid_request),
    ("fenced member", dict(isr=[1, 3], fence=3), ErrorCode.ineligible_replica),
    ("shutting-down member", dict(isr=[1, 3], shut_down=3), ErrorCode.ineligible_replica),
    ("unregistered member", dict(isr=[1, 3], unregister=3), ErrorCode.ineligible_replica),
]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(("name", "case", "error"), CASES, ids=[c[0] for c in CASES])
def test_rejections(version: int, name: str, case: dict[str, Any], error: ErrorCode) -> None:
    """Each invalid proposal gets Kafka's error code and writes nothing."""
    tid, records = topic("t", [([1, 2, 3], [1, 2], 1)])
    brokers = [
        broker(1),
        broker(2),
        broker(3, fenced=case.get("fence") == 3, in_controlled_shutdown=case.get("shut_down") == 3),
    ]
    if case.get("unregister") == 3:
        brokers = brokers[:2]
    image = cluster_image(*brokers, records)
    sender = case.get("sender", 1)
    entry = partition_data(
        version,
        case.get("isr", [1, 2, 3]),
        partition=case.get("partition", 0),
        leader_epoch=case.get("leader_epoch", 0),
        partition_epoch=case.get("partition_epoch", 0),
        leader_recovery_state=case.get("leader_recovery_state", RECOVERED),
    )
    request = alter_request(version, sender, sender, {tid: [entry]})
    result = alter_partition(image, request, version, context(image))
    assert result.records == ()
    assert only_partition(result).error_code == error
    encode_response(1, result.response)


def _bumped(image: MetadataImage, tid: uuid.UUID) -> MetadataImage:
    """The image after a leader change 1 -> 1 (leader epoch 1, partition epoch 1)."""
    return replay(image, [PartitionChangeRecord(partition_id=0, topic_id=tid, leader=1)])


def test_older_leader_epoch_is_fenced() -> None:
    """A proposal from an older leader epoch is FENCED_LEADER_EPOCH."""
    tid, image = three_brokers()
    image = _bumped(image, tid)
    request = alter_request(3, 1, 1, {tid: [partition_data(3, [1, 2, 3], partition_epoch=1)]})
    assert only_partition(alter_partition(image, request, 3, context(image))).error_code == (
        ErrorCode.fenced_leader_epoch
    )


def test_older_partition_epoch_is_invalid_update_version() -> None:
    """A proposal from the current leader epoch but an older partition epoch is
    INVALID_UPDATE_VERSION."""
    tid, image = three_brokers()
    image = replay(image, [PartitionChangeRecord(partition_id=0, topic_id=tid, isr=(1, 2, 3))])
    request = alter_request(3, 1, 1, {tid: [partition_data(3, [1])]})
    assert only_partition(alter_partition(image, request, 3, context(image))).error_code == (
        ErrorCode.invalid_update_version
    )


def test_fenced_leader_epoch_checked_before_leadership() -> None:
    """An old leader with an old leader epoch is told FENCED_LEADER_EPOCH, not
    INVALID_REQUEST (Kafka's order)."""
    tid, image = three_brokers()
    image = replay(image, [PartitionChangeRecord(partition_id=0, topic_id=tid, leader=2)])
    request = alter_request(3, 1, 1, {tid: [partition_data(3, [1, 2])]})
    assert only_partition(alter_partition(image, request, 3, context(image))).error_code == (
        ErrorCode.fenced_leader_epoch
    )


def test_v3_member_epoch_must_match() -> None:
    """In v3 a member whose broker epoch differs is INELIGIBLE_REPLICA; -1 skips the check."""
    tid, image = three_brokers()
    stale = alter_request(3, 1, 1, {tid: [partition_data(3, [1, 2, 3], epochs={3: 2})]})
    result = alter_partition(image, stale, 3, context(image))
    assert result.records == ()
    assert only_partition(result).error_code == ErrorCode.ineligible_replica
    good = alter_request(3, 1, 1, {tid: [partition_data(3, [1, 2, 3], epochs={1: 1, 3: 3})]})
    assert only_partition(alter_partition(image, good, 3, context(image))).error_code == (
        ErrorCode.none
    )


def test_recovery_completes() -> None:
    """A RECOVERING leader reporting RECOVERED with a one-member ISR moves the
    partition to RECOVERED."""
    tid = uuid.uuid4()
    image = cluster_image(
        broker(1),
        broker(2),
        topic("t", [], tid)[1],
        PartitionRecord(partition_id=0, topic_id=tid, replicas=(1, 2), isr=(1,), leader=1,
                        leader_recovery_state=RECOVERING),
    )
    request = alter_request(3, 1, 1, {tid: [partition_data(3, [1])]})
    result = alter_partition(image, request, 3, context(image))
    assert result.records == (
        PartitionChangeRecord(partition_id=0, topic_id=tid, leader_recovery_state=RECOVERED),
    )
    assert only_partition(result).leader_recovery_state == RECOVERED


def test_repeated_partition_sees_the_first_change() -> None:
    """A partition repeated in one request is checked against the change before it."""
    tid, image = three_brokers()
    request = alter_request(
        3, 1, 1, {tid: [partition_data(3, [1, 2, 3]), partition_data(3, [1])]}
    )
    result = alter_partition(image, request, 3, context(image))
    assert len(result.records) == 1
    (topic_out,) = result.response.topics
    assert [p.error_code for p in topic_out.partitions] == [
        ErrorCode.none, ErrorCode.invalid_update_version
    ]


def test_mixed_partitions_only_valid_ones_write() -> None:
    """Valid and invalid partitions in one request: only the valid ones write records."""
    tid, records = topic("t", [([1, 2, 3], [1, 2], 1), ([2, 1], [2, 1], 2)])
    image = cluster_image(broker(1), broker(2), broker(3), records)
    request = alter_request(
        2, 1, 1, {tid: [partition_data(2, [1, 2, 3]), partition_data(2, [1], partition=1)]}
    )
    result = alter_partition(image, request, 2, context(image))
    assert result.records == (PartitionChangeRecord(partition_id=0, topic_id=tid, isr=(1, 2, 3)),)
    (topic_out,) = result.response.topics
    assert [p.error_code for p in topic_out.partitions] == [
        ErrorCode.none, ErrorCode.invalid_request
    ]


@given(
    proposals=st.lists(
        st.lists(st.sampled_from([1, 2, 3]), min_size=1, max_size=3, unique=True), max_size=8
    )
)
def test_accepted_changes_keep_leader_and_epoch(proposals: list[list[int]]) -> None:
    """A leader applying successive valid proposals never changes the leader or leader
    epoch, gets exactly one partition epoch per change, and the ISR equals the last
    accepted proposal."""
    tid, image = three_brokers()
    expected_isr: tuple[int, ...] = (1, 2)
    for proposal in proposals:
        current = partition_of(image, tid)
        entry = partition_data(3, proposal, partition_epoch=current.partition_epoch)
        result = alter_partition(image, alter_request(3, 1, 1, {tid: [entry]}), 3, context(image))
        out = only_partition(result)
        if 1 not in proposal:
            assert out.error_code == ErrorCode.invalid_request and result.records == ()
            continue
        assert out.error_code == ErrorCode.none
        changed = tuple(proposal) != expected_isr
        assert len(result.records) == int(changed)
        image = replay(image, result.records)
        after = partition_of(image, tid)
        expected_isr = tuple(proposal)
        assert (after.leader, after.leader_epoch, after.isr) == (1, 0, expected_isr)
        assert after.partition_epoch == current.partition_epoch + int(changed)
        assert (out.partition_epoch, tuple(out.isr)) == (after.partition_epoch, after.isr)
