"""The recorded history of the transactional queue workload (Jepsen's `queue --txn`).

Theory of operation. A run of the transactional workload
(tests/faults/txn_workload.py) is a set of producer *processes* (worker
threads, one transactional.id each) that each run transactions one after the
other; a transaction sends several unique integer values to several
partitions of one topic, then asks for a commit or (randomly) an abort. The
checker (tests/faults/txn_checker.py) decides from this history alone whether
the broker showed aborted data, lost or tore committed transactions,
duplicated or reordered records. For every transaction the history says:

- who ran it: `process` and `session` (the producer instance of that process;
  a new one after a fatal error or fencing, with the same transactional.id),
  and `seq`, the process's count of its transactions;
- `intent`: whether the workload asked to commit or to abort it;
- `outcome`, as Jepsen records it: `committed` (commit_transaction returned),
  `aborted` (never asked to commit, or abort_transaction returned after a
  failed commit: the coordinator accepted the abort), or `unknown` (a commit
  was asked and no answer says how it ended: a timeout, a fatal error, the
  producer fenced or abandoned). An unknown transaction may have committed or
  aborted, but must be all or nothing;
- `sends`: each record in the order produced, with the offset its delivery
  report gave (None without a successful report) or the report's error.

A `TxnRead` is one partition as one read_committed reader saw it: the final
reads (`live` false) go from the log start to the end offset taken after the
cluster healed and every transaction ended; live reads (`live` true) are what
a reader polling during the run got, a prefix of the log. `Event`s (from
tests/faults/history.py) note faults and producer trouble.

On disk a history is JSON lines, one entry per line tagged by `kind` ("txn",
"txn-read", "event"), flushed as recorded (the `History` machinery).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import msgspec

from tests.faults.history import Entry, Event, History

Intent = Literal["commit", "abort"]
TxnOutcome = Literal["committed", "aborted", "unknown"]


class TxnSend(msgspec.Struct, frozen=True, kw_only=True):
    """One record of a transaction: `value` (unique in the run) to `partition`;
    `offset` from a successful delivery report, else None and `error`."""

    partition: int
    value: int
    offset: int | None = None
    error: str | None = None


class Txn(msgspec.Struct, tag="txn", tag_field="kind", frozen=True, kw_only=True):
    """One transaction and how it ended (see the module docstring)."""

    process: int
    session: int
    seq: int
    intent: Intent
    outcome: TxnOutcome
    sends: list[TxnSend]
    error: str | None = None
    invoke_s: float = 0.0
    complete_s: float | None = None

    def __post_init__(self) -> None:
        if self.intent == "abort" and self.outcome != "aborted":
            raise ValueError(f"a transaction never asked to commit is aborted: {self}")


class TxnRead(msgspec.Struct, tag="txn-read", tag_field="kind", frozen=True, kw_only=True):
    """One partition as `reader` read it with isolation level read_committed.
    `records` are (offset, value) in the order delivered (value None for a
    record that is not one of ours). For a final read `end_offset` is where it
    had to end (the last stable offset), `high_watermark` the high watermark
    then, and `complete` says it got there; a live read is incomplete by nature."""

    reader: str
    partition: int
    records: list[tuple[int, int | None]]
    live: bool = False
    end_offset: int = -1
    high_watermark: int = -1
    complete: bool = False
    time_s: float = 0.0


TxnEntry = Entry | Txn | TxnRead
_decoder = msgspec.json.Decoder(TxnEntry)


class TxnHistory(History):
    """A `History` that also holds transactions and read_committed reads (its
    `entries` list holds them too: History's own type annotations name only
    the entries of the idempotent queue, hence the ignores below)."""

    def record(self, entry: TxnEntry) -> None:
        super().record(entry)  # type: ignore[arg-type]

    def extend(self, entries: Iterable[TxnEntry]) -> None:
        for entry in entries:
            self.record(entry)

    @property
    def txns(self) -> list[Txn]:
        with self._lock:
            return [e for e in self.entries if isinstance(e, Txn)]

    @property
    def txn_reads(self) -> list[TxnRead]:
        with self._lock:
            return [e for e in self.entries if isinstance(e, TxnRead)]

    def __enter__(self) -> TxnHistory:
        return self

    @classmethod
    def load(cls, path: Path) -> TxnHistory:
        """The history written to `path` (not reopened for writing)."""
        history = cls()
        for line in path.read_bytes().splitlines():
            if line.strip():
                history.entries.append(_decoder.decode(line))  # type: ignore[arg-type]
        return history


__all__ = ["Event", "Intent", "Txn", "TxnEntry", "TxnHistory", "TxnOutcome", "TxnRead",
           "TxnSend"]
