"""LogManager: placement, checkpoints (round trip, what survives until the
logs open), flushing when due, retention below the high watermark, producer
expiry, stray sweep, crash-safe directory deletion, and the background
schedule on trio's autojump clock."""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import trio
import trio.testing

from kraft.broker import log_manager as log_manager_module
from kraft.broker.log_manager import (
    CHECKPOINT_INTERVAL_S,
    LOG_START_OFFSET_FILE,
    RECOVERY_POINT_FILE,
    REPLICATION_OFFSET_FILE,
    LogManager,
    ReplicaLog,
)
from kraft.config import KafkaConfig
from kraft.log.batch import iter_batches
from kraft.log.checkpoint import read_offset_checkpoint, write_offset_checkpoint
from kraft.log.config import LogConfig
from kraft.log.records import Record, build_batch, iter_records

TOPIC_ID = uuid.UUID(int=5)


def manager(*log_dirs: Path, clock: list[int] | None = None, **props: str) -> LogManager:
    config = KafkaConfig({"log.dirs": ",".join(map(str, log_dirs)), "node.id": "1", **props})
    if clock is None:
        return LogManager(config)
    return LogManager(config, clock=lambda: clock[0])


def append(opened: ReplicaLog, n: int = 3, timestamp: int = 1) -> None:
    batch = build_batch([Record(None, b"v%d" % i, timestamp=timestamp) for i in range(n)])
    info = opened.log.append_as_leader(memoryview(batch), 0)
    assert info.error_code == 0, info


def test_checkpoints_written_before_the_first_image_keep_their_entries(tmp_path: Path) -> None:
    """A checkpoint (or a shutdown) before the first metadata image opens any
    partition rewrites the files with the entries they had, not empty ones: the
    logs would otherwise reopen with recovery point 0 and lose their log start
    and high watermark."""
    files = (RECOVERY_POINT_FILE, REPLICATION_OFFSET_FILE, LOG_START_OFFSET_FILE)
    for name in files:
        write_offset_checkpoint(tmp_path / name, {("t", 0): 1234})
    logs = manager(tmp_path)
    logs._write_checkpoints_job()()
    logs.shutdown()
    for name in files:
        assert read_offset_checkpoint(tmp_path / name) == {("t", 0): 1234}


async def test_checkpoints_round_trip(tmp_path: Path) -> None:
    """What a log reached (recovery point, high watermark, log start offset) is
    written to its log dir's checkpoint files and a new log manager reopens the
    log from there."""
    logs = manager(tmp_path)
    opened = logs.get_or_create_log("t", 0, TOPIC_ID, LogConfig(segment_bytes=100))
    append(opened)
    append(opened)
    opened.log.update_high_watermark(6)
    opened.log.delete_records_before(3)
    opened.log.flush(5)
    await logs.write_checkpoints()
    assert read_offset_checkpoint(tmp_path / RECOVERY_POINT_FILE) == {("t", 0): 5}
    assert read_offset_checkpoint(tmp_path / REPLICATION_OFFSET_FILE) == {("t", 0): 6}
    assert read_offset_checkpoint(tmp_path / LOG_START_OFFSET_FILE) == {("t", 0): 3}
    opened.log.close()
    again = manager(tmp_path).get_or_create_log("t", 0, TOPIC_ID, LogConfig(segment_bytes=100))
    assert (again.log.recovery_point, again.log.high_watermark, again.log.log_start_offset,
            again.log.log_end_offset) == (5, 6, 3, 6)
    again.log.close()


def test_logs_are_spread_over_the_log_dirs_and_stay_where_they_are(tmp_path: Path) -> None:
    """A new log goes to the log dir with the fewest logs; an existing one is
    opened where it is."""
    a, b = tmp_path / "a", tmp_path / "b"
    logs = manager(a, b)
    placed = [logs.get_or_create_log("t", i, TOPIC_ID, LogConfig()).log_dir for i in range(4)]
    assert placed == [a, b, a, b]
    logs.shutdown()
    (b / "t-0").mkdir()  # not where the first manager would have put it
    shutil.rmtree(a / "t-0")
    logs = manager(a, b)
    assert logs.get_or_create_log("t", 0, TOPIC_ID, LogConfig()).log_dir == b
    logs.shutdown()


async def test_flush_when_due(tmp_path: Path) -> None:
    """A log whose flush.messages is reached is fsynced up to its end (its recovery
    point moves); one without flush settings is left to the OS."""
    logs = manager(tmp_path)
    eager = logs.get_or_create_log("eager", 0, TOPIC_ID, LogConfig(flush_messages=2))
    lazy = logs.get_or_create_log("lazy", 0, TOPIC_ID, LogConfig())
    append(eager, 1)
    append(lazy, 5)
    await logs.flush_due_logs()
    assert (eager.log.recovery_point, lazy.log.recovery_point) == (0, 0)
    append(eager, 1)
    await logs.flush_due_logs()
    assert (eager.log.recovery_point, lazy.log.recovery_point) == (2, 0)
    logs.shutdown()
    assert lazy.log.recovery_point == 5  # a clean shutdown flushes everything


async def test_retention_stays_below_the_high_watermark(tmp_path: Path) -> None:
    """Segments past retention.ms are deleted, oldest first, but only those wholly
    below the log's high watermark."""
    clock = [1_000_000]
    logs = manager(tmp_path, clock=clock)
    opened = logs.get_or_create_log("t", 0, TOPIC_ID,
                                    LogConfig(segment_bytes=100, retention_ms=1000))
    for _ in range(4):
        append(opened, 3, timestamp=1)  # one segment each: 0, 3, 6, 9
    assert [s.base_offset for s in opened.log.segments] == [0, 3, 6, 9]
    opened.log.update_high_watermark(7)
    await logs.delete_old_segments()
    assert [s.base_offset for s in opened.log.segments] == [6, 9]
    assert opened.log.log_start_offset == 6
    opened.log.update_high_watermark(12)
    await logs.delete_old_segments()
    assert opened.log.log_start_offset == 12  # all gone: an empty active segment remains
    logs.shutdown()


async def test_idle_producers_are_forgotten(tmp_path: Path) -> None:
    """remove_expired_producers drops producers idle for producer.id.expiration.ms."""
    logs = manager(tmp_path, **{"producer.id.expiration.ms": "1000"})
    opened = logs.get_or_create_log("t", 0, TOPIC_ID, LogConfig())
    for producer_id, timestamp in ((7, 1), (8, time.time_ns() // 1_000_000)):
        batch = build_batch([Record(None, b"x", timestamp=timestamp)], producer_id=producer_id,
                            producer_epoch=0, base_sequence=0)
        info = opened.log.append_as_leader(memoryview(batch), 0)
        opened.producer_state.update(producer_id, 0, 0, 0, info.base_offset, timestamp)
    await logs.remove_expired_producers()
    assert opened.producer_state.entry(7) is None
    assert opened.producer_state.entry(8) is not None
    logs.shutdown()


def test_stray_sweep_keeps_only_open_logs(tmp_path: Path) -> None:
    """sweep_strays deletes partition directories of no open log and leftovers of
    deletions, and leaves open logs, the metadata log and other files alone."""
    logs = manager(tmp_path)
    logs.get_or_create_log("t", 0, TOPIC_ID, LogConfig())
    for name in ("t-1", "gone-0", "t-0.abc-delete", "__cluster_metadata-0", "notes"):
        (tmp_path / name).mkdir()
    logs.sweep_strays()
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == [
        "__cluster_metadata-0", "notes", "t-0"]
    logs.shutdown()


def test_deleting_a_log_is_crash_safe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """delete_log first renames the directory to `<name>.<id>-delete`: a crash before
    its removal leaves no log under the live name (the partition reopens empty,
    not with half its files) and the leftover is swept at the next start."""
    logs = manager(tmp_path)
    opened = logs.get_or_create_log("t", 0, TOPIC_ID, LogConfig(segment_bytes=100))
    append(opened)
    opened.log.update_high_watermark(3)
    logs.shutdown()
    logs = manager(tmp_path)
    opened = logs.get_or_create_log("t", 0, TOPIC_ID, LogConfig(segment_bytes=100))
    assert opened.log.log_end_offset == 3
    monkeypatch.setattr(log_manager_module.shutil, "rmtree", lambda *a, **k: None)  # "crash"
    logs.delete_log(("t", 0))
    assert logs.get(("t", 0)) is None
    assert not (tmp_path / "t-0").exists()
    leftovers = [p.name for p in tmp_path.glob("t-0.*-delete")]
    assert len(leftovers) == 1
    monkeypatch.undo()
    restarted = manager(tmp_path)
    reopened = restarted.get_or_create_log("t", 0, TOPIC_ID, LogConfig())
    assert (reopened.log.log_start_offset, reopened.log.log_end_offset) == (0, 0)
    restarted.sweep_strays()
    assert list(tmp_path.glob("t-0.*-delete")) == []
    restarted.shutdown()


async def test_background_work_runs_on_its_schedules(
        tmp_path: Path, autojump_clock: trio.testing.MockClock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`run` flushes a due log within a flush check interval, and writes the
    checkpoints every CHECKPOINT_INTERVAL_S, not before."""

    async def inline(job: Callable[[], None]) -> None:
        job()  # the clock must not jump while a worker thread runs

    monkeypatch.setattr(trio.to_thread, "run_sync", inline)
    logs = manager(tmp_path)
    opened = logs.get_or_create_log("t", 0, TOPIC_ID, LogConfig(flush_messages=1))
    async with trio.open_nursery() as nursery:
        await nursery.start(logs.run)
        append(opened)
        await trio.sleep(0.2)
        assert opened.log.recovery_point == 3
        assert read_offset_checkpoint(tmp_path / RECOVERY_POINT_FILE) == {}
        await trio.sleep(CHECKPOINT_INTERVAL_S)
        assert read_offset_checkpoint(tmp_path / RECOVERY_POINT_FILE) == {("t", 0): 3}
        nursery.cancel_scope.cancel()
    logs.shutdown()


async def test_cleaning_stops_at_the_last_stable_offset(tmp_path: Path) -> None:
    """A compacted log is cleaned below its last stable offset only: an open
    transaction, and everything after its first offset, stays byte for byte even
    where newer records of its keys follow it; older duplicates below are removed."""
    logs = manager(tmp_path)
    opened = logs.get_or_create_log("t", 0, TOPIC_ID,
                                    LogConfig(cleanup_policy="compact", segment_bytes=300))
    log = opened.log

    def put(value: bytes, producer_id: int = -1, transactional: bool = False) -> int:
        batch = build_batch([Record(b"K", value, timestamp=1)], producer_id=producer_id,
                            producer_epoch=0 if producer_id >= 0 else -1,
                            base_sequence=0 if producer_id >= 0 else -1,
                            is_transactional=transactional)
        info = log.append_as_leader(memoryview(batch), 0)
        assert info.error_code == 0, info
        if producer_id >= 0:
            opened.producer_state.update(producer_id, 0, 0, 0, info.base_offset, 1,
                                         is_transactional=transactional)
        return info.base_offset

    for i in range(8):
        put(b"old%d" % i + b"-" * 40)
    log.roll()
    first = put(b"open", producer_id=5, transactional=True)
    for i in range(8):
        put(b"later%d" % i + b"-" * 40)
    log.roll()
    log.update_high_watermark(log.log_end_offset)
    assert opened.producer_state.first_unstable_offset == first
    tail = log.read(first, 1 << 20).to_bytes()
    await logs.clean_logs()
    assert log.read(first, 1 << 20).to_bytes() == tail
    data = log.read(0, 1 << 20).to_bytes()
    values = [r.value for pos, _ in iter_batches(data) for r in iter_records(data, pos)]
    assert values[0] == b"old7" + b"-" * 40 and b"open" in values
    logs.shutdown()
