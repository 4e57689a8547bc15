"""QuorumController: the active controller runs on the metadata quorum's leader.

Theory of operation (Kafka's QuorumController, without timeline structures):

- Every controller node runs one. It publishes from the MetadataLoader like a
  broker does, so `committed_image` is always the image of the committed log.
- It becomes *active* when its own LeaderChange record for the epoch it leads
  is committed: by then every record of earlier epochs is committed and
  replayed, so `committed_image` is the whole truth. It stops being active the
  moment raft reports another leader or epoch.
- Commands are serialised through one queue (`run_command`), processed by one
  task. A command is a pure function `(image, ctx) -> ControllerResult`
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
  waits until the committed log passes its last record and then gets its own
  response if that record is the one it proposed, or the caller's
  `not_controller()` if another leader's entry took its place. Which entry is
  committed at an offset follows from the committed LeaderChange records:
  every epoch's first entry is its leader's LeaderChange, so an offset's
  epoch is that of the last LeaderChange at or before it. When that cannot be
  told (the node resigned and stops; part of the command's records committed
  and part did not; a snapshot replaced the log) the command gets the
  caller's `unknown()`. So NOT_CONTROLLER always means "did not take effect",
  and a broker may send the request to the next controller.
- Periodic work runs as commands too: fencing brokers whose session expired,
  a NoOpRecord every metadata.max.idle.interval.ms so observers see progress
  (KIP-835), writing metadata.version when the log has none (bootstrap), and
  moving leadership back to preferred replicas every
  leader.imbalance.check.interval.seconds (kraft.controller.elect_leaders).

Soft state (broker heartbeats) lives only here and is reset on activation, as
Kafka's BrokerHeartbeatManager is.
"""

from __future__ import annotations

import enum
import logging
import math
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import trio

from kraft.config import KafkaConfig
from kraft.controller import cluster
from kraft.controller.elect_leaders import (
    MAX_ELECTIONS_PER_IMBALANCE,
    balance_leaders,
    imbalanced_partitions,
)
from kraft.controller.heartbeats import BrokerHeartbeatManager
from kraft.controller.result import ControllerContext, ControllerResult
from kraft.metadata.delta import MetadataDelta
from kraft.metadata.image import EMPTY, MetadataImage
from kraft.metadata.loader import LeaderChange, MetadataUpdate
from kraft.metadata.records import METADATA_VERSION, FeatureLevelRecord, NoOpRecord, encode
from kraft.raft.driver import RaftNode
from kraft.raft.types import LeaderAndEpoch, NotLeaderError

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
        self.node_id: int = config["node.id"]
        self.raft = raft
        self.rng = rng or random.Random()
        self.committed_image: MetadataImage = EMPTY
        self.committed_offset = -1
        self.image: MetadataImage = EMPTY  # speculative: committed + our appended records
        self.heartbeats = BrokerHeartbeatManager(config["broker.session.timeout.ms"])
        self.active_epoch: int | None = None
        self._claiming_epoch: int | None = None
        self._waiting: list[_Waiting] = []
        self._resigned = False
        self._leader_changes: deque[LeaderChange] = deque(maxlen=LEADER_CHANGES_KEPT)
        self._last_write_ms = 0
        self._next_balance_ms = 0
        self._queue_send, self._queue = trio.open_memory_channel[tuple[Any, ...]](math.inf)
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
                if waiting.last_offset > update.offset:
                    still.append(waiting)
                elif update.from_snapshot:
                    waiting.settle(Fate.UNKNOWN)
                else:
                    waiting.settle(self._fate(waiting))
            self._waiting = still

    def _fate(self, waiting: _Waiting) -> Fate:
        """Whether the committed entries at the command's first and last offsets are
        the ones it proposed (see the module docstring)."""
        last = self._epoch_at(waiting.last_offset)
        if waiting.first_offset > waiting.last_offset:  # no records: it read up to last
            first = last
        else:
            first = self._epoch_at(waiting.first_offset)
        if first == last == waiting.epoch:
            return Fate.COMMITTED
        if first is not None and first != waiting.epoch:
            return Fate.LOST  # no prefix of its records committed either
        return Fate.UNKNOWN

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
            # No leader in our own epoch: we resigned (the node stops), so nothing
            # more about our records will be learnt here.
            self._resigned = leader.leader_id is None and leader.epoch == self.active_epoch
            self._deactivate(leader)
        if leader.leader_id == self.node_id:
            self._claiming_epoch = leader.epoch
        else:
            self._claiming_epoch = None

    def _activate(self, epoch: int) -> None:
        self.active_epoch = epoch
        self._claiming_epoch = None
        self._resigned = False
        self.image = self.committed_image
        now = _now_ms()
        self.heartbeats.reset(self.image, now)
        self._last_write_ms = now
        self._next_balance_ms = now + self.config["leader.imbalance.check.interval.seconds"] * 1000
        log.info("node %d: active controller in epoch %d", self.node_id, epoch)
        self.activated.set()

    def _deactivate(self, leader: LeaderAndEpoch) -> None:
        log.info("node %d: no longer the active controller (leader %s in epoch %d)",
                 self.node_id, leader.leader_id, leader.epoch)
        self.active_epoch = None
        self.image = self.committed_image
        self.activated = trio.Event()
        if self._resigned:
            for waiting in self._waiting:
                waiting.settle(Fate.UNKNOWN)
            self._waiting = []
        # Otherwise the waiting commands learn their fate from the new leader's commits.

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
        reply_send, reply = trio.open_memory_channel[Any](1)
        await self._queue_send.send((command, reply_send))
        waiting: _Waiting | None = await reply.receive()
        if waiting is None:
            return not_controller()
        await waiting.done.wait()
        if waiting.fate is Fate.COMMITTED:
            return waiting.response
        if waiting.fate is Fate.LOST or unknown is None:
            return not_controller()
        return unknown()

    async def _process(self, command: Command) -> _Waiting | None:
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
            last_offset = await self.raft.propose(payloads, epoch=epoch)
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
        if last_offset <= self.committed_offset:
            waiting.settle(Fate.COMMITTED if self.active_epoch == epoch else self._fate(waiting))
        elif self.active_epoch != epoch and self._resigned:
            waiting.settle(Fate.UNKNOWN)
        else:
            self._waiting.append(waiting)
        return waiting

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Process commands and periodic work until cancelled."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._periodic)
            task_status.started()
            async for command, reply in self._queue:
                reply.send_nowait(await self._process(command))

    # --- periodic work -------------------------------------------------------------------

    async def _periodic(self) -> None:
        idle_ms = self.config["metadata.max.idle.interval.ms"]
        while True:
            await self.activated.wait()
            image = self.image
            now = _now_ms()
            if image.features.metadata_version == 0:
                await self._internal(_bootstrap)
            if self.heartbeats.expired(self.image, now):
                await self._internal(self._fence_expired)
            if idle_ms > 0 and now - self._last_write_ms >= idle_ms:
                await self._internal(_noop)
            if now >= self._next_balance_ms:
                await self._balance_leaders(now)
            await trio.sleep(min(PERIODIC_CHECK_MS, idle_ms if idle_ms > 0 else PERIODIC_CHECK_MS)
                             / 1000)

    async def _balance_leaders(self, now: int) -> None:
        """Run leader balancing if it is enabled and some partition is imbalanced."""
        self._next_balance_ms = now + self.config["leader.imbalance.check.interval.seconds"] * 1000
        if not self.config["auto.leader.rebalance.enable"]:
            return
        if next(imbalanced_partitions(self.image), None) is not None:
            elected = await self.run_command(balance_leaders, lambda: 0)
            if elected >= MAX_ELECTIONS_PER_IMBALANCE:
                self._next_balance_ms = now  # more to do: go on at once

    def _fence_expired(
        self, image: MetadataImage, ctx: ControllerContext
    ) -> ControllerResult[None]:
        """Fence brokers whose session expired, judged on the image the command runs on."""
        expired = self.heartbeats.expired(image, ctx.now_ms)
        if expired:
            log.info("node %d: fencing brokers %s: no heartbeat within %d ms",
                     self.node_id, expired, self.config["broker.session.timeout.ms"])
        return cluster.fence_brokers(image, tuple(expired), ctx)

    async def _internal(self, command: Command) -> None:
        """Run a command of the controller's own; its outcome needs no answer."""
        await self.run_command(command, lambda: None)


def _bootstrap(image: MetadataImage, ctx: ControllerContext) -> ControllerResult[None]:
    if image.features.metadata_version != 0:
        return ControllerResult((), None)
    return ControllerResult(
        (FeatureLevelRecord(name=METADATA_VERSION, feature_level=METADATA_VERSION_LEVEL),), None
    )


def _noop(image: MetadataImage, ctx: ControllerContext) -> ControllerResult[None]:
    return ControllerResult((NoOpRecord(),), None)


def _now_ms() -> int:
    return int(trio.current_time() * 1000)
