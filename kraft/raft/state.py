"""Roles of a quorum member and the one place that changes them.

Each role is a small frozen value holding what identifies it (epoch, leader,
vote); timers, vote tallies and replication progress live with the core, not
in the role. `QuorumState.transition_to` is the only way to change role and it
refuses any move the table below does not allow (KIP-595 + KIP-996, as in
Kafka's `QuorumState`):

    from \\ to   Unattached  Prospective  Candidate  Leader  Follower  Resigned
    Unattached   >e, =e+vote  =e           -          -       >=e       -
    Prospective  >=e          =e+vote      e+1        -       >=e       -
    Candidate    >e           =e           -          =e      >=e       -
    Leader       >e           -            -          -       >e        =e
    Follower     >e           =e           -          -       >e        -
    Resigned     >e           -            -          -       >e        -

`>e` means a higher epoch, `=e` the same epoch, `e+1` exactly the next epoch,
`+vote` that the only change is recording a vote. Why each move happens:

- any -> Unattached(>e): learned of a higher epoch without a known leader;
  Resigned also moves to Unattached(e+1) when its election timeout expires.
- Unattached -> Unattached(=e, vote): granted a (binding) vote.
- Unattached/Follower/Candidate -> Prospective: election or fetch timeout, or
  a lost/timed-out election (a Candidate after its backoff). Pre-vote: the
  epoch is not bumped.
- Prospective -> Candidate(e+1): a majority granted the pre-vote.
- Prospective -> Unattached(=e) / Follower(=e): pre-vote lost or timed out;
  Follower if the leader of the epoch is known.
- Candidate -> Leader: a majority granted the vote.
- Unattached/Prospective/Candidate -> Follower(>=e): learned the epoch's leader.
- Leader -> Resigned: `resign()` or check-quorum failure.
- Leader/Follower/Resigned -> Follower(>e): learned a newer leader.

Within one epoch a node never changes its vote nor its leader (that would
allow two leaders per epoch); `transition_to` checks both. Observers
(non-voters) only ever hold Unattached or Follower.

Persistence: `ElectionState` (epoch, leader, vote, voters) is what Kafka's
`quorum-state` file holds. A transition that changes it leaves the new value
in `pending_election_state`; it must be durable before any message decided
in the new role is sent. Prospective and Resigned are soft states: they
change nothing that is persisted. `QuorumState.restore` rebuilds the role at
startup from the stored value and the log (Kafka's `QuorumState.initialize`).
"""

from __future__ import annotations

from dataclasses import dataclass

from kraft.raft.types import IllegalTransitionError, LeaderAndEpoch, RaftInvariantError

# --- roles ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Unattached:
    """Knows the epoch but not its leader; `voted_id` if it voted in this epoch."""

    epoch: int
    voted_id: int | None = None

    @property
    def leader_id(self) -> None:
        return None


@dataclass(frozen=True, slots=True)
class Prospective:
    """Asking for pre-votes without bumping the epoch (KIP-996).

    Keeps the vote and the leader it had in this epoch, so losing can return
    it to where it was. `retries` counts elections since the last leader.
    """

    epoch: int
    voted_id: int | None
    leader_id: int | None
    retries: int


@dataclass(frozen=True, slots=True)
class Candidate:
    """Bumped the epoch, voted for itself (`local_id`) and asks for votes."""

    epoch: int
    local_id: int
    retries: int

    @property
    def voted_id(self) -> int:
        return self.local_id

    @property
    def leader_id(self) -> None:
        return None


@dataclass(frozen=True, slots=True)
class Leader:
    """Leads `epoch`; its first record in the epoch is at `epoch_start_offset`."""

    epoch: int
    local_id: int
    epoch_start_offset: int

    @property
    def voted_id(self) -> int:
        return self.local_id

    @property
    def leader_id(self) -> int:
        return self.local_id


@dataclass(frozen=True, slots=True)
class Follower:
    """Fetches from `leader_id` in `epoch`."""

    epoch: int
    leader_id: int
    voted_id: int | None = None


@dataclass(frozen=True, slots=True)
class Resigned:
    """Was the leader of `epoch` and stepped down (or restarted as leader).

    Still names itself leader of `epoch` (so nobody else can be), serves no
    fetches and grants no binding vote in `epoch`.
    """

    epoch: int
    local_id: int
    preferred_successors: tuple[int, ...] = ()

    @property
    def voted_id(self) -> int:
        return self.local_id

    @property
    def leader_id(self) -> int:
        return self.local_id


Role = Unattached | Prospective | Candidate | Leader | Follower | Resigned


@dataclass(frozen=True, slots=True)
class ElectionState:
    """What must survive a restart: Kafka's `quorum-state` (QuorumStateData v0).

    `leader_id`/`voted_id` are None where the file holds -1.
    """

    epoch: int
    leader_id: int | None
    voted_id: int | None
    voters: tuple[int, ...]


# --- the transition table ---------------------------------------------------

_HIGHER = "higher"
_SAME = "same"
_SAME_OR_HIGHER = "same-or-higher"
_NEXT = "next"

_TRANSITIONS: dict[tuple[type, type], str] = {
    (Unattached, Unattached): _SAME_OR_HIGHER,  # same epoch only to add a vote
    (Unattached, Prospective): _SAME,
    (Unattached, Follower): _SAME_OR_HIGHER,
    (Prospective, Unattached): _SAME_OR_HIGHER,
    (Prospective, Prospective): _SAME,  # only to add a vote
    (Prospective, Candidate): _NEXT,
    (Prospective, Follower): _SAME_OR_HIGHER,
    (Candidate, Unattached): _HIGHER,
    (Candidate, Prospective): _SAME,
    (Candidate, Leader): _SAME,
    (Candidate, Follower): _SAME_OR_HIGHER,
    (Leader, Unattached): _HIGHER,
    (Leader, Resigned): _SAME,
    (Leader, Follower): _HIGHER,
    (Follower, Unattached): _HIGHER,
    (Follower, Prospective): _SAME,
    (Follower, Follower): _HIGHER,
    (Resigned, Unattached): _HIGHER,
    (Resigned, Follower): _HIGHER,
}

_OBSERVER_ROLES = (Unattached, Follower)


def check_transition(old: Role, new: Role, *, is_voter: bool) -> None:
    """Raise IllegalTransitionError unless `old -> new` is in the table.

    Besides the (type, epoch) rule this enforces, for moves within one epoch,
    that the vote is kept (or added where none was) and that a known leader
    is never replaced by another.
    """
    rule = _TRANSITIONS.get((type(old), type(new)))
    if rule is None:
        raise IllegalTransitionError(f"{old} -> {new} is not a legal transition")
    # A leader removed from the voter set still resigns (KIP-853).
    removed_leader = isinstance(old, Leader) and isinstance(new, Resigned)
    if not is_voter and not isinstance(new, _OBSERVER_ROLES) and not removed_leader:
        raise IllegalTransitionError(f"an observer cannot become {type(new).__name__}")
    ok = {
        _HIGHER: new.epoch > old.epoch,
        _SAME: new.epoch == old.epoch,
        _SAME_OR_HIGHER: new.epoch >= old.epoch,
        _NEXT: new.epoch == old.epoch + 1,
    }[rule]
    if not ok:
        raise IllegalTransitionError(f"{old} -> {new}: epoch must be {rule} than {old.epoch}")
    if new.epoch != old.epoch:
        return
    if type(old) is type(new) and isinstance(new, Unattached | Prospective):
        if old.voted_id is not None or new.voted_id is None:
            raise IllegalTransitionError(f"{old} -> {new}: same-epoch move must add a vote")
    elif old.voted_id is not None and new.voted_id != old.voted_id:
        raise IllegalTransitionError(f"{old} -> {new}: the vote of an epoch cannot change")
    if old.leader_id is not None and new.leader_id != old.leader_id:
        if new.leader_id is not None:
            raise RaftInvariantError(f"{old} -> {new}: two leaders in epoch {new.epoch}")
        raise IllegalTransitionError(f"{old} -> {new}: cannot forget the leader of the epoch")


class QuorumState:
    """Owns the current role and the election state that must be persisted."""

    def __init__(self, local_id: int, voters: tuple[int, ...], role: Role) -> None:
        self.local_id = local_id
        self.voters = voters
        self.removed_pending = False
        self._role: Role = role
        self._persisted: ElectionState | None = None
        self.pending_election_state: ElectionState | None = None
        self._note_election_state()

    @classmethod
    def restore(
        cls,
        local_id: int,
        voters: tuple[int, ...],
        stored: ElectionState | None,
        log_last_epoch: int,
    ) -> QuorumState:
        """The role to start in after a (re)start.

        - no stored state: Unattached in the log's last epoch;
        - stored epoch below the log's last epoch (the log's tail survived
          a crash but the quorum-state write did not): Unattached at the log's
          epoch, without a vote;
        - stored leader is us (voter or not): Resigned in that epoch, so we neither vote for
          someone else in it nor reuse (offset, epoch) pairs whose unflushed
          records the crash may have lost;
        - stored vote for us: Candidate in that epoch;
        - stored leader known: Follower of it (keeping the vote);
        - otherwise Unattached with the stored vote.
        """
        is_voter = local_id in voters
        role: Role
        if stored is None or stored.epoch < log_last_epoch:
            role = Unattached(log_last_epoch)
        elif stored.leader_id == local_id:
            # Voter or not: a leader removed from the voter set (KIP-853) still
            # led that epoch, and must not forget it.
            role = Resigned(stored.epoch, local_id)
        elif is_voter and stored.voted_id == local_id and stored.leader_id is None:
            role = Candidate(stored.epoch, local_id, 1)
        elif stored.leader_id is not None and stored.leader_id != local_id:
            role = Follower(stored.epoch, stored.leader_id, stored.voted_id)
        else:
            role = Unattached(stored.epoch, stored.voted_id)
        state = cls(local_id, voters, role)
        if stored is not None:
            state._persisted = stored
            state.pending_election_state = None
            state._note_election_state()
        return state

    # --- views ----------------------------------------------------------------

    @property
    def role(self) -> Role:
        return self._role

    @property
    def epoch(self) -> int:
        return self._role.epoch

    @property
    def is_voter(self) -> bool:
        return self.local_id in self.voters

    @property
    def is_electable(self) -> bool:
        """May start elections: a voter, or one the latest (uncommitted) VotersRecord
        removes (`removed_pending`, see `MembershipMixin._update_electable`)."""
        return self.is_voter or self.removed_pending

    @property
    def is_only_voter(self) -> bool:
        return self.voters == (self.local_id,)

    @property
    def leader_id(self) -> int | None:
        return self._role.leader_id

    @property
    def leader_and_epoch(self) -> LeaderAndEpoch:
        return LeaderAndEpoch(self._role.leader_id, self._role.epoch)

    def election_state(self) -> ElectionState:
        role = self._role
        return ElectionState(role.epoch, role.leader_id, role.voted_id, self.voters)

    # --- transitions ------------------------------------------------------------

    def transition_to(self, new: Role) -> Role:
        """Move to `new` if the table allows it; note what must be persisted."""
        check_transition(self._role, new, is_voter=self.is_electable)
        if isinstance(new, Follower) and new.leader_id == self.local_id:
            raise RaftInvariantError(f"told that we lead epoch {new.epoch} but we do not")
        if isinstance(new, Candidate | Leader | Resigned) and new.local_id != self.local_id:
            raise IllegalTransitionError(f"{new} names another node as itself")
        self._role = new
        self._note_election_state()
        return new

    def _note_election_state(self) -> None:
        current = self.election_state()
        if current != self._persisted:
            self._persisted = current
            self.pending_election_state = current

    def take_pending_election_state(self) -> ElectionState | None:
        pending, self.pending_election_state = self.pending_election_state, None
        return pending
