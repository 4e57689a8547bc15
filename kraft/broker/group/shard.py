"""CoordinatorShard: one `__consumer_offsets` partition this broker leads.

A shard holds the groups that hash to its partition and is the only writer
of that partition while its leader epoch lasts. Writes are acks=all: each is
one uncompressed record batch appended as leader, and its completion
callback runs once the high watermark has passed the batch, i.e. every ISR
member holds it, exactly as Produce with acks=all waits. Callbacks run in
log order, so the coordinator applies state changes (offsets committed,
offsets and groups deleted) in the order the log holds them, and a reload
from the log rebuilds the same state.

A write fails, with Kafka's produce error codes, when:
- the shard no longer leads its partition at its epoch (NOT_LEADER_OR_FOLLOWER),
  checked at append and while waiting;
- the ISR is below min.insync.replicas at append (NOT_ENOUGH_REPLICAS) or
  shrinks below it while waiting (NOT_ENOUGH_REPLICAS_AFTER_APPEND);
- the log refuses the batch (its error, e.g. MESSAGE_TOO_LARGE);
- it is not replicated within `timeout_s` (REQUEST_TIMED_OUT; Kafka's
  offsets.commit.timeout.ms).
A failed write is never applied in memory; if its record survives in the
log anyway, the next load applies it, as in Kafka. The coordinator maps the
codes to group errors (coordinator_error).

The pump (`run_pump`) is one trio task per shard that completes due
writes, in order. While the oldest pending write is not due it waits as a
delayed operation in the broker's purgatory on the shard's partition (which
checks it on every append, high watermark, ISR or leadership change), and
until that write's deadline. `close()` fails everything still pending.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import trio
from kio.schema.errors import ErrorCode

from kraft.broker.group.group import ClassicGroup
from kraft.broker.partition import Partition, PartitionKey
from kraft.broker.producer_state import NOT_REQUIRED, NotRequired, VerificationGuard
from kraft.broker.purgatory import DelayedOperationPurgatory
from kraft.log.records import Record, build_batch
from kraft.log.results import AppendOrigin

Callback = Callable[[ErrorCode], None]


@dataclass(slots=True)
class _PendingWrite:
    last_offset: int
    deadline: float  # trio.current_time()
    on_done: Callback


class CoordinatorShard:
    """Groups and ordered writes of one led `__consumer_offsets` partition."""

    def __init__(
        self,
        index: int,
        partition: Partition,
        purgatory: DelayedOperationPurgatory[PartitionKey],
        timeout_s: float,
    ) -> None:
        self.index = index
        self.partition = partition
        self.epoch = partition.leader_epoch
        self.loading = True
        self.failed = False
        self.groups: dict[str, ClassicGroup] = {}
        # Transactional offset commits written but not yet decided by a marker:
        # producer id -> group -> partition -> offset (Kafka's
        # pendingTransactionalOffsetCommits).
        self.pending_txn_offsets: dict[int, dict[str, dict[tuple[str, int], Any]]] = {}
        self.scope = trio.CancelScope()
        self._purgatory = purgatory
        self._timeout_s = timeout_s
        self._pending: deque[_PendingWrite] = deque()
        self._timer: trio.CancelScope | None = None  # the pump's wait, while it waits
        self._closed = False

    @property
    def is_current(self) -> bool:
        """Still the leader at the epoch this shard was loaded for."""
        p = self.partition
        return not self._closed and p.is_leader and p.leader_epoch == self.epoch

    def append(self, records: Sequence[Record], on_done: Callback, *,
               producer: tuple[int, int] | None = None,
               verification: VerificationGuard | NotRequired | None = NOT_REQUIRED) -> None:
        """Write `records` as one batch; `on_done(error)` runs exactly once, in log
        order with every other write of this shard (maybe before this returns).
        `producer` (id, epoch) makes it a transactional batch of that producer
        (TxnOffsetCommit), decided later by the transaction's marker, checked
        against the KIP-890 guard `verification` (Partition.append_as_leader)."""
        if not self.is_current:
            on_done(ErrorCode.not_leader_or_follower)
            return
        if len(self.partition.isr) < self.partition.min_insync_replicas:
            on_done(ErrorCode.not_enough_replicas)
            return
        if producer is None:
            batch = build_batch(records)
            origin = AppendOrigin.CLIENT
        else:
            batch = build_batch(records, producer_id=producer[0], producer_epoch=producer[1],
                                is_transactional=True)
            origin = AppendOrigin.COORDINATOR
        result = self.partition.append_as_leader(memoryview(batch), origin, verification)
        info = result.info
        if int(info.error_code) != 0:
            on_done(ErrorCode(int(info.error_code)))
            return
        if not self._pending and self.partition.high_watermark > info.last_offset:
            on_done(ErrorCode.none)  # a single replica: committed on append
            return
        deadline = trio.current_time() + self._timeout_s
        self._pending.append(_PendingWrite(info.last_offset, deadline, on_done))
        if self._timer is not None and len(self._pending) == 1:
            self._timer.deadline = deadline  # the pump waited with nothing pending

    async def wait_for_pending(self) -> None:
        """Return once every write appended before the call has completed (or failed)."""
        if not self._pending:
            return
        done = trio.Event()
        tail = self._pending[-1]
        self._pending.append(_PendingWrite(tail.last_offset, tail.deadline,
                                           lambda _error: done.set()))
        await done.wait()

    def _head_due(self) -> bool:
        """The oldest pending write can be completed or failed now (its deadline
        aside)."""
        if not self._pending:
            return False
        p = self.partition
        return (p.high_watermark > self._pending[0].last_offset or not self.is_current
                or len(p.isr) < p.min_insync_replicas)

    def _complete_due(self) -> None:
        p = self.partition
        while self._pending:
            head = self._pending[0]
            if p.high_watermark > head.last_offset:
                self._pending.popleft().on_done(ErrorCode.none)
            elif not self.is_current:
                self._fail_all(ErrorCode.not_leader_or_follower)
            elif len(p.isr) < p.min_insync_replicas:
                self._fail_all(ErrorCode.not_enough_replicas_after_append)
            elif trio.current_time() >= head.deadline:
                self._pending.popleft().on_done(ErrorCode.request_timed_out)
            else:
                return

    def _fail_all(self, error: ErrorCode) -> None:
        while self._pending:
            self._pending.popleft().on_done(error)

    async def run_pump(self) -> None:
        """Complete writes as the high watermark moves; runs until cancelled."""
        while True:
            self._complete_due()
            deadline = self._pending[0].deadline if self._pending else math.inf
            # `append` moves the deadline up when a write arrives while none was
            # pending; the purgatory ends the wait when the head is due.
            with trio.CancelScope(deadline=deadline) as self._timer:
                await self._purgatory.wait([self.partition.key], self._head_due)
            self._timer = None

    def close(self) -> None:
        """Stop writing: pending writes fail with NOT_LEADER_OR_FOLLOWER."""
        self._closed = True
        self.scope.cancel()
        self._fail_all(ErrorCode.not_leader_or_follower)


def coordinator_error(append_error: ErrorCode) -> ErrorCode:
    """A write's error as group APIs report it (Kafka 4's handleOperationException;
    NOT_ENOUGH_REPLICAS_AFTER_APPEND as the older coordinator mapped it)."""
    if append_error in (ErrorCode.unknown_topic_or_partition, ErrorCode.not_enough_replicas,
                        ErrorCode.not_enough_replicas_after_append, ErrorCode.request_timed_out):
        return ErrorCode.coordinator_not_available
    if append_error in (ErrorCode.not_leader_or_follower, ErrorCode.kafka_storage_error):
        return ErrorCode.not_coordinator
    if append_error in (ErrorCode.message_too_large, ErrorCode.record_list_too_large,
                        ErrorCode.invalid_fetch_size):
        return ErrorCode.unknown_server_error
    return append_error
