"""MetadataImage: the immutable state of the cluster at one offset of the metadata log.

Theory of operation (Kafka's `metadata/image`): the metadata log is a sequence
of records; replaying its prefix up to offset N gives the image at N. Images
are produced only by `MetadataDelta.apply()` (kraft.metadata.delta) and are
never changed afterwards, so any number of readers (the broker's handlers, the
replica manager, publishers) may hold one without locks or copies.

Contracts:
- Every image and sub-image is a frozen msgspec Struct; every collection in
  one is a tuple or a `MappingProxyType` over a dict that nothing else
  references. Nothing in an image is ever mutated.
- Sub-images are shared between consecutive images when unchanged: if a delta
  touched only topic T, the new image's `cluster`, `features`, `configs`,
  `producer_ids` and every other `TopicImage` are the very same objects.
- Equality is by value (msgspec Struct `__eq__`), so two images built by
  different replay paths compare equal when they hold the same state.
- `provenance` is the offset and leader epoch of the last record applied
  (Kafka's MetadataProvenance without the timestamp); EMPTY is at (-1, -1).

Sub-images mirror Kafka's: FeaturesImage, ClusterImage (brokers and
controllers by id),
TopicsImage (topics by id and by name, each with its partitions),
ConfigurationsImage (configs by (resource type, resource name)) and
ProducerIdsImage (next producer id), ScramImage (SCRAM credentials by
mechanism and user) and AclsImage (ACLs by id). Quotas and delegation tokens
are not modelled yet.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, Final, NamedTuple, TypeVar

import msgspec

from kraft.metadata.records import (
    METADATA_VERSION,
    NO_LEADER,
    BrokerEndpoint,
    BrokerFeature,
    PartitionChangeRecord,
    PartitionRecord,
    RegisterBrokerRecord,
    RegisterControllerRecord,
)

__all__ = [
    "EMPTY",
    "EMPTY_MAPPING",
    "AclEntry",
    "AclsImage",
    "BrokerRegistration",
    "ClusterImage",
    "ConfigResource",
    "ConfigurationsImage",
    "ControllerRegistration",
    "FeaturesImage",
    "MetadataImage",
    "PartitionRegistration",
    "ProducerIdsImage",
    "Provenance",
    "ScramCredentialData",
    "ScramImage",
    "TopicImage",
    "TopicsImage",
    "frozen_mapping",
]

EMPTY_MAPPING: Final[Mapping[Any, Any]] = MappingProxyType({})

K = TypeVar("K")
V = TypeVar("V")


def frozen_mapping(items: dict[K, V]) -> Mapping[K, V]:
    """A read-only view of `items`, which the caller gives up (must not keep or mutate)."""
    return MappingProxyType(items) if items else EMPTY_MAPPING


class Provenance(msgspec.Struct, frozen=True):
    """Offset and leader epoch of the last record an image contains."""

    offset: int = -1
    epoch: int = -1


class FeaturesImage(msgspec.Struct, frozen=True):
    """Finalized feature levels by feature name; a missing feature is at level 0."""

    levels: Mapping[str, int] = EMPTY_MAPPING

    @property
    def metadata_version(self) -> int:
        """The metadata.version feature level, 0 if never set."""
        return self.levels.get(METADATA_VERSION, 0)


class BrokerRegistration(msgspec.Struct, frozen=True, kw_only=True):
    """A registered broker, as its RegisterBrokerRecord and later changes left it."""

    broker_id: int
    incarnation_id: uuid.UUID
    broker_epoch: int
    endpoints: tuple[BrokerEndpoint, ...] = ()
    features: tuple[BrokerFeature, ...] = ()
    rack: str | None = None
    fenced: bool = True
    in_controlled_shutdown: bool = False

    @classmethod
    def from_record(cls, record: RegisterBrokerRecord) -> BrokerRegistration:
        """The registration a RegisterBrokerRecord creates."""
        return cls(
            broker_id=record.broker_id,
            incarnation_id=record.incarnation_id,
            broker_epoch=record.broker_epoch,
            endpoints=record.endpoints,
            features=record.features,
            rack=record.rack,
            fenced=record.fenced,
            in_controlled_shutdown=record.in_controlled_shutdown,
        )

    @property
    def active(self) -> bool:
        """Unfenced and not in controlled shutdown: may lead partitions and be in
        ISRs, and receives new replicas."""
        return not self.fenced and not self.in_controlled_shutdown

    def endpoint(self, listener: str) -> BrokerEndpoint | None:
        """The endpoint this broker advertises for `listener`, if any."""
        for endpoint in self.endpoints:
            if endpoint.name == listener:
                return endpoint
        return None

    def to_record(self) -> RegisterBrokerRecord:
        """The RegisterBrokerRecord that recreates this registration (for snapshots)."""
        return RegisterBrokerRecord(
            broker_id=self.broker_id,
            incarnation_id=self.incarnation_id,
            broker_epoch=self.broker_epoch,
            endpoints=self.endpoints,
            features=self.features,
            rack=self.rack,
            fenced=self.fenced,
            in_controlled_shutdown=self.in_controlled_shutdown,
        )


class ControllerRegistration(msgspec.Struct, frozen=True, kw_only=True):
    """A registered controller (KIP-919), as its latest RegisterControllerRecord left it."""

    controller_id: int
    incarnation_id: uuid.UUID
    zk_migration_ready: bool = False
    endpoints: tuple[BrokerEndpoint, ...] = ()
    features: tuple[BrokerFeature, ...] = ()

    @classmethod
    def from_record(cls, record: RegisterControllerRecord) -> ControllerRegistration:
        return cls(controller_id=record.controller_id, incarnation_id=record.incarnation_id,
                   zk_migration_ready=record.zk_migration_ready, endpoints=record.endpoints,
                   features=record.features)

    def endpoint(self, listener: str) -> BrokerEndpoint | None:
        """The endpoint this controller registered for `listener`, if any."""
        return next((e for e in self.endpoints if e.name == listener), None)

    def to_record(self) -> RegisterControllerRecord:
        """The RegisterControllerRecord that recreates this registration (for snapshots)."""
        return RegisterControllerRecord(
            controller_id=self.controller_id, incarnation_id=self.incarnation_id,
            zk_migration_ready=self.zk_migration_ready, endpoints=self.endpoints,
            features=self.features)


class ClusterImage(msgspec.Struct, frozen=True):
    """Registered brokers by broker id, registered controllers by controller id
    (Kafka's ClusterImage: `controllers` is KIP-919's registration table)."""

    brokers: Mapping[int, BrokerRegistration] = EMPTY_MAPPING
    controllers: Mapping[int, ControllerRegistration] = EMPTY_MAPPING


class PartitionRegistration(msgspec.Struct, frozen=True, kw_only=True):
    """One partition's replicas, ISR, leader and epochs."""

    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    removing_replicas: tuple[int, ...] = ()
    adding_replicas: tuple[int, ...] = ()
    leader: int = NO_LEADER
    leader_recovery_state: int = 0
    leader_epoch: int = 0
    partition_epoch: int = 0

    @classmethod
    def from_record(cls, record: PartitionRecord) -> PartitionRegistration:
        """The partition state a PartitionRecord describes."""
        return cls(
            replicas=record.replicas,
            isr=record.isr,
            removing_replicas=record.removing_replicas,
            adding_replicas=record.adding_replicas,
            leader=record.leader,
            leader_recovery_state=record.leader_recovery_state,
            leader_epoch=record.leader_epoch,
            partition_epoch=record.partition_epoch,
        )

    def to_record(self, topic_id: uuid.UUID, partition_id: int) -> PartitionRecord:
        """The PartitionRecord that recreates this partition (for snapshots)."""
        return PartitionRecord(
            partition_id=partition_id,
            topic_id=topic_id,
            replicas=self.replicas,
            isr=self.isr,
            removing_replicas=self.removing_replicas,
            adding_replicas=self.adding_replicas,
            leader=self.leader,
            leader_recovery_state=self.leader_recovery_state,
            leader_epoch=self.leader_epoch,
            partition_epoch=self.partition_epoch,
        )

    def merge(self, change: PartitionChangeRecord) -> PartitionRegistration:
        """This partition after `change` (Kafka's PartitionRegistration.merge).

        A leader field that is set, even to the current leader, bumps
        leader_epoch; every change bumps partition_epoch.
        """
        leader, leader_epoch = self.leader, self.leader_epoch
        if change.leader is not None:
            leader, leader_epoch = change.leader, leader_epoch + 1
        return PartitionRegistration(
            replicas=self.replicas if change.replicas is None else change.replicas,
            isr=self.isr if change.isr is None else change.isr,
            removing_replicas=(
                self.removing_replicas
                if change.removing_replicas is None
                else change.removing_replicas
            ),
            adding_replicas=(
                self.adding_replicas if change.adding_replicas is None else change.adding_replicas
            ),
            leader=leader,
            leader_recovery_state=(
                self.leader_recovery_state
                if change.leader_recovery_state is None
                else change.leader_recovery_state
            ),
            leader_epoch=leader_epoch,
            partition_epoch=self.partition_epoch + 1,
        )


class TopicImage(msgspec.Struct, frozen=True):
    """One topic: its name, id and partitions by partition id."""

    name: str
    topic_id: uuid.UUID
    partitions: Mapping[int, PartitionRegistration] = EMPTY_MAPPING


class TopicsImage(msgspec.Struct, frozen=True):
    """All topics, indexed both by id and by name (the same TopicImage objects)."""

    by_id: Mapping[uuid.UUID, TopicImage] = EMPTY_MAPPING
    by_name: Mapping[str, TopicImage] = EMPTY_MAPPING

    def have_leaders(self, names: Iterable[str]) -> bool:
        """Every named topic exists and each of its partitions has a leader."""
        for name in names:
            topic = self.by_name.get(name)
            if topic is None or any(p.leader == NO_LEADER for p in topic.partitions.values()):
                return False
        return True


class ConfigResource(NamedTuple):
    """A config resource: Kafka's ConfigResource type id and the resource name."""

    type: int
    name: str


class ConfigurationsImage(msgspec.Struct, frozen=True):
    """Dynamic configs by resource; a resource with no configs is absent."""

    resources: Mapping[ConfigResource, Mapping[str, str]] = EMPTY_MAPPING

    def get(self, resource: ConfigResource) -> Mapping[str, str]:
        """The configs set on `resource` (empty if none)."""
        return self.resources.get(resource, EMPTY_MAPPING)


class ProducerIdsImage(msgspec.Struct, frozen=True):
    """The first producer id of the next block to hand out; -1 if none handed out yet."""

    next_producer_id: int = -1


class ScramCredentialData(msgspec.Struct, frozen=True):
    """A stored SCRAM credential (UserScramCredentialRecord without its keys)."""

    salt: bytes
    stored_key: bytes
    server_key: bytes
    iterations: int


class ScramImage(msgspec.Struct, frozen=True):
    """SCRAM credentials by (mechanism type, user name)."""

    credentials: Mapping[tuple[int, str], ScramCredentialData] = EMPTY_MAPPING

    def get(self, mechanism: int, name: str) -> ScramCredentialData | None:
        return self.credentials.get((mechanism, name))


class AclEntry(msgspec.Struct, frozen=True):
    """One ACL (AccessControlEntryRecord's fields, with Kafka's ids)."""

    resource_type: int
    resource_name: str
    pattern_type: int
    principal: str
    host: str
    operation: int
    permission_type: int


class AclsImage(msgspec.Struct, frozen=True):
    """Every ACL, by its id."""

    acls: Mapping[uuid.UUID, AclEntry] = EMPTY_MAPPING


class MetadataImage(msgspec.Struct, frozen=True, kw_only=True):
    """The whole cluster metadata state at `provenance`."""

    provenance: Provenance = Provenance()
    features: FeaturesImage = FeaturesImage()
    cluster: ClusterImage = ClusterImage()
    topics: TopicsImage = TopicsImage()
    configs: ConfigurationsImage = ConfigurationsImage()
    producer_ids: ProducerIdsImage = ProducerIdsImage()
    scram: ScramImage = ScramImage()
    acls: AclsImage = AclsImage()

    def is_empty(self) -> bool:
        """True if the image holds no state (provenance aside)."""
        return self.with_provenance(EMPTY.provenance) == EMPTY

    def with_provenance(self, provenance: Provenance) -> MetadataImage:
        """This image with a different provenance (used when loading a snapshot)."""
        return msgspec.structs.replace(self, provenance=provenance)


EMPTY: Final = MetadataImage()
