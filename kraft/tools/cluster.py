"""`kraft cluster`: Kafka's kafka-cluster, `cluster-id` and `unregister`.

    kraft cluster (--bootstrap-server HOST:PORT[,...] |
                   --bootstrap-controller HOST:PORT[,...]) cluster-id
    kraft cluster (--bootstrap-server ... | --bootstrap-controller ...) unregister --id N

`cluster-id` prints "Cluster ID: X" (DescribeCluster). `unregister` removes a
broker's registration (UnregisterBroker, KIP-631): the controller moves its
leaderships and ISR memberships away and writes UnregisterBrokerRecord; it
prints "Broker N is no longer registered." A broker forwards the request to
the active controller; with --bootstrap-controller it goes to the quorum
leader that DescribeCluster names (KIP-919). A broker that is not registered
is BROKER_ID_NOT_REGISTERED, told in one line. Unregister a broker that is
shut down for good: a running broker registers again on its next heartbeat.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import trio
from kio.schema.errors import ErrorCode

from kraft.net.api_keys import ApiKey
from kraft.net.client import ConnectionFailed, KafkaClient, RequestNotSent, RequestTimedOut
from kraft.net.codec import request_type
from kraft.net.messages import build
from kraft.raft import rpc
from kraft.tools.metadata_quorum import (
    BROKERS,
    CONTROLLERS,
    TIMEOUT_S,
    QuorumToolError,
    parse_servers,
)


def add_parsers(sub: argparse._SubParsersAction) -> None:
    tool = sub.add_parser("cluster", help="cluster id, unregister a broker (Kafka's kafka-cluster)")
    where = tool.add_mutually_exclusive_group(required=True)
    where.add_argument("--bootstrap-server", metavar="HOST:PORT[,...]",
                       help="brokers to ask")
    where.add_argument("--bootstrap-controller", metavar="HOST:PORT[,...]",
                       help="controllers to ask directly (KIP-919)")
    tool_sub = tool.add_subparsers(dest="cluster_command", required=True)
    tool_sub.add_parser("cluster-id", help="Get information about the ID of a cluster.")
    unregister = tool_sub.add_parser("unregister", help="Unregister a broker.")
    unregister.add_argument("--id", type=int, required=True,
                            help="The ID of the broker to unregister.")


def main(args: argparse.Namespace) -> int:
    controller = args.bootstrap_controller is not None
    try:
        servers = parse_servers(args.bootstrap_controller if controller
                                else args.bootstrap_server)
        if args.cluster_command == "cluster-id":
            cluster = trio.run(_first_answer, servers, controller, None)
            print(f"Cluster ID: {cluster.cluster_id}")
            return 0
        response = trio.run(_first_answer, servers, controller, args.id)
    except QuorumToolError as e:
        print(e, file=sys.stderr)
        return 1
    if response.error_code != ErrorCode.none:
        print(f"{response.error_code.name.upper()}: "
              f"{response.error_message or f'broker {args.id} was not unregistered'}",
              file=sys.stderr)
        return 1
    print(f"Broker {args.id} is no longer registered.")
    return 0


async def _first_answer(servers: list[tuple[str, int]], controller: bool,
                        unregister: int | None) -> Any:
    """DescribeCluster from the first server that answers; with `unregister`, then the
    UnregisterBroker response (from that broker, or from the quorum leader)."""
    failures: list[str] = []
    async with KafkaClient("kraft-cluster", connect_timeout=TIMEOUT_S) as client:
        for address in servers:
            try:
                with trio.fail_after(TIMEOUT_S * 3):
                    return await _ask(client, address, controller, unregister)
            except (ConnectionFailed, RequestNotSent, RequestTimedOut, rpc.PeerError,
                    trio.TooSlowError) as e:
                failures.append(f"{address[0]}:{address[1]} ({e or 'no answer'})")
    raise QuorumToolError(f"no {'controller' if controller else 'broker'} answered: "
                          + "; ".join(failures))


async def _ask(client: KafkaClient, address: tuple[str, int], controller: bool,
               unregister: int | None) -> Any:
    cluster = await client.request(address, build(
        request_type(ApiKey.DESCRIBE_CLUSTER, 1), include_cluster_authorized_operations=False,
        endpoint_type=CONTROLLERS if controller else BROKERS), timeout=TIMEOUT_S)
    if cluster.error_code != ErrorCode.none:
        raise QuorumToolError(f"{address[0]}:{address[1]} answered DescribeCluster with "
                              f"{cluster.error_code.name}"
                              f"{f': {cluster.error_message}' if cluster.error_message else ''}")
    if unregister is None:
        return cluster
    target = address
    if controller:
        leader = next((n for n in cluster.brokers if n.broker_id == cluster.controller_id), None)
        if leader is None:
            raise QuorumToolError("the controllers know no active controller yet; try again")
        target = (leader.host, leader.port)
    request = build(request_type(ApiKey.UNREGISTER_BROKER, 0), broker_id=unregister)
    response = await client.request(target, request, timeout=TIMEOUT_S * 2)
    if response.error_code == ErrorCode.not_controller and controller:
        raise QuorumToolError("the active controller changed while asking; try again")
    return response
