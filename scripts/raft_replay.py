#!/usr/bin/env python3
"""Replay one raft simulation and print its event trace.

    scripts/raft_replay.py --seed 42 --voters 3 --observers 1
    scripts/raft_replay.py --schedule '{"voters":3,...}'   # as printed by a failing test

A seed builds the schedule with `Schedule.from_seed` (the same generator the
seeded tests use); `--schedule` takes the JSON a failing hypothesis test
prints. The run is deterministic: the trace is the same every time. Prints
the schedule, the trace (last `--tail` lines, or all with `--tail 0`), then
either "OK" or the invariant that failed; exits 1 on failure.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.raft.schedule import Schedule
from tests.raft.sim import InvariantViolation, Simulation


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--seed", type=int, help="build the schedule from this integer seed")
    source.add_argument("--schedule", help="schedule JSON printed by a failing test")
    parser.add_argument("--voters", type=int, default=3, help="voters (with --seed)")
    parser.add_argument("--observers", type=int, default=0, help="observers (with --seed)")
    parser.add_argument("--spares", type=int, default=0,
                        help="spare controllers, kraft.version 1 with voter changes (with --seed)")
    parser.add_argument("--tail", type=int, default=200, help="trace lines to print; 0 = all")
    args = parser.parse_args(argv)

    if args.schedule is not None:
        schedule = Schedule.from_json(args.schedule)
    else:
        schedule = Schedule.from_seed(args.seed, args.voters, args.observers, args.spares)
    print(f"schedule: {schedule.to_json()}")
    sim = Simulation(schedule, trace=True)
    failure: InvariantViolation | None = None
    try:
        sim.run()
    except InvariantViolation as violation:
        failure = violation
    trace = sim.trace if args.tail == 0 else sim.trace[-args.tail :]
    if len(trace) < len(sim.trace):
        print(f"... {len(sim.trace) - len(trace)} earlier events not shown (--tail 0 for all)")
    print("\n".join(trace))
    print(f"{sim.events} events, {len(sim.committed)} offsets committed, t={sim.now} ms")
    if failure is None:
        print("OK: every invariant held and the quorum recovered")
        return 0
    print(f"FAILED: {failure}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
