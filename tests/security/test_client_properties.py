"""The security of a tool's --command-config, from Kafka's client properties."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from kraft.config_keys import ConfigError
from kraft.security.client_properties import (
    UnreadableProperties,
    client_security,
    command_config_security,
)
from kraft.security.plain import PlainClient
from kraft.security.scram import ScramClient
from tests.security.certs import Pki

SCRAM_JAAS = ('org.apache.kafka.common.security.scram.ScramLoginModule required '
              'username="alice" password="alice-secret";')


def test_plaintext_by_default() -> None:
    """No security keys (or security.protocol=PLAINTEXT): plain TCP, no SASL."""
    for props in ({}, {"security.protocol": "plaintext", "client.id": "x"}):
        security = client_security(props, "admin.properties")
        assert security.protocol == "PLAINTEXT"
        assert security.ssl_context is None and security.new_sasl_client is None


def test_sasl_ssl_with_scram_and_a_pem_truststore(pki: Pki) -> None:
    """SASL_SSL: a verifying TLS context (host names checked by default) over the PEM
    CA, and a SCRAM client with the JAAS config's credentials."""
    security = client_security({
        "security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.jaas.config": SCRAM_JAAS, "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(pki.ca)}, "admin.properties")
    assert security.protocol == "SASL_SSL" and security.sasl_mechanism == "SCRAM-SHA-512"
    assert security.ssl_context is not None
    assert security.ssl_context.verify_mode == ssl.CERT_REQUIRED
    assert security.ssl_context.check_hostname
    assert security.new_sasl_client is not None
    assert isinstance(security.new_sasl_client(), ScramClient)


def test_sasl_plaintext_with_plain_and_no_host_name_check(pki: Pki) -> None:
    """PLAIN over SASL_PLAINTEXT; an empty endpoint identification algorithm turns the
    host name check off (the chain is still verified)."""
    plain = client_security({
        "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
        "sasl.jaas.config": 'org.apache.kafka.common.security.plain.PlainLoginModule '
                            'required username="a" password="b";'}, "f")
    assert plain.ssl_context is None and plain.new_sasl_client is not None
    assert isinstance(plain.new_sasl_client(), PlainClient)
    tls = client_security({"security.protocol": "SSL", "ssl.truststore.type": "PEM",
                           "ssl.truststore.location": str(pki.ca),
                           "ssl.endpoint.identification.algorithm": ""}, "f")
    assert tls.ssl_context is not None and not tls.ssl_context.check_hostname


@pytest.mark.parametrize(("props", "message"), [
    ({"security.protocol": "SASL_PLAINTEXT"},
     "f: sasl.mechanism=GSSAPI (the default): kraft speaks PLAIN, SCRAM-SHA-256, SCRAM-SHA-512"),
    ({"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
      "sasl.jaas.config": SCRAM_JAAS},
     "f: sasl.jaas.config: PLAIN needs org.apache.kafka.common.security.plain.PlainLoginModule,"
     " not org.apache.kafka.common.security.scram.ScramLoginModule"),
    ({"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-256",
      "sasl.jaas.config": 'org.apache.kafka.common.security.scram.ScramLoginModule required '
                          'username="alice";'},
     "f: sasl.jaas.config must give username and password"),
    ({"security.protocol": "TLS"},
     "f: security.protocol=TLS is not one of PLAINTEXT, SASL_PLAINTEXT, SASL_SSL, SSL"),
    ({"security.protocol": "SSL", "ssl.truststore.location": "/etc/trust.jks"},
     "f: ssl.truststore.type=JKS is not supported; kraft reads PEM and PKCS12 truststores"),
])
def test_what_cannot_be_honoured_is_one_line(props: dict[str, str], message: str) -> None:
    """Settings kraft cannot honour are a ConfigError naming the key, in Kafka's terms."""
    with pytest.raises(ConfigError) as e:
        client_security(props, "f")
    assert str(e.value) == message


def test_command_config_file(tmp_path: Path) -> None:
    """No file: no security (PLAINTEXT); a missing file: UnreadableProperties."""
    assert command_config_security(None) is None
    path = tmp_path / "admin.properties"
    path.write_text("security.protocol=PLAINTEXT\n")
    security = command_config_security(str(path))
    assert security is not None and security.protocol == "PLAINTEXT"
    with pytest.raises(UnreadableProperties):
        command_config_security(str(tmp_path / "missing.properties"))
