"""Opening a partition directory: find segments, recover the unflushed tail.

Kafka's `LogLoader`. Steps, in order:

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

Crash behaviour: loading is idempotent. It only deletes and truncates, so a
crash during loading is recovered by loading again.

Thread-safety: called once by `PartitionLog.open`, before anyone else sees
the log.
"""

from __future__ import annotations

import logging
from pathlib import Path

from log.batch import BatchHeader
from log.checkpoint import TMP_SUFFIX
from log.config import LogConfig
from log.epoch import LeaderEpochCache
from log.errors import CorruptSegmentError
from log.segment import (
    INDEX_SUFFIX,
    LOG_SUFFIX,
    TIME_INDEX_SUFFIX,
    LogSegment,
    parse_segment_file_name,
)

logger = logging.getLogger(__name__)


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
        elif suffix in (INDEX_SUFFIX, TIME_INDEX_SUFFIX):
            indexes.append((base, path))
    for base, path in indexes:
        if base not in logs:
            path.unlink(missing_ok=True)
    return sorted(logs)
