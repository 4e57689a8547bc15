"""`kraft metadata-quorum`: Kafka's kafka-metadata-quorum, flags and output.

    kraft metadata-quorum (--bootstrap-server HOST:PORT[,...] |
                           --bootstrap-controller HOST:PORT[,...]) [--command-config FILE]
        describe (--status | --replication [--human-readable]) [--json]
        add-controller             (--command-config: the new controller's properties;
                                    Kafka's place is before the sub-command, after works too)
        remove-controller --controller-id N --controller-directory-id ID

How it asks, as Kafka's admin client does:
- `--bootstrap-server`: DescribeCluster (the cluster id) and DescribeQuorum
  from a broker, which forwards DescribeQuorum to the active controller.
- `--bootstrap-controller` (KIP-919): DescribeCluster with endpoint type
  "controllers" from a controller gives the cluster id, the quorum leader and
  every controller's endpoint; DescribeQuorum goes to the leader (or, while
  none is known, to the controller asked, which names the leader).
The addresses of a list are tried in order until one answers.

Output is Kafka's: `--status` the ClusterId/LeaderId/.../CurrentObservers
lines (voters and observers as Kafka's JSON-ish lists: id, directoryId unless
zero, endpoints when known); `--replication` the NodeId/DirectoryId/... table
(leader, then the other voters, then observers; tab-separated columns padded
to their widest cell), `--human-readable` giving times as "N ms ago".
`--json` (kraft's) prints one JSON object instead, for scripts.
`--command-config FILE` gives the admin client's properties: the tool connects
with their security settings (kraft.security.client_properties).

add-controller and remove-controller change the voter set (AddRaftVoter,
RemoveRaftVoter, KIP-853), sent to the quorum leader found as for describe.
add-controller reads the new controller's properties as Kafka's tool does:
node.id, process.roles, the metadata log dir's meta.properties directory.id,
and the endpoints of controller.listener.names (advertised.listeners over
listeners). The new controller must be running (formatted
--no-initial-controllers) and caught up: the leader refuses a lagging one.
Errors are the leader's, in one line (Kafka's error name and message).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio
from kio.schema.errors import ErrorCode

from kraft import kafka_uuid, meta_properties
from kraft.config import parse_properties
from kraft.config_keys import ConfigError
from kraft.net.api_keys import ApiKey
from kraft.net.client import ConnectionFailed, KafkaClient, RequestNotSent, RequestTimedOut
from kraft.net.codec import request_type
from kraft.net.messages import build
from kraft.net.security import ClientSecurity
from kraft.raft import bootstrap_checkpoint as bc
from kraft.raft import messages as m
from kraft.raft import rpc
from kraft.security.client_properties import command_config_security

PROG = "kraft metadata-quorum"
TIMEOUT_S = 10.0
CHANGE_TIMEOUT_S = 60.0  # Kafka's default.api.timeout.ms: how long a change is asked again
RETRY_S = 0.2
RETRIABLE = ("request_timed_out", "not_leader_or_follower", "did not answer",
             "no controller answered")
"""Failures of a voter change that pass once the quorum settles (lower case): an
observer still catching up, a change still committing, no leader reachable while
the quorum elects one. Kafka's Admin client retries these until its timeout."""
BROKERS, CONTROLLERS = 1, 2  # DescribeCluster endpoint types
ZERO_UUID = kafka_uuid.encode(uuid.UUID(int=0))


class QuorumToolError(Exception):
    """What the tool tells the person, in one line."""


@dataclass(frozen=True, slots=True)
class Replica:
    node_id: int
    directory_id: str
    log_end_offset: int
    last_fetch_timestamp: int
    last_caught_up_timestamp: int
    endpoints: tuple[str, ...]  # LISTENER://host:port, when the response names them


@dataclass(frozen=True, slots=True)
class QuorumInfo:
    cluster_id: str
    leader_id: int
    leader_epoch: int
    high_watermark: int
    voters: tuple[Replica, ...]
    observers: tuple[Replica, ...]


def add_parsers(sub: argparse._SubParsersAction) -> None:
    tool = sub.add_parser("metadata-quorum", help="the metadata quorum "
                          "(Kafka's kafka-metadata-quorum)")
    where = tool.add_mutually_exclusive_group(required=True)
    where.add_argument("--bootstrap-server", metavar="HOST:PORT[,...]",
                       help="brokers to ask (they forward to the active controller)")
    where.add_argument("--bootstrap-controller", metavar="HOST:PORT[,...]",
                       help="controllers to ask directly (KIP-919)")
    tool.add_argument("--command-config", metavar="FILE",
                      help="the admin client's properties (security.protocol, sasl.*, ssl.*); "
                           "add-controller: the new controller's server.properties (Kafka "
                           "takes it before the sub-command; after it works too)")
    tool_sub = tool.add_subparsers(dest="quorum_command", required=True)
    describe = tool_sub.add_parser("describe", help="Describe the metadata quorum info")
    describe.add_argument("--status", action="store_true",
                          help="a short summary of the quorum status")
    describe.add_argument("--replication", action="store_true",
                          help="detailed information about the status of replication")
    describe.add_argument("--human-readable", action="store_true",
                          help="with --replication: times as 'N ms ago'")
    describe.add_argument("--json", action="store_true", help="one JSON object (for scripts)")
    add = tool_sub.add_parser("add-controller",
                              help="Add a controller to the KRaft controller cluster")
    add.add_argument("--command-config", dest="add_command_config", metavar="FILE",
                     help="the new controller's server.properties")
    remove = tool_sub.add_parser("remove-controller",
                                 help="Remove a controller from the KRaft controller cluster")
    remove.add_argument("--controller-id", type=int, required=True)
    remove.add_argument("--controller-directory-id", required=True)


def main(args: argparse.Namespace) -> int:
    quiet_client_log()
    try:
        return _run(args)
    except (QuorumToolError, ConfigError) as e:
        print(e, file=sys.stderr)
        return 1


def quiet_client_log() -> None:
    """A tool tells a failure in its one error line; the client's own warnings
    (a refused SASL login, say) would reach stderr as extra lines, since a tool
    configures no logging."""
    logging.getLogger("kraft.net.client").setLevel(logging.ERROR)


def _run(args: argparse.Namespace) -> int:
    if args.quorum_command in ("add-controller", "remove-controller"):
        return _change(args)
    if not args.status and not args.replication:
        raise QuorumToolError("One of --status or --replication must be specified with "
                              "describe sub-command")
    if args.status and args.replication:
        raise QuorumToolError("Only one of --status or --replication should be specified "
                              "with describe sub-command")
    if args.human_readable and not args.replication:
        raise QuorumToolError("The option --human-readable is only supported along with "
                              "--replication")
    controller = args.bootstrap_controller is not None
    servers = parse_servers(args.bootstrap_controller if controller else args.bootstrap_server)
    info = trio.run(describe_quorum, servers, controller, _security(args))
    now_ms = int(time.time() * 1000)
    if args.status:
        print(json.dumps(status_json(info)) if args.json else render_status(info))
    else:
        rows = replication_rows(info)
        if args.json:
            print(json.dumps({"replicas": rows}))
        else:
            print(render_replication(rows, now_ms if args.human_readable else None))
    return 0


def _change(args: argparse.Namespace) -> int:
    """add-controller / remove-controller: Kafka's checks, then the RPC to the leader."""
    request: m.AddRaftVoterRequest | m.RemoveRaftVoterRequest
    if args.quorum_command == "add-controller":
        config = args.add_command_config or args.command_config
        if config is None:
            raise QuorumToolError("You must supply the configuration file of the controller you "
                                  "are adding when using add-controller.")
        voter_id, directory_id, listeners = controller_to_add(config)
        request = m.AddRaftVoterRequest(cluster_id=None, timeout_ms=int(TIMEOUT_S * 1000),
                                        voter_id=voter_id, voter_directory_id=directory_id,
                                        listeners=listeners)
    else:
        if args.controller_id < 0:
            raise QuorumToolError(f"Invalid negative --controller-id: {args.controller_id}")
        directory_id = args.controller_directory_id
        try:
            bc.decode_uuid(directory_id)
        except ValueError:
            raise QuorumToolError("Failed to parse --controller-directory-id: Invalid UUID "
                                  f"string: {directory_id}") from None
        request = m.RemoveRaftVoterRequest(cluster_id=None, voter_id=args.controller_id,
                                           voter_directory_id=directory_id)
    controller = args.bootstrap_controller is not None
    servers = parse_servers(args.bootstrap_controller if controller else args.bootstrap_server)
    change_until_taken(servers, controller, request, _security(args),
                       time.monotonic() + CHANGE_TIMEOUT_S)
    if isinstance(request, m.AddRaftVoterRequest):
        endpoints = ", ".join(f"{n}://{f'[{h}]' if ':' in h else h}:{p}"
                              for n, h, p in request.listeners)
        print(f"Added controller {request.voter_id} with directory id "
              f"{request.voter_directory_id} and endpoints: {endpoints}")
    else:
        print(f"Removed KRaft controller {request.voter_id} with directory id "
              f"{request.voter_directory_id}")
    return 0


def _security(args: argparse.Namespace) -> ClientSecurity | None:
    """How to connect: the security settings of --command-config (for add-controller,
    the new controller's properties are also the admin client's, as in Kafka)."""
    return command_config_security(args.command_config
                                   or getattr(args, "add_command_config", None))


def controller_to_add(path: str) -> tuple[int, str, tuple[tuple[str, str, int], ...]]:
    """(node id, directory id, controller endpoints) of a controller's properties file,
    with Kafka's MetadataQuorumCommand messages for what is missing."""
    try:
        props = parse_properties(Path(path).read_text())
    except OSError:
        raise QuorumToolError(f"Properties file {path} does not exists!") from None
    hint = "Is this a valid controller configuration file?"
    if "node.id" not in props:
        raise QuorumToolError(f"node.id not found in configuration file. {hint}")
    try:
        node_id = int(props["node.id"])
    except ValueError:
        raise QuorumToolError(f"node.id is not a number in configuration file. {hint}") from None
    if node_id < 0:
        raise QuorumToolError(f"node.id was negative in configuration file. {hint}")
    if "controller" not in props.get("process.roles", ""):
        raise QuorumToolError(
            f"process.roles did not contain 'controller' in configuration file. {hint}")
    if "metadata.log.dir" in props:
        directory = props["metadata.log.dir"]
    elif props.get("log.dirs", "").strip():
        directory = props["log.dirs"].strip().split(",")[0]
    else:
        raise QuorumToolError(f"Neither metadata.log.dir nor log.dirs were found. {hint}")
    meta = meta_properties.read(directory)
    if meta is None:
        raise QuorumToolError(f"Unable to read meta.properties from {directory}")
    if not meta.directory_id:
        raise QuorumToolError(f"No directory id found in {directory}")
    listeners = _listener_map(props.get("listeners", ""))
    listeners.update(_listener_map(props.get("advertised.listeners", "")))
    if "controller.listener.names" not in props:
        raise QuorumToolError(f"controller.listener.names was not found. {hint}")
    endpoints = []
    for name in props["controller.listener.names"].split(","):
        name = name.strip().upper()
        if name not in listeners:
            raise QuorumToolError(
                f"Cannot find information about controller listener name: {name}")
        host, port = listeners[name]
        endpoints.append((name, host or "localhost", port))
    return node_id, meta.directory_id, tuple(endpoints)


def _listener_map(text: str) -> dict[str, tuple[str, int]]:
    found: dict[str, tuple[str, int]] = {}
    for entry in filter(None, (e.strip() for e in text.split(","))):
        name, sep, rest = entry.partition("://")
        host, _, port = rest.rpartition(":")
        if not sep or not port.isdigit():
            raise QuorumToolError(f"Unable to parse {entry} to a listener")
        found[name.upper()] = (host.strip("[]"), int(port))
    return found


def change_until_taken(servers: list[tuple[str, int]], controller: bool,
                       request: m.AddRaftVoterRequest | m.RemoveRaftVoterRequest,
                       security: ClientSecurity | None, deadline: float) -> None:
    """`change_voters`, asked again after a RETRIABLE failure until `deadline`
    (time.monotonic()); then, or for any other failure, QuorumToolError."""
    while True:
        try:
            trio.run(change_voters, servers, controller, request, security)
            return
        except QuorumToolError as e:
            if (not any(reason in str(e).lower() for reason in RETRIABLE)
                    or time.monotonic() > deadline):
                raise
        time.sleep(RETRY_S)


async def change_voters(servers: list[tuple[str, int]], controller: bool,
                        request: m.AddRaftVoterRequest | m.RemoveRaftVoterRequest,
                        security: ClientSecurity | None = None) -> None:
    """Send the change to the quorum leader (found as describe finds it). Raises
    QuorumToolError with the leader's error."""
    info = await describe_quorum(servers, controller, security)
    leader = next((r for r in info.voters if r.node_id == info.leader_id), None)
    address = None
    if leader is not None and leader.endpoints:
        _name, _, hostport = leader.endpoints[0].partition("://")
        host, _, port = hostport.rpartition(":")
        address = (host.strip("[]"), int(port))
    if address is None:
        if not controller:
            raise QuorumToolError("changing the voters through --bootstrap-server is not "
                                  "supported yet: use --bootstrap-controller")
        raise QuorumToolError(f"the quorum leader {info.leader_id} has no known endpoint")
    kio_request = rpc.for_request(request).request_to_kio(request)
    failure = None  # raised after the client's nursery, which would wrap it in a group
    async with KafkaClient("kraft-metadata-quorum", connect_timeout=TIMEOUT_S,
                           security=security) as client:
        try:
            with trio.fail_after(TIMEOUT_S * 2):
                response = await client.request(address, kio_request, timeout=TIMEOUT_S * 1.5)
        except (ConnectionFailed, RequestNotSent, RequestTimedOut, trio.TooSlowError) as e:
            failure = QuorumToolError(f"the quorum leader at {address[0]}:{address[1]} did "
                                      f"not answer: {e or 'no answer'}")
    if failure is not None:
        raise failure
    if response.error_code != ErrorCode.none:
        message = response.error_message or "no message"
        raise QuorumToolError(f"{response.error_code.name.upper()}: {message}")


def parse_servers(text: str) -> list[tuple[str, int]]:
    out = []
    for entry in text.split(","):
        host, _, port = entry.strip().rpartition(":")
        if not host or not port.isdigit():
            raise QuorumToolError(f"Invalid url in bootstrap servers: {entry.strip()}")
        out.append((host.strip("[]"), int(port)))
    return out


async def describe_quorum(servers: list[tuple[str, int]], controller: bool,
                          security: ClientSecurity | None = None) -> QuorumInfo:
    """Ask the first server of `servers` that answers (over `security`, default
    PLAINTEXT). Raises QuorumToolError."""
    failures: list[str] = []
    async with KafkaClient("kraft-metadata-quorum", connect_timeout=TIMEOUT_S,
                           security=security) as client:
        for address in servers:
            try:
                with trio.fail_after(TIMEOUT_S * 2):
                    return await _describe_from(client, address, controller)
            except (ConnectionFailed, RequestNotSent, RequestTimedOut, rpc.PeerError,
                    trio.TooSlowError) as e:
                failures.append(f"{address[0]}:{address[1]} ({e or 'no answer'})")
    raise QuorumToolError(f"no {'controller' if controller else 'broker'} answered: "
                          + "; ".join(failures))


async def _describe_from(client: KafkaClient, address: tuple[str, int],
                         controller: bool) -> QuorumInfo:
    cluster = await client.request(address, build(
        request_type(ApiKey.DESCRIBE_CLUSTER, 1), include_cluster_authorized_operations=False,
        endpoint_type=CONTROLLERS if controller else BROKERS), timeout=TIMEOUT_S)
    if cluster.error_code != ErrorCode.none:
        raise QuorumToolError(f"{address[0]}:{address[1]} answered DescribeCluster with "
                              f"{cluster.error_code.name}"
                              f"{f': {cluster.error_message}' if cluster.error_message else ''}")
    target = address
    if controller and cluster.controller_id >= 0:
        leader = next((n for n in cluster.brokers if n.broker_id == cluster.controller_id), None)
        if leader is not None:
            target = (leader.host, leader.port)
    request = rpc.DESCRIBE_QUORUM.request_to_kio(m.DescribeQuorumRequest())
    response = await client.request(target, request, timeout=TIMEOUT_S)
    partition = _partition(response)
    if controller and partition.error_code == ErrorCode.not_leader_or_follower:
        # No leader was known when DescribeCluster answered: ask the one it names now.
        leader = next((n for n in response.nodes if n.node_id == partition.leader_id), None)
        if leader is not None and leader.listeners:
            listener = leader.listeners[0]
            response = await client.request((listener.host, listener.port), request,
                                            timeout=TIMEOUT_S)
            partition = _partition(response)
    if partition.error_code != ErrorCode.none:
        message = getattr(partition, "error_message", None)
        raise QuorumToolError(f"DescribeQuorum answered {partition.error_code.name}"
                              f"{f': {message}' if message else ''}")
    endpoints = {n.node_id: tuple(f"{lst.name}://{lst.host}:{lst.port}" for lst in n.listeners)
                 for n in getattr(response, "nodes", ())}

    def replica(r: Any) -> Replica:
        directory = r.replica_directory_id or uuid.UUID(int=0)
        return Replica(r.replica_id, kafka_uuid.encode(directory), r.log_end_offset,
                       r.last_fetch_timestamp, r.last_caught_up_timestamp,
                       endpoints.get(r.replica_id, ()))

    return QuorumInfo(cluster.cluster_id, partition.leader_id, partition.leader_epoch,
                      partition.high_watermark,
                      tuple(replica(r) for r in partition.current_voters),
                      tuple(replica(r) for r in partition.observers))


def _partition(response: Any) -> Any:
    if response.error_code != ErrorCode.none:
        message = getattr(response, "error_message", None)
        raise QuorumToolError(f"DescribeQuorum answered {response.error_code.name}"
                              f"{f': {message}' if message else ''}")
    return response.topics[0].partitions[0]


def _max_follower_lag(info: QuorumInfo) -> tuple[int, int]:
    """(MaxFollowerLag, MaxFollowerLagTimeMs) as Kafka computes them: the voter with the
    lowest log end offset against the leader."""
    leader = next((v for v in info.voters if v.node_id == info.leader_id), None)
    if leader is None or not info.voters:
        return -1, -1
    laggard = min(info.voters, key=lambda v: v.log_end_offset)
    lag = leader.log_end_offset - laggard.log_end_offset
    if laggard is leader or laggard.log_end_offset == leader.log_end_offset:
        return lag, 0
    if leader.last_caught_up_timestamp >= 0 and laggard.last_caught_up_timestamp >= 0:
        return lag, leader.last_caught_up_timestamp - laggard.last_caught_up_timestamp
    return lag, -1


def _node_text(r: Replica) -> str:
    parts = [f'"id": {r.node_id}']
    if r.directory_id != ZERO_UUID:
        parts.append(f'"directoryId": "{r.directory_id}"')
    if r.endpoints:
        parts.append('"endpoints": [' + ", ".join(f'"{e}"' for e in r.endpoints) + "]")
    return "{" + ", ".join(parts) + "}"


def render_status(info: QuorumInfo) -> str:
    lag, lag_ms = _max_follower_lag(info)
    fields = [("ClusterId", info.cluster_id), ("LeaderId", info.leader_id),
              ("LeaderEpoch", info.leader_epoch), ("HighWatermark", info.high_watermark),
              ("MaxFollowerLag", lag), ("MaxFollowerLagTimeMs", lag_ms),
              ("CurrentVoters", "[" + ", ".join(map(_node_text, info.voters)) + "]"),
              ("CurrentObservers", "[" + ", ".join(map(_node_text, info.observers)) + "]")]
    return "\n".join(f"{name + ':':<24}{value}" for name, value in fields)


def status_json(info: QuorumInfo) -> dict[str, Any]:
    lag, lag_ms = _max_follower_lag(info)

    def node(r: Replica) -> dict[str, Any]:
        return {"id": r.node_id, "directoryId": r.directory_id, "endpoints": list(r.endpoints)}

    return {"clusterId": info.cluster_id, "leaderId": info.leader_id,
            "leaderEpoch": info.leader_epoch, "highWatermark": info.high_watermark,
            "maxFollowerLag": lag, "maxFollowerLagTimeMs": lag_ms,
            "currentVoters": [node(v) for v in info.voters],
            "currentObservers": [node(o) for o in info.observers]}


def replication_rows(info: QuorumInfo) -> list[dict[str, Any]]:
    """Leader, then the other voters, then observers, as Kafka lists them."""
    leader = next((v for v in info.voters if v.node_id == info.leader_id), None)
    leader_end = leader.log_end_offset if leader is not None else info.high_watermark

    def row(r: Replica, status: str) -> dict[str, Any]:
        # Kafka's column names, as the JSON keys.
        return {"nodeId": r.node_id, "directoryId": r.directory_id,
                "logEndOffset": r.log_end_offset, "lag": max(0, leader_end - r.log_end_offset),
                "lastFetchTimestamp": r.last_fetch_timestamp,
                "lastCaughtUpTimestamp": r.last_caught_up_timestamp, "status": status}

    rows = [row(leader, "Leader")] if leader is not None else []
    rows += [row(v, "Follower") for v in info.voters if v is not leader]
    rows += [row(o, "Observer") for o in info.observers]
    return rows


HEADERS = ("NodeId", "DirectoryId", "LogEndOffset", "Lag", "LastFetchTimestamp",
           "LastCaughtUpTimestamp", "Status")


def render_replication(rows: list[dict[str, Any]], now_ms: int | None) -> str:
    """Kafka's table: each column padded to its widest cell, cells tab-separated,
    each line ending in a tab; `now_ms` for times as "N ms ago"."""

    def when(ts: int) -> str:
        if now_ms is None or ts < 0:
            return str(ts)
        return f"{max(0, now_ms - ts)} ms ago"

    table = [list(HEADERS)] + [
        [str(r["nodeId"]), r["directoryId"], str(r["logEndOffset"]), str(r["lag"]),
         when(r["lastFetchTimestamp"]), when(r["lastCaughtUpTimestamp"]), r["status"]]
        for r in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADERS))]
    return "\n".join("".join(f"{cell:<{w}}\t" for cell, w in zip(line, widths, strict=True))
                     for line in table)
