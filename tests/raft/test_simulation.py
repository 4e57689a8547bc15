"""Deterministic simulation of whole quorums under drawn fault schedules.

Each example is one `Schedule` (cluster shape, network and disk behaviour,
timers, proposal rate, and a list of timed faults), run by `sim.Simulation`,
which checks every invariant after every event and liveness at the end (see
the `sim` module docstring for the list). Hypothesis draws the schedules, so
a failure shrinks toward fewer and milder faults; the failing schedule is
printed as a `scripts/raft_replay.py --schedule ...` command that replays it
with a full event trace. `test_seeded_schedules` runs schedules from plain
integer seeds, replayable with `scripts/raft_replay.py --seed N`.

Budget: 3,032 schedules in all (500 + 1300 + 600 + 400 + 100 drawn, 102 + 30
seeded), about a minute and a half on a 2-core machine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.raft.schedule import Schedule, draw_schedule
from tests.raft.sim import InvariantViolation, Simulation

T = TypeVar("T")


def simulation_settings(max_examples: int) -> settings:
    """Explicit budget per test, whatever the active profile says."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


class DataPicker:
    """`sim.Picker` over hypothesis' `draw`."""

    def __init__(self, draw: Callable[[st.SearchStrategy[T]], T]) -> None:
        self._draw = draw

    def integer(self, low: int, high: int) -> int:
        return self._draw(st.integers(low, high))

    def choice(self, options: Sequence[T]) -> T:
        return self._draw(st.sampled_from(options))


@st.composite
def schedules(draw: st.DrawFn, voters: int, max_observers: int) -> Schedule:
    observers = draw(st.integers(0, max_observers))
    seed = draw(st.integers(0, 2**32 - 1))
    return draw_schedule(DataPicker(draw), voters, observers, seed)


def check(schedule: Schedule, replay: str) -> None:
    try:
        Simulation(schedule).run()
    except InvariantViolation as violation:
        message = f"{violation}\nreplay: python scripts/raft_replay.py {replay}"
        raise AssertionError(message) from None


def check_drawn(schedule: Schedule) -> None:
    check(schedule, f"--schedule '{schedule.to_json()}'")


@simulation_settings(500)
@given(schedules(voters=1, max_observers=2))
def test_single_voter(schedule: Schedule) -> None:
    """A one-voter quorum (with observers) keeps every invariant and stays live."""
    check_drawn(schedule)


@simulation_settings(1300)
@given(schedules(voters=3, max_observers=1))
def test_three_voters(schedule: Schedule) -> None:
    """Three voters keep every invariant under any drawn faults and recover once healed."""
    check_drawn(schedule)


@simulation_settings(600)
@given(schedules(voters=5, max_observers=1))
def test_five_voters(schedule: Schedule) -> None:
    """Five voters keep every invariant under any drawn faults and recover once healed."""
    check_drawn(schedule)


@simulation_settings(400)
@given(schedules(voters=3, max_observers=3))
def test_observers(schedule: Schedule) -> None:
    """Observers follow, catch up (by snapshot too) and never see uncommitted data."""
    check_drawn(schedule)


@st.composite
def membership_schedules(draw: st.DrawFn, voters: int) -> Schedule:
    seed = draw(st.integers(0, 2**32 - 1))
    return draw_schedule(DataPicker(draw), voters, draw(st.integers(0, 1)), seed, spares=2)


@simulation_settings(100)
@given(membership_schedules(voters=3))
def test_membership_changes(schedule: Schedule) -> None:
    """Voters added and removed (the leader too) amid crashes, partitions and loss
    keep every invariant, the voter sets agree, and the quorum recovers (KIP-853)."""
    check_drawn(schedule)


@pytest.mark.parametrize("voters", [1, 3])
@pytest.mark.parametrize("seed", range(0, 75, 5))
def test_seeded_membership_schedules(seed: int, voters: int) -> None:
    """Membership schedules from plain seeds pass (replay: raft_replay.py --seed N
    --voters V --spares 2)."""
    check(Schedule.from_seed(seed, voters, 1, spares=2),
          f"--seed {seed} --voters {voters} --observers 1 --spares 2")


@pytest.mark.parametrize("voters", [1, 3, 5])
@pytest.mark.parametrize("seed", range(0, 100, 3))
def test_seeded_schedules(seed: int, voters: int) -> None:
    """Schedules from plain seeds (replay: raft_replay.py --seed N --voters V) pass."""
    check(Schedule.from_seed(seed, voters, 1), f"--seed {seed} --voters {voters} --observers 1")
