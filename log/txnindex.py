"""The aborted-transaction index of one segment: `<base>.txnindex` (Kafka's format).

Every abort marker appended to a segment adds one entry, in offset order
(Kafka's `TransactionIndex`, `AbortedTxn`), 34 bytes, big-endian::

    version           i16   (0)
    producerId        i64
    firstOffset       i64   the transaction's first offset in this partition
    lastOffset        i64   the offset of its abort marker
    lastStableOffset  i64   the partition's last stable offset once it completed

A read_committed fetch collects the entries that overlap the fetched range
(`collect`) and sends them as aborted_transactions, so the consumer can drop
the aborted records. The file is created at the first entry, as Kafka does:
most segments never have one.

Crash behaviour: appends are not fsynced here (the segment's `fsync` does it
with the log). A torn trailing entry is dropped when the file is read, and
recovery replays the markers of unflushed data (kraft.broker.producer_state),
appending whatever entry is missing; `append` refuses an entry that is not
after the last one, so a replay never duplicates entries.

The log cleaner writes a cleaned segment's index whole with `write_txn_index`
(fsynced; its swap into place is log.loader's).

Thread-safety: single owner (the segment's); `fsync` may run in a worker thread.
`write_txn_index` is a pure file write (the cleaner's worker thread).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

__all__ = ["TXN_INDEX_SUFFIX", "AbortedTxn", "TransactionIndex", "write_txn_index"]

TXN_INDEX_SUFFIX = ".txnindex"
_ENTRY = struct.Struct(">hqqqq")
ENTRY_SIZE = _ENTRY.size
assert ENTRY_SIZE == 34
CURRENT_VERSION = 0


class AbortedTxn(NamedTuple):
    producer_id: int
    first_offset: int
    last_offset: int
    last_stable_offset: int


class TransactionIndex:
    """The `.txnindex` of the segment starting at `base_offset`; read lazily."""

    def __init__(self, path: Path, base_offset: int) -> None:
        self.path = path
        self.base_offset = base_offset
        self._entries: list[AbortedTxn] | None = None
        self._dirty = False

    @property
    def entries(self) -> list[AbortedTxn]:
        """Every entry, oldest first (a copy)."""
        return list(self._load())

    def _load(self) -> list[AbortedTxn]:
        if self._entries is None:
            try:
                raw = self.path.read_bytes()
            except FileNotFoundError:
                raw = b""
            whole = len(raw) - len(raw) % ENTRY_SIZE
            entries = []
            for pos in range(0, whole, ENTRY_SIZE):
                version, pid, first, last, lso = _ENTRY.unpack_from(raw, pos)
                if version != CURRENT_VERSION:
                    break  # not ours to read: keep what came before (Kafka throws)
                entries.append(AbortedTxn(pid, first, last, lso))
            if len(entries) * ENTRY_SIZE != len(raw):
                self._rewrite(entries)  # drop a torn or unreadable tail
            self._entries = entries
        return self._entries

    def _rewrite(self, entries: list[AbortedTxn]) -> None:
        if not entries:
            self.path.unlink(missing_ok=True)
            return
        with open(self.path, "r+b") as f:
            f.truncate(len(entries) * ENTRY_SIZE)
        self._dirty = True

    @property
    def last_offset(self) -> int:
        """Last offset of the newest entry, -1 when empty."""
        entries = self._load()
        return entries[-1].last_offset if entries else -1

    def append(self, entry: AbortedTxn) -> bool:
        """Add `entry`; False (nothing written) when it is not after the last one,
        which is how a replay of markers already indexed is recognised."""
        entries = self._load()
        if entries and entry.last_offset <= entries[-1].last_offset:
            return False
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, _ENTRY.pack(CURRENT_VERSION, *entry))
        finally:
            os.close(fd)
        entries.append(entry)
        self._dirty = True
        return True

    def truncate_to(self, offset: int) -> None:
        """Drop the entries whose marker is at or above `offset` (log truncation)."""
        entries = self._load()
        keep = [e for e in entries if e.last_offset < offset]
        if len(keep) != len(entries):
            self._rewrite(keep)
            self._entries = keep

    def collect(self, fetch_offset: int, upper_bound: int) -> tuple[list[AbortedTxn], bool]:
        """Entries of transactions overlapping [fetch_offset, upper_bound), and whether
        the search can stop here (an entry whose last stable offset is at or past
        `upper_bound`: every later segment's transactions began after it).
        Kafka's `collectAbortedTxns`."""
        found = []
        for entry in self._load():
            if entry.last_offset >= fetch_offset and entry.first_offset < upper_bound:
                found.append(entry)
            if entry.last_stable_offset >= upper_bound:
                return found, True
        return found, False

    def fsync(self) -> None:
        if self._dirty:
            self._dirty = False
            try:
                fd = os.open(self.path, os.O_RDONLY)
            except FileNotFoundError:
                return
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def delete(self) -> None:
        self.path.unlink(missing_ok=True)
        self._entries = []


def write_txn_index(path: Path, entries: Sequence[AbortedTxn]) -> None:
    """Write `entries` (oldest first) as a whole index file at `path` and fsync it;
    an empty file when there are none."""
    data = b"".join(_ENTRY.pack(CURRENT_VERSION, *entry) for entry in entries)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
