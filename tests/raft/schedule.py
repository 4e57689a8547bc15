"""Fault schedules for the raft simulation: what happens, when, to whom.

A `Schedule` fixes everything that determines a run: cluster shape, the seed
of the simulation's randomness, network and disk behaviour, timer scale,
proposal rate, snapshot threshold, and a list of timed `Fault`s. It is drawn
either by hypothesis (`test_simulation.py`, so failures shrink) or from a
plain integer seed (`Schedule.from_seed`, for `scripts/raft_replay.py`),
through the same `draw_schedule`. It round-trips through JSON so a failing
test can print it and the replay script can take it back.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Protocol, TypeVar

from kraft import kafka_uuid
from kraft.raft import QuorumConfig
from kraft.raft.types import VoterNode

T = TypeVar("T")

LIVENESS_MS = 25_000
"""After the fault phase, a leader must commit a new proposal everywhere within this."""
FAULT_KINDS = (
    "snapshot",
    "resign",
    "pause",
    "one_way",
    "isolate",
    "partition",
    "crash",
    "crash_leader",
    "isolate_leader",
    "pause_leader",
)
MEMBERSHIP_KINDS = ("add_voter", "remove_voter", "remove_leader")
"""Voter changes (KIP-853), drawn only for kraft.version 1 schedules: the
simulation's admin asks the leader of the moment to add a non-voter or
remove a voter (or the leader itself)."""
SPARE_BASE_ID = 201
"""Spares are controllers formatted --no-initial-controllers: observers until added."""


def directory_id(node_id: int) -> str:
    """A node's metadata directory id in the simulation (a Kafka Uuid string)."""
    return kafka_uuid.encode(uuid.UUID(int=node_id + 1000))


@dataclass(frozen=True)
class Fault:
    """One fault at `at_ms`, undone after `duration_ms` (0: at the stable phase).

    `nodes` index the node list (modulo its length); `*_leader` kinds pick the
    leader at that moment instead. A crash restarts the node when it ends;
    `keep` unflushed entries survive it (-1: all, as if the page cache was
    written back).
    """

    at_ms: int
    kind: str
    nodes: tuple[int, ...] = ()
    duration_ms: int = 0
    keep: int = 0


@dataclass(frozen=True)
class Schedule:
    """Everything that determines one simulation run."""

    voters: int = 3
    observers: int = 0
    seed: int = 0
    fast_timers: bool = False
    drop_rate: float = 0.0
    duplicate_rate: float = 0.0
    max_delay_ms: int = 10
    max_disk_delay_ms: int = 5
    fetch_max_bytes: int = 0
    append_linger_ms: int = 25
    proposal_interval_ms: int = 100
    snapshot_bytes: int = 0
    fault_phase_ms: int = 3000
    faults: tuple[Fault, ...] = ()
    kraft_version: int = 0
    spares: int = 0

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Schedule:
        raw = json.loads(text)
        raw["faults"] = tuple(
            Fault(f["at_ms"], f["kind"], tuple(f["nodes"]), f["duration_ms"], f["keep"])
            for f in raw["faults"]
        )
        return cls(**raw)

    @classmethod
    def from_seed(cls, seed: int, voters: int = 3, observers: int = 0,
                  spares: int = 0) -> Schedule:
        """A schedule drawn from a plain integer seed (no hypothesis); with
        spares, a kraft.version 1 quorum whose voters change."""
        return draw_schedule(RandomPicker(random.Random(seed)), voters, observers, seed, spares)

    def config(self, node_id: int) -> QuorumConfig:
        voters = tuple(range(1, self.voters + 1))
        values: dict[str, int] = {"append_linger_ms": self.append_linger_ms}
        if self.fast_timers:
            values |= FAST_TIMERS
        if self.fetch_max_bytes:
            values["fetch_max_bytes"] = self.fetch_max_bytes
            values["fetch_snapshot_max_bytes"] = self.fetch_max_bytes
        if self.snapshot_bytes:
            values["log_max_record_bytes_between_snapshots"] = self.snapshot_bytes
        if self.kraft_version == 0:
            return QuorumConfig(node_id=node_id, voters=voters, **values)
        # kraft.version 1: the initial voters were formatted --initial-controllers,
        # everyone else (observers, spares) with no voter set.
        initial = node_id in voters
        return QuorumConfig(
            node_id=node_id, voters=voters if initial else (), kraft_version=1,
            voter_nodes=tuple(VoterNode(v, directory_id(v), (("CONTROLLER", f"n{v}", 9093),))
                              for v in voters) if initial else (),
            directory_id=directory_id(node_id), bootstrap_servers=voters,
            # Odd ids advertise another port than the one they were formatted or added
            # with: as voters they correct their entry (UpdateRaftVoter, or at the
            # start of their epoch as leader), so schedules change endpoints too.
            local_listeners=(("CONTROLLER", f"n{node_id}", 9093 + node_id % 2),), **values)


FAST_TIMERS = {
    "election_timeout_ms": 150,
    "fetch_timeout_ms": 300,
    "election_backoff_max_ms": 150,
    "request_timeout_ms": 300,
    "retry_backoff_ms": 5,
    "fetch_max_wait_ms": 50,
}
"""Kafka's timers scaled down ~7x: more elections per simulated second."""


class Picker(Protocol):
    """Where a schedule's choices come from: hypothesis data or a Random."""

    def integer(self, low: int, high: int) -> int: ...

    def choice(self, options: Sequence[T]) -> T: ...


class RandomPicker:
    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def integer(self, low: int, high: int) -> int:
        return self._rng.randint(low, high)

    def choice(self, options: Sequence[T]) -> T:
        return self._rng.choice(options)


def draw_schedule(
    pick: Picker, voters: int, observers: int, seed: int, spares: int = 0
) -> Schedule:
    """Draw a schedule; the first option of each choice is the benign one, so
    hypothesis shrinks failures toward fewer, milder faults. With `spares`
    (kraft.version 1) membership changes are drawn too, as often as the rest."""
    fault_phase_ms = pick.integer(500, 4000)
    faults = []
    kinds = FAULT_KINDS + MEMBERSHIP_KINDS * 4 if spares else FAULT_KINDS
    for _ in range(pick.integer(0, 12)):
        kind = pick.choice(kinds)
        faults.append(
            Fault(
                at_ms=pick.integer(0, fault_phase_ms),
                kind=kind,
                nodes=tuple(pick.integer(0, 7) for _ in range(pick.integer(1, 3))),
                duration_ms=pick.choice((0, 50, 300, 1000, 2500)),
                keep=pick.choice((0, 1, 3, -1)),
            )
        )
    return Schedule(
        voters=voters,
        observers=observers,
        seed=seed,
        fast_timers=pick.choice((False, True)),
        drop_rate=pick.choice((0.0, 0.02, 0.1, 0.3)),
        duplicate_rate=pick.choice((0.0, 0.05, 0.2)),
        max_delay_ms=pick.choice((1, 5, 20, 60)),
        max_disk_delay_ms=pick.choice((0, 2, 10, 40, 300)),
        fetch_max_bytes=pick.choice((0, 1000, 250)),
        append_linger_ms=pick.choice((25, 0, 5)),
        proposal_interval_ms=pick.choice((100, 20, 50, 300)),
        snapshot_bytes=pick.choice((0, 2000, 600)),
        fault_phase_ms=fault_phase_ms,
        faults=tuple(sorted(faults, key=lambda f: f.at_ms)),
        kraft_version=1 if spares else 0,
        spares=spares,
    )
