"""What a leader tracks: replica progress, high watermark, check-quorum,
BeginQuorumEpoch resends, lingering proposals and parked fetches."""

from __future__ import annotations

import pytest

from kraft.raft.messages import FetchRequest
from kraft.raft.progress import (
    FetchPurgatory,
    LeaderProgress,
    ParkedFetch,
    ProposalAccumulator,
)


def leader(voters: tuple[int, ...] = (1, 2, 3), start: int = 5, hwm: int = 2) -> LeaderProgress:
    return LeaderProgress(
        local_id=1,
        voters=voters,
        epoch_start_offset=start,
        high_watermark=hwm,
        fetch_timeout_ms=2000,
        now_ms=0,
    )


def test_high_watermark_needs_majority_past_epoch_start() -> None:
    """The HWM moves only when a majority (counting the leader's flushed offset) is
    past the epoch start, and only forward."""
    progress = leader()
    assert not progress.update_local_end_offset(8, now_ms=1)
    assert not progress.update_replica(2, 5, leader_end_offset=8, now_ms=1)
    assert progress.high_watermark == 2
    assert progress.update_replica(2, 7, leader_end_offset=8, now_ms=2)
    assert progress.high_watermark == 7
    assert progress.update_replica(3, 8, leader_end_offset=8, now_ms=3)
    assert progress.high_watermark == 8
    assert not progress.update_replica(3, 6, leader_end_offset=8, now_ms=4)
    assert progress.high_watermark == 8


def test_leader_counts_only_its_flushed_offset() -> None:
    """Followers alone are not a majority of three: the leader's flush is needed."""
    progress = leader()
    progress.update_replica(2, 9, leader_end_offset=9, now_ms=1)
    assert progress.high_watermark == 2
    assert progress.update_local_end_offset(9, now_ms=1)
    assert progress.high_watermark == 9


def test_observers_do_not_count() -> None:
    """Observer fetches are tracked for DescribeQuorum but never move the HWM."""
    progress = leader()
    progress.update_local_end_offset(9, now_ms=1)
    assert not progress.update_replica(7, 9, leader_end_offset=9, now_ms=1)
    voters, observers = progress.describe()
    assert [r.replica_id for r in voters] == [1, 2, 3]
    assert [(r.replica_id, r.log_end_offset) for r in observers] == [(7, 9)]
    assert voters[1].log_end_offset == -1


def test_single_voter_commits_on_flush_and_never_checks_quorum() -> None:
    """A one-voter quorum commits on its own flush and never resigns for silence."""
    progress = leader(voters=(1,), start=0, hwm=0)
    assert progress.check_quorum_deadline is None
    assert progress.update_local_end_offset(1, now_ms=1)
    assert progress.high_watermark == 1
    assert progress.voters_due_begin_quorum(0) == []


def test_check_quorum_resets_when_a_majority_fetched() -> None:
    """Check-quorum (1.5 x fetch timeout) restarts once enough voters fetched to make
    a majority with the leader."""
    progress = leader(voters=(1, 2, 3, 4, 5))
    assert progress.check_quorum_deadline == 3000
    progress.record_voter_fetch(2, now_ms=1000)
    assert progress.check_quorum_deadline == 3000
    progress.record_voter_fetch(2, now_ms=1500)
    assert progress.check_quorum_deadline == 3000
    progress.record_voter_fetch(3, now_ms=2000)
    assert progress.check_quorum_deadline == 5000
    progress.record_voter_fetch(9, now_ms=2500)
    assert progress.check_quorum_deadline == 5000


def test_begin_quorum_epoch_resent_until_acknowledged() -> None:
    """BeginQuorumEpoch is due to every voter at once, then fetch.timeout/2 after
    each send, until a fetch or a response acknowledges it."""
    progress = leader()
    assert progress.voters_due_begin_quorum(0) == [2, 3]
    progress.sent_begin_quorum(2, 0)
    assert progress.voters_due_begin_quorum(10) == [3]  # 3 could not be sent yet
    progress.sent_begin_quorum(3, 10)
    assert progress.voters_due_begin_quorum(999) == []
    assert progress.next_begin_quorum_ms(999) == 1000
    progress.record_voter_fetch(2, now_ms=500)
    assert progress.voters_due_begin_quorum(1010) == [3]
    progress.acknowledge_begin_quorum(3)
    assert progress.voters_due_begin_quorum(5000) == []
    assert progress.next_begin_quorum_ms(5000) is None


def test_successors_ordered_by_fetch_offset() -> None:
    """Resigning prefers the most caught-up voters; unknown ones go last."""
    progress = leader(voters=(1, 2, 3, 4))
    progress.update_replica(3, 7, leader_end_offset=9, now_ms=1)
    progress.update_replica(4, 9, leader_end_offset=9, now_ms=1)
    assert progress.voters_by_descending_fetch_offset() == (4, 3, 2)


def test_accumulator_lingers_then_drains() -> None:
    """Proposals get offsets at once and are appended after append.linger.ms."""
    acc = ProposalAccumulator(epoch=3, linger_ms=25, max_batch_bytes=1000)
    assert acc.add([b"a", b"b"], log_end_offset=10, now_ms=100) == 11
    assert acc.add([b"c"], log_end_offset=10, now_ms=110) == 12
    assert acc.drain(10, now_ms=124) == []
    entries = acc.drain(10, now_ms=125)
    assert [(e.offset, e.epoch, e.payload) for e in entries] == [
        (10, 3, b"a"),
        (11, 3, b"b"),
        (12, 3, b"c"),
    ]
    assert acc.drain_deadline is None


def test_accumulator_drains_early_when_full_and_rejects_huge_batches() -> None:
    """A full batch drains without lingering; one larger than the maximum is refused."""
    acc = ProposalAccumulator(epoch=1, linger_ms=25, max_batch_bytes=100)
    acc.add([b"x" * 60], log_end_offset=0, now_ms=0)
    acc.add([b"y" * 60], log_end_offset=0, now_ms=5)
    assert len(acc.drain(0, now_ms=5)) == 2
    with pytest.raises(ValueError):
        acc.add([b"z" * 200], log_end_offset=2, now_ms=6)


def test_purgatory_expiry() -> None:
    """Parked fetches come out when their wait is over, or all at once on news."""
    request = FetchRequest(
        cluster_id=None,
        replica_id=2,
        replica_epoch=-1,
        max_wait_ms=500,
        current_leader_epoch=1,
        fetch_offset=0,
        last_fetched_epoch=0,
        partition_max_bytes=100,
    )
    purgatory = FetchPurgatory()
    purgatory.park(ParkedFetch(500, 2, 7, request))
    purgatory.park(ParkedFetch(300, 3, 8, request))
    assert purgatory.next_deadline() == 300
    assert [p.correlation_id for p in purgatory.take_expired(300)] == [8]
    assert purgatory.take_expired(400) == []
    assert [p.correlation_id for p in purgatory.take_all()] == [7]
    assert purgatory.next_deadline() is None
