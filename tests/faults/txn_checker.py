"""The transactional queue checker: transactions and read_committed reads -> anomalies.

The transactional part of Jepsen's Kafka queue analysis (jepsen.tests.kafka
with `--txn`, as run on Redpanda and Bufstream), for the history of
tests/faults/txn_history.py. Pure: no I/O, no clock.

Observations. A delivery report says "value v is at (partition, offset)";
so does every record a reader returned. Kafka promises that each (partition,
offset) holds one value forever, that each value is written once, that a
read_committed reader sees a transaction's records only once it committed,
and then all of them. From the history:

- **aborted read** (Jepsen's G1a): a read_committed reader (final or live)
  returned a value of an aborted transaction;
- **lost**: a committed transaction's value that a final read never
  returned, although that read reached the partition's end;
- **torn**: a committed or unknown transaction of which a final reader
  returned some values but not all, or which one final reader saw and
  another did not (an unknown transaction may have committed or aborted,
  but all or nothing, and the same for everyone);
- **duplicate**: one value observed at two or more (partition, offset)
  places (read twice, or acknowledged at one offset and read at another);
- **inconsistent offset**: one (partition, offset) observed with two values;
- **nonmonotonic**: a reader's offsets within a partition that do not
  increase in the order delivered ("poll"), or two records of one producer
  session in one partition whose offsets disagree with the order they were
  produced in, by delivery reports ("ack") or by where they were read
  ("read"); transactions of one producer are sequential and idempotence
  keeps order within a partition;
- **unexpected**: a read value nobody sent (or not one of ours);
- **incomplete read**: a final read that did not reach its end offset;
- **open transaction**: a partition whose final read found the last stable
  offset below the high watermark: a transaction that never ended (the
  reads are taken after every producer stopped and the transaction timeout
  passed).

Unknown transactions that were read are counted as "recovered", not flagged.
Live reads (during the run) are a prefix of the log: they count for aborted
reads, duplicates, inconsistent offsets, poll order and unexpected values, not
for lost or torn.

`check(txns, reads)` returns a `TxnReport`; `valid` is true exactly when every
anomaly list is empty; `summary()` is a short text for a failing assertion.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable
from typing import ClassVar

import msgspec

from tests.faults.checker import (
    AnomalyReport,
    Duplicate,
    InconsistentOffset,
    Observation,
    find_duplicates,
    find_inconsistent_offsets,
)
from tests.faults.txn_history import Txn, TxnRead, TxnSend


class AbortedRead(msgspec.Struct, frozen=True):
    reader: str
    live: bool
    partition: int
    offset: int
    value: int
    process: int
    seq: int


class Lost(msgspec.Struct, frozen=True):
    """Committed `value` (of transaction process/seq) that `reader` never returned,
    though its read of `partition` reached `end_offset`."""

    reader: str
    partition: int
    value: int
    process: int
    seq: int
    end_offset: int


class Torn(msgspec.Struct, frozen=True):
    """Transaction process/seq (`outcome`) of which each final reader saw `seen` of `total`."""

    process: int
    seq: int
    outcome: str
    total: int
    seen: dict[str, int]


class Nonmonotonic(msgspec.Struct, frozen=True):
    """`source` "poll": `reader` delivered offset `later_offset` after `earlier_offset`
    in `partition`. "ack"/"read": values `earlier` then `later` produced in that
    order by one session landed at `earlier_offset` >= `later_offset`."""

    source: str
    partition: int
    earlier_offset: int
    later_offset: int
    earlier: int | None = None
    later: int | None = None
    reader: str | None = None


class Unexpected(msgspec.Struct, frozen=True):
    reader: str
    partition: int
    offset: int
    value: int | None


class Counts(msgspec.Struct, frozen=True):
    txns: int
    committed: int
    aborted: int
    unknown: int
    recovered: int  # unknown transactions whose values the final reads returned
    records_sent: int
    records_read: int  # by the final reads, all readers
    live_records_read: int


class TxnReport(AnomalyReport, frozen=True):
    counts: Counts
    aborted_reads: list[AbortedRead]
    lost: list[Lost]
    torn: list[Torn]
    duplicates: list[Duplicate]
    inconsistent_offsets: list[InconsistentOffset]
    nonmonotonic: list[Nonmonotonic]
    unexpected: list[Unexpected]
    incomplete_reads: list[tuple[str, int]]  # (reader, partition)
    open_transactions: list[tuple[str, int]]  # (reader, partition): LSO below HW

    ANOMALIES: ClassVar[tuple[str, ...]] = (
        "aborted_reads", "lost", "torn", "duplicates", "inconsistent_offsets",
        "nonmonotonic", "unexpected", "incomplete_reads", "open_transactions")


    def summary(self) -> str:
        c = self.counts
        lines = [f"{'valid' if self.valid else 'INVALID'}: {c.txns} transactions "
                 f"({c.committed} committed, {c.aborted} aborted, {c.unknown} unknown, "
                 f"{c.recovered} of them read), {c.records_sent} records sent, "
                 f"{c.records_read} read at the end, {c.live_records_read} read live",
                 *self.anomaly_lines()]
        return "\n".join(lines)


def check(txns: Iterable[Txn], reads: Iterable[TxnRead]) -> TxnReport:
    """The anomalies that `txns` and `reads` prove; see the module docstring.

    Contract: values are unique over all sends (a value sent twice raises
    ValueError: a workload bug); each reader has at most one final read per
    partition (a second raises ValueError).
    """
    txns = list(txns)
    reads = list(reads)
    owner: dict[int, tuple[Txn, int]] = {}  # value -> (its transaction, index in it)
    for t in txns:
        for i, s in enumerate(t.sends):
            if s.value in owner:
                raise ValueError(f"value {s.value} was sent twice")
            owner[s.value] = (t, i)
    final = [r for r in reads if not r.live]
    keys = [(r.reader, r.partition) for r in final]
    if len(set(keys)) != len(keys):
        raise ValueError("more than one final read of a partition by one reader")

    observations = [Observation(s.partition, s.offset, s.value, "ack")
                    for t in txns for s in t.sends if s.offset is not None]
    unexpected: list[Unexpected] = []
    aborted_reads: list[AbortedRead] = []
    for r in reads:
        for offset, value in r.records:
            found = owner.get(value) if value is not None else None
            if found is None or value is None:
                unexpected.append(Unexpected(r.reader, r.partition, offset, value))
                continue
            observations.append(Observation(r.partition, offset, value, r.reader))
            txn = found[0]
            if txn.outcome == "aborted":
                aborted_reads.append(AbortedRead(r.reader, r.live, r.partition, offset, value,
                                                 txn.process, txn.seq))

    seen = _seen_by_final_readers(final)
    lost, torn = _lost_and_torn(txns, final, seen)
    return TxnReport(
        counts=_counts(txns, reads, seen),
        aborted_reads=aborted_reads,
        lost=lost,
        torn=torn,
        duplicates=find_duplicates(observations),
        inconsistent_offsets=find_inconsistent_offsets(observations),
        nonmonotonic=(_poll_order(reads) + _ack_order(txns) + _read_order(final, owner)),
        unexpected=unexpected,
        incomplete_reads=sorted((r.reader, r.partition) for r in final if not r.complete),
        open_transactions=sorted((r.reader, r.partition) for r in final
                                 if r.end_offset < r.high_watermark),
    )


def _seen_by_final_readers(final: list[TxnRead]) -> dict[str, set[int]]:
    seen: dict[str, set[int]] = defaultdict(set)
    for r in final:
        seen[r.reader].update(v for _, v in r.records if v is not None)
    return seen


def _lost_and_torn(txns: list[Txn], final: list[TxnRead],
                   seen: dict[str, set[int]]) -> tuple[list[Lost], list[Torn]]:
    """Judge each committed or unknown transaction by every final reader that
    completed all of its partitions."""
    read_of = {(r.reader, r.partition): r for r in final}
    readers = sorted({r.reader for r in final})
    lost: list[Lost] = []
    torn: list[Torn] = []
    for t in txns:
        if t.outcome == "aborted" or not t.sends:
            continue
        counted: dict[str, int] = {}
        for reader in readers:
            parts = [read_of.get((reader, s.partition)) for s in t.sends]
            if not all(p is not None and p.complete for p in parts):
                continue  # an incomplete read is reported as such
            visible = [s for s in t.sends if s.value in seen[reader]]
            counted[reader] = len(visible)
            if t.outcome == "committed":
                lost.extend(_lost(reader, t, s, read_of) for s in t.sends
                            if s.value not in seen[reader])
        partly = any(0 < n < len(t.sends) for n in counted.values())
        disagree = len({n == 0 for n in counted.values()}) > 1
        if partly or disagree:
            torn.append(Torn(t.process, t.seq, t.outcome, len(t.sends), counted))
    return lost, torn


def _lost(reader: str, t: Txn, s: TxnSend, read_of: dict[tuple[str, int], TxnRead]) -> Lost:
    return Lost(reader, s.partition, s.value, t.process, t.seq,
                read_of[(reader, s.partition)].end_offset)


def _counts(txns: list[Txn], reads: list[TxnRead], seen: dict[str, set[int]]) -> Counts:
    outcomes = [t.outcome for t in txns]
    everything_seen = set().union(*seen.values()) if seen else set()
    return Counts(
        txns=len(txns), committed=outcomes.count("committed"),
        aborted=outcomes.count("aborted"), unknown=outcomes.count("unknown"),
        recovered=sum(1 for t in txns if t.outcome == "unknown"
                      and any(s.value in everything_seen for s in t.sends)),
        records_sent=sum(len(t.sends) for t in txns),
        records_read=sum(len(r.records) for r in reads if not r.live),
        live_records_read=sum(len(r.records) for r in reads if r.live),
    )


def _poll_order(reads: list[TxnRead]) -> list[Nonmonotonic]:
    """Each reader delivers a partition's records at strictly increasing offsets."""
    out = []
    for r in reads:
        for (a, _), (b, _) in itertools.pairwise(r.records):
            if b <= a:
                out.append(Nonmonotonic("poll", r.partition, a, b, reader=r.reader))
    return out


def _produced_order(txns: list[Txn]) -> dict[tuple[int, int, int], list[TxnSend]]:
    """Per (process, session, partition): the sends in the order produced."""
    streams: dict[tuple[int, int, int], list[TxnSend]] = defaultdict(list)
    for t in sorted(txns, key=lambda t: (t.process, t.seq)):
        for s in t.sends:
            streams[(t.process, t.session, s.partition)].append(s)
    return streams


def _ack_order(txns: list[Txn]) -> list[Nonmonotonic]:
    out = []
    for (_, _, partition), stream in sorted(_produced_order(txns).items()):
        acked = [s for s in stream if s.offset is not None]
        for a, b in itertools.pairwise(acked):
            assert a.offset is not None and b.offset is not None
            if b.offset <= a.offset:
                out.append(Nonmonotonic("ack", partition, a.offset, b.offset, a.value, b.value))
    return out


def _read_order(final: list[TxnRead], owner: dict[int, tuple[Txn, int]]) -> list[Nonmonotonic]:
    """In each final read, one session's values appear in the order produced. A
    value read twice is a duplicate and left out here."""
    out = []
    for r in final:
        counts: dict[int, int] = defaultdict(int)
        for _, v in r.records:
            if v is not None:
                counts[v] += 1
        last: dict[tuple[int, int], tuple[tuple[int, int], int, int]] = {}
        for offset, value in sorted(r.records):
            found = owner.get(value) if value is not None else None
            if found is None or value is None or counts[value] > 1:
                continue
            txn, index = found
            key, order = (txn.process, txn.session), (txn.seq, index)
            previous = last.get(key)
            if previous is not None and previous[0] > order:
                # `value` was produced before previous[2] but lies after it.
                out.append(Nonmonotonic("read", r.partition, offset, previous[1],
                                        value, previous[2], reader=r.reader))
            else:
                last[key] = (order, offset, value)
    return out
