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


class UnexpectedBaseOffsetError(ValueError):
    """`propose(..., base_offset=N)`: the records would not start at offset N (the
    raft layer appended records of its own meanwhile, e.g. a VotersRecord of
    AddRaftVoter); nothing was appended. Kafka's UnexpectedBaseOffsetException."""


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
class VoterNode:
    """One voter of a VotersRecord (KIP-853): its id, the directory id of its
    metadata log dir (a Kafka Uuid string; None where unknown, as with static
    `controller.quorum.voters`), its controller endpoints as
    (listener, host, port), and the kraft.version range it supports."""

    voter_id: int
    directory_id: str | None = None
    endpoints: tuple[tuple[str, str, int], ...] = ()
    min_kraft_version: int = 0
    max_kraft_version: int = 1

    @property
    def key(self) -> str:
        """Kafka's `ReplicaKey` as it prints in error messages."""
        return replica_key(self.voter_id, self.directory_id)


def replica_key(replica_id: int, directory_id: str | None) -> str:
    """Kafka's `ReplicaKey.toString()`: how KIP-853 errors name a replica."""
    directory = "Optional.empty" if directory_id is None else f"Optional[{directory_id}]"
    return f"ReplicaKey(id={replica_id}, directoryId={directory})"


@dataclass(frozen=True, slots=True)
class VotersRecord:
    """Control record KRAFT_VOTERS (ControlRecordType 6): the complete voter set
    in force from this record on (KIP-853). A replica uses the latest one in
    its log, committed or not; truncating the log reverts to the one before."""

    voters: tuple[VoterNode, ...]

    @property
    def ids(self) -> tuple[int, ...]:
        return tuple(sorted(v.voter_id for v in self.voters))

    def voter(self, voter_id: int) -> VoterNode | None:
        return next((v for v in self.voters if v.voter_id == voter_id), None)

    @property
    def keys(self) -> str:
        """The set as Kafka's `voterKeys()` prints it."""
        return "[" + ", ".join(v.key for v in sorted(self.voters, key=lambda v: v.voter_id)) + "]"

    @classmethod
    def of_ids(cls, ids: tuple[int, ...]) -> VotersRecord:
        """A voter set known only by ids (static `controller.quorum.voters`)."""
        return cls(tuple(VoterNode(i) for i in sorted(ids)))


@dataclass(frozen=True, slots=True)
class KRaftVersionRecord:
    """Control record KRAFT_VERSION (ControlRecordType 5): the finalized
    kraft.version from this record on (1: the voter set lives in the log)."""

    kraft_version: int


ControlMessage = LeaderChangeMessage | VotersRecord | KRaftVersionRecord
QuorumRecord = VotersRecord | KRaftVersionRecord
"""The control records that define the quorum (and that snapshots carry)."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One record of the metadata log.

    `control` is set (and `payload` empty) for control records (LeaderChange,
    and with KIP-853 KRaftVersion and Voters); data records
    carry the caller's opaque `payload`.
    """

    offset: int
    epoch: int
    payload: bytes = b""
    control: ControlMessage | None = None

    @property
    def size_in_bytes(self) -> int:
        """Bytes this entry counts for fetch sizes, batches and snapshot triggers."""
        if self.control is not None:
            return CONTROL_ENTRY_BYTES
        return len(self.payload) + ENTRY_OVERHEAD_BYTES
