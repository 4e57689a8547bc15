"""kraft.testing: brokers and clusters for users' tests, started, used and cleaned up."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer

from kraft.testing import Broker, Cluster, KraftTestingError


def _round_trip(bootstrap: str, topic: str, count: int = 5, acks: str = "all") -> list[bytes]:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": acks})
    for i in range(count):
        producer.produce(topic, value=f"m{i}".encode())
    assert producer.flush(60) == 0
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"g-{topic}",
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    seen: list[bytes] = []
    try:
        while len(seen) < count:
            msg = consumer.poll(10)
            assert msg is not None, f"only {len(seen)} of {count} records read"
            assert msg.error() is None, msg.error()
            seen.append(msg.value())
    finally:
        consumer.close()
    return seen


def test_broker_serves_clients_and_removes_everything_on_exit() -> None:
    """A Broker is ready for clients inside `with`, and leaves no process or directory after."""
    with Broker() as broker:
        root, proc = broker.root, broker.proc
        topic = broker.new_topic("t", partitions=2)
        assert sorted(_round_trip(broker.bootstrap_servers, topic)) == [
            f"m{i}".encode() for i in range(5)]
        assert root.is_dir()
    assert proc is not None and proc.poll() is not None
    assert not root.exists()


def test_new_topic_names_are_unique_and_create_topic_reports_kafka_errors() -> None:
    """new_topic never repeats a name; creating an existing topic raises with Kafka's error."""
    with Broker() as broker:
        names = {broker.new_topic("same") for _ in range(3)}
        assert len(names) == 3 and all(n.startswith("same-") for n in names)
        broker.create_topic("fixed", partitions=1, config={"cleanup.policy": "compact"})
        with pytest.raises(KraftTestingError, match="TOPIC_ALREADY_EXISTS"):
            broker.create_topic("fixed")
        with pytest.raises(KraftTestingError, match="INVALID_CONFIG"):
            broker.create_topic("bad-config", config={"cleanup.policy": "sometimes"})


def test_keep_data_keeps_the_directory_and_an_exception_still_stops_the_node(tmp_path) -> None:
    """keep_data keeps data and logs; leaving by an exception still kills the process."""
    with pytest.raises(RuntimeError), Broker(keep_data=True) as broker:
        proc, root = broker.proc, broker.root
        raise RuntimeError("test failed")
    assert proc is not None and proc.poll() is not None
    assert (root / "data" / "meta.properties").exists() and (root / "node.log").exists()
    import shutil

    shutil.rmtree(root)


def test_nodes_die_with_the_process_that_started_them(tmp_path: Path) -> None:
    """A test run killed with SIGKILL leaves no broker running, and the next run sweeps its dir."""
    script = textwrap.dedent("""
        import os, kraft.testing
        broker = kraft.testing.Broker().start()
        print(broker.proc.pid, broker.root, flush=True)
        os.kill(os.getpid(), 9)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120)
    pid_text, root_text = out.stdout.split()
    pid, root = int(pid_text), Path(root_text)
    _wait_gone(pid)
    assert root.exists()
    with Broker():
        assert not root.exists()


def _wait_gone(pid: int) -> None:
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        with open(f"/proc/{pid}/stat") as f:
            if f.read().split(")")[-1].split()[0] == "Z":
                return
        time.sleep(0.05)
    raise AssertionError(f"broker process {pid} still running after its parent was killed")


@pytest.mark.slow
def test_cluster_kill_pause_restart_and_leader_of() -> None:
    """Cluster's controls act on real nodes: a killed leader is replaced, writes go on."""
    with Cluster(3) as cluster:
        assert cluster.nodes == [1, 2, 3]
        assert len(cluster.bootstrap_servers.split(",")) == 3
        topic = cluster.new_topic("replicated", replication_factor=3)
        leader = cluster.leader_of(topic, 0)
        cluster.kill(leader)
        assert len(_round_trip(cluster.bootstrap_servers, topic)) == 5
        assert cluster.leader_of(topic, 0) != leader
        other = next(n for n in cluster.nodes if n != leader)
        cluster.pause(other)
        cluster.resume(other)
        cluster.restart(leader)
        assert len(_round_trip(cluster.bootstrap_servers, cluster.new_topic("after"))) == 5
