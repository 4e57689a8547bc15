"""The recorded history of a queue workload: what was sent, what came of it, what was read.

Theory of operation. A run of the queue workload (tests/faults/workload.py)
is a set of producer *processes* (worker threads) that each send unique
integer values to chosen partitions of one topic, then one final read of
every partition. The checker (tests/faults/checker.py) decides from this
history alone whether the broker lost, duplicated or reordered anything, so
the history must say, for every send:

- who sent it: `process` (the worker) and `session` (which producer
  instance of that worker: a new one, hence a new producer id, after a
  fatal error); Kafka orders records only within one producer session and
  partition, so that is the unit of the monotonicity check;
- `seq`, the worker's own count of its sends (over all its sessions), so
  "later send" has a meaning independent of clocks;
- `value` (unique in the run) and `partition`;
- the outcome, as in Jepsen: `ok` with the offset the broker acknowledged,
  `failed` when the client reported an error that means the record was
  certainly not written, `unknown` otherwise (a timeout, a purge, no report
  before the deadline): an unknown send may or may not be in the log.

A `Read` is one partition read from the log start to the high watermark;
`complete` is false when the reader gave up before reaching it. `Event`s
are free-text notes with a time (the fault injected, a producer error), so a
failing run can be lined up against what was done to the cluster.

On disk a history is JSON lines, one entry per line, tagged by `kind`
("send", "read", "event"), written as entries are recorded and flushed, so
the file of a run that crashed still holds everything recorded before the
crash. `History.load(path)` reads one back. Times are seconds on the
monotonic clock since the history was created.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Literal

import msgspec

Outcome = Literal["ok", "failed", "unknown"]


class Send(msgspec.Struct, tag="send", tag_field="kind", frozen=True, kw_only=True):
    """One produce of one value, with its outcome. `offset` is set exactly when
    `outcome` is "ok"; `error` names the client's error for failed and unknown
    sends (None for an unknown with no report at all)."""

    process: int
    session: int
    seq: int
    value: int
    partition: int
    outcome: Outcome
    offset: int | None = None
    error: str | None = None
    invoke_s: float
    complete_s: float | None = None

    def __post_init__(self) -> None:
        if (self.outcome == "ok") != (self.offset is not None):
            raise ValueError(f"an ok send has an offset and no other does: {self}")


class Read(msgspec.Struct, tag="read", tag_field="kind", frozen=True, kw_only=True):
    """One partition as read at the end: `records` are (offset, value) in the
    order read, value None for a record whose value is not one of ours (not a
    decimal integer). `high_watermark` is where the read had to end;
    `complete` says it got there."""

    partition: int
    log_start_offset: int
    high_watermark: int
    records: list[tuple[int, int | None]]
    complete: bool
    time_s: float


class Event(msgspec.Struct, tag="event", tag_field="kind", frozen=True, kw_only=True):
    """A note for the reader of a history: a fault, a producer error, a phase."""

    time_s: float
    text: str


Entry = Send | Read | Event
_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Entry)


class History:
    """The entries of one run, in the order recorded; thread-safe to record into.

    With `path`, every entry is also appended to that file as one JSON line
    and flushed at once. Use as a context manager (or call `close`) to close
    the file.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.entries: list[Entry] = []
        self._lock = threading.Lock()
        self._t0 = time.monotonic()
        self._file: IO[bytes] | None = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(path, "ab")  # noqa: SIM115 -- closed by close()

    def now(self) -> float:
        """Seconds since this history was created (monotonic clock)."""
        return time.monotonic() - self._t0

    def record(self, entry: Entry) -> None:
        with self._lock:
            self.entries.append(entry)
            if self._file is not None:
                self._file.write(_encoder.encode(entry) + b"\n")
                self._file.flush()

    def note(self, text: str) -> None:
        """Record an Event now."""
        self.record(Event(time_s=self.now(), text=text))

    def extend(self, entries: Iterable[Entry]) -> None:
        for entry in entries:
            self.record(entry)

    @property
    def sends(self) -> list[Send]:
        with self._lock:
            return [e for e in self.entries if isinstance(e, Send)]

    @property
    def reads(self) -> list[Read]:
        with self._lock:
            return [e for e in self.entries if isinstance(e, Read)]

    @property
    def events(self) -> list[Event]:
        with self._lock:
            return [e for e in self.entries if isinstance(e, Event)]

    @classmethod
    def load(cls, path: Path) -> History:
        """The history written to `path` (not reopened for writing)."""
        history = cls()
        for line in path.read_bytes().splitlines():
            if line.strip():
                history.entries.append(_decoder.decode(line))
        return history

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
