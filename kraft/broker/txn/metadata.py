"""A transactional id's state and the transitions Kafka allows (Kafka's
TransactionMetadata and TransactionState).

States (ids as in `__transaction_state`)::

    Empty(0) -> Ongoing(1)                    AddPartitionsToTxn / AddOffsetsToTxn
    Ongoing -> PrepareCommit(2) | PrepareAbort(3)   EndTxn, or the coordinator
    PrepareCommit -> CompleteCommit(4)        once every partition has its marker
    PrepareAbort -> CompleteAbort(5)
    Complete*, Empty -> Empty                 InitProducerId (epoch bump)
    Complete*, Empty -> Ongoing               the next transaction
    any -> Dead(6)                            expiry of the transactional id
    PrepareEpochFence(7)                      Kafka's transient fencing state; we
                                              go straight to PrepareAbort with the
                                              bumped epoch (what Kafka then does)

A change is made in two steps, as Kafka's: `prepare_*` returns the new
state (a `TxnTransit`) and marks the metadata `pending` (any other request
meanwhile gets CONCURRENT_TRANSACTIONS); once the record is committed to
`__transaction_state`, `complete(transit)` applies it; if the write fails,
`abort_pending()` leaves the old state in place. Pure: time is passed in.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from kraft.broker.txn.records import TxnLogValue

MAX_EPOCH = 32767  # Short.MAX_VALUE
TopicPartition = tuple[str, int]


class TxnState(enum.IntEnum):
    EMPTY = 0
    ONGOING = 1
    PREPARE_COMMIT = 2
    PREPARE_ABORT = 3
    COMPLETE_COMMIT = 4
    COMPLETE_ABORT = 5
    DEAD = 6
    PREPARE_EPOCH_FENCE = 7

    @property
    def kafka_name(self) -> str:
        """Kafka's name (DescribeTransactions, ListTransactions)."""
        return "".join(w.capitalize() for w in self.name.split("_"))


COMPLETED = (TxnState.COMPLETE_COMMIT, TxnState.COMPLETE_ABORT, TxnState.EMPTY)
PREPARED = (TxnState.PREPARE_COMMIT, TxnState.PREPARE_ABORT)


@dataclass(frozen=True, slots=True)
class TxnTransit:
    """The state a write will make current."""

    producer_id: int
    last_producer_id: int
    producer_epoch: int
    last_producer_epoch: int
    timeout_ms: int
    state: TxnState
    partitions: frozenset[TopicPartition]
    start_ms: int
    update_ms: int

    def to_value(self) -> TxnLogValue:
        return TxnLogValue(self.producer_id, self.producer_epoch, self.timeout_ms,
                           int(self.state), tuple(sorted(self.partitions)), self.update_ms,
                           self.start_ms, self.last_producer_id)


@dataclass(slots=True)
class TransactionMetadata:
    """One transactional id as its coordinator holds it."""

    transactional_id: str
    producer_id: int
    last_producer_id: int
    producer_epoch: int
    last_producer_epoch: int
    timeout_ms: int
    state: TxnState
    partitions: set[TopicPartition] = field(default_factory=set)
    start_ms: int = -1
    update_ms: int = -1
    pending: TxnTransit | None = None

    @classmethod
    def from_value(cls, transactional_id: str, value: TxnLogValue) -> TransactionMetadata:
        state = TxnState(value.status)
        return cls(transactional_id, value.producer_id, value.previous_producer_id,
                   value.producer_epoch, -1, value.timeout_ms, state, set(value.partitions),
                   value.start_ms, value.last_update_ms)

    def _transit(self, **changes: object) -> TxnTransit:
        base = dict(producer_id=self.producer_id, last_producer_id=self.last_producer_id,
                    producer_epoch=self.producer_epoch,
                    last_producer_epoch=self.last_producer_epoch, timeout_ms=self.timeout_ms,
                    state=self.state, partitions=frozenset(self.partitions),
                    start_ms=self.start_ms, update_ms=self.update_ms)
        base.update(changes)
        transit = TxnTransit(**base)  # type: ignore[arg-type]
        self.pending = transit
        return transit

    @property
    def epoch_exhausted(self) -> bool:
        """The epoch cannot be bumped again (Kafka: >= Short.MAX_VALUE - 1)."""
        return self.producer_epoch >= MAX_EPOCH - 1

    def prepare_init(self, timeout_ms: int, now_ms: int, new_producer_id: int | None
                     ) -> TxnTransit:
        """InitProducerId on a completed transaction: the next epoch (or, with
        `new_producer_id` when the epoch is exhausted, a new id at epoch 0)."""
        if new_producer_id is not None:
            return self._transit(producer_id=new_producer_id, last_producer_id=self.producer_id,
                                 producer_epoch=0, last_producer_epoch=-1,
                                 timeout_ms=timeout_ms, state=TxnState.EMPTY,
                                 partitions=frozenset(), start_ms=-1, update_ms=now_ms)
        return self._transit(producer_epoch=self.producer_epoch + 1,
                             last_producer_epoch=self.producer_epoch, timeout_ms=timeout_ms,
                             state=TxnState.EMPTY, partitions=frozenset(), start_ms=-1,
                             update_ms=now_ms)

    def prepare_add_partitions(self, partitions: set[TopicPartition], now_ms: int
                               ) -> TxnTransit:
        start = now_ms if self.state in COMPLETED else self.start_ms
        return self._transit(state=TxnState.ONGOING,
                             partitions=frozenset(self.partitions | partitions),
                             start_ms=start, update_ms=now_ms)

    def prepare_end(self, commit: bool, now_ms: int, *, bump_epoch: bool = False
                    ) -> TxnTransit:
        """Ongoing -> PrepareCommit/PrepareAbort; `bump_epoch` fences the current
        producer first (a timed-out transaction, a new incarnation)."""
        epoch = self.producer_epoch + 1 if bump_epoch else self.producer_epoch
        last = self.producer_epoch if bump_epoch else self.last_producer_epoch
        return self._transit(producer_epoch=epoch, last_producer_epoch=last,
                             state=TxnState.PREPARE_COMMIT if commit else TxnState.PREPARE_ABORT,
                             update_ms=now_ms)

    def prepare_complete(self, now_ms: int) -> TxnTransit:
        """PrepareCommit/PrepareAbort -> CompleteCommit/CompleteAbort (markers written)."""
        done = (TxnState.COMPLETE_COMMIT if self.state is TxnState.PREPARE_COMMIT
                else TxnState.COMPLETE_ABORT)
        return self._transit(state=done, partitions=frozenset(), update_ms=now_ms)

    def prepare_dead(self, now_ms: int) -> TxnTransit:
        return self._transit(state=TxnState.DEAD, partitions=frozenset(), update_ms=now_ms)

    def complete(self, transit: TxnTransit) -> None:
        """The write of `transit` is committed: make it current."""
        self.producer_id = transit.producer_id
        self.last_producer_id = transit.last_producer_id
        self.producer_epoch = transit.producer_epoch
        self.last_producer_epoch = transit.last_producer_epoch
        self.timeout_ms = transit.timeout_ms
        self.state = transit.state
        self.partitions = set(transit.partitions)
        self.start_ms = transit.start_ms
        self.update_ms = transit.update_ms
        if self.pending is transit:
            self.pending = None

    def abort_pending(self, transit: TxnTransit) -> None:
        if self.pending is transit:
            self.pending = None
