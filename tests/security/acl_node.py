"""A node with StandardAuthorizer and a SASL_PLAINTEXT + PLAIN listener, for the ACL tests.

`acl_settings` are the ACL and SASL keys, the same for kraft and for Apache
Kafka (tests/compat/test_acls.py runs one scenario against both): users admin,
alice and bob from the PLAIN JAAS config; super.users admin and ANONYMOUS (the
principal of the PLAINTEXT inter-broker and controller listeners: Kafka gives a
node's own principal no other right, so it must be a super user).
`start_kraft` runs kraft with them and yields once it is ready.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
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


def client_settings(bootstrap: str, user: str) -> dict[str, Any]:
    """confluent-kafka settings of `user` on the SASL_PLAINTEXT listener."""
    return {"bootstrap.servers": bootstrap, "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": "PLAIN", "sasl.username": user, "sasl.password": USERS[user]}


@contextmanager
def start_kraft(tmp: Path) -> Iterator[str]:
    """A kraft node (broker + controller) with `acl_settings`, PLAINTEXT inter-broker and
    controller listeners; yields the SASL_PLAINTEXT bootstrap address once ready."""
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
        yield f"{HOST}:{sasl}"
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
