"""Partition: one replica of one topic partition on this broker.

Theory of operation (Kafka's `Partition`): the metadata log decides who leads
each partition at which leader epoch; the replica manager hands every change
to `make_leader` / `make_follower`. As leader the partition appends produce
requests to its log, tracks the high watermark, and serves fetches up to it;
as follower (issue 5 brings the fetcher) it only holds data.

High watermark: the smallest log end offset over the ISR, counting the
leader's own; a follower's log end offset is unknown (-1) until it fetches,
so with followers that never fetched the high watermark stays where it is. It
never moves backwards. Consumers never read at or above it.

Waiting: long-poll fetches register a `trio.Event` in `watchers`; any append
or high-watermark move sets and clears them, and the fetch re-reads.

Not thread-safe: owned by the broker's trio loop.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from pathlib import Path

import trio

from kraft.broker.producer_state import ProducerStateManager
from kraft.metadata.image import PartitionRegistration
from log.batch import BatchHeader
from log.config import LogConfig
from log.errors import ErrorCode as LogErrorCode
from log.log import FetchDataInfo, LogAppendInfo, PartitionLog

log = logging.getLogger("kraft.broker")


@dataclass(slots=True)
class ReplicaState:
    """What the leader knows of another replica (from its fetches)."""

    log_end_offset: int = -1
    last_caught_up_ms: int = 0


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
        high_watermark: int,
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
        self._high_watermark = min(high_watermark, partition_log.log_end_offset)
        self.watchers: set[trio.Event] = set()

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
    ) -> Partition:
        """Open (recovering) the log in `directory` and rebuild producer state."""
        partition_log = PartitionLog.open(
            directory, config, recovery_point=recovery_point, log_start_offset=log_start_offset
        )
        producer_state = ProducerStateManager(directory)
        producer_state.load(partition_log)
        return cls(topic, partition, topic_id, partition_log, producer_state, node_id,
                   high_watermark)

    @property
    def name(self) -> str:
        return f"{self.topic}-{self.partition}"

    @property
    def is_leader(self) -> bool:
        return self.leader_id == self.node_id

    @property
    def high_watermark(self) -> int:
        return self._high_watermark

    @property
    def log_end_offset(self) -> int:
        return self.log.log_end_offset

    @property
    def log_start_offset(self) -> int:
        return self.log.log_start_offset

    # --- leadership ------------------------------------------------------------------

    def make_leader(self, registration: PartitionRegistration) -> bool:
        """Lead at the registration's leader epoch; False if that epoch is stale.

        The new epoch starts at our log end offset, recorded in the leader-epoch
        checkpoint now (Kafka's makeLeader), so OffsetForLeaderEpoch and
        follower truncation see it even before the first append.
        """
        if registration.leader_epoch < self.leader_epoch:
            return False
        new_epoch = registration.leader_epoch != self.leader_epoch or not self.is_leader
        self._update(registration)
        if new_epoch:
            self.remote = {r: ReplicaState() for r in registration.replicas if r != self.node_id}
            if registration.leader_epoch != self.log.latest_epoch:
                self.log.assign_epoch_start_offset(registration.leader_epoch, self.log_end_offset)
            log.info("node %d: leader of %s in epoch %d (ISR %s)", self.node_id, self.name,
                     registration.leader_epoch, list(registration.isr))
        self._maybe_increment_high_watermark()
        self._wake()  # produce waiters re-check the ISR against min.insync.replicas
        return True

    def make_follower(self, registration: PartitionRegistration) -> bool:
        """Follow at the registration's leader epoch; False if that epoch is stale."""
        if registration.leader_epoch < self.leader_epoch:
            return False
        changed = registration.leader_epoch != self.leader_epoch or self.is_leader
        self._update(registration)
        self.remote = {}
        if changed:
            log.info("node %d: follower of %s (leader %d, epoch %d)", self.node_id, self.name,
                     registration.leader, registration.leader_epoch)
        self._wake()
        return True

    def _update(self, registration: PartitionRegistration) -> None:
        self.leader_id = registration.leader
        self.leader_epoch = registration.leader_epoch
        self.partition_epoch = registration.partition_epoch
        self.replicas = registration.replicas
        self.isr = registration.isr

    # --- produce ---------------------------------------------------------------------

    def append_as_leader(self, records: memoryview) -> AppendResult:
        """Append a produce request's records at the current leader epoch.

        The log validates every batch; then, before anything is written, the
        idempotence checks run on batches that carry a producer id: a retry of
        one of the producer's last 5 batches is not written again and answers
        with the original offsets (`duplicate`), a sequence gap or a fenced
        producer epoch is an error. Call only while leading.
        """
        pending: list[tuple[int, BatchHeader]] = []
        duplicate: list[bool] = []

        def before_write(batches: list[tuple[int, BatchHeader]]) -> LogAppendInfo | None:
            for _pos, header in batches:
                if header.producer_id < 0:
                    continue
                check = self.producer_state.check(
                    header.producer_id, header.producer_epoch, header.base_sequence,
                    header.last_offset_delta,
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

        info = self.log.append_as_leader(records, self.leader_epoch, before_write=before_write)
        if duplicate or info.error_code != LogErrorCode.NONE:
            return AppendResult(info, duplicate=bool(duplicate))
        offset = info.base_offset
        for _pos, header in pending:
            timestamp = info.log_append_time if info.log_append_time >= 0 else header.max_timestamp
            self.producer_state.update(
                header.producer_id, header.producer_epoch, header.base_sequence,
                header.last_offset_delta, offset, timestamp,
            )
            offset += header.last_offset_delta + 1
        self._maybe_increment_high_watermark()
        self._wake()
        return AppendResult(info, duplicate=False)

    # --- high watermark ---------------------------------------------------------------

    def _maybe_increment_high_watermark(self) -> bool:
        """Move the high watermark up to the smallest ISR log end offset, if higher."""
        if not self.is_leader:
            return False
        candidate = self.log.log_end_offset
        for replica in self.isr:
            if replica == self.node_id:
                continue
            state = self.remote.get(replica)
            candidate = min(candidate, state.log_end_offset if state else -1)
        if candidate > self._high_watermark:
            self._high_watermark = candidate
            self._wake()
            return True
        return False

    def _wake(self) -> None:
        for event in self.watchers:
            event.set()
        self.watchers.clear()

    # --- fetch -----------------------------------------------------------------------

    def read(self, fetch_offset: int, max_bytes: int, *, min_one_message: bool) -> FetchDataInfo:
        """Records from `fetch_offset` below the high watermark (consumers).

        Raises log.errors.OffsetOutOfRangeError outside [log start, log end].
        """
        return self.log.read(
            fetch_offset, max_bytes, self._high_watermark, min_one_message=min_one_message
        )

    def close(self) -> None:
        self._wake()
        self.log.close()


@dataclass(frozen=True, slots=True)
class AppendResult:
    """A leader append's outcome; `duplicate` means an idempotent retry that was
    not written again (the offsets are the original batch's)."""

    info: LogAppendInfo
    duplicate: bool
