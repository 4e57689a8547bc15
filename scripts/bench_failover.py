#!/usr/bin/env python3
"""Benchmark: failover after kill -9 and after network isolation, three nodes, default settings.

Starts a cluster of three nodes with both roles (a temporary root unless
--dir) with Kafka's default settings unless --fast (the fault tests'
FAST_FAILOVER, tests/faults/schedules.py) or --set KEY=VALUE, creates a
topic with 3 partitions, replication factor 3 and min.insync.replicas 2,
and runs one probe producer (confluent-kafka, enable.idempotence, acks=all,
linger.ms=2) that sends to the partitions in turn at --rate sends/s,
recording every delivery report in a History (tests/faults/history.py).

Kill kinds, --kills rounds of each (default 20), on a LocalCluster on
loopback:

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

Isolation kinds, --rounds rounds of each (default 5), on a NetnsCluster
(tests/faults/netns.py: each node in its own network namespace, the probe in
the root namespace; needs root, ip and iptables). Each round first moves
every partition's leadership back to its preferred replica (ElectLeaders),
so the roles are spread as after a start; the fault is iptables rules in one
namespace, and the figure is, as for a killed partition leader, the time
from the cut to the first successful acks=all delivery of a send to the
*affected* partition issued after the cut. The fault is healed as soon as
that delivery is seen.

- isolate_leader: the leader of a partition that is not the active
  controller is cut from both peers; the clients still reach it.
- isolate_leader_clients: the same, and cut from the clients too.
- isolate_controller: the active controller is cut from its peers and the
  clients; the affected partition is the one it leads.
- bridge: the link between the leader A of a partition (not the active
  controller) and its other follower B is cut, the controller reaching
  both; the affected partition is A's (the one whose leader lost a follower).
- drop_inbound: nothing from its peers reaches the leader of a partition
  (not the active controller); its packets still reach them, and the
  clients reach it both ways.

After each round the victim restarts (or the fault is healed), every
partition returns to full ISR and --settle seconds pass. At the end of each
cluster's rounds every partition is read back and the queue checker runs
over the probe's sends (tests/faults/checker.py): the figures come with
proof that no acknowledged write was lost on the way. Prints a markdown
block for docs/benchmarks.md: p50, p90, max and min (nearest rank) per kind,
every measurement, and the settings used.

Usage:
    .venv/bin/python scripts/bench_failover.py [--kills 20] [--rounds 5]
        [--kinds controller,partition,isolate_leader,...] [--rate 300] [--fast]
        [--set KEY=VALUE ...] [--dir DIR]
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
from confluent_kafka.admin import AdminClient  # noqa: E402
from kio.schema.errors import ErrorCode  # noqa: E402

from kraft.net.client import ConnectionFailed  # noqa: E402
from kraft.raft import messages as m  # noqa: E402
from kraft.raft import rpc  # noqa: E402
from kraft.tools import quorum_status  # noqa: E402
from kraft.tools.local_cluster import LocalCluster  # noqa: E402
from tests.faults.history import History  # noqa: E402
from tests.faults.netns import Netns, NetnsCluster, NetnsUnavailable  # noqa: E402
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
KILL_KINDS = ("controller", "partition")
ISOLATION_KINDS = ("isolate_leader", "isolate_leader_clients", "isolate_controller", "bridge",
                   "drop_inbound")
KINDS = KILL_KINDS + ISOLATION_KINDS
# The probe's client-side limit on one request (librdkafka's default is 60 s;
# its request.timeout.ms is only the acks=all wait the broker is asked for).
# A produce request sent into a cut holds that partition's later sends
# (idempotence keeps their order) until it times out, whatever the brokers do:
# with the default, a leader cut from the clients costs them 60 s.
# --probe-socket-timeout-ms sets it (below the session timeout, the brokers'
# failover decides isolate_leader_clients instead of the client).
PROBE_SOCKET_TIMEOUT_MS = 10000


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


def prefer_leaders(cluster: LocalCluster, topic: str) -> None:
    """Move each partition's leadership to its preferred replica (ElectLeaders
    PREFERRED; a partition already led by it answers ELECTION_NOT_NEEDED)."""
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    partitions = [confluent_kafka.TopicPartition(topic, p) for p in range(PARTITIONS)]
    # (confluent-kafka 2.16's elect_leaders fails on any keyword argument: none given)
    results = admin.elect_leaders(confluent_kafka.ElectionType.PREFERRED, partitions).result(30)
    for tp, error in results.items():
        code = error.code() if error is not None else None
        if error is not None and code != confluent_kafka.KafkaError.ELECTION_NOT_NEEDED:
            print(f"preferred leader election of {tp.topic}-{tp.partition}: {error}",
                  file=sys.stderr)


def isolation_round(kind: str, cluster: NetnsCluster, faults: Faults,
                    history: History) -> tuple[str, float]:
    """Cut as `kind` says (module docstring); (what was cut, seconds from the cut until an
    acks=all write to the affected partition succeeds). Heals before returning."""
    net = cluster.net
    controller = faults.controller()
    if kind == "isolate_controller":
        victim = controller
        led = sorted(p for p, s in (faults.state() or {}).items() if s.leader == victim)
        if not led:
            raise SystemExit(f"the active controller {victim} leads no partition of "
                             f"{faults.topic} after the preferred leader election")
        partition = led[0]
    else:
        partition, victim = faults.plain_leader()
        if victim == controller:
            raise SystemExit(f"every partition of {faults.topic} is led by the active "
                             f"controller {victim} after the preferred leader election")
    peers = [n for n in cluster.ids if n != victim]
    if kind == "bridge":
        other = next(n for n in peers if n != controller)
        what = f"link {victim}-{other}"
        history.note(f"cut the link between nodes {victim} and {other} ({faults.roles(victim)})")
        net.cut(victim, [other])
    else:
        what = f"node {victim}"
        history.note(f"{kind} node {victim} ({faults.roles(victim)})")
        if kind == "drop_inbound":
            net.drop_inbound(victim, peers)
        else:
            net.cut(victim, peers, clients=kind != "isolate_leader")
    # From the moment the last rule is in (each is an `ip netns exec iptables`
    # of tens of ms): a send issued while the rules go in may still complete.
    cut_at = history.now()
    history.note("cut in place")
    try:
        acked = wait_for(f"an acks=all produce to partition {partition} after {kind} {what}",
                         lambda: first_ack_after(history, partition, cut_at),
                         RECOVERY_TIMEOUT_S)
    finally:
        history.note(f"heal node {victim}")
        net.heal(victim)
    return f"{what} (partition {partition})", acked - cut_at


def run_rounds(args: argparse.Namespace, root: Path, cluster: LocalCluster, kinds: list[str],
               rounds: int, samples: dict[str, list[float]]) -> str:
    """`rounds` of each of `kinds` on the started `cluster`, the probe running;
    appends to `samples`, returns the checker's verdict line."""
    config = WorkloadConfig(bootstrap=cluster.bootstrap, topic="failover",
                            partitions=PARTITIONS, replication_factor=3,
                            min_insync_replicas=2, producers=1, rate=args.rate,
                            client="confluent", message_timeout_s=60.0,
                            rdkafka={"socket.timeout.ms": str(args.probe_socket_timeout_ms)})
    create_topic(config)
    with History(root / f"failover-{kinds[0]}.jsonl") as history:
        faults = Faults(cluster, config.topic, history)
        with Workload(config, history) as workload:
            if not workload.wait_acks(100, RECOVERY_TIMEOUT_S):
                raise SystemExit("the probe got no acknowledgements before the first fault")
            for round_ in range(rounds):
                for kind in kinds:
                    faults.wait_full_isr(RECOVERY_TIMEOUT_S)
                    if kind in ISOLATION_KINDS:
                        prefer_leaders(cluster, config.topic)
                    time.sleep(args.settle)
                    if kind == "controller":
                        victim, seconds = controller_round(cluster, faults)
                    elif kind == "partition":
                        victim, seconds = partition_round(faults, history)
                    else:
                        assert isinstance(cluster, NetnsCluster)
                        what, seconds = isolation_round(kind, cluster, faults, history)
                    samples[kind].append(seconds)
                    subject = f"node {victim}" if kind in KILL_KINDS else what
                    print(f"{kind} {round_ + 1}/{rounds}: {subject}: {seconds:.3f} s",
                          file=sys.stderr, flush=True)
                    if kind in KILL_KINDS:
                        faults.start(victim)
            faults.wait_full_isr(RECOVERY_TIMEOUT_S)
        report = read_and_check(config, history)
    verdict = report.summary().splitlines()[0]
    return verdict + ("" if report.valid else " -- ANOMALIES, see the history")


def measure(args: argparse.Namespace, root: Path) -> str:
    overrides = dict(FAST_FAILOVER) if args.fast else {}
    overrides.update(args.set)
    samples: dict[str, list[float]] = {k: [] for k in args.kinds}
    verdicts: dict[str, str] = {}
    kills = [k for k in args.kinds if k in KILL_KINDS]
    isolations = [k for k in args.kinds if k in ISOLATION_KINDS]
    if kills:
        with LocalCluster(root / "cluster", ports=LocalCluster.free_ports(),
                          overrides=overrides) as cluster:
            cluster.start(RECOVERY_TIMEOUT_S)
            verdicts["kill -9 (loopback)"] = run_rounds(args, root, cluster, kills, args.kills,
                                                        samples)
    if isolations:
        net = Netns()
        try:
            net.create()
        except NetnsUnavailable as e:
            raise SystemExit(f"the isolation kinds need network namespaces: {e}") from None
        try:
            with NetnsCluster(root / "netns-cluster", net, overrides=overrides) as cluster:
                cluster.start(RECOVERY_TIMEOUT_S)
                verdicts["isolation (namespaces)"] = run_rounds(args, root, cluster, isolations,
                                                                args.rounds, samples)
        finally:
            net.destroy()
    return render(args, overrides, samples, verdicts)


TITLES = {
    "controller": "kill -9 of the active controller: a new quorum leader committing",
    "partition": "kill -9 of a partition leader: acks=all writes to it succeed again",
    "isolate_leader": "partition leader cut from its peers (clients reach it)",
    "isolate_leader_clients": "partition leader cut from its peers and the clients",
    "isolate_controller": "active controller cut from its peers and the clients",
    "bridge": "bridge: partition leader cut from one follower only",
    "drop_inbound": "partition leader receives nothing from its peers",
}


def render(args: argparse.Namespace, overrides: dict[str, str],
           samples: dict[str, list[float]], verdicts: dict[str, str]) -> str:
    per_partition_rate = args.rate / PARTITIONS
    command = "`.venv/bin/python scripts/bench_failover.py" + "".join(
        f" {a}" for a in sys.argv[1:]) + "`"
    lines = [
        "## Failover after kill -9 and network isolation (three nodes)",
        "",
        command,
        "",
        f"Measured {time.strftime('%Y-%m-%d')}.",
        "",
        "| fault | rounds | p50 (s) | p90 (s) | max (s) | min (s) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for kind, seconds in samples.items():
        lines.append(f"| {TITLES[kind]} | {len(seconds)} | {nearest_rank(seconds, 0.5):.2f} | "
                     f"{nearest_rank(seconds, 0.9):.2f} | {max(seconds):.2f} | "
                     f"{min(seconds):.2f} |")
    lines.append("")
    for kind, seconds in samples.items():
        lines.append(f"- {kind}, each round (s): " + ", ".join(f"{s:.2f}" for s in seconds))
    settings = (", ".join(f"{k}={v}" for k, v in overrides.items()) + "; everything else"
                if overrides else "every setting")
    lines += [f"- checker over the probe's sends, {name}: {verdict}"
              for name, verdict in verdicts.items()]
    lines += [
        "",
        "Settings:",
        "",
        f"- machine: {os.cpu_count()} cores, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}",
        "- cluster: 3 nodes, each broker + controller (combined mode); kill kinds on "
        "loopback, isolation kinds each node in its own network namespace joined by a "
        f"bridge (tests/faults/netns.py), the probe in the root namespace; {settings} at "
        "its default",
        f"- topic: {PARTITIONS} partitions, replication factor 3, min.insync.replicas=2",
        f"- probe: confluent-kafka {confluent_kafka.version()} (librdkafka "
        f"{confluent_kafka.libversion()[0]}), enable.idempotence=true acks=all linger.ms=2 "
        f"request.timeout.ms=10000 socket.timeout.ms={args.probe_socket_timeout_ms} "
        f"message.timeout.ms=60000 retry.backoff.ms=50 retry.backoff.max.ms=500 "
        f"reconnect.backoff.max.ms=500; "
        f"{args.rate:g} sends/s over the partitions in turn "
        f"({1000 / per_partition_rate:.0f} ms between sends to one partition)",
        "- controller figure: SIGKILL to a DescribeQuorum (polled every 10 ms on the "
        "survivors) naming a new leader whose high watermark is past every voter's log "
        "end offset before the kill",
        "- partition and isolation figures: from the SIGKILL or the cut (iptables DROP rules "
        "inside the victim's namespace) to the first delivery report of a send to the "
        "affected partition issued after it; isolations are healed at that report",
        f"- after each round: restart or heal, full ISR, preferred leaders again before an "
        f"isolation, {args.settle:g} s settle",
    ]
    return "\n".join(lines)


def _setting(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return key.strip(), value.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20, help="rounds of each kill kind")
    parser.add_argument("--rounds", type=int, default=5,
                        help="rounds of each isolation kind (each holds the fault for about "
                             "a session timeout, then waits for the heal to complete)")
    parser.add_argument("--kinds", default=",".join(KINDS),
                        help=f"comma-separated: {', '.join(KINDS)}")
    parser.add_argument("--rate", type=float, default=300.0, help="probe sends per second")
    parser.add_argument("--probe-socket-timeout-ms", type=int, default=PROBE_SOCKET_TIMEOUT_MS,
                        help="the probe's librdkafka socket.timeout.ms: how long it waits for "
                             "one request's answer (librdkafka's default: 60000)")
    parser.add_argument("--fast", action="store_true",
                        help="the fault tests' FAST_FAILOVER broker settings instead of defaults")
    parser.add_argument("--set", type=_setting, action="append", default=[],
                        metavar="KEY=VALUE", help="a server.properties override (repeatable)")
    parser.add_argument("--settle", type=float, default=2.0,
                        help="seconds of steady state before each fault")
    parser.add_argument("--dir", type=Path, help="keep the clusters and histories here")
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
