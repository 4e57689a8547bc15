"""Log replication half of `RaftCore`: fetch serving, fetching, flushing,
the high watermark, committed-entry delivery and snapshots.

Split out of `core.py` by concern; `ReplicationMixin` is only ever used as a
base of `RaftCore` and works on its state (declared below for readers and
type checkers).

Durability bookkeeping. `_durable_end` is the end offset the driver has
confirmed flushed. A flush request is answered by `flushed(offset)`; if the
log was truncated below `offset` after the request was issued, that answer
proves only the prefix below the truncation point, so each outstanding
request carries a cap lowered by every truncation.

Leader side: a Fetch is validated against the log (`validate_offset_and_epoch`).
A valid one records the replica's progress and returns records; one with
nothing to return (and whose sender already knows our high watermark) is
parked until new records are appended, the high watermark moves, or
`max_wait_ms` passes.

Follower side: one Fetch (or FetchSnapshot) in flight to the leader. A
voter sends its next Fetch only once everything it appended is flushed, so
the fetch offset it reports (and the leader counts toward the high
watermark) is durable. The follower's high watermark is
min(log end offset, leader's high watermark) and never moves back.
"""

from __future__ import annotations

import random
from collections import deque
from typing import TYPE_CHECKING

from kraft.raft.config import QuorumConfig
from kraft.raft.log import (
    ReplicatedLog,
    ValidationKind,
    diverging_truncation_offset,
    validate_offset_and_epoch,
)
from kraft.raft.messages import (
    EpochEndOffset,
    ErrorCode,
    FetchRequest,
    FetchResponse,
    FetchSnapshotRequest,
    FetchSnapshotResponse,
    LeaderIdAndEpoch,
    Outbound,
    Request,
    Response,
    SnapshotId,
)
from kraft.raft.progress import FetchPurgatory, LeaderProgress, ParkedFetch
from kraft.raft.requests import RequestManager
from kraft.raft.state import Follower, Leader, QuorumState, Role, Unattached
from kraft.raft.types import NO_LEADER, Entry, OffsetAndEpoch, QuorumRecord, RaftInvariantError
from kraft.raft.voter_set import VoterSetHistory


class ReplicationMixin:
    # State owned by RaftCore, used here.
    config: QuorumConfig
    log: ReplicatedLog
    rng: random.Random
    quorum: QuorumState
    requests: RequestManager
    local_id: int
    voters: tuple[int, ...]
    _now: int
    _messages: list[Outbound]
    _fetch_deadline: int | None
    _progress: LeaderProgress | None
    _purgatory: FetchPurgatory
    _lost_leader: tuple[int, int] | None
    voter_history: VoterSetHistory

    if TYPE_CHECKING:

        def _quorum_records_appended(self, entries: list[Entry] | tuple[Entry, ...]) -> None: ...

        def _voters_changed(self) -> None: ...

        def _snapshot_installed_records(self, records: tuple[QuorumRecord, ...]) -> None: ...

        def _send(self, destination: int, request: Request) -> None: ...

        def _maybe_send_update_voter(self, role: Follower) -> bool: ...

        def _respond(self, destination: int, correlation_id: int, response: Response) -> None: ...

        def _settle(self) -> None: ...

    def _init_replication(self) -> None:
        log = self.log
        latest = log.latest_snapshot_id()
        if latest is not None and log.log_start_offset < latest.offset <= log.end_offset:
            # A crash between storing a snapshot and advancing the log start.
            log.delete_before_snapshot(latest)
        self._high_watermark = log.log_start_offset
        self._durable_end = log.end_offset
        self._flush_to: int | None = None
        self._outstanding_flushes: deque[list[int]] = deque()  # [requested, cap]
        self._delivered_end = log.log_start_offset
        self._snapshot_loaded: OffsetAndEpoch | None = log.earliest_snapshot_id()
        self._bytes_since_snapshot = 0
        self._snapshot_requested = False
        self._has_fetched = False
        self._snapshot_download: tuple[OffsetAndEpoch, int] | None = None
        self._parked_dirty = False
        self._last_fetch: tuple[int, FetchRequest, int] | None = None  # (leader, request, sent at)

    def _entered_replication_role(self) -> None:
        self._has_fetched = False
        self._snapshot_download = None
        self._parked_dirty = False
        self._last_fetch = None

    @property
    def high_watermark(self) -> int:
        """Offsets below this are committed (and never change)."""
        return self._high_watermark

    @property
    def durable_end_offset(self) -> int:
        """End offset the driver has confirmed flushed."""
        return self._durable_end

    # --- flushing -------------------------------------------------------------

    def _request_flush(self) -> None:
        self._flush_to = self.log.end_offset

    def _take_flush_request(self) -> int | None:
        if self._flush_to is None:
            return None
        offset = min(self._flush_to, self.log.end_offset)
        self._flush_to = None
        if offset <= self._durable_end:
            return None
        self._outstanding_flushes.append([offset, offset])
        return offset

    def _acknowledge_flush(self, end_offset: int) -> None:
        outstanding = self._outstanding_flushes
        while outstanding and outstanding[0][0] <= end_offset:
            requested, cap = outstanding.popleft()
            self._durable_end = max(self._durable_end, min(requested, cap))
        self._durable_end = min(self._durable_end, self.log.end_offset)
        if self._progress is not None and self._progress.update_local_end_offset(
            self._durable_end, self._now
        ):
            self._high_watermark_advanced()

    def _truncate(self, end_offset: int) -> None:
        if end_offset < self._high_watermark:
            raise RaftInvariantError(
                f"node {self.local_id}: truncation to {end_offset} below the high "
                f"watermark {self._high_watermark}"
            )
        self.log.truncate_to(end_offset)
        if self.voter_history.truncated(end_offset):
            self._voters_changed()
        self._durable_end = min(self._durable_end, end_offset)
        for pending in self._outstanding_flushes:
            pending[1] = min(pending[1], end_offset)

    # --- leader: appending and serving fetches -----------------------------------

    def _append_as_leader(self, entries: list[Entry]) -> None:
        self.log.append(entries)
        self._quorum_records_appended(entries)
        self._request_flush()
        self._parked_dirty = True

    def _high_watermark_advanced(self) -> None:
        assert self._progress is not None
        self._high_watermark = self._progress.high_watermark
        self._parked_dirty = True

    def _current_leader(self) -> LeaderIdAndEpoch:
        leader = self.quorum.leader_id
        return LeaderIdAndEpoch(
            leader_id=NO_LEADER if leader is None else leader, leader_epoch=self.quorum.epoch
        )

    def _fetch_error(self, error: ErrorCode) -> FetchResponse:
        return FetchResponse(
            error_code=error,
            high_watermark=-1,
            log_start_offset=-1,
            current_leader=self._current_leader(),
        )

    def _fetch_snapshot_error(
        self, request: FetchSnapshotRequest, error: ErrorCode
    ) -> FetchSnapshotResponse:
        return FetchSnapshotResponse(
            error_code=error, snapshot_id=request.snapshot_id, current_leader=self._current_leader()
        )

    def _validate_leader_only(self, epoch: int) -> ErrorCode | None:
        if epoch < self.quorum.epoch:
            return ErrorCode.fenced_leader_epoch
        if epoch > self.quorum.epoch:
            return ErrorCode.unknown_leader_epoch
        if not isinstance(self.quorum.role, Leader):
            return ErrorCode.not_leader_or_follower
        return None

    def _handle_fetch_request(
        self, source: int, correlation_id: int, request: FetchRequest
    ) -> FetchResponse | None:
        """Answer now, or park (return None) when there is nothing new yet."""
        if (
            request.max_wait_ms < 0
            or request.fetch_offset < 0
            or request.last_fetched_epoch < 0
            or request.last_fetched_epoch > request.current_leader_epoch
        ):
            return self._fetch_error(ErrorCode.invalid_request)
        error = self._validate_leader_only(request.current_leader_epoch)
        if error is not None:
            return self._fetch_error(error)
        assert self._progress is not None
        self._progress.record_voter_fetch(request.replica_id, self._now)
        response = self._try_complete_fetch(request)
        if (
            response.records
            or response.diverging_epoch is not None
            or response.snapshot_id is not None
            or request.max_wait_ms == 0
            or request.high_watermark < self._high_watermark
        ):
            return response
        self._purgatory.park(
            ParkedFetch(self._now + request.max_wait_ms, source, correlation_id, request)
        )
        return None

    def _try_complete_fetch(self, request: FetchRequest) -> FetchResponse:
        assert self._progress is not None
        log = self.log
        valid = validate_offset_and_epoch(log, request.fetch_offset, request.last_fetched_epoch)
        position = valid.offset_and_epoch
        if valid.kind is ValidationKind.DIVERGING:
            return FetchResponse(
                error_code=ErrorCode.none,
                high_watermark=self._high_watermark,
                log_start_offset=log.log_start_offset,
                current_leader=self._current_leader(),
                diverging_epoch=EpochEndOffset(epoch=position.epoch, end_offset=position.offset),
            )
        if valid.kind is ValidationKind.SNAPSHOT:
            return FetchResponse(
                error_code=ErrorCode.none,
                high_watermark=self._high_watermark,
                log_start_offset=log.log_start_offset,
                current_leader=self._current_leader(),
                snapshot_id=SnapshotId(end_offset=position.offset, epoch=position.epoch),
            )
        records: tuple[Entry, ...] = ()
        if request.fetch_offset < log.end_offset:
            max_bytes = min(request.partition_max_bytes, self.config.fetch_max_bytes)
            records = log.read(request.fetch_offset, max_bytes)
        if self._progress.update_replica(
            request.replica_id, request.fetch_offset, log.end_offset, self._now,
            request.replica_directory_id,
        ):
            self._high_watermark_advanced()
        return FetchResponse(
            error_code=ErrorCode.none,
            high_watermark=self._high_watermark,
            log_start_offset=log.log_start_offset,
            current_leader=self._current_leader(),
            records=records,
        )

    def _complete_parked_fetches(self) -> None:
        """Answer parked fetches: all of them when there is news (new records or
        a new high watermark), otherwise those whose wait is over."""
        if not isinstance(self.quorum.role, Leader):
            return
        if self._parked_dirty:
            ready = self._purgatory.take_all()
            self._parked_dirty = False
        else:
            ready = self._purgatory.take_expired(self._now)
        for parked in ready:
            self._respond(
                parked.source, parked.correlation_id, self._try_complete_fetch(parked.request)
            )

    def _handle_fetch_snapshot_request(
        self, request: FetchSnapshotRequest
    ) -> FetchSnapshotResponse:
        error = self._validate_leader_only(request.current_leader_epoch)
        if error is not None:
            return self._fetch_snapshot_error(request, error)
        assert self._progress is not None
        snapshot_id = OffsetAndEpoch(request.snapshot_id.end_offset, request.snapshot_id.epoch)
        size = self.log.snapshot_size(snapshot_id)
        if size is None:
            return self._fetch_snapshot_error(request, ErrorCode.snapshot_not_found)
        if request.position < 0 or request.position > size or (request.position == size > 0):
            return self._fetch_snapshot_error(request, ErrorCode.position_out_of_range)
        self._progress.record_voter_fetch(request.replica_id, self._now)
        max_bytes = min(request.max_bytes, self.config.fetch_snapshot_max_bytes)
        return FetchSnapshotResponse(
            error_code=ErrorCode.none,
            snapshot_id=request.snapshot_id,
            current_leader=self._current_leader(),
            size=size,
            position=request.position,
            unaligned_records=self.log.read_snapshot(snapshot_id, request.position, max_bytes),
        )

    # --- follower: fetching -----------------------------------------------------

    def _send_fetch_requests(self, role: Follower | Unattached) -> None:
        """Followers fetch from their leader (snapshot chunks while downloading);
        observers without a leader, or whose leader went quiet, ask a random voter."""
        now = self._now
        searching = not self.quorum.is_voter and (
            isinstance(role, Unattached)
            or (self._fetch_deadline is not None and now >= self._fetch_deadline)
        )
        if searching:
            if self.requests.has_in_flight():
                return
            targets = self.voters or self.config.bootstrap_servers
            ready = [v for v in targets if v != self.local_id and self.requests.is_ready(v, now)]
            if ready:
                self._send(self.rng.choice(ready), self._fetch_request())
            return
        if not isinstance(role, Follower) or not self.requests.is_ready(role.leader_id, now):
            return
        if self._maybe_send_update_voter(role):  # kraft.raft.membership
            return
        if self._snapshot_download is not None:
            snapshot_id, position = self._snapshot_download
            self._send(
                role.leader_id,
                FetchSnapshotRequest(
                    cluster_id=self.config.cluster_id,
                    replica_id=self.local_id,
                    max_bytes=self.config.fetch_snapshot_max_bytes,
                    current_leader_epoch=role.epoch,
                    snapshot_id=SnapshotId(end_offset=snapshot_id.offset, epoch=snapshot_id.epoch),
                    position=position,
                ),
            )
        elif (
            (not self.quorum.is_voter and self.voter_history.kraft_version == 0)
            or self._durable_end >= self.log.end_offset
        ):
            # Voters flush before fetching: the offset they report counts toward
            # the high watermark. With kraft.version 1 observers do too: the
            # leader may make one a voter, and count its next fetch, before the
            # observer has even fetched the VotersRecord that says so.
            request = self._fetch_request()
            self._send(role.leader_id, request)
            self._last_fetch = (role.leader_id, request, now)
        elif (keepalive := self._keepalive_fetch(role)) is not None:
            self._send(role.leader_id, keepalive)

    def _keepalive_due_ms(self, role: Follower) -> int | None:
        """When the fetch held back by our own flush should be repeated as a
        keepalive (see `_keepalive_fetch`), or None when no fetch is held."""
        last = self._last_fetch
        if (
            last is None
            or last[0] != role.leader_id
            or last[1].current_leader_epoch != role.epoch
            or last[1].fetch_offset > self._durable_end  # truncated below it since
            or self._durable_end >= self.log.end_offset
        ):
            return None
        return last[2] + self.config.fetch_timeout_ms // 4

    def _keepalive_fetch(self, role: Follower) -> FetchRequest | None:
        """The last fetch again, while our own flush holds the next one back.

        Why: Fetch is also KRaft's heartbeat. A follower that waits for a slow
        fsync (seconds, when another process floods the same disk with writes)
        sends nothing, so its fetch timeout starts an election and, with every
        voter's disk slow at once, the leader's check-quorum makes it resign:
        a failover of a leader that is alive. Repeating the last fetch every
        quarter of the fetch timeout tells the leader the truth (its fetch
        offset was durable when first sent), so the leader's check-quorum hears
        from us; its answer shows the leader alive, which resets our fetch
        timeout (`_handle_fetch_response`), and its records, which we already
        hold, are dropped. Nothing about what is durable or committed changes.
        """
        due = self._keepalive_due_ms(role)
        if due is None or self._now < due:
            return None
        leader, request, _ = self._last_fetch  # type: ignore[misc]
        self._last_fetch = (leader, request, self._now)
        return request

    def _fetch_request(self) -> FetchRequest:
        return FetchRequest(
            cluster_id=self.config.cluster_id,
            replica_id=self.local_id,
            replica_epoch=-1,
            max_wait_ms=self.config.fetch_max_wait_ms,
            current_leader_epoch=self.quorum.epoch,
            fetch_offset=self.log.end_offset,
            last_fetched_epoch=self.log.last_fetched_epoch(),
            partition_max_bytes=self.config.fetch_max_bytes,
            high_watermark=self._high_watermark,
            replica_directory_id=self.config.directory_id,
        )

    def _is_from_leader(self, source: int, request_epoch: int) -> Follower | None:
        role: Role = self.quorum.role
        if isinstance(role, Follower) and role.leader_id == source and request_epoch == role.epoch:
            return role
        return None

    def _fetched_from_leader(self) -> None:
        self._has_fetched = True
        self._lost_leader = None
        self._fetch_deadline = self._now + self.config.fetch_timeout_ms

    def _handle_fetch_response(
        self, source: int, request: FetchRequest, response: FetchResponse
    ) -> bool:
        if response.error_code != ErrorCode.none:
            return False
        if self._is_from_leader(source, request.current_leader_epoch) is None:
            return True
        log = self.log
        if request.fetch_offset != log.end_offset:
            # A keepalive (or an answer overtaken by a truncation): the leader
            # of our epoch answered, so it is alive; the records are not for us.
            self._fetched_from_leader()
            return True
        # The leader's answer supersedes a snapshot download in progress (an
        # observer that lost its leader may have fetched elsewhere meanwhile).
        self._snapshot_download = None
        if response.diverging_epoch is not None:
            diverging = OffsetAndEpoch(
                response.diverging_epoch.end_offset, response.diverging_epoch.epoch
            )
            self._truncate(diverging_truncation_offset(log, diverging))
        elif response.snapshot_id is not None:
            snapshot_id = OffsetAndEpoch(
                response.snapshot_id.end_offset, response.snapshot_id.epoch
            )
            log.begin_snapshot_download(snapshot_id)
            self._snapshot_download = (snapshot_id, 0)
        else:
            if response.records:
                if response.records[0].offset != log.end_offset:
                    raise RaftInvariantError(
                        f"node {self.local_id}: records at {response.records[0].offset} "
                        f"for a fetch at {log.end_offset}"
                    )
                log.append(response.records)
                self._quorum_records_appended(response.records)
                self._request_flush()
            if response.high_watermark >= 0:
                self._advance_follower_high_watermark(min(log.end_offset, response.high_watermark))
        self._fetched_from_leader()
        return True

    def _advance_follower_high_watermark(self, offset: int) -> None:
        if offset > self._high_watermark:
            self._high_watermark = offset

    def _handle_fetch_snapshot_response(
        self, source: int, request: FetchSnapshotRequest, response: FetchSnapshotResponse
    ) -> bool:
        if self._is_from_leader(source, request.current_leader_epoch) is None:
            return True
        download = self._snapshot_download
        if download is None or download[0].offset != request.snapshot_id.end_offset:
            return True
        if response.error_code in (ErrorCode.snapshot_not_found, ErrorCode.position_out_of_range):
            # The leader replaced the snapshot: start over from a Fetch.
            self._snapshot_download = None
            return True
        if response.error_code != ErrorCode.none:
            return False
        snapshot_id, position = download
        if response.snapshot_id != request.snapshot_id or response.position != position:
            raise RaftInvariantError(
                f"node {self.local_id}: snapshot chunk {response.snapshot_id}@{response.position}"
                f" while downloading {snapshot_id}@{position}"
            )
        size = self.log.append_snapshot_chunk(snapshot_id, response.unaligned_records)
        if size > response.size:
            raise RaftInvariantError(f"snapshot {snapshot_id} grew past its size {response.size}")
        self._snapshot_download = (snapshot_id, size)
        if size == response.size:
            self._install_snapshot(snapshot_id)
        self._fetched_from_leader()
        return True

    def _install_snapshot(self, snapshot_id: OffsetAndEpoch) -> None:
        self.log.install_snapshot(snapshot_id)
        self._snapshot_installed_records(self.log.snapshot_quorum_records(snapshot_id))
        self._snapshot_download = None
        self._durable_end = snapshot_id.offset
        for pending in self._outstanding_flushes:
            pending[1] = min(pending[1], snapshot_id.offset)
        self._high_watermark = max(self._high_watermark, snapshot_id.offset)
        self._delivered_end = snapshot_id.offset
        self._snapshot_loaded = snapshot_id
        self._bytes_since_snapshot = 0
        self._snapshot_requested = False

    # --- the listener: committed entries and snapshots ------------------------------

    def _has_committed_to_deliver(self) -> bool:
        return self._snapshot_loaded is not None or self._high_watermark > self._delivered_end

    def _take_committed(
        self,
    ) -> tuple[tuple[Entry, ...], OffsetAndEpoch | None, OffsetAndEpoch | None]:
        loaded, self._snapshot_loaded = self._snapshot_loaded, None
        entries: tuple[Entry, ...] = ()
        if self._high_watermark > self._delivered_end:
            read = self.log.read(self._delivered_end, self.config.max_committed_bytes_per_ready)
            entries = tuple(e for e in read if e.offset < self._high_watermark)
            self._delivered_end = entries[-1].offset + 1
            self._bytes_since_snapshot += sum(e.size_in_bytes for e in entries)
        request = None
        if (
            entries
            and not self._snapshot_requested
            and self._bytes_since_snapshot >= self.config.log_max_record_bytes_between_snapshots
        ):
            request = OffsetAndEpoch(self._delivered_end, entries[-1].epoch)
            self._snapshot_requested = True
        return entries, loaded, request

    def snapshot_created(self, end_offset: int, epoch: int, now_ms: int) -> None:
        """The listener stored a snapshot `(end_offset, epoch)` in the log.

        It must cover only delivered (hence committed) entries and `epoch` must
        be that of the entry before `end_offset`; raises ValueError otherwise.
        The log start then advances to it, so followers behind it will be sent
        the snapshot.
        """
        self._now = now_ms
        snapshot_id = OffsetAndEpoch(end_offset, epoch)
        log = self.log
        if end_offset > self._delivered_end:
            raise ValueError(f"snapshot {snapshot_id} covers undelivered offsets")
        if log.snapshot_size(snapshot_id) is None:
            raise ValueError(f"snapshot {snapshot_id} is not stored in the log")
        if end_offset > log.log_start_offset:
            last = log.read(end_offset - 1, 0)[0]
            if last.epoch != epoch:
                raise ValueError(
                    f"snapshot {snapshot_id}: entry {last.offset} has epoch {last.epoch}"
                )
            log.delete_before_snapshot(snapshot_id)
            self.voter_history.compact_before(log.log_start_offset)
        self._bytes_since_snapshot = 0
        self._snapshot_requested = False
        self._settle()
