"""read(): Kafka fetch semantics, sendfile slices, and ListOffsets by timestamp."""

from __future__ import annotations

import itertools
import os
import socket
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kraft.log.config import LogConfig
from kraft.log.errors import OffsetOutOfRangeError
from kraft.log.log import EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, MAX_TIMESTAMP, PartitionLog
from kraft.log.records import Record, build_batch, iter_records
from tests.log.helpers import all_bytes, batches_of, scratch_dir
from tests.strategies import record_batches


def _fill(log: PartitionLog, batches: list[bytes]) -> None:
    for i, batch in enumerate(batches):
        assert log.append_as_leader(batch, i // 3).error_code == 0


def _expected(
    log: PartitionLog, start: int, max_bytes: int, max_offset: int | None, min_one: bool
) -> bytes:
    """Linear model: whole batches from the one holding `start` while base < limit,
    cut at max_bytes but never below the first batch."""
    limit = log.log_end_offset if max_offset is None else min(max_offset, log.log_end_offset)
    chosen = [
        data
        for header, data in batches_of(all_bytes(log))
        if header.last_offset >= start and header.base_offset < limit
    ]
    if start >= limit or not chosen:
        return b""
    joined = b"".join(chosen)
    keep = max(max_bytes, len(chosen[0])) if min_one else max_bytes
    return joined[: max(0, min(len(joined), keep))]


@given(
    st.lists(record_batches(), min_size=1, max_size=12),
    st.data(),
    st.integers(0, 3000),
    st.booleans(),
)
def test_read_matches_linear_model(
    batches: list[bytes], data: st.DataObject, max_bytes: int, min_one: bool
) -> None:
    """read() returns the linear model's bytes for any start, max_bytes and max_offset."""
    with scratch_dir() as d:
        log = PartitionLog.open(d, LogConfig(segment_bytes=700))
        _fill(log, batches)
        leo = log.log_end_offset
        start = data.draw(st.integers(0, leo))
        max_offset = data.draw(st.none() | st.integers(0, leo + 2))
        got = log.read(start, max_bytes, max_offset, min_one_message=min_one)
        assert got.to_bytes() == _expected(log, start, max_bytes, max_offset, min_one)
        assert got.size == len(got.to_bytes())
        for a, b in itertools.pairwise(got.slices):
            assert a.position + a.length == os.fstat(a.fileno()).st_size
            assert b.position == 0
        log.close()


def test_first_batch_is_whole_even_above_max_bytes(tmp_path: Path) -> None:
    """A first batch above max_bytes comes whole; without min_one_message it is cut."""
    log = PartitionLog.open(tmp_path)
    batch = build_batch([Record(b"k", b"v" * 500, (), 1)])
    _fill(log, [batch, batch])
    got = log.read(0, 10)
    assert len(got.to_bytes()) == len(batch)
    assert log.read(0, 10, min_one_message=False).to_bytes() == batch[:10]
    log.close()


def test_max_offset_excludes_batches_at_or_after_it(tmp_path: Path) -> None:
    """A batch starting at max_offset (the high watermark) is not returned."""
    log = PartitionLog.open(tmp_path)
    batch = build_batch([Record(b"k", b"v", (), 1)] * 2)
    _fill(log, [batch] * 3)
    assert len(log.read(0, 10_000, max_offset=4).to_bytes()) == 2 * len(batch)
    assert log.read(4, 10_000, max_offset=4).to_bytes() == b""
    assert len(log.read(0, 10_000, max_offset=3).to_bytes()) == 2 * len(batch)
    log.close()


def test_out_of_range(tmp_path: Path) -> None:
    """Below the log start or above LEO is OFFSET_OUT_OF_RANGE; LEO itself reads empty."""
    log = PartitionLog.open(tmp_path, LogConfig(segment_bytes=200))
    _fill(log, [build_batch([Record(b"k", b"v" * 50, (), 1)])] * 6)
    assert log.read(6, 100).slices == ()
    with pytest.raises(OffsetOutOfRangeError) as e:
        log.read(7, 100)
    assert e.value.error_code == 1
    log.delete_records_before(3)
    with pytest.raises(OffsetOutOfRangeError):
        log.read(2, 100)
    assert next(iter_records(log.read(3, 1).to_bytes())).offset == 3
    log.close()


def test_sendfile_slices_equal_bytes(tmp_path: Path) -> None:
    """Sending every slice with os.sendfile delivers exactly to_bytes()."""
    log = PartitionLog.open(tmp_path, LogConfig(segment_bytes=500))
    _fill(log, [build_batch([Record(b"k", b"v" * 90, (), i)]) for i in range(20)])
    got = log.read(3, 1200)
    assert len(got.slices) > 1
    left, right = socket.socketpair()
    with left, right:
        for piece in got.slices:
            sent = 0
            while sent < piece.length:
                sent += os.sendfile(
                    left.fileno(), piece.fileno(), piece.position + sent, piece.length - sent
                )
        received = b""
        while len(received) < got.size:
            received += right.recv(65536)
    assert received == got.to_bytes()
    log.close()


def test_slices_survive_segment_deletion(tmp_path: Path) -> None:
    """A slice keeps its file readable after retention deletes the segment."""
    log = PartitionLog.open(tmp_path, LogConfig(segment_bytes=300, retention_bytes=0))
    _fill(log, [build_batch([Record(b"k", b"v" * 90, (), i)]) for i in range(10)])
    got = log.read(0, 100)
    before = got.to_bytes()
    assert log.delete_old_segments(upper_bound=log.log_end_offset) > 0
    assert not got.slices[0].path.exists()
    assert got.to_bytes() == before
    log.close()


@given(st.lists(record_batches(), min_size=1, max_size=10), st.data())
def test_offset_for_timestamp_matches_records(batches: list[bytes], data: st.DataObject) -> None:
    """ListOffsets(ts) is the first record at or after the log start with timestamp >= ts."""
    with scratch_dir() as d:
        log = PartitionLog.open(d, LogConfig(segment_bytes=600, index_interval_bytes=100))
        _fill(log, batches)
        start = data.draw(st.integers(0, log.log_end_offset))
        log.delete_records_before(start)
        records = [
            r for _, b in batches_of(all_bytes(log)) for r in iter_records(b) if r.offset >= start
        ]
        stamps = sorted({r.timestamp for r in records} | {0, 2**50})
        for ts in stamps + [t + 1 for t in stamps]:
            if ts < 0:
                continue
            match = next((r for r in records if r.timestamp >= ts), None)
            found = log.offset_for_timestamp(ts)
            if match is None:
                assert found is None
            else:
                assert found is not None
                assert (found.timestamp, found.offset) == (match.timestamp, match.offset)
        valid = [r for r in records if r.timestamp >= 0]
        top = log.offset_for_timestamp(MAX_TIMESTAMP)
        if valid and start == 0:
            max_ts = max(r.timestamp for r in valid)
            first_top = next(r for r in valid if r.timestamp == max_ts)
            assert top is not None
            assert (top.timestamp, top.offset) == (max_ts, first_top.offset)
        assert log.offset_for_timestamp(EARLIEST_TIMESTAMP).offset == start
        assert log.offset_for_timestamp(LATEST_TIMESTAMP).offset == log.log_end_offset
        log.close()
