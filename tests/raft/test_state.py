"""The role transition table of `kraft.raft.state` and restart rules."""

from __future__ import annotations

import itertools

import pytest

from kraft.raft.state import (
    Candidate,
    ElectionState,
    Follower,
    Leader,
    Prospective,
    QuorumState,
    Resigned,
    Role,
    Unattached,
    check_transition,
)
from kraft.raft.types import IllegalTransitionError, RaftInvariantError

LOCAL = 1
OTHER = 2
VOTERS = (1, 2, 3)


def role(kind: type, epoch: int) -> Role:
    """A representative role of `kind` in `epoch` (no vote, leader OTHER where needed)."""
    if kind is Unattached:
        return Unattached(epoch)
    if kind is Prospective:
        return Prospective(epoch, None, None, 1)
    if kind is Candidate:
        return Candidate(epoch, LOCAL, 1)
    if kind is Leader:
        return Leader(epoch, LOCAL, 0)
    if kind is Follower:
        return Follower(epoch, OTHER)
    return Resigned(epoch, LOCAL)


KINDS = (Unattached, Prospective, Candidate, Leader, Follower, Resigned)

SAME, NEXT, HIGHER, SAME_OR_HIGHER = {5}, {6}, {6, 7}, {5, 6, 7}

# (from, to) -> legal epochs of `to` when `from` is in epoch 5: the table in
# the kraft.raft.state docstring, written out independently.
LEGAL = {
    (Unattached, Unattached): HIGHER,  # plus same epoch to add a vote (below)
    (Unattached, Prospective): SAME,
    (Unattached, Follower): SAME_OR_HIGHER,
    (Prospective, Unattached): SAME_OR_HIGHER,
    (Prospective, Candidate): NEXT,
    (Prospective, Follower): SAME_OR_HIGHER,
    (Candidate, Unattached): HIGHER,
    (Candidate, Prospective): SAME,
    (Candidate, Leader): SAME,
    (Candidate, Follower): SAME_OR_HIGHER,
    (Leader, Unattached): HIGHER,
    (Leader, Resigned): SAME,
    (Leader, Follower): HIGHER,
    (Follower, Unattached): HIGHER,
    (Follower, Prospective): SAME,
    (Follower, Follower): HIGHER,
    (Resigned, Unattached): HIGHER,
    (Resigned, Follower): HIGHER,
}


def fits(old: Role, new: Role) -> Role:
    """Make `new` keep what a same-epoch move must keep (vote, leader)."""
    if new.epoch != old.epoch:
        return new
    if isinstance(new, Prospective):
        return Prospective(new.epoch, old.voted_id, old.leader_id, new.retries)
    if isinstance(new, Unattached):
        return Unattached(new.epoch, old.voted_id)
    if isinstance(new, Follower):
        return Follower(new.epoch, old.leader_id or OTHER, old.voted_id)
    return new


@pytest.mark.parametrize(("old_kind", "new_kind"), list(itertools.product(KINDS, KINDS)))
@pytest.mark.parametrize("new_epoch", [4, 5, 6, 7])
def test_transition_table(old_kind: type, new_kind: type, new_epoch: int) -> None:
    """Exactly the moves in the module docstring's table are legal; all others raise."""
    old = role(old_kind, 5)
    new = fits(old, role(new_kind, new_epoch))
    legal = new_epoch in LEGAL.get((old_kind, new_kind), set())
    if legal:
        check_transition(old, new, is_voter=True)
    else:
        with pytest.raises(IllegalTransitionError):
            check_transition(old, new, is_voter=True)


def test_same_epoch_vote_can_be_added_once() -> None:
    """Unattached and Prospective may record a vote in their epoch, but never change it."""
    check_transition(Unattached(3), Unattached(3, 2), is_voter=True)
    check_transition(Prospective(3, None, None, 1), Prospective(3, 2, None, 1), is_voter=True)
    with pytest.raises(IllegalTransitionError):
        check_transition(Unattached(3, 2), Unattached(3, 3), is_voter=True)
    with pytest.raises(IllegalTransitionError):
        check_transition(Unattached(3, 2), Unattached(3, 2), is_voter=True)
    with pytest.raises(IllegalTransitionError):
        check_transition(Unattached(3, 2), Prospective(3, None, None, 1), is_voter=True)


def test_known_leader_cannot_change_within_epoch() -> None:
    """A different leader for an epoch whose leader is known is a broken invariant."""
    with pytest.raises(RaftInvariantError):
        check_transition(Prospective(3, None, 2, 1), Follower(3, 3), is_voter=True)
    with pytest.raises(IllegalTransitionError):
        check_transition(Prospective(3, None, 2, 1), Unattached(3), is_voter=True)
    check_transition(Prospective(3, None, 2, 1), Follower(3, 2), is_voter=True)


@pytest.mark.parametrize("kind", [Prospective, Candidate, Leader, Resigned])
def test_observer_only_unattached_or_follower(kind: type) -> None:
    """Observers move only between Unattached and Follower."""
    with pytest.raises(IllegalTransitionError):
        check_transition(Unattached(1), role(kind, 1 if kind is Prospective else 2), is_voter=False)
    check_transition(Unattached(1), Follower(1, OTHER), is_voter=False)
    check_transition(Follower(1, OTHER), Unattached(2), is_voter=False)
    check_transition(Follower(1, OTHER), Follower(2, 3), is_voter=False)


def test_quorum_state_refuses_following_itself() -> None:
    """Being told that we lead an epoch we do not lead raises."""
    state = QuorumState(LOCAL, VOTERS, Unattached(1))
    with pytest.raises(RaftInvariantError):
        state.transition_to(Follower(2, LOCAL))


def test_transitions_record_what_to_persist() -> None:
    """Durable changes leave an ElectionState to persist; soft states (Prospective,
    Resigned) do not."""
    state = QuorumState(LOCAL, VOTERS, Unattached(0))
    assert state.take_pending_election_state() == ElectionState(0, None, None, VOTERS)
    state.transition_to(Prospective(0, None, None, 1))
    assert state.take_pending_election_state() is None
    state.transition_to(Candidate(1, LOCAL, 1))
    assert state.take_pending_election_state() == ElectionState(1, None, LOCAL, VOTERS)
    state.transition_to(Leader(1, LOCAL, 0))
    assert state.take_pending_election_state() == ElectionState(1, LOCAL, LOCAL, VOTERS)
    state.transition_to(Resigned(1, LOCAL))
    assert state.take_pending_election_state() is None


@pytest.mark.parametrize(
    ("stored", "log_epoch", "expected"),
    [
        (None, 0, Unattached(0)),
        (None, 4, Unattached(4)),
        (ElectionState(3, None, None, VOTERS), 5, Unattached(5)),
        (ElectionState(5, LOCAL, LOCAL, VOTERS), 5, Resigned(5, LOCAL)),
        (ElectionState(5, None, LOCAL, VOTERS), 4, Candidate(5, LOCAL, 1)),
        (ElectionState(5, OTHER, OTHER, VOTERS), 5, Follower(5, OTHER, OTHER)),
        (ElectionState(5, None, OTHER, VOTERS), 2, Unattached(5, OTHER)),
        (ElectionState(5, None, None, VOTERS), 5, Unattached(5)),
    ],
)
def test_restore(stored: ElectionState | None, log_epoch: int, expected: Role) -> None:
    """Restart rules: former leader comes back Resigned, a vote is kept, a log epoch
    newer than the stored one wins."""
    state = QuorumState.restore(LOCAL, VOTERS, stored, log_epoch)
    assert state.role == expected


def test_restore_persists_only_changes() -> None:
    """Restoring exactly the stored state asks for no write; moving past it does."""
    stored = ElectionState(5, OTHER, None, VOTERS)
    assert QuorumState.restore(LOCAL, VOTERS, stored, 5).pending_election_state is None
    moved = QuorumState.restore(LOCAL, VOTERS, stored, 7)
    assert moved.pending_election_state == ElectionState(7, None, None, VOTERS)


def test_observer_restores_as_follower_or_unattached() -> None:
    """An observer never restores into a voter-only role."""
    stored = ElectionState(5, OTHER, None, VOTERS)
    assert QuorumState.restore(9, VOTERS, stored, 5).role == Follower(5, OTHER)
    assert QuorumState.restore(9, VOTERS, None, 2).role == Unattached(2)
