"""librdkafka (confluent-kafka) and kafka-python against a kraft node over SASL_SSL with
SCRAM-SHA-512, SASL_PLAINTEXT with PLAIN, and SSL with and without client certificates."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import confluent_kafka
import kafka
import pytest
from confluent_kafka.admin import AdminClient

from tests.ports import free_port
from tests.security.certs import Pki

KRAFT = [sys.executable, "-m", "kraft.cli"]
SCRAM = "org.apache.kafka.common.security.scram.ScramLoginModule"
PLAIN = "org.apache.kafka.common.security.plain.PlainLoginModule"


class Node:
    def __init__(self, ports: dict[str, int], pki: Pki) -> None:
        self.ports = ports
        self.pki = pki

    def bootstrap(self, listener: str) -> str:
        return f"127.0.0.1:{self.ports[listener]}"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[Node]:
    """One node (broker + controller) with a listener of every protocol, formatted with
    SCRAM users alice and admin."""
    tmp = tmp_path_factory.mktemp("secure-node")
    ports = {name: free_port() for name in ("SASL_SSL", "SASL_PLAINTEXT", "SSL", "MTLS",
                                            "CONTROLLER")}
    props = {
        "node.id": "1",
        "process.roles": "broker,controller",
        "controller.quorum.voters": f"1@127.0.0.1:{ports['CONTROLLER']}",
        "controller.listener.names": "CONTROLLER",
        "listeners": ",".join(f"{n}://127.0.0.1:{p}" for n, p in ports.items()),
        "listener.security.protocol.map": "SASL_SSL:SASL_SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,"
                                          "SSL:SSL,MTLS:SSL,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "SASL_SSL",
        "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
        "listener.name.sasl_ssl.sasl.enabled.mechanisms": "SCRAM-SHA-512",
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config":
            f'{SCRAM} required username="admin" password="admin-secret";',
        "listener.name.sasl_plaintext.sasl.enabled.mechanisms": "PLAIN",
        "listener.name.sasl_plaintext.plain.sasl.jaas.config":
            f'{PLAIN} required user_alice="alice-secret" user_admin="admin-secret";',
        "listener.name.mtls.ssl.client.auth": "required",
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(pki.keystore("server")),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(pki.ca),
        "log.dirs": str(tmp / "data"),
        "group.initial.rebalance.delay.ms": "0",
    }
    config = tmp / "server.properties"
    config.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
    formatted = subprocess.run(
        [*KRAFT, "format", "--config", str(config), "--cluster-id", "AAAAAAAAAAAAAAAAAAAAAA",
         "--add-scram", "SCRAM-SHA-512=[name=alice,password=alice-secret]",
         "--add-scram", "SCRAM-SHA-512=[name=admin,password=admin-secret]"],
        capture_output=True, text=True, timeout=60)
    assert formatted.returncode == 0, formatted.stderr
    out = tmp / "node.log"
    with open(out, "wb") as log:
        proc = subprocess.Popen([*KRAFT, "start", str(config)], stdout=log,
                                stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while "ready" not in out.read_text():
            assert proc.poll() is None, out.read_text()[-3000:]
            assert time.monotonic() < deadline, out.read_text()[-3000:]
            time.sleep(0.05)
        yield Node(ports, pki)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _ck_settings(node: Node, case: str) -> dict[str, Any]:
    ca = str(node.pki.ca)
    return {
        "scram": {"bootstrap.servers": node.bootstrap("SASL_SSL"),
                  "security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
                  "sasl.username": "alice", "sasl.password": "alice-secret",
                  "ssl.ca.location": ca},
        "plain": {"bootstrap.servers": node.bootstrap("SASL_PLAINTEXT"),
                  "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
                  "sasl.username": "alice", "sasl.password": "alice-secret"},
        "ssl": {"bootstrap.servers": node.bootstrap("SSL"), "security.protocol": "SSL",
                "ssl.ca.location": ca},
        "mtls": {"bootstrap.servers": node.bootstrap("MTLS"), "security.protocol": "SSL",
                 "ssl.ca.location": ca,
                 "ssl.certificate.location": str(node.pki.cert("alice")),
                 "ssl.key.location": str(node.pki.key("alice"))},
    }[case]


def _kp_settings(node: Node, case: str) -> dict[str, Any]:
    ca = str(node.pki.ca)
    return {
        "scram": {"bootstrap_servers": node.bootstrap("SASL_SSL"),
                  "security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
                  "sasl_plain_username": "alice", "sasl_plain_password": "alice-secret",
                  "ssl_cafile": ca},
        "plain": {"bootstrap_servers": node.bootstrap("SASL_PLAINTEXT"),
                  "security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN",
                  "sasl_plain_username": "alice", "sasl_plain_password": "alice-secret"},
        "ssl": {"bootstrap_servers": node.bootstrap("SSL"), "security_protocol": "SSL",
                "ssl_cafile": ca},
        "mtls": {"bootstrap_servers": node.bootstrap("MTLS"), "security_protocol": "SSL",
                 "ssl_cafile": ca, "ssl_certfile": str(node.pki.cert("alice")),
                 "ssl_keyfile": str(node.pki.key("alice"))},
    }[case]


CASES = ["scram", "plain", "ssl", "mtls"]


@pytest.mark.parametrize("case", CASES)
def test_confluent_kafka_produces_and_consumes(node: Node, case: str) -> None:
    """librdkafka produces and consumes over each secured listener."""
    settings = _ck_settings(node, case)
    topic = f"ck-{case}-{uuid.uuid4().hex[:8]}"
    producer = confluent_kafka.Producer({**settings, "message.timeout.ms": 30000})
    for i in range(10):
        producer.produce(topic, f"v{i}".encode())
    assert producer.flush(30) == 0
    consumer = confluent_kafka.Consumer({**settings, "group.id": f"g-{topic}",
                                         "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    got: list[bytes] = []
    deadline = time.monotonic() + 30
    while len(got) < 10 and time.monotonic() < deadline:
        message = consumer.poll(1.0)
        if message is not None and message.error() is None:
            got.append(message.value())
    consumer.close()
    assert got == [f"v{i}".encode() for i in range(10)]


@pytest.mark.parametrize("case", CASES)
def test_kafka_python_produces_and_consumes(node: Node, case: str) -> None:
    """kafka-python produces and consumes over each secured listener."""
    settings = _kp_settings(node, case)
    topic = f"kp-{case}-{uuid.uuid4().hex[:8]}"
    producer = kafka.KafkaProducer(**settings)
    for i in range(10):
        producer.send(topic, f"v{i}".encode())
    producer.flush(30)
    producer.close()
    consumer = kafka.KafkaConsumer(topic, **settings, auto_offset_reset="earliest",
                                   group_id=f"g-{topic}", consumer_timeout_ms=20000)
    # kafka-python joins before it has the topic's metadata and may assign nothing,
    # then stick on the rejoin (docs/compat.md, "Client behaviour that is the same
    # against Kafka"): know the partitions before the first poll.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if consumer.partitions_for_topic(topic):
                break
        except kafka.errors.KafkaError:
            pass  # a failed metadata request: ask again, as poll() would
        time.sleep(0.1)
    got = []
    for message in consumer:  # stops after consumer_timeout_ms without a message
        got.append(message.value)
        if len(got) == 10:
            break
    consumer.close()
    assert got == [f"v{i}".encode() for i in range(10)]


def test_wrong_scram_password_is_refused(node: Node) -> None:
    """librdkafka with a wrong SCRAM password gets Kafka's authentication error, and
    the node goes on serving the right password."""
    errors: list[confluent_kafka.KafkaError] = []
    settings = {**_ck_settings(node, "scram"), "sasl.password": "wrong",
                "error_cb": errors.append}
    producer = confluent_kafka.Producer(settings)
    deadline = time.monotonic() + 30
    while not errors and time.monotonic() < deadline:
        producer.poll(0.2)
    assert errors and errors[0].code() == confluent_kafka.KafkaError._AUTHENTICATION
    assert "Authentication failed" in errors[0].str()
    assert AdminClient(_ck_settings(node, "scram")).list_topics(timeout=10).topics is not None


def test_mtls_listener_refuses_a_client_without_certificate(node: Node) -> None:
    """A client without a certificate cannot use the listener that requires one."""
    settings = {**_ck_settings(node, "ssl"), "bootstrap.servers": node.bootstrap("MTLS")}
    admin = AdminClient(settings)
    with pytest.raises(confluent_kafka.KafkaException):
        admin.list_topics(timeout=5)



def test_scram_users_altered_and_described_at_run_time(node: Node) -> None:
    """AlterUserScramCredentials creates a user who can authenticate at once;
    DescribeUserScramCredentials shows mechanism and iterations; deleting it locks it out."""
    from confluent_kafka.admin import (
        ScramCredentialInfo,
        ScramMechanism,
        UserScramCredentialDeletion,
        UserScramCredentialUpsertion,
    )

    admin = AdminClient(_ck_settings(node, "scram"))
    user = f"carol-{uuid.uuid4().hex[:6]}"
    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192)
    futures = admin.alter_user_scram_credentials(
        [UserScramCredentialUpsertion(user, info, b"carol-secret")])
    for future in futures.values():
        future.result(30)
    described = admin.describe_user_scram_credentials([user])[user].result(30)
    infos = described.scram_credential_infos
    assert [(i.mechanism, i.iterations) for i in infos] == [(ScramMechanism.SCRAM_SHA_512, 8192)]
    settings = {**_ck_settings(node, "scram"), "sasl.username": user,
                "sasl.password": "carol-secret"}
    assert AdminClient(settings).list_topics(timeout=10).topics is not None
    futures = admin.alter_user_scram_credentials(
        [UserScramCredentialDeletion(user, ScramMechanism.SCRAM_SHA_512)])
    for future in futures.values():
        future.result(30)
    with pytest.raises(confluent_kafka.KafkaException, match="does not exist"):
        admin.describe_user_scram_credentials([user])[user].result(30)


def test_kafka_python_admin_over_scram_manages_scram_users(node: Node) -> None:
    """kafka-python's KafkaAdminClient, authenticated with SCRAM-SHA-512 over TLS,
    upserts a user (who can then log in), describes it, and deletes it."""
    from kafka.admin import (
        ScramMechanism,
        UserScramCredentialDeletion,
        UserScramCredentialUpsertion,
    )

    admin = kafka.KafkaAdminClient(**_kp_settings(node, "scram"))
    user = f"dave-{uuid.uuid4().hex[:6]}"
    try:
        assert admin.alter_user_scram_credentials([UserScramCredentialUpsertion(
            user, ScramMechanism.SCRAM_SHA_512, "dave-secret", iterations=4096)]) == {user: None}
        described = admin.describe_user_scram_credentials([user])[user]
        assert described["error"] is None
        assert [(i["mechanism"], i["iterations"]) for i in described["credential_infos"]] == [
            (ScramMechanism.SCRAM_SHA_512, 4096)]
        settings = {**_kp_settings(node, "scram"), "sasl_mechanism": "SCRAM-SHA-512",
                    "sasl_plain_username": user, "sasl_plain_password": "dave-secret"}
        as_dave = kafka.KafkaAdminClient(**settings)
        try:
            assert isinstance(as_dave.list_topics(), list)
        finally:
            as_dave.close()
        assert admin.alter_user_scram_credentials([UserScramCredentialDeletion(
            user, ScramMechanism.SCRAM_SHA_512)]) == {user: None}
        gone = admin.describe_user_scram_credentials([user])[user]
        assert gone["error"] is not None and not gone["credential_infos"]
    finally:
        admin.close()
