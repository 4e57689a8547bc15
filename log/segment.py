"""One log segment: `<base>.log` of v2 batches plus its `.index` and `.timeindex`.

Files (Kafka's names; `<base>` is the segment's base offset, 20 digits,
zero-padded, e.g. `00000000000000001234.log`)::

    <base>.log        record batches back to back, exactly as produced
                      (after offset assignment); no header, no padding
    <base>.index      sparse offset index (log.index)
    <base>.timeindex  sparse time index (log.index)
    <base>.txnindex   aborted transactions whose abort marker is in this
                      segment (log.txnindex), only once there is one

The first batch starts at the segment's base offset and every batch starts
right after the previous one's last offset: offsets are contiguous (this log
never compacts), which is also how recovery detects a damaged baseOffset --
a field the CRC does not cover. Last offsets stay within base + 2**31 - 1
(indexes store i32 relative offsets); byte positions fit in an i32.

Appends are positioned writes (`os.pwritev`) at the current size: the data
goes to the file first, then the in-memory indexes are updated. Nothing is
fsynced here except by `fsync()`, which the owning log calls from `flush`.

Crash behaviour: `recover()` re-reads the whole `.log` through mmap,
checking every batch's framing, magic, CRC32C and offset contiguity,
truncates the file at the first bad or torn batch, and rebuilds both indexes
from the valid batches (it never trusts an index over the data).
`sanity_check()` is the cheap test for segments below the recovery point:
index lengths are multiples of the entry size, the last offset-index entry
points at a real batch header ending at the offset it claims, and the last
time-index entry repeats the maxTimestamp and last offset of a batch in the
segment. `validated_next_offset()` fully validates just the tail after the
last index entry, to decide whether the segment holding the recovery point
needs a full recovery.

Only `partitionLeaderEpoch` (outside the CRC, not checkable) can be damaged
without detection -- the same blind spot Kafka has.

Thread-safety: single owner (the `PartitionLog`). `fsync()` may run in a
worker thread concurrently with the owner's appends and reads.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from kraft.log.batch import ATTRIBUTES_OFFSET, HEADER_SIZE, MAGIC, BatchHeader, parse_header
from kraft.log.config import LogConfig
from kraft.log.crc import crc32c
from kraft.log.errors import CorruptSegmentError, InvalidBatchError
from kraft.log.fileio import FileHandle, FileSlice, read_exactly, write_all
from kraft.log.index import OffsetIndex, TimeIndex
from kraft.log.records import Record, iter_records
from kraft.log.txnindex import TXN_INDEX_SUFFIX, TransactionIndex

DELETED_SUFFIX = ".deleted"  # Kafka's name for segment files awaiting deletion


def unlink_deleted(segments: list[LogSegment]) -> None:
    """Unlink the files of `segments` deleted with `later=True`, then drop the
    list's references (emptying it), so that the last close of a segment's fd,
    when nothing else holds it, happens here too. Meant for a worker thread:
    nothing else uses these names, and a `FileSlice` still reading a segment
    keeps its fd open."""
    for segment in segments:
        for path in segment._renamed:
            path.unlink(missing_ok=True)
    segments.clear()

LOG_SUFFIX = ".log"
INDEX_SUFFIX = ".index"
TIME_INDEX_SUFFIX = ".timeindex"
I32_MAX = (1 << 31) - 1
SCAN_CHUNK = 4096

# (base offset, last offset, max timestamp, size in bytes) of one batch to append.
BatchInfo = tuple[int, int, int, int]


def segment_file_name(base_offset: int, suffix: str) -> str:
    return f"{base_offset:020d}{suffix}"


def parse_segment_file_name(name: str) -> tuple[int, str] | None:
    """(base offset, suffix) for a segment file name, None for anything else."""
    stem, dot, ext = name.partition(".")
    if not dot or len(stem) != 20 or not stem.isdigit():
        return None
    return int(stem), "." + ext


class LogSegment:
    """A segment's files and its in-memory state. Create with `create` or `open`."""

    def __init__(
        self, directory: Path, base_offset: int, config: LogConfig, now_ms: int, handle: FileHandle
    ) -> None:
        self.dir = directory
        self.base_offset = base_offset
        self.config = config
        self.handle = handle
        self.size = os.fstat(handle.fileno()).st_size
        self._renamed: list[Path] = []  # files renamed by delete(later=True)
        self.offset_index = OffsetIndex(
            directory / segment_file_name(base_offset, INDEX_SUFFIX),
            base_offset,
            config.segment_index_bytes,
        )
        self.time_index = TimeIndex(
            directory / segment_file_name(base_offset, TIME_INDEX_SUFFIX),
            base_offset,
            config.segment_index_bytes,
        )
        self.txn_index = TransactionIndex(
            directory / segment_file_name(base_offset, TXN_INDEX_SUFFIX), base_offset
        )
        self.created_ms = now_ms
        self.bytes_since_last_index_entry = 0
        # Tail state, computed lazily for reopened segments (None = unknown).
        empty = self.size == 0
        self._next_offset: int | None = base_offset if empty else None
        self._max_timestamp: int | None = -1 if empty else None
        self._offset_of_max_timestamp = base_offset
        self._rolling_timestamp: int | None = -1 if empty else None

    @classmethod
    def create(
        cls, directory: Path, base_offset: int, config: LogConfig, now_ms: int
    ) -> LogSegment:
        """A new empty segment. An existing non-empty `.log` of that name is a bug."""
        path = directory / segment_file_name(base_offset, LOG_SUFFIX)
        if path.exists() and path.stat().st_size > 0:
            raise FileExistsError(f"segment {path} already exists and is not empty")
        handle = FileHandle(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC)
        segment = cls(directory, base_offset, config, now_ms, handle)
        segment.offset_index.create_empty()
        segment.time_index.create_empty()
        return segment

    @classmethod
    def open(cls, directory: Path, base_offset: int, config: LogConfig, now_ms: int) -> LogSegment:
        """An existing segment; its indexes are read lazily."""
        path = directory / segment_file_name(base_offset, LOG_SUFFIX)
        return cls(directory, base_offset, config, now_ms, FileHandle(path, os.O_RDWR))

    @property
    def path(self) -> Path:
        return self.handle.path

    # -- tail state ---------------------------------------------------------

    def _load_tail_state(self) -> None:
        """Next offset and max timestamp from the indexes plus a short header scan.

        Batches up to the last offset-index entry have maxTimestamp <= the
        last time-index entry (both are appended together), so scanning from
        that entry's position to the end of the file is enough.
        """
        max_ts, offset_of_max = self.time_index.last_entry
        _, start = self.offset_index.last_entry
        next_offset = self.base_offset
        for _, header in self.batch_headers(start):
            last = header.base_offset + header.last_offset_delta
            if header.max_timestamp > max_ts:
                max_ts, offset_of_max = header.max_timestamp, last
            next_offset = last + 1
        self._next_offset = next_offset
        self._max_timestamp = max_ts
        self._offset_of_max_timestamp = offset_of_max

    @property
    def next_offset(self) -> int:
        """One past the last offset in this segment (its base offset when empty)."""
        if self._next_offset is None:
            self._load_tail_state()
        assert self._next_offset is not None
        return self._next_offset

    @property
    def max_timestamp(self) -> int:
        """Largest batch maxTimestamp in the segment, -1 if none."""
        if self._max_timestamp is None:
            self._load_tail_state()
        assert self._max_timestamp is not None
        return self._max_timestamp

    @property
    def offset_of_max_timestamp(self) -> int:
        """Last offset of the first batch carrying `max_timestamp`."""
        if self._max_timestamp is None:
            self._load_tail_state()
        return self._offset_of_max_timestamp

    @property
    def largest_timestamp(self) -> int:
        """Kafka's `largestTimestamp` for time retention: max timestamp, else file mtime."""
        if self.max_timestamp >= 0:
            return self.max_timestamp
        return os.fstat(self.handle.fileno()).st_mtime_ns // 1_000_000

    @property
    def rolling_based_timestamp(self) -> int:
        """maxTimestamp of the first append to the segment (-1 if empty or none)."""
        if self._rolling_timestamp is None:
            self._rolling_timestamp = parse_header(self._pread(HEADER_SIZE, 0)).max_timestamp
        return self._rolling_timestamp

    # -- reading ----------------------------------------------------------------

    def _pread(self, length: int, position: int) -> bytes:
        data = read_exactly(self.handle.fileno(), length, position)
        if len(data) < length:
            raise CorruptSegmentError(f"{self.path}: short read at byte {position}")
        return data

    def batch_headers(
        self, start: int = 0, end: int | None = None
    ) -> Iterator[tuple[int, BatchHeader]]:
        """Yield (position, header) of the batches in bytes [start, end) of the file.

        `start` must be a batch boundary. Framing is checked but not the CRC:
        this reads data already validated on append or recovery, so a broken
        frame here means the disk changed underneath us.
        """
        end = self.size if end is None else end
        fd = self.handle.fileno()
        buf = b""
        buf_start = 0
        pos = start
        while pos < end:
            off = pos - buf_start
            if off + HEADER_SIZE > len(buf):
                buf = read_exactly(fd, max(HEADER_SIZE, min(SCAN_CHUNK, end - pos)), pos)
                buf_start, off = pos, 0
                if len(buf) < HEADER_SIZE:
                    raise CorruptSegmentError(f"{self.path}: truncated batch header at {pos}")
            header = parse_header(buf, off)
            size = header.batch_length + 12
            if size < HEADER_SIZE or header.magic != MAGIC or pos + size > end:
                raise CorruptSegmentError(f"{self.path}: bad batch frame at byte {pos}")
            yield pos, header
            pos += size

    def translate_offset(
        self, offset: int, start_position: int = 0
    ) -> tuple[int, BatchHeader] | None:
        """The first batch (position, header) whose last offset is >= `offset`, or None."""
        _, position = self.offset_index.lookup(offset)
        for pos, header in self.batch_headers(max(position, start_position)):
            if header.base_offset + header.last_offset_delta >= offset:
                return pos, header
        return None

    def read_batch(self, position: int, header: BatchHeader) -> bytes:
        return self._pread(header.batch_length + 12, position)

    def slice(self, position: int, length: int) -> FileSlice:
        return FileSlice(self.handle, position, length)

    def find_offset_by_timestamp(
        self, timestamp: int, starting_offset: int
    ) -> tuple[int, int, int] | None:
        """(timestamp, offset, leader epoch) of the first record at or after
        `starting_offset` with timestamp >= `timestamp` (Kafka's
        `findOffsetByTimestamp`), or None. Compressed (or undecodable) batches
        are not opened: their first offset >= `starting_offset` and their
        maxTimestamp stand in for the record."""
        _, indexed_offset = self.time_index.lookup(timestamp)
        _, position = self.offset_index.lookup(max(indexed_offset, starting_offset))
        for pos, header in self.batch_headers(position):
            if header.max_timestamp < timestamp or header.last_offset < starting_offset:
                continue
            records = self._records(pos, header)
            if records is None:
                return (
                    header.max_timestamp,
                    max(header.base_offset, starting_offset),
                    header.partition_leader_epoch,
                )
            for record in records:
                if record.timestamp >= timestamp and record.offset >= starting_offset:
                    return record.timestamp, record.offset, header.partition_leader_epoch
        return None

    def _records(self, position: int, header: BatchHeader) -> list[Record] | None:
        """The records of an uncompressed batch; None if compressed or undecodable."""
        if header.compression:
            return None
        try:
            return list(iter_records(self.read_batch(position, header)))
        except InvalidBatchError:
            return None

    def max_timestamp_and_offset(self) -> tuple[int, int, int]:
        """(max timestamp, offset of the first record carrying it, leader epoch); for
        compressed batches the batch's last offset, as Kafka before 3.8."""
        found = self.translate_offset(self.offset_of_max_timestamp)
        assert found is not None, "offset of max timestamp lies in the segment"
        pos, header = found
        max_ts = self.max_timestamp
        for record in self._records(pos, header) or ():
            if record.timestamp == max_ts:
                return max_ts, record.offset, header.partition_leader_epoch
        return max_ts, header.last_offset, header.partition_leader_epoch

    # -- writing ----------------------------------------------------------------

    def append(
        self, batches: Sequence[BatchInfo], iov: Sequence[bytes | memoryview], total: int
    ) -> None:
        """Write `iov` (the batches' `total` bytes, in order) at the end, then index them.

        An offset-index entry (batch last offset -> batch position) and a
        time-index entry (max timestamp so far) are added for a batch when
        more than index.interval.bytes were appended since the last entry.
        """
        position = self.size
        if position == 0:
            # The first batch's max timestamp, as reopening computes it (and Kafka).
            self._rolling_timestamp = batches[0][2]
        write_all(self.handle.fileno(), iov, position, total)
        interval = self.config.index_interval_bytes
        since = self.bytes_since_last_index_entry
        max_ts = self._max_timestamp if self._max_timestamp is not None else self.max_timestamp
        offset_of_max = self._offset_of_max_timestamp
        last = self.base_offset
        offset_entries: list[tuple[int, int]] = []
        time_entries: list[tuple[int, int]] = []
        for _, last, timestamp, size in batches:
            if timestamp > max_ts:
                max_ts, offset_of_max = timestamp, last
            if since > interval:
                offset_entries.append((last, position))
                time_entries.append((max_ts, offset_of_max))
                since = 0
            position += size
            since += size
        if offset_entries:
            self.offset_index.append_all(offset_entries)
            self.time_index.maybe_append_all(time_entries)
        self.size = position
        self.bytes_since_last_index_entry = since
        self._max_timestamp = max_ts
        self._offset_of_max_timestamp = offset_of_max
        self._next_offset = last + 1

    def free_index_entries(self) -> int:
        """Entries either index can still take before the segment must roll."""
        offsets = self.offset_index.free_entries
        times = self.time_index.free_entries - 1
        return offsets if offsets < times else times

    def on_become_inactive(self) -> None:
        """At roll or close: record the final max timestamp and write index entries."""
        if self._max_timestamp is not None and self._max_timestamp >= 0:
            self.time_index.maybe_append(self._max_timestamp, self._offset_of_max_timestamp)
        self.write_pending_indexes()

    def write_pending_indexes(self) -> None:
        self.offset_index.write_pending()
        self.time_index.write_pending()

    def fsync(self) -> None:
        """Make data, then indexes, durable (Kafka's `LogSegment.flush` order)."""
        fd = self.handle.fileno()
        if fd >= 0:
            os.fsync(fd)
        self.offset_index.fsync()
        self.time_index.fsync()
        self.txn_index.fsync()

    def truncate_to(self, offset: int, now_ms: int) -> int:
        """Remove the batch holding `offset` and everything after; return bytes removed.

        Truncation is at batch boundaries: if `offset` is inside a batch, that
        whole batch goes (the new end offset is its base offset).
        """
        found = self.translate_offset(offset)
        if found is None:
            return 0
        position, _ = found
        self.offset_index.truncate_to(offset)
        self.time_index.truncate_to(offset)
        self.txn_index.truncate_to(offset)
        os.ftruncate(self.handle.fileno(), position)
        removed = self.size - position
        self.size = position
        self.bytes_since_last_index_entry = 0
        if position == 0:
            self.created_ms = now_ms
            self._rolling_timestamp = -1
        self._load_tail_state()
        return removed

    def recover(self, on_batch: Callable[[BatchHeader], None] | None = None) -> int:
        """Validate every batch, truncate at the first invalid one, rebuild the indexes.

        Returns the number of bytes truncated. `on_batch` sees each valid
        header in order (the log re-assigns leader epochs from them).
        """
        self.offset_index.reset()
        self.time_index.reset()
        fd = self.handle.fileno()
        file_size = os.fstat(fd).st_size
        self.size = 0
        self.bytes_since_last_index_entry = 0
        self._max_timestamp = -1
        self._offset_of_max_timestamp = self.base_offset
        self._next_offset = self.base_offset
        self._rolling_timestamp = -1
        if file_size == 0:
            return 0
        valid: list[BatchInfo] = []
        pos = 0
        with mmap.mmap(fd, file_size, access=mmap.ACCESS_READ) as mm, memoryview(mm) as view:
            for header in self._valid_batches(view, 0, self.base_offset - 1):
                last = header.base_offset + header.last_offset_delta
                valid.append((header.base_offset, last, header.max_timestamp, header.size))
                if on_batch is not None:
                    on_batch(header)
                pos += header.size
        if pos < file_size:
            os.ftruncate(fd, pos)
        # Entries of markers that were cut off go; missing ones come back when the
        # producer state replays the recovered batches (kraft.broker.producer_state).
        self.txn_index.truncate_to(valid[-1][1] + 1 if valid else self.base_offset)
        if valid:
            self._index_recovered(valid)
        self.time_index.maybe_append(self._max_timestamp, self._offset_of_max_timestamp)
        return file_size - pos

    def _valid_batches(
        self, view: memoryview, file_position: int, prev_last: int | None
    ) -> Iterator[BatchHeader]:
        """Headers of the valid batches at the start of `view` (the file from byte
        `file_position` on), stopping at the first invalid or torn one.

        Valid: magic 2, sane length, whole, CRC32C matches, offsets within the
        segment's i32 range and contiguous (each baseOffset follows the previous
        last offset, the first follows `prev_last` unless that is None). The
        contiguity check is what catches a damaged baseOffset, which the CRC
        does not cover.
        """
        pos = 0
        end = len(view)
        while end - pos >= HEADER_SIZE:
            header = parse_header(view, pos)
            size = header.batch_length + 12
            last = header.base_offset + header.last_offset_delta
            if (
                header.magic != MAGIC
                or size < HEADER_SIZE
                or pos + size > end
                or file_position + pos + size > I32_MAX
                or (prev_last is not None and header.base_offset != prev_last + 1)
                or header.base_offset < self.base_offset
                or header.last_offset_delta < 0
                or last - self.base_offset > I32_MAX
            ):
                return
            body = view[pos + ATTRIBUTES_OFFSET : pos + size]
            crc = crc32c.crc32c(body)
            body.release()
            if crc != header.crc:
                return
            yield header
            prev_last = last
            pos += size

    def validated_next_offset(self) -> int | None:
        """The next offset from a fully validated scan of the batches from the last
        offset-index entry to the end of the file; None if any of them is invalid
        or the file does not end on a batch boundary. Decides whether the segment
        holding the recovery point can be trusted without a full recovery."""
        entry_offset, position = self.offset_index.last_entry
        data = read_exactly(self.handle.fileno(), self.size - position, position)
        prev_last = self.base_offset - 1 if position == 0 else None
        next_offset = self.base_offset
        consumed = 0
        with memoryview(data) as view:
            for header in self._valid_batches(view, position, prev_last):
                if consumed == 0 and position > 0 and header.last_offset != entry_offset:
                    return None
                next_offset = header.base_offset + header.last_offset_delta + 1
                consumed += header.size
        if position + consumed != self.size:
            return None
        return next_offset

    def _index_recovered(self, batches: list[BatchInfo]) -> None:
        """Index recovered batches exactly as `append` would have (no write)."""
        position = 0
        since = 0
        interval = self.config.index_interval_bytes
        max_ts, offset_of_max = -1, self.base_offset
        for _, last, timestamp, size in batches:
            if timestamp > max_ts:
                max_ts, offset_of_max = timestamp, last
            if since > interval:
                self.offset_index.append(last, position)
                self.time_index.maybe_append(max_ts, offset_of_max)
                since = 0
            position += size
            since += size
        self.size = position
        self.bytes_since_last_index_entry = since
        self._max_timestamp = max_ts
        self._offset_of_max_timestamp = offset_of_max
        self._next_offset = batches[-1][1] + 1
        self._rolling_timestamp = batches[0][2]

    def _header_at(self, position: int) -> BatchHeader | None:
        if position < 0 or position + HEADER_SIZE > self.size:
            return None
        header = parse_header(self._pread(HEADER_SIZE, position))
        if header.magic != MAGIC or position + header.batch_length + 12 > self.size:
            return None
        return header

    def sanity_check_offset_index(self) -> bool:
        """Cheap check: a whole number of entries, and the last one names a real batch
        header ending at the offset it claims."""
        last = self.offset_index.sanity_check(self.size)
        if last is None:
            return False
        offset, position = last
        if position == 0 and offset == self.base_offset:
            return True
        header = self._header_at(position)
        return header is not None and header.base_offset + header.last_offset_delta == offset

    def sanity_check_time_index(self, next_offset: int) -> bool:
        """Cheap check: a whole number of entries, and the last one (if any) names a
        batch below `next_offset` whose maxTimestamp and last offset it repeats.
        Needs a sane offset index."""
        last = self.time_index.sanity_check()
        if last is None:
            return False
        timestamp, offset = last
        if timestamp < 0:
            return True
        if offset >= next_offset:
            return False
        found = self.translate_offset(offset)
        return (
            found is not None
            and found[1].last_offset == offset
            and (found[1].max_timestamp == timestamp)
        )

    def sanity_check(self, next_offset: int) -> bool:
        """Both index checks, for a segment whose data ends at `next_offset`."""
        try:
            return self.sanity_check_offset_index() and self.sanity_check_time_index(next_offset)
        except CorruptSegmentError:
            return False

    # -- lifecycle --------------------------------------------------------------

    def close(self) -> None:
        self.on_become_inactive()
        self.handle.close()

    def delete(self, *, later: bool = False) -> None:
        """Unlink the files. The fd stays open until no `FileSlice` refers to it.

        With `later`, the files are renamed to `<name>.deleted` instead (Kafka's
        asynchronous segment delete) and `unlink_deleted` must follow, away from
        the event loop: unlinking a large file, and closing the last fd of an
        unlinked one, frees its blocks, which takes seconds on a busy disk. A
        crash before that leaves `.deleted` files, which opening the log removes.
        """
        if later:
            for path in (self.path, self.offset_index.path, self.time_index.path,
                         self.txn_index.path):
                target = path.with_name(path.name + DELETED_SUFFIX)
                try:
                    os.rename(path, target)
                except FileNotFoundError:
                    continue
                self._renamed.append(target)
        self.path.unlink(missing_ok=True)
        self.offset_index.delete()
        self.time_index.delete()
        self.txn_index.delete()
