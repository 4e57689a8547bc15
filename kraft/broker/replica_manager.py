"""ReplicaManager: the partitions this broker hosts, driven by the metadata image.

Theory of operation (Kafka's ReplicaManager.applyDelta; the logs themselves
are the log manager's, kraft/broker/log_manager.py):

- The broker's metadata publisher calls `apply(update)` for every new image
  once the loader has caught up with the quorum (before that the image may
  be partial). The first time, and after a snapshot, it reconciles the whole
  image; otherwise it reads the delta's deleted and changed topics only
  (deletions first, so a topic deleted and recreated under the same name
  frees its directory before the new one is opened).
- For every partition that lists this broker as a replica it gets the log
  from the log manager (opening and recovering it) and makes the replica
  leader or follower at the image's leader epoch: a new leader stops
  fetching, a follower (re)starts fetching from the new leader (the replica
  fetchers, kraft/broker/fetcher.py); `on_leadership_change` callbacks (the
  group coordinator) hear of both. A partition no longer assigned here, or of
  a deleted topic, is retired (its waiters answer NOT_LEADER_OR_FOLLOWER) and
  its log deleted.
- After the first reconcile the log manager sweeps stray directories.
- Each partition carries its topic's effective log config and
  min.insync.replicas, set when it opens and again whenever the topic's
  config, this broker's dynamic config or the cluster's dynamic broker
  defaults change in the image.
- Waiting requests (acks=all produce, fetch long poll, DeleteRecords, group
  coordinator writes) wait in `purgatory` (kraft/broker/purgatory.py); every
  partition completes them as its state changes.
- Background work (`run`): ISR shrink checks (Kafka's isr-expiration task;
  kraft/broker/isr.py), every replica.lag.time.max.ms / 2 as Kafka's, or a
  tenth of kraft.replica.fetch.silence.max.ms when that is on and shorter
  (`isr_check_interval_ms`).

Single owner: the broker's trio loop.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

import trio

from kraft import topic_configs
from kraft.broker.fetcher import ReplicaFetcherManager
from kraft.broker.isr import IsrManager
from kraft.broker.leadership_log import LeadershipChanges
from kraft.broker.log_manager import LogManager, TopicPartition
from kraft.broker.partition import Partition, PartitionKey
from kraft.broker.purgatory import DelayedOperationPurgatory
from kraft.config import KafkaConfig
from kraft.log.config import LogConfig
from kraft.metadata.image import ConfigResource, MetadataImage, TopicImage
from kraft.metadata.loader import MetadataUpdate
from kraft.metadata.records import BROKER_RESOURCE, TOPIC_RESOURCE

log = logging.getLogger("kraft.broker")


class ReplicaManager:
    """Local replicas by (topic, partition) and by (topic id, partition)."""

    def __init__(
        self,
        config: KafkaConfig,
        node_id: int,
        log_manager: LogManager,
        fetchers: ReplicaFetcherManager | None = None,
        isr: IsrManager | None = None,
    ) -> None:
        self.config = config
        self.node_id = node_id
        self.log_manager = log_manager
        self.fetchers = fetchers
        self.isr = isr
        self.purgatory: DelayedOperationPurgatory[PartitionKey] = DelayedOperationPurgatory(
            "partition")
        self.partitions: dict[TopicPartition, Partition] = {}
        self.partitions_by_id: dict[tuple[uuid.UUID, int], Partition] = {}
        self.image: MetadataImage | None = None
        self._initialised = False
        self.on_leadership_change: list[Callable[[Partition], None]] = []
        self._changes = LeadershipChanges()  # of the update being applied

    # --- lookups ----------------------------------------------------------------------

    def get(self, topic: str, partition: int) -> Partition | None:
        return self.partitions.get((topic, partition))

    def get_by_id(self, topic_id: uuid.UUID, partition: int) -> Partition | None:
        return self.partitions_by_id.get((topic_id, partition))

    def log_config(self, image: MetadataImage, topic: str) -> LogConfig:
        overrides = image.configs.get(ConfigResource(TOPIC_RESOURCE, topic))
        dynamic = topic_configs.dynamic_broker_configs(image, self.node_id)
        return topic_configs.log_config(self.config, overrides, *dynamic)

    def min_insync_replicas(self, image: MetadataImage, topic: str) -> int:
        """The effective min.insync.replicas of `topic` on this broker."""
        overrides = image.configs.get(ConfigResource(TOPIC_RESOURCE, topic))
        return int(topic_configs.topic_config_value(
            self.config, overrides, "min.insync.replicas",
            *topic_configs.dynamic_broker_configs(image, self.node_id)))

    # --- applying metadata ---------------------------------------------------------

    def apply(self, update: MetadataUpdate) -> None:
        """Follow the image: open, lead, follow, retire and delete local replicas."""
        image = update.image
        self.image = image
        self._changes = LeadershipChanges()
        try:
            self._apply(update)
        finally:
            self._changes.log(log, self.node_id)

    def _apply(self, update: MetadataUpdate) -> None:
        image = update.image
        if not self._initialised or update.delta is None:
            self._reconcile_all(image)
            if not self._initialised:
                self.log_manager.sweep_strays()
                self._initialised = True
            return
        topics_delta = update.delta.topics_delta
        if topics_delta is not None:
            base = update.delta.image.topics
            for topic_id in topics_delta.deleted_topic_ids:
                old = base.by_id.get(topic_id)
                if old is not None:
                    self._remove_topic(old)
            for topic_id in topics_delta.changed_topics:
                topic = image.topics.by_id.get(topic_id)
                if topic is not None:
                    self._apply_topic(image, topic)
        configs_delta = update.delta.configs_delta
        if configs_delta is not None:
            topics = {r.name for r in configs_delta.changes if r.type == TOPIC_RESOURCE}
            if any(r.type == BROKER_RESOURCE for r in configs_delta.changes):
                topics = {name for name, _ in self.partitions}
            self._update_topic_configs(image, topics)

    def _reconcile_all(self, image: MetadataImage) -> None:
        wanted: set[tuple[uuid.UUID, int]] = set()
        for topic in image.topics.by_id.values():
            wanted.update((topic.topic_id, p) for p in topic.partitions
                          if self.node_id in topic.partitions[p].replicas)
        # Removals first: a topic recreated under the same name reuses the name.
        for key, partition in list(self.partitions_by_id.items()):
            if key not in wanted:
                self._remove_partition(partition)
        for topic in image.topics.by_id.values():
            self._apply_topic(image, topic)
        self._update_topic_configs(image, {name for name, _ in self.partitions})

    def _apply_topic(self, image: MetadataImage, topic: TopicImage) -> None:
        for index, registration in topic.partitions.items():
            local = self.partitions_by_id.get((topic.topic_id, index))
            if self.node_id not in registration.replicas:
                if local is not None:
                    self._remove_partition(local)
                continue
            if local is None:
                local = self._open_partition(image, topic, index)
            if registration.leader == self.node_id:
                changed = local.make_leader(registration, _now_ms())
                if changed and self.fetchers is not None:
                    self.fetchers.unfollow(local)
            else:
                changed = local.make_follower(registration)
                if changed and self.fetchers is not None:
                    self.fetchers.follow(local)
            if changed:
                role = (self._changes.leader if registration.leader == self.node_id
                        else self._changes.follower)
                role.append((topic.name, index))
                for callback in self.on_leadership_change:
                    callback(local)

    def _update_topic_configs(self, image: MetadataImage, topics: set[str]) -> None:
        """Give the local partitions of `topics` their effective configs in `image`."""
        configs: dict[str, tuple[LogConfig, int]] = {}
        for key, partition in list(self.partitions.items()):
            topic = key[0]
            if topic not in topics:
                continue
            if topic not in configs:
                configs[topic] = (self.log_config(image, topic),
                                  self.min_insync_replicas(image, topic))
            config, min_isr = configs[topic]
            self.log_manager.update_config(key, config)
            partition.min_insync_replicas = min_isr

    def _open_partition(self, image: MetadataImage, topic: TopicImage, index: int) -> Partition:
        opened = self.log_manager.get_or_create_log(
            topic.name, index, topic.topic_id, self.log_config(image, topic.name))
        partition = Partition(
            topic.name, index, topic.topic_id, opened.log, opened.producer_state, self.node_id,
            self.purgatory, self.min_insync_replicas(image, topic.name),
        )
        self.partitions[(topic.name, index)] = partition
        self.partitions_by_id[(topic.topic_id, index)] = partition
        return partition

    def _remove_topic(self, topic: TopicImage) -> None:
        log.info("node %d: deleting local data of topic %s", self.node_id, topic.name)
        for index in topic.partitions:
            partition = self.partitions_by_id.get((topic.topic_id, index))
            if partition is not None:
                self._remove_partition(partition)

    def _remove_partition(self, partition: Partition) -> None:
        if self.fetchers is not None:
            self.fetchers.unfollow(partition)
        key = (partition.topic, partition.partition)
        self.partitions_by_id.pop((partition.topic_id, partition.partition), None)
        partition.retire()
        if self.partitions.get(key) is partition:
            del self.partitions[key]
            self.log_manager.delete_log(key)

    # --- background work -------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                  ) -> None:
        """Check for ISR members to drop (Kafka's isr-expiration) until cancelled.

        A check that wakes up more than one interval late found this event loop
        stalled: followers' fetches may be waiting unread in its sockets, so the
        silence it would measure is its own. That check applies the lag rule
        only; the next one, an interval later, has read them."""
        every = isr_check_interval_ms(self.config.replica_lag_time_max_ms,
                                      self.config.kraft_replica_fetch_silence_max_ms) / 1000
        task_status.started()
        while True:
            due = trio.current_time() + every
            await trio.sleep_until(due)
            self.shrink_isrs(silence=trio.current_time() - due <= every)

    def shrink_isrs(self, *, silence: bool = True) -> None:
        """Propose dropping the followers that have fallen out of sync (or silent,
        unless `silence` is False), everywhere this broker leads."""
        if self.isr is None:
            return
        self.isr.shrink(list(self.partitions.values()), _now_ms(), silence=silence)


def isr_check_interval_ms(lag_time_max_ms: int, fetch_silence_max_ms: int) -> float:
    """How often the leader looks for followers to drop. Kafka: every
    replica.lag.time.max.ms / 2, so a follower leaves 1 to 1.5 lag times after
    it stopped. At that cadence the check alone would add up to 15 s to a
    7 s silence limit, so with the silence rule on it runs every tenth of
    that limit (a follower leaves 1 to 1.1 limits after its last fetch; the lag
    rule, checked as often, then fires closer to its own limit, never before)."""
    every = lag_time_max_ms / 2
    if fetch_silence_max_ms > 0:
        every = min(every, fetch_silence_max_ms / 10)
    return every


def _now_ms() -> int:
    return int(trio.current_time() * 1000)
