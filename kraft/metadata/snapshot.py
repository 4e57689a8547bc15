"""Snapshots: a MetadataImage written as records, and records loaded back into an image.

A snapshot of the metadata log at offset N is the image at N written as the
shortest list of records that recreates it (Kafka's `MetadataImage.write`).
Replaying that list into a delta on the EMPTY image and stamping the result
with N's provenance gives an image equal to the original:

    load_snapshot(image_to_records(image), image.provenance) == image

Order (Kafka's): features (metadata.version first, so a reader learns the
version before anything else), brokers, controllers, topics (each TopicRecord followed by
its PartitionRecords), configs, producer ids. Within each area the order is
sorted by key, so equal images give identical record lists.

Framing the records into snapshot files (`*.checkpoint`) belongs to the raft
layer; this module only deals in records.
"""

from __future__ import annotations

from collections.abc import Iterable

from kraft.metadata.delta import MetadataDelta
from kraft.metadata.image import EMPTY, MetadataImage, Provenance
from kraft.metadata.records import (
    METADATA_VERSION,
    AccessControlEntryRecord,
    ConfigRecord,
    FeatureLevelRecord,
    MetadataRecord,
    ProducerIdsRecord,
    TopicRecord,
    UserScramCredentialRecord,
)

__all__ = ["image_to_records", "load_snapshot"]


def image_to_records(image: MetadataImage) -> list[MetadataRecord]:
    """The records that recreate `image` when replayed on EMPTY (provenance aside)."""
    records: list[MetadataRecord] = []
    levels = image.features.levels
    for name in sorted(levels, key=lambda n: (n != METADATA_VERSION, n)):
        records.append(FeatureLevelRecord(name=name, feature_level=levels[name]))
    for broker_id in sorted(image.cluster.brokers):
        records.append(image.cluster.brokers[broker_id].to_record())
    for controller_id in sorted(image.cluster.controllers):
        records.append(image.cluster.controllers[controller_id].to_record())
    for name in sorted(image.topics.by_name):
        topic = image.topics.by_name[name]
        records.append(TopicRecord(name=topic.name, topic_id=topic.topic_id))
        for partition_id in sorted(topic.partitions):
            records.append(topic.partitions[partition_id].to_record(topic.topic_id, partition_id))
    for resource in sorted(image.configs.resources):
        configs = image.configs.resources[resource]
        for name in sorted(configs):
            records.append(
                ConfigRecord(
                    resource_type=resource.type,
                    resource_name=resource.name,
                    name=name,
                    value=configs[name],
                )
            )
    if image.producer_ids.next_producer_id >= 0:
        records.append(
            ProducerIdsRecord(
                broker_id=-1,
                broker_epoch=-1,
                next_producer_id=image.producer_ids.next_producer_id,
            )
        )
    for (mechanism, name), cred in sorted(image.scram.credentials.items()):
        records.append(UserScramCredentialRecord(
            name=name, mechanism=mechanism, salt=cred.salt, stored_key=cred.stored_key,
            server_key=cred.server_key, iterations=cred.iterations))
    for acl_id, acl in sorted(image.acls.acls.items()):
        records.append(AccessControlEntryRecord(
            id=acl_id, resource_type=acl.resource_type, resource_name=acl.resource_name,
            pattern_type=acl.pattern_type, principal=acl.principal, host=acl.host,
            operation=acl.operation, permission_type=acl.permission_type))
    return records


def load_snapshot(records: Iterable[MetadataRecord], provenance: Provenance) -> MetadataImage:
    """The image a snapshot at `provenance` holds: `records` replayed on EMPTY.

    Raises MetadataReplayError if the records are not a consistent image.
    """
    delta = MetadataDelta(EMPTY)
    for record in records:
        delta.replay(record, provenance.offset, provenance.epoch)
    return delta.apply().with_provenance(provenance)
