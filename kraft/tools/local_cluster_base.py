"""What every part of the local cluster shares: addresses, port pattern, roles, errors.

kraft.tools.local_cluster (LocalCluster), its membership changes
(kraft.tools.local_cluster_membership) and the script's CLI import these from
here, so neither needs the other at import time.
"""

from __future__ import annotations

HOST = "127.0.0.1"
FIXED_BASE_PORT = 9092  # node N: client 9092 + 3(N-1), controller +1, spare +2
RESERVED_PORTS = range(9092, 9101)  # the fixed ports of docs/design.md: never handed to tests
MAX_NODES = 5  # voters of one local quorum (issue 14: 1 to 5)
REQUEST_TIMEOUT_S = 2.0
POLL_S = 0.05


DYNAMIC, STATIC = "dynamic", "static"  # kraft.version 1 (KIP-853) / controller.quorum.voters
BOTH, BROKER, CONTROLLER = "broker,controller", "broker", "controller"  # process.roles
STATE_FILE = "nodes.json"


def fixed_ports(node_id: int) -> tuple[int, int]:
    """Node N's (client, controller) ports in the design table: 9092 + 3(N-1) and the next."""
    client = FIXED_BASE_PORT + 3 * (node_id - 1)
    return client, client + 1


class ClusterError(Exception):
    """A request the cluster cannot satisfy (unknown node, node down, not ready in time)."""
