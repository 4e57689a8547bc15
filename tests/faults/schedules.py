"""Fault schedules on a three-node LocalCluster while the queue workload runs.

Theory of operation. A schedule is a plain function over `Faults`, which
wraps a `kraft.tools.local_cluster.LocalCluster` with what a schedule needs:
who leads a partition (Metadata from a live node), who is the active
controller (DescribeQuorum), kill -9 / SIGSTOP / SIGCONT / graceful restart
of a node, and waits for the cluster to react (a partition's leadership
leaving a node, a new quorum leader, full ISR). Every fault is written to the
run's history as an Event, naming the victim and its roles, so a failing
history reads alongside what was done.

`run_schedule(cluster, schedule, workdir)` is one fault test: create a fresh
topic (replication factor 3, min.insync.replicas 2), start the producers,
wait for acknowledgements, run the schedule, wait until every partition is
back to full ISR and the producers are acknowledged again, stop them, read
everything back and check. It returns the checker's `Report` and the final
partition states; the caller asserts on both.

Every wait is a liveness bound (`LIVENESS_TIMEOUT_S`, generous for a loaded
2-core machine) whose expiry raises `ScheduleError` naming what did not
happen; nothing here asserts how fast the cluster is.

`FAST_FAILOVER` is the broker configuration the fault tests (and
scripts/bench_failover.py with --fast) run with: a broker that stops heartbeating is
fenced after broker.session.timeout.ms (Kafka's default 9 s; 3 s here) and
its partitions get new leaders from their ISR.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import kafka
import trio
from kio.schema.errors import ErrorCode

from kraft.net.client import ConnectionFailed, KafkaClient
from kraft.net.security import ClientSecurity
from kraft.raft import messages as m
from kraft.raft import rpc
from kraft.tools import quorum_status
from kraft.tools.local_cluster import LocalCluster
from tests.faults.checker import Report
from tests.faults.history import History
from tests.faults.workload import (
    Workload,
    WorkloadConfig,
    create_topic,
    kafka_python_security,
    read_and_check,
)
from tests.integration.protocol import metadata_v12

T = TypeVar("T")
REQUEST_TIMEOUT_S = 2.0
LIVENESS_TIMEOUT_S = 60.0
POLL_S = 0.1
HOLD_S = 2.0  # how long a degraded cluster runs the workload before the victims return
WARMUP_ACKS = 100  # acknowledged sends before the first fault
RECOVERY_ACKS = 100  # acknowledged sends after the last fault, before the producers stop

FAST_FAILOVER: dict[str, str] = {
    # Fence a broker (and move its partitions' leadership) 3 s after its last
    # heartbeat; 6 heartbeats per session so one late heartbeat on a busy
    # 2-core machine does not fence a live broker.
    "broker.session.timeout.ms": "3000",
    "broker.heartbeat.interval.ms": "500",
    # A live follower that falls behind leaves the ISR after 10 s (Kafka: 30 s);
    # dead followers leave it sooner, when the controller fences their broker.
    "replica.lag.time.max.ms": "10000",
}


class ScheduleError(Exception):
    """The cluster did not reach a state a schedule waits for within the liveness bound."""


@dataclass(frozen=True)
class PartitionState:
    """One partition as a broker's Metadata answer shows it."""

    partition: int
    leader: int
    leader_epoch: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]

    @property
    def full_isr(self) -> bool:
        return len(self.replicas) > 0 and set(self.isr) == set(self.replicas)


async def _metadata(address: tuple[str, int], topic: str,
                    security: ClientSecurity | None) -> dict[int, PartitionState] | None:
    async with KafkaClient("kraft-faults", connect_timeout=REQUEST_TIMEOUT_S,
                           security=security) as client:
        try:
            response = await client.request(
                address, metadata_v12([topic], allow_auto_topic_creation=False),
                REQUEST_TIMEOUT_S)
        except ConnectionFailed:
            return None
    found = [t for t in response.topics if t.name == topic]
    if not found or found[0].error_code != ErrorCode.none:
        return None
    return {p.partition_index: PartitionState(p.partition_index, p.leader_id, p.leader_epoch,
                                              tuple(p.replica_nodes), tuple(p.isr_nodes))
            for p in found[0].partitions}


def topic_state(address: tuple[str, int], topic: str,
                security: ClientSecurity | None = None) -> dict[int, PartitionState] | None:
    """`topic`'s partitions as the broker at `address` sees them; None if it does
    not answer (in REQUEST_TIMEOUT_S) or does not know the topic."""
    return trio.run(_metadata, address, topic, security)


async def _describe_quorum(address: tuple[str, int],
                           security: ClientSecurity | None) -> m.DescribeQuorumResponse | None:
    try:
        return await quorum_status.describe(address, REQUEST_TIMEOUT_S, security)
    except* (ConnectionFailed, rpc.PeerError):
        # `address`, or the leader it names, is dead or paused. except* also
        # unwraps the failure if it arrives inside a client nursery's group.
        pass
    return None


def quorum_leader(address: tuple[str, int], security: ClientSecurity | None = None) -> int | None:
    """The active controller (quorum leader) per DescribeQuorum to the controller
    at `address` (which forwards us to the leader it knows); None if no answer."""
    answer = trio.run(_describe_quorum, address, security)
    if answer is None or answer.error_code != ErrorCode.none or answer.leader_id < 0:
        return None
    return answer.leader_id


def wait_for(what: str, probe: Callable[[], T | None],
             timeout_s: float = LIVENESS_TIMEOUT_S,
             detail: Callable[[], str] | None = None) -> T:
    """Call `probe` until it returns something other than None or False; raise
    ScheduleError naming `what` (and `detail()`, the state that was seen) after
    `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = probe()
        if found is not None and found is not False:
            return found
        if time.monotonic() > deadline:
            seen = f"; {detail()}" if detail is not None else ""
            raise ScheduleError(f"not reached within {timeout_s:g} s: {what}{seen}")
        time.sleep(POLL_S)


class Faults:
    """A LocalCluster under a schedule: roles, faults and waits (see the module docstring)."""

    def __init__(self, cluster: LocalCluster, topic: str, history: History) -> None:
        self.cluster = cluster
        self.topic = topic
        self.history = history
        self.session_timeout_s = int(cluster.overrides.get(
            "broker.session.timeout.ms", "9000")) / 1000

    # --- roles --------------------------------------------------------------------------------

    def live(self) -> list[int]:
        """Nodes running and not paused."""
        return [n for n in self.cluster.ids
                if self.cluster.is_up(n) and not self.cluster.is_paused(n)]

    def state(self) -> dict[int, PartitionState] | None:
        """The topic as the first live node that answers sees it."""
        for n in self.live():
            found = topic_state(self.cluster.client_address(n), self.topic,
                                self.cluster.tool_security(self.cluster.client_listener))
            if found is not None:
                return found
        return None

    def leader(self, partition: int = 0) -> int:
        """The live leader of `partition` (waiting for one)."""
        def probe() -> int | None:
            found = self.state()
            leader = found[partition].leader if found and partition in found else -1
            return leader if leader in self.live() else None
        return wait_for(f"a live leader of {self.topic}-{partition}", probe,
                        detail=self.describe)

    def controller(self) -> int:
        """The live active controller (waiting for one)."""
        def probe() -> int | None:
            for n in self.live():
                leader = quorum_leader(self.cluster.controller_address(n),
                                       self.cluster.tool_security("CONTROLLER"))
                if leader is not None and leader in self.live():
                    return leader
            return None
        return wait_for("a live active controller", probe, detail=self.describe)

    def plain_leader(self) -> tuple[int, int]:
        """(partition, leader) for a partition whose live leader is not the active
        controller, so that killing it is a partition leader failure only;
        partition 0 and its leader if every partition is led by the controller."""
        controller = self.controller()
        state = self.state() or {}
        for p, s in sorted(state.items()):
            if s.leader != controller and s.leader in self.live():
                return p, s.leader
        return 0, self.leader(0)

    def describe(self) -> str:
        """The cluster as seen now, for an error message: live and paused nodes,
        the active controller and each partition's leader and ISR."""
        paused = [n for n in self.cluster.ids if self.cluster.is_paused(n)]
        quorum = next((q for n in self.live()
                       if (q := quorum_leader(self.cluster.controller_address(n),
                                       self.cluster.tool_security("CONTROLLER"))) is not None),
                      None)
        state = self.state()
        partitions = ("no live node answers Metadata" if state is None else ", ".join(
            f"{p}: leader {s.leader} ISR {list(s.isr)}" for p, s in sorted(state.items())))
        return (f"live nodes {self.live()}, paused {paused}, active controller {quorum}; "
                f"{self.topic} partitions {partitions}")

    def roles(self, node: int) -> str:
        """Which partitions `node` leads and whether it is the active controller, as text."""
        found = self.state() or {}
        led = [p for p, s in sorted(found.items()) if s.leader == node]
        quorum = next((q for n in self.live()
                       if (q := quorum_leader(self.cluster.controller_address(n),
                                       self.cluster.tool_security("CONTROLLER"))) is not None),
                      None)
        return (f"leader of partitions {led}, "
                f"{'the' if quorum == node else 'not the'} active controller")

    # --- faults ----------------------------------------------------------------------------------

    def kill(self, node: int) -> float:
        """SIGKILL `node`; returns the history time just before the signal."""
        self.history.note(f"kill -9 node {node} ({self.roles(node)})")
        killed_at = self.history.now()
        self.cluster.kill(node)
        return killed_at

    def pause(self, node: int) -> None:
        self.history.note(f"SIGSTOP node {node} ({self.roles(node)})")
        self.cluster.pause(node)

    def resume(self, node: int) -> None:
        self.history.note(f"SIGCONT node {node}")
        self.cluster.resume(node)
        self.cluster.wait_unfenced([node], LIVENESS_TIMEOUT_S)
        self.history.note(f"node {node} unfenced")

    def start(self, *nodes: int) -> None:
        """Start killed nodes on their data and wait until their brokers are unfenced."""
        self.history.note(f"start nodes {list(nodes)}")
        for n in nodes:
            self.cluster.start_node(n)
        self.cluster.wait_unfenced(list(nodes), LIVENESS_TIMEOUT_S)
        self.history.note(f"nodes {list(nodes)} unfenced")

    def restart(self, node: int) -> None:
        """Graceful restart (SIGTERM, start, wait unfenced)."""
        self.history.note(f"restart (SIGTERM) node {node} ({self.roles(node)})")
        self.cluster.restart(node, LIVENESS_TIMEOUT_S)
        self.history.note(f"node {node} back")

    def hold(self, seconds: float = HOLD_S) -> None:
        """Let the workload run on the cluster as it is."""
        time.sleep(seconds)

    def reassign(self, partition: int, target: list[int]) -> None:
        """AlterPartitionReassignments (kafka-python's admin) of `partition` to `target`."""
        self.history.note(f"reassign {self.topic}-{partition} to {target}")
        client = kafka.KafkaAdminClient(bootstrap_servers=self.cluster.bootstrap,
                                        **kafka_python_security(client_security(self.cluster)))
        try:
            result = client.alter_partition_reassignments(
                {kafka.TopicPartition(self.topic, partition): target})
        finally:
            client.close()
        if list(result.values()) != [None]:
            raise ScheduleError(f"reassignment of {self.topic}-{partition} refused: {result}")

    # --- waits --------------------------------------------------------------------------------

    def wait_replicas(self, partition: int, target: list[int]) -> None:
        """Wait until `partition` has exactly the replicas `target`, all in the ISR (the
        reassignment completed)."""
        def probe() -> bool:
            found = self.state()
            s = found.get(partition) if found else None
            return s is not None and s.replicas == tuple(target) and s.full_isr
        wait_for(f"{self.topic}-{partition} on replicas {target} with full ISR", probe,
                 detail=self.describe)
        self.history.note(f"{self.topic}-{partition} reassigned to {target}")

    def wait_leader_not(self, partition: int, nodes: set[int]) -> int:
        """Wait until a live node other than `nodes` leads `partition`; returns it."""
        def probe() -> int | None:
            found = self.state()
            leader = found[partition].leader if found and partition in found else -1
            return leader if leader not in nodes and leader in self.live() else None
        leader = wait_for(f"{self.topic}-{partition} led by a node outside {sorted(nodes)}",
                          probe, detail=self.describe)
        self.history.note(f"{self.topic}-{partition} now led by node {leader}")
        return leader

    def wait_controller_not(self, node: int) -> int:
        def probe() -> int | None:
            for n in self.live():
                leader = quorum_leader(self.cluster.controller_address(n),
                                       self.cluster.tool_security("CONTROLLER"))
                if leader is not None and leader != node and leader in self.live():
                    return leader
            return None
        leader = wait_for(f"an active controller other than node {node}", probe,
                          detail=self.describe)
        self.history.note(f"node {leader} is the active controller")
        return leader

    def wait_out_of_isr(self, node: int) -> None:
        """Wait until `node` is in no partition's ISR (its broker was fenced or
        it fell behind for replica.lag.time.max.ms)."""
        def probe() -> bool:
            found = self.state()
            return bool(found) and all(node not in s.isr for s in found.values())
        wait_for(f"node {node} out of every ISR of {self.topic}", probe, detail=self.describe)
        self.history.note(f"node {node} is out of every ISR")

    def isr_states(self) -> dict[int, dict[int, PartitionState] | None]:
        """The topic as each live node sees it."""
        security = self.cluster.tool_security(self.cluster.client_listener)
        return {n: topic_state(self.cluster.client_address(n), self.topic, security)
                for n in self.live()}

    def wait_full_isr(self, timeout_s: float = LIVENESS_TIMEOUT_S) -> dict[int, PartitionState]:
        """Wait until every node runs and every one of them reports every partition
        with a leader and ISR = all replicas; returns the partitions as the
        first node sees them then. On timeout returns what was last seen, for
        the caller's assertion to show."""
        deadline = time.monotonic() + timeout_s
        while True:
            views = self.isr_states() if len(self.live()) == len(self.cluster.ids) else {}
            complete = views and all(
                v is not None and all(s.full_isr and s.leader >= 0 for s in v.values())
                for v in views.values())
            if complete or time.monotonic() > deadline:
                first = next((v for v in views.values() if v is not None), None)
                if first is None:
                    first = self.state() or {}
                self.history.note(f"ISR {'full' if complete else 'NOT full'}: "
                                  f"{ {p: s.isr for p, s in sorted(first.items())} }")
                return first
            time.sleep(POLL_S)


# --- the schedules -------------------------------------------------------------------------------


def kill_leader(f: Faults) -> None:
    """kill -9 the leader of a partition (one that is not the active controller);
    once another replica leads that partition, restart the victim."""
    partition, victim = f.plain_leader()
    f.kill(victim)
    f.wait_leader_not(partition, {victim})
    f.hold()
    f.start(victim)


def kill_controller(f: Faults) -> None:
    """kill -9 the active controller; once the quorum has a new leader, restart the victim."""
    victim = f.controller()
    f.kill(victim)
    f.wait_controller_not(victim)
    f.hold()
    f.start(victim)


def kill_leader_and_controller(f: Faults) -> None:
    """kill -9 the node that is both the active controller and a partition leader:
    the quorum must elect a new controller before that one can fence the
    victim's broker and move its partitions."""
    victim = f.controller()
    state = f.state() or {}
    led = [p for p, s in sorted(state.items()) if s.leader == victim]
    if not led:  # leaders are spread over all three brokers, so rarely taken
        f.history.note(f"node {victim} leads no partition now; killing the controller only")
    f.kill(victim)
    f.wait_controller_not(victim)
    for p in led:
        f.wait_leader_not(p, {victim})
    f.hold()
    f.start(victim)


def pause_leader(f: Faults) -> None:
    """SIGSTOP the leader of a partition (one that is not the active controller)
    for longer than the broker session timeout (it is fenced and loses
    leadership while it still thinks it leads), then SIGCONT it."""
    partition, victim = f.plain_leader()
    f.pause(victim)
    started = time.monotonic()
    f.wait_leader_not(partition, {victim})
    f.hold(max(HOLD_S, f.session_timeout_s + 1 - (time.monotonic() - started)))
    f.resume(victim)


def pause_controller(f: Faults) -> None:
    """SIGSTOP the active controller until a new one has been elected and has
    fenced the paused node's broker (it leaves every ISR: longer than the
    session timeout), then SIGCONT it: it returns as a follower of a newer
    quorum epoch and its broker must register again."""
    victim = f.controller()
    f.pause(victim)
    f.wait_controller_not(victim)
    f.wait_out_of_isr(victim)
    f.hold()
    f.resume(victim)


def rolling_restart(f: Faults) -> None:
    """Graceful restart of every node in turn, the active controller last, each
    after the previous one is back in every ISR (as an operator does it)."""
    controller = f.controller()
    for node in [*(n for n in f.cluster.ids if n != controller), controller]:
        f.restart(node)
        f.wait_full_isr()


def kill_two(f: Faults) -> None:
    """kill -9 the leader of partition 0 and one other node at once (the quorum
    and min.insync.replicas are lost: nothing can be acknowledged), then
    restart both."""
    first = f.leader(0)
    controller = f.controller()
    second = controller if controller != first else next(n for n in f.cluster.ids if n != first)
    f.kill(first)
    f.kill(second)
    f.hold()
    f.start(first, second)


def kill_two_staggered(f: Faults) -> None:
    """kill -9 the leader of partition 0, then the replica that took over from it;
    restart both together."""
    first = f.leader(0)
    f.kill(first)
    second = f.wait_leader_not(0, {first})
    f.hold(1.0)
    f.kill(second)
    f.hold()
    f.start(first, second)


def kill_follower(f: Faults) -> None:
    """kill -9 a node that neither leads partition 0 nor is the active controller;
    keep it down until it is out of every ISR, then restart it (it must catch
    up from the leaders before it rejoins)."""
    leader, controller = f.leader(0), f.controller()
    victim = next((n for n in f.cluster.ids if n not in (leader, controller)),
                  next(n for n in f.cluster.ids if n != leader))
    f.kill(victim)
    f.wait_out_of_isr(victim)
    f.hold()
    f.start(victim)


def kill_leader_repeatedly(f: Faults) -> None:
    """Three rounds of: kill -9 the leader of partition 0, wait for a new leader,
    restart the victim, wait for full ISR."""
    for _ in range(3):
        victim = f.leader(0)
        f.kill(victim)
        f.wait_leader_not(0, {victim})
        f.hold(1.0)
        f.start(victim)
        f.wait_full_isr()


def kill_all(f: Faults) -> None:
    """kill -9 all three nodes, then start them again on their data (a power cut)."""
    for node in f.cluster.ids:
        f.kill(node)
    f.hold(1.0)
    f.start(*f.cluster.ids)


def kill_new_leader_during_catch_up(f: Faults) -> None:
    """kill -9 the leader A of partition 0; once B leads, start A again and at once
    kill -9 B. A is still starting, outside the ISR, and must not lead (no
    unclean election): the third replica takes over alone, below
    min.insync.replicas, until A has caught up from it; then restart B."""
    a = f.leader(0)
    f.kill(a)
    b = f.wait_leader_not(0, {a})
    f.hold(1.0)
    f.history.note(f"start node {a}, not waiting for it")
    f.cluster.start_node(a)
    f.kill(b)
    f.wait_leader_not(0, {a, b})
    f.cluster.wait_unfenced([a], LIVENESS_TIMEOUT_S)
    f.history.note(f"node {a} unfenced")
    f.hold()
    f.start(b)


def reassign_while_writing(f: Faults) -> None:
    """Move partition 0 off its leader A by reassignment (A deletes its copy and
    leadership moves, all while acks=all producers write), then add A back: it
    copies the partition from scratch; kill -9 A right after the reassignment
    adds it (before or during its catch-up) and start it again. The
    reassignment completes only once A is in the ISR; acknowledged writes
    survive every step."""
    a = f.leader(0)
    others = [n for n in f.cluster.ids if n != a]
    f.reassign(0, others)
    f.wait_replicas(0, others)
    copy = f.cluster.node_dir(a) / "data" / f"{f.topic}-0"
    wait_for(f"node {a} deleting its copy of {f.topic}-0", lambda: not copy.exists(),
             detail=f.describe)
    f.history.note(f"node {a} deleted its copy of {f.topic}-0")
    f.hold()
    f.reassign(0, [*others, a])
    f.kill(a)
    f.hold(1.0)
    f.start(a)
    f.wait_replicas(0, [*others, a])


@dataclass(frozen=True)
class Schedule:
    name: str
    run: Callable[[Faults], None]

    @property
    def description(self) -> str:
        return (self.run.__doc__ or "").split("\n\n")[0].replace("\n   ", "")


SCHEDULES: list[Schedule] = [Schedule(fn.__name__, fn) for fn in (
    kill_leader, kill_controller, kill_leader_and_controller, pause_leader, pause_controller,
    rolling_restart, kill_two, kill_two_staggered, kill_follower, kill_leader_repeatedly,
    kill_all, kill_new_leader_during_catch_up, reassign_while_writing,
)]
BY_NAME = {s.name: s for s in SCHEDULES}


@dataclass(frozen=True)
class ScheduleResult:
    """What one fault run produced: the checker's verdict, every partition's final
    state (from one node's Metadata), where the history is, and how long it took."""

    name: str
    report: Report
    partitions: dict[int, PartitionState]
    history_path: Path
    duration_s: float


def workload_config(cluster: LocalCluster, topic: str) -> WorkloadConfig:
    """The fault tests' workload: 3 producers at 30 sends/s each, 3 partitions
    with replication factor 3 and min.insync.replicas 2, librdkafka and
    kafka-python producers side by side."""
    return WorkloadConfig(bootstrap=cluster.bootstrap, topic=topic, partitions=3,
                          replication_factor=3, min_insync_replicas=2, producers=3, rate=30.0,
                          client="mixed", security=client_security(cluster))


def client_security(cluster: LocalCluster) -> dict[str, str]:
    """librdkafka's settings for the cluster's client listener ({} for PLAINTEXT)."""
    if cluster.sasl_ssl is None:
        return {}
    ca, _ = cluster.sasl_ssl.certificates(cluster.root)
    return {"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": cluster.sasl_ssl.user, "sasl.password": cluster.sasl_ssl.password,
            "ssl.ca.location": str(ca)}


def run_schedule(cluster: LocalCluster, schedule: Schedule, workdir: Path,
                 config: WorkloadConfig | None = None) -> ScheduleResult:
    """One fault test on a started `cluster` (see the module docstring). The
    history is written to workdir/<schedule>.jsonl. Raises ScheduleError if
    the cluster does not recover (no full ISR, no acknowledgements) in time."""
    config = config or workload_config(cluster, f"queue-{schedule.name.replace('_', '-')}")
    started = time.monotonic()
    create_topic(config)
    path = workdir / f"{schedule.name}.jsonl"
    with History(path) as history:
        faults = Faults(cluster, config.topic, history)
        with Workload(config, history) as workload:
            if not workload.wait_acks(WARMUP_ACKS, LIVENESS_TIMEOUT_S):
                raise ScheduleError(f"no {WARMUP_ACKS} acknowledgements before the faults "
                                    f"({faults.describe()}); history in {path}")
            history.note(f"schedule {schedule.name} begins")
            schedule.run(faults)
            history.note(f"schedule {schedule.name} ends")
            faults.wait_full_isr()
            if not workload.wait_acks(RECOVERY_ACKS, LIVENESS_TIMEOUT_S):
                raise ScheduleError(f"no {RECOVERY_ACKS} acknowledgements after the faults "
                                    f"({faults.describe()}); history in {path}")
        # Read back through the nodes there are now (a schedule may add or remove some).
        report = read_and_check(dataclasses.replace(config, bootstrap=cluster.bootstrap),
                                history)
        partitions = faults.wait_full_isr()
    return ScheduleResult(schedule.name, report, partitions, path, time.monotonic() - started)
