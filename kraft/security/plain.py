"""SASL/PLAIN (RFC 4616), server and client, as Kafka's PlainSaslServer behaves.

The client sends one message, `authzid NUL authcid NUL password`; the
server checks the password against the listener's JAAS config
(`listener.name.<l>.plain.sasl.jaas.config`, PlainLoginModule's
`user_<name>="<password>"` options) in constant time, and the
authorization id must be empty or the user name. Failures carry Kafka's
messages. PLAIN sends the password as it is: use it over SASL_SSL.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from kraft.net.security import AuthenticationFailed

__all__ = ["PlainClient", "PlainServer"]

MECHANISM = "PLAIN"


class PlainServer:
    """The server side of one PLAIN exchange (kraft.net.security.SaslServerMechanism)."""

    def __init__(self, users: Mapping[str, str]) -> None:
        self._users = users
        self.complete = False
        self.authorization_id = ""

    def evaluate(self, response: bytes) -> bytes:
        if self.complete:
            raise AuthenticationFailed("Authentication failed: PLAIN exchange already complete")
        tokens = response.decode("utf-8", "replace").split("\0")
        if len(tokens) != 3:
            raise AuthenticationFailed(
                f"Invalid SASL/PLAIN response: expected 3 tokens, got {len(tokens)}")
        authzid, username, password = tokens
        if not username:
            raise AuthenticationFailed("Authentication failed: username not specified")
        if not password:
            raise AuthenticationFailed("Authentication failed: password not specified")
        expected = self._users.get(username)
        # Compare against something even for an unknown user, so timing tells nothing.
        ok = hmac.compare_digest((expected or "\0unknown").encode(), password.encode())
        if expected is None or not ok:
            raise AuthenticationFailed("Authentication failed: Invalid username or password")
        if authzid and authzid != username:
            raise AuthenticationFailed("Authentication failed: Client requested an "
                                       "authorization id that is different from username")
        self.authorization_id = username
        self.complete = True
        return b""


class PlainClient:
    """The client side (kraft.net.security.SaslClientMechanism)."""

    def __init__(self, username: str, password: str) -> None:
        self.username = username
        self.password = password

    def initial_response(self) -> bytes:
        return f"\0{self.username}\0{self.password}".encode()

    def evaluate(self, challenge: bytes) -> bytes | None:
        return None
