"""A local cluster of kraft nodes on loopback: `scripts/cluster` and the fault tests.

The nodes a cluster starts with have both roles (`process.roles=broker,controller`)
and are the voters of one quorum; node N has node.id N. With the fixed ports
(docs/design.md) node N listens for clients on 9092 + 3(N-1) and for controllers
on 9093 + 3(N-1); tests pass ports from `LocalCluster.free_ports()` instead.

The quorum is Kafka 4.x's dynamic one (kraft.version 1, KIP-853): the first
nodes are formatted as `kafka-storage format --initial-controllers` does (a
bootstrap checkpoint naming every first controller with its directory id) and
find each other through controller.quorum.bootstrap.servers, so nodes can be
added and removed later (`add`, `remove`: kraft.tools.local_cluster_membership).
A cluster formatted before that (cluster.id but no nodes.json), or made with
`quorum="static"`, keeps static voters in controller.quorum.voters.

Layout under `root` (`.cluster/` for the script):

    cluster.id              the cluster id, chosen when the cluster is first formatted
    nodes.json              every node's roles, ports and directory id, and the quorum
                            kind: what later invocations (and `add`/`remove`) go by
    removed/nodeN-TIME/     the directory of a node `remove` took out
    nodeN/joined            node N was added by `add` (formatted --no-initial-controllers)
    sasl-ssl, tls/          only for `start --sasl-ssl USER:PASSWORD`: the user and the
                            generated CA and certificate (kraft.tools.cluster_security)
    nodeN/server.properties written by every start of the node (ports, overrides)
    nodeN/data/             log.dirs: meta.properties, __cluster_metadata-0/, partitions
    nodeN/node.log          the node's stdout and stderr, appended; each start
                            writes a `=== local_cluster: starting node N ...` line
    nodeN/pid               the pid of the running node

Theory of operation. A node is a `python -m kraft.cli start nodeN/server.properties`
process in its own session, so it outlives the command that started it (the
script's `start` returns while the nodes keep running) and a Ctrl-C in that
terminal does not reach it. Another invocation finds it through `nodeN/pid`;
a pid file is believed only while /proc/<pid>/cmdline is that command with
that config file (a pid reused by an unrelated process, or a zombie, means
the node is down). Processes this object started are its children and are
reaped by it, which is how `stop_node` knows their exit status.

Readiness is read over the Kafka protocol: every live node that is not
paused is asked DescribeCluster v2 (include_fenced_brokers) on its client
listener, and the brokers waited for must be registered and unfenced in each
answer (with our cluster id). For a node this object started, its `ready`
line since that start is required as well, because after a kill -9 and a
quick restart the metadata still holds the *previous* incarnation's unfenced
registration until the new one is written: the protocol alone would report
the restarted broker ready before it has registered.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import random
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

import trio
from kio.schema.describe_cluster.v2.request import DescribeClusterRequest
from kio.schema.errors import ErrorCode

from kraft import meta_properties
from kraft.config_keys import ConfigError
from kraft.net.client import ConnectionFailed, KafkaClient
from kraft.net.security import ClientSecurity
from kraft.raft import bootstrap_checkpoint, rpc
from kraft.raft import messages as m
from kraft.tools.cluster_security import CLIENT_LISTENER, SaslSsl
from kraft.tools.local_cluster_base import (
    BOTH,
    DYNAMIC,
    HOST,
    POLL_S,
    REQUEST_TIMEOUT_S,
    RESERVED_PORTS,
    STATE_FILE,
    STATIC,
    ClusterError,
    fixed_ports,
)
from kraft.tools.local_cluster_procs import (
    _bindable,
    _is_node_process,
    _proc_state,
    _signal,
    _wait_exit,
    die_with_parent,
)

LOG_TAIL_LINES = 30
REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclasses.dataclass(frozen=True, slots=True)
class NodeState:
    """One node as root/nodes.json records it."""

    roles: str  # process.roles
    ports: tuple[int, int]  # (client, controller); a role's port is unused without the role
    directory_id: str  # the metadata log dir's directory.id (KIP-1035); "" before format


@dataclasses.dataclass(frozen=True, slots=True)
class ClusterState:
    quorum: str
    nodes: dict[int, NodeState]


def read_state(root: Path) -> ClusterState | None:
    """root/nodes.json, None if the cluster has none (new, or formatted before it existed)."""
    try:
        data = json.loads((root / STATE_FILE).read_text())
        return ClusterState(data["quorum"], {
            int(n): NodeState(v["roles"], (int(v["client_port"]), int(v["controller_port"])),
                              v.get("directory_id", ""))
            for n, v in data["nodes"].items()})
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise ClusterError(f"{root / STATE_FILE} is unreadable ({e!r}): it records the "
                           "cluster's nodes; restore it or remove the cluster directory") from None


@dataclasses.dataclass(frozen=True, slots=True)
class NodeStatus:
    """One node as `status()` sees it. The quorum fields come from one
    DescribeQuorum answer (the same for every row) and are None when no
    controller answered or the node is not a voter in that answer."""

    node_id: int
    pid: int | None
    up: bool
    paused: bool
    leader_id: int | None
    leader_epoch: int | None
    high_watermark: int | None
    log_end_offset: int | None  # this node's metadata log end offset, as the leader knows it
    lag: int | None  # high watermark - log end offset
    voter: bool = False  # a voter in the leader's answer (its log end may still be unknown)

    @property
    def is_leader(self) -> bool:
        return self.leader_id == self.node_id



def free_loopback_ports(n: int) -> list[int]:
    """`n` distinct ports free on 127.0.0.1 now, never one of the fixed ports
    9092-9100 people run their own clusters on.

    Picked at random below the kernel's ephemeral range
    (net.ipv4.ip_local_port_range), not with bind(0), which hands out ports
    from that range: every outgoing connection takes a port from there, and a
    client connecting between this call and the server's bind could hold the
    port by then. Each socket is held until all are bound, so one call never
    hands out a port twice.
    """
    low = _ephemeral_low()
    pool = [p for p in range(_FREE_PORT_FLOOR, low) if p not in RESERVED_PORTS]
    rng = random.SystemRandom()
    with contextlib.ExitStack() as stack:
        found: list[int] = []
        while len(found) < n:
            s = stack.enter_context(socket.socket())
            if len(pool) > 1000:
                port = rng.choice(pool)
                try:
                    s.bind((HOST, port))
                except OSError:
                    continue  # taken: another listener, or a connection in TIME_WAIT
            else:  # an unusual ephemeral range leaves no room below it
                s.bind((HOST, 0))
                port = s.getsockname()[1]
            if port not in RESERVED_PORTS and port not in found:
                found.append(port)
    return found


_FREE_PORT_FLOOR = 10_000  # below: well-known and registered services people run


def _ephemeral_low() -> int:
    """The first port of the kernel's ephemeral range (Linux's default 32768)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


class LocalCluster:
    """`nodes` nodes with both roles under `root`; see the module docstring."""

    def __init__(
        self,
        root: Path,
        *,
        nodes: int = 3,
        ports: dict[int, tuple[int, int]] | None = None,
        overrides: dict[str, str] | None = None,
        die_with_parent: bool = False,
        sasl_ssl: SaslSsl | None = None,
        quorum: str = DYNAMIC,
    ) -> None:
        self.root = Path(root).resolve()
        self.sasl_ssl = self._security(sasl_ssl)
        # kraft.testing: nodes die with the thread that started them (see die_with_parent()).
        self.die_with_parent = die_with_parent
        if quorum not in (DYNAMIC, STATIC):
            raise ValueError(f"quorum must be {DYNAMIC!r} or {STATIC!r}, not {quorum!r}")
        state = read_state(self.root)
        if state is not None:  # the nodes as the cluster's earlier commands left them
            self.quorum = state.quorum
            self.ids = sorted(state.nodes)
            self.ports = {n: state.nodes[n].ports for n in self.ids}
            self.roles = {n: state.nodes[n].roles for n in self.ids}
            self.directory_ids = {n: state.nodes[n].directory_id for n in self.ids}
        else:
            self.ids = list(range(1, nodes + 1))
            if ports is None:
                ports = {n: fixed_ports(n) for n in self.ids}
            if sorted(ports) != self.ids:
                raise ValueError(f"ports must be given for nodes {self.ids}, got {sorted(ports)}")
            self.ports = dict(ports)
            self.roles = dict.fromkeys(self.ids, BOTH)
            self.directory_ids = {}
            # A cluster formatted before nodes.json existed has static voters.
            self.quorum = STATIC if (self.root / "cluster.id").exists() else quorum
        self.overrides = dict(overrides or {})
        self.bootstrap: str = ",".join(f"{HOST}:{self.ports[n][0]}" for n in self.brokers)
        self._procs: dict[int, subprocess.Popen[bytes]] = {}
        self._marks: dict[int, int] = {}  # node id -> log offset where its current start began

    def _security(self, asked: SaslSsl | None) -> SaslSsl | None:
        """The cluster's SASL_SSL user: the one recorded at its first format, or
        `asked` for a new cluster. A cluster keeps what it was made with."""
        try:
            recorded = SaslSsl.load(self.root)
        except ConfigError as e:
            raise ClusterError(f"{self.root / 'sasl-ssl'}: {e}") from None
        formatted = (self.root / "cluster.id").exists()
        if asked is not None and formatted and asked != recorded:
            made = (f"with --sasl-ssl for user {recorded.user}" if recorded
                    else "without --sasl-ssl (PLAINTEXT)")
            raise ClusterError(f"the cluster in {self.root} was made {made}; stop it and "
                               f"remove {self.root} to make it anew")
        return recorded if formatted else asked

    @property
    def brokers(self) -> list[int]:
        """The nodes with the broker role."""
        return [n for n in self.ids if "broker" in self.roles[n].split(",")]

    @property
    def controllers(self) -> list[int]:
        """The nodes with the controller role (voters or, not yet added, observers)."""
        return [n for n in self.ids if "controller" in self.roles[n].split(",")]

    def save_state(self) -> None:
        """Record the nodes in root/nodes.json (written whole, then renamed into place)."""
        data = {"quorum": self.quorum, "nodes": {
            str(n): {"roles": self.roles[n], "client_port": self.ports[n][0],
                     "controller_port": self.ports[n][1],
                     "directory_id": self.directory_ids.get(n, "")} for n in self.ids}}
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f"{STATE_FILE}.tmp"
        tmp.write_text(json.dumps(data, indent=1) + "\n")
        tmp.replace(self.root / STATE_FILE)

    @property
    def client_listener(self) -> str:
        """The name of the nodes' client listener."""
        return CLIENT_LISTENER if self.sasl_ssl else "PLAINTEXT"

    def tool_security(self, listener: str) -> ClientSecurity | None:
        """How this tool's own clients reach `listener` (client listener or
        CONTROLLER) of the nodes: as a node does; None for PLAINTEXT."""
        if self.sasl_ssl is None:
            return None
        from kraft.config import KafkaConfig
        from kraft.security.listener import client_security

        client, controller = self.ports[self.ids[0]]
        props = {"node.id": "1", "process.roles": "broker,controller",
                 "controller.listener.names": "CONTROLLER",
                 "controller.quorum.voters": f"1@{HOST}:{controller}", "log.dirs": "/",
                 **self.sasl_ssl.node_props(self.root, HOST, client, controller)}
        mechanism_key = ("sasl.mechanism.controller.protocol" if listener == "CONTROLLER"
                         else "sasl.mechanism.inter.broker.protocol")
        return client_security(KafkaConfig(props, source="scripts/cluster"), listener,
                               mechanism_key)

    @staticmethod
    def free_ports(nodes: int = 3) -> dict[int, tuple[int, int]]:
        """(client, controller) ports for node ids 1..nodes, free on 127.0.0.1 now
        and never one of the fixed ports 9092-9100."""
        found = free_loopback_ports(2 * nodes)
        return {n: (found[2 * i], found[2 * i + 1]) for i, n in enumerate(range(1, nodes + 1))}

    # --- where things are ----------------------------------------------------------------

    def host(self, node_id: int) -> str:
        """The address node `node_id` listens on (subclasses may place nodes elsewhere)."""
        self._known(node_id)
        return HOST

    def client_address(self, node_id: int) -> tuple[str, int]:
        return self.host(node_id), self.ports[self._known(node_id)][0]

    def controller_address(self, node_id: int) -> tuple[str, int]:
        return self.host(node_id), self.ports[self._known(node_id)][1]

    def node_dir(self, node_id: int) -> Path:
        return self.root / f"node{self._known(node_id)}"

    def config_path(self, node_id: int) -> Path:
        return self.node_dir(node_id) / "server.properties"

    def log_path(self, node_id: int) -> Path:
        return self.node_dir(node_id) / "node.log"

    def _pid_path(self, node_id: int) -> Path:
        return self.node_dir(node_id) / "pid"

    def _known(self, node_id: int) -> int:
        if node_id not in self.ports:
            raise ClusterError(f"there is no node {node_id}: the nodes are {_ids(self.ids)}")
        return node_id

    # --- formatting ----------------------------------------------------------------------

    @property
    def cluster_id(self) -> str | None:
        """The id in root/cluster.id, None before the first format."""
        path = self.root / "cluster.id"
        return path.read_text().strip() if path.exists() else None

    def format(self) -> str:
        """Give the cluster an id (kept in root/cluster.id; taken from a node's
        meta.properties if that file was lost) and format every node's log dir
        that is not formatted yet. Returns the cluster id."""
        cluster_id = self.cluster_id
        if cluster_id is None:
            metas = (meta_properties.read(self.node_dir(n) / "data") for n in self.ids)
            found = next((meta.cluster_id for meta in metas if meta is not None), None)
            cluster_id = found or meta_properties.random_uuid()
            self.root.mkdir(parents=True, exist_ok=True)
            if self.sasl_ssl is not None:
                self.sasl_ssl.save(self.root)
            (self.root / "cluster.id").write_text(cluster_id + "\n")
        if self.quorum == DYNAMIC:
            for n in self.ids:
                self.directory_ids.setdefault(n, meta_properties.random_uuid())
        if read_state(self.root) is None:
            self.save_state()
        # The voters a new dynamic cluster starts with (--initial-controllers); a node
        # added later joins as an observer and is never in a checkpoint it formats.
        initial = self._initial_voters()
        for n in self.ids:
            data = self.node_dir(n) / "data"

            def checkpoint(todo: list[str], data: Path = data, n: int = n) -> None:
                if initial and n in {v.node_id for v in initial} and str(data) in todo:
                    bootstrap_checkpoint.write(data, initial, int(time.time() * 1000))

            try:
                written = meta_properties.format_directories(
                    [str(data)], cluster_id, n, ignore_formatted=True,
                    directory_ids={str(data): self.directory_ids[n]}
                    if n in self.directory_ids else None,
                    before_write=checkpoint,
                )
            except meta_properties.MetaPropertiesError as e:
                raise ClusterError(f"node {n}: {e}") from None
            if written and self.sasl_ssl is not None:
                from kraft.metadata import bootstrap

                bootstrap.write(data, [self.sasl_ssl.scram_record()])
        return cluster_id

    def _initial_voters(self) -> list[bootstrap_checkpoint.Voter]:
        """The voter set of a new dynamic cluster: its first controllers (nodes
        formatted together); empty for a static quorum."""
        if self.quorum != DYNAMIC:
            return []
        first = [n for n in self.controllers if not self._joined(n)]
        return [bootstrap_checkpoint.Voter(n, self.directory_ids[n], "CONTROLLER", self.host(n),
                                           self.ports[n][1]) for n in first]

    def _joined(self, node_id: int) -> bool:
        """True for a node that `add` made (it joins as an observer, never from a checkpoint)."""
        return (self.node_dir(node_id) / "joined").exists()

    def _write_config(self, node_id: int) -> Path:
        client, controller = self.ports[node_id]
        roles = self.roles[node_id]
        host = self.host(node_id)
        listeners = []
        if "broker" in roles.split(","):
            listeners.append(f"PLAINTEXT://{host}:{client}")
        if "controller" in roles.split(","):
            listeners.append(f"CONTROLLER://{host}:{controller}")
        props = {
            "node.id": str(node_id),
            "process.roles": roles,
            "listeners": ",".join(listeners),
            "controller.listener.names": "CONTROLLER",
            "log.dirs": str(self.node_dir(node_id) / "data"),
        }
        if self.quorum == STATIC:
            props["controller.quorum.voters"] = ",".join(
                f"{n}@{self.host(n)}:{self.ports[n][1]}" for n in self.controllers)
        else:
            props["controller.quorum.bootstrap.servers"] = ",".join(
                f"{self.host(n)}:{self.ports[n][1]}" for n in self.controllers)
        if len(self.brokers) < 3:
            # Kafka's defaults (3 replicas, min ISR 2) cannot be met by fewer
            # nodes: the internal topics could never be created.
            replicas = str(len(self.brokers))
            props["offsets.topic.replication.factor"] = replicas
            props["transaction.state.log.replication.factor"] = replicas
            props["transaction.state.log.min.isr"] = "1"
        if self.sasl_ssl is not None:
            props.update(self.sasl_ssl.node_props(self.root, self.host(node_id), client,
                                                  controller))
        props.update(self.overrides)
        path = self.config_path(node_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        return path

    # --- processes -----------------------------------------------------------------------

    def pid(self, node_id: int) -> int | None:
        """The pid of the running node, None if it is not running."""
        proc = self._procs.get(self._known(node_id))
        if proc is not None:
            # Our child is trusted without reading /proc: between fork and exec
            # its cmdline is still ours.
            if proc.poll() is None:
                return proc.pid
            self._forget(node_id, proc)  # reaped: its pid may now be anyone's
        try:
            pid = int(self._pid_path(node_id).read_text())
        except (OSError, ValueError):
            return None
        return pid if _is_node_process(pid, self.config_path(node_id)) else None

    def is_up(self, node_id: int) -> bool:
        return self.pid(node_id) is not None

    def is_paused(self, node_id: int) -> bool:
        """True while the node is stopped by SIGSTOP."""
        pid = self.pid(node_id)
        return pid is not None and _proc_state(pid) in ("T", "t")

    def _running(self, node_id: int, action: str) -> int:
        pid = self.pid(node_id)
        if pid is None:
            raise ClusterError(f"cannot {action} node {node_id}: it is not running")
        return pid

    def start(self, timeout: float = 60) -> None:
        """Format on first use, start every node that is not running, and return
        once every broker is registered and unfenced. Raises ClusterError (with
        the end of the failing node's log) if a node exits or time runs out."""
        self.format()
        down = [n for n in self.ids if not self.is_up(n)]
        for n in down:  # refuse before starting any, rather than leave a partial cluster
            self._check_ports(n)
        for n in down:
            self.start_node(n)
        self.wait_unfenced(None, timeout)

    def start_node(self, node_id: int) -> None:
        """Start one node on its existing data (formatting its log dir if it has
        none, with the cluster's id); does not wait for it."""
        if self.is_up(node_id):
            raise ClusterError(f"node {node_id} is already running (pid {self.pid(node_id)})")
        self._check_ports(node_id)
        self.format()
        config = self._write_config(node_id)
        log_path = self.log_path(node_id)
        with open(log_path, "ab") as out:
            out.write(f"=== local_cluster: starting node {node_id} at "
                      f"{time.strftime('%Y-%m-%d %H:%M:%S')} ===\n".encode())
            out.flush()
            self._marks[node_id] = out.tell()
            proc = subprocess.Popen(
                self.command(node_id, config),
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,  # outlive the script; no Ctrl-C from its terminal
                preexec_fn=die_with_parent if self.die_with_parent else None,
            )
        self._procs[node_id] = proc
        self._pid_path(node_id).write_text(f"{proc.pid}\n")

    def command(self, node_id: int, config: Path) -> list[str]:
        """The command line that runs node `node_id` (`kraft start` on its
        server.properties); subclasses may wrap it (e.g. in a network namespace)."""
        return [sys.executable, "-m", "kraft.cli", "start", str(config)]

    def _check_ports(self, node_id: int) -> None:
        for port, what in zip(self.ports[node_id], ("client", "controller"), strict=True):
            if not _bindable(port):
                raise ClusterError(f"node {node_id}: {what} port {HOST}:{port} is in use "
                                   f"by another process")

    def stop_node(self, node_id: int, timeout: float = 30) -> int:
        """SIGTERM (a graceful stop: controlled shutdown, the raft member
        resigns), wait up to `timeout`, then SIGKILL. A paused node is resumed
        so it can shut down. Returns the exit status: exact for a node this
        object started (negative: the signal that ended it); for one started
        by another process it is read from the node's log (0 if it logged its
        orderly stop, else 1) or -9 if it had to be killed."""
        pid = self._running(node_id, "stop")
        _signal(pid, signal.SIGTERM)
        _signal(pid, signal.SIGCONT)
        status = self._wait_gone(node_id, pid, timeout)
        if status is None:
            self.kill(node_id)
            status = -signal.SIGKILL
        return status

    def kill(self, node_id: int) -> None:
        """SIGKILL (no shutdown, nothing flushed) and wait until the process is gone."""
        pid = self._running(node_id, "kill")
        _signal(pid, signal.SIGKILL)
        if self._wait_gone(node_id, pid, 30) is None:
            raise ClusterError(f"node {node_id} (pid {pid}) survived SIGKILL")

    def pause(self, node_id: int) -> None:
        """SIGSTOP, returning once the process is stopped: the node keeps its
        sockets open but does nothing."""
        pid = self._running(node_id, "pause")
        _signal(pid, signal.SIGSTOP)
        self._await_state(node_id, pid, stopped=True)

    def resume(self, node_id: int) -> None:
        """SIGCONT after `pause`, returning once the process runs again."""
        pid = self._running(node_id, "resume")
        _signal(pid, signal.SIGCONT)
        self._await_state(node_id, pid, stopped=False)

    def _await_state(self, node_id: int, pid: int, *, stopped: bool) -> None:
        """Signals are delivered asynchronously: wait until /proc shows the effect."""
        deadline = time.monotonic() + 10
        while True:
            state = _proc_state(pid)
            if (state in ("T", "t")) == stopped:
                return
            if state in (None, "Z", "X"):
                raise ClusterError(f"node {node_id} (pid {pid}) exited")
            if time.monotonic() > deadline:
                raise ClusterError(f"node {node_id} (pid {pid}) is not "
                                   f"{'stopped' if stopped else 'running'} after 10 s")
            time.sleep(0.001)

    def restart(self, node_id: int, timeout: float = 60) -> None:
        """Stop the node gracefully if it runs, start it on its existing data and
        wait until its broker is unfenced again."""
        if self.is_up(node_id):
            self.stop_node(node_id)
        self.start_node(node_id)
        self.wait_unfenced([node_id], timeout)

    def add(self, roles: str = BOTH, ports: tuple[int, int] | None = None,
            timeout: float = 60) -> int:
        """Add node max(id)+1 with `roles` (on `ports`, else the fixed ones): formatted
        --no-initial-controllers, started, made a voter if it is a controller, and
        unfenced if it is a broker. Returns its id. See kraft.tools.local_cluster_membership."""
        from kraft.tools.local_cluster_membership import add_node

        return add_node(self, roles, ports, timeout)

    def remove(self, node_id: int, timeout: float = 60) -> str:
        """Move node_id's partitions to the other brokers, remove it from the voters,
        stop and unregister it; what was done, in one line."""
        from kraft.tools.local_cluster_membership import remove_node

        return remove_node(self, node_id, timeout)

    def stop(self) -> None:
        """Stop every running node gracefully. All get SIGTERM at once, so the
        last ones are not left waiting for a quorum that is already gone."""
        running = {n: pid for n in self.ids if (pid := self.pid(n)) is not None}
        for pid in running.values():
            _signal(pid, signal.SIGTERM)
            _signal(pid, signal.SIGCONT)
        for n, pid in running.items():
            if self._wait_gone(n, pid, 30) is None:
                _signal(pid, signal.SIGKILL)
                self._wait_gone(n, pid, 30)

    def close(self) -> None:
        """SIGKILL every node this object started or whose pid file names a live
        node, and wait for them. Never raises for a node that is already gone."""
        victims = {n: pid for n in self.ids if (pid := self.pid(n)) is not None}
        victims.update({n: p.pid for n, p in self._procs.items() if p.poll() is None})
        for pid in victims.values():
            _signal(pid, signal.SIGKILL)
        for n, pid in victims.items():
            self._wait_gone(n, pid, 30)

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _wait_gone(self, node_id: int, pid: int, timeout: float) -> int | None:
        """Wait for `pid` (node `node_id`) to exit; its exit status, or None if
        it is still running after `timeout`. Removes the pid file once it is gone."""
        proc = self._procs.get(node_id)
        if proc is not None and proc.pid == pid:
            try:
                status = proc.wait(timeout)
            except subprocess.TimeoutExpired:
                return None
            self._forget(node_id, proc)
        else:
            if not _wait_exit(pid, timeout):
                return None
            status = 0 if self._stopped_cleanly(node_id) else 1
        with contextlib.suppress(FileNotFoundError):
            if self._pid_path(node_id).read_text().strip() == str(pid):
                self._pid_path(node_id).unlink()
        return status

    def _forget(self, node_id: int, proc: subprocess.Popen[bytes]) -> None:
        """Drop `proc`, which has exited, from the started processes, unless another
        thread already has (a schedule's kill -9 racing a stop of the same node) or
        has started the node again since."""
        if self._procs.get(node_id) is proc:
            self._procs.pop(node_id, None)

    def _stopped_cleanly(self, node_id: int) -> bool:
        return f"node {node_id}: stopped" in self._current_log(node_id)

    def _current_log(self, node_id: int) -> str:
        """The log written since the node's last start."""
        try:
            data = self.log_path(node_id).read_bytes()
        except FileNotFoundError:
            return ""
        mark = self._marks.get(node_id)
        if mark is None:
            mark = max(0, data.rfind(b"=== local_cluster: starting"))
        return data[mark:].decode(errors="replace")

    def log_tail(self, node_id: int, lines: int = LOG_TAIL_LINES) -> str:
        """The last `lines` lines the node wrote since its last start."""
        return "\n".join(self._current_log(node_id).splitlines()[-lines:])

    # --- readiness and status --------------------------------------------------------------

    def wait_unfenced(self, node_ids: Iterable[int] | None = None, timeout: float = 60) -> None:
        """Return once the brokers `node_ids` (default all) are registered and
        unfenced in the metadata of every live node that is not paused (each
        asked with DescribeCluster) and, for nodes this object started, their
        `ready` line since that start is in their log. Raises ClusterError if
        one of them is not running or exits, or after `timeout` seconds."""
        targets = sorted(self._known(n) for n in (self.brokers if node_ids is None else node_ids))
        failure = trio.run(self._wait_unfenced, targets, timeout)
        if failure:
            raise ClusterError(failure)

    async def _wait_unfenced(self, targets: list[int], timeout: float) -> str | None:
        """None once the targets are ready, else why they never will be."""
        deadline = trio.current_time() + timeout
        async with KafkaClient("kraft-local-cluster", connect_timeout=REQUEST_TIMEOUT_S,
                               security=self.tool_security(self.client_listener)) as client:
            while True:
                if failure := self._hopeless(targets):
                    return failure
                waiting_for = await self._not_ready(client, targets)
                if not waiting_for:
                    return None
                if trio.current_time() > deadline:
                    return (f"brokers {_ids(targets)} not all unfenced within {timeout:g} s "
                            f"(still waiting for {waiting_for}); the node logs are "
                            f"{self.root}/nodeN/node.log")
                await trio.sleep(POLL_S)

    def _hopeless(self, targets: list[int]) -> str:
        """Why waiting for `targets` cannot help: one is down or paused ("" if none)."""
        for n in targets:
            if not self.is_up(n):
                return f"node {n} is not running; the end of {self.log_path(n)}:\n" + \
                    self.log_tail(n)
            if self.is_paused(n):
                return f"node {n} is paused: resume it first"
        return ""

    async def _not_ready(self, client: KafkaClient, targets: list[int]) -> str:
        """What `targets` still wait for; "" once they are ready."""
        silent = [n for n in targets if n in self._marks
                  and not re.search(rf"^kraft node {n} ready:", self._current_log(n), re.M)]
        if silent:
            return f"the ready line of node {_ids(silent)}"
        targets = [n for n in targets if n in self.brokers]
        for n in self.brokers:
            if self.is_up(n) and not self.is_paused(n):
                seen = await _unfenced_brokers(client, self.client_address(n), self.cluster_id)
                missing = [t for t in targets if t not in seen]
                if missing:
                    return f"brokers {_ids(missing)} to be unfenced in node {n}'s metadata"
        return ""

    def status(self) -> list[NodeStatus]:
        """Every node's pid and state, with the quorum as DescribeQuorum says it.
        The leader's answer gives the high watermark and each voter's log end
        offset; if the leader is down or paused, a follower's answer gives only
        the epoch it last knew. A leader is named only while it is up and not
        paused: a node that is down or paused is never shown as leading."""
        rows = [(n, self.pid(n), self.is_paused(n)) for n in self.ids]
        live = {n for n, pid, paused in rows if pid and not paused}
        asked = [self.controller_address(n) for n in sorted(live & set(self.controllers))]
        answer = trio.run(_describe_quorum, asked,
                          self.tool_security("CONTROLLER"))
        full = answer if answer is not None and answer.error_code == ErrorCode.none else None
        voters = {r.replica_id: r.log_end_offset for r in full.current_voters} if full else {}
        # A voter the leader has not heard from this epoch (down since the election,
        # say) has log end -1 in DescribeQuorum: unknown, not a position.
        known = {n: offset for n, offset in voters.items() if offset >= 0}
        hwm = full.high_watermark if full else None
        leader = answer.leader_id if answer is not None and answer.leader_id in live else None
        return [NodeStatus(
            node_id=n, pid=pid, up=pid is not None, paused=paused,
            leader_id=leader,
            leader_epoch=answer.leader_epoch if answer is not None and answer.leader_epoch >= 0
            else None,
            high_watermark=hwm,
            log_end_offset=known.get(n),
            lag=None if hwm is None or n not in known else max(0, hwm - known[n]),
            voter=n in voters,
        ) for n, pid, paused in rows]


async def _unfenced_brokers(
    client: KafkaClient, address: tuple[str, int], cluster_id: str | None
) -> set[int]:
    """The unfenced brokers in the metadata of the broker at `address`; empty
    if it does not answer, answers an error, or belongs to another cluster."""
    request = DescribeClusterRequest(include_cluster_authorized_operations=False,
                                     include_fenced_brokers=True)
    try:
        response = await client.request(address, request, REQUEST_TIMEOUT_S)
    except ConnectionFailed:
        return set()
    if response.error_code != ErrorCode.none or response.cluster_id != cluster_id:
        return set()
    return {b.broker_id for b in response.brokers if not b.is_fenced}


async def _describe_quorum(
    addresses: list[tuple[str, int]], security: ClientSecurity | None = None,
) -> m.DescribeQuorumResponse | None:
    """DescribeQuorum from the first of `addresses` that leads the quorum. If
    none does (the leader is down or paused), a follower's NOT_LEADER_OR_FOLLOWER
    answer, which still names the leader and epoch it knows; None if nobody
    answers. Controllers are asked directly, never through a redirect, so a
    paused leader costs nothing."""
    request = rpc.DESCRIBE_QUORUM.request_to_kio(m.DescribeQuorumRequest())
    fallback = None
    async with KafkaClient("kraft-local-cluster", connect_timeout=REQUEST_TIMEOUT_S,
                           security=security) as client:
        for address in addresses:
            try:
                response = await client.request(address, request, REQUEST_TIMEOUT_S)
                answer = rpc.DESCRIBE_QUORUM.response_from_kio(response)
            except (ConnectionFailed, rpc.PeerError):
                continue
            assert isinstance(answer, m.DescribeQuorumResponse)
            if answer.error_code == ErrorCode.none:
                return answer
            if fallback is None and answer.leader_id >= 0:
                fallback = answer
    return fallback


def _ids(ids: Iterable[int]) -> str:
    return ", ".join(map(str, ids))
