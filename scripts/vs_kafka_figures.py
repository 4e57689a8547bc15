"""The figures of scripts/vs-kafka: one system (Apache Kafka or kraft) at a time.

`single_node(system, ...)` measures one combined-mode node: start to ready
(fresh data each start, format excluded: spawn to the broker registered and
unfenced in DescribeCluster), resident memory idle (after --settle seconds)
and the most seen under load (sampled every 0.25 s during the loads),
produce throughput with kcat and kafka-producer-perf-test (100 B and 1 KiB,
acks=1 and all, one partition each, a fresh topic per run), consume
throughput with kcat and kafka-consumer-perf-test (reading the acks=1 topics
back), broker CPU seconds per GB produced and per GB fetched (utime + stime
of the broker process from /proc/PID/stat, before and after each load,
summed over the loads, divided by the value bytes moved), and p50/p99
produce latency at a fixed rate (confluent-kafka, linger.ms=0).

`three_nodes(system, ...)` starts three combined-mode nodes (a three-voter
quorum) with the system's defaults, measures RF 3 acks=all produce
throughput with kcat, then kills nodes with kill -9: the leader of a
partition that is not the active controller, and the active controller,
`--kills` times each, while the fault harness's probe producer
(tests/faults/workload.py: confluent-kafka, idempotent, acks=all) writes to
every partition. The figure is the time from the kill until every partition
has acknowledged a send issued after the kill (writes succeed again); the
victim is restarted and the ISR is full again before the next kill. The
checker then reads everything back: no acknowledged write may be lost.

The load helpers come from scripts/bench_broker.py and the kill loop's
pieces from scripts/bench_failover.py and tests/faults.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import bench_broker as bb  # noqa: E402
from bench_failover import first_ack_after, nearest_rank  # noqa: E402

from kraft.tools.local_cluster import LocalCluster  # noqa: E402
from tests.compat.kafka_dist import KAFKA_HEAP_OPTS, KAFKA_JVM_PERFORMANCE_OPTS, KafkaDist  # noqa: E402
from tests.compat.kafka_node import (  # noqa: E402
    KafkaCluster,
    kraft_cluster,
    proc_cpu_seconds,
    proc_rss_bytes,
    time_to_ready,
)
from tests.faults.history import History  # noqa: E402
from tests.faults.schedules import Faults, wait_for  # noqa: E402
from tests.faults.workload import Workload, WorkloadConfig, create_topic, read_and_check  # noqa: E402

Cluster = KafkaCluster | LocalCluster
TOOL_JVM_OPTS = (*KAFKA_HEAP_OPTS, *KAFKA_JVM_PERFORMANCE_OPTS)  # bin/kafka-*.sh's defaults
RECOVERY_TIMEOUT_S = 180.0
FAILOVER_PARTITIONS = 3


@dataclasses.dataclass
class Figure:
    """One measured figure: `value` is what ratios use, `text` what the table shows."""

    value: float | None
    text: str


def fig(value: float | None, fmt: str = "{:,.0f}") -> Figure:
    return Figure(value, "-" if value is None else fmt.format(value))


def new_cluster(system: str, kafka: KafkaDist, root: Path, nodes: int) -> Cluster:
    if system == "kafka":
        return KafkaCluster(kafka, root, nodes=nodes)
    return kraft_cluster(root, nodes)


def log(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


class RssSampler:
    """The largest VmRSS of `pid` seen while running (sampled every 0.25 s)."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak = pid, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            try:
                self.peak = max(self.peak, proc_rss_bytes(self.pid))
            except OSError:
                return

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def create_topics(bootstrap: str, topics: list[str], replication: int = 1,
                  partitions: int = 1) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(t, partitions, replication) for t in topics],
                                  request_timeout=60)
    for future in futures.values():
        future.result(60)


# ---------------------------------------------------------------- Kafka's perf tools


def perf_produce(kafka: KafkaDist, bootstrap: str, topic: str, size: int, count: int,
                 acks: str) -> float | None:
    """Records/s kafka-producer-perf-test reports (its own clock, JVM start excluded)."""
    cmd = kafka.tool("kafka-producer-perf-test", "--topic", topic, "--num-records", str(count),
                     "--record-size", str(size), "--throughput", "-1", "--bootstrap-server",
                     bootstrap, "--command-property", f"acks={acks}", jvm_opts=TOOL_JVM_OPTS)
    done = subprocess.run(cmd, text=True, capture_output=True, timeout=900,
                          stdin=subprocess.DEVNULL)
    last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    found = re.match(r"(\d+) records sent, ([\d.]+) records/sec", last)
    if done.returncode != 0 or found is None or int(found[1]) != count:
        log(f"kafka-producer-perf-test failed (exit {done.returncode}): "
            f"{(done.stdout + done.stderr).strip()[-400:]}")
        return None
    return float(found[2])


def perf_consume(kafka: KafkaDist, bootstrap: str, topic: str, count: int) -> float | None:
    """Records/s kafka-consumer-perf-test reports for fetching (fetch.nMsg.sec: after
    the group's first assignment)."""
    cmd = kafka.tool("kafka-consumer-perf-test", "--bootstrap-server", bootstrap, "--topic",
                     topic, "--num-records", str(count), "--timeout", "60000",
                     jvm_opts=TOOL_JVM_OPTS)
    done = subprocess.run(cmd, text=True, capture_output=True, timeout=900,
                          stdin=subprocess.DEVNULL)
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    try:
        header = [h.strip() for h in lines[-2].split(",")]
        row = dict(zip(header, (v.strip() for v in lines[-1].split(",")), strict=True))
        if int(row["data.consumed.in.nMsg"]) < count:
            raise ValueError(f"read {row['data.consumed.in.nMsg']} of {count}")
        return float(row["fetch.nMsg.sec"])
    except (IndexError, KeyError, ValueError) as e:
        log(f"kafka-consumer-perf-test failed (exit {done.returncode}, {e}): "
            f"{(done.stdout + done.stderr).strip()[-400:]}")
        return None


# ---------------------------------------------------------------- one node


class Accounting:
    """Broker CPU seconds and value bytes, summed per kind of load."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.cpu: dict[str, float] = {}
        self.bytes: dict[str, int] = {}

    def run(self, kind: str, nbytes: int, load: Any) -> Any:
        before = proc_cpu_seconds(self.pid)
        result = load()
        self.cpu[kind] = self.cpu.get(kind, 0.0) + proc_cpu_seconds(self.pid) - before
        self.bytes[kind] = self.bytes.get(kind, 0) + nbytes
        return result

    def per_gb(self, kind: str) -> float | None:
        moved = self.bytes.get(kind, 0)
        return self.cpu[kind] / (moved / 1e9) if moved else None


def single_node(system: str, kafka: KafkaDist, work: Path, args: argparse.Namespace,
                kcat: str | None) -> dict[str, Figure]:
    """Every single-node figure of `system` (see the module docstring)."""
    out: dict[str, Figure] = {}
    times = []
    cluster: Cluster | None = None
    try:
        for i in range(args.ready_runs):
            if cluster is not None:
                cluster.close()
            cluster = new_cluster(system, kafka, work / f"{system}-single-{i}", 1)
            times.append(time_to_ready(cluster))
            log(f"{system}: ready in {times[-1]:.2f} s")
        assert cluster is not None
        out["ready"] = fig(statistics.median(times), "{:.2f}")
        pid = cluster.pid(1)
        assert pid is not None
        time.sleep(args.settle)
        out["rss idle"] = fig(proc_rss_bytes(pid) / 2**20)
        bootstrap = cluster.bootstrap
        acct = Accounting(pid)
        with RssSampler(pid) as sampler:
            load_single(system, kafka, work, args, kcat, bootstrap, acct, out)
        out["rss load"] = fig(max(sampler.peak, 1) / 2**20)
        out["cpu produce"] = fig(acct.per_gb("produce"), "{:.1f}")
        out["cpu fetch"] = fig(acct.per_gb("fetch"), "{:.1f}")
    finally:
        if cluster is not None:
            cluster.close()
        for i in range(args.ready_runs):
            shutil.rmtree(work / f"{system}-single-{i}", ignore_errors=True)
    return out


def load_single(system: str, kafka: KafkaDist, work: Path, args: argparse.Namespace,
                kcat: str | None, bootstrap: str, acct: Accounting,
                out: dict[str, Figure]) -> None:
    sizes = ((100, args.records), (1024, max(1, args.records // 4)))
    clients = (["kcat"] if kcat else []) + ["perf"]
    topics = [f"vs-{c}-{s}-acks{a}" for c in clients for s, _ in sizes for a in ("1", "all")]
    create_topics(bootstrap, [*topics, "vs-latency-acks1", "vs-latency-acksall", "vs-warm-up"])
    # One unmeasured run first: a JVM compiles its hot paths during its first
    # seconds of load, and neither system should be measured cold.
    log(f"{system}: warm-up, {sizes[1][1]:,} x 1 KiB")
    if kcat:
        bb.kcat_produce(bootstrap, "vs-warm-up", bb.payload_file(work, 1024, sizes[1][1]), "1")
    else:
        bb.python_produce(bootstrap, "vs-warm-up", 1024, sizes[1][1], "1")
    for client in clients:
        for size, count in sizes:
            for acks in ("1", "all"):
                topic = f"vs-{client}-{size}-acks{acks}"
                log(f"{system}: {client} produce {count:,} x {size} B acks={acks}")
                os.sync()
                if client == "kcat":
                    path = bb.payload_file(work, size, count)
                    seconds = acct.run("produce", count * size,
                                       lambda p=path, t=topic, a=acks: bb.kcat_produce(
                                           bootstrap, t, p, a))
                    rate: float | None = count / seconds
                    held = bb.high_watermark(bootstrap, topic)
                    if held != count:
                        log(f"{system}: {topic} holds {held} of {count} records")
                        rate = None
                else:
                    rate = acct.run("produce", count * size,
                                    lambda t=topic, s=size, n=count, a=acks: perf_produce(
                                        kafka, bootstrap, t, s, n, a))
                out[f"produce {client} {size} {acks}"] = fig(rate)
    for client in clients:
        for size, count in sizes:
            topic = f"vs-{client}-{size}-acks1"
            log(f"{system}: {client} consume {count:,} x {size} B")
            os.sync()
            if client == "kcat":
                seconds, read = acct.run("fetch", count * size,
                                         lambda t=topic, n=count: bb.kcat_fetch(bootstrap, t, n))
                rate = read / seconds if read == count else None
            else:
                rate = acct.run("fetch", count * size,
                                lambda t=topic, n=count: perf_consume(kafka, bootstrap, t, n))
            out[f"consume {client} {size}"] = fig(rate)
    for acks in ("1", "all"):
        log(f"{system}: latency at {args.rate}/s acks={acks}")
        lat = bb.produce_latency(bootstrap, f"vs-latency-acks{acks}", acks, args.rate,
                                 args.latency_seconds)
        for q in (50, 99):
            out[f"latency {acks} p{q}"] = fig(bb.percentile(lat, q) * 1e3 if lat else None,
                                              "{:.2f}")


# ---------------------------------------------------------------- three nodes


def three_nodes(system: str, kafka: KafkaDist, work: Path, args: argparse.Namespace,
                kcat: str | None) -> dict[str, Figure]:
    out: dict[str, Figure] = {}
    cluster = new_cluster(system, kafka, work / f"{system}-three", 3)
    try:
        out.update(measure_three(system, cluster, work, args, kcat))
    finally:
        cluster.close()
        shutil.rmtree(work / f"{system}-three", ignore_errors=True)
    return out


def measure_three(system: str, cluster: Cluster, work: Path, args: argparse.Namespace,
                  kcat: str | None) -> dict[str, Figure]:
    out: dict[str, Figure] = {}
    out["cluster ready"] = fig(time_to_ready(cluster, RECOVERY_TIMEOUT_S), "{:.2f}")
    log(f"{system}: three nodes ready in {out['cluster ready'].text} s")
    sizes = ((100, args.records), (1024, max(1, args.records // 4)))
    create_topics(cluster.bootstrap, [f"vs-rf3-{s}" for s, _ in sizes], replication=3)
    for size, count in sizes:
        topic = f"vs-rf3-{size}"
        log(f"{system}: RF 3 acks=all produce {count:,} x {size} B")
        os.sync()
        if kcat:
            seconds = bb.kcat_produce(cluster.bootstrap, topic,
                                      bb.payload_file(work, size, count), "all")
        else:
            seconds = bb.python_produce(cluster.bootstrap, topic, size, count, "all")
        held = bb.high_watermark(cluster.bootstrap, topic)
        out[f"rf3 {size}"] = fig(count / seconds if held == count else None)
    out.update(failover(system, cluster, work, args))
    return out


def failover(system: str, cluster: Cluster, work: Path,
             args: argparse.Namespace) -> dict[str, Figure]:
    """Kill -9 a partition leader and the active controller, --kills times each."""
    config = WorkloadConfig(bootstrap=cluster.bootstrap, topic="vs-failover",
                            partitions=FAILOVER_PARTITIONS, replication_factor=3,
                            min_insync_replicas=1, producers=1, rate=args.probe_rate,
                            client="confluent", message_timeout_s=120.0)
    create_topic(config)
    samples: dict[str, list[float]] = {"leader": [], "controller": []}
    with History(work / f"{system}-failover.jsonl") as history:
        faults = Faults(cluster, config.topic, history)  # type: ignore[arg-type]
        with Workload(config, history) as workload:
            if not workload.wait_acks(50, RECOVERY_TIMEOUT_S):
                raise SystemExit(f"{system}: the probe got no acknowledgements")
            for kind in ("leader", "controller"):
                for round_ in range(args.kills):
                    faults.wait_full_isr(RECOVERY_TIMEOUT_S)
                    time.sleep(args.settle)
                    victim = faults.plain_leader()[1] if kind == "leader" else \
                        faults.controller()
                    killed_at = faults.kill(victim)
                    acked = [wait_for(f"an acknowledged send to partition {p} after the kill",
                                      lambda p=p, t=killed_at: first_ack_after(history, p, t),
                                      RECOVERY_TIMEOUT_S)
                             for p in range(FAILOVER_PARTITIONS)]
                    samples[kind].append(max(acked) - killed_at)
                    log(f"{system}: kill -9 of the {kind} (node {victim}), round {round_ + 1}: "
                        f"writes succeed again after {samples[kind][-1]:.2f} s")
                    faults.start(victim)
            faults.wait_full_isr(RECOVERY_TIMEOUT_S)
        report = read_and_check(config, history)
    out = {f"failover {k}": fig(statistics.median(v), "{:.2f}") for k, v in samples.items()}
    for k, v in samples.items():
        out[f"failover {k} max"] = fig(nearest_rank(v, 1.0), "{:.2f}")
    summary = report.summary()
    verdict = summary.splitlines()[0]
    if not report.valid:
        # Keep the evidence: the history outlives the run's temporary directory.
        kept = ROOT / ".vs-kafka" / f"{system}-failover.jsonl"
        kept.parent.mkdir(exist_ok=True)
        shutil.copyfile(work / f"{system}-failover.jsonl", kept)
        log(f"{system}: the checker found anomalies (history kept in {kept}):\n{summary}")
        verdict = f"{'; '.join(summary.splitlines()[:2])}; history kept in .vs-kafka/"
    out["checker"] = Figure(None, verdict)
    return out
