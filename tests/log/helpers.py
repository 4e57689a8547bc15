"""Helpers shared by the log tests: scratch directories, CRC fix-ups, clocks,
and a linear-scan model of a log's contents to check indexes against."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import crc32c

from kraft.log.batch import ATTRIBUTES_OFFSET, CRC_OFFSET, BatchHeader, iter_batches, parse_header
from kraft.log.log import PartitionLog
from kraft.log.records import iter_records

# Property tests fsync a lot (checkpoints, flushes); tmpfs keeps that cheap. The
# damage the tests simulate is done by editing files, so any filesystem will do.
_SCRATCH_ROOT = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


@contextlib.contextmanager
def scratch_dir() -> Iterator[Path]:
    """A fresh directory per hypothesis example (tmp_path is per test function)."""
    path = Path(tempfile.mkdtemp(prefix="kraft-log-test-", dir=_SCRATCH_ROOT))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def fix_crc(buf: bytearray, pos: int = 0) -> bytearray:
    """Recompute the CRC of the batch at `pos` after editing bytes inside it."""
    header = parse_header(buf, pos)
    crc = crc32c.crc32c(bytes(buf[pos + ATTRIBUTES_OFFSET : pos + header.size]))
    buf[pos + CRC_OFFSET : pos + CRC_OFFSET + 4] = crc.to_bytes(4, "big")
    return buf


class FakeClock:
    """Injected milliseconds clock; tests move it by hand."""

    def __init__(self, now: int = 1_700_000_000_000) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms


def all_bytes(log: PartitionLog) -> bytes:
    """Every byte of every segment, in order."""
    return b"".join(s.path.read_bytes() for s in log.segments)


def batches_of(data: bytes) -> list[tuple[BatchHeader, bytes]]:
    """(header, bytes) of each batch in concatenated batch data."""
    return [(h, data[p : p + h.size]) for p, h in iter_batches(data)]


def linear_translate(log: PartitionLog, offset: int) -> tuple[int, int] | None:
    """(segment base, position) of the first batch with last offset >= `offset`,
    found by scanning every segment file from byte 0."""
    for segment in log.segments:
        data = segment.path.read_bytes()
        for pos, header in iter_batches(data):
            if header.last_offset >= offset:
                return segment.base_offset, pos
    return None


def check_indexes_against_data(log: PartitionLog) -> None:
    """Every offset- and time-index answer equals what a linear scan of the files says."""
    for offset in range(log.log_start_offset, log.log_end_offset):
        segment = next(s for s in reversed(log.segments) if s.base_offset <= offset)
        found = segment.translate_offset(offset)
        expected = linear_translate(log, offset)
        assert found is not None and expected == (segment.base_offset, found[0])
    for segment in log.segments:
        data = segment.path.read_bytes()
        positions = {pos: h for pos, h in iter_batches(data)}
        for i in range(segment.offset_index.entries):
            relative, position = segment.offset_index.entry(i)
            assert positions[position].last_offset == segment.base_offset + relative
        records = [r for pos, h in positions.items() for r in iter_records(data, pos)]
        assert segment.max_timestamp == max(
            (h.max_timestamp for h in positions.values()), default=-1
        )
        for i in range(segment.time_index.entries):
            timestamp, relative = segment.time_index.entry(i)
            upto = [r.timestamp for r in records if r.offset <= segment.base_offset + relative]
            assert max(upto) == timestamp
    records = [r for _, b in batches_of(all_bytes(log)) for r in iter_records(b)]
    for ts in sorted({r.timestamp for r in records if r.timestamp >= 0}):
        match = next(r for r in records if r.timestamp >= ts)
        found = log.offset_for_timestamp(ts)
        assert found is not None and found.offset == match.offset
