"""Metadata records: the vocabulary of the `__cluster_metadata` log (KIP-631).

Every change to cluster metadata is one of these records. The active controller
writes them (inside the values of the metadata log's record batches and inside
snapshot files); every controller and broker replays them, in log order, into a
`MetadataDelta` (see `kraft.metadata.delta`). Names follow Kafka's
`metadata/src/main/resources/common/metadata/*.json`, in snake_case.

Encoding
--------
Each record is a frozen `msgspec.Struct` in one tagged union. The tag lives in
the field `type` and is Kafka's apiKey for that record (TopicRecord = 2, ...),
so a record is self-describing and `decode` needs no side channel. `encode`
writes MessagePack (compact, binary UUIDs as 16 raw bytes); tools print the
same structs as JSON with `msgspec.json`. Fields are encoded as a map keyed by
field name, never positionally, so fields can be added without breaking old
readers.

Versioning
----------
Every record carries a `version` field whose default is the current schema
version of that record type; writers always write it (defaults are not
omitted), so a reader knows which schema the writer used. The rules:

- Adding a field: give it a default and bump the record's `version` default.
  Records from older writers decode with the default; older readers ignore the
  new field (`forbid_unknown_fields=False`, which is msgspec's default and is
  set explicitly on the base class).
- Changing or removing the meaning of a field: add a new record type with a new
  tag instead, as Kafka replaced FenceBrokerRecord/UnfenceBrokerRecord (7/8)
  with BrokerRegistrationChangeRecord (17).
- Readers accept any `version`; a record from a newer writer is replayed with
  the fields this reader knows.

All records here are at version 0 of our own schema. Fields that Kafka added
for features we do not implement (log dirs, ELR, ZK migration) are left out;
they are tolerated if present.

Errors
------
`decode` raises `RecordDecodeError` (a `ValueError`) for anything that is not a
well-formed record of a known type: truncated or trailing bytes, wrong field
types, unknown `type` tags. Unknown *fields* are not errors.
"""

from __future__ import annotations

import uuid
from typing import Final, Union

import msgspec

__all__ = [
    "BROKER_RESOURCE",
    "METADATA_VERSION",
    "NO_LEADER",
    "RECORD_TYPES",
    "TOPIC_RESOURCE",
    "TRANSACTION_VERSION",
    "TRANSACTION_VERSION_LEVEL",
    "AccessControlEntryRecord",
    "BrokerEndpoint",
    "BrokerFeature",
    "BrokerRegistrationChangeRecord",
    "ConfigRecord",
    "FeatureLevelRecord",
    "MetadataRecord",
    "NoOpRecord",
    "PartitionChangeRecord",
    "PartitionRecord",
    "ProducerIdsRecord",
    "Record",
    "RecordDecodeError",
    "RegisterBrokerRecord",
    "RegisterControllerRecord",
    "RemoveAccessControlEntryRecord",
    "RemoveTopicRecord",
    "RemoveUserScramCredentialRecord",
    "TopicRecord",
    "UnregisterBrokerRecord",
    "UserScramCredentialRecord",
    "decode",
    "encode",
]

# ConfigResource.Type ids, as Kafka's DescribeConfigs/IncrementalAlterConfigs use them.
TOPIC_RESOURCE: Final = 2
BROKER_RESOURCE: Final = 4

# The feature whose level is the metadata.version (Kafka's MetadataVersion).
METADATA_VERSION: Final = "metadata.version"

# Kafka's TransactionVersion feature (KIP-890): 1 flexible __transaction_state
# values, 2 an epoch bump per transaction. kraft brokers support 0-2 and new
# clusters are bootstrapped at 2, as Kafka 4.x.
TRANSACTION_VERSION: Final = "transaction.version"
TRANSACTION_VERSION_LEVEL: Final = 2

# Leader id meaning "this partition has no leader" (Kafka's LeaderConstants.NO_LEADER).
NO_LEADER: Final = -1


class RecordDecodeError(ValueError):
    """Bytes that are not a well-formed metadata record of a known type."""


class MetadataRecord(
    msgspec.Struct,
    frozen=True,
    kw_only=True,
    tag_field="type",
    forbid_unknown_fields=False,
):
    """Base of every metadata record. Subclasses set `tag=<Kafka apiKey>`."""


class BrokerEndpoint(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=False):
    """One listener a broker (or a controller: Kafka's ControllerEndpoint, the same
    fields) advertises. `security_protocol` is Kafka's id (0 = PLAINTEXT)."""

    name: str
    host: str
    port: int
    security_protocol: int = 0


class BrokerFeature(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=False):
    """A feature range a broker (or controller) supports, inclusive at both ends."""

    name: str
    min_supported_version: int
    max_supported_version: int


class RegisterBrokerRecord(MetadataRecord, frozen=True, tag=0):
    """A broker registered (or re-registered, replacing the old registration).

    `broker_epoch` is the offset the controller wrote this record at, so it is
    unique and grows with every registration of the same broker.
    """

    broker_id: int
    incarnation_id: uuid.UUID
    broker_epoch: int
    endpoints: tuple[BrokerEndpoint, ...] = ()
    features: tuple[BrokerFeature, ...] = ()
    rack: str | None = None
    fenced: bool = True
    in_controlled_shutdown: bool = False
    version: int = 0


class RegisterControllerRecord(MetadataRecord, frozen=True, tag=27):
    """A controller registered (KIP-919), replacing any earlier registration of its
    id: its incarnation (one per process run), its controller listeners and the
    feature ranges it supports. `zk_migration_ready` is always False (kraft has no
    ZooKeeper migration); Kafka's field is kept so the record reads as Kafka's.
    """

    controller_id: int
    incarnation_id: uuid.UUID
    zk_migration_ready: bool = False
    endpoints: tuple[BrokerEndpoint, ...] = ()
    features: tuple[BrokerFeature, ...] = ()
    version: int = 0


class UnregisterBrokerRecord(MetadataRecord, frozen=True, tag=1):
    """A broker's registration was removed. `broker_epoch` must match the registration."""

    broker_id: int
    broker_epoch: int
    version: int = 0


class TopicRecord(MetadataRecord, frozen=True, tag=2):
    """A topic was created. Its partitions follow as PartitionRecords."""

    name: str
    topic_id: uuid.UUID
    version: int = 0


class PartitionRecord(MetadataRecord, frozen=True, tag=3):
    """The full state of one partition: written on creation and in snapshots.

    Replaying it replaces any earlier state of the same partition.
    """

    partition_id: int
    topic_id: uuid.UUID
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    removing_replicas: tuple[int, ...] = ()
    adding_replicas: tuple[int, ...] = ()
    leader: int = NO_LEADER
    leader_recovery_state: int = 0
    leader_epoch: int = 0
    partition_epoch: int = 0
    version: int = 0


class ConfigRecord(MetadataRecord, frozen=True, tag=4):
    """A dynamic config was set (`value` is a string) or deleted (`value` is None).

    `resource_type` is Kafka's ConfigResource type id: TOPIC_RESOURCE (2) or
    BROKER_RESOURCE (4); `resource_name` is the topic name, or the broker id as
    a string ("" for the cluster-wide broker default).
    """

    resource_type: int
    resource_name: str
    name: str
    value: str | None
    version: int = 0


class PartitionChangeRecord(MetadataRecord, frozen=True, tag=5):
    """A change to one partition; every optional field left as None is unchanged.

    Semantics, as Kafka's `PartitionRegistration.merge`:
    - `leader` not None sets the leader (NO_LEADER = -1 for none) and bumps
      `leader_epoch` by one, even if the value equals the current leader: that
      is how the controller forces an epoch bump (reassignment, or ISR shrink
      before metadata.version 3.6-IV0). Kafka encodes "unchanged" as -2; we
      use None.
    - Every PartitionChangeRecord bumps `partition_epoch` by one.
    - `isr`, `replicas`, `removing_replicas`, `adding_replicas`,
      `leader_recovery_state` replace the current value when not None.
    """

    partition_id: int
    topic_id: uuid.UUID
    isr: tuple[int, ...] | None = None
    leader: int | None = None
    replicas: tuple[int, ...] | None = None
    removing_replicas: tuple[int, ...] | None = None
    adding_replicas: tuple[int, ...] | None = None
    leader_recovery_state: int | None = None
    version: int = 0


class RemoveTopicRecord(MetadataRecord, frozen=True, tag=9):
    """A topic was deleted, with all its partitions and its dynamic configs."""

    topic_id: uuid.UUID
    version: int = 0


class FeatureLevelRecord(MetadataRecord, frozen=True, tag=12):
    """A finalized feature level was set; level 0 removes the feature (as in Kafka)."""

    name: str
    feature_level: int
    version: int = 0


class ProducerIdsRecord(MetadataRecord, frozen=True, tag=15):
    """A block of producer ids was handed to `broker_id`; the next block starts at
    `next_producer_id`. Snapshots write broker_id = broker_epoch = -1."""

    broker_id: int
    broker_epoch: int
    next_producer_id: int
    version: int = 0


class BrokerRegistrationChangeRecord(MetadataRecord, frozen=True, tag=17):
    """A change to a registered broker; None means unchanged (Kafka's int8 tri-state
    0). `broker_epoch` must match the current registration.

    Kafka only ever writes `in_controlled_shutdown` = True here (a fresh
    registration clears it); replay accepts False too.
    """

    broker_id: int
    broker_epoch: int
    fenced: bool | None = None
    in_controlled_shutdown: bool | None = None
    version: int = 0


class UserScramCredentialRecord(MetadataRecord, frozen=True, tag=11):
    """A user's SCRAM credential for one mechanism (1 = SCRAM-SHA-256, 2 =
    SCRAM-SHA-512) was set, replacing any earlier one: salt, StoredKey and
    ServerKey (RFC 5802), never the password. Tools print it redacted."""

    name: str
    mechanism: int
    salt: bytes
    stored_key: bytes
    server_key: bytes
    iterations: int
    version: int = 0


class AccessControlEntryRecord(MetadataRecord, frozen=True, tag=18):
    """An ACL was created, with Kafka's ids: resource type (2 TOPIC, 3 GROUP, 4 CLUSTER,
    5 TRANSACTIONAL_ID, 6 DELEGATION_TOKEN, 7 USER), pattern type (3 LITERAL,
    4 PREFIXED), operation (2 ALL .. 14 DESCRIBE_TOKENS) and permission
    (2 DENY, 3 ALLOW). `id` names it for its removal."""

    id: uuid.UUID
    resource_type: int
    resource_name: str
    pattern_type: int
    principal: str
    host: str
    operation: int
    permission_type: int
    version: int = 0


class RemoveAccessControlEntryRecord(MetadataRecord, frozen=True, tag=19):
    """The ACL `id` was deleted."""

    id: uuid.UUID
    version: int = 0


class NoOpRecord(MetadataRecord, frozen=True, tag=20):
    """Written by the active controller to advance the high watermark; no state."""

    version: int = 0


class RemoveUserScramCredentialRecord(MetadataRecord, frozen=True, tag=22):
    """A user's SCRAM credential for one mechanism was deleted."""

    name: str
    mechanism: int
    version: int = 0


Record = Union[  # noqa: UP007 -- a runtime value msgspec decodes into
    RegisterBrokerRecord,
    UnregisterBrokerRecord,
    TopicRecord,
    PartitionRecord,
    ConfigRecord,
    PartitionChangeRecord,
    RemoveTopicRecord,
    FeatureLevelRecord,
    ProducerIdsRecord,
    BrokerRegistrationChangeRecord,
    NoOpRecord,
    UserScramCredentialRecord,
    RemoveUserScramCredentialRecord,
    AccessControlEntryRecord,
    RemoveAccessControlEntryRecord,
    RegisterControllerRecord,
]

# Every record type, by its `type` tag (Kafka apiKey).
RECORD_TYPES: Final[dict[int, type[MetadataRecord]]] = {
    cls.__struct_config__.tag: cls
    for cls in Record.__args__  # type: ignore[attr-defined]
}

_encoder = msgspec.msgpack.Encoder(uuid_format="bytes")
_decoder = msgspec.msgpack.Decoder(Record)


def encode(record: MetadataRecord) -> bytes:
    """The MessagePack encoding of `record`, tag included."""
    return _encoder.encode(record)


def decode(data: bytes | bytearray | memoryview) -> MetadataRecord:
    """The record encoded in `data`, which must hold exactly one record.

    Raises RecordDecodeError for anything else.
    """
    try:
        return _decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise RecordDecodeError(f"not a metadata record: {exc}") from exc
