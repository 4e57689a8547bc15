"""`Ready`: everything the driver must do after feeding the core an input.

The core accumulates effects while it handles inputs; `RaftCore.take_ready()`
drains them into one `Ready` (call it while `RaftCore.has_ready()`: committed
entries come in bounded slices). Act on a Ready in this order:

1. `quorum_state`: write it durably (Kafka: `quorum-state.tmp`, fsync,
   rename) *before* sending any of `messages` and before acting on
   `flush_to`. Votes granted and epochs announced in `messages` rely on it.
2. `messages`: send. Nothing in them waits for `flush_to`: a follower only
   emits its next Fetch after `flushed()` confirmed its appends, and the
   leader may serve records it has not flushed yet.
3. `flush_to`: make the log durable up to at least this end offset (fsync,
   possibly in a thread, concurrently with later inputs), then call
   `RaftCore.flushed(offset)`. Acknowledge in request order; acknowledging
   an offset acknowledges every earlier request.
4. `snapshot_loaded`, then `committed`, then `snapshot_request`: for the
   listener (the metadata layer). If `snapshot_loaded` is set, reload state
   from that snapshot first; then apply `committed` in order.
5. `leader_change` / `role`: informational, for the listener and metrics.

Appends and truncations are not in the Ready: the core performs them itself
through `ReplicatedLog` (see `kraft.raft.log`); only durability is the
driver's job.
"""

from __future__ import annotations

from dataclasses import dataclass

from kraft.raft.messages import Outbound
from kraft.raft.state import ElectionState, Role
from kraft.raft.types import Entry, LeaderAndEpoch, OffsetAndEpoch


@dataclass(frozen=True, slots=True)
class Ready:
    quorum_state: ElectionState | None
    """New election state to persist first, or None if unchanged."""

    messages: tuple[Outbound, ...]
    """Requests and responses to send once `quorum_state` is durable."""

    flush_to: int | None
    """Flush the log to at least this end offset, then call `flushed(flush_to)`."""

    snapshot_loaded: OffsetAndEpoch | None
    """The log now starts at this snapshot (installed from the leader, or found
    at startup): the listener must load its state from it before `committed`."""

    committed: tuple[Entry, ...]
    """Entries newly below the high watermark, in offset order, including
    control entries. Bounded per Ready; the rest follows in later Readies."""

    snapshot_request: OffsetAndEpoch | None
    """Enough committed bytes since the last snapshot: the listener should write
    a snapshot at this id (its state after applying `committed`) into the log
    and call `RaftCore.snapshot_created`."""

    high_watermark: int
    """The current high watermark (informational)."""

    leader_change: LeaderAndEpoch | None
    """The leader or epoch changed since the previous Ready."""

    role: Role | None
    """The role changed since the previous Ready; this is the current one."""

    next_deadline_ms: int
    """Call `poll` at this time at the latest (same value `poll` returns)."""
