"""Apache Kafka nodes on loopback (KRaft, combined mode) beside kraft's own, for scripts/vs-kafka.

`KafkaCluster(root, nodes=N, ports=..., overrides=...)` runs N Apache Kafka
nodes with both roles, each one JVM started as bin/kafka-server-start.sh does
(`KafkaDist.broker_command`: Kafka's heap and JVM options). It has the surface
of `kraft.tools.local_cluster.LocalCluster` that the fault harness and the
benchmarks use (`ids`, `bootstrap`, `client_address`, `controller_address`,
`pid`, `is_up`, `is_paused`, `kill`, `start_node`, `start`, `wait_unfenced`,
`close`), so `tests.faults.schedules.Faults` drives either system.

Configuration is Kafka's own: `quickstart_properties` holds the values of the
config/server.properties that Kafka 4.x's distribution ships (our Maven
artifacts carry no config files), with the ports and log.dirs replaced. A
single node is formatted as the quickstart says (`kafka-storage format
--standalone`, the controller found through controller.quorum.bootstrap.servers,
a dynamic quorum); three nodes get a static `controller.quorum.voters` list,
as kraft's LocalCluster writes it, and Kafka's defaults otherwise (replication
factor 3 for the internal topics). `kraft_cluster` builds the kraft side with
the same values (kraft has no dynamic quorum yet, issue 14: voters there too).

Readiness is read over the Kafka protocol, the same way for both systems:
DescribeCluster v2 with include_fenced_brokers on every live node's client
listener must list the brokers waited for as registered and unfenced.
Processes are started with PR_SET_PDEATHSIG so a JVM dies with the script
that started it; `close()` kills every node still running.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

import trio
from kio.schema.describe_cluster.v2.request import DescribeClusterRequest
from kio.schema.errors import ErrorCode

from kraft import meta_properties
from kraft.net.client import ConnectionFailed, KafkaClient
from kraft.tools.local_cluster import ClusterError, LocalCluster, die_with_parent
from tests.compat.kafka_dist import KafkaDist

HOST = "127.0.0.1"
REQUEST_TIMEOUT_S = 2.0
POLL_S = 0.05
FORMAT_TIMEOUT_S = 120.0

# Kafka 4.x config/server.properties (the quickstart), without the keys that
# name ports, hosts or directories (set per node below).
QUICKSTART: dict[str, str] = {
    "process.roles": "broker,controller",
    "inter.broker.listener.name": "PLAINTEXT",
    "controller.listener.names": "CONTROLLER",
    "listener.security.protocol.map":
        "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,"
        "SASL_SSL:SASL_SSL",
    "num.network.threads": "3",
    "num.io.threads": "8",
    "socket.send.buffer.bytes": "102400",
    "socket.receive.buffer.bytes": "102400",
    "socket.request.max.bytes": "104857600",
    "num.partitions": "1",
    "num.recovery.threads.per.data.dir": "1",
    "log.retention.hours": "168",
    "log.retention.check.interval.ms": "300000",
}
# The quickstart's single-node replication settings of the internal topics
# (a three-node cluster keeps Kafka's defaults: 3 and 2).
SINGLE_NODE: dict[str, str] = {
    "offsets.topic.replication.factor": "1",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "share.coordinator.state.topic.replication.factor": "1",
    "share.coordinator.state.topic.min.isr": "1",
}


def quickstart_properties(nodes: int) -> dict[str, str]:
    """The quickstart values for a cluster of `nodes` combined-mode nodes."""
    return {**QUICKSTART, **(SINGLE_NODE if nodes == 1 else {})}


def kraft_cluster(root: Path, nodes: int, overrides: dict[str, str] | None = None
                  ) -> LocalCluster:
    """kraft's LocalCluster with the settings `KafkaCluster` gives Kafka (free ports)."""
    props = {k: v for k, v in quickstart_properties(nodes).items()
             if k not in ("process.roles", "controller.listener.names")}
    return LocalCluster(root, nodes=nodes, ports=LocalCluster.free_ports(nodes),
                        overrides={**props, **(overrides or {})}, die_with_parent=True)


class KafkaCluster:
    """`nodes` Apache Kafka nodes with both roles under `root` (see the module docstring).

    Layout: root/cluster.id; root/nodeN/server.properties, nodeN/data (log.dirs),
    nodeN/logs/server.log (Kafka's INFO log), nodeN/stdout.log (the JVM's
    stdout and stderr)."""

    def __init__(self, kafka: KafkaDist, root: Path, *, nodes: int = 1,
                 ports: dict[int, tuple[int, int]] | None = None,
                 overrides: dict[str, str] | None = None) -> None:
        self.kafka = kafka
        self.root = Path(root).resolve()
        self.ids = list(range(1, nodes + 1))
        self.ports = dict(ports or LocalCluster.free_ports(nodes))
        self.overrides = dict(overrides or {})
        self.bootstrap = ",".join(f"{HOST}:{self.ports[n][0]}" for n in self.ids)
        self._procs: dict[int, subprocess.Popen[bytes]] = {}
        self._formatted = False
        self.cluster_id = meta_properties.random_uuid()

    @property
    def client_listener(self) -> str:
        """The name of the nodes' client listener (the quickstart's)."""
        return "PLAINTEXT"

    def tool_security(self, listener: str) -> None:
        """How the fault harness's own clients reach `listener`: PLAINTEXT, as every
        listener of the quickstart (kraft's LocalCluster may run SASL_SSL)."""
        return None

    def client_address(self, node_id: int) -> tuple[str, int]:
        return HOST, self.ports[self._known(node_id)][0]

    def controller_address(self, node_id: int) -> tuple[str, int]:
        return HOST, self.ports[self._known(node_id)][1]

    def node_dir(self, node_id: int) -> Path:
        return self.root / f"node{self._known(node_id)}"

    def _known(self, node_id: int) -> int:
        if node_id not in self.ports:
            raise ClusterError(f"there is no node {node_id}: the nodes are {self.ids}")
        return node_id

    def properties(self, node_id: int) -> dict[str, str]:
        """server.properties of node `node_id`: the quickstart's values, its ports and
        directories, the quorum (bootstrap servers for one node, voters for more), and
        the overrides."""
        client, controller = self.ports[node_id]
        if len(self.ids) == 1:
            quorum = {"controller.quorum.bootstrap.servers": f"{HOST}:{controller}"}
        else:
            quorum = {"controller.quorum.voters":
                      ",".join(f"{n}@{HOST}:{self.ports[n][1]}" for n in self.ids)}
        return {
            **quickstart_properties(len(self.ids)),
            "node.id": str(node_id),
            **quorum,
            "listeners": f"PLAINTEXT://{HOST}:{client},CONTROLLER://{HOST}:{controller}",
            "advertised.listeners": f"PLAINTEXT://{HOST}:{client},CONTROLLER://{HOST}:{controller}",
            "log.dirs": str(self.node_dir(node_id) / "data"),
            **self.overrides,
        }

    def _write_config(self, node_id: int) -> Path:
        path = self.node_dir(node_id) / "server.properties"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{k}={v}\n" for k, v in self.properties(node_id).items()))
        return path

    def format(self) -> None:
        """kafka-storage format every node (once): --standalone for a single node."""
        if self._formatted:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "cluster.id").write_text(self.cluster_id + "\n")
        for n in self.ids:
            args = ["format", "-t", self.cluster_id, "-c", str(self._write_config(n))]
            if len(self.ids) == 1:
                args.append("--standalone")
            done = subprocess.run(self.kafka.tool("kafka-storage", *args), text=True,
                                  capture_output=True, timeout=FORMAT_TIMEOUT_S,
                                  stdin=subprocess.DEVNULL)
            if done.returncode != 0:
                raise ClusterError(f"kafka-storage format of node {n} failed "
                                   f"(exit {done.returncode}): "
                                   f"{(done.stdout + done.stderr).strip()[-2000:]}")
        self._formatted = True

    # --- processes -------------------------------------------------------------------

    def pid(self, node_id: int) -> int | None:
        proc = self._procs.get(self._known(node_id))
        return proc.pid if proc is not None and proc.poll() is None else None

    def is_up(self, node_id: int) -> bool:
        return self.pid(node_id) is not None

    def is_paused(self, node_id: int) -> bool:
        pid = self.pid(node_id)
        if pid is None:
            return False
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return False
        return state in ("T", "t")

    def start_node(self, node_id: int) -> None:
        """Start one node on its data (formatting the cluster first if needed); no wait."""
        if self.is_up(node_id):
            raise ClusterError(f"node {node_id} is already running (pid {self.pid(node_id)})")
        self.format()
        config = self._write_config(node_id)
        logs = self.node_dir(node_id) / "logs"
        logs.mkdir(exist_ok=True)
        with open(self.node_dir(node_id) / "stdout.log", "ab") as out:
            self._procs[node_id] = subprocess.Popen(
                self.kafka.broker_command(config, logs), stdin=subprocess.DEVNULL,
                stdout=out, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)

    def start(self, timeout: float = 120) -> None:
        """Format, start every node that is down, and wait until all brokers are unfenced."""
        self.format()
        for n in self.ids:
            if not self.is_up(n):
                self.start_node(n)
        self.wait_unfenced(None, timeout)

    def kill(self, node_id: int) -> None:
        """SIGKILL and wait until the process is gone."""
        proc = self._procs.get(self._known(node_id))
        if proc is None or proc.poll() is not None:
            raise ClusterError(f"cannot kill node {node_id}: it is not running")
        proc.kill()
        proc.wait(30)

    def stop_node(self, node_id: int, timeout: float = 60) -> int:
        """SIGTERM (Kafka's controlled shutdown), SIGKILL after `timeout`; the exit status."""
        proc = self._procs.get(self._known(node_id))
        if proc is None:
            raise ClusterError(f"cannot stop node {node_id}: it is not running")
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait(30)

    def stop(self) -> None:
        """SIGTERM to every node at once, then wait (SIGKILL after 60 s)."""
        live = [p for p in self._procs.values() if p.poll() is None]
        for proc in live:
            proc.send_signal(signal.SIGTERM)
        for proc in live:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(30)

    def close(self) -> None:
        """SIGKILL every node still running and wait for it."""
        for proc in self._procs.values():
            if proc.poll() is None:
                proc.kill()
        for proc in self._procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(30)

    def __enter__(self) -> KafkaCluster:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def log_tail(self, node_id: int, lines: int = 30) -> str:
        """The end of the node's stdout/stderr and of its server.log."""
        out = []
        for path in (self.node_dir(node_id) / "stdout.log",
                     self.node_dir(node_id) / "logs" / "server.log"):
            with contextlib.suppress(OSError):
                out.append(f"--- {path}\n" + "\n".join(
                    path.read_text(errors="replace").splitlines()[-lines:]))
        return "\n".join(out)

    # --- readiness -------------------------------------------------------------------

    def wait_unfenced(self, node_ids: Iterable[int] | None = None, timeout: float = 120) -> None:
        """Return once brokers `node_ids` (default all) are registered and unfenced in
        the metadata of every live node; ClusterError if one exits or time runs out."""
        targets = sorted(self._known(n) for n in (self.ids if node_ids is None else node_ids))
        failure = trio.run(self._wait_unfenced, targets, timeout)
        if failure:
            raise ClusterError(failure)

    async def _wait_unfenced(self, targets: list[int], timeout: float) -> str | None:
        deadline = trio.current_time() + timeout
        async with KafkaClient("vs-kafka", connect_timeout=REQUEST_TIMEOUT_S) as client:
            while True:
                for n in targets:
                    if not self.is_up(n):
                        return f"Kafka node {n} is not running:\n{self.log_tail(n)}"
                live = [n for n in self.ids if self.is_up(n) and not self.is_paused(n)]
                views = [await unfenced_brokers(client, self.client_address(n), self.cluster_id)
                         for n in live]
                if views and all(set(targets) <= seen for seen in views):
                    return None
                if trio.current_time() > deadline:
                    return (f"Kafka brokers {targets} not all unfenced within {timeout:g} s; "
                            f"logs under {self.root}/nodeN/")
                await trio.sleep(POLL_S)


async def unfenced_brokers(client: KafkaClient, address: tuple[str, int],
                           cluster_id: str | None) -> set[int]:
    """The unfenced brokers in the metadata of the broker at `address` (DescribeCluster
    v2); empty if it does not answer, answers an error or is of another cluster."""
    request = DescribeClusterRequest(include_cluster_authorized_operations=False,
                                     include_fenced_brokers=True)
    try:
        with trio.fail_after(REQUEST_TIMEOUT_S * 2):
            response = await client.request(address, request, REQUEST_TIMEOUT_S)
    except (ConnectionFailed, trio.TooSlowError):
        return set()
    if response.error_code != ErrorCode.none or response.cluster_id != cluster_id:
        return set()
    return {b.broker_id for b in response.brokers if not b.is_fenced}


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` (all its threads), from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss_bytes(pid: int) -> int:
    """Resident set size of process `pid` (VmRSS in /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise ProcessLookupError(f"no VmRSS for pid {pid}")


def time_to_ready(cluster: KafkaCluster | LocalCluster, timeout: float = 120) -> float:
    """Seconds from starting every (formatted, stopped) node to all brokers unfenced."""
    cluster.format()
    started = time.monotonic()
    for n in cluster.ids:
        cluster.start_node(n)
    cluster.wait_unfenced(None, timeout)
    return time.monotonic() - started
