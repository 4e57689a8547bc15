"""MetadataDelta: replay metadata records on top of an image, then apply to a new image.

Theory of operation (Kafka's `MetadataDelta` and its per-area deltas): a delta
starts from a base `MetadataImage` and records only what changed. `replay`
feeds it one committed record at a time, in log order; `apply()` builds the
new image, copying only the parts that changed and sharing everything else
with the base image (copy-on-write):

- a sub-delta (features, cluster, topics, configs, producer ids) is created
  the first time a record touches its area; an area with no sub-delta keeps
  the base image's sub-image object;
- within topics, a PartitionChangeRecord touches one `TopicDelta`, so only
  that topic's partition map is rebuilt; every other `TopicImage` is shared.

The base image is never mutated, and `apply()` never hands the delta's own
dicts to the image, so the delta may go on replaying after `apply()` (each
`apply()` reflects everything replayed so far, as in Kafka).

Replay contract: records must be valid against the state the delta already
describes. The controller validates commands before it writes records, so an
inconsistent record (a PartitionChangeRecord for an unknown topic, a broker
change with a stale broker epoch, a topic id or name that is already taken,
offsets going backwards, ...) means a bug or a corrupt log, and `replay`
raises `MetadataReplayError`; the state the delta describes is then
unchanged. Checks that Kafka's delta does not make are noted below.

Record semantics (beyond the record docstrings in kraft.metadata.records):
- RegisterBrokerRecord replaces any earlier registration of that broker id;
  RegisterControllerRecord likewise for that controller id (KIP-919).
- UnregisterBrokerRecord and BrokerRegistrationChangeRecord need a
  registration with the same broker epoch (Kafka's `getBrokerOrThrow`).
- RemoveTopicRecord drops the topic, its partitions and its topic configs.
- PartitionRecord needs its topic; it replaces the partition if present.
- FeatureLevelRecord with level 0 removes the feature.
- ProducerIdsRecord must move next_producer_id strictly forward (the check
  Kafka's ProducerIdControlManager makes on replay).
- NoOpRecord changes only the provenance.
- SCRAM and ACL records: kraft.metadata.security_delta.
"""

from __future__ import annotations

import uuid
from typing import Any

from kraft.metadata import security_delta
from kraft.metadata.image import (
    BrokerRegistration,
    ClusterImage,
    ConfigResource,
    ConfigurationsImage,
    ControllerRegistration,
    FeaturesImage,
    MetadataImage,
    PartitionRegistration,
    ProducerIdsImage,
    Provenance,
    TopicImage,
    TopicsImage,
    frozen_mapping,
)
from kraft.metadata.records import (
    TOPIC_RESOURCE,
    AccessControlEntryRecord,
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

__all__ = [
    "ClusterDelta",
    "ConfigurationsDelta",
    "FeaturesDelta",
    "MetadataDelta",
    "MetadataReplayError",
    "ProducerIdsDelta",
    "TopicDelta",
    "TopicsDelta",
]


class MetadataReplayError(Exception):
    """A record that cannot be replayed on the current state: a bug or a corrupt log."""


class FeaturesDelta:
    """Changed feature levels; None marks a removed feature."""

    def __init__(self, image: FeaturesImage) -> None:
        self.image = image
        self.changes: dict[str, int | None] = {}

    def replay(self, record: FeatureLevelRecord) -> None:
        if record.feature_level < 0:
            raise MetadataReplayError(f"negative feature level in {record!r}")
        self.changes[record.name] = record.feature_level or None

    def apply(self) -> FeaturesImage:
        levels = dict(self.image.levels)
        for name, level in self.changes.items():
            if level is None:
                levels.pop(name, None)
            else:
                levels[name] = level
        return FeaturesImage(frozen_mapping(levels))


class ClusterDelta:
    """Changed broker registrations by broker id (None marks an unregistered broker)
    and changed controller registrations by controller id."""

    def __init__(self, image: ClusterImage) -> None:
        self.image = image
        self.changed_brokers: dict[int, BrokerRegistration | None] = {}
        self.changed_controllers: dict[int, ControllerRegistration] = {}

    def broker(self, broker_id: int) -> BrokerRegistration | None:
        """The broker's registration as of the records replayed so far."""
        if broker_id in self.changed_brokers:
            return self.changed_brokers[broker_id]
        return self.image.brokers.get(broker_id)

    def _broker_or_raise(self, broker_id: int, broker_epoch: int, what: str) -> BrokerRegistration:
        current = self.broker(broker_id)
        if current is None:
            raise MetadataReplayError(f"{what}: broker {broker_id} is not registered")
        if current.broker_epoch != broker_epoch:
            raise MetadataReplayError(
                f"{what}: broker {broker_id} has epoch {current.broker_epoch}, "
                f"record has {broker_epoch}"
            )
        return current

    def replay_register(self, record: RegisterBrokerRecord) -> None:
        self.changed_brokers[record.broker_id] = BrokerRegistration.from_record(record)

    def replay_register_controller(self, record: RegisterControllerRecord) -> None:
        self.changed_controllers[record.controller_id] = ControllerRegistration.from_record(
            record)

    def replay_unregister(self, record: UnregisterBrokerRecord) -> None:
        self._broker_or_raise(record.broker_id, record.broker_epoch, "unregister")
        self.changed_brokers[record.broker_id] = None

    def replay_change(self, record: BrokerRegistrationChangeRecord) -> None:
        current = self._broker_or_raise(record.broker_id, record.broker_epoch, "change")
        self.changed_brokers[record.broker_id] = BrokerRegistration(
            broker_id=current.broker_id,
            incarnation_id=current.incarnation_id,
            broker_epoch=current.broker_epoch,
            endpoints=current.endpoints,
            features=current.features,
            rack=current.rack,
            fenced=current.fenced if record.fenced is None else record.fenced,
            in_controlled_shutdown=(
                current.in_controlled_shutdown
                if record.in_controlled_shutdown is None
                else record.in_controlled_shutdown
            ),
        )

    def apply(self) -> ClusterImage:
        brokers = dict(self.image.brokers)
        for broker_id, registration in self.changed_brokers.items():
            if registration is None:
                brokers.pop(broker_id, None)
            else:
                brokers[broker_id] = registration
        controllers = self.image.controllers
        if self.changed_controllers:
            controllers = frozen_mapping({**controllers, **self.changed_controllers})
        return ClusterImage(frozen_mapping(brokers), controllers)


class TopicDelta:
    """Changed partitions of one topic (a new topic starts from an empty TopicImage)."""

    def __init__(self, image: TopicImage) -> None:
        self.image = image
        self.partition_changes: dict[int, PartitionRegistration] = {}

    @property
    def name(self) -> str:
        return self.image.name

    @property
    def topic_id(self) -> uuid.UUID:
        return self.image.topic_id

    def partition(self, partition_id: int) -> PartitionRegistration | None:
        """The partition as of the records replayed so far."""
        if partition_id in self.partition_changes:
            return self.partition_changes[partition_id]
        return self.image.partitions.get(partition_id)

    def replay_partition(self, record: PartitionRecord) -> None:
        self.partition_changes[record.partition_id] = PartitionRegistration.from_record(record)

    def replay_change(self, record: PartitionChangeRecord) -> None:
        current = self.partition(record.partition_id)
        if current is None:
            raise MetadataReplayError(
                f"partition change for unknown partition {self.name}-{record.partition_id}"
            )
        self.partition_changes[record.partition_id] = current.merge(record)

    def apply(self) -> TopicImage:
        partitions = dict(self.image.partitions)
        partitions.update(self.partition_changes)
        return TopicImage(self.image.name, self.image.topic_id, frozen_mapping(partitions))


class TopicsDelta:
    """Created, changed and deleted topics.

    `changed_topics` holds a TopicDelta for every topic created or changed in
    this delta and still alive; `deleted_topic_ids` holds ids of base-image
    topics deleted in this delta. A topic both created and deleted here
    appears in neither.
    """

    def __init__(self, image: TopicsImage) -> None:
        self.image = image
        self.changed_topics: dict[uuid.UUID, TopicDelta] = {}
        self.deleted_topic_ids: set[uuid.UUID] = set()
        self._created_names: dict[str, uuid.UUID] = {}

    def topic_id(self, name: str) -> uuid.UUID | None:
        """The id of the live topic called `name`, as of the records replayed so far."""
        if name in self._created_names:
            return self._created_names[name]
        topic = self.image.by_name.get(name)
        if topic is None or topic.topic_id in self.deleted_topic_ids:
            return None
        return topic.topic_id

    def _topic_delta(self, topic_id: uuid.UUID, what: str) -> TopicDelta:
        """The live topic's delta; a new one is not stored until the caller's replay succeeds."""
        delta = self.changed_topics.get(topic_id)
        if delta is not None:
            return delta
        topic = self.image.by_id.get(topic_id)
        if topic is None or topic_id in self.deleted_topic_ids:
            raise MetadataReplayError(f"{what} for unknown topic id {topic_id}")
        return TopicDelta(topic)

    def replay_topic(self, record: TopicRecord) -> None:
        if record.topic_id in self.image.by_id or record.topic_id in self.changed_topics:
            raise MetadataReplayError(f"topic id {record.topic_id} is already in use")
        if self.topic_id(record.name) is not None:
            raise MetadataReplayError(f"topic name {record.name!r} is already in use")
        self.changed_topics[record.topic_id] = TopicDelta(TopicImage(record.name, record.topic_id))
        self._created_names[record.name] = record.topic_id

    def replay_partition(self, record: PartitionRecord) -> None:
        delta = self._topic_delta(record.topic_id, "partition record")
        delta.replay_partition(record)
        self.changed_topics[record.topic_id] = delta

    def replay_change(self, record: PartitionChangeRecord) -> None:
        delta = self._topic_delta(record.topic_id, "partition change")
        delta.replay_change(record)
        self.changed_topics[record.topic_id] = delta

    def replay_remove(self, record: RemoveTopicRecord) -> str:
        """Remove the topic; returns its name (so its configs can go too)."""
        name = self._topic_delta(record.topic_id, "remove topic").name
        self.changed_topics.pop(record.topic_id, None)
        if self._created_names.get(name) == record.topic_id:
            del self._created_names[name]
        else:
            self.deleted_topic_ids.add(record.topic_id)
        return name

    def apply(self) -> TopicsImage:
        by_id = dict(self.image.by_id)
        by_name = dict(self.image.by_name)
        for topic_id in self.deleted_topic_ids:
            del by_name[by_id.pop(topic_id).name]
        for topic_id, delta in self.changed_topics.items():
            by_id[topic_id] = by_name[delta.name] = delta.apply()
        return TopicsImage(frozen_mapping(by_id), frozen_mapping(by_name))


class ConfigurationsDelta:
    """Changed configs by resource; a None value marks a deleted config."""

    def __init__(self, image: ConfigurationsImage) -> None:
        self.image = image
        self.changes: dict[ConfigResource, dict[str, str | None]] = {}

    def replay(self, record: ConfigRecord) -> None:
        resource = ConfigResource(record.resource_type, record.resource_name)
        self.changes.setdefault(resource, {})[record.name] = record.value

    def delete_resource(self, resource: ConfigResource) -> None:
        """Delete every config of `resource` (its topic was removed)."""
        changes = self.changes.setdefault(resource, {})
        for name in self.image.get(resource):
            changes[name] = None
        for name in changes:
            changes[name] = None

    def apply(self) -> ConfigurationsImage:
        resources = dict(self.image.resources)
        for resource, changes in self.changes.items():
            configs = dict(self.image.get(resource))
            for name, value in changes.items():
                if value is None:
                    configs.pop(name, None)
                else:
                    configs[name] = value
            if configs:
                resources[resource] = frozen_mapping(configs)
            else:
                resources.pop(resource, None)
        return ConfigurationsImage(frozen_mapping(resources))


class ProducerIdsDelta:
    """The next producer id after the records replayed so far."""

    def __init__(self, image: ProducerIdsImage) -> None:
        self.image = image
        self.next_producer_id = image.next_producer_id

    def replay(self, record: ProducerIdsRecord) -> None:
        if record.next_producer_id <= self.next_producer_id:
            raise MetadataReplayError(
                f"next producer id would go from {self.next_producer_id} "
                f"to {record.next_producer_id}"
            )
        self.next_producer_id = record.next_producer_id

    def apply(self) -> ProducerIdsImage:
        return ProducerIdsImage(self.next_producer_id)


class MetadataDelta:
    """Records replayed on top of `image`; `apply()` gives the resulting image.

    Sub-deltas are None until a record touches their area; publishers read
    them to learn what changed (e.g. `topics_delta.changed_topics`).
    """

    def __init__(self, image: MetadataImage) -> None:
        self.image = image
        self.provenance = image.provenance
        self.features_delta: FeaturesDelta | None = None
        self.cluster_delta: ClusterDelta | None = None
        self.topics_delta: TopicsDelta | None = None
        self.configs_delta: ConfigurationsDelta | None = None
        self.producer_ids_delta: ProducerIdsDelta | None = None
        self.scram_delta: security_delta.ScramDelta | None = None
        self.acls_delta: security_delta.AclsDelta | None = None

    def _scram(self) -> security_delta.ScramDelta:
        if self.scram_delta is None:
            self.scram_delta = security_delta.ScramDelta(self.image.scram)
        return self.scram_delta

    def _acls(self) -> security_delta.AclsDelta:
        if self.acls_delta is None:
            self.acls_delta = security_delta.AclsDelta(self.image.acls)
        return self.acls_delta

    def _features(self) -> FeaturesDelta:
        if self.features_delta is None:
            self.features_delta = FeaturesDelta(self.image.features)
        return self.features_delta

    def _cluster(self) -> ClusterDelta:
        if self.cluster_delta is None:
            self.cluster_delta = ClusterDelta(self.image.cluster)
        return self.cluster_delta

    def _topics(self) -> TopicsDelta:
        if self.topics_delta is None:
            self.topics_delta = TopicsDelta(self.image.topics)
        return self.topics_delta

    def _configs(self) -> ConfigurationsDelta:
        if self.configs_delta is None:
            self.configs_delta = ConfigurationsDelta(self.image.configs)
        return self.configs_delta

    def _producer_ids(self) -> ProducerIdsDelta:
        if self.producer_ids_delta is None:
            self.producer_ids_delta = ProducerIdsDelta(self.image.producer_ids)
        return self.producer_ids_delta

    def replay(self, record: MetadataRecord, offset: int, epoch: int) -> None:
        """Replay `record`, read from the metadata log at `offset` in leader `epoch`.

        Offsets and epochs must not go backwards; records of one snapshot all
        share the snapshot's offset and epoch. Raises MetadataReplayError, leaving
        the described state unchanged, if the record does not fit it.
        """
        if offset < self.provenance.offset or epoch < self.provenance.epoch:
            raise MetadataReplayError(
                f"record at offset {offset} epoch {epoch} is behind "
                f"offset {self.provenance.offset} epoch {self.provenance.epoch}"
            )
        match record:
            case RegisterBrokerRecord():
                self._cluster().replay_register(record)
            case UnregisterBrokerRecord():
                self._cluster().replay_unregister(record)
            case RegisterControllerRecord():
                self._cluster().replay_register_controller(record)
            case BrokerRegistrationChangeRecord():
                self._cluster().replay_change(record)
            case TopicRecord():
                self._topics().replay_topic(record)
            case PartitionRecord():
                self._topics().replay_partition(record)
            case PartitionChangeRecord():
                self._topics().replay_change(record)
            case RemoveTopicRecord():
                name = self._topics().replay_remove(record)
                self._configs().delete_resource(ConfigResource(TOPIC_RESOURCE, name))
            case ConfigRecord():
                self._configs().replay(record)
            case ProducerIdsRecord():
                self._producer_ids().replay(record)
            case FeatureLevelRecord():
                self._features().replay(record)
            case NoOpRecord():
                pass
            case UserScramCredentialRecord():
                self._scram().replay_set(record)
            case RemoveUserScramCredentialRecord():
                self._replay_security(self._scram().replay_remove, record)
            case AccessControlEntryRecord():
                self._replay_security(self._acls().replay_create, record)
            case RemoveAccessControlEntryRecord():
                self._replay_security(self._acls().replay_remove, record)
            case _:
                raise MetadataReplayError(f"cannot replay {type(record).__name__}")
        self.provenance = Provenance(offset, epoch)

    @staticmethod
    def _replay_security(replay: Any, record: MetadataRecord) -> None:
        try:
            replay(record)
        except security_delta.ReplayError as e:
            raise MetadataReplayError(str(e)) from None

    def apply(self) -> MetadataImage:
        """The image after every record replayed so far; untouched areas are shared."""
        image = self.image
        return MetadataImage(
            provenance=self.provenance,
            features=image.features if self.features_delta is None else self.features_delta.apply(),
            cluster=image.cluster if self.cluster_delta is None else self.cluster_delta.apply(),
            topics=image.topics if self.topics_delta is None else self.topics_delta.apply(),
            configs=image.configs if self.configs_delta is None else self.configs_delta.apply(),
            producer_ids=(
                image.producer_ids
                if self.producer_ids_delta is None
                else self.producer_ids_delta.apply()
            ),
            scram=image.scram if self.scram_delta is None else self.scram_delta.apply(),
            acls=image.acls if self.acls_delta is None else self.acls_delta.apply(),
        )
