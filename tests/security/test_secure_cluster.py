"""Three nodes that speak SASL_SSL to each other: raft and the controller channel over
SASL_SSL with PLAIN, replication over SASL_SSL with SCRAM-SHA-512."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import confluent_kafka
import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from tests.ports import free_port
from tests.security.certs import Pki

KRAFT = [sys.executable, "-m", "kraft.cli"]
SCRAM = "org.apache.kafka.common.security.scram.ScramLoginModule"
PLAIN = "org.apache.kafka.common.security.plain.PlainLoginModule"


def _config(tmp: Path, pki: Pki, node_id: int, ports: dict[int, tuple[int, int]]) -> Path:
    client, controller = ports[node_id]
    props = {
        "node.id": str(node_id),
        "process.roles": "broker,controller",
        "controller.quorum.voters": ",".join(f"{n}@127.0.0.1:{c}"
                                             for n, (_, c) in sorted(ports.items())),
        "controller.listener.names": "CONTROLLER",
        "listeners": f"SASL_SSL://127.0.0.1:{client},CONTROLLER://127.0.0.1:{controller}",
        "listener.security.protocol.map": "SASL_SSL:SASL_SSL,CONTROLLER:SASL_SSL",
        "inter.broker.listener.name": "SASL_SSL",
        "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
        "sasl.mechanism.controller.protocol": "PLAIN",
        "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
        "listener.name.controller.plain.sasl.jaas.config":
            f'{PLAIN} required username="admin" password="admin-secret" '
            f'user_admin="admin-secret";',
        "listener.name.sasl_ssl.sasl.enabled.mechanisms": "SCRAM-SHA-512",
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config":
            f'{SCRAM} required username="admin" password="admin-secret";',
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(pki.keystore("server")),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(pki.ca),
        "log.dirs": str(tmp / f"node{node_id}"),
        "offsets.topic.replication.factor": "3",
        "group.initial.rebalance.delay.ms": "0",
    }
    path = tmp / f"node{node_id}.properties"
    path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
    return path


@pytest.fixture
def cluster(tmp_path: Path, pki: Pki) -> Iterator[str]:
    """Three formatted nodes started with `kraft start`; yields the bootstrap servers."""
    ports = {n: (free_port(), free_port()) for n in (1, 2, 3)}
    procs: list[subprocess.Popen[bytes]] = []
    logs = []
    try:
        for n in ports:
            config = _config(tmp_path, pki, n, ports)
            formatted = subprocess.run(
                [*KRAFT, "storage", "format", "-c", str(config), "-t", "AAAAAAAAAAAAAAAAAAAAAA",
                 "--add-scram", "SCRAM-SHA-512=[name=admin,password=admin-secret]",
                 "--add-scram", "SCRAM-SHA-512=[name=alice,password=alice-secret]"],
                capture_output=True, text=True, timeout=60)
            assert formatted.returncode == 0, formatted.stderr
            log = tmp_path / f"node{n}.log"
            logs.append(log)
            with open(log, "wb") as out:
                procs.append(subprocess.Popen([*KRAFT, "start", str(config)], stdout=out,
                                              stderr=subprocess.STDOUT))
        deadline = time.monotonic() + 90
        for proc, log in zip(procs, logs, strict=True):
            while "ready" not in log.read_text():
                assert proc.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, log.read_text()[-3000:]
                time.sleep(0.1)
        yield ",".join(f"127.0.0.1:{c}" for c, _ in ports.values())
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.mark.slow
def test_replicated_produce_and_consume_over_sasl_ssl(cluster: str, pki: Pki) -> None:
    """Every node becomes ready (raft, registration and heartbeats over SASL_SSL/PLAIN);
    an acks=all produce to a topic replicated three times succeeds (followers fetch
    over SASL_SSL/SCRAM) and a group consumer reads it back."""
    settings = {"bootstrap.servers": cluster, "security.protocol": "SASL_SSL",
                "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "alice",
                "sasl.password": "alice-secret", "ssl.ca.location": str(pki.ca)}
    topic = f"replicated-{uuid.uuid4().hex[:8]}"
    admin = AdminClient(settings)
    admin.create_topics([NewTopic(topic, 3, 3, config={"min.insync.replicas": "3"})])[
        topic].result(60)
    producer = confluent_kafka.Producer({**settings, "acks": "all",
                                         "message.timeout.ms": 60000})
    for i in range(30):
        producer.produce(topic, f"v{i}".encode(), partition=i % 3)
    assert producer.flush(60) == 0
    consumer = confluent_kafka.Consumer({**settings, "group.id": f"g-{topic}",
                                         "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    got: set[bytes] = set()
    deadline = time.monotonic() + 60
    while len(got) < 30 and time.monotonic() < deadline:
        message = consumer.poll(1.0)
        if message is not None and message.error() is None:
            got.add(message.value())
    consumer.close()
    assert got == {f"v{i}".encode() for i in range(30)}
