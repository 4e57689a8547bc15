"""Crash recovery on open: the log is the longest valid prefix and indexes agree with data."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from kraft.log.batch import PARTITION_LEADER_EPOCH_OFFSET, BatchHeader, iter_batches
from kraft.log.config import LogConfig
from kraft.log.log import PartitionLog
from kraft.log.records import Record, build_batch
from tests.log.helpers import all_bytes, batches_of, check_indexes_against_data, scratch_dir
from tests.strategies import record_batches


@st.composite
def logs(draw: st.DrawFn) -> tuple[list[bytes], LogConfig]:
    """Batches and a config whose segment.bytes fits every batch but few of them."""
    batches = draw(st.lists(record_batches(max_records=4), min_size=1, max_size=16))
    config = LogConfig(
        segment_bytes=max(map(len, batches)) + draw(st.integers(0, 600)),
        index_interval_bytes=draw(st.integers(0, 300)),
    )
    return batches, config


def _build_log(
    directory: Path, config: LogConfig, batches: list[bytes], flush_at: int, clean: bool
) -> int:
    """Append `batches` (epochs rising), flush after `flush_at` of them, then close
    cleanly or just drop the log (a crash: pending index entries are lost).
    Returns the recovery point."""
    log = PartitionLog.open(directory, config)
    for i, batch in enumerate(batches):
        assert log.append_as_leader(batch, i // 4).error_code == 0
        if i + 1 == flush_at:
            log.flush()
    recovery_point = log.recovery_point
    if clean:
        log.close()
    return recovery_point


def _layout(directory: Path) -> list[tuple[Path, list[tuple[int, BatchHeader]], int]]:
    """(segment file, its batches with positions, file size) in offset order."""
    out = []
    for path in sorted(directory.glob("*.log")):
        data = path.read_bytes()
        out.append((path, list(iter_batches(data)), len(data)))
    return out


@given(logs(), st.data())
def test_recovery_keeps_longest_valid_prefix(
    log_spec: tuple[list[bytes], LogConfig], data: st.DataObject
) -> None:
    """After a cut or corrupt byte, reopen keeps the longest valid prefix, indexes right."""
    batches, config = log_spec
    with scratch_dir() as d:
        flush_at = data.draw(st.integers(0, len(batches)), label="flush_at")
        clean = data.draw(st.booleans(), label="clean_close")
        recovery_point = _build_log(d, config, batches, flush_at, clean)
        layout = _layout(d)
        # Only segments holding offsets at or above the recovery point are re-validated;
        # fsynced data below it is trusted by design.
        candidates = [
            (i, seg)
            for i, seg in enumerate(layout)
            if seg[2] > 0 and seg[1][-1][1].last_offset >= recovery_point
        ]
        if not candidates:
            return
        index, (path, seg_batches, size) = data.draw(st.sampled_from(candidates), label="seg")
        low = next(pos for pos, h in seg_batches if h.last_offset >= recovery_point)
        position = data.draw(st.integers(low, size - 1 if size > low else low), label="pos")
        cut = data.draw(st.booleans(), label="cut")
        raw = bytearray(path.read_bytes())
        if cut:
            del raw[position:]
        else:
            # partitionLeaderEpoch is outside the CRC and undetectable by design.
            hit = next(p for p, h in seg_batches if p <= position < p + h.size)
            epoch_field = range(
                hit + PARTITION_LEADER_EPOCH_OFFSET, hit + PARTITION_LEADER_EPOCH_OFFSET + 4
            )
            if position in epoch_field:
                return
            raw[position] ^= data.draw(st.integers(1, 255), label="xor")
        path.write_bytes(bytes(raw))

        # A cut keeps the batches ending at or before it; a corrupted byte kills its batch.
        expected_headers = [h for segment in layout[:index] for _, h in segment[1]] + [
            h for p, h in seg_batches if p + h.size <= position
        ]

        log = PartitionLog.open(d, config, recovery_point=recovery_point)
        got = [h for h, _ in batches_of(all_bytes(log))]
        assert got == expected_headers
        expected_leo = expected_headers[-1].last_offset + 1 if expected_headers else 0
        assert log.log_end_offset == expected_leo
        assert log.recovery_point <= expected_leo
        assert len(log.segments) == index + 1
        for header in expected_headers:
            assert log.leader_epoch_cache.epoch_for_offset(header.base_offset) == (
                header.partition_leader_epoch
            )
        assert all(e.start_offset < expected_leo for e in log.leader_epoch_cache.entries)
        check_indexes_against_data(log)
        # The recovered log keeps working: append, flush, reopen from the new point.
        assert log.append_as_leader(batches[0], 99).base_offset == expected_leo
        log.flush()
        log.close()
        again = PartitionLog.open(d, config, recovery_point=log.recovery_point)
        assert again.log_end_offset == log.log_end_offset
        check_indexes_against_data(again)
        again.close()


@given(logs(), st.data())
def test_damaged_indexes_below_recovery_point_are_rebuilt(
    log_spec: tuple[list[bytes], LogConfig], data: st.DataObject
) -> None:
    """Deleted, torn or garbage indexes of flushed segments are rebuilt from data."""
    batches, config = log_spec
    with scratch_dir() as d:
        recovery_point = _build_log(d, config, batches, len(batches), clean=True)
        before = [(p.name, p.read_bytes()) for p in sorted(d.glob("*.log"))]
        index_files = sorted(d.glob("*.index")) + sorted(d.glob("*.timeindex"))
        victim = data.draw(st.sampled_from(index_files))
        action = data.draw(st.sampled_from(["delete", "tear", "garbage"]))
        if action == "delete":
            victim.unlink()
        elif action == "tear":
            with victim.open("ab") as f:
                f.write(b"\x01\x02\x03")
        else:
            size = victim.stat().st_size
            victim.write_bytes(b"\x7f" * (size or 12))
        log = PartitionLog.open(d, config, recovery_point=recovery_point)
        assert [(p.name, p.read_bytes()) for p in sorted(d.glob("*.log"))] == before
        assert log.log_end_offset == recovery_point
        check_indexes_against_data(log)
        log.close()


def test_clean_reopen_reads_no_data(tmp_path: Path) -> None:
    """Data below the recovery point is trusted (not re-read) on open, as in Kafka."""
    config = LogConfig(segment_bytes=300)
    log = PartitionLog.open(tmp_path, config)
    for i in range(8):
        log.append_as_leader(build_batch([Record(b"k", b"v" * 60, (), i)]), 0)
    log.flush()
    log.close()
    first = sorted(tmp_path.glob("*.log"))[0]
    raw = bytearray(first.read_bytes())
    raw[70] ^= 1
    first.write_bytes(bytes(raw))
    trusted = PartitionLog.open(tmp_path, config, recovery_point=log.recovery_point)
    assert trusted.log_end_offset == 8
    trusted.close()
    rescanned = PartitionLog.open(tmp_path, config, recovery_point=0)
    assert rescanned.log_end_offset == 0


def test_leftovers_are_cleaned(tmp_path: Path) -> None:
    """Stale .tmp files and index files without a .log are removed on open."""
    (tmp_path / "leader-epoch-checkpoint.tmp").write_text("x")
    (tmp_path / "00000000000000000042.index").write_bytes(b"")
    (tmp_path / "00000000000000000042.timeindex").write_bytes(b"")
    log = PartitionLog.open(tmp_path)
    assert sorted(os.listdir(tmp_path)) == [
        "00000000000000000000.index",
        "00000000000000000000.log",
        "00000000000000000000.timeindex",
    ]
    log.close()
