"""`kraft start` and `kraft dev`: what a user sees when starting a node."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import confluent_kafka
import pytest

from tests.ports import free_port

KRAFT = [sys.executable, "-m", "kraft.cli"]


def _properties(tmp_path: Path, **extra: str) -> Path:
    client, controller = free_port(), free_port()
    props = {
        "node.id": "1",
        "process.roles": "broker,controller",
        "controller.quorum.voters": f"1@127.0.0.1:{controller}",
        "controller.listener.names": "CONTROLLER",
        "listeners": f"PLAINTEXT://127.0.0.1:{client},CONTROLLER://127.0.0.1:{controller}",
        "log.dirs": str(tmp_path / "data"),
        **extra,
    }
    path = tmp_path / "server.properties"
    path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
    return path


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*KRAFT, *args], capture_output=True, text=True, timeout=60)


def test_start_refuses_an_unformatted_directory(tmp_path: Path) -> None:
    """Starting on a directory without meta.properties fails and says how to format it."""
    result = _run("start", str(_properties(tmp_path)))
    assert result.returncode == 1
    assert "not formatted" in result.stderr and "kraft format" in result.stderr


def test_unformatted_dynamic_quorum_controller_gets_storage_format_advice(
        tmp_path: Path) -> None:
    """A controller of a dynamic quorum (controller.quorum.bootstrap.servers, Kafka 4's
    quickstart) is told the kafka-storage command that formats it, with its own file:
    `kraft format` would refuse it for want of --standalone or --initial-controllers."""
    config = _properties(tmp_path)
    text = config.read_text()
    voters = next(line for line in text.splitlines() if line.startswith("controller.quorum"))
    config.write_text(text.replace(voters, voters.replace(
        "controller.quorum.voters=1@", "controller.quorum.bootstrap.servers=")))
    result = _run("start", str(config))
    assert result.returncode == 1
    assert (f"is not formatted: run `kraft storage format -t $(kraft storage random-uuid) "
            f"-c {config} --standalone") in result.stderr
    assert "Traceback" not in result.stderr


def test_start_refuses_another_node_id(tmp_path: Path) -> None:
    """A directory formatted for another node id is refused with both ids named."""
    config = _properties(tmp_path)
    assert _run("format", "--config", str(config), "--cluster-id",
                "AAAAAAAAAAAAAAAAAAAAAA").returncode == 0
    config.write_text(config.read_text().replace("node.id=1", "node.id=2")
                      .replace("voters=1@", "voters=2@"))
    result = _run("start", str(config))
    assert result.returncode == 1
    assert "node.id 1" in result.stderr and "node.id 2" in result.stderr


@pytest.mark.parametrize(("extra", "says"), [
    ("listener.security.protocol.map=SASL:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT\n", "GSSAPI"),
    ("listener.security.protocol.map=SASL:SSL,CONTROLLER:PLAINTEXT\n", "keystore"),
    ("listener.security.protocol.map=SASL:SSL,CONTROLLER:PLAINTEXT\n"
     "ssl.keystore.location=/nonexistent\n", "JKS"),
    ("authorizer.class.name=kafka.security.authorizer.AclAuthorizer\n", "authorizer"),
])
def test_start_refuses_unsupported_settings(tmp_path: Path, extra: str, says: str) -> None:
    """Security settings kraft cannot honour (GSSAPI, an SSL listener without a
    keystore or with a JKS one, another authorizer) refuse to start, naming the problem."""
    config = _properties(tmp_path)
    config.write_text(config.read_text().replace("PLAINTEXT://", "SASL://") + extra
                      + "inter.broker.listener.name=SASL\n")
    result = _run("start", str(config))
    assert result.returncode == 1
    assert says in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_start_serves_clients_and_stops_on_sigterm(tmp_path: Path) -> None:
    """A formatted node started from server.properties prints `ready`, takes a
    produce from librdkafka, and exits 0 on SIGTERM (how fast is measured by
    scripts/bench_broker.py, not asserted here)."""
    config = _properties(tmp_path)
    assert _run("format", "--config", str(config), "--cluster-id",
                "AAAAAAAAAAAAAAAAAAAAAA").returncode == 0
    out = tmp_path / "stdout.log"
    with open(out, "wb") as stdout:
        proc = subprocess.Popen([*KRAFT, "start", str(config)], stdout=stdout,
                                stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while "ready" not in out.read_text():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        line = out.read_text()
        bootstrap = line.split("PLAINTEXT=")[1].split(",")[0].split()[0]
        producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap})
        producer.produce("started", b"x")
        assert producer.flush(30) == 0
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
