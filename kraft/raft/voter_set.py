"""The voter set and kraft.version as the log defines them (KIP-853).

Kafka's `KRaftControlRecordStateMachine` with its `VoterSetHistory`: a
replica's voter set is the one in the *latest* VotersRecord it holds,
committed or not (Raft's single-server membership change: a change takes
effect when appended, so the old and the new set always share a majority
while at most one change is uncommitted). Truncating the log drops the
records above the truncation point, which reverts the set. The first entry,
at offset -1, is where the log starts from: the static
`controller.quorum.voters` (kraft.version 0), the bootstrap checkpoint
`kraft storage format` wrote, or the records of the snapshot at the log
start. When the log start moves past records, the last of them becomes that
base, so `at(offset)` answers for every offset still in the log.

Pure bookkeeping, no I/O: the core feeds it what it appends, truncates and
installs.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from kraft.raft.types import Entry, KRaftVersionRecord, QuorumRecord, VotersRecord

_T = TypeVar("_T")

BASE = -1
"""Offset of the entry the log starts from (bootstrap, static set or snapshot)."""


class VoterSetHistory:
    """Voter sets and kraft.version by the offset of the record that set them."""

    def __init__(self, voters: VotersRecord, kraft_version: int) -> None:
        self._voters: list[tuple[int, VotersRecord]] = [(BASE, voters)]
        self._versions: list[tuple[int, int]] = [(BASE, kraft_version)]

    # --- views ----------------------------------------------------------------

    @property
    def latest(self) -> VotersRecord:
        """The voter set in force at the log end."""
        return self._voters[-1][1]

    @property
    def latest_offset(self) -> int:
        """Offset of the latest VotersRecord (BASE if none is in the log)."""
        return self._voters[-1][0]

    @property
    def kraft_version(self) -> int:
        return self._versions[-1][1]

    def voters_at(self, end_offset: int) -> VotersRecord:
        """The voter set in force for the log prefix `[0, end_offset)`."""
        return next(v for o, v in reversed(self._voters) if o < end_offset)

    def kraft_version_at(self, end_offset: int) -> int:
        return next(v for o, v in reversed(self._versions) if o < end_offset)

    def records_at(self, end_offset: int) -> tuple[QuorumRecord, ...]:
        """What a snapshot ending at `end_offset` carries (Kafka writes both
        records into a snapshot's header batch); nothing for kraft.version 0,
        whose voters come from the configuration."""
        version = self.kraft_version_at(end_offset)
        if version == 0:
            return ()
        return (KRaftVersionRecord(version), self.voters_at(end_offset))

    # --- changes ----------------------------------------------------------------

    def appended(self, entries: Iterable[Entry]) -> bool:
        """Note the quorum records among appended entries; True if any."""
        changed = False
        for entry in entries:
            control = entry.control
            if isinstance(control, VotersRecord):
                self._voters.append((entry.offset, control))
                changed = True
            elif isinstance(control, KRaftVersionRecord):
                self._versions.append((entry.offset, control.kraft_version))
                changed = True
        return changed

    def truncated(self, end_offset: int) -> bool:
        """The log was truncated to `end_offset`: forget records at or above it."""
        before = len(self._voters) + len(self._versions)
        self._voters = [(o, v) for o, v in self._voters if o == BASE or o < end_offset]
        self._versions = [(o, v) for o, v in self._versions if o == BASE or o < end_offset]
        return len(self._voters) + len(self._versions) != before

    def reset(self, records: Iterable[QuorumRecord]) -> None:
        """The log now starts at a snapshot carrying `records`: they are the base
        (what the snapshot lacks keeps its current value)."""
        voters, version = self.latest, self.kraft_version
        for record in records:
            if isinstance(record, VotersRecord):
                voters = record
            else:
                version = record.kraft_version
        self._voters = [(BASE, voters)]
        self._versions = [(BASE, version)]

    def compact_before(self, log_start_offset: int) -> None:
        """The log start moved to `log_start_offset`: fold older records into the base."""
        self._voters = _fold(self._voters, log_start_offset)
        self._versions = _fold(self._versions, log_start_offset)


def _fold(history: list[tuple[int, _T]], start: int) -> list[tuple[int, _T]]:
    older = [value for offset, value in history if offset < start]
    return [(BASE, older[-1])] + [(o, v) for o, v in history if o >= start]
