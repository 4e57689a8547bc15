"""GroupCoordinator: the classic group coordinator of one broker, on trio.

Theory of operation (Kafka's GroupCoordinator, classic protocol):
- A group belongs to `__consumer_offsets` partition `partition_for(group_id)`;
  the broker leading that partition coordinates it. For each partition this
  broker leads, a CoordinatorShard (kraft.broker.group.shard) is loaded by
  replaying the partition's log (kraft.broker.group.loader); until then every
  request for its groups gets COORDINATOR_LOAD_IN_PROGRESS (Heartbeat: NONE,
  SyncGroup: REBALANCE_IN_PROGRESS, as Kafka answers). Losing leadership (or a
  new leader epoch) unloads the shard: its groups become Dead, parked
  JoinGroup/SyncGroup requests are answered NOT_COORDINATOR, pending writes
  fail; a new epoch loads it again. Groups of partitions we do not lead get
  NOT_COORDINATOR.
- Which partitions we lead is read from the replica manager after every
  metadata image (`publish`) and on each leadership change it reports. The
  coordinator is built with just what it needs: its node id, its settings
  (CoordinatorConfig), the broker's partitions, their leadership events and
  the purgatory its writes wait in (`LeaderPartitions`, which the
  ReplicaManager is) and a getter of the broker's current metadata image.
- Group state changes are made by the pure ClassicGroup state machine
  (kraft.broker.group.group); this module feeds it requests and the clock,
  delivers the answers it produces to the waiting handlers, and makes the
  writes it asks for. Group metadata and committed offsets are written to
  the shard's partition with acks=all, in Kafka's record format. Committed
  offsets change in memory only once their write is committed (and offset
  expiry leaves offsets still being committed alone), so they always equal
  what a reload of the log would rebuild; group membership moves (generation
  bumps, Empty, static-member renames) are applied as the state machine
  decides and written alongside, as Kafka's coordinator does.
- Timers: one task sleeps until the earliest group deadline (heartbeat
  sessions, rebalance and sync timeouts, the initial rebalance delay) and
  polls the groups that are due. A second task runs offset expiry every
  offsets.retention.check.interval.ms (offsets.retention.minutes; groups left
  Empty without offsets are deleted too). Offsets of deleted topics are
  removed when the metadata says so, and at load.

Time: group deadlines and stored timestamps are wall-clock milliseconds
(`clock`), as Kafka's; write timeouts use trio's clock.

Owned by the broker's trio loop; handlers call the public methods.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import trio
from kio.schema.errors import ErrorCode

from kraft import shutdown_log
from kraft.broker.group.group import ClassicGroup
from kraft.broker.group.loader import load_partition
from kraft.broker.group.records import (
    GroupMetadataKey,
    OffsetCommitKey,
    OffsetCommitValue,
    encode_group_metadata_value,
    encode_key,
    encode_offset_commit_value,
)
from kraft.broker.group.shard import CoordinatorShard, coordinator_error
from kraft.broker.group.types import GroupConfig, GroupState, Outbox, StoreGroup
from kraft.broker.internal_topics import GROUP_METADATA_TOPIC, partition_for
from kraft.broker.partition import Partition, PartitionKey
from kraft.broker.producer_state import NOT_REQUIRED, NotRequired, VerificationGuard
from kraft.broker.purgatory import DelayedOperationPurgatory
from kraft.config import KafkaConfig
from kraft.log.records import Record
from kraft.metadata.image import MetadataImage
from kraft.metadata.loader import MetadataUpdate
from kraft.storage_failure import is_storage_failure

log = logging.getLogger("kraft.broker.group")

TopicPartition = tuple[str, int]


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class Waiter:
    """One parked request: the state machine's token, answered once."""

    __slots__ = ("_event", "result")

    def __init__(self) -> None:
        self._event = trio.Event()
        self.result: Any = None

    def set(self, result: Any) -> None:
        if not self._event.is_set():
            self.result = result
            self._event.set()

    @property
    def done(self) -> bool:
        return self._event.is_set()

    async def wait(self) -> Any:
        await self._event.wait()
        return self.result


class LeaderPartitions(Protocol):
    """The broker's partitions, their leadership events and the purgatory where
    appends wait for replication (the ReplicaManager)."""

    @property
    def partitions(self) -> Mapping[TopicPartition, Partition]:
        """Every partition this broker holds a replica of."""

    @property
    def on_leadership_change(self) -> list[Callable[[Partition], None]]:
        """Called with a partition whenever this broker starts or stops leading it,
        or leads it in a new epoch."""

    @property
    def purgatory(self) -> DelayedOperationPurgatory[PartitionKey]:
        """Where the shards' writes wait to be replicated."""


@dataclass(frozen=True, slots=True)
class CoordinatorConfig:
    """The group coordinator's settings, read from the group.* and offsets.* keys
    (`from_config`; their defaults live in kraft.config)."""

    initial_rebalance_delay_ms: int
    min_session_timeout_ms: int
    max_session_timeout_ms: int
    retention_ms: int
    commit_timeout_s: float
    retention_check_interval_s: float
    offset_metadata_max_bytes: int
    group_max_size: int = (1 << 31) - 1

    @classmethod
    def from_config(cls, config: KafkaConfig) -> CoordinatorConfig:
        return cls(
            initial_rebalance_delay_ms=config.group_initial_rebalance_delay_ms,
            min_session_timeout_ms=config.group_min_session_timeout_ms,
            max_session_timeout_ms=config.group_max_session_timeout_ms,
            retention_ms=config.offsets_retention_minutes * 60_000,
            commit_timeout_s=config.offsets_commit_timeout_ms / 1000,
            retention_check_interval_s=config.offsets_retention_check_interval_ms / 1000,
            offset_metadata_max_bytes=config.offset_metadata_max_bytes,
            group_max_size=config.group_max_size,
        )


@dataclass(frozen=True, slots=True)
class Route:
    """Where a group lives: its shard, or why it cannot be served here."""

    shard: CoordinatorShard | None
    error: ErrorCode


class GroupCoordinator:
    """The broker's group coordinator service (`publish` + `run`, see BrokerServer)."""

    def __init__(
        self,
        node_id: int,
        config: CoordinatorConfig,
        replicas: LeaderPartitions,
        image: Callable[[], MetadataImage],
        clock: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self.node_id = node_id
        self.replicas = replicas
        self.image = image
        self.clock = clock
        self.group_config = GroupConfig(
            initial_rebalance_delay_ms=config.initial_rebalance_delay_ms,
            max_size=config.group_max_size)
        self.min_session_timeout_ms = config.min_session_timeout_ms
        self.max_session_timeout_ms = config.max_session_timeout_ms
        self.retention_ms = config.retention_ms
        self.commit_timeout_s = config.commit_timeout_s
        self.retention_check_interval_s = config.retention_check_interval_s
        self.offset_metadata_max_bytes = config.offset_metadata_max_bytes
        self.shards: dict[int, CoordinatorShard] = {}
        self._pending_commits: dict[tuple[int, str, TopicPartition], int] = {}
        self._nursery: trio.Nursery | None = None
        self._timers: list[tuple[int, int, int, str]] = []  # (deadline, seq, shard, group)
        self._scheduled: dict[tuple[int, str], int] = {}
        self._seq = itertools.count()
        self._timers_changed = trio.Event()
        replicas.on_leadership_change.append(self._on_leadership_change)

    @property
    def active(self) -> bool:
        return self._nursery is not None

    # --- service -----------------------------------------------------------------------

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            self._reconcile()
            nursery.start_soon(self._timer_loop)
            nursery.start_soon(self._expiry_loop)
            task_status.started()

    def publish(self, update: MetadataUpdate) -> None:
        """After each metadata image that changed topics: follow leadership (also
        reported one partition at a time through the replica manager's callback)
        and drop deleted topics' offsets."""
        if not self.active:
            return
        if update.from_snapshot:
            self._reconcile()
            live = update.image.topics.by_name
            self.remove_offsets_where(lambda topic: topic not in live, "topic deleted")
            return
        topics_delta = update.delta.topics_delta if update.delta is not None else None
        if topics_delta is None:
            return
        self._reconcile()
        if topics_delta.deleted_topic_ids:
            old = update.previous.topics.by_id
            deleted = {old[t].name for t in topics_delta.deleted_topic_ids if t in old}
            self.remove_offsets_where(deleted.__contains__, "topic deleted")

    # --- shards: load and unload ------------------------------------------------------------

    def _on_leadership_change(self, partition: Partition) -> None:
        if partition.topic == GROUP_METADATA_TOPIC and self.active:
            self._reconcile_one(partition.partition, partition)

    def _reconcile(self) -> None:
        led = {idx: p for (topic, idx), p in self.replicas.partitions.items()
               if topic == GROUP_METADATA_TOPIC}
        for idx in set(self.shards) | set(led):
            self._reconcile_one(idx, led.get(idx))

    def _reconcile_one(self, idx: int, partition: Partition | None) -> None:
        shard = self.shards.get(idx)
        leading = partition is not None and partition.is_leader
        if shard is not None and (not leading or shard.partition is not partition
                                  or shard.epoch != partition.leader_epoch):
            self._unload(idx)
            shard = None
        if shard is None and leading:
            assert partition is not None and self._nursery is not None
            shard = CoordinatorShard(idx, partition, self.replicas.purgatory,
                                     self.commit_timeout_s)
            self.shards[idx] = shard
            self._nursery.start_soon(self._run_shard, shard)

    async def _run_shard(self, shard: CoordinatorShard) -> None:
        with shard.scope:
            started = trio.current_time()
            try:
                loaded = await load_partition(shard.partition.log)
            except Exception as e:
                if is_storage_failure(e):
                    raise  # the disk failed: the node stops (kraft.storage_failure)
                log.exception("node %d: loading %s-%d failed; its groups get NOT_COORDINATOR "
                              "until its next leader epoch", self.node_id,
                              GROUP_METADATA_TOPIC, shard.index)
                shard.failed = True
                shard.loading = False
                return
            now = self.clock()
            for group_id in loaded.group_ids():
                value = loaded.groups.get(group_id)
                group = (ClassicGroup.from_record(group_id, value, self.group_config, now)
                         if value is not None else self.new_group(group_id, now, simple=True))
                group.offsets = loaded.offsets.get(group_id, {})
                shard.groups[group_id] = group
                out = Outbox()
                if group.rebalance_if_over_capacity(now, out):
                    # group.max.size was lowered since the group was stored (Kafka's
                    # onLoaded): its members rejoin, and those beyond it are refused.
                    log.info("node %d: loaded group %s (size %d) is over capacity %d; "
                             "rebalancing", self.node_id, group_id, len(group.members),
                             self.group_config.max_size)
                self.deliver(shard, group, out)
            shard.pending_txn_offsets = loaded.pending_offsets()
            shard.loading = False
            log.log(logging.INFO if loaded.records else logging.DEBUG,
                    "node %d: loaded %d groups (%d records) from %s-%d in epoch %d in %.3f s",
                    self.node_id, len(shard.groups), loaded.records,
                    GROUP_METADATA_TOPIC, shard.index, shard.epoch,
                    trio.current_time() - started)
            live = self.image().topics.by_name
            if GROUP_METADATA_TOPIC in live:  # an image that knows the topics
                self.remove_offsets_where(lambda topic: topic not in live, "topic deleted",
                                          shards=[shard])
            await shard.run_pump()

    def _unload(self, idx: int) -> None:
        shard = self.shards.pop(idx)
        now = self.clock()
        for group in shard.groups.values():
            out = Outbox()
            group.unload(now, out)
            self.deliver(shard, group, out)
        shard.close()
        if shard.groups:
            log.log(shutdown_log.level(self.node_id), "node %d: unloaded %d groups of %s-%d",
                    self.node_id, len(shard.groups), GROUP_METADATA_TOPIC, idx)
        shard.groups.clear()

    def new_group(self, group_id: str, now: int, *, simple: bool = False) -> ClassicGroup:
        group = ClassicGroup(group_id, self.group_config, now)
        if simple:
            group.current_state_timestamp = None  # offsets expire by their commit time
        return group

    # --- routing -----------------------------------------------------------------------

    def route(self, group_id: str) -> Route:
        """The shard coordinating `group_id`, or NOT_COORDINATOR /
        COORDINATOR_LOAD_IN_PROGRESS / COORDINATOR_NOT_AVAILABLE."""
        if not self.active:
            return Route(None, ErrorCode.coordinator_not_available)
        topic = self.image().topics.by_name.get(GROUP_METADATA_TOPIC)
        if topic is None or not topic.partitions:
            return Route(None, ErrorCode.not_coordinator)
        shard = self.shards.get(partition_for(group_id, len(topic.partitions)))
        if shard is None or shard.failed or not shard.is_current:
            return Route(None, ErrorCode.not_coordinator)
        if shard.loading:
            return Route(None, ErrorCode.coordinator_load_in_progress)
        return Route(shard, ErrorCode.none)

    def loaded_shards(self) -> list[CoordinatorShard]:
        return [s for s in self.shards.values() if not s.loading and not s.failed]

    # --- delivering what the state machine asks for -------------------------------------------

    def deliver(self, shard: CoordinatorShard, group: ClassicGroup, out: Outbox) -> None:
        """Answer parked requests, start the writes, re-arm the group's timer."""
        for waiter, result in out.replies:
            waiter.set(result)
        for store in out.stores:
            self._store_group(shard, group, store)
        self.schedule(shard, group)

    def _store_group(self, shard: CoordinatorShard, group: ClassicGroup, store: StoreGroup) -> None:
        now = self.clock()
        record = Record(encode_key(GroupMetadataKey(store.group_id)),
                        encode_group_metadata_value(store.value), (), now)

        def done(error: ErrorCode) -> None:
            if error != ErrorCode.none:
                log.warning("node %d: writing group %s (%s, generation %d) failed: %s",
                            self.node_id, store.group_id, store.purpose.value,
                            store.generation, error.name)
            out = Outbox()
            group.store_completed(self.clock(), out, store, coordinator_error(error))
            self.deliver(shard, group, out)

        shard.append([record], done)

    def write_offsets(
        self,
        shard: CoordinatorShard,
        group_id: str,
        commits: dict[TopicPartition, OffsetCommitValue | None],
        *,
        tombstone_group: bool = False,
        drop_group: bool = False,
        on_done: Callable[[ErrorCode], None] | None = None,
    ) -> None:
        """Write offset commits (None = tombstone), and the group's tombstone if
        `tombstone_group`; once committed, apply them to the group in memory and,
        if `drop_group`, forget the group if it is still Empty without offsets.
        `on_done` gets the error as group APIs report it."""
        now = self.clock()
        records = [Record(encode_key(OffsetCommitKey(group_id, topic, partition)),
                          None if value is None else encode_offset_commit_value(value), (), now)
                   for (topic, partition), value in commits.items()]
        if tombstone_group:
            records.append(Record(encode_key(GroupMetadataKey(group_id)), None, (), now))
        # Commits still replicating are invisible in memory; expiry must not
        # tombstone them behind the client's back (Kafka's pendingOffsetCommits).
        pending = [(shard.index, group_id, tp) for tp, value in commits.items()
                   if value is not None]
        for key in pending:
            self._pending_commits[key] = self._pending_commits.get(key, 0) + 1

        def done(error: ErrorCode) -> None:
            for key in pending:
                left = self._pending_commits[key] - 1
                if left:
                    self._pending_commits[key] = left
                else:
                    del self._pending_commits[key]
            if error == ErrorCode.none:
                self._apply_offsets(shard, group_id, commits, drop_group)
            if on_done is not None:
                on_done(coordinator_error(error))

        if records:
            shard.append(records, done)
        else:
            done(ErrorCode.none)

    def write_txn_offsets(
        self,
        shard: CoordinatorShard,
        group_id: str,
        producer: tuple[int, int],
        commits: dict[TopicPartition, OffsetCommitValue],
        on_done: Callable[[ErrorCode], None],
        verification: VerificationGuard | NotRequired | None = NOT_REQUIRED,
    ) -> None:
        """TxnOffsetCommit: write `commits` as a transactional batch of `producer`
        (id, epoch), checked against the KIP-890 guard `verification`; once
        replicated they are pending until the transaction's marker
        (`complete_transaction`) applies or drops them."""
        now = self.clock()
        records = [Record(encode_key(OffsetCommitKey(group_id, topic, partition)),
                          encode_offset_commit_value(value), (), now)
                   for (topic, partition), value in commits.items()]

        def done(error: ErrorCode) -> None:
            if error == ErrorCode.none:
                pending = shard.pending_txn_offsets.setdefault(producer[0], {})
                pending.setdefault(group_id, {}).update(commits)
            on_done(coordinator_error(error))

        shard.append(records, done, producer=producer, verification=verification)

    def complete_transaction(self, partition: int, producer_id: int, commit: bool) -> None:
        """A marker of `producer_id` was written to `__consumer_offsets` partition
        `partition` (Kafka's onTransactionCompleted): apply its pending offset
        commits (commit) or forget them (abort)."""
        shard = self.shards.get(partition)
        if shard is None:
            return
        pending = shard.pending_txn_offsets.pop(producer_id, {})
        if commit:
            for group_id, commits in pending.items():
                self._apply_offsets(shard, group_id, dict(commits), False)

    def has_pending_txn_offsets(self, shard: CoordinatorShard, group_id: str,
                                tp: TopicPartition) -> bool:
        return any(tp in groups.get(group_id, {})
                   for groups in shard.pending_txn_offsets.values())

    def _apply_offsets(
        self,
        shard: CoordinatorShard,
        group_id: str,
        commits: dict[TopicPartition, OffsetCommitValue | None],
        drop_group: bool,
    ) -> None:
        group = shard.groups.get(group_id)
        if group is None:
            if all(v is None for v in commits.values()):
                return
            # The group was deleted meanwhile: as on reload, its offsets make it a simple group.
            group = shard.groups[group_id] = self.new_group(group_id, self.clock(), simple=True)
        for tp, value in commits.items():
            if value is None:
                group.offsets.pop(tp, None)
            else:
                group.offsets[tp] = value
        if drop_group:
            self.drop_group_if_empty(shard, group)

    def drop_group_if_empty(self, shard: CoordinatorShard, group: ClassicGroup) -> None:
        """Forget an Empty group without offsets (deleted, or expired)."""
        if group.state == GroupState.EMPTY and not group.offsets and not group.members:
            shard.groups.pop(group.group_id, None)
            out = Outbox()
            group.unload(self.clock(), out)
            for waiter, result in out.replies:
                waiter.set(result)

    # --- cleanup ---------------------------------------------------------------------------

    def remove_offsets_where(
        self,
        topic_gone: Callable[[str], bool],
        why: str,
        shards: Iterable[CoordinatorShard] | None = None,
    ) -> None:
        """Tombstone committed offsets whose topic `topic_gone` (deleted topics)."""
        for shard in self.loaded_shards() if shards is None else shards:
            for group in list(shard.groups.values()):
                doomed: dict[tuple[str, int], OffsetCommitValue | None] = {
                    tp: None for tp in group.offsets if topic_gone(tp[0])}
                if doomed:
                    log.info("node %d: removing %d offsets of group %s (%s)",
                             self.node_id, len(doomed), group.group_id, why)
                    self.write_offsets(shard, group.group_id, doomed)

    async def _expiry_loop(self) -> None:
        while True:
            await trio.sleep(self.retention_check_interval_s)
            self.expire_offsets()

    def expire_offsets(self) -> None:
        """Kafka's cleanupGroupMetadata: tombstone expired offsets, and delete groups
        left Empty without offsets (with a group tombstone if it was ever written)."""
        now = self.clock()
        for shard in self.loaded_shards():
            for group in list(shard.groups.values()):
                committing = {tp for (index, group_id, tp) in self._pending_commits
                              if index == shard.index and group_id == group.group_id}
                expired = [tp for tp in group.expired_offsets(now, self.retention_ms)
                           if tp not in committing]
                empty = (group.state == GroupState.EMPTY and not group.pending_members
                         and not committing and len(expired) == len(group.offsets))
                if not expired and not empty:
                    continue
                if expired:
                    log.info("node %d: %d offsets of group %s expired", self.node_id,
                             len(expired), group.group_id)
                self.write_offsets(shard, group.group_id, dict.fromkeys(expired),
                                   tombstone_group=empty and group.generation > 0,
                                   drop_group=empty)

    # --- timers --------------------------------------------------------------------------------

    def schedule(self, shard: CoordinatorShard, group: ClassicGroup) -> None:
        """Make sure the timer task wakes by the group's next deadline."""
        deadline = group.next_deadline()
        if deadline is None:
            return
        key = (shard.index, group.group_id)
        current = self._scheduled.get(key)
        if current is not None and current <= deadline:
            return
        self._scheduled[key] = deadline
        heapq.heappush(self._timers, (deadline, next(self._seq), shard.index, group.group_id))
        if self._timers[0][0] == deadline:
            self._timers_changed.set()

    async def _timer_loop(self) -> None:
        while True:
            self._timers_changed = trio.Event()
            now = self.clock()
            while self._timers and self._timers[0][0] <= now:
                _, _, idx, group_id = heapq.heappop(self._timers)
                key = (idx, group_id)
                if self._scheduled.get(key, now + 1) <= now:
                    del self._scheduled[key]
                shard = self.shards.get(idx)
                group = shard.groups.get(group_id) if shard is not None else None
                if shard is None or group is None:
                    continue
                out = Outbox()
                group.poll(now, out)
                self.deliver(shard, group, out)
            timeout = (self._timers[0][0] - now) / 1000 if self._timers else math.inf
            with trio.move_on_after(timeout):
                await self._timers_changed.wait()
