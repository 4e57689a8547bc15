"""Which segments retention may delete: Kafka's `UnifiedLog.deletableSegments`.

Three predicates, each applied from the oldest segment and stopping at the
first segment it spares (so deletion only ever removes a prefix of the log):

* retention.ms: the segment's largest timestamp (file mtime if it has none)
  is more than retention.ms before now;
* retention.bytes: deleting the segment still leaves >= retention.bytes;
* log start offset: the whole segment lies below it (DeleteRecords).

A segment is only deletable when every offset in it is below the caller's
upper bound (the high watermark), and an empty last segment never is. Pure
functions over the segment list; the owning log does the deleting.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from kraft.log.segment import LogSegment

Predicate = Callable[[LogSegment, LogSegment | None], bool]


def deletable_segments(
    segments: Sequence[LogSegment], predicate: Predicate, upper_bound: int, log_end_offset: int
) -> list[LogSegment]:
    """The oldest segments for which `predicate(segment, following)` holds, in order."""
    doomed: list[LogSegment] = []
    for i, segment in enumerate(segments):
        following = segments[i + 1] if i + 1 < len(segments) else None
        if following is None and segment.size == 0:
            break
        segment_end = following.base_offset if following else log_end_offset
        if not (upper_bound >= segment_end and predicate(segment, following)):
            break
        doomed.append(segment)
    return doomed


def retention_ms_breached(now_ms: int, retention_ms: int) -> Predicate:
    return lambda segment, _following: now_ms - segment.largest_timestamp > retention_ms


def retention_bytes_breached(total_bytes: int, retention_bytes: int) -> Predicate:
    excess = total_bytes - retention_bytes

    def breached(segment: LogSegment, _following: LogSegment | None) -> bool:
        nonlocal excess
        if excess - segment.size < 0:
            return False
        excess -= segment.size
        return True

    return breached


def below_log_start_offset(log_start_offset: int) -> Predicate:
    return lambda _segment, following: (
        following is not None and following.base_offset <= log_start_offset
    )
