"""ReplicaManager: the partitions this broker hosts, driven by the metadata image.

Theory of operation (Kafka's ReplicaManager.applyDelta and LogManager):

- The broker's metadata publisher calls `apply(update)` for every new image
  once the loader has caught up with the quorum (before that the image may
  be partial). The first time, and after a snapshot, it reconciles the whole
  image; otherwise it reads the delta's changed and deleted topics only.
- For every partition that lists this broker as a replica it opens the log
  (`<log dir>/<topic>-<partition>`, recovering it) and makes the replica
  leader or follower at the image's leader epoch. A partition no longer
  assigned here, or of a deleted topic, is closed and its directory deleted.
- The first reconcile also sweeps *stray* partition directories: those of
  topics the image does not have, or whose `partition.metadata` names
  another topic id (a topic deleted and recreated while we were down).
- Offsets that must survive restarts live in Kafka's per-log-dir checkpoint
  files: `recovery-point-offset-checkpoint` (flushed up to here: recovery
  starts there), `replication-offset-checkpoint` (high watermarks) and
  `log-start-offset-checkpoint`. They are written every
  CHECKPOINT_INTERVAL_S and on shutdown.
- Background work (`run`): flushing logs whose log.flush.interval.* is due,
  checkpoints, ISR shrink checks, forgetting idle producers
  (producer.id.expiration.ms), retention (log.retention.check.interval.ms)
  and compaction (log.cleaner.backoff.ms, for topics whose cleanup.policy
  has "compact"; log/cleaner.py), each log bounded by its high watermark.
  The cleaner reads a log's old segments in a worker thread; a partition
  removed meanwhile is closed only once that pass has been abandoned, and
  where cleaning got to is kept in `cleaner-offset-checkpoint`.

Deleting a directory renames it to `<topic>-<partition>.<id>-delete` first
(as Kafka does) so a crash mid-delete never leaves a half-deleted log under
a live name; the rename is fsynced, then the renamed directory is removed
(on the event loop: partitions are small enough here; a directory still
read by a compaction pass is removed once the pass is abandoned).

Single owner: the broker's trio loop.
"""

from __future__ import annotations

import base64
import logging
import shutil
import threading
import uuid
from collections.abc import Callable
from pathlib import Path

import trio

from kraft import topic_configs
from kraft.broker.fetcher import ReplicaFetcherManager
from kraft.broker.isr import IsrManager
from kraft.broker.partition import Partition
from kraft.config import KafkaConfig
from kraft.log.checkpoint import (
    atomic_write,
    fsync_dir,
    read_offset_checkpoint,
    write_offset_checkpoint,
)
from kraft.log.cleaner import PartitionCleaner
from kraft.log.config import LogConfig
from kraft.log.errors import CorruptSegmentError
from kraft.log.results import parse_partition_dir, partition_dir, wall_clock_ms
from kraft.metadata.image import (
    ConfigResource,
    MetadataImage,
    TopicImage,
)
from kraft.metadata.loader import MetadataUpdate
from kraft.metadata.records import BROKER_RESOURCE, TOPIC_RESOURCE

log = logging.getLogger("kraft.broker")

RECOVERY_POINT_FILE = "recovery-point-offset-checkpoint"
CLEANER_OFFSET_FILE = "cleaner-offset-checkpoint"
REPLICATION_OFFSET_FILE = "replication-offset-checkpoint"
LOG_START_OFFSET_FILE = "log-start-offset-checkpoint"
PARTITION_METADATA_FILE = "partition.metadata"
CHECKPOINT_INTERVAL_S = 5.0  # replica.high.watermark.checkpoint.interval.ms
TopicPartition = tuple[str, int]


def encode_topic_id(topic_id: uuid.UUID) -> str:
    """Kafka's text form of a Uuid: URL-safe base64, unpadded."""
    return base64.urlsafe_b64encode(topic_id.bytes).decode().rstrip("=")


def decode_topic_id(text: str) -> uuid.UUID:
    return uuid.UUID(bytes=base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))


class ReplicaManager:
    """Local replicas by (topic, partition)."""

    def __init__(
        self,
        config: KafkaConfig,
        node_id: int,
        fetchers: ReplicaFetcherManager | None = None,
        isr: IsrManager | None = None,
    ) -> None:
        self.config = config
        self.node_id = node_id
        self.fetchers = fetchers
        self.isr = isr
        self.log_dirs = [Path(d) for d in config.log_dirs]
        self.partitions: dict[TopicPartition, Partition] = {}
        self.partitions_by_id: dict[tuple[uuid.UUID, int], Partition] = {}
        self.image: MetadataImage | None = None
        self._checkpoints: dict[Path, dict[str, dict[TopicPartition, int]]] = {}
        self._dir_of: dict[TopicPartition, Path] = {}
        self._initialised = False
        self._cleaners: dict[TopicPartition, PartitionCleaner] = {}
        self._checkpoint_lock = threading.Lock()
        self._checkpoint_seq = 0  # snapshots taken
        self._checkpoint_written = 0  # the newest snapshot written
        self._cleaning: Partition | None = None
        self._close_after_cleaning: list[tuple[Partition, Path]] = []
        self._uncleanable: set[TopicPartition] = set()
        self.on_leadership_change: list[Callable[[Partition], None]] = []
        for d in self.log_dirs:
            d.mkdir(parents=True, exist_ok=True)
            self._checkpoints[d] = {
                name: read_offset_checkpoint(d / name)
                for name in (RECOVERY_POINT_FILE, REPLICATION_OFFSET_FILE, LOG_START_OFFSET_FILE,
                             CLEANER_OFFSET_FILE)
            }

    # --- lookups ----------------------------------------------------------------------

    def get(self, topic: str, partition: int) -> Partition | None:
        return self.partitions.get((topic, partition))

    def get_by_id(self, topic_id: uuid.UUID, partition: int) -> Partition | None:
        return self.partitions_by_id.get((topic_id, partition))

    def log_config(self, image: MetadataImage, topic: str) -> LogConfig:
        overrides = image.configs.get(ConfigResource(TOPIC_RESOURCE, topic))
        dynamic = topic_configs.dynamic_broker_configs(image, self.node_id)
        return topic_configs.log_config(self.config, overrides, *dynamic)

    def topic_config(self, image: MetadataImage, topic: str, name: str) -> str:
        """The effective value of topic config `name` for `topic` on this broker."""
        overrides = image.configs.get(ConfigResource(TOPIC_RESOURCE, topic))
        return topic_configs.topic_config_value(
            self.config, overrides, name, *topic_configs.dynamic_broker_configs(image, self.node_id)
        )

    # --- applying metadata ---------------------------------------------------------

    def apply(self, update: MetadataUpdate) -> None:
        """Follow the image: open, lead, follow, close and delete local replicas."""
        image = update.image
        self.image = image
        if not self._initialised or update.delta is None:
            self._reconcile_all(image)
            if not self._initialised:
                self._sweep_strays(image)
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
            for topic in topics:
                self._update_topic_config(image, topic)

    def _reconcile_all(self, image: MetadataImage) -> None:
        wanted: set[tuple[uuid.UUID, int]] = set()
        for topic in image.topics.by_id.values():
            self._apply_topic(image, topic)
            wanted.update((topic.topic_id, p) for p in topic.partitions)
        for key, partition in list(self.partitions_by_id.items()):
            if key not in wanted:
                self._remove_partition(partition)

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
                for callback in self.on_leadership_change:
                    callback(local)

    def _update_topic_config(self, image: MetadataImage, topic: str) -> None:
        config = self.log_config(image, topic)
        for (name, _), partition in self.partitions.items():
            if name == topic:
                partition.log.update_config(config)

    def _open_partition(self, image: MetadataImage, topic: TopicImage, index: int) -> Partition:
        key = (topic.name, index)
        directory = self._find_dir(key)
        if directory is None:
            directory = self._choose_dir()
        path = partition_dir(directory, topic.name, index)
        metadata_file = path / PARTITION_METADATA_FILE
        if path.exists() and _stored_topic_id(metadata_file) not in (None, topic.topic_id):
            self._delete_dir(path)  # a deleted topic's data under a recreated name
        checkpoints = self._checkpoints[directory]
        partition = Partition.open(
            path, topic.name, index, topic.topic_id, self.log_config(image, topic.name),
            self.node_id,
            recovery_point=checkpoints[RECOVERY_POINT_FILE].get(key, 0),
            log_start_offset=checkpoints[LOG_START_OFFSET_FILE].get(key, 0),
            high_watermark=checkpoints[REPLICATION_OFFSET_FILE].get(key, 0),
            producer_id_expiration_ms=self.config["producer.id.expiration.ms"],
        )
        if not metadata_file.exists():
            atomic_write(
                metadata_file,
                f"version: 0\ntopic_id: {encode_topic_id(topic.topic_id)}\n".encode(),
            )
        self.partitions[key] = partition
        self.partitions_by_id[(topic.topic_id, index)] = partition
        self._dir_of[key] = directory
        return partition

    def _find_dir(self, key: TopicPartition) -> Path | None:
        for d in self.log_dirs:
            if partition_dir(d, *key).is_dir():
                return d
        return None

    def _choose_dir(self) -> Path:
        """The log dir with the fewest partitions (Kafka's default placement)."""
        counts = {d: 0 for d in self.log_dirs}
        for d in self._dir_of.values():
            counts[d] += 1
        return min(self.log_dirs, key=lambda d: counts[d])

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
        self.partitions.pop(key, None)
        self.partitions_by_id.pop((partition.topic_id, partition.partition), None)
        self._dir_of.pop(key, None)
        self._cleaners.pop(key, None)
        for checkpoints in self._checkpoints.values():
            for offsets in checkpoints.values():
                offsets.pop(key, None)
        if partition is self._cleaning:
            # A worker thread reads it now: move the directory out of the way at
            # once (a topic recreated under this name gets a fresh one), close
            # and remove it when the pass has been abandoned.
            partition.retire()
            self._close_after_cleaning.append((partition, self._doom_dir(partition.log.dir)))
            return
        partition.close()
        self._delete_dir(partition.log.dir)

    def _sweep_strays(self, image: MetadataImage) -> None:
        """Delete partition directories the image does not assign to this broker."""
        for d in self.log_dirs:
            for path in d.iterdir():
                if not path.is_dir() or path.name.startswith("__cluster_metadata"):
                    continue
                if path.name.endswith("-delete"):
                    self._delete_dir(path)
                    continue
                try:
                    topic, index = parse_partition_dir(path.name)
                except ValueError:
                    continue
                local = self.partitions.get((topic, index))
                if local is not None and local.log.dir == path:
                    continue
                log.info("node %d: deleting stray partition directory %s", self.node_id, path)
                self._delete_dir(path)

    def _doom_dir(self, path: Path) -> Path:
        """Rename a partition directory to `<name>.<id>-delete` (durably); the new path."""
        if path.name.endswith("-delete"):
            return path
        doomed = path.with_name(f"{path.name}.{uuid.uuid4().hex}-delete")
        path.rename(doomed)
        fsync_dir(path.parent)
        return doomed

    def _delete_dir(self, path: Path) -> None:
        shutil.rmtree(self._doom_dir(path), ignore_errors=True)

    # --- background work -------------------------------------------------------------

    async def run(self) -> None:
        """Flush, checkpoint, shrink ISRs and apply retention until cancelled."""
        retention_every = self.config["log.retention.check.interval.ms"] / 1000
        next_retention = trio.current_time() + retention_every
        next_checkpoint = trio.current_time() + CHECKPOINT_INTERVAL_S
        isr_every = self.config["replica.lag.time.max.ms"] / 2000  # Kafka's isr-expiration
        next_isr_check = trio.current_time() + isr_every
        expire_every = self.config["producer.id.expiration.check.interval.ms"] / 1000
        next_expiry = trio.current_time() + expire_every
        while True:
            await trio.sleep(0.1)
            await self._flush_due()
            now = trio.current_time()
            if self.isr is not None and now >= next_isr_check:
                next_isr_check = now + isr_every
                for partition in list(self.partitions.values()):
                    self.isr.maybe_shrink(partition, _now_ms())
            if now >= next_checkpoint:
                next_checkpoint = now + CHECKPOINT_INTERVAL_S
                await trio.to_thread.run_sync(self._write_checkpoints_job())
            if now >= next_expiry:
                next_expiry = now + expire_every
                for partition in list(self.partitions.values()):
                    partition.producer_state.remove_expired(wall_clock_ms())
            if now >= next_retention:
                next_retention = now + retention_every
                for partition in list(self.partitions.values()):
                    if partition.log.delete_old_segments(partition.high_watermark):
                        log.info("node %d: retention deleted segments of %s",
                                 self.node_id, partition.name)

    async def run_cleaner(self) -> None:
        """Compact every log.cleaner.backoff.ms, in a task of its own: a long pass
        must not hold up flushes, checkpoints, ISR shrinks or retention."""
        if not self.config["log.cleaner.enable"]:
            return
        while True:
            await trio.sleep(self.config["log.cleaner.backoff.ms"] / 1000)
            await self._clean_logs()

    async def _clean_logs(self) -> None:
        """One compaction pass over every compacted partition that needs one."""
        for key, partition in list(self.partitions.items()):
            if (
                not partition.log.config.compact
                or self.partitions.get(key) is not partition
                or key in self._uncleanable
            ):
                continue
            cleaner = self._cleaners.get(key)
            if cleaner is None:
                directory = self._dir_of[key]
                cleaner = self._cleaners[key] = PartitionCleaner(
                    partition.log,
                    last_clean_offset=self._checkpoints[directory][CLEANER_OFFSET_FILE].get(key, 0),
                    map_budget_bytes=self.config["log.cleaner.dedupe.buffer.size"],
                )
            last_offsets = {pid: entry.batches[-1].last_offset
                            for pid, entry in partition.producer_state.producers.items()
                            if entry.batches}
            task = cleaner.begin(partition.high_watermark, producer_last_offsets=last_offsets)
            if task is None:
                continue
            self._cleaning = partition
            result = None
            try:
                while result is None:
                    try:
                        await trio.to_thread.run_sync(task.run)
                    except CorruptSegmentError as e:
                        # Kafka marks such a partition uncleanable and goes on.
                        log.error("node %d: %s cannot be compacted: %s", self.node_id,
                                  partition.name, e)
                        self._uncleanable.add(key)
                        cleaner.abort(task)
                        break
                    except OSError:
                        if self.partitions.get(key) is not partition:
                            break  # removed meanwhile: its files moved under the worker
                        raise
                    if self.partitions.get(key) is not partition:
                        break
                    result = cleaner.complete(task)
            except BaseException:
                cleaner.abort(task)
                raise
            finally:
                self._cleaning = None
                for doomed, path in self._close_after_cleaning:
                    doomed.close()
                    shutil.rmtree(path, ignore_errors=True)
                self._close_after_cleaning.clear()
            if result is not None and not result.aborted:
                log.info("node %d: compacted %s up to offset %d", self.node_id,
                         partition.name, cleaner.last_clean_offset)

    async def _flush_due(self) -> None:
        for partition in list(self.partitions.values()):
            if partition.log.flush_due():
                task = partition.log.begin_flush()
                await trio.to_thread.run_sync(task.run)
                partition.log.complete_flush(task)

    def _write_checkpoints_job(self) -> Callable[[], None]:
        """Snapshot the offsets now (on the owner); the returned job writes them."""
        # Start from what the files hold (partitions not opened yet, before the
        # first image, keep their entries; removed ones were dropped already),
        # then overlay the open partitions.
        per_dir: dict[Path, dict[str, dict[TopicPartition, int]]] = {
            d: {name: dict(offsets) for name, offsets in self._checkpoints[d].items()}
            for d in self.log_dirs
        }
        for key, partition in self.partitions.items():
            files = per_dir[self._dir_of[key]]
            cleaner = self._cleaners.get(key)
            if cleaner is not None:
                files[CLEANER_OFFSET_FILE][key] = cleaner.last_clean_offset
            files[RECOVERY_POINT_FILE][key] = partition.log.recovery_point
            files[REPLICATION_OFFSET_FILE][key] = partition.high_watermark
            files[LOG_START_OFFSET_FILE][key] = partition.log.log_start_offset
        self._checkpoints = per_dir
        self._checkpoint_seq += 1
        seq = self._checkpoint_seq

        def job() -> None:
            # One writer at a time (the files share their .tmp names), and never
            # an older snapshot over a newer one (a truncation's immediate write).
            with self._checkpoint_lock:
                if seq < self._checkpoint_written:
                    return
                self._checkpoint_written = seq
                for d, files in per_dir.items():
                    for name, offsets in files.items():
                        write_offset_checkpoint(d / name, offsets)

        return job

    def checkpoint_recovery_points(self, partition: Partition) -> None:
        """Write the recovery-point checkpoint of `partition`'s log dir now (after
        a follower truncation: a crash must not trust data past the new end)."""
        if (partition.topic, partition.partition) not in self._dir_of:
            return
        # Every file, as the periodic job would write them, under its lock (a
        # worker thread may be writing an older snapshot right now: it waits,
        # then sees it is stale). The event loop waits for at most one fsync'd
        # write here; truncations are rare.
        self._write_checkpoints_job()()

    def shutdown(self) -> None:
        """Clean shutdown: flush every log, write producer snapshots and checkpoints."""
        for partition in self.partitions.values():
            partition.log.flush()
            partition.producer_state.take_snapshot(partition.log.log_end_offset)
        self._write_checkpoints_job()()
        for partition in self.partitions.values():
            partition.log.close()


def _stored_topic_id(path: Path) -> uuid.UUID | None:
    """The topic id in a partition.metadata file (None if absent or unreadable)."""
    try:
        for line in path.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "topic_id":
                return decode_topic_id(value.strip())
    except (OSError, ValueError):
        return None
    return None


def _now_ms() -> int:
    return int(trio.current_time() * 1000)
