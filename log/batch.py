"""Kafka record batch v2 headers: parse, frame, validate, rewrite.

Layout (all big-endian; byte offsets from the start of the batch)::

    0  baseOffset            i64   \\ LOG_OVERHEAD (12 bytes): not part of
    8  batchLength           i32   /  batchLength, which counts from byte 12
    12 partitionLeaderEpoch  i32
    16 magic                 i8    (= 2)
    17 crc                   u32   CRC32C (Castagnoli) of bytes 21 .. end
    21 attributes            i16   bits 0-2 compression, 3 timestamp type
                                   (1 = LogAppendTime), 4 transactional,
                                   5 control, 6 delete horizon
    23 lastOffsetDelta       i32
    27 baseTimestamp         i64
    35 maxTimestamp          i64
    43 producerId            i64
    51 producerEpoch         i16
    53 baseSequence          i32
    57 recordsCount          i32
    61 records ...                 (see log.records; opaque when compressed)

A batch occupies `batchLength + 12` bytes. baseOffset, batchLength,
partitionLeaderEpoch and magic lie *outside* the CRC, so a leader assigns
offsets and its epoch by rewriting bytes 0-7 and 12-15 without touching the
CRC. Compressed batches are never opened here.

Validation follows Kafka (`ByteBufferLogInputStream`, `UnifiedLog.
analyzeAndValidateRecords`, `LogValidator.validateBatch`,
`ProduceRequest.validateRecords`) and reports Kafka's error codes:

* CORRUPT_MESSAGE (2): batchLength below the v2 header size, a magic byte
  outside 0..2, a CRC mismatch, or (unless a partial tail is allowed) bytes
  left over that do not form a whole batch. (Kafka silently trims such a
  tail from a produce request; we refuse the request -- no client sends one.)
* INVALID_RECORD (87): magic 0 or 1 -- Kafka rejects these for produce v3+
  with INVALID_RECORD, and this log stores v2 only (UNSUPPORTED_FOR_MESSAGE_
  FORMAT is what Kafka uses for down-conversion, which we never do); a
  negative lastOffsetDelta (from anyone: offsets could not be assigned); and
  for client appends: baseOffset != 0, recordsCount <= 0 or !=
  lastOffsetDelta + 1, control batches, a producer id with a negative base
  sequence. Produce v3+'s "exactly one batch per partition" rule is the
  produce handler's; the log accepts several batches per append.
* MESSAGE_TOO_LARGE (10): one batch larger than max.message.bytes.

Nothing here does I/O; functions take any buffer (bytes, bytearray, memoryview,
mmap) and never copy the records. Pure functions: thread-safe.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import NamedTuple

from kraft.log.crc import crc32c
from kraft.log.errors import ErrorCode, InvalidBatchError

Buffer = bytes | bytearray | memoryview

HEADER = struct.Struct(">qiibIhiqqqhii")
HEADER_SIZE = HEADER.size  # 61
assert HEADER_SIZE == 61
LOG_OVERHEAD = 12  # baseOffset + batchLength
MAGIC = 2

BASE_OFFSET_OFFSET = 0
LENGTH_OFFSET = 8
PARTITION_LEADER_EPOCH_OFFSET = 12
MAGIC_OFFSET = 16
CRC_OFFSET = 17
ATTRIBUTES_OFFSET = 21
MAX_TIMESTAMP_OFFSET = 35
RECORDS_OFFSET = 61

COMPRESSION_MASK = 0x07
TIMESTAMP_TYPE_MASK = 0x08
TRANSACTIONAL_FLAG = 0x10
CONTROL_FLAG = 0x20
DELETE_HORIZON_FLAG = 0x40

NO_TIMESTAMP = -1
NO_PARTITION_LEADER_EPOCH = -1
NO_PRODUCER_ID = -1

HEADER_PREFIX = struct.Struct(">qiib")  # baseOffset, batchLength, partitionLeaderEpoch, magic
_LENGTH_AND_MAGIC_END = MAGIC_OFFSET + 1
_I32 = struct.Struct(">i")
_I64 = struct.Struct(">q")
_U32 = struct.Struct(">I")
_new_header = tuple.__new__


class BatchHeader(NamedTuple):
    """The 61-byte v2 header, decoded with one `struct.unpack_from`."""

    base_offset: int
    batch_length: int
    partition_leader_epoch: int
    magic: int
    crc: int
    attributes: int
    last_offset_delta: int
    base_timestamp: int
    max_timestamp: int
    producer_id: int
    producer_epoch: int
    base_sequence: int
    records_count: int

    @property
    def size(self) -> int:
        """Bytes the whole batch occupies, LOG_OVERHEAD included."""
        return self.batch_length + LOG_OVERHEAD

    @property
    def last_offset(self) -> int:
        return self.base_offset + self.last_offset_delta

    @property
    def next_offset(self) -> int:
        return self.base_offset + self.last_offset_delta + 1

    @property
    def compression(self) -> int:
        return self.attributes & COMPRESSION_MASK

    @property
    def is_log_append_time(self) -> bool:
        return bool(self.attributes & TIMESTAMP_TYPE_MASK)

    @property
    def is_transactional(self) -> bool:
        return bool(self.attributes & TRANSACTIONAL_FLAG)

    @property
    def is_control(self) -> bool:
        return bool(self.attributes & CONTROL_FLAG)

    @property
    def has_producer_id(self) -> bool:
        return self.producer_id > NO_PRODUCER_ID


def parse_header(buf: Buffer, pos: int = 0) -> BatchHeader:
    """Decode the header of the batch at `pos`; `buf` must hold >= 61 bytes there."""
    return _new_header(BatchHeader, HEADER.unpack_from(buf, pos))


def crc_is_valid(buf: Buffer, pos: int, header: BatchHeader) -> bool:
    """True when the stored CRC32C matches bytes attributes..end of the batch."""
    with memoryview(buf) as view:
        body = view[pos + ATTRIBUTES_OFFSET : pos + header.size]
        try:
            return crc32c.crc32c(body) == header.crc
        finally:
            body.release()


def _check_framing(buf: Buffer, pos: int, end: int) -> int:
    """Kafka's `nextBatchSize`: the batch size at `pos`, or -1 if it is a partial tail.

    Length and magic are checked as soon as their bytes are present, so a
    garbage tail is reported as corrupt rather than as "partial".
    """
    remaining = end - pos
    if remaining < LOG_OVERHEAD:
        return -1
    batch_length = _I32.unpack_from(buf, pos + LENGTH_OFFSET)[0]
    if batch_length + LOG_OVERHEAD < HEADER_SIZE:
        raise InvalidBatchError(
            ErrorCode.CORRUPT_MESSAGE,
            f"batch at byte {pos}: batchLength {batch_length} is below the v2 minimum "
            f"{HEADER_SIZE - LOG_OVERHEAD}",
        )
    if remaining < _LENGTH_AND_MAGIC_END:
        return -1
    magic = buf[pos + MAGIC_OFFSET]
    if magic != MAGIC:
        if magic in (0, 1):
            raise InvalidBatchError(
                ErrorCode.INVALID_RECORD,
                f"batch at byte {pos}: magic {magic}; only record batch v2 is supported",
            )
        raise InvalidBatchError(
            ErrorCode.CORRUPT_MESSAGE, f"batch at byte {pos}: invalid magic {magic}"
        )
    size = batch_length + LOG_OVERHEAD
    if remaining < size:
        return -1
    return size


def _frame(buf: Buffer, pos: int, end: int) -> BatchHeader | None:
    """The header of the whole batch at `pos`, None for a partial tail; raises on
    bad framing. One `unpack_from` on the common path."""
    if end - pos >= HEADER_SIZE:
        header = _new_header(BatchHeader, HEADER.unpack_from(buf, pos))
        size = header[1] + LOG_OVERHEAD
        if size >= HEADER_SIZE and header[3] == MAGIC and pos + size <= end:
            return header
    size = _check_framing(buf, pos, end)
    assert size < 0, "a whole, well-framed batch was not recognised"
    return None


def _partial_tail(pos: int, end: int) -> InvalidBatchError:
    return InvalidBatchError(
        ErrorCode.CORRUPT_MESSAGE,
        f"{end - pos} trailing bytes at byte {pos} do not form a whole batch",
    )


def iter_batches(
    buf: Buffer, *, allow_partial_tail: bool = False, start: int = 0, end: int | None = None
) -> Iterator[tuple[int, BatchHeader]]:
    """Yield `(position, header)` for each whole batch in `buf[start:end]`.

    Checks framing only (length and magic), not the CRC. A trailing partial
    batch ends the iteration when `allow_partial_tail` (fetch responses are cut
    at max_bytes), otherwise it raises CORRUPT_MESSAGE.
    """
    if end is None:
        end = len(buf)
    pos = start
    while pos < end:
        header = _frame(buf, pos, end)
        if header is None:
            if allow_partial_tail:
                return
            raise _partial_tail(pos, end)
        yield pos, header
        pos += header[1] + LOG_OVERHEAD


def split_batches(
    buf: Buffer, *, allow_partial_tail: bool = False
) -> list[tuple[int, BatchHeader]]:
    """`iter_batches` as a list: the framing of concatenated batches."""
    return list(iter_batches(buf, allow_partial_tail=allow_partial_tail))


def validate_batches(
    buf: Buffer,
    *,
    max_message_bytes: int | None,
    client: bool,
    allow_partial_tail: bool = False,
) -> list[tuple[int, BatchHeader]]:
    """Frame and validate every batch; raise `InvalidBatchError` on the first failure.

    Checks, per batch and in Kafka's order: framing, (client) baseOffset == 0,
    size <= `max_message_bytes` (None: unchecked, as for replication), CRC32C,
    then the client-only checks of `LogValidator.validateBatch` (Kafka runs
    those after every batch's CRC; that differs only for multi-batch client
    requests, and produce v3+ sends one batch). Returns the batches on
    success; the caller has not written anything yet. This is the produce hot
    path: one `unpack_from` and one CRC call per batch.
    """
    view = buf if isinstance(buf, memoryview) else memoryview(buf)
    end = view.nbytes
    batches = []
    pos = 0
    crc32 = crc32c.crc32c
    unpack = HEADER.unpack_from
    while pos < end:
        # Inlined fast path of _frame(): a whole, well-framed batch.
        header = _new_header(BatchHeader, unpack(view, pos)) if end - pos >= HEADER_SIZE else None
        size = header[1] + LOG_OVERHEAD if header is not None else 0
        if header is None or size < HEADER_SIZE or header[3] != MAGIC or pos + size > end:
            header = _frame(view, pos, end)
            if header is None:
                if allow_partial_tail:
                    break
                raise _partial_tail(pos, end)
        if client and header[0] != 0:
            raise InvalidBatchError(
                ErrorCode.INVALID_RECORD,
                f"batch at byte {pos}: baseOffset {header.base_offset} should be 0",
            )
        if max_message_bytes is not None and size > max_message_bytes:
            raise InvalidBatchError(
                ErrorCode.MESSAGE_TOO_LARGE,
                f"batch at byte {pos} is {size} bytes, above max.message.bytes {max_message_bytes}",
            )
        crc = crc32(view[pos + ATTRIBUTES_OFFSET : pos + size])
        if crc != header[4]:
            raise InvalidBatchError(
                ErrorCode.CORRUPT_MESSAGE,
                f"batch at byte {pos}: stored crc {header.crc} != computed {crc}",
            )
        if header[6] < 0:
            raise InvalidBatchError(
                ErrorCode.INVALID_RECORD, f"batch at byte {pos}: negative lastOffsetDelta"
            )
        # header[5] attributes, [9] producerId, [11] baseSequence, [12] recordsCount
        if client and (
            header[12] != header[6] + 1 or header[5] & CONTROL_FLAG or (header[9] >= 0 > header[11])
        ):
            _validate_client_batch(pos, header)  # raises, saying which check failed
        batches.append((pos, header))
        pos += size
    return batches


def _validate_client_batch(pos: int, header: BatchHeader) -> None:
    """Kafka's `LogValidator.validateBatch` checks for AppendOrigin.CLIENT."""
    count = header.records_count
    if header.last_offset_delta < 0 or count <= 0 or count != header.last_offset_delta + 1:
        raise InvalidBatchError(
            ErrorCode.INVALID_RECORD,
            f"batch at byte {pos}: recordsCount {count} does not match "
            f"lastOffsetDelta {header.last_offset_delta}",
        )
    if header.attributes & CONTROL_FLAG:
        raise InvalidBatchError(
            ErrorCode.INVALID_RECORD, "clients are not allowed to write control records"
        )
    if header.producer_id > NO_PRODUCER_ID and header.base_sequence < 0:
        raise InvalidBatchError(
            ErrorCode.INVALID_RECORD,
            f"invalid sequence {header.base_sequence} for producerId {header.producer_id}",
        )


def rewrite_in_place(
    buf: bytearray | memoryview, pos: int, base_offset: int, partition_leader_epoch: int
) -> None:
    """Set baseOffset and partitionLeaderEpoch of the batch at `pos` in a writable buffer.

    Both fields lie outside the CRC, so the batch stays valid.
    """
    _I64.pack_into(buf, pos + BASE_OFFSET_OFFSET, base_offset)
    _I32.pack_into(buf, pos + PARTITION_LEADER_EPOCH_OFFSET, partition_leader_epoch)


def header_prefix(base_offset: int, batch_length: int, partition_leader_epoch: int) -> bytes:
    """The first 17 bytes of a v2 batch (outside the CRC).

    Writing this followed by bytes 17.. of the original batch is the same as
    `rewrite_in_place` without needing a writable copy of the batch.
    """
    return HEADER_PREFIX.pack(base_offset, batch_length, partition_leader_epoch, MAGIC)


def log_append_time_header(
    buf: Buffer,
    pos: int,
    header: BatchHeader,
    base_offset: int,
    partition_leader_epoch: int,
    log_append_time: int,
) -> bytes:
    """A replacement 61-byte header for message.timestamp.type=LogAppendTime.

    Sets the timestamp-type bit and maxTimestamp (both inside the CRC) as
    Kafka's `setMaxTimestamp` does, and recomputes the CRC over the new header
    bytes and the unchanged records.
    """
    new = bytearray(
        HEADER.pack(
            base_offset,
            header.batch_length,
            partition_leader_epoch,
            MAGIC,
            0,
            header.attributes | TIMESTAMP_TYPE_MASK,
            header.last_offset_delta,
            header.base_timestamp,
            log_append_time,
            header.producer_id,
            header.producer_epoch,
            header.base_sequence,
            header.records_count,
        )
    )
    crc = crc32c.crc32c(memoryview(new)[ATTRIBUTES_OFFSET:])
    with memoryview(buf) as view:
        records = view[pos + HEADER_SIZE : pos + header.size]
        crc = crc32c.crc32c(records, crc)
        records.release()
    _U32.pack_into(new, CRC_OFFSET, crc)
    return bytes(new)


def set_log_append_time_in_place(
    buf: bytearray | memoryview, pos: int, log_append_time: int
) -> None:
    """In-place form of `log_append_time_header` for a writable buffer."""
    header = parse_header(buf, pos)
    new = log_append_time_header(
        buf, pos, header, header.base_offset, header.partition_leader_epoch, log_append_time
    )
    buf[pos : pos + HEADER_SIZE] = new
