"""Saturation without false failovers: a three-node cluster at full load for minutes.

    .venv/bin/python scripts/bench_stability.py [--minutes 10] [--producers 2]

A three-node cluster (scripts/cluster's LocalCluster, every setting at its
default: Kafka's 9 s broker session, kraft's failover mechanisms on) and a topic
of 3 partitions, replication factor 3, min.insync.replicas 2 (512 MiB retained
per partition, so the disk stays bounded). `--producers`
processes send 1 KiB records with acks=all as fast as the cluster takes them
(librdkafka, idempotent), which keeps both cores busy with three brokers, the
controllers and the clients. Nothing is killed: a slow node is not a dead one,
so every failover in the run is a false one (issue 13).

Counted over the run: the metadata quorum's leader epoch and each partition's
leader epoch before and after (any change is a leadership change), and the
nodes' log lines that mark a fencing, an ISR shrink, a quorum leader change
or a controller resigning. Prints a markdown block for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import trio
from confluent_kafka.admin import AdminClient, NewTopic

from kraft.tools import quorum_status
from kraft.tools.local_cluster import LocalCluster
from tests.faults.schedules import topic_state

TOPIC = "saturation"
EVENTS = {
    "fenced": re.compile(r"fencing broker \d+"),
    "ISR shrinks": re.compile(r"out of sync for over"),
    "quorum elections": re.compile(r"elected leader of the metadata quorum"),
    "controller resignations": re.compile(r"no longer the active controller"),
}
PRODUCER = """
import sys, time, confluent_kafka
p = confluent_kafka.Producer({"bootstrap.servers": sys.argv[1], "acks": "all",
                              "enable.idempotence": True, "linger.ms": 5})
acked = [0]
def report(err, msg):
    if err is None:
        acked[0] += 1
end = time.monotonic() + float(sys.argv[2])
value = b"x" * 1024
while time.monotonic() < end:
    try:
        p.produce(sys.argv[3], value, on_delivery=report)
    except BufferError:
        p.poll(0.01)
    p.poll(0)
p.flush(60)
print(acked[0])
"""


def quorum_epoch(cluster: LocalCluster) -> tuple[int, int]:
    """(leader id, leader epoch) of the metadata quorum."""
    for n in cluster.ids:
        try:
            answer = trio.run(quorum_status.describe, cluster.controller_address(n), 10.0, None)
        except Exception:  # a node that does not answer: ask the next one
            continue
        if answer is not None and answer.leader_id >= 0:
            return answer.leader_id, answer.leader_epoch
    raise SystemExit("no node answered DescribeQuorum")


def leader_epochs(cluster: LocalCluster) -> dict[int, tuple[int, int]]:
    """Each partition's (leader, leader epoch), from the first node that answers
    Metadata within 30 s."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for n in cluster.ids:
            state = topic_state(cluster.client_address(n), TOPIC)
            if state is not None:
                return {p: (s.leader, s.leader_epoch) for p, s in state.items()}
        time.sleep(1)
    raise SystemExit(f"no node answered Metadata for {TOPIC} within 30 s "
                     f"(nodes up: {[n for n in cluster.ids if cluster.is_up(n)]})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--producers", type=int, default=2)
    parser.add_argument("--keep", action="store_true",
                        help="keep the cluster directory (kept anyway after a false failover)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-stability-"))
    # Retention keeps the disk bounded (each node holds every partition: at tens of
    # MB/s a 10-minute run would otherwise write tens of GB per node), checked
    # every 10 s instead of Kafka's 5 minutes; nothing about failover changes.
    cluster = LocalCluster(work / "cluster", ports=LocalCluster.free_ports(),
                           overrides={"log.retention.check.interval.ms": "10000"})
    try:
        cluster.start()
        admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
        admin.create_topics([NewTopic(TOPIC, 3, 3, config={
            "min.insync.replicas": "2", "retention.bytes": str(512 << 20),
            "segment.bytes": str(64 << 20)})])[TOPIC].result(30)
        time.sleep(2)
        quorum_before, epochs_before = quorum_epoch(cluster), leader_epochs(cluster)
        log_start = {n: cluster.log_path(n).stat().st_size for n in cluster.ids}
        seconds = args.minutes * 60
        started = time.monotonic()
        procs = [subprocess.Popen([sys.executable, "-c", PRODUCER, cluster.bootstrap,
                                   str(seconds), TOPIC], stdout=subprocess.PIPE, text=True)
                 for _ in range(args.producers)]
        acked = sum(int(p.communicate()[0].strip() or 0) for p in procs)
        elapsed = time.monotonic() - started
        quorum_after, epochs_after = quorum_epoch(cluster), leader_epochs(cluster)
        counts = dict.fromkeys(EVENTS, 0)
        for n in cluster.ids:
            with cluster.log_path(n).open("rb") as f:
                f.seek(log_start[n])
                text = f.read().decode(errors="replace")
            for name, pattern in EVENTS.items():
                counts[name] += len(pattern.findall(text))
    except BaseException:
        cluster.close()
        print(f"kept for a post-mortem: {work} (node logs in cluster/node*/node.log)",
              file=sys.stderr)
        raise
    cluster.close()
    changed = sorted(p for p in epochs_before if epochs_before[p] != epochs_after.get(p))
    false_failovers = bool(changed) or quorum_after != quorum_before or any(counts.values())
    if false_failovers or args.keep:
        print(f"kept for a post-mortem: {work} (node logs in cluster/node*/node.log)",
              file=sys.stderr)
    else:
        shutil.rmtree(work, ignore_errors=True)
    lines = [
        "### Saturation without false failovers (`scripts/bench_stability.py`, issue 13)",
        "",
        f"`.venv/bin/python scripts/bench_stability.py --minutes {args.minutes:g} "
        f"--producers {args.producers}` - measured {time.strftime('%Y-%m-%d')}",
        "",
        f"- load: {args.producers} idempotent acks=all producers of 1 KiB records for "
        f"{elapsed:.0f} s: {acked:,} records acknowledged ({acked / elapsed:,.0f}/s, "
        f"{acked * 1024 / elapsed / 1e6:.1f} MB/s)",
        f"- metadata quorum: leader {quorum_before[0]} in epoch {quorum_before[1]} before, "
        f"leader {quorum_after[0]} in epoch {quorum_after[1]} after",
        f"- partition leader epochs changed: {len(changed)} of {len(epochs_before)} "
        f"(before {epochs_before}, after {epochs_after})",
        "- node log events during the load: "
        + ", ".join(f"{name} {n}" for name, n in counts.items()),
    ]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
