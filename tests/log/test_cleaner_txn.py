"""log.cleaner with transactions: aborted data never hides committed data and is
removed, markers go once their data is gone and their delete horizon passed,
the `.txnindex` stays right (through a crash at every swap step too), open
transactions are untouched, and a read_committed reader sees every key's latest
committed value before and after cleaning."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kafka.record.default_records import DefaultRecordBatch

from kraft.log.batch import DELETE_HORIZON_FLAG, BatchHeader, iter_batches
from kraft.log.cleaner import DEFAULT_MAP_BUDGET_BYTES, LastRecord, PartitionCleaner
from kraft.log.control import ControlType, build_end_txn_marker, read_end_txn_marker
from kraft.log.loader import swap_steps
from kraft.log.log import AppendOrigin, PartitionLog
from kraft.log.records import Record, build_batch
from kraft.log.txnindex import AbortedTxn
from tests.log.helpers import FakeClock, scratch_dir
from tests.log.test_cleaner import (
    DAY,
    Entry,
    assert_contiguous,
    batches,
    check_indexes,
    cleanable_end,
    compact,
    rec,
    swap_step_count,
    visible,
)


class TxnWriter:
    """Writes to a log as a partition leader does: producers' batches (transactional
    or not), markers, and the `.txnindex` entry of each abort."""

    def __init__(self, log: PartitionLog) -> None:
        self.log = log
        self.sequences: dict[int, int] = {}
        self.open: dict[int, int] = {}  # producer id -> first offset of its open transaction
        self.txn_offsets: dict[int, list[int]] = {}  # producer id -> offsets of the open txn
        self.aborted_offsets: set[int] = set()
        self.committed_txn_offsets: set[int] = set()

    def send(self, pid: int, recs: Sequence[Record], transactional: bool = True) -> list[Entry]:
        sequence = self.sequences.get(pid, 0)
        batch = build_batch(
            recs,
            producer_id=pid,
            producer_epoch=0 if pid >= 0 else -1,
            base_sequence=sequence if pid >= 0 else -1,
            is_transactional=transactional,
        )
        info = self.log.append_as_leader(batch, 0)
        assert info.error_code == 0, info
        if pid >= 0:
            self.sequences[pid] = sequence + len(recs)
        if transactional:
            self.open.setdefault(pid, info.base_offset)
            self.txn_offsets.setdefault(pid, []).extend(
                range(info.base_offset, info.base_offset + len(recs))
            )
        return [(info.base_offset + i, r.key, r.value) for i, r in enumerate(recs)]

    def end(self, pid: int, commit: bool) -> int:
        """Write `pid`'s marker; return its offset."""
        marker = build_end_txn_marker(
            producer_id=pid, producer_epoch=0, coordinator_epoch=0, commit=commit,
            timestamp=1,  # below the records': check_indexes looks records up by time
        )  # fmt: skip
        info = self.log.append_as_leader(marker, 0, origin=AppendOrigin.COORDINATOR)
        assert info.error_code == 0, info
        first = self.open.pop(pid, None)
        offsets = self.txn_offsets.pop(pid, [])
        if commit:
            self.committed_txn_offsets.update(offsets)
        elif first is not None:
            self.aborted_offsets.update(offsets)
            stable = min([*self.open.values(), info.base_offset + 1])
            assert self.log.append_aborted_txn(AbortedTxn(pid, first, info.base_offset, stable))
        return info.base_offset

    @property
    def last_stable_offset(self) -> int:
        return min([*self.open.values(), self.log.log_end_offset])


def read_committed(log: PartitionLog, end: int) -> Iterator[Entry]:
    """Records below `end` as a read_committed Java consumer takes them: the aborted
    transactions come from the index, a producer is skipped from its aborted
    transaction's first offset to its abort marker (`CompletedFetch`)."""
    start = log.log_start_offset
    data = log.read(start, 1 << 30, end).to_bytes()
    pending = sorted(log.collect_aborted_txns(start, end), key=lambda e: e.first_offset)
    aborted_pids: set[int] = set()
    for pos, header in iter_batches(data):
        batch = data[pos : pos + header.size]
        while pending and pending[0].first_offset <= header.last_offset:
            aborted_pids.add(pending.pop(0).producer_id)
        if header.is_control:
            if header.records_count and header.producer_id in aborted_pids:
                marker = read_end_txn_marker(batch)
                if marker is not None and marker.control_type is ControlType.ABORT:
                    aborted_pids.discard(header.producer_id)
            continue
        if header.is_transactional and header.producer_id in aborted_pids:
            continue
        for r in DefaultRecordBatch(batch):
            if r.offset < end:
                yield r.offset, r.key, r.value


def latest(entries: Iterator[Entry] | Sequence[Entry]) -> dict[bytes | None, bytes | None]:
    """Key -> value of its latest record (None: a tombstone)."""
    return {k: v for _, k, v in entries}


def markers(log: PartitionLog) -> list[tuple[BatchHeader, bytes]]:
    return [(h, b) for h, b in batches(log) if h.is_control]


def txn_log(d: Path, clock: FakeClock, segment_bytes: int = 350) -> tuple[PartitionLog, TxnWriter]:
    log = PartitionLog.open(d, compact(segment_bytes=segment_bytes), clock=clock)
    return log, TxnWriter(log)


def test_committed_then_aborted_same_key_keeps_the_committed_value(tmp_path: Path) -> None:
    """K=v1 committed, then K=v2 in an aborted transaction: cleaning keeps v1 (the
    aborted record is not mapped and is removed), read_committed still reads v1,
    and read_uncommitted no longer sees v2."""
    clock = FakeClock()
    log, w = txn_log(tmp_path, clock)
    w.send(1, [rec("K", "v1")])
    w.end(1, commit=True)
    w.send(2, [rec("K", "v2"), rec("L", "only-aborted")])
    w.end(2, commit=False)
    for i in range(6):
        w.send(-1, [rec(f"other{i}", "x" * 40)], transactional=False)
    log.roll()
    assert latest(read_committed(log, log.log_end_offset))[b"K"] == b"v1"
    result = PartitionCleaner(log, clock=clock).clean(log.log_end_offset, force=True,
                                                      last_records={})
    assert result is not None and result.records_removed >= 2
    assert latest(read_committed(log, log.log_end_offset))[b"K"] == b"v1"
    seen = visible(log)
    assert (0, b"K", b"v1") in seen
    assert not [e for e in seen if e[1] in (b"L",) or e[2] == b"v2"]
    assert_contiguous(log)
    check_indexes(log)


def test_aborted_marker_and_entry_go_once_the_data_is_gone_and_the_horizon_passed(
    tmp_path: Path,
) -> None:
    """Pass 1 removes the aborted data and keeps its marker and index entry; pass 2
    finds no data: the entry is dropped and the marker gets a delete horizon
    (delete.retention.ms); a pass before the horizon keeps it, the first one at
    the horizon removes it."""
    clock = FakeClock()
    log, w = txn_log(tmp_path, clock)
    w.send(3, [rec("A", "a1"), rec("B", "b1")])
    abort_at = w.end(3, commit=False)
    for i in range(6):
        w.send(-1, [rec(f"n{i}", "y" * 40)], transactional=False)
    log.roll()
    end = log.log_end_offset
    cleaner = PartitionCleaner(log, clock=clock)
    cleaner.clean(end, force=True, last_records={})
    assert not [e for e in visible(log) if e[1] in (b"A", b"B")]
    ((header, _),) = markers(log)
    assert header.base_offset == abort_at and not header.attributes & DELETE_HORIZON_FLAG
    assert log.collect_aborted_txns(0, end) == [AbortedTxn(3, 0, abort_at, abort_at + 1)]
    cleaner.clean(end, force=True, last_records={})
    ((header, _),) = markers(log)
    assert header.attributes & DELETE_HORIZON_FLAG and header.base_timestamp == clock.now + DAY
    assert log.collect_aborted_txns(0, end) == []
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".txnindex")]
    clock.advance(DAY - 1)
    assert not cleaner.to_clean(end).tombstones_due
    cleaner.clean(end, force=True, last_records={})
    assert len(markers(log)) == 1
    clock.advance(1)
    assert cleaner.to_clean(end).tombstones_due
    assert cleaner.clean(end, last_records={}) is not None
    assert markers(log) == []
    assert not cleaner.to_clean(end).tombstones_due
    assert_contiguous(log)
    check_indexes(log)


def test_commit_marker_stays_while_its_data_does(tmp_path: Path) -> None:
    """A commit marker whose transaction still has a record stays past any horizon;
    one whose records were all superseded goes after its horizon."""
    clock = FakeClock()
    log, w = txn_log(tmp_path, clock)
    w.send(1, [rec("keep", "k1")])
    keep_at = w.end(1, commit=True)
    w.send(2, [rec("gone", "g1")])
    w.end(2, commit=True)
    w.send(-1, [rec("gone", "g2")], transactional=False)
    for i in range(6):
        w.send(-1, [rec(f"n{i}", "z" * 40)], transactional=False)
    log.roll()
    end = log.log_end_offset
    cleaner = PartitionCleaner(log, clock=clock)
    before = latest(read_committed(log, end))
    for _ in range(2):
        cleaner.clean(end, force=True, last_records={})
    clock.advance(DAY)
    cleaner.clean(end, force=True, last_records={})
    assert [h.base_offset for h, _ in markers(log)] == [keep_at]
    assert latest(read_committed(log, end)) == before
    assert before[b"gone"] == b"g2" and before[b"keep"] == b"k1"


def test_open_transaction_is_untouched(tmp_path: Path) -> None:
    """Cleaning up to the last stable offset leaves an open transaction, and every
    byte from its first offset on, as it was; the aborted transaction before it
    is cleaned."""
    clock = FakeClock()
    log, w = txn_log(tmp_path, clock)
    w.send(1, [rec("K", "committed")])
    w.end(1, commit=True)
    w.send(2, [rec("K", "aborted")])
    w.end(2, commit=False)
    for i in range(6):
        w.send(-1, [rec(f"n{i}", "q" * 40)], transactional=False)
    log.roll()
    w.send(5, [rec("K", "open")])
    for i in range(8):
        w.send(-1, [rec("K", f"later{i}" + "r" * 40)], transactional=False)
    log.roll()
    lso = w.last_stable_offset
    assert 0 < lso < log.log_end_offset
    tail = [b for h, b in batches(log) if h.base_offset >= lso]
    PartitionCleaner(log, clock=clock).clean(lso, force=True, last_records={})
    assert [b for h, b in batches(log) if h.base_offset >= lso] == tail
    assert not [e for e in visible(log) if e[2] == b"aborted"]
    assert latest(read_committed(log, lso))[b"K"] == b"committed"


def test_producers_last_batches_keep_their_state(tmp_path: Path) -> None:
    """An active producer's last data batch stays (empty if its records go), aborted
    or not, with its marker and index entry while it is there; a producer whose
    state has only a marker at its epoch keeps that marker whole past its horizon."""
    clock = FakeClock()
    log, w = txn_log(tmp_path, clock)
    w.send(1, [rec("K", "a1")])
    abort_at = w.end(1, commit=False)
    w.send(2, [rec("K", "c")])
    w.end(2, commit=True)
    w.send(-1, [rec("K", "plain")], transactional=False)
    marker_only = w.end(4, commit=False)  # an epoch bump's abort without data
    for i in range(6):
        w.send(-1, [rec(f"n{i}", "s" * 40)], transactional=False)
    log.roll()
    end = log.log_end_offset
    last = {1: LastRecord(0, 0), 2: LastRecord(abort_at + 1, 0), 4: LastRecord(-1, 0)}
    cleaner = PartitionCleaner(log, clock=clock)
    for _ in range(3):
        cleaner.clean(end, force=True, last_records=last)
        clock.advance(DAY)
    kept = {h.producer_id: h for h, _ in batches(log) if h.producer_id in (1, 2)
            and not h.is_control}  # fmt: skip
    assert kept[1].records_count == 0 and kept[1].base_sequence == 0
    assert kept[2].records_count == 0
    assert sorted(h.base_offset for h, _ in markers(log)) == [abort_at, abort_at + 2, marker_only]
    assert log.collect_aborted_txns(0, end) == [AbortedTxn(1, 0, abort_at, abort_at + 1)]
    assert latest(read_committed(log, end))[b"K"] == b"plain"


def _crash_fixture(d: Path, clock: FakeClock) -> tuple[PartitionLog, TxnWriter]:
    log, w = txn_log(d, clock, segment_bytes=4000)  # rolled by hand: groups of segments
    for i in range(12):
        w.send(1 + i % 3, [rec(f"k{i % 4}", f"v{i}")])
        w.end(1 + i % 3, commit=i % 2 == 0)
        w.send(-1, [rec(f"p{i % 5}", "t" * 30)], transactional=False)
        if i % 3 == 2:
            log.roll()
    log.flush()
    return log, w


def test_txnindex_survives_a_crash_at_every_swap_step(tmp_path: Path) -> None:
    """Stopping after any step of a swap and reopening gives, for each group, either
    the old segments with their old `.txnindex` files or the new ones with the
    new: read_committed reads the same, and a later pass finishes the job."""
    clock = FakeClock()
    n_steps = swap_step_count(lambda d: _crash_fixture(d, clock)[0], clock)
    for k in range(n_steps + 1):
        with scratch_dir() as d:
            log, w = _crash_fixture(d, clock)
            end = log.log_end_offset
            expected = latest(read_committed(log, end))
            task = PartitionCleaner(log, clock=clock).begin(end, force=True, last_records={})
            assert task is not None
            task.run()
            written = task.written
            assert written is not None and len(written.sources) > 1
            old = [s.segment for s in written.sources]
            low, high = old[0].base_offset, written.sources[-1].next_offset
            assert any(e.last_offset < high for e in log.collect_aborted_txns(0, end))
            for step in swap_steps(d, written.base_offset, old)[:k]:
                step()
            reopened = PartitionLog.open(d, log.config, recovery_point=log.recovery_point,
                                         clock=clock)
            assert latest(read_committed(reopened, end)) == expected
            swapped = k >= 1
            group_aborted = [o for o in w.aborted_offsets if low <= o < high]
            present = {e[0] for e in visible(reopened)}
            assert bool(present & set(group_aborted)) != swapped
            assert not [n for n in os.listdir(d) if n.endswith((".cleaned", ".swap"))]
            assert_contiguous(reopened)
            PartitionCleaner(reopened, clock=clock).clean(end, force=True, last_records={})
            assert latest(read_committed(reopened, end)) == expected
            assert not {e[0] for e in visible(reopened)} & w.aborted_offsets


# (kind: 0/1 transactional send, 2 end, 3 non-transactional send; producer id 1-3;
#  records as (key index, value: 0 = tombstone); commit)
Op = tuple[int, int, list[tuple[int, int]], bool]
interleavings = st.lists(
    st.tuples(
        st.integers(0, 3),
        st.integers(1, 3),
        st.lists(st.tuples(st.integers(0, 5), st.integers(0, 4)), min_size=1, max_size=3),
        st.booleans(),
    ),
    min_size=1,
    max_size=45,
)


@settings(deadline=None)
@given(interleavings, st.integers(300, 900), st.data())
def test_read_committed_is_unchanged_by_cleaning(
    ops: list[Op], segment_bytes: int, data: st.DataObject
) -> None:
    """Random interleavings of committed, aborted, open and non-transactional writes:
    after passes up to the last stable offset, a read_committed reader sees every
    key's latest committed value as before, no aborted record remains below the
    cleaned end and nothing at or above the last stable offset changed; after
    delete.retention.ms the tombstones go, every marker left still has data of its
    transaction, no index entry is left without its marker, and a reopened log
    reads the same."""
    budget = data.draw(st.sampled_from([1, DEFAULT_MAP_BUDGET_BYTES]), label="budget")
    # {}: every producer expired; None: each producer's last batch in the log counts
    last: dict[int, LastRecord] | None = data.draw(st.sampled_from([{}, None]), label="last")
    clock = FakeClock()
    with scratch_dir() as d:
        log, w = txn_log(d, clock, segment_bytes)
        for i, (kind, pid, spec, commit) in enumerate(ops):
            if kind == 2:
                w.end(pid, commit)  # without an open transaction too: a marker alone
                continue
            recs = [rec("abcdef"[k], f"v{i}.{j}" * 8 if v else None)
                    for j, (k, v) in enumerate(spec)]  # fmt: skip
            if kind == 3:
                w.send(-1, recs, transactional=False)
            else:
                w.send(pid, recs)
        log.roll()
        lso = w.last_stable_offset
        end = cleanable_end(log, lso)
        before = latest(read_committed(log, lso))
        tail = [b for h, b in batches(log) if h.base_offset >= end]
        cleaner = PartitionCleaner(log, clock=clock, map_budget_bytes=budget)
        for _ in range(len(log.segments) + 1):
            if cleaner.last_clean_offset >= end:
                break
            cleaner.clean(lso, force=True, last_records=last)
        assert cleaner.last_clean_offset >= end
        assert latest(read_committed(log, lso)) == before
        assert [b for h, b in batches(log) if h.base_offset >= end] == tail
        below = [e for e in visible(log) if e[0] < end]
        assert not {o for o, _, _ in below} & w.aborted_offsets
        assert latest(below) == {k: v for k, v in latest(read_committed(log, end)).items()}
        assert_contiguous(log)
        check_indexes(log)
        for _ in range(4):  # a tombstone's horizon set and passed, then its marker's
            cleaner.clean(lso, force=True, last_records=last)
            clock.advance(DAY)
        expired = {k: v for k, v in before.items() if v is not None}
        committed_below = latest(read_committed(log, lso))
        assert {k: v for k, v in committed_below.items() if v is not None} == expired
        _check_markers_and_index(log, end if last == {} else 0)
        log.close()
        reopened = PartitionLog.open(d, log.config, clock=clock)
        assert latest(read_committed(reopened, lso)) == committed_below
        _check_markers_and_index(reopened, end if last == {} else 0)


def _check_markers_and_index(log: PartitionLog, end: int) -> None:
    """Below `end`: every marker has a data batch of its producer since that
    producer's previous marker (its last batches are kept when the producers
    are active: checked with end 0 then); every index entry points at an abort
    marker."""
    since: dict[int, bool] = {}
    at: dict[int, BatchHeader] = {}
    for header, _ in batches(log):
        at[header.base_offset] = header
        if header.producer_id < 0 or header.base_offset >= end:
            continue
        if header.is_control:
            assert since.get(header.producer_id), f"marker at {header.base_offset} without data"
            since[header.producer_id] = False
        elif header.is_transactional:
            since[header.producer_id] = True
    for entry in log.collect_aborted_txns(0, log.log_end_offset):
        marker = at.get(entry.last_offset)
        assert marker is not None and marker.is_control and marker.producer_id == entry.producer_id


@pytest.mark.parametrize("commit", [True, False])
def test_empty_transaction_marker_expires(tmp_path: Path, commit: bool) -> None:
    """A marker that ends a transaction without data (a producer ending twice) is
    discardable from the first pass: horizon, then gone."""
    clock = FakeClock()
    log, w = txn_log(tmp_path, clock)
    w.end(7, commit)
    for i in range(6):
        w.send(-1, [rec(f"n{i}", "e" * 40)], transactional=False)
    log.roll()
    cleaner = PartitionCleaner(log, clock=clock)
    cleaner.clean(log.log_end_offset, force=True, last_records={})
    ((header, _),) = markers(log)
    assert header.attributes & DELETE_HORIZON_FLAG
    clock.advance(DAY)
    cleaner.clean(log.log_end_offset, force=True, last_records={})
    assert markers(log) == []
