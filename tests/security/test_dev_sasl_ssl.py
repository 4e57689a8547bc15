"""`kraft dev --sasl-ssl USER:PASSWORD`: a dev node that clients reach over SASL_SSL."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import confluent_kafka
import pytest

from tests.ports import free_port


@pytest.fixture(scope="module")
def secure_dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A `kraft dev --sasl-ssl alice:alice-secret` node; yields the client settings
    its ready line prints."""
    tmp = tmp_path_factory.mktemp("dev-sasl-ssl")
    out = tmp / "dev.log"
    with open(out, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kraft.cli", "dev", "--port", "0", "--controller-port",
             str(free_port()), "--data-dir", str(tmp / "data"),
             "--sasl-ssl", "alice:alice-secret"],
            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while "ready" not in out.read_text():
            assert proc.poll() is None, out.read_text()[-3000:]
            assert time.monotonic() < deadline, out.read_text()[-3000:]
            time.sleep(0.05)
        line = next(x for x in out.read_text().splitlines() if "ready" in x)
        yield dict(re.findall(r"(bootstrap\.servers|security\.protocol|sasl\.mechanism|"
                              r"sasl\.username|ssl\.ca\.location)=(\S+)", line))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_dev_sasl_ssl_serves_the_user_with_the_printed_settings(
        secure_dev: dict[str, str]) -> None:
    """The ready line carries bootstrap.servers, the SASL_SSL settings and the CA file;
    librdkafka with exactly those settings (and the password) produces."""
    settings = secure_dev
    assert settings["security.protocol"] == "SASL_SSL"
    assert settings["sasl.mechanism"] == "SCRAM-SHA-512"
    producer = confluent_kafka.Producer({**settings, "sasl.password": "alice-secret",
                                         "message.timeout.ms": 30000})
    producer.produce("dev-secure", b"x")
    assert producer.flush(30) == 0


def _command_config(tmp_path: Path, settings: dict[str, str], password: str) -> str:
    """Kafka's admin client properties for the node (SCRAM over TLS, PEM truststore)."""
    path = tmp_path / f"admin-{password}.properties"
    path.write_text(
        "security.protocol=SASL_SSL\n"
        f"sasl.mechanism={settings['sasl.mechanism']}\n"
        "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{settings["sasl.username"]}" password="{password}";\n'
        "ssl.truststore.type=PEM\n"
        f"ssl.truststore.location={settings['ssl.ca.location']}\n")
    return str(path)


def _tool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kraft.cli", *args], capture_output=True,
                          text=True, timeout=120)


def test_tools_connect_with_the_command_config_security(
        secure_dev: dict[str, str], tmp_path: Path) -> None:
    """kraft's tools take Kafka's admin client properties in --command-config: with the
    user's SCRAM credentials and the CA they describe the quorum and list transactions
    over SASL_SSL; with a wrong password they fail in one line naming the SASL error."""
    bootstrap = secure_dev["bootstrap.servers"]
    good = _command_config(tmp_path, secure_dev, "alice-secret")
    quorum = _tool("metadata-quorum", "--bootstrap-server", bootstrap, "--command-config",
                   good, "describe", "--status")
    assert quorum.returncode == 0, quorum.stderr
    assert "LeaderId:" in quorum.stdout and "CurrentVoters:" in quorum.stdout
    listed = _tool("transactions", "--bootstrap-server", bootstrap, "--command-config", good,
                   "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split()[:2] == ["TransactionalId", "Coordinator"]

    bad = _command_config(tmp_path, secure_dev, "wrong")
    refused = _tool("transactions", "--bootstrap-server", bootstrap, "--command-config", bad,
                    "list")
    assert refused.returncode == 1
    assert "SASL_AUTHENTICATION_FAILED" in refused.stderr, refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr


def test_dev_sasl_ssl_refuses_a_malformed_user() -> None:
    """--sasl-ssl without a password is a usage error (exit 2, one line)."""
    result = subprocess.run([sys.executable, "-m", "kraft.cli", "dev", "--sasl-ssl", "alice"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "USER:PASSWORD" in result.stderr
    assert "Traceback" not in result.stderr
