"""The KRaft consensus core: a pure state machine with no I/O and no clock.

Theory of operation. A `RaftCore` is one member (voter or observer) of the
metadata quorum. Inputs are method calls that carry the current time:

    handle(Inbound, now)          an RPC request or response from a peer
    poll(now) -> deadline         timers; returns when to call again
    propose(payloads, now)        leader only: append records
    flushed(end_offset, now)      the driver made the log durable this far
    request_failed(dst, id, now)  an outbound request could not be delivered
                                  (connection_lost=True: refused or reset by the peer)
    resign(now)                   leader steps down (graceful shutdown)
    snapshot_created(o, e, now)   the listener stored a snapshot in the log

Every input ends by *settling*: expired timers fire, roles change, and the
requests the current role needs are queued. Effects accumulate until the
driver drains them: `while core.has_ready(): act_on(core.take_ready())`
(see `kraft.raft.ready` for the order in which to act on a `Ready`), then
sleep until the deadline `poll` returns or the next input. The log is read
and written directly through `ReplicatedLog`; only flushing it is left to
the driver.

Replication is pull-based as in Kafka: followers and observers send Fetch;
the leader answers with records, a DivergingEpoch to truncate to, or a
SnapshotId to download, and parks fetches that find nothing new. The high
watermark is computed by `LeaderProgress` and reaches followers in Fetch
responses. Elections use pre-vote (Prospective) before bumping the epoch.
Check-quorum makes a leader that hears from no majority for 1.5 fetch
timeouts resign. All randomness (election timeouts, backoffs, picking a
voter to fetch from) comes from the injected `random.Random`.

Role changes all go through `QuorumState` (see `kraft.raft.state` for the
transition table); `_transition` then resets the per-role state and timers.
The class is split by concern: this module has the inputs, role changes and
timers; `ElectionsMixin` (`kraft.raft.elections`) votes and epochs;
`ReplicationMixin` (`kraft.raft.replication`) fetching, flushing, the high
watermark, committed entries and snapshots.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence

from kraft.raft.config import QuorumConfig
from kraft.raft.elections import ElectionsMixin
from kraft.raft.log import ReplicatedLog
from kraft.raft.membership import MembershipMixin
from kraft.raft.messages import (
    AddRaftVoterRequest,
    AddRaftVoterResponse,
    BeginQuorumEpochRequest,
    BeginQuorumEpochResponse,
    DescribeQuorumRequest,
    DescribeQuorumResponse,
    EndQuorumEpochRequest,
    EndQuorumEpochResponse,
    ErrorCode,
    FetchRequest,
    FetchResponse,
    FetchSnapshotRequest,
    FetchSnapshotResponse,
    Inbound,
    Outbound,
    RemoveRaftVoterRequest,
    RemoveRaftVoterResponse,
    Request,
    Response,
    UpdateRaftVoterRequest,
    UpdateRaftVoterResponse,
    VoteRequest,
    VoteResponse,
)
from kraft.raft.progress import FetchPurgatory, LeaderProgress, ProposalAccumulator
from kraft.raft.quorum import (
    EpochElection,
    binary_exponential_backoff_ms,
    random_election_timeout_ms,
)
from kraft.raft.ready import Ready
from kraft.raft.replication import ReplicationMixin
from kraft.raft.requests import RequestManager
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
)
from kraft.raft.types import (
    LeaderAndEpoch,
    NotLeaderError,
    OffsetAndEpoch,
    RaftInvariantError,
    UnexpectedBaseOffsetError,
)

_MAX_SETTLE_STEPS = 16
_IDLE_POLL_MS = 60_000


class RaftCore(ElectionsMixin, ReplicationMixin, MembershipMixin):
    """One quorum member. Not thread-safe: one caller (the driver) at a time."""

    def __init__(
        self,
        config: QuorumConfig,
        log: ReplicatedLog,
        stored: ElectionState | None,
        rng: random.Random,
        now_ms: int,
    ) -> None:
        """Start from the durable state: `log` as recovered and the stored
        `quorum-state` (None on first start). See `QuorumState.restore`."""
        self.config = config
        self.log = log
        self.rng = rng
        self.local_id = config.node_id
        self._now = now_ms
        self._init_replication()
        self._init_voters()
        self.quorum = QuorumState.restore(
            config.node_id, self.voters, stored, log.last_fetched_epoch()
        )
        self._update_electable()
        self.requests = RequestManager(config.request_timeout_ms, config.retry_backoff_ms)
        # outbox
        self._messages: list[Outbound] = []
        self._role_changed = True
        self._reported_leader: LeaderAndEpoch | None = None
        # timers of the current role
        self._election_deadline: int | None = None
        self._fetch_deadline: int | None = None
        self._backoff_deadline: int | None = None
        self._election: EpochElection | None = None
        self._end_quorum_unacked: set[int] = set()
        # leader state
        self._progress: LeaderProgress | None = None
        self._accumulator: ProposalAccumulator | None = None
        self._purgatory = FetchPurgatory()
        self._shutting_down = False
        # (leader id, epoch) of the leader whose connection this voter, following
        # it, last saw refused or reset, until a fetch from it succeeds or another
        # leader is followed (`lost_leader`).
        self._lost_leader: tuple[int, int] | None = None
        self._entered_role()
        if self.quorum.is_only_voter and isinstance(self.quorum.role, Resigned):
            self._transition(Unattached(self.quorum.epoch + 1))
        self._settle()

    # --- views ------------------------------------------------------------------

    @property
    def role(self) -> Role:
        return self.quorum.role

    @property
    def epoch(self) -> int:
        return self.quorum.epoch

    @property
    def leader_and_epoch(self) -> LeaderAndEpoch:
        return self.quorum.leader_and_epoch

    @property
    def is_voter(self) -> bool:
        return self.quorum.is_voter

    @property
    def resignation_acknowledged(self) -> bool:
        """After `resign()`: no longer leading and every voter acknowledged our
        EndQuorumEpoch, if we sent one (the shutdown may proceed)."""
        role = self.quorum.role
        return (
            self._shutting_down
            and not isinstance(role, Leader)
            and not (isinstance(role, Resigned) and self._end_quorum_unacked)
        )

    # --- inputs -----------------------------------------------------------------

    def handle(self, inbound: Inbound, now_ms: int) -> None:
        """An RPC arrived. Requests are answered (now, or later for parked
        fetches); responses that match no request in flight are ignored."""
        self._now = now_ms
        message = inbound.message
        if isinstance(message, Request):
            response = self._handle_request(inbound.source, inbound.correlation_id, message)
            if response is not None:
                self._respond(inbound.source, inbound.correlation_id, response)
        else:
            in_flight = self.requests.complete(inbound.source, inbound.correlation_id)
            if in_flight is not None:
                self._handle_response(inbound.source, in_flight.request, message)
        self._settle()

    def poll(self, now_ms: int) -> int:
        """Fire expired timers; returns the next deadline (always > now_ms)."""
        self._now = now_ms
        self._settle()
        return self._next_deadline()

    def propose(self, payloads: Sequence[bytes], now_ms: int, *, epoch: int | None = None,
                base_offset: int | None = None) -> int:
        """Append `payloads` as records of the current epoch; returns the offset
        the last one will have. They are appended after append.linger.ms and
        are committed once the high watermark passes that offset, unless
        leadership is lost first (then they may never be).

        Raises NotLeaderError unless this node leads (`epoch`, if given), and
        UnexpectedBaseOffsetError (nothing appended) if `base_offset` is given
        and is not the offset the first payload would get.
        """
        self._now = now_ms
        role = self.quorum.role
        if not isinstance(role, Leader) or (epoch is not None and epoch != role.epoch):
            raise NotLeaderError(self.quorum.leader_id, self.quorum.epoch)
        if not payloads:
            raise ValueError("nothing to propose")
        assert self._accumulator is not None
        if base_offset is not None and base_offset != (
                expected := self.log.end_offset + self._accumulator.pending_count):
            raise UnexpectedBaseOffsetError(
                f"the records would start at offset {expected}, not {base_offset}")
        offset = self._accumulator.add(list(payloads), self.log.end_offset, now_ms)
        self._settle()
        return offset

    def next_write_offset(self, epoch: int) -> int:
        """The offset the next proposed payload will get, if this node still
        leads `epoch` when it proposes (offsets are assigned at `propose`).

        Raises NotLeaderError unless this node leads `epoch`.
        """
        role = self.quorum.role
        if not isinstance(role, Leader) or epoch != role.epoch:
            raise NotLeaderError(self.quorum.leader_id, self.quorum.epoch)
        assert self._accumulator is not None
        return self.log.end_offset + self._accumulator.pending_count

    def flushed(self, end_offset: int, now_ms: int) -> None:
        """The log is durable up to `end_offset` (answering `Ready.flush_to`)."""
        self._now = now_ms
        self._acknowledge_flush(end_offset)
        self._settle()

    def request_failed(
        self, destination: int, correlation_id: int, now_ms: int, *,
        connection_lost: bool = False,
    ) -> None:
        """The driver could not send a request or lost its connection.

        `connection_lost`: the peer's kernel refused or reset the connection
        (or closed it): the process is gone or restarting, as opposed to a
        timeout, which says nothing. A voter that follows `destination` then
        stops vouching for it and starts a pre-vote soon (see
        `_leader_connection_lost`).

        While a resigned leader shuts down, a voter it cannot reach no longer
        holds the shutdown up: EndQuorumEpoch only speeds up the next election,
        and a voter that is down learns the new epoch when it returns.
        """
        self._now = now_ms
        in_flight = self.requests.fail(destination, correlation_id, now_ms)
        if in_flight is not None and connection_lost:
            self._leader_connection_lost(destination)
            self._voter_connection_lost(destination, in_flight.request)
        if self._shutting_down and isinstance(self.quorum.role, Resigned):
            self._end_quorum_unacked.discard(destination)
        self._settle()

    def _voter_connection_lost(self, destination: int, request: Request) -> None:
        """A Vote request of our current election could not reach `destination`:
        its process is down, so it will not grant this vote; count it as refused.
        Only liveness is at stake: a refused election ends sooner (a Candidate
        backs off and retries, a Prospective goes back) instead of waiting out
        the election timeout when another voter refused too (a split vote)."""
        role = self.quorum.role
        if (
            self.config.election_on_leader_connection_loss
            and self._election is not None
            and isinstance(request, VoteRequest)
            and isinstance(role, Prospective | Candidate)
            and request.replica_epoch == role.epoch
            and request.pre_vote == isinstance(role, Prospective)
        ):
            self._election.record(destination, granted=False)

    def _leader_connection_lost(self, destination: int) -> None:
        """A request of the current role to `destination` failed with a refused or
        reset connection. If we are a voter following `destination`, the leader
        process is dead or restarting: start a pre-vote within a random quarter
        of the election timeout (the spread lets one follower win the pre-vote
        and the election before the other starts its own, so the two do not
        split the vote), and grant pre-votes meanwhile (`has_fetched` off), as
        after EndQuorumEpoch. Safe whatever the cause: a pre-vote changes no
        epoch and no vote, and a leader that is in fact alive keeps its
        followers, which refuse the pre-vote; a successful fetch before the
        deadline puts the fetch timeout back."""
        role = self.quorum.role
        if (
            not self.config.election_on_leader_connection_loss
            or not isinstance(role, Follower)
            or role.leader_id != destination
            or not self.quorum.is_electable
            or self._shutting_down
        ):
            return
        self._lost_leader = (destination, role.epoch)
        spread = max(1, self.config.election_timeout_ms // 4)
        deadline = self._now + self.rng.randrange(spread)
        self._fetch_deadline = min(self._fetch_deadline or deadline, deadline)
        self._has_fetched = False

    @property
    def lost_leader(self) -> tuple[int, int] | None:
        """(leader id, epoch) of the last leader this voter followed and then saw
        its connection refused or reset by the peer's kernel (its process died or
        restarted), unless a fetch from it succeeded since or another leader was
        followed; None otherwise. A new active controller reads it to fence that
        node's broker within the disconnect grace (kraft.controller.heartbeats)."""
        return self._lost_leader

    def resign(self, now_ms: int) -> None:
        """Graceful shutdown. A leader becomes Resigned and asks the other voters,
        most caught-up first, to elect a successor (EndQuorumEpoch); any node
        stops starting elections from now on (an election already running goes
        on, so that a shutting-down candidate can still win and then resign).
        Keep feeding the core until `resignation_acknowledged`, or a shutdown
        timeout, then stop it."""
        self._now = now_ms
        self._shutting_down = True
        if isinstance(self.quorum.role, Leader):
            self._resign()
        self._settle()

    def has_ready(self) -> bool:
        """Whether `take_ready()` has something to act on (loop until False)."""
        return bool(
            self._messages
            or self._role_changed
            or self.quorum.pending_election_state is not None
            or self.quorum.leader_and_epoch != self._reported_leader
            or (
                self._flush_to is not None
                and min(self._flush_to, self.log.end_offset) > self._durable_end
            )
            or self._has_committed_to_deliver()
        )

    def take_ready(self) -> Ready:
        """Drain the accumulated effects; see `kraft.raft.ready` for how to act."""
        committed, loaded, snapshot_request = self._take_committed()
        leader = self.quorum.leader_and_epoch
        leader_change = None if leader == self._reported_leader else leader
        self._reported_leader = leader
        role = self.quorum.role if self._role_changed else None
        self._role_changed = False
        messages, self._messages = tuple(self._messages), []
        return Ready(
            quorum_state=self.quorum.take_pending_election_state(),
            messages=messages,
            flush_to=self._take_flush_request(),
            snapshot_loaded=loaded,
            committed=committed,
            snapshot_request=snapshot_request,
            high_watermark=self.high_watermark,
            leader_change=leader_change,
            role=role,
            next_deadline_ms=self._next_deadline(),
        )

    # --- role changes -------------------------------------------------------------

    def _transition(self, new: Role, *, keep_election_deadline: bool = False) -> None:
        """Change role (through the transition table) and reset per-role state.

        `keep_election_deadline`: moving to a higher epoch does not restart an
        election timer that was already running (Kafka keeps the remaining
        time), so a stream of epoch bumps cannot postpone our own election.
        """
        old = self.quorum.role
        self.quorum.transition_to(new)
        if isinstance(old, Leader):
            self._left_leadership()
        self.requests.reset()
        self._role_changed = True
        timer_running = isinstance(old, Unattached | Prospective | Candidate | Resigned)
        kept = self._election_deadline if keep_election_deadline and timer_running else None
        self._entered_role(kept)

    def _entered_role(self, kept_election_deadline: int | None = None) -> None:
        """Set the timers and per-role state of the role just entered."""
        role = self.quorum.role
        now = self._now
        timeout = random_election_timeout_ms(self.rng, self.config.election_timeout_ms)
        self._election_deadline = None
        if self.quorum.is_electable or isinstance(role, Resigned):
            self._election_deadline = (
                now + timeout if kept_election_deadline is None else kept_election_deadline
            )
        self._fetch_deadline = None
        self._backoff_deadline = None
        self._election = None
        self._end_quorum_unacked = set()
        self._entered_replication_role()
        if isinstance(role, Prospective | Candidate):
            self._election_deadline = now + timeout
            self._election = EpochElection(self.voters, self.local_id)
        elif isinstance(role, Follower):
            self._fetch_deadline = now + self.config.fetch_timeout_ms
            self._lost_leader = None
            self._follower_entered()
        elif isinstance(role, Resigned):
            self._end_quorum_unacked = {v for v in self.voters if v != self.local_id}
        elif isinstance(role, Leader):
            self._become_leader_state(role)

    def _become_leader_state(self, role: Leader) -> None:
        assert self._election is None
        self._progress = LeaderProgress(
            local_id=self.local_id,
            voters=self.voters,
            epoch_start_offset=role.epoch_start_offset,
            high_watermark=self.high_watermark,
            fetch_timeout_ms=self.config.fetch_timeout_ms,
            now_ms=self._now,
        )
        self._accumulator = ProposalAccumulator(
            role.epoch, self.config.append_linger_ms, self.config.max_batch_size_bytes
        )

    def _left_leadership(self) -> None:
        """Fail parked fetches (Kafka completes them with NOT_LEADER_OR_FOLLOWER)
        and drop what only a leader tracks, including unappended proposals."""
        for parked in self._purgatory.take_all():
            self._respond(
                parked.source,
                parked.correlation_id,
                self._fetch_error(ErrorCode.not_leader_or_follower),
            )
        self._finish_change(ErrorCode.not_leader_or_follower, None)
        self._progress = None
        self._accumulator = None

    def _resign(self) -> None:
        assert self._progress is not None
        successors = self._progress.voters_by_descending_fetch_offset()
        self._transition(Resigned(self.quorum.epoch, self.local_id, successors))

    # --- timers -------------------------------------------------------------------

    def _settle(self) -> None:
        """Fire due timers until the role is stable, then queue what it must send."""
        # A timed-out request only backs off: role timers (fetch and election
        # timeouts) decide what silence from a peer means.
        self.requests.expire(self._now)
        self._update_electable()
        for _ in range(_MAX_SETTLE_STEPS):
            if not self._poll_role():
                break
        else:
            raise RaftInvariantError(f"node {self.local_id}: roles did not settle")
        self._send_requests()
        self._complete_parked_fetches()

    def _poll_role(self) -> bool:
        """Act on the current role's timers; True if the role changed."""
        role = self.quorum.role
        now = self._now
        if isinstance(role, Unattached):
            if (
                self.quorum.is_electable
                and not self._shutting_down
                and (self.quorum.is_only_voter or self._deadline_passed(self._election_deadline))
            ):
                self._start_prospective()
                return True
        elif isinstance(role, Prospective):
            assert self._election is not None
            if self._election.is_granted:
                self._become_candidate(role)
                return True
            if self._election.is_rejected or self._deadline_passed(self._election_deadline):
                self._prospective_lost(role)
                return True
        elif isinstance(role, Candidate):
            assert self._election is not None
            if self._election.is_granted:
                self._become_leader(role)
                return True
            if self._backoff_deadline is not None:
                if now >= self._backoff_deadline:
                    self._start_prospective()
                    return True
            elif self._election.is_rejected or self._deadline_passed(self._election_deadline):
                self._backoff_deadline = now + binary_exponential_backoff_ms(
                    self.rng, role.retries, self.config.election_backoff_max_ms
                )
                return self._poll_role()
        elif isinstance(role, Follower):
            if (
                self.quorum.is_electable
                and not self._shutting_down
                and self._deadline_passed(self._fetch_deadline)
            ):
                self._start_prospective()
                return True
        elif isinstance(role, Leader):
            assert self._progress is not None and self._accumulator is not None
            deadline = self._progress.check_quorum_deadline
            removed = self._poll_pending_change()
            if removed or (deadline is not None and now >= deadline):
                self._resign()
                return True
            entries = self._accumulator.drain(self.log.end_offset, now)
            if entries:
                self._append_as_leader(entries)
        elif (
            isinstance(role, Resigned)
            and not self._shutting_down
            and self._deadline_passed(self._election_deadline)
        ):
            self._transition(Unattached(role.epoch + 1))
            return True
        return False

    def _deadline_passed(self, deadline: int | None) -> bool:
        return deadline is not None and self._now >= deadline

    def _next_deadline(self) -> int:
        """The earliest time a timer of the settled state can fire (> now)."""
        role = self.quorum.role
        candidates = [self.requests.next_deadline(self._now)]
        campaigning = self.quorum.is_electable and not self._shutting_down
        if isinstance(role, Prospective) or (
            isinstance(role, Unattached) and campaigning
        ) or (isinstance(role, Resigned) and not self._shutting_down):
            candidates.append(self._election_deadline)
        elif isinstance(role, Candidate):
            candidates.append(self._backoff_deadline or self._election_deadline)
        elif isinstance(role, Follower):
            # Observers whose leader went quiet search on request deadlines.
            if campaigning or (self._fetch_deadline or 0) > self._now:
                candidates.append(self._fetch_deadline)
            due = self._keepalive_due_ms(role)
            if due is not None and due > self._now:  # else waiting on a request's deadline
                candidates.append(due)
        elif isinstance(role, Leader):
            assert self._progress is not None and self._accumulator is not None
            candidates.append(self._progress.check_quorum_deadline)
            candidates.append(self._progress.next_begin_quorum_ms(self._now))
            candidates.append(self._accumulator.drain_deadline)
            candidates.append(self._purgatory.next_deadline())
            candidates.append(self._pending_change_deadline())
        found = [c for c in candidates if c is not None]
        return min(found) if found else self._now + _IDLE_POLL_MS

    # --- requests we send -----------------------------------------------------------

    def _send(self, destination: int, request: Request) -> None:
        correlation_id = self.requests.sent(destination, request, self._now)
        self._messages.append(Outbound(destination, correlation_id, request))

    def _respond(self, destination: int, correlation_id: int, response: Response) -> None:
        self._messages.append(Outbound(destination, correlation_id, response))

    def _send_requests(self) -> None:
        role = self.quorum.role
        if isinstance(role, Follower | Unattached):
            self._send_fetch_requests(role)
        else:
            self._send_election_requests(role)

    def _log_end(self) -> OffsetAndEpoch:
        return OffsetAndEpoch(self.log.end_offset, self.log.last_fetched_epoch())

    # --- requests we answer -------------------------------------------------------

    def _handle_request(
        self, source: int, correlation_id: int, request: Request
    ) -> Response | None:
        cluster_id = getattr(request, "cluster_id", None)
        if (
            None not in (cluster_id, self.config.cluster_id)
            and cluster_id != self.config.cluster_id
        ):
            return self._error_response(request, ErrorCode.inconsistent_cluster_id)
        if isinstance(request, VoteRequest):
            return self._handle_vote_request(request)
        if isinstance(request, BeginQuorumEpochRequest):
            return self._handle_begin_quorum_epoch_request(request)
        if isinstance(request, EndQuorumEpochRequest):
            return self._handle_end_quorum_epoch_request(request)
        if isinstance(request, FetchRequest):
            return self._handle_fetch_request(source, correlation_id, request)
        if isinstance(request, FetchSnapshotRequest):
            return self._handle_fetch_snapshot_request(request)
        if isinstance(request, AddRaftVoterRequest):
            return self._handle_add_voter(source, correlation_id, request)
        if isinstance(request, RemoveRaftVoterRequest):
            return self._handle_remove_voter(source, correlation_id, request)
        if isinstance(request, UpdateRaftVoterRequest):
            return self._handle_update_voter(request)
        assert isinstance(request, DescribeQuorumRequest)
        return self._handle_describe_quorum_request()

    def _error_response(self, request: Request, error: ErrorCode) -> Response:
        leader_id, epoch = self._leader_id_or_sentinel(), self.quorum.epoch
        if isinstance(request, VoteRequest):
            return self._vote_response(error, granted=False)
        if isinstance(request, BeginQuorumEpochRequest):
            return BeginQuorumEpochResponse(
                error_code=error, leader_id=leader_id, leader_epoch=epoch
            )
        if isinstance(request, EndQuorumEpochRequest):
            return EndQuorumEpochResponse(error_code=error, leader_id=leader_id, leader_epoch=epoch)
        if isinstance(request, FetchRequest):
            return self._fetch_error(error)
        if isinstance(request, FetchSnapshotRequest):
            return self._fetch_snapshot_error(request, error)
        if isinstance(request, AddRaftVoterRequest):
            return AddRaftVoterResponse(error_code=error)
        if isinstance(request, RemoveRaftVoterRequest):
            return RemoveRaftVoterResponse(error_code=error)
        if isinstance(request, UpdateRaftVoterRequest):
            return self._update_voter_response(error)
        return self._describe_quorum_error(error)

    def _handle_describe_quorum_request(self) -> DescribeQuorumResponse:
        if self._progress is None:
            return self._describe_quorum_error(ErrorCode.not_leader_or_follower)
        voters, observers = self._progress.describe()
        # KIP-853: a voter's directory id is the voter set's (the leader's own too).
        known = self.voter_history.latest
        voters = tuple(
            r if r.replica_directory_id is not None or (node := known.voter(r.replica_id)) is None
            else dataclasses.replace(r, replica_directory_id=node.directory_id)
            for r in voters
        )
        return DescribeQuorumResponse(
            error_code=ErrorCode.none,
            error_message=None,
            leader_id=self.local_id,
            leader_epoch=self.quorum.epoch,
            high_watermark=self.high_watermark,
            current_voters=voters,
            observers=observers,
        )

    def _describe_quorum_error(self, error: ErrorCode) -> DescribeQuorumResponse:
        return DescribeQuorumResponse(
            error_code=error,
            error_message=None,
            leader_id=self._leader_id_or_sentinel(),
            leader_epoch=self.quorum.epoch,
            high_watermark=-1,
        )

    # --- responses to our requests -------------------------------------------------

    def _handle_response(self, source: int, request: Request, response: Response) -> None:
        if not isinstance(
            response,
            VoteResponse | BeginQuorumEpochResponse | EndQuorumEpochResponse | FetchResponse
            | FetchSnapshotResponse | UpdateRaftVoterResponse,
        ):
            return  # the core never sends DescribeQuorum, AddRaftVoter or RemoveRaftVoter
        if isinstance(response, FetchResponse | FetchSnapshotResponse | UpdateRaftVoterResponse):
            leader_id = response.current_leader.leader_id
            epoch = response.current_leader.leader_epoch
        else:
            leader_id, epoch = response.leader_id, response.leader_epoch
        role_before = self.quorum.role
        ok = self._handle_common_response(
            response.error_code, None if leader_id < 0 else leader_id, epoch
        )
        if ok:
            if isinstance(response, VoteResponse):
                assert isinstance(request, VoteRequest)
                ok = self._handle_vote_response(source, request, response)
            elif isinstance(response, BeginQuorumEpochResponse):
                ok = response.error_code == ErrorCode.none
                if ok and self._progress is not None:
                    self._progress.acknowledge_begin_quorum(source)
            elif isinstance(response, EndQuorumEpochResponse):
                ok = response.error_code == ErrorCode.none
                if ok:
                    self._end_quorum_unacked.discard(source)
            elif isinstance(response, FetchResponse):
                assert isinstance(request, FetchRequest)
                ok = self._handle_fetch_response(source, request, response)
            elif isinstance(response, UpdateRaftVoterResponse):
                pass  # any other error waits for the next period (Kafka's)
            else:
                assert isinstance(request, FetchSnapshotRequest)
                ok = self._handle_fetch_snapshot_response(source, request, response)
        if not ok and self.quorum.role is role_before:
            self.requests.back_off(source, self._now)
