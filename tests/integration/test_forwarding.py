"""Forwarded admin requests get their own answer while the active controller pauses.

Issue 12: a forwarded CreateTopics that took longer than the broker's retry
interval to commit was sent again, and the copy answered TOPIC_ALREADY_EXISTS
for the very topics the first attempt created (seen with one request for 300
topics; reproducible by pausing the active controller). Here the three-node
cluster runs as real processes; a client sends one CreateTopics of many topics
to a broker that is not the active controller, and the active controller is
stopped (SIGSTOP) for 3 s while the request is in flight, at two points of
its life: the answer must be success for every topic, and every broker must
see the topics (once). 100 topics of 4 partitions rather than the issue's
300: creating each replica costs a node's event loop tens of milliseconds on
a loaded machine, and 800 at once stall it for long enough to lose raft
leadership, which is another matter. Then a DeleteTopics and a CreatePartitions go through the same
pause and must succeed too (a blind retry would answer
UNKNOWN_TOPIC_OR_PARTITION / INVALID_PARTITIONS).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import trio
from kio.schema.create_partitions.v3.request import CreatePartitionsRequest, CreatePartitionsTopic
from kio.schema.create_topics.v7.request import CreatableTopic, CreateTopicsRequest
from kio.schema.delete_topics.v6.request import DeleteTopicsRequest, DeleteTopicState
from kio.schema.errors import ErrorCode
from kio.schema.metadata.v12.request import MetadataRequest, MetadataRequestTopic

from kraft.net.client import KafkaClient
from kraft.tools.local_cluster import LocalCluster

pytestmark = pytest.mark.slow

TOPICS = 100
PARTITIONS = 4
REPLICATION = 2  # placeable while the paused node's broker is fenced
PAUSE_S = 3.0
SETTLE_S = 30.0
REQUEST_TIMEOUT = timedelta(seconds=60)
PAUSE_AFTER_S = (0.0, 0.3)  # when, after sending, the controller stops


def active_controller(cluster: LocalCluster) -> int:
    """The quorum leader, once one answers as leader (after a pause, a new election
    may still be under way)."""
    deadline = time.monotonic() + SETTLE_S
    while True:
        status = cluster.status()
        leaders = [s.node_id for s in status if s.is_leader and s.high_watermark is not None]
        if len(leaders) == 1:
            return leaders[0]
        assert time.monotonic() < deadline, f"no quorum leader: {status}"
        time.sleep(0.2)


def forward_while_paused(cluster: LocalCluster, request: Any, after_s: float) -> Any:
    """The answer to `request`, sent to a broker that is not the active controller,
    with the active controller stopped for PAUSE_S from `after_s` after sending."""
    cluster.wait_unfenced()
    leader = active_controller(cluster)
    address = cluster.client_address(next(n for n in cluster.ids if n != leader))

    async def run() -> Any:
        result: list[Any] = []
        async with KafkaClient("test-forwarding") as client:
            await client.connection(address)

            async def send() -> None:
                result.append(await client.request(address, request, 90))

            async with trio.open_nursery() as nursery:
                nursery.start_soon(send)
                await trio.sleep(after_s)
                cluster.pause(leader)
                try:
                    await trio.sleep(PAUSE_S)
                finally:
                    cluster.resume(leader)
        return result[0]

    return trio.run(run)


def partition_counts(cluster: LocalCluster, node: int, names: list[str]) -> dict[str, int]:
    """name -> partition count of the named topics that exist, as `node` sees them."""
    request = MetadataRequest(
        topics=tuple(MetadataRequestTopic(topic_id=None, name=n) for n in names),
        allow_auto_topic_creation=False, include_topic_authorized_operations=False)

    async def run() -> Any:
        async with KafkaClient("test-forwarding") as client:
            return await client.request(cluster.client_address(node), request, 30)

    return {t.name: len(t.partitions) for t in trio.run(run).topics
            if t.error_code == ErrorCode.none}


def assert_every_broker_sees(cluster: LocalCluster, names: list[str],
                             expected: dict[str, int]) -> None:
    """Each broker's metadata converges to `expected` (name -> partitions)."""
    for node in cluster.ids:
        deadline = time.monotonic() + SETTLE_S
        while (seen := partition_counts(cluster, node, names)) != expected:
            assert time.monotonic() < deadline, f"node {node} sees {seen}"
            time.sleep(0.2)


@pytest.mark.parametrize("after_s", PAUSE_AFTER_S)
def test_forwarded_requests_survive_a_paused_active_controller(
    cluster: LocalCluster, after_s: float
) -> None:
    """CreateTopics (100 topics of 4 partitions), CreatePartitions and DeleteTopics,
    each forwarded while the active controller is stopped for 3 s, answer success
    for every topic and take effect once."""
    names = [f"paused-{int(after_s * 1000)}-{i:03d}" for i in range(TOPICS)]
    created = forward_while_paused(cluster, CreateTopicsRequest(topics=tuple(
        CreatableTopic(name=n, num_partitions=PARTITIONS, replication_factor=REPLICATION,
                       assignments=(), configs=()) for n in names),
        timeout=REQUEST_TIMEOUT, validate_only=False), after_s)
    failed = {t.name: (t.error_code.name, t.error_message) for t in created.topics
              if t.error_code != ErrorCode.none}
    assert not failed and len(created.topics) == TOPICS
    assert_every_broker_sees(cluster, names, dict.fromkeys(names, PARTITIONS))

    grown = forward_while_paused(cluster, CreatePartitionsRequest(topics=tuple(
        CreatePartitionsTopic(name=n, count=PARTITIONS + 1, assignments=None)
        for n in names[:50]), timeout=REQUEST_TIMEOUT, validate_only=False), after_s)
    assert {r.name: r.error_code for r in grown.results} == dict.fromkeys(
        names[:50], ErrorCode.none)
    assert_every_broker_sees(cluster, names, {n: PARTITIONS + (n in names[:50]) for n in names})

    deleted = forward_while_paused(cluster, DeleteTopicsRequest(
        topics=tuple(DeleteTopicState(name=n, topic_id=None) for n in names),
        timeout=REQUEST_TIMEOUT), after_s)
    assert {r.name: r.error_code for r in deleted.responses} == dict.fromkeys(
        names, ErrorCode.none)
    assert_every_broker_sees(cluster, names, {})


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    root = tmp_path_factory.mktemp("forwarding")
    with LocalCluster(root / "cluster", ports=LocalCluster.free_ports()) as cluster:
        cluster.start()
        yield cluster
