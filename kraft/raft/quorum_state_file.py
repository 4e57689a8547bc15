"""The `quorum-state` file: the election state a voter must not forget.

Format: one JSON object, Kafka's QuorumStateData v0 field names plus
`data_version`, encoded with msgspec::

    {"clusterId": "", "leaderId": 2, "leaderEpoch": 8, "votedId": -1,
     "appliedOffset": 0, "currentVoters": [{"voterId": 1}, ...],
     "data_version": 0}

-1 stands for "none" in leaderId and votedId. Unknown fields are ignored so
a newer writer's file stays readable.

Write procedure (Kafka's FileQuorumStateStore): write `quorum-state.tmp`,
fsync it, rename over `quorum-state`, fsync the directory. A crash leaves
either the old or the new file. A file that cannot be parsed means the disk
lied to us; we refuse to start rather than forget a vote (Kafka clears it,
which can let a voter vote twice in one epoch).
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from kraft.log.checkpoint import atomic_write
from kraft.raft.state import ElectionState

FILE_NAME = "quorum-state"


class Voter(msgspec.Struct, rename="camel"):
    voter_id: int


class QuorumStateData(msgspec.Struct, rename="camel", forbid_unknown_fields=False):
    leader_epoch: int
    leader_id: int = -1
    voted_id: int = -1
    cluster_id: str = ""
    applied_offset: int = 0
    current_voters: list[Voter] = msgspec.field(default_factory=list)
    data_version: int = msgspec.field(default=0, name="data_version")


class CorruptQuorumState(Exception):
    """The quorum-state file exists but cannot be read."""


def read(directory: str | Path) -> ElectionState | None:
    """The stored election state, or None if there is no file yet."""
    path = Path(directory) / FILE_NAME
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        data = msgspec.json.decode(raw, type=QuorumStateData)
    except msgspec.DecodeError as e:
        raise CorruptQuorumState(f"{path}: {e}") from e
    return ElectionState(
        epoch=data.leader_epoch,
        leader_id=None if data.leader_id < 0 else data.leader_id,
        voted_id=None if data.voted_id < 0 else data.voted_id,
        voters=tuple(v.voter_id for v in data.current_voters),
    )


def write(directory: str | Path, state: ElectionState, cluster_id: str = "") -> None:
    """Durably replace the stored election state (tmp, fsync, rename, fsync dir)."""
    d = Path(directory)
    data = QuorumStateData(
        leader_epoch=state.epoch,
        leader_id=-1 if state.leader_id is None else state.leader_id,
        voted_id=-1 if state.voted_id is None else state.voted_id,
        cluster_id=cluster_id,
        current_voters=[Voter(v) for v in state.voters],
    )
    atomic_write(d / FILE_NAME, msgspec.json.encode(data))
