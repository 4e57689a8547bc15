"""Partition reassignment on the three-node cluster with kafka-python's admin client.

A topic with replication factor 1 on one broker gets records; it is moved to
the two other brokers (growing to replication factor 2 and leaving the first
broker), then shrunk back to one replica. After each step the Metadata API
shows the target replicas and ISR, nothing is in progress any more, every
record is read back from the new leader, and the broker that lost its replica
deleted its copy. Produce and consume keep working throughout.
"""

from __future__ import annotations

import time
from pathlib import Path

import confluent_kafka
import kafka
import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from kraft.tools.local_cluster import LocalCluster

pytestmark = pytest.mark.slow

TOPIC = "moving"
WAIT_S = 60.0


def partition_state(admin: AdminClient) -> tuple[int, tuple[int, ...], tuple[int, ...]]:
    meta = admin.list_topics(TOPIC, timeout=10).topics[TOPIC].partitions[0]
    return meta.leader, tuple(meta.replicas), tuple(meta.isrs)


def produce(bootstrap: str, start: int, count: int) -> None:
    producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap, "acks": "all",
                                         "linger.ms": 5})
    for i in range(start, start + count):
        producer.produce(TOPIC, value=b"%d" % i, partition=0)
    assert producer.flush(30) == 0


def read_all(bootstrap: str, count: int) -> list[bytes]:
    consumer = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": "mv",
                                         "enable.auto.commit": False})
    values: list[bytes] = []
    try:
        consumer.assign([TopicPartition(TOPIC, 0, 0)])
        deadline = time.monotonic() + WAIT_S
        while len(values) < count:
            assert time.monotonic() < deadline, f"read {len(values)} of {count}"
            for m in consumer.consume(1000, 0.5):
                assert m.error() is None, m.error()
                values.append(m.value())
    finally:
        consumer.close()
    return values


def reassign_and_wait(cluster: LocalCluster, admin: AdminClient, target: list[int]) -> None:
    client = kafka.KafkaAdminClient(bootstrap_servers=cluster.bootstrap)
    try:
        result = client.alter_partition_reassignments(
            {kafka.TopicPartition(TOPIC, 0): target})
        assert list(result.values()) == [None], result
        deadline = time.monotonic() + WAIT_S
        while True:
            leader, replicas, isr = partition_state(admin)
            ongoing = client.list_partition_reassignments({TOPIC: [0]})
            if replicas == tuple(target) and sorted(isr) == sorted(target) and not ongoing:
                break
            assert time.monotonic() < deadline, (leader, replicas, isr, ongoing)
            time.sleep(0.2)
        assert leader in target
    finally:
        client.close()


def replica_dirs(cluster: LocalCluster) -> set[int]:
    return {n for n in cluster.ids if (cluster.node_dir(n) / "data" / f"{TOPIC}-0").exists()}


def test_move_grow_and_shrink_a_partition(tmp_path: Path) -> None:
    with LocalCluster(tmp_path / "cluster", ports=LocalCluster.free_ports()) as cluster:
        cluster.start()
        admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
        admin.create_topics([NewTopic(TOPIC, 1, -1, replica_assignment=[[1]])])[TOPIC].result(30)
        produce(cluster.bootstrap, 0, 500)
        assert partition_state(admin) == (1, (1,), (1,))

        reassign_and_wait(cluster, admin, [2, 3])  # move off broker 1, RF 1 -> 2
        produce(cluster.bootstrap, 500, 500)
        assert read_all(cluster.bootstrap, 1000) == [b"%d" % i for i in range(1000)]
        deadline = time.monotonic() + WAIT_S
        while replica_dirs(cluster) != {2, 3}:
            assert time.monotonic() < deadline, replica_dirs(cluster)
            time.sleep(0.2)

        reassign_and_wait(cluster, admin, [3])  # shrink to RF 1 on broker 3
        produce(cluster.bootstrap, 1000, 100)
        assert read_all(cluster.bootstrap, 1100) == [b"%d" % i for i in range(1100)]
        assert partition_state(admin) == (3, (3,), (3,))
