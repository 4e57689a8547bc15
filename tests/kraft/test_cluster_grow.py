"""From one node to three with no downtime (issue 14), with real processes: the
README walkthrough. One standalone node (a dynamic quorum of one voter), acks=all
idempotent producers running throughout; two nodes added online (`scripts/cluster
add`: each joins as an observer and becomes a voter); the topic reassigned to
replication factor 3; then node 1, the first voter, removed (`scripts/cluster
remove 1`). The queue checker then finds every acknowledged write read back once,
in order."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import kafka
import pytest
import trio
from confluent_kafka.admin import AdminClient

from kraft.tools import metadata_quorum as mq
from kraft.tools.local_cluster import LocalCluster
from tests.faults.history import History
from tests.faults.workload import Workload, WorkloadConfig, create_topic, read_and_check

pytestmark = pytest.mark.slow

TOPIC = "walkthrough"
ACKS = 60  # acknowledgements awaited after each step: the producers kept going
WAIT_S = 60.0


def voters(cluster: LocalCluster) -> list[int]:
    addresses = [cluster.controller_address(n) for n in cluster.controllers
                 if cluster.is_up(n)]
    info = trio.run(mq.describe_quorum, addresses, True, cluster.tool_security("CONTROLLER"))
    return sorted(v.node_id for v in info.voters)


def reassign(cluster: LocalCluster, targets: dict[int, list[int]]) -> None:
    """AlterPartitionReassignments (kafka-python's admin, as a user would) and wait
    until every partition has exactly its target replicas, all in sync."""
    client = kafka.KafkaAdminClient(bootstrap_servers=cluster.bootstrap)
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    try:
        result = client.alter_partition_reassignments(
            {kafka.TopicPartition(TOPIC, p): r for p, r in targets.items()})
        assert set(result.values()) == {None}, result
        deadline = time.monotonic() + WAIT_S
        while True:
            parts = admin.list_topics(TOPIC, timeout=10).topics[TOPIC].partitions
            state = {p: (list(m.replicas), sorted(m.isrs)) for p, m in parts.items()}
            if all(state[p] == (r, sorted(r)) for p, r in targets.items()):
                break
            assert time.monotonic() < deadline, state
            time.sleep(0.2)
    finally:
        client.close()


def test_one_node_to_three_with_no_downtime(tmp_path: Path) -> None:
    """Producers stay acknowledged while two controllers join a one-voter quorum,
    the topic grows to replication factor 3 and the first node is removed; the
    checker finds nothing lost, duplicated or reordered."""
    ports = LocalCluster.free_ports(4)
    with LocalCluster(tmp_path / "cluster", nodes=1, ports={1: ports[1]}) as cluster:
        cluster.start()
        assert cluster.quorum == "dynamic" and voters(cluster) == [1]
        config = WorkloadConfig(bootstrap=cluster.bootstrap, topic=TOPIC, partitions=3,
                                replication_factor=1, min_insync_replicas=1, producers=2,
                                rate=30.0, client="mixed")
        create_topic(config)
        with History(tmp_path / "history.jsonl") as history:
            with Workload(config, history) as workload:
                assert workload.wait_acks(ACKS, WAIT_S)
                assert cluster.add(ports=ports[2]) == 2
                assert cluster.add(ports=ports[3]) == 3
                assert voters(cluster) == [1, 2, 3]
                assert workload.wait_acks(ACKS, WAIT_S)
                reassign(cluster, {p: [(p + i) % 3 + 1 for i in range(3)] for p in range(3)})
                assert workload.wait_acks(ACKS, WAIT_S)
                # The last step of the walkthrough: node 1 leaves (partitions, quorum).
                cluster.add(ports=ports[4])
                done = cluster.remove(1)
                assert done.startswith("node 1: moved 3 partition replicas away, left the "
                                       "voters, stopped, unregistered"), done
                assert voters(cluster) == [2, 3, 4] and cluster.ids == [2, 3, 4]
                assert workload.wait_acks(ACKS, WAIT_S)
            # The final read bootstraps from the nodes that remain.
            report = read_and_check(dataclasses.replace(config, bootstrap=cluster.bootstrap),
                                    history)
        assert report.valid, report.summary()
        assert report.counts.ok >= 4 * ACKS


def test_a_sasl_ssl_cluster_grows_and_shrinks(tmp_path: Path) -> None:
    """On a `--sasl-ssl` cluster (PLAIN over TLS to the controllers) a controller joins
    and the first node leaves: the quorum tool's AddRaftVoter, RemoveRaftVoter and
    DescribeQuorum go over the secured controller listener."""
    from kraft.tools.cluster_security import SaslSsl

    ports = LocalCluster.free_ports(2)
    with LocalCluster(tmp_path / "cluster", nodes=1, ports={1: ports[1]},
                      sasl_ssl=SaslSsl("alice", "alice-secret")) as cluster:
        cluster.start()
        security = cluster.tool_security("CONTROLLER")
        assert security is not None and security.protocol == "SASL_SSL"
        assert cluster.add(ports=ports[2]) == 2
        assert voters(cluster) == [1, 2]
        done = cluster.remove(1)
        assert "left the voters, stopped, unregistered" in done, done
        assert voters(cluster) == [2] and cluster.ids == [2]
