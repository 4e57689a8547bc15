"""Opening and re-sealing record batches: codecs, raw records, rebuilt batches.

The produce and fetch paths never open a batch (docs/design.md); only the log
cleaner (log.cleaner) must, to drop records from a batch and write it back.
This module is what it needs:

* Codecs (attribute bits 0-2), as Kafka's v2 batches use them: 1 gzip (a
  gzip member, stdlib), 2 snappy (xerial's framing, which Java's
  `SnappyOutputStream` writes; raw snappy is read too, as librdkafka writes
  it), 3 lz4 (the LZ4 frame format with independent 64 KiB blocks and no
  content size, the only frames Kafka's `KafkaLZ4BlockInputStream` reads),
  4 zstd (a zstd frame). Snappy, lz4 and zstd need the python-snappy, lz4
  and zstandard packages; they are imported on first use and a missing one
  raises `CodecUnavailableError` naming the package -- never a silent skip.
* `open_records`: the records of a batch as `RawRecord`s (offset delta,
  timestamp delta, key, whether the value is null, and the record's bytes)
  without decoding headers, so a retained record is written back unchanged.
* `seal_batch`: Kafka's `MemoryRecords.buildRetainedRecordsInto` -- a batch
  of the retained records with the original baseOffset and lastOffsetDelta
  (so a producer's last sequence survives compaction), leader epoch,
  producer fields, flags and codec; records counted anew, CRC recomputed.
  With a delete horizon (KIP-534) the delete-horizon attribute bit is set,
  baseTimestamp holds the horizon and every timestampDelta is re-based so
  record timestamps do not change.
* `empty_batch`: Kafka's `DefaultRecordBatch.writeEmptyHeader`, a 61-byte
  batch with no records covering an offset range; `gap_batch` one with no
  producer and no timestamps, standing for offsets the cleaner dropped;
  `trim_gap_batch` cuts a leading gap batch at a follower's log end offset.

Pure functions, thread-safe; meant for the cleaner's worker thread.
"""

from __future__ import annotations

import importlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType

from kraft.log.batch import (
    ATTRIBUTES_OFFSET,
    CONTROL_FLAG,
    CRC_OFFSET,
    DELETE_HORIZON_FLAG,
    HEADER,
    HEADER_SIZE,
    LOG_OVERHEAD,
    MAGIC,
    NO_PRODUCER_ID,
    NO_TIMESTAMP,
    TIMESTAMP_TYPE_MASK,
    TRANSACTIONAL_FLAG,
    BatchHeader,
    Buffer,
    crc_is_valid,
    parse_header,
)
from kraft.log.crc import crc32c
from kraft.log.errors import ErrorCode, InvalidBatchError
from kraft.log.records import decode_varint, encode_varint

NONE = 0
GZIP = 1
SNAPPY = 2
LZ4 = 3
ZSTD = 4
CODEC_NAMES = {NONE: "none", GZIP: "gzip", SNAPPY: "snappy", LZ4: "lz4", ZSTD: "zstd"}
# codec -> (module to import, the PyPI package that provides it)
_MODULES = {
    SNAPPY: ("snappy", "python-snappy"),
    LZ4: ("lz4.frame", "lz4"),
    ZSTD: ("zstandard", "zstandard"),
}

_XERIAL_MAGIC = b"\x82SNAPPY\x00"
_XERIAL_HEADER = _XERIAL_MAGIC + struct.pack(">ii", 1, 1)
_XERIAL_BLOCK = 32 * 1024  # xerial's default block size
_I32 = struct.Struct(">i")


class CodecUnavailableError(RuntimeError):
    """A batch uses a codec whose Python package is not installed. Install it."""


def _module(codec: int) -> ModuleType:
    name, package = _MODULES[codec]
    try:
        return importlib.import_module(name)
    except ImportError as e:
        raise CodecUnavailableError(
            f"{CODEC_NAMES[codec]} batches need the {package!r} package, which is not installed"
        ) from e


def codec_available(codec: int) -> bool:
    """True if batches of `codec` can be opened and re-sealed here."""
    if codec in (NONE, GZIP):
        return True
    if codec not in _MODULES:
        return False
    try:
        _module(codec)
    except CodecUnavailableError:
        return False
    return True


def decompress(codec: int, data: Buffer) -> bytes:
    """The uncompressed bytes of a batch's records section.

    Raises `CodecUnavailableError` for a codec whose package is missing and
    `InvalidBatchError(CORRUPT_MESSAGE)` for data the codec rejects or an
    unknown codec id.
    """
    if codec == NONE:
        return bytes(data)
    try:
        if codec == GZIP:
            import gzip  # on first use: most logs never hold a gzip batch (issue 12)

            return gzip.decompress(data)
        if codec == SNAPPY:
            return _snappy_decompress(_module(SNAPPY), bytes(data))
        if codec == LZ4:
            return _module(LZ4).decompress(bytes(data))
        if codec == ZSTD:
            reader = _module(ZSTD).ZstdDecompressor().decompressobj(read_across_frames=True)
            return reader.decompress(bytes(data))
    except CodecUnavailableError:
        raise
    except Exception as e:  # each codec library raises its own error types
        raise InvalidBatchError(
            ErrorCode.CORRUPT_MESSAGE, f"{CODEC_NAMES[codec]} data does not decompress: {e}"
        ) from e
    raise InvalidBatchError(ErrorCode.CORRUPT_MESSAGE, f"unknown compression codec {codec}")


def _snappy_decompress(snappy: ModuleType, data: bytes) -> bytes:
    if not data.startswith(_XERIAL_MAGIC):
        return snappy.decompress(data)
    out = []
    pos = len(_XERIAL_HEADER)
    while pos < len(data):
        (size,) = _I32.unpack_from(data, pos)
        pos += 4
        if size < 0 or pos + size > len(data):
            raise ValueError("xerial block runs past the data")
        out.append(snappy.decompress(data[pos : pos + size]))
        pos += size
    return b"".join(out)


def compress(codec: int, data: bytes) -> bytes:
    """`data` compressed as a batch's records section of codec `codec` (see module doc)."""
    if codec == NONE:
        return data
    if codec == GZIP:
        import gzip  # on first use, as in decompress

        return gzip.compress(data)
    if codec == SNAPPY:
        snappy = _module(SNAPPY)
        blocks = [_XERIAL_HEADER]
        for start in range(0, len(data), _XERIAL_BLOCK):
            block = snappy.compress(data[start : start + _XERIAL_BLOCK])
            blocks.append(_I32.pack(len(block)))
            blocks.append(block)
        return b"".join(blocks)
    if codec == LZ4:
        lz4 = _module(LZ4)
        return lz4.compress(
            data,
            block_size=lz4.BLOCKSIZE_MAX64KB,
            block_linked=False,
            content_checksum=False,
            block_checksum=False,
            store_size=False,
        )
    if codec == ZSTD:
        return _module(ZSTD).ZstdCompressor().compress(data)
    raise ValueError(f"unknown compression codec {codec}")


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One record of a batch, as parsed by `open_records`.

    `data` is the whole record (its length varint included); `rest` the bytes
    after timestampDelta (offsetDelta, key, value, headers), kept to re-encode
    the record with another timestampDelta.
    """

    offset_delta: int
    timestamp_delta: int
    key: bytes | None
    has_value: bool
    attributes: int
    data: bytes
    rest: bytes


def records_section(batch: Buffer, header: BatchHeader) -> bytes:
    """The (decompressed) records section of `batch`, whose header is `header`."""
    with memoryview(batch) as view:
        return decompress(header.compression, view[HEADER_SIZE : header.size])


def open_records(batch: Buffer, header: BatchHeader) -> list[RawRecord]:
    """The records of the batch in `batch` (starting at byte 0).

    Raises `InvalidBatchError` when the records do not parse, do not fill the
    section exactly or do not number `recordsCount`, and `CodecUnavailableError`
    as `decompress` does.
    """
    section = records_section(batch, header)
    end = len(section)
    records: list[RawRecord] = []
    pos = 0
    for _ in range(header.records_count):
        length, body = decode_varint(section, pos, end, 5)
        record_end = body + length
        if length < 1 or record_end > end:
            raise InvalidBatchError(ErrorCode.INVALID_RECORD, f"bad record length {length}")
        attributes = section[body]
        timestamp_delta, cursor = decode_varint(section, body + 1, record_end, 10)
        rest_start = cursor
        offset_delta, cursor = decode_varint(section, cursor, record_end, 5)
        key_length, cursor = decode_varint(section, cursor, record_end, 5)
        key = None
        if key_length >= 0:
            if cursor + key_length > record_end:
                raise InvalidBatchError(ErrorCode.INVALID_RECORD, "key runs past its record")
            key = section[cursor : cursor + key_length]
            cursor += key_length
        elif key_length != -1:
            raise InvalidBatchError(ErrorCode.INVALID_RECORD, f"key length {key_length}")
        value_length, cursor = decode_varint(section, cursor, record_end, 5)
        if value_length < -1 or cursor + max(value_length, 0) > record_end:
            raise InvalidBatchError(ErrorCode.INVALID_RECORD, f"value length {value_length}")
        records.append(
            RawRecord(
                offset_delta,
                timestamp_delta,
                key,
                value_length >= 0,
                attributes,
                section[pos:record_end],
                section[rest_start:record_end],
            )
        )
        pos = record_end
    if pos != end:
        raise InvalidBatchError(
            ErrorCode.INVALID_RECORD, "records do not fill the batch's records section"
        )
    return records


def _pack(
    header: BatchHeader,
    attributes: int,
    base_timestamp: int,
    max_timestamp: int,
    records_count: int,
    section: bytes,
) -> bytes:
    out = bytearray(HEADER_SIZE)
    HEADER.pack_into(
        out,
        0,
        header.base_offset,
        HEADER_SIZE + len(section) - LOG_OVERHEAD,
        header.partition_leader_epoch,
        MAGIC,
        0,
        attributes,
        header.last_offset_delta,
        base_timestamp,
        max_timestamp,
        header.producer_id,
        header.producer_epoch,
        header.base_sequence,
        records_count,
    )
    out += section
    crc = crc32c.crc32c(memoryview(out)[ATTRIBUTES_OFFSET:])
    struct.pack_into(">I", out, CRC_OFFSET, crc)
    return bytes(out)


def seal_batch(
    header: BatchHeader, records: Sequence[RawRecord], delete_horizon_ms: int | None
) -> bytes:
    """A batch of `records` (a non-empty subset of the batch `header` describes, in
    order) with `header`'s offsets, producer fields, flags and codec.

    `delete_horizon_ms` None keeps the original baseTimestamp and records'
    bytes; otherwise the batch carries that delete horizon (KIP-534) and the
    timestamp deltas are re-based on it. maxTimestamp is the largest retained
    record timestamp (the batch's, for LogAppendTime).
    """
    if not records:
        raise ValueError("seal_batch needs at least one record; see empty_batch")
    old_base = header.base_timestamp
    attributes = header.attributes & ~DELETE_HORIZON_FLAG
    if delete_horizon_ms is not None:
        attributes |= DELETE_HORIZON_FLAG
    if delete_horizon_ms is None or delete_horizon_ms == old_base:
        base = old_base
        parts = [r.data for r in records]
    else:
        base = delete_horizon_ms
        parts = []
        for r in records:
            body = bytearray((r.attributes,))
            encode_varint(old_base + r.timestamp_delta - base, body)
            body += r.rest
            framed = bytearray()
            encode_varint(len(body), framed)
            parts.append(bytes(framed + body))
    if header.is_log_append_time:
        max_timestamp = header.max_timestamp
    else:
        max_timestamp = max(old_base + r.timestamp_delta for r in records)
    section = compress(header.compression, b"".join(parts))
    return _pack(header, attributes, base, max_timestamp, len(records), section)


def empty_batch(header: BatchHeader) -> bytes:
    """Kafka's `writeEmptyHeader` for the batch `header` describes: same offsets,
    leader epoch, producer fields, transactional/control flags and timestamp
    type; no compression, no records, baseTimestamp NO_TIMESTAMP, maxTimestamp
    kept (the batch a producer's idempotence state needs, KIP-98)."""
    attributes = header.attributes & (TRANSACTIONAL_FLAG | CONTROL_FLAG | TIMESTAMP_TYPE_MASK)
    return _pack(header, attributes, NO_TIMESTAMP, header.max_timestamp, 0, b"")


def gap_batch(start: int, last: int, partition_leader_epoch: int) -> bytes:
    """An empty batch for offsets [start, last]: no producer id, no timestamps."""
    header = BatchHeader(
        start, 0, partition_leader_epoch, MAGIC, 0, 0, last - start,
        NO_TIMESTAMP, NO_TIMESTAMP, NO_PRODUCER_ID, -1, -1, 0,
    )  # fmt: skip
    return empty_batch(header)


def trim_gap_batch(view: memoryview, log_end_offset: int, latest_epoch: int | None) -> memoryview:
    """For a follower append: if `view` starts with a valid gap batch holding
    `log_end_offset` above its base (a compacted leader merges each run of dropped
    batches into one, where Kafka leaves a hole, so a lagging follower's log end
    offset can lie inside it), the same bytes with that batch replaced by a gap
    batch from `log_end_offset` to its last offset -- same size, so positions stay
    valid -- at an epoch no lower than `latest_epoch` (the dropped offsets' real
    epochs lie between the two). Otherwise `view` itself."""
    if view.nbytes < HEADER_SIZE:
        return view
    first = parse_header(view)
    if not (
        first.magic == MAGIC
        and first.records_count == 0
        and first.producer_id == NO_PRODUCER_ID
        and first.base_offset < log_end_offset <= first.last_offset
        and first.size == HEADER_SIZE
        and crc_is_valid(view, 0, first)
    ):
        return view
    epoch = first.partition_leader_epoch
    if latest_epoch is not None and latest_epoch > epoch:
        epoch = latest_epoch
    trimmed = gap_batch(log_end_offset, first.last_offset, epoch)
    return memoryview(trimmed + bytes(view[HEADER_SIZE:]))
