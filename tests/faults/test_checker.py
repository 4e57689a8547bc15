"""The queue checker on synthetic histories: clean ones pass, each injected anomaly is found.

`clean_runs()` draws a history the way a correct broker would produce it:
producers (with one or two sessions each) send unique values to partitions;
each partition's log takes the written sends in the order drawn (so every
producer session's sends are in seq order per partition), with occasional
offset gaps as control records leave; outcomes are ok (with the offset),
unknown (written or not) or failed (never written); the final read returns
every written record. Each anomaly test then breaks one thing in such a
history and checks that the checker reports exactly that anomaly, with its
details, and nothing else (or, where one fault necessarily shows as two
anomalies, exactly those two).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import msgspec
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tests.faults.checker import Report, check
from tests.faults.history import Event, History, Read, Send


@dataclasses.dataclass
class Run:
    sends: list[Send]
    reads: list[Read]

    def read(self, partition: int) -> Read:
        return next(r for r in self.reads if r.partition == partition)

    def with_read(self, read: Read) -> Run:
        return Run(self.sends, [read if r.partition == read.partition else r for r in self.reads])

    def with_send(self, send: Send) -> Run:
        return Run([send if s.value == send.value else s for s in self.sends], self.reads)

    def by_value(self, value: int) -> Send:
        return next(s for s in self.sends if s.value == value)


@st.composite
def clean_runs(draw: st.DrawFn, min_sends: int = 1) -> Run:
    producers = draw(st.integers(1, 3))
    partitions = draw(st.integers(1, 3))
    count = draw(st.integers(min_sends, 40))
    seqs = [0] * producers
    sessions = [0] * producers
    next_offset = dict.fromkeys(range(partitions), draw(st.integers(0, 3)))
    log_start = dict(next_offset)
    logs: dict[int, list[tuple[int, int]]] = {p: [] for p in range(partitions)}
    sends = []
    for value in range(count):
        process = draw(st.integers(0, producers - 1))
        if draw(st.integers(0, 9)) == 0:
            sessions[process] += 1
        partition = draw(st.integers(0, partitions - 1))
        fate = draw(st.sampled_from(["ok", "ok", "ok", "unknown-written", "unknown-lost",
                                     "failed"]))
        offset = None
        if fate in ("ok", "unknown-written"):
            offset = next_offset[partition]
            logs[partition].append((offset, value))
            next_offset[partition] += 1 + draw(st.sampled_from([0, 0, 0, 1]))
        outcome = fate.split("-")[0]
        sends.append(Send(process=process, session=sessions[process], seq=seqs[process],
                          value=value, partition=partition, outcome=outcome,
                          offset=offset if outcome == "ok" else None,
                          error=None if outcome == "ok" else "_MSG_TIMED_OUT",
                          invoke_s=value * 0.01, complete_s=value * 0.01 + 0.005))
        seqs[process] += 1
    reads = [Read(partition=p, log_start_offset=log_start[p], high_watermark=next_offset[p],
                  records=logs[p], complete=True, time_s=1.0) for p in range(partitions)]
    return Run(sends, reads)


def anomalies(report: Report) -> dict[str, int]:
    return {k: v for k, v in report.anomaly_counts().items() if v}


def send(value: int, *, process: int = 0, seq: int | None = None, partition: int = 0,
         outcome: str = "ok", offset: int | None = None, session: int = 0) -> Send:
    return Send(process=process, session=session, seq=value if seq is None else seq,
                value=value, partition=partition, outcome=outcome,  # type: ignore[arg-type]
                offset=offset, invoke_s=0.0, complete_s=0.1)


def read(partition: int, records: list[tuple[int, int | None]], complete: bool = True) -> Read:
    end = max((o for o, _ in records), default=-1) + 1
    return Read(partition=partition, log_start_offset=0, high_watermark=end, records=records,
                complete=complete, time_s=1.0)


# --- clean histories -------------------------------------------------------------------------


@given(clean_runs())
def test_clean_history_is_valid(run: Run) -> None:
    """A history a correct broker could produce has no anomaly, and the counts add up."""
    report = check(run.sends, run.reads)
    assert report.valid, report.summary()
    c = report.counts
    assert c.sends == len(run.sends) == c.ok + c.failed + c.unknown
    assert c.read == sum(len(r.records) for r in run.reads)
    assert c.recovered == c.read - c.ok


def test_empty_history_is_valid() -> None:
    """No sends and empty partitions: nothing to complain about."""
    assert check([], [read(0, [])]).valid


# --- each anomaly class ------------------------------------------------------------------------


@given(clean_runs(min_sends=2), st.data())
def test_lost_write(run: Run, data: st.DataObject) -> None:
    """An acknowledged record missing from the read below the highest offset read is
    exactly one lost write, with that send and the partition's highest offset read."""
    candidates = [(r, i) for r in run.reads for i, (_, v) in enumerate(r.records[:-1])
                  if run.by_value(v).outcome == "ok"]  # type: ignore[arg-type]
    assume(candidates)
    r, i = data.draw(st.sampled_from(candidates))
    victim = run.by_value(r.records[i][1])  # type: ignore[arg-type]
    broken = run.with_read(msgspec.structs.replace(r, records=r.records[:i] + r.records[i + 1:]))
    report = check(broken.sends, broken.reads)
    assert anomalies(report) == {"lost": 1}
    assert report.lost[0].send == victim
    assert report.lost[0].max_read_offset == r.records[-1][0]


@given(clean_runs(), st.data())
def test_unseen(run: Run, data: st.DataObject) -> None:
    """An acknowledged record at the end of a partition that the read lacks (the log
    ends below it) is exactly one unseen write, not a lost one."""
    candidates = [r for r in run.reads if r.records
                  and run.by_value(r.records[-1][1]).outcome == "ok"]  # type: ignore[arg-type]
    assume(candidates)
    r = data.draw(st.sampled_from(candidates))
    victim = run.by_value(r.records[-1][1])  # type: ignore[arg-type]
    broken = run.with_read(msgspec.structs.replace(r, records=r.records[:-1]))
    report = check(broken.sends, broken.reads)
    assert anomalies(report) == {"unseen": 1}
    assert report.unseen[0].send == victim
    assert report.unseen[0].max_read_offset == (r.records[-2][0] if len(r.records) > 1 else -1)


@given(clean_runs(), st.data())
def test_duplicate(run: Run, data: st.DataObject) -> None:
    """A value read a second time, at a new offset of any partition, is exactly one
    duplicate naming both places (and not also a reordering)."""
    written = [(r.partition, o, v) for r in run.reads for o, v in r.records]
    assume(written)
    partition, offset, value = data.draw(st.sampled_from(written))
    target = data.draw(st.sampled_from(run.reads))
    new_offset = max((o for o, _ in target.records), default=target.log_start_offset - 1) + 1
    broken = run.with_read(msgspec.structs.replace(
        target, records=[*target.records, (new_offset, value)], high_watermark=new_offset + 1))
    report = check(broken.sends, broken.reads)
    assert anomalies(report) == {"duplicates": 1}
    assert report.duplicates[0].value == value
    assert report.duplicates[0].places == sorted({(partition, offset),
                                                  (target.partition, new_offset)})


def test_inconsistent_offset_between_two_acks() -> None:
    """Two sends acknowledged at the same offset are an inconsistent offset with both
    values; the one the log does not hold is also lost (the read went past it)."""
    sends = [send(0, offset=0), send(1, offset=1), send(2, process=1, offset=1),
             send(3, offset=2)]
    report = check(sends, [read(0, [(0, 0), (1, 1), (2, 3)])])
    assert anomalies(report) == {"inconsistent_offsets": 1, "lost": 1}
    assert (report.inconsistent_offsets[0].partition, report.inconsistent_offsets[0].offset,
            report.inconsistent_offsets[0].values) == (0, 1, [1, 2])
    assert report.lost[0].send.value == 2


def test_inconsistent_offset_between_ack_and_read() -> None:
    """An acknowledged offset that the read shows holding another (unknown) send's
    value is an inconsistent offset, and the acknowledged value, read elsewhere, a
    duplicate of its acknowledged place."""
    sends = [send(0, offset=0), send(1, offset=1), send(2, process=1, outcome="unknown")]
    report = check(sends, [read(0, [(0, 0), (1, 2), (2, 1)])])
    assert anomalies(report) == {"inconsistent_offsets": 1, "duplicates": 1}
    assert report.inconsistent_offsets[0].values == [1, 2]
    assert report.duplicates[0].value == 1
    assert report.duplicates[0].places == [(0, 1), (0, 2)]


@given(clean_runs(min_sends=2), st.data())
def test_nonmonotonic_read(run: Run, data: st.DataObject) -> None:
    """Two neighbouring records of one producer session in one partition, swapped in the log,
    are one read-order inversion naming both sends; if both were acknowledged at
    the swapped offsets, the acknowledgements are one inversion too."""
    pairs = []  # neighbours in one session's subsequence of a partition
    for r in run.reads:
        last: dict[tuple[int, int], tuple[int, Send]] = {}
        for o, v in r.records:
            s = run.by_value(v)  # type: ignore[arg-type]
            if (s.process, s.session) in last:
                pairs.append((r, *last[(s.process, s.session)], o, s))
            last[(s.process, s.session)] = (o, s)
    assume(pairs)
    r, oa, a, ob, b = data.draw(st.sampled_from(pairs))
    records = [(o, b.value if o == oa else a.value if o == ob else v) for o, v in r.records]
    broken = run.with_read(msgspec.structs.replace(r, records=records))
    both_acked = a.outcome == b.outcome == "ok"
    if a.outcome == "ok":
        broken = broken.with_send(msgspec.structs.replace(a, offset=ob))
    if b.outcome == "ok":
        broken = broken.with_send(msgspec.structs.replace(b, offset=oa))
    report = check(broken.sends, broken.reads)
    assert anomalies(report) == {"nonmonotonic": 2 if both_acked else 1}
    by_source = {n.source: n for n in report.nonmonotonic}
    found = by_source["read"]
    assert (found.earlier.value, found.later.value) == (a.value, b.value)
    assert (found.earlier_offset, found.later_offset) == (ob, oa)
    if both_acked:
        assert (by_source["ack"].earlier_offset, by_source["ack"].later_offset) == (ob, oa)


def test_nonmonotonic_ack_only_within_one_session() -> None:
    """Offsets that go backwards between two sessions of one process, or between two
    processes, are not an anomaly; within one session they are."""
    sends = [send(0, offset=1, session=0, seq=0), send(1, offset=0, session=1, seq=1),
             send(2, process=1, offset=2, seq=0), send(3, process=2, offset=3, seq=0)]
    assert check(sends, [read(0, [(0, 1), (1, 0), (2, 2), (3, 3)])]).valid
    sends = [send(0, offset=1, seq=0), send(1, offset=0, seq=1)]
    report = check(sends, [read(0, [(0, 1), (1, 0)])])
    assert anomalies(report) == {"nonmonotonic": 2}
    assert {n.source for n in report.nonmonotonic} == {"ack", "read"}


@given(clean_runs(), st.data())
def test_aborted_read(run: Run, data: st.DataObject) -> None:
    """A send reported as certainly failed whose value is read is exactly one aborted read."""
    unknown_read = [(o, v) for r in run.reads for o, v in r.records
                    if run.by_value(v).outcome == "unknown"]  # type: ignore[arg-type]
    assume(unknown_read)
    offset, value = data.draw(st.sampled_from(unknown_read))
    broken = run.with_send(msgspec.structs.replace(run.by_value(value),  # type: ignore[arg-type]
                                               outcome="failed", error="MSG_SIZE_TOO_LARGE"))
    report = check(broken.sends, broken.reads)
    assert anomalies(report) == {"aborted_reads": 1}
    assert (report.aborted_reads[0].send.value, report.aborted_reads[0].offset) == (value, offset)


@given(clean_runs(), st.data(), st.sampled_from([None, 10_000]))
def test_unexpected(run: Run, data: st.DataObject, value: int | None) -> None:
    """A read record whose value nobody sent, or that is not an integer, is exactly
    one unexpected record."""
    r = data.draw(st.sampled_from(run.reads))
    offset = max((o for o, _ in r.records), default=r.log_start_offset - 1) + 1
    broken = run.with_read(msgspec.structs.replace(r, records=[*r.records, (offset, value)]))
    report = check(broken.sends, broken.reads)
    assert anomalies(report) == {"unexpected": 1}
    assert (report.unexpected[0].partition, report.unexpected[0].offset,
            report.unexpected[0].value) == (r.partition, offset, value)


@given(clean_runs(), st.data())
def test_incomplete_read(run: Run, data: st.DataObject) -> None:
    """A partition whose read did not reach the high watermark fails the run even
    when nothing else is wrong."""
    r = data.draw(st.sampled_from(run.reads))
    report = check(run.sends, run.with_read(msgspec.structs.replace(r, complete=False)).reads)
    assert anomalies(report) == {"incomplete_reads": 1}
    assert report.incomplete_reads == [r.partition]


def test_summary_names_the_anomalies() -> None:
    """A failing report's summary says INVALID, counts each class and shows the example."""
    report = check([send(0, offset=0), send(1, offset=1)], [read(0, [(1, 1)])])
    text = report.summary()
    assert text.startswith("INVALID")
    assert "lost 1" in text and "unseen 0" in text
    assert '"value":0' in text


# --- contracts and the history file --------------------------------------------------------------


def test_value_sent_twice_is_a_workload_bug() -> None:
    """Values must be unique per send; the checker refuses a history that reuses one."""
    with pytest.raises(ValueError, match="sent twice"):
        check([send(0, offset=0), send(0, seq=1, offset=1)], [])


def test_ok_send_needs_offset() -> None:
    """A Send is ok exactly when it has an offset."""
    with pytest.raises(ValueError):
        send(0, outcome="ok", offset=None)
    with pytest.raises(ValueError):
        send(0, outcome="unknown", offset=3)


@given(clean_runs())
def test_history_file_round_trip(tmp_path_factory: pytest.TempPathFactory, run: Run) -> None:
    """A history written as JSON lines loads back entry for entry, and checks the same."""
    path = tmp_path_factory.mktemp("history") / "history.jsonl"
    with History(path) as history:
        history.note("start")
        history.extend(run.sends)
        history.extend(run.reads)
        history.record(Event(time_s=2.0, text="done"))
    loaded = History.load(path)
    assert loaded.entries == history.entries
    assert check(loaded.sends, loaded.reads) == check(run.sends, run.reads)


def test_history_file_survives_a_crash(tmp_path: Path) -> None:
    """Entries are on disk as soon as they are recorded, before the history is closed."""
    history = History(tmp_path / "h.jsonl")
    history.record(send(0, offset=0))
    assert History.load(tmp_path / "h.jsonl").sends == [send(0, offset=0)]
    history.close()
