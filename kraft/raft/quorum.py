"""Quorum math: majorities, vote grants, vote tallies, high watermark, backoffs.

Pure functions and one small tally; nothing here knows about time or I/O
beyond an injected `random.Random`.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping

from kraft.raft.config import RETRY_BACKOFF_BASE_MS
from kraft.raft.state import Follower, Leader, Prospective, Role, Unattached
from kraft.raft.types import OffsetAndEpoch


def majority(voter_count: int) -> int:
    """Smallest number of voters that is more than half of `voter_count`."""
    return voter_count // 2 + 1


def is_log_up_to_date(candidate_end: OffsetAndEpoch, local_end: OffsetAndEpoch) -> bool:
    """Raft's rule: the candidate's (last epoch, end offset) is at least ours."""
    return candidate_end >= local_end


def can_grant_vote(
    role: Role, candidate_id: int, *, log_up_to_date: bool, pre_vote: bool, has_fetched: bool
) -> bool:
    """Whether a voter in `role` (already moved to the request's epoch for a
    binding vote) grants a Vote request from `candidate_id`.

    Pre-vote (KIP-996, kraft.md 1.2): granted when the candidate's log is up
    to date, unless we lead, or we follow a leader we have fetched from in
    this epoch (then that leader is alive, as far as we can tell). A pre-vote
    grant changes no state.

    Binding vote (KIP-595, Kafka `unattachedOrProspectiveCanGrantVote`): only
    Unattached or Prospective grant; a vote already cast in this epoch is
    repeated for the same candidate and refused to others; a known leader
    means no vote; otherwise the candidate's log must be up to date.
    Candidates, leaders, followers and resigned leaders always refuse.
    """
    if pre_vote:
        if isinstance(role, Leader):
            return False
        if isinstance(role, Follower) and has_fetched:
            return False
        return log_up_to_date
    if not isinstance(role, Unattached | Prospective):
        return False
    if role.voted_id is not None:
        return role.voted_id == candidate_id
    if role.leader_id is not None:
        return False
    return log_up_to_date


class EpochElection:
    """Votes received by a Prospective (pre-votes) or Candidate in one epoch.

    The local node's own vote is granted from the start. Granted means a
    majority said yes; rejected means a majority can no longer be reached.
    """

    def __init__(self, voters: Iterable[int], local_id: int) -> None:
        self._voters = tuple(voters)
        # A candidate removed by its latest (uncommitted) set does not vote for itself.
        self._granted: set[int] = {local_id} if local_id in self._voters else set()
        self._rejected: set[int] = set()

    def record(self, voter_id: int, granted: bool) -> None:
        if voter_id not in self._voters or voter_id in self._granted | self._rejected:
            return
        (self._granted if granted else self._rejected).add(voter_id)

    @property
    def granting_voters(self) -> tuple[int, ...]:
        return tuple(sorted(self._granted))

    @property
    def is_granted(self) -> bool:
        return len(self._granted) >= majority(len(self._voters))

    @property
    def is_rejected(self) -> bool:
        return len(self._voters) - len(self._rejected) < majority(len(self._voters))

    def unrecorded_voters(self) -> list[int]:
        return [v for v in self._voters if v not in self._granted and v not in self._rejected]


def high_watermark_candidate(voter_end_offsets: Mapping[int, int | None]) -> int | None:
    """The offset a majority of voters has reached (Kafka `maybeUpdateHighWatermark`).

    Voters sorted by end offset descending; the value at index `len // 2`.
    Unknown end offsets (voters that have not fetched this epoch) sort last;
    None if the majority includes an unknown one.
    """
    ordered = sorted(voter_end_offsets.values(), key=lambda o: -1 if o is None else o, reverse=True)
    return ordered[len(ordered) // 2]


def next_high_watermark(current: int, candidate: int | None, epoch_start_offset: int) -> int | None:
    """The new high watermark, or None if it must not move.

    It moves only forward and only once the majority offset is past the
    leader's epoch start (its LeaderChange record is committed), so the
    leader never exposes entries it cannot yet prove committed.
    """
    if candidate is None or candidate <= epoch_start_offset or candidate <= current:
        return None
    return candidate


def binary_exponential_backoff_ms(rng: random.Random, retries: int, max_ms: int) -> int:
    """Backoff after a failed election: 100 ms x uniform integer in [0, 2^retries),
    exponent capped at 20, result capped at `max_ms` (Kafka's)."""
    if retries <= 0:
        raise ValueError(f"retries must be positive, got {retries}")
    return min(RETRY_BACKOFF_BASE_MS * rng.randrange(2 << min(20, retries - 1)), max_ms)


def strict_exponential_backoff_ms(position: int, successors: int, max_ms: int) -> int:
    """Election delay of the `position`-th preferred successor after EndQuorumEpoch.

    Rank 0 starts at once; rank p waits `(max >> (n-1)) << (p-1)`; a voter not
    in the list (position outside [0, n)) waits `max`.
    """
    if position == 0:
        return 0
    if position < 0 or position >= successors:
        return max_ms
    return min(max_ms, (max_ms >> (successors - 1)) << (position - 1))


def random_election_timeout_ms(rng: random.Random, base_ms: int) -> int:
    """base + uniform integer in [0, base) (Kafka `randomElectionTimeoutMs`)."""
    return base_ms + rng.randrange(base_ms) if base_ms > 0 else 0
