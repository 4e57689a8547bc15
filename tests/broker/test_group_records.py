"""`__consumer_offsets` record formats (kraft.broker.group.records): Kafka's bytes,
every value version, and the loader's replay of them (kraft.broker.group.loader)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kraft.broker.group.loader import LoadedState
from kraft.broker.group.records import (
    GroupMetadataKey,
    GroupMetadataValue,
    MemberMetadata,
    OffsetCommitKey,
    OffsetCommitValue,
    RecordFormatError,
    decode_group_metadata_value,
    decode_key,
    decode_offset_commit_value,
    encode_group_metadata_value,
    encode_key,
    encode_offset_commit_value,
    subscribed_topics,
)
from kraft.log.records import Record, build_batch

names = st.text(max_size=12)
i32 = st.integers(-(2**31), 2**31 - 1)
i64 = st.integers(-(2**63), 2**63 - 1)


@st.composite
def offset_values(draw: st.DrawFn, version: int) -> OffsetCommitValue:
    """Values with exactly the fields `version` has (others at their defaults)."""
    return OffsetCommitValue(
        offset=draw(i64), metadata=draw(names), commit_timestamp=draw(i64),
        leader_epoch=draw(i32) if version >= 3 else -1,
        expire_timestamp=draw(i64) if version == 1 else -1,
    )


@st.composite
def group_values(draw: st.DrawFn, version: int) -> GroupMetadataValue:
    members = tuple(MemberMetadata(
        member_id=draw(names),
        group_instance_id=draw(st.none() | names) if version >= 3 else None,
        client_id=draw(names), client_host=draw(names),
        rebalance_timeout=draw(i32) if version >= 1 else -1,
        session_timeout=draw(i32),
        subscription=draw(st.binary(max_size=40)), assignment=draw(st.binary(max_size=40)),
    ) for _ in range(draw(st.integers(0, 3))))
    return GroupMetadataValue(
        protocol_type=draw(names), generation=draw(i32), protocol=draw(st.none() | names),
        leader=draw(st.none() | names),
        current_state_timestamp=draw(i64) if version >= 2 else -1, members=members,
    )


def test_offset_commit_key_is_kafkas_layout() -> None:
    """OffsetCommitKey: type 1, then int16-length strings and the int32 partition."""
    assert encode_key(OffsetCommitKey("g", "t", 7)) == (
        b"\x00\x01" + b"\x00\x01g" + b"\x00\x01t" + b"\x00\x00\x00\x07")


def test_group_metadata_key_is_kafkas_layout() -> None:
    """GroupMetadataKey: type 2, then the group id."""
    assert encode_key(GroupMetadataKey("grp")) == b"\x00\x02\x00\x03grp"


def test_offset_commit_value_v3_is_kafkas_layout() -> None:
    """Version 3: offset, leader epoch, metadata, commit timestamp."""
    value = OffsetCommitValue(offset=42, metadata="m", commit_timestamp=1000, leader_epoch=5)
    assert encode_offset_commit_value(value) == (
        struct.pack(">hqi", 3, 42, 5) + b"\x00\x01m" + struct.pack(">q", 1000))


def test_explicit_expiry_is_written_as_version_1() -> None:
    """An explicit expire timestamp needs version 1, the only one with that field."""
    value = OffsetCommitValue(offset=1, metadata="", commit_timestamp=2, expire_timestamp=3)
    data = encode_offset_commit_value(value)
    assert data[:2] == b"\x00\x01"
    assert decode_offset_commit_value(data) == value


@given(st.integers(0, 4).flatmap(lambda v: st.tuples(st.just(v), offset_values(v))))
def test_offset_commit_value_round_trips_in_every_version(
    case: tuple[int, OffsetCommitValue],
) -> None:
    """Every OffsetCommitValue version 0-4 (4 flexible) decodes to what was encoded."""
    version, value = case
    assert decode_offset_commit_value(encode_offset_commit_value(value, version)) == value


@given(st.integers(0, 4).flatmap(lambda v: st.tuples(st.just(v), group_values(v))))
def test_group_metadata_value_round_trips_in_every_version(
    case: tuple[int, GroupMetadataValue],
) -> None:
    """Every GroupMetadataValue version 0-4 (4 flexible) decodes to what was encoded."""
    version, value = case
    assert decode_group_metadata_value(encode_group_metadata_value(value, version)) == value


@given(st.sampled_from([OffsetCommitKey("g", "t", 1), GroupMetadataKey("g")])
       | st.builds(OffsetCommitKey, names, names, i32) | st.builds(GroupMetadataKey, names))
def test_keys_round_trip(key: OffsetCommitKey | GroupMetadataKey) -> None:
    """Keys decode to what was encoded."""
    assert decode_key(encode_key(key)) == key


def test_flexible_value_skips_unknown_tagged_fields() -> None:
    """A v4 value with a tagged field we do not know (a newer Kafka's) still decodes."""
    value = OffsetCommitValue(offset=9, metadata="x", commit_timestamp=5, leader_epoch=1)
    data = encode_offset_commit_value(value, 4)
    assert data[-1] == 0  # empty tagged-field section
    with_tag = data[:-1] + bytes([1, 0, 3]) + b"abc"  # one field: tag 0, 3 bytes
    assert decode_offset_commit_value(with_tag) == value


def test_legacy_offset_key_type_0_and_newer_record_types() -> None:
    """Key type 0 is an OffsetCommitKey too; types above 2 (KIP-848 records) are skipped."""
    v1 = encode_key(OffsetCommitKey("g", "t", 3))
    assert decode_key(b"\x00\x00" + v1[2:]) == OffsetCommitKey("g", "t", 3)
    assert decode_key(b"\x00\x03\x00\x01g") is None


@pytest.mark.parametrize("data", [
    b"", b"\x00", b"\x00\x02\x00\x05ab", b"\x00\x02\x00\x01g!", b"\xff\xff\x00\x01g",
])
def test_malformed_keys_raise(data: bytes) -> None:
    """Truncated keys, trailing bytes and negative types are RecordFormatError."""
    with pytest.raises(RecordFormatError):
        decode_key(data)


@pytest.mark.parametrize("data", [
    b"\x00\x05" + b"\x00" * 20, b"\x00\x03\x00", b"\x00\x03" + b"\x00" * 30,
])
def test_malformed_values_raise(data: bytes) -> None:
    """Unknown versions, truncation and trailing bytes are RecordFormatError."""
    with pytest.raises(RecordFormatError):
        decode_offset_commit_value(data)


def test_subscribed_topics_reads_any_consumer_protocol_version() -> None:
    """The topic list prefixes every ConsumerProtocolSubscription version."""
    v0 = b"\x00\x00" + b"\x00\x00\x00\x02" + b"\x00\x01a" + b"\x00\x02bc" + b"\xff\xff\xff\xff"
    v3 = b"\x00\x03" + v0[2:] + b"\x00\x00\x00\x00" + b"\xff\xff\xff\xff" + b"\xff\xff"
    assert subscribed_topics(v0) == subscribed_topics(v3) == frozenset({"a", "bc"})
    with pytest.raises(RecordFormatError):
        subscribed_topics(b"\x00")


def _batch(*records: tuple[bytes, bytes | None]) -> bytes:
    return build_batch([Record(k, v, (), 0) for k, v in records])


def test_replay_keeps_the_last_value_and_applies_tombstones() -> None:
    """Later records replace earlier ones; tombstones delete; groups with only
    offsets are still groups."""
    key_a = encode_key(OffsetCommitKey("g", "t", 0))
    key_b = encode_key(OffsetCommitKey("g", "t", 1))
    meta = GroupMetadataValue("consumer", 3, "range", "m1", 10, ())
    state = LoadedState()
    data = (_batch((key_a, encode_offset_commit_value(OffsetCommitValue(1, "", 0))),
                   (key_b, encode_offset_commit_value(OffsetCommitValue(2, "", 0))))
            + _batch((key_a, encode_offset_commit_value(OffsetCommitValue(5, "x", 0))),
                     (key_b, None),
                     (encode_key(GroupMetadataKey("h")), encode_group_metadata_value(meta)),
                     (encode_key(OffsetCommitKey("s", "t", 0)),
                      encode_offset_commit_value(OffsetCommitValue(7, "", 0)))))
    state.replay_batches(memoryview(data))
    assert state.offsets["g"] == {("t", 0): OffsetCommitValue(5, "x", 0)}
    assert state.groups == {"h": meta}
    assert state.group_ids() == {"g", "h", "s"}
    state.replay_batches(memoryview(_batch((encode_key(GroupMetadataKey("h")), None),
                                           (key_a, None))))
    assert state.group_ids() == {"s"}


def test_replay_skips_malformed_records_and_counts_them() -> None:
    """A record that does not parse is skipped (and counted), not fatal."""
    state = LoadedState()
    good = (encode_key(OffsetCommitKey("g", "t", 0)),
            encode_offset_commit_value(OffsetCommitValue(1, "", 0)))
    state.replay_batches(memoryview(_batch((b"\x00\x01junk", b""), good)))
    assert state.skipped == 1
    assert state.offsets["g"][("t", 0)].offset == 1
