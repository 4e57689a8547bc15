"""Hypothesis strategies for metadata records (STYLE.md 9).

These live beside the metadata tests rather than in tests/strategies.py only
because this change may not touch files outside tests/metadata; they belong
there and can move unchanged.

- `metadata_records()`: any single record of any type, fields drawn freely
  (for codec round trips; not necessarily replayable).
- `record_scripts()`: a *valid* sequence of (record, offset, epoch), drawn
  against a small model of the cluster so that every record replays cleanly
  on the state the earlier ones built (Kafka's image-test style).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from hypothesis import strategies as st

from kraft.metadata.records import (
    BROKER_RESOURCE,
    METADATA_VERSION,
    NO_LEADER,
    TOPIC_RESOURCE,
    AccessControlEntryRecord,
    BrokerEndpoint,
    BrokerFeature,
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
    RemoveAccessControlEntryRecord,
    RemoveTopicRecord,
    RemoveUserScramCredentialRecord,
    TopicRecord,
    UnregisterBrokerRecord,
    UserScramCredentialRecord,
)

int32 = st.integers(-(2**31), 2**31 - 1)
int64 = st.integers(-(2**63), 2**63 - 1)
versions = st.integers(0, 3)
names = st.text(max_size=12)
replica_lists = st.lists(st.integers(-1, 2**31 - 1), max_size=5).map(tuple)
optional_replica_lists = st.none() | replica_lists

endpoints = st.builds(
    BrokerEndpoint,
    name=names,
    host=names,
    port=st.integers(0, 65535),
    security_protocol=st.integers(0, 3),
)
broker_features = st.builds(
    BrokerFeature,
    name=names,
    min_supported_version=st.integers(0, 30),
    max_supported_version=st.integers(0, 30),
)


def _builds(
    cls: type[MetadataRecord], **fields: st.SearchStrategy[object]
) -> tuple[type[MetadataRecord], st.SearchStrategy[MetadataRecord]]:
    return cls, st.builds(cls, **fields)


# One strategy per record type, every field drawn (a test checks all types are here).
RECORD_STRATEGIES: dict[type[MetadataRecord], st.SearchStrategy[MetadataRecord]] = dict(
    (
        _builds(
            RegisterBrokerRecord,
            broker_id=int32,
            incarnation_id=st.uuids(),
            broker_epoch=int64,
            endpoints=st.lists(endpoints, max_size=3).map(tuple),
            features=st.lists(broker_features, max_size=3).map(tuple),
            rack=st.none() | names,
            fenced=st.booleans(),
            in_controlled_shutdown=st.booleans(),
            version=versions,
        ),
        _builds(UnregisterBrokerRecord, broker_id=int32, broker_epoch=int64, version=versions),
        _builds(
            BrokerRegistrationChangeRecord,
            broker_id=int32,
            broker_epoch=int64,
            fenced=st.none() | st.booleans(),
            in_controlled_shutdown=st.none() | st.booleans(),
            version=versions,
        ),
        _builds(TopicRecord, name=names, topic_id=st.uuids(), version=versions),
        _builds(
            PartitionRecord,
            partition_id=int32,
            topic_id=st.uuids(),
            replicas=replica_lists,
            isr=replica_lists,
            removing_replicas=replica_lists,
            adding_replicas=replica_lists,
            leader=int32,
            leader_recovery_state=st.integers(0, 1),
            leader_epoch=int32,
            partition_epoch=int32,
            version=versions,
        ),
        _builds(
            PartitionChangeRecord,
            partition_id=int32,
            topic_id=st.uuids(),
            isr=optional_replica_lists,
            leader=st.none() | int32,
            replicas=optional_replica_lists,
            removing_replicas=optional_replica_lists,
            adding_replicas=optional_replica_lists,
            leader_recovery_state=st.none() | st.integers(0, 1),
            version=versions,
        ),
        _builds(RemoveTopicRecord, topic_id=st.uuids(), version=versions),
        _builds(
            ConfigRecord,
            resource_type=st.sampled_from([TOPIC_RESOURCE, BROKER_RESOURCE]),
            resource_name=names,
            name=names,
            value=st.none() | names,
            version=versions,
        ),
        _builds(
            ProducerIdsRecord,
            broker_id=int32,
            broker_epoch=int64,
            next_producer_id=int64,
            version=versions,
        ),
        _builds(
            FeatureLevelRecord, name=names, feature_level=st.integers(0, 32767), version=versions
        ),
        _builds(NoOpRecord, version=versions),
        _builds(UserScramCredentialRecord, name=names, mechanism=st.sampled_from([1, 2]),
                salt=st.binary(max_size=32), stored_key=st.binary(max_size=64),
                server_key=st.binary(max_size=64), iterations=int32, version=versions),
        _builds(RemoveUserScramCredentialRecord, name=names,
                mechanism=st.sampled_from([1, 2]), version=versions),
        _builds(AccessControlEntryRecord, id=st.uuids(), resource_type=st.integers(2, 7),
                resource_name=names, pattern_type=st.integers(3, 4), principal=names,
                host=names, operation=st.integers(2, 14), permission_type=st.integers(2, 3),
                version=versions),
        _builds(RemoveAccessControlEntryRecord, id=st.uuids(), version=versions),
        _builds(RegisterControllerRecord, controller_id=int32, incarnation_id=st.uuids(),
                zk_migration_ready=st.booleans(),
                endpoints=st.lists(endpoints, max_size=3).map(tuple),
                features=st.lists(broker_features, max_size=3).map(tuple), version=versions),
    )
)


def metadata_records() -> st.SearchStrategy[MetadataRecord]:
    """Any record of any type, every field drawn."""
    return st.one_of(*RECORD_STRATEGIES.values())


@dataclass(frozen=True)
class Step:
    """One record of a script and where it sits in the log."""

    record: MetadataRecord
    offset: int
    epoch: int


@dataclass
class _Model:
    """Just enough cluster state to draw records that replay cleanly."""

    brokers: dict[int, int] = field(default_factory=dict)  # broker id -> broker epoch
    topics: dict[uuid.UUID, tuple[str, set[int]]] = field(default_factory=dict)
    topic_ids_used: int = 0
    next_producer_id: int = -1
    scram: set[tuple[int, str]] = field(default_factory=set)
    acls: set[uuid.UUID] = field(default_factory=set)
    acl_ids_used: int = 0

    def live_names(self) -> set[str]:
        return {name for name, _ in self.topics.values()}


TOPIC_NAMES = ("orders", "payments", "logs", "events")
FEATURES = (METADATA_VERSION, "kraft.version", "group.version")
CONFIG_NAMES = ("retention.ms", "cleanup.policy", "min.insync.replicas")
BROKER_IDS = (0, 1, 2, 3)


def _draw_record(draw: st.DrawFn, model: _Model, offset: int) -> MetadataRecord:
    kinds = ["register", "topic", "config", "producer_ids", "feature", "noop", "scram", "acl",
             "register_controller"]
    if model.scram:
        kinds.append("remove_scram")
    if model.acls:
        kinds.append("remove_acl")
    if model.brokers:
        kinds += ["unregister", "broker_change"]
    if model.topics:
        kinds += ["partition", "remove_topic"]
    if any(parts for _, parts in model.topics.values()):
        kinds += ["partition_change", "partition_change"]
    kind = draw(st.sampled_from(kinds))
    replicas = st.lists(st.sampled_from(BROKER_IDS), max_size=3, unique=True).map(tuple)
    if kind == "register":
        broker_id = draw(st.sampled_from(BROKER_IDS))
        model.brokers[broker_id] = offset
        return RegisterBrokerRecord(
            broker_id=broker_id,
            incarnation_id=uuid.UUID(int=draw(st.integers(0, 3))),
            broker_epoch=offset,
            endpoints=(BrokerEndpoint(name="PLAINTEXT", host="localhost", port=9092 + broker_id),),
            rack=draw(st.none() | st.sampled_from(["r1", "r2"])),
            fenced=draw(st.booleans()),
            in_controlled_shutdown=draw(st.booleans()),
        )
    if kind == "register_controller":
        controller_id = draw(st.sampled_from(BROKER_IDS))
        return RegisterControllerRecord(
            controller_id=controller_id,
            incarnation_id=uuid.UUID(int=draw(st.integers(0, 3))),
            endpoints=(BrokerEndpoint(name="CONTROLLER", host="localhost",
                                      port=draw(st.integers(9093, 9099))),),
            features=(BrokerFeature(name="kraft.version", min_supported_version=0,
                                    max_supported_version=1),),
        )
    if kind == "unregister":
        broker_id = draw(st.sampled_from(sorted(model.brokers)))
        return UnregisterBrokerRecord(
            broker_id=broker_id, broker_epoch=model.brokers.pop(broker_id)
        )
    if kind == "broker_change":
        broker_id = draw(st.sampled_from(sorted(model.brokers)))
        return BrokerRegistrationChangeRecord(
            broker_id=broker_id,
            broker_epoch=model.brokers[broker_id],
            fenced=draw(st.none() | st.booleans()),
            in_controlled_shutdown=draw(st.none() | st.booleans()),
        )
    if kind == "topic":
        free = [name for name in TOPIC_NAMES if name not in model.live_names()]
        if not free:
            return NoOpRecord()
        name = draw(st.sampled_from(free))
        model.topic_ids_used += 1
        topic_id = uuid.UUID(int=model.topic_ids_used)
        model.topics[topic_id] = (name, set())
        return TopicRecord(name=name, topic_id=topic_id)
    if kind == "remove_topic":
        topic_id = draw(st.sampled_from(sorted(model.topics)))
        del model.topics[topic_id]
        return RemoveTopicRecord(topic_id=topic_id)
    if kind == "partition":
        topic_id = draw(st.sampled_from(sorted(model.topics)))
        partition_id = draw(st.integers(0, 3))
        model.topics[topic_id][1].add(partition_id)
        isr = draw(replicas)
        return PartitionRecord(
            partition_id=partition_id,
            topic_id=topic_id,
            replicas=draw(replicas),
            isr=isr,
            leader=isr[0] if isr else NO_LEADER,
            leader_epoch=draw(st.integers(0, 5)),
            partition_epoch=draw(st.integers(0, 5)),
        )
    if kind == "partition_change":
        topic_id = draw(st.sampled_from(sorted(t for t, (_, p) in model.topics.items() if p)))
        partition_id = draw(st.sampled_from(sorted(model.topics[topic_id][1])))
        return PartitionChangeRecord(
            partition_id=partition_id,
            topic_id=topic_id,
            isr=draw(st.none() | replicas),
            leader=draw(st.none() | st.sampled_from((NO_LEADER, *BROKER_IDS))),
            replicas=draw(st.none() | replicas),
            removing_replicas=draw(st.none() | replicas),
            adding_replicas=draw(st.none() | replicas),
            leader_recovery_state=draw(st.none() | st.integers(0, 1)),
        )
    if kind == "config":
        if draw(st.booleans()):
            resource = (TOPIC_RESOURCE, draw(st.sampled_from(TOPIC_NAMES)))
        else:
            resource = (BROKER_RESOURCE, draw(st.sampled_from(["", "0", "1"])))
        return ConfigRecord(
            resource_type=resource[0],
            resource_name=resource[1],
            name=draw(st.sampled_from(CONFIG_NAMES)),
            value=draw(st.none() | st.sampled_from(["1", "2", "delete"])),
        )
    if kind == "producer_ids":
        model.next_producer_id = max(model.next_producer_id, 0) + draw(st.integers(1, 1000))
        return ProducerIdsRecord(
            broker_id=draw(st.sampled_from(BROKER_IDS)),
            broker_epoch=offset,
            next_producer_id=model.next_producer_id,
        )
    if kind == "scram":
        key = (draw(st.sampled_from([1, 2])), draw(st.sampled_from(["alice", "bob"])))
        model.scram.add(key)
        return UserScramCredentialRecord(name=key[1], mechanism=key[0], salt=b"s" * 8,
                                         stored_key=draw(st.binary(min_size=1, max_size=4)),
                                         server_key=b"k", iterations=4096)
    if kind == "remove_scram":
        mechanism, name = draw(st.sampled_from(sorted(model.scram)))
        model.scram.discard((mechanism, name))
        return RemoveUserScramCredentialRecord(name=name, mechanism=mechanism)
    if kind == "acl":
        model.acl_ids_used += 1
        acl_id = uuid.UUID(int=(1 << 64) + model.acl_ids_used)
        model.acls.add(acl_id)
        return AccessControlEntryRecord(
            id=acl_id, resource_type=2, resource_name=draw(st.sampled_from(TOPIC_NAMES)),
            pattern_type=draw(st.sampled_from([3, 4])), principal="User:alice", host="*",
            operation=draw(st.sampled_from([3, 4])), permission_type=draw(st.sampled_from([2, 3])))
    if kind == "remove_acl":
        acl_id = draw(st.sampled_from(sorted(model.acls)))
        model.acls.discard(acl_id)
        return RemoveAccessControlEntryRecord(id=acl_id)
    if kind == "feature":
        return FeatureLevelRecord(
            name=draw(st.sampled_from(FEATURES)), feature_level=draw(st.integers(0, 3))
        )
    return NoOpRecord()


@st.composite
def record_scripts(draw: st.DrawFn, max_size: int = 25) -> list[Step]:
    """A valid sequence of records with increasing offsets and non-decreasing epochs."""
    model = _Model()
    steps: list[Step] = []
    offset, epoch = draw(st.integers(0, 5)), draw(st.integers(0, 2))
    for _ in range(draw(st.integers(0, max_size))):
        offset += draw(st.integers(1, 3))
        epoch += draw(st.sampled_from([0, 0, 0, 1]))
        steps.append(Step(_draw_record(draw, model, offset), offset, epoch))
    return steps
