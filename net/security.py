"""What a listener and a client connection need to know about security, for net/.

The net layer runs TLS and the SASL exchange; the policies (which
certificates, which mechanisms, whose passwords) come from kraft.security
through these plain values and callables, so net/ depends on no
configuration code.

- `ServerSecurity`: one listener's security protocol (PLAINTEXT, SSL,
  SASL_PLAINTEXT, SASL_SSL), its SSLContext, how a certificate subject
  becomes a principal, and its SASL mechanisms (`new_sasl_server(mechanism)`
  gives a fresh server side of one exchange).
- `ClientSecurity`: how the node's own clients connect to a listener of
  another node: the SSLContext (host names verified as it says) and the
  SASL mechanism with the node's credentials.

Principals are strings `type:name` (User:alice, Kafka's KafkaPrincipal form).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = [
    "ANONYMOUS",
    "PROTOCOLS",
    "PROTOCOL_IDS",
    "AuthenticationFailed",
    "ClientSecurity",
    "SaslClientMechanism",
    "SaslServerMechanism",
    "ServerSecurity",
]

ANONYMOUS = "User:ANONYMOUS"
PROTOCOLS = frozenset({"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"})
PROTOCOL_IDS = {"PLAINTEXT": 0, "SSL": 1, "SASL_PLAINTEXT": 2, "SASL_SSL": 3}
"""Kafka's SecurityProtocol ids, as registrations carry them."""
DEFAULT_SASL_MAX_RECEIVE_SIZE = 524288  # sasl.server.max.receive.size


class AuthenticationFailed(Exception):
    """Authentication failed; str() is the message the client is given (Kafka's)."""


class SaslServerMechanism(Protocol):
    """The server side of one SASL exchange (PLAIN, SCRAM-SHA-256, ...)."""

    def evaluate(self, response: bytes) -> bytes:
        """The challenge answering the client's `response`; AuthenticationFailed if
        the client failed, ValueError if its message is malformed."""
        ...

    @property
    def complete(self) -> bool: ...

    @property
    def authorization_id(self) -> str: ...


class SaslClientMechanism(Protocol):
    """The client side of one SASL exchange."""

    def initial_response(self) -> bytes: ...

    def evaluate(self, challenge: bytes) -> bytes | None:
        """The next response, or None when the exchange is complete; AuthenticationFailed
        if the server's challenge does not prove it knows the credentials."""
        ...


@dataclass(frozen=True, slots=True)
class ServerSecurity:
    """One listener's security (see the module docstring)."""

    protocol: str = "PLAINTEXT"
    ssl_context: ssl.SSLContext | None = None
    # getpeercert() dict -> principal; raises AuthenticationFailed.
    certificate_principal: Callable[[dict[str, Any]], str] | None = None
    sasl_mechanisms: tuple[str, ...] = ()
    new_sasl_server: Callable[[str], SaslServerMechanism] | None = None
    sasl_max_receive_size: int = DEFAULT_SASL_MAX_RECEIVE_SIZE
    failed_authentication_delay_s: float = 0.1
    # connections.max.reauth.ms (KIP-368): a SASL session's longest life; 0 = no limit.
    max_reauth_ms: int = 0

    @property
    def uses_sasl(self) -> bool:
        return self.protocol.startswith("SASL_")


@dataclass(frozen=True, slots=True)
class ClientSecurity:
    """How the node's clients connect to one listener (see the module docstring)."""

    protocol: str = "PLAINTEXT"
    ssl_context: ssl.SSLContext | None = None
    sasl_mechanism: str | None = None
    new_sasl_client: Callable[[], SaslClientMechanism] | None = None
