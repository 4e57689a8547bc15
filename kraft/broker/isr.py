"""IsrManager: ISR changes this broker proposes for the partitions it leads.

Kafka's Partition.maybeExpandIsr / maybeShrinkIsr plus the AlterPartition
manager. The leader never changes the ISR itself: it proposes the new ISR to
the active controller with AlterPartition (v3, every member with its broker
epoch, KIP-903) and applies it only when the metadata log says so (the
replica manager calls `Partition.make_leader` with the new registration).
While a proposal is in flight the partition's `pending_isr` is set, the high
watermark counts the larger of the two sets (KIP-497), and no other change
is proposed for that partition.

- Expand: a follower that fetched up to the high watermark and the start of
  this leader's epoch (`Partition.ready_to_join_isr`) joins, if its broker is
  registered, unfenced, not shutting down, and fetches with the broker epoch
  the metadata has for it (a restarted broker with an empty disk cannot be
  mistaken for the old one: KAFKA-14139).
- Shrink: followers not caught up for replica.lag.time.max.ms leave, and so
  do followers from which no fetch at all arrived for
  kraft.replica.fetch.silence.max.ms (docs/design.md, failing over, 6); never
  the leader, so the ISR never empties. The replica manager runs the check
  (`ReplicaManager.run`, its cadence).

Proposals are batched: one AlterPartition request carries every partition
proposed since the last one. A refused proposal (stale partition epoch, lost
leadership, ...) is dropped; the next fetch or shrink check proposes again
from the then-current state. An unanswered one may have been executed, so it
stays pending and is sent again after RETRY_BACKOFF_S.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable

import trio
from kio.schema.errors import ErrorCode
from kio.schema.types import BrokerId
from kio.static.primitive import i8, i32, i64

from kraft.broker.controller_channel import (
    ControllerChannel,
    ControllerUnavailable,
    UnansweredLog,
)
from kraft.broker.leadership_log import count_and_describe
from kraft.broker.partition import Partition
from kraft.metadata.image import MetadataImage

log = logging.getLogger("kraft.broker")

REQUEST_TIMEOUT_S = 5.0
RETRY_BACKOFF_S = 1.0


class IsrManager:
    def __init__(
        self,
        node_id: int,
        channel: ControllerChannel,
        broker_epoch: Callable[[], int],
        image: Callable[[], MetadataImage],
        lag_time_max_ms: int,
        fetch_silence_max_ms: int = -1,
    ) -> None:
        """`fetch_silence_max_ms`: kraft.replica.fetch.silence.max.ms (-1: off)."""
        self.node_id = node_id
        self.channel = channel
        self.broker_epoch = broker_epoch
        self.image = image
        self.lag_time_max_ms = lag_time_max_ms
        self.fetch_silence_max_ms = fetch_silence_max_ms
        # (partition, first): first is False for a proposal sent again.
        self._queue_send, self._queue = trio.open_memory_channel[tuple[Partition, bool]](
            math.inf)
        self._unanswered = UnansweredLog(node_id, "AlterPartition unanswered (%s); retrying",
                                         "AlterPartition answered again")

    # --- decisions ---------------------------------------------------------------------

    def maybe_expand(self, partition: Partition, replica_id: int, replica_epoch: int) -> None:
        """Called after a follower fetch: propose adding the follower if it is in sync."""
        if partition.pending_isr is not None or not partition.ready_to_join_isr(replica_id):
            return
        registration = self.image().cluster.brokers.get(replica_id)
        if (
            registration is None
            or not registration.active
            or (replica_epoch >= 0 and replica_epoch != registration.broker_epoch)
        ):
            return
        self._propose(partition, (*partition.isr, replica_id))

    def shrink(self, partitions: Iterable[Partition], now_ms: int, *,
               silence: bool = True) -> None:
        """`maybe_shrink` each of `partitions`, and log what it found once: one
        INFO line per reason and set of followers, naming the partitions (when a
        node stops fetching it is out of sync in every partition it follows)."""
        found: dict[str, list[tuple[str, int]]] = {}
        for partition in partitions:
            for reason in self.maybe_shrink(partition, now_ms, silence=silence):
                found.setdefault(reason, []).append((partition.topic, partition.partition))
        for reason, shrunk in found.items():
            log.info("node %d: %s, in %s; proposing ISRs without them", self.node_id, reason,
                     count_and_describe(shrunk))

    def maybe_shrink(self, partition: Partition, now_ms: int, *, silence: bool = True
                     ) -> list[str]:
        """Propose removing followers that have not been caught up for too long, or
        (unless `silence` is False: the caller's clock jumped, see
        `ReplicaManager.run`) not heard from for too long. Returns why, one text
        per reason ("followers [2] out of sync for over 7000 ms: no fetch at
        all"), logged at DEBUG here and summed up by `shrink`."""
        if partition.pending_isr is not None or not partition.is_leader:
            return []
        silence_ms = self.fetch_silence_max_ms if silence else -1
        out = partition.out_of_sync_replicas(now_ms, self.lag_time_max_ms, silence_ms)
        if not out:
            return []
        silent = partition.silent_replicas(now_ms, silence_ms)
        lagging = [r for r in out if r not in silent]
        # "out of sync for over" in every reason: scripts/bench_stability.py counts them
        reasons = ([f"followers {silent} out of sync for over {silence_ms} ms: no fetch at all"]
                   if silent else [])
        if lagging:
            reasons.append(f"followers {lagging} out of sync for over {self.lag_time_max_ms} ms")
        for reason in reasons:
            log.debug("node %d: %s: %s", self.node_id, partition.name, reason)
        self._propose(partition, tuple(r for r in partition.isr if r not in out))
        return reasons

    def _propose(self, partition: Partition, new_isr: tuple[int, ...]) -> None:
        log.debug("node %d: proposing ISR %s for %s (was %s)", self.node_id, list(new_isr),
                  partition.name, list(partition.isr))
        partition.pending_isr = new_isr
        self._queue_send.send_nowait((partition, True))

    # --- sending -------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            batch = [await self._queue.receive()]
            while True:
                try:
                    batch.append(self._queue.receive_nowait())
                except trio.WouldBlock:
                    break
            self._log_expansions([p for p, first in batch if first])
            await self._send([p for p in dict.fromkeys(p for p, _ in batch)
                              if p.pending_isr is not None])

    def _log_expansions(self, proposed: list[Partition]) -> None:
        """One INFO line per set of followers proposed back into the ISR of the
        partitions in one batch (a restarted node catches up on all of them at
        about the same time); the per-partition proposals are at DEBUG."""
        joined: dict[tuple[int, ...], list[tuple[str, int]]] = {}
        for p in dict.fromkeys(proposed):
            if p.pending_isr is None:
                continue
            added = tuple(r for r in p.pending_isr if r not in p.isr)
            if added:
                joined.setdefault(added, []).append((p.topic, p.partition))
        for added, partitions in joined.items():
            log.info("node %d: followers %s caught up; proposing them back into the ISR of %s",
                     self.node_id, list(added), count_and_describe(partitions))

    async def _send(self, partitions: list[Partition]) -> None:
        if not partitions:
            return
        # Imported at the first ISR change, not at start (docs/design.md, start-up).
        from kio.schema.alter_partition.v3.request import (
            AlterPartitionRequest,
            BrokerState,
            PartitionData,
            TopicData,
        )

        proposed = {p: p.pending_isr for p in partitions}
        image = self.image()
        by_topic: dict[object, list[PartitionData]] = {}
        for p in partitions:
            assert p.pending_isr is not None
            members = tuple(
                BrokerState(broker_id=BrokerId(r), broker_epoch=i64(self._epoch_of(image, r)))
                for r in p.pending_isr
            )
            by_topic.setdefault(p.topic_id, []).append(PartitionData(
                partition_index=i32(p.partition), leader_epoch=i32(p.leader_epoch),
                new_isr_with_epochs=members, leader_recovery_state=i8(0),
                partition_epoch=i32(p.partition_epoch),
            ))
        request = AlterPartitionRequest(
            broker_id=BrokerId(self.node_id), broker_epoch=i64(self.broker_epoch()),
            topics=tuple(TopicData(topic_id=t, partitions=tuple(ps))  # type: ignore[arg-type]
                         for t, ps in by_topic.items()),
        )
        try:
            response = await self.channel.send(request, REQUEST_TIMEOUT_S)
        except ControllerUnavailable as e:
            # It may or may not have been executed: keep the proposals (the high
            # watermark keeps counting a member being added) and send them again.
            self._unanswered.failed(str(e))
            await trio.sleep(RETRY_BACKOFF_S)
            for p in partitions:
                if p.pending_isr is proposed[p] and p.is_leader:
                    self._queue_send.send_nowait((p, False))
            return
        self._unanswered.answered()
        errors: dict[tuple[object, int], ErrorCode] = {}
        if response.error_code != ErrorCode.none:
            errors = {(p.topic_id, p.partition): response.error_code for p in partitions}
        for topic in response.topics:
            for result in topic.partitions:
                if result.error_code != ErrorCode.none:
                    errors[(topic.topic_id, result.partition_index)] = result.error_code
        refused: dict[str, list[tuple[str, int]]] = {}
        for p in partitions:
            error = errors.get((p.topic_id, p.partition))
            if error is not None:
                refused.setdefault(error.name, []).append((p.topic, p.partition))
                if p.pending_isr is proposed[p]:  # not a newer proposal made meanwhile
                    p.pending_isr = None
        # On success the change arrives through the metadata log, which clears
        # pending_isr (Partition.make_leader).
        for name, names in refused.items():
            log.info("node %d: AlterPartition refused with %s for %s", self.node_id, name,
                     count_and_describe(names))

    def _epoch_of(self, image: MetadataImage, broker_id: int) -> int:
        if broker_id == self.node_id:
            return self.broker_epoch()
        registration = image.cluster.brokers.get(broker_id)
        return registration.broker_epoch if registration is not None else -1
