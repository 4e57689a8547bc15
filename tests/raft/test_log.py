"""`MemoryLog`, fetch validation and divergence truncation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kraft.raft.log import (
    ValidationKind,
    diverging_truncation_offset,
    validate_offset_and_epoch,
)
from kraft.raft.memory_log import MemoryLog
from kraft.raft.types import Entry, OffsetAndEpoch


def log_with_epochs(*epochs: int) -> MemoryLog:
    """A log whose entry at offset i has epoch epochs[i]."""
    log = MemoryLog()
    log.append([Entry(i, e, b"x") for i, e in enumerate(epochs)])
    return log


def test_end_offset_for_epoch() -> None:
    """Each epoch ends where the next larger one starts; missing epochs map down."""
    log = log_with_epochs(1, 1, 3, 3, 3, 5)
    assert log.end_offset_for_epoch(1) == OffsetAndEpoch(2, 1)
    assert log.end_offset_for_epoch(2) == OffsetAndEpoch(2, 1)
    assert log.end_offset_for_epoch(3) == OffsetAndEpoch(5, 3)
    assert log.end_offset_for_epoch(5) == OffsetAndEpoch(6, 5)
    assert log.end_offset_for_epoch(9) == OffsetAndEpoch(6, 5)
    assert log.end_offset_for_epoch(0) == OffsetAndEpoch(0, 0)


def test_append_checks_offsets_and_epochs() -> None:
    """Appends must be contiguous and must not lower the epoch."""
    log = log_with_epochs(2)
    with pytest.raises(ValueError):
        log.append([Entry(3, 2)])
    with pytest.raises(ValueError):
        log.append([Entry(1, 1)])


def test_read_respects_max_bytes_but_returns_one_entry() -> None:
    """Reads stop before max_bytes, yet always return at least one entry."""
    log = log_with_epochs(1, 1, 1)
    assert len(log.read(0, 0)) == 1
    assert len(log.read(0, 10**6)) == 3
    assert log.read(3, 100) == ()
    with pytest.raises(ValueError):
        log.read(4, 100)


def test_crash_loses_the_unflushed_tail() -> None:
    """A crash keeps flushed entries, and optionally some written-back unflushed ones."""
    log = log_with_epochs(1, 1)
    log.flush()
    log.append([Entry(2, 1), Entry(3, 1), Entry(4, 2)])
    log.crash()
    assert log.end_offset == 2
    log.append([Entry(2, 1), Entry(3, 1), Entry(4, 2)])
    log.crash(keep_unflushed=2)
    assert log.end_offset == 4 and log.durable_end_offset == 4
    assert log.last_fetched_epoch() == 1


def test_truncation_is_never_undone_by_a_crash() -> None:
    """The durable part shrinks with a truncation, so a crash cannot resurrect entries."""
    log = log_with_epochs(1, 1, 1, 1)
    log.flush()
    log.truncate_to(2)
    log.append([Entry(2, 2)])
    log.crash(keep_unflushed=0)
    assert [e.epoch for e in log.read(0, 10**6)] == [1, 1]


def test_snapshots_move_the_log_start() -> None:
    """After deleting before a snapshot the log starts there and remembers its epoch."""
    log = log_with_epochs(1, 1, 2, 2, 3)
    log.create_snapshot(OffsetAndEpoch(3, 2), b"state")
    assert log.latest_snapshot_id() == OffsetAndEpoch(3, 2)
    assert log.earliest_snapshot_id() is None
    log.delete_before_snapshot(OffsetAndEpoch(3, 2))
    assert log.log_start_offset == 3
    assert log.earliest_snapshot_id() == OffsetAndEpoch(3, 2)
    assert log.end_offset_for_epoch(2) == OffsetAndEpoch(4, 2)
    assert log.end_offset_for_epoch(1) == OffsetAndEpoch(3, 2)
    log.truncate_to(3)
    assert log.last_fetched_epoch() == 2
    assert log.end_offset_for_epoch(7) == OffsetAndEpoch(3, 2)


def test_install_snapshot_replaces_the_log() -> None:
    """A downloaded snapshot, once complete, truncates the whole log to it."""
    log = log_with_epochs(1, 1)
    snapshot = OffsetAndEpoch(10, 4)
    log.begin_snapshot_download(snapshot)
    assert log.append_snapshot_chunk(snapshot, b"ab") == 2
    assert log.append_snapshot_chunk(snapshot, b"c") == 3
    log.install_snapshot(snapshot)
    assert (log.log_start_offset, log.end_offset, log.last_fetched_epoch()) == (10, 10, 4)
    assert log.read_snapshot(snapshot, 1, 5) == b"bc"
    assert log.snapshot_size(snapshot) == 3
    assert log.snapshot_size(OffsetAndEpoch(9, 4)) is None


# --- validation (the leader's view of a fetch position) -----------------------


@pytest.mark.parametrize(
    ("fetch_offset", "last_epoch", "kind", "position"),
    [
        (0, 0, ValidationKind.VALID, (0, 0)),
        (2, 1, ValidationKind.VALID, (2, 1)),
        (1, 1, ValidationKind.VALID, (1, 1)),
        (6, 5, ValidationKind.VALID, (6, 5)),
        (3, 1, ValidationKind.DIVERGING, (2, 1)),  # our epoch 1 ends at 2
        (4, 2, ValidationKind.DIVERGING, (2, 1)),  # we never had epoch 2
        (9, 5, ValidationKind.DIVERGING, (6, 5)),  # beyond our end
        (7, 6, ValidationKind.DIVERGING, (6, 5)),
    ],
)
def test_validate_fetch_position(
    fetch_offset: int, last_epoch: int, kind: ValidationKind, position: tuple[int, int]
) -> None:
    """Valid positions lie on our log; others diverge at our end of their epoch."""
    log = log_with_epochs(1, 1, 3, 3, 3, 5)
    result = validate_offset_and_epoch(log, fetch_offset, last_epoch)
    assert result.kind is kind
    assert result.offset_and_epoch == OffsetAndEpoch(*position)


def snapshotted_log() -> MemoryLog:
    log = log_with_epochs(1, 1, 2, 2, 3, 3)
    log.create_snapshot(OffsetAndEpoch(4, 2), b"s")
    log.delete_before_snapshot(OffsetAndEpoch(4, 2))
    return log


@pytest.mark.parametrize(
    ("fetch_offset", "last_epoch", "kind"),
    [
        (0, 0, ValidationKind.SNAPSHOT),  # empty follower: always the snapshot
        (2, 1, ValidationKind.SNAPSHOT),  # below the log start
        (4, 1, ValidationKind.SNAPSHOT),  # at the log start with another epoch
        (5, 1, ValidationKind.SNAPSHOT),  # epoch older than the snapshot's
        (4, 2, ValidationKind.VALID),
        (6, 3, ValidationKind.VALID),
        (7, 3, ValidationKind.DIVERGING),
    ],
)
def test_validate_against_snapshot(
    fetch_offset: int, last_epoch: int, kind: ValidationKind
) -> None:
    """Followers behind the log start (or at 0) are sent the latest snapshot."""
    result = validate_offset_and_epoch(snapshotted_log(), fetch_offset, last_epoch)
    assert result.kind is kind
    if kind is ValidationKind.SNAPSHOT:
        assert result.offset_and_epoch == OffsetAndEpoch(4, 2)


@pytest.mark.parametrize(
    ("follower", "diverging", "expected"),
    [
        # follower epochs, leader's (end offset, epoch), truncation point
        ((1, 1, 2, 2), (2, 1), 2),
        ((1, 1, 1, 1), (2, 1), 2),  # leader's epoch 1 ends earlier
        ((1, 1), (3, 1), 2),  # ours ends earlier
        ((1, 2, 2), (1, 1), 1),
        ((1, 1, 3, 3), (2, 2), 2),  # we never had epoch 2: end of epoch 1
        ((2, 2), (0, 0), 0),
    ],
)
def test_diverging_truncation_offset(
    follower: tuple[int, ...], diverging: tuple[int, int], expected: int
) -> None:
    """Truncate to min(leader's end offset, our end offset) for the diverging epoch."""
    log = log_with_epochs(*follower)
    assert diverging_truncation_offset(log, OffsetAndEpoch(*diverging)) == expected


@st.composite
def diverged_logs(draw: st.DrawFn) -> tuple[list[int], list[int], int]:
    """Epochs of a leader's and a follower's log: a shared prefix, then suffixes
    written in disjoint epochs (each epoch has one leader, so logs that share an
    (offset, epoch) agree up to it)."""
    prefix = sorted(draw(st.lists(st.integers(1, 3), max_size=6)))
    base = prefix[-1] if prefix else 0
    epochs = draw(st.lists(st.integers(base + 1, base + 6), unique=True, max_size=4))
    split = draw(st.integers(0, len(epochs)))
    leader_epochs, follower_epochs = sorted(epochs[:split]), sorted(epochs[split:])
    leader = prefix + sorted(draw(st.lists(st.sampled_from(leader_epochs or [0]), max_size=6)))
    follower = prefix + sorted(draw(st.lists(st.sampled_from(follower_epochs or [0]), max_size=6)))
    leader = [e for e in leader if e]
    follower = [e for e in follower if e]
    return leader, follower, len(prefix)


@given(diverged_logs())
def test_divergence_rounds_converge_on_the_shared_prefix(
    logs: tuple[list[int], list[int], int],
) -> None:
    """Fetch, truncate where the leader says, repeat: the follower ends on a prefix
    of the leader's log and never truncates the part the two logs share."""
    leader_epochs, follower_epochs, shared = logs
    leader = log_with_epochs(*leader_epochs)
    follower = log_with_epochs(*follower_epochs)
    for _ in range(len(follower_epochs) + 1):
        position = validate_offset_and_epoch(
            leader, follower.end_offset, follower.last_fetched_epoch()
        )
        if position.kind is ValidationKind.VALID:
            break
        target = diverging_truncation_offset(follower, position.offset_and_epoch)
        assert shared <= target < follower.end_offset
        follower.truncate_to(target)
    assert position.kind is ValidationKind.VALID
    kept = [e.epoch for e in follower.read(0, 10**6)]
    assert kept == leader_epochs[: len(kept)]
    assert len(kept) >= shared
