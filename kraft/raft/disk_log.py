"""The metadata log on disk: `ReplicatedLog` over `kraft.log.PartitionLog`.

Directory `<metadata.log.dir>/__cluster_metadata-0/`::

    00000000000000000000.log/.index/.timeindex   segments of record batches
    leader-epoch-checkpoint                      epoch -> start offset
    00000000000000001234-0000000007.checkpoint   snapshot: end offset 1234, epoch 7
    00000000000000005678-0000000009.checkpoint.part   a download in progress
    00000000000000000000-0000000000.checkpoint   bootstrap voter set (not a snapshot;
                                                 kraft.raft.bootstrap_checkpoint)
    quorum-state                                 (written by the raft driver)

Entries are stored as Kafka record batches (`kraft.raft.batches`); control
entries as control batches. Snapshot files hold header, records, footer.

Crash behaviour:
- Segments are recovered by `PartitionLog.open` with recovery point 0, i.e.
  every batch's framing and CRC is re-checked on every start and a torn or
  corrupt tail is cut off. The metadata log is kept small by snapshots, so
  this costs little and never trusts an unchecked byte.
- The log start is the end offset of the oldest complete snapshot (0 if
  none); older snapshots and `.part` files found on open are deleted.
- `truncate_to` is exact (entry granularity, not batch granularity: the part
  of a cut batch below the target is appended again) and fsynced before it
  returns, so a crash can never bring removed entries back.
- Snapshot files are written as `.part`, fsynced, then renamed; the
  directory is fsynced after every create, rename or delete.

Thread-safety: single owner (the raft driver task), except that the
callable returned by `begin_flush` does only fsyncs and may run in a worker
thread while the owner keeps appending and reading.
"""

from __future__ import annotations

import bisect
import os
import re
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path

from kraft.log.checkpoint import fsync_dir
from kraft.log.config import LogConfig
from kraft.log.log import PartitionLog
from kraft.log.results import FlushTask, wall_clock_ms
from kraft.raft import batches
from kraft.raft.batches import decode_entries, encode_entries
from kraft.raft.types import Entry, OffsetAndEpoch, QuorumRecord

_SNAPSHOT_HEAD_BYTES = 1 << 20
"""Enough of a snapshot file to hold its header batch with the voter set."""

PARTITION_DIR = "__cluster_metadata-0"
TAIL_CACHE_ENTRIES = 65536
SNAPSHOT_RE = re.compile(r"(\d{20})-(\d{10})\.checkpoint")


def snapshot_file_name(snapshot_id: OffsetAndEpoch) -> str:
    return f"{snapshot_id.offset:020d}-{snapshot_id.epoch:010d}.checkpoint"


class DiskLog:
    """The metadata partition's log and snapshots in one directory."""

    def __init__(self, metadata_dir: str | Path, segment_bytes: int = 1073741824) -> None:
        self.dir = Path(metadata_dir) / PARTITION_DIR
        self.dir.mkdir(parents=True, exist_ok=True)
        self._snapshots: list[OffsetAndEpoch] = []
        self.quorum_records_provider: Callable[[int], tuple[QuorumRecord, ...]] | None = None
        for path in self.dir.iterdir():
            if path.name.endswith((".checkpoint.part", ".checkpoint.deleted")):
                path.unlink()
            elif (match := SNAPSHOT_RE.fullmatch(path.name)) is not None:
                if int(match[1]) == 0:
                    # The bootstrap checkpoint (kraft.raft.bootstrap_checkpoint):
                    # the voter set format recorded, not a snapshot of entries.
                    continue
                self._snapshots.append(OffsetAndEpoch(int(match[1]), int(match[2])))
        self._snapshots.sort(key=lambda s: s.offset)
        config = LogConfig.from_properties({"segment.bytes": segment_bytes})
        self._log = PartitionLog.open(self.dir, config, recovery_point=0)
        self._download: tuple[OffsetAndEpoch, int] | None = None  # (id, fd)
        self._flush_task: FlushTask | None = None
        # The newest entries, decoded: followers and the listener read the log
        # tail over and over, and decoding batches dominates the leader's CPU
        # otherwise. Covers [end_offset - len(_tail), end_offset) exactly.
        self._tail: deque[Entry] = deque(maxlen=TAIL_CACHE_ENTRIES)
        latest = self.latest_snapshot_id()
        if latest is not None:
            # The log starts at the newest snapshot, as it does at runtime (see
            # RaftCore.snapshot_created). A log that ends before it, or whose
            # entries are of an older epoch (a crash between installing a
            # snapshot and truncating), restarts there, as Kafka does.
            stale = (self._log.log_end_offset < latest.offset
                     or (self._log.latest_epoch or 0) < latest.epoch)
            if stale:
                self._log.truncate_fully_and_start_at(latest.offset)
            else:
                self._log.delete_records_before(latest.offset)
            self._drop_snapshots_before(latest)
        # What recovery found may only be in the page cache (a process that
        # was killed never fsynced it); the core counts all of it as durable.
        self._log.flush()
        fsync_dir(self.dir)

    # --- positions --------------------------------------------------------------

    @property
    def log_start_offset(self) -> int:
        return self._log.log_start_offset

    @property
    def end_offset(self) -> int:
        return self._log.log_end_offset

    def last_fetched_epoch(self) -> int:
        if self.end_offset > self.log_start_offset:
            epoch = self._log.latest_epoch
            assert epoch is not None, "entries without a leader epoch"
            return epoch
        earliest = self.earliest_snapshot_id()
        return earliest.epoch if earliest is not None else 0

    def end_offset_for_epoch(self, epoch: int) -> OffsetAndEpoch:
        # Raft's rule differs from Kafka's OffsetsForLeaderEpoch at both ends
        # (an epoch above all known ones maps to the latest, one below all to
        # the log start), so it is computed from the epoch cache here.
        entries = self._log.leader_epoch_cache.entries
        i = bisect.bisect_right([e.epoch for e in entries], epoch) - 1
        if i < 0 or self.end_offset == self.log_start_offset:
            earliest = self.earliest_snapshot_id()
            return OffsetAndEpoch(self.log_start_offset, earliest.epoch if earliest else 0)
        end = entries[i + 1].start_offset if i + 1 < len(entries) else self.end_offset
        return OffsetAndEpoch(end, entries[i].epoch)

    # --- writes -----------------------------------------------------------------

    def append(self, entries: Sequence[Entry]) -> None:
        if not entries:
            return
        if entries[0].offset != self.end_offset:
            raise ValueError(f"append at {entries[0].offset}, log ends at {self.end_offset}")
        info = self._log.append_as_follower(encode_entries(entries, wall_clock_ms()))
        if info.error_code:
            raise RuntimeError(f"metadata log append failed: {info.error_message}")
        self._tail.extend(entries)

    def truncate_to(self, end_offset: int) -> None:
        if end_offset >= self.end_offset:
            return
        if end_offset < self.log_start_offset:
            raise ValueError(f"truncate to {end_offset} below log start {self.log_start_offset}")
        # PartitionLog cuts whole batches; keep what lies between the cut and
        # the target and append it again.
        start = self.log_start_offset
        batch_start = self._batch_start(end_offset)
        keep = self._read_entries(max(batch_start, start), end_offset)
        self._tail.clear()
        if batch_start < start:
            # The cut batch straddles the log start (the snapshot covers its head).
            self._log.truncate_fully_and_start_at(start)
        else:
            self._log.truncate_to(end_offset)
        tail = [e for e in keep if e.offset >= self.end_offset]
        if tail:
            self.append(tail)
        self._log.flush()
        fsync_dir(self.dir)

    def _batch_start(self, offset: int) -> int:
        """Base offset of the batch holding `offset`."""
        data = self._log.read(offset, 1).to_bytes()
        if not data:
            return offset
        return int.from_bytes(data[:8], "big")

    def _read_entries(self, start: int, end: int) -> list[Entry]:
        out: list[Entry] = []
        position = start
        while position < end:
            data = self._log.read(position, 1 << 20).to_bytes()
            got = [e for e in decode_entries(data, position) if e.offset < end]
            if not got:
                break
            out.extend(got)
            position = got[-1].offset + 1
        return out

    def read(self, start_offset: int, max_bytes: int) -> tuple[Entry, ...]:
        if start_offset >= self.end_offset:
            return ()
        tail_start = self.end_offset - len(self._tail)
        if start_offset >= max(tail_start, self.log_start_offset):
            return self._read_tail(start_offset - tail_start, max_bytes)
        data = self._log.read(start_offset, max(max_bytes, 1)).to_bytes()
        out: list[Entry] = []
        used = 0
        for entry in decode_entries(data, start_offset):
            if out and used + entry.size_in_bytes > max_bytes:
                break
            out.append(entry)
            used += entry.size_in_bytes
        return tuple(out)

    def _read_tail(self, index: int, max_bytes: int) -> tuple[Entry, ...]:
        out: list[Entry] = []
        used = 0
        for i in range(index, len(self._tail)):
            entry = self._tail[i]
            if out and used + entry.size_in_bytes > max_bytes:
                break
            out.append(entry)
            used += entry.size_in_bytes
        return tuple(out)

    def flush(self) -> None:
        self._log.flush()

    def begin_flush(self) -> tuple[int, Callable[[], None]]:
        """(end offset the flush covers, the fsyncs to run in a worker thread)."""
        task = self._log.begin_flush()
        self._flush_task = task
        return task.offset, task.run

    def complete_flush(self, end_offset: int) -> None:
        task, self._flush_task = self._flush_task, None
        assert task is not None and task.offset == end_offset
        self._log.complete_flush(task)

    def close(self) -> None:
        self._log.flush()
        self._log.close()

    # --- snapshots --------------------------------------------------------------

    def earliest_snapshot_id(self) -> OffsetAndEpoch | None:
        start = self.log_start_offset
        for snapshot in self._snapshots:
            if snapshot.offset == start:
                return snapshot
        return None

    def latest_snapshot_id(self) -> OffsetAndEpoch | None:
        return self._snapshots[-1] if self._snapshots else None

    def snapshot_path(self, snapshot_id: OffsetAndEpoch) -> Path:
        return self.dir / snapshot_file_name(snapshot_id)

    def snapshot_size(self, snapshot_id: OffsetAndEpoch) -> int | None:
        if snapshot_id not in self._snapshots:
            return None
        return self.snapshot_path(snapshot_id).stat().st_size

    def read_snapshot(self, snapshot_id: OffsetAndEpoch, position: int, max_bytes: int) -> bytes:
        with open(self.snapshot_path(snapshot_id), "rb") as f:
            f.seek(position)
            return f.read(max_bytes)

    def snapshot_quorum_records(self, snapshot_id: OffsetAndEpoch) -> tuple[QuorumRecord, ...]:
        with open(self.snapshot_path(snapshot_id), "rb") as f:
            head = f.read(_SNAPSHOT_HEAD_BYTES)
        try:
            return batches.snapshot_quorum_records(head)
        except batches.MalformedBatch as e:
            raise OSError(f"snapshot {snapshot_id} is damaged: {e}") from None

    def quorum_records(self, end_offset: int) -> tuple[QuorumRecord, ...]:
        """What a snapshot ending at `end_offset` must carry (the layer above
        writes it: `batches.encode_snapshot`); the raft driver points this at
        `RaftCore.quorum_records_at`."""
        if self.quorum_records_provider is None:
            return ()
        return self.quorum_records_provider(end_offset)

    def write_snapshot(self, snapshot_id: OffsetAndEpoch, data: bytes) -> None:
        """Store a snapshot the layer above produced (atomically, durably)."""
        self.begin_snapshot_download(snapshot_id)
        self.append_snapshot_chunk(snapshot_id, data)
        self._freeze_download(snapshot_id)

    def begin_snapshot_download(self, snapshot_id: OffsetAndEpoch) -> None:
        self._abort_download()
        part = self.snapshot_path(snapshot_id).with_suffix(".checkpoint.part")
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        self._download = (snapshot_id, fd)

    def append_snapshot_chunk(self, snapshot_id: OffsetAndEpoch, data: bytes) -> int:
        assert self._download is not None and self._download[0] == snapshot_id
        fd = self._download[1]
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        return os.fstat(fd).st_size

    def install_snapshot(self, snapshot_id: OffsetAndEpoch) -> None:
        self._freeze_download(snapshot_id)
        self._tail.clear()
        self._log.truncate_fully_and_start_at(snapshot_id.offset)
        self._drop_snapshots_before(snapshot_id)

    def delete_before_snapshot(self, snapshot_id: OffsetAndEpoch) -> None:
        if snapshot_id.offset > self.end_offset:
            raise ValueError(f"snapshot {snapshot_id} is beyond the log end {self.end_offset}")
        self._log.delete_records_before(snapshot_id.offset)
        self._drop_snapshots_before(snapshot_id)

    def _freeze_download(self, snapshot_id: OffsetAndEpoch) -> None:
        assert self._download is not None and self._download[0] == snapshot_id
        fd = self._download[1]
        self._download = None
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        final = self.snapshot_path(snapshot_id)
        os.replace(final.with_suffix(".checkpoint.part"), final)
        fsync_dir(self.dir)
        if snapshot_id not in self._snapshots:
            self._snapshots.append(snapshot_id)
            self._snapshots.sort(key=lambda s: s.offset)

    def _abort_download(self) -> None:
        if self._download is not None:
            snapshot_id, fd = self._download
            os.close(fd)
            self.snapshot_path(snapshot_id).with_suffix(".checkpoint.part").unlink(missing_ok=True)
            self._download = None

    def _drop_snapshots_before(self, snapshot_id: OffsetAndEpoch) -> None:
        for old in [s for s in self._snapshots if s.offset < snapshot_id.offset]:
            self.snapshot_path(old).unlink(missing_ok=True)
            self._snapshots.remove(old)
        fsync_dir(self.dir)
