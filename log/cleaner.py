"""Log compaction: Kafka's LogCleaner for one partition whose cleanup.policy has "compact".

What a pass does (Kafka's `Cleaner.doClean`, KIP-58 / KIP-354 / KIP-534):

* Cleanable range. Only inactive segments lying wholly below the *first
  uncleanable offset* are touched: min(caller's upper bound -- the last
  stable offset: the high watermark, and no further than the first offset
  of a transaction still open or whose marker is not yet replicated --, the
  active segment's base, the base of the first dirty segment younger than
  min.compaction.lag.ms). Everything from there on is never read for the
  map nor rewritten, so an open transaction is never touched.
* Dirty section. Offsets from the last clean offset (Kafka's
  `cleaner-offset-checkpoint` entry) to the end of the cleanable range.
  The offset map -- key -> offset of its latest record -- is built from it,
  segment by segment, until the map would pass its memory budget (at least
  one segment is always mapped); `end_offset` is the end of the last mapped
  segment. Control batches, null keys and aborted transactional data are not
  mapped, so an aborted record never hides an older committed one.
* Transactions (Kafka's `CleanedTransactionMetadata`, log.cleaner_txn). The
  aborted transactions come from the `.txnindex` entries overlapping the
  range; a pass walks every batch below `end_offset` in offset order,
  knowing which producer is inside an aborted transaction. Aborted data
  batches lose every record; committed transactional data is compacted like
  any other. A commit or abort marker stays while data of its transaction
  remains; the first pass that finds none gives it a delete horizon (now +
  delete.retention.ms, KIP-534, as for tombstones) and the first pass at or
  after the horizon removes it. Each cleaned segment gets a new `.txnindex`
  holding the entries of the aborted transactions whose marker it keeps
  *because* their data remains; the others are dropped (no data left to
  skip), as Kafka does. The index is written with the segment and swapped in
  by the same steps.
* Cleaning. Every segment below `end_offset` (the clean section too) is
  rewritten, in groups of adjacent segments whose sizes add up to at most
  segment.bytes, into one segment per group (Kafka's `groupSegmentsBySize`).
  A record is dropped when the map holds a later offset for its key. A
  tombstone (null value) that is kept gets a delete horizon, now +
  delete.retention.ms, in its batch (the first pass that keeps it) and is
  dropped by the first pass after that horizon. Records with a null key
  cannot be produced to a compacted topic (Kafka refuses them); if one is
  found it is kept -- Kafka's cleaner would drop it. Control batches of
  other kinds are kept whole.
* Batches. A batch whose records all survive (and whose tombstones need no
  new horizon) is copied byte for byte; otherwise it is rebuilt by
  log.compression (same codec, baseOffset, lastOffsetDelta and producer
  fields, new CRC). A batch left with no record is dropped, except a
  producer's last batch (Kafka's `isBatchLastRecordOfProducer`: the one
  holding an active producer's last data offset, or its marker at its epoch
  when it has no data at that epoch): such a data batch stays empty (Kafka's
  RETAIN_EMPTY) so the producer's sequence state survives a reload; such a
  marker stays whole even past its horizon (Kafka empties it; producer state
  is replayed here from the marker's record, which carries the epoch).
* Offsets never move, and stay contiguous. Kafka leaves holes where batches
  vanish; this log treats a hole as damage (segment recovery relies on
  contiguity to catch a corrupt baseOffset, which the CRC does not cover;
  followers require it), so each run of dropped batches becomes one empty
  *gap batch* spanning its offsets (producer id -1, no timestamps) -- the
  format Kafka itself writes for RETAIN_EMPTY. Consumers skip empty batches
  (Java, librdkafka and kafka-python advance to the batch's next offset).
  A pass therefore costs at most 61 bytes per run of dropped batches, and
  the next pass merges adjacent gaps. A lagging follower whose log end
  offset lies inside a leader's gap batch appends its part from there on
  (`PartitionLog.append_as_follower`, `kraft.log.compression.trim_gap_batch`).

Crash safety (Kafka's `replaceSegments`): the worker writes a group as
`.cleaned` files (its `.txnindex` too) and fsyncs them; the owner swaps it in
with `kraft.log.loader.swap_steps`, whose commit point is a rename to
`.log.swap`, and which log.loader finishes or undoes on open. A crash at any step leaves each
group wholly old or wholly new: no record is lost or duplicated.

Contract (who calls what, from which thread). `PartitionCleaner` belongs to
the owner of the `PartitionLog` (the replica manager's task for the
partition); all its methods run there. Only `CleanTask.run` (log.clean_task)
may run in a worker thread (`trio.to_thread.run_sync`), while the owner keeps
appending, reading, flushing, rolling, truncating and applying retention::

    task = cleaner.begin(upper_bound=last_stable_offset)  # None: nothing to do now
    if task is not None:
        try:
            result = None
            while result is None:                       # one loop per group
                await trio.to_thread.run_sync(task.run)
                result = cleaner.complete(task)         # short: renames, 2 dir fsyncs
        except BaseException:
            cleaner.abort(task)
            raise

The worker only reads the inactive segments `begin` chose (through their
open fds, so retention deleting them meanwhile is harmless) and writes its
own `.cleaned` files. `complete` swaps in the group `run` wrote, unless the
log was truncated since `begin` or a segment of the group is no longer in
the log (retention): then it abandons the pass (result `aborted`). At most
one task per log; do not close the log while a task is between `begin` and
its final `complete`/`abort`. A `.txnindex` entry appended to a segment of
the group since `begin` abandons the pass too (it cannot happen below the
last stable offset, but the new index would miss it). `run` raises
`CodecUnavailableError` for a batch whose codec package is missing,
`CorruptSegmentError` for data that no longer validates; the owner then
calls `abort` and the partition stays as it was.

`last_clean_offset` is Kafka's per-partition `cleaner-offset-checkpoint`
value: the broker persists it per log dir (log.checkpoint) and passes it
back to the constructor. Losing it only costs a redundant full pass. The
delete horizon that triggers a pass for expired tombstones and markers is
kept in memory only (Kafka has no such trigger: its next pass comes with new
dirty data).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from kraft.log.batch import NO_TIMESTAMP
from kraft.log.clean_task import CleanTask, LastRecord, Source
from kraft.log.config import LONG_MAX
from kraft.log.loader import swap_steps
from kraft.log.log import PartitionLog
from kraft.log.results import wall_clock_ms
from kraft.log.segment import LogSegment

__all__ = [
    "DEFAULT_MAP_BUDGET_BYTES",
    "CleanResult",
    "CleanTask",
    "LastRecord",
    "LogToClean",
    "PartitionCleaner",
]

logger = logging.getLogger(__name__)

# Kafka's log.cleaner.dedupe.buffer.size default; our map costs about this per key.
DEFAULT_MAP_BUDGET_BYTES = 128 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class LogToClean:
    """Kafka's `LogToClean`: the cleanable part of a log and whether to clean it now."""

    first_dirty_offset: int
    first_uncleanable_offset: int
    clean_bytes: int  # inactive segments wholly below first_dirty_offset
    cleanable_bytes: int  # cleanable segments holding dirty offsets
    needs_compaction_now: bool  # max.compaction.lag.ms passed for the oldest dirty segment
    tombstones_due: bool  # a tombstone's delete horizon has passed
    min_cleanable_ratio: float

    @property
    def cleanable_ratio(self) -> float:
        total = self.clean_bytes + self.cleanable_bytes
        return self.cleanable_bytes / total if total else 0.0

    @property
    def should_clean(self) -> bool:
        """Kafka's test: dirty ratio above min.cleanable.dirty.ratio (strictly, as
        `LogCleanerManager`), or max.compaction.lag.ms, with dirty bytes; or expired
        tombstones to remove (KIP-534)."""
        if self.cleanable_bytes > 0 and (
            self.needs_compaction_now or self.cleanable_ratio > self.min_cleanable_ratio
        ):
            return True
        return self.tombstones_due and self.clean_bytes + self.cleanable_bytes > 0


@dataclass(frozen=True, slots=True)
class CleanResult:
    """What a pass did. `aborted`: abandoned, nothing more swapped in (see module doc)."""

    aborted: bool
    first_dirty_offset: int
    end_offset: int  # offsets below it are clean (the new last clean offset), if not aborted
    segments_replaced: int
    segments_written: int
    bytes_read: int
    bytes_written: int
    records_read: int
    records_removed: int


class PartitionCleaner:
    """Compaction state and passes of one `PartitionLog` (module doc for the contract)."""

    def __init__(
        self,
        log: PartitionLog,
        *,
        last_clean_offset: int = 0,
        clock: Callable[[], int] = wall_clock_ms,
        map_budget_bytes: int = DEFAULT_MAP_BUDGET_BYTES,
    ) -> None:
        self._log = log
        self._last_clean = last_clean_offset
        self._generation = log.generation
        self._clock = clock
        self._map_budget = map_budget_bytes
        self._delete_horizon = NO_TIMESTAMP  # latest horizon of a kept tombstone
        self._task: CleanTask | None = None

    @property
    def last_clean_offset(self) -> int:
        """Offsets below it were cleaned (Kafka's cleaner checkpoint; persist it).
        Reset to the log start offset when it cannot be trusted: out of the log's
        range, or the log was truncated since it was set."""
        log = self._log
        if log.generation != self._generation:
            self._generation = log.generation
            self._last_clean = log.log_start_offset
        if not log.log_start_offset <= self._last_clean <= log.log_end_offset:
            self._last_clean = log.log_start_offset
        return self._last_clean

    @property
    def in_progress(self) -> bool:
        return self._task is not None

    def _plan(self, upper_bound: int, now: int) -> tuple[LogToClean, list[Source]]:
        log = self._log
        config = log.config
        first_dirty = self.last_clean_offset
        bound = min(upper_bound, log.active_segment.base_offset)
        sources: list[Source] = []
        clean_bytes = dirty_bytes = 0
        oldest_dirty_ts = -1
        for segment in log.segments[:-1]:
            next_offset = segment.next_offset
            if next_offset > bound:
                break
            dirty = next_offset > first_dirty
            lag = config.min_compaction_lag_ms
            if dirty and lag > 0 and segment.largest_timestamp > now - lag:
                break
            if dirty and oldest_dirty_ts < 0:
                oldest_dirty_ts = segment.rolling_based_timestamp
            sources.append(
                Source(
                    segment,
                    segment.base_offset,
                    next_offset,
                    segment.size,
                    tuple(segment.txn_index.entries),
                )
            )
            if dirty:
                dirty_bytes += segment.size
            else:
                clean_bytes += segment.size
        uncleanable = sources[-1].next_offset if sources else min(bound, log.log_end_offset)
        max_lag = config.max_compaction_lag_ms
        plan = LogToClean(
            first_dirty_offset=first_dirty,
            first_uncleanable_offset=uncleanable,
            clean_bytes=clean_bytes,
            cleanable_bytes=dirty_bytes,
            needs_compaction_now=max_lag < LONG_MAX
            and oldest_dirty_ts >= 0
            and now - oldest_dirty_ts > max_lag,
            tombstones_due=NO_TIMESTAMP < self._delete_horizon <= now,
            min_cleanable_ratio=config.min_cleanable_dirty_ratio,
        )
        return plan, sources

    def to_clean(self, upper_bound: int) -> LogToClean:
        """How much of the log is cleanable below `upper_bound` and whether a pass is due."""
        return self._plan(upper_bound, self._clock())[0]

    def begin(
        self,
        upper_bound: int,
        *,
        force: bool = False,
        last_records: Mapping[int, LastRecord] | None = None,
    ) -> CleanTask | None:
        """Owner side: start a pass over the log below `upper_bound` -- the last
        stable offset (Kafka's bound: the high watermark, and no further than the
        first offset of a transaction still open or not yet replicated) -- or None
        when the log is not compacted, nothing is cleanable, or (unless `force`)
        `LogToClean.should_clean` says no.

        `last_records` maps each active producer id to its `LastRecord` (the
        broker's producer state, Kafka's `lastRecordsOfActiveProducers`); without
        it each producer id's last batch in the cleanable range counts as its
        last (see `CleanTask`).
        """
        if self._task is not None:
            raise RuntimeError("a clean of this log is already in progress")
        log = self._log
        if not log.config.compact:
            return None
        now = self._clock()
        plan, sources = self._plan(upper_bound, now)
        if not sources or not (force or plan.should_clean):
            return None
        self._task = CleanTask(
            log.dir,
            log.config,
            sources,
            plan.first_dirty_offset,
            now,
            log.generation,
            self._map_budget,
            last_records,
            log.collect_aborted_txns(sources[0].base_offset, sources[-1].next_offset),
        )
        return self._task

    def complete(self, task: CleanTask) -> CleanResult | None:
        """Owner side, after `task.run()` returned: swap in the group it wrote. Returns
        the result once the pass is over, None while groups remain (call
        `task.run()` again)."""
        if task is not self._task:
            raise ValueError("not the task in progress for this log")
        written = task.written
        if written is not None:
            old = [s.segment for s in written.sources]
            if not self._still_replaceable(task, old):
                self.abort(task)
                return self._result(task)
            # The replacement's .txnindex was written with it (swapped in by the
            # same steps): the entries of aborted transactions whose data stays.
            for step in swap_steps(task.directory, written.base_offset, old):
                step()
            written.swapped = True
            self._log.replace_segments(old)
            task.stats[0] += len(old)
            task.written = None
        if not task.finished:
            return None
        self._task = None
        self._last_clean = max(task.end_offset, task.first_dirty_offset)
        self._delete_horizon = task.max_delete_horizon
        result = self._result(task)
        # The result in words is the broker's line at INFO (kraft.broker.log_manager);
        # the record itself is for debugging.
        logger.debug("%s: cleaned %s", task.directory, result)
        return result

    def _still_replaceable(self, task: CleanTask, old: list[LogSegment]) -> bool:
        log = self._log
        if log.generation != task.generation:
            return False
        segments = log.segments
        written = task.written
        if written is None or any(
            s.segment.txn_index.entries != list(s.txn_entries) for s in written.sources
        ):
            return False  # an aborted transaction was indexed there since `begin`
        for i, segment in enumerate(segments):
            if segment is old[0]:
                run = segments[i : i + len(old)]
                return i + len(old) < len(segments) and all(
                    a is b for a, b in zip(run, old, strict=True)
                )
        return False

    def abort(self, task: CleanTask) -> None:
        """Owner side: abandon the pass and delete its unswapped files. Groups already
        swapped in stay (each is a valid cleaning on its own); the last clean offset
        does not move. Safe to call at any point between steps."""
        if task is not self._task:
            return
        task.abandoned = True
        task.discard_files()
        self._task = None

    def _result(self, task: CleanTask) -> CleanResult:
        return CleanResult(task.abandoned, task.first_dirty_offset, task.end_offset, *task.stats)

    def clean(
        self,
        upper_bound: int,
        *,
        force: bool = False,
        last_records: Mapping[int, LastRecord] | None = None,
    ) -> CleanResult | None:
        """A whole pass on the calling (owner's) thread: `begin`, `run`/`complete`
        until done. None when `begin` found nothing to do."""
        task = self.begin(upper_bound, force=force, last_records=last_records)
        if task is None:
            return None
        try:
            result = None
            while result is None:
                task.run()
                result = self.complete(task)
        except BaseException:
            self.abort(task)
            raise
        return result
