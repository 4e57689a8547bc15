#!/usr/bin/env python3
"""Benchmark: three raft voters on loopback (real processes, real disks).

1. Commit latency (propose -> committed on the leader) p50/p99 at a steady
   rate, and committed records/s at saturation with batched proposals, as
   reported by `kraft raft-test-server` once a second.
2. Failover: time from kill -9 of the leader until a record proposed by a new
   leader is committed, p50/p99 over --kills kills, with Kafka's default
   timeouts and with shorter ones.

Reference measured in the same run: fsync latency of a 1 KiB append in the
same directory (a commit needs a flush on a majority, so it cannot beat it).

Usage: .venv/bin/python scripts/bench_raft.py [--kills 20] [--seconds 8]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.raft.local_quorum import LocalQuorum

LINE = re.compile(r"latency p50=([\d.]+)ms p99=([\d.]+)ms committed/s=(\d+)")


def fsync_latency_ms(directory: Path, n: int = 200) -> tuple[float, float]:
    path = directory / "fsync-probe"
    samples = []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        for _ in range(n):
            start = time.perf_counter()
            os.write(fd, b"x" * 1024)
            os.fsync(fd)
            samples.append((time.perf_counter() - start) * 1000)
    finally:
        os.close(fd)
        path.unlink()
    samples.sort()
    return samples[len(samples) // 2], samples[int(len(samples) * 0.99) - 1]


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def leader_reports(q: LocalQuorum) -> list[tuple[float, float, int]]:
    rows = []
    for i in q.ids:
        for line in (q.dir(i) / "stdout.log").read_text().splitlines():
            m = LINE.search(line)
            if m:
                rows.append((float(m[1]), float(m[2]), int(m[3])))
    return rows


def steady(root: Path, rate: float, batch: int, seconds: float) -> tuple[float, float, float]:
    with LocalQuorum(root, rate=rate, batch=batch) as q:
        q.start_all()
        deadline = time.monotonic() + 30
        while not leader_reports(q) and time.monotonic() < deadline:
            time.sleep(0.1)  # until a leader commits
        time.sleep(seconds + 1)
        rows = leader_reports(q)[1:]  # skip the first, partial second
    if not rows:
        raise SystemExit(f"no latency reports in {root}")
    return (statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows),
            statistics.median(r[2] for r in rows))


def epoch_of(payload: str) -> int:
    return int(payload.split("-")[1])


def failover(root: Path, kills: int, extra: dict[str, str]) -> list[float]:
    times = []
    with LocalQuorum(root, rate=500, batch=5, extra=extra) as q:
        q.start_all()
        for _ in range(kills):
            # Find the leader: the author of the latest committed record.
            deadline = time.monotonic() + 30
            leader = epoch = None
            while time.monotonic() < deadline:
                seen = [q.committed(i) for i in q.ids if q.alive(i)]
                latest = max((c[-1] for c in seen if c), key=epoch_of, default=None)
                if latest and all(q.alive(i) for i in q.ids):
                    leader, epoch = int(latest.split("-")[0]), epoch_of(latest)
                    break
                time.sleep(0.05)
            if leader is None:
                raise SystemExit("no leader committing")
            killed_at = time.monotonic()
            q.kill(leader)
            rest = [i for i in q.ids if i != leader]
            while time.monotonic() - killed_at < 60:
                if any(c and epoch_of(c[-1]) > epoch for c in (q.committed(i) for i in rest)):
                    times.append(time.monotonic() - killed_at)
                    break
                time.sleep(0.01)
            else:
                raise SystemExit("no new leader within 60 s")
            q.start(leader)
            time.sleep(1.0)  # let it rejoin before the next kill
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=8)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench-raft-"))
    p50, p99 = fsync_latency_ms(base)
    print(f"reference: 1 KiB append + fsync in {base}: p50 {p50:.2f} ms, p99 {p99:.2f} ms\n")
    print("| workload | commit p50 ms | commit p99 ms | committed records/s |")
    print("| --- | ---: | ---: | ---: |")
    for name, rate, batch in [("steady 1,000 rec/s, batches of 10", 1000, 10),
                              ("saturation, batches of 500", 100_000, 500)]:
        lat50, lat99, per_s = steady(base / name.split()[0].strip(","), rate, batch, args.seconds)
        print(f"| {name} | {lat50:.1f} | {lat99:.1f} | {per_s:,.0f} |", flush=True)
    print()
    print("| timeouts | kills | failover p50 s | p99 s | max s |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, extra in [
        ("Kafka defaults (election 1000 ms, fetch 2000 ms)", {}),
        ("short (election 300 ms, fetch 600 ms)",
         {"controller.quorum.election.timeout.ms": "300",
          "controller.quorum.fetch.timeout.ms": "600"}),
    ]:
        times = failover(base / f"failover{len(extra)}", args.kills, extra)
        print(f"| {name} | {len(times)} | {percentile(times, 0.5):.2f} | "
              f"{percentile(times, 0.99):.2f} | {max(times):.2f} |", flush=True)


if __name__ == "__main__":
    main()
