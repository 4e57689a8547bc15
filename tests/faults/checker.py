"""The queue checker: a history of sends and final reads -> the anomalies it proves.

A port of the parts of Jepsen's Kafka queue analysis (jepsen.tests.kafka,
used on Redpanda and Bufstream) that apply to a plain, non-transactional
workload with one final read of every partition. Pure: no I/O, no clock.

Observations. Every acknowledged send says "value v is at (partition,
offset)"; every record of the final read says the same. Kafka promises
that each (partition, offset) holds one value forever and that, with
idempotence, each value is written once. From these observations:

- **inconsistent offset**: one (partition, offset) observed with two or more
  different values (two acks, or an ack and the read, disagree);
- **duplicate**: one value observed at two or more (partition, offset)
  places (read twice, acknowledged at one offset and read at another, or
  read in a partition it was not sent to);
- **lost write**: an acknowledged send whose value the final read never
  returned, although it returned some offset at or above the acknowledged
  one in that partition: the log moved past the write without it;
- **unseen**: an acknowledged send never read, with nothing read at or above
  its offset (Jepsen keeps these apart because a reader may just not have
  got there yet; our final read ends at the high watermark after the
  cluster healed, so both count against the run);
- **nonmonotonic**: two sends of one producer session to one partition that
  landed in the other order: acknowledged offsets that do not increase with
  `seq`, or (source "read") values read in an offset order that disagrees
  with their `seq` order (a value read twice counts as a duplicate only);
  Kafka's idempotent producer keeps order per
  partition, and a retry that lands out of order is exactly what it must
  prevent;
- **aborted read** (Jepsen's G1a): a send the client reported as certainly
  failed, whose value was read anyway;
- **unexpected**: a read record whose value nobody sent (or not one of our
  values at all): corruption or a record from elsewhere;
- **incomplete read**: a partition whose final read did not reach its high
  watermark; nothing can be concluded about it, so the run fails.

Unknown sends that were read are "recovered" (Jepsen's term) and counted,
not flagged: an indeterminate write may or may not take effect.

`check(sends, reads)` returns a `Report`; `Report.valid` is true exactly when
every anomaly list is empty, and `Report.summary()` is a short text for a
failing assertion (counts plus the first few of each anomaly).
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import ClassVar

import msgspec

from tests.faults.history import Read, Send

Place = tuple[int, int]  # (partition, offset)
EXAMPLES = 5  # anomalies of each kind shown in a summary


class Observation(msgspec.Struct, frozen=True):
    """Value `value` seen at `partition`/`offset` by `source` ("ack", "read" or a
    reader's name)."""

    partition: int
    offset: int
    value: int
    source: str


class InconsistentOffset(msgspec.Struct, frozen=True):
    partition: int
    offset: int
    values: list[int]
    observations: list[Observation]


class Duplicate(msgspec.Struct, frozen=True):
    value: int
    places: list[Place]
    observations: list[Observation]


class LostWrite(msgspec.Struct, frozen=True):
    """`send` was acknowledged at its offset, never read; `max_read_offset` is
    the highest offset read in its partition (>= the send's offset)."""

    send: Send
    max_read_offset: int


class Unseen(msgspec.Struct, frozen=True):
    """`send` was acknowledged, never read; nothing at or above its offset was
    read (`max_read_offset` -1 if nothing at all)."""

    send: Send
    max_read_offset: int


class Nonmonotonic(msgspec.Struct, frozen=True):
    """Sends `earlier` and `later` (by seq) of one producer session to one
    partition, found at offsets `earlier_offset` >= `later_offset` by `source`."""

    process: int
    session: int
    partition: int
    source: str
    earlier: Send
    later: Send
    earlier_offset: int
    later_offset: int


class AbortedRead(msgspec.Struct, frozen=True):
    send: Send
    offset: int


class Unexpected(msgspec.Struct, frozen=True):
    """A read record at `partition`/`offset` whose value (None: not an integer)
    no send in the history carries."""

    partition: int
    offset: int
    value: int | None


class Counts(msgspec.Struct, frozen=True):
    sends: int
    ok: int
    failed: int
    unknown: int
    read: int
    recovered: int  # unknown sends whose value was read


class AnomalyReport(msgspec.Struct, frozen=True):
    """What the checkers' reports share: lists of anomalies, named in ANOMALIES."""

    ANOMALIES: ClassVar[tuple[str, ...]] = ()

    @property
    def valid(self) -> bool:
        return not any(getattr(self, name) for name in self.ANOMALIES)

    def anomaly_counts(self) -> dict[str, int]:
        return {name: len(getattr(self, name)) for name in self.ANOMALIES}

    def anomaly_lines(self) -> list[str]:
        """The count of each kind, then up to EXAMPLES examples of each."""
        lines = ["anomalies: " + ", ".join(f"{k} {v}" for k, v in self.anomaly_counts().items())]
        for name in self.ANOMALIES:
            found = getattr(self, name)
            lines += [f"  {name}: {msgspec.json.encode(a).decode()}" for a in found[:EXAMPLES]]
            if len(found) > EXAMPLES:
                lines.append(f"  {name}: ... {len(found) - EXAMPLES} more")
        return lines


class Report(AnomalyReport, frozen=True):
    counts: Counts
    inconsistent_offsets: list[InconsistentOffset]
    duplicates: list[Duplicate]
    lost: list[LostWrite]
    unseen: list[Unseen]
    nonmonotonic: list[Nonmonotonic]
    aborted_reads: list[AbortedRead]
    unexpected: list[Unexpected]
    incomplete_reads: list[int]  # partitions

    ANOMALIES: ClassVar[tuple[str, ...]] = (
        "inconsistent_offsets", "duplicates", "lost", "unseen", "nonmonotonic",
        "aborted_reads", "unexpected", "incomplete_reads")


    def summary(self) -> str:
        c = self.counts
        lines = [f"{'valid' if self.valid else 'INVALID'}: {c.sends} sends ({c.ok} ok, "
                 f"{c.failed} failed, {c.unknown} unknown, {c.recovered} of them read), "
                 f"{c.read} records read",
                 *self.anomaly_lines()]
        return "\n".join(lines)


def check(sends: Iterable[Send], reads: Iterable[Read]) -> Report:
    """The anomalies that `sends` and the final `reads` prove; see the module docstring.

    Contract: values are unique per send (a value sent twice is a bug of the
    workload and raises ValueError); there is at most one Read per partition
    (a second one for the same partition raises ValueError).
    """
    sends = list(sends)
    reads = list(reads)
    by_value: dict[int, Send] = {}
    for s in sends:
        if s.value in by_value:
            raise ValueError(f"value {s.value} was sent twice: {by_value[s.value]} and {s}")
        by_value[s.value] = s
    if len({r.partition for r in reads}) != len(reads):
        raise ValueError("more than one Read of a partition")

    observations: list[Observation] = [
        Observation(s.partition, s.offset, s.value, "ack")
        for s in sends if s.outcome == "ok" and s.offset is not None
    ]
    unexpected: list[Unexpected] = []
    read_places: dict[int, list[Place]] = defaultdict(list)  # value -> places read
    max_read: dict[int, int] = {}
    for r in reads:
        for offset, value in r.records:
            max_read[r.partition] = max(max_read.get(r.partition, -1), offset)
            if value is None or value not in by_value:
                unexpected.append(Unexpected(r.partition, offset, value))
                continue
            observations.append(Observation(r.partition, offset, value, "read"))
            read_places[value].append((r.partition, offset))

    return Report(
        counts=_counts(sends, read_places, sum(len(r.records) for r in reads)),
        inconsistent_offsets=find_inconsistent_offsets(observations),
        duplicates=find_duplicates(observations),
        lost=[LostWrite(s, max_read[s.partition]) for s in _acked_unread(sends, read_places)
              if s.offset is not None and s.offset <= max_read.get(s.partition, -1)],
        unseen=[Unseen(s, max_read.get(s.partition, -1))
                for s in _acked_unread(sends, read_places)
                if s.offset is not None and s.offset > max_read.get(s.partition, -1)],
        nonmonotonic=_nonmonotonic_acks(sends) + _nonmonotonic_reads(reads, by_value),
        aborted_reads=[AbortedRead(by_value[v], places[0][1]) for v, places in
                       sorted(read_places.items()) if by_value[v].outcome == "failed"],
        unexpected=unexpected,
        incomplete_reads=sorted(r.partition for r in reads if not r.complete),
    )


def _counts(sends: list[Send], read_places: dict[int, list[Place]], read: int) -> Counts:
    outcomes = [s.outcome for s in sends]
    return Counts(
        sends=len(sends), ok=outcomes.count("ok"), failed=outcomes.count("failed"),
        unknown=outcomes.count("unknown"), read=read,
        recovered=sum(1 for s in sends if s.outcome == "unknown" and s.value in read_places),
    )


def _acked_unread(sends: list[Send], read_places: dict[int, list[Place]]) -> list[Send]:
    return [s for s in sends if s.outcome == "ok" and s.value not in read_places]


def find_inconsistent_offsets(observations: list[Observation]) -> list[InconsistentOffset]:
    at: dict[Place, list[Observation]] = defaultdict(list)
    for o in observations:
        at[(o.partition, o.offset)].append(o)
    return [InconsistentOffset(p, off, sorted({o.value for o in seen}), seen)
            for (p, off), seen in sorted(at.items()) if len({o.value for o in seen}) > 1]


def find_duplicates(observations: list[Observation]) -> list[Duplicate]:
    seen_at: dict[int, list[Observation]] = defaultdict(list)
    for o in observations:
        seen_at[o.value].append(o)
    out = []
    for value, seen in sorted(seen_at.items()):
        places = sorted({(o.partition, o.offset) for o in seen})
        if len(places) > 1:
            out.append(Duplicate(value, places, seen))
    return out


def _nonmonotonic_acks(sends: list[Send]) -> list[Nonmonotonic]:
    """Acknowledged offsets that do not grow with seq, per producer session and partition."""
    streams: dict[tuple[int, int, int], list[Send]] = defaultdict(list)
    for s in sends:
        if s.outcome == "ok":
            streams[(s.process, s.session, s.partition)].append(s)
    out = []
    for (process, session, partition), stream in sorted(streams.items()):
        stream.sort(key=lambda s: s.seq)
        for a, b in itertools.pairwise(stream):
            assert a.offset is not None and b.offset is not None
            if b.offset <= a.offset:
                out.append(Nonmonotonic(process, session, partition, "ack", a, b,
                                        a.offset, b.offset))
    return out


def _nonmonotonic_reads(reads: list[Read], by_value: dict[int, Send]) -> list[Nonmonotonic]:
    """Within each partition read in offset order, each producer session's seqs
    must increase. A value read more than once is a duplicate and left out
    here, so that one duplicate is not also reported as a reordering."""
    times_read = Counter(v for r in reads for _, v in r.records)
    out = []
    for r in sorted(reads, key=lambda r: r.partition):
        last: dict[tuple[int, int], tuple[Send, int]] = {}
        for offset, value in sorted(r.records):
            send = by_value.get(value) if value is not None else None
            if send is None or times_read[value] > 1:
                continue
            key = (send.process, send.session)
            previous = last.get(key)
            if previous is not None and previous[0].seq > send.seq:
                out.append(Nonmonotonic(send.process, send.session, r.partition, "read",
                                        send, previous[0], offset, previous[1]))
            else:
                last[key] = (send, offset)
    return out
