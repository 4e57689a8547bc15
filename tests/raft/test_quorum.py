"""Quorum math: vote grant rules, tallies, high watermark, backoffs."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kraft.raft.quorum import (
    EpochElection,
    binary_exponential_backoff_ms,
    can_grant_vote,
    high_watermark_candidate,
    is_log_up_to_date,
    majority,
    next_high_watermark,
    random_election_timeout_ms,
    strict_exponential_backoff_ms,
)
from kraft.raft.state import Candidate, Follower, Leader, Prospective, Resigned, Role, Unattached
from kraft.raft.types import OffsetAndEpoch

CANDIDATE = 2


def grants(role: Role, *, up_to_date: bool = True, pre_vote: bool, fetched: bool = False) -> bool:
    return can_grant_vote(
        role, CANDIDATE, log_up_to_date=up_to_date, pre_vote=pre_vote, has_fetched=fetched
    )


@pytest.mark.parametrize("count", range(1, 8))
def test_majority(count: int) -> None:
    """A majority is more than half, and two majorities always intersect."""
    assert majority(count) * 2 > count
    assert (majority(count) - 1) * 2 <= count


def test_log_up_to_date_compares_epoch_first() -> None:
    """A later last epoch wins over a longer log (Raft's comparison)."""
    assert is_log_up_to_date(OffsetAndEpoch(5, 3), OffsetAndEpoch(9, 2))
    assert not is_log_up_to_date(OffsetAndEpoch(9, 2), OffsetAndEpoch(5, 3))
    assert is_log_up_to_date(OffsetAndEpoch(5, 3), OffsetAndEpoch(5, 3))
    assert not is_log_up_to_date(OffsetAndEpoch(4, 3), OffsetAndEpoch(5, 3))


@pytest.mark.parametrize(
    ("role", "granted"),
    [
        (Unattached(4), True),
        (Unattached(4, CANDIDATE), True),
        (Unattached(4, 3), False),
        (Prospective(4, None, None, 1), True),
        (Prospective(4, CANDIDATE, None, 1), True),
        (Prospective(4, 3, None, 1), False),
        (Prospective(4, None, 3, 1), False),
        (Candidate(4, 1, 1), False),
        (Leader(4, 1, 0), False),
        (Follower(4, 3), False),
        (Follower(4, CANDIDATE, CANDIDATE), False),
        (Resigned(4, 1), False),
    ],
)
def test_binding_vote_rules(role: Role, granted: bool) -> None:
    """Binding votes: only Unattached/Prospective grant; one vote per epoch (repeated
    for the same candidate); a known leader means no vote."""
    assert grants(role, pre_vote=False) is granted


def test_binding_vote_needs_up_to_date_log_unless_repeating() -> None:
    """An out-of-date candidate gets no new vote, but a vote already cast is repeated."""
    assert not grants(Unattached(4), up_to_date=False, pre_vote=False)
    assert grants(Unattached(4, CANDIDATE), up_to_date=False, pre_vote=False)


@pytest.mark.parametrize(
    ("role", "fetched", "granted"),
    [
        (Unattached(4, 3), False, True),
        (Prospective(4, 3, 3, 1), False, True),
        (Candidate(4, 1, 1), False, True),
        (Resigned(4, 1), False, True),
        (Follower(4, 3), False, True),
        (Follower(4, 3), True, False),
        (Leader(4, 1, 0), False, False),
    ],
)
def test_pre_vote_rules(role: Role, fetched: bool, granted: bool) -> None:
    """Pre-votes: granted to an up-to-date log unless we lead or our leader is
    answering our fetches (kraft.md 1.2)."""
    assert grants(role, pre_vote=True, fetched=fetched) is granted
    assert not grants(role, up_to_date=False, pre_vote=True, fetched=fetched)


def test_epoch_election_granted_and_rejected() -> None:
    """A tally is granted at a majority of yes and rejected once a majority is out of reach."""
    election = EpochElection((1, 2, 3, 4, 5), local_id=1)
    assert not election.is_granted and not election.is_rejected
    election.record(2, granted=False)
    election.record(3, granted=False)
    assert not election.is_rejected
    election.record(4, granted=False)
    assert election.is_rejected and not election.is_granted
    other = EpochElection((1, 2, 3), local_id=1)
    other.record(3, granted=True)
    assert other.is_granted
    assert other.granting_voters == (1, 3)
    assert other.unrecorded_voters() == [2]


def test_epoch_election_ignores_strangers_and_second_answers() -> None:
    """Votes from non-voters and repeated answers do not count."""
    election = EpochElection((1, 2, 3), local_id=1)
    election.record(9, granted=True)
    election.record(2, granted=False)
    election.record(2, granted=True)
    assert not election.is_granted
    assert EpochElection((1,), local_id=1).is_granted


@pytest.mark.parametrize(
    ("offsets", "expected"),
    [
        ({1: 10}, 10),
        ({1: 10, 2: 5, 3: None}, 5),
        ({1: 10, 2: None, 3: None}, None),
        ({1: 10, 2: 7, 3: 9}, 9),
        ({1: 10, 2: 7, 3: 9, 4: 3}, 7),
        ({1: 10, 2: 7, 3: 9, 4: 3, 5: 8}, 8),
    ],
)
def test_high_watermark_candidate(offsets: dict[int, int | None], expected: int | None) -> None:
    """The HWM candidate is the end offset at index voters/2 in descending order."""
    assert high_watermark_candidate(offsets) == expected


@given(st.lists(st.integers(0, 100), min_size=1, max_size=7))
def test_high_watermark_candidate_is_held_by_a_majority(offsets: list[int]) -> None:
    """At least a majority of voters have reached the candidate high watermark."""
    candidate = high_watermark_candidate(dict(enumerate(offsets)))
    assert candidate is not None
    assert sum(o >= candidate for o in offsets) >= majority(len(offsets))


def test_high_watermark_waits_for_the_epoch_start() -> None:
    """A leader exposes nothing until a majority is past its epoch start (the
    Raft "figure 8" rule), and the high watermark never moves back."""
    assert next_high_watermark(current=3, candidate=5, epoch_start_offset=5) is None
    assert next_high_watermark(current=3, candidate=4, epoch_start_offset=5) is None
    assert next_high_watermark(current=3, candidate=6, epoch_start_offset=5) == 6
    assert next_high_watermark(current=8, candidate=7, epoch_start_offset=5) is None
    assert next_high_watermark(current=3, candidate=None, epoch_start_offset=0) is None


@given(st.integers(1, 30), st.integers(0, 2**32))
def test_binary_exponential_backoff_bounds(retries: int, seed: int) -> None:
    """Election backoff is 100 ms x [0, 2^retries), capped at election.backoff.max.ms."""
    backoff = binary_exponential_backoff_ms(random.Random(seed), retries, 1000)
    assert 0 <= backoff <= min(1000, 100 * (2 ** min(retries, 21) - 1))
    assert backoff % 100 == 0 or backoff == 1000


def test_binary_exponential_backoff_rejects_zero_retries() -> None:
    """Retries count from one."""
    with pytest.raises(ValueError):
        binary_exponential_backoff_ms(random.Random(0), 0, 1000)


def test_strict_exponential_backoff_ranks() -> None:
    """After EndQuorumEpoch rank 0 goes at once, later ranks wait exponentially longer,
    and voters outside the list wait the maximum (Kafka's values)."""
    assert [strict_exponential_backoff_ms(p, 4, 1000) for p in range(4)] == [0, 125, 250, 500]
    assert strict_exponential_backoff_ms(-1, 4, 1000) == 1000
    assert strict_exponential_backoff_ms(4, 4, 1000) == 1000


@given(st.integers(0, 2**32))
def test_random_election_timeout_range(seed: int) -> None:
    """Election timeouts are uniform in [base, 2 x base)."""
    timeout = random_election_timeout_ms(random.Random(seed), 1000)
    assert 1000 <= timeout < 2000
    assert random_election_timeout_ms(random.Random(seed), 0) == 0
