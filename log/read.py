"""A fetch as slices of segment files (Kafka's `LocalLog.read` / `LogSegment.read`).

The slices cover whole batches from the one holding the fetch offset, in
order and possibly across segments; every slice but the last ends at the end
of its segment's data. Kafka's sizing rules apply: with `min_one_message`
the first batch is included whole even if it exceeds `max_bytes`; the last
slice is cut at `max_bytes` and may end inside a batch; batches whose base
offset is >= `limit` (the high watermark, or LEO) are never included.

Only headers are read (via the offset index and a short scan), never the
record bytes. Called on the owner's thread; the slices may then be read from
anywhere (log.fileio).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from kraft.log.fileio import FileSlice
from kraft.log.segment import LogSegment


def read_slices(
    segments: Sequence[LogSegment],
    bases: Sequence[int],
    start_offset: int,
    max_bytes: int,
    limit: int,
    min_one_message: bool,
) -> tuple[FileSlice, ...]:
    """Slices for a fetch at `start_offset` (already range-checked, < `limit`)."""
    i = max(bisect.bisect_right(bases, start_offset) - 1, 0)
    offset = start_offset
    remaining = max_bytes
    slices: list[FileSlice] = []
    while i < len(segments):
        segment = segments[i]
        found = segment.translate_offset(offset)
        if found is None:  # the offset is past this segment's last batch
            i += 1
            continue
        position, header = found
        if header.base_offset >= limit:
            break
        end = segment.size
        limited = i + 1 == len(segments) or limit < segments[i + 1].base_offset
        if limited:
            boundary = segment.translate_offset(limit, position)
            if boundary is not None:
                bpos, bheader = boundary
                end = bpos if bheader.base_offset >= limit else bpos + bheader.size
        available = end - position
        if min_one_message and not slices:
            length = min(available, max(remaining, header.size))
        else:
            length = min(available, remaining)
        if length <= 0:
            break
        slices.append(segment.slice(position, length))
        remaining -= length
        if limited or length < available or remaining <= 0:
            break
        i += 1
        if i < len(segments):
            offset = segments[i].base_offset
    return tuple(slices)
