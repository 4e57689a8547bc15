"""Leader epoch cache: Kafka's LeaderEpochFileCache semantics and its checkpoint file.

Cases follow Kafka's LeaderEpochFileCacheTest."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kraft.log.epoch import EpochEntry, LeaderEpochCache
from kraft.log.errors import CorruptCheckpointError
from tests.log.helpers import scratch_dir


def _cache(*entries: tuple[int, int], path: Path | None = None) -> LeaderEpochCache:
    cache = LeaderEpochCache(path)
    for epoch, offset in entries:
        cache.assign(epoch, offset)
    return cache


def _entries(cache: LeaderEpochCache) -> list[tuple[int, int]]:
    return [tuple(e) for e in cache.entries]  # type: ignore[misc]


def test_assign_same_epoch_keeps_first_start_offset() -> None:
    """Re-assigning the latest epoch at a later offset is a no-op; at an earlier one, a move."""
    cache = _cache((2, 9))
    assert not cache.assign(2, 10)
    assert _entries(cache) == [(2, 9)]
    assert cache.assign(2, 6)
    assert _entries(cache) == [(2, 6)]


def test_assign_enforces_monotonic_start_offsets() -> None:
    """A new epoch removes entries whose epoch or start offset is not below it."""
    cache = _cache((2, 9), (3, 9))
    assert _entries(cache) == [(3, 9)]
    cache = _cache((1, 0), (2, 5), (3, 10))
    cache.assign(4, 7)
    assert _entries(cache) == [(1, 0), (2, 5), (4, 7)]
    cache.assign(2, 20)
    assert _entries(cache) == [(1, 0), (2, 20)]


def test_assign_rejects_negative() -> None:
    """Negative epochs or offsets are a caller bug."""
    with pytest.raises(ValueError):
        LeaderEpochCache(None).assign(-1, 0)


@pytest.mark.parametrize(
    ("requested", "expected"),
    [
        (-1, (-1, -1)),
        (0, (0, 13)),
        (1, (0, 13)),
        (2, (2, 17)),
        (3, (2, 17)),
        (4, (4, 100)),
        (5, (-1, -1)),
    ],
)
def test_end_offset_for(requested: int, expected: tuple[int, int]) -> None:
    """endOffsetFor: floor epoch and the next epoch's start; LEO for the latest; undefined above."""
    cache = _cache((0, 10), (2, 13), (4, 17))
    assert cache.end_offset_for(requested, 100) == expected


def test_end_offset_for_epoch_below_first() -> None:
    """An epoch older than every entry gets the first entry's start offset, with itself."""
    cache = _cache((5, 11), (6, 12))
    assert cache.end_offset_for(4, 100) == (4, 11)


def test_epoch_for_offset() -> None:
    """epochForOffset: the epoch whose range holds the offset; None before the first."""
    cache = _cache((1, 5), (3, 10), (4, 15), (6, 20))
    expected = {0: None, 5: 1, 9: 1, 10: 3, 12: 3, 15: 4, 19: 4, 20: 6, 21: 6}
    assert {o: cache.epoch_for_offset(o) for o in expected} == expected


@pytest.mark.parametrize(
    ("end", "expected"),
    [
        (9, [(2, 6), (3, 8)]),
        (8, [(2, 6)]),
        (5, []),
        (12, [(2, 6), (3, 8), (4, 11)]),
        (-1, [(2, 6), (3, 8), (4, 11)]),
    ],
)
def test_truncate_from_end(end: int, expected: list[tuple[int, int]]) -> None:
    """Entries starting at or after the new end offset go."""
    cache = _cache((2, 6), (3, 8), (4, 11))
    cache.truncate_from_end(end)
    assert _entries(cache) == expected


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (5, [(2, 6), (3, 8), (4, 11)]),
        (6, [(2, 6), (3, 8), (4, 11)]),
        (9, [(3, 9), (4, 11)]),
        (11, [(4, 11)]),
        (12, [(4, 12)]),
    ],
)
def test_truncate_from_start(start: int, expected: list[tuple[int, int]]) -> None:
    """Entries wholly before the new start go; the epoch holding it now starts there."""
    cache = _cache((2, 6), (3, 8), (4, 11))
    cache.truncate_from_start(start)
    assert _entries(cache) == expected


operations = st.lists(
    st.one_of(
        st.tuples(st.just("assign"), st.integers(0, 8), st.integers(0, 50)),
        st.tuples(st.just("end"), st.integers(-1, 50)),
        st.tuples(st.just("start"), st.integers(0, 50)),
    ),
    max_size=20,
)


@given(operations)
def test_entries_stay_increasing_and_persist(ops: list[tuple]) -> None:  # type: ignore[type-arg]
    """After any operations both columns strictly increase, and the file reloads
    equal once the start truncations since its last write are applied again (as
    opening a log does: truncate_from_start is kept in memory only)."""
    with scratch_dir() as d:
        path = d / "leader-epoch-checkpoint"
        cache = LeaderEpochCache(path)
        unwritten_starts: list[int] = []
        for op in ops:
            if op[0] == "assign":
                if cache.assign(op[1], op[2]):
                    unwritten_starts = []
            elif op[0] == "end":
                before = cache.entries
                cache.truncate_from_end(op[1])
                if cache.entries != before:
                    unwritten_starts = []
            else:
                cache.truncate_from_start(op[1])
                unwritten_starts.append(op[1])
        entries = cache.entries
        for a, b in itertools.pairwise(entries):
            assert a.epoch < b.epoch and a.start_offset < b.start_offset
        if path.exists():
            reloaded = LeaderEpochCache.load(path)
            for start in unwritten_starts:
                reloaded.truncate_from_start(start)
            assert reloaded.entries == entries


def test_truncate_from_start_does_not_write_the_file() -> None:
    """Retention's truncate_from_start changes the cache in memory only (no fsync
    on the event loop); the next persisted change writes it."""
    with scratch_dir() as d:
        path = d / "leader-epoch-checkpoint"
        cache = LeaderEpochCache(path)
        cache.assign(2, 6)
        cache.assign(3, 8)
        before = path.read_bytes()
        cache.truncate_from_start(9)
        assert path.read_bytes() == before
        cache.assign(4, 11)
        assert LeaderEpochCache.load(path).entries == cache.entries


def test_checkpoint_file_format(tmp_path: Path) -> None:
    """leader-epoch-checkpoint is `0`, count, `epoch start_offset` lines."""
    path = tmp_path / "leader-epoch-checkpoint"
    _cache((0, 0), (3, 1500), path=path)
    assert path.read_text() == "0\n2\n0 0\n3 1500\n"
    assert LeaderEpochCache.load(path).entries == [EpochEntry(0, 0), EpochEntry(3, 1500)]


def test_non_monotonic_checkpoint_is_corrupt(tmp_path: Path) -> None:
    """A file whose entries do not increase cannot have been written by us: raise."""
    path = tmp_path / "leader-epoch-checkpoint"
    path.write_text("0\n2\n3 10\n2 20\n")
    with pytest.raises(CorruptCheckpointError):
        LeaderEpochCache.load(path)
