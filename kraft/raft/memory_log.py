"""An in-memory `ReplicatedLog` whose unflushed tail can be lost in a crash.

Used by the deterministic simulation and unit tests, and the reference for
what the on-disk metadata log must do. Durability is modelled as one number,
`durable_end_offset`: entries below it survive `crash()`, entries above it may
not. A flush moves it to the end offset; a truncation pulls it down with the
end offset (the durable state is always a prefix of the visible state).
Snapshots are durable when created or installed; those below the log start
are deleted when it advances, so at most the snapshot at the log start and
newer ones exist.
"""

from __future__ import annotations

import bisect
import struct
from collections.abc import Sequence

from kraft.raft.batches import encode_entries, snapshot_quorum_records
from kraft.raft.types import Entry, OffsetAndEpoch, QuorumRecord

_FRAME = struct.Struct(">I")


def _unframe(stored: bytes) -> tuple[bytes, bytes]:
    """(quorum records as control batches, the layer above's data)."""
    (size,) = _FRAME.unpack_from(stored)
    return stored[_FRAME.size:_FRAME.size + size], stored[_FRAME.size + size:]


class MemoryLog:
    """`ReplicatedLog` over a Python list (see module docstring)."""

    def __init__(self) -> None:
        self._start = 0
        self._start_epoch = 0
        self._entries: list[Entry] = []
        self._epoch_starts: list[tuple[int, int]] = []  # (epoch, first offset), ascending
        self._durable_end = 0
        self._snapshots: dict[OffsetAndEpoch, bytes] = {}
        self._partial: dict[OffsetAndEpoch, bytearray] = {}

    # --- positions -----------------------------------------------------------

    @property
    def log_start_offset(self) -> int:
        return self._start

    @property
    def end_offset(self) -> int:
        return self._start + len(self._entries)

    @property
    def durable_end_offset(self) -> int:
        """Entries below this offset survive a crash."""
        return self._durable_end

    def last_fetched_epoch(self) -> int:
        return self._entries[-1].epoch if self._entries else self._start_epoch

    def end_offset_for_epoch(self, epoch: int) -> OffsetAndEpoch:
        keys = [e for e, _ in self._epoch_starts]
        i = bisect.bisect_right(keys, epoch) - 1
        if i < 0:
            return OffsetAndEpoch(self._start, self._start_epoch)
        found = self._epoch_starts[i][0]
        if i + 1 < len(self._epoch_starts):
            return OffsetAndEpoch(self._epoch_starts[i + 1][1], found)
        return OffsetAndEpoch(self.end_offset, found)

    def entry_at(self, offset: int) -> Entry:
        return self._entries[offset - self._start]

    # --- writes --------------------------------------------------------------

    def append(self, entries: Sequence[Entry]) -> None:
        for entry in entries:
            if entry.offset != self.end_offset:
                raise ValueError(f"append at {entry.offset}, log ends at {self.end_offset}")
            if entry.epoch < self.last_fetched_epoch():
                raise ValueError(f"epoch {entry.epoch} after {self.last_fetched_epoch()}")
            if not self._epoch_starts or entry.epoch > self._epoch_starts[-1][0]:
                self._epoch_starts.append((entry.epoch, entry.offset))
            self._entries.append(entry)

    def truncate_to(self, end_offset: int) -> None:
        if end_offset < self._start:
            raise ValueError(f"truncate to {end_offset} below log start {self._start}")
        if end_offset >= self.end_offset:
            return
        del self._entries[end_offset - self._start :]
        while self._epoch_starts and self._epoch_starts[-1][1] >= end_offset:
            self._epoch_starts.pop()
        self._durable_end = min(self._durable_end, end_offset)

    def flush(self) -> None:
        self._durable_end = self.end_offset

    def read(self, start_offset: int, max_bytes: int) -> tuple[Entry, ...]:
        if not self._start <= start_offset <= self.end_offset:
            raise ValueError(f"read at {start_offset} outside [{self._start}, {self.end_offset}]")
        out: list[Entry] = []
        size = 0
        for entry in self._entries[start_offset - self._start :]:
            size += entry.size_in_bytes
            if out and size > max_bytes:
                break
            out.append(entry)
        return tuple(out)

    # --- snapshots -----------------------------------------------------------

    def earliest_snapshot_id(self) -> OffsetAndEpoch | None:
        for snapshot_id in self._snapshots:
            if snapshot_id.offset == self._start:
                return snapshot_id
        return None

    def latest_snapshot_id(self) -> OffsetAndEpoch | None:
        return max(self._snapshots, key=lambda s: s.offset, default=None)

    def snapshot_size(self, snapshot_id: OffsetAndEpoch) -> int | None:
        data = self._snapshots.get(snapshot_id)
        return None if data is None else len(data)

    def read_snapshot(self, snapshot_id: OffsetAndEpoch, position: int, max_bytes: int) -> bytes:
        return self._snapshots[snapshot_id][position : position + max_bytes]

    def snapshot_data(self, snapshot_id: OffsetAndEpoch) -> bytes:
        """A snapshot's bytes as the layer above wrote them, for it to load."""
        return _unframe(self._snapshots[snapshot_id])[1]

    def snapshot_quorum_records(self, snapshot_id: OffsetAndEpoch) -> tuple[QuorumRecord, ...]:
        return snapshot_quorum_records(_unframe(self._snapshots[snapshot_id])[0])

    def create_snapshot(
        self, snapshot_id: OffsetAndEpoch, data: bytes,
        quorum_records: tuple[QuorumRecord, ...] = (),
    ) -> None:
        """Store a snapshot written by the layer above (durable on return), with
        the quorum records in force at its end (`RaftCore.quorum_records_at`).

        It must describe committed state within `[log_start_offset, end_offset]`;
        the log start moves only when the core calls `delete_before_snapshot`.
        The stored (and served) bytes frame the records, as Kafka batches, in
        front of `data`, so a follower that downloads the snapshot gets both.
        """
        if snapshot_id.offset > self.end_offset or snapshot_id.offset < self._start:
            raise ValueError(f"snapshot {snapshot_id} outside [{self._start}, {self.end_offset}]")
        head = encode_entries(
            [Entry(i, 0, control=r) for i, r in enumerate(quorum_records)], 0)
        self._snapshots[snapshot_id] = _FRAME.pack(len(head)) + head + bytes(data)

    def begin_snapshot_download(self, snapshot_id: OffsetAndEpoch) -> None:
        self._partial = {snapshot_id: bytearray()}

    def append_snapshot_chunk(self, snapshot_id: OffsetAndEpoch, data: bytes) -> int:
        buffer = self._partial[snapshot_id]
        buffer += data
        return len(buffer)

    def install_snapshot(self, snapshot_id: OffsetAndEpoch) -> None:
        data = self._partial.pop(snapshot_id)
        self._snapshots = {snapshot_id: bytes(data)}
        self._entries.clear()
        self._epoch_starts.clear()
        self._start = snapshot_id.offset
        self._start_epoch = snapshot_id.epoch
        self._durable_end = snapshot_id.offset

    def delete_before_snapshot(self, snapshot_id: OffsetAndEpoch) -> None:
        if snapshot_id not in self._snapshots:
            raise ValueError(f"no snapshot {snapshot_id}")
        offset = snapshot_id.offset
        if offset <= self._start:
            return
        if offset > self.end_offset:
            raise ValueError(f"snapshot {snapshot_id} beyond end offset {self.end_offset}")
        remaining = [(e, o) for e, o in self._epoch_starts if o >= offset]
        if offset < self.end_offset and (not remaining or remaining[0][1] != offset):
            remaining.insert(0, (self.entry_at(offset).epoch, offset))
        del self._entries[: offset - self._start]
        self._epoch_starts = remaining
        self._snapshots = {k: v for k, v in self._snapshots.items() if k.offset >= offset}
        self._start = offset
        self._start_epoch = snapshot_id.epoch
        self._durable_end = max(self._durable_end, offset)

    # --- crash ---------------------------------------------------------------

    def crash(self, keep_unflushed: int = 0) -> None:
        """Simulate a crash: lose every unflushed entry but the first `keep_unflushed`
        (page cache written back before the crash), and any partial snapshot."""
        self._partial.clear()
        self.truncate_to(min(self.end_offset, self._durable_end + keep_unflushed))
        self._durable_end = self.end_offset
