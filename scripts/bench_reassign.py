"""Moving a partition to another broker: how long a reassignment takes, with and without a throttle.

    .venv/bin/python scripts/bench_reassign.py [--mb 100] [--throttle-mb 5] [--repeat 2]

A three-node cluster (scripts/cluster's LocalCluster, free ports); for each run a
topic of one partition on broker 1 is filled with --mb MB (1 KiB records,
acks=all) and moved whole to broker 2 with `kraft reassign-partitions --execute`
(Kafka's tool flow: AlterPartitionReassignments; with --throttle, Kafka's
replication throttles on the brokers and the topic). The clock runs from the
tool's start to the first metadata answer showing replicas [2] with no
reassignment in flight. References measured in the same run: raw loopback TCP
and disk write + fsync throughput; and what the throttle allows: Kafka's rate
is bytes over eleven one-second windows divided by at least ten seconds, so the
first 10 x rate bytes pass at once and the rest at the rate, about
max(MB - 10 x rate, 0) / rate + 10 seconds.
Prints a markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_broker as bb
import confluent_kafka
from confluent_kafka.admin import AdminClient, NewTopic

from kraft.tools.local_cluster import LocalCluster

KRAFT = [sys.executable, "-m", "kraft"]
RECORD = 1024


def fill(bootstrap: str, topic: str, mb: int) -> None:
    producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap, "acks": "all",
                                         "linger.ms": 5, "batch.size": 1_000_000})
    value = b"x" * RECORD
    for _ in range(mb * 1024 * 1024 // RECORD):
        while True:
            try:
                producer.produce(topic, value, partition=0)
                break
            except BufferError:
                producer.poll(0.05)
    if producer.flush(120) != 0:
        raise SystemExit(f"{topic}: records left unsent")


def move(cluster: LocalCluster, admin: AdminClient, topic: str, work: Path,
         throttle: int | None) -> float:
    """Seconds from the tool's start until `topic`-0 lives on broker 2 alone."""
    plan = work / f"{topic}.json"
    plan.write_text(json.dumps({"version": 1, "partitions": [
        {"topic": topic, "partition": 0, "replicas": [2]}]}))
    args = [*KRAFT, "reassign-partitions", "--bootstrap-server", cluster.bootstrap,
            "--execute", "--reassignment-json-file", str(plan)]
    if throttle is not None:
        args += ["--throttle", str(throttle)]
    started = time.monotonic()
    subprocess.run(args, check=True, capture_output=True, text=True)
    while True:
        part = admin.list_topics(topic, timeout=10).topics[topic].partitions[0]
        if list(part.replicas) == [2] and list(part.isrs) == [2]:
            elapsed = time.monotonic() - started
            break
        if time.monotonic() - started > 900:
            raise SystemExit(f"{topic}: not moved within 900 s")
        time.sleep(0.05)
    if throttle is not None:  # --verify clears the throttles, as an operator would
        subprocess.run([*KRAFT, "reassign-partitions", "--bootstrap-server",
                        cluster.bootstrap, "--verify", "--reassignment-json-file", str(plan)],
                       check=True, capture_output=True, text=True)
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100, help="partition size to move (MB)")
    parser.add_argument("--throttle-mb", type=int, default=5,
                        help="the throttled run's --throttle, MB/s")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-reassign-"))
    ref_bytes = 256 * 1024 * 1024
    refs = {"loopback": bb.raw_loopback_mbps(ref_bytes), "disk": bb.raw_disk_mbps(work, ref_bytes)}
    throttle = args.throttle_mb * 1024 * 1024
    times: dict[str, list[float]] = {"none": [], "throttled": []}
    cluster = LocalCluster(work / "cluster", ports=LocalCluster.free_ports())
    try:
        cluster.start()
        admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
        for i in range(args.repeat):
            for kind in times:
                topic = f"move-{kind}-{i}"
                admin.create_topics([NewTopic(topic, 1, replica_assignment=[[1]])])[topic] \
                    .result(30)
                fill(cluster.bootstrap, topic, args.mb)
                seconds = move(cluster, admin, topic, work,
                               throttle if kind == "throttled" else None)
                times[kind].append(seconds)
                print(f"  {kind}: {args.mb} MB moved in {seconds:.2f} s", file=sys.stderr)
                admin.delete_topics([topic])[topic].result(30)
    finally:
        cluster.close()
        shutil.rmtree(work, ignore_errors=True)

    def row(kind: str) -> str:
        ts = times[kind]
        med = statistics.median(ts)
        return (f"{', '.join(f'{t:.2f}' for t in ts)} | {med:.2f} | "
                f"{args.mb / med:,.1f}")

    lines = [
        "### Moving a partition (`scripts/bench_reassign.py`, issue 14)",
        "",
        f"`.venv/bin/python scripts/bench_reassign.py --mb {args.mb} --throttle-mb "
        f"{args.throttle_mb} --repeat {args.repeat}` - measured {time.strftime('%Y-%m-%d')}",
        "",
        "| run | seconds (each) | median s | MB/s |",
        "| --- | ---: | ---: | ---: |",
        f"| {args.mb} MB from broker 1 to broker 2, no throttle | {row('none')} |",
        f"| the same with `--throttle {throttle}` ({args.throttle_mb} MiB/s) | "
        f"{row('throttled')} |",
        f"| reference: what the throttle allows (10 s burst, then the rate) | | "
        f"{max(args.mb * 1e6 - 10 * throttle, 0) / throttle + 10:.2f} | |",
        f"| reference: raw loopback TCP | | | {refs['loopback']:,.0f} |",
        f"| reference: raw disk write + fsync | | | {refs['disk']:,.0f} |",
    ]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
