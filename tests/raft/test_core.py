"""Scenario tests of `RaftCore` driven by hand (see `harness.py`)."""

from __future__ import annotations

import dataclasses
import random

import pytest

from kraft.raft import (
    Candidate,
    ElectionState,
    Entry,
    Follower,
    Leader,
    MemoryLog,
    NotLeaderError,
    OffsetAndEpoch,
    Prospective,
    QuorumConfig,
    RaftCore,
    RaftInvariantError,
    Ready,
    Resigned,
    Unattached,
)
from kraft.raft.messages import (
    BeginQuorumEpochRequest,
    DescribeQuorumRequest,
    DescribeQuorumResponse,
    EndQuorumEpochRequest,
    EndQuorumEpochResponse,
    EpochEndOffset,
    ErrorCode,
    FetchRequest,
    FetchResponse,
    FetchSnapshotRequest,
    Inbound,
    LeaderIdAndEpoch,
    VoteRequest,
    VoteResponse,
)
from kraft.raft.types import UnexpectedBaseOffsetError
from tests.raft.harness import Harness, Pending


def fetch(replica: int, epoch: int, offset: int, last_epoch: int, wait: int = 0) -> FetchRequest:
    return FetchRequest(
        cluster_id=None,
        replica_id=replica,
        replica_epoch=-1,
        max_wait_ms=wait,
        current_leader_epoch=epoch,
        fetch_offset=offset,
        last_fetched_epoch=last_epoch,
        partition_max_bytes=1 << 20,
    )


def vote(candidate: int, voter: int, epoch: int, end: tuple[int, int], pre: bool) -> VoteRequest:
    return VoteRequest(
        cluster_id=None,
        voter_id=voter,
        replica_epoch=epoch,
        replica_id=candidate,
        last_offset_epoch=end[1],
        last_offset=end[0],
        pre_vote=pre,
    )


def payloads(h: Harness, node_id: int) -> list[bytes]:
    return [p for _, _, p in h.nodes[node_id].committed if p]


def commit_everywhere(h: Harness, leader: int, *data: bytes) -> int:
    offset = h[leader].propose(list(data), h.now)
    h.run_until(
        lambda: all(n.core is None or n.core.high_watermark > offset for n in h.nodes.values())
    )
    return offset


# --- single voter (dev mode) --------------------------------------------------


def test_single_voter_leads_at_once_and_commits_on_flush() -> None:
    """A one-voter quorum is leader right after start and commits after linger + flush."""
    h = Harness(voters=1)
    core = h[1]
    assert core.role == Leader(1, 1, 0)
    assert h.nodes[1].stored == ElectionState(1, 1, 1, (1,))
    offset = core.propose([b"a", b"b"], h.now)
    assert offset == 2
    assert payloads(h, 1) == []
    h.tick(25)
    assert payloads(h, 1) == [b"a", b"b"]
    assert core.high_watermark == 3


def test_single_voter_restart_leads_again_in_a_new_epoch() -> None:
    """A restarted single voter comes back Resigned and takes a new epoch at once,
    replaying its snapshot-less log to the listener."""
    h = Harness(voters=1)
    h[1].propose([b"a"], h.now)
    h.tick(25)
    h.crash(1)
    h.start(1)
    assert h[1].role == Leader(3, 1, 2)  # Resigned(1) -> Unattached(2) -> Candidate(3)
    assert payloads(h, 1) == [b"a", b"a"]  # listener state is rebuilt by replay


def test_single_voter_flush_is_required() -> None:
    """Without a flush acknowledgement the single voter commits nothing."""
    h = Harness(voters=1)
    h.nodes[1].auto_flush = False
    h[1].propose([b"a"], h.now)
    h.tick(25)
    assert h[1].high_watermark == 1  # the LeaderChange record, flushed at start
    h.flush(1)
    assert h[1].high_watermark == 2


# --- proposals ------------------------------------------------------------------


def test_propose_outside_leadership_raises() -> None:
    """Followers and stale callers get NotLeaderError with the leader they know."""
    h = Harness()
    leader = h.elect()
    follower = next(i for i in (1, 2, 3) if i != leader)
    h.run_until(lambda: h[follower].leader_and_epoch.leader_id == leader)
    with pytest.raises(NotLeaderError) as raised:
        h[follower].propose([b"x"], h.now)
    assert raised.value.leader_id == leader
    with pytest.raises(NotLeaderError):
        h[leader].propose([b"x"], h.now, epoch=h[leader].epoch - 1)
    with pytest.raises(ValueError):
        h[leader].propose([], h.now)


def test_next_write_offset_predicts_proposal_offsets() -> None:
    """next_write_offset is the offset the next proposal's first payload gets,
    before and after lingering proposals are appended; only the leader of the
    epoch can ask."""
    h = Harness(voters=1)
    core = h[1]
    epoch = core.epoch
    first = core.next_write_offset(epoch)
    assert core.propose([b"a", b"b"], h.now, epoch=epoch) == first + 1
    assert core.next_write_offset(epoch) == first + 2
    h.tick(25)
    assert core.next_write_offset(epoch) == first + 2
    assert core.propose([b"c"], h.now, epoch=epoch) == first + 2
    with pytest.raises(NotLeaderError):
        core.next_write_offset(epoch + 1)


def test_a_proposal_at_an_unexpected_base_offset_is_refused() -> None:
    """propose(base_offset=N) appends only if the first payload gets offset N
    (Kafka's requiredBaseOffset); otherwise nothing is appended."""
    h = Harness(voters=1)
    core = h[1]
    epoch = core.epoch
    first = core.next_write_offset(epoch)
    with pytest.raises(UnexpectedBaseOffsetError):
        core.propose([b"a"], h.now, epoch=epoch, base_offset=first + 1)
    assert core.next_write_offset(epoch) == first
    assert core.propose([b"a"], h.now, epoch=epoch, base_offset=first) == first


# --- elections ------------------------------------------------------------------


def test_three_voters_elect_replicate_and_commit() -> None:
    """An election, then the LeaderChange record and proposals commit on every node."""
    h = Harness()
    leader = h.elect()
    commit_everywhere(h, leader, b"a", b"b")
    for node_id in (1, 2, 3):
        committed = h.nodes[node_id].committed
        assert committed[0][1] == h[leader].epoch and committed[0][2] == b""
        assert payloads(h, node_id) == [b"a", b"b"]
    first = h.nodes[leader].log.read(0, 100)[0]
    assert first.control is not None and first.control.leader_id == leader


def test_vote_is_persisted_in_the_same_ready_as_the_grant() -> None:
    """The quorum-state write with the vote precedes (is in the Ready of) the grant."""
    h = Harness()
    h.ask(2, 1, vote(1, 2, 0, (0, 0), pre=True))
    response = h.ask(2, 1, vote(1, 2, 1, (0, 0), pre=False))
    assert isinstance(response, VoteResponse) and response.vote_granted
    ready = next(r for r in reversed(h.nodes[2].readies) if r.quorum_state is not None)
    assert ready.quorum_state == ElectionState(1, None, 1, (1, 2, 3))


def test_pre_vote_changes_nothing() -> None:
    """A pre-vote grant neither bumps the epoch nor records a vote."""
    h = Harness()
    response = h.ask(2, 1, vote(1, 2, 0, (0, 0), pre=True))
    assert isinstance(response, VoteResponse) and response.vote_granted
    assert h[2].role == Unattached(0)
    assert h.nodes[2].readies[-1].quorum_state is None


def test_vote_survives_restart() -> None:
    """A voter that voted and restarted refuses a second candidate in that epoch."""
    h = Harness()
    assert h.ask(3, 1, vote(1, 3, 1, (0, 0), pre=False)).vote_granted  # type: ignore[union-attr]
    h.crash(3)
    h.start(3)
    assert h[3].role == Unattached(1, 1)
    again = h.ask(3, 2, vote(2, 3, 1, (0, 0), pre=False))
    assert isinstance(again, VoteResponse) and not again.vote_granted
    assert h.ask(3, 1, vote(1, 3, 1, (0, 0), pre=False)).vote_granted  # type: ignore[union-attr]


def test_out_of_date_candidate_is_refused() -> None:
    """A candidate whose log is behind ours gets no vote (but its epoch is taken)."""
    h = Harness()
    leader = h.elect()
    commit_everywhere(h, leader, b"a")
    other = next(i for i in (1, 2, 3) if i != leader)
    response = h.ask(other, 9, vote(9, other, 5, (0, 0), pre=False))
    assert isinstance(response, VoteResponse) and response.error_code == ErrorCode.none
    assert not response.vote_granted
    response = h.ask(leader, 1, vote(1, leader, 7, (0, 0), pre=False))
    assert not response.vote_granted  # type: ignore[union-attr]
    assert h[leader].role == Unattached(7)


def test_fenced_requests_carry_the_current_leader() -> None:
    """Requests with a stale epoch are refused with FENCED_LEADER_EPOCH and our
    leader and epoch, so the sender can catch up."""
    h = Harness()
    leader = h.elect()
    epoch = h[leader].epoch
    response = h.ask(leader, 2, vote(2, leader, epoch - 1, (0, 0), pre=True))
    assert isinstance(response, VoteResponse)
    assert response.error_code == ErrorCode.fenced_leader_epoch
    assert (response.leader_id, response.leader_epoch) == (leader, epoch)
    begin = BeginQuorumEpochRequest(cluster_id=None, voter_id=leader, leader_id=2, leader_epoch=0)
    assert h.ask(leader, 2, begin).error_code == ErrorCode.fenced_leader_epoch  # type: ignore[union-attr]


def test_leader_fetch_validation_errors() -> None:
    """Fetch errors: stale epoch fenced, future epoch unknown, non-leader refuses,
    malformed positions are invalid; each names the current leader."""
    h = Harness()
    leader = h.elect()
    follower = next(i for i in (1, 2, 3) if i != leader)
    h.run_until(lambda: h[follower].leader_and_epoch.leader_id == leader)
    epoch = h[leader].epoch
    cases = [
        (leader, fetch(9, epoch - 1, 0, 0), ErrorCode.fenced_leader_epoch),
        (leader, fetch(9, epoch + 1, 0, 0), ErrorCode.unknown_leader_epoch),
        (follower, fetch(9, epoch, 0, 0), ErrorCode.not_leader_or_follower),
        (leader, fetch(9, epoch, -1, 0), ErrorCode.invalid_request),
        (leader, fetch(9, epoch, 3, epoch + 1), ErrorCode.invalid_request),
    ]
    for dst, request, error in cases:
        response = h.ask(dst, 9, request)
        assert isinstance(response, FetchResponse)
        assert response.error_code == error
        assert response.current_leader == LeaderIdAndEpoch(leader_id=leader, leader_epoch=epoch)


def test_cluster_id_mismatch_is_refused() -> None:
    """A request for another cluster gets INCONSISTENT_CLUSTER_ID."""
    h = Harness(voters=1)
    h.nodes[1].config = QuorumConfig(node_id=1, voters=(1,), cluster_id="abc")
    h.crash(1)
    h.start(1)
    request = VoteRequest(
        cluster_id="xyz",
        voter_id=1,
        replica_epoch=5,
        replica_id=2,
        last_offset_epoch=0,
        last_offset=0,
        pre_vote=True,
    )
    response = h.ask(1, 2, request)
    assert response.error_code == ErrorCode.inconsistent_cluster_id  # type: ignore[union-attr]


def test_restarted_leader_comes_back_resigned() -> None:
    """A leader restarts Resigned in its epoch: it grants no binding vote there and
    serves no fetches, then moves on to the next epoch."""
    h = Harness()
    leader = h.elect()
    epoch = h[leader].epoch
    h.crash(leader)
    h.start(leader)
    assert h[leader].role == Resigned(epoch, leader)
    other = next(i for i in (1, 2, 3) if i != leader)
    refused = h.ask(leader, other, vote(other, leader, epoch, (99, epoch), pre=False))
    assert not refused.vote_granted  # type: ignore[union-attr]
    served = h.ask(leader, other, fetch(other, epoch, 0, 0))
    assert served.error_code == ErrorCode.not_leader_or_follower  # type: ignore[union-attr]


def test_log_epoch_newer_than_stored_state_wins() -> None:
    """If the log's tail outlived the quorum-state write, start Unattached at its epoch."""
    log = MemoryLog()
    log.append([Entry(0, 5, b"x")])
    config = QuorumConfig(node_id=1, voters=(1, 2, 3))
    core = RaftCore(config, log, ElectionState(3, None, None, (1, 2, 3)), random.Random(0), 0)
    assert core.role == Unattached(5)
    assert core.take_ready().quorum_state == ElectionState(5, None, None, (1, 2, 3))


def answer_all(core: RaftCore, ready: Ready, granted: bool, now: int) -> list[VoteRequest]:
    """Answer every Vote request in `ready` with (granted) at the request's epoch."""
    requests = [o for o in ready.messages if isinstance(o.message, VoteRequest)]
    for out in requests:
        assert isinstance(out.message, VoteRequest)
        response = VoteResponse(
            error_code=ErrorCode.none,
            leader_id=-1,
            leader_epoch=out.message.replica_epoch,
            vote_granted=granted,
        )
        core.handle(Inbound(out.destination, out.correlation_id, response), now)
    return [o.message for o in requests]  # type: ignore[misc]


def test_rejected_candidate_backs_off_then_retries_with_pre_vote() -> None:
    """Pre-vote majority -> Candidate (epoch + 1, persisted self-vote); a rejected
    Candidate backs off 100 ms x [0, 2^retries) and starts over as Prospective."""
    config = QuorumConfig(node_id=1, voters=(1, 2, 3))
    core = RaftCore(config, MemoryLog(), None, random.Random(7), 0)
    core.take_ready()
    core.poll(2000)
    assert core.role == Prospective(0, None, None, 1)
    ready = core.take_ready()
    assert ready.quorum_state is None  # pre-voting persists nothing
    sent = answer_all(core, ready, granted=True, now=2000)
    assert [(r.pre_vote, r.replica_epoch) for r in sent] == [(True, 0), (True, 0)]
    assert core.role == Candidate(1, 1, 1)
    ready = core.take_ready()
    assert ready.quorum_state == ElectionState(1, None, 1, (1, 2, 3))
    sent = answer_all(core, ready, granted=False, now=2001)
    assert [(r.pre_vote, r.replica_epoch) for r in sent] == [(False, 1), (False, 1)]
    assert core.role == Candidate(1, 1, 1)  # backing off
    core.poll(2001 + 100)
    assert core.role == Prospective(1, 1, None, 2)


def test_candidate_times_out_into_backoff() -> None:
    """A Candidate that hears nothing within its election timeout backs off, then
    retries from Prospective (so it cannot bump the epoch of a healthy quorum)."""
    config = QuorumConfig(node_id=1, voters=(1, 2, 3))
    core = RaftCore(config, MemoryLog(), ElectionState(4, None, 1, (1, 2, 3)), random.Random(3), 0)
    assert core.role == Candidate(4, 1, 1)
    core.poll(2000 + 100)
    assert core.role == Prospective(4, 1, None, 2)


# --- replication ----------------------------------------------------------------


def _written_not_flushed(every_follower: bool) -> tuple[Harness, int, list[int]]:
    """A cluster whose leader wrote a record at offset 1 that one follower (or
    each) holds but has not flushed: (harness, leader, those followers)."""
    h = Harness()
    leader = h.elect()
    followers = [i for i in (1, 2, 3) if i != leader][: 2 if every_follower else 1]
    h.run_until(lambda: all(h[i].high_watermark >= 1 for i in followers))
    for f in followers:
        h.nodes[f].auto_flush = False
    h[leader].propose([b"a"], h.now)
    h.run_until(lambda: all(h.nodes[f].log.end_offset == 2 for f in followers))
    return h, leader, followers


def test_follower_flushes_before_its_next_fetch() -> None:
    """A voter reports (fetches at) only offsets it has flushed."""
    h, _, (follower,) = _written_not_flushed(every_follower=False)
    h.deliver()
    assert not [p for p in h.pending if p.source == follower]
    h.flush(follower)
    sent = [p.out.message for p in h.pending if p.source == follower]
    assert isinstance(sent[0], FetchRequest) and sent[0].fetch_offset == 2


def test_slow_flushes_on_every_follower_keep_the_leader() -> None:
    """Followers whose fsyncs take far longer than the fetch timeout neither
    start an election nor let the leader resign by check-quorum: while their
    own flush holds the next fetch back they repeat the last one, at an
    offset that was durable, and the leader's answers show it alive."""
    h, leader, followers = _written_not_flushed(every_follower=True)
    epoch = h[leader].epoch
    reported: list[int] = []
    for _ in range(100):  # 10 s of stalled fsyncs: 5 fetch timeouts
        reported += [p.out.message.fetch_offset for p in h.pending
                     if p.source in followers and isinstance(p.out.message, FetchRequest)]
        h.deliver()
        h.tick(100)
    assert h.leader() == leader and all(h[i].epoch == epoch for i in (1, 2, 3))
    assert all(isinstance(h[f].role, Follower) for f in followers)
    assert reported and max(reported) == 1  # never more than was durable
    assert h[leader].high_watermark == 1  # nothing counted that is not flushed
    for f in followers:
        h.flush(f)
    h.run_until(lambda: h[leader].high_watermark == 2)


def test_slow_flush_still_detects_a_dead_leader() -> None:
    """The keepalive of a follower waiting for its own flush resets its fetch
    timeout only when the leader answers: a leader that went silent is still
    detected within the fetch timeout."""
    h, leader, (follower,) = _written_not_flushed(every_follower=False)
    silent_since = h.now
    while isinstance(h[follower].role, Follower):
        h.deliver(lambda p: leader in (p.source, p.out.destination), drop=True)
        h.deliver()
        h.tick(100)
    assert isinstance(h[follower].role, Prospective)
    assert h.now - silent_since <= 2000 + 100


def test_leader_waits_for_its_own_flush_when_it_is_needed_for_a_majority() -> None:
    """With one follower down, the leader's own flush is part of the majority."""
    h = Harness()
    leader = h.elect()
    down, up = (i for i in (1, 2, 3) if i != leader)
    h.run_until(lambda: h[up].high_watermark >= 1)
    h.crash(down)
    h.nodes[leader].auto_flush = False
    offset = h[leader].propose([b"a"], h.now)
    h.tick(25)
    for _ in range(5):
        h.deliver()
    assert h.nodes[up].log.end_offset > offset
    assert h[leader].high_watermark <= offset
    h.flush(leader)
    assert h[leader].high_watermark == offset + 1


def test_parked_fetch_answered_by_new_records_or_at_max_wait() -> None:
    """A fetch with nothing to read waits; new records (or max wait) answer it."""
    h = Harness()
    leader = h.elect()
    epoch = h[leader].epoch
    h.run_until(lambda: h[leader].high_watermark >= 1)
    end = h.nodes[leader].log.end_offset
    assert h.ask(leader, 101, fetch(101, epoch, end, epoch, wait=500)) is None
    h.tick(499)
    assert not [p for p in h.pending if p.out.destination == 101]
    h.tick(1)
    answered = [p.out.message for p in h.pending if p.out.destination == 101]
    assert isinstance(answered[0], FetchResponse) and answered[0].records == ()
    assert h.ask(leader, 101, fetch(101, epoch, end, epoch, wait=500)) is None
    h[leader].propose([b"new"], h.now)
    h.tick(25)
    answered = [p.out.message for p in h.pending if p.out.destination == 101]
    assert answered[-1].records[0].payload == b"new"  # type: ignore[union-attr]


def test_duplicate_and_stale_responses_are_ignored() -> None:
    """A response delivered twice, or answering nothing in flight, changes nothing."""
    h = Harness()
    leader = h.elect()
    follower = next(i for i in (1, 2, 3) if i != leader)
    h.run_until(lambda: h[follower].high_watermark >= 1)
    h[leader].propose([b"a"], h.now)
    h.tick(25)

    def records_for_follower() -> list[Pending]:
        return [
            p
            for p in h.pending
            if p.out.destination == follower
            and isinstance(p.out.message, FetchResponse)
            and p.out.message.records
        ]

    while not records_for_follower():
        h.deliver()
    response = records_for_follower()[0]
    h.pending.append(Pending(response.source, response.out))
    h.run_until(lambda: not h.pending, max_ms=0)
    assert [e.payload for e in h.nodes[follower].log.read(0, 1000)] == [b"", b"a"]
    stray = FetchResponse(
        error_code=ErrorCode.none,
        high_watermark=0,
        log_start_offset=0,
        current_leader=LeaderIdAndEpoch(leader_id=leader, leader_epoch=h[leader].epoch),
        records=(Entry(7, 1, b"bogus"),),
    )
    h[follower].handle(Inbound(leader, 12345, stray), h.now)
    assert h.nodes[follower].log.end_offset == 2


def test_divergent_tail_is_truncated_but_committed_data_kept() -> None:
    """An old leader's uncommitted tail is replaced by the new leader's log."""
    h = Harness()
    old = h.elect()
    commit_everywhere(h, old, b"committed")
    others = [i for i in (1, 2, 3) if i != old]
    h[old].propose([b"lost-1", b"lost-2"], h.now)
    h.tick(25)
    h.deliver(lambda p: p.source == old or p.out.destination == old, drop=True)
    # The old leader is cut off; the others elect a new leader and move on.
    isolated = {old}

    def cut(p: Pending) -> bool:
        return (p.source in isolated) != (p.out.destination in isolated)

    def run(ms: int) -> None:
        for _ in range(ms // 50):
            h.deliver(cut, drop=True)
            h.deliver()
            h.tick(50)

    run(6000)
    new = h.leader()
    assert new in others
    commit_everywhere_except = h[new].propose([b"new"], h.now)
    run(500)
    assert h[new].high_watermark > commit_everywhere_except
    isolated.clear()
    h.run_until(lambda: payloads(h, old)[-1:] == [b"new"])
    assert payloads(h, old) == [b"committed", b"new"]
    assert b"lost-1" not in [e.payload for e in h.nodes[old].log.read(0, 10**6)]


def test_truncation_below_high_watermark_is_refused() -> None:
    """A DivergingEpoch below our high watermark is a broken invariant, not obeyed."""
    h = Harness()
    leader = h.elect()
    follower = next(i for i in (1, 2, 3) if i != leader)
    commit_everywhere(h, leader, b"a", b"b")
    h.run_until(
        lambda: any(
            p.source == follower and isinstance(p.out.message, FetchRequest) for p in h.pending
        )
    )
    request = next(
        p for p in h.pending if p.source == follower and isinstance(p.out.message, FetchRequest)
    )
    h.pending.remove(request)
    diverging = FetchResponse(
        error_code=ErrorCode.none,
        high_watermark=3,
        log_start_offset=0,
        current_leader=LeaderIdAndEpoch(leader_id=leader, leader_epoch=h[leader].epoch),
        diverging_epoch=EpochEndOffset(epoch=h[leader].epoch, end_offset=1),
    )
    with pytest.raises(RaftInvariantError):
        h[follower].handle(Inbound(leader, request.out.correlation_id, diverging), h.now)


def test_flush_acknowledgement_is_capped_by_a_later_truncation() -> None:
    """A flush requested before a truncation proves only the prefix that survived it
    (observers fetch again without waiting for their flush)."""
    config = QuorumConfig(node_id=101, voters=(1, 2, 3))
    core = RaftCore(config, MemoryLog(), ElectionState(1, 1, None, (1, 2, 3)), random.Random(0), 0)
    leader = LeaderIdAndEpoch(leader_id=1, leader_epoch=1)

    def answer(response: FetchResponse) -> FetchRequest:
        (request,) = [m for m in core.take_ready().messages if isinstance(m.message, FetchRequest)]
        core.handle(Inbound(1, request.correlation_id, response), 0)
        return request.message  # type: ignore[return-value]

    records = tuple(Entry(i, 1, b"x") for i in range(3))
    ok = FetchResponse(
        error_code=ErrorCode.none,
        high_watermark=0,
        log_start_offset=0,
        current_leader=leader,
        records=records,
    )
    answer(ok)
    ready = core.take_ready()
    assert ready.flush_to == 3
    (next_fetch,) = ready.messages
    diverging = FetchResponse(
        error_code=ErrorCode.none,
        high_watermark=0,
        log_start_offset=0,
        current_leader=leader,
        diverging_epoch=EpochEndOffset(epoch=1, end_offset=1),
    )
    core.handle(Inbound(1, next_fetch.correlation_id, diverging), 0)
    rewritten = tuple(Entry(i, 1, b"y") for i in range(1, 3))
    answer(dataclasses.replace(ok, records=rewritten))
    assert core.log.end_offset == 3
    core.flushed(3, 0)  # answers the request made before the truncation
    assert core.durable_end_offset == 1
    assert core.take_ready().flush_to == 3
    core.flushed(3, 0)
    assert core.durable_end_offset == 3


# --- snapshots ------------------------------------------------------------------


def test_snapshot_request_after_enough_committed_bytes() -> None:
    """The listener is asked for a snapshot once the committed bytes cross the limit."""
    h = Harness(voters=1, log_max_record_bytes_between_snapshots=100)
    for _ in range(6):
        h[1].propose([b"x" * 20], h.now)
        h.tick(25)
    requests = h.nodes[1].snapshot_requests
    assert len(requests) == 1
    assert requests[0].offset <= h[1].high_watermark


def test_snapshot_created_is_validated() -> None:
    """Snapshots must cover delivered entries only and carry the right epoch."""
    h = Harness(voters=1)
    h[1].propose([b"a", b"b"], h.now)
    h.tick(25)
    log = h.nodes[1].log
    log.create_snapshot(OffsetAndEpoch(2, 1), b"s")
    with pytest.raises(ValueError):
        h[1].snapshot_created(2, 7, h.now)
    with pytest.raises(ValueError):
        h[1].snapshot_created(3, 1, h.now)
    with pytest.raises(ValueError):
        h[1].snapshot_created(1, 1, h.now)
    h[1].snapshot_created(2, 1, h.now)
    assert log.log_start_offset == 2


def test_lagging_follower_installs_snapshot_in_chunks() -> None:
    """A follower behind the log start downloads the snapshot chunk by chunk,
    installs it, reports it loaded, then fetches records after it."""
    h = Harness(fetch_snapshot_max_bytes=4)
    leader = h.elect()
    lagging = next(i for i in (1, 2, 3) if i != leader)
    h.crash(lagging)
    commit_everywhere(h, leader, b"a", b"b", b"c")
    end = h[leader].high_watermark
    last = h.nodes[leader].log.read(end - 1, 0)[0]
    h.nodes[leader].log.create_snapshot(OffsetAndEpoch(end, last.epoch), b"0123456789")
    h[leader].snapshot_created(end, last.epoch, h.now)
    h.start(lagging)
    h.run_until(lambda: any(isinstance(m, FetchSnapshotRequest) for m in h.messages()))
    chunks = 0
    while h.nodes[lagging].log.log_start_offset != end:
        chunks += sum(isinstance(m, FetchSnapshotRequest) for m in h.messages())
        h.deliver()
        h.tick(1)
    stored = h.nodes[leader].log.snapshot_size(OffsetAndEpoch(end, last.epoch))
    assert stored is not None and chunks == -(-stored // 4)  # 4-byte chunks of what is stored
    assert h.nodes[lagging].log.snapshot_data(OffsetAndEpoch(end, last.epoch)) == b"0123456789"
    assert any(
        r.snapshot_loaded == OffsetAndEpoch(end, last.epoch) for r in h.nodes[lagging].readies
    )
    commit_everywhere(h, leader, b"d")
    assert payloads(h, lagging)[-1:] == [b"d"]


# --- resignation, check-quorum, observers ----------------------------------------------


def test_resign_asks_the_best_voters_first() -> None:
    """resign() sends EndQuorumEpoch listing voters by descending fetch offset; the
    first of them starts an election at once."""
    h = Harness()
    leader = h.elect()
    commit_everywhere(h, leader, b"a")
    ahead, behind = (i for i in (1, 2, 3) if i != leader)
    h.crash(behind)
    h[leader].propose([b"b"], h.now)
    h.tick(25)
    h.run_until(lambda: h[ahead].high_watermark == h[leader].high_watermark == 3)
    h.start(behind)
    h[leader].resign(h.now)
    h.pump(leader)
    assert isinstance(h[leader].role, Resigned)
    ends = [m for m in h.messages() if isinstance(m, EndQuorumEpochRequest)]
    assert ends and all(m.preferred_candidates == (ahead, behind) for m in ends)
    h.deliver(lambda p: isinstance(p.out.message, EndQuorumEpochRequest))
    assert isinstance(h[ahead].role, Prospective)
    assert not h[leader].resignation_acknowledged
    h.deliver(lambda p: isinstance(p.out.message, EndQuorumEpochResponse))
    assert h[leader].resignation_acknowledged
    h.run_until(lambda: h.leader() is not None)
    assert h.leader() == ahead
    h.run_until(lambda: h[leader].role == Follower(h[ahead].epoch, ahead, ahead))


def test_check_quorum_resigns_an_isolated_leader() -> None:
    """A leader that hears no fetch from a majority for 1.5 x fetch timeout resigns."""
    h = Harness()
    leader = h.elect()
    h.run_until(lambda: all(h[i].leader_and_epoch.leader_id == leader for i in (1, 2, 3)))
    silent_since = h.now
    while isinstance(h[leader].role, Leader):
        h.deliver(lambda p: True, drop=True)
        h.tick(100)
    assert 3000 <= h.now - silent_since <= 3000 + 1000
    assert isinstance(h[leader].role, Resigned)


def test_pre_vote_keeps_a_rejoining_voter_from_disrupting() -> None:
    """A voter cut off long enough to time out cannot bump the epoch of a healthy quorum."""
    h = Harness()
    leader = h.elect()
    epoch = h[leader].epoch
    loner = next(i for i in (1, 2, 3) if i != leader)

    def cut(p: Pending) -> bool:
        return loner in (p.source, p.out.destination)

    for _ in range(60):
        h.deliver(cut, drop=True)
        h.deliver()
        h.tick(100)
    assert isinstance(h[loner].role, Prospective | Follower)
    h.run_until(lambda: h[loner].high_watermark == h[leader].high_watermark, max_ms=5000)
    assert h.leader() == leader and h[leader].epoch == epoch
    assert h[loner].epoch == epoch


def test_pre_vote_from_a_higher_epoch_moves_the_receiver_up() -> None:
    """A pre-vote carries its sender's real epoch (pre-vote never bumps it), so one
    from a higher epoch moves even a leader to that epoch. Else a voter stranded
    in a higher epoch by a lost candidacy could never rejoin (found by the
    simulation: seed 176604, 10% drops, leader at epoch 1, voter at epoch 2)."""
    h = Harness()
    leader = h.elect()
    epoch = h[leader].epoch
    other = next(i for i in (1, 2, 3) if i != leader)
    end = h[leader].log.end_offset
    h.ask(leader, other, vote(other, leader, epoch + 1, (end, epoch), pre=True))
    assert h[leader].epoch == epoch + 1
    assert not isinstance(h[leader].role, Leader)


def test_observer_discovers_the_leader_and_follows() -> None:
    """An observer asks random voters until one names the leader, then replicates."""
    h = Harness(observers=1)
    leader = h.elect()
    commit_everywhere(h, leader, b"a")
    assert h[101].leader_and_epoch.leader_id == leader
    assert isinstance(h[101].role, Follower)
    assert payloads(h, 101) == [b"a"]


def test_describe_quorum() -> None:
    """The leader describes voters and observers; others say NOT_LEADER_OR_FOLLOWER."""
    h = Harness(observers=1)
    leader = h.elect()
    commit_everywhere(h, leader, b"a")
    response = h.ask(leader, -1, DescribeQuorumRequest())
    assert isinstance(response, DescribeQuorumResponse)
    assert response.leader_id == leader and response.high_watermark == 2
    assert [r.replica_id for r in response.current_voters] == [1, 2, 3]
    assert [r.replica_id for r in response.observers] == [101]
    other = next(i for i in (1, 2, 3) if i != leader)
    refused = h.ask(other, -1, DescribeQuorumRequest())
    assert refused.error_code == ErrorCode.not_leader_or_follower  # type: ignore[union-attr]


def test_failed_request_backs_off_before_retrying() -> None:
    """A request the driver could not deliver is retried after retry.backoff.ms."""
    h = Harness()
    leader = h.elect()
    follower = next(i for i in (1, 2, 3) if i != leader)

    def fetches() -> list[Pending]:
        return [
            p for p in h.pending if p.source == follower and isinstance(p.out.message, FetchRequest)
        ]

    h.run_until(lambda: bool(fetches()))
    request = fetches()[0]
    h.pending.remove(request)
    h[follower].request_failed(leader, request.out.correlation_id, h.now)
    h.pump(follower)
    assert not fetches()
    h.tick(19)
    assert not fetches()
    h.tick(1)
    assert fetches()


def test_end_quorum_epoch_rank_sets_the_election_delay() -> None:
    """A follower ranked p of n by EndQuorumEpoch starts its election after
    (max >> (n-1)) << (p-1) ms."""
    h = Harness(voters=4)
    leader = h.elect()
    h.run_until(lambda: all(h[i].leader_and_epoch.leader_id == leader for i in (1, 2, 3, 4)))
    others = [i for i in (1, 2, 3, 4) if i != leader]
    request = EndQuorumEpochRequest(
        cluster_id=None,
        leader_id=leader,
        leader_epoch=h[leader].epoch,
        preferred_candidates=tuple(others),
    )
    h.ask(others[2], leader, request)
    assert isinstance(h[others[2]].role, Follower)
    h.tick(499)
    assert isinstance(h[others[2]].role, Follower)
    h.tick(1)
    assert isinstance(h[others[2]].role, Prospective)


# --- election on a lost connection to the leader (kraft.quorum.election.on.leader.connection.loss)


def _steady(h: Harness) -> tuple[int, list[int]]:
    """Elect a leader and run until both followers have fetched from it and have
    a fetch in flight to it; returns (leader, followers)."""
    leader = h.elect()
    followers = [i for i in (1, 2, 3) if i != leader]
    h.run_until(lambda: all(h[f].leader_and_epoch.leader_id == leader for f in followers))
    h.tick(1)
    h.run_until(lambda: all(_fetch_to(h, f, leader) for f in followers))
    return leader, followers


def _fetch_to(h: Harness, source: int, destination: int) -> Pending | None:
    return next((p for p in h.pending if p.source == source and p.out.destination == destination
                 and isinstance(p.out.message, FetchRequest)), None)


def _take_fetches(h: Harness, leader: int, followers: list[int]) -> list[Pending]:
    """Take each follower's in-flight fetch to `leader` off the network."""
    taken = []
    for f in followers:
        pending = _fetch_to(h, f, leader)
        assert pending is not None
        h.pending.remove(pending)
        taken.append(pending)
    return taken


def _fail(h: Harness, taken: list[Pending], *, lost: bool) -> None:
    """Fail the taken fetches as the driver reports a closed connection (`lost`)
    or a timeout."""
    for p in taken:
        h[p.source].request_failed(p.out.destination, p.out.correlation_id, h.now,
                                   connection_lost=lost)
        h.pump(p.source)


def test_leader_crash_seen_as_connection_loss_elects_before_the_fetch_timeout() -> None:
    """Followers whose fetch connections the dead leader's kernel closed elect a new
    leader, which commits in its epoch, long before controller.quorum.fetch.timeout.ms."""
    h = Harness()
    leader, followers = _steady(h)
    epoch = h[followers[0]].epoch
    crashed_at = h.now
    taken = _take_fetches(h, leader, followers)
    h.crash(leader)
    _fail(h, taken, lost=True)
    h.run_until(lambda: h.leader() in followers and h[h.leader()].high_watermark > 0
                and h[h.leader()].epoch > epoch, max_ms=2000)
    assert h.now - crashed_at < h[followers[0]].config.fetch_timeout_ms
    new = h.leader()
    assert h[new].epoch == epoch + 1  # one election, no split vote
    # The new leader saw the old one's process die (its controller fences that broker).
    assert h[new].lost_leader == (leader, epoch)


def test_connection_loss_to_a_live_leader_does_not_disturb_it() -> None:
    """A follower whose connection to a live leader was reset runs a pre-vote that the
    leader and the other follower refuse; it follows the same leader in the same epoch."""
    h = Harness()
    leader, followers = _steady(h)
    epoch = h[leader].epoch
    _fail(h, _take_fetches(h, leader, followers[:1]), lost=True)
    h.run_until(lambda: isinstance(h[followers[0]].role, Prospective), max_ms=1000)
    h.run_until(lambda: isinstance(h[followers[0]].role, Follower), max_ms=1000)
    until = h.now + 5000
    h.run_until(lambda: h.now >= until)
    assert h.leader() == leader
    assert all(h[i].epoch == epoch for i in (1, 2, 3))
    assert h[followers[0]].leader_and_epoch.leader_id == leader
    assert h[followers[0]].lost_leader is None  # it fetched from the live leader again


@pytest.mark.parametrize("lost, enabled", [(False, True), (True, False)])
def test_timeouts_and_the_disabled_key_wait_for_the_fetch_timeout(lost: bool,
                                                                  enabled: bool) -> None:
    """A fetch that timed out (not a closed connection), or any failure with the key
    off, leaves the follower following until controller.quorum.fetch.timeout.ms."""
    h = Harness(election_on_leader_connection_loss=enabled)
    leader, followers = _steady(h)
    last_fetch = h.now
    taken = _take_fetches(h, leader, followers)
    h.crash(leader)
    _fail(h, taken, lost=lost)
    timeout = h[followers[0]].config.fetch_timeout_ms
    # Retried fetches fail the same way until the fetch timeout.
    while h.now < last_fetch + timeout - 50:
        for f in followers:
            pending = _fetch_to(h, f, leader)
            if pending is not None:
                h.pending.remove(pending)
                _fail(h, [pending], lost=lost)
        h.tick(10)
        assert all(isinstance(h[f].role, Follower) for f in followers)
