"""QuorumController: the active controller runs on the metadata quorum's leader.

Theory of operation (Kafka's QuorumController, without timeline structures):

- Every controller node runs one. It publishes from the MetadataLoader like a
  broker does, so `committed_image` is always the image of the committed log.
- It becomes *active* when its own LeaderChange record for the epoch it leads
  is committed: by then every record of earlier epochs is committed and
  replayed, so `committed_image` is the whole truth. It stops being active the
  moment raft reports another leader or epoch.
- Commands are serialised through one bounded queue (`run_command` puts a
  `RunCommand` event on it), processed by one task with a `match` over the
  event types. A command is a pure function `(image, ctx) -> ControllerResult`
  evaluated against the *speculative* image: the committed image plus every
  record this controller has appended but not yet seen committed, so two
  commands in a row see each other's effects (two CreateTopics of one name).
  Its records are proposed to raft at offsets known in advance
  (`ctx.next_offset`), replayed into the speculative image, and its response
  is released only once the high watermark passes its last record.
- On losing leadership the speculative image is thrown away (uncommitted
  records may never commit; the next activation starts again from the
  committed image), but a command whose records were proposed is not
  answered NOT_CONTROLLER at once: the new leader may still commit them. It
  waits until the committed log tells: its own response once the log is
  committed past its last record with no newer epoch begun before it, the
  caller's `not_controller()` once a newer epoch's LeaderChange is committed
  at or before its first record. Every epoch's first entry is its leader's
  LeaderChange, so an offset's epoch is that of the last committed
  LeaderChange at or before it. Records raft had not yet appended when
  leadership was lost (still lingering) are dropped by raft: those commands
  get `not_controller()` at once. When the fate cannot be told (only part of
  the records committed; a snapshot replaced the log) the command gets the
  caller's `unknown()`. So NOT_CONTROLLER always means "did not take effect",
  and a broker may send the request to the next controller. A node that
  stops before learning the fate answers nothing; its connections close.
- Periodic work runs as commands too: fencing brokers whose session expired,
  a NoOpRecord every metadata.max.idle.interval.ms so observers see progress
  (KIP-835), writing metadata.version when the log has none (bootstrap), and
  moving leadership back to preferred replicas every
  leader.imbalance.check.interval.seconds (kraft.controller.elect_leaders), and,
  when kraft.balancer.enable is set, spreading replicas over the brokers every
  kraft.balancer.interval.ms (kraft.controller.balancer).

Soft state (broker heartbeats) lives only here and is reset on activation, as
Kafka's BrokerHeartbeatManager is.
"""

from __future__ import annotations

import enum
import logging
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, assert_never

import trio

from kraft import shutdown_log
from kraft.config import KafkaConfig
from kraft.controller import cluster
from kraft.controller.elect_leaders import (
    MAX_ELECTIONS_PER_IMBALANCE,
    balance_leaders,
    imbalanced_partitions,
)
from kraft.controller.heartbeats import BrokerHeartbeatManager
from kraft.controller.result import ControllerContext, ControllerResult
from kraft.metadata import bootstrap
from kraft.metadata.delta import MetadataDelta
from kraft.metadata.image import EMPTY, MetadataImage
from kraft.metadata.loader import LeaderChange, MetadataUpdate
from kraft.metadata.records import (
    METADATA_VERSION,
    TRANSACTION_VERSION,
    TRANSACTION_VERSION_LEVEL,
    FeatureLevelRecord,
    NoOpRecord,
    encode,
)
from kraft.raft.driver import RaftNode
from kraft.raft.types import LeaderAndEpoch, NotLeaderError, UnexpectedBaseOffsetError

log = logging.getLogger("kraft.controller")

T = TypeVar("T")

METADATA_VERSION_LEVEL = 12
"""metadata.version written at bootstrap: 3.6-IV0, the newest level whose
semantics we implement (NoOpRecord, BrokerRegistrationChangeRecord,
InControlledShutdown, no leader-epoch bump on ISR shrink). 3.6-IV1 adds
metadata transactions, which this controller does not write."""

PERIODIC_CHECK_MS = 100

Command = Callable[[MetadataImage, ControllerContext], ControllerResult[Any]]


LEADER_CHANGES_KEPT = 64
"""Committed LeaderChange records remembered to tell which epoch wrote an offset:
a waiting command's records are newer than the last few leader changes."""


class Fate(enum.Enum):
    """What became of a command's records."""

    COMMITTED = "committed"
    LOST = "lost"  # another leader's entries took their place: the command did not run
    UNKNOWN = "unknown"


@dataclass(slots=True)
class _Waiting:
    """A command's response, released once the log is committed up to `last_offset`
    if the entries at `first_offset` and `last_offset` are the ones it proposed in
    `epoch` (a command without records has first_offset > last_offset)."""

    first_offset: int
    last_offset: int
    epoch: int
    response: Any
    done: trio.Event = field(default_factory=trio.Event)
    fate: Fate | None = None

    def settle(self, fate: Fate) -> None:
        self.fate = fate
        self.done.set()


QUEUE_SIZE = 64
"""Commands buffered before `run_command` callers wait. Every caller waits for
its answer anyway (a request handler on the controller listener, or the
periodic task), so the bound only turns a burst (a heartbeat from every broker,
forwarded admin requests) into callers waiting in order instead of a growing
queue; the processing task never sends to its own queue, so a full queue
cannot deadlock it. 64 holds one heartbeat from each broker of a cluster of a
few dozen plus the odd admin request without anyone waiting."""


@dataclass(frozen=True, slots=True)
class RunCommand:
    """Run `command`; its `_Waiting` (None: not the active controller) goes to
    `reply` (buffer 1, exactly one answer)."""

    command: Command
    reply: trio.MemorySendChannel[_Waiting | None]


ControllerEvent = RunCommand
"""What the controller's queue carries (one kind today; the processing loop
matches on it, so a new kind is one more case)."""


class QuorumController:
    """The controller of one node; active while the node leads the quorum."""

    def __init__(
        self,
        config: KafkaConfig,
        cluster_id: str,
        raft: RaftNode,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.cluster_id = cluster_id
        self.node_id: int = config.node_id
        self.raft = raft
        self.rng = rng or random.Random()
        self.committed_image: MetadataImage = EMPTY
        self.committed_offset = -1
        self.image: MetadataImage = EMPTY  # speculative: committed + our appended records
        self.heartbeats = BrokerHeartbeatManager(
            config.broker_session_timeout_ms,
            config.kraft_broker_session_disconnect_grace_ms)
        self.active_epoch: int | None = None
        self._claiming_epoch: int | None = None
        self._waiting: list[_Waiting] = []
        self._leader_changes: deque[LeaderChange] = deque(maxlen=LEADER_CHANGES_KEPT)
        self._last_write_ms = 0
        self._next_balance_ms = 0
        self._next_replica_balance_ms = 0
        self._queue_send, self._queue = trio.open_memory_channel[ControllerEvent](QUEUE_SIZE)
        self.activated = trio.Event()

    @property
    def is_active(self) -> bool:
        return self.active_epoch is not None

    # --- publisher side (called from the raft driver task) --------------------------

    def publish(self, update: MetadataUpdate) -> None:
        self.committed_image = update.image
        self.committed_offset = update.offset
        if update.from_snapshot:
            self._leader_changes.clear()
        self._leader_changes.extend(update.leader_changes)
        for change in update.leader_changes:
            if change.epoch == self._claiming_epoch and change.message.leader_id == self.node_id:
                self._activate(change.epoch)
        if self._waiting:
            still = []
            for waiting in self._waiting:
                if update.from_snapshot and waiting.last_offset <= update.offset:
                    waiting.settle(Fate.UNKNOWN)  # the snapshot hides which entries it holds
                elif (fate := self._fate(waiting)) is None:
                    still.append(waiting)
                else:
                    waiting.settle(fate)
            self._waiting = still

    def _fate(self, waiting: _Waiting) -> Fate | None:
        """What became of the command's records as far as the committed log tells
        (None: not yet). They are replaced once a newer epoch's LeaderChange is
        committed at or before the last of them; they are committed once the log is
        committed past the last of them without one (see the module docstring)."""
        replaced_at = next((change.offset for change in self._leader_changes
                            if change.epoch > waiting.epoch
                            and change.offset <= waiting.last_offset), None)
        if replaced_at is None:
            if waiting.last_offset > self.committed_offset:
                return None
            if waiting.first_offset > waiting.last_offset:
                return Fate.COMMITTED  # a command without records read committed entries
            committed = self._epoch_at(waiting.last_offset) == waiting.epoch
            return Fate.COMMITTED if committed else Fate.UNKNOWN
        if replaced_at <= waiting.first_offset:
            return Fate.LOST  # a command without records read entries now replaced
        first = self._epoch_at(waiting.first_offset)
        if first is None:
            return Fate.UNKNOWN
        return Fate.UNKNOWN if first == waiting.epoch else Fate.LOST

    def _epoch_at(self, offset: int) -> int | None:
        """The epoch of the committed entry at `offset`, if the leader changes kept tell."""
        for change in reversed(self._leader_changes):
            if change.offset <= offset:
                return change.epoch
        return None

    def leader_changed(self, leader: LeaderAndEpoch) -> None:
        if self.active_epoch is not None and (
            leader.epoch != self.active_epoch or leader.leader_id != self.node_id
        ):
            self._deactivate(leader)
        if leader.leader_id == self.node_id:
            self._claiming_epoch = leader.epoch
        else:
            self._claiming_epoch = None

    def _activate(self, epoch: int) -> None:
        self.active_epoch = epoch
        self._claiming_epoch = None
        self.image = self.committed_image
        now = _now_ms()
        lost = self.raft.lost_leader
        dead = lost[0] if lost is not None and lost[1] < epoch and lost[0] != self.node_id \
            else None
        self.heartbeats.reset(self.image, now, dead_process=dead)
        if dead is not None and dead in self.image.cluster.brokers \
                and self.heartbeats.disconnect_grace_ms >= 0:
            log.info("node %d: the previous quorum leader %d closed its connection (its "
                     "process died): its broker is fenced unless it heartbeats within %d ms",
                     self.node_id, dead, self.heartbeats.disconnect_grace_ms)
        self._last_write_ms = now
        self._next_balance_ms = now + self.config.leader_imbalance_check_interval_seconds * 1000
        self._next_replica_balance_ms = now + self.config.kraft_balancer_interval_ms
        log.info("node %d: active controller in epoch %d", self.node_id, epoch)
        self.activated.set()

    def _deactivate(self, leader: LeaderAndEpoch) -> None:
        log.log(shutdown_log.level(self.node_id),
                "node %d: no longer the active controller (leader %s in epoch %d)",
                self.node_id, leader.leader_id, leader.epoch)
        self.active_epoch = None
        self.image = self.committed_image
        self.activated = trio.Event()
        # Commands whose records raft never appended are over; the others learn their
        # fate from what the next leader commits.
        still = []
        for waiting in self._waiting:
            if self._never_appended(waiting):
                waiting.settle(Fate.LOST)
            else:
                still.append(waiting)
        self._waiting = still

    def _never_appended(self, waiting: _Waiting) -> bool:
        """The records were still lingering in raft when leadership was lost (raft
        drops those) or were truncated: they cannot commit."""
        return waiting.last_offset >= self.raft.log.end_offset

    # --- commands ----------------------------------------------------------------------

    async def run_command(
        self,
        command: Command,
        not_controller: Callable[[], T],
        *,
        unknown: Callable[[], T] | None = None,
    ) -> T:
        """Run `command` on the active controller and return its response once
        its records are committed; `not_controller()` if it did not take effect
        because this node is not (or stopped being) the active controller;
        `unknown()` (default: `not_controller()`) if leadership was lost and
        whether its records commit cannot be told (module docstring)."""
        reply_send, reply = trio.open_memory_channel[_Waiting | None](1)
        await self._queue_send.send(RunCommand(command, reply_send))
        waiting = await reply.receive()
        if waiting is None:
            return not_controller()
        await waiting.done.wait()
        if waiting.fate is Fate.COMMITTED:
            return waiting.response
        if waiting.fate is Fate.LOST or unknown is None:
            return not_controller()
        return unknown()

    async def _process(self, command: Command) -> _Waiting | None:
        while True:
            try:
                return await self._process_once(command)
            except UnexpectedBaseOffsetError:
                # The raft layer appended a record of its own (a voter change)
                # between reading the next offset and proposing: nothing was
                # appended, so the command runs again on the new offset.
                continue

    async def _process_once(self, command: Command) -> _Waiting | None:
        epoch = self.active_epoch
        if epoch is None:
            return None
        try:
            next_offset = self.raft.next_write_offset(epoch)
        except NotLeaderError:
            return None
        ctx = ControllerContext(
            config=self.config,
            cluster_id=self.cluster_id,
            now_ms=_now_ms(),
            next_offset=next_offset,
            rng=self.rng,
            voters=frozenset(self.raft.voter_addresses),
            kraft_version=self.raft.kraft_version,
        )
        result = command(self.image, ctx)
        if not result.records:
            # Computed from the speculative image: it may depend on records not
            # committed yet, so it waits for them (Kafka's ControllerWriteEvent
            # waits for the highest pending offset likewise).
            last = self._waiting[-1].last_offset if self._waiting else -1
            return self._answer_at(last + 1, last, epoch, result.response)
        payloads = [encode(record) for record in result.records]
        try:
            last_offset = await self.raft.propose(payloads, epoch=epoch,
                                                  base_offset=next_offset)
        except NotLeaderError:
            return None
        assert last_offset == next_offset + len(payloads) - 1, (last_offset, next_offset)
        if self.active_epoch == epoch:
            delta = MetadataDelta(self.image)
            for i, record in enumerate(result.records):
                delta.replay(record, next_offset + i, epoch)
            self.image = delta.apply()
            self._last_write_ms = ctx.now_ms
        # Deactivated while proposing: the records are in the log and may still
        # commit, so the command waits for their fate like the others.
        return self._answer_at(next_offset, last_offset, epoch, result.response)

    def _answer_at(
        self, first_offset: int, last_offset: int, epoch: int, response: Any
    ) -> _Waiting:
        """`response`, released once the log is committed up to `last_offset` with
        our entries there (at once if it already is)."""
        waiting = _Waiting(first_offset, last_offset, epoch, response)
        if self.active_epoch != epoch and self._never_appended(waiting):
            waiting.settle(Fate.LOST)
        elif (fate := self._fate(waiting)) is not None:
            waiting.settle(fate)
        else:
            self._waiting.append(waiting)
        return waiting

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Process commands and periodic work until cancelled."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._periodic)
            task_status.started()
            async for event in self._queue:
                match event:
                    case RunCommand(command, reply):
                        reply.send_nowait(await self._process(command))
                    case _:
                        assert_never(event)

    # --- periodic work -------------------------------------------------------------------

    async def _periodic(self) -> None:
        idle_ms = self.config.metadata_max_idle_interval_ms
        while True:
            await self.activated.wait()
            image = self.image
            now = _now_ms()
            if image.features.metadata_version == 0:
                await self._internal(self._bootstrap)
            if self.heartbeats.expired(self.image, now):
                await self._internal(self._fence_expired)
            if idle_ms > 0 and now - self._last_write_ms >= idle_ms:
                await self._internal(_noop)
            if now >= self._next_balance_ms:
                await self._balance_leaders(now)
            if self.config.kraft_balancer_enable and now >= self._next_replica_balance_ms:
                self._next_replica_balance_ms = now + self.config.kraft_balancer_interval_ms
                await self._internal(self._balance_replicas)
            await trio.sleep(min(PERIODIC_CHECK_MS, idle_ms if idle_ms > 0 else PERIODIC_CHECK_MS)
                             / 1000)

    async def _balance_leaders(self, now: int) -> None:
        """Run leader balancing if it is enabled and some partition is imbalanced."""
        self._next_balance_ms = now + self.config.leader_imbalance_check_interval_seconds * 1000
        if not self.config.auto_leader_rebalance_enable:
            return
        if next(imbalanced_partitions(self.image), None) is not None:
            elected = await self.run_command(balance_leaders, lambda: 0)
            if elected >= MAX_ELECTIONS_PER_IMBALANCE:
                self._next_balance_ms = now  # more to do: go on at once

    def _balance_replicas(
        self, image: MetadataImage, ctx: ControllerContext
    ) -> ControllerResult[int]:
        from kraft.controller.balancer import balance_replicas  # opt-in: loaded when on

        return balance_replicas(image, ctx, self.config.kraft_balancer_max_moves)

    def _fence_expired(
        self, image: MetadataImage, ctx: ControllerContext
    ) -> ControllerResult[None]:
        """Fence brokers whose session expired, judged on the image the command runs on."""
        expired = self.heartbeats.expired(image, ctx.now_ms)
        for broker_id in expired:
            if self.heartbeats.connection_lost(broker_id):
                log.info("node %d: fencing broker %d: its heartbeat connection closed and it "
                         "did not heartbeat again within %d ms", self.node_id, broker_id,
                         self.heartbeats.disconnect_grace_ms)
            else:
                log.info("node %d: fencing broker %d: no heartbeat within %d ms", self.node_id,
                         broker_id, self.config.broker_session_timeout_ms)
        return cluster.fence_brokers(image, tuple(expired), ctx)

    def heartbeat_arrived(self, broker_id: int, connection: Any) -> None:
        """A BrokerHeartbeat of `broker_id` arrived on `connection` (the server's
        RequestContext): remember it and watch it for closing (see
        kraft.controller.heartbeats). Called on arrival, before the command
        runs, so a broker that reconnects counts as back at once."""
        if self.heartbeats.connected(broker_id, connection, _now_ms()):
            connection.watch_close(_ConnectionClosed(self.heartbeats, broker_id, connection))

    async def _internal(self, command: Command) -> None:
        """Run a command of the controller's own; its outcome needs no answer."""
        await self.run_command(command, lambda: None)


    def _bootstrap(self, image: MetadataImage, ctx: ControllerContext) -> ControllerResult[None]:
        """metadata.version and transaction.version (2, as Kafka 4.x formats new
        clusters, unless the format's --feature chose a level), then what the
        format left (kraft.metadata.bootstrap)."""
        if image.features.metadata_version != 0:
            return ControllerResult((), None)
        extra = bootstrap.read(self.config.metadata_log_dir)
        chosen = {r.name for r in extra if isinstance(r, FeatureLevelRecord)}
        defaults = [FeatureLevelRecord(name=METADATA_VERSION,
                                       feature_level=METADATA_VERSION_LEVEL)]
        if TRANSACTION_VERSION not in chosen:
            defaults.append(FeatureLevelRecord(name=TRANSACTION_VERSION,
                                               feature_level=TRANSACTION_VERSION_LEVEL))
        return ControllerResult((*defaults, *extra), None)


def _noop(image: MetadataImage, ctx: ControllerContext) -> ControllerResult[None]:
    return ControllerResult((NoOpRecord(),), None)


@dataclass(frozen=True, eq=True)
class _ConnectionClosed:
    """Callback for a broker's heartbeat connection closing (equal callbacks are
    registered once per connection)."""

    heartbeats: BrokerHeartbeatManager = field(compare=False)
    broker_id: int
    connection: Any = field(compare=False)

    def __call__(self) -> None:
        self.heartbeats.disconnected(self.broker_id, self.connection, _now_ms())


def _now_ms() -> int:
    return int(trio.current_time() * 1000)
