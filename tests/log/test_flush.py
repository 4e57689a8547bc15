"""flush(): recovery point, flush.messages / flush.ms, and flushing from a worker thread."""

from __future__ import annotations

import threading
from pathlib import Path

from kraft.log.config import LogConfig
from kraft.log.log import PartitionLog
from kraft.log.records import Record, build_batch
from tests.log.helpers import FakeClock, check_indexes_against_data


def _batch(n: int = 1) -> bytes:
    return build_batch([Record(b"k", b"v" * 50, (), 1)] * n)


def test_flush_moves_recovery_point(tmp_path: Path) -> None:
    """The recovery point follows flush(offset); unflushed_messages is LEO minus it."""
    log = PartitionLog.open(tmp_path, LogConfig(segment_bytes=300))
    for _ in range(10):
        log.append_as_leader(_batch(2), 0)
    assert (log.recovery_point, log.unflushed_messages) == (0, 20)
    log.flush(7)
    assert (log.recovery_point, log.unflushed_messages) == (7, 13)
    log.flush(3)
    assert log.recovery_point == 7, "never moves back"
    log.flush()
    assert (log.recovery_point, log.unflushed_messages) == (20, 0)
    log.close()


def test_flush_due(tmp_path: Path) -> None:
    """flush_due() says yes after flush.messages messages or flush.ms on the clock."""
    clock = FakeClock()
    log = PartitionLog.open(tmp_path, LogConfig(flush_messages=3, flush_ms=1000), clock=clock)
    assert not log.flush_due()
    log.append_as_leader(_batch(2), 0)
    assert not log.flush_due()
    log.append_as_leader(_batch(), 0)
    assert log.flush_due()
    log.flush()
    assert not log.flush_due()
    log.append_as_leader(_batch(), 0)
    clock.advance(999)
    assert not log.flush_due()
    clock.advance(1)
    assert log.flush_due()
    log.close()


def test_fsync_in_worker_thread_while_appending(tmp_path: Path) -> None:
    """fsyncs run in a worker while appends go on; the RP moves to the begin offset."""
    log = PartitionLog.open(tmp_path, LogConfig(segment_bytes=400))
    for _ in range(10):
        log.append_as_leader(_batch(), 0)
    task = log.begin_flush()
    worker = threading.Thread(target=task.run)
    worker.start()
    for _ in range(10):
        log.append_as_leader(_batch(), 0)
    worker.join()
    log.complete_flush(task)
    assert log.recovery_point == 10 and log.log_end_offset == 20
    log.close()


def test_truncation_during_flush_keeps_recovery_point(tmp_path: Path) -> None:
    """A flush that began before a truncation does not advance the recovery point."""
    log = PartitionLog.open(tmp_path)
    for _ in range(5):
        log.append_as_leader(_batch(), 0)
    task = log.begin_flush()
    log.truncate_to(2)
    for _ in range(5):
        log.append_as_leader(_batch(), 0)
    task.run()
    log.complete_flush(task)
    assert log.recovery_point == 0
    log.close()


def test_reopen_at_recovery_point_keeps_everything(tmp_path: Path) -> None:
    """Reopening at the recovery point yields the same log, which then appends correctly."""
    config = LogConfig(segment_bytes=300)
    log = PartitionLog.open(tmp_path, config)
    for epoch in range(9):
        log.append_as_leader(_batch(), epoch // 3)
    log.flush()
    everything = log.read(0, 10**6).to_bytes()
    log.close()
    again = PartitionLog.open(tmp_path, config, recovery_point=log.recovery_point)
    assert again.log_end_offset == 9 and again.recovery_point == 9
    assert again.leader_epoch_cache.entries == [(0, 0), (1, 3), (2, 6)]
    assert again.read(0, 10**6).to_bytes() == everything
    for epoch in range(3, 6):
        assert again.append_as_leader(_batch(), epoch).base_offset == epoch + 6
    again.close()
    rescanned = PartitionLog.open(tmp_path, config)  # recovery point 0: rebuild everything
    assert rescanned.log_end_offset == 12
    check_indexes_against_data(rescanned)
    rescanned.close()
