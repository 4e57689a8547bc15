"""`scripts/cluster start --sasl-ssl USER:PASSWORD`: a local cluster on SASL_SSL.

Every listener of every node is SASL_SSL, as the common production setting:

- clients and replication use the client listener (named SASL_SSL) with
  SCRAM-SHA-512; USER's credential is written into each node's bootstrap
  records when the node is formatted, so it is in the metadata log from the
  first leader on, and the nodes replicate as USER;
- the controller listener (CONTROLLER) uses PLAIN with USER from its JAAS
  config (raft and the brokers' controller channel);
- one throw-away CA and one certificate for 127.0.0.1/localhost, made with
  openssl into `<root>/tls/` (kraft.security.dev_tls), shared by the nodes.

The choice is recorded in `<root>/sasl-ssl` (USER:PASSWORD, mode 0600, a
development cluster's secret) when the cluster is first formatted, so later
commands (`restart N`, `status`) speak SASL_SSL too; a cluster made without it
keeps PLAINTEXT. The script's own clients (readiness, status) connect with
the same settings a node uses (kraft.security.listener.client_security).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

from kraft.config_keys import ConfigError

if TYPE_CHECKING:
    from kraft.metadata.records import UserScramCredentialRecord

CLIENT_LISTENER = "SASL_SSL"
FILE_NAME = "sasl-ssl"
_SCRAM = "org.apache.kafka.common.security.scram.ScramLoginModule"
_PLAIN = "org.apache.kafka.common.security.plain.PlainLoginModule"


@dataclasses.dataclass(frozen=True, slots=True)
class SaslSsl:
    """The SASL_SSL user of a local cluster."""

    user: str
    password: str

    @classmethod
    def parse(cls, value: str) -> SaslSsl:
        """`USER:PASSWORD` as given to --sasl-ssl; ConfigError if malformed."""
        user, sep, password = value.partition(":")
        if not sep or not user or not password or '"' in value or "\\" in value:
            raise ConfigError("--sasl-ssl takes USER:PASSWORD (both non-empty, without "
                              "'\"' or '\\')")
        return cls(user, password)

    @classmethod
    def load(cls, root: Path) -> SaslSsl | None:
        """The setting recorded for the cluster in `root`, None for PLAINTEXT."""
        path = root / FILE_NAME
        return cls.parse(path.read_text().strip()) if path.exists() else None

    def save(self, root: Path) -> None:
        path = root / FILE_NAME
        root.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(f"{self.user}:{self.password}\n")

    def certificates(self, root: Path) -> tuple[Path, Path]:
        """(CA certificate, node PEM keystore) under root/tls, made on first use."""
        from kraft.security.dev_tls import dev_certificates

        return dev_certificates(root, "127.0.0.1")

    def node_props(self, root: Path, host: str, client_port: int,
                   controller_port: int) -> dict[str, str]:
        """The security part of a node's server.properties."""
        ca, keystore = self.certificates(root)
        credentials = f'username="{self.user}" password="{self.password}"'
        return {
            "listeners": f"{CLIENT_LISTENER}://{host}:{client_port},"
                         f"CONTROLLER://{host}:{controller_port}",
            "listener.security.protocol.map": "SASL_SSL:SASL_SSL,CONTROLLER:SASL_SSL",
            "inter.broker.listener.name": CLIENT_LISTENER,
            "sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
            "sasl.mechanism.controller.protocol": "PLAIN",
            "listener.name.sasl_ssl.sasl.enabled.mechanisms": "SCRAM-SHA-512",
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config":
                f"{_SCRAM} required {credentials};",
            "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
            "listener.name.controller.plain.sasl.jaas.config":
                f'{_PLAIN} required {credentials} user_{self.user}="{self.password}";',
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(keystore),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(ca),
        }

    def scram_record(self) -> UserScramCredentialRecord:
        """The UserScramCredentialRecord a node's bootstrap carries for the user."""
        from kraft.security.scram_format import parse_add_scram

        return parse_add_scram(
            f'SCRAM-SHA-512=[name="{self.user}",password="{self.password}"]')

    def client_settings(self, root: Path) -> str:
        """What a client sets to connect (librdkafka / Java property names)."""
        ca, _ = self.certificates(root)
        return (f"security.protocol=SASL_SSL sasl.mechanism=SCRAM-SHA-512 "
                f"sasl.username={self.user} ssl.ca.location={ca}")
