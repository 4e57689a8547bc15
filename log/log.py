"""One partition's log: segments, offsets, append, read, truncation, retention, flush.

Directory `<log.dir>/<topic>-<partition>/` (see `partition_dir`) holding::

    00000000000000000000.log/.index/.timeindex   segments (log.segment)
    00000000000000052411.log/.index/.timeindex   ... the last one is "active"
    leader-epoch-checkpoint                      epoch cache (log.epoch)

Offsets: `log_start_offset` <= every readable offset < `log_end_offset`
(LEO, one past the last appended offset). `high_watermark` (<= LEO) is the
partition's, kept here for the broker's log manager; the log never raises it.
Segments are sorted by base offset; only the last (active) one is appended
to. The log start offset can be above the first segment's base
(DeleteRecords); the broker persists it in `log-start-offset-checkpoint` and
passes it back to `open`.

Theory of operation:

* Leader append validates every batch of the request before writing any
  (log.batch), then assigns offsets from LEO by writing a rewritten 17-byte
  header prefix (baseOffset, batchLength, partitionLeaderEpoch, magic)
  followed by the caller's untouched bytes 17..end of each batch in one
  `pwritev` -- zero copies, CRC unchanged. With message.timestamp.type=
  LogAppendTime the 61-byte header is rewritten and the CRC recomputed.
* Follower append takes the leader's offsets: the first batch must start at
  LEO (else `UnexpectedAppendOffsetError`; the fetcher decides, as Kafka's
  `UnexpectedAppendOffsetException`) and offsets must be contiguous (the
  cleaner keeps them so, see log.cleaner, so a gap is damage); a partial
  trailing batch (cut by the fetch size) is ignored.
* Roll: before each batch, if it would push the active segment past
  segment.bytes, or the segment is older than segment.ms (by message time
  since its first append, else the injected clock since creation -- Kafka's
  `timeWaitedForRoll`; for compacted logs at most max.compaction.lag.ms,
  `LogConfig.max_segment_ms`), or an index could fill up, or the relative offset
  would overflow an i32, a new segment starts at LEO.
* Read returns `FileSlice`s (fd, position, length) that keep their segment
  files open; `FetchDataInfo.to_bytes()` reads them (log.fileio says why not
  sendfile). As Kafka: the first batch is
  returned whole even above max_bytes; the last slice is cut at max_bytes and
  may end in a partial batch (clients drop it); batches starting at or after
  `max_offset` (the high watermark) are not returned.
* Retention deletes whole segments from the oldest, only while every offset
  in the segment is below the caller's bound. If the active segment itself
  qualifies it is first rolled (Kafka does the same), so the segment being
  deleted is never the one being appended to. retention.ms and
  retention.bytes apply only when cleanup.policy includes "delete".
* Compaction (log.cleaner) rewrites inactive segments below the high
  watermark in a worker thread; the owner swaps the result in with
  `replace_segments` once its files are in place. `generation` (bumped by
  every truncation) lets the cleaner notice a truncation in between.

Durability: nothing is fsynced on append. `flush(offset)` fsyncs data then
indexes of every segment holding offsets in [recovery_point, offset), then
the directory if segments were created or deleted, and only then advances
`recovery_point`. The broker persists recovery points in
`recovery-point-offset-checkpoint` (log.checkpoint) and passes the value back
to `open`, which re-validates everything at or above it (log.loader) --
indexes are never trusted over data there. Leader-epoch changes are written
(atomically, fsynced) when they happen. Truncation becomes durable at the next
flush; after a crash, replication truncates again as in Kafka.

Thread-safety: single owner. All methods must be called by one task/thread,
except that `begin_flush()` returns a `FlushTask` whose `run()` (the fsyncs)
may execute in a worker thread (`trio.to_thread.run_sync`) while the owner
keeps appending and reading; the owner then calls `complete_flush(task)`.
`flush()` does all three inline. Compaction follows the same pattern
(log.cleaner): its worker only reads the inactive segments it was given.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from pathlib import Path

from kraft.log.batch import (
    HEADER_PREFIX,
    HEADER_SIZE,
    MAGIC,
    MAGIC_OFFSET,
    NO_TIMESTAMP,
    BatchHeader,
    Buffer,
    log_append_time_header,
    validate_batches,
)
from kraft.log.checkpoint import fsync_dir
from kraft.log.compression import open_records, trim_gap_batch
from kraft.log.config import LogConfig
from kraft.log.configdef import LONG_MAX
from kraft.log.epoch import FILE_NAME as EPOCH_FILE_NAME
from kraft.log.epoch import LeaderEpochCache
from kraft.log.errors import (
    ErrorCode,
    InvalidBatchError,
    OffsetOutOfRangeError,
    UnexpectedAppendOffsetError,
)
from kraft.log.loader import load_segments
from kraft.log.read import read_slices
from kraft.log.results import (
    EARLIEST_LOCAL_TIMESTAMP,
    EARLIEST_TIMESTAMP,
    LATEST_TIMESTAMP,
    MAX_TIMESTAMP,
    AppendOrigin,
    FetchDataInfo,
    FlushTask,
    LogAppendInfo,
    TimestampAndOffset,
    wall_clock_ms,
)
from kraft.log.retention import (
    Predicate,
    below_log_start_offset,
    deletable_segments,
    retention_bytes_breached,
    retention_ms_breached,
)
from kraft.log.segment import I32_MAX, BatchInfo, LogSegment
from kraft.log.txnindex import AbortedTxn

__all__ = [
    "EARLIEST_LOCAL_TIMESTAMP",
    "EARLIEST_TIMESTAMP",
    "LATEST_TIMESTAMP",
    "MAX_TIMESTAMP",
    "AppendOrigin",
    "FetchDataInfo",
    "FlushTask",
    "LogAppendInfo",
    "PartitionLog",
    "TimestampAndOffset",
]

_pack_prefix = HEADER_PREFIX.pack


class PartitionLog:
    """The log of one partition. Construct with `PartitionLog.open`."""

    def __init__(
        self,
        directory: Path,
        config: LogConfig,
        segments: list[LogSegment],
        epochs: LeaderEpochCache,
        log_start_offset: int,
        recovery_point: int,
        clock: Callable[[], int],
    ) -> None:
        self.dir = directory
        self._config = config
        self._segments = segments
        self._bases = [s.base_offset for s in segments]
        self._epochs = epochs
        self._log_start_offset = log_start_offset
        self._recovery_point = recovery_point
        self._high_watermark = 0
        self._clock = clock
        self._generation = 0  # bumped by truncation; stale flushes must not move the RP
        self._dir_dirty = False
        self._deleted_segments: list[LogSegment] = []
        self._last_flush_ms = clock()

    @classmethod
    def open(
        cls,
        directory: Path,
        config: LogConfig | None = None,
        *,
        recovery_point: int = 0,
        log_start_offset: int = 0,
        clock: Callable[[], int] = wall_clock_ms,
    ) -> PartitionLog:
        """Open (creating if needed) and recover the log in `directory` (log.loader).

        `recovery_point` is the last flushed offset checkpointed by the broker
        (0 if unknown: everything is re-validated). If `log_start_offset`
        turns out above the recovered log end offset, the log restarts empty
        at `log_start_offset`.
        """
        config = config or LogConfig()
        directory.mkdir(parents=True, exist_ok=True)
        epochs = LeaderEpochCache.load(directory / EPOCH_FILE_NAME)
        now = clock()
        segments = load_segments(directory, config, recovery_point, now, epochs)
        if not segments:
            segments = [LogSegment.create(directory, log_start_offset, config, now)]
        log_start_offset = max(log_start_offset, segments[0].base_offset)
        log = cls(directory, config, segments, epochs, log_start_offset, 0, clock)
        leo = log.log_end_offset
        if log_start_offset > leo:
            log.truncate_fully_and_start_at(log_start_offset)
        else:
            epochs.truncate_from_end(leo)
            epochs.truncate_from_start(log_start_offset)
            log._recovery_point = min(recovery_point, leo)
        return log

    # -- state ------------------------------------------------------------------

    @property
    def config(self) -> LogConfig:
        return self._config

    def update_config(self, config: LogConfig) -> None:
        """Apply a topic config change (index sizes only affect new segments)."""
        self._config = config
        for segment in self._segments:
            segment.config = config

    @property
    def log_start_offset(self) -> int:
        return self._log_start_offset

    @property
    def log_end_offset(self) -> int:
        return self._segments[-1].next_offset

    @property
    def high_watermark(self) -> int:
        """The partition's high watermark. The replica that owns the log decides it
        (kraft.broker.partition) and stores it here, as Kafka's UnifiedLog holds
        it, so that the log manager bounds retention and cleaning by it and
        checkpoints it. Truncation lowers it to the new log end offset; nothing
        else in the log moves it. 0 until set."""
        return self._high_watermark

    def update_high_watermark(self, offset: int) -> None:
        """Set the high watermark to `offset`, at most the log end offset."""
        self._high_watermark = min(offset, self.log_end_offset)

    @property
    def recovery_point(self) -> int:
        """Offsets below this are durable (fsynced). Checkpoint it for `open`."""
        return self._recovery_point

    @property
    def unflushed_messages(self) -> int:
        return self.log_end_offset - self._recovery_point

    @property
    def segments(self) -> tuple[LogSegment, ...]:
        return tuple(self._segments)

    @property
    def active_segment(self) -> LogSegment:
        return self._segments[-1]

    @property
    def size_in_bytes(self) -> int:
        return sum(s.size for s in self._segments)

    @property
    def generation(self) -> int:
        """Bumped by every truncation (`truncate_to`, `truncate_fully_and_start_at`)."""
        return self._generation

    @property
    def leader_epoch_cache(self) -> LeaderEpochCache:
        return self._epochs

    @property
    def latest_epoch(self) -> int | None:
        return self._epochs.latest_epoch

    def _set_segments(self, segments: list[LogSegment]) -> None:
        self._segments = segments
        self._bases = [s.base_offset for s in segments]

    # -- append -----------------------------------------------------------------

    def _records_without_key(
        self, view: memoryview, batches: list[tuple[int, BatchHeader]]
    ) -> LogAppendInfo | None:
        """Kafka's LogValidator.validateKey: a compacted log refuses records without a
        key (INVALID_RECORD, one RecordError per such record, nothing written). The
        batches are opened (decompressed) for this; only compacted topics pay it."""
        errors: list[tuple[int, str]] = []
        name = self.dir.name
        for pos, header in batches:
            if header.is_control:
                continue
            try:
                records = open_records(view[pos : pos + header.size], header)
            except InvalidBatchError as e:
                return LogAppendInfo(e.error_code, str(e), log_start_offset=self._log_start_offset)
            errors += [(index, "Compacted topic cannot accept message without key in topic "
                               f"partition {name}")
                       for index, record in enumerate(records) if record.key is None]
        if not errors:
            return None
        shown = ", ".join(f"RecordError(batchIndex={i}, message='{m}')" for i, m in errors[:3])
        return LogAppendInfo(
            ErrorCode.INVALID_RECORD,
            f"One or more records have been rejected due to {len(errors)} record errors in "
            f"total, and only showing the first three errors at most: [{shown}]",
            log_start_offset=self._log_start_offset, record_errors=tuple(errors))

    def _records_out_of_time_range(
        self, view: memoryview, batches: list[tuple[int, BatchHeader]]
    ) -> LogAppendInfo | None:
        """Kafka's LogValidator.validateTimestamp (KIP-937): a CreateTime timestamp
        more than message.timestamp.before.max.ms before the broker's clock, or
        after.max.ms after it, is refused (INVALID_TIMESTAMP, one RecordError per
        such record, nothing written). A batch is opened only when a bound could
        refuse one of its records: with no lower bound, only when its header's max
        timestamp lies beyond the upper one."""
        config = self._config
        now = self._clock()
        low = now - config.message_timestamp_before_max_ms
        high = now + config.message_timestamp_after_max_ms
        no_lower_bound = config.message_timestamp_before_max_ms == LONG_MAX
        errors: list[tuple[int, str]] = []
        for pos, header in batches:
            if header.is_control:
                continue
            if no_lower_bound and header.max_timestamp <= high:
                # Only the upper bound applies (Kafka 4's default: after.max.ms one
                # hour, before.max.ms unbounded) and the batch's max timestamp is
                # within it: no record can be refused, so the batch is not opened
                # (a Python walk over every record of every produce would cost
                # more than the append).
                continue
            try:
                records = open_records(view[pos : pos + header.size], header)
            except InvalidBatchError as e:
                return LogAppendInfo(e.error_code, str(e), log_start_offset=self._log_start_offset)
            for index, record in enumerate(records):
                timestamp = header.base_timestamp + record.timestamp_delta
                if timestamp != NO_TIMESTAMP and not low <= timestamp <= high:
                    # The offset as the producer sent it, as Kafka's message has it.
                    errors.append((index, f"Timestamp {timestamp} of message with offset "
                                          f"{header.base_offset + record.offset_delta} is out of "
                                          "range. The "
                                          f"timestamp should be within [{low}, {high}]"))
        if not errors:
            return None
        return LogAppendInfo(
            ErrorCode.INVALID_TIMESTAMP,
            "One or more records have been rejected due to invalid timestamp",
            log_start_offset=self._log_start_offset, record_errors=tuple(errors))

    def append_as_leader(
        self,
        records: Buffer,
        leader_epoch: int,
        *,
        origin: AppendOrigin = AppendOrigin.CLIENT,
        before_write: Callable[[list[tuple[int, BatchHeader]]], LogAppendInfo | None]
        | None = None,
    ) -> LogAppendInfo:
        """Validate all batches, assign offsets from LEO and `leader_epoch`, append.

        On any validation failure nothing is written and the Kafka error code
        is returned (see log.batch for which check gives which code;
        RECORD_LIST_TOO_LARGE when the request exceeds segment.bytes). The
        caller's buffer is not modified.

        `before_write`, if given, sees the validated batches (position, header)
        just before anything is written; returning a LogAppendInfo aborts the
        append and returns it instead (the broker's idempotence checks: an
        error, or a duplicate's original offsets).
        """
        config = self._config
        view = memoryview(records)
        try:
            batches = validate_batches(
                view,
                max_message_bytes=config.max_message_bytes,
                client=origin is AppendOrigin.CLIENT,
            )
            if not batches:
                raise InvalidBatchError(ErrorCode.INVALID_RECORD, "no record batch to append")
        except InvalidBatchError as e:
            return LogAppendInfo(e.error_code, str(e), log_start_offset=self._log_start_offset)
        if config.compact and origin is AppendOrigin.CLIENT:
            refused = self._records_without_key(view, batches)
            if refused is not None:
                return refused
        if origin is AppendOrigin.CLIENT and not config.log_append_time and (
                config.message_timestamp_before_max_ms < LONG_MAX
                or config.message_timestamp_after_max_ms < LONG_MAX):
            refused = self._records_out_of_time_range(view, batches)
            if refused is not None:
                return refused
        total = view.nbytes
        if total > config.segment_bytes:
            return LogAppendInfo(
                ErrorCode.RECORD_LIST_TOO_LARGE,
                f"{total} bytes exceed segment.bytes {config.segment_bytes}",
                log_start_offset=self._log_start_offset,
            )
        if before_write is not None:
            verdict = before_write(batches)
            if verdict is not None:
                return verdict
        first = offset = self.log_end_offset
        append_time = self._clock() if config.log_append_time else -1
        infos: list[BatchInfo] = []
        iov: list[bytes | memoryview] = []
        max_ts = -1
        for pos, header in batches:
            # header[1] batchLength, [6] lastOffsetDelta, [8] maxTimestamp
            size = header[1] + 12
            last = offset + header[6]
            if append_time >= 0:
                iov.append(
                    log_append_time_header(view, pos, header, offset, leader_epoch, append_time)
                )
                iov.append(view[pos + HEADER_SIZE : pos + size])
                timestamp = append_time
            else:
                iov.append(_pack_prefix(offset, header[1], leader_epoch, MAGIC))
                iov.append(view[pos + MAGIC_OFFSET + 1 : pos + size])
                timestamp = header[8]
            infos.append((offset, last, timestamp, size))
            if timestamp > max_ts:
                max_ts = timestamp
            offset = last + 1
        if leader_epoch >= 0 and leader_epoch != self._epochs.latest_epoch:
            self._epochs.assign(leader_epoch, first)
        self._append(infos, iov, 2)
        return LogAppendInfo(
            ErrorCode.NONE,
            None,
            first,
            offset - 1,
            max_ts,
            append_time,
            self._log_start_offset,
            len(batches),
            offset - first,
            total,
        )

    def append_as_follower(self, records: Buffer) -> LogAppendInfo:
        """Append batches that carry the leader's offsets and epochs.

        CRC and framing are validated (CORRUPT_MESSAGE), offsets must be
        contiguous (INVALID_RECORD); nothing is written on error. A trailing
        partial batch is ignored. Raises `UnexpectedAppendOffsetError` if the
        first batch does not start at the log end offset -- except a leader's
        gap batch (log.cleaner) holding it, of which the part from the log end
        offset on is appended.
        """
        leo = self.log_end_offset
        view = trim_gap_batch(memoryview(records), leo, self._epochs.latest_epoch)
        try:
            batches = validate_batches(
                view, max_message_bytes=None, client=False, allow_partial_tail=True
            )
            if batches and batches[0][1][0] != leo:
                raise UnexpectedAppendOffsetError(batches[0][1][0], leo)
            infos: list[BatchInfo] = []
            epochs: list[tuple[int, int]] = []  # (epoch, start) where the epoch changes
            latest = self._epochs.latest_entry
            epoch = -1 if latest is None else latest.epoch
            prev_last = leo - 1
            for pos, header in batches:
                # header[0] baseOffset, [1] batchLength, [2] partitionLeaderEpoch,
                # [6] lastOffsetDelta, [8] maxTimestamp
                base = header[0]
                if base != prev_last + 1:
                    raise InvalidBatchError(
                        ErrorCode.INVALID_RECORD,
                        f"batch at byte {pos}: offsets {base}..{header.last_offset}"
                        f" do not follow {prev_last}",
                    )
                prev_last = base + header[6]
                infos.append((base, prev_last, header[8], header[1] + 12))
                if header[2] != epoch and header[2] >= 0:
                    epoch = header[2]
                    epochs.append((epoch, base))
        except InvalidBatchError as e:
            return LogAppendInfo(e.error_code, str(e), log_start_offset=self._log_start_offset)
        if not batches:
            return LogAppendInfo(log_start_offset=self._log_start_offset)
        for epoch, start in epochs:
            self._epochs.assign(epoch, start)
        valid = batches[-1][0] + infos[-1][3]
        self._append(infos, [view[:valid]], 0)
        return LogAppendInfo(
            base_offset=leo,
            last_offset=prev_last,
            max_timestamp=max(i[2] for i in infos),
            log_start_offset=self._log_start_offset,
            num_batches=len(batches),
            num_records=prev_last - leo + 1,
            valid_bytes=valid,
        )

    def _append(self, batches: list[BatchInfo], iov: list[bytes | memoryview], stride: int) -> None:
        """Write batches to the active segment, rolling first where a batch would not
        fit (see module doc). `iov` holds `stride` buffers per batch, or with
        stride 0 a single buffer of all batches back to back."""
        config = self._config
        n = len(batches)
        start = 0
        byte_start = 0
        while start < n:
            segment = self._segments[-1]
            size = segment.size
            free = segment.free_index_entries()
            first_ts = segment.rolling_based_timestamp if size else -1
            end = start
            while end < n:
                _, last, timestamp, batch_size = batches[end]
                if size > 0 and (
                    size + batch_size > config.segment_bytes
                    or end - start >= free
                    or last - segment.base_offset > I32_MAX
                    or (
                        timestamp - first_ts
                        if first_ts >= 0
                        else self._clock() - segment.created_ms
                    )
                    > config.max_segment_ms
                ):
                    break
                size += batch_size
                end += 1
            if end == start:
                self.roll()
                continue
            group_bytes = size - segment.size
            if start == 0 and end == n:
                segment.append(batches, iov, group_bytes)
            elif stride:
                segment.append(batches[start:end], iov[start * stride : end * stride], group_bytes)
            else:
                group = memoryview(iov[0])[byte_start : byte_start + group_bytes]
                segment.append(batches[start:end], [group], group_bytes)
            byte_start += group_bytes
            start = end

    def roll(self) -> LogSegment:
        """Start a new active segment at LEO (no-op if the active one is empty)."""
        active = self._segments[-1]
        if active.size == 0:
            return active
        active.on_become_inactive()
        segment = LogSegment.create(self.dir, self.log_end_offset, self._config, self._clock())
        self._segments.append(segment)
        self._bases.append(segment.base_offset)
        self._dir_dirty = True
        return segment

    def replace_segments(self, old: Sequence[LogSegment]) -> LogSegment:
        """Owner side of a cleaner swap (log.cleaner): replace `old`, a contiguous run
        of inactive segments of this log, by the segment now on disk as
        `<old[0].base_offset>.log`, and return it.

        The files are the caller's: `old`'s must already be deleted and the
        replacement's in place under their final names, covering exactly the
        offsets `old` covered. Raises ValueError if `old` is not such a run.
        """
        segments = self._segments
        start = next((i for i, s in enumerate(segments) if old and s is old[0]), len(segments))
        stop = start + len(old)
        if (
            not old
            or stop >= len(segments)
            or any(a is not b for a, b in zip(segments[start:stop], old, strict=True))
        ):
            raise ValueError("segments to replace are not a run of inactive segments of this log")
        replacement = LogSegment.open(self.dir, old[0].base_offset, self._config, self._clock())
        self._set_segments([*self._segments[:start], replacement, *self._segments[stop:]])
        self._dir_dirty = True
        return replacement

    def assign_epoch_start_offset(self, leader_epoch: int, start_offset: int) -> None:
        """Record that `leader_epoch` starts at `start_offset` (on becoming leader)."""
        self._epochs.assign(leader_epoch, start_offset)

    # -- transactions -----------------------------------------------------------

    def append_aborted_txn(self, entry: AbortedTxn) -> bool:
        """Index an aborted transaction in the segment holding its abort marker
        (`entry.last_offset`); False when that segment already has it or is gone."""
        i = bisect.bisect_right(self._bases, entry.last_offset) - 1
        if i < 0 or entry.last_offset >= self.log_end_offset:
            return False
        return self._segments[i].txn_index.append(entry)

    def collect_aborted_txns(self, fetch_offset: int, upper_bound: int) -> list[AbortedTxn]:
        """The aborted transactions overlapping [fetch_offset, upper_bound), from the
        segment holding `fetch_offset` on (Kafka's `collectAbortedTransactions`)."""
        i = max(bisect.bisect_right(self._bases, fetch_offset) - 1, 0)
        found: list[AbortedTxn] = []
        for segment in self._segments[i:]:
            entries, complete = segment.txn_index.collect(fetch_offset, upper_bound)
            found += entries
            if complete:
                break
        return found

    # -- read -------------------------------------------------------------------

    def _check_offset(self, offset: int) -> None:
        leo = self.log_end_offset
        if offset < self._log_start_offset or offset > leo:
            raise OffsetOutOfRangeError(offset, self._log_start_offset, leo)

    def read(
        self,
        start_offset: int,
        max_bytes: int,
        max_offset: int | None = None,
        *,
        min_one_message: bool = True,
    ) -> FetchDataInfo:
        """Slices of batches from the one holding `start_offset` (see module doc).

        Raises `OffsetOutOfRangeError` unless log_start <= start_offset <= LEO.
        `max_offset` is exclusive: batches whose base offset is >= it are left
        out. Slices may span segments; only the last may end mid-batch.
        """
        self._check_offset(start_offset)
        limit = self.log_end_offset if max_offset is None else min(max_offset, self.log_end_offset)
        if start_offset >= limit:
            return FetchDataInfo(start_offset)
        slices = read_slices(
            self._segments, self._bases, start_offset, max_bytes, limit, min_one_message
        )
        return FetchDataInfo(start_offset, slices)

    def offset_for_timestamp(self, timestamp: int) -> TimestampAndOffset | None:
        """Kafka's `fetchOffsetByTimestamp` (ListOffsets).

        For a timestamp >= 0: the first record at or after the log start whose
        timestamp is >= it, found via the time index (None if there is none);
        compressed batches are not opened, so their first offset and
        maxTimestamp stand in for the record. Special values: -2 earliest
        (and -4 earliest local) -> log start offset, -1 latest -> LEO, -3 max
        timestamp -> the record with the largest timestamp.
        """
        if timestamp in (EARLIEST_TIMESTAMP, EARLIEST_LOCAL_TIMESTAMP):
            entries = self._epochs.entries
            epoch = None
            if entries and entries[0].start_offset <= self._log_start_offset:
                epoch = entries[0].epoch
            return TimestampAndOffset(-1, self._log_start_offset, epoch)
        if timestamp == LATEST_TIMESTAMP:
            return TimestampAndOffset(-1, self.log_end_offset, self._epochs.latest_epoch)
        if timestamp == MAX_TIMESTAMP:
            candidates = [s for s in self._segments if s.size > 0]
            if not candidates:
                return None
            best = max(candidates, key=lambda s: s.max_timestamp)
            if best.max_timestamp < 0:
                return None
            ts, offset, epoch = best.max_timestamp_and_offset()
            return TimestampAndOffset(ts, offset, epoch if epoch >= 0 else None)
        if timestamp < 0:
            raise ValueError(f"unsupported special timestamp {timestamp}")
        for segment in self._segments:
            if segment.size == 0 or segment.max_timestamp < timestamp:
                continue
            found = segment.find_offset_by_timestamp(timestamp, self._log_start_offset)
            if found is not None:
                ts, offset, epoch = found
                return TimestampAndOffset(ts, offset, epoch if epoch >= 0 else None)
        return None

    def end_offset_for_epoch(self, leader_epoch: int) -> tuple[int, int]:
        """(epoch, end offset) for OffsetsForLeaderEpoch; (-1, -1) if unknown."""
        return self._epochs.end_offset_for(leader_epoch, self.log_end_offset)

    # -- truncation and retention ---------------------------------------------------

    def _delete(self, doomed: Sequence[LogSegment], *, later: bool = False) -> None:
        for segment in doomed:
            segment.delete(later=later)
            if later:
                self._deleted_segments.append(segment)
        self._dir_dirty = True

    def take_deleted_segments(self) -> list[LogSegment]:
        """Segments deleted by retention or DeleteRecords whose files are renamed
        `*.deleted` and not yet unlinked; the caller passes them to
        `kraft.log.segment.unlink_deleted` in a worker thread."""
        segments, self._deleted_segments = self._deleted_segments, []
        return segments

    def truncate_to(self, offset: int) -> bool:
        """Remove all offsets >= `offset` (follower truncation); True if anything changed.

        Truncation is at batch boundaries: a batch holding `offset` goes as a
        whole, so LEO may end up below `offset`.
        """
        if offset < 0:
            raise ValueError(f"cannot truncate to negative offset {offset}")
        if offset >= self.log_end_offset:
            return False
        if offset < self._segments[0].base_offset:
            self.truncate_fully_and_start_at(offset)
            return True
        keep = bisect.bisect_right(self._bases, offset)
        self._delete(self._segments[keep:])
        self._set_segments(self._segments[:keep])
        self._segments[-1].truncate_to(offset, self._clock())
        leo = self.log_end_offset
        self._epochs.truncate_from_end(leo)
        self._log_start_offset = min(self._log_start_offset, leo)
        self._recovery_point = min(self._recovery_point, leo)
        self._high_watermark = min(self._high_watermark, leo)
        self._generation += 1
        return True

    def truncate_fully_and_start_at(self, offset: int) -> None:
        """Delete every segment and restart empty at `offset` (log start = LEO = offset).

        The directory is fsynced before returning, so the old segments cannot
        come back after a crash.
        """
        if offset < 0:
            raise ValueError(f"cannot start at negative offset {offset}")
        self._delete(self._segments)
        self._set_segments([LogSegment.create(self.dir, offset, self._config, self._clock())])
        self._epochs.clear()
        self._log_start_offset = offset
        self._recovery_point = offset
        self._high_watermark = offset
        self._generation += 1
        fsync_dir(self.dir)
        self._dir_dirty = False

    def delete_records_before(self, offset: int) -> int:
        """Advance the log start offset to `offset` (DeleteRecords); return the new one.

        Offsets below it become unreadable; segments wholly below it are
        deleted now. The caller ensures `offset` <= high watermark; above
        LEO raises `OffsetOutOfRangeError`.
        """
        if offset > self.log_end_offset:
            raise OffsetOutOfRangeError(offset, self._log_start_offset, self.log_end_offset)
        if offset > self._log_start_offset:
            self._log_start_offset = offset
            self._epochs.truncate_from_start(offset)
            self._delete_segments(below_log_start_offset(offset), offset)
        return self._log_start_offset

    def delete_old_segments(self, upper_bound: int) -> int:
        """Apply retention.ms, retention.bytes and the log start offset (log.retention);
        return the number of segments deleted. Only segments whose every offset is
        below `upper_bound` (the high watermark) are deleted. Without "delete" in
        cleanup.policy only the log start offset applies (Kafka's
        `UnifiedLog.deleteOldSegments`)."""
        config = self._config
        deleted = 0
        if config.delete and config.retention_ms >= 0:
            breached = retention_ms_breached(self._clock(), config.retention_ms)
            deleted += self._delete_segments(breached, upper_bound)
        if config.delete and 0 <= config.retention_bytes < self.size_in_bytes:
            breached = retention_bytes_breached(self.size_in_bytes, config.retention_bytes)
            deleted += self._delete_segments(breached, upper_bound)
        deleted += self._delete_segments(
            below_log_start_offset(self._log_start_offset), upper_bound
        )
        return deleted

    def _delete_segments(self, predicate: Predicate, upper_bound: int) -> int:
        doomed = deletable_segments(self._segments, predicate, upper_bound, self.log_end_offset)
        if not doomed:
            return 0
        if doomed[-1] is self._segments[-1]:
            self.roll()
        self._delete(doomed, later=True)
        self._set_segments(self._segments[len(doomed) :])
        self._log_start_offset = max(self._log_start_offset, self._segments[0].base_offset)
        self._epochs.truncate_from_start(self._log_start_offset)
        return len(doomed)

    # -- flush and close -------------------------------------------------------------

    def flush_due(self) -> bool:
        """True when flush.messages or flush.ms says it is time to `flush()`."""
        unflushed = self.unflushed_messages
        if unflushed <= 0:
            return False
        return (
            unflushed >= self._config.flush_messages
            or self._clock() - self._last_flush_ms >= self._config.flush_ms
        )

    def begin_flush(self, offset: int | None = None) -> FlushTask:
        """Owner side of a flush up to `offset` (default LEO): write pending index
        entries and collect what must be fsynced."""
        leo = self.log_end_offset
        offset = leo if offset is None else min(offset, leo)
        task = FlushTask(self.dir, offset, self._generation, sync_dir=self._dir_dirty)
        self._dir_dirty = False
        segments = self._segments if offset > self._recovery_point else []
        for i, segment in enumerate(segments):
            segment_end = segments[i + 1].base_offset if i + 1 < len(segments) else leo
            if segment.base_offset < offset and segment_end > self._recovery_point:
                segment.write_pending_indexes()
                task.segments.append(segment)
        return task

    def complete_flush(self, task: FlushTask) -> None:
        """Owner side, after `task.run()` returned: advance the recovery point."""
        if task.generation == self._generation and task.offset > self._recovery_point:
            self._recovery_point = task.offset
        self._last_flush_ms = self._clock()

    def flush(self, offset: int | None = None) -> None:
        """fsync everything below `offset` (default LEO); returns when durable."""
        task = self.begin_flush(offset)
        task.run()
        self.complete_flush(task)

    def close(self) -> None:
        """Write index entries and close files. Does not fsync: `flush()` first
        for a clean shutdown, then checkpoint `recovery_point`."""
        for segment in self._segments:
            segment.close()
