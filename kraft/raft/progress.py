"""What a leader tracks during its epoch: replica progress, the high watermark,
check-quorum, BeginQuorumEpoch acknowledgements, lingering proposals and
parked fetches.

Everything here lives exactly as long as one `Leader` role and is dropped
when the node stops leading; time is passed in as `now_ms`.

Progress of a replica is the offset it asked to fetch from in a fetch that
validated against our log (no divergence): by Raft's log matching, its log
equals ours below that offset. Voters flush before fetching, so for voters
that offset is durable. The leader's own entry is its *flushed* end offset.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kraft.raft.messages import FetchRequest, ReplicaState
from kraft.raft.quorum import high_watermark_candidate, majority, next_high_watermark
from kraft.raft.types import ENTRY_OVERHEAD_BYTES, Entry

CAUGHT_UP_WINDOW_MS = 3_600_000
"""An observer that fetched within this and once reached the log end counts as
caught up for AddRaftVoter (Kafka's `LeaderState.isReplicaCaughtUp`: an hour)."""

CHECK_QUORUM_TIMEOUT_FACTOR = 1.5
"""Check-quorum fires after this many fetch timeouts without a fetching majority."""


@dataclass(slots=True)
class ReplicaProgress:
    replica_id: int
    end_offset: int | None = None
    directory_id: str | None = None
    last_fetch_ms: int | None = None
    last_caught_up_ms: int | None = None

    def describe(self) -> ReplicaState:
        return ReplicaState(
            replica_id=self.replica_id,
            replica_directory_id=self.directory_id,
            log_end_offset=-1 if self.end_offset is None else self.end_offset,
            last_fetch_timestamp=-1 if self.last_fetch_ms is None else self.last_fetch_ms,
            last_caught_up_timestamp=(
                -1 if self.last_caught_up_ms is None else self.last_caught_up_ms
            ),
        )


class LeaderProgress:
    """Replication state of one leader epoch (Kafka's `LeaderState` minus the role)."""

    def __init__(
        self,
        *,
        local_id: int,
        voters: tuple[int, ...],
        epoch_start_offset: int,
        high_watermark: int,
        fetch_timeout_ms: int,
        now_ms: int,
    ) -> None:
        self.local_id = local_id
        self.voters = voters
        self.epoch_start_offset = epoch_start_offset
        self.high_watermark = high_watermark
        self.voter_progress = {v: ReplicaProgress(v) for v in voters}
        self.observer_progress: dict[int, ReplicaProgress] = {}
        self._check_quorum_timeout_ms = int(fetch_timeout_ms * CHECK_QUORUM_TIMEOUT_FACTOR)
        self._fetched_voters: set[int] = set()
        self.check_quorum_deadline: int | None = (
            None if voters == (local_id,) else now_ms + self._check_quorum_timeout_ms
        )
        self._begin_quorum_interval_ms = fetch_timeout_ms // 2
        # Unacknowledged voters and when each is next due a BeginQuorumEpoch.
        self._begin_quorum_due = {v: now_ms for v in voters if v != local_id}

    # --- high watermark ----------------------------------------------------

    def update_local_end_offset(self, flushed_end_offset: int, now_ms: int) -> bool:
        """The leader's own flushed end offset moved; True if the HWM advanced."""
        local = self._progress_of(self.local_id)
        local.end_offset = flushed_end_offset
        local.last_fetch_ms = local.last_caught_up_ms = now_ms
        return self._maybe_advance_high_watermark()

    def _progress_of(self, replica_id: int) -> ReplicaProgress:
        progress = self.voter_progress.get(replica_id)
        if progress is None:
            progress = self.observer_progress.setdefault(replica_id, ReplicaProgress(replica_id))
        return progress

    def update_replica(
        self, replica_id: int, fetch_offset: int, leader_end_offset: int, now_ms: int,
        directory_id: str | None = None,
    ) -> bool:
        """A valid fetch from `replica_id` at `fetch_offset`; True if the HWM advanced."""
        progress = self._progress_of(replica_id)
        if directory_id is not None:
            progress.directory_id = directory_id
        progress.end_offset = fetch_offset
        progress.last_fetch_ms = now_ms
        if fetch_offset >= leader_end_offset:
            progress.last_caught_up_ms = now_ms
        return replica_id in self.voter_progress and self._maybe_advance_high_watermark()

    def _maybe_advance_high_watermark(self) -> bool:
        candidate = high_watermark_candidate(
            {v: p.end_offset for v, p in self.voter_progress.items()}
        )
        new = next_high_watermark(self.high_watermark, candidate, self.epoch_start_offset)
        if new is None:
            return False
        self.high_watermark = new
        return True

    def set_voters(self, voters: tuple[int, ...], now_ms: int) -> bool:
        """The voter set changed (a VotersRecord was appended, KIP-853): replicas
        move between voters and observers with their progress; a new voter is
        sent BeginQuorumEpoch; the high watermark and check-quorum count the new
        set from now on. True if the high watermark advanced."""
        old = self.voter_progress
        self.voter_progress = {
            v: old.get(v) or self.observer_progress.pop(v, None) or ReplicaProgress(v)
            for v in voters
        }
        for v, progress in old.items():
            if v not in self.voter_progress:
                self.observer_progress[v] = progress
        self.voters = voters
        for v in voters:
            if v not in old and v != self.local_id:
                self._begin_quorum_due[v] = now_ms
        for v in [v for v in self._begin_quorum_due if v not in voters]:
            del self._begin_quorum_due[v]
        self._fetched_voters &= set(voters)
        if voters == (self.local_id,):
            self.check_quorum_deadline = None
        elif self.check_quorum_deadline is None:
            self.check_quorum_deadline = now_ms + self._check_quorum_timeout_ms
        return self._maybe_advance_high_watermark()

    def is_caught_up_observer(self, replica_id: int, directory_id: str | None,
                              now_ms: int) -> bool:
        """Kafka's `isReplicaCaughtUp` for AddRaftVoter: an observer with this
        directory id that reached the leader's log end at least once and
        fetched within the last hour."""
        progress = self.observer_progress.get(replica_id)
        return (
            progress is not None
            and progress.directory_id == directory_id
            and progress.last_caught_up_ms is not None
            and progress.last_fetch_ms is not None
            and progress.last_fetch_ms > now_ms - CAUGHT_UP_WINDOW_MS
        )

    def voters_by_descending_fetch_offset(self) -> tuple[int, ...]:
        """Other voters, most caught-up first (the preferred successors on resign)."""
        others = [p for v, p in self.voter_progress.items() if v != self.local_id]
        others.sort(key=lambda p: -1 if p.end_offset is None else p.end_offset, reverse=True)
        return tuple(p.replica_id for p in others)

    def describe(self) -> tuple[tuple[ReplicaState, ...], tuple[ReplicaState, ...]]:
        voters = tuple(self.voter_progress[v].describe() for v in self.voters)
        observers = tuple(p.describe() for _, p in sorted(self.observer_progress.items()))
        return voters, observers

    # --- check quorum and BeginQuorumEpoch ---------------------------------

    def record_voter_fetch(self, voter_id: int, now_ms: int) -> None:
        """A voter fetched in this epoch: it acknowledges the epoch and counts
        toward check-quorum."""
        if voter_id not in self.voter_progress or voter_id == self.local_id:
            return
        self._begin_quorum_due.pop(voter_id, None)
        if self.check_quorum_deadline is None:
            return
        self._fetched_voters.add(voter_id)
        own = 1 if self.local_id in self.voter_progress else 0
        if len(self._fetched_voters) + own >= majority(len(self.voters)):
            self.check_quorum_deadline = now_ms + self._check_quorum_timeout_ms
            self._fetched_voters.clear()

    def acknowledge_begin_quorum(self, voter_id: int) -> None:
        self._begin_quorum_due.pop(voter_id, None)

    def voters_due_begin_quorum(self, now_ms: int) -> list[int]:
        """Unacknowledged voters whose BeginQuorumEpoch is due (at once, then every
        fetch.timeout/2 after each send)."""
        return sorted(v for v, due in self._begin_quorum_due.items() if due <= now_ms)

    def sent_begin_quorum(self, voter_id: int, now_ms: int) -> None:
        if voter_id in self._begin_quorum_due:
            self._begin_quorum_due[voter_id] = now_ms + self._begin_quorum_interval_ms

    def next_begin_quorum_ms(self, now_ms: int) -> int | None:
        """When the next resend falls due (voters already due wait for their
        connection, which the request manager's deadlines cover)."""
        return min((d for d in self._begin_quorum_due.values() if d > now_ms), default=None)


class ProposalAccumulator:
    """Payloads proposed on the leader but not yet appended (append.linger.ms).

    Offsets are assigned at `add` time: the leader is the only writer of its
    epoch, so the next offset is the log end plus what is pending.
    """

    def __init__(self, epoch: int, linger_ms: int, max_batch_bytes: int) -> None:
        self.epoch = epoch
        self._linger_ms = linger_ms
        self._max_batch_bytes = max_batch_bytes
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self.drain_deadline: int | None = None

    def add(self, payloads: list[bytes], log_end_offset: int, now_ms: int) -> int:
        """Queue payloads; returns the offset the last one will have."""
        size = sum(len(p) + ENTRY_OVERHEAD_BYTES for p in payloads)
        if size > self._max_batch_bytes:
            raise ValueError(f"{size} bytes exceed the maximum batch size {self._max_batch_bytes}")
        if self.drain_deadline is None:
            self.drain_deadline = now_ms + self._linger_ms
        if self._pending_bytes + size > self._max_batch_bytes:
            self.drain_deadline = now_ms
        self._pending.extend(payloads)
        self._pending_bytes += size
        return log_end_offset + len(self._pending) - 1

    @property
    def pending_count(self) -> int:
        """Payloads queued and not yet appended."""
        return len(self._pending)

    def drain(self, log_end_offset: int, now_ms: int) -> list[Entry]:
        """The pending entries if the linger time is up (or the batch is full)."""
        if self.drain_deadline is None or now_ms < self.drain_deadline:
            return []
        entries = [
            Entry(log_end_offset + i, self.epoch, payload)
            for i, payload in enumerate(self._pending)
        ]
        self._pending.clear()
        self._pending_bytes = 0
        self.drain_deadline = None
        return entries


@dataclass(slots=True, order=True)
class ParkedFetch:
    """A Fetch with nothing to return yet, answered at `deadline_ms` at the latest."""

    deadline_ms: int
    source: int = field(compare=False)
    correlation_id: int = field(compare=False)
    request: FetchRequest = field(compare=False)


class FetchPurgatory:
    """Parked fetches of the current leader epoch (Kafka's fetch purgatory)."""

    def __init__(self) -> None:
        self._parked: list[ParkedFetch] = []

    def park(self, fetch: ParkedFetch) -> None:
        self._parked.append(fetch)

    def take_all(self) -> list[ParkedFetch]:
        parked, self._parked = self._parked, []
        return parked

    def take_expired(self, now_ms: int) -> list[ParkedFetch]:
        expired = [p for p in self._parked if p.deadline_ms <= now_ms]
        if expired:
            self._parked = [p for p in self._parked if p.deadline_ms > now_ms]
        return expired

    def next_deadline(self) -> int | None:
        return min((p.deadline_ms for p in self._parked), default=None)
