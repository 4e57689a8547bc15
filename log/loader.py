"""Opening a partition directory: find segments, recover the unflushed tail.

Kafka's `LogLoader`. Steps, in order:

0. Finish or undo an interrupted cleaner swap (log.cleaner writes
   `<base>.log.cleaned` + `.index.cleaned` + `.timeindex.cleaned` +
   `.txnindex.cleaned` (always, possibly empty), fsyncs them, renames the
   `.log.cleaned` to `<base>.log.swap` -- the commit point -- deletes the
   segments it replaces, then renames the files to their final names, the
   `.txnindex.cleaned` before the `.log.swap`, or deletes it when empty). A
   `<base>.log.swap` is complete by construction: every `.log` (and index)
   whose base offset lies in [base, the swap's next offset) is deleted --
   the replaced segments, and the swap's own index files, which may be stale
   and are rebuilt in step 3 or 4 -- and the swap is renamed to `<base>.log`.
   Its aborted-transaction index cannot be rebuilt from the segment alone,
   so it is never left stale: while `<base>.txnindex.cleaned` exists, every
   `.txnindex` in that range is an old one and is deleted, and the cleaned
   one becomes `<base>.txnindex`; once it is gone, `<base>.txnindex` is
   already the new one (the old ones were deleted before it was renamed).
   Then every `*.cleaned` file (an uncommitted clean) and any other
   `*.swap` / `*.deleted` file goes.
1. Delete leftovers: `*.tmp` files (half-written checkpoints) and index files
   whose `.log` is gone.
2. Open every `<base>.log` in base-offset order.
3. Segments wholly below the recovery point were fsynced: their data is
   trusted, their indexes only `sanity_check()`ed and rebuilt (by a full
   recover of that segment) if the check fails or a file is missing.
4. The segment holding the recovery point, unless its data ends at or before
   the recovery point, and every later segment are `recover()`ed: every batch
   is validated (framing, CRC32C, offset order) and the indexes rebuilt.
   Leader epochs found in recovered batches are assigned to the epoch cache
   (when above its latest epoch, as Kafka's `LogSegment.recover`).
5. At the first recovered segment that had to be truncated, or that does not
   end where the next segment begins (a tail lost at a batch boundary), all
   later segments are deleted: the log is the longest valid, contiguous
   prefix of what was on disk.

The write side of the swap protocol lives here too, next to its recovery, so
the two cannot drift apart: `CleanedSegmentWriter` writes and fsyncs the
`.cleaned` files (in the cleaner's worker thread), `swap_steps` commits them
(on the log's owner).

Crash behaviour: loading is idempotent. It only deletes, truncates and
completes swaps (deleting before renaming), so a crash during loading is
recovered by loading again.

Thread-safety: called once by `PartitionLog.open`, before anyone else sees
the log.
"""

from __future__ import annotations

import logging
import mmap
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from kraft.log.batch import BatchHeader, crc_is_valid, iter_batches, parse_header
from kraft.log.checkpoint import TMP_SUFFIX, fsync_dir
from kraft.log.config import LogConfig
from kraft.log.epoch import LeaderEpochCache
from kraft.log.errors import CorruptSegmentError, InvalidBatchError
from kraft.log.index import OffsetIndex, TimeIndex
from kraft.log.segment import (
    DELETED_SUFFIX,
    I32_MAX,
    INDEX_SUFFIX,
    LOG_SUFFIX,
    TIME_INDEX_SUFFIX,
    LogSegment,
    parse_segment_file_name,
    segment_file_name,
)
from kraft.log.txnindex import TXN_INDEX_SUFFIX, AbortedTxn, write_txn_index

logger = logging.getLogger(__name__)

CLEANED_SUFFIX = ".cleaned"  # appended to a segment file name: an uncommitted clean
SWAP_SUFFIX = ".swap"  # appended to `.log`: a committed clean not yet renamed
_SEGMENT_SUFFIXES = (LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX)
_WRITE_CHUNK = 1 << 20


def load_segments(
    directory: Path,
    config: LogConfig,
    recovery_point: int,
    now_ms: int,
    epochs: LeaderEpochCache,
) -> list[LogSegment]:
    """Open and, where needed, recover the segments of `directory` (see module doc).

    Returns the segments in base-offset order; possibly empty.
    """
    _complete_swaps(directory)
    bases = _clean_directory(directory)
    segments = [LogSegment.open(directory, base, config, now_ms) for base in bases]
    floor = 0  # index of the segment holding the recovery point
    for i, segment in enumerate(segments):
        if segment.base_offset <= recovery_point:
            floor = i

    def assign_epoch(header: BatchHeader) -> None:
        epoch = header.partition_leader_epoch
        latest = epochs.latest_epoch
        if epoch >= 0 and (latest is None or epoch > latest):
            epochs.assign(epoch, header.base_offset)

    for i, segment in enumerate(segments):
        truncated = 0
        if i < floor and segment.sanity_check(segments[i + 1].base_offset):
            continue  # fsynced, and contiguous with the next segment by construction
        if i < floor:
            logger.warning("%s: index failed its sanity check; rebuilding", segment.path)
        if i != floor or not _is_clean(segment, recovery_point):
            truncated = segment.recover(assign_epoch)
            segment.write_pending_indexes()  # replace the old index files right away
        later = segments[i + 1 :]
        if later and (truncated or segment.next_offset != later[0].base_offset):
            logger.warning(
                "%s: %d invalid bytes truncated, ends at offset %d; deleting %d later segments",
                segment.path,
                truncated,
                segment.next_offset,
                len(later),
            )
            for doomed in later:
                doomed.delete()
            del segments[i + 1 :]
            break
    return segments


def _is_clean(segment: LogSegment, recovery_point: int) -> bool:
    """True if the segment's indexes look sane and its data, validated from the last
    offset-index entry on, ends at or below the recovery point (so all of it was
    fsynced)."""
    try:
        if not segment.sanity_check_offset_index():
            return False
        next_offset = segment.validated_next_offset()
        return (
            next_offset is not None
            and next_offset <= recovery_point
            and segment.sanity_check_time_index(next_offset)
        )
    except CorruptSegmentError:
        return False


def cleaned_paths(directory: Path, base: int) -> tuple[Path, Path, Path, Path]:
    """`.log.cleaned`, `.index.cleaned`, `.timeindex.cleaned`, `.txnindex.cleaned`
    of a cleaned segment."""
    log, index, time_index, txn_index = (
        directory / (segment_file_name(base, suffix) + CLEANED_SUFFIX)
        for suffix in (*_SEGMENT_SUFFIXES, TXN_INDEX_SUFFIX)
    )
    return log, index, time_index, txn_index


class CleanedSegmentWriter:
    """Writes the `.cleaned` files of one segment (log.cleaner's worker thread):
    batches must follow each other without an offset gap from `base`; they are
    indexed as `LogSegment.append` does (entries are skipped once an index is
    full). `finish` writes the aborted-transaction index and makes the files
    durable, ready for `swap_steps`."""

    def __init__(self, directory: Path, base: int, config: LogConfig) -> None:
        self.base = base
        self.paths = cleaned_paths(directory, base)
        self.fd = os.open(
            self.paths[0], os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644
        )
        self.offset_index = OffsetIndex(self.paths[1], base, config.segment_index_bytes)
        self.time_index = TimeIndex(self.paths[2], base, config.segment_index_bytes)
        self.offset_index.create_empty()
        self.time_index.create_empty()
        self.interval = config.index_interval_bytes
        self.position = self.since = self.written = 0
        self.next_offset = base
        self.max_ts, self.offset_of_max = -1, base
        self.pending: list[bytes] = []

    def append(self, batch: bytes) -> None:
        header = parse_header(batch)
        last = header.last_offset
        if header.base_offset != self.next_offset or last - self.base > I32_MAX:
            raise AssertionError(
                f"cleaned batch {header.base_offset} does not follow {self.next_offset}"
            )
        if self.position + header.size > I32_MAX:
            raise AssertionError("cleaned segment outgrew 2 GiB")
        if header.max_timestamp > self.max_ts:
            self.max_ts, self.offset_of_max = header.max_timestamp, last
        if self.since > self.interval and self.offset_index.free_entries > 0:
            if self.time_index.free_entries > 1:
                self.time_index.maybe_append(self.max_ts, self.offset_of_max)
            self.offset_index.append(last, self.position)
            self.since = 0
        self.pending.append(batch)
        self.position += header.size
        self.since += header.size
        self.next_offset = last + 1
        if self.position - self.written >= _WRITE_CHUNK:
            self._write()

    def _write(self) -> None:
        data = b"".join(self.pending)
        self.pending.clear()
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]
        self.written = self.position

    def finish(self, mtime_ns: int, aborted: Sequence[AbortedTxn] = ()) -> None:
        """Write everything, with `aborted` as the segment's `.txnindex` (the file
        is written even when empty: see step 0), and make it durable (before the
        commit rename)."""
        self._write()
        write_txn_index(self.paths[3], aborted)
        self.time_index.maybe_append(self.max_ts, self.offset_of_max)
        for index in (self.offset_index, self.time_index):
            index.write_pending()
            index.fsync()
        os.fsync(self.fd)
        os.close(self.fd)
        self.fd = -1
        # Keep the replaced segments' age for retention of segments without timestamps.
        os.utime(self.paths[0], ns=(mtime_ns, mtime_ns))

    def discard(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        for path in self.paths:
            path.unlink(missing_ok=True)


def swap_steps(
    directory: Path, base_offset: int, old: Sequence[LogSegment]
) -> list[Callable[[], None]]:
    """The file operations, in order, that swap the fsynced `.cleaned` files of the
    segment at `base_offset` in for the segments `old` (step 0 of the module
    doc): commit (rename to `.log.swap`, fsync the directory), delete each old
    segment, fsync the directory, rename the two indexes, rename the `.log.swap`.
    The cleaner runs them all; tests stop between any two and reopen the log."""
    log_cleaned, index_cleaned, time_cleaned, txn_cleaned = cleaned_paths(directory, base_offset)
    log_final, index_final, time_final = (
        directory / segment_file_name(base_offset, suffix) for suffix in _SEGMENT_SUFFIXES
    )
    swap = log_final.with_name(log_final.name + SWAP_SUFFIX)

    def commit() -> None:
        os.rename(log_cleaned, swap)
        fsync_dir(directory)

    return [
        commit,
        *(segment.delete for segment in old),
        lambda: fsync_dir(directory),
        lambda: os.rename(index_cleaned, index_final),
        lambda: os.rename(time_cleaned, time_final),
        lambda: _install_txn_index(txn_cleaned, base_offset),
        lambda: os.rename(swap, log_final),
    ]


def _install_txn_index(cleaned: Path, base: int) -> None:
    """Rename a `.txnindex.cleaned` to its final name, or delete it when empty (a
    segment without aborted transactions has no `.txnindex`)."""
    if cleaned.stat().st_size == 0:
        cleaned.unlink()
    else:
        os.rename(cleaned, cleaned.with_name(segment_file_name(base, TXN_INDEX_SUFFIX)))


def _swap_next_offset(path: Path) -> int | None:
    """One past the last offset of the valid batches at the start of a swap file."""
    with path.open("rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            return None
        with mmap.mmap(f.fileno(), size, access=mmap.ACCESS_READ) as mm, memoryview(mm) as view:
            next_offset = None
            valid = 0
            try:
                for pos, header in iter_batches(view, allow_partial_tail=True):
                    if not crc_is_valid(view, pos, header):
                        break
                    next_offset = header.next_offset
                    valid = pos + header.size
            except InvalidBatchError:
                pass
    if valid != size:
        # It was fsynced before its commit rename: only the disk can have damaged it.
        logger.error("%s: only %d of %d bytes are valid batches", path, valid, size)
    return next_offset


def _complete_swaps(directory: Path) -> None:
    """Step 0 of the module doc: finish committed cleaner swaps, drop the rest."""
    changed = False
    names = sorted(os.listdir(directory))
    for name in names:
        parsed = parse_segment_file_name(name)
        if parsed is None or parsed[1] != LOG_SUFFIX + SWAP_SUFFIX:
            continue
        base = parsed[0]
        swap = directory / name
        end = _swap_next_offset(swap)
        if end is None:
            logger.error("%s: holds no valid batch; deleting it", swap)
            swap.unlink()
            changed = True
            continue
        txn_cleaned = cleaned_paths(directory, base)[3]
        installing = txn_cleaned.exists()
        doomed = (*_SEGMENT_SUFFIXES, TXN_INDEX_SUFFIX) if installing else _SEGMENT_SUFFIXES
        for other in os.listdir(directory):
            found = parse_segment_file_name(other)
            if found is not None and found[1] in doomed and base <= found[0] < end:
                (directory / other).unlink()
        if installing:
            _install_txn_index(txn_cleaned, base)
        os.rename(swap, directory / segment_file_name(base, LOG_SUFFIX))
        logger.warning(
            "%s: completed an interrupted cleaner swap of offsets [%d, %d)", directory, base, end
        )
        changed = True
    for name in os.listdir(directory):
        if name.endswith((CLEANED_SUFFIX, SWAP_SUFFIX, DELETED_SUFFIX)):
            (directory / name).unlink()
            changed = True
    if changed:
        fsync_dir(directory)


def _clean_directory(directory: Path) -> list[int]:
    """Delete leftovers; return the base offsets of the `.log` files, sorted."""
    logs: set[int] = set()
    indexes: list[tuple[int, Path]] = []
    for path in directory.iterdir():
        if path.name.endswith(TMP_SUFFIX):
            path.unlink(missing_ok=True)
            continue
        parsed = parse_segment_file_name(path.name)
        if parsed is None:
            continue
        base, suffix = parsed
        if suffix == LOG_SUFFIX:
            logs.add(base)
        elif suffix in (INDEX_SUFFIX, TIME_INDEX_SUFFIX, TXN_INDEX_SUFFIX):
            indexes.append((base, path))
    for base, path in indexes:
        if base not in logs:
            path.unlink(missing_ok=True)
    return sorted(logs)
