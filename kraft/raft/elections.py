"""Elections half of `RaftCore`: votes and pre-votes, BeginQuorumEpoch,
EndQuorumEpoch, and what any response teaches about epochs and leaders.

Split out of `core.py` by concern; `ElectionsMixin` is only ever used as a
base of `RaftCore` and works on its state (declared below).

Theory of operation (KIP-595 with KIP-996 pre-vote). A voter whose election
timer (Unattached) or fetch timer (Follower) expires becomes Prospective and
asks the other voters for pre-votes in its *current* epoch: nothing is
persisted and nobody changes state. With a majority it becomes Candidate in
epoch + 1, votes for itself (persisted) and asks for binding votes; with a
majority it leads. A rejected or timed-out Candidate backs off (binary
exponential) and retries from Prospective, which keeps one node that cannot
win from forcing epoch bumps on a healthy quorum. A new leader announces
itself with BeginQuorumEpoch until each voter acknowledges (or fetches); a
resigning leader sends EndQuorumEpoch so that its best-replicated voters
start the next election first.

Any message carrying a higher epoch moves us there (Follower if it names
the leader, else Unattached); a message naming a different leader for an
epoch whose leader we know is a broken invariant and raises.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from kraft.raft.config import QuorumConfig
from kraft.raft.log import ReplicatedLog
from kraft.raft.messages import (
    BeginQuorumEpochRequest,
    BeginQuorumEpochResponse,
    EndQuorumEpochRequest,
    EndQuorumEpochResponse,
    ErrorCode,
    Request,
    VoteRequest,
    VoteResponse,
)
from kraft.raft.progress import LeaderProgress
from kraft.raft.quorum import (
    EpochElection,
    can_grant_vote,
    is_log_up_to_date,
    strict_exponential_backoff_ms,
)
from kraft.raft.requests import RequestManager
from kraft.raft.state import (
    Candidate,
    Follower,
    Leader,
    Prospective,
    QuorumState,
    Resigned,
    Role,
    Unattached,
)
from kraft.raft.types import (
    NO_LEADER,
    Entry,
    KRaftVersionRecord,
    LeaderChangeMessage,
    OffsetAndEpoch,
    RaftInvariantError,
    VotersRecord,
)
from kraft.raft.voter_set import BASE, VoterSetHistory


class ElectionsMixin:
    # State owned by RaftCore, used here.
    config: QuorumConfig
    log: ReplicatedLog
    rng: random.Random
    quorum: QuorumState
    requests: RequestManager
    local_id: int
    voters: tuple[int, ...]
    _now: int
    _has_fetched: bool
    _fetch_deadline: int | None
    _backoff_deadline: int | None
    _election: EpochElection | None
    _end_quorum_unacked: set[int]
    _progress: LeaderProgress | None
    voter_history: VoterSetHistory

    if TYPE_CHECKING:

        def _transition(self, new: Role, *, keep_election_deadline: bool = False) -> None: ...

        def _send(self, destination: int, request: Request) -> None: ...

        def _log_end(self) -> OffsetAndEpoch: ...

        def _append_as_leader(self, entries: list[Entry]) -> None: ...

        def _voter_node_update(self, voters: VotersRecord) -> VotersRecord | None: ...

    def _maybe_transition(self, leader_id: int | None, epoch: int) -> bool:
        """Move to what a peer told us about `epoch` (Kafka `maybeTransition`);
        True if the role changed. A different leader for a known epoch is a
        broken invariant."""
        current = self.quorum.epoch
        if epoch < current:
            return False
        known = self.quorum.leader_id
        if epoch == current and known is not None and leader_id is not None:
            if leader_id != known:
                raise RaftInvariantError(
                    f"node {self.local_id}: leader {leader_id} claimed for epoch {epoch}, "
                    f"which {known} leads"
                )
            return False
        if leader_id == self.local_id:
            raise RaftInvariantError(
                f"node {self.local_id} is told it leads epoch {epoch} but it does not"
            )
        if epoch > current:
            if leader_id is None:
                self._transition(Unattached(epoch), keep_election_deadline=True)
            else:
                self._transition(Follower(epoch, leader_id))
            return True
        if leader_id is not None:
            self._transition(Follower(epoch, leader_id, self.quorum.role.voted_id))
            return True
        return False

    def _start_prospective(self) -> None:
        self._transition(self._prospective_role())

    def _prospective_role(self) -> Prospective:
        role = self.quorum.role
        retries = role.retries + 1 if isinstance(role, Candidate) else 1
        return Prospective(role.epoch, role.voted_id, role.leader_id, retries)

    def _prospective_lost(self, role: Prospective) -> None:
        """Pre-vote lost or timed out: back to following the known leader, if any."""
        if role.leader_id is not None:
            self._transition(Follower(role.epoch, role.leader_id, role.voted_id))
        else:
            self._transition(Unattached(role.epoch, role.voted_id))

    def _become_candidate(self, role: Prospective) -> None:
        self._transition(Candidate(role.epoch + 1, self.local_id, role.retries))

    def _become_leader(self, role: Candidate) -> None:
        assert self._election is not None
        granting = self._election.granting_voters
        start = self.log.end_offset
        self._transition(Leader(role.epoch, self.local_id, start))
        leader_change = LeaderChangeMessage(self.local_id, self.voters, granting)
        entries = [Entry(start, role.epoch, control=leader_change)]
        history = self.voter_history
        if history.kraft_version >= 1:
            # KIP-853 (Kafka's appendStartOfEpochControlRecords): the first leader
            # writes the bootstrap set into the log, so replicas formatted without
            # one (--no-initial-controllers, brokers) learn it by fetching; a leader
            # whose own entry is out of date (it restarted with another controller
            # endpoint) writes the set with its entry corrected.
            updated = self._voter_node_update(history.latest)
            if updated is not None or history.latest_offset == BASE:
                entries.append(Entry(start + 1, role.epoch,
                                     control=KRaftVersionRecord(history.kraft_version)))
                entries.append(Entry(start + 2, role.epoch, control=updated or history.latest))
        self._append_as_leader(entries)

    def _handle_vote_request(self, request: VoteRequest) -> VoteResponse:
        """Grant rules in `quorum.can_grant_vote`. A request from a higher epoch,
        pre-vote or not, first moves us to Unattached there (persisted with
        the vote): a pre-vote carries its sender's real epoch, since pre-voting
        never bumps it, so a higher one means that voter will never follow
        the leader we know; moving up lets a new election bring it back."""
        if (
            request.last_offset < 0
            or request.last_offset_epoch < 0
            or request.last_offset_epoch > request.replica_epoch
        ):
            return self._vote_response(ErrorCode.invalid_request, granted=False)
        if request.replica_epoch < self.quorum.epoch:
            return self._vote_response(ErrorCode.fenced_leader_epoch, granted=False)
        if request.voter_id != self.local_id or request.voter_directory_id not in (
            None, self.config.directory_id
        ):
            return self._vote_response(ErrorCode.invalid_voter_key, granted=False)
        if self.voter_history.kraft_version == 0 and (
            not self.quorum.is_voter or request.replica_id not in self.voters
        ):
            return self._vote_response(ErrorCode.none, granted=False)
        # kraft.version 1 (KIP-853): grant whatever our voter set says, as Kafka
        # does. The candidate counts only its own set's votes, and its log may
        # hold a VotersRecord ours lacks (making it, or us, a voter): refusing
        # could leave no replica able to win. Safety rests on the log check.
        if request.replica_epoch > self.quorum.epoch:
            self._transition(Unattached(request.replica_epoch), keep_election_deadline=True)
        candidate_end = OffsetAndEpoch(request.last_offset, request.last_offset_epoch)
        role = self.quorum.role
        granted = can_grant_vote(
            role,
            request.replica_id,
            log_up_to_date=is_log_up_to_date(candidate_end, self._log_end()),
            pre_vote=request.pre_vote,
            has_fetched=self._has_fetched,
        )
        if granted and not request.pre_vote and role.voted_id is None:
            # Voting restarts the election timer: the candidate has at least
            # as good a chance as we do.
            if isinstance(role, Unattached):
                self._transition(Unattached(role.epoch, request.replica_id))
            else:
                assert isinstance(role, Prospective)
                self._transition(
                    Prospective(role.epoch, request.replica_id, role.leader_id, role.retries)
                )
        return self._vote_response(ErrorCode.none, granted=granted)

    def _vote_response(self, error: ErrorCode, *, granted: bool) -> VoteResponse:
        return VoteResponse(
            error_code=error,
            leader_id=self._leader_id_or_sentinel(),
            leader_epoch=self.quorum.epoch,
            vote_granted=granted,
        )

    def _leader_id_or_sentinel(self) -> int:
        leader = self.quorum.leader_id
        return NO_LEADER if leader is None else leader

    def _handle_begin_quorum_epoch_request(
        self, request: BeginQuorumEpochRequest
    ) -> BeginQuorumEpochResponse:
        if request.leader_epoch < self.quorum.epoch:
            error = ErrorCode.fenced_leader_epoch
        elif request.voter_id != self.local_id:
            error = ErrorCode.invalid_voter_key
        else:
            self._maybe_transition(request.leader_id, request.leader_epoch)
            error = ErrorCode.none
        return BeginQuorumEpochResponse(
            error_code=error,
            leader_id=self._leader_id_or_sentinel(),
            leader_epoch=self.quorum.epoch,
        )

    def _handle_end_quorum_epoch_request(
        self, request: EndQuorumEpochRequest
    ) -> EndQuorumEpochResponse:
        """A follower of the resigning leader shortens its fetch timeout by its
        rank among the preferred candidates, and stops counting that leader as
        alive for pre-votes."""
        if request.leader_epoch < self.quorum.epoch:
            error = ErrorCode.fenced_leader_epoch
        else:
            self._maybe_transition(request.leader_id, request.leader_epoch)
            role = self.quorum.role
            if isinstance(role, Follower) and role.leader_id == request.leader_id:
                candidates = request.preferred_candidates
                position = candidates.index(self.local_id) if self.local_id in candidates else -1
                backoff = strict_exponential_backoff_ms(
                    position, len(candidates), self.config.election_backoff_max_ms
                )
                self._fetch_deadline = min(self._fetch_deadline or self._now, self._now + backoff)
                self._has_fetched = False
            error = ErrorCode.none
        return EndQuorumEpochResponse(
            error_code=error,
            leader_id=self._leader_id_or_sentinel(),
            leader_epoch=self.quorum.epoch,
        )

    def _handle_common_response(self, error: ErrorCode, leader_id: int | None, epoch: int) -> bool:
        """Kafka `maybeHandleCommonResponse`: learn epochs and leaders from any
        response. False if the response is fully handled here (and the peer
        should be retried after a backoff unless the role changed)."""
        if epoch < self.quorum.epoch or error == ErrorCode.unknown_leader_epoch:
            return False
        if epoch > self.quorum.epoch or error in (
            ErrorCode.fenced_leader_epoch,
            ErrorCode.not_leader_or_follower,
        ):
            self._maybe_transition(leader_id, epoch)
            return False
        if leader_id is not None and self.quorum.leader_id is None:
            self._maybe_transition(leader_id, epoch)
            return error == ErrorCode.none
        return True

    def _handle_vote_response(
        self, source: int, request: VoteRequest, response: VoteResponse
    ) -> bool:
        if response.error_code != ErrorCode.none:
            return False
        role = self.quorum.role
        if (
            self._election is not None
            and request.replica_epoch == role.epoch
            and request.pre_vote == isinstance(role, Prospective)
        ):
            self._election.record(source, response.vote_granted)
        return True

    def _send_election_requests(self, role: Role) -> None:
        """Vote requests (Prospective, Candidate), BeginQuorumEpoch (Leader) and
        EndQuorumEpoch (Resigned) to the voters that still need them."""
        now = self._now
        if isinstance(role, Prospective | Candidate):
            assert self._election is not None
            if self._backoff_deadline is not None or self._election.is_rejected:
                return
            end = self._log_end()
            for voter in self._election.unrecorded_voters():
                if self.requests.is_ready(voter, now):
                    self._send(
                        voter,
                        VoteRequest(
                            cluster_id=self.config.cluster_id,
                            voter_id=voter,
                            replica_epoch=role.epoch,
                            replica_id=self.local_id,
                            last_offset_epoch=end.epoch,
                            last_offset=end.offset,
                            pre_vote=isinstance(role, Prospective),
                        ),
                    )
        elif isinstance(role, Leader):
            assert self._progress is not None
            for voter in self._progress.voters_due_begin_quorum(now):
                if self.requests.is_ready(voter, now):
                    self._progress.sent_begin_quorum(voter, now)
                    self._send(
                        voter,
                        BeginQuorumEpochRequest(
                            cluster_id=self.config.cluster_id,
                            voter_id=voter,
                            leader_id=self.local_id,
                            leader_epoch=role.epoch,
                        ),
                    )
        elif isinstance(role, Resigned):
            for voter in sorted(self._end_quorum_unacked):
                if self.requests.is_ready(voter, now):
                    self._send(
                        voter,
                        EndQuorumEpochRequest(
                            cluster_id=self.config.cluster_id,
                            leader_id=self.local_id,
                            leader_epoch=role.epoch,
                            preferred_candidates=role.preferred_successors,
                        ),
                    )
