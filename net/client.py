"""A trio Kafka-protocol client for inter-node RPCs (quorum, replication, forwarding).

Theory of operation:
- `Connection` is one TCP connection. Requests are pipelined: each gets a
  fresh correlation id, is written under a send lock, and waits for the
  response with that id, which a single reader task delivers. Responses must
  arrive in request order (Kafka's guarantee); one that does not match the
  oldest pending request is a protocol violation and closes the connection.
- On connect the connection negotiates with ApiVersions (v3, falling back as
  the server's error tells), then `pick_version` chooses the highest version
  both sides and kio support.
- A request that times out closes the connection, as Kafka's NetworkClient
  does: a late response could otherwise be mistaken for the next one's.
  Every waiter is failed with `ConnectionFailed` when the connection dies.
- Failures say whether the request may have reached the peer:
  `RequestNotSent` (no connection, or the connection died before the whole
  request was written: a partial frame is never acted on) means it did not,
  so sending it again is safe; any other `ConnectionFailed`, including
  `RequestTimedOut`, means it may have been executed.
- Security (kraft.net.security.ClientSecurity): over SSL / SASL_SSL the TLS
  handshake comes first (the server's certificate and, unless disabled, its
  host name verified); over SASL the connection then authenticates with
  SaslHandshake v1 and SaslAuthenticate before it is handed out. A failed
  authentication fails the connection (and is logged as a warning: it
  will not heal by itself).
- `KafkaClient` keeps one connection per address, reuses it while healthy and
  reconnects with exponential backoff (reconnect.backoff.ms 50 doubling to
  reconnect.backoff.max.ms 1000, with 20 % jitter). All tasks live in the
  client's nursery: use it as `async with KafkaClient(...) as client`.
"""

from __future__ import annotations

import itertools
import logging
import random
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import trio
from kio.schema.errors import ErrorCode

from kraft.net.api_keys import ApiKey
from kraft.net.codec import (
    API_VERSIONS_KEY,
    InvalidRequest,
    decode_response,
    encode_request,
    kio_versions,
    request_type,
    response_type,
)
from kraft.net.framing import DEFAULT_MAX_FRAME_BYTES, FrameDecoder, FrameError
from kraft.net.security import AuthenticationFailed, ClientSecurity

log = logging.getLogger("kraft.net.client")

Address = tuple[str, int]


class ConnectionFailed(Exception):
    """The connection could not be opened or died; the request's fate is unknown."""


class RequestNotSent(ConnectionFailed):
    """The request never (wholly) left: the peer cannot have acted on it."""


class RequestTimedOut(ConnectionFailed):
    """No response within the timeout; the connection was closed."""


class UnsupportedVersion(Exception):
    """The peer and we share no version of an API."""


@dataclass
class _Pending:
    correlation_id: int
    response_cls: type
    done: trio.Event = field(default_factory=trio.Event)
    response: Any = None
    error: Exception | None = None


class Connection:
    """One pipelined connection. Create with `Connection.open`."""

    def __init__(self, stream: trio.abc.Stream, address: Address, client_id: str) -> None:
        self.address = address
        self.client_id = client_id
        self.api_versions: dict[int, tuple[int, int]] = {}
        self._stream = stream
        self._send_lock = trio.Lock()
        self._pending: deque[_Pending] = deque()
        self._ids = itertools.count(1)
        self._closed = False

    @classmethod
    async def open(
        cls,
        nursery: trio.Nursery,
        address: Address,
        client_id: str,
        timeout: float,
        security: ClientSecurity | None = None,
    ) -> Connection:
        """Connect (with TLS if `security` says so), start the reader task,
        negotiate versions, authenticate (SASL). Raises RequestNotSent."""
        stream: trio.abc.Stream
        try:
            with trio.fail_after(timeout):
                stream = tcp = await trio.open_tcp_stream(*address)
                if security is not None and security.ssl_context is not None:
                    stream = trio.SSLStream(tcp, security.ssl_context,
                                            server_hostname=address[0])
                    try:
                        await stream.do_handshake()
                    except BaseException:
                        await trio.aclose_forcefully(tcp)
                        raise
        except trio.BrokenResourceError as e:
            raise RequestNotSent(f"TLS handshake with {address[0]}:{address[1]} failed: "
                                 f"{e.__cause__ or e}") from e
        except (OSError, trio.TooSlowError) as e:
            raise RequestNotSent(f"connect to {address[0]}:{address[1]}: {e}") from e
        conn = cls(stream, address, client_id)
        nursery.start_soon(conn._read_loop)
        try:
            await conn._negotiate(timeout)
            if security is not None and security.new_sasl_client is not None:
                assert security.sasl_mechanism is not None
                await conn._authenticate(security, timeout)
        except ConnectionFailed as e:
            await conn.aclose()
            raise RequestNotSent(str(e)) from e
        except BaseException:
            await conn.aclose()
            raise
        return conn

    @property
    def closed(self) -> bool:
        return self._closed

    def pick_version(self, api_key: int, max_version: int | None = None) -> int:
        """Highest version of `api_key` that the peer, kio and the caller support."""
        ours = kio_versions(api_key)
        theirs = self.api_versions.get(api_key)
        if ours is None or theirs is None:
            raise UnsupportedVersion(f"api key {api_key} not supported by {self.address}")
        hi = min(ours[1], theirs[1], ours[1] if max_version is None else max_version)
        lo = max(ours[0], theirs[0])
        if hi < lo:
            raise UnsupportedVersion(
                f"api key {api_key}: no common version (ours {ours}, theirs {theirs})"
            )
        return hi

    async def request(
        self, request: Any, timeout: float, *, client_id: str | None = None,
        response_cls: Any = None,
    ) -> Any:
        """Send `request` (with `client_id` in its header instead of the connection's,
        if given), return its response, decoded as kio's class for it or as
        `response_cls` when given (a caller's copy of that class, for fields kio
        decodes too strictly). Raises RequestNotSent, RequestTimedOut or
        ConnectionFailed (module docstring)."""
        if self._closed:
            raise RequestNotSent(f"connection to {self.address} is closed")
        cls = response_cls or response_type(request.__api_key__, request.__version__)
        assert cls is not None, f"kio has no response type for {type(request).__name__}"
        pending = _Pending(next(self._ids), cls)
        data = encode_request(pending.correlation_id, client_id or self.client_id, request)
        queued = False
        with trio.move_on_after(timeout) as scope:
            async with self._send_lock:
                if self._closed:
                    raise RequestNotSent(f"connection to {self.address} is closed")
                self._pending.append(pending)
                queued = True
                try:
                    await self._stream.send_all(data)
                except (trio.BrokenResourceError, trio.ClosedResourceError) as e:
                    self._fail(ConnectionFailed(f"send to {self.address}: {e}"))
                    pending.error = RequestNotSent(f"send to {self.address}: {e}")
                except BaseException:
                    # Cancelled part-way through a frame: the stream is unusable.
                    self._fail(ConnectionFailed(f"send to {self.address} interrupted"))
                    pending.error = RequestNotSent(f"send to {self.address} interrupted")
                    raise
            await pending.done.wait()
        if scope.cancelled_caught and not pending.done.is_set():
            if not queued:  # timed out waiting for the requests ahead to be written
                raise RequestNotSent(f"{self.address}: not sent within {timeout}s")
            self._fail(RequestTimedOut(f"no response from {self.address} in {timeout}s"))
        if pending.error is not None:
            raise pending.error
        return pending.response

    async def aclose(self) -> None:
        self._fail(ConnectionFailed(f"connection to {self.address} closed"))

    async def _negotiate(self, timeout: float) -> None:
        version = 3
        while True:
            cls = request_type(API_VERSIONS_KEY, version)
            assert cls is not None
            kwargs = (
                {"client_software_name": "kraft", "client_software_version": "0.1.0"}
                if version >= 3
                else {}
            )
            response = await self.request(cls(**kwargs), timeout)
            ranges = {k.api_key: (k.min_version, k.max_version) for k in response.api_keys}
            if response.error_code == ErrorCode.none:
                self.api_versions = ranges
                return
            if response.error_code == ErrorCode.unsupported_version and version > 0:
                theirs = ranges.get(API_VERSIONS_KEY, (0, 0))[1]
                version = max(0, min(version - 1, theirs))
                continue
            if response.error_code == ErrorCode.invalid_request and version > 0:
                version = 0
                continue
            raise ConnectionFailed(f"ApiVersions to {self.address}: {response.error_code!r}")

    async def _authenticate(self, security: ClientSecurity, timeout: float) -> None:
        """SaslHandshake v1 then SaslAuthenticate until the mechanism is done."""
        assert security.new_sasl_client is not None and security.sasl_mechanism is not None
        from kio.schema.sasl_handshake.v1.request import SaslHandshakeRequest  # SASL only

        where = f"SASL {security.sasl_mechanism} with {self.address[0]}:{self.address[1]}"
        handshake = await self.request(SaslHandshakeRequest(mechanism=security.sasl_mechanism),
                                       timeout)
        if handshake.error_code != ErrorCode.none:
            error = handshake.error_code.name.upper()
            log.warning("%s: %s (it offers %s)", where, error, ", ".join(handshake.mechanisms))
            raise ConnectionFailed(f"{where}: {error}")
        version = self.pick_version(ApiKey.SASL_AUTHENTICATE)
        cls = request_type(ApiKey.SASL_AUTHENTICATE, version)
        assert cls is not None
        mechanism = security.new_sasl_client()
        token: bytes | None = mechanism.initial_response()
        while token is not None:
            response = await self.request(cls(auth_bytes=token), timeout)
            if response.error_code != ErrorCode.none:
                error = f"{response.error_code.name.upper()}: {response.error_message}"
                log.warning("%s failed: %s", where, error)
                raise ConnectionFailed(f"{where}: {error}")
            try:
                token = mechanism.evaluate(response.auth_bytes)
            except (AuthenticationFailed, ValueError) as e:
                log.warning("%s failed: %s", where, e)
                raise ConnectionFailed(f"{where}: {e}") from e

    async def _read_loop(self) -> None:
        decoder = FrameDecoder(DEFAULT_MAX_FRAME_BYTES)
        try:
            while not self._closed:
                data = await self._stream.receive_some(256 * 1024)
                if not data:
                    raise ConnectionFailed(f"{self.address} closed the connection")
                decoder.receive_data(data)
                while (frame := decoder.next_frame()) is not None:
                    self._deliver(frame)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as e:
            self._fail(ConnectionFailed(f"receive from {self.address}: {e}"))
        except (ConnectionFailed, FrameError, InvalidRequest) as e:
            error = e if isinstance(e, ConnectionFailed) else ConnectionFailed(str(e))
            if not self._closed:
                log.debug("connection to %s failed: %s", self.address, e)
            self._fail(error)

    def _deliver(self, frame: bytes) -> None:
        if not self._pending:
            raise ConnectionFailed(f"unsolicited response from {self.address}")
        pending = self._pending[0]
        correlation_id, response = decode_response(frame, pending.response_cls)
        if correlation_id != pending.correlation_id:
            raise ConnectionFailed(
                f"{self.address} answered correlation id {correlation_id}, "
                f"expected {pending.correlation_id}"
            )
        self._pending.popleft()
        pending.response = response
        pending.done.set()

    def _fail(self, error: Exception) -> None:
        """Close the socket (waking the reader) and fail every waiter. Idempotent."""
        if not self._closed:
            self._closed = True
            stream = self._stream
            if isinstance(stream, trio.SSLStream):
                stream = stream.transport_stream
            assert isinstance(stream, trio.SocketStream)
            stream.socket.close()
        while self._pending:
            pending = self._pending.popleft()
            pending.error = error
            pending.done.set()


class KafkaClient:
    """Connections to many peers, reused, reconnected with backoff."""

    def __init__(
        self,
        client_id: str = "kraft",
        *,
        connect_timeout: float = 10.0,
        security: ClientSecurity | None = None,
        reconnect_backoff_ms: int = 50,
        reconnect_backoff_max_ms: int = 1000,
        rng: random.Random | None = None,
    ) -> None:
        self.client_id = client_id
        self.connect_timeout = connect_timeout
        self.security = security
        self._backoff_ms = reconnect_backoff_ms
        self._backoff_max_ms = reconnect_backoff_max_ms
        self._rng = rng or random.Random()
        self._connections: dict[Address, Connection] = {}
        self._connecting: dict[Address, trio.Lock] = {}
        self._failures: dict[Address, tuple[int, float]] = {}  # (count, retry_at)
        self._nursery: trio.Nursery | None = None
        self._nursery_cm: Any = None

    async def __aenter__(self) -> KafkaClient:
        self._nursery_cm = trio.open_nursery()
        self._nursery = await self._nursery_cm.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> bool | None:
        for conn in list(self._connections.values()):
            await conn.aclose()
        assert self._nursery is not None
        self._nursery.cancel_scope.cancel()
        return await self._nursery_cm.__aexit__(*exc)

    async def connection(self, address: Address) -> Connection:
        """A live, negotiated connection to `address`, waiting out any backoff."""
        conn = self._connections.get(address)
        if conn is not None and not conn.closed:
            return conn
        lock = self._connecting.setdefault(address, trio.Lock())
        async with lock:
            conn = self._connections.get(address)
            if conn is not None and not conn.closed:
                return conn
            count, retry_at = self._failures.get(address, (0, 0.0))
            wait = retry_at - trio.current_time()
            if wait > 0:
                await trio.sleep(wait)
            assert self._nursery is not None, "use KafkaClient as an async context manager"
            try:
                conn = await Connection.open(
                    self._nursery, address, self.client_id, self.connect_timeout,
                    self.security,
                )
            except ConnectionFailed:
                self._failures[address] = (count + 1, trio.current_time() + self._delay(count))
                raise
            self._failures.pop(address, None)
            self._connections[address] = conn
            return conn

    def _delay(self, failures: int) -> float:
        base = min(self._backoff_ms * (2**failures), self._backoff_max_ms)
        return base * self._rng.uniform(0.8, 1.2) / 1000

    async def request(
        self, address: Address, request: Any, timeout: float, *, client_id: str | None = None,
        response_cls: Any = None,
    ) -> Any:
        """Send one request over the pooled connection to `address` (see
        Connection.request)."""
        conn = await self.connection(address)
        return await conn.request(request, timeout, client_id=client_id,
                                  response_cls=response_cls)
