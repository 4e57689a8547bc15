"""Checkpoint files: Kafka's text format, atomic replacement, loud failure on damage."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kraft.log.checkpoint import (
    read_epoch_checkpoint,
    read_offset_checkpoint,
    write_epoch_checkpoint,
    write_offset_checkpoint,
)
from kraft.log.errors import CorruptCheckpointError
from tests.log.helpers import scratch_dir

topics = st.text(st.characters(codec="ascii", categories=["L", "N"]), min_size=1, max_size=10)


def test_offset_checkpoint_text(tmp_path: Path) -> None:
    """The file is `0`, the count, then `topic partition offset` lines, as Kafka writes it."""
    path = tmp_path / "recovery-point-offset-checkpoint"
    write_offset_checkpoint(path, {("b", 1): 7, ("a", 0): 42})
    assert path.read_text() == "0\n2\na 0 42\nb 1 7\n"
    assert read_offset_checkpoint(path) == {("a", 0): 42, ("b", 1): 7}
    assert not list(tmp_path.glob("*.tmp"))


@given(st.dictionaries(st.tuples(topics, st.integers(0, 1000)), st.integers(0, 2**62)))
def test_offset_checkpoint_round_trips(offsets: dict[tuple[str, int], int]) -> None:
    """read(write(x)) == x for any set of partitions."""
    with scratch_dir() as d:
        write_offset_checkpoint(d / "cp", offsets)
        assert read_offset_checkpoint(d / "cp") == offsets


def test_missing_checkpoint_is_empty(tmp_path: Path) -> None:
    """A checkpoint that was never written reads as empty / None."""
    assert read_offset_checkpoint(tmp_path / "nope") == {}
    assert read_epoch_checkpoint(tmp_path / "nope") is None


@pytest.mark.parametrize(
    "text",
    ["", "1\n0\n", "0\n2\na 0 1\n", "0\n1\na 0\n", "0\n1\na x 1\n", "0\nx\n", "0\n1\na  0 1\n"],
)
def test_damaged_checkpoint_raises(tmp_path: Path, text: str) -> None:
    """Wrong version, wrong count, malformed lines: CorruptCheckpointError, never a guess."""
    path = tmp_path / "cp"
    path.write_text(text)
    with pytest.raises(CorruptCheckpointError):
        read_offset_checkpoint(path)


def test_rewrite_replaces_whole_file_and_ignores_stale_tmp(tmp_path: Path) -> None:
    """A leftover .tmp from a crashed write neither breaks reading nor the next write."""
    path = tmp_path / "leader-epoch-checkpoint"
    write_epoch_checkpoint(path, [(0, 0), (3, 100)])
    (tmp_path / "leader-epoch-checkpoint.tmp").write_text("garbage")
    assert read_epoch_checkpoint(path) == [(0, 0), (3, 100)]
    write_epoch_checkpoint(path, [(4, 200)])
    assert path.read_text() == "0\n1\n4 200\n"
    assert not (tmp_path / "leader-epoch-checkpoint.tmp").exists()


def test_bad_topic_names_are_refused(tmp_path: Path) -> None:
    """Topic names that would break the line format are a bug, not silently written."""
    with pytest.raises(ValueError):
        write_offset_checkpoint(tmp_path / "cp", {("a b", 0): 1})
