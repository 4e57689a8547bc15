#!/usr/bin/env python3
"""Where `kraft dev`'s start-up goes: a timeline from spawn to the ready line.

Spawns `kraft dev` (through kraft.cli, as the command runs) on free ports with
a fresh data dir, --runs times, and prints for each step of the start the
median wall time since spawn and the CPU time the process had used by then:

- interpreter up: the child's first line of Python (site, the interpreter);
- first import of trio, kraft.run, kraft.node (Python's "import" audit
  events: when each import *starts*), and each listener's bind (the node is
  built, its imports done);
- each INFO line the node logs (elected leader, metadata caught up, active
  controller, registered, unfenced, ...), as the log record is made;
- every fsync (os.fsync and the time it took, summed per step; their number
  and total time before ready below the table);
- ready: the `ready` line read by this script; CPU read from /proc.

A diagnostic for issue 12 (start-up at the floor), beside
scripts/bench_broker.py --startup-only, which gives the figures. The child
records its marks in memory and writes them to a file at exit, so measuring
adds only a few microseconds per mark. Steps are matched across runs by their
text with numbers removed; a step missing from some runs is shown with the
runs that had it.

Usage:
    .venv/bin/python scripts/startup_timeline.py [--runs N] [-o KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kraft.tools.local_cluster import free_loopback_ports

CHILD = r'''
import time
T0 = time.perf_counter()
import atexit, json, os, sys
marks = [(T0, time.process_time(), "interpreter up")]
def mark(what):
    marks.append((time.perf_counter(), time.process_time(), what))
WATCHED = {"trio", "kraft.run", "kraft.node"}
def audit(event, args):
    if event == "import" and args[0] in WATCHED:
        WATCHED.discard(args[0])
        mark(f"import {args[0]} begins")
    elif event == "socket.bind":
        mark(f"bind {args[1]}")
sys.addaudithook(audit)
_fsync = os.fsync
def fsync(fd):
    start = time.perf_counter()
    _fsync(fd)
    mark(f"fsync {(time.perf_counter() - start) * 1000:.3f}")
os.fsync = fsync
import logging
_factory = logging.getLogRecordFactory()
def record(*args, **kwargs):
    r = _factory(*args, **kwargs)
    if r.levelno >= logging.INFO:
        mark(r.getMessage())
    return r
logging.setLogRecordFactory(record)
atexit.register(lambda: open(os.environ["KRAFT_TIMELINE_OUT"], "w").write(json.dumps(marks)))
sys.argv[0] = "kraft"
from kraft.cli import main
sys.exit(main(sys.argv[1:]))
'''


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_start(work: Path, extra: list[str]) -> list[tuple[float, float, str]]:
    """One start (`extra`: more `kraft dev` arguments): [(wall ms since spawn, CPU ms,
    step)], up to ready."""
    data, out = work / "data", work / "marks.json"
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir()
    port, controller_port = free_loopback_ports(2)
    argv = [sys.executable, "-c", CHILD, "dev", *extra, "--port", str(port),
            "--controller-port", str(controller_port), "--data-dir", str(data)]
    spawned = time.perf_counter()  # CLOCK_MONOTONIC: the same clock as the child's
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env={**os.environ, "KRAFT_TIMELINE_OUT": str(out)})
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if "ready" in line and "bootstrap.servers=" in line:
                ready, ready_cpu = time.perf_counter(), cpu_seconds(proc.pid)
                break
        else:
            raise SystemExit(f"kraft dev exited with {proc.wait()} before ready")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    marks = [(wall, cpu, what) for wall, cpu, what in json.loads(out.read_text())
             if wall <= ready]
    steps = [((wall - spawned) * 1000, cpu * 1000, what) for wall, cpu, what in marks]
    return [*steps, ((ready - spawned) * 1000, ready_cpu * 1000, "ready line read")]


def _key(what: str) -> str:
    return re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}|\d+(\.\d+)?", "N", what)[:90]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--override", "-o", action="append", default=[], metavar="KEY=VALUE",
                        help="passed to kraft dev (repeatable)")
    args = parser.parse_args()
    extra = [f"--override={o}" for o in args.override]
    runs = []
    with tempfile.TemporaryDirectory(prefix="kraft-timeline-") as tmp:
        for _ in range(args.runs):
            runs.append(one_start(Path(tmp), extra))
    # Steps in the order of the first run; fsyncs folded into the step they follow.
    order: list[str] = []
    walls: dict[str, list[float]] = {}
    cpus: dict[str, list[float]] = {}
    fsync_ms: dict[str, list[float]] = {}
    for steps in runs:
        seen: dict[str, int] = {}
        last, spent = "spawn", 0.0
        for wall, cpu, what in steps:
            if what.startswith("fsync "):
                spent += float(what.split()[1])
                continue
            key = _key(what)
            seen[key] = seen.get(key, 0) + 1
            if seen[key] > 1:
                key = f"{key} (#{seen[key]})"
            if key not in walls:
                order.append(key)
                walls[key], cpus[key], fsync_ms[key] = [], [], []
            walls[key].append(wall)
            cpus[key].append(cpu)
            fsync_ms.setdefault(last, []).append(spent)
            last, spent = key, 0.0
    print(f"`{' '.join(sys.argv)}` ({args.runs} starts, load average "
          f"{os.getloadavg()[0]:.1f}); medians, ms since spawn")
    print()
    print("| step | wall | CPU | fsyncs after it |")
    print("| --- | ---: | ---: | ---: |")
    for key in sorted(order, key=lambda k: statistics.median(walls[k])):
        n = len(walls[key])
        runs_note = "" if n == args.runs else f" ({n} of {args.runs} runs)"
        fs = fsync_ms.get(key) or [0.0]
        print(f"| {key}{runs_note} | {statistics.median(walls[key]):.1f} | "
              f"{statistics.median(cpus[key]):.1f} | {statistics.median(fs):.1f} |")
    counts = [sum(1 for _, _, what in steps if what.startswith("fsync ")) for steps in runs]
    totals = [sum(float(what.split()[1]) for _, _, what in steps if what.startswith("fsync "))
              for steps in runs]
    print()
    print(f"fsyncs before ready: {statistics.median(counts):g} taking "
          f"{statistics.median(totals):.1f} ms in all (medians)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
