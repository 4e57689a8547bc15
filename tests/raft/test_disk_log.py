"""The on-disk metadata log against the same model as MemoryLog."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from kraft.raft.batches import encode_snapshot
from kraft.raft.disk_log import DiskLog
from kraft.raft.types import Entry, LeaderChangeMessage, OffsetAndEpoch
from tests.raft.test_log_contract import Model

operations = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(1, 4), st.integers(0, 2)),
        st.tuples(st.just("truncate"), st.integers(0, 6)),
        st.tuples(st.just("flush")),
        st.tuples(st.just("reopen")),
        st.tuples(st.just("snapshot"), st.integers(0, 6)),
    ),
    max_size=30,
)


def _check(log: DiskLog, model: Model) -> None:
    assert (log.log_start_offset, log.end_offset) == (model.start, model.end)
    assert log.last_fetched_epoch() == model.last_epoch()
    assert [e.epoch for e in log.read(model.start, 10**9)] == model.epochs
    for epoch in range(model.start_epoch, model.last_epoch() + 2):
        assert log.end_offset_for_epoch(epoch) == model.end_offset_for_epoch(epoch)
    if model.start:
        assert log.earliest_snapshot_id() == OffsetAndEpoch(model.start, model.start_epoch)


@settings(max_examples=200)
@given(ops=operations)
def test_disk_log_matches_model(ops: list[tuple]) -> None:
    """Appends (several entries per batch), exact truncation, reopen and snapshots match
    the model, read back through real segment files."""
    d = Path(tempfile.mkdtemp(dir="/dev/shm" if os.path.isdir("/dev/shm") else None))
    try:
        log = DiskLog(d, segment_bytes=400)
        model = Model()
        for op in ops:
            kind = op[0]
            if kind == "append":
                _, count, bump = op
                epoch = model.last_epoch() + bump
                log.append([Entry(model.end + i, epoch, b"p" * i) for i in range(count)])
                model.epochs += [epoch] * count
            elif kind == "truncate":
                target = max(model.start, model.end - op[1])
                log.truncate_to(target)
                del model.epochs[target - model.start :]
            elif kind == "flush":
                log.flush()
            elif kind == "reopen":
                log.close()
                log = DiskLog(d, segment_bytes=400)
            else:
                offset = max(model.start, model.end - op[1])
                if offset == model.start:
                    continue
                epoch = model.epochs[offset - 1 - model.start]
                snapshot = OffsetAndEpoch(offset, epoch)
                log.write_snapshot(snapshot, encode_snapshot([b"state"], 0))
                log.delete_before_snapshot(snapshot)
                model.epochs = model.epochs[offset - model.start :]
                model.start, model.start_epoch = offset, epoch
            _check(log, model)
        log.close()
    finally:
        shutil.rmtree(d)


def test_control_entries_and_snapshot_install(tmp_path: Path) -> None:
    """LeaderChange entries survive a reopen; installing a snapshot restarts the log there."""
    log = DiskLog(tmp_path)
    control = LeaderChangeMessage(1, (1, 2, 3), (1, 2))
    log.append([Entry(0, 1, b"", control), Entry(1, 1, b"a"), Entry(2, 1, b"b")])
    log.flush()
    log.close()
    log = DiskLog(tmp_path)
    assert log.read(0, 10**6) == (Entry(0, 1, b"", control), Entry(1, 1, b"a"), Entry(2, 1, b"b"))
    snap = OffsetAndEpoch(10, 3)
    data = encode_snapshot([b"x"] * 3, 0)
    log.begin_snapshot_download(snap)
    assert log.append_snapshot_chunk(snap, data[:10]) == 10
    log.append_snapshot_chunk(snap, data[10:])
    log.install_snapshot(snap)
    assert (log.log_start_offset, log.end_offset, log.last_fetched_epoch()) == (10, 10, 3)
    assert log.read_snapshot(snap, 0, 10**6) == data
    log.close()
    log = DiskLog(tmp_path)
    assert (log.log_start_offset, log.end_offset, log.latest_snapshot_id()) == (10, 10, snap)
    log.close()


def test_torn_tail_is_cut_on_open(tmp_path: Path) -> None:
    """A segment cut mid-batch reopens as the entries before the cut."""
    log = DiskLog(tmp_path)
    for i in range(10):
        log.append([Entry(i, 1, b"v%d" % i)])
    log.flush()
    log.close()
    segment = tmp_path / "__cluster_metadata-0" / "00000000000000000000.log"
    size = segment.stat().st_size
    with open(segment, "r+b") as f:
        f.truncate(size - 5)
    log = DiskLog(tmp_path)
    assert [e.payload for e in log.read(0, 10**6)] == [b"v%d" % i for i in range(9)]
    log.close()


def test_partial_download_is_discarded_on_open(tmp_path: Path) -> None:
    """A .checkpoint.part left by a crash is deleted on open, never used."""
    log = DiskLog(tmp_path)
    log.begin_snapshot_download(OffsetAndEpoch(5, 1))
    log.append_snapshot_chunk(OffsetAndEpoch(5, 1), b"half")
    log.close()
    log = DiskLog(tmp_path)
    assert log.latest_snapshot_id() is None
    assert not list((tmp_path / "__cluster_metadata-0").glob("*.part"))
    log.close()


def test_crash_between_snapshot_install_and_truncation(tmp_path: Path) -> None:
    """A snapshot of a newer epoch than the log's tail (install interrupted before
    the truncation) makes the reopened log start empty at the snapshot."""
    log = DiskLog(tmp_path)
    log.append([Entry(i, 3, b"old") for i in range(100)])
    log.flush()
    log.write_snapshot(OffsetAndEpoch(80, 5), encode_snapshot([b"s"], 0))
    log.close()
    log = DiskLog(tmp_path)
    assert (log.log_start_offset, log.end_offset, log.last_fetched_epoch()) == (80, 80, 5)
    log.close()
