"""The records of `__transaction_state`, in Kafka's byte layout
(TransactionLogKey.json, TransactionLogValue.json).

Key (version 0 only, not flexible)::

    version int16 (0); transactionalId string (int16 length)

Value (version 0; version 1 is flexible, with tagged fields)::

    version int16; producerId int64; producerEpoch int16;
    transactionTimeoutMs int32; transactionStatus int8;
    transactionPartitions nullable [topic string, partitionIds [int32]];
    transactionLastUpdateTimestampMs int64; transactionStartTimestampMs int64
    (v1 tags: 0 previousProducerId, 1 nextProducerId, 2 clientTransactionVersion)

A null value is a tombstone: the transactional id expired. Status ids are
Kafka's TransactionState ids (kraft.broker.txn.metadata.TxnState). As Kafka
4 (TransactionVersion.transactionLogValueVersion), `encode_value` writes
version 0 while the finalized `transaction.version` is 0 and the flexible
version 1 from transaction version 1 on (the three tags written when not at
their defaults); an Empty state has null partitions. Both versions are read.
Pure functions; a malformed record raises `TxnRecordError`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

KEY_VERSION = 0
_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
_I64 = struct.Struct(">q")
_VALUE_HEAD = struct.Struct(">hqhib")


class TxnRecordError(ValueError):
    """A `__transaction_state` key or value that does not parse."""


@dataclass(frozen=True, slots=True)
class TxnLogValue:
    """A transactional id's state as persisted."""

    producer_id: int
    producer_epoch: int
    timeout_ms: int
    status: int
    partitions: tuple[tuple[str, int], ...]  # sorted (topic, partition)
    last_update_ms: int
    start_ms: int
    previous_producer_id: int = -1
    next_producer_id: int = -1
    client_transaction_version: int = 0


def _string(text: str) -> bytes:
    data = text.encode()
    return _I16.pack(len(data)) + data


def encode_key(transactional_id: str) -> bytes:
    return _I16.pack(KEY_VERSION) + _string(transactional_id)


def decode_key(data: bytes) -> str:
    """The transactional id of a key; TxnRecordError for anything else."""
    if len(data) < 4:
        raise TxnRecordError(f"key of {len(data)} bytes")
    (version,) = _I16.unpack_from(data)
    if version != KEY_VERSION:
        raise TxnRecordError(f"unknown key version {version}")
    (length,) = _I16.unpack_from(data, 2)
    if length < 0 or 4 + length != len(data):
        raise TxnRecordError(f"bad transactional id length {length}")
    return data[4:].decode()


def _uvarint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def value_version(transaction_version: int) -> int:
    """The value version Kafka writes at a finalized `transaction.version`."""
    return 1 if transaction_version >= 1 else 0


def encode_value(value: TxnLogValue, version: int = 0) -> bytes:
    """`value` in value `version` 0 or 1 (`value_version`). Empty state (status 0)
    has null partitions, as Kafka's TransactionLog.valueToBytes."""
    flexible = version >= 1
    by_topic: dict[str, list[int]] = {}
    for topic, partition in sorted(value.partitions):
        by_topic.setdefault(topic, []).append(partition)

    def length(n: int) -> bytes:
        return _uvarint(n + 1) if flexible else _I32.pack(n)

    def string(text: str) -> bytes:
        data = text.encode()
        return (_uvarint(len(data) + 1) if flexible else _I16.pack(len(data))) + data

    out = bytearray(_VALUE_HEAD.pack(version, value.producer_id, value.producer_epoch,
                                     value.timeout_ms, value.status))
    if value.status == 0:
        out += length(-1)
    else:
        out += length(len(by_topic))
        for topic, partitions in by_topic.items():
            out += string(topic)
            out += length(len(partitions))
            for p in partitions:
                out += _I32.pack(p)
            if flexible:
                out += _uvarint(0)
    out += _I64.pack(value.last_update_ms)
    out += _I64.pack(value.start_ms)
    if flexible:
        tags = []
        if value.previous_producer_id != -1:
            tags.append((0, _I64.pack(value.previous_producer_id)))
        if value.next_producer_id != -1:
            tags.append((1, _I64.pack(value.next_producer_id)))
        if value.client_transaction_version != 0:
            tags.append((2, _I16.pack(value.client_transaction_version)))
        out += _uvarint(len(tags))
        for tag, data in tags:
            out += _uvarint(tag) + _uvarint(len(data)) + data
    return bytes(out)


class _Reader:
    def __init__(self, data: bytes, flexible: bool) -> None:
        self.data = data
        self.pos = 0
        self.flexible = flexible

    def take(self, st: struct.Struct) -> int:
        if self.pos + st.size > len(self.data):
            raise TxnRecordError("value ends early")
        (v,) = st.unpack_from(self.data, self.pos)
        self.pos += st.size
        return int(v)

    def varint(self) -> int:
        shift = result = 0
        while True:
            if self.pos >= len(self.data) or shift > 28:
                raise TxnRecordError("bad varint")
            b = self.data[self.pos]
            self.pos += 1
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7

    def length(self) -> int:
        """An array or string length; -1 for null."""
        if self.flexible:
            return self.varint() - 1
        return self.take(_I32)

    def string(self) -> str:
        n = self.varint() - 1 if self.flexible else self.take(_I16)
        if n < 0 or self.pos + n > len(self.data):
            raise TxnRecordError(f"bad string length {n}")
        text = self.data[self.pos:self.pos + n].decode()
        self.pos += n
        return text

    def tags(self) -> dict[int, bytes]:
        found = {}
        if self.flexible:
            for _ in range(self.varint()):
                tag, size = self.varint(), self.varint()
                found[tag] = self.data[self.pos:self.pos + size]
                self.pos += size
        return found


def decode_value(data: bytes) -> TxnLogValue:
    if len(data) < 2:
        raise TxnRecordError("value without a version")
    (version,) = _I16.unpack_from(data)
    if version not in (0, 1):
        raise TxnRecordError(f"unknown value version {version}")
    r = _Reader(data, flexible=version >= 1)
    r.pos = 2
    producer_id = r.take(_I64)
    epoch = r.take(_I16)
    timeout = r.take(_I32)
    status = r.take(struct.Struct(">b"))
    partitions: list[tuple[str, int]] = []
    for _ in range(max(r.length(), 0)):
        topic = r.string()
        partitions += [(topic, r.take(_I32)) for _ in range(max(r.length(), 0))]
        r.tags()
    last_update = r.take(_I64)
    start = r.take(_I64)
    tags = r.tags()
    previous = _I64.unpack(tags[0])[0] if len(tags.get(0, b"")) == 8 else -1
    following = _I64.unpack(tags[1])[0] if len(tags.get(1, b"")) == 8 else -1
    client_tv = _I16.unpack(tags[2])[0] if len(tags.get(2, b"")) == 2 else 0
    if r.pos != len(data):
        raise TxnRecordError(f"{len(data) - r.pos} bytes after the value")
    return TxnLogValue(producer_id, epoch, timeout, status, tuple(sorted(partitions)),
                       last_update, start, previous, following, client_tv)
