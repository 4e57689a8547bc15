"""A trio server speaking the Kafka protocol, dispatching through an ApiRegistry.

Theory of operation:
- `serve` binds its listeners, reports the bound `(host, port)` pairs through
  `task_status.started()` (so tests bind port 0), and runs one task per
  connection in a nursery. Cancelling the surrounding scope shuts everything
  down; connection cleanup is in `finally`.
- Per connection, requests are handled one at a time, in order, and responses
  leave in request order; clients rely on the ordering. One refinement over
  Kafka (which mutes a channel while a request is in flight): a handler may
  return a `Deferred` once everything that must happen in request order is
  done (Produce: the append), and the connection goes on with the next
  request while the deferred response waits (acks=all: for the ISR). The
  responses are still sent in request order, by a sender task, with at most
  MAX_DEFERRED responses outstanding per connection. So a client that
  pipelines acks=all produces waits one replication round trip per batch,
  not one per request in its queue.
- Fault attribution (STYLE.md 6): a bad frame size, an unparseable header or
  body, or an (api key, version) we do not serve is the peer's fault. We log
  one line with the peer's address and close that connection; every other
  connection is unaffected. The one exception is ApiVersions of a version we
  do not know, answered with a v0 body and UNSUPPORTED_VERSION so clients can
  negotiate.
- A handler that raises has a bug. We log the traceback and close that
  connection (the client will retry elsewhere or reconnect) rather than take
  down a broker that other clients are using. The exception: what the
  owner's `is_fatal` accepts (a failing disk, kraft.storage_failure) is
  not the request's fault and propagates, ending `serve`.
- With the logger `kraft.request` at DEBUG, every request served is logged
  in one line (kraft.net.request_log; Kafka's request logger).
- Security (kraft.net.security.ServerSecurity): on an SSL or SASL_SSL
  listener the TLS handshake comes first (a failed one is logged and the
  connection closed); on SSL the client certificate's subject gives the
  principal. On a SASL listener the connection then authenticates
  (kraft.net.sasl): until it has, only ApiVersions, SaslHandshake and
  SaslAuthenticate are served and frames are capped at
  sasl.server.max.receive.size. Handlers see the principal in the
  RequestContext.
- Connections beyond `max_connections` are closed on accept with a log line;
  a connection with no request for `connections.max.idle.ms` (Kafka's 10
  minutes) is closed, so silent peers cannot hold slots forever.
  Accept errors such as EMFILE are logged and retried by `trio.serve_listeners`.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from kraft.net import api_versions, request_log
from kraft.net.api_keys import ApiKey
from kraft.net.codec import (
    API_VERSIONS_KEY,
    InvalidRequest,
    RequestHeader,
    UnsupportedVersion,
    decode_request,
    encode_response,
    peek_header_fixed,
)
from kraft.net.framing import DEFAULT_MAX_FRAME_BYTES, FrameDecoder, FrameError, frame
from kraft.net.registry import ApiRegistry, RequestContext
from kraft.net.sasl import IllegalSaslState, SaslAuthenticator, Session, State
from kraft.net.security import AuthenticationFailed, ServerSecurity

__all__ = ["Deferred", "KafkaServer", "RequestContext"]

log = logging.getLogger("kraft.net.server")

DEFAULT_MAX_CONNECTIONS = 4096
MAX_DEFERRED = 128
DEFAULT_CONNECTIONS_MAX_IDLE_MS = 600_000  # Kafka's connections.max.idle.ms
_RECEIVE_BYTES = 256 * 1024


class Deferred:
    """A response still to come: `wait()` returns it (or None for no response).

    Returned by a handler that has finished every effect that must happen in
    request order; see the module docstring."""

    __slots__ = ("wait",)

    def __init__(self, wait: Callable[[], Awaitable[Any | None]]) -> None:
        self.wait = wait


def _peer_of(stream: trio.SocketStream) -> str:  # the TCP stream, before any TLS
    try:
        host, port, *_ = stream.socket.getpeername()
        return f"{host}:{port}"
    except OSError:
        return "?"


class KafkaServer:
    """Serves one ApiRegistry on one or more listeners."""

    def __init__(
        self,
        registry: ApiRegistry,
        *,
        listener_name: str = "PLAINTEXT",
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        connections_max_idle_ms: int = DEFAULT_CONNECTIONS_MAX_IDLE_MS,
        is_fatal: Callable[[BaseException], bool] = lambda e: False,
        security: ServerSecurity | None = None,
    ) -> None:
        self.registry = registry
        self.security = security or ServerSecurity()
        self.is_fatal = is_fatal
        self.listener_name = listener_name
        self.max_frame_bytes = max_frame_bytes
        self.max_connections = max_connections
        self.idle_timeout_s = connections_max_idle_ms / 1000
        self.connections = 0
        self._serving = trio.CancelScope()

    def stop(self) -> None:
        """Stop serving: close the listening sockets and every connection, with
        whatever requests they have in flight (`serve` returns). Idempotent."""
        self._serving.cancel()

    async def serve(
        self,
        host: str,
        port: int,
        *,
        accept_after: trio.Event | None = None,
        task_status: trio.TaskStatus[list[tuple[str, int]]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Listen on host:port (0 picks a free port) until cancelled or `stop`.

        With `accept_after`, the port is bound at once (started reports it) but
        connections are accepted only once the event is set; until then they
        wait in the kernel's backlog, their requests unanswered, as Kafka's
        acceptors start only once the broker is unfenced."""
        listeners = await trio.open_tcp_listeners(port, host=host)
        bound = [tuple(ln.socket.getsockname()[:2]) for ln in listeners]
        log.debug("%s listening on %s", self.listener_name, bound)
        with self._serving:
            if accept_after is not None:
                task_status.started(list(bound))
                await accept_after.wait()
                await trio.serve_listeners(self._handle_connection, listeners)
            else:
                await trio.serve_listeners(
                    self._handle_connection,
                    listeners,
                    task_status=_Rewrap(task_status, bound),
                )
        for listener in listeners:
            await listener.aclose()

    async def _handle_connection(self, stream: trio.SocketStream) -> None:
        peer = _peer_of(stream)
        if self.connections >= self.max_connections:
            log.warning(
                "closing connection from %s: %d connections open (max %d)",
                peer, self.connections, self.max_connections,
            )
            await stream.aclose()
            return
        self.connections += 1
        secured: trio.abc.Stream = stream
        ctx = RequestContext(peer, self.listener_name, security_protocol=self.security.protocol)
        try:
            if self.security.ssl_context is not None:
                tls = trio.SSLStream(stream, self.security.ssl_context, server_side=True)
                secured = tls
                authenticated = await self._tls_handshake(tls, ctx)
                if authenticated is None:
                    return
                ctx = authenticated
            await self._serve_connection(secured, ctx)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the peer went away mid-response
        finally:
            self.connections -= 1
            for callback in ctx.on_close:
                try:
                    callback()
                except Exception:  # a handler's bug must not hide the others' callbacks
                    log.exception("on-close callback of a connection from %s failed", peer)
            # Forcefully: a TLS close_notify must not wait on a peer that reads nothing.
            await trio.aclose_forcefully(secured)

    async def _tls_handshake(self, tls: trio.SSLStream[trio.SocketStream],
                             ctx: RequestContext) -> RequestContext | None:
        """Complete the handshake; the context with the certificate's principal
        (SSL), or None when the connection is to be closed (logged)."""
        with trio.move_on_after(self.idle_timeout_s) as scope:
            try:
                await tls.do_handshake()
            except trio.BrokenResourceError as e:
                log.info("closing connection from %s: TLS handshake failed: %s", ctx.peer,
                         e.__cause__ or e)
                return None
        if scope.cancelled_caught:
            log.info("closing connection from %s: no TLS handshake within %.0f s", ctx.peer,
                     self.idle_timeout_s)
            return None
        if self.security.protocol != "SSL":
            return ctx  # SASL_SSL: the principal comes from SASL
        cert = tls.getpeercert()
        if not cert or self.security.certificate_principal is None:
            return ctx
        try:
            principal = self.security.certificate_principal(cert)
        except AuthenticationFailed as e:
            log.info("closing connection from %s: %s", ctx.peer, e)
            return None
        return dataclasses.replace(ctx, principal=principal)

    async def _serve_connection(self, stream: trio.abc.Stream, ctx: RequestContext) -> None:
        outbox_send, outbox = trio.open_memory_channel[_Outgoing](MAX_DEFERRED)
        async with trio.open_nursery() as nursery:
            sender = _Sender(stream, outbox, ctx, nursery.cancel_scope, self.is_fatal)
            nursery.start_soon(sender.run)
            await self._read_requests(stream, ctx, sender, outbox_send)
            nursery.cancel_scope.cancel()

    async def _read_requests(
        self,
        stream: trio.abc.Stream,
        ctx: RequestContext,
        sender: _Sender,
        outbox: trio.MemorySendChannel[_Outgoing],
    ) -> None:
        auth: SaslAuthenticator | None = None
        session: Session | None = None  # once authenticated (KIP-368)
        if self.security.uses_sasl:
            auth = SaslAuthenticator(self.security, ctx.peer)
        decoder = FrameDecoder(self.security.sasl_max_receive_size if auth is not None
                               else self.max_frame_bytes)
        while True:
            data: bytes | bytearray = b""
            with trio.move_on_after(self.idle_timeout_s):
                try:
                    data = await stream.receive_some(_RECEIVE_BYTES)
                except trio.BrokenResourceError:
                    return
            if not data:
                if sender.pending:  # the peer half-closed: finish what it asked for
                    await sender.drained.wait()
                return  # closed by the peer, or idle for connections.max.idle.ms
            try:
                decoder.receive_data(data)
                while (request := decoder.next_frame()) is not None:
                    if session is not None and auth is None:
                        api_key = peek_header_fixed(request)[0]
                        if api_key == ApiKey.SASL_HANDSHAKE and session.may_reauthenticate():
                            # Re-authentication (KIP-368): served before anything
                            # queued behind it, like the first exchange.
                            if sender.pending:
                                await sender.drained.wait()
                            auth = SaslAuthenticator(self.security, ctx.peer,
                                                     reauthenticating=session)
                        elif session.expired(trio.current_time()):
                            log.info("closing connection from %s: its SASL session expired "
                                     "(connections.max.reauth.ms) without re-authentication",
                                     ctx.peer)
                            return
                    if auth is not None:
                        if not await self._authenticate(stream, ctx, auth, request):
                            return
                        if auth.state is State.COMPLETE:
                            if auth.session is None:  # SaslHandshake v0: no lifetime sent
                                auth.open_session(trio.current_time(), reauthenticates=False)
                            if auth.previous is not None:
                                log.debug("%s re-authenticated as %s", ctx.peer,
                                          auth.principal)
                            session = auth.session
                            assert session is not None
                            ctx = dataclasses.replace(ctx, principal=session.principal)
                            decoder.max_frame_bytes = self.max_frame_bytes
                            auth = None
                        continue
                    response = await self._dispatch(ctx, request)
                    if response is None:
                        continue
                    if isinstance(response, bytes) and not sender.pending:
                        await stream.send_all(response)  # nothing queued: send at once
                    else:
                        sender.pending += 1
                        sender.drained = trio.Event()
                        await outbox.send(response)
            except (FrameError, InvalidRequest, IllegalSaslState) as e:
                log.info("closing connection from %s: %s", ctx.peer, e)
                return
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return
            except Exception as e:
                if self.is_fatal(e):
                    raise
                log.exception("bug while serving %s; closing its connection", ctx.peer)
                return

    async def _authenticate(self, stream: trio.abc.Stream, ctx: RequestContext,
                            auth: SaslAuthenticator, request: bytes) -> bool:
        """Serve one frame of an unauthenticated connection (kraft.net.sasl); False
        when the connection is to be closed. Nothing is pipelined before
        authentication, so responses are sent at once."""
        if auth.raw_tokens:
            try:
                token = auth.raw(request)
            except AuthenticationFailed:
                await trio.sleep(self.security.failed_authentication_delay_s)
                return False
            await stream.send_all(frame(token))
            return True
        api_key, _version, correlation_id = peek_header_fixed(request)
        auth.check_allowed(api_key)
        if api_key == API_VERSIONS_KEY:
            response = await self._dispatch(ctx, request)
            assert isinstance(response, bytes)
            await stream.send_all(response)
            return True
        header, body = self._decode(request)
        if api_key == ApiKey.SASL_HANDSHAKE:
            answer = auth.handshake(header, body)
        else:
            answer = auth.authenticate(header, body, trio.current_time())
            if auth.state is State.FAILED:
                # Kafka's connection.failed.authentication.delay.ms: slows down guessing.
                await trio.sleep(self.security.failed_authentication_delay_s)
        await stream.send_all(encode_response(correlation_id, answer))
        return auth.state is not State.FAILED

    def _decode(self, request: bytes) -> tuple[RequestHeader, Any]:
        """Header and body of a request of a registered API and version (else InvalidRequest)."""
        api_key, api_version, _ = peek_header_fixed(request)
        entry = self.registry.get(api_key)
        if entry is None or not entry.decodes(api_version):
            raise InvalidRequest(f"unsupported api_key={api_key} version={api_version}")
        try:
            return decode_request(request)
        except UnsupportedVersion as e:  # registry and kio disagree: our bug
            raise AssertionError(str(e)) from e

    async def _dispatch(self, ctx: RequestContext, frame: bytes) -> _Outgoing | None:
        api_key, api_version, correlation_id = peek_header_fixed(frame)
        entry = self.registry.get(api_key)
        if (
            api_key == API_VERSIONS_KEY
            and entry is not None
            and api_version > entry.max_version
        ):
            body = api_versions.unsupported_version_body(self.registry)
            return encode_response(correlation_id, body)
        header, request = self._decode(frame)
        assert entry is not None
        started = time.perf_counter()
        response = await entry.handler(ctx, header, request)
        if request_log.enabled():
            response = _logged(ctx, header, request, response, started)
        if response is None:
            return None
        if isinstance(response, Deferred):
            return correlation_id, response
        return encode_response(correlation_id, response)


def _logged(ctx: RequestContext, header: RequestHeader, request: Any, response: Any,
            started: float) -> Any:
    """Write the request log line now, or when a deferred response is ready."""

    def write(answer: Any) -> None:
        request_log.log_request(header.api_version, header.client_id, ctx.peer, ctx.listener,
                                request, answer, time.perf_counter() - started)

    if not isinstance(response, Deferred):
        write(response)
        return response
    inner = response.wait

    async def wait() -> Any:
        answer = await inner()
        write(answer)
        return answer

    return Deferred(wait)


_Outgoing = bytes | tuple[int, Deferred]


class _Sender:
    """Sends a connection's queued responses in request order, waiting for
    deferred ones; closes the connection if a deferred handler fails."""

    def __init__(
        self,
        stream: trio.abc.Stream,
        outbox: trio.MemoryReceiveChannel[_Outgoing],
        ctx: RequestContext,
        scope: trio.CancelScope,
        is_fatal: Callable[[BaseException], bool],
    ) -> None:
        self.stream = stream
        self.is_fatal = is_fatal
        self.outbox = outbox
        self.ctx = ctx
        self.scope = scope
        self.pending = 0
        self.drained = trio.Event()
        self.drained.set()

    async def run(self) -> None:
        try:
            async for item in self.outbox:
                if isinstance(item, bytes):
                    data: bytes | None = item
                else:
                    correlation_id, deferred = item
                    response = await deferred.wait()
                    data = None if response is None else encode_response(correlation_id,
                                                                          response)
                if data is not None:
                    await self.stream.send_all(data)
                self.pending -= 1
                if not self.pending:
                    self.drained.set()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self.scope.cancel()
        except Exception as e:
            if self.is_fatal(e):
                raise
            log.exception("bug while serving %s; closing its connection", self.ctx.peer)
            self.scope.cancel()


class _Rewrap:
    """Turns serve_listeners' started(listeners) into started(bound addresses)."""

    def __init__(self, task_status: Any, bound: list[Any]) -> None:
        self._task_status = task_status
        self._bound = bound

    def started(self, _value: Any = None) -> None:
        self._task_status.started(self._bound)
