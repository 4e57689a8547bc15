"""Leader election and ISR changes (kraft.controller.partition_change).

The image helpers at the top (`replay`, `cluster_image`, `broker`, `topic`,
`context`) are shared by the other controller test modules.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence

import pytest

from kraft.config import KafkaConfig
from kraft.controller.partition_change import (
    RECOVERED,
    RECOVERING,
    broker_available_changes,
    broker_unavailable_changes,
    build_partition_change,
    elect_leader,
    is_acceptable_leader,
    leads_partitions,
    unclean_election_enabled,
)
from kraft.controller.result import ControllerContext, apply_records
from kraft.metadata.delta import MetadataDelta
from kraft.metadata.image import EMPTY, MetadataImage, PartitionRegistration
from kraft.metadata.records import (
    BROKER_RESOURCE,
    METADATA_VERSION,
    NO_LEADER,
    TOPIC_RESOURCE,
    BrokerRegistrationChangeRecord,
    ConfigRecord,
    FeatureLevelRecord,
    MetadataRecord,
    PartitionChangeRecord,
    PartitionRecord,
    RegisterBrokerRecord,
    TopicRecord,
)

CLUSTER_ID = "test-cluster-id-00000"
METADATA_VERSION_LEVEL = 22


# --- shared helpers ------------------------------------------------------------------


def replay(image: MetadataImage, records: Iterable[MetadataRecord]) -> MetadataImage:
    """`records` replayed on `image` at the offsets after the image's (as the log would)."""
    delta = MetadataDelta(image)
    for i, record in enumerate(records, start=image.provenance.offset + 1):
        delta.replay(record, i, max(image.provenance.epoch, 1))
    return delta.apply()


def incarnation(broker_id: int) -> uuid.UUID:
    return uuid.UUID(int=broker_id + 1)


def broker(
    broker_id: int, *, fenced: bool = False, in_controlled_shutdown: bool = False, epoch: int = -1
) -> RegisterBrokerRecord:
    """A registration record; epoch -1 means 'the offset it will be replayed at' (see
    `cluster_image`)."""
    return RegisterBrokerRecord(
        broker_id=broker_id,
        incarnation_id=incarnation(broker_id),
        broker_epoch=epoch,
        fenced=fenced,
        in_controlled_shutdown=in_controlled_shutdown,
    )


def topic(
    name: str,
    partitions: Sequence[tuple[Sequence[int], Sequence[int], int]],
    topic_id: uuid.UUID | None = None,
) -> tuple[uuid.UUID, list[MetadataRecord]]:
    """A topic's records: one (replicas, isr, leader) per partition."""
    topic_id = topic_id or uuid.uuid5(uuid.NAMESPACE_DNS, name)
    records: list[MetadataRecord] = [TopicRecord(name=name, topic_id=topic_id)]
    for pid, (replicas, isr, leader) in enumerate(partitions):
        records.append(
            PartitionRecord(
                partition_id=pid,
                topic_id=topic_id,
                replicas=tuple(replicas),
                isr=tuple(isr),
                leader=leader,
            )
        )
    return topic_id, records


def cluster_image(*groups: MetadataRecord | Iterable[MetadataRecord]) -> MetadataImage:
    """An image from metadata.version, then the given records (or lists of them), in
    order. A RegisterBrokerRecord with epoch -1 gets its own offset as epoch."""
    records: list[MetadataRecord] = [
        FeatureLevelRecord(name=METADATA_VERSION, feature_level=METADATA_VERSION_LEVEL)
    ]
    for group in groups:
        records.extend([group] if isinstance(group, MetadataRecord) else group)
    fixed = []
    for offset, record in enumerate(records):
        if isinstance(record, RegisterBrokerRecord) and record.broker_epoch == -1:
            record = RegisterBrokerRecord(
                broker_id=record.broker_id,
                incarnation_id=record.incarnation_id,
                broker_epoch=offset,
                endpoints=record.endpoints,
                features=record.features,
                rack=record.rack,
                fenced=record.fenced,
                in_controlled_shutdown=record.in_controlled_shutdown,
            )
        fixed.append(record)
    return replay(EMPTY, fixed)


def context(image: MetadataImage, now_ms: int = 0, **config: str) -> ControllerContext:
    """A context whose next offset follows the image."""
    return ControllerContext(
        config=KafkaConfig({"node.id": "100", **config}),
        cluster_id=CLUSTER_ID,
        now_ms=now_ms,
        next_offset=image.provenance.offset + 1,
    )


def partition_of(image: MetadataImage, topic_id: uuid.UUID, pid: int = 0) -> PartitionRegistration:
    return image.topics.by_id[topic_id].partitions[pid]


def registration(replicas: Sequence[int], isr: Sequence[int], leader: int) -> PartitionRegistration:
    return PartitionRegistration(replicas=tuple(replicas), isr=tuple(isr), leader=leader)


# --- election --------------------------------------------------------------------------


def test_preferred_replica_elected_when_in_isr_and_acceptable() -> None:
    """A leaderless partition gets its first replica when it is in the ISR and acceptable."""
    current = registration([1, 2, 3], [3, 2, 1], NO_LEADER)
    assert elect_leader(current, current.isr, lambda b: True) == (1, False)


def test_current_leader_kept_when_still_valid() -> None:
    """A valid current leader stays even if it is not the preferred replica (ONLINE election)."""
    current = registration([1, 2, 3], [1, 2, 3], 2)
    assert elect_leader(current, current.isr, lambda b: True) == (2, False)


def test_first_acceptable_isr_member_in_replica_order() -> None:
    """Without a valid current or preferred leader, replica order decides among ISR members."""
    current = registration([1, 2, 3, 4], [4, 3, 2], 1)
    assert elect_leader(current, (4, 3, 2), lambda b: b in (3, 4)) == (3, False)


def test_current_leader_outside_target_isr_is_replaced() -> None:
    """A current leader that is not in the target ISR does not stay, however acceptable."""
    current = registration([1, 2, 3], [1, 2, 3], 1)
    assert elect_leader(current, (2, 3), lambda b: True) == (2, False)


def test_no_acceptable_isr_member_means_no_leader() -> None:
    """With no acceptable ISR member and unclean election off, nobody leads."""
    current = registration([1, 2, 3], [1], 1)
    assert elect_leader(current, (1,), lambda b: b != 1) == (NO_LEADER, False)


def test_unclean_election_only_when_enabled() -> None:
    """Unclean election picks the first acceptable replica outside the ISR, only when enabled."""
    current = registration([1, 2, 3], [1], 1)
    assert elect_leader(current, (1,), lambda b: b == 3, unclean=True) == (3, True)
    assert elect_leader(current, (1,), lambda b: b == 3, unclean=False) == (NO_LEADER, False)


def test_unclean_change_sets_isr_to_leader_and_recovering() -> None:
    """An unclean election makes the new leader the whole ISR and marks it RECOVERING."""
    tid = uuid.uuid4()
    current = registration([1, 2, 3], [1], NO_LEADER)
    record = build_partition_change(tid, 0, current, lambda b: b == 2, unclean=True)
    assert record == PartitionChangeRecord(
        partition_id=0, topic_id=tid, leader=2, isr=(2,), leader_recovery_state=RECOVERING
    )


def test_no_change_is_no_record() -> None:
    """A change that changes nothing yields no record."""
    current = registration([1, 2], [1, 2], 1)
    assert build_partition_change(uuid.uuid4(), 0, current, lambda b: True) is None
    assert (
        build_partition_change(uuid.uuid4(), 0, current, lambda b: True, target_isr=(1, 2))
        is None
    )


def test_isr_shrink_does_not_set_leader() -> None:
    """Shrinking the ISR under a valid leader changes only the ISR (no leader epoch bump)."""
    tid = uuid.uuid4()
    current = registration([1, 2, 3], [1, 2, 3], 1)
    record = build_partition_change(tid, 0, current, lambda b: True, target_isr=(1, 3))
    assert record == PartitionChangeRecord(partition_id=0, topic_id=tid, isr=(1, 3))
    assert current.merge(record).leader_epoch == current.leader_epoch


def test_empty_target_isr_keeps_current_isr() -> None:
    """The last ISR member is never removed: an empty target keeps the ISR and only
    drops the leader."""
    tid = uuid.uuid4()
    current = registration([1, 2], [1], 1)
    record = build_partition_change(tid, 0, current, lambda b: b != 1, target_isr=())
    assert record == PartitionChangeRecord(partition_id=0, topic_id=tid, leader=NO_LEADER)


def test_target_recovery_state_applied() -> None:
    """A leader reporting recovery done moves the partition to RECOVERED."""
    tid = uuid.uuid4()
    current = PartitionRegistration(
        replicas=(1, 2), isr=(1,), leader=1, leader_recovery_state=RECOVERING
    )
    record = build_partition_change(
        tid, 0, current, lambda b: True, target_leader_recovery_state=RECOVERED
    )
    assert record == PartitionChangeRecord(partition_id=0, topic_id=tid, leader_recovery_state=0)


# --- acceptability and config ----------------------------------------------------------


def test_acceptable_leader_is_registered_unfenced_and_not_shutting_down() -> None:
    """Only registered, unfenced brokers outside controlled shutdown are acceptable."""
    image = cluster_image(broker(1), broker(2, fenced=True), broker(3, in_controlled_shutdown=True))
    assert [is_acceptable_leader(image, b) for b in (1, 2, 3, 4)] == [True, False, False, False]


def test_unclean_config_resolution_order() -> None:
    """Topic config beats the node's dynamic config, which beats the cluster default,
    which beats the static config."""
    config = KafkaConfig({"node.id": "7", "unclean.leader.election.enable": "true"})
    image = cluster_image()
    assert unclean_election_enabled(image, "t", None) is False
    assert unclean_election_enabled(image, "t", config) is True
    cluster_default = ConfigRecord(
        resource_type=BROKER_RESOURCE, resource_name="", name="unclean.leader.election.enable",
        value="false",
    )
    image = replay(image, [cluster_default])
    assert unclean_election_enabled(image, "t", config) is False
    node = ConfigRecord(
        resource_type=BROKER_RESOURCE, resource_name="7", name="unclean.leader.election.enable",
        value="TRUE",
    )
    image = replay(image, [node])
    assert unclean_election_enabled(image, "t", config) is True
    topic_config = ConfigRecord(
        resource_type=TOPIC_RESOURCE, resource_name="t", name="unclean.leader.election.enable",
        value="false",
    )
    image = replay(image, [topic_config])
    assert unclean_election_enabled(image, "t", config) is False
    assert unclean_election_enabled(image, "other", config) is True


def test_leads_partitions() -> None:
    """leads_partitions is true exactly for brokers that lead some partition."""
    _, records = topic("t", [([1, 2], [1, 2], 1), ([2, 3], [2, 3], NO_LEADER)])
    image = cluster_image(broker(1), broker(2), broker(3), records)
    assert [leads_partitions(image, b) for b in (1, 2, 3)] == [True, False, False]


# --- broker unavailable / available ----------------------------------------------------


def test_unavailable_broker_loses_leadership_and_isr_membership() -> None:
    """A fenced leader hands leadership to the next ISR member in replica order and
    leaves every ISR; untouched partitions get no record."""
    tid, records = topic(
        "t",
        [([1, 2, 3], [1, 2, 3], 1), ([2, 1, 3], [2, 3, 1], 2), ([2, 3], [2, 3], 2)],
    )
    image = cluster_image(broker(1), broker(2), broker(3), records)
    fence = BrokerRegistrationChangeRecord(broker_id=1, broker_epoch=1, fenced=True)
    image = replay(image, [fence])
    changes = broker_unavailable_changes(image, 1)
    assert changes == [
        PartitionChangeRecord(partition_id=0, topic_id=tid, isr=(2, 3), leader=2),
        PartitionChangeRecord(partition_id=1, topic_id=tid, isr=(2, 3)),
    ]
    after = apply_records(image, changes)
    assert partition_of(after, tid, 0).leader_epoch == 1
    assert partition_of(after, tid, 1).leader_epoch == 0
    assert partition_of(after, tid, 1).partition_epoch == 1


def test_unavailable_last_isr_member_stays_and_partition_goes_leaderless() -> None:
    """The last ISR member stays in the ISR; the partition loses its leader with an epoch bump."""
    tid, records = topic("t", [([1, 2], [1], 1)])
    image = cluster_image(broker(1, in_controlled_shutdown=True), broker(2), records)
    changes = broker_unavailable_changes(image, 1)
    assert changes == [PartitionChangeRecord(partition_id=0, topic_id=tid, leader=NO_LEADER)]
    after = partition_of(apply_records(image, changes), tid)
    assert (after.leader, after.isr, after.leader_epoch) == (NO_LEADER, (1,), 1)


def test_unavailable_broker_counts_as_unacceptable_whatever_the_image_says() -> None:
    """The broker going away is excluded even in an image where it still looks active."""
    tid, records = topic("t", [([1, 2], [1, 2], 1)])
    image = cluster_image(broker(1), broker(2), records)
    assert broker_unavailable_changes(image, 1) == [
        PartitionChangeRecord(partition_id=0, topic_id=tid, isr=(2,), leader=2)
    ]


def test_unavailable_with_unclean_election_enabled() -> None:
    """With unclean election on for the topic, a replica outside the ISR takes over."""
    tid, records = topic("t", [([1, 2], [1], 1)])
    config = ConfigRecord(
        resource_type=TOPIC_RESOURCE, resource_name="t", name="unclean.leader.election.enable",
        value="true",
    )
    image = cluster_image(broker(1, fenced=True), broker(2), records, config)
    assert broker_unavailable_changes(image, 1) == [
        PartitionChangeRecord(
            partition_id=0, topic_id=tid, isr=(2,), leader=2, leader_recovery_state=RECOVERING
        )
    ]


def test_available_broker_leads_leaderless_partitions_in_its_isr() -> None:
    """An unfenced broker becomes leader of leaderless partitions whose ISR holds it;
    leaderless partitions it cannot lead stay leaderless."""
    tid, records = topic(
        "t",
        [([1, 2], [1], NO_LEADER), ([2, 1], [2], NO_LEADER), ([2, 1], [1, 2], 2)],
    )
    image = cluster_image(broker(1, fenced=True), broker(2, fenced=True), records)
    assert broker_available_changes(image, 1) == [
        PartitionChangeRecord(partition_id=0, topic_id=tid, leader=1)
    ]
    unclean = broker_available_changes(
        image, 1, KafkaConfig({"unclean.leader.election.enable": "true"})
    )
    assert unclean == [
        PartitionChangeRecord(partition_id=0, topic_id=tid, leader=1),
        PartitionChangeRecord(
            partition_id=1, topic_id=tid, isr=(1,), leader=1, leader_recovery_state=RECOVERING
        ),
    ]


def test_available_changes_do_not_move_existing_leaders() -> None:
    """Partitions that have a leader are left alone when a broker comes back."""
    _, records = topic("t", [([1, 2], [1, 2], 2)])
    image = cluster_image(broker(1), broker(2), records)
    assert broker_available_changes(image, 1) == []


@pytest.mark.parametrize("leader", [1, 2])
def test_changes_replay_cleanly(leader: int) -> None:
    """Every record produced applies to the image it was computed on."""
    _, records = topic("t", [([1, 2, 3], [1, 2, 3], leader)] * 3)
    image = cluster_image(broker(1), broker(2), broker(3), records)
    for b in (1, 2, 3):
        changes = broker_unavailable_changes(image, b)
        assert changes
        image = apply_records(
            image,
            [*changes, BrokerRegistrationChangeRecord(broker_id=b, broker_epoch=b, fenced=True)],
        )
    for partition in image.topics.by_name["t"].partitions.values():
        assert partition.isr == (3,) and partition.leader == NO_LEADER
