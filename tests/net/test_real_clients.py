"""Real clients negotiate versions with a server that answers only ApiVersions.

librdkafka (confluent-kafka) opens with ApiVersions v3 and kafka-python with
v4; both must read our answer and consider the broker up. They then find no
Metadata API and give up, which is expected of this minimal server.
"""

import logging
import queue
import threading
import time
from collections.abc import Iterator

import confluent_kafka
import kafka
import pytest
import trio

from kraft.net import api_versions
from kraft.net.registry import ApiRegistry
from kraft.net.server import KafkaServer


class ApiVersionsOnly:
    """A KafkaServer serving only ApiVersions, on a trio loop in a thread."""

    def __init__(self) -> None:
        self.versions_seen: list[int] = []
        self.registry = ApiRegistry()
        self.registry.register(18, 0, 4, self._handle)
        self._token: trio.lowlevel.TrioToken | None = None
        self._cancel: trio.CancelScope | None = None

    async def _handle(self, ctx, header, request):
        self.versions_seen.append(header.api_version)
        return api_versions.build_response(self.registry, header.api_version)

    def run(self, ready: queue.Queue) -> None:
        async def main() -> None:
            with trio.CancelScope() as self._cancel:
                self._token = trio.lowlevel.current_trio_token()
                async with trio.open_nursery() as nursery:
                    bound = await nursery.start(KafkaServer(self.registry).serve, "127.0.0.1", 0)
                    ready.put(bound[0])

        trio.run(main)

    def stop(self) -> None:
        assert self._token is not None and self._cancel is not None
        self._token.run_sync_soon(self._cancel.cancel)


@pytest.fixture
def server() -> Iterator[tuple[ApiVersionsOnly, str]]:
    srv = ApiVersionsOnly()
    ready: queue.Queue = queue.Queue()
    thread = threading.Thread(target=srv.run, args=(ready,), daemon=True)
    thread.start()
    host, port = ready.get(timeout=10)
    try:
        yield srv, f"{host}:{port}"
    finally:
        srv.stop()
        thread.join(timeout=10)


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.seen = threading.Event()
        self.pattern = ""

    def emit(self, record: logging.LogRecord) -> None:
        line = record.getMessage()
        self.lines.append(line)
        if self.pattern in line:
            self.seen.set()


def test_librdkafka_negotiates_with_api_versions_v3(server):
    """confluent-kafka sends ApiVersions v3, reads our response, and marks the broker UP."""
    srv, bootstrap = server
    capture = _Capture()
    capture.pattern = "APIVERSION_QUERY -> UP"
    logger = logging.getLogger("test.librdkafka")
    logger.addHandler(capture)
    logger.setLevel(logging.DEBUG)
    producer = confluent_kafka.Producer(
        {"bootstrap.servers": bootstrap, "debug": "protocol,broker", "logger": logger}
    )
    deadline = time.monotonic() + 15
    while not capture.seen.is_set() and time.monotonic() < deadline:
        producer.poll(0.05)
    assert capture.seen.is_set(), "\n".join(capture.lines[-30:])
    assert srv.versions_seen[0] == 3
    assert any("Received ApiVersionResponse (v3" in line for line in capture.lines)
    producer.flush(0)


def test_kafka_python_negotiates_with_api_versions_v4(server):
    """kafka-python sends ApiVersions v4, reads our response, and identifies the broker."""
    srv, bootstrap = server
    capture = _Capture()
    capture.pattern = "Broker version identified as"
    logger = logging.getLogger("kafka.net.connection")
    logger.addHandler(capture)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    errors: list[BaseException] = []

    def connect() -> None:
        try:
            kafka.KafkaAdminClient(
                bootstrap_servers=bootstrap, request_timeout_ms=2000, bootstrap_timeout_ms=2000
            ).close()
        except Exception as e:  # no Metadata API here: bootstrap fails after negotiating
            errors.append(e)

    thread = threading.Thread(target=connect, daemon=True)
    thread.start()
    try:
        assert capture.seen.wait(15), "\n".join(capture.lines[-30:])
        assert srv.versions_seen[0] == 4
    finally:
        thread.join(timeout=30)
        logger.removeHandler(capture)
        logger.setLevel(old_level)
