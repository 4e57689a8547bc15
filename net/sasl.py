"""SaslHandshake (17) v0-1 and SaslAuthenticate (36) v0-2: a connection's SASL state.

Server side (`SaslAuthenticator`, one per connection of a SASL listener),
as Kafka's SaslServerAuthenticator behaves:

    HANDSHAKE --SaslHandshake(enabled mechanism)--> AUTHENTICATE
    AUTHENTICATE --SaslAuthenticate, exchange complete--> COMPLETE
    any state --failure--> FAILED (the connection is closed)

- Until COMPLETE only ApiVersions, SaslHandshake and SaslAuthenticate are
  served; any other request is an illegal SASL state and closes the
  connection unanswered ("Unexpected Kafka request of type ... during SASL
  handshake"). The server also caps frames at sasl.server.max.receive.size
  meanwhile, so an unauthenticated peer cannot make the node allocate more.
- A mechanism that is not enabled: UNSUPPORTED_SASL_MECHANISM with the
  enabled list, then the connection is closed.
- Failed credentials: SASL_AUTHENTICATION_FAILED with Kafka's message, sent
  after connection.failed.authentication.delay.ms, then the connection is
  closed. A malformed mechanism message is answered the same way.
- SaslHandshake v0 clients send the mechanism's tokens as bare size-prefixed
  frames instead of SaslAuthenticate requests (`raw_tokens`); a failure then
  simply closes the connection (Kafka's v0 behaviour).

Re-authentication (KIP-368), with connections.max.reauth.ms > 0: a completed
exchange answers the session's lifetime (SaslAuthenticate v1+) and the
connection keeps a `Session`. A SaslHandshake on an authenticated connection
whose client speaks SaslAuthenticate v1+ begins a new exchange
(`SaslAuthenticator(..., reauthenticating=session)`): the mechanism must be
the same ("SASL mechanism 'X' requested by client is not supported for
re-authentication of mechanism 'Y'") and so must the principal ("Cannot
change principals during re-authentication from User.a: User.b"), else
SASL_AUTHENTICATION_FAILED and the connection is closed; success starts a new
session. A request other than SaslHandshake after the session expired
closes the connection, as Kafka's broker does (clients that cannot
re-authenticate reconnect).

Otherwise, once a connection is authenticated (or on a listener without
SASL) the two APIs reach the registry's handlers (`register`), which answer
ILLEGAL_SASL_STATE as Kafka's KafkaApis does.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
from datetime import timedelta
from typing import Any

from kio.schema.errors import ErrorCode

from kraft.net.api_keys import ApiKey
from kraft.net.codec import RequestHeader, response_type
from kraft.net.messages import build
from kraft.net.registry import ApiRegistry, ApiSpec
from kraft.net.security import AuthenticationFailed, SaslServerMechanism, ServerSecurity

__all__ = ["AUTHENTICATE", "HANDSHAKE", "IllegalSaslState", "SaslAuthenticator", "Session",
           "register"]

log = logging.getLogger("kraft.net.sasl")

HANDSHAKE = ApiSpec(ApiKey.SASL_HANDSHAKE, 0, 1)
AUTHENTICATE = ApiSpec(ApiKey.SASL_AUTHENTICATE, 0, 2)
PRE_AUTHENTICATION_APIS = frozenset({ApiKey.API_VERSIONS, ApiKey.SASL_HANDSHAKE,
                                     ApiKey.SASL_AUTHENTICATE})


class IllegalSaslState(Exception):
    """The peer sent a request its SASL state does not allow; close, do not answer."""


class State(enum.Enum):
    HANDSHAKE = "handshake"
    AUTHENTICATE = "authenticate"
    COMPLETE = "complete"
    FAILED = "failed"


@dataclasses.dataclass(frozen=True, slots=True)
class Session:
    """An authenticated connection's SASL session (KIP-368).

    `expires_at` is on the caller's clock (trio.current_time()), None when the
    session never expires; `reauthenticates` says whether the client can be
    told its lifetime (it authenticated with SaslAuthenticate v1+)."""

    principal: str
    mechanism: str
    expires_at: float | None
    reauthenticates: bool

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def may_reauthenticate(self) -> bool:
        return self.expires_at is not None and self.reauthenticates


def _response(key: int, version: int, **fields: Any) -> Any:
    cls = response_type(key, version)
    assert cls is not None
    return build(cls, **fields)


class SaslAuthenticator:
    """The server side of one connection's SASL authentication (module docstring)."""

    def __init__(self, security: ServerSecurity, peer: str, *,
                 reauthenticating: Session | None = None) -> None:
        assert security.new_sasl_server is not None
        self.security = security
        self.peer = peer
        self.state = State.HANDSHAKE
        self.raw_tokens = False
        self.mechanism: str | None = None
        self.principal: str | None = None
        self.previous = reauthenticating
        self.session: Session | None = None  # once COMPLETE
        self._server: SaslServerMechanism | None = None
        self._bad_mechanism: str | None = None

    def check_allowed(self, api_key: int) -> None:
        """IllegalSaslState unless `api_key` may be sent in the current state."""
        if api_key == ApiKey.API_VERSIONS and self.state is State.HANDSHAKE:
            return
        if api_key == ApiKey.SASL_HANDSHAKE and self.state is State.HANDSHAKE:
            return
        if api_key == ApiKey.SASL_AUTHENTICATE and self.state is State.AUTHENTICATE \
                and not self.raw_tokens:
            return
        name = ApiKey(api_key).name if api_key in ApiKey._value2member_map_ else str(api_key)
        raise IllegalSaslState(f"Unexpected Kafka request of type {name} during SASL "
                               f"{self.state.value}")

    def handshake(self, header: RequestHeader, request: Any) -> Any:
        """Answer SaslHandshake; a mechanism not enabled leaves the state FAILED."""
        mechanisms = list(self.security.sasl_mechanisms)
        version = header.api_version
        if request.mechanism not in mechanisms:
            self.state = State.FAILED
            log.info("closing connection from %s: unsupported SASL mechanism %r", self.peer,
                     request.mechanism)
            return _response(ApiKey.SASL_HANDSHAKE, version,
                             error_code=ErrorCode.unsupported_sasl_mechanism,
                             mechanisms=tuple(mechanisms))
        assert self.security.new_sasl_server is not None
        if self.previous is not None and request.mechanism != self.previous.mechanism:
            # Kafka answers the handshake and fails the exchange that follows.
            self._bad_mechanism = (
                f"SASL mechanism '{request.mechanism}' requested by client is not supported "
                f"for re-authentication of mechanism '{self.previous.mechanism}'")
        self.mechanism = request.mechanism
        self._server = self.security.new_sasl_server(request.mechanism)
        self.state = State.AUTHENTICATE
        self.raw_tokens = version == 0
        return _response(ApiKey.SASL_HANDSHAKE, version, error_code=ErrorCode.none,
                         mechanisms=tuple(mechanisms))

    def authenticate(self, header: RequestHeader, request: Any, now: float = 0.0) -> Any:
        """Answer SaslAuthenticate; a failure leaves the state FAILED. `now` is the
        clock the session's expiry is on."""
        version = header.api_version
        try:
            if self._bad_mechanism is not None:
                self._failed(self._bad_mechanism)
                raise AuthenticationFailed(self._bad_mechanism)
            challenge = self._evaluate(request.auth_bytes)
            lifetime_ms = 0
            if self.state is State.COMPLETE:
                lifetime_ms = self.open_session(now, reauthenticates=version >= 1)
        except AuthenticationFailed as e:
            return _response(ApiKey.SASL_AUTHENTICATE, version,
                             error_code=ErrorCode.sasl_authentication_failed,
                             error_message=str(e), auth_bytes=b"",
                             session_lifetime=timedelta(0))
        return _response(ApiKey.SASL_AUTHENTICATE, version, error_code=ErrorCode.none,
                         error_message=None, auth_bytes=challenge,
                         session_lifetime=timedelta(milliseconds=lifetime_ms))

    def open_session(self, now: float, *, reauthenticates: bool) -> int:
        """The session of a completed exchange; its lifetime in ms (0: none).
        AuthenticationFailed if a re-authentication changed the principal."""
        assert self.principal is not None and self.mechanism is not None
        if self.previous is not None and self.principal != self.previous.principal:
            before, after = (p.replace(":", ".", 1)
                             for p in (self.previous.principal, self.principal))
            message = f"Cannot change principals during re-authentication from {before}: {after}"
            self._failed(message)
            raise AuthenticationFailed(message)
        lifetime_ms = max(self.security.max_reauth_ms, 0)
        self.session = Session(self.principal, self.mechanism,
                               now + lifetime_ms / 1000 if lifetime_ms else None,
                               reauthenticates)
        return lifetime_ms

    def raw(self, token: bytes) -> bytes:
        """The next raw token of a SaslHandshake v0 exchange; AuthenticationFailed closes."""
        return self._evaluate(token)

    def _evaluate(self, token: bytes) -> bytes:
        assert self._server is not None and self.mechanism is not None
        try:
            challenge = self._server.evaluate(token)
        except AuthenticationFailed as e:
            self._failed(str(e))
            raise
        except ValueError as e:
            message = (f"Authentication failed during authentication due to invalid "
                       f"credentials with SASL mechanism {self.mechanism}")
            self._failed(f"malformed {self.mechanism} message: {e}")
            raise AuthenticationFailed(message) from e
        if self._server.complete:
            self.state = State.COMPLETE
            self.principal = f"User:{self._server.authorization_id}"
            log.debug("%s authenticated as %s with %s", self.peer, self.principal,
                      self.mechanism)
        return challenge

    def _failed(self, reason: str) -> None:
        self.state = State.FAILED
        log.info("failed authentication from %s with %s: %s", self.peer, self.mechanism, reason)


def register(registry: ApiRegistry) -> None:
    """Serve SaslHandshake and SaslAuthenticate where no SASL exchange is under way
    (a listener without SASL, an authenticated connection): ILLEGAL_SASL_STATE."""

    async def handshake(ctx: Any, header: RequestHeader, request: Any) -> Any:
        return _response(ApiKey.SASL_HANDSHAKE, header.api_version,
                         error_code=ErrorCode.illegal_sasl_state, mechanisms=())

    async def authenticate(ctx: Any, header: RequestHeader, request: Any) -> Any:
        return _response(ApiKey.SASL_AUTHENTICATE, header.api_version,
                         error_code=ErrorCode.illegal_sasl_state,
                         error_message="SaslAuthenticate request received after successful "
                                       "authentication"
                         if ctx.security_protocol.startswith("SASL_")
                         else "SASL is not enabled on this listener",
                         auth_bytes=b"", session_lifetime=timedelta(0))

    registry.add(HANDSHAKE, handshake)
    registry.add(AUTHENTICATE, authenticate)
