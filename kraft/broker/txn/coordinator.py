"""TransactionCoordinator: the transaction coordinator of one broker, on trio.

Theory of operation (Kafka's TransactionCoordinator, TransactionStateManager):
- A transactional id belongs to `__transaction_state` partition
  `partition_for(transactional_id)` (the hash groups use); the broker leading
  that partition coordinates it. For each partition led here a `TxnShard` is
  loaded by replaying its log (kraft.broker.txn.loader); meanwhile its ids get
  COORDINATOR_LOAD_IN_PROGRESS, ids of partitions not led here
  NOT_COORDINATOR. Losing the partition (or a new leader epoch) unloads the
  shard and cancels its work; the next leader loads the log and carries on.
  The coordinator epoch written into markers is the partition's leader epoch.
- Every change of a transactional id is a `TxnTransit` (kraft.broker.txn.
  metadata) written to the shard's partition with acks=all (the group
  coordinator's CoordinatorShard writer) and applied in memory by the write's
  completion callback, only if committed while the shard is still current --
  so memory always equals what a reload rebuilds. While a write is in flight
  the id answers CONCURRENT_TRANSACTIONS.
- EndTxn (and a transaction's timeout, and a new incarnation's InitProducerId)
  writes PrepareCommit/PrepareAbort; once that is committed the client is
  answered and the markers go to every partition of the transaction
  (kraft.broker.txn.markers, retried until written); then CompleteCommit/
  CompleteAbort is written. A shard loaded with a transaction in a Prepare
  state resumes its markers, so a coordinator failover completes it.
- Timers: every transaction.abort.timed.out.transaction.cleanup.interval.ms,
  Ongoing transactions older than their timeout are aborted with a bumped
  epoch (fencing the producer: its next request gets PRODUCER_FENCED /
  INVALID_PRODUCER_EPOCH); every transaction.remove.expired.transaction.
  cleanup.interval.ms, ids idle (not in a transaction) for
  transactional.id.expiration.ms are tombstoned.

Owned by the broker's trio loop; the request handlers call the public methods.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import trio
from kio.schema.errors import ErrorCode

from kraft.broker.group.coordinator import LeaderPartitions
from kraft.broker.group.shard import CoordinatorShard, coordinator_error
from kraft.broker.internal_topics import TRANSACTION_STATE_TOPIC, partition_for
from kraft.broker.partition import Partition
from kraft.broker.producer_ids import ProducerIdManager
from kraft.broker.txn.loader import load_transactions
from kraft.broker.txn.markers import MarkerSender
from kraft.broker.txn.metadata import (
    COMPLETED,
    MAX_EPOCH,
    PREPARED,
    TopicPartition,
    TransactionMetadata,
    TxnState,
    TxnTransit,
)
from kraft.broker.txn.records import encode_key, encode_value, value_version
from kraft.config import KafkaConfig
from kraft.log.records import Record
from kraft.metadata.image import MetadataImage
from kraft.metadata.loader import MetadataUpdate
from kraft.metadata.records import TRANSACTION_VERSION
from kraft.storage_failure import is_storage_failure

log = logging.getLogger("kraft.broker.txn")

ALLOCATION_TIMEOUT_S = 5.0
WRITE_TIMEOUT_S = 30.0  # Kafka waits request.timeout.ms (default 30 s) for its appends
RETRY_BACKOFF_S = 0.1


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class TxnConfig:
    """The coordinator's settings (the transaction.* keys)."""

    max_timeout_ms: int
    abort_interval_s: float
    id_expiration_ms: int
    expiry_interval_s: float

    @classmethod
    def from_config(cls, config: KafkaConfig) -> TxnConfig:
        return cls(
            max_timeout_ms=config.transaction_max_timeout_ms,
            abort_interval_s=config[
                "transaction.abort.timed.out.transaction.cleanup.interval.ms"] / 1000,
            id_expiration_ms=config.transactional_id_expiration_ms,
            expiry_interval_s=config[
                "transaction.remove.expired.transaction.cleanup.interval.ms"] / 1000,
        )


class TxnShard:
    """The transactional ids of one led `__transaction_state` partition."""

    def __init__(self, index: int, partition: Partition, coordinator: TransactionCoordinator
                 ) -> None:
        self.index = index
        self.writer = CoordinatorShard(index, partition, coordinator.replicas.purgatory,
                                       WRITE_TIMEOUT_S)
        self.transactions: dict[str, TransactionMetadata] = {}
        self.nursery: trio.Nursery | None = None

    @property
    def partition(self) -> Partition:
        return self.writer.partition

    @property
    def epoch(self) -> int:
        """The coordinator epoch: the partition's leader epoch at load."""
        return self.writer.epoch

    @property
    def is_current(self) -> bool:
        return self.writer.is_current


class TransactionCoordinator:
    """The broker's transaction coordinator service (`publish` + `run`)."""

    def __init__(
        self,
        node_id: int,
        config: TxnConfig,
        replicas: LeaderPartitions,
        image: Callable[[], MetadataImage],
        producer_ids: ProducerIdManager,
        markers: MarkerSender,
        clock: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self.node_id = node_id
        self.config = config
        self.replicas = replicas
        self.image = image
        self.producer_ids = producer_ids
        self.markers = markers
        self.clock = clock
        self.shards: dict[int, TxnShard] = {}
        self._nursery: trio.Nursery | None = None
        replicas.on_leadership_change.append(self._on_leadership_change)

    @property
    def active(self) -> bool:
        return self._nursery is not None

    def transaction_version(self) -> int:
        """The finalized `transaction.version` (0 if not set)."""
        return self.image().features.levels.get(TRANSACTION_VERSION, 0)

    # --- service -----------------------------------------------------------------------

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            await nursery.start(self.markers.run)
            self._nursery = nursery
            self._reconcile()
            nursery.start_soon(self._every, self.config.abort_interval_s,
                               self.abort_timed_out_transactions)
            nursery.start_soon(self._every, self.config.expiry_interval_s,
                               self.expire_transactional_ids)
            task_status.started()

    def publish(self, update: MetadataUpdate) -> None:
        if self.active:
            self._reconcile()

    async def _every(self, interval_s: float, job: Callable[[], None]) -> None:
        while True:
            await trio.sleep(interval_s)
            job()

    # --- shards -------------------------------------------------------------------------

    def _on_leadership_change(self, partition: Partition) -> None:
        if partition.topic == TRANSACTION_STATE_TOPIC and self.active:
            self._reconcile_one(partition.partition, partition)

    def _reconcile(self) -> None:
        led = {idx: p for (topic, idx), p in self.replicas.partitions.items()
               if topic == TRANSACTION_STATE_TOPIC}
        for idx in set(self.shards) | set(led):
            self._reconcile_one(idx, led.get(idx))

    def _reconcile_one(self, idx: int, partition: Partition | None) -> None:
        shard = self.shards.get(idx)
        leading = partition is not None and partition.is_leader
        if shard is not None and (not leading or shard.partition is not partition
                                  or shard.epoch != partition.leader_epoch):
            del self.shards[idx]
            shard.writer.close()
            shard = None
        if shard is None and leading:
            assert partition is not None and self._nursery is not None
            shard = self.shards[idx] = TxnShard(idx, partition, self)
            self._nursery.start_soon(self._run_shard, shard)

    async def _run_shard(self, shard: TxnShard) -> None:
        with shard.writer.scope:
            try:
                shard.transactions = await load_transactions(shard.partition.log)
            except Exception as e:
                if is_storage_failure(e):
                    raise
                log.exception("node %d: loading %s-%d failed; its transactional ids get "
                              "NOT_COORDINATOR until its next leader epoch", self.node_id,
                              TRANSACTION_STATE_TOPIC, shard.index)
                shard.writer.failed = True
                shard.writer.loading = False
                return
            shard.writer.loading = False
            if shard.transactions:
                log.info("node %d: loaded %d transactional ids from %s-%d in epoch %d",
                         self.node_id, len(shard.transactions), TRANSACTION_STATE_TOPIC,
                         shard.index, shard.epoch)
            async with trio.open_nursery() as nursery:
                shard.nursery = nursery
                for meta in shard.transactions.values():
                    if meta.state in PREPARED:
                        log.info("node %d: completing the transaction of %s found in %s",
                                 self.node_id, meta.transactional_id, meta.state.kafka_name)
                        nursery.start_soon(self._complete, shard, meta)
                await shard.writer.run_pump()

    def route(self, transactional_id: str) -> tuple[TxnShard | None, ErrorCode]:
        """The shard coordinating `transactional_id`, or why not here."""
        if not self.active:
            return None, ErrorCode.coordinator_not_available
        topic = self.image().topics.by_name.get(TRANSACTION_STATE_TOPIC)
        if topic is None or not topic.partitions:
            return None, ErrorCode.not_coordinator
        shard = self.shards.get(partition_for(transactional_id, len(topic.partitions)))
        if shard is None or shard.writer.failed or not shard.is_current:
            return None, ErrorCode.not_coordinator
        if shard.writer.loading:
            return None, ErrorCode.coordinator_load_in_progress
        return shard, ErrorCode.none

    def loaded_shards(self) -> list[TxnShard]:
        return [s for s in self.shards.values()
                if not s.writer.loading and not s.writer.failed and s.nursery is not None]

    # --- writes --------------------------------------------------------------------------

    def _write(self, shard: TxnShard, meta: TransactionMetadata, transit: TxnTransit,
               done: Callable[[ErrorCode], None] | None = None) -> None:
        """Write `transit` (marked pending by its prepare_*); its completion applies it
        (committed while the shard is current) or drops it, starts the markers of a
        Prepare state, and calls `done` with the error as the transaction APIs
        report it."""
        value = None if transit.state is TxnState.DEAD else encode_value(
            transit.to_value(), value_version(self.transaction_version()))
        record = Record(encode_key(meta.transactional_id), value, (), self.clock())

        def on_done(append_error: ErrorCode) -> None:
            error = coordinator_error(append_error)
            if error == ErrorCode.none and not shard.is_current:
                error = ErrorCode.not_coordinator
            if error == ErrorCode.none:
                meta.complete(transit)
                if transit.state is TxnState.DEAD:
                    shard.transactions.pop(meta.transactional_id, None)
                elif transit.state in PREPARED and shard.nursery is not None:
                    shard.nursery.start_soon(self._complete, shard, meta)
            else:
                meta.abort_pending(transit)
                log.info("node %d: writing %s of transactional id %s failed: %s", self.node_id,
                         transit.state.kafka_name, meta.transactional_id, error.name)
            if done is not None:
                done(error)

        shard.writer.append([record], on_done)

    async def _write_and_wait(self, shard: TxnShard, meta: TransactionMetadata,
                              transit: TxnTransit) -> ErrorCode:
        result: list[ErrorCode] = []
        finished = trio.Event()

        def done(error: ErrorCode) -> None:
            result.append(error)
            finished.set()

        self._write(shard, meta, transit, done)
        await finished.wait()
        return result[0]

    async def _complete(self, shard: TxnShard, meta: TransactionMetadata) -> None:
        """Write the markers of a prepared transaction, then its Complete state."""
        commit = meta.state is TxnState.PREPARE_COMMIT
        written = await self.markers.write(
            meta.producer_id, meta.producer_epoch, shard.epoch, commit, meta.partitions,
            lambda: shard.is_current)
        while written and shard.is_current and meta.state in PREPARED:
            if meta.pending is None:
                error = await self._write_and_wait(shard, meta,
                                                   meta.prepare_complete(self.clock()))
                if error == ErrorCode.none:
                    return
            await trio.sleep(RETRY_BACKOFF_S)

    # --- the APIs -------------------------------------------------------------------------

    async def init_producer_id(
        self, transactional_id: str, timeout_ms: int, producer_id: int, producer_epoch: int
    ) -> tuple[ErrorCode, int, int]:
        """InitProducerId with a transactional id: (error, producer id, epoch)."""
        fail = (-1, -1)
        if not transactional_id:
            return ErrorCode.invalid_request, *fail
        if not 0 < timeout_ms <= self.config.max_timeout_ms:
            return ErrorCode.invalid_transaction_timeout, *fail
        shard, error = self.route(transactional_id)
        if shard is None:
            return error, *fail
        meta = shard.transactions.get(transactional_id)
        new_id: int | None = None
        if meta is None or meta.state is TxnState.DEAD or (meta.epoch_exhausted
                                                            and meta.state in COMPLETED):
            new_id = await self._new_producer_id()
            if new_id is None:
                return ErrorCode.coordinator_not_available, *fail
            shard, error = self.route(transactional_id)
            if shard is None:
                return error, *fail
            meta = shard.transactions.get(transactional_id)
            if meta is None or meta.state is TxnState.DEAD:
                meta = TransactionMetadata(transactional_id, new_id, -1, -1, -1, timeout_ms,
                                           TxnState.EMPTY)
                shard.transactions[transactional_id] = meta
                new_id = None
        if meta.pending is not None or meta.state in PREPARED:
            return ErrorCode.concurrent_transactions, *fail
        if producer_id >= 0 and not self._expected_matches(meta, producer_id, producer_epoch):
            return ErrorCode.producer_fenced, *fail
        now = self.clock()
        if meta.state is TxnState.ONGOING:
            # A new incarnation: fence the old one and abort its transaction; the
            # client retries and gets its epoch once the abort is complete.
            error = await self._write_and_wait(
                shard, meta, meta.prepare_end(False, now, bump_epoch=not meta.epoch_exhausted))
            return (error if error != ErrorCode.none else ErrorCode.concurrent_transactions), *fail
        if meta.state not in COMPLETED:
            return ErrorCode.invalid_txn_state, *fail
        if (producer_id >= 0 and meta.state is TxnState.EMPTY
                and (producer_id, producer_epoch) == (meta.producer_id, meta.last_producer_epoch)):
            return ErrorCode.none, meta.producer_id, meta.producer_epoch  # a retried bump
        transit = meta.prepare_init(timeout_ms, now, new_id if meta.epoch_exhausted else None)
        error = await self._write_and_wait(shard, meta, transit)
        if error != ErrorCode.none:
            if meta.producer_epoch < 0:  # never written: forget it again
                shard.transactions.pop(transactional_id, None)
            return error, *fail
        return ErrorCode.none, meta.producer_id, meta.producer_epoch

    @staticmethod
    def _expected_matches(meta: TransactionMetadata, producer_id: int, epoch: int) -> bool:
        """KIP-360: a producer that gives its id and epoch must be the current one
        (or the previous id, after an epoch overflow)."""
        if meta.producer_epoch < 0:
            return True
        if producer_id == meta.producer_id:
            return epoch in (meta.producer_epoch, meta.last_producer_epoch)
        return producer_id == meta.last_producer_id and epoch == meta.last_producer_epoch

    async def _new_producer_id(self) -> int | None:
        with trio.move_on_after(ALLOCATION_TIMEOUT_S):
            return await self.producer_ids.generate()
        return None

    def _check_producer(self, transactional_id: str, producer_id: int, epoch: int
                        ) -> tuple[TxnShard | None, TransactionMetadata | None, ErrorCode]:
        shard, error = self.route(transactional_id)
        if shard is None:
            return None, None, error
        meta = shard.transactions.get(transactional_id)
        if (meta is not None and meta.state in PREPARED and producer_id >= 0
                and producer_id == meta.next_producer_id and epoch == 0):
            return shard, None, ErrorCode.concurrent_transactions  # the new id, not yet current
        if meta is None or meta.state is TxnState.DEAD or meta.producer_id != producer_id:
            return shard, None, ErrorCode.invalid_producer_id_mapping
        if meta.producer_epoch != epoch:
            return shard, None, ErrorCode.producer_fenced
        if meta.pending is not None:
            return shard, None, ErrorCode.concurrent_transactions
        return shard, meta, ErrorCode.none

    async def add_partitions(self, transactional_id: str, producer_id: int, epoch: int,
                             partitions: Iterable[TopicPartition], client_tv: int | None = None
                             ) -> ErrorCode:
        """AddPartitionsToTxn / AddOffsetsToTxn: the partitions join the transaction;
        `client_tv` 2 when a broker adds them for a transaction version 2 produce."""
        shard, meta, error = self._check_producer(transactional_id, producer_id, epoch)
        if shard is None or meta is None:
            return error
        wanted = set(partitions)
        if meta.state in PREPARED:
            return ErrorCode.concurrent_transactions
        if meta.state is TxnState.ONGOING and wanted <= meta.partitions:
            return ErrorCode.none
        if meta.state not in (*COMPLETED, TxnState.ONGOING):
            return ErrorCode.invalid_txn_state
        return await self._write_and_wait(
            shard, meta, meta.prepare_add_partitions(wanted, self.clock(), client_tv))

    def verify_partitions(self, transactional_id: str, producer_id: int, epoch: int,
                          partitions: Iterable[TopicPartition]) -> dict[TopicPartition, ErrorCode]:
        """AddPartitionsToTxn v4+ verify_only (KIP-890, Kafka's
        handleVerifyPartitionsInTransaction): each partition NONE when it is in the
        producer's transaction, else TRANSACTION_ABORTABLE; CONCURRENT_TRANSACTIONS
        for all while the transaction is being committed or aborted."""
        wanted = list(partitions)
        if not transactional_id:
            return dict.fromkeys(wanted, ErrorCode.invalid_request)
        shard, error = self.route(transactional_id)
        meta = None if shard is None else shard.transactions.get(transactional_id)
        if shard is None:
            return dict.fromkeys(wanted, error)
        if meta is None or meta.state is TxnState.DEAD or meta.producer_id != producer_id:
            return dict.fromkeys(wanted, ErrorCode.invalid_producer_id_mapping)
        if meta.producer_epoch != epoch:
            return dict.fromkeys(wanted, ErrorCode.producer_fenced)
        if meta.state in PREPARED:
            return dict.fromkeys(wanted, ErrorCode.concurrent_transactions)
        return {tp: ErrorCode.none if tp in meta.partitions else ErrorCode.transaction_abortable
                for tp in wanted}

    async def end_txn(self, transactional_id: str, producer_id: int, epoch: int,
                      commit: bool, client_tv: int = 0) -> tuple[ErrorCode, int, int]:
        """EndTxn: (error, producer id, producer epoch the client goes on with).

        Kafka's TransactionCoordinator.endTransaction. `client_tv` 2 (EndTxn v5)
        bumps the epoch at Prepare (transaction version 2; a new producer id when
        exhausted, answered at epoch 0). For a transaction under version 2 a retry
        is recognised by the epoch the client still holds (the current one minus 1,
        or the last id at the exhausted epoch) and answered NONE with the current
        id and epoch once complete, CONCURRENT_TRANSACTIONS while prepared; a
        version 2 end with nothing added (Empty or Complete*, current epoch) still
        bumps the epoch through Prepare and Complete without markers."""
        fail = (-1, -1)
        if not transactional_id:
            return ErrorCode.invalid_request, *fail
        shard, error = self.route(transactional_id)
        if shard is None:
            return error, *fail
        meta = shard.transactions.get(transactional_id)
        if meta is None or meta.state is TxnState.DEAD:
            return ErrorCode.invalid_producer_id_mapping, *fail
        state = meta.state
        retry_overflow = (meta.tv2 and meta.last_producer_id == producer_id
                          and epoch == MAX_EPOCH - 1 and meta.producer_epoch == 0)
        retry_bump = meta.tv2 and meta.producer_epoch == epoch + 1
        if meta.tv2:
            if state in PREPARED:
                valid = retry_bump
            elif state in (TxnState.COMPLETE_COMMIT, TxnState.COMPLETE_ABORT):
                valid = retry_bump or retry_overflow or epoch == meta.producer_epoch
            else:
                valid = epoch == meta.producer_epoch
        else:
            valid = epoch == meta.producer_epoch
        if meta.producer_id != producer_id and not retry_overflow:
            return ErrorCode.invalid_producer_id_mapping, *fail
        if meta.tv2 and state in PREPARED and epoch == meta.producer_epoch:
            # The end of the next transaction while the previous one completes.
            return ErrorCode.concurrent_transactions, *fail
        if not valid:
            return ErrorCode.producer_fenced, *fail
        if meta.pending is not None:
            return ErrorCode.concurrent_transactions, *fail
        done = TxnState.COMPLETE_COMMIT if commit else TxnState.COMPLETE_ABORT
        prepared = TxnState.PREPARE_COMMIT if commit else TxnState.PREPARE_ABORT
        is_retry = retry_bump or retry_overflow or not meta.tv2
        if state is TxnState.ONGOING or (
                client_tv >= 2 and not (meta.tv2 and is_retry)
                and state in (TxnState.EMPTY, TxnState.COMPLETE_COMMIT,
                              TxnState.COMPLETE_ABORT)):
            return await self._prepare_end(shard, meta, commit, client_tv,
                                           empty=state is not TxnState.ONGOING)
        if state is done:
            return ErrorCode.none, meta.producer_id, meta.producer_epoch  # a retry
        if state is prepared:
            return ErrorCode.concurrent_transactions, *fail
        log.info("node %d: EndTxn(%s) of %s in state %s", self.node_id,
                 "commit" if commit else "abort", transactional_id, state.kafka_name)
        return ErrorCode.invalid_txn_state, *fail

    async def _prepare_end(self, shard: TxnShard, meta: TransactionMetadata, commit: bool,
                           client_tv: int, *, empty: bool) -> tuple[ErrorCode, int, int]:
        next_id = -1
        if client_tv >= 2 and meta.epoch_exhausted:
            allocated = await self._new_producer_id()
            if allocated is None:
                return ErrorCode.coordinator_not_available, -1, -1
            if meta.pending is not None or not shard.is_current:
                return ErrorCode.concurrent_transactions, -1, -1
            next_id = allocated
        transit = meta.prepare_end(commit, self.clock(), client_tv=max(client_tv, meta.client_tv)
                                   if client_tv >= 2 else None,
                                   next_producer_id=next_id, empty=empty)
        error = await self._write_and_wait(shard, meta, transit)
        if error != ErrorCode.none:
            return error, -1, -1
        if transit.next_producer_id >= 0:
            return ErrorCode.none, transit.next_producer_id, 0
        return ErrorCode.none, transit.producer_id, transit.producer_epoch

    def describe(self, transactional_id: str) -> tuple[ErrorCode, TransactionMetadata | None]:
        shard, error = self.route(transactional_id)
        if shard is None:
            return error, None
        meta = shard.transactions.get(transactional_id)
        if meta is None or meta.state is TxnState.DEAD:
            return ErrorCode.transactional_id_not_found, None
        return ErrorCode.none, meta

    # --- timers ----------------------------------------------------------------------------

    def abort_timed_out_transactions(self) -> None:
        """Abort, with a bumped epoch, every Ongoing transaction past its timeout."""
        now = self.clock()
        for shard in self.loaded_shards():
            for meta in list(shard.transactions.values()):
                if (meta.state is TxnState.ONGOING and meta.pending is None
                        and meta.start_ms + meta.timeout_ms <= now):
                    log.info("node %d: aborting transaction of %s (producer %d, epoch %d): "
                             "timed out after %d ms", self.node_id, meta.transactional_id,
                             meta.producer_id, meta.producer_epoch, meta.timeout_ms)
                    self._write(shard, meta, meta.prepare_end(
                        False, now, bump_epoch=not meta.epoch_exhausted))

    def expire_transactional_ids(self) -> None:
        """Tombstone ids not in a transaction for transactional.id.expiration.ms."""
        now = self.clock()
        for shard in self.loaded_shards():
            for meta in list(shard.transactions.values()):
                if (meta.state in COMPLETED and meta.pending is None
                        and meta.update_ms + self.config.id_expiration_ms <= now):
                    self._write(shard, meta, meta.prepare_dead(now))
