"""Replay semantics of MetadataDelta, one record type at a time."""

from __future__ import annotations

import uuid
from types import MappingProxyType

import pytest

from kraft.metadata.delta import MetadataDelta, MetadataReplayError
from kraft.metadata.image import (
    EMPTY,
    ConfigResource,
    MetadataImage,
    PartitionRegistration,
    Provenance,
)
from kraft.metadata.records import (
    BROKER_RESOURCE,
    METADATA_VERSION,
    NO_LEADER,
    TOPIC_RESOURCE,
    BrokerEndpoint,
    BrokerRegistrationChangeRecord,
    ConfigRecord,
    FeatureLevelRecord,
    MetadataRecord,
    NoOpRecord,
    PartitionChangeRecord,
    PartitionRecord,
    ProducerIdsRecord,
    RegisterBrokerRecord,
    RegisterControllerRecord,
    RemoveTopicRecord,
    TopicRecord,
    UnregisterBrokerRecord,
)

FOO = uuid.UUID(int=1)
BAR = uuid.UUID(int=2)
INCARNATION = uuid.UUID(int=99)


def replay(image: MetadataImage, *records: MetadataRecord) -> MetadataImage:
    """`records` replayed on `image` in one delta, at offsets after the image's."""
    delta = MetadataDelta(image)
    for i, record in enumerate(records, start=image.provenance.offset + 1):
        delta.replay(record, i, max(image.provenance.epoch, 1))
    return delta.apply()


def register(broker_id: int, epoch: int, **kwargs: object) -> RegisterBrokerRecord:
    return RegisterBrokerRecord(
        broker_id=broker_id, incarnation_id=INCARNATION, broker_epoch=epoch, **kwargs
    )


def partition(topic_id: uuid.UUID, pid: int, leader: int = 1) -> PartitionRecord:
    return PartitionRecord(
        partition_id=pid, topic_id=topic_id, replicas=(1, 2, 3), isr=(1, 2, 3), leader=leader
    )


def two_topics() -> MetadataImage:
    return replay(
        EMPTY,
        TopicRecord(name="foo", topic_id=FOO),
        partition(FOO, 0),
        partition(FOO, 1),
        TopicRecord(name="bar", topic_id=BAR),
        partition(BAR, 0),
    )


# Brokers


def test_register_broker_is_fenced_by_default() -> None:
    """A RegisterBrokerRecord adds the broker, fenced unless the record says otherwise."""
    image = replay(EMPTY, register(1, 10))
    broker = image.cluster.brokers[1]
    assert (broker.broker_epoch, broker.fenced, broker.in_controlled_shutdown) == (10, True, False)


def test_reregister_replaces_registration() -> None:
    """A second registration of the same broker id replaces the first."""
    image = replay(EMPTY, register(1, 10), register(1, 20, fenced=False, rack="r1"))
    assert image.cluster.brokers[1].broker_epoch == 20
    assert image.cluster.brokers[1].rack == "r1"
    assert not image.cluster.brokers[1].fenced


def test_register_controller_replaces_registration_and_leaves_brokers() -> None:
    """A RegisterControllerRecord adds a controller registration (KIP-919); a later one
    for the same id, a new incarnation after a restart, replaces it; brokers are untouched."""
    first = RegisterControllerRecord(
        controller_id=3000, incarnation_id=uuid.UUID(int=1),
        endpoints=(BrokerEndpoint(name="CONTROLLER", host="h", port=9093),))
    image = replay(EMPTY, register(1, 10), first)
    assert image.cluster.controllers[3000].endpoint("CONTROLLER") == first.endpoints[0]
    brokers = image.cluster.brokers
    again = RegisterControllerRecord(
        controller_id=3000, incarnation_id=uuid.UUID(int=2),
        endpoints=(BrokerEndpoint(name="CONTROLLER", host="h", port=9193),))
    image = replay(image, again)
    assert image.cluster.controllers[3000].incarnation_id == uuid.UUID(int=2)
    assert image.cluster.controllers[3000].endpoint("CONTROLLER").port == 9193  # type: ignore[union-attr]
    assert image.cluster.brokers == brokers
    assert image.cluster.controllers[3000].to_record() == again


def test_unfence_and_fence_broker() -> None:
    """BrokerRegistrationChangeRecord fences/unfences; None fields leave state unchanged."""
    image = replay(EMPTY, register(1, 10))
    image = replay(
        image, BrokerRegistrationChangeRecord(broker_id=1, broker_epoch=10, fenced=False)
    )
    assert not image.cluster.brokers[1].fenced
    image = replay(
        image,
        BrokerRegistrationChangeRecord(broker_id=1, broker_epoch=10, in_controlled_shutdown=True),
    )
    assert not image.cluster.brokers[1].fenced
    assert image.cluster.brokers[1].in_controlled_shutdown
    image = replay(image, BrokerRegistrationChangeRecord(broker_id=1, broker_epoch=10, fenced=True))
    assert image.cluster.brokers[1].fenced
    assert image.cluster.brokers[1].in_controlled_shutdown


def test_unregister_broker() -> None:
    """UnregisterBrokerRecord with the current epoch removes the broker."""
    image = replay(EMPTY, register(1, 10), register(2, 11))
    image = replay(image, UnregisterBrokerRecord(broker_id=1, broker_epoch=10))
    assert list(image.cluster.brokers) == [2]


@pytest.mark.parametrize(
    "record",
    [
        UnregisterBrokerRecord(broker_id=1, broker_epoch=9),
        UnregisterBrokerRecord(broker_id=2, broker_epoch=10),
        BrokerRegistrationChangeRecord(broker_id=1, broker_epoch=9, fenced=False),
        BrokerRegistrationChangeRecord(broker_id=2, broker_epoch=10, fenced=False),
    ],
)
def test_broker_changes_need_registered_broker_and_epoch(record: MetadataRecord) -> None:
    """Unregister/change of an unknown broker or with a stale broker epoch is a replay error."""
    image = replay(EMPTY, register(1, 10))
    with pytest.raises(MetadataReplayError):
        replay(image, record)


# Topics and partitions


def test_create_topic_with_partitions() -> None:
    """TopicRecord + PartitionRecords create a topic found by id and by name."""
    image = two_topics()
    assert image.topics.by_name["foo"] is image.topics.by_id[FOO]
    assert sorted(image.topics.by_id[FOO].partitions) == [0, 1]
    assert image.topics.by_id[FOO].partitions[0] == PartitionRegistration(
        replicas=(1, 2, 3), isr=(1, 2, 3), leader=1
    )


@pytest.mark.parametrize(
    "record",
    [
        TopicRecord(name="foo", topic_id=uuid.UUID(int=3)),
        TopicRecord(name="baz", topic_id=FOO),
        partition(uuid.UUID(int=3), 0),
        PartitionChangeRecord(partition_id=0, topic_id=uuid.UUID(int=3), leader=2),
        PartitionChangeRecord(partition_id=7, topic_id=FOO, leader=2),
        RemoveTopicRecord(topic_id=uuid.UUID(int=3)),
    ],
)
def test_inconsistent_topic_records_raise(record: MetadataRecord) -> None:
    """Duplicate topic name/id and records for unknown topics/partitions are replay errors."""
    with pytest.raises(MetadataReplayError):
        replay(two_topics(), record)


def test_remove_topic_removes_partitions_and_configs() -> None:
    """RemoveTopicRecord drops the topic, its partitions and its topic configs only."""
    image = replay(
        two_topics(),
        ConfigRecord(resource_type=TOPIC_RESOURCE, resource_name="foo", name="a", value="1"),
        ConfigRecord(resource_type=TOPIC_RESOURCE, resource_name="bar", name="a", value="1"),
    )
    image = replay(image, RemoveTopicRecord(topic_id=FOO))
    assert list(image.topics.by_id) == [BAR]
    assert list(image.topics.by_name) == ["bar"]
    assert list(image.configs.resources) == [ConfigResource(TOPIC_RESOURCE, "bar")]


def test_topic_name_reusable_but_id_not_after_remove() -> None:
    """After removal the name may be reused by a new id; the old id may not come back."""
    image = replay(two_topics(), RemoveTopicRecord(topic_id=FOO))
    new_id = uuid.UUID(int=3)
    reused = replay(image, TopicRecord(name="foo", topic_id=new_id))
    assert reused.topics.by_name["foo"].topic_id == new_id
    with pytest.raises(MetadataReplayError):
        replay(two_topics(), RemoveTopicRecord(topic_id=FOO), TopicRecord(name="foo", topic_id=FOO))


def test_topic_created_and_removed_in_one_delta_leaves_no_trace() -> None:
    """A topic created and removed within one delta is absent, and its name is free."""
    delta = MetadataDelta(EMPTY)
    delta.replay(TopicRecord(name="foo", topic_id=FOO), 0, 0)
    delta.replay(partition(FOO, 0), 1, 0)
    delta.replay(RemoveTopicRecord(topic_id=FOO), 2, 0)
    assert delta.topics_delta is not None
    assert not delta.topics_delta.changed_topics and not delta.topics_delta.deleted_topic_ids
    delta.replay(TopicRecord(name="foo", topic_id=BAR), 3, 0)
    assert list(delta.apply().topics.by_name) == ["foo"]


def test_partition_change_leader_bumps_both_epochs() -> None:
    """A leader change bumps leader_epoch and partition_epoch by one each."""
    image = replay(two_topics(), PartitionChangeRecord(partition_id=0, topic_id=FOO, leader=2))
    p = image.topics.by_id[FOO].partitions[0]
    assert (p.leader, p.leader_epoch, p.partition_epoch) == (2, 1, 1)


def test_partition_change_same_leader_still_bumps_leader_epoch() -> None:
    """Setting the leader to its current value bumps leader_epoch (Kafka's forced bump)."""
    image = replay(two_topics(), PartitionChangeRecord(partition_id=0, topic_id=FOO, leader=1))
    p = image.topics.by_id[FOO].partitions[0]
    assert (p.leader, p.leader_epoch, p.partition_epoch) == (1, 1, 1)


def test_partition_change_isr_only_bumps_partition_epoch() -> None:
    """An ISR-only change bumps partition_epoch but not leader_epoch; other fields unchanged."""
    image = replay(
        two_topics(),
        PartitionChangeRecord(partition_id=0, topic_id=FOO, isr=(1, 2)),
        PartitionChangeRecord(partition_id=0, topic_id=FOO, isr=(1,)),
    )
    p = image.topics.by_id[FOO].partitions[0]
    assert (p.isr, p.replicas, p.leader, p.leader_epoch, p.partition_epoch) == (
        (1,),
        (1, 2, 3),
        1,
        0,
        2,
    )


def test_partition_change_to_no_leader() -> None:
    """leader = NO_LEADER (-1) leaves the partition leaderless at a new leader epoch."""
    image = replay(
        two_topics(), PartitionChangeRecord(partition_id=1, topic_id=FOO, leader=NO_LEADER, isr=())
    )
    p = image.topics.by_id[FOO].partitions[1]
    assert (p.leader, p.isr, p.leader_epoch) == (NO_LEADER, (), 1)


def test_partition_change_touches_only_its_topic() -> None:
    """Copy-on-write: other topics and untouched areas are the same objects in the new image."""
    before = two_topics()
    after = replay(before, PartitionChangeRecord(partition_id=0, topic_id=FOO, leader=2))
    assert after.topics.by_id[BAR] is before.topics.by_id[BAR]
    assert after.topics.by_id[FOO].partitions[1] is before.topics.by_id[FOO].partitions[1]
    assert after.cluster is before.cluster
    assert after.features is before.features
    assert after.configs is before.configs
    assert after.producer_ids is before.producer_ids


# Configs, producer ids, features, no-ops


def test_config_set_and_delete() -> None:
    """ConfigRecord sets a value; value None deletes it; an emptied resource disappears."""
    broker = ConfigResource(BROKER_RESOURCE, "1")
    image = replay(
        EMPTY,
        ConfigRecord(resource_type=BROKER_RESOURCE, resource_name="1", name="a", value="1"),
        ConfigRecord(resource_type=BROKER_RESOURCE, resource_name="1", name="b", value="2"),
    )
    assert dict(image.configs.get(broker)) == {"a": "1", "b": "2"}
    image = replay(
        image, ConfigRecord(resource_type=BROKER_RESOURCE, resource_name="1", name="a", value=None)
    )
    assert dict(image.configs.get(broker)) == {"b": "2"}
    image = replay(
        image, ConfigRecord(resource_type=BROKER_RESOURCE, resource_name="1", name="b", value=None)
    )
    assert broker not in image.configs.resources


def test_producer_ids_advance() -> None:
    """ProducerIdsRecord sets next_producer_id, which must strictly increase."""
    image = replay(EMPTY, ProducerIdsRecord(broker_id=1, broker_epoch=5, next_producer_id=1000))
    assert image.producer_ids.next_producer_id == 1000
    with pytest.raises(MetadataReplayError):
        replay(image, ProducerIdsRecord(broker_id=1, broker_epoch=5, next_producer_id=1000))


def test_feature_levels_set_and_remove() -> None:
    """FeatureLevelRecord sets a level; level 0 removes the feature."""
    image = replay(
        EMPTY,
        FeatureLevelRecord(name=METADATA_VERSION, feature_level=22),
        FeatureLevelRecord(name="group.version", feature_level=1),
    )
    assert image.features.metadata_version == 22
    image = replay(image, FeatureLevelRecord(name="group.version", feature_level=0))
    assert dict(image.features.levels) == {METADATA_VERSION: 22}


def test_noop_advances_only_provenance() -> None:
    """NoOpRecord changes nothing but the provenance; every sub-image is shared."""
    before = two_topics()
    delta = MetadataDelta(before)
    delta.replay(NoOpRecord(), 100, 7)
    after = delta.apply()
    assert after.provenance == Provenance(100, 7)
    assert after.with_provenance(before.provenance) == before
    assert after.topics is before.topics


def test_offsets_and_epochs_must_not_go_backwards() -> None:
    """Replaying at an offset or epoch behind the delta's provenance is a replay error."""
    delta = MetadataDelta(EMPTY)
    delta.replay(NoOpRecord(), 10, 3)
    with pytest.raises(MetadataReplayError):
        delta.replay(NoOpRecord(), 9, 3)
    with pytest.raises(MetadataReplayError):
        delta.replay(NoOpRecord(), 11, 2)


def test_failed_replay_leaves_state_unchanged() -> None:
    """After a MetadataReplayError the delta still applies to the state before that record."""
    delta = MetadataDelta(two_topics())
    delta.replay(PartitionChangeRecord(partition_id=0, topic_id=FOO, isr=(1,)), 10, 1)
    expected = delta.apply()
    with pytest.raises(MetadataReplayError):
        delta.replay(PartitionChangeRecord(partition_id=9, topic_id=BAR, isr=(1,)), 11, 1)
    assert delta.apply() == expected
    assert BAR not in delta.topics_delta.changed_topics  # type: ignore[union-attr]


def test_images_cannot_be_mutated() -> None:
    """Image structs are frozen and their mappings are read-only views."""
    image = two_topics()
    with pytest.raises(AttributeError):
        image.topics = EMPTY.topics  # type: ignore[misc]
    assert isinstance(image.topics.by_id, MappingProxyType)
    with pytest.raises(TypeError):
        image.topics.by_id[BAR] = image.topics.by_id[FOO]  # type: ignore[index]
    with pytest.raises(TypeError):
        image.topics.by_id[FOO].partitions[5] = None  # type: ignore[index]


def test_is_empty_ignores_provenance() -> None:
    """An image with only a provenance is empty; any state makes it non-empty."""
    delta = MetadataDelta(EMPTY)
    delta.replay(NoOpRecord(), 5, 1)
    assert delta.apply().is_empty()
    assert not two_topics().is_empty()
