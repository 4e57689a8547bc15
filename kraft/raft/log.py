"""The log as the raft core sees it: a small synchronous Protocol.

Choice: the core reads and writes the replicated log through `ReplicatedLog`
(like etcd's `Storage` or Kafka's `ReplicatedLog`) instead of modelling the
log inside the core. Appends, truncations and reads are synchronous calls
that touch only memory or the page cache; the one slow operation, making the
log durable, is *not* called by the core: the core asks for it in
`Ready.flush_to` and learns it happened through `RaftCore.flushed`. That keeps
fsync out of the state machine and lets the driver run it in a thread.

`kraft.raft.memory_log.MemoryLog` implements the Protocol in memory (and can
lose its unflushed tail on a simulated crash); the on-disk metadata log
implements it over `log/`.

Contract shared by every implementation (offsets are half-open):

- The log holds entries `[log_start_offset, end_offset)`. Below
  `log_start_offset` there is only the snapshot ending there (or nothing, at
  offset 0). Entry epochs never decrease with offset.
- `append` adds entries at `end_offset`; `truncate_to(o)` drops `[o, end)`
  and is only called with `o >= log_start_offset`. Both are visible to reads
  at once. Appends are durable only after the driver's next flush; a
  truncation must never be undone by a crash (a crash must not bring back
  removed entries), so the durable state is always a prefix of what reads see.
- After a crash the log recovers to a prefix of what was written that covers
  at least everything the last completed flush covered.
- Snapshot calls (`install_snapshot`, `delete_before_snapshot`) are durable
  when they return.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from kraft.raft.types import Entry, OffsetAndEpoch, QuorumRecord


class ReplicatedLog(Protocol):
    """What the raft core needs from the metadata log."""

    @property
    def log_start_offset(self) -> int:
        """First offset held as an entry; equals the earliest snapshot's end offset, or 0."""

    @property
    def end_offset(self) -> int:
        """The log end offset: the offset the next appended entry gets."""

    def last_fetched_epoch(self) -> int:
        """Epoch of the last entry; the earliest snapshot's epoch if there are no entries;
        0 for an empty log."""

    def end_offset_for_epoch(self, epoch: int) -> OffsetAndEpoch:
        """For the largest epoch `e <= epoch` in the log: (end offset of `e`, `e`).

        The end offset of `e` is the start offset of the next larger epoch, or
        `end_offset` if `e` is the last. Epochs older than the log start map
        to (log_start_offset, snapshot epoch); callers check for those first.
        """

    def append(self, entries: Sequence[Entry]) -> None:
        """Append contiguous entries starting at `end_offset`."""

    def truncate_to(self, end_offset: int) -> None:
        """Remove every entry with offset >= `end_offset` (>= log_start_offset)."""

    def read(self, start_offset: int, max_bytes: int) -> tuple[Entry, ...]:
        """Entries from `start_offset` (in `[log_start_offset, end_offset]`), at least
        one if any exist there, stopping before `max_bytes` would be exceeded."""

    def flush(self) -> None:
        """Make everything written so far durable. Called by the driver, never the core."""

    def earliest_snapshot_id(self) -> OffsetAndEpoch | None:
        """The snapshot at the log start, if any."""

    def latest_snapshot_id(self) -> OffsetAndEpoch | None:
        """The newest complete snapshot, if any."""

    def snapshot_size(self, snapshot_id: OffsetAndEpoch) -> int | None:
        """Size in bytes of a complete snapshot, or None if it does not exist."""

    def read_snapshot(self, snapshot_id: OffsetAndEpoch, position: int, max_bytes: int) -> bytes:
        """Up to `max_bytes` bytes of a complete snapshot from `position`."""

    def snapshot_quorum_records(self, snapshot_id: OffsetAndEpoch) -> tuple[QuorumRecord, ...]:
        """The KRaftVersion and Voters records a complete snapshot carries (KIP-853;
        empty for kraft.version 0)."""

    def begin_snapshot_download(self, snapshot_id: OffsetAndEpoch) -> None:
        """Start (or restart, discarding any partial data) a `.checkpoint.part` file."""

    def append_snapshot_chunk(self, snapshot_id: OffsetAndEpoch, data: bytes) -> int:
        """Append to the partial snapshot; returns its new size."""

    def install_snapshot(self, snapshot_id: OffsetAndEpoch) -> None:
        """Freeze the downloaded snapshot and truncate the whole log to it:
        afterwards `log_start_offset == end_offset == snapshot_id.offset`."""

    def delete_before_snapshot(self, snapshot_id: OffsetAndEpoch) -> None:
        """Advance the log start to an existing snapshot at or below `end_offset`,
        dropping the entries it covers."""


class ValidationKind(Enum):
    VALID = "valid"
    DIVERGING = "diverging"
    SNAPSHOT = "snapshot"


@dataclass(frozen=True, slots=True)
class ValidOffsetAndEpoch:
    """How a leader answers a fetch position (Kafka's `ValidOffsetAndEpoch`).

    VALID: `offset_and_epoch` is the fetch position and records follow.
    DIVERGING: the follower must truncate to at most this (end offset, epoch).
    SNAPSHOT: the follower must fetch the snapshot with this id.
    """

    kind: ValidationKind
    offset_and_epoch: OffsetAndEpoch


def validate_offset_and_epoch(
    log: ReplicatedLog, fetch_offset: int, last_fetched_epoch: int
) -> ValidOffsetAndEpoch:
    """Kafka's `ReplicatedLog.validateOffsetAndEpoch` plus the empty-follower rule.

    - A follower at offset 0 while a snapshot exists gets the latest snapshot.
    - A position below the log start, at the log start with the wrong epoch,
      or with an epoch older than the earliest snapshot gets the latest snapshot.
    - A position whose epoch ends before `fetch_offset` here, or whose epoch
      we do not have, diverges at our end offset of the largest epoch <= it.
    - Anything else is valid.
    """
    latest = log.latest_snapshot_id()
    if fetch_offset == 0 and latest is not None and latest.offset > 0:
        return ValidOffsetAndEpoch(ValidationKind.SNAPSHOT, latest)
    start = log.log_start_offset
    if start == 0 and fetch_offset == 0:
        return ValidOffsetAndEpoch(ValidationKind.VALID, OffsetAndEpoch(0, 0))
    earliest = log.earliest_snapshot_id()
    if earliest is not None and (
        fetch_offset < start
        or (fetch_offset == start and last_fetched_epoch != earliest.epoch)
        or last_fetched_epoch < earliest.epoch
    ):
        assert latest is not None
        return ValidOffsetAndEpoch(ValidationKind.SNAPSHOT, latest)
    end = log.end_offset_for_epoch(last_fetched_epoch)
    if end.epoch != last_fetched_epoch or end.offset < fetch_offset:
        return ValidOffsetAndEpoch(ValidationKind.DIVERGING, end)
    return ValidOffsetAndEpoch(
        ValidationKind.VALID, OffsetAndEpoch(fetch_offset, last_fetched_epoch)
    )


def diverging_truncation_offset(log: ReplicatedLog, diverging: OffsetAndEpoch) -> int:
    """Where a follower truncates when the leader answers DivergingEpoch.

    The leader's log and ours agree up to the smaller of the leader's end
    offset for that epoch and our own end offset for the largest epoch <= it
    (Kafka `truncateToEndOffset`); never below our log start.
    """
    local = log.end_offset_for_epoch(diverging.epoch)
    return max(log.log_start_offset, min(diverging.offset, local.offset, log.end_offset))
