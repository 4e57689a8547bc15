"""LocalCluster and scripts/cluster: three real nodes on free ports.

The fast tests need no process: ports, formatting, pid files and the
script's refusals. The slow ones start real `kraft start` processes through
LocalCluster on ports from `free_ports()` (never 9092-9100) and check what
the nodes themselves say over the protocol (DescribeCluster, DescribeQuorum,
Metadata). The script test runs a copy of the real bash wrapper beside a
stub `_venv.sh` that points at this venv, so it never installs anything.
Every cluster is closed (SIGKILL) in a fixture or `finally`.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio
from confluent_kafka.admin import AdminClient, NewTopic
from kio.schema.describe_cluster.v2.request import DescribeClusterRequest
from kio.schema.errors import ErrorCode

from kraft import meta_properties
from kraft.config import KafkaConfig
from kraft.net.client import KafkaClient
from kraft.raft import bootstrap_checkpoint
from kraft.tools import local_cluster_cli, local_cluster_membership
from kraft.tools.local_cluster import (
    ClusterError,
    LocalCluster,
    NodeStatus,
    free_loopback_ports,
)
from tests.integration.helpers import wait_until

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    c = LocalCluster(tmp_path / "cluster", ports=LocalCluster.free_ports())
    try:
        yield c
    finally:
        c.close()


def brokers_seen_by(cluster: LocalCluster, node_id: int) -> dict[int, bool]:
    """Broker id -> fenced, as node `node_id` answers DescribeCluster (v2, fenced included)."""

    async def ask() -> object:
        async with KafkaClient("test-local-cluster") as client:
            request = DescribeClusterRequest(include_cluster_authorized_operations=False,
                                             include_fenced_brokers=True)
            return await client.request(cluster.client_address(node_id), request, 10)

    response = trio.run(ask)
    assert response.error_code == ErrorCode.none  # type: ignore[attr-defined]
    assert response.cluster_id == cluster.cluster_id  # type: ignore[attr-defined]
    return {b.broker_id: b.is_fenced for b in response.brokers}  # type: ignore[attr-defined]


def ports_env(cluster: LocalCluster) -> str:
    return ",".join(f"{c}:{k}" for c, k in cluster.ports.values())


# --- no processes --------------------------------------------------------------------------


def test_fixed_ports_follow_the_design_table(tmp_path: Path) -> None:
    """Without ports, node N listens on 9092/9095/9098 (client) and 9093/9096/9099."""
    c = LocalCluster(tmp_path)
    assert c.ids == [1, 2, 3]
    assert [c.client_address(n) for n in c.ids] == [("127.0.0.1", p) for p in (9092, 9095, 9098)]
    assert [c.controller_address(n)[1] for n in c.ids] == [9093, 9096, 9099]
    assert c.bootstrap == "127.0.0.1:9092,127.0.0.1:9095,127.0.0.1:9098"
    assert c.log_path(2) == tmp_path.resolve() / "node2" / "node.log"


@pytest.mark.parametrize("nodes", [1, 3, 5])
def test_free_ports_are_distinct_and_never_the_fixed_ones(nodes: int) -> None:
    """free_ports gives every node two ports, all different, none in 9092-9100."""
    ports = LocalCluster.free_ports(nodes)
    assert sorted(ports) == list(range(1, nodes + 1))
    flat = [p for pair in ports.values() for p in pair]
    assert len(set(flat)) == 2 * nodes
    assert not set(flat) & set(range(9092, 9101))


def test_free_ports_are_below_the_ephemeral_range() -> None:
    """Free ports come from below the kernel's ephemeral range, where no client
    connection can take one between the pick and the server's bind."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = free_loopback_ports(50)
    assert len(set(ports)) == 50
    assert all(p < low for p in ports)
    with socket.socket() as s:  # each is bindable once handed out
        s.bind(("127.0.0.1", ports[0]))


def test_format_gives_every_node_one_cluster_id(tmp_path: Path) -> None:
    """Formatting writes one cluster id under root and into each node's
    meta.properties with its own node id; it is kept by later formats, and
    recovered from the nodes if root/cluster.id is lost."""
    c = LocalCluster(tmp_path, ports=LocalCluster.free_ports())
    assert c.cluster_id is None
    cluster_id = c.format()
    assert c.cluster_id == cluster_id
    for n in c.ids:
        meta = meta_properties.read(tmp_path / f"node{n}" / "data")
        assert meta is not None and (meta.cluster_id, meta.node_id) == (cluster_id, n)
    assert c.format() == cluster_id
    (tmp_path / "cluster.id").unlink()
    assert LocalCluster(tmp_path, ports=c.ports).format() == cluster_id


def test_a_pid_file_naming_another_process_means_not_running(tmp_path: Path) -> None:
    """A pid file whose process is gone, is not this node, or is garbage means
    the node is down, and close() leaves such a process alone."""
    c = LocalCluster(tmp_path, ports=LocalCluster.free_ports())
    (tmp_path / "node1").mkdir()
    (tmp_path / "node1" / "pid").write_text("not a pid\n")
    assert c.pid(1) is None
    gone = subprocess.Popen(["true"])
    gone.wait()
    (tmp_path / "node1" / "pid").write_text(f"{gone.pid}\n")
    assert not c.is_up(1)
    stranger = subprocess.Popen(["sleep", "60"])
    try:
        (tmp_path / "node1" / "pid").write_text(f"{stranger.pid}\n")
        assert c.pid(1) is None
        c.close()
        assert stranger.poll() is None
        with pytest.raises(ClusterError, match="not running"):
            c.kill(1)
    finally:
        stranger.kill()
        stranger.wait()


def test_start_refuses_a_port_in_use_before_starting_anything(tmp_path: Path) -> None:
    """If any node's port is taken, start names it and starts no node at all."""
    with LocalCluster(tmp_path, ports=LocalCluster.free_ports()) as c, socket.socket() as s:
        s.bind(c.controller_address(3))
        s.listen()
        with pytest.raises(ClusterError, match=f"node 3: controller port 127.0.0.1:"
                                               f"{c.controller_address(3)[1]} is in use"):
            c.start()
        assert not any(c.is_up(n) for n in c.ids)


def test_ports_from_the_environment() -> None:
    """KRAFT_CLUSTER_PORTS lists CLIENT:CONTROLLER per node; without it the
    script uses .cluster/ in the repository and the fixed ports."""
    assert local_cluster_cli.parse_ports("1000:1001, 1002:1003") == {1: (1000, 1001),
                                                                 2: (1002, 1003)}
    with pytest.raises(ClusterError, match="CLIENT:CONTROLLER"):
        local_cluster_cli.parse_ports("1000")
    default = local_cluster_cli.from_environment({})
    assert default.root == REPO / ".cluster"
    assert default.client_address(3) == ("127.0.0.1", 9098)
    two = local_cluster_cli.from_environment({"KRAFT_CLUSTER_DIR": "/tmp/x",
                                          "KRAFT_CLUSTER_PORTS": "1000:1001,1002:1003"})
    assert (two.root, two.ids, two.controller_address(2)) == (Path("/tmp/x"), [1, 2],
                                                              ("127.0.0.1", 1003))


def test_commands_that_cannot_work_fail_with_a_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """kill of a node that does not exist, pause/resume/kill of a node that is
    down, logs of a node without a log, add/remove before the cluster exists
    exit 1 and say why; stop with
    nothing running and status of a stopped cluster succeed."""
    ports = LocalCluster.free_ports()
    monkeypatch.setenv("KRAFT_CLUSTER_DIR", str(tmp_path))
    monkeypatch.setenv("KRAFT_CLUSTER_PORTS", ",".join(f"{c}:{k}" for c, k in ports.values()))
    for argv, message in [(["kill", "4"], "there is no node 4: the nodes are 1, 2, 3"),
                          (["pause", "2"], "cannot pause node 2: it is not running"),
                          (["resume", "3"], "cannot resume node 3: it is not running"),
                          (["kill", "1"], "cannot kill node 1: it is not running"),
                          (["logs", "2"], "node 2 has no log yet"),
                          (["add"], "is not formatted yet: scripts/cluster start first"),
                          (["remove", "4"], "there is no node 4: the nodes are 1, 2, 3"),
                          (["remove", "2"], "is not formatted yet: scripts/cluster start")]:
        assert local_cluster_cli.main(argv) == 1
        assert message in capsys.readouterr().err
    assert local_cluster_cli.main(["stop"]) == 0
    assert "no node was running" in capsys.readouterr().out
    assert local_cluster_cli.main(["status"]) == 0
    out = capsys.readouterr().out
    assert out.count(" down ") == 3 and "no controller answered" in out


# --- real processes ------------------------------------------------------------------------


@pytest.mark.slow
def test_start_brings_up_three_unfenced_brokers_and_a_leader(cluster: LocalCluster) -> None:
    """start returns with every node's metadata showing brokers 1-3 unfenced,
    status shows three up voters with one leader, each node's config is what
    the issue asks, and a replication-factor-3 topic gets three replicas."""
    cluster.start()
    for n in cluster.ids:
        assert brokers_seen_by(cluster, n) == {1: False, 2: False, 3: False}
        config = KafkaConfig.load(cluster.node_dir(n) / "server.properties")
        assert config["node.id"] == n and config["process.roles"] == ["broker", "controller"]
        # Kafka 4.x's dynamic quorum: the voters are in the bootstrap checkpoint
        # (as --initial-controllers writes it), found through the bootstrap servers.
        assert config.quorum_voters == {}
        assert config.quorum_bootstrap_servers == [cluster.controller_address(i)
                                                   for i in cluster.ids]
        meta = meta_properties.read(cluster.node_dir(n) / "data")
        assert meta is not None and meta.directory_id == cluster.directory_ids[n]
        assert bootstrap_checkpoint.read(cluster.node_dir(n) / "data") == [
            bootstrap_checkpoint.Voter(i, cluster.directory_ids[i], "CONTROLLER",
                                       *cluster.controller_address(i)) for i in cluster.ids]
        assert config.listeners() == {"PLAINTEXT": cluster.client_address(n),
                                      "CONTROLLER": cluster.controller_address(n)}
    rows = cluster.status()
    assert [r.node_id for r in rows] == [1, 2, 3]
    assert all(r.up and not r.paused and r.pid == cluster.pid(r.node_id) for r in rows)
    leader = rows[0].leader_id
    assert leader in cluster.ids and rows[0].leader_epoch >= 1
    assert rows[leader - 1].log_end_offset >= rows[0].high_watermark >= 0
    assert all(r.log_end_offset is not None and r.lag is not None and r.lag >= 0 for r in rows)

    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    for future in admin.create_topics(
        [NewTopic("three-replicas", num_partitions=3, replication_factor=3)]
    ).values():
        future.result(30)
    metadata = admin.list_topics("three-replicas", timeout=30)
    assert sorted(metadata.brokers) == [1, 2, 3]
    partitions = metadata.topics["three-replicas"].partitions.values()
    assert len(partitions) == 3
    assert all(sorted(p.replicas) == [1, 2, 3] for p in partitions)


@pytest.mark.slow
def test_a_killed_node_comes_back_unfenced(cluster: LocalCluster) -> None:
    """kill -9 takes a node down (status says so); started again on its data it
    is unfenced in every node's metadata; restart gives a new, unfenced process."""
    cluster.start()
    cluster.kill(2)
    assert cluster.pid(2) is None and not (cluster.node_dir(2) / "pid").exists()
    assert [r.up for r in cluster.status()] == [True, False, True]
    cluster.start_node(2)
    cluster.wait_unfenced([2])
    assert all(brokers_seen_by(cluster, n)[2] is False for n in cluster.ids)
    before = cluster.pid(3)
    cluster.restart(3)
    assert cluster.pid(3) not in (None, before)
    assert all(brokers_seen_by(cluster, n) == {1: False, 2: False, 3: False}
               for n in cluster.ids)


@pytest.mark.slow
def test_pause_and_resume(cluster: LocalCluster) -> None:
    """A paused node is up but stopped (waiting for it fails at once); resumed,
    every broker is unfenced in every node's metadata again."""
    cluster.start()
    cluster.pause(1)
    assert cluster.is_up(1) and cluster.is_paused(1)
    assert [(r.up, r.paused) for r in cluster.status()] == [(True, True), (True, False),
                                                            (True, False)]
    with pytest.raises(ClusterError, match="node 1 is paused"):
        cluster.wait_unfenced([1])
    cluster.resume(1)
    assert not cluster.is_paused(1)
    cluster.wait_unfenced()
    assert brokers_seen_by(cluster, 1) == {1: False, 2: False, 3: False}


@pytest.mark.slow
def test_stop_is_graceful_and_start_reuses_the_data(cluster: LocalCluster) -> None:
    """stop_node exits 0 (SIGTERM, controlled shutdown); stop takes every node
    down; start brings the same cluster back from its directories."""
    cluster.start()
    cluster_id = cluster.cluster_id
    assert cluster.stop_node(1) == 0
    assert not cluster.is_up(1)
    cluster.stop()
    assert not any(cluster.is_up(n) for n in cluster.ids)
    assert not any((cluster.node_dir(n) / "pid").exists() for n in cluster.ids)
    cluster.start()
    assert cluster.cluster_id == cluster_id
    assert brokers_seen_by(cluster, 2) == {1: False, 2: False, 3: False}


@pytest.mark.slow
def test_another_instance_controls_the_running_nodes(cluster: LocalCluster) -> None:
    """A second LocalCluster on the same directory (as each script invocation
    is) finds the nodes through their pid files, stops one gracefully (exit
    status 0, read from its log) and kills the rest with close()."""
    cluster.start()
    other = LocalCluster(cluster.root, ports=cluster.ports)
    assert [other.pid(n) for n in other.ids] == [cluster.pid(n) for n in cluster.ids]
    assert other.stop_node(2) == 0
    assert not cluster.is_up(2)
    other.close()
    assert not any(cluster.is_up(n) for n in cluster.ids)


@pytest.mark.slow
def test_the_script(tmp_path: Path) -> None:
    """scripts/cluster start/status/kill/pause/restart/logs/stop run the cluster
    and exit non-zero with a message for a command that cannot work."""
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "cluster", repo / "scripts" / "cluster")
    (repo / "scripts" / "_venv.sh").write_text(f'VENV="{sys.prefix}"\n')
    root = tmp_path / "cluster"
    ports = LocalCluster.free_ports()
    handle = LocalCluster(root, ports=ports)
    env = {**os.environ, "KRAFT_CLUSTER_DIR": str(root), "KRAFT_CLUSTER_PORTS": ports_env(handle)}

    def script(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(repo / "scripts" / "cluster"), *args], env=env,
                              capture_output=True, text=True, timeout=120)

    try:
        started = script("start")
        assert started.returncode == 0, started.stderr
        assert f"bootstrap.servers={handle.bootstrap}" in started.stdout
        assert str(root) in started.stdout
        status = script("status")
        assert status.returncode == 0 and status.stdout.count(" up ") == 3
        assert re.search(r"quorum: leader [123], epoch \d+, high watermark \d+", status.stdout)
        assert script("kill", "2").returncode == 0 and not handle.is_up(2)
        assert " down " in script("status").stdout
        paused = script("pause", "2")
        assert paused.returncode == 1 and "node 2: it is not running" in paused.stderr
        assert script("restart", "2").returncode == 0
        assert brokers_seen_by(handle, 1)[2] is False
        logs = script("logs", "2", "-n", "1000")
        assert logs.returncode == 0 and logs.stdout.count("kraft node 2 ready") == 2
        assert len(script("logs", "2", "-n", "3").stdout.splitlines()) == 3
        wrong = script("kill", "4")
        assert wrong.returncode == 1 and "there is no node 4" in wrong.stderr
        stopped = script("stop")
        assert stopped.returncode == 0 and "stopped nodes 1, 2, 3" in stopped.stdout
        assert not any(handle.is_up(n) for n in handle.ids)
    finally:
        handle.close()



def test_ports_are_read_from_each_nodes_own_config(tmp_path: Path) -> None:
    """Without KRAFT_CLUSTER_PORTS the script finds a cluster started on other ports
    from its nodes' server.properties, so status asks the right nodes."""
    ports = LocalCluster.free_ports()
    started = LocalCluster(tmp_path, ports=ports)
    for n in started.ids:
        started._write_config(n)
    found = local_cluster_cli.from_environment({"KRAFT_CLUSTER_DIR": str(tmp_path)})
    assert found.ports == ports and found.ids == [1, 2, 3]
    (tmp_path / "node2" / "server.properties").write_text("listeners=garbage\n")
    with pytest.raises(ClusterError, match="cannot read node 2's ports"):
        local_cluster_cli.from_environment({"KRAFT_CLUSTER_DIR": str(tmp_path)})


@pytest.mark.slow
def test_status_never_names_a_dead_or_paused_leader(cluster: LocalCluster) -> None:
    """With the quorum leader killed (before and after a new one is elected), or
    paused, status shows no leader and no raw -1, never the dead or paused node; the
    new leader, which has not heard from the dead voter, shows its log end as
    unknown."""
    cluster.start()
    leader = cluster.status()[0].leader_id
    assert leader is not None
    cluster.pause(leader)
    paused_rows = cluster.status()
    assert all(r.leader_id != leader for r in paused_rows)
    cluster.resume(leader)
    cluster.kill(leader)
    rows = cluster.status()
    assert all(r.leader_id != leader for r in rows)
    text = local_cluster_cli.render_status(cluster, rows)
    assert not re.search(r"(?<![\w/-])-1\b", text), text
    assert f"leader {leader}," not in text
    role_of_dead = next(line for line in text.splitlines()
                        if line.strip().startswith(f"{leader} "))
    assert "leader" not in role_of_dead and " down " in role_of_dead
    wait_until(lambda: cluster.status()[0].leader_id not in (None, leader),
               "a new quorum leader")
    rows = cluster.status()
    text = local_cluster_cli.render_status(cluster, rows)
    assert not re.search(r"(?<![\w/-])-1\b", text), text
    dead = next(r for r in rows if r.node_id == leader)
    assert dead.voter and dead.log_end_offset is None and dead.lag is None
    assert "voter" in next(line for line in text.splitlines()
                           if line.strip().startswith(f"{leader} "))


def test_status_without_a_quorum_leader_claims_no_role(tmp_path: Path) -> None:
    """With no leader's DescribeQuorum answer (the quorum lost), a live controller's
    role is unknown ('-'), not 'observer'; no raw -1 anywhere."""
    cluster = LocalCluster(tmp_path, ports=LocalCluster.free_ports())
    rows = [NodeStatus(node_id=n, pid=100 if n == 1 else None, up=n == 1, paused=False,
                       leader_id=None, leader_epoch=7, high_watermark=None,
                       log_end_offset=None, lag=None) for n in cluster.ids]
    text = local_cluster_cli.render_status(cluster, rows)
    assert "quorum: no live leader (epoch 7)" in text
    roles = {int(line.split()[0]): line.split()[3] for line in text.splitlines()[5:]}
    assert roles == {1: "-", 2: "-", 3: "-"}
    assert not re.search(r"(?<![\w/-])-1\b", text), text


def test_a_sasl_ssl_cluster_keeps_its_security(tmp_path: Path) -> None:
    """`start --sasl-ssl` makes every listener SASL_SSL (SCRAM-SHA-512 for clients and
    replication, PLAIN between controllers, one generated CA), puts the user's SCRAM
    credential in each node's bootstrap, records the choice so a later instance
    (restart, status) speaks SASL_SSL too, and refuses to change a cluster's mind."""
    from kraft.metadata import bootstrap
    from kraft.metadata.records import UserScramCredentialRecord
    from kraft.tools.cluster_security import SaslSsl

    root = tmp_path / "cluster"
    alice = SaslSsl("alice", "alice-secret")
    made = LocalCluster(root, ports=LocalCluster.free_ports(), sasl_ssl=alice)
    made.format()
    for n in made.ids:
        config = KafkaConfig.load(made._write_config(n))
        assert set(config.listeners()) == {"SASL_SSL", "CONTROLLER"}
        assert config["inter.broker.listener.name"] == "SASL_SSL"
        records = bootstrap.read(made.node_dir(n) / "data")
        assert [r.name for r in records if isinstance(r, UserScramCredentialRecord)] == ["alice"]
    assert (root / "tls" / "ca.pem").exists()
    again = local_cluster_cli.from_environment({"KRAFT_CLUSTER_DIR": str(root)})
    assert again.sasl_ssl == alice and again.client_listener == "SASL_SSL"
    assert again.ports == made.ports  # read from the SASL_SSL listeners
    assert again.tool_security("CONTROLLER").sasl_mechanism == "PLAIN"
    assert again.tool_security("SASL_SSL").sasl_mechanism == "SCRAM-SHA-512"
    with pytest.raises(ClusterError, match="was made with --sasl-ssl for user alice"):
        LocalCluster(root, ports=made.ports, sasl_ssl=SaslSsl("bob", "bob-secret"))
    plain = LocalCluster(tmp_path / "plain", ports=LocalCluster.free_ports())
    plain.format()
    with pytest.raises(ClusterError, match="without --sasl-ssl"):
        LocalCluster(tmp_path / "plain", ports=plain.ports, sasl_ssl=alice)


def test_nodes_sizes_a_new_cluster_only(tmp_path: Path) -> None:
    """`start --nodes N` makes N voters on the fixed port pattern (internal topics
    replicated at most N times); an existing cluster or KRAFT_CLUSTER_PORTS keeps its
    count and a different --nodes is refused, as is a count outside 1-5."""
    env = {"KRAFT_CLUSTER_DIR": str(tmp_path / "five")}
    five = local_cluster_cli.from_environment(env, nodes=5)
    assert five.ids == [1, 2, 3, 4, 5] and five.ports[5] == (9104, 9105)
    one = LocalCluster(tmp_path / "one", nodes=1, ports=LocalCluster.free_ports(1))
    config = KafkaConfig.load(one._write_config(1))
    assert config["offsets.topic.replication.factor"] == 1
    assert len(config["controller.quorum.bootstrap.servers"]) == 1
    with pytest.raises(ClusterError, match="KRAFT_CLUSTER_PORTS names 1 nodes, not 3"):
        local_cluster_cli.from_environment({**env, "KRAFT_CLUSTER_PORTS": "19000:19001"}, nodes=3)
    with pytest.raises(ClusterError, match="between 1 and 5"):
        local_cluster_cli.from_environment(env, nodes=6)
    existing = {"KRAFT_CLUSTER_DIR": str(tmp_path / "one")}
    assert len(local_cluster_cli.from_environment(existing).ids) == 1
    with pytest.raises(ClusterError, match="has 1 nodes, not 3: --nodes only sizes a new"):
        local_cluster_cli.from_environment(existing, nodes=3)


def test_a_cluster_formatted_with_static_voters_keeps_them(tmp_path: Path) -> None:
    """A cluster directory formatted before nodes.json existed (cluster.id, no
    nodes.json) keeps controller.quorum.voters and no checkpoint, and is recorded
    as static; a new cluster is dynamic unless asked for static voters."""
    ports = LocalCluster.free_ports()
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "cluster.id").write_text(meta_properties.random_uuid() + "\n")
    for root, quorum in [(tmp_path / "old", "dynamic"), (tmp_path / "asked", "static")]:
        old = LocalCluster(root, ports=ports, quorum=quorum)
        old.format()
        config = KafkaConfig.load(old._write_config(2))
        assert config.quorum_voters == {i: old.controller_address(i) for i in old.ids}
        assert bootstrap_checkpoint.read(old.node_dir(2) / "data") is None
        again = LocalCluster(root)
        assert again.quorum == "static" and again.ports == ports
        with pytest.raises(ClusterError, match="has a static quorum"):
            again.add()
    new = LocalCluster(tmp_path / "new", ports=ports)
    assert new.quorum == "dynamic"


def test_nodes_json_remembers_roles_ports_and_gaps(tmp_path: Path) -> None:
    """nodes.json is what later invocations read: ids with gaps (a removed node),
    each node's roles, ports and directory id; brokers and controllers follow the roles."""
    c = LocalCluster(tmp_path, ports=LocalCluster.free_ports())
    c.format()
    c.ids.append(5)
    c.ports[5] = (1, 2)
    c.roles[5] = "broker"
    c.ids.remove(2)
    c.save_state()
    again = LocalCluster(tmp_path)
    assert again.ids == [1, 3, 5] and again.ports[5] == (1, 2)
    assert again.brokers == [1, 3, 5] and again.controllers == [1, 3]
    assert again.directory_ids[3] == c.directory_ids[3]
    config = KafkaConfig.load(again._write_config(5))
    assert config["process.roles"] == ["broker"] and list(config.listeners()) == ["PLAINTEXT"]
    assert config.quorum_bootstrap_servers == [again.controller_address(1),
                                               again.controller_address(3)]


def test_plan_moves_keeps_replication_factors_and_spreads_the_load() -> None:
    """remove N replaces N's replica of each partition by the least loaded broker
    not yet holding it, and refuses a partition that could not keep its factor."""
    partitions = {("t", 0): [4, 1], ("t", 1): [1, 4], ("t", 2): [1, 2], ("u", 0): [2],
                  ("v", 0): [3]}
    plan = local_cluster_membership.plan_moves(partitions, 4, [1, 2, 3])
    assert plan == {("t", 0): [3, 1], ("t", 1): [1, 2]}
    with pytest.raises(ClusterError, match="t-0 has replication factor 3 and only 2 other"):
        local_cluster_membership.plan_moves({("t", 0): [1, 2, 4]}, 4, [1, 2])


def test_a_voter_change_is_asked_again_while_the_quorum_elects_a_leader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`remove`/`add` ask a voter change again (until their deadline) when no leader
    is reachable because the old one died and another is being elected, as
    Kafka's Admin client does; a refusal is not asked again."""
    import time

    from kraft.raft import messages as m
    from kraft.tools import metadata_quorum as mq

    cluster = LocalCluster(tmp_path / "cluster", ports=LocalCluster.free_ports())
    request = m.RemoveRaftVoterRequest(cluster_id=None, voter_id=2, voter_directory_id=None)
    answers: list[str] = []

    async def change_voters(*args: object) -> None:
        if answers:
            raise mq.QuorumToolError(answers.pop(0))

    monkeypatch.setattr(mq, "change_voters", change_voters)
    monkeypatch.setattr(local_cluster_membership, "RETRY_S", 0)

    def change(deadline: float) -> None:
        local_cluster_membership._change(cluster, 2, request, [1, 2, 3], deadline,
                                         done_if="VOTER_NOT_FOUND", failed="node 2 stays")

    answers[:] = ["no controller answered: 127.0.0.1:1 (all attempts to connect failed)",
                  "DescribeQuorum answered not_leader_or_follower",
                  "the quorum leader at 127.0.0.1:1 did not answer: no answer",
                  "REQUEST_TIMED_OUT: the change is still committing"]
    change(time.monotonic() + 60)
    assert answers == []  # every transient failure was asked again, then it was taken

    answers[:] = ["INVALID_REQUEST: no such voter directory", "never asked"]
    with pytest.raises(ClusterError, match="node 2 stays: INVALID_REQUEST"):
        change(time.monotonic() + 60)
    assert answers == ["never asked"]

    answers[:] = ["no controller answered: 127.0.0.1:1"] * 2
    with pytest.raises(ClusterError, match="node 2 stays: no controller answered"):
        change(time.monotonic() - 1)  # past its deadline: the failure is the answer


def test_remove_asks_the_next_broker_when_one_does_not_answer() -> None:
    """`remove`'s Metadata, AlterPartitionReassignments and UnregisterBroker go to
    the next broker when one does not answer (killed since the command began);
    ClusterError naming each only when none answers."""
    from kraft.net.client import ConnectionFailed

    dead, live = ("127.0.0.1", 1), ("127.0.0.1", 2)
    asked: list[tuple[str, int]] = []

    class Client:
        async def request(self, address: tuple[str, int], request: object,
                          timeout: float) -> object:
            asked.append(address)
            if address == dead:
                raise ConnectionFailed("connection refused")
            return "answer"

    ask = local_cluster_membership._ask
    assert trio.run(ask, Client(), [dead, live], "request") == "answer"
    assert asked == [dead, live]
    with pytest.raises(ClusterError, match=r"no broker answered: 127.0.0.1:1 \(connection "
                                           r"refused\); 127.0.0.1:1 \(connection refused\)"):
        trio.run(ask, Client(), [dead, dead], "request")
