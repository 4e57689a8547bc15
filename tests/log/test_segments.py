"""Segment roll, retention and truncation invariants."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from kraft.log.batch import iter_batches
from kraft.log.config import LogConfig
from kraft.log.log import AppendOrigin, PartitionLog
from kraft.log.records import Record, build_batch
from kraft.log.segment import DELETED_SUFFIX, unlink_deleted
from tests.log.helpers import (
    FakeClock,
    all_bytes,
    batches_of,
    check_indexes_against_data,
    fix_crc,
    scratch_dir,
)
from tests.strategies import record_batches

SEGMENT_MS = 10_000


def _batch(ts: int = -1, size: int = 10) -> bytes:
    return build_batch([Record(b"k", b"v" * size, (), ts)])


def _segment_layout(log: PartitionLog) -> list[list[tuple[int, int]]]:
    """Per segment: (base offset, last offset) of each batch."""
    return [
        [(h.base_offset, h.last_offset) for _, h in iter_batches(s.path.read_bytes())]
        for s in log.segments
    ]


@given(st.lists(record_batches(), min_size=1, max_size=15), st.integers(0, 800))
def test_roll_by_size(batches: list[bytes], extra: int) -> None:
    """Segments stay within segment.bytes and follow each other without offset gaps."""
    with scratch_dir() as d:
        config = LogConfig(segment_bytes=max(map(len, batches)) + extra)
        log = PartitionLog.open(d, config)
        for batch in batches:
            assert log.append_as_leader(batch, 0).error_code == 0
        layout = _segment_layout(log)
        expected_base = 0
        for segment, batches_here in zip(log.segments, layout, strict=True):
            assert segment.size <= config.segment_bytes
            assert segment.base_offset == expected_base
            if batches_here:
                assert batches_here[0][0] == segment.base_offset
                expected_base = batches_here[-1][1] + 1
        assert all(layout[:-1])
        assert expected_base == log.log_end_offset
        log.close()


def test_roll_by_clock_without_timestamps(tmp_path: Path) -> None:
    """Without timestamps segment.ms runs on the injected clock; empty never rolls."""
    clock = FakeClock()
    log = PartitionLog.open(tmp_path, LogConfig(segment_ms=SEGMENT_MS), clock=clock)
    clock.advance(10 * SEGMENT_MS)
    log.append_as_leader(_batch(), 0)
    assert len(log.segments) == 1
    log.roll()
    clock.advance(SEGMENT_MS)
    log.append_as_leader(_batch(), 0)
    assert len(log.segments) == 2
    clock.advance(1)
    log.append_as_leader(_batch(), 0)
    assert len(log.segments) == 3
    assert [s.base_offset for s in log.segments] == [0, 1, 2]
    log.close()


def test_roll_by_message_timestamps(tmp_path: Path) -> None:
    """With timestamps segment.ms compares batch maxTimestamp to the first batch's."""
    clock = FakeClock()
    log = PartitionLog.open(tmp_path, LogConfig(segment_ms=SEGMENT_MS), clock=clock)
    log.append_as_leader(_batch(ts=1_000), 0)
    clock.advance(100 * SEGMENT_MS)
    log.append_as_leader(_batch(ts=1_000 + SEGMENT_MS), 0)
    assert len(log.segments) == 1
    log.append_as_leader(_batch(ts=1_001 + SEGMENT_MS), 0)
    assert len(log.segments) == 2
    log.close()
    reopened = PartitionLog.open(tmp_path, LogConfig(segment_ms=SEGMENT_MS), clock=clock)
    reopened.append_as_leader(_batch(ts=1_001 + 2 * SEGMENT_MS), 0)
    assert len(reopened.segments) == 2, "first-batch timestamp is read back after reopen"
    reopened.append_as_leader(_batch(ts=1_002 + 2 * SEGMENT_MS), 0)
    assert len(reopened.segments) == 3
    reopened.close()


def test_roll_when_index_is_full(tmp_path: Path) -> None:
    """A segment rolls before either index would exceed segment.index.bytes."""
    config = LogConfig(segment_index_bytes=36, index_interval_bytes=0)
    log = PartitionLog.open(tmp_path, config)
    for _ in range(12):
        log.append_as_leader(_batch(ts=5), 0)
    assert len(log.segments) > 1
    for segment in log.segments:
        assert segment.offset_index.entries <= 36 // 8
        assert segment.time_index.entries <= 36 // 12
    check_indexes_against_data(log)
    log.close()


def test_roll_before_relative_offset_overflow(tmp_path: Path) -> None:
    """A batch whose last offset would not fit an i32 relative offset starts a segment."""
    huge = bytearray(_batch())
    huge[23:27] = (2**31 - 2).to_bytes(4, "big")  # lastOffsetDelta; count stays 1
    fix_crc(huge)
    log = PartitionLog.open(tmp_path)
    origin = AppendOrigin.RAFT_LEADER
    assert log.append_as_leader(bytes(huge), 0, origin=origin).last_offset == 2**31 - 2
    log.append_as_leader(_batch(), 0, origin=origin)  # relative offset 2**31 - 1 fits
    assert len(log.segments) == 1
    log.append_as_leader(_batch(), 0, origin=origin)
    assert [s.base_offset for s in log.segments] == [0, 2**31]
    log.close()


@given(
    st.lists(st.tuples(st.integers(0, 3000), st.integers(1, 200)), min_size=1, max_size=20),
    st.integers(-1, 5000),
    st.integers(-1, 4000),
    st.integers(0, 25),
    st.integers(0, 6000),
)
def test_retention_invariants(
    appends: list[tuple[int, int]],
    retention_ms: int,
    retention_bytes: int,
    bound: int,
    elapsed: int,
) -> None:
    """Retention deletes an oldest prefix below the bound, never moves LEO, spares the rest."""
    with scratch_dir() as d:
        clock = FakeClock(0)
        config = LogConfig(
            segment_bytes=400, retention_ms=retention_ms, retention_bytes=retention_bytes
        )
        log = PartitionLog.open(d, config, clock=clock)
        for ts, size in appends:
            log.append_as_leader(_batch(ts=ts, size=size), 0)
        clock.advance(elapsed + 3000)
        before = [(s.base_offset, s.size, s.largest_timestamp) for s in log.segments]
        data_before = batches_of(all_bytes(log))
        leo = log.log_end_offset
        deleted = 0
        while n := log.delete_old_segments(upper_bound=bound):  # the periodic task's fixpoint
            deleted += n
        assert log.log_end_offset == leo
        assert deleted <= len(before)
        ends = [b for b, _, _ in before[1:]] + [leo]
        assert all(end <= bound for end in ends[:deleted])
        remaining = [(s.base_offset, s.size) for s in log.segments if s.size]
        assert remaining == [(b, s) for b, s, _ in before[deleted:] if s]
        assert log.log_start_offset == (ends[deleted - 1] if deleted else 0)
        kept = batches_of(all_bytes(log))
        assert kept == data_before[len(data_before) - len(kept) :]
        if deleted < len(before) and ends[deleted] <= bound:
            # The first kept segment was kept because no predicate applied to it.
            _, size, ts = before[deleted]
            if retention_ms >= 0:
                assert clock.now - ts <= retention_ms
            if retention_bytes >= 0:
                total = sum(s for _, s, _ in before[deleted:])
                assert total - size < retention_bytes
        log.close()


def test_retention_rolls_a_deletable_active_segment(tmp_path: Path) -> None:
    """An expired, replicated active segment is rolled, then deleted (as Kafka)."""
    clock = FakeClock(0)
    log = PartitionLog.open(tmp_path, LogConfig(retention_ms=100), clock=clock)
    log.append_as_leader(_batch(ts=0), 0)
    clock.advance(50)
    assert log.delete_old_segments(upper_bound=1) == 0
    clock.advance(100)
    assert log.delete_old_segments(upper_bound=0) == 0, "not replicated: kept"
    assert log.delete_old_segments(upper_bound=1) == 1
    assert [(s.base_offset, s.size) for s in log.segments] == [(1, 0)]
    assert (log.log_start_offset, log.log_end_offset) == (1, 1)
    assert log.append_as_leader(_batch(ts=200), 0).base_offset == 1
    log.close()


def test_retention_leaves_unlinking_to_the_caller(tmp_path: Path) -> None:
    """Segments deleted by retention are renamed *.deleted at once (gone from the
    log, readable through open slices) and unlinked only by `unlink_deleted`, which
    the broker runs in a worker thread; a reopen removes any left behind."""
    clock = FakeClock(0)
    log = PartitionLog.open(tmp_path, LogConfig(retention_ms=100), clock=clock)
    log.append_as_leader(_batch(ts=0), 0)
    clock.advance(200)
    assert log.delete_old_segments(upper_bound=1) == 1
    doomed = log.take_deleted_segments()
    assert len(doomed) == 1
    renamed = sorted(p for p in tmp_path.iterdir() if p.name.endswith(DELETED_SUFFIX))
    assert f"{0:020d}.log{DELETED_SUFFIX}" in [p.name for p in renamed]
    assert all(p.name.startswith(f"{0:020d}.") for p in renamed)
    assert not (tmp_path / f"{0:020d}.log").exists()
    assert log.take_deleted_segments() == []
    unlink_deleted(doomed)
    assert doomed == [] and not any(p.exists() for p in renamed)
    log.append_as_leader(_batch(ts=300), 0)
    clock.advance(300)
    assert log.delete_old_segments(upper_bound=2) == 1
    log.close()
    reopened = PartitionLog.open(tmp_path, LogConfig(retention_ms=100), clock=clock)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(DELETED_SUFFIX)]
    reopened.close()


@given(st.lists(record_batches(), min_size=1, max_size=12), st.data())
def test_truncate_to(batches: list[bytes], data: st.DataObject) -> None:
    """truncate_to(o) keeps exactly the batches ending below o, also after reopen."""
    with scratch_dir() as d:
        config = LogConfig(segment_bytes=max(map(len, batches)) + 300, index_interval_bytes=50)
        log = PartitionLog.open(d, config)
        for i, batch in enumerate(batches):
            log.append_as_leader(batch, i)
        if data.draw(st.booleans()):
            log.flush()
        stored = batches_of(all_bytes(log))
        old_leo = log.log_end_offset
        target = data.draw(st.integers(0, old_leo + 2))
        assert log.truncate_to(target) == (target < old_leo)
        kept = [(h, b) for h, b in stored if h.last_offset < target]
        assert batches_of(all_bytes(log)) == kept
        leo = kept[-1][0].last_offset + 1 if kept else 0
        assert log.log_end_offset == leo
        assert leo <= target or target >= old_leo
        assert all(e.start_offset < leo for e in log.leader_epoch_cache.entries)
        assert log.recovery_point <= leo
        check_indexes_against_data(log)
        assert log.append_as_leader(batches[0], 50).base_offset == leo
        log.flush()
        log.close()
        again = PartitionLog.open(d, config, recovery_point=log.recovery_point)
        assert all_bytes(again) == all_bytes(log)
        assert again.leader_epoch_cache.entries == log.leader_epoch_cache.entries
        again.close()


def test_truncate_fully_and_start_at(tmp_path: Path) -> None:
    """Everything goes; the log restarts empty at the new offset, also after reopen."""
    log = PartitionLog.open(tmp_path, LogConfig(segment_bytes=200))
    for _ in range(6):
        log.append_as_leader(_batch(size=60), 3)
    log.truncate_fully_and_start_at(1000)
    assert (log.log_start_offset, log.log_end_offset, log.recovery_point) == (1000, 1000, 1000)
    assert log.leader_epoch_cache.entries == []
    assert sorted(p.name for p in tmp_path.glob("*.log")) == ["00000000000000001000.log"]
    replicated = build_batch([Record(b"k", b"v", (), 1)], base_offset=1000)
    assert log.append_as_follower(replicated).base_offset == 1000
    log.close()
    again = PartitionLog.open(tmp_path, recovery_point=0, log_start_offset=1000)
    assert (again.log_start_offset, again.log_end_offset) == (1000, 1001)
    again.close()


def test_delete_records_before(tmp_path: Path) -> None:
    """The log start offset moves up, whole segments below it go, epochs are trimmed."""
    log = PartitionLog.open(tmp_path, LogConfig(segment_bytes=200))
    for epoch in range(8):
        log.append_as_leader(_batch(size=60), epoch)
    bases = [s.base_offset for s in log.segments]
    assert log.delete_records_before(5) == 5
    assert all(s.base_offset >= max(b for b in bases if b <= 5) for s in log.segments)
    assert log.leader_epoch_cache.entries[0] == (5, 5)
    assert log.delete_records_before(3) == 5, "never moves backwards"
    log.close()
    reopened = PartitionLog.open(tmp_path, LogConfig(segment_bytes=200), log_start_offset=5)
    assert reopened.log_start_offset == 5
    reopened.close()


def test_log_start_above_recovered_end_restarts_empty(tmp_path: Path) -> None:
    """If the checkpointed log start is beyond what survived, the log restarts there."""
    log = PartitionLog.open(tmp_path)
    log.append_as_leader(_batch(), 0)
    log.close()
    reopened = PartitionLog.open(tmp_path, log_start_offset=40)
    assert (reopened.log_start_offset, reopened.log_end_offset) == (40, 40)
    reopened.close()
