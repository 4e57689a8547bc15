"""Test certificates made with the `openssl` CLI: a CA, a server certificate for
localhost / 127.0.0.1 and client certificates, as PEM files in a directory."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Pki:
    root: Path

    @property
    def ca(self) -> Path:
        return self.root / "ca.pem"

    def keystore(self, name: str) -> Path:
        """PEM keystore of `name`: its private key, then its certificate."""
        return self.root / f"{name}.keystore.pem"

    def key(self, name: str) -> Path:
        return self.root / f"{name}.key"

    def cert(self, name: str) -> Path:
        return self.root / f"{name}.pem"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(root: Path, clients: dict[str, str] | None = None, *,
             ca_name: str = "ca") -> Pki:
    """A CA `ca_name`, server certificate 'server' and client certificates
    {name: subject} in `root`; every key unencrypted except 'server-enc' (password
    'keypass'), an encrypted copy of the server key."""
    root.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", f"/CN=kraft test {ca_name}", "-keyout", f"{ca_name}.key",
             "-out", f"{ca_name}.pem", cwd=root)
    (root / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    subjects = {"server": "/CN=localhost", **(clients or {})}
    for name, subject in subjects.items():
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", subject,
                 "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=root)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca_name}.pem", "-CAkey",
                 f"{ca_name}.key", "-CAcreateserial", "-days", "2", "-extfile", "san.ext",
                 "-out", f"{name}.pem", cwd=root)
        (root / f"{name}.keystore.pem").write_text(
            (root / f"{name}.key").read_text() + (root / f"{name}.pem").read_text())
    _openssl("pkcs8", "-topk8", "-in", "server.key", "-out", "server-enc.key",
             "-passout", "pass:keypass", cwd=root)
    (root / "server-enc.keystore.pem").write_text(
        (root / "server-enc.key").read_text() + (root / "server.pem").read_text())
    if ca_name == "ca":
        return Pki(root)
    (root / "ca.pem").write_text((root / f"{ca_name}.pem").read_text())
    return Pki(root)
