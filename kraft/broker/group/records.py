"""The records of `__consumer_offsets`, in Kafka's own byte layout.

kio has no schemas for these (they are Kafka's coordinator records, not
protocol messages), so the layout is written out here, field by field, from
Kafka's `OffsetCommitKey/Value.json` and `GroupMetadataKey/Value.json`.
Kafka's tools (kafka-console-consumer with the offsets formatter,
kafka-dump-log --offsets-decoder) read what this module writes, and this
module reads what Kafka writes.

Every key and value starts with an int16. For keys it is the record type
(Kafka's "version" of the key, since 3.x its coordinator-record api key)::

    0, 1  OffsetCommitKey    group string, topic string, partition int32
    2     GroupMetadataKey   group string
    3+    KIP-848 / share / streams group records: not ours, skipped on load

Values start with their schema version; a null value is a tombstone (the
offset or the group was deleted; compaction drops the key later)::

    OffsetCommitValue (versions 0-4; 4 is flexible)
      offset int64; leaderEpoch int32 (v3+); metadata string;
      commitTimestamp int64; expireTimestamp int64 (v1 only)

    GroupMetadataValue (versions 0-4; 4 is flexible)
      protocolType string; generation int32; protocol nullable string;
      leader nullable string; currentStateTimestamp int64 (v2+);
      members [MemberMetadata]:
        memberId string; groupInstanceId nullable string (v3+); clientId string;
        clientHost string; rebalanceTimeout int32 (v1+); sessionTimeout int32;
        subscription bytes; assignment bytes

Non-flexible versions use int16-length strings (-1 = null), int32-length
bytes and int32-count arrays; flexible versions use unsigned-varint
"compact" lengths (length + 1, 0 = null) and end every struct with a tagged
field section, which we skip on read and write empty.

We write what Kafka 4 writes: OffsetCommitValue v3 (v1 when the commit
carries an explicit expire timestamp, from OffsetCommit v2-v4's retention
time), GroupMetadataValue v3, OffsetCommitKey type 1, GroupMetadataKey
type 2. Pure functions; a malformed record raises `RecordFormatError`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

OFFSET_COMMIT_KEY_V0 = 0
OFFSET_COMMIT_KEY = 1
GROUP_METADATA_KEY = 2
OFFSET_COMMIT_VALUE_VERSION = 3
OFFSET_COMMIT_VALUE_WITH_EXPIRY = 1
GROUP_METADATA_VALUE_VERSION = 3
MAX_VALUE_VERSION = 4
FLEXIBLE_FROM = 4

_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
_I64 = struct.Struct(">q")


class RecordFormatError(ValueError):
    """A `__consumer_offsets` key or value that does not parse."""


@dataclass(frozen=True, slots=True)
class OffsetCommitKey:
    group: str
    topic: str
    partition: int


@dataclass(frozen=True, slots=True)
class GroupMetadataKey:
    group: str


@dataclass(frozen=True, slots=True)
class OffsetCommitValue:
    """A committed offset. `leader_epoch` -1 = unknown; `expire_timestamp` -1 = none
    (the group's retention applies, KIP-211)."""

    offset: int
    metadata: str
    commit_timestamp: int
    leader_epoch: int = -1
    expire_timestamp: int = -1


@dataclass(frozen=True, slots=True)
class MemberMetadata:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout: int
    session_timeout: int
    subscription: bytes
    assignment: bytes


@dataclass(frozen=True, slots=True)
class GroupMetadataValue:
    """A classic group as the coordinator persists it: after each rebalance (with
    every member's assignment) and when it becomes empty."""

    protocol_type: str
    generation: int
    protocol: str | None
    leader: str | None
    current_state_timestamp: int
    members: tuple[MemberMetadata, ...]


RecordKey = OffsetCommitKey | GroupMetadataKey


# --- writer ---------------------------------------------------------------------------


class _Writer:
    def __init__(self, flexible: bool) -> None:
        self.out = bytearray()
        self.flexible = flexible

    def i16(self, v: int) -> None:
        self.out += _I16.pack(v)

    def i32(self, v: int) -> None:
        self.out += _I32.pack(v)

    def i64(self, v: int) -> None:
        self.out += _I64.pack(v)

    def uvarint(self, v: int) -> None:
        while v >= 0x80:
            self.out.append((v & 0x7F) | 0x80)
            v >>= 7
        self.out.append(v)

    def string(self, v: str | None) -> None:
        data = None if v is None else v.encode()
        if self.flexible:
            self.uvarint(0 if data is None else len(data) + 1)
        else:
            self.i16(-1 if data is None else len(data))
        if data is not None:
            self.out += data

    def bytes_(self, v: bytes) -> None:
        if self.flexible:
            self.uvarint(len(v) + 1)
        else:
            self.i32(len(v))
        self.out += v

    def array_length(self, n: int) -> None:
        if self.flexible:
            self.uvarint(n + 1)
        else:
            self.i32(n)

    def tagged_fields(self) -> None:
        if self.flexible:
            self.uvarint(0)


def encode_key(key: RecordKey) -> bytes:
    w = _Writer(flexible=False)
    if isinstance(key, OffsetCommitKey):
        w.i16(OFFSET_COMMIT_KEY)
        w.string(key.group)
        w.string(key.topic)
        w.i32(key.partition)
    else:
        w.i16(GROUP_METADATA_KEY)
        w.string(key.group)
    return bytes(w.out)


def encode_offset_commit_value(value: OffsetCommitValue, version: int | None = None) -> bytes:
    """Kafka's choice of version unless `version` is given (tests write them all)."""
    if version is None:
        version = (OFFSET_COMMIT_VALUE_WITH_EXPIRY if value.expire_timestamp >= 0
                   else OFFSET_COMMIT_VALUE_VERSION)
    _check_version(version)
    w = _Writer(flexible=version >= FLEXIBLE_FROM)
    w.i16(version)
    w.i64(value.offset)
    if version >= 3:
        w.i32(value.leader_epoch)
    w.string(value.metadata)
    w.i64(value.commit_timestamp)
    if version == 1:
        w.i64(value.expire_timestamp)
    w.tagged_fields()
    return bytes(w.out)


def encode_group_metadata_value(
    value: GroupMetadataValue, version: int = GROUP_METADATA_VALUE_VERSION
) -> bytes:
    _check_version(version)
    w = _Writer(flexible=version >= FLEXIBLE_FROM)
    w.i16(version)
    w.string(value.protocol_type)
    w.i32(value.generation)
    w.string(value.protocol)
    w.string(value.leader)
    if version >= 2:
        w.i64(value.current_state_timestamp)
    w.array_length(len(value.members))
    for m in value.members:
        w.string(m.member_id)
        if version >= 3:
            w.string(m.group_instance_id)
        w.string(m.client_id)
        w.string(m.client_host)
        if version >= 1:
            w.i32(m.rebalance_timeout)
        w.i32(m.session_timeout)
        w.bytes_(m.subscription)
        w.bytes_(m.assignment)
        w.tagged_fields()
    w.tagged_fields()
    return bytes(w.out)


def _check_version(version: int) -> None:
    if not 0 <= version <= MAX_VALUE_VERSION:
        raise ValueError(f"value version {version} is not 0-{MAX_VALUE_VERSION}")


# --- reader ---------------------------------------------------------------------------


class _Reader:
    def __init__(self, data: bytes, flexible: bool = False) -> None:
        self.data = data
        self.pos = 0
        self.flexible = flexible

    def _take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise RecordFormatError(f"record ends inside a field (byte {self.pos}, need {n})")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def i16(self) -> int:
        return _I16.unpack(self._take(2))[0]

    def i32(self) -> int:
        return _I32.unpack(self._take(4))[0]

    def i64(self) -> int:
        return _I64.unpack(self._take(8))[0]

    def uvarint(self) -> int:
        value = shift = 0
        for _ in range(5):
            b = self._take(1)[0]
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                return value
            shift += 7
        raise RecordFormatError("unsigned varint longer than 5 bytes")

    def nullable_string(self) -> str | None:
        n = self.uvarint() - 1 if self.flexible else self.i16()
        if n < 0:
            if n != -1:
                raise RecordFormatError(f"string length {n}")
            return None
        try:
            return self._take(n).decode()
        except UnicodeDecodeError as e:
            raise RecordFormatError(f"string is not UTF-8: {e}") from None

    def string(self) -> str:
        s = self.nullable_string()
        if s is None:
            raise RecordFormatError("null in a non-nullable string")
        return s

    def bytes_(self) -> bytes:
        n = self.uvarint() - 1 if self.flexible else self.i32()
        if n < 0:
            raise RecordFormatError(f"bytes length {n}")
        return self._take(n)

    def array_length(self) -> int:
        n = self.uvarint() - 1 if self.flexible else self.i32()
        if n < 0:
            raise RecordFormatError(f"array length {n}")
        return n

    def skip_tagged_fields(self) -> None:
        if not self.flexible:
            return
        for _ in range(self.uvarint()):
            self.uvarint()  # tag
            self._take(self.uvarint())

    def done(self) -> None:
        if self.pos != len(self.data):
            raise RecordFormatError(f"{len(self.data) - self.pos} trailing bytes")


def decode_key(data: bytes) -> RecordKey | None:
    """The key of a `__consumer_offsets` record; None for record types that are
    not classic-group records (KIP-848 and later), which the loader skips."""
    r = _Reader(data)
    record_type = r.i16()
    if record_type in (OFFSET_COMMIT_KEY_V0, OFFSET_COMMIT_KEY):
        key: RecordKey = OffsetCommitKey(r.string(), r.string(), r.i32())
    elif record_type == GROUP_METADATA_KEY:
        key = GroupMetadataKey(r.string())
    elif record_type > GROUP_METADATA_KEY:
        return None
    else:
        raise RecordFormatError(f"negative record type {record_type}")
    r.done()
    return key


def _value_reader(data: bytes) -> tuple[_Reader, int]:
    r = _Reader(data)
    version = r.i16()
    if not 0 <= version <= MAX_VALUE_VERSION:
        raise RecordFormatError(f"value version {version} is not 0-{MAX_VALUE_VERSION}")
    r.flexible = version >= FLEXIBLE_FROM
    return r, version


def decode_offset_commit_value(data: bytes) -> OffsetCommitValue:
    r, version = _value_reader(data)
    offset = r.i64()
    leader_epoch = r.i32() if version >= 3 else -1
    metadata = r.string()
    commit_timestamp = r.i64()
    expire_timestamp = r.i64() if version == 1 else -1
    r.skip_tagged_fields()
    r.done()
    return OffsetCommitValue(offset, metadata, commit_timestamp, leader_epoch, expire_timestamp)


def decode_group_metadata_value(data: bytes) -> GroupMetadataValue:
    r, version = _value_reader(data)
    protocol_type = r.string()
    generation = r.i32()
    protocol = r.nullable_string()
    leader = r.nullable_string()
    current_state_timestamp = r.i64() if version >= 2 else -1
    members = []
    for _ in range(r.array_length()):
        member_id = r.string()
        instance_id = r.nullable_string() if version >= 3 else None
        client_id = r.string()
        client_host = r.string()
        rebalance_timeout = r.i32() if version >= 1 else -1
        session_timeout = r.i32()
        subscription = r.bytes_()
        assignment = r.bytes_()
        r.skip_tagged_fields()
        members.append(MemberMetadata(member_id, instance_id, client_id, client_host,
                                      rebalance_timeout, session_timeout, subscription,
                                      assignment))
    r.skip_tagged_fields()
    r.done()
    return GroupMetadataValue(protocol_type, generation, protocol, leader,
                              current_state_timestamp, tuple(members))


def subscribed_topics(subscription: bytes) -> frozenset[str]:
    """The topics of a ConsumerProtocolSubscription (any version: v0's
    `version int16, topics [string]` prefixes them all, which is how Kafka reads it).
    Raises RecordFormatError if the bytes are not a subscription."""
    r = _Reader(subscription)
    if r.i16() < 0:
        raise RecordFormatError("negative consumer protocol version")
    return frozenset(r.string() for _ in range(r.array_length()))
