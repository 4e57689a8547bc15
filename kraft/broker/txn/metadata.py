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

Transaction version 2 (KIP-890 part 2; `client_tv` 2, set by EndTxn v5 and by
partitions a broker adds for Produce v12+): every commit or abort bumps the
producer epoch at Prepare, so the markers and the next transaction carry the
new epoch; when the epoch is exhausted a new producer id is allocated at
Prepare (`next_producer_id`) and becomes current, at epoch 0, with Complete.

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
    next_producer_id: int = -1
    client_tv: int = 0

    def to_value(self) -> TxnLogValue:
        return TxnLogValue(self.producer_id, self.producer_epoch, self.timeout_ms,
                           int(self.state), tuple(sorted(self.partitions)), self.update_ms,
                           self.start_ms, self.last_producer_id, self.next_producer_id,
                           self.client_tv)


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
    next_producer_id: int = -1
    client_tv: int = 0

    @classmethod
    def from_value(cls, transactional_id: str, value: TxnLogValue) -> TransactionMetadata:
        state = TxnState(value.status)
        return cls(transactional_id, value.producer_id, value.previous_producer_id,
                   value.producer_epoch, -1, value.timeout_ms, state, set(value.partitions),
                   value.start_ms, value.last_update_ms, None, value.next_producer_id,
                   value.client_transaction_version)

    @property
    def tv2(self) -> bool:
        """The current transaction follows transaction version 2 (epoch bump per end)."""
        return self.client_tv >= 2

    def _transit(self, **changes: object) -> TxnTransit:
        base = dict(producer_id=self.producer_id, last_producer_id=self.last_producer_id,
                    producer_epoch=self.producer_epoch,
                    last_producer_epoch=self.last_producer_epoch, timeout_ms=self.timeout_ms,
                    state=self.state, partitions=frozenset(self.partitions),
                    start_ms=self.start_ms, update_ms=self.update_ms,
                    next_producer_id=self.next_producer_id, client_tv=self.client_tv)
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

    def prepare_add_partitions(self, partitions: set[TopicPartition], now_ms: int,
                               client_tv: int | None = None) -> TxnTransit:
        """-> Ongoing with `partitions` added; a new transaction takes `client_tv`
        (None: keep the id's)."""
        begins = self.state in COMPLETED
        start = now_ms if begins else self.start_ms
        tv = client_tv if begins and client_tv is not None else self.client_tv
        if not begins and client_tv is not None:
            tv = max(tv, client_tv)
        return self._transit(state=TxnState.ONGOING,
                             partitions=frozenset(self.partitions | partitions),
                             start_ms=start, update_ms=now_ms, client_tv=tv)

    def prepare_end(self, commit: bool, now_ms: int, *, bump_epoch: bool = False,
                    client_tv: int | None = None, next_producer_id: int = -1,
                    empty: bool = False) -> TxnTransit:
        """Ongoing -> PrepareCommit/PrepareAbort. `bump_epoch` fences the current
        producer first (a timed-out transaction, a new incarnation); `client_tv` 2
        (EndTxn v5) bumps the epoch as transaction version 2 does, with
        `next_producer_id` when the epoch is exhausted; `empty`: a transaction
        version 2 end without partitions (from Empty or Complete*)."""
        tv = self.client_tv if client_tv is None else client_tv
        bump = bump_epoch or tv >= 2
        epoch = self.producer_epoch + 1 if bump else self.producer_epoch
        last = self.producer_epoch if bump else self.last_producer_epoch
        changes: dict[str, object] = {}
        if empty:
            changes = dict(partitions=frozenset(), start_ms=now_ms)
        return self._transit(producer_epoch=epoch, last_producer_epoch=last,
                             state=TxnState.PREPARE_COMMIT if commit else TxnState.PREPARE_ABORT,
                             update_ms=now_ms, client_tv=tv, next_producer_id=next_producer_id,
                             **changes)

    def prepare_complete(self, now_ms: int) -> TxnTransit:
        """PrepareCommit/PrepareAbort -> CompleteCommit/CompleteAbort (markers written);
        a next producer id (transaction version 2, epoch exhausted) becomes current
        at epoch 0, the old id kept as the last one."""
        done = (TxnState.COMPLETE_COMMIT if self.state is TxnState.PREPARE_COMMIT
                else TxnState.COMPLETE_ABORT)
        if self.next_producer_id >= 0:
            return self._transit(state=done, partitions=frozenset(), update_ms=now_ms,
                                 producer_id=self.next_producer_id,
                                 last_producer_id=self.producer_id, producer_epoch=0,
                                 last_producer_epoch=self.producer_epoch, next_producer_id=-1)
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
        self.next_producer_id = transit.next_producer_id
        self.client_tv = transit.client_tv
        if self.pending is transit:
            self.pending = None

    def abort_pending(self, transit: TxnTransit) -> None:
        if self.pending is transit:
            self.pending = None
