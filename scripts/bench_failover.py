#!/usr/bin/env python3
"""Benchmark: failover after kill -9 on a three-node cluster with default settings.

Starts a LocalCluster (three nodes with both roles, free ports, a temporary
root unless --dir) with Kafka's default settings unless --fast (the fault
tests' FAST_FAILOVER, tests/faults/schedules.py) or --set KEY=VALUE, creates
a topic with 3 partitions, replication factor 3 and min.insync.replicas 2,
and runs one probe producer (confluent-kafka, enable.idempotence, acks=all,
linger.ms=2) that sends to the partitions in turn at --rate sends/s,
recording every delivery report in a History (tests/faults/history.py).

Two kinds of round, --kills of each (default 20), alternating:

- controller: SIGKILL the active controller (quorum leader); the figure is
  the time from the kill until a DescribeQuorum answered by a new leader
  shows a high watermark past every voter's log end offset before the kill.
  A new leader's high watermark moves only once the LeaderChange record of
  its own epoch is committed (kraft.raft.quorum.next_high_watermark), so
  that is "a new leader committing". Polled every 10 ms on the survivors.
- partition: SIGKILL the leader of a partition that is not the active
  controller (so the figure is a partition leader failure, not a controller
  failover as well); the figure is the time from the kill to the first
  successful acks=all delivery report of a send to that partition issued
  after the kill. Resolution: one send interval to that partition.

After each round the victim restarts, every partition returns to full ISR
and --settle seconds pass. At the end every partition is read back and the
queue checker runs over the probe's sends (tests/faults/checker.py): the
figures come with proof that no acknowledged write was lost on the way.
Prints a markdown block for docs/benchmarks.md: p50, p90, max and min
(nearest rank) per kind, every measurement, and the settings used.

Usage:
    .venv/bin/python scripts/bench_failover.py [--kills 20] [--kinds controller,partition]
        [--rate 300] [--fast] [--set KEY=VALUE ...] [--dir DIR]
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
import trio  # noqa: E402
from kio.schema.errors import ErrorCode  # noqa: E402

from kraft.net.client import ConnectionFailed  # noqa: E402
from kraft.raft import messages as m  # noqa: E402
from kraft.raft import rpc  # noqa: E402
from kraft.tools import quorum_status  # noqa: E402
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
POLL_S = 0.01
KINDS = ("controller", "partition")


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def first_ack_after(history: History, partition: int, since_s: float) -> float | None:
    """Completion time of the first ok send to `partition` invoked at or after `since_s`."""
    done = [s.complete_s for s in history.sends if s.partition == partition
            and s.outcome == "ok" and s.invoke_s >= since_s and s.complete_s is not None]
    return min(done) if done else None


async def _describe(address: tuple[str, int]) -> m.DescribeQuorumResponse | None:
    try:
        return await quorum_status.describe(address, 0.5)
    except* (ConnectionFailed, rpc.PeerError):
        pass
    return None


def describe(address: tuple[str, int]) -> m.DescribeQuorumResponse | None:
    answer = trio.run(_describe, address)
    return answer if answer is not None and answer.error_code == ErrorCode.none else None


def controller_round(cluster: LocalCluster, faults: Faults) -> tuple[int, float]:
    """Kill the active controller; (victim, seconds until a new leader commits)."""
    victim = faults.controller()
    before = wait_for(f"DescribeQuorum from node {victim}",
                      lambda: describe(cluster.controller_address(victim)), RECOVERY_TIMEOUT_S)
    if before.leader_id != victim:
        raise SystemExit(f"node {victim} stopped leading before the kill; try again")
    end = max(r.log_end_offset for r in before.current_voters)
    survivors = [n for n in cluster.ids if n != victim]
    killed_at = time.monotonic()
    faults.kill(victim)
    deadline = killed_at + RECOVERY_TIMEOUT_S
    while time.monotonic() < deadline:
        for n in survivors:
            d = describe(cluster.controller_address(n))
            if (d is not None and d.leader_id not in (victim, -1)
                    and d.leader_epoch > before.leader_epoch and d.high_watermark > end):
                return victim, time.monotonic() - killed_at
        time.sleep(POLL_S)
    raise SystemExit(f"no new quorum leader committing within {RECOVERY_TIMEOUT_S:g} s "
                     f"after killing node {victim}")


def partition_round(faults: Faults, history: History) -> tuple[int, float]:
    """Kill a partition leader; (victim, seconds until an acks=all write to it succeeds)."""
    partition, victim = faults.plain_leader()
    killed_at = faults.kill(victim)
    acked = wait_for(f"an acks=all produce to partition {partition} after killing node {victim}",
                     lambda: first_ack_after(history, partition, killed_at), RECOVERY_TIMEOUT_S)
    return victim, acked - killed_at


def measure(args: argparse.Namespace, root: Path) -> str:
    overrides = dict(FAST_FAILOVER) if args.fast else {}
    overrides.update(args.set)
    samples: dict[str, list[float]] = {k: [] for k in args.kinds}
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
                    for kind in args.kinds:
                        faults.wait_full_isr(RECOVERY_TIMEOUT_S)
                        time.sleep(args.settle)
                        if kind == "controller":
                            victim, seconds = controller_round(cluster, faults)
                        else:
                            victim, seconds = partition_round(faults, history)
                        samples[kind].append(seconds)
                        print(f"{kind} kill {round_ + 1}/{args.kills}: node {victim}: "
                              f"{seconds:.3f} s", file=sys.stderr, flush=True)
                        faults.start(victim)
                faults.wait_full_isr(RECOVERY_TIMEOUT_S)
            report = read_and_check(config, history)
    return render(args, overrides, samples, report.summary().splitlines()[0], report.valid)


TITLES = {
    "controller": "active controller killed: a new quorum leader committing",
    "partition": "partition leader killed: acks=all writes to it succeed again",
}


def render(args: argparse.Namespace, overrides: dict[str, str],
           samples: dict[str, list[float]], verdict: str, valid: bool) -> str:
    per_partition_rate = args.rate / PARTITIONS
    command = "`.venv/bin/python scripts/bench_failover.py" + "".join(
        f" {a}" for a in sys.argv[1:]) + "`"
    lines = [
        "## Failover after kill -9 (three nodes)",
        "",
        command,
        "",
        f"Measured {time.strftime('%Y-%m-%d')}.",
        "",
        "| after kill -9 of the | kills | p50 (s) | p90 (s) | max (s) | min (s) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for kind, seconds in samples.items():
        lines.append(f"| {TITLES[kind]} | {len(seconds)} | {nearest_rank(seconds, 0.5):.2f} | "
                     f"{nearest_rank(seconds, 0.9):.2f} | {max(seconds):.2f} | "
                     f"{min(seconds):.2f} |")
    lines.append("")
    for kind, seconds in samples.items():
        lines.append(f"- {kind}, each kill (s): " + ", ".join(f"{s:.2f}" for s in seconds))
    settings = (", ".join(f"{k}={v}" for k, v in overrides.items()) + "; everything else"
                if overrides else "every setting")
    lines += [
        f"- checker over the probe's sends: {verdict}"
        + ("" if valid else " -- ANOMALIES, see the history"),
        "",
        "Settings:",
        "",
        f"- machine: {os.cpu_count()} cores, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}",
        "- cluster: 3 nodes, each broker + controller (combined mode) on loopback; "
        f"{settings} at its default",
        f"- topic: {PARTITIONS} partitions, replication factor 3, min.insync.replicas=2",
        f"- probe: confluent-kafka {confluent_kafka.version()} (librdkafka "
        f"{confluent_kafka.libversion()[0]}), enable.idempotence=true acks=all linger.ms=2 "
        f"retry.backoff.ms=50 retry.backoff.max.ms=500 reconnect.backoff.max.ms=500; "
        f"{args.rate:g} sends/s over the partitions in turn "
        f"({1000 / per_partition_rate:.0f} ms between sends to one partition)",
        "- controller figure: SIGKILL to a DescribeQuorum (polled every 10 ms on the "
        "survivors) naming a new leader whose high watermark is past every voter's log "
        "end offset before the kill",
        "- partition figure: SIGKILL of the leader of a partition that is not the active "
        "controller, to the first delivery report of a send to that partition issued after "
        "the kill",
        f"- after each kill: restart, full ISR, {args.settle:g} s settle",
    ]
    return "\n".join(lines)


def _setting(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return key.strip(), value.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20, help="kills of each kind")
    parser.add_argument("--kinds", default=",".join(KINDS),
                        help="comma-separated: controller, partition")
    parser.add_argument("--rate", type=float, default=300.0, help="probe sends per second")
    parser.add_argument("--fast", action="store_true",
                        help="the fault tests' FAST_FAILOVER broker settings instead of defaults")
    parser.add_argument("--set", type=_setting, action="append", default=[],
                        metavar="KEY=VALUE", help="a server.properties override (repeatable)")
    parser.add_argument("--settle", type=float, default=2.0,
                        help="seconds of steady state before each kill")
    parser.add_argument("--dir", type=Path, help="keep the cluster and history here")
    args = parser.parse_args()
    args.kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    unknown = [k for k in args.kinds if k not in KINDS]
    if unknown or not args.kinds:
        parser.error(f"--kinds takes {', '.join(KINDS)}; got {args.kinds}")
    if args.dir is not None:
        args.dir.mkdir(parents=True, exist_ok=True)
        print(measure(args, args.dir))
    else:
        with tempfile.TemporaryDirectory(prefix="bench-failover-") as tmp:
            print(measure(args, Path(tmp)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
