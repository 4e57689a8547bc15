"""SSLContexts from Kafka's ssl.* keys: what is accepted, and the one-line refusals."""

from __future__ import annotations

import contextlib
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from kraft.config_keys import ConfigError
from kraft.security.tls import SslSettings, client_context, server_context
from tests.security.certs import Pki


def _server(pki: Pki, **kw: object) -> SslSettings:
    base: dict[str, object] = {"where": "listener SSL", "keystore_type": "PEM",
                               "keystore_location": str(pki.keystore("server"))}
    return SslSettings(**{**base, **kw})  # type: ignore[arg-type]


def test_cipher_suites_take_kafka_names(pki: Pki) -> None:
    """IANA suite names (Kafka's) select the OpenSSL suites; without a TLS 1.3 suite
    the context stops at TLS 1.2."""
    ctx = server_context(_server(pki, cipher_suites=(
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384")))
    names = {c["name"] for c in ctx.get_ciphers() if c["protocol"] == "TLSv1.2"}
    assert names == {"ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384"}
    assert ctx.maximum_version == ssl.TLSVersion.TLSv1_2


@pytest.mark.parametrize(("kw", "says"), [
    ({"cipher_suites": ("TLS_NOT_A_SUITE",)}, "unknown suite"),
    ({"cipher_suites": ("TLS_AES_128_GCM_SHA256",)}, "TLS 1.3"),
    ({"enabled_protocols": ("TLSv1.1",)}, "TLSv1.2"),
    ({"keystore_type": "JKS"}, "PEM and PKCS12"),
    ({"keystore_password": "x"}, "only key password"),
    ({"keystore_location": "/nonexistent/keystore.pem"}, "No such file"),
    ({"key_password": None, "keystore_location": None,
      "keystore_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
      "keystore_certificate_chain": None}, "both"),
])
def test_unusable_settings_are_config_errors(pki: Pki, kw: dict[str, object],
                                             says: str) -> None:
    """Each unusable setting is a ConfigError naming what to fix."""
    with pytest.raises(ConfigError, match=says):
        server_context(_server(pki, **kw))


def test_encrypted_key_needs_its_password(pki: Pki) -> None:
    """An encrypted PEM key without the right ssl.key.password is refused clearly."""
    with pytest.raises(ConfigError, match=r"ssl\.key\.password"):
        server_context(_server(pki, keystore_location=str(pki.keystore("server-enc")),
                               key_password="wrong"))
    assert server_context(_server(pki, keystore_location=str(pki.keystore("server-enc")),
                                  key_password="keypass"))


def test_client_verifies_host_names_unless_disabled(pki: Pki) -> None:
    """ssl.endpoint.identification.algorithm=https (the default) checks host names;
    empty turns only that off."""
    s = SslSettings(where="client", truststore_type="PEM", truststore_location=str(pki.ca))
    assert client_context(s).check_hostname
    off = SslSettings(where="client", truststore_type="PEM", truststore_location=str(pki.ca),
                      endpoint_identification_algorithm=None)
    ctx = client_context(off)
    assert not ctx.check_hostname and ctx.verify_mode == ssl.CERT_REQUIRED


def test_pkcs12_without_cryptography_says_what_to_install(
        pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    """A PKCS12 keystore without the optional 'cryptography' package is one line naming
    the extra to install."""
    monkeypatch.setitem(sys.modules, "cryptography", None)  # import now fails
    monkeypatch.setitem(sys.modules, "cryptography.hazmat.primitives.serialization", None)
    with pytest.raises(ConfigError, match=r"kraft\[pkcs12\]"):
        server_context(_server(pki, keystore_type="PKCS12", keystore_password="x"))


def test_pkcs12_keystore_and_truststore(pki: Pki, tmp_path: Path) -> None:
    """PKCS12 stores made by openssl serve TLS that a PEM-trusting client accepts, and
    a wrong store password is refused clearly."""
    p12 = tmp_path / "server.p12"
    subprocess.run(["openssl", "pkcs12", "-export", "-inkey", str(pki.key("server")),
                    "-in", str(pki.cert("server")), "-certfile", str(pki.ca),
                    "-passout", "pass:storepass", "-out", str(p12)],
                   check=True, capture_output=True)
    server = server_context(_server(pki, keystore_type="PKCS12", keystore_location=str(p12),
                                    keystore_password="storepass"))
    client = client_context(SslSettings(where="client", truststore_type="PKCS12",
                                        truststore_location=str(p12),
                                        truststore_password="storepass"))
    _handshake(server, client)
    with pytest.raises(ConfigError, match=r"ssl\.keystore\.password"):
        server_context(_server(pki, keystore_type="PKCS12", keystore_location=str(p12),
                               keystore_password="wrong"))


def _handshake(server: ssl.SSLContext, client: ssl.SSLContext) -> None:
    """A TLS handshake between the two contexts in memory (raises if it fails)."""
    s_in, s_out, c_in, c_out = (ssl.MemoryBIO() for _ in range(4))
    s = server.wrap_bio(s_in, s_out, server_side=True)
    c = client.wrap_bio(c_in, c_out, server_hostname="localhost")
    for _ in range(10):
        for side in (c, s):
            with contextlib.suppress(ssl.SSLWantReadError):
                side.do_handshake()
        s_in.write(c_out.read())
        c_in.write(s_out.read())
    assert c.version() is not None and s.version() is not None
