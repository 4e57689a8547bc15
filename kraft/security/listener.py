"""Each listener's security, from server.properties with Kafka's keys.

Which protocol a listener speaks comes from `listener.security.protocol.map`
(NAME:PROTOCOL, protocols PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL). Its
settings are the `listener.name.<name>.`-prefixed keys (the name in lower
case, as Kafka's ListenerName.configPrefix), else the unprefixed ones; JAAS
configs are per listener and mechanism only
(`listener.name.<name>.<mechanism>.sasl.jaas.config`, Kafka reads no
unprefixed one on a broker, and kraft reads no JAAS file).

`server_security` builds what kraft.net.server needs for a listener and
`client_security` what the node's own clients need to reach one (the same
keystore and truststore, and the credentials of the JAAS config's
`username`/`password`). `check` runs both for every listener the node
serves or connects to, so that a config kraft cannot honour refuses to
start, naming the key to fix: GSSAPI or OAUTHBEARER, a custom principal
builder or SSL engine factory, re-authentication, another authorizer, a
JKS store, a SASL mechanism for inter-node traffic that the listener does
not enable.

Mechanisms served: PLAIN (users from PlainLoginModule's `user_<name>`
options), SCRAM-SHA-256 and SCRAM-SHA-512 (credentials from the metadata
log, through the `scram_credential(mechanism, user)` lookup the node gives).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kraft.config_keys import KEYS, ConfigError
from kraft.net.security import PROTOCOLS, ClientSecurity, ServerSecurity
from kraft.security.scram import MECHANISMS as SCRAM_MECHANISMS
from kraft.security.scram import ScramClient, ScramCredential, ScramServer

if TYPE_CHECKING:
    from kraft.config import KafkaConfig
    from kraft.security.jaas import JaasEntry
    from kraft.security.principal import PrincipalMapper
    from kraft.security.tls import SslSettings

# TLS, PLAIN, JAAS configs and principal mapping rules are imported by the
# functions that need them: most nodes serve PLAINTEXT only (docs/design.md,
# "What is loaded at start-up").

__all__ = [
    "SUPPORTED_MECHANISMS",
    "ScramLookup",
    "check",
    "client_security",
    "controller_client_security",
    "inter_broker_client_security",
    "inter_broker_listener",
    "security_protocol",
    "server_security",
]

SUPPORTED_MECHANISMS = ("PLAIN", *SCRAM_MECHANISMS)
STANDARD_AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
_DEFAULT_PRINCIPAL_BUILDER = KEYS["principal.builder.class"].default
_PLAIN_MODULE = "org.apache.kafka.common.security.plain.PlainLoginModule"
_SCRAM_MODULE = "org.apache.kafka.common.security.scram.ScramLoginModule"

ScramLookup = Callable[[str, str], ScramCredential | None]
"""(mechanism, user name) -> the user's stored SCRAM credential, or None."""


def _no_scram(mechanism: str, user: str) -> ScramCredential | None:
    return None


@dataclass(frozen=True, slots=True)
class _View:
    """One listener's values: `listener.name.<l>.<key>` over `<key>`."""

    config: KafkaConfig
    listener: str

    @property
    def prefix(self) -> str:
        return f"listener.name.{self.listener.lower()}."

    def where(self, key: str) -> str:
        name = self.prefix + key
        shown = name if name in self.config.raw else key
        return f"{self.config.source}: {shown}" if self.config.source else shown

    def get(self, key: str) -> Any:
        """A declared key's parsed value, with the listener override."""
        raw = self.config.raw.get(self.prefix + key)
        if raw is None:
            return self.config[key]
        try:
            return KEYS[key].parse(raw, self.prefix + key)
        except Exception as e:
            raise ConfigError(f"{self.config.source}: {e}") from None

    def secret(self, key: str) -> str | None:
        """A password key (undeclared) from the raw properties, with the override."""
        value = self.config.raw.get(self.prefix + key, self.config.raw.get(key))
        return value if value else None

    def jaas(self, mechanism: str) -> JaasEntry | None:
        from kraft.security import jaas

        key = f"{self.prefix}{mechanism.lower()}.sasl.jaas.config"
        text = self.config.raw.get(key)
        return None if text is None else jaas.parse(text, key)


def security_protocol(config: KafkaConfig, listener: str) -> str:
    """The protocol listener `listener` speaks (listener.security.protocol.map)."""
    protocols: dict[str, str] = {}
    for item in config["listener.security.protocol.map"]:
        name, sep, protocol = item.partition(":")
        if not sep or protocol.strip().upper() not in PROTOCOLS:
            raise ConfigError(f"{config.source}: listener.security.protocol.map entry {item!r} "
                              f"is not NAME:PROTOCOL with a protocol of "
                              f"{', '.join(sorted(PROTOCOLS))}")
        protocols[name.strip().upper()] = protocol.strip().upper()
    protocol = protocols.get(listener.upper())
    if protocol is None:
        if listener.upper() in PROTOCOLS:
            return listener.upper()
        raise ConfigError(f"{config.source}: listener {listener} is not in "
                          "listener.security.protocol.map")
    return protocol


def _ssl_settings(view: _View) -> SslSettings:
    from kraft.security.tls import SslSettings

    algorithm = view.get("ssl.endpoint.identification.algorithm")
    return SslSettings(
        where=f"{view.config.source}: listener {view.listener}",
        keystore_type=view.get("ssl.keystore.type"),
        keystore_location=view.get("ssl.keystore.location"),
        keystore_password=view.secret("ssl.keystore.password"),
        keystore_key=view.secret("ssl.keystore.key"),
        keystore_certificate_chain=view.secret("ssl.keystore.certificate.chain"),
        key_password=view.secret("ssl.key.password"),
        truststore_type=view.get("ssl.truststore.type"),
        truststore_location=view.get("ssl.truststore.location"),
        truststore_password=view.secret("ssl.truststore.password"),
        truststore_certificates=view.secret("ssl.truststore.certificates"),
        enabled_protocols=tuple(view.get("ssl.enabled.protocols")),
        cipher_suites=tuple(view.get("ssl.cipher.suites")),
        client_auth=view.get("ssl.client.auth"),
        endpoint_identification_algorithm=algorithm or None,
    )


def _check_common(view: _View) -> None:
    if view.get("principal.builder.class") != _DEFAULT_PRINCIPAL_BUILDER:
        raise ConfigError(f"{view.where('principal.builder.class')}: kraft builds principals "
                          "as Kafka's DefaultKafkaPrincipalBuilder only")
    if view.get("ssl.engine.factory.class"):
        raise ConfigError(f"{view.where('ssl.engine.factory.class')}: kraft cannot load a "
                          "Java SSL engine factory")


def _mechanisms(view: _View) -> tuple[str, ...]:
    mechanisms = tuple(m.strip().upper() for m in view.get("sasl.enabled.mechanisms"))
    unsupported = [m for m in mechanisms if m not in SUPPORTED_MECHANISMS]
    if unsupported or not mechanisms:
        raise ConfigError(
            f"{view.where('sasl.enabled.mechanisms')}: listener {view.listener} enables "
            f"{', '.join(unsupported) or 'no mechanism'}"
            f"{' (the default is GSSAPI)' if unsupported == ['GSSAPI'] else ''}; kraft serves "
            f"{', '.join(SUPPORTED_MECHANISMS)}")
    return mechanisms


def _plain_users(view: _View) -> dict[str, str]:
    entry = view.jaas("PLAIN")
    key = f"{view.prefix}plain.sasl.jaas.config"
    if entry is None:
        raise ConfigError(f"{view.config.source}: listener {view.listener} enables PLAIN but "
                          f"{key} is not set (kraft reads no JAAS file)")
    if entry.login_module != _PLAIN_MODULE:
        raise ConfigError(f"{key}: PLAIN needs {_PLAIN_MODULE}, not {entry.login_module}")
    users = {name[len("user_"):]: password for name, password in entry.options.items()
             if name.startswith("user_")}
    if not users:
        raise ConfigError(f"{key}: no user_<name>=\"<password>\" entries")
    return users


def _certificate_principal(mapper: PrincipalMapper) -> Callable[[dict[str, Any]], str]:
    from kraft.net.security import AuthenticationFailed
    from kraft.security.principal import KafkaPrincipal, NoMatchingRule, subject_dn

    def principal(cert: dict[str, Any]) -> str:
        try:
            return str(KafkaPrincipal.user(mapper.name(subject_dn(cert))))
        except NoMatchingRule as e:
            raise AuthenticationFailed(str(e)) from None
    return principal


def server_security(config: KafkaConfig, listener: str,
                    scram_credential: ScramLookup = _no_scram) -> ServerSecurity:
    """What kraft.net.server needs to serve `listener`; ConfigError when unusable."""
    view = _View(config, listener)
    protocol = security_protocol(config, listener)
    _check_common(view)
    ssl_context = None
    principal = None
    if protocol in ("SSL", "SASL_SSL"):
        from kraft.security.tls import server_context

        ssl_context = server_context(_ssl_settings(view))
    if protocol == "SSL":
        from kraft.security.principal import PrincipalMapper

        principal = _certificate_principal(PrincipalMapper(
            view.get("ssl.principal.mapping.rules"),
            view.prefix + "ssl.principal.mapping.rules"))
    if not protocol.startswith("SASL_"):
        return ServerSecurity(protocol, ssl_context, principal)
    mechanisms = _mechanisms(view)
    users = _plain_users(view) if "PLAIN" in mechanisms else {}

    def new_server(mechanism: str) -> Any:
        if mechanism == "PLAIN":
            from kraft.security.plain import PlainServer

            return PlainServer(users)
        return ScramServer(mechanism, lambda user: scram_credential(mechanism, user))

    return ServerSecurity(
        protocol, ssl_context, None, mechanisms, new_server,
        sasl_max_receive_size=view.get("sasl.server.max.receive.size"),
        failed_authentication_delay_s=view.get("connection.failed.authentication.delay.ms")
        / 1000,
        max_reauth_ms=view.get("connections.max.reauth.ms"))


def client_security(config: KafkaConfig, listener: str,
                    mechanism_key: str) -> ClientSecurity:
    """How the node's clients reach `listener` of another node; `mechanism_key` names
    the key choosing the SASL mechanism (sasl.mechanism.inter.broker.protocol, ...)."""
    view = _View(config, listener)
    protocol = security_protocol(config, listener)
    ssl_context = None
    if protocol in ("SSL", "SASL_SSL"):
        from kraft.security.tls import client_context

        ssl_context = client_context(_ssl_settings(view))
    if not protocol.startswith("SASL_"):
        return ClientSecurity(protocol, ssl_context)
    mechanism = str(config[mechanism_key]).upper()
    enabled = _mechanisms(view)
    if mechanism not in enabled:
        raise ConfigError(f"{config.source}: {mechanism_key}={mechanism} is not enabled on "
                          f"listener {listener} (sasl.enabled.mechanisms: "
                          f"{', '.join(enabled)})")
    entry = view.jaas(mechanism)
    key = f"{view.prefix}{mechanism.lower()}.sasl.jaas.config"
    if entry is None or "username" not in entry.options or "password" not in entry.options:
        raise ConfigError(f"{config.source}: {key} must give the node's own username and "
                          f"password for {mechanism} on listener {listener}")
    expected = _PLAIN_MODULE if mechanism == "PLAIN" else _SCRAM_MODULE
    if entry.login_module != expected:
        raise ConfigError(f"{key}: {mechanism} needs {expected}, not {entry.login_module}")
    username, password = entry.options["username"], entry.options["password"]
    if mechanism == "PLAIN":
        from kraft.security.plain import PlainClient

        return ClientSecurity(protocol, ssl_context, mechanism,
                              lambda: PlainClient(username, password))
    return ClientSecurity(protocol, ssl_context, mechanism,
                          lambda: ScramClient(mechanism, username, password))


def controller_client_security(config: KafkaConfig) -> ClientSecurity:
    """How brokers and controllers reach the controllers (first controller listener)."""
    listener = config.controller_listener_names[0]
    security = client_security(config, listener, "sasl.mechanism.controller.protocol")
    if security.sasl_mechanism in SCRAM_MECHANISMS:
        # The credentials live in the metadata log, which a controller must reach
        # the quorum to read: Kafka refuses SCRAM on controller listeners too.
        raise ConfigError(f"{config.source}: sasl.mechanism.controller.protocol="
                          f"{security.sasl_mechanism}: SCRAM credentials are stored in the "
                          "metadata log, so the controller listener cannot use them; use PLAIN")
    return security


def inter_broker_client_security(config: KafkaConfig, listener: str) -> ClientSecurity:
    """How a broker reaches the other brokers' inter-broker `listener`."""
    return client_security(config, listener, "sasl.mechanism.inter.broker.protocol")


def inter_broker_listener(config: KafkaConfig) -> str:
    """The listener brokers replicate over: inter.broker.listener.name, else the
    listener named by security.inter.broker.protocol when that is set, else the
    first listener that is not a controller listener (Kafka's default is the
    PLAINTEXT listener). Setting both keys is refused, as Kafka does."""
    name = config.inter_broker_listener_name
    protocol_set = "security.inter.broker.protocol" in config.raw
    if name and protocol_set:
        raise ConfigError(f"{config.source}: Only one of inter.broker.listener.name and "
                          "security.inter.broker.protocol should be set.")
    if name:
        return str(name).upper()
    if protocol_set:
        return str(config["security.inter.broker.protocol"]).upper()
    controller_names = set(config.controller_listener_names)
    for listener in config.listeners():
        if listener not in controller_names:
            return listener
    return "PLAINTEXT"


def check(config: KafkaConfig, listeners: list[str], inter_broker: str | None) -> None:
    """Build the security of every listener the node serves and of those its clients
    reach, so that a config kraft cannot honour fails at startup (ConfigError)."""
    authorizer = config["authorizer.class.name"]
    if authorizer and authorizer != STANDARD_AUTHORIZER:
        raise ConfigError(f"{config.source}: authorizer.class.name={authorizer}: kraft has only "
                          f"{STANDARD_AUTHORIZER}, and will not run open when another is asked for")
    for name in listeners:
        server_security(config, name)
    controller_client_security(config)
    if inter_broker is not None:
        inter_broker_client_security(config, inter_broker)
