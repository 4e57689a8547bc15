"""Codec tests for kraft.metadata.records: round trips, tolerance, clear errors."""

from __future__ import annotations

import uuid

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kraft.metadata.records import (
    RECORD_TYPES,
    MetadataRecord,
    NoOpRecord,
    PartitionChangeRecord,
    Record,
    RecordDecodeError,
    RegisterBrokerRecord,
    TopicRecord,
    decode,
    encode,
)
from tests.metadata.strategies import RECORD_STRATEGIES, metadata_records

# Kafka's apiKeys (metadata/src/main/resources/common/metadata/*.json).
KAFKA_API_KEYS = {
    "RegisterBrokerRecord": 0,
    "UnregisterBrokerRecord": 1,
    "TopicRecord": 2,
    "PartitionRecord": 3,
    "ConfigRecord": 4,
    "PartitionChangeRecord": 5,
    "RemoveTopicRecord": 9,
    "FeatureLevelRecord": 12,
    "ProducerIdsRecord": 15,
    "BrokerRegistrationChangeRecord": 17,
    "NoOpRecord": 20,
    "UserScramCredentialRecord": 11,
    "RemoveUserScramCredentialRecord": 22,
    "AccessControlEntryRecord": 18,
    "RemoveAccessControlEntryRecord": 19,
    "RegisterControllerRecord": 27,
}


def test_tags_are_kafka_api_keys() -> None:
    """Every record type is tagged with Kafka's apiKey for it."""
    assert {cls.__name__: tag for tag, cls in RECORD_TYPES.items()} == KAFKA_API_KEYS


def test_strategies_cover_every_record_type() -> None:
    """There is a round-trip strategy for every record type, so none goes untested."""
    assert set(RECORD_STRATEGIES) == set(RECORD_TYPES.values())


@pytest.mark.parametrize("cls", list(RECORD_TYPES.values()), ids=lambda cls: cls.__name__)
@given(data=st.data())
def test_msgpack_round_trip(cls: type[MetadataRecord], data: st.DataObject) -> None:
    """decode(encode(r)) == r for every record type, and the type is preserved."""
    record = data.draw(RECORD_STRATEGIES[cls])
    decoded = decode(encode(record))
    assert decoded == record
    assert type(decoded) is cls


@given(metadata_records())
def test_json_round_trip(record: MetadataRecord) -> None:
    """The JSON form the dump tool prints decodes back to the same record."""
    assert msgspec.json.decode(msgspec.json.encode(record), type=Record) == record


@given(st.binary(max_size=64))
def test_garbage_raises_record_decode_error(data: bytes) -> None:
    """Arbitrary bytes decode to a record or raise RecordDecodeError, nothing else."""
    try:
        record = decode(data)
    except RecordDecodeError:
        return
    assert isinstance(record, MetadataRecord)


@given(metadata_records())
def test_truncated_and_trailing_bytes_raise(record: MetadataRecord) -> None:
    """Every strict prefix of an encoding, and an encoding with trailing bytes, is rejected."""
    data = encode(record)
    for end in range(len(data)):
        with pytest.raises(RecordDecodeError):
            decode(data[:end])
    with pytest.raises(RecordDecodeError):
        decode(data + b"\x00")


def test_unknown_type_tag_raises() -> None:
    """A record whose type tag is unknown (e.g. an ACL record, 18) is a RecordDecodeError."""
    with pytest.raises(RecordDecodeError):
        decode(msgspec.msgpack.encode({"type": 18, "version": 0}))


def test_wrong_field_type_raises() -> None:
    """A known record with a mistyped field is a RecordDecodeError."""
    with pytest.raises(RecordDecodeError):
        decode(msgspec.msgpack.encode({"type": 2, "name": 7, "topic_id": uuid.uuid4().bytes}))


def test_unknown_fields_are_tolerated() -> None:
    """Fields from a newer writer are ignored, and the record decodes."""
    topic_id = uuid.uuid4()
    data = msgspec.msgpack.encode(
        {"type": 2, "name": "t", "topic_id": topic_id.bytes, "version": 4, "future": [1, 2]}
    )
    assert decode(data) == TopicRecord(name="t", topic_id=topic_id, version=4)


def test_fields_missing_from_older_writers_take_defaults() -> None:
    """A record from a writer that predates defaulted fields decodes with the defaults."""
    incarnation = uuid.uuid4()
    data = msgspec.msgpack.encode(
        {"type": 0, "broker_id": 1, "incarnation_id": str(incarnation), "broker_epoch": 5}
    )
    assert decode(data) == RegisterBrokerRecord(
        broker_id=1, incarnation_id=incarnation, broker_epoch=5
    )
    assert decode(data).fenced is True


def test_partition_change_defaults_mean_unchanged() -> None:
    """A bare PartitionChangeRecord leaves every optional field None (unchanged)."""
    change = PartitionChangeRecord(partition_id=0, topic_id=uuid.uuid4())
    assert (change.isr, change.leader, change.replicas) == (None, None, None)


def test_records_are_frozen() -> None:
    """Records cannot be mutated after construction."""
    record = NoOpRecord()
    with pytest.raises(AttributeError):
        record.version = 1  # type: ignore[misc]
