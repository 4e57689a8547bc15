"""LogManager: the broker's log directories and the partition logs in them.

Theory of operation (Kafka's LogManager; which partitions are hosted, led or
followed is the replica manager's business, kraft/broker/replica_manager.py):

- Log dirs (log.dirs) hold one directory per partition log,
  `<log dir>/<topic>-<partition>`, with a `partition.metadata` file naming
  the topic id. `get_or_create_log` opens (recovering) a partition's log where
  it already is, or in the log dir holding the fewest partitions, and
  rebuilds its producer state. A directory whose `partition.metadata` names
  another topic id (a topic deleted and recreated under the same name while
  we were down) is deleted first.
- Offsets that must survive restarts live in Kafka's per-log-dir checkpoint
  files, read at construction: `recovery-point-offset-checkpoint` (flushed up
  to here: recovery starts there), `replication-offset-checkpoint` (high
  watermarks), `log-start-offset-checkpoint` and `cleaner-offset-checkpoint`
  (where compaction got to). They are written every CHECKPOINT_INTERVAL_S,
  at once after a follower truncation (`checkpoint_recovery_points`: a crash
  must not trust data past the new end), and on shutdown. A write starts
  from what the files hold, so a partition not opened yet keeps its entries;
  a deleted log's entries are dropped.
- Background work (`run`), each on its own schedule (Kafka's scheduler
  tasks): flushing logs whose flush.messages / flush.ms is due (checked every
  FLUSH_CHECK_INTERVAL_S, Kafka's log.flush.scheduler.interval.ms), the
  checkpoints, retention (every log.retention.check.interval.ms) and
  forgetting idle producers (every producer.id.expiration.check.interval.ms,
  producer.id.expiration.ms). Compaction (`run_cleaner`, every
  log.cleaner.backoff.ms, for topics whose cleanup.policy has "compact";
  log/cleaner.py) runs in a task of its own so that a long pass never holds
  the others up. Retention and cleaning stay below each log's high watermark
  (`PartitionLog.high_watermark`, kept by the partition); cleaning also below
  its last stable offset (open transactions are not cleaned).
- The cleaner reads a log's old segments in a worker thread; a log deleted
  meanwhile is moved out of the way at once and closed and removed only
  once that pass has been abandoned.
- Stray directories (`sweep_strays`, after the first metadata image is
  applied): partition directories this broker does not host, and leftovers
  of deletions (`*-delete`), are deleted.

Deleting a directory renames it to `<topic>-<partition>.<id>-delete` first (as
Kafka does) and fsyncs the log dir, so a crash mid-delete never leaves a
half-deleted log under a live name; then the renamed directory is removed
(on the event loop: partitions are small enough here).

Single owner: the broker's trio loop (flushes, checkpoint writes and
cleaning passes run their file work in worker threads, as documented by
PartitionLog, PartitionCleaner and `_write_checkpoints_job`).
"""

from __future__ import annotations

import base64
import logging
import shutil
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import trio

from kraft.broker.producer_state import ProducerStateManager
from kraft.config import KafkaConfig
from kraft.log.checkpoint import (
    atomic_write,
    fsync_dir,
    read_offset_checkpoint,
    write_offset_checkpoint,
)
from kraft.log.config import LogConfig
from kraft.log.errors import CorruptSegmentError
from kraft.log.log import PartitionLog
from kraft.log.results import parse_partition_dir, partition_dir, wall_clock_ms
from kraft.log.segment import LogSegment, unlink_deleted

if TYPE_CHECKING:
    from kraft.log.cleaner import PartitionCleaner

log = logging.getLogger("kraft.broker")

RECOVERY_POINT_FILE = "recovery-point-offset-checkpoint"
CLEANER_OFFSET_FILE = "cleaner-offset-checkpoint"
REPLICATION_OFFSET_FILE = "replication-offset-checkpoint"
LOG_START_OFFSET_FILE = "log-start-offset-checkpoint"
CHECKPOINT_FILES = (RECOVERY_POINT_FILE, REPLICATION_OFFSET_FILE, LOG_START_OFFSET_FILE,
                    CLEANER_OFFSET_FILE)
PARTITION_METADATA_FILE = "partition.metadata"
CHECKPOINT_INTERVAL_S = 5.0  # replica.high.watermark.checkpoint.interval.ms
FLUSH_CHECK_INTERVAL_S = 0.1
TopicPartition = tuple[str, int]


def encode_topic_id(topic_id: uuid.UUID) -> str:
    """Kafka's text form of a Uuid: URL-safe base64, unpadded."""
    return base64.urlsafe_b64encode(topic_id.bytes).decode().rstrip("=")


def decode_topic_id(text: str) -> uuid.UUID:
    return uuid.UUID(bytes=base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))


def open_log(
    directory: Path,
    config: LogConfig,
    *,
    recovery_point: int = 0,
    log_start_offset: int = 0,
    high_watermark: int = 0,
    producer_id_expiration_ms: int = 86_400_000,
    clock: Callable[[], int] = wall_clock_ms,
) -> tuple[PartitionLog, ProducerStateManager]:
    """Open (recovering) the log in `directory`, set its high watermark (at most its
    log end offset) and rebuild its producer state."""
    partition_log = PartitionLog.open(
        directory, config, recovery_point=recovery_point, log_start_offset=log_start_offset,
        clock=clock,
    )
    partition_log.update_high_watermark(high_watermark)
    producer_state = ProducerStateManager(
        directory, producer_id_expiration_ms=producer_id_expiration_ms
    )
    producer_state.load(partition_log)
    return partition_log, producer_state


@dataclass(frozen=True, slots=True)
class ReplicaLog:
    """One partition's log as the log manager opened it."""

    topic_partition: TopicPartition
    topic_id: uuid.UUID
    log: PartitionLog
    producer_state: ProducerStateManager
    log_dir: Path  # the log dir holding `log.dir`


class LogManager:
    """Log dirs, and the open partition logs by (topic, partition)."""

    def __init__(self, config: KafkaConfig, *, clock: Callable[[], int] = wall_clock_ms) -> None:
        self.config = config
        self.node_id: int = config.node_id
        self.clock = clock  # the logs' wall clock (segment.ms, retention.ms, flush.ms)
        self.log_dirs = [Path(d) for d in config.log_dirs]
        self._logs: dict[TopicPartition, ReplicaLog] = {}
        self._checkpoints: dict[Path, dict[str, dict[TopicPartition, int]]] = {}
        self._checkpoint_lock = threading.Lock()
        self._checkpoint_seq = 0  # snapshots taken
        self._checkpoint_written = 0  # the newest snapshot written
        self._cleaners: dict[TopicPartition, PartitionCleaner] = {}
        self._cleaning: ReplicaLog | None = None
        self._close_after_cleaning: list[tuple[PartitionLog, Path]] = []
        self._uncleanable: set[TopicPartition] = set()
        for d in self.log_dirs:
            d.mkdir(parents=True, exist_ok=True)
            self._checkpoints[d] = {name: read_offset_checkpoint(d / name)
                                    for name in CHECKPOINT_FILES}

    # --- logs ------------------------------------------------------------------------

    def get(self, topic_partition: TopicPartition) -> ReplicaLog | None:
        return self._logs.get(topic_partition)

    @property
    def logs(self) -> Iterator[ReplicaLog]:
        """The open logs, in the order they were opened."""
        return iter(list(self._logs.values()))

    def get_or_create_log(
        self, topic: str, index: int, topic_id: uuid.UUID, config: LogConfig
    ) -> ReplicaLog:
        """The open log of (topic, index), else open it (see the module doc): from its
        checkpointed recovery point, log start offset and high watermark."""
        key = (topic, index)
        current = self._logs.get(key)
        if current is not None:
            if current.topic_id != topic_id:
                raise ValueError(f"{topic}-{index} is open for topic id {current.topic_id}, "
                                 f"not {topic_id}: delete it first")
            return current
        log_dir = self._find_dir(key) or self._choose_dir()
        path = partition_dir(log_dir, topic, index)
        metadata_file = path / PARTITION_METADATA_FILE
        if path.exists() and _stored_topic_id(metadata_file) not in (None, topic_id):
            self._delete_dir(path)  # a deleted topic's data under a recreated name
        if not path.exists():
            self._forget_checkpoints(key)  # they were another log's: this one is new
        checkpoints = self._checkpoints[log_dir]
        partition_log, producer_state = open_log(
            path, config,
            recovery_point=checkpoints[RECOVERY_POINT_FILE].get(key, 0),
            log_start_offset=checkpoints[LOG_START_OFFSET_FILE].get(key, 0),
            high_watermark=checkpoints[REPLICATION_OFFSET_FILE].get(key, 0),
            producer_id_expiration_ms=self.config.producer_id_expiration_ms,
            clock=self.clock,
        )
        if not metadata_file.exists():
            atomic_write(metadata_file,
                         f"version: 0\ntopic_id: {encode_topic_id(topic_id)}\n".encode())
        opened = ReplicaLog(key, topic_id, partition_log, producer_state, log_dir)
        self._logs[key] = opened
        return opened

    def _find_dir(self, key: TopicPartition) -> Path | None:
        for d in self.log_dirs:
            if partition_dir(d, *key).is_dir():
                return d
        return None

    def _choose_dir(self) -> Path:
        """The log dir with the fewest partitions (Kafka's default placement)."""
        counts = {d: 0 for d in self.log_dirs}
        for opened in self._logs.values():
            counts[opened.log_dir] += 1
        return min(self.log_dirs, key=lambda d: counts[d])

    def delete_log(self, topic_partition: TopicPartition) -> None:
        """Close the log of `topic_partition` and delete its directory and checkpoint
        entries (a log being compacted is moved out of the way now and closed
        and removed once the pass has been abandoned)."""
        opened = self._logs.pop(topic_partition, None)
        if opened is None:
            return
        self._cleaners.pop(topic_partition, None)
        self._forget_checkpoints(topic_partition)
        if opened is self._cleaning:
            # A worker thread reads it now: a topic recreated under this name
            # must find the name free.
            self._close_after_cleaning.append((opened.log, self._doom_dir(opened.log.dir)))
            return
        opened.log.close()
        self._delete_dir(opened.log.dir)

    def _forget_checkpoints(self, topic_partition: TopicPartition) -> None:
        for checkpoints in self._checkpoints.values():
            for offsets in checkpoints.values():
                offsets.pop(topic_partition, None)

    def update_config(self, topic_partition: TopicPartition, config: LogConfig) -> None:
        opened = self._logs.get(topic_partition)
        if opened is not None:
            opened.log.update_config(config)

    def sweep_strays(self) -> None:
        """Delete the partition directories of no open log, and leftovers of
        deletions; call once the logs this broker hosts are open."""
        for d in self.log_dirs:
            for path in d.iterdir():
                if not path.is_dir() or path.name.startswith("__cluster_metadata"):
                    continue
                if path.name.endswith("-delete"):
                    self._delete_dir(path)
                    continue
                try:
                    key = parse_partition_dir(path.name)
                except ValueError:
                    continue
                opened = self._logs.get(key)
                if opened is not None and opened.log.dir == path:
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

    # --- background work ---------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                  ) -> None:
        """Flush, checkpoint, apply retention and expire producers until cancelled."""
        config = self.config
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_every, FLUSH_CHECK_INTERVAL_S, self.flush_due_logs)
            nursery.start_soon(_every, CHECKPOINT_INTERVAL_S, self.write_checkpoints)
            nursery.start_soon(_every, config.log_retention_check_interval_ms / 1000,
                               self.delete_old_segments)
            nursery.start_soon(_every,
                               config.producer_id_expiration_check_interval_ms / 1000,
                               self.remove_expired_producers)
            task_status.started()

    async def flush_due_logs(self) -> None:
        """Flush (fsync in a worker thread) every log whose flush.messages or
        flush.ms says so."""
        for opened in self.logs:
            if self._logs.get(opened.topic_partition) is not opened:
                continue  # deleted while an earlier flush ran
            if opened.log.flush_due():
                task = opened.log.begin_flush()
                await trio.to_thread.run_sync(task.run)
                opened.log.complete_flush(task)

    async def write_checkpoints(self) -> None:
        """Write every checkpoint file (in a worker thread)."""
        await trio.to_thread.run_sync(self._write_checkpoints_job())

    async def delete_old_segments(self) -> None:
        """Retention: delete segments past retention.ms / retention.bytes or below the
        log start offset, below each log's high watermark."""
        doomed: list[LogSegment] = []
        for opened in self.logs:
            if opened.log.delete_old_segments(opened.log.high_watermark):
                log.info("node %d: retention deleted segments of %s-%d", self.node_id,
                         *opened.topic_partition)
            doomed += opened.log.take_deleted_segments()  # DeleteRecords' too
        if doomed:
            # Freeing a segment's blocks takes seconds on a busy disk: never on the
            # event loop (unlink_deleted also drops our references to them there).
            await trio.to_thread.run_sync(unlink_deleted, doomed)

    async def remove_expired_producers(self) -> None:
        """Forget producers idle for producer.id.expiration.ms."""
        now = wall_clock_ms()
        for opened in self.logs:
            opened.producer_state.remove_expired(now)

    async def run_cleaner(self) -> None:
        """Compact every log.cleaner.backoff.ms, in a task of its own: a long pass
        must not hold up flushes, checkpoints or retention."""
        if not self.config.log_cleaner_enable:
            return
        while True:
            await trio.sleep(self.config.log_cleaner_backoff_ms / 1000)
            await self.clean_logs()

    async def clean_logs(self) -> None:
        """One compaction pass over every compacted log that needs one."""
        for opened in self.logs:
            key = opened.topic_partition
            if (not opened.log.config.compact or self._logs.get(key) is not opened
                    or key in self._uncleanable):
                continue
            cleaner = self._cleaners.get(key)
            if cleaner is None:
                from kraft.log.cleaner import PartitionCleaner  # only for compacted logs

                cleaner = self._cleaners[key] = PartitionCleaner(
                    opened.log,
                    last_clean_offset=self._checkpoints[opened.log_dir][CLEANER_OFFSET_FILE]
                    .get(key, 0),
                    map_budget_bytes=self.config.log_cleaner_dedupe_buffer_size,
                )
            await self._clean(opened, cleaner)

    async def _clean(self, opened: ReplicaLog, cleaner: PartitionCleaner) -> None:
        from kraft.log.cleaner import LastRecord  # loaded with the first compacted log

        key = opened.topic_partition
        name = f"{key[0]}-{key[1]}"
        last_records = {pid: LastRecord(entry.batches[-1].last_offset if entry.batches else -1,
                                        entry.producer_epoch)
                        for pid, entry in opened.producer_state.producers.items()}
        # Kafka's firstUncleanableDirtyOffset: never past the last stable offset, so
        # an open transaction is not cleaned (nor decided committed).
        unstable = opened.producer_state.first_unstable_offset
        hwm = opened.log.high_watermark
        task = cleaner.begin(hwm if unstable is None else min(hwm, unstable),
                             last_records=last_records)
        if task is None:
            return
        self._cleaning = opened
        result = None
        try:
            while result is None:
                try:
                    await trio.to_thread.run_sync(task.run)
                except CorruptSegmentError as e:
                    # Kafka marks such a partition uncleanable and goes on.
                    log.error("node %d: %s cannot be compacted: %s", self.node_id, name, e)
                    self._uncleanable.add(key)
                    cleaner.abort(task)
                    break
                except OSError:
                    if self._logs.get(key) is not opened:
                        break  # deleted meanwhile: its files moved under the worker
                    raise
                if self._logs.get(key) is not opened:
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
            log.info("node %d: compacted %s up to offset %d: kept %d of %d records, "
                     "%s -> %s in %d segment%s", self.node_id, name, cleaner.last_clean_offset,
                     result.records_read - result.records_removed, result.records_read,
                     _size(result.bytes_read), _size(result.bytes_written),
                     result.segments_written, "" if result.segments_written == 1 else "s")

    # --- checkpoints -------------------------------------------------------------------

    def _write_checkpoints_job(self) -> Callable[[], None]:
        """Snapshot the offsets now (on the owner); the returned job writes them."""
        # Start from what the files hold (logs not opened yet, before the first
        # image, keep their entries; deleted ones were dropped already), then
        # overlay the open logs.
        per_dir: dict[Path, dict[str, dict[TopicPartition, int]]] = {
            d: {name: dict(offsets) for name, offsets in self._checkpoints[d].items()}
            for d in self.log_dirs
        }
        for key, opened in self._logs.items():
            files = per_dir[opened.log_dir]
            cleaner = self._cleaners.get(key)
            if cleaner is not None:
                files[CLEANER_OFFSET_FILE][key] = cleaner.last_clean_offset
            files[RECOVERY_POINT_FILE][key] = opened.log.recovery_point
            files[REPLICATION_OFFSET_FILE][key] = opened.log.high_watermark
            files[LOG_START_OFFSET_FILE][key] = opened.log.log_start_offset
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

    def checkpoint_recovery_points(self) -> None:
        """Write the checkpoints now, on the event loop (after a follower truncation:
        a crash must not trust data past the new end)."""
        # Every file, as the periodic job would write them, under its lock (a
        # worker thread may be writing an older snapshot right now: it waits,
        # then sees it is stale). The event loop waits for at most one fsync'd
        # write here; truncations are rare.
        self._write_checkpoints_job()()

    def shutdown(self) -> None:
        """Clean shutdown: flush every log, write producer snapshots and checkpoints,
        close the logs. Call once nothing else uses them."""
        for opened in self._logs.values():
            opened.log.flush()
            opened.producer_state.take_snapshot(opened.log.log_end_offset)
        self._write_checkpoints_job()()
        for opened in self._logs.values():
            opened.log.close()


async def _every(period_s: float, job: Callable[[], Awaitable[None]]) -> None:
    """Run `job` every `period_s` seconds (the first time after one period)."""
    while True:
        await trio.sleep(period_s)
        await job()


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


def _size(count: int) -> str:
    """A byte count for people: 512 B, 1.5 KiB, 3.2 MiB."""
    size = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")
