"""The inter-node client: negotiation, pipelining, timeouts and reconnects."""

import pytest
import trio

from kraft.net import api_versions
from kraft.net.client import ConnectionFailed, KafkaClient, RequestTimedOut, UnsupportedVersion
from kraft.net.codec import request_type
from kraft.net.registry import ApiRegistry
from kraft.net.server import KafkaServer


async def _serve(nursery, registry):
    return (await nursery.start(KafkaServer(registry).serve, "127.0.0.1", 0))[0]


def _full() -> ApiRegistry:
    registry = ApiRegistry()
    api_versions.register(registry)
    return registry


async def test_negotiates_down_to_an_older_api_versions(nursery):
    """Against a server serving ApiVersions 0-2 only, the client falls back and learns ranges."""
    registry = ApiRegistry()

    async def handle(ctx, header, request):
        return api_versions.build_response(registry, header.api_version)

    registry.register(18, 0, 2, handle)
    addr = await _serve(nursery, registry)
    async with KafkaClient() as client:
        conn = await client.connection(addr)
        assert conn.api_versions == {18: (0, 2)}
        assert conn.pick_version(18) == 2
        with pytest.raises(UnsupportedVersion):
            conn.pick_version(3)


async def test_pipelined_requests_and_connection_reuse(nursery):
    """Concurrent requests share one connection and each gets its own response."""
    addr = await _serve(nursery, _full())
    async with KafkaClient() as client:
        results = []

        async def one():
            resp = await client.request(addr, request_type(18, 4)(
                client_software_name="a", client_software_version="1"), timeout=5)
            results.append(resp.error_code)

        async with trio.open_nursery() as n:
            for _ in range(50):
                n.start_soon(one)
        assert len(results) == 50
        assert (await client.connection(addr)) is (await client.connection(addr))


async def test_timeout_closes_connection_and_next_request_reconnects(nursery):
    """A request with no response times out, the connection closes, the next one reconnects."""
    registry = _full()
    release = trio.Event()

    async def slow(ctx, header, request):
        await release.wait()
        return api_versions.build_response(registry, 0)

    registry.register(3, 0, 12, slow)
    addr = await _serve(nursery, registry)
    async with KafkaClient() as client:
        conn = await client.connection(addr)
        request = request_type(3, 12)(topics=None, include_topic_authorized_operations=False)
        with pytest.raises(RequestTimedOut):
            await conn.request(request, timeout=0.2)
        assert conn.closed
        release.set()
        conn2 = await client.connection(addr)
        assert conn2 is not conn and not conn2.closed


async def test_unreachable_peer_backs_off(nursery):
    """Connecting to a closed port fails fast, and the retry waits out the backoff."""
    with trio.socket.socket() as s:
        await s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with KafkaClient(reconnect_backoff_ms=200, reconnect_backoff_max_ms=200) as client:
        with pytest.raises(ConnectionFailed):
            await client.connection(("127.0.0.1", port))
        start = trio.current_time()
        with pytest.raises(ConnectionFailed):
            await client.connection(("127.0.0.1", port))
        assert trio.current_time() - start >= 0.15


async def test_server_restart_is_survived(nursery):
    """After the server goes away and comes back, the client reconnects."""
    registry = _full()
    async with trio.open_nursery() as inner:
        server = KafkaServer(registry)
        addr = (await inner.start(server.serve, "127.0.0.1", 0))[0]
        async with KafkaClient(reconnect_backoff_ms=10) as client:
            await client.connection(addr)
            inner.cancel_scope.cancel()
    # new server on the same port
    server = KafkaServer(registry)
    await nursery.start(server.serve, addr[0], addr[1])
    async with KafkaClient() as client:
        conn = await client.connection(addr)
        assert conn.api_versions[18] == (0, 4)
