"""`kraft dev --sasl-ssl USER:PASSWORD`: a dev node that clients reach over SASL_SSL."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import confluent_kafka

from tests.ports import free_port


def test_dev_sasl_ssl_serves_the_user_with_the_printed_settings(tmp_path: Path) -> None:
    """The ready line carries bootstrap.servers, the SASL_SSL settings and the CA file;
    librdkafka with exactly those settings (and the password) produces."""
    out = tmp_path / "dev.log"
    with open(out, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kraft.cli", "dev", "--port", "0", "--controller-port",
             str(free_port()), "--data-dir", str(tmp_path / "data"),
             "--sasl-ssl", "alice:alice-secret"],
            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while "ready" not in out.read_text():
            assert proc.poll() is None, out.read_text()[-3000:]
            assert time.monotonic() < deadline, out.read_text()[-3000:]
            time.sleep(0.05)
        line = next(x for x in out.read_text().splitlines() if "ready" in x)
        settings = dict(re.findall(r"(bootstrap\.servers|security\.protocol|sasl\.mechanism|"
                                   r"sasl\.username|ssl\.ca\.location)=(\S+)", line))
        assert settings["security.protocol"] == "SASL_SSL"
        assert settings["sasl.mechanism"] == "SCRAM-SHA-512"
        producer = confluent_kafka.Producer({**settings, "sasl.password": "alice-secret",
                                             "message.timeout.ms": 30000})
        producer.produce("dev-secure", b"x")
        assert producer.flush(30) == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_dev_sasl_ssl_refuses_a_malformed_user() -> None:
    """--sasl-ssl without a password is a usage error (exit 2, one line)."""
    result = subprocess.run([sys.executable, "-m", "kraft.cli", "dev", "--sasl-ssl", "alice"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "USER:PASSWORD" in result.stderr
    assert "Traceback" not in result.stderr
