"""Partition: one replica of one topic partition on this broker.

Theory of operation (Kafka's `Partition`): the metadata log decides who leads
each partition at which leader epoch; the replica manager hands every change
to `make_leader` / `make_follower`. As leader the partition appends produce
requests to its log, tracks what each follower has fetched, keeps the high
watermark and decides ISR changes (proposed to the controller elsewhere:
kraft/broker/isr.py); consumers read below the high watermark. As follower it
appends what the replica fetcher (kraft/broker/fetcher.py) brings from the
leader, truncates where the leader's epoch history diverges, and learns the
high watermark from the leader.

High watermark (leader): the smallest log end offset over the "maximal ISR"
(the ISR plus members being added, KIP-497), counting the leader's own; a
follower's log end offset is unknown (-1) until it fetches, so the high
watermark waits for it. On a leader it never moves backwards. A follower's is
min(leader's high watermark, its own log end offset).

In sync (Kafka's rules): a follower is caught up when it fetches at the
leader's log end offset, or at the log end offset the leader had at its
previous fetch; it may join the ISR once it has reached the high watermark
and the start of the leader's epoch; it leaves when it has not been caught up
for replica.lag.time.max.ms.

Waiting: requests that wait for a partition (acks=all produce, fetch long
poll, DeleteRecords, group coordinator writes) are delayed operations in
the broker's purgatory (kraft/broker/purgatory.py) keyed by `key`. After
every change that may complete one -- log end offset (append, truncation),
high watermark, log start offset (DeleteRecords, a follower's report),
leadership, ISR, `min_insync_replicas`, leaving the broker -- the partition
calls `purgatory.check_and_complete(key)`, once the change is whole.

Transactions: the last stable offset (LSO) is min(first unstable offset,
high watermark) (kraft.broker.producer_state says when a transaction stops
being unstable); read_committed consumers read below it. Markers come from
the transaction coordinator (WriteTxnMarkers: `append_marker`) or, on a
follower, from the leader; an abort marker adds an entry to the
aborted-transaction index of its segment (log.txnindex).

The high watermark is stored in the log (`PartitionLog.high_watermark`, as
Kafka's UnifiedLog holds it) so the log manager can bound retention and
cleaning by it and checkpoint it; only this class moves it.

Not thread-safe: owned by the broker's trio loop.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from pathlib import Path

from kio.schema.errors import ErrorCode

from kraft.broker.log_manager import open_log
from kraft.broker.producer_state import (
    NOT_REQUIRED,
    NotRequired,
    ProducerStateManager,
    VerificationGuard,
)
from kraft.broker.purgatory import DelayedOperationPurgatory
from kraft.log.batch import BatchHeader, iter_batches
from kraft.log.config import LogConfig
from kraft.log.control import build_end_txn_marker
from kraft.log.errors import ErrorCode as LogErrorCode
from kraft.log.errors import OffsetOutOfRangeError
from kraft.log.log import AppendOrigin, FetchDataInfo, LogAppendInfo, PartitionLog
from kraft.log.txnindex import AbortedTxn
from kraft.metadata.image import PartitionRegistration

log = logging.getLogger("kraft.broker")

PartitionKey = tuple[uuid.UUID, int]  # (topic id, partition): what the purgatory watches


@dataclass(slots=True)
class ReplicaState:
    """What the leader knows of another replica (from its fetches)."""

    log_end_offset: int = -1
    log_start_offset: int = -1
    last_caught_up_ms: int = 0
    last_fetch_leader_leo: int = -1
    last_fetch_ms: int = 0


class Partition:
    """One local replica; create with `Partition.open`."""

    def __init__(
        self,
        topic: str,
        partition: int,
        topic_id: uuid.UUID,
        partition_log: PartitionLog,
        producer_state: ProducerStateManager,
        node_id: int,
        purgatory: DelayedOperationPurgatory[PartitionKey] | None = None,
        min_insync_replicas: int = 1,
    ) -> None:
        self.topic = topic
        self.partition = partition
        self.topic_id = topic_id
        self.log = partition_log
        self.producer_state = producer_state
        self.node_id = node_id
        self.leader_id = -1
        self.leader_epoch = -1
        self.partition_epoch = -1
        self.replicas: tuple[int, ...] = ()
        self.isr: tuple[int, ...] = ()
        self.remote: dict[int, ReplicaState] = {}
        self.pending_isr: tuple[int, ...] | None = None  # an AlterPartition in flight
        self.purgatory = purgatory
        self._min_insync_replicas = min_insync_replicas
        self.closed = False  # set by retire(): the replica left this broker
        # producer id -> (epoch, base sequence, error) of its batch this broker last
        # refused without appending (NOT_ENOUGH_REPLICAS, NOT_LEADER_OR_FOLLOWER):
        # see `follows_refused`
        self._refused: dict[int, tuple[int, int, ErrorCode]] = {}

    @classmethod
    def open(
        cls,
        directory: Path,
        topic: str,
        partition: int,
        topic_id: uuid.UUID,
        config: LogConfig,
        node_id: int,
        *,
        recovery_point: int = 0,
        log_start_offset: int = 0,
        high_watermark: int = 0,
        producer_id_expiration_ms: int = 86_400_000,
        purgatory: DelayedOperationPurgatory[PartitionKey] | None = None,
    ) -> Partition:
        """Open (recovering) the log in `directory` and rebuild producer state,
        outside any log manager (tests, tools)."""
        partition_log, producer_state = open_log(
            directory, config, recovery_point=recovery_point, log_start_offset=log_start_offset,
            high_watermark=high_watermark, producer_id_expiration_ms=producer_id_expiration_ms)
        return cls(topic, partition, topic_id, partition_log, producer_state, node_id, purgatory)

    @property
    def name(self) -> str:
        return f"{self.topic}-{self.partition}"

    @property
    def key(self) -> PartitionKey:
        """What delayed operations on this partition watch in the purgatory."""
        return (self.topic_id, self.partition)

    @property
    def min_insync_replicas(self) -> int:
        """The topic's effective min.insync.replicas (kept current by the replica
        manager as the topic's and the broker's configs change)."""
        return self._min_insync_replicas

    @min_insync_replicas.setter
    def min_insync_replicas(self, value: int) -> None:
        if value != self._min_insync_replicas:
            self._min_insync_replicas = value
            self._state_changed()  # acks=all waiters re-check the ISR against it

    @property
    def is_leader(self) -> bool:
        """This broker leads it (never once closed: waiters then answer
        NOT_LEADER_OR_FOLLOWER instead of timing out)."""
        return self.leader_id == self.node_id and not self.closed

    @property
    def high_watermark(self) -> int:
        return self.log.high_watermark

    def _set_high_watermark(self, offset: int) -> None:
        self.log.update_high_watermark(offset)
        self.producer_state.on_high_watermark_updated(self.log.high_watermark)

    @property
    def last_stable_offset(self) -> int:
        """Where read_committed consumers stop: the first offset of the oldest
        transaction not yet decided and replicated, at most the high watermark."""
        unstable = self.producer_state.first_unstable_offset
        hwm = self.log.high_watermark
        return hwm if unstable is None else min(unstable, hwm)

    def leader_epoch_error(self, current_leader_epoch: int) -> ErrorCode | None:
        """KIP-320's check of a client's current leader epoch (-1: none given):
        older than ours is FENCED_LEADER_EPOCH, newer UNKNOWN_LEADER_EPOCH."""
        if current_leader_epoch < 0 or current_leader_epoch == self.leader_epoch:
            return None
        if current_leader_epoch < self.leader_epoch:
            return ErrorCode.fenced_leader_epoch
        return ErrorCode.unknown_leader_epoch

    @property
    def log_end_offset(self) -> int:
        return self.log.log_end_offset

    @property
    def log_start_offset(self) -> int:
        return self.log.log_start_offset

    # --- leadership ------------------------------------------------------------------

    def make_leader(self, registration: PartitionRegistration, now_ms: int) -> bool:
        """Lead at the registration's leader epoch; True if we just became leader
        or the epoch changed (False for an ISR-only change, or a stale epoch).

        The new epoch starts at our log end offset, recorded in the leader-epoch
        checkpoint now (Kafka's makeLeader), so OffsetForLeaderEpoch and
        follower truncation see it even before the first append. ISR members
        count as caught up now, so none is dropped before it could fetch.
        """
        if registration.leader_epoch < self.leader_epoch:
            return False
        new_epoch = registration.leader_epoch != self.leader_epoch or not self.is_leader
        changed = new_epoch or registration.partition_epoch != self.partition_epoch
        if registration.partition_epoch != self.partition_epoch:
            self.pending_isr = None  # our AlterPartition took effect, or was overtaken
        self._update(registration)
        if new_epoch:
            self.pending_isr = None
            # last_fetch_ms too, so the silence rule (out_of_sync_replicas) gives
            # every ISR member its full limit from now; the caught-up rule is
            # unchanged by it (last_caught_up_ms is already now for them).
            self.remote = {
                r: ReplicaState(last_caught_up_ms=now_ms, last_fetch_ms=now_ms)
                if r in registration.isr else ReplicaState()
                for r in registration.replicas if r != self.node_id
            }
            if registration.leader_epoch != self.log.latest_epoch:
                self.log.assign_epoch_start_offset(registration.leader_epoch, self.log_end_offset)
            log.debug("node %d: leader of %s in epoch %d (ISR %s)", self.node_id, self.name,
                     registration.leader_epoch, list(registration.isr))
        if changed:
            self._maybe_increment_high_watermark()
            self._state_changed()  # produce waiters re-check the ISR and leadership
        return new_epoch

    # -- a producer's batches after one this broker refused ----------------------

    _MAX_REFUSED = 10_000

    def note_refused(self, header: BatchHeader, error: ErrorCode) -> None:
        """This broker refused `header`'s batch without appending it, with `error`
        (NOT_ENOUGH_REPLICAS as leader, NOT_LEADER_OR_FOLLOWER while not leading)."""
        if header.producer_id < 0:
            return
        if len(self._refused) >= self._MAX_REFUSED and header.producer_id not in self._refused:
            del self._refused[next(iter(self._refused))]
        self._refused[header.producer_id] = (header.producer_epoch, header.base_sequence, error)

    def follows_refused(self, header: BatchHeader) -> ErrorCode | None:
        """The refusal to answer `header`'s batch with, when its sequence does not
        follow what is in the log because this broker refused an earlier batch of
        the same producer epoch; None when the gap has no refusal behind it.

        Why: an idempotent producer pipelines up to 5 batches. When the first few
        are refused (the ISR below min.insync.replicas; or this broker had not yet
        replayed the record that makes it leader) and the cause is gone before a
        later one arrives, that one fails the sequence check
        (OUT_OF_ORDER_SEQUENCE_NUMBER, Kafka's answer). The gap is this broker's
        own refusal, not a lost write, but librdkafka treats OUT_OF_ORDER on a
        batch that is not its oldest in flight as a reason to bump the producer
        epoch, and then re-sends from sequence 0 every batch it still holds,
        including ones an earlier leader had already written: duplicates
        (confluentinc/librdkafka#4953; the Java producer retries instead).
        Answering such a batch with the refusal its predecessor got is as true
        (it is not appended; the producer must send the earlier one first), and
        every client retries it in order. The memory outlives a leadership
        change on purpose: that change is one of the causes.
        """
        refused = self._refused.get(header.producer_id)
        if (refused is not None and refused[0] == header.producer_epoch
                and refused[1] < header.base_sequence):
            return refused[2]
        return None

    def appended_for(self, producer_id: int) -> None:
        """A batch of `producer_id` was appended: its sequence moved on."""
        self._refused.pop(producer_id, None)

    def make_follower(self, registration: PartitionRegistration) -> bool:
        """Follow at the registration's leader epoch; True if the leader or the epoch
        changed, so fetching must (re)start (False for an ISR-only change, or a
        stale epoch)."""
        if registration.leader_epoch < self.leader_epoch:
            return False
        changed = (registration.leader_epoch != self.leader_epoch or self.is_leader
                   or registration.leader != self.leader_id)
        self._update(registration)
        self.remote = {}
        self.pending_isr = None
        if changed:
            log.debug("node %d: follower of %s (leader %d, epoch %d)", self.node_id, self.name,
                     registration.leader, registration.leader_epoch)
            self._state_changed()
        return changed

    def _update(self, registration: PartitionRegistration) -> None:
        self.leader_id = registration.leader
        self.leader_epoch = registration.leader_epoch
        self.partition_epoch = registration.partition_epoch
        self.replicas = registration.replicas
        self.isr = registration.isr

    # --- produce ---------------------------------------------------------------------

    def append_as_leader(
        self, records: memoryview, origin: AppendOrigin = AppendOrigin.CLIENT,
        verification: VerificationGuard | NotRequired | None = NOT_REQUIRED,
    ) -> AppendResult:
        """Append a produce request's records at the current leader epoch.

        The log validates every batch; then, before anything is written, the
        idempotence checks run on batches that carry a producer id: a retry of
        one of the producer's last 5 batches is not written again and answers
        with the original offsets (`duplicate`), a sequence gap or a fenced
        producer epoch is an error. A coordinator's transactional writes
        (`origin` COORDINATOR: TxnOffsetCommit) carry no sequence: only the epoch
        and the transaction state are checked. `verification` (KIP-890): the
        guard a transactional produce was verified with (None: none), checked by
        the producer state when the batch would begin a transaction here; the
        default NOT_REQUIRED checks nothing. Call only while leading.
        """
        pending: list[tuple[int, BatchHeader]] = []
        duplicate: list[bool] = []

        def before_write(batches: list[tuple[int, BatchHeader]]) -> LogAppendInfo | None:
            for _pos, header in batches:
                if header.producer_id < 0:
                    continue
                check = self.producer_state.check(
                    header.producer_id, header.producer_epoch, header.base_sequence,
                    header.last_offset_delta, header.is_transactional,
                    check_sequence=origin is AppendOrigin.CLIENT, verification=verification,
                )
                if check.error is not None:
                    return LogAppendInfo(check.error, check.message,
                                         log_start_offset=self.log.log_start_offset)
                if check.duplicate is not None:
                    dup = check.duplicate
                    duplicate.append(True)
                    return LogAppendInfo(
                        base_offset=dup.first_offset, last_offset=dup.last_offset,
                        max_timestamp=dup.max_timestamp,
                        log_start_offset=self.log.log_start_offset,
                    )
                pending.append((_pos, header))
            return None

        active = self.log.active_segment
        info = self.log.append_as_leader(records, self.leader_epoch, origin=origin,
                                         before_write=before_write)
        if duplicate or info.error_code != LogErrorCode.NONE:
            return AppendResult(info, duplicate=bool(duplicate))
        if self.log.active_segment is not active:
            # Produce carries one batch: the roll came before it, at its base offset.
            self._snapshot_at(self.log.active_segment.base_offset)
        offset = info.base_offset
        for _pos, header in pending:
            timestamp = info.log_append_time if info.log_append_time >= 0 else header.max_timestamp
            self.producer_state.update(
                header.producer_id, header.producer_epoch, header.base_sequence,
                header.last_offset_delta, offset, timestamp, header.is_transactional,
            )
            offset += header.last_offset_delta + 1
        self._maybe_increment_high_watermark()
        self._state_changed()
        return AppendResult(info, duplicate=False)

    def append_marker(
        self,
        producer_id: int,
        producer_epoch: int,
        coordinator_epoch: int,
        commit: bool,
        timestamp: int,
    ) -> LogAppendInfo:
        """Append the coordinator's commit or abort marker for `producer_id` at the
        current leader epoch (WriteTxnMarkers). An older producer epoch is
        INVALID_PRODUCER_EPOCH, an older coordinator epoch
        TRANSACTION_COORDINATOR_FENCED; nothing is written then. Call only while
        leading."""
        verdict = self.producer_state.check_marker(producer_id, producer_epoch, coordinator_epoch)
        if verdict.error is not None:
            return LogAppendInfo(verdict.error, verdict.message,
                                 log_start_offset=self.log.log_start_offset)
        batch = build_end_txn_marker(
            producer_id=producer_id, producer_epoch=producer_epoch,
            coordinator_epoch=coordinator_epoch, commit=commit, timestamp=timestamp)
        active = self.log.active_segment
        info = self.log.append_as_leader(batch, self.leader_epoch, origin=AppendOrigin.COORDINATOR)
        if info.error_code != LogErrorCode.NONE:
            return info
        if self.log.active_segment is not active:
            self._snapshot_at(self.log.active_segment.base_offset)
        header = next(iter_batches(batch))[1]
        completed = self.producer_state.update_batch(
            header._replace(base_offset=info.base_offset, max_timestamp=info.max_timestamp),
            batch)
        if completed is not None and completed.aborted:
            self.log.append_aborted_txn(completed.aborted_txn())
        self._maybe_increment_high_watermark()
        self._state_changed()
        return info

    def collect_aborted_txns(self, fetch_offset: int, upper_bound: int) -> list[AbortedTxn]:
        """Aborted transactions a read_committed fetch of [fetch_offset, upper_bound)
        must report."""
        return self.log.collect_aborted_txns(fetch_offset, upper_bound)

    # --- high watermark ---------------------------------------------------------------

    @property
    def maximal_isr(self) -> frozenset[int]:
        """The ISR the high watermark waits for: members being added count already
        (KIP-497), members being removed still count until the change commits."""
        return frozenset(self.isr) | frozenset(self.pending_isr or ())

    def _maybe_increment_high_watermark(self) -> bool:
        """Move the high watermark up to the smallest ISR log end offset, if higher.
        The caller tells the purgatory (`_state_changed`) once its change is whole."""
        if not self.is_leader:
            return False
        candidate = self.log.log_end_offset
        for replica in self.maximal_isr:
            if replica == self.node_id:
                continue
            state = self.remote.get(replica)
            candidate = min(candidate, state.log_end_offset if state else -1)
        if candidate > self.log.high_watermark:
            self._set_high_watermark(candidate)
            return True
        return False

    # --- leader: followers ----------------------------------------------------------------

    def update_follower_fetch_state(
        self, replica_id: int, fetch_offset: int, now_ms: int, log_start_offset: int = -1
    ) -> None:
        """A follower fetched at `fetch_offset` (so it holds everything below it),
        reporting its log start offset (-1: unknown, Fetch before v5)."""
        state = self.remote.get(replica_id)
        if state is None:
            state = self.remote[replica_id] = ReplicaState()
        # A DeleteRecords may be waiting for the low watermark, a produce for the
        # high watermark.
        changed = log_start_offset != state.log_start_offset
        state.log_start_offset = log_start_offset
        leader_leo = self.log.log_end_offset
        if fetch_offset >= leader_leo:
            state.last_caught_up_ms = max(state.last_caught_up_ms, now_ms)
        elif fetch_offset >= state.last_fetch_leader_leo:
            state.last_caught_up_ms = max(state.last_caught_up_ms, state.last_fetch_ms)
        state.log_end_offset = fetch_offset
        state.last_fetch_leader_leo = leader_leo
        state.last_fetch_ms = now_ms
        if self._maybe_increment_high_watermark() or changed:
            self._state_changed()

    def ready_to_join_isr(self, replica_id: int) -> bool:
        """A replica outside the ISR has caught up with the high watermark and with
        the start of this leader's epoch (Kafka's isFollowerInSync)."""
        if replica_id in self.maximal_isr or replica_id not in self.replicas:
            return False
        state = self.remote.get(replica_id)
        if state is None or state.log_end_offset < 0:
            return False
        latest = self.log.leader_epoch_cache.latest_entry
        epoch_start = latest.start_offset if latest and latest.epoch == self.leader_epoch else 0
        return state.log_end_offset >= max(self.high_watermark, epoch_start)

    def out_of_sync_replicas(self, now_ms: int, lag_ms: int, silence_ms: int = -1) -> list[int]:
        """ISR followers not caught up for more than `lag_ms` and not at this
        leader's log end offset (Kafka's getOutOfSyncReplicas / isCaughtUp), and,
        unless `silence_ms` is -1, those from which no fetch at all has arrived for
        more than `silence_ms`, wherever they are (kraft.replica.fetch.silence.max.ms:
        docs/design.md, failing over, 6)."""
        silent = self.silent_replicas(now_ms, silence_ms)
        leader_leo = self.log.log_end_offset
        out = []
        for r in self.isr:
            if r == self.node_id:
                continue
            state = self.remote.get(r, ReplicaState())
            if r in silent or (state.log_end_offset != leader_leo
                               and now_ms - state.last_caught_up_ms > lag_ms):
                out.append(r)
        return out

    def silent_replicas(self, now_ms: int, silence_ms: int) -> list[int]:
        """ISR followers from which no fetch has arrived for more than `silence_ms`
        (none if it is -1). A new leader counts its ISR as heard at `make_leader`."""
        if silence_ms < 0:
            return []
        return [r for r in self.isr if r != self.node_id
                and now_ms - self.remote.get(r, ReplicaState()).last_fetch_ms > silence_ms]

    @property
    def low_watermark(self) -> int:
        """The lowest log start offset over this leader and its ISR followers: records
        below it are gone from every in-sync replica (Kafka's lowWatermarkIfLeader,
        which takes every replica on a live broker; out-of-sync replicas are left
        out here so one lagging follower does not hold DeleteRecords up)."""
        low = self.log.log_start_offset
        for replica in self.maximal_isr:
            if replica != self.node_id:
                state = self.remote.get(replica)
                low = min(low, state.log_start_offset if state is not None else -1)
        return low

    def delete_records_before(self, offset: int) -> int:
        """DeleteRecords on the leader: raise the log start offset to `offset`, which
        must be at most the high watermark (OffsetOutOfRangeError otherwise); returns
        the new log start offset. Followers follow it from fetch responses."""
        if not 0 <= offset <= self.high_watermark:
            raise OffsetOutOfRangeError(offset, self.log.log_start_offset, self.high_watermark)
        before = self.log.log_start_offset
        start = self.log.delete_records_before(offset)
        if start > before:
            log.info("node %d: DeleteRecords moved the log start offset of %s from %d to %d",
                     self.node_id, self.name, before, start)
        self._state_changed()
        return start

    # --- follower ----------------------------------------------------------------------

    def append_as_follower(self, records: memoryview) -> LogAppendInfo:
        """Append batches fetched from the leader (with the leader's offsets) and
        record their producers. Raises UnexpectedAppendOffsetError when they do
        not start at our log end offset."""
        active = self.log.active_segment
        info = self.log.append_as_follower(records)
        if info.error_code == LogErrorCode.NONE and info.num_batches:
            # A fetch holds many batches and may roll between two of them: snapshot
            # at the new segment's base, once the batches below it are recorded.
            rolled_at = (self.log.active_segment.base_offset
                         if self.log.active_segment is not active else None)
            for pos, header in iter_batches(records, end=info.valid_bytes):
                if rolled_at is not None and header.base_offset >= rolled_at:
                    self._snapshot_at(rolled_at)
                    rolled_at = None
                completed = self.producer_state.update_batch(header, records, pos)
                if completed is not None and completed.aborted:
                    self.log.append_aborted_txn(completed.aborted_txn())
            self._state_changed()
        return info

    def _snapshot_at(self, segment_base: int) -> None:
        """Snapshot the producer state at a new segment's base offset, once every batch
        below it is recorded and none above (Kafka snapshots at every roll), so a
        restart after kill -9 rebuilds it from there rather than from the last
        clean shutdown, and retention of older segments loses nothing it needs."""
        if segment_base >= self.producer_state.map_end_offset:
            self.producer_state.take_snapshot(segment_base, durable=False, in_background=True)

    def update_follower_high_watermark(self, leader_high_watermark: int) -> None:
        hwm = min(leader_high_watermark, self.log.log_end_offset)
        if hwm != self.high_watermark:
            self._set_high_watermark(hwm)
            self._state_changed()

    def truncate_to(self, offset: int) -> None:
        """Follower truncation (the leader's log diverged from ours at `offset`)."""
        high_watermark = self.high_watermark
        if offset < high_watermark:
            log.warning("node %d: truncating %s to %d, below its high watermark %d",
                        self.node_id, self.name, offset, high_watermark)
        if self.log.truncate_to(offset):
            self.producer_state.truncate_to(self.log.log_end_offset, self.log)
        # An epoch that starts at the log end offset holds no data (we led it
        # briefly, or a truncation emptied it). Keeping it would make us report
        # it as our last fetched epoch, the leader would answer the same
        # divergence again, and the truncation above would change nothing: a
        # livelock. Drop it; the next fetch then names our real last epoch.
        self.log.leader_epoch_cache.truncate_from_end(self.log.log_end_offset)
        self._set_high_watermark(min(high_watermark, self.log.log_end_offset))
        self._state_changed()

    def truncate_fully_and_start_at(self, offset: int) -> None:
        """Empty the log and restart it at `offset` (we fell below the leader's log start)."""
        self.log.truncate_fully_and_start_at(offset)
        self.producer_state.truncate_fully()
        self._set_high_watermark(offset)
        self._state_changed()

    def _state_changed(self) -> None:
        """Let the delayed operations watching this partition check again (call once
        a change is whole: their checks read this partition)."""
        if self.purgatory is not None:
            self.purgatory.check_and_complete(self.key)

    # --- fetch -----------------------------------------------------------------------

    def read(
        self, fetch_offset: int, max_bytes: int, *, min_one_message: bool,
        read_committed: bool = False,
    ) -> FetchDataInfo:
        """Records from `fetch_offset` below the high watermark (consumers), or
        below the last stable offset for `read_committed`.

        Raises log.errors.OffsetOutOfRangeError outside [log start, log end].
        """
        bound = self.last_stable_offset if read_committed else self.high_watermark
        return self.log.read(fetch_offset, max_bytes, bound, min_one_message=min_one_message)

    def retire(self) -> None:
        """The replica left this broker: it is no longer led here, and waiters
        (acks=all, long polls, DeleteRecords) are completed to see so. The log is
        closed by its owner (the log manager), or by `close`."""
        self.closed = True
        self._state_changed()

    def close(self) -> None:
        self.retire()
        self.log.close()


@dataclass(frozen=True, slots=True)
class AppendResult:
    """A leader append's outcome; `duplicate` means an idempotent retry that was
    not written again (the offsets are the original batch's)."""

    info: LogAppendInfo
    duplicate: bool
