"""A live trio server: negotiation, ordering, and hostile peers."""

import contextlib
import os
import random
import struct
from datetime import timedelta

import pytest
import trio
from kio.schema.errors import ErrorCode

from kraft.net import api_versions
from kraft.net.codec import decode_response, encode_request, request_type, response_type
from kraft.net.framing import FrameDecoder
from kraft.net.registry import ApiRegistry, DuplicateRegistration
from kraft.net.server import Deferred, KafkaServer


def _registry() -> ApiRegistry:
    registry = ApiRegistry()
    api_versions.register(registry)
    return registry


async def _start(nursery, registry, **kw):
    server = KafkaServer(registry, **kw)
    bound = await nursery.start(server.serve, "127.0.0.1", 0)
    return server, bound[0]


class RawPeer:
    """A bare socket speaking frames by hand."""

    def __init__(self, stream):
        self.stream = stream
        self.decoder = FrameDecoder()

    @classmethod
    async def connect(cls, address):
        return cls(await trio.open_tcp_stream(*address))

    async def send(self, data: bytes) -> None:
        await self.stream.send_all(data)

    async def frame(self) -> bytes | None:
        """Next response frame, or None if the server closed the connection."""
        while (f := self.decoder.next_frame()) is None:
            try:
                data = await self.stream.receive_some(65536)
            except trio.BrokenResourceError:
                return None
            if not data:
                return None
            self.decoder.receive_data(data)
        return f

    async def api_versions(self, version: int = 3, correlation_id: int = 1):
        cls = request_type(18, version)
        kw = {"client_software_name": "t", "client_software_version": "1"} if version >= 3 else {}
        await self.send(encode_request(correlation_id, "c", cls(**kw)))
        f = await self.frame()
        assert f is not None, "server closed a well-behaved connection"
        return decode_response(f, response_type(18, version))


async def test_api_versions_every_version(nursery):
    """Each ApiVersions version 0-4 is answered with our ranges and no error."""
    _, addr = await _start(nursery, _registry())
    peer = await RawPeer.connect(addr)
    for v in range(5):
        corr, resp = await peer.api_versions(v, correlation_id=v + 10)
        assert corr == v + 10
        assert resp.error_code == ErrorCode.none
        assert [(k.api_key, k.min_version, k.max_version) for k in resp.api_keys] == [(18, 0, 4)]


async def test_unknown_api_versions_version_gets_v0_error_body(nursery):
    """ApiVersions v99 is answered with a v0 body: UNSUPPORTED_VERSION plus our ranges."""
    _, addr = await _start(nursery, _registry())
    peer = await RawPeer.connect(addr)
    # A v99 request: header v2 (flexible), empty body; the server must not parse the body.
    await peer.send(struct.pack(">ihhih", 11, 18, 99, 7, -1) + b"\0")
    f = await peer.frame()
    corr, resp = decode_response(f, response_type(18, 0))
    assert corr == 7
    assert resp.error_code == ErrorCode.unsupported_version
    assert [(k.api_key, k.min_version, k.max_version) for k in resp.api_keys] == [(18, 0, 4)]
    # The connection stays usable for the retry.
    _, resp = await peer.api_versions(3)
    assert resp.error_code == ErrorCode.none


async def test_invalid_software_name_gets_invalid_request(nursery):
    """ApiVersions v3 with a client software name Kafka rejects answers INVALID_REQUEST."""
    _, addr = await _start(nursery, _registry())
    peer = await RawPeer.connect(addr)
    req = request_type(18, 3)(client_software_name="bad name!", client_software_version="1")
    await peer.send(encode_request(1, None, req))
    _, resp = decode_response(await peer.frame(), response_type(18, 3))
    assert resp.error_code == ErrorCode.invalid_request


async def test_pipelined_requests_answered_in_order(nursery):
    """Several requests written at once are answered in request order."""
    _, addr = await _start(nursery, _registry())
    peer = await RawPeer.connect(addr)
    cls = request_type(18, 2)
    await peer.send(b"".join(encode_request(i, None, cls()) for i in range(20)))
    ids = [decode_response(await peer.frame(), response_type(18, 2))[0] for _ in range(20)]
    assert ids == list(range(20))


@pytest.mark.parametrize(
    "garbage",
    [
        struct.pack(">i", -5),
        struct.pack(">i", 200 * 1024 * 1024),  # oversize: closed before the body arrives
        struct.pack(">i", 6) + b"\x00\x00\x00\x00\x00\x00",  # header cut short
        struct.pack(">ihhih", 10, 0, 9, 1, -1),  # Produce: not registered here
        struct.pack(">ihhih", 10, 18, -1, 1, -1),  # negative version
        struct.pack(">ihhih", 12, 18, 3, 1, 5) + b"ab",  # client_id longer than the frame
        struct.pack(">ihhih", 11, 18, 3, 1, -1) + b"\x00" + b"\xff",  # body varint cut
    ],
)
async def test_garbage_closes_only_that_connection(nursery, garbage):
    """A malformed frame closes its own connection; a well-behaved one keeps being served."""
    server, addr = await _start(nursery, _registry())
    good = await RawPeer.connect(addr)
    await good.api_versions()
    bad = await RawPeer.connect(addr)
    await bad.send(garbage)
    with trio.fail_after(5):
        assert await bad.frame() is None
    _, resp = await good.api_versions()
    assert resp.error_code == ErrorCode.none
    with trio.fail_after(5):
        while server.connections != 1:
            await trio.sleep(0.01)


async def test_random_garbage_never_stops_the_server(nursery):
    """Many connections of random bytes leave the server answering a good connection."""
    _, addr = await _start(nursery, _registry())
    good = await RawPeer.connect(addr)
    rng = random.Random(1)
    for _ in range(50):
        bad = await RawPeer.connect(addr)
        size = rng.randrange(0, 64)
        if rng.random() < 0.5:
            junk = struct.pack(">i", size) + rng.randbytes(size)
        else:
            junk = os.urandom(size + 4)
        with contextlib.suppress(trio.BrokenResourceError):
            await bad.send(junk)
        await bad.stream.aclose()
        _, resp = await good.api_versions()
        assert resp.error_code == ErrorCode.none


async def test_connection_cap(nursery):
    """Connections beyond max_connections are closed at once; existing ones keep working."""
    _, addr = await _start(nursery, _registry(), max_connections=2)
    a = await RawPeer.connect(addr)
    b = await RawPeer.connect(addr)
    await a.api_versions()
    await b.api_versions()
    c = await RawPeer.connect(addr)
    with trio.fail_after(5):
        assert await c.frame() is None
    await a.api_versions()


async def test_buggy_handler_closes_connection_and_server_survives(nursery):
    """A handler that raises closes that connection; the server keeps serving."""
    registry = _registry()

    async def broken(ctx, header, request):
        raise RuntimeError("boom")

    registry.register(3, 0, 12, broken)
    _, addr = await _start(nursery, registry)
    peer = await RawPeer.connect(addr)
    request = request_type(3, 12)(topics=None, include_topic_authorized_operations=False)
    await peer.send(encode_request(1, None, request))
    with trio.fail_after(5):
        assert await peer.frame() is None
    peer = await RawPeer.connect(addr)
    await peer.api_versions()


def test_double_registration_is_an_error():
    """Registering an API key twice raises."""
    registry = _registry()

    async def h(ctx, header, request):
        return None

    with pytest.raises(DuplicateRegistration):
        registry.register(18, 0, 4, h)


def test_registration_outside_kio_range_is_an_error():
    """Registering versions kio cannot encode raises."""

    async def h(ctx, header, request):
        return None

    with pytest.raises(ValueError):
        ApiRegistry().register(0, 0, 9, h)
    ApiRegistry().register(0, 3, 9, h, advertised_min=0)


async def test_idle_connection_is_closed(nursery, autojump_clock):
    """A connection that sends nothing for connections.max.idle.ms is closed."""
    _, addr = await _start(nursery, _registry(), connections_max_idle_ms=1000)
    peer = await RawPeer.connect(addr)
    await peer.api_versions()
    with trio.fail_after(5):
        assert await peer.frame() is None


async def test_deferred_responses_keep_request_order(nursery):
    """A handler may defer its response: the next request on the connection is
    handled meanwhile, and the responses still leave in request order."""
    registry = _registry()
    handled: list[int] = []
    release = trio.Event()

    async def metadata(ctx, header, request):
        handled.append(header.correlation_id)
        cls = response_type(3, header.api_version)
        body = cls(throttle_time=timedelta(0), brokers=(),
                   cluster_id=None, controller_id=-1, topics=())
        if header.correlation_id == 1:
            async def later():
                await release.wait()
                return body
            return Deferred(later)
        return body

    registry.register(3, 0, 12, metadata)
    _, addr = await _start(nursery, registry)
    peer = await RawPeer.connect(addr)
    request = request_type(3, 12)(topics=None, include_topic_authorized_operations=False)
    await peer.send(encode_request(1, "c", request) + encode_request(2, "c", request))
    with trio.fail_after(5):
        while handled != [1, 2]:
            await trio.sleep(0.01)  # both handled while the first answer waits
    release.set()
    with trio.fail_after(5):
        first, second = await peer.frame(), await peer.frame()
    assert decode_response(first, response_type(3, 12))[0] == 1
    assert decode_response(second, response_type(3, 12))[0] == 2


async def test_stop_closes_the_listener_and_every_connection(nursery):
    """After stop(), open connections are closed and new ones are refused (a broker
    that finished its controlled shutdown answers nobody, as Kafka's does)."""
    server, addr = await _start(nursery, _registry())
    peer = await RawPeer.connect(addr)
    await peer.api_versions()
    server.stop()
    with trio.fail_after(5):
        assert await peer.frame() is None
    with pytest.raises(OSError):
        await trio.open_tcp_stream(*addr)


async def test_accept_after_holds_connections_until_the_event(nursery):
    """With accept_after, the port is bound at once, but a request is answered only
    once the event is set (a broker accepts clients once it is unfenced)."""
    unfenced = trio.Event()
    server = KafkaServer(_registry())
    bound = await nursery.start(
        lambda task_status: server.serve("127.0.0.1", 0, accept_after=unfenced,
                                         task_status=task_status))
    peer = await RawPeer.connect(bound[0])  # the kernel's backlog takes it
    answered = trio.Event()

    async def ask() -> None:
        await peer.api_versions()
        answered.set()

    nursery.start_soon(ask)
    await trio.sleep(1)
    assert not answered.is_set()
    unfenced.set()
    with trio.fail_after(5):
        await answered.wait()


async def test_on_close_callbacks_run_once_when_the_peer_closes(nursery):
    """A callback a handler registers on its connection runs when the peer closes
    that connection; an equal callback registered again runs once."""
    closed: list[str] = []
    seen = trio.Event()

    class Closed:
        def __eq__(self, other: object) -> bool:
            return isinstance(other, Closed)

        __hash__ = object.__hash__

        def __call__(self) -> None:
            closed.append("closed")

    async def handler(ctx, header, request):
        ctx.watch_close(Closed())
        ctx.watch_close(Closed())
        seen.set()
        return None

    registry = _registry()
    registry.register(60, 0, 1, handler)  # DescribeCluster: any API will do
    _, addr = await _start(nursery, registry)
    peer = await RawPeer.connect(addr)
    request = request_type(60, 1)(include_cluster_authorized_operations=False, endpoint_type=1)
    await peer.send(encode_request(1, "c", request))
    await seen.wait()
    assert closed == []
    await peer.stream.aclose()
    with trio.fail_after(5):
        while not closed:
            await trio.sleep(0.01)
    await trio.sleep(0.05)
    assert closed == ["closed"]
