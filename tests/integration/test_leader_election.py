"""Preferred leader election on the three-node cluster, with real clients.

Theory of operation: a topic of three partitions with replication factor 3
gets its leaders staggered over the brokers, each partition led by its
preferred replica (the first replica). A graceful restart of one broker
moves leadership of its partitions away (controlled shutdown), and the
ONLINE election leaves it with the new leaders when the broker is back. Then:

- with auto.leader.rebalance.enable=false, leadership stays moved until an
  admin client asks for a PREFERRED election (confluent-kafka's and
  kafka-python's `elect_leaders`), after which every partition is led by its
  preferred replica again, and a second election needs nothing
  (ELECTION_NOT_NEEDED); produce and consume keep working across it;
- with the default auto.leader.rebalance.enable=true and
  leader.imbalance.check.interval.seconds=1, the controller moves leadership
  back by itself.
"""

from __future__ import annotations

import time
from pathlib import Path

import confluent_kafka
import kafka
import pytest
from confluent_kafka import ElectionType, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from kraft.tools.local_cluster import LocalCluster

pytestmark = pytest.mark.slow

TOPIC = "elect"
PARTITIONS = 3
WAIT_S = 60.0


def partitions(admin: AdminClient) -> dict[int, tuple[int, tuple[int, ...], tuple[int, ...]]]:
    """partition -> (leader, replicas, isr) as the Metadata API reports them."""
    meta = admin.list_topics(TOPIC, timeout=10).topics[TOPIC]
    return {p: (m.leader, tuple(m.replicas), tuple(m.isrs)) for p, m in meta.partitions.items()}


def wait_for(admin: AdminClient, what: str, predicate) -> dict:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + WAIT_S
    while True:
        state = partitions(admin)
        if predicate(state):
            return state
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {state}"
        time.sleep(0.2)


def preferred_lead(state: dict) -> bool:  # type: ignore[type-arg]
    return all(leader == replicas[0] for leader, replicas, _ in state.values())


def full_isr(state: dict) -> bool:  # type: ignore[type-arg]
    return all(len(isr) == len(replicas) for _, replicas, isr in state.values())


def move_leadership_off(cluster: LocalCluster, admin: AdminClient) -> int:
    """Restart the broker leading partition 0 and wait until it is back in every ISR;
    returns its id. Partition 0 is then led by another broker."""
    node = partitions(admin)[0][0]
    cluster.restart(node)
    state = wait_for(admin, f"node {node} back in every ISR", full_isr)
    assert state[0][0] != node, "leadership of partition 0 did not move on restart"
    return node


def start(cluster: LocalCluster) -> AdminClient:
    cluster.start()
    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    admin.create_topics([NewTopic(TOPIC, PARTITIONS, 3)])[TOPIC].result(30)
    state = wait_for(admin, "leaders", lambda s: len(s) == PARTITIONS and full_isr(s))
    assert preferred_lead(state), state
    assert len({leader for leader, _, _ in state.values()}) == 3, "leaders not staggered"
    return admin


def produce_and_read(bootstrap: str, tag: bytes) -> None:
    """Ten messages per partition are acknowledged (acks=all) and read back."""
    producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for p in range(PARTITIONS):
        for i in range(10):
            producer.produce(TOPIC, value=tag + b"-%d" % i, partition=p)
    assert producer.flush(30) == 0
    consumer = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": "elect",
                                         "enable.auto.commit": False})
    try:
        consumer.assign([TopicPartition(TOPIC, p, 0) for p in range(PARTITIONS)])
        seen: list[bytes] = []
        deadline = time.monotonic() + WAIT_S
        while sum(v.startswith(tag) for v in seen) < 10 * PARTITIONS:
            assert time.monotonic() < deadline, f"read {len(seen)} messages"
            for m in consumer.consume(100, 0.5):
                assert m.error() is None, m.error()
                seen.append(m.value())
    finally:
        consumer.close()


def test_admin_preferred_election_restores_preferred_leaders(tmp_path: Path) -> None:
    """With automatic balancing off, leadership stays moved after a restart until
    confluent-kafka (then kafka-python) asks for a PREFERRED election; then every
    partition is led by its preferred replica, a repeated election is not needed,
    and produce/consume keep working."""
    with LocalCluster(tmp_path / "cluster", ports=LocalCluster.free_ports(),
                      overrides={"auto.leader.rebalance.enable": "false"}) as cluster:
        admin = start(cluster)
        produce_and_read(cluster.bootstrap, b"before")

        move_leadership_off(cluster, admin)
        assert not preferred_lead(partitions(admin))
        tps = [TopicPartition(TOPIC, p) for p in range(PARTITIONS)]
        outcome = admin.elect_leaders(ElectionType.PREFERRED, tps).result(30)
        errors = {tp.partition: err for tp, err in outcome.items()}
        assert sorted(errors) == list(range(PARTITIONS))
        moved = [p for p, err in errors.items() if err is None]
        assert 0 in moved, errors
        for p, err in errors.items():  # the others were led by their preferred replica
            if err is not None:
                code = err.code()
                assert code == confluent_kafka.KafkaError.ELECTION_NOT_NEEDED, (p, err)
        assert preferred_lead(partitions(admin))  # the broker waited for the change
        again = admin.elect_leaders(ElectionType.PREFERRED, tps[:1]).result(30)
        (err,) = again.values()
        assert err is not None
        assert err.code() == confluent_kafka.KafkaError.ELECTION_NOT_NEEDED
        produce_and_read(cluster.bootstrap, b"after-confluent")

        move_leadership_off(cluster, admin)
        client = kafka.KafkaAdminClient(bootstrap_servers=cluster.bootstrap)
        try:
            response = client.elect_leaders(0, {TOPIC: list(range(PARTITIONS))})
        finally:
            client.close()
        codes = {p.partition_id: p.error_code
                 for t in response.replica_election_results for p in t.partition_result}
        assert codes[0] == 0, codes
        assert set(codes.values()) <= {0, 84}, codes  # NONE, ELECTION_NOT_NEEDED
        assert preferred_lead(partitions(admin))
        produce_and_read(cluster.bootstrap, b"after-kafka-python")


def test_controller_balances_leaders_by_itself(tmp_path: Path) -> None:
    """With auto.leader.rebalance.enable (Kafka's default) and a one-second check
    interval, leadership returns to the preferred replicas after a restart without
    any admin request."""
    with LocalCluster(tmp_path / "cluster", ports=LocalCluster.free_ports(),
                      overrides={"leader.imbalance.check.interval.seconds": "1"}) as cluster:
        admin = start(cluster)
        node = partitions(admin)[0][0]
        cluster.restart(node)
        wait_for(admin, "preferred leaders again",
                 lambda s: full_isr(s) and preferred_lead(s))
        produce_and_read(cluster.bootstrap, b"balanced")
