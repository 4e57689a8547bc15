"""Membership half of `RaftCore`: the voter set from the log and its changes
(KIP-853 AddRaftVoter, RemoveRaftVoter, UpdateRaftVoter).

Split out of `core.py` by concern; `MembershipMixin` is only ever used as a
base of `RaftCore` and works on its state (declared below).

Theory of operation. The voter set in force is the latest VotersRecord in the
log, committed or not (`kraft.raft.voter_set`); every append, truncation and
snapshot install goes through `_voters_changed`, which moves the core, its
leader progress and its timers to the new set. Changes are Raft's
single-server changes, made safe as Kafka makes them (its AddVoterHandler,
RemoveVoterHandler, UpdateVoterHandler):

- only a leader that has committed an entry of its own epoch (its
  LeaderChange) changes the set, so no change of an earlier leader can still
  be uncommitted;
- one change at a time: while a change is pending, or the latest VotersRecord
  is not committed, a new one is refused with REQUEST_TIMED_OUT;
- a new voter must first fetch as an observer, with its directory id, and
  have reached the log end: adding a voter that is behind would stall the
  high watermark;
- AddRaftVoter and RemoveRaftVoter are answered once the VotersRecord
  commits (UpdateRaftVoter at once, as Kafka does); a leader that is not in
  the committed set resigns;
- a voter keeps its own entry true (Kafka's KafkaRaftClient): as a follower,
  every three fetch timeouts it compares the entry of the latest set with its
  own controller endpoints and supported kraft.versions (`local_listeners`)
  and, when they differ, sends UpdateRaftVoter to the leader instead of that
  round's Fetch; as a new leader it writes the corrected set right after its
  LeaderChange (kraft.raft.elections). The keys, and so every majority, stay
  the same: only endpoints and version ranges change;
- a replica the latest, still uncommitted, set removes keeps starting
  elections (counting only that set's votes) until the change commits, as
  Raft prescribes: it may hold the only copy of the change (found by the
  simulation: a set shrunk to one voter who lacks the record stalled).

Any two consecutive sets then share a majority, so two leaders of one epoch
would need a voter to vote twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from kraft.raft.config import QuorumConfig
from kraft.raft.log import ReplicatedLog
from kraft.raft.messages import (
    AddRaftVoterRequest,
    AddRaftVoterResponse,
    ErrorCode,
    LeaderIdAndEpoch,
    RemoveRaftVoterRequest,
    RemoveRaftVoterResponse,
    Request,
    Response,
    UpdateRaftVoterRequest,
    UpdateRaftVoterResponse,
)
from kraft.raft.progress import LeaderProgress
from kraft.raft.quorum import random_election_timeout_ms
from kraft.raft.state import Follower, Leader, QuorumState, Role, Unattached
from kraft.raft.types import (
    Entry,
    QuorumRecord,
    VoterNode,
    VotersRecord,
    replica_key,
)
from kraft.raft.voter_set import VoterSetHistory

if TYPE_CHECKING:
    import random

SUPPORTED_KRAFT_VERSIONS = (0, 1)
"""The kraft.version range this replica supports (static and dynamic quorums)."""

_PREVIOUS_PENDING = "Request timed out waiting for leader to handle previous voter change request"
_NO_HWM = "Request timed out waiting for leader to establish HWM and fence previous voter changes"


@dataclass(slots=True)
class PendingChange:
    """An AddRaftVoter or RemoveRaftVoter appended and awaiting its commit."""

    source: int
    correlation_id: int
    is_add: bool
    record_offset: int
    deadline_ms: int


class MembershipMixin:
    # State owned by RaftCore, used here.
    config: QuorumConfig
    log: ReplicatedLog
    rng: random.Random
    quorum: QuorumState
    local_id: int
    voters: tuple[int, ...]
    voter_history: VoterSetHistory
    _now: int
    _progress: LeaderProgress | None
    _election_deadline: int | None
    _pending_change: PendingChange | None

    if TYPE_CHECKING:

        @property
        def high_watermark(self) -> int: ...

        def _respond(self, destination: int, correlation_id: int, response: Response) -> None: ...

        def _send(self, destination: int, request: Request) -> None: ...

        def _append_as_leader(self, entries: list[Entry]) -> None: ...

        def _high_watermark_advanced(self) -> None: ...

    # --- the voter set from the log --------------------------------------------

    def _init_voters(self) -> None:
        """Build the history from where the log starts (configuration, bootstrap
        checkpoint or the snapshot at the log start) and the log's records."""
        config = self.config
        base = (
            VotersRecord(config.voter_nodes)
            if config.voter_nodes
            else VotersRecord.of_ids(config.voters)
        )
        self.voter_history = VoterSetHistory(base, config.kraft_version)
        log = self.log
        earliest = log.earliest_snapshot_id()
        if earliest is not None:
            self.voter_history.reset(log.snapshot_quorum_records(earliest))
        offset = log.log_start_offset
        while offset < log.end_offset:
            entries = log.read(offset, config.max_batch_size_bytes)
            self.voter_history.appended(entries)
            offset = entries[-1].offset + 1
        self.voters = self.voter_history.latest.ids
        self._pending_change = None
        self._update_voter_deadline: int | None = None

    def _voters_changed(self) -> None:
        """Move to the latest voter set of the history, if it changed."""
        voters = self.voter_history.latest.ids
        if voters == self.voters:
            return
        was_voter = self.quorum.is_electable
        self.voters = voters
        self.quorum.voters = voters
        self._update_electable()
        if self._progress is not None and self._progress.set_voters(voters, self._now):
            self._high_watermark_advanced()
        role: Role = self.quorum.role
        if self.quorum.is_electable and not was_voter and isinstance(role, Unattached):
            self._election_deadline = self._now + random_election_timeout_ms(
                self.rng, self.config.election_timeout_ms
            )

    def _update_electable(self) -> None:
        """Raft's rule for a replica the latest, uncommitted, VotersRecord removes
        (Ongaro's thesis, 4.2.2): it still starts elections, counting only the
        votes of that latest set, as it may be needed until the change commits
        (e.g. it alone holds the record that shrinks the set to one voter who
        lacks it); once committed it is an observer."""
        history = self.voter_history
        self.quorum.removed_pending = (
            not self.quorum.is_voter
            and history.latest_offset >= self.high_watermark
            and self.local_id in history.voters_at(history.latest_offset).ids
        )

    def _quorum_records_appended(self, entries: list[Entry] | tuple[Entry, ...]) -> None:
        if self.voter_history.appended(entries):
            self._voters_changed()

    def _snapshot_installed_records(self, records: tuple[QuorumRecord, ...]) -> None:
        self.voter_history.reset(records)
        self._voters_changed()

    def quorum_records_at(self, end_offset: int) -> tuple[QuorumRecord, ...]:
        """The KRaftVersion and Voters records a snapshot ending at `end_offset`
        must carry (empty for kraft.version 0)."""
        return self.voter_history.records_at(end_offset)

    @property
    def kraft_version(self) -> int:
        return self.voter_history.kraft_version

    @property
    def voter_set(self) -> VotersRecord:
        """The voter set in force (latest VotersRecord, committed or not)."""
        return self.voter_history.latest

    # --- leader: changes ----------------------------------------------------------

    def _change_refused(self, what: str) -> tuple[ErrorCode, str] | None:
        """Kafka's common checks before any change, in Kafka's order."""
        assert self._progress is not None
        if self._pending_change is not None:
            return ErrorCode.request_timed_out, _PREVIOUS_PENDING
        hwm = self.high_watermark
        if hwm <= self._progress.epoch_start_offset:
            return ErrorCode.request_timed_out, _NO_HWM
        if self.kraft_version < 1:
            return (ErrorCode.unsupported_version,
                    f"Cluster doesn't support {what} voter because the kraft.version feature "
                    f"is {self.kraft_version}")
        latest = self.voter_history.latest_offset
        if latest >= hwm:
            offset = "Optional.empty" if latest < 0 else f"Optional[{latest}]"
            return (ErrorCode.request_timed_out,
                    f"Request timed out waiting for voters to commit the latest voter change "
                    f"at {offset} with HWM {hwm}")
        return None

    def _handle_add_voter(
        self, source: int, correlation_id: int, request: AddRaftVoterRequest
    ) -> AddRaftVoterResponse | None:
        if not isinstance(self.quorum.role, Leader):
            return AddRaftVoterResponse(error_code=ErrorCode.not_leader_or_follower)
        refused = self._change_refused("adding")
        if refused is not None:
            return AddRaftVoterResponse(error_code=refused[0], error_message=refused[1])
        voters = self.voter_history.latest
        key = replica_key(request.voter_id, request.voter_directory_id)
        if request.voter_id in voters.ids:
            return AddRaftVoterResponse(
                error_code=ErrorCode.duplicate_voter,
                error_message=f"The voter id for {key} is already part of the set of voters "
                              f"{voters.keys}.")
        if not request.listeners:
            return AddRaftVoterResponse(
                error_code=ErrorCode.invalid_request,
                error_message=f"Provided listeners [] do not contain a listener for {key}")
        assert self._progress is not None
        if not self._progress.is_caught_up_observer(
            request.voter_id, request.voter_directory_id, self._now
        ):
            return AddRaftVoterResponse(
                error_code=ErrorCode.request_timed_out,
                error_message=f"Aborted add voter operation for {key} since it is lagging behind")
        node = VoterNode(request.voter_id, request.voter_directory_id, request.listeners)
        offset = self._append_voters(VotersRecord((*voters.voters, node)))
        if not request.ack_when_committed:
            # KIP-1186: answered once appended. A next change is still refused
            # until this one commits (`_change_refused`: latest set above the HWM).
            return AddRaftVoterResponse(error_code=ErrorCode.none)
        timeout = request.timeout_ms if request.timeout_ms > 0 else self.config.request_timeout_ms
        self._pending_change = PendingChange(source, correlation_id, True, offset,
                                             self._now + timeout)
        return None

    def _handle_remove_voter(
        self, source: int, correlation_id: int, request: RemoveRaftVoterRequest
    ) -> RemoveRaftVoterResponse | None:
        if not isinstance(self.quorum.role, Leader):
            return RemoveRaftVoterResponse(error_code=ErrorCode.not_leader_or_follower)
        refused = self._change_refused("removing")
        if refused is not None:
            return RemoveRaftVoterResponse(error_code=refused[0], error_message=refused[1])
        voters = self.voter_history.latest
        old = voters.voter(request.voter_id)
        if old is None or old.directory_id != request.voter_directory_id or len(voters.voters) < 2:
            key = replica_key(request.voter_id, request.voter_directory_id)
            return RemoveRaftVoterResponse(
                error_code=ErrorCode.voter_not_found,
                error_message=f"Cannot remove voter {key} from the set of voters {voters.keys}")
        remaining = tuple(v for v in voters.voters if v.voter_id != request.voter_id)
        offset = self._append_voters(VotersRecord(remaining))
        self._pending_change = PendingChange(source, correlation_id, False, offset,
                                             self._now + self.config.request_timeout_ms)
        return None

    def _handle_update_voter(self, request: UpdateRaftVoterRequest) -> UpdateRaftVoterResponse:
        role = self.quorum.role
        if not isinstance(role, Leader):
            return self._update_voter_response(ErrorCode.not_leader_or_follower)
        refused = self._change_refused("updating")
        if refused is not None:
            return self._update_voter_response(refused[0])
        version = self.kraft_version
        if not (request.min_supported_version <= version <= request.max_supported_version):
            return self._update_voter_response(ErrorCode.invalid_request)
        if not request.listeners:
            return self._update_voter_response(ErrorCode.invalid_request)
        voters = self.voter_history.latest
        old = voters.voter(request.voter_id)
        if old is None or old.directory_id != request.voter_directory_id:
            return self._update_voter_response(ErrorCode.voter_not_found)
        new = VoterNode(request.voter_id, request.voter_directory_id, request.listeners,
                        request.min_supported_version, request.max_supported_version)
        if new != old:
            self._append_voters(VotersRecord(
                tuple(new if v.voter_id == new.voter_id else v for v in voters.voters)))
        return self._update_voter_response(ErrorCode.none)

    def _local_voter_node(self) -> VoterNode | None:
        """This replica as a voter set should hold it (Kafka's localVoterNode); None
        while its endpoints are unknown."""
        if not self.config.local_listeners:
            return None
        low, high = SUPPORTED_KRAFT_VERSIONS
        return VoterNode(self.local_id, self.config.directory_id, self.config.local_listeners,
                         low, high)

    def _voter_node_update(self, voters: VotersRecord) -> VotersRecord | None:
        """`voters` with this replica's entry corrected, if `voters` holds it (same id
        and directory id) with other endpoints or versions (Kafka's
        voterNodeNeedsUpdate); None if nothing needs changing."""
        local = self._local_voter_node()
        current = voters.voter(self.local_id)
        if local is None or current is None or current.directory_id != local.directory_id:
            return None
        if current == local:
            return None
        return VotersRecord(tuple(local if v.voter_id == local.voter_id else v
                                  for v in voters.voters))

    def _follower_entered(self) -> None:
        """A voter checks its own entry after a few rounds of fetching."""
        self._update_voter_deadline = self._now + 3 * self.config.fetch_timeout_ms

    def _maybe_send_update_voter(self, role: Follower) -> bool:
        """Once the update period is over: UpdateRaftVoter to the leader if the voter
        set's entry for this voter is out of date (True: sent, instead of a Fetch).
        The period restarts either way, also after a refusal (Kafka's)."""
        deadline = self._update_voter_deadline
        if deadline is None or self._now < deadline:
            return False
        self._update_voter_deadline = self._now + 3 * self.config.fetch_timeout_ms
        if not self.quorum.is_voter or self.voter_history.kraft_version < 1:
            return False
        if self._voter_node_update(self.voter_history.latest) is None:
            return False
        local = self._local_voter_node()
        assert local is not None
        self._send(role.leader_id, UpdateRaftVoterRequest(
            cluster_id=self.config.cluster_id, current_leader_epoch=role.epoch,
            voter_id=self.local_id, voter_directory_id=local.directory_id,
            listeners=local.endpoints, min_supported_version=local.min_kraft_version,
            max_supported_version=local.max_kraft_version))
        return True

    def _update_voter_response(self, error: ErrorCode) -> UpdateRaftVoterResponse:
        leader = self.quorum.leader_id
        return UpdateRaftVoterResponse(
            error_code=error,
            current_leader=LeaderIdAndEpoch(
                leader_id=-1 if leader is None else leader, leader_epoch=self.quorum.epoch),
        )

    def _append_voters(self, record: VotersRecord) -> int:
        role = self.quorum.role
        assert isinstance(role, Leader)
        offset = self.log.end_offset
        self._append_as_leader([Entry(offset, role.epoch, control=record)])
        return offset

    def _poll_pending_change(self) -> bool:
        """Answer the pending change once its record commits (or its time is up);
        True if a leader that the committed set no longer holds must resign."""
        pending = self._pending_change
        if pending is not None:
            if self.high_watermark > pending.record_offset:
                self._finish_change(ErrorCode.none, None)
            elif self._now >= pending.deadline_ms:
                self._finish_change(ErrorCode.request_timed_out, "Request timed out waiting "
                                    "for the voter change to commit")
        return (
            not self.quorum.is_voter
            and self.high_watermark > self.voter_history.latest_offset
        )

    def _finish_change(self, error: ErrorCode, message: str | None) -> None:
        """Answer the pending change (also with NOT_LEADER_OR_FOLLOWER when
        leadership ends: the record may or may not commit later)."""
        pending, self._pending_change = self._pending_change, None
        if pending is None:
            return
        response: Response = (
            AddRaftVoterResponse(error_code=error, error_message=message)
            if pending.is_add
            else RemoveRaftVoterResponse(error_code=error, error_message=message)
        )
        self._respond(pending.source, pending.correlation_id, response)

    def _pending_change_deadline(self) -> int | None:
        return None if self._pending_change is None else self._pending_change.deadline_ms
