"""Growing and shrinking a LocalCluster: `scripts/cluster add` and `remove N`.

Both need a dynamic quorum (kraft.version 1, KIP-853): the clusters LocalCluster
makes now (their first controllers are the voters of the bootstrap
checkpoint, every node finds them through controller.quorum.bootstrap.servers).
A cluster formatted with static voters (controller.quorum.voters) is refused.

add: node max(id)+1, formatted as `kraft storage format --no-initial-controllers`
does (meta.properties with a directory id, no checkpoint), started; a node with
the controller role follows the quorum as an observer and is then made a voter
with AddRaftVoter, built as `kraft metadata-quorum add-controller` builds it
from the node's server.properties (the leader answers REQUEST_TIMED_OUT while
the observer is not caught up or another change is committing: asked again).
A node with the broker role is waited for until unfenced.

remove N, in Kafka's order: its partition replicas move to the other brokers
(AlterPartitionReassignments, each replica of N replaced by the broker holding
fewest replicas that does not hold the partition yet, so replication factors
are kept); it leaves the voter set (RemoveRaftVoter; a leader resigns once the
change commits); it is stopped; its broker registration is removed
(UnregisterBroker). Its directory is kept as root/removed/nodeN-TIME.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import trio
from kio.schema.errors import ErrorCode

from kraft import meta_properties
from kraft.net.api_keys import ApiKey
from kraft.net.client import ConnectionFailed, KafkaClient, RequestNotSent, RequestTimedOut
from kraft.net.codec import request_type
from kraft.net.messages import build, nested
from kraft.raft import messages as m
from kraft.tools import metadata_quorum as mq
from kraft.tools.local_cluster_base import (
    CONTROLLER,
    DYNAMIC,
    POLL_S,
    REQUEST_TIMEOUT_S,
    ClusterError,
    fixed_ports,
)

if TYPE_CHECKING:
    from kraft.tools.local_cluster import LocalCluster

T = TypeVar("T")
RETRY_S = 0.2
Plan = dict[tuple[str, int], list[int]]  # (topic, partition) -> target replicas


def _run(fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    """trio.run, with a ClusterError or QuorumToolError raised inside a client's
    nursery (an exception group of one) unwrapped."""
    try:
        return trio.run(fn, *args)
    except BaseExceptionGroup as group:
        wanted = (ClusterError, mq.QuorumToolError)
        errors = group.subgroup(wanted)
        if errors is None or group.split(wanted)[1] is not None:
            raise
        first: BaseException = errors
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from None


def _refuse_unsupported(cluster: LocalCluster, what: str) -> None:
    if cluster.quorum != DYNAMIC:
        raise ClusterError(f"the cluster in {cluster.root} has a static quorum "
                           "(controller.quorum.voters, formatted before scripts/cluster add "
                           f"existed): {what} needs a dynamic one; stop it and remove "
                           f"{cluster.root} to make it anew")
    if cluster.cluster_id is None:
        raise ClusterError(f"the cluster in {cluster.root} is not formatted yet: "
                           "scripts/cluster start first")


def add_node(cluster: LocalCluster, roles: str, ports: tuple[int, int] | None,
             timeout: float) -> int:
    """Add, start and (controller) make a voter of node max(id)+1; its id."""
    _refuse_unsupported(cluster, "adding a node")
    voters = [n for n in cluster.controllers if cluster.is_up(n)]
    if not voters:
        raise ClusterError("no controller is running: scripts/cluster start first")
    node_id = max(cluster.ids) + 1
    cluster.ids.append(node_id)
    cluster.ports[node_id] = ports or fixed_ports(node_id)
    cluster.roles[node_id] = roles
    try:
        cluster._check_ports(node_id)
        if cluster.node_dir(node_id).exists():
            raise ClusterError(f"{cluster.node_dir(node_id)} exists: move it away first")
    except ClusterError:
        cluster.ids.remove(node_id)
        del cluster.ports[node_id], cluster.roles[node_id]
        raise
    cluster.directory_ids[node_id] = meta_properties.random_uuid()
    cluster.node_dir(node_id).mkdir(parents=True)
    (cluster.node_dir(node_id) / "joined").touch()  # --no-initial-controllers: no checkpoint
    cluster.save_state()
    cluster.bootstrap = ",".join(f"{cluster.host(n)}:{cluster.ports[n][0]}"
                                 for n in cluster.brokers)
    cluster.start_node(node_id)
    deadline = time.monotonic() + timeout
    if CONTROLLER in roles.split(","):
        _add_voter(cluster, node_id, voters, deadline)
    if node_id in cluster.brokers:
        cluster.wait_unfenced([node_id], max(1.0, deadline - time.monotonic()))
    return node_id


def _add_voter(cluster: LocalCluster, node_id: int, voters: list[int], deadline: float) -> None:
    try:
        voter_id, directory_id, listeners = mq.controller_to_add(
            str(cluster.config_path(node_id)))
    except mq.QuorumToolError as e:
        raise ClusterError(str(e)) from None
    request = m.AddRaftVoterRequest(cluster_id=None, timeout_ms=int(mq.TIMEOUT_S * 1000),
                                    voter_id=voter_id, voter_directory_id=directory_id,
                                    listeners=listeners)
    _change(cluster, node_id, request, voters, deadline,
            done_if="DUPLICATE_VOTER",
            failed=f"node {node_id} runs as an observer but did not join the voters; "
                   f"`scripts/cluster remove {node_id}` takes it out")


def _change(cluster: LocalCluster, node_id: int,
            request: m.AddRaftVoterRequest | m.RemoveRaftVoterRequest, voters: list[int],
            deadline: float, *, done_if: str, failed: str) -> None:
    """Send the voter change until the leader takes it or `deadline` passes.
    Asked again: REQUEST_TIMED_OUT (an observer still catching up, a change
    still committing) and no leader reachable while the quorum elects one (the
    leader the controllers name does not answer, or they know none yet), as
    Kafka's Admin client retries until its timeout."""
    servers = [cluster.controller_address(n) for n in voters]
    while True:
        if isinstance(request, m.AddRaftVoterRequest) and not cluster.is_up(node_id):
            raise ClusterError(f"node {node_id} exited; the end of its log:\n"
                               + cluster.log_tail(node_id))
        try:
            _run(mq.change_voters, servers, True, request,
                 cluster.tool_security("CONTROLLER"))
            return
        except mq.QuorumToolError as e:
            text = str(e)
            if text.startswith(done_if):
                return
            retry = any(reason in text.lower() for reason in mq.RETRIABLE)
            if not retry or time.monotonic() > deadline:
                raise ClusterError(f"{failed}: {text}") from None
        time.sleep(RETRY_S)


def remove_node(cluster: LocalCluster, node_id: int, timeout: float) -> str:
    """Move node_id's partitions away, take it out of the quorum, stop and
    unregister it. Returns what was done, in one line."""
    cluster._known(node_id)
    _refuse_unsupported(cluster, "removing a node")
    deadline = time.monotonic() + timeout
    live_controllers = [n for n in cluster.controllers if cluster.is_up(n)]
    if not live_controllers:
        raise ClusterError("no controller is running: scripts/cluster start first")
    try:
        info = _run(mq.describe_quorum,
                    [cluster.controller_address(n) for n in live_controllers], True,
                    cluster.tool_security("CONTROLLER"))
    except mq.QuorumToolError as e:
        raise ClusterError(str(e)) from None
    voter = next((v for v in info.voters if v.node_id == node_id), None)
    if voter is not None and len(info.voters) == 1:
        raise ClusterError(f"node {node_id} is the last voter of the quorum (Kafka answers "
                           "VOTER_NOT_FOUND): add another controller first")
    done = []
    is_broker = node_id in cluster.brokers
    if is_broker:
        others = [n for n in cluster.brokers if n != node_id and cluster.is_up(n)]
        if not others:
            raise ClusterError(f"node {node_id} is the last running broker: its partitions "
                               "would have nowhere to go")
        moved = _run(_move_replicas, cluster, node_id, others, deadline)
        done.append(f"moved {moved} partition replica{'s' * (moved != 1)} away")
    if voter is not None:
        request = m.RemoveRaftVoterRequest(cluster_id=None, voter_id=node_id,
                                           voter_directory_id=voter.directory_id)
        _change(cluster, node_id, request, live_controllers, deadline, done_if="VOTER_NOT_FOUND",
                failed=f"node {node_id} stays a voter")
        done.append("left the voters")
    if cluster.is_up(node_id):
        cluster.stop_node(node_id)
    done.append("stopped")
    if is_broker:
        _run(_unregister, cluster, node_id, others)
        done.append("unregistered")
    cluster.ids.remove(node_id)
    del cluster.ports[node_id], cluster.roles[node_id]
    cluster.directory_ids.pop(node_id, None)
    cluster.save_state()
    cluster.bootstrap = ",".join(f"{cluster.host(n)}:{cluster.ports[n][0]}"
                                 for n in cluster.brokers)
    kept = cluster.root / "removed" / f"node{node_id}-{time.strftime('%Y%m%d-%H%M%S')}"
    kept.parent.mkdir(exist_ok=True)
    (cluster.root / f"node{node_id}").rename(kept)
    return f"node {node_id}: {', '.join(done)}; its directory is now {kept}"


def plan_moves(partitions: dict[tuple[str, int], list[int]], node_id: int,
               brokers: list[int]) -> Plan:
    """For every partition with a replica on `node_id`, its replicas with that one
    replaced by the broker of `brokers` holding fewest replicas (ties: lowest id)
    that does not hold the partition. ClusterError if some partition cannot keep
    its replication factor."""
    load = Counter({b: 0 for b in brokers})
    for replicas in partitions.values():
        load.update(r for r in replicas if r in load)
    plan: Plan = {}
    for (topic, index), replicas in sorted(partitions.items()):
        if node_id not in replicas:
            continue
        free = [b for b in brokers if b not in replicas]
        if not free:
            raise ClusterError(
                f"{topic}-{index} has replication factor {len(replicas)} and only "
                f"{len(brokers)} other broker{'s' * (len(brokers) != 1)} would remain: "
                "reassign it to fewer replicas first (kafka-reassign-partitions)")
        target = min(free, key=lambda b: (load[b], b))
        load[target] += 1
        plan[(topic, index)] = [target if r == node_id else r for r in replicas]
    return plan


async def _move_replicas(cluster: LocalCluster, node_id: int, brokers: list[int],
                         deadline: float) -> int:
    """Reassign node_id's replicas to `brokers` and wait until no replica is left on it."""
    async with KafkaClient("kraft-local-cluster", connect_timeout=REQUEST_TIMEOUT_S,
                           security=cluster.tool_security(cluster.client_listener)) as client:
        addresses = [cluster.client_address(b) for b in brokers]
        plan = plan_moves(await _partitions(client, addresses), node_id, brokers)
        if not plan:
            return 0
        cls = request_type(ApiKey.ALTER_PARTITION_REASSIGNMENTS, 0)
        topic_cls, partition_cls = nested(cls, "ReassignableTopic"), nested(
            cls, "ReassignablePartition")
        topics: dict[str, list[Any]] = {}
        for (topic, index), target in plan.items():
            topics.setdefault(topic, []).append(partition_cls(partition_index=index,
                                                              replicas=tuple(target)))
        request = build(cls, topics=tuple(topic_cls(name=t, partitions=tuple(ps))
                                          for t, ps in topics.items()))
        response = await _ask(client, addresses, request)
        errors = [f"{t.name}-{p.partition_index}: {p.error_code.name} {p.error_message or ''}"
                  for t in response.responses for p in t.partitions
                  if p.error_code != ErrorCode.none]
        if response.error_code != ErrorCode.none or errors:
            raise ClusterError("AlterPartitionReassignments was refused: "
                               f"{response.error_code.name} {response.error_message or ''}"
                               f"{'; '.join(errors)}")
        while True:
            left = {tp for tp, replicas in (await _partitions(client, addresses)).items()
                    if node_id in replicas}
            if not left:
                return len(plan)
            if time.monotonic() > deadline:
                names = ", ".join(f"{t}-{p}" for t, p in sorted(left))
                raise ClusterError(f"the replicas of node {node_id} did not move away in time "
                                   f"(still on it: {names})")
            await trio.sleep(POLL_S * 4)


async def _ask(client: KafkaClient, addresses: list[tuple[str, int]], request: Any) -> Any:
    """`request`'s answer from the first of the brokers at `addresses` that answers
    (one may have died since the command began, as a client fails over to the
    next bootstrap server); ClusterError if none does."""
    failures = []
    for host, port in addresses:
        try:
            return await client.request((host, port), request, REQUEST_TIMEOUT_S * 5)
        except (ConnectionFailed, RequestNotSent, RequestTimedOut) as e:
            failures.append(f"{host}:{port} ({e or 'no answer'})")
    raise ClusterError(f"no broker answered: {'; '.join(failures)}")


async def _partitions(client: KafkaClient,
                      addresses: list[tuple[str, int]]) -> dict[tuple[str, int], list[int]]:
    """Every partition's replicas, as the first broker of `addresses` that answers
    knows them."""
    request = build(request_type(ApiKey.METADATA, 12), topics=None,
                    allow_auto_topic_creation=False, include_topic_authorized_operations=False)
    response = await _ask(client, addresses, request)
    return {(t.name, p.partition_index): list(p.replica_nodes)
            for t in response.topics for p in t.partitions}


async def _unregister(cluster: LocalCluster, node_id: int, brokers: list[int]) -> None:
    async with KafkaClient("kraft-local-cluster", connect_timeout=REQUEST_TIMEOUT_S,
                           security=cluster.tool_security(cluster.client_listener)) as client:
        request = build(request_type(ApiKey.UNREGISTER_BROKER, 0), broker_id=node_id)
        response = await _ask(client, [cluster.client_address(b) for b in brokers], request)
    if response.error_code not in (ErrorCode.none, ErrorCode.broker_id_not_registered):
        raise ClusterError(f"node {node_id} is stopped but still registered: UnregisterBroker "
                           f"answered {response.error_code.name.upper()}: "
                           f"{response.error_message or ''}")
