#!/usr/bin/env python3
"""Benchmark: unavailability of a partition after kill -9 of its leader (three-node cluster).

Starts a LocalCluster (three nodes with both roles, free ports, a temporary
root unless --dir) with the fault tests' broker settings
(tests/faults/schedules.py FAST_FAILOVER, session timeout and heartbeat
overridable), creates a topic with 3 partitions, replication factor 3 and
min.insync.replicas 2, and runs one probe producer (confluent-kafka,
enable.idempotence, acks=all, linger.ms=2) that sends to the partitions in
turn at --rate sends/s, recording every delivery report in a History
(tests/faults/history.py).

Each of --kills rounds: pick a partition whose leader is not the active
controller (so the figure is a partition leader failure, not a controller
failover as well), SIGKILL that leader, and measure the time from the kill
to the first successful acks=all delivery report of a send to that
partition issued after the kill. Then restart the victim, wait for full ISR
on every partition and --settle seconds, and go on. The resolution is one
send interval to that partition (partitions / rate).

At the end every partition is read back and the queue checker runs over the
probe's sends (tests/faults/checker.py): the figure comes with proof that no
acknowledged write was lost on the way. Prints a markdown block for
docs/benchmarks.md: p50, p99 (nearest rank: with 10 kills, the maximum),
max and min, every measurement, and the settings used.

Usage:
    .venv/bin/python scripts/bench_failover.py [--kills 10] [--rate 300]
        [--session-timeout-ms 3000] [--heartbeat-interval-ms 500] [--dir DIR]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the harness lives in tests/faults

import confluent_kafka  # noqa: E402

from kraft.tools.local_cluster import LocalCluster  # noqa: E402
from tests.faults.history import History  # noqa: E402
from tests.faults.schedules import FAST_FAILOVER, Faults, wait_for  # noqa: E402
from tests.faults.workload import (  # noqa: E402
    Workload,
    WorkloadConfig,
    create_topic,
    read_and_check,
)

PARTITIONS = 3
RECOVERY_TIMEOUT_S = 120.0


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def first_ack_after(history: History, partition: int, since_s: float) -> float | None:
    """Completion time of the first ok send to `partition` invoked at or after `since_s`."""
    done = [s.complete_s for s in history.sends if s.partition == partition
            and s.outcome == "ok" and s.invoke_s >= since_s and s.complete_s is not None]
    return min(done) if done else None


def measure(args: argparse.Namespace, root: Path) -> str:
    overrides = {**FAST_FAILOVER,
                 "broker.session.timeout.ms": str(args.session_timeout_ms),
                 "broker.heartbeat.interval.ms": str(args.heartbeat_interval_ms)}
    samples: list[tuple[int, int, float]] = []  # (victim, partition, seconds)
    with LocalCluster(root / "cluster", ports=LocalCluster.free_ports(),
                      overrides=overrides) as cluster:
        cluster.start(RECOVERY_TIMEOUT_S)
        config = WorkloadConfig(bootstrap=cluster.bootstrap, topic="failover",
                                partitions=PARTITIONS, replication_factor=3,
                                min_insync_replicas=2, producers=1, rate=args.rate,
                                client="confluent", message_timeout_s=60.0)
        create_topic(config)
        with History(root / "failover.jsonl") as history:
            faults = Faults(cluster, config.topic, history)
            with Workload(config, history) as workload:
                if not workload.wait_acks(100, RECOVERY_TIMEOUT_S):
                    raise SystemExit("the probe got no acknowledgements before the first kill")
                for round_ in range(args.kills):
                    faults.wait_full_isr(RECOVERY_TIMEOUT_S)
                    time.sleep(args.settle)
                    partition, victim = faults.plain_leader()
                    killed_at = faults.kill(victim)
                    acked = wait_for(f"an acks=all produce to partition {partition} after "
                                     f"killing node {victim}",
                                     lambda p=partition, t=killed_at: first_ack_after(
                                         history, p, t), RECOVERY_TIMEOUT_S)
                    samples.append((victim, partition, acked - killed_at))
                    print(f"kill {round_ + 1}/{args.kills}: node {victim} (leader of partition "
                          f"{partition}): {acked - killed_at:.3f} s", file=sys.stderr)
                    faults.start(victim)
                faults.wait_full_isr(RECOVERY_TIMEOUT_S)
            report = read_and_check(config, history)
    return render(args, overrides, samples, report.summary().splitlines()[0],
                  report.valid)


def render(args: argparse.Namespace, overrides: dict[str, str],
           samples: list[tuple[int, int, float]], verdict: str, valid: bool) -> str:
    seconds = [s for _, _, s in samples]
    per_partition_rate = args.rate / PARTITIONS
    lines = [
        "## Failover: kill -9 of a partition leader (three nodes)",
        "",
        "`.venv/bin/python scripts/bench_failover.py"
        + (f" --kills {args.kills}" if args.kills != 10 else "")
        + (f" --session-timeout-ms {args.session_timeout_ms}"
           if args.session_timeout_ms != 3000 else "") + "`",
        "",
        f"Measured {time.strftime('%Y-%m-%d')}.",
        "",
        "| figure | value |",
        "| --- | ---: |",
        f"| kills | {len(seconds)} |",
        f"| produce unavailable after kill -9 of the leader, p50 (s) | "
        f"{nearest_rank(seconds, 0.5):.2f} |",
        f"| p99, nearest rank (s) | {nearest_rank(seconds, 0.99):.2f} |",
        f"| max (s) | {max(seconds):.2f} |",
        f"| min (s) | {min(seconds):.2f} |",
        "",
        "- each kill (s): " + ", ".join(f"{s:.2f}" for s in seconds),
        f"- checker over the probe's sends: {verdict}"
        + ("" if valid else " -- ANOMALIES, see the history"),
        "",
        "Settings:",
        "",
        f"- machine: {os.cpu_count()} cores, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}",
        "- cluster: 3 nodes, each broker + controller (combined mode) on loopback; "
        + ", ".join(f"{k}={v}" for k, v in overrides.items())
        + "; everything else Kafka's defaults (controller.quorum.election.timeout.ms=1000, "
        "controller.quorum.fetch.timeout.ms=2000)",
        f"- topic: {PARTITIONS} partitions, replication factor 3, min.insync.replicas=2",
        f"- probe: confluent-kafka {confluent_kafka.version()} (librdkafka "
        f"{confluent_kafka.libversion()[0]}), enable.idempotence=true acks=all linger.ms=2 "
        f"retry.backoff.ms=50 retry.backoff.max.ms=500 reconnect.backoff.max.ms=500; "
        f"{args.rate:g} sends/s over the partitions in turn "
        f"({1000 / per_partition_rate:.0f} ms between sends to one partition)",
        "- victim: the leader of a partition that is not the active controller; "
        "figure: SIGKILL to the first delivery report of a send to that partition "
        "issued after the kill; then restart, full ISR, "
        f"{args.settle:g} s settle before the next kill",
        "",
        "Kafka's defaults (broker.session.timeout.ms=9000, broker.heartbeat.interval.ms=2000)"
        " give about 9 s: a dead broker's partitions move only once the controller fences "
        "it, one session timeout after its last heartbeat.",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--rate", type=float, default=300.0, help="probe sends per second")
    parser.add_argument("--session-timeout-ms", type=int,
                        default=int(FAST_FAILOVER["broker.session.timeout.ms"]))
    parser.add_argument("--heartbeat-interval-ms", type=int,
                        default=int(FAST_FAILOVER["broker.heartbeat.interval.ms"]))
    parser.add_argument("--settle", type=float, default=2.0,
                        help="seconds of steady state before each kill")
    parser.add_argument("--dir", type=Path, help="keep the cluster and history here")
    args = parser.parse_args()
    if args.dir is not None:
        args.dir.mkdir(parents=True, exist_ok=True)
        print(measure(args, args.dir))
    else:
        with tempfile.TemporaryDirectory(prefix="bench-failover-") as tmp:
            print(measure(args, Path(tmp)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
