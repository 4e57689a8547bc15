"""Sparse offset and time indexes of one segment (`.index`, `.timeindex`).

File formats (Kafka's `OffsetIndex` / `TimeIndex`), big-endian, no header::

    .index       8-byte entries: relativeOffset i32, position i32
    .timeindex  12-byte entries: timestamp i64, relativeOffset i32

`relativeOffset` is an offset minus the segment's base offset. An offset-index
entry `(r, p)` says: the batch at byte `p` of the `.log` ends at offset
`base + r` (Kafka indexes each batch by its *last* offset), so the batch
holding offset `o` is found by taking the last entry with `r <= o - base` and
scanning batch headers forward from `p`. A time-index entry `(t, r)` says the
largest batch maxTimestamp up to and including offset `base + r` is `t`;
timestamps strictly increase from entry to entry.

Both keys are non-decreasing, so lookups are binary searches. An entry is
added when more than index.interval.bytes of data were appended since the
last one (the segment decides): at most ~1/512 of the data for `.index`.

Unlike Kafka the files are not preallocated or memory-mapped: entries live
in a `bytearray` that mirrors the file (loaded lazily for sealed segments) and
new entries reach the file only in `write_pending()` (on flush, roll, close
and right after a rebuild). The file is therefore always a prefix of the
in-memory index, whose length is a multiple of the entry size, and nothing
needs trimming on roll. Memory: ~5 MiB of index per GiB of data at the
default index.interval.bytes, for segments that have been read.
"Full" means segment.index.bytes // entry size entries (the time index keeps
one slot back for the entry appended at roll, as Kafka does).

Crash behaviour: an index is a cache of the data. Indexes of segments at or
after the recovery point are rebuilt from the `.log` on open; indexes below
it get `sanity_check()` (length a multiple of the entry size, last entry
plausible) and are rebuilt if that fails or the file is missing.

Thread-safety: none; owned by its segment. `write_pending` runs on the
owner's thread; `fsync()` only touches the file and may run in a worker.
"""

from __future__ import annotations

import contextlib
import os
import struct
from pathlib import Path

_I32 = struct.Struct(">i")
_I64 = struct.Struct(">q")


def fsync_path(path: Path) -> None:
    """fsync an existing file by path; a file deleted meanwhile needs no fsync."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _Index:
    ENTRY: struct.Struct
    ENTRY_SIZE: int

    def __init__(self, path: Path, base_offset: int, max_index_bytes: int) -> None:
        self.path = path
        self.base_offset = base_offset
        self.max_entries = max_index_bytes // self.ENTRY.size
        self._buf: bytearray | None = None  # None until loaded
        self._persisted = 0  # bytes of _buf known to be in the file
        # Changes this object made to the file, and how many of them the last
        # fsync covered (-1: no fsync yet in this process, so the first one always
        # happens, whatever an earlier process left unsynced): see `fsync`.
        self._changes = 0
        self._synced = -1

    # -- loading and persistence -------------------------------------------

    def _entries_buf(self) -> bytearray:
        if self._buf is None:
            try:
                data = self.path.read_bytes()
            except FileNotFoundError:
                data = b""
            usable = len(data) - len(data) % self.ENTRY.size
            self._buf = bytearray(data[:usable])
            self._persisted = usable
        return self._buf

    def create_empty(self) -> None:
        """Start a new, empty index and its (empty) file."""
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        os.close(fd)
        self._buf = bytearray()
        self._persisted = 0
        self._changes += 1

    def write_pending(self) -> None:
        """Write entries not yet in the file (no fsync)."""
        buf = self._buf
        if buf is None or self._persisted == len(buf):
            return
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            view = memoryview(buf)[self._persisted :]
            pos = self._persisted
            while view:
                written = os.pwrite(fd, view, pos)
                pos += written
                view = view[written:]
            view.release()
        finally:
            os.close(fd)
        self._persisted = len(buf)
        self._changes += 1

    def fsync(self) -> None:
        """Make the file durable, unless nothing was written to it since its last fsync.

        The file changes only through this object (creation, `write_pending`,
        truncation), and a flush that added no entry (one per index.interval.bytes
        of data: most flushes of small batches, such as every commit of the
        metadata log during a start's election and registrations) leaves it as
        the last fsync did. Such an fsync makes nothing more durable, yet still
        costs a device cache flush (~1-3 ms on ext4; two indexes per flush). The
        durability contract is unchanged: every change is made durable by the
        next flush, as before, and the first fsync in a process always happens
        (an earlier process may have left the file unsynced). The count is read
        before the fsync, so a change made meanwhile (fsync may run in a worker)
        is left for the next one."""
        changes = self._changes
        if changes == self._synced:
            return
        fsync_path(self.path)
        self._synced = changes

    def delete(self) -> None:
        self.path.unlink(missing_ok=True)
        self._changes += 1
        self._buf = bytearray()
        self._persisted = 0

    # -- queries --------------------------------------------------------------

    @property
    def entries(self) -> int:
        return len(self._entries_buf()) // self.ENTRY.size

    @property
    def free_entries(self) -> int:
        """Entries that still fit in segment.index.bytes."""
        buf = self._buf if self._buf is not None else self._entries_buf()
        return self.max_entries - len(buf) // self.ENTRY_SIZE

    @property
    def is_full(self) -> bool:
        return self.free_entries <= 0

    def entry(self, n: int) -> tuple[int, int]:
        """The raw n-th entry (fields as stored, offsets relative)."""
        return self.ENTRY.unpack_from(self._entries_buf(), n * self.ENTRY.size)

    def _count_le(self, field: struct.Struct, field_pos: int, target: int) -> int:
        """Number of entries whose field at `field_pos` is <= target (fields sorted)."""
        buf = self._entries_buf()
        size = self.ENTRY.size
        lo, hi = 0, len(buf) // size
        unpack = field.unpack_from
        while lo < hi:
            mid = (lo + hi) // 2
            if unpack(buf, mid * size + field_pos)[0] <= target:
                lo = mid + 1
            else:
                hi = mid
        return lo

    def _truncate_entries(self, keep: int) -> None:
        buf = self._entries_buf()
        new_len = keep * self.ENTRY.size
        if new_len >= len(buf):
            return
        del buf[new_len:]
        if self._persisted > new_len:
            with contextlib.suppress(FileNotFoundError):
                os.truncate(self.path, new_len)
            self._persisted = new_len
            self._changes += 1

    def reset(self) -> None:
        """Drop all entries (before a rebuild) and empty the file."""
        self.create_empty()

    def _read_file_tail(self) -> tuple[int, bytes] | None:
        """(file size, last entry bytes) without loading; None if the file is missing."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        try:
            size = os.fstat(fd).st_size
            if size < self.ENTRY.size:
                return size, b""
            return size, os.pread(fd, self.ENTRY.size, size - self.ENTRY.size)
        finally:
            os.close(fd)


class OffsetIndex(_Index):
    """`.index`: relative offset -> byte position of the batch ending there."""

    ENTRY = struct.Struct(">ii")
    ENTRY_SIZE = 8

    def append(self, offset: int, position: int) -> None:
        """Add an entry; offsets must strictly increase (a bug otherwise)."""
        buf = self._buf if self._buf is not None else self._entries_buf()
        relative = offset - self.base_offset
        if buf and relative <= _I32.unpack_from(buf, len(buf) - 8)[0]:
            raise AssertionError(f"offset index entry {offset} not above the last entry")
        buf += self.ENTRY.pack(relative, position)

    def append_all(self, entries: list[tuple[int, int]]) -> None:
        """`append` each (offset, position), in order."""
        for offset, position in entries:
            self.append(offset, position)

    def lookup(self, offset: int) -> tuple[int, int]:
        """Last entry with offset <= `offset` as (absolute offset, position); else (base, 0)."""
        n = self._count_le(_I32, 0, offset - self.base_offset)
        if n == 0:
            return self.base_offset, 0
        relative, position = self.entry(n - 1)
        return self.base_offset + relative, position

    @property
    def last_entry(self) -> tuple[int, int]:
        """(absolute offset, position) of the last entry, or (base, 0)."""
        n = self.entries
        if n == 0:
            return self.base_offset, 0
        relative, position = self.entry(n - 1)
        return self.base_offset + relative, position

    def truncate_to(self, offset: int) -> None:
        """Remove every entry for offsets >= `offset`."""
        self._truncate_entries(self._count_le(_I32, 0, offset - self.base_offset - 1))

    def sanity_check(self, data_size: int) -> tuple[int, int] | None:
        """Cheap check of the file alone; returns the last entry (absolute offset,
        position) -- (base, 0) when empty -- or None if the index must be rebuilt."""
        tail = self._read_file_tail()
        if tail is None:
            return None
        size, last = tail
        if size % self.ENTRY.size:
            return None
        if not last:
            return self.base_offset, 0
        relative, position = self.ENTRY.unpack(last)
        if relative < 0 or position < 0 or position >= data_size:
            return None
        return self.base_offset + relative, position


class TimeIndex(_Index):
    """`.timeindex`: max timestamp so far -> relative offset where it was reached."""

    ENTRY = struct.Struct(">qi")
    ENTRY_SIZE = 12

    @property
    def is_full(self) -> bool:
        """One slot is kept for the entry appended at roll, as in Kafka."""
        return self.free_entries <= 1

    @property
    def last_entry(self) -> tuple[int, int]:
        """(timestamp, absolute offset) of the last entry, or (-1, base)."""
        n = self.entries
        if n == 0:
            return -1, self.base_offset
        timestamp, relative = self.entry(n - 1)
        return timestamp, self.base_offset + relative

    def maybe_append(self, timestamp: int, offset: int) -> None:
        """Add an entry if `timestamp` is above the last one (Kafka's `maybeAppend`)."""
        buf = self._buf if self._buf is not None else self._entries_buf()
        relative = offset - self.base_offset
        if buf:
            last_ts, last_relative = self.ENTRY.unpack_from(buf, len(buf) - 12)
            if timestamp <= last_ts:
                return
            if relative < last_relative:
                raise AssertionError(f"time index offset {offset} below the last entry")
        elif timestamp < 0:
            return
        buf += self.ENTRY.pack(timestamp, relative)

    def maybe_append_all(self, entries: list[tuple[int, int]]) -> None:
        """`maybe_append` each (timestamp, offset), in order."""
        for timestamp, offset in entries:
            self.maybe_append(timestamp, offset)

    def lookup(self, timestamp: int) -> tuple[int, int]:
        """Last entry with timestamp <= `timestamp` as (timestamp, offset); else (-1, base)."""
        n = self._count_le(_I64, 0, timestamp)
        if n == 0:
            return -1, self.base_offset
        ts, relative = self.entry(n - 1)
        return ts, self.base_offset + relative

    def truncate_to(self, offset: int) -> None:
        """Remove every entry for offsets >= `offset`."""
        self._truncate_entries(self._count_le(_I32, 8, offset - self.base_offset - 1))

    def sanity_check(self) -> tuple[int, int] | None:
        """Cheap check of the file alone; returns the last entry (timestamp, absolute
        offset) -- (-1, base) when empty -- or None if the index must be rebuilt."""
        tail = self._read_file_tail()
        if tail is None:
            return None
        size, last = tail
        if size % self.ENTRY.size:
            return None
        if not last:
            return -1, self.base_offset
        timestamp, relative = self.ENTRY.unpack(last)
        if relative < 0 or timestamp < 0:
            return None
        return timestamp, self.base_offset + relative
