"""Records inside an uncompressed v2 batch: build a batch, iterate its records.

Record layout (Kafka's `DefaultRecord`; varints are zigzag, protobuf style)::

    length          varint   bytes that follow, up to the end of the headers
    attributes      i8       unused, 0
    timestampDelta  varlong  timestamp - batch baseTimestamp
    offsetDelta     varint   offset - batch baseOffset
    keyLength       varint   -1 = null key
    key             bytes
    valueLength     varint   -1 = null value
    value           bytes
    headerCount     varint
      keyLength     varint   header key: UTF-8 string, never null
      key           bytes
      valueLength   varint   -1 = null value
      value         bytes

The log itself never opens batches on the produce or fetch path; this module
is for the builders of batches (metadata log, coordinators, control records,
tests) and for readers of uncompressed batches (ListOffsets by timestamp, log
replay). Compressed batches (attributes & 0x07 != 0) are rejected with
ValueError: decompression is a client concern.

Header keys are `str`; bytes that are not UTF-8 decode with
"surrogateescape", so `build_batch(iter_records(b))` reproduces the bytes.
Pure functions: thread-safe.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from kraft.log.batch import (
    ATTRIBUTES_OFFSET,
    CONTROL_FLAG,
    CRC_OFFSET,
    HEADER,
    HEADER_SIZE,
    LOG_OVERHEAD,
    MAGIC,
    NO_PARTITION_LEADER_EPOCH,
    NO_PRODUCER_ID,
    TRANSACTIONAL_FLAG,
    Buffer,
    parse_header,
)
from kraft.log.crc import crc32c
from kraft.log.errors import ErrorCode, InvalidBatchError

Header = tuple[str, bytes | None]


@dataclass(frozen=True, slots=True)
class Record:
    """One record. `offset` is absolute; the builder ignores it (deltas are 0..n-1)."""

    key: bytes | None
    value: bytes | None
    headers: tuple[Header, ...] = ()
    timestamp: int = -1
    offset: int = -1


def encode_varint(value: int, out: bytearray) -> None:
    """Append the zigzag varint of a signed 64-bit `value` to `out`."""
    v = ((value << 1) ^ (value >> 63)) & 0xFFFF_FFFF_FFFF_FFFF
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)


def decode_varint(buf: Buffer, pos: int, end: int, max_bytes: int = 10) -> tuple[int, int]:
    """Decode a zigzag varint at `pos`; return (value, next position).

    `max_bytes` is 5 for Kafka's varint (i32) and 10 for varlong.
    """
    shift = 0
    raw = 0
    for i in range(max_bytes):
        if pos + i >= end:
            raise InvalidBatchError(ErrorCode.INVALID_RECORD, "record data ends inside a varint")
        b = buf[pos + i]
        raw |= (b & 0x7F) << shift
        if not b & 0x80:
            return (raw >> 1) ^ -(raw & 1), pos + i + 1
        shift += 7
    raise InvalidBatchError(ErrorCode.INVALID_RECORD, f"varint longer than {max_bytes} bytes")


def _encode_bytes(value: bytes | None, out: bytearray) -> None:
    if value is None:
        encode_varint(-1, out)
    else:
        encode_varint(len(value), out)
        out += value


def encode_record(offset_delta: int, timestamp_delta: int, record: Record, out: bytearray) -> None:
    """Append one record in Kafka's `DefaultRecord` format to `out`."""
    body = bytearray(b"\x00")  # attributes
    encode_varint(timestamp_delta, body)
    encode_varint(offset_delta, body)
    _encode_bytes(record.key, body)
    _encode_bytes(record.value, body)
    encode_varint(len(record.headers), body)
    for key, value in record.headers:
        _encode_bytes(key.encode("utf-8", "surrogateescape"), body)
        _encode_bytes(value, body)
    encode_varint(len(body), out)
    out += body


def build_batch(
    records: Sequence[Record],
    *,
    base_offset: int = 0,
    partition_leader_epoch: int = NO_PARTITION_LEADER_EPOCH,
    producer_id: int = NO_PRODUCER_ID,
    producer_epoch: int = -1,
    base_sequence: int = -1,
    is_transactional: bool = False,
    is_control: bool = False,
) -> bytes:
    """Build an uncompressed v2 batch (CreateTime) holding `records`, CRC included.

    Offset deltas are 0..len-1; baseTimestamp is the first record's timestamp
    and maxTimestamp the largest, as in Kafka's `MemoryRecordsBuilder`.
    """
    if not records:
        raise ValueError("a record batch holds at least one record")
    base_timestamp = records[0].timestamp
    max_timestamp = max(r.timestamp for r in records)
    out = bytearray(HEADER_SIZE)
    for i, record in enumerate(records):
        encode_record(i, record.timestamp - base_timestamp, record, out)
    attributes = (TRANSACTIONAL_FLAG if is_transactional else 0) | (
        CONTROL_FLAG if is_control else 0
    )
    HEADER.pack_into(
        out,
        0,
        base_offset,
        len(out) - LOG_OVERHEAD,
        partition_leader_epoch,
        MAGIC,
        0,
        attributes,
        len(records) - 1,
        base_timestamp,
        max_timestamp,
        producer_id,
        producer_epoch,
        base_sequence,
        len(records),
    )
    crc = crc32c.crc32c(memoryview(out)[ATTRIBUTES_OFFSET:])
    out[CRC_OFFSET : CRC_OFFSET + 4] = crc.to_bytes(4, "big")
    return bytes(out)


def _decode_bytes(buf: Buffer, pos: int, end: int) -> tuple[bytes | None, int]:
    length, pos = decode_varint(buf, pos, end, 5)
    if length < 0:
        if length != -1:
            raise InvalidBatchError(ErrorCode.INVALID_RECORD, f"negative length {length}")
        return None, pos
    if pos + length > end:
        raise InvalidBatchError(ErrorCode.INVALID_RECORD, "record field runs past its record")
    return bytes(buf[pos : pos + length]), pos + length


def iter_records(batch: Buffer, pos: int = 0) -> Iterator[Record]:
    """Yield the records of the uncompressed batch at `pos` with absolute offsets.

    For LogAppendTime batches every record's timestamp is the batch's
    maxTimestamp, as Kafka's `DefaultRecordBatch` reports it. Malformed
    records raise `InvalidBatchError(INVALID_RECORD)`; the CRC is not checked.
    """
    header = parse_header(batch, pos)
    if header.compression:
        raise ValueError(f"batch is compressed (codec {header.compression}); not opened")
    end = pos + header.size
    if end > len(batch):
        raise InvalidBatchError(ErrorCode.CORRUPT_MESSAGE, "batch extends past the buffer")
    log_append_time = header.max_timestamp if header.is_log_append_time else None
    cursor = pos + HEADER_SIZE
    for _ in range(header.records_count):
        length, cursor = decode_varint(batch, cursor, end, 5)
        record_end = cursor + length
        if length < 1 or record_end > end:
            raise InvalidBatchError(ErrorCode.INVALID_RECORD, f"bad record length {length}")
        cursor += 1  # attributes
        timestamp_delta, cursor = decode_varint(batch, cursor, record_end, 10)
        offset_delta, cursor = decode_varint(batch, cursor, record_end, 5)
        key, cursor = _decode_bytes(batch, cursor, record_end)
        value, cursor = _decode_bytes(batch, cursor, record_end)
        header_count, cursor = decode_varint(batch, cursor, record_end, 5)
        if header_count < 0:
            raise InvalidBatchError(ErrorCode.INVALID_RECORD, f"{header_count} headers")
        headers: list[Header] = []
        for _ in range(header_count):
            hkey, cursor = _decode_bytes(batch, cursor, record_end)
            if hkey is None:
                raise InvalidBatchError(ErrorCode.INVALID_RECORD, "null header key")
            hvalue, cursor = _decode_bytes(batch, cursor, record_end)
            headers.append((hkey.decode("utf-8", "surrogateescape"), hvalue))
        if cursor != record_end:
            raise InvalidBatchError(
                ErrorCode.INVALID_RECORD, "record length does not match its fields"
            )
        yield Record(
            key=key,
            value=value,
            headers=tuple(headers),
            timestamp=(
                log_append_time
                if log_append_time is not None
                else header.base_timestamp + timestamp_delta
            ),
            offset=header.base_offset + offset_delta,
        )
    if cursor != end:
        raise InvalidBatchError(
            ErrorCode.INVALID_RECORD, "bytes remain after the declared record count"
        )
