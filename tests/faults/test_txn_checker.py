"""The transactional queue checker on hand-made histories: each anomaly found, clean passes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.txn_checker import check
from tests.faults.txn_history import Txn, TxnHistory, TxnRead, TxnSend


def txn(process: int, seq: int, outcome: str, sends: list[tuple[int, int, int | None]],
        session: int = 0) -> Txn:
    """A transaction of (partition, value, acknowledged offset) sends."""
    intent = "abort" if outcome == "aborted" else "commit"
    return Txn(process=process, session=session, seq=seq, intent=intent,  # type: ignore[arg-type]
               outcome=outcome,  # type: ignore[arg-type]
               sends=[TxnSend(partition=p, value=v, offset=o) for p, v, o in sends])


def read(partition: int, records: list[tuple[int, int | None]], reader: str = "r",
         live: bool = False, end: int | None = None, hw: int | None = None,
         complete: bool = True) -> TxnRead:
    last = max((o for o, _ in records), default=-1) + 1
    end = last if end is None else end
    return TxnRead(reader=reader, partition=partition, records=records, live=live,
                   end_offset=end, high_watermark=end if hw is None else hw,
                   complete=complete and not live)


# Process 0: txn 0 commits 1@p0 and 2@p1 (offsets 0, 0); txn 1 aborts 3@p0, 4@p1 (offsets 1, 1,
# markers at 2); txn 2 commits 5@p0, 6@p1 (offsets 3, 3). Markers take an offset each.
CLEAN_TXNS = [
    txn(0, 0, "committed", [(0, 1, 0), (1, 2, 0)]),
    txn(0, 1, "aborted", [(0, 3, 2), (1, 4, 2)]),
    txn(0, 2, "committed", [(0, 5, 4), (1, 6, 4)]),
]
CLEAN_READS = [read(0, [(0, 1), (4, 5)], end=6), read(1, [(0, 2), (4, 6)], end=6)]


def test_clean_history_is_valid() -> None:
    """Committed transactions read whole, aborted ones not at all, in order: no anomaly."""
    report = check(CLEAN_TXNS, CLEAN_READS)
    assert report.valid, report.summary()
    assert (report.counts.committed, report.counts.aborted, report.counts.records_read) == (
        2, 1, 4)


def test_aborted_read_final_and_live() -> None:
    """A value of an aborted transaction returned by a final or a live read is G1a."""
    reads = [read(0, [(0, 1), (2, 3), (4, 5)], end=6), CLEAN_READS[1],
             read(1, [(0, 2), (2, 4)], reader="live", live=True)]
    report = check(CLEAN_TXNS, reads)
    assert [(a.value, a.live) for a in report.aborted_reads] == [(3, False), (4, True)]
    assert not report.valid


def test_lost_committed_write() -> None:
    """A committed value missing from a read that reached the partition's end is lost
    (and its transaction torn, since its other value was read)."""
    reads = [read(0, [(0, 1)], end=6), CLEAN_READS[1]]
    report = check(CLEAN_TXNS, reads)
    assert [(lost.value, lost.seq) for lost in report.lost] == [(5, 2)]
    assert [(t.seq, t.seen) for t in report.torn] == [(2, {"r": 1})]


def test_committed_transaction_wholly_missing_is_lost_not_torn() -> None:
    """A committed transaction no reader saw at all is lost in every partition, not torn."""
    reads = [read(0, [(0, 1)], end=6), read(1, [(0, 2)], end=6)]
    report = check(CLEAN_TXNS, reads)
    assert sorted(lost.value for lost in report.lost) == [5, 6]
    assert report.torn == []


def test_unknown_transaction_all_or_nothing() -> None:
    """An unknown transaction read whole or not at all is fine (recovered when read);
    part of it visible is torn."""
    txns = [txn(0, 0, "unknown", [(0, 1, 0), (1, 2, 0)]),
            txn(1, 0, "unknown", [(0, 3, None), (1, 4, None)]),
            txn(2, 0, "unknown", [(0, 5, 2), (1, 6, 2)])]
    whole = [read(0, [(0, 1), (2, 5)], end=4), read(1, [(0, 2)], end=4)]
    report = check(txns, whole)
    assert [(t.process, t.seen) for t in report.torn] == [(2, {"r": 1})]
    assert report.counts.recovered == 2
    assert report.lost == []  # unknown values missing are never lost


def test_readers_that_disagree_tear_the_transaction() -> None:
    """An unknown transaction one final reader saw whole and another not at all is torn."""
    txns = [txn(0, 0, "unknown", [(0, 1, 0), (1, 2, 0)])]
    reads = [read(0, [(0, 1)], reader="a", end=2), read(1, [(0, 2)], reader="a", end=2),
             read(0, [], reader="b", end=2), read(1, [], reader="b", end=2)]
    report = check(txns, reads)
    assert [t.seen for t in report.torn] == [{"a": 2, "b": 0}]


def test_duplicate_and_inconsistent_offset() -> None:
    """A value read at two offsets is a duplicate; an offset holding two values is inconsistent."""
    reads = [read(0, [(0, 1), (4, 5), (5, 5)], end=6), CLEAN_READS[1]]
    report = check(CLEAN_TXNS, reads)
    assert [(d.value, d.places) for d in report.duplicates] == [(5, [(0, 4), (0, 5)])]
    acked_elsewhere = [read(0, [(0, 1), (4, 2)], end=6), read(1, [(0, 6)], end=6)]
    report = check(CLEAN_TXNS, acked_elsewhere)
    assert {(i.partition, i.offset, tuple(i.values)) for i in report.inconsistent_offsets} == {
        (0, 4, (2, 5)), (1, 0, (2, 6))}


def test_nonmonotonic_poll_ack_and_read_order() -> None:
    """Offsets that go back within a reader, acknowledged offsets or read positions
    against the order produced, are nonmonotonic."""
    backwards = [read(0, [(4, 5), (0, 1)], end=6), CLEAN_READS[1]]
    assert {n.source for n in check(CLEAN_TXNS, backwards).nonmonotonic} == {"poll"}
    swapped_acks = [txn(0, 0, "committed", [(0, 1, 4), (1, 2, 0)]),
                    txn(0, 2, "committed", [(0, 5, 0), (1, 6, 4)])]
    reads = [read(0, [(0, 5), (4, 1)], end=6), CLEAN_READS[1]]
    found = check(swapped_acks, reads).nonmonotonic
    assert {(n.source, n.earlier, n.later) for n in found} == {("ack", 1, 5), ("read", 1, 5)}


def test_other_sessions_are_not_ordered() -> None:
    """Records of different producer sessions may interleave in any order."""
    txns = [txn(0, 0, "committed", [(0, 1, 2)], session=0),
            txn(0, 1, "committed", [(0, 2, 0)], session=1)]
    assert check(txns, [read(0, [(0, 2), (2, 1)], end=3)]).valid


def test_unexpected_incomplete_and_open_transaction() -> None:
    """A value nobody sent, a read short of its end, an LSO below the high watermark."""
    reads = [read(0, [(0, 1), (4, 5), (6, 99), (7, None)], end=8),
             read(1, [(0, 2)], end=6, complete=False)]
    report = check(CLEAN_TXNS, reads)
    assert [(u.offset, u.value) for u in report.unexpected] == [(6, 99), (7, None)]
    assert report.incomplete_reads == [("r", 1)]
    assert report.lost == [] and report.torn == []  # nothing concluded from partition 1
    hanging = [CLEAN_READS[0], read(1, [(0, 2), (4, 6)], end=6, hw=9)]
    assert check(CLEAN_TXNS, hanging).open_transactions == [("r", 1)]


def test_contract_violations_raise() -> None:
    """A value sent twice, or two final reads of a partition by one reader, is a harness bug."""
    with pytest.raises(ValueError, match="sent twice"):
        check([txn(0, 0, "committed", [(0, 1, 0), (1, 1, 0)])], [])
    with pytest.raises(ValueError, match="more than one final read"):
        check(CLEAN_TXNS, [CLEAN_READS[0], CLEAN_READS[0]])


def test_history_round_trip(tmp_path: Path) -> None:
    """Transactions, reads and events written to disk load back equal."""
    path = tmp_path / "h.jsonl"
    with TxnHistory(path) as history:
        history.extend(CLEAN_TXNS)
        history.extend(CLEAN_READS)
        history.note("kill -9 node 1")
    loaded = TxnHistory.load(path)
    assert loaded.txns == CLEAN_TXNS and loaded.txn_reads == CLEAN_READS
    assert [e.text for e in loaded.events] == ["kill -9 node 1"]


def test_a_transaction_never_asked_to_commit_is_aborted() -> None:
    """The history refuses an abort-intent transaction recorded as committed or unknown."""
    with pytest.raises(ValueError, match="never asked to commit"):
        Txn(process=0, session=0, seq=0, intent="abort", outcome="unknown", sends=[])
