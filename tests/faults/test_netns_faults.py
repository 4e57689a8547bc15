"""Network faults between separate hosts: three kraft nodes in their own network namespaces.

Each node runs `kraft start` with its own server.properties in its own
namespace, joined by a bridge (tests/faults/netns.py); the workload and the
checker run in the root namespace, as clients on another host. Faults are
iptables rules inside a node's namespace. Every schedule ends with the
faults healed, every partition back to full ISR and the producers
acknowledged again; then the queue checker reads everything back: nothing
acknowledged lost, duplicated, reordered or overwritten; and every replica's
log holds the same batches (base and last offset, CRC, attributes, producer
id and epoch) as its leader's.

Needs root, iproute2 and iptables. When namespaces cannot be made the tests
skip, except under CI=true, where they fail: CI runs them as root, so a
missing capability there is a broken CI, not a reason to pass.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.faults.netns import Netns, NetnsCluster, NetnsUnavailable
from tests.faults.schedules import (
    FAST_FAILOVER,
    LIVENESS_TIMEOUT_S,
    Faults,
    PartitionState,
    Schedule,
    run_schedule,
    topic_state,
    wait_for,
    workload_config,
)
from tests.faults.txn_schedules import replica_differences

pytestmark = pytest.mark.slow

CLUSTER_START_TIMEOUT_S = 90.0


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[NetnsCluster]:
    """Three started nodes in their own namespaces; nodes killed and namespaces
    deleted at teardown, whatever happened."""
    net = Netns()
    try:
        net.create()
    except NetnsUnavailable as e:
        if os.environ.get("CI") == "true":
            pytest.fail(f"network namespaces are required in CI: {e}")
        pytest.skip(f"network namespaces unavailable: {e}")
    try:
        with NetnsCluster(tmp_path / "cluster", net, overrides=FAST_FAILOVER) as c:
            c.start(CLUSTER_START_TIMEOUT_S)
            yield c
    finally:
        net.destroy()


def _state_seen_by(f: Faults, nodes: list[int]) -> dict[int, PartitionState] | None:
    """The topic as the first of `nodes` that answers sees it (an isolated node
    would answer from its stale metadata, so it is left out)."""
    for n in nodes:
        found = topic_state(f.cluster.client_address(n), f.topic)
        if found is not None:
            return found
    return None


def _wait_leader_outside(f: Faults, partition: int, victim: int) -> int:
    others = [n for n in f.cluster.ids if n != victim]

    def probe() -> int | None:
        found = _state_seen_by(f, others)
        leader = found[partition].leader if found and partition in found else -1
        return leader if leader in others else None
    leader = wait_for(f"{f.topic}-{partition} led by one of {others}", probe,
                      LIVENESS_TIMEOUT_S, detail=f.describe)
    f.history.note(f"{f.topic}-{partition} now led by node {leader}")
    return leader


def _fault_partition_leader(f: Faults, what: str,
                            fault: Callable[[NetnsCluster, int, list[int]], None]) -> None:
    """Apply `fault` (cluster, victim, its peers) to the leader of a partition that
    is not the active controller, noted as `what`; once another replica leads the
    partition, hold, then heal."""
    assert isinstance(f.cluster, NetnsCluster)
    cluster = f.cluster
    partition, victim = f.plain_leader()
    f.history.note(f"{what} on node {victim} ({f.roles(victim)})")
    fault(cluster, victim, [n for n in cluster.ids if n != victim])
    _wait_leader_outside(f, partition, victim)
    f.hold()
    f.history.note(f"heal node {victim}")
    cluster.net.heal(victim)


def isolate_partition_leader(f: Faults) -> None:
    """Cut the leader of a partition (not the active controller) off from both
    other nodes, clients still reaching it; once another replica leads the
    partition, hold, then heal: the old leader rejoins and catches up."""
    _fault_partition_leader(f, "isolation from its peers",
                            lambda c, victim, peers: c.net.cut(victim, peers))


def isolate_partition_leader_and_clients(f: Faults) -> None:
    """Cut the leader of a partition (not the active controller) off from both
    other nodes and from the clients: it looks dead to everyone, but closes no
    connection; once another replica leads the partition, hold, then heal."""
    _fault_partition_leader(f, "isolation from peers and clients",
                            lambda c, victim, peers: c.net.cut(victim, peers, clients=True))


def drop_inbound_on_leader(f: Faults) -> None:
    """Drop every packet from its peers arriving at the leader of a partition
    (not the active controller); its own packets still reach them, and the
    clients still reach it both ways. Its heartbeats and fetches arrive at
    the others but their answers never come back, and its followers' fetches
    never arrive; once another replica leads the partition, hold, then heal."""
    _fault_partition_leader(f, "inbound packets from peers dropped",
                            lambda c, victim, peers: c.net.drop_inbound(victim, peers))


def isolate_active_controller(f: Faults) -> None:
    """Cut the active controller off from both other nodes and from the clients;
    once the other two elect a new quorum leader, hold, then heal: the old one
    returns as a follower of a newer epoch."""
    assert isinstance(f.cluster, NetnsCluster)
    victim = f.controller()
    others = [n for n in f.cluster.ids if n != victim]
    f.history.note(f"isolate node {victim} from peers and clients ({f.roles(victim)})")
    f.cluster.net.cut(victim, others, clients=True)

    def new_leader() -> int | None:
        from tests.faults.schedules import quorum_leader
        for n in others:
            leader = quorum_leader(f.cluster.controller_address(n))
            if leader is not None and leader in others:
                return leader
        return None
    leader = wait_for(f"a quorum leader among {others}", new_leader, LIVENESS_TIMEOUT_S,
                      detail=f.describe)
    f.history.note(f"node {leader} is the active controller")
    f.hold()
    f.history.note(f"heal node {victim}")
    f.cluster.net.heal(victim)


def bridge_partition(f: Faults) -> None:
    """Cut the link between the leader A of a partition and a follower B, the
    third node (the active controller) still reaching both: nobody is fenced,
    B leaves the ISR once A has heard no fetch from it for
    kraft.replica.fetch.silence.max.ms (docs/design.md, failing over, 6) and
    writes go on with A and the controller; then heal: B catches up and rejoins
    the ISR."""
    assert isinstance(f.cluster, NetnsCluster)
    partition, a = f.plain_leader()
    controller = f.controller()
    b = next(n for n in f.cluster.ids if n not in (a, controller))
    f.history.note(f"cut the link between nodes {a} and {b} ({a}: {f.roles(a)})")
    f.cluster.net.cut(a, [b])

    def b_out_of_isr() -> bool:
        found = _state_seen_by(f, [controller])
        return bool(found) and partition in found and b not in found[partition].isr
    wait_for(f"node {b} out of the ISR of {f.topic}-{partition}", b_out_of_isr,
             LIVENESS_TIMEOUT_S, detail=f.describe)
    f.history.note(f"node {b} is out of the ISR of {f.topic}-{partition}")
    f.hold()
    f.history.note(f"heal the link between nodes {a} and {b}")
    f.cluster.net.heal(a)


def pause_leader_past_session(f: Faults) -> None:
    """SIGSTOP the leader of a partition (not the active controller) for longer
    than the broker session timeout: it is fenced and loses leadership while
    it still thinks it leads; then SIGCONT it."""
    from tests.faults.schedules import pause_leader
    pause_leader(f)


def kill_while_isolated(f: Faults) -> None:
    """Cut the leader A of a partition off from its peers, then kill -9 another
    node B and start it again at once: while B is down only one node is
    reachable (no quorum, no ISR majority); once B is back the partition gets
    a leader outside A; then heal A."""
    assert isinstance(f.cluster, NetnsCluster)
    partition, a = f.plain_leader()
    b = next(n for n in f.cluster.ids if n != a)
    f.history.note(f"isolate node {a} from its peers ({f.roles(a)})")
    f.cluster.net.cut(a, [n for n in f.cluster.ids if n != a])
    f.kill(b)
    f.hold(1.0)
    f.history.note(f"start node {b}, node {a} still isolated")
    f.cluster.start_node(b)
    _wait_leader_outside(f, partition, a)
    f.hold()
    f.history.note(f"heal node {a}")
    f.cluster.net.heal(a)


NETNS_SCHEDULES = [Schedule(fn.__name__, fn) for fn in (
    isolate_partition_leader, isolate_partition_leader_and_clients, drop_inbound_on_leader,
    isolate_active_controller, bridge_partition, pause_leader_past_session,
    kill_while_isolated,
)]


@pytest.mark.parametrize("schedule", NETNS_SCHEDULES, ids=[s.name for s in NETNS_SCHEDULES])
def test_netns_schedule(cluster: NetnsCluster, tmp_path: Path, schedule: Schedule) -> None:
    """Under this network fault between hosts no acknowledged write is lost,
    duplicated, reordered or overwritten, and every partition ends with full ISR
    and its replicas' logs identical batch by batch."""
    config = workload_config(cluster, f"queue-{schedule.name.replace('_', '-')}")
    result = run_schedule(cluster, schedule, tmp_path, config)
    report = result.report
    assert report.valid, f"{schedule.name}: {report.summary()}\nhistory: {result.history_path}"
    assert report.counts.ok > 0
    not_full = {p: (s.leader, s.replicas, s.isr) for p, s in result.partitions.items()
                if not s.full_isr or len(s.replicas) != 3 or s.leader < 0}
    assert result.partitions and not not_full, \
        f"{schedule.name}: partitions not back to full ISR: {not_full or 'no answer'}"
    differences = replica_differences(cluster, config.topic, result.partitions)
    assert differences == [], "\n".join(differences)


def test_netns_cleanup_removes_every_namespace() -> None:
    """destroy() leaves none of the namespaces or the root veth behind."""
    net = Netns(tag=f"kc{os.getpid() % 100000}")
    try:
        net.create()
    except NetnsUnavailable as e:
        if os.environ.get("CI") == "true":
            pytest.fail(f"network namespaces are required in CI: {e}")
        pytest.skip(f"network namespaces unavailable: {e}")
    net.destroy()
    import subprocess
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    links = subprocess.run(["ip", "link"], capture_output=True, text=True).stdout
    assert net.tag not in names and net.root_veth not in links
