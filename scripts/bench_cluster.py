#!/usr/bin/env python3
"""Three-node cluster benchmark: produce throughput and latency with replication.

    .venv/bin/python scripts/bench_cluster.py [--quick] [--repeat R]

Runs, in one process tree and one run: a single-node `kraft dev` (replication
factor 1) and a three-node `LocalCluster` (replication factor 3,
min.insync.replicas 2), both on free ports with fresh data, plus the same-run
references (raw loopback TCP and raw disk write + fsync). For each target and
acks=all / acks=1: produce throughput of 100-byte records (records/s) and
1 KiB records (MB/s) into one partition with kcat (librdkafka, C) if it is
installed, else confluent-kafka; and produce latency p50/p99 (delivery report,
linger.ms=0) at a fixed --rate (default 500 records/s) with confluent-kafka. Every produce is
checked against the partition's high watermark afterwards ("LOST" if short).
Prints a table and a markdown block for docs/benchmarks.md. Load helpers are
shared with scripts/bench_broker.py.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench_broker as bb

from kraft.tools.local_cluster import LocalCluster


def create_topic(bootstrap: str, topic: str, replication: int) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    config = {"min.insync.replicas": "2"} if replication >= 3 else {}
    admin.create_topics([NewTopic(topic, 1, replication, config=config)])[topic].result(30)


def wait_high_watermark(bootstrap: str, topic: str, count: int, timeout: float = 60) -> int | None:
    """The high watermark once it reaches `count` (with acks=1 followers may still be
    copying when the producer is done), or whatever it is at the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        held = bb.high_watermark(bootstrap, topic)
        if (held is not None and held >= count) or time.monotonic() > deadline:
            return held
        time.sleep(0.2)


def produce(bootstrap: str, topic: str, size: int, count: int, acks: str, work: Path,
            kcat: str | None) -> float:
    if kcat is not None:
        return bb.kcat_produce(bootstrap, topic, bb.payload_file(work, size, count), acks)
    return bb.python_produce(bootstrap, topic, size, count, acks)


def measure(name: str, bootstrap: str, replication: int, args: argparse.Namespace, work: Path,
            kcat: str | None) -> dict[str, str]:
    out: dict[str, str] = {}
    n100, n1k = (200_000, 50_000) if args.quick else (2_000_000, 500_000)
    for acks in ("all", "1"):
        for size, count in ((100, n100), (1024, n1k)):
            results = []
            for rep in range(args.repeat):
                topic = f"bench-{name}-{size}-{acks}-{rep}"
                create_topic(bootstrap, topic, replication)
                seconds = produce(bootstrap, topic, size, count, acks, work, kcat)
                held = wait_high_watermark(bootstrap, topic, count)
                if held is not None and held < count:
                    results.append(None)
                    print(f"  {name}: LOST: {held} of {count}", file=sys.stderr)
                else:
                    results.append(seconds)
            good = [s for s in results if s is not None]
            if not good:
                out[f"{size}-{acks}"] = "LOST"
                continue
            seconds = statistics.median(good)
            rate = count / seconds
            mbps = rate * size / 1e6
            out[f"{size}-{acks}"] = (f"{rate:,.0f} rec/s" if size == 100 else f"{mbps:,.0f} MB/s")
            print(f"  {name}: {size} B acks={acks}: {out[f'{size}-{acks}']}", file=sys.stderr)
        topic = f"bench-{name}-latency-{acks}"
        create_topic(bootstrap, topic, replication)
        latencies = bb.produce_latency(bootstrap, topic, acks, args.rate,
                                       2.0 if args.quick else 5.0)
        if latencies:
            out[f"lat-{acks}"] = (f"{bb.percentile(latencies, 50) * 1000:.2f} / "
                                  f"{bb.percentile(latencies, 99) * 1000:.2f}")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer records")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-kcat", action="store_true")
    parser.add_argument("--rate", type=int, default=500, help="records/s for the latency runs")
    args = parser.parse_args()
    kcat = None if args.no_kcat else bb.kcat_version()
    client = kcat or "confluent-kafka"
    work = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    ref_bytes = (256 if args.quick else 1024) * 1024 * 1024
    refs = {"loopback": bb.raw_loopback_mbps(ref_bytes), "disk": bb.raw_disk_mbps(work, ref_bytes)}
    results: dict[str, dict[str, str]] = {}
    dev = bb.kraft_target(work, work / "dev")
    try:
        dev.start()
        results["single node, RF 1"] = measure("single", dev.bootstrap, 1, args, work, kcat)
    finally:
        dev.stop()
    overrides = {"broker.session.timeout.ms": "6000", "broker.heartbeat.interval.ms": "1000"}
    cluster = LocalCluster(work / "cluster", ports=LocalCluster.free_ports(), overrides=overrides)
    try:
        started = time.monotonic()
        cluster.start()
        print(f"  cluster ready in {time.monotonic() - started:.2f} s", file=sys.stderr)
        results["3 nodes, RF 3, min.insync.replicas 2"] = measure(
            "cluster", cluster.bootstrap, 3, args, work, kcat)
    finally:
        cluster.close()
        shutil.rmtree(work, ignore_errors=True)
    rows = [
        ("produce 100 B, acks=all", "100-all"), ("produce 1 KiB, acks=all", "1024-all"),
        ("produce 100 B, acks=1", "100-1"), ("produce 1 KiB, acks=1", "1024-1"),
        (f"latency p50 / p99 at {args.rate:,}/s, acks=all (ms)", "lat-all"),
        (f"latency p50 / p99 at {args.rate:,}/s, acks=1 (ms)", "lat-1"),
    ]
    names = list(results)
    lines = [
        "## Three-node cluster (`scripts/bench_cluster.py`)",
        "",
        f"`.venv/bin/python scripts/bench_cluster.py{' --quick' if args.quick else ''}`"
        f" - measured {time.strftime('%Y-%m-%d')}",
        "",
        f"| figure | {' | '.join(names)} |",
        f"| --- | {' | '.join('---:' for _ in names)} |",
        f"| reference: raw loopback TCP (MB/s) | {refs['loopback']:,.0f} | |",
        f"| reference: raw disk write + fsync (MB/s) | {refs['disk']:,.0f} | |",
    ]
    for label, key in rows:
        lines.append(f"| {label} | {' | '.join(results[n].get(key, '-') for n in names)} |")
    lines += [
        "",
        f"- throughput: one partition, {client}, linger.ms=5, batch.size=1000000, no "
        f"compression, median of {args.repeat}; latency: confluent-kafka, 100 B, linger.ms=0",
        "- cluster: three nodes with both roles on this 2-core VM (three broker processes "
        f"share two cores), overrides {overrides}",
    ]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
