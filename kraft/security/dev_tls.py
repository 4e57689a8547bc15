"""Certificates for `kraft dev --sasl-ssl` and `scripts/cluster start --sasl-ssl`: a
throw-away CA and a node certificate.

Made with the `openssl` command (kraft has no X.509 writer and adds no
dependency for one) into `<data dir>/tls/`: `ca.pem` (give it to clients as
their trusted CA), `node.keystore.pem` (the node's key and certificate, for
localhost, 127.0.0.1 and the listen host). Kept across restarts of a
`--data-dir`, so clients keep trusting the same CA. For development only:
the CA key sits next to it, unencrypted.
"""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
from pathlib import Path

from kraft.config_keys import ConfigError

__all__ = ["dev_certificates"]


def _san(host: str) -> str:
    names = {"DNS:localhost", "IP:127.0.0.1"}
    if host and host not in ("0.0.0.0", "::"):
        try:
            ipaddress.ip_address(host)
            names.add(f"IP:{host}")
        except ValueError:
            names.add(f"DNS:{host}")
    return ",".join(sorted(names))


def dev_certificates(data_dir: Path, host: str) -> tuple[Path, Path]:
    """(CA certificate, node PEM keystore) in `data_dir/tls`, made on first use."""
    tls = data_dir / "tls"
    ca, keystore = tls / "ca.pem", tls / "node.keystore.pem"
    if ca.exists() and keystore.exists():
        return ca, keystore
    openssl = shutil.which("openssl")
    if openssl is None:
        raise ConfigError("--sasl-ssl makes its certificates with the openssl command, "
                          "which is not on PATH")
    tls.mkdir(parents=True, exist_ok=True)
    (tls / "san.ext").write_text(f"subjectAltName={_san(host)}\n")
    steps = [
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
         "-subj", "/CN=kraft dev CA", "-keyout", "ca.key", "-out", "ca.pem"],
        ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
         "-keyout", "node.key", "-out", "node.csr"],
        ["x509", "-req", "-in", "node.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
         "-CAcreateserial", "-days", "3650", "-extfile", "san.ext", "-out", "node.pem"],
    ]
    for step in steps:
        done = subprocess.run([openssl, *step], cwd=tls, capture_output=True, text=True)
        if done.returncode != 0:
            raise ConfigError(f"openssl {step[0]} failed: {done.stderr.strip()[-300:]}")
    keystore.write_text((tls / "node.key").read_text() + (tls / "node.pem").read_text())
    keystore.chmod(0o600)
    return ca, keystore
