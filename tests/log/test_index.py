"""Offset and time indexes: lookups and truncation against a list model, persistence."""

from __future__ import annotations

import bisect
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kraft.log.index import OffsetIndex, TimeIndex
from tests.log.helpers import scratch_dir

BASE = 1000


def _offset_entries() -> st.SearchStrategy[list[tuple[int, int]]]:
    """Strictly increasing (offset, position) pairs."""
    return st.lists(st.tuples(st.integers(1, 50), st.integers(1, 5000)), max_size=30).map(
        _accumulate
    )


def _accumulate(steps: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out, offset, position = [], BASE, 0
    for d_offset, d_position in steps:
        offset += d_offset
        position += d_position
        out.append((offset, position))
    return out


def _model_lookup(entries: list[tuple[int, int]], target: int) -> tuple[int, int]:
    i = bisect.bisect_right([o for o, _ in entries], target)
    return entries[i - 1] if i else (BASE, 0)


@given(_offset_entries(), st.lists(st.integers(BASE - 5, BASE + 2000), max_size=20))
def test_offset_lookup_matches_model(entries: list[tuple[int, int]], targets: list[int]) -> None:
    """lookup(o) is the last entry with offset <= o, else (base, 0)."""
    with scratch_dir() as d:
        index = OffsetIndex(d / "x.index", BASE, 1 << 20)
        index.create_empty()
        for offset, position in entries:
            index.append(offset, position)
        for target in targets + [o for o, _ in entries]:
            assert index.lookup(target) == _model_lookup(entries, target)


@given(_offset_entries(), st.integers(BASE - 5, BASE + 2000))
def test_offset_truncate_then_reload(entries: list[tuple[int, int]], cut: int) -> None:
    """truncate_to(o) drops entries >= o, in memory and in the file after write_pending."""
    with scratch_dir() as d:
        path = d / "x.index"
        index = OffsetIndex(path, BASE, 1 << 20)
        index.create_empty()
        half = len(entries) // 2
        for offset, position in entries[:half]:
            index.append(offset, position)
        index.write_pending()  # part of the index is in the file before truncation
        for offset, position in entries[half:]:
            index.append(offset, position)
        index.truncate_to(cut)
        index.write_pending()
        kept = [e for e in entries if e[0] < cut]
        reloaded = OffsetIndex(path, BASE, 1 << 20)
        assert [reloaded.entry(i) for i in range(reloaded.entries)] == [
            (o - BASE, p) for o, p in kept
        ]
        assert path.stat().st_size == 8 * len(kept)


@given(st.lists(st.tuples(st.integers(-1, 100), st.integers(0, 3)), max_size=40))
def test_time_index_keeps_increasing_timestamps(steps: list[tuple[int, int]]) -> None:
    """maybe_append only adds strictly larger timestamps; lookup(t) is the last entry <= t."""
    with scratch_dir() as d:
        index = TimeIndex(d / "x.timeindex", BASE, 1 << 20)
        index.create_empty()
        model: list[tuple[int, int]] = []
        offset = BASE
        for ts, d_offset in steps:
            offset += d_offset
            index.maybe_append(ts, offset)
            if ts > (model[-1][0] if model else -1):
                model.append((ts, offset))
        assert [index.entry(i) for i in range(index.entries)] == [(t, o - BASE) for t, o in model]
        for target in range(-2, 102):
            i = bisect.bisect_right([t for t, _ in model], target)
            assert index.lookup(target) == (model[i - 1] if i else (-1, BASE))
        cut = offset // 2 + BASE // 2
        index.truncate_to(cut)
        assert [index.entry(i) for i in range(index.entries)] == [
            (t, o - BASE) for t, o in model if o < cut
        ]


def _write(path: Path, data: bytes) -> None:
    path.write_bytes(data)


def test_sanity_check_rejects_bad_files(tmp_path: Path) -> None:
    """Torn, negative or out-of-data index entries fail the sanity check; empty passes."""
    path = tmp_path / "x.index"
    index = OffsetIndex(path, BASE, 1 << 20)
    assert index.sanity_check(100) is None
    _write(path, b"")
    assert index.sanity_check(100) == (BASE, 0)
    _write(path, (5).to_bytes(4, "big") + (50).to_bytes(4, "big"))
    assert index.sanity_check(100) == (BASE + 5, 50)
    assert index.sanity_check(50) is None
    _write(path, (5).to_bytes(4, "big") + (50).to_bytes(4, "big") + b"\x00")
    assert index.sanity_check(100) is None
    _write(path, (-5).to_bytes(4, "big", signed=True) + (50).to_bytes(4, "big"))
    assert index.sanity_check(100) is None
    time_path = tmp_path / "x.timeindex"
    time_index = TimeIndex(time_path, BASE, 1 << 20)
    _write(time_path, (7).to_bytes(8, "big") + (3).to_bytes(4, "big"))
    assert time_index.sanity_check() == (7, BASE + 3)
    _write(time_path, (7).to_bytes(8, "big") + (3).to_bytes(4, "big") + b"\x00\x00")
    assert time_index.sanity_check() is None


def test_full_means_segment_index_bytes(tmp_path: Path) -> None:
    """An offset index of N bytes holds N // 8 entries; a time index keeps one slot spare."""
    index = OffsetIndex(tmp_path / "x.index", BASE, 8 * 3 + 5)
    index.create_empty()
    for i in range(3):
        assert not index.is_full
        index.append(BASE + i + 1, i * 10)
    assert index.is_full
    time_index = TimeIndex(tmp_path / "x.timeindex", BASE, 12 * 3)
    time_index.create_empty()
    time_index.maybe_append(1, BASE)
    assert not time_index.is_full
    time_index.maybe_append(2, BASE + 1)
    assert time_index.is_full


def test_fsync_skips_an_index_unchanged_since_its_last_fsync(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """fsync syncs the file after every change (creation, entries, truncation) and the
    first time in a process, and skips it when nothing changed since the last fsync."""
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    with scratch_dir() as d:
        index = OffsetIndex(d / "0.index", BASE, 10 * 8)
        index.create_empty()
        index.fsync()
        assert len(synced) == 1  # the creation
        index.fsync()
        index.write_pending()  # nothing pending: the file is unchanged
        index.fsync()
        assert len(synced) == 1
        index.append(BASE + 5, 100)
        index.fsync()
        assert len(synced) == 1  # in memory only: not in the file yet
        index.write_pending()
        index.fsync()
        assert len(synced) == 2
        index.truncate_to(BASE)
        index.fsync()
        index.fsync()
        assert len(synced) == 3
        reopened = OffsetIndex(d / "0.index", BASE, 10 * 8)
        reopened.fsync()
        assert len(synced) == 4  # a new object's first fsync always happens
