"""log.cleaner: compaction keeps the latest record per key below the bound, offsets
never move, tombstones age out, every codec, producers' last batches, crash safety
of the swap at every step, and the scheduling rules (dirty ratio, lags)."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st
from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder

from kraft.log.batch import DELETE_HORIZON_FLAG, BatchHeader, iter_batches
from kraft.log.cleaner import DEFAULT_MAP_BUDGET_BYTES, LastRecord, PartitionCleaner
from kraft.log.compression import CodecUnavailableError
from kraft.log.config import LogConfig
from kraft.log.control import read_end_txn_marker
from kraft.log.loader import swap_steps
from kraft.log.log import AppendOrigin, PartitionLog
from kraft.log.records import Record, build_batch
from tests.log.helpers import FakeClock, all_bytes, linear_translate, scratch_dir

Entry = tuple[int, bytes | None, bytes | None]  # offset, key, value
DAY = 24 * 3600 * 1000


def compact(**kwargs: int | str | float) -> LogConfig:
    return LogConfig(cleanup_policy="compact", **kwargs)  # type: ignore[arg-type]


def append(log: PartitionLog, recs: Sequence[Record], epoch: int = 0,
           origin: AppendOrigin = AppendOrigin.CLIENT, **kw: int) -> list[Entry]:
    """Append one batch; return its (offset, key, value) entries."""
    info = log.append_as_leader(build_batch(recs, **kw), epoch, origin=origin)
    assert info.error_code == 0, info
    return [(info.base_offset + i, r.key, r.value) for i, r in enumerate(recs)]


def rec(key: str | None, value: str | None, ts: int = 1_700_000_000_000) -> Record:
    return Record(
        None if key is None else key.encode(), None if value is None else value.encode(), (), ts
    )


def batches(log: PartitionLog) -> list[tuple[BatchHeader, bytes]]:
    data = all_bytes(log)
    return [(h, data[p : p + h.size]) for p, h in iter_batches(data)]


def visible(log: PartitionLog) -> list[Entry]:
    """What a consumer reading from the log start sees, decoded by kafka-python."""
    data = log.read(log.log_start_offset, 1 << 30).to_bytes()
    out: list[Entry] = []
    for pos, header in iter_batches(data):
        if not header.is_control:
            batch = DefaultRecordBatch(data[pos : pos + header.size])
            out.extend((r.offset, r.key, r.value) for r in batch)
    return out


def model(entries: Sequence[Entry], end: int, drop_tombstones: bool = False) -> list[Entry]:
    """Below `end`: the latest record of each key (null keys all kept); above: all."""
    latest = {k: o for o, k, _ in entries if o < end and k is not None}
    return [
        (o, k, v)
        for o, k, v in entries
        if o >= end or k is None or (latest[k] == o and not (drop_tombstones and v is None))
    ]


def assert_contiguous(log: PartitionLog) -> None:
    """Batches cover every offset from the first segment's base to LEO, in order."""
    expected = log.segments[0].base_offset
    for header, _ in batches(log):
        assert header.base_offset == expected
        expected = header.last_offset + 1
    assert expected == log.log_end_offset


def check_indexes(log: PartitionLog) -> None:
    """Index answers agree with a scan of the files. (Time-index entries are checked
    against batch maxTimestamps: a kept empty producer batch has one, no record.)"""
    for offset in range(log.log_start_offset, log.log_end_offset):
        segment = next(s for s in reversed(log.segments) if s.base_offset <= offset)
        found = segment.translate_offset(offset)
        assert found is not None
        assert linear_translate(log, offset) == (segment.base_offset, found[0])
    for segment in log.segments:
        base = segment.base_offset
        headers = dict(iter_batches(segment.path.read_bytes()))
        for i in range(segment.offset_index.entries):
            relative, position = segment.offset_index.entry(i)
            assert headers[position].last_offset == base + relative
        assert segment.max_timestamp == max((h.max_timestamp for h in headers.values()), default=-1)
        for i in range(segment.time_index.entries):
            timestamp, relative = segment.time_index.entry(i)
            upto = [h.max_timestamp for h in headers.values() if h.last_offset <= base + relative]
            assert max(upto) == timestamp
    data = log.read(log.log_start_offset, 1 << 30).to_bytes()
    if any(h.compression for _, h in iter_batches(data)):
        return  # ListOffsets does not open compressed batches: it answers per batch
    stamped = [
        (r.offset, r.timestamp)
        for pos, h in iter_batches(data)
        for r in DefaultRecordBatch(data[pos : pos + h.size])
        if not h.is_control and r.timestamp >= 0
    ]
    for ts in sorted({t for _, t in stamped}):
        found = log.offset_for_timestamp(ts)
        assert found is not None and found.offset == next(o for o, t in stamped if t >= ts)


def cleanable_end(log: PartitionLog, bound: int) -> int:
    """End of the inactive segments lying wholly below `bound` (what a pass may clean)."""
    end = log.segments[0].base_offset
    for segment in log.segments[:-1]:
        if segment.next_offset > bound:
            break
        end = segment.next_offset
    return end


def updates(log: PartitionLog, n: int, keys: int = 5, size: int = 20) -> list[Entry]:
    entries: list[Entry] = []
    for i in range(n):
        entries += append(log, [rec(f"k{i % keys}", f"v{i}-" + "x" * size)])
    return entries


def test_compaction_keeps_latest_per_key(tmp_path: Path) -> None:
    """Many updates per key shrink to one record per key below the bound, offsets
    unchanged, tail untouched; a reader from 0 sees every key's latest value."""
    log = PartitionLog.open(tmp_path, compact(segment_bytes=700, index_interval_bytes=150))
    entries = updates(log, 120, keys=7)
    size_before = log.size_in_bytes
    end = cleanable_end(log, log.log_end_offset)
    tail_before = [b for h, b in batches(log) if h.base_offset >= end]
    result = PartitionCleaner(log).clean(log.log_end_offset)
    assert result is not None and not result.aborted and result.end_offset == end
    assert visible(log) == model(entries, end)
    assert [b for h, b in batches(log) if h.base_offset >= end] == tail_before
    assert log.size_in_bytes < size_before / 3
    latest = {k: v for _, k, v in entries}
    assert {k: v for _, k, v in visible(log)} == latest
    assert_contiguous(log)
    check_indexes(log)
    log.flush()
    log.close()
    reopened = PartitionLog.open(tmp_path, log.config, recovery_point=log.recovery_point)
    assert visible(reopened) == model(entries, end)
    check_indexes(reopened)


def test_a_clean_logs_nothing_at_info(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The cleaner's result record is logged at DEBUG only: the line a user reads is the
    broker's, in words (issue 12: compaction logged in words, not a dataclass repr)."""
    log = PartitionLog.open(tmp_path, compact(segment_bytes=700, index_interval_bytes=150))
    updates(log, 60, keys=4)
    with caplog.at_level(logging.DEBUG, logger="kraft.log.cleaner"):
        assert PartitionCleaner(log).clean(log.log_end_offset) is not None
    assert [r.levelno for r in caplog.records if r.name == "kraft.log.cleaner"] == [logging.DEBUG]
    log.close()


def test_upper_bound_is_respected(tmp_path: Path) -> None:
    """Segments reaching the upper bound (the high watermark) are neither read for the
    map nor rewritten: a newer value above the bound does not remove older ones."""
    log = PartitionLog.open(tmp_path, compact(segment_bytes=500))
    entries = updates(log, 60, keys=3)
    bound = 30
    end = cleanable_end(log, bound)
    assert 0 < end <= bound
    above = [b for h, b in batches(log) if h.base_offset >= end]
    PartitionCleaner(log).clean(bound, force=True)
    assert [b for h, b in batches(log) if h.base_offset >= end] == above
    assert visible(log) == model(entries, end)


def test_tombstones_removed_only_after_delete_retention(tmp_path: Path) -> None:
    """A kept tombstone gets a delete horizon (KIP-534) and goes with the first pass at
    or after it; the pass is triggered by the horizon alone."""
    clock = FakeClock()
    config = compact(segment_bytes=300, delete_retention_ms=DAY)
    log = PartitionLog.open(tmp_path, config, clock=clock)
    entries = append(log, [rec("a", "1"), rec("b", "1")])
    entries += append(log, [rec("a", None)])
    entries += updates(log, 12, keys=2, size=30)  # keys k0, k1; rolls segments
    cleaner = PartitionCleaner(log, clock=clock)
    end = cleanable_end(log, log.log_end_offset)
    cleaner.clean(log.log_end_offset, force=True)
    assert visible(log) == model(entries, end)
    assert (2, b"a", None) in visible(log)
    tomb = next(h for h, _ in batches(log) if h.base_offset <= 2 <= h.last_offset)
    assert tomb.attributes & DELETE_HORIZON_FLAG and tomb.base_timestamp == clock.now + DAY
    clock.advance(DAY - 1)
    assert not cleaner.to_clean(log.log_end_offset).should_clean
    cleaner.clean(log.log_end_offset, force=True)
    assert (2, b"a", None) in visible(log)
    clock.advance(1)
    assert cleaner.to_clean(log.log_end_offset).tombstones_due
    assert cleaner.clean(log.log_end_offset) is not None
    assert visible(log) == model(entries, end, drop_tombstones=True)
    assert not cleaner.to_clean(log.log_end_offset).tombstones_due
    assert_contiguous(log)


def kp_batch(recs: Sequence[Record], codec: int, pid: int = -1, sequence: int = -1) -> bytes:
    """A producer's batch as kafka-python builds it (uncompressed if that is smaller)."""
    epoch = 0 if pid >= 0 else -1
    builder = DefaultRecordBatchBuilder(2, codec, False, pid, epoch, sequence, 1 << 20)
    for i, r in enumerate(recs):
        builder.append(i, timestamp=r.timestamp, key=r.key, value=r.value, headers=[])
    return bytes(builder.build())


@pytest.mark.parametrize("codec", [1, 2, 3, 4], ids=["gzip", "snappy", "lz4", "zstd"])
def test_every_codec(tmp_path: Path, codec: int) -> None:
    """Compressed producer batches are filtered and recompressed with their codec;
    kafka-python reads the result."""
    log = PartitionLog.open(tmp_path, compact(segment_bytes=2000))
    entries: list[Entry] = []
    for i in range(30):
        recs = [rec(f"k{(i + j) % 4}", f"{i}.{j}" + "z" * 300) for j in range(3)]
        info = log.append_as_leader(kp_batch(recs, codec), 0)
        assert info.error_code == 0
        entries += [(info.base_offset + j, r.key, r.value) for j, r in enumerate(recs)]
    assert all(h.compression == codec for h, _ in batches(log))
    end = cleanable_end(log, log.log_end_offset)
    PartitionCleaner(log).clean(log.log_end_offset, force=True)
    assert visible(log) == model(entries, end)
    assert all(h.compression in (0, codec) for h, _ in batches(log))
    assert any(h.compression == codec and h.base_offset < end for h, _ in batches(log))
    assert_contiguous(log)


def test_missing_codec_aborts_cleanly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch whose codec package is missing fails the pass loudly; abort leaves the
    log and directory as they were."""
    log = PartitionLog.open(tmp_path, compact(segment_bytes=1500))
    for i in range(10):
        log.append_as_leader(kp_batch([rec(f"k{i % 2}", "q" * 400)], 4), 0)
    log.roll()
    assert all(h.compression == 4 for h, _ in batches(log))
    before = sorted(os.listdir(tmp_path)), all_bytes(log)
    monkeypatch.setitem(sys.modules, "zstandard", None)
    cleaner = PartitionCleaner(log)
    with pytest.raises(CodecUnavailableError, match="zstandard"):
        cleaner.clean(log.log_end_offset, force=True)
    assert (sorted(os.listdir(tmp_path)), all_bytes(log)) == before
    assert not cleaner.in_progress


def test_producer_last_batch_retained(tmp_path: Path) -> None:
    """The last batch of a producer id stays, empty, with its offsets and sequence
    (Kafka's RETAIN_EMPTY); its earlier batches go; with the broker's producer state
    saying the producer expired, the last one goes too."""
    for last_records, kept in ((None, True), ({}, False), ({7: LastRecord(1, 3)}, True)):
        with scratch_dir() as d:
            log = PartitionLog.open(d, compact(segment_bytes=300))
            append(log, [rec("a", "p0")], producer_id=7, producer_epoch=3, base_sequence=0)
            append(log, [rec("a", "p1")], producer_id=7, producer_epoch=3, base_sequence=1)
            updates(log, 8, keys=1, size=60)  # key k0; rolls
            append(log, [rec("a", "final")])
            log.roll()
            PartitionCleaner(log).clean(
                log.log_end_offset, force=True, last_records=last_records
            )
            mine = [h for h, _ in batches(log) if h.producer_id == 7]
            if kept:
                assert [(h.base_offset, h.last_offset, h.records_count) for h in mine] == [
                    (1, 1, 0)
                ]
                assert (mine[0].producer_epoch, mine[0].base_sequence) == (3, 1)
            else:
                assert mine == []
            assert [v for _, k, v in visible(log) if k == b"a"] == [b"final"]
            assert_contiguous(log)


def test_null_keys_and_a_producers_last_marker_kept(tmp_path: Path) -> None:
    """Records with a null key survive compaction unchanged, and so does the marker
    that is its producer's last record (it gets a delete horizon, as its
    transaction has no data left, but stays for the producer's epoch).
    (Keyless records reach a compacted log written before cleanup.policy became
    compact; a client append is refused, so they are written as a coordinator.)"""
    clock = FakeClock()
    log = PartitionLog.open(tmp_path, compact(segment_bytes=300), clock=clock)
    old = AppendOrigin.COORDINATOR
    entries = append(log, [rec(None, "n1"), rec("a", "1")], origin=old)
    control = build_batch(
        [Record(b"\x00\x00\x00\x00", b"\x00\x00\x00\x00\x00\x00", (), 5)],
        producer_id=5, producer_epoch=0, is_transactional=True, is_control=True,
    )  # fmt: skip
    info = log.append_as_leader(control, 0, origin=AppendOrigin.COORDINATOR)
    assert info.error_code == 0
    entries += updates(log, 10, keys=1, size=50)
    entries += append(log, [rec(None, "n2"), rec("a", "2")], origin=old)
    log.roll()
    controls = [b for h, b in batches(log) if h.is_control]
    cleaner = PartitionCleaner(log, clock=clock)
    cleaner.clean(log.log_end_offset, force=True)
    assert visible(log) == model(entries, log.log_end_offset)
    (before,) = controls
    ((header, after),) = [(h, b) for h, b in batches(log) if h.is_control]
    assert header.attributes & DELETE_HORIZON_FLAG and header.base_timestamp == clock.now + DAY
    assert read_end_txn_marker(after) == read_end_txn_marker(before)
    clock.advance(DAY)
    assert cleaner.clean(log.log_end_offset, force=True) is not None
    assert [h.base_offset for h, _ in batches(log) if h.is_control] == [header.base_offset]


def test_abort_on_truncation_or_retention(tmp_path: Path) -> None:
    """A truncation, or retention deleting a segment being cleaned, between run and
    complete abandons the pass: no file is swapped in, none is left behind."""
    for disturb in ("truncate", "retention"):
        with scratch_dir() as d:
            config = compact(segment_bytes=400)
            log = PartitionLog.open(d, config)
            updates(log, 40)
            cleaner = PartitionCleaner(log)
            task = cleaner.begin(log.log_end_offset, force=True)
            assert task is not None
            task.run()
            if disturb == "truncate":
                log.truncate_to(log.log_end_offset - 3)
            else:
                log.delete_records_before(log.segments[2].base_offset)
            before = all_bytes(log)
            result = cleaner.complete(task)
            assert result is not None and result.aborted and result.segments_replaced == 0
            assert all_bytes(log) == before
            assert not [n for n in os.listdir(d) if n.endswith((".cleaned", ".swap"))]
            assert cleaner.clean(log.log_end_offset, force=True) is not None
            assert cleaner.last_clean_offset > 0


async def test_clean_in_worker_thread_while_appending(tmp_path: Path) -> None:
    """run() in a worker thread while the owner keeps appending and rolling; the
    owner's complete() swaps in and nothing appended meanwhile is lost."""
    log = PartitionLog.open(tmp_path, compact(segment_bytes=600))
    entries = updates(log, 80, keys=6)
    end = cleanable_end(log, log.log_end_offset)
    cleaner = PartitionCleaner(log)
    task = cleaner.begin(log.log_end_offset, force=True)
    assert task is not None
    done = False

    async def appender() -> None:
        i = 0
        while not done:
            entries.extend(append(log, [rec(f"new{i % 4}", f"n{i}")]))
            i += 1
            await trio.sleep(0)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(appender)
        result = None
        while result is None:
            await trio.to_thread.run_sync(task.run)
            result = cleaner.complete(task)
        done = True
    assert not result.aborted
    assert visible(log) == model(entries, end)
    assert_contiguous(log)
    check_indexes(log)


def test_lagging_follower_replicates_compacted_leader(tmp_path: Path) -> None:
    """A follower whose log end offset lies inside a leader's gap batch appends that
    batch's part from there on and then the rest: it reads as the leader from its old
    end on, and its leader epochs do not go back."""
    leader = PartitionLog.open(tmp_path / "leader", compact(segment_bytes=400))
    entries: list[Entry] = []
    for i in range(50):
        entries += append(
            leader, [rec(f"k{i % 2}", f"v{i}" + "w" * 20)], 0 if i < 10 else 1 if i < 14 else 2
        )
    follower = PartitionLog.open(tmp_path / "follower", compact(segment_bytes=400))
    assert follower.append_as_follower(leader.read(0, 1 << 20, 15).to_bytes()).error_code == 0
    assert follower.log_end_offset == 15
    PartitionCleaner(leader).clean(leader.log_end_offset)
    holder = next(h for h, _ in batches(leader) if h.base_offset <= 15 <= h.last_offset)
    assert holder.base_offset < 15 and holder.records_count == 0
    while follower.log_end_offset < leader.log_end_offset:
        info = follower.append_as_follower(leader.read(follower.log_end_offset, 300).to_bytes())
        assert info.error_code == 0 and info.num_batches > 0
    theirs = [e for e in visible(leader) if e[0] >= 15]
    assert [e for e in visible(follower) if e[0] >= 15] == theirs
    assert follower.leader_epoch_cache.entries == leader.leader_epoch_cache.entries
    assert_contiguous(follower)


def swap_step_count(make_log: Callable[[Path], PartitionLog], clock: FakeClock) -> int:
    """The number of steps in the swap of a first cleaning pass over the log
    `make_log` writes into a scratch directory (a dry run before crashing at each)."""
    with scratch_dir() as d:
        log = make_log(d)
        task = PartitionCleaner(log, clock=clock).begin(log.log_end_offset, force=True)
        assert task is not None
        task.run()
        assert task.written is not None and len(task.written.sources) > 1
        return len(swap_steps(d, 0, [s.segment for s in task.written.sources]))


def _crash_fixture(d: Path, clock: FakeClock) -> tuple[PartitionLog, list[Entry]]:
    """A log cleaned once, then written again: the next pass merges segments."""
    log = PartitionLog.open(d, compact(segment_bytes=900, index_interval_bytes=100), clock=clock)
    entries = updates(log, 50, keys=4)
    PartitionCleaner(log, clock=clock).clean(log.log_end_offset, force=True)
    entries += updates(log, 40, keys=6)
    log.flush()
    return log, entries


@pytest.mark.parametrize("recovery_point", ["flushed", "zero"])
def test_crash_at_every_swap_step(tmp_path: Path, recovery_point: str) -> None:
    """Stopping after any step of a swap (or with a torn .cleaned file) and reopening
    never loses or duplicates a record: each group is wholly old or wholly new."""
    clock = FakeClock()
    n_steps = swap_step_count(lambda d: _crash_fixture(d, clock)[0], clock)
    for k in [-1, *range(n_steps + 1)]:
        with scratch_dir() as d:
            log, _ = _crash_fixture(d, clock)
            before = visible(log)
            end = cleanable_end(log, log.log_end_offset)
            task = PartitionCleaner(log, clock=clock).begin(log.log_end_offset, force=True)
            assert task is not None
            task.run()
            written = task.written
            assert written is not None
            old = [s.segment for s in written.sources]
            low, high = old[0].base_offset, written.sources[-1].next_offset
            steps = swap_steps(d, written.base_offset, old)
            if k < 0:  # torn while writing
                path = next(p for p in d.iterdir() if p.name.endswith(".log.cleaned"))
                os.truncate(path, path.stat().st_size // 2)
            for step in steps[: max(k, 0)]:
                step()
            rp = log.recovery_point if recovery_point == "flushed" else 0
            reopened = PartitionLog.open(d, log.config, recovery_point=rp, clock=clock)
            cleaned = [e for e in model(before, end) if low <= e[0] < high]
            expected = before if k < 1 else [e for e in before if not low <= e[0] < high] + cleaned
            assert visible(reopened) == sorted(expected)
            assert reopened.log_end_offset == log.log_end_offset
            assert not [n for n in os.listdir(d) if n.endswith((".cleaned", ".swap"))]
            assert_contiguous(reopened)
            check_indexes(reopened)
            PartitionCleaner(reopened, clock=clock).clean(reopened.log_end_offset, force=True)
            assert visible(reopened) == model(before, end)


@st.composite
def keyed_batches(draw: st.DrawFn) -> list[tuple[list[Record], int, int]]:
    """Batches of keyed records (some tombstones, some null keys), each with a
    producer id (-1: none) and a codec."""
    key = st.sampled_from(["a", "b", "c", "d", "e", None])
    value = st.none() | st.text("xyz", min_size=1, max_size=10).map(lambda t: t * 8)
    out = []
    for _ in range(draw(st.integers(1, 40))):
        recs = draw(st.lists(st.builds(rec, key, value), min_size=1, max_size=4))
        pid = draw(st.sampled_from([-1, -1, 1, 2]))
        out.append((recs, pid, draw(st.sampled_from([0, 0, 0, 1, 2, 3, 4]))))
    return out


@given(keyed_batches(), st.integers(450, 1200), st.integers(0, 300), st.data())
def test_compaction_matches_model(
    spec: list[tuple[list[Record], int, int]],
    segment_bytes: int,
    interval: int,
    data: st.DataObject,
) -> None:
    """Random keyed appends (tombstones, producers, codecs), segment sizes, bounds and
    map budgets: after passes up to the bound, a full read equals the latest record
    per key below it and everything above; after delete.retention.ms the tombstones
    below it go too."""
    budget = data.draw(st.sampled_from([1, DEFAULT_MAP_BUDGET_BYTES]), label="budget")
    timestamp_type = data.draw(st.sampled_from(["CreateTime", "LogAppendTime"]), label="ts")
    clock = FakeClock()
    config = compact(
        segment_bytes=segment_bytes,
        index_interval_bytes=interval,
        message_timestamp_type=timestamp_type,
    )
    with scratch_dir() as d:
        log = PartitionLog.open(d, config, clock=clock)
        entries: list[Entry] = []
        sequences = {1: 0, 2: 0}
        producers: dict[int, tuple[int, int]] = {}
        for recs, pid, codec in spec:
            sequence = sequences.get(pid, -1)
            # Keyless records reach a compacted log only from before its policy
            # became compact (a client's append is refused): written as a coordinator.
            origin = (AppendOrigin.COORDINATOR if any(r.key is None for r in recs)
                      else AppendOrigin.CLIENT)
            info = log.append_as_leader(kp_batch(recs, codec, pid, sequence), 0, origin=origin)
            assert info.error_code == 0, info
            new = [(info.base_offset + i, r.key, r.value) for i, r in enumerate(recs)]
            if pid >= 0:
                sequences[pid] += len(recs)
                producers[pid] = (new[0][0], new[-1][0])
            entries += new
        leo = log.log_end_offset
        bound = data.draw(st.just(leo) | st.integers(0, leo), label="bound")
        end = cleanable_end(log, bound)
        cleaner = PartitionCleaner(log, clock=clock, map_budget_bytes=budget)
        for _ in range(len(log.segments) + 1):
            if cleaner.last_clean_offset >= end:
                break
            cleaner.clean(bound, force=True)
        assert cleaner.last_clean_offset >= end
        assert visible(log) == model(entries, end)
        headers = {(h.base_offset, h.last_offset) for h, _ in batches(log)}
        assert all(span in headers for span in producers.values() if span[1] < end)
        assert_contiguous(log)
        check_indexes(log)
        clock.advance(config.delete_retention_ms)
        cleaner.clean(bound, force=True)
        assert visible(log) == model(entries, end, drop_tombstones=True)
        log.close()
        reopened = PartitionLog.open(d, config, clock=clock)
        assert visible(reopened) == model(entries, end, drop_tombstones=True)
        assert_contiguous(reopened)


def test_dirty_ratio_and_compaction_lags(tmp_path: Path) -> None:
    """A pass is due when the dirty share exceeds min.cleanable.dirty.ratio, or when
    max.compaction.lag.ms passed for the oldest dirty record; segments younger than
    min.compaction.lag.ms are not cleanable."""
    clock = FakeClock()
    config = compact(segment_bytes=400, min_cleanable_dirty_ratio=0.5)
    log = PartitionLog.open(tmp_path, config, clock=clock)
    updates(log, 40, keys=40)  # distinct keys: cleaning removes nothing
    cleaner = PartitionCleaner(log, clock=clock)
    assert cleaner.to_clean(log.log_end_offset).cleanable_ratio == 1.0
    assert cleaner.clean(log.log_end_offset) is not None
    plan = cleaner.to_clean(log.log_end_offset)
    assert plan.cleanable_bytes == 0 and not plan.should_clean
    assert cleaner.begin(log.log_end_offset) is None
    clean_bytes = plan.clean_bytes
    while cleaner.to_clean(log.log_end_offset).cleanable_bytes <= clean_bytes:
        plan = cleaner.to_clean(log.log_end_offset)
        assert plan.should_clean == (plan.cleanable_ratio > 0.5)
        updates(log, 1, keys=1)
    assert cleaner.to_clean(log.log_end_offset).should_clean
    log.update_config(compact(segment_bytes=400, min_cleanable_dirty_ratio=1.0,
                              max_compaction_lag_ms=60_000))  # fmt: skip
    assert not cleaner.to_clean(log.log_end_offset).should_clean
    clock.advance(60_001)
    assert cleaner.to_clean(log.log_end_offset).needs_compaction_now
    log.update_config(compact(segment_bytes=400, min_compaction_lag_ms=60_000))
    first_young = log.log_end_offset
    for i in range(12):
        append(log, [rec(f"y{i}", "v" * 30, ts=clock.now)])
    log.roll()
    plan = cleaner.to_clean(log.log_end_offset)
    assert 0 < plan.first_uncleanable_offset <= first_young
    clock.advance(60_001)
    assert cleaner.to_clean(log.log_end_offset).first_uncleanable_offset == log.log_end_offset


def test_roll_and_retention_follow_cleanup_policy(tmp_path: Path) -> None:
    """Compacted logs roll by max.compaction.lag.ms (KIP-354); retention.ms deletes
    only with "delete" in cleanup.policy."""
    clock = FakeClock()
    config = compact(max_compaction_lag_ms=1000, retention_ms=1)
    log = PartitionLog.open(tmp_path, config, clock=clock)
    append(log, [rec("a", "1", ts=clock.now)])
    append(log, [rec("a", "2", ts=clock.now + 1001)])
    assert len(log.segments) == 2
    clock.advance(10_000)
    assert log.delete_old_segments(log.log_end_offset) == 0
    log.update_config(LogConfig(cleanup_policy="compact,delete", retention_ms=1))
    assert log.delete_old_segments(log.log_end_offset) == 2


def test_log_config_compaction_fields() -> None:
    """The compaction configs parse from Kafka's names, with Kafka's checks."""
    config = LogConfig.from_properties(
        {
            "cleanup.policy": "compact, delete",
            "delete.retention.ms": "5",
            "min.compaction.lag.ms": "1",
            "max.compaction.lag.ms": "2",
            "min.cleanable.dirty.ratio": "0.25",
            "segment.ms": "100",
        }
    )
    assert config.compact and config.delete and config.min_cleanable_dirty_ratio == 0.25
    assert (config.delete_retention_ms, config.max_segment_ms) == (5, 2)
    assert not LogConfig().compact and LogConfig().delete and LogConfig().max_segment_ms == 7 * DAY
    for bad in (
        {"cleanup_policy": "shred"},
        {"min_cleanable_dirty_ratio": 1.5},
        {"min_compaction_lag_ms": 5, "max_compaction_lag_ms": 4},
        {"delete_retention_ms": -1},
    ):
        with pytest.raises(ValueError):
            LogConfig(**bad)  # type: ignore[arg-type]


def test_leftover_cleaned_files_are_deleted(tmp_path: Path) -> None:
    """An uncommitted clean's .cleaned files (and stray .deleted files) go on open."""
    log = PartitionLog.open(tmp_path, compact(segment_bytes=300))
    updates(log, 20)
    log.close()
    for name in ("00000000000000000000.log.cleaned", "00000000000000000000.index.cleaned",
                 "00000000000000000005.log.deleted"):  # fmt: skip
        (tmp_path / name).write_bytes(b"junk")
    reopened = PartitionLog.open(tmp_path, log.config)
    assert not [n for n in os.listdir(tmp_path) if n.endswith((".cleaned", ".deleted"))]
    assert reopened.log_end_offset == 20
