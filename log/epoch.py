"""Leader epoch cache: which leader epoch started at which offset.

Kafka's `LeaderEpochFileCache`. Entries `(epoch, start_offset)` are strictly
increasing in both fields. They are persisted in the partition directory as
`leader-epoch-checkpoint` in Kafka's checkpoint format (log.checkpoint)::

    0
    2
    0 0
    3 1500

Every change but `truncate_from_start` is written atomically (tmp + fsync +
rename + directory fsync) before the method returns. Changes are rare (one per leader election, plus
truncations), so the fsync is not on the per-append path.

Crash behaviour: the cache may be written ahead of the data it describes
(`assign` happens before the batch is appended, as in Kafka). On open the log
calls `truncate_from_end(log_end_offset)` and `truncate_from_start(
log_start_offset)`, and re-assigns epochs from the batches it recovered.

Thread-safety: none; the owning `PartitionLog` is the only caller.
"""

from __future__ import annotations

import bisect
import itertools
from pathlib import Path
from typing import NamedTuple

from kraft.log.checkpoint import read_epoch_checkpoint, write_epoch_checkpoint
from kraft.log.errors import CorruptCheckpointError

UNDEFINED_EPOCH = -1
UNDEFINED_EPOCH_OFFSET = -1
FILE_NAME = "leader-epoch-checkpoint"


class EpochEntry(NamedTuple):
    epoch: int
    start_offset: int


class LeaderEpochCache:
    """In-memory epoch entries mirrored to `path` (None: memory only, for tests/simulation)."""

    def __init__(self, path: Path | None, entries: list[EpochEntry] | None = None) -> None:
        self._path = path
        self._entries: list[EpochEntry] = list(entries or [])

    @classmethod
    def load(cls, path: Path) -> LeaderEpochCache:
        """Read `path` if it exists. Non-monotonic entries mean a damaged file: raise."""
        raw = read_epoch_checkpoint(path)
        entries = [EpochEntry(e, o) for e, o in raw or []]
        for prev, cur in itertools.pairwise(entries):
            if cur.epoch <= prev.epoch or cur.start_offset <= prev.start_offset:
                raise CorruptCheckpointError(f"{path}: entries not increasing: {prev}, {cur}")
        if any(e.epoch < 0 or e.start_offset < 0 for e in entries):
            raise CorruptCheckpointError(f"{path}: negative epoch or offset")
        return cls(path, entries)

    @property
    def entries(self) -> list[EpochEntry]:
        return list(self._entries)

    @property
    def latest_epoch(self) -> int | None:
        return self._entries[-1].epoch if self._entries else None

    @property
    def latest_entry(self) -> EpochEntry | None:
        return self._entries[-1] if self._entries else None

    def _persist(self) -> None:
        if self._path is not None:
            write_epoch_checkpoint(self._path, self._entries)

    def assign(self, epoch: int, start_offset: int) -> bool:
        """Record that `epoch` starts at `start_offset`; True if the cache changed.

        As Kafka: a no-op when `epoch` is the latest epoch and `start_offset`
        is not smaller than its start; otherwise every entry with an epoch >=
        `epoch` or a start offset >= `start_offset` is removed first, which
        keeps both columns increasing.
        """
        if epoch < 0 or start_offset < 0:
            raise ValueError(f"invalid leader epoch entry ({epoch}, {start_offset})")
        latest = self.latest_entry
        if latest is not None and latest.epoch == epoch and start_offset >= latest.start_offset:
            return False
        while self._entries and (
            self._entries[-1].epoch >= epoch or self._entries[-1].start_offset >= start_offset
        ):
            self._entries.pop()
        self._entries.append(EpochEntry(epoch, start_offset))
        self._persist()
        return True

    def end_offset_for(self, requested_epoch: int, log_end_offset: int) -> tuple[int, int]:
        """Kafka's `endOffsetFor`: `(epoch, end_offset)` for OffsetsForLeaderEpoch.

        * undefined requested epoch, or one above every known epoch:
          (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET);
        * the latest epoch: (epoch, log_end_offset);
        * below every known epoch: (requested_epoch, first entry's start offset);
        * otherwise: (largest known epoch <= requested, start offset of the
          next higher epoch), i.e. where that epoch's data ends.
        """
        if requested_epoch == UNDEFINED_EPOCH:
            return UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET
        if self._entries and self._entries[-1].epoch == requested_epoch:
            return requested_epoch, log_end_offset
        epochs = [e.epoch for e in self._entries]
        higher = bisect.bisect_right(epochs, requested_epoch)
        if higher == len(epochs):
            return UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET
        if higher == 0:
            return requested_epoch, self._entries[0].start_offset
        return self._entries[higher - 1].epoch, self._entries[higher].start_offset

    def epoch_for_offset(self, offset: int) -> int | None:
        """The epoch whose range holds `offset` (Kafka's `epochForOffset`), or None."""
        previous = None
        for entry in self._entries:
            if entry.start_offset == offset:
                return entry.epoch
            if entry.start_offset > offset:
                return previous
            previous = entry.epoch
        return previous

    def truncate_from_end(self, end_offset: int) -> None:
        """Remove every entry starting at or after `end_offset` (log truncated to it)."""
        if end_offset < 0 or not self._entries or self._entries[-1].start_offset < end_offset:
            return
        while self._entries and self._entries[-1].start_offset >= end_offset:
            self._entries.pop()
        self._persist()

    def truncate_from_start(self, start_offset: int) -> None:
        """Drop entries wholly before `start_offset` (log start moved up to it).

        The last entry starting at or before `start_offset` is kept, its start
        moved to `start_offset`, as in Kafka.

        In memory only: the file is rewritten with the next change that is
        persisted. Retention calls this on the event loop, and an fsync there
        stalls the whole node for seconds on a busy disk (Kafka moved this
        write off its request path too, KAFKA-15046). A file that still holds
        the dropped entries is harmless: opening the log truncates the cache
        from its log start offset again, and segments whose deletion did not
        survive a crash come back with their entries still there.
        """
        removed = 0
        while removed < len(self._entries) and self._entries[removed].start_offset <= start_offset:
            removed += 1
        if removed == 0:
            return
        last = self._entries[removed - 1]
        if removed == 1 and last.start_offset == start_offset:
            return
        self._entries[:removed] = [EpochEntry(last.epoch, start_offset)]

    def clear(self) -> None:
        """Remove all entries (log truncated fully)."""
        self._entries.clear()
        self._persist()
