"""`scripts/cluster`: the command line of kraft.tools.local_cluster.LocalCluster.

start | stop | status | kill N | restart N | pause N | resume N | logs N |
add [--controller|--broker] | remove N; see `scripts/cluster --help`.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from pathlib import Path

from kraft.config_keys import ConfigError
from kraft.tools.cluster_security import CLIENT_LISTENER, SaslSsl
from kraft.tools.local_cluster import (
    REPO_ROOT,
    LocalCluster,
    NodeStatus,
    _ids,
    read_state,
)
from kraft.tools.local_cluster_base import BOTH, BROKER, CONTROLLER, MAX_NODES, ClusterError

USAGE = """\
environment:
  KRAFT_CLUSTER_DIR    data and logs (default: .cluster/ in the repository)
  KRAFT_CLUSTER_PORTS  CLIENT:CONTROLLER,... per node in id order (default
                       9092:9093,9095:9096,9098:9099); use the same value for
                       every command on one cluster directory; entries after
                       the nodes of `start --nodes N` are for nodes `add` makes
"""


def parse_ports(text: str) -> dict[int, tuple[int, int]]:
    """`9092:9093,9095:9096` -> {1: (9092, 9093), 2: (9095, 9096)}."""
    ports = {}
    for node_id, pair in enumerate(text.split(","), start=1):
        client, sep, controller = pair.strip().partition(":")
        if not sep or not client.isdigit() or not controller.isdigit():
            raise ClusterError(f"KRAFT_CLUSTER_PORTS: {pair!r} is not CLIENT:CONTROLLER")
        ports[node_id] = (int(client), int(controller))
    return ports


def from_environment(env: dict[str, str] | None = None, *, sasl_ssl: SaslSsl | None = None,
                     nodes: int | None = None) -> LocalCluster:
    """The cluster the script manages: KRAFT_CLUSTER_DIR (relative to the
    current directory) or .cluster/ in the repository, on KRAFT_CLUSTER_PORTS;
    without that, on the ports each node's own server.properties names (a
    cluster started with other ports is still found), else the fixed ports of
    `nodes` nodes (default 3). `nodes` must agree with an existing cluster."""
    env = dict(os.environ) if env is None else env
    root = Path(env["KRAFT_CLUSTER_DIR"]) if env.get("KRAFT_CLUSTER_DIR") else (
        REPO_ROOT / ".cluster")
    if nodes is not None and not 1 <= nodes <= MAX_NODES:
        raise ClusterError(f"--nodes must be between 1 and {MAX_NODES}, not {nodes}")
    state = read_state(root)
    if state is not None:  # nodes.json knows every node, added or removed ones included
        if nodes is not None and nodes != len(state.nodes):
            raise ClusterError(f"the cluster in {root} has {len(state.nodes)} nodes, not {nodes}: "
                               "--nodes only sizes a new cluster (scripts/cluster add and "
                               "remove N change it)")
        return LocalCluster(root, sasl_ssl=sasl_ssl)
    if env.get("KRAFT_CLUSTER_PORTS"):
        ports: dict[int, tuple[int, int]] | None = parse_ports(env["KRAFT_CLUSTER_PORTS"])
        where = "KRAFT_CLUSTER_PORTS names"
    else:
        ports = configured_ports(root)
        where = f"the cluster in {root} has"
    if ports and env.get("KRAFT_CLUSTER_PORTS") and nodes is not None and nodes < len(ports):
        # the entries after a new cluster's nodes are the ports of nodes `add` makes
        ports = {n: ports[n] for n in range(1, nodes + 1)}
    if ports and nodes is not None and nodes != len(ports):
        raise ClusterError(f"{where} {len(ports)} nodes, not {nodes}: --nodes only sizes a new "
                           f"cluster")
    count = len(ports) if ports else nodes or 3
    return LocalCluster(root, nodes=count, ports=ports, sasl_ssl=sasl_ssl)


def configured_ports(root: Path) -> dict[int, tuple[int, int]] | None:
    """(client, controller) ports per node from root/nodeN/server.properties, for
    nodes 1..n that all have one; None when node 1 has none (never started)."""
    from kraft.config import ConfigError, KafkaConfig

    ports = {}
    for node_id in itertools.count(1):
        path = root / f"node{node_id}" / "server.properties"
        if not path.exists():
            break
        try:
            listeners = KafkaConfig.load(path).listeners()
            client = listeners.get("PLAINTEXT") or listeners[CLIENT_LISTENER]
            ports[node_id] = (client[1], listeners["CONTROLLER"][1])
        except (ConfigError, OSError, KeyError) as e:
            raise ClusterError(f"cannot read node {node_id}'s ports from {path}: {e}") from None
    return ports or None


def render_status(cluster: LocalCluster, rows: list[NodeStatus]) -> str:
    first = rows[0]
    if first.leader_epoch is None:
        quorum = "quorum: no controller answered DescribeQuorum"
    elif first.leader_id is None:
        quorum = f"quorum: no live leader (epoch {first.leader_epoch}): an election is due"
    else:
        quorum = (f"quorum: leader {first.leader_id}, epoch {first.leader_epoch}, "
                  f"high watermark {_dash(first.high_watermark)}")
    lines = [f"cluster {cluster.cluster_id or '(not formatted)'} in {cluster.root}",
             f"bootstrap.servers={cluster.bootstrap}", quorum, "",
             f"{'node':>4}  {'pid':>7}  {'state':<6}  {'role':<8}  {'client':<15}  "
             f"{'controller':<15}  {'log end':>8}  {'lag':>5}"]
    for r in rows:
        state = "paused" if r.paused else "up" if r.up else "down"
        # Voters and observers as the quorum leader's answer lists them; without a
        # leader's answer (high watermark unknown) a controller's role is unknown.
        role = ("leader" if r.is_leader else "voter" if r.voter
                else "broker" if r.node_id not in cluster.controllers
                else "observer" if r.up and r.high_watermark is not None else "-")
        client = (":".join(map(str, cluster.client_address(r.node_id)))
                  if r.node_id in cluster.brokers else "-")
        controller = (":".join(map(str, cluster.controller_address(r.node_id)))
                      if r.node_id in cluster.controllers else "-")
        lines.append(
            f"{r.node_id:>4}  {r.pid or '-':>7}  {state:<6}  {role:<8}  {client:<15}  "
            f"{controller:<15}  {_dash(r.log_end_offset):>8}  {_dash(r.lag):>5}"
        )
    return "\n".join(lines)


def _dash(value: int | None) -> str:
    return "-" if value is None else str(value)


def _tail(path: Path, lines: int) -> tuple[str, int]:
    """The last `lines` lines of `path` and the offset where the file ended."""
    data = path.read_bytes()
    text = "".join(data.decode(errors="replace").splitlines(keepends=True)[-lines:])
    return text, len(data)


def _follow(path: Path, offset: int) -> None:
    """Print what is appended to `path` after `offset`, until interrupted."""
    with open(path, "rb") as f:
        f.seek(offset)
        while True:
            chunk = f.read()
            if chunk:
                sys.stdout.write(chunk.decode(errors="replace"))
                sys.stdout.flush()
            else:
                time.sleep(0.2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/cluster", epilog=USAGE, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="a local kraft cluster: nodes with both roles (three by default), all "
                    "voters of one dynamic quorum (KIP-853); `add` and `remove N` grow and "
                    "shrink it while it serves",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    start = sub.add_parser("start", help="format on first use, start the nodes, wait until all "
                                         "are unfenced")
    start.add_argument("--nodes", type=int, metavar="N",
                       help=f"how many nodes a new cluster has (1-{MAX_NODES}, default 3), all "
                            "voters; node N's ports are 9092+3(N-1) and the next one")
    start.add_argument("--sasl-ssl", metavar="USER:PASSWORD",
                       help="a new cluster speaks SASL_SSL on every listener (SCRAM-SHA-512 "
                            "for clients and replication, PLAIN between controllers) with "
                            "this user; certificates are made in the cluster directory")
    add = sub.add_parser("add", help="add node N+1 (both roles unless told), formatted "
                                     "--no-initial-controllers; a controller joins the voters")
    role = add.add_mutually_exclusive_group()
    role.add_argument("--controller", action="store_const", const=CONTROLLER, dest="roles",
                      help="a controller only (process.roles=controller)")
    role.add_argument("--broker", action="store_const", const=BROKER, dest="roles",
                      help="a broker only (process.roles=broker)")
    sub.add_parser("remove", help="move node N's partitions to the other brokers, remove it "
                                  "from the voters, stop and unregister it").add_argument(
        "node", type=int, metavar="N")
    sub.add_parser("stop", help="stop every node gracefully (SIGTERM)")
    sub.add_parser("status", help="each node's pid and state, the quorum leader, epoch and lag")
    for name, text in [("kill", "kill -9 node N"), ("restart", "restart node N on its data"),
                       ("pause", "SIGSTOP node N"), ("resume", "SIGCONT node N")]:
        sub.add_parser(name, help=text).add_argument("node", type=int, metavar="N")
    logs = sub.add_parser("logs", help="the end of node N's log")
    logs.add_argument("node", type=int, metavar="N")
    logs.add_argument("-n", "--lines", type=int, default=100, help="how many lines (100)")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing what is added")
    args = parser.parse_args(argv)
    try:
        sasl_ssl = getattr(args, "sasl_ssl", None)
        _run(from_environment(sasl_ssl=SaslSsl.parse(sasl_ssl) if sasl_ssl else None,
                              nodes=getattr(args, "nodes", None)), args)
    except (ClusterError, ConfigError) as e:
        print(f"scripts/cluster {args.command}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


def _run(cluster: LocalCluster, args: argparse.Namespace) -> None:
    command = args.command
    if command == "start":
        started = time.monotonic()
        cluster.start()
        print(f"cluster {cluster.cluster_id}: nodes {_ids(cluster.ids)} up and "
              f"unfenced in {time.monotonic() - started:.1f} s")
        print(f"data and logs: {cluster.root}")
        settings = cluster.sasl_ssl.client_settings(cluster.root) if cluster.sasl_ssl else ""
        print(f"bootstrap.servers={cluster.bootstrap}" + (f" {settings}" if settings else ""))
    elif command == "add":
        started = time.monotonic()
        node_id = max(cluster.ids) + 1
        env_ports = os.environ.get("KRAFT_CLUSTER_PORTS")
        ports = parse_ports(env_ports).get(node_id) if env_ports else None
        node_id = cluster.add(args.roles or BOTH, ports)
        client, controller = cluster.ports[node_id]
        listens = [f"client port {client}"] * (node_id in cluster.brokers) + [
            f"controller port {controller}"] * (node_id in cluster.controllers)
        joined = ", a voter" if node_id in cluster.controllers else ", unfenced"
        print(f"node {node_id} ({cluster.roles[node_id]}{joined}) added in "
              f"{time.monotonic() - started:.1f} s: {', '.join(listens)}")
        print(f"bootstrap.servers={cluster.bootstrap}")
    elif command == "remove":
        print(cluster.remove(args.node))
    elif command == "stop":
        running = [n for n in cluster.ids if cluster.is_up(n)]
        cluster.stop()
        print(f"stopped nodes {_ids(running)}" if running else "no node was running")
    elif command == "status":
        print(render_status(cluster, cluster.status()))
    elif command == "logs":
        path = cluster.log_path(args.node)
        if not path.exists():
            raise ClusterError(f"node {args.node} has no log yet ({path})")
        text, end = _tail(path, args.lines)
        sys.stdout.write(text)
        if args.follow:
            sys.stdout.flush()
            _follow(path, end)
    else:
        n = args.node
        if command == "kill":
            cluster.kill(n)
            print(f"node {n} killed (SIGKILL)")
        elif command == "pause":
            cluster.pause(n)
            print(f"node {n} paused (SIGSTOP)")
        elif command == "resume":
            cluster.resume(n)
            print(f"node {n} resumed (SIGCONT)")
        else:
            cluster.restart(n)
            print(f"node {n} restarted (pid {cluster.pid(n)}) and unfenced")


if __name__ == "__main__":
    sys.exit(main())
