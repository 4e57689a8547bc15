"""KRaft consensus (KIP-595 Raft, KIP-996 pre-vote, check-quorum, KIP-630 snapshots,
KIP-853 voter sets in the log and their changes).

`RaftCore` is the pure state machine: no async, no files, no sockets, no
clock. A driver feeds it inputs (RPCs, time, flush acknowledgements,
proposals) and acts on the `Ready` values it returns. Modules by concern:

- `types`, `messages`, `config`: values, the RPCs (Kafka field names), settings.
- `state`: the roles and the one transition table.
- `log`: the `ReplicatedLog` Protocol and fetch validation; `memory_log`
  an in-memory implementation for tests and simulation.
- `quorum`: vote rules, majorities, high-watermark math, backoffs.
- `progress`: what a leader tracks (replicas, check-quorum, proposals,
  parked fetches); `requests`: requests in flight.
- `voter_set`: the voter set and kraft.version as the log defines them.
- `core` (inputs, role changes, timers), `elections` (votes, epochs,
  Begin/EndQuorumEpoch), `replication` (fetching, flushing, committing,
  snapshots) and `membership` (Add/Remove/UpdateRaftVoter) make up
  `RaftCore`; `ready`: its output.

Around the core: `rpc` declares each raft RPC once (key, versions, codecs to
and from kio), `driver` is the trio shell (`RaftNode`: one task, one inbox of
typed events), `disk_log`/`batches`/`quorum_state_file` are the on-disk forms.
"""

from kraft.raft.config import QuorumConfig
from kraft.raft.core import RaftCore
from kraft.raft.log import ReplicatedLog
from kraft.raft.memory_log import MemoryLog
from kraft.raft.ready import Ready
from kraft.raft.state import (
    Candidate,
    ElectionState,
    Follower,
    Leader,
    Prospective,
    Resigned,
    Role,
    Unattached,
)
from kraft.raft.types import (
    Entry,
    IllegalTransitionError,
    LeaderAndEpoch,
    LeaderChangeMessage,
    NotLeaderError,
    OffsetAndEpoch,
    RaftInvariantError,
)

__all__ = [
    "Candidate",
    "ElectionState",
    "Entry",
    "Follower",
    "IllegalTransitionError",
    "Leader",
    "LeaderAndEpoch",
    "LeaderChangeMessage",
    "MemoryLog",
    "NotLeaderError",
    "OffsetAndEpoch",
    "Prospective",
    "QuorumConfig",
    "RaftCore",
    "RaftInvariantError",
    "Ready",
    "ReplicatedLog",
    "Resigned",
    "Role",
    "Unattached",
]
