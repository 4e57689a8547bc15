"""A node with StandardAuthorizer and a SASL_PLAINTEXT + PLAIN listener, for the ACL tests.

`acl_settings` are the ACL and SASL keys, the same for kraft and for Apache
Kafka (tests/compat/test_acls.py runs one scenario against both): users admin,
alice and bob from the PLAIN JAAS config; super.users admin and ANONYMOUS (the
principal of the PLAINTEXT inter-broker and controller listeners: Kafka gives a
node's own principal no other right, so it must be a super user).
`start_kraft` runs kraft with them and yields once it is ready (`start_kraft_node`
with overrides, e.g. a SASL controller listener).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import confluent_kafka
from confluent_kafka import KafkaError, KafkaException

from tests.ports import free_port

KRAFT = [sys.executable, "-m", "kraft.cli"]
PLAIN = "org.apache.kafka.common.security.plain.PlainLoginModule"
USERS = {"admin": "admin-secret", "alice": "alice-secret", "bob": "bob-secret"}
STANDARD_AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
HOST = "127.0.0.1"


def acl_settings() -> dict[str, str]:
    """The authorizer and the SASL_PLAINTEXT listener's PLAIN users."""
    users = " ".join(f'user_{u}="{p}"' for u, p in USERS.items())
    return {
        "sasl.enabled.mechanisms": "PLAIN",
        "listener.name.sasl_plaintext.plain.sasl.jaas.config":
            f'{PLAIN} required username="admin" password="admin-secret" {users};',
        "authorizer.class.name": STANDARD_AUTHORIZER,
        "super.users": "User:admin;User:ANONYMOUS",
        "group.initial.rebalance.delay.ms": "0",
    }


def sasl_controller_settings() -> dict[str, str]:
    """Overrides of `start_kraft_node` for a controller listener on SASL_PLAINTEXT with
    the same PLAIN users (the node itself logs in there as admin, a super user)."""
    users = " ".join(f'user_{u}="{p}"' for u, p in USERS.items())
    return {
        "listener.security.protocol.map": "SASL_PLAINTEXT:SASL_PLAINTEXT,PLAINTEXT:PLAINTEXT,"
                                          "CONTROLLER:SASL_PLAINTEXT",
        "sasl.mechanism.controller.protocol": "PLAIN",
        "listener.name.controller.plain.sasl.jaas.config":
            f'{PLAIN} required username="admin" password="admin-secret" {users};',
    }


def client_settings(bootstrap: str, user: str) -> dict[str, Any]:
    """confluent-kafka settings of `user` on the SASL_PLAINTEXT listener."""
    return {"bootstrap.servers": bootstrap, "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "PLAIN", "sasl.username": user, "sasl.password": USERS[user]}


@dataclass(frozen=True)
class KraftNode:
    """A started node's addresses (host:port)."""

    sasl: str  # the SASL_PLAINTEXT client listener
    controller: str  # the controller listener


@contextmanager
def start_kraft(tmp: Path) -> Iterator[str]:
    """A kraft node (broker + controller) with `acl_settings`, PLAINTEXT inter-broker and
    controller listeners; yields the SASL_PLAINTEXT bootstrap address once ready."""
    with start_kraft_node(tmp) as node:
        yield node.sasl


@contextmanager
def start_kraft_node(tmp: Path, overrides: dict[str, str] | None = None) -> Iterator[KraftNode]:
    """As `start_kraft`, with `overrides` on top of its server.properties; yields both
    addresses once the node is ready."""
    sasl, plain, controller = free_port(), free_port(), free_port()
    props = {
        "node.id": "1",
        "process.roles": "broker,controller",
        "controller.quorum.voters": f"1@{HOST}:{controller}",
        "controller.listener.names": "CONTROLLER",
        "listeners": f"SASL_PLAINTEXT://{HOST}:{sasl},PLAINTEXT://{HOST}:{plain},"
                     f"CONTROLLER://{HOST}:{controller}",
        "listener.security.protocol.map": "SASL_PLAINTEXT:SASL_PLAINTEXT,PLAINTEXT:PLAINTEXT,"
                                          "CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(tmp / "data"),
        "offsets.topic.num.partitions": "2",
        **acl_settings(),
        **(overrides or {}),
    }
    config = tmp / "server.properties"
    config.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
    formatted = subprocess.run(
        [*KRAFT, "format", "--config", str(config), "--cluster-id", "AAAAAAAAAAAAAAAAAAAAAA"],
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
        yield KraftNode(f"{HOST}:{sasl}", f"{HOST}:{controller}")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def group(prefix: str) -> str:
    """A group id starting with `prefix` that no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def consume(bootstrap: str, user: str, topic: str, group_id: str, want: int = 5
            ) -> tuple[list[bytes], KafkaError | None]:
    """(values read, the first error) from `topic` as `user` in `group_id`."""
    consumer = confluent_kafka.Consumer({**client_settings(bootstrap, user), "group.id": group_id,
                                         "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    got: list[bytes] = []
    error = None
    deadline = time.monotonic() + 30
    try:
        while len(got) < want and error is None and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error() is not None:
                error = message.error()
            else:
                got.append(message.value())
        if error is None:
            consumer.commit(asynchronous=False)
    except KafkaException as e:
        error = e.args[0]
    finally:
        consumer.close()
    return got, error
