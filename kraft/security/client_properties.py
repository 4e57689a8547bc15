"""How kraft's command-line tools connect: Kafka's client security properties.

Kafka's tools take the admin client's properties in `--command-config FILE`.
`client_security` reads the security part of them, with Kafka's client keys
and defaults, into the ClientSecurity kraft.net.client connects with:

- `security.protocol`: PLAINTEXT (default), SSL, SASL_PLAINTEXT, SASL_SSL.
- `sasl.mechanism` (Kafka's default is GSSAPI, which kraft cannot speak, so
  a SASL protocol needs it set): PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, with
  `sasl.jaas.config` giving `username` and `password` through Kafka's
  PlainLoginModule or ScramLoginModule.
- `ssl.*`: the truststore (`ssl.truststore.location` / `.type` / `.password`,
  or inline `ssl.truststore.certificates`), a keystore for mutual TLS,
  `ssl.endpoint.identification.algorithm` (https by default: the server's
  host name is verified), `ssl.enabled.protocols`, `ssl.cipher.suites`.
  Store types as kraft.security.tls reads them: PEM and PKCS12.

Other keys (client.id, request.timeout.ms, ...) are the tool's business and
ignored here, as the admin client ignores keys it does not use. Anything
kraft cannot honour is a ConfigError naming the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from kraft.config import parse_properties
from kraft.config_keys import ConfigError
from kraft.net.security import PROTOCOLS, ClientSecurity
from kraft.security import jaas
from kraft.security.plain import PlainClient
from kraft.security.scram import MECHANISMS as SCRAM_MECHANISMS
from kraft.security.scram import ScramClient
from kraft.security.tls import SslSettings, client_context

__all__ = ["UnreadableProperties", "client_security", "command_config_security"]

_LOGIN_MODULES = {
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
    **{m: "org.apache.kafka.common.security.scram.ScramLoginModule" for m in SCRAM_MECHANISMS},
}


class UnreadableProperties(ConfigError):
    """The --command-config file cannot be read."""


def client_security(props: Mapping[str, str], source: str) -> ClientSecurity:
    """The ClientSecurity Kafka client properties `props` ask for; `source` (the
    file) prefixes error messages. ConfigError for what cannot be honoured."""
    protocol = props.get("security.protocol", "PLAINTEXT").strip().upper()
    if protocol not in PROTOCOLS:
        raise ConfigError(f"{source}: security.protocol={protocol} is not one of "
                          f"{', '.join(sorted(PROTOCOLS))}")
    ssl_context = None
    if protocol in ("SSL", "SASL_SSL"):
        ssl_context = client_context(_ssl_settings(props, source))
    if not protocol.startswith("SASL_"):
        return ClientSecurity(protocol, ssl_context)
    mechanism = props.get("sasl.mechanism", "GSSAPI").strip().upper()
    if mechanism not in _LOGIN_MODULES:
        raise ConfigError(f"{source}: sasl.mechanism={mechanism}"
                          f"{' (the default)' if 'sasl.mechanism' not in props else ''}: "
                          f"kraft speaks {', '.join(_LOGIN_MODULES)}")
    text = props.get("sasl.jaas.config")
    if text is None:
        raise ConfigError(f"{source}: sasl.jaas.config must give the username and password "
                          f"for {mechanism} (kraft reads no JAAS file)")
    entry = jaas.parse(text, f"{source}: sasl.jaas.config")
    if entry.login_module != _LOGIN_MODULES[mechanism]:
        raise ConfigError(f"{source}: sasl.jaas.config: {mechanism} needs "
                          f"{_LOGIN_MODULES[mechanism]}, not {entry.login_module}")
    username, password = entry.options.get("username"), entry.options.get("password")
    if username is None or password is None:
        raise ConfigError(f"{source}: sasl.jaas.config must give username and password")
    if mechanism == "PLAIN":
        return ClientSecurity(protocol, ssl_context, mechanism,
                              lambda: PlainClient(username, password))
    return ClientSecurity(protocol, ssl_context, mechanism,
                          lambda: ScramClient(mechanism, username, password))


def command_config_security(path: str | None) -> ClientSecurity | None:
    """The security of a tool's `--command-config FILE` (None without one).
    ConfigError, one line, when the file cannot be read or asks for what kraft
    cannot do."""
    if path is None:
        return None
    try:
        props = parse_properties(Path(path).read_text())
    except (OSError, UnicodeDecodeError) as e:
        raise UnreadableProperties(f"Failed to load the properties file {path}: "
                          f"{getattr(e, 'strerror', None) or e}") from None
    return client_security(props, path)


def _ssl_settings(props: Mapping[str, str], source: str) -> SslSettings:
    def get(key: str) -> str | None:
        value = props.get(key)
        return value.strip() if value is not None and value.strip() else None

    def listed(key: str, default: tuple[str, ...]) -> tuple[str, ...]:
        value = props.get(key)
        if value is None:
            return default
        return tuple(item.strip() for item in value.split(",") if item.strip())

    algorithm = props.get("ssl.endpoint.identification.algorithm", "https").strip()
    return SslSettings(
        where=source,
        keystore_type=(get("ssl.keystore.type") or "JKS").upper(),
        keystore_location=get("ssl.keystore.location"),
        keystore_password=get("ssl.keystore.password"),
        keystore_key=get("ssl.keystore.key"),
        keystore_certificate_chain=get("ssl.keystore.certificate.chain"),
        key_password=get("ssl.key.password"),
        truststore_type=(get("ssl.truststore.type") or "JKS").upper(),
        truststore_location=get("ssl.truststore.location"),
        truststore_password=get("ssl.truststore.password"),
        truststore_certificates=get("ssl.truststore.certificates"),
        enabled_protocols=listed("ssl.enabled.protocols", ("TLSv1.2", "TLSv1.3")),
        cipher_suites=listed("ssl.cipher.suites", ()),
        endpoint_identification_algorithm=algorithm or None,
    )
