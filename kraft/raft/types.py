"""Value types shared by the raft core, its log and its driver.

Kafka's vocabulary: an *epoch* is Raft's term; a record is named by
(offset, epoch); the *log end offset* (LEO) is the offset the next appended
record will get, so offsets are half-open ranges `[start, end)` throughout.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

NO_LEADER = -1
"""Sentinel for "leader unknown" in wire messages (Kafka's -1)."""

ENTRY_OVERHEAD_BYTES = 16
"""Bytes charged per entry on top of its payload when sizing reads and batches
(offset delta, epoch, length: roughly what a v2 record header costs)."""

CONTROL_ENTRY_BYTES = 64
"""Bytes charged for a control entry (LeaderChange)."""


class NotLeaderError(Exception):
    """`propose` was called on a node that is not the leader of the given epoch.

    Carries the node's current view so callers can redirect: `leader_id` is
    None when the leader is unknown.
    """

    def __init__(self, leader_id: int | None, epoch: int) -> None:
        super().__init__(f"not the leader: leader is {leader_id} in epoch {epoch}")
        self.leader_id = leader_id
        self.epoch = epoch


class IllegalTransitionError(Exception):
    """A role change that the transition table forbids: always a bug."""


class RaftInvariantError(Exception):
    """A peer or our own state broke a Raft invariant (two leaders in one
    epoch, truncation below the high watermark, ...). The node must stop."""


@functools.total_ordering
@dataclass(frozen=True, slots=True)
class OffsetAndEpoch:
    """A position in the log: `offset` with the `epoch` of the record before it.

    Used both for "end offset and last epoch" of a log and for snapshot ids
    (exclusive end offset, epoch of the last contained record). Ordered as
    Kafka orders them: by epoch first, then offset, which is Raft's "log is at
    least as up to date" comparison.
    """

    offset: int
    epoch: int

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, OffsetAndEpoch):
            return NotImplemented
        return (self.epoch, self.offset) < (other.epoch, other.offset)


@dataclass(frozen=True, slots=True)
class LeaderAndEpoch:
    """Who leads which epoch, as far as this node knows (`leader_id` None = unknown)."""

    leader_id: int | None
    epoch: int


@dataclass(frozen=True, slots=True)
class LeaderChangeMessage:
    """Control record a new leader appends at the start of its epoch.

    Committing it is how a leader learns its high watermark (Raft's no-op).
    Field names follow Kafka's LeaderChangeMessage (ControlRecordType 2).
    """

    leader_id: int
    voters: tuple[int, ...]
    granting_voters: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Entry:
    """One record of the metadata log.

    `control` is set (and `payload` empty) for control records; data records
    carry the caller's opaque `payload`.
    """

    offset: int
    epoch: int
    payload: bytes = b""
    control: LeaderChangeMessage | None = None

    @property
    def size_in_bytes(self) -> int:
        """Bytes this entry counts for fetch sizes, batches and snapshot triggers."""
        if self.control is not None:
            return CONTROL_ENTRY_BYTES
        return len(self.payload) + ENTRY_OVERHEAD_BYTES
