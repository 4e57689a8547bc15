"""fetch.max.bytes caps every Fetch response, as Kafka's KafkaApis caps the request's
max_bytes (and min_bytes) with it: through the fetch handler, on a replica manager fed
scripted images, with trio's autojump clock."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import trio
import trio.testing
from kio.schema.errors import ErrorCode

from kraft.broker.handlers import fetch
from kraft.config import KafkaConfig
from kraft.log.batch import iter_batches
from kraft.log.records import Record, build_batch
from kraft.net.codec import RequestHeader
from kraft.net.server import RequestContext
from kraft.security.access import Access
from tests.broker.replica_harness import NODE, Script, topic

CTX = RequestContext("test", "PLAINTEXT")


def _append(script: Script, value_bytes: int, count: int) -> None:
    """`count` batches of one record of `value_bytes` bytes to t-0 (this node leads alone)."""
    partition = script.partition()
    assert partition is not None and partition.is_leader
    for _ in range(count):
        batch = build_batch([Record(None, b"x" * value_bytes, timestamp=1)])
        assert partition.append_as_leader(memoryview(batch)).info.error_code == 0


async def _fetch(script: Script, fetch_max_bytes: int | None, *, min_bytes: int = 1,
                 max_wait_s: float = 5) -> tuple[Any, float]:
    """A consumer's Fetch v4 of t-0 from 0 asking for 1 MiB, on a broker with this
    fetch.max.bytes (None: Kafka's default); t-0's answer and how long it took."""
    props = {} if fetch_max_bytes is None else {"fetch.max.bytes": str(fetch_max_bytes)}
    broker = SimpleNamespace(image=script.image, replica_manager=script.manager, isr=None,
                             session=None, access=Access(None), config=KafkaConfig(props))
    request = SimpleNamespace(
        replica_id=-1, max_wait=timedelta(seconds=max_wait_s), min_bytes=min_bytes,
        max_bytes=1 << 20, isolation_level=0, topics=[SimpleNamespace(topic="t", partitions=[
            SimpleNamespace(partition=0, fetch_offset=0, partition_max_bytes=1 << 20)])])
    start = trio.current_time()
    response = await fetch.handle(broker, CTX, RequestHeader(1, 4, 1, None), request)
    return response.responses[0].partitions[0], trio.current_time() - start


def _batches(records: bytes) -> int:
    return sum(1 for _ in iter_batches(records, allow_partial_tail=True))


async def test_fetch_max_bytes_caps_the_response(
        tmp_path: Path, autojump_clock: trio.testing.MockClock) -> None:
    """With fetch.max.bytes=1024 a fetch asking for 1 MiB gets the first batch whole and
    no more than 1024 bytes; with Kafka's default (55 MiB) it gets every batch."""
    script = Script(tmp_path)
    script.step(*topic(replicas=(NODE,)))
    _append(script, 600, 3)
    capped, _ = await _fetch(script, 1024)
    assert capped.error_code == ErrorCode.none
    assert _batches(bytes(capped.records)) == 1 and len(capped.records) <= 1024
    full, _ = await _fetch(script, None)
    assert _batches(bytes(full.records)) == 3
    script.close()


async def test_the_first_batch_is_returned_whole_beyond_the_cap(
        tmp_path: Path, autojump_clock: trio.testing.MockClock) -> None:
    """A first batch larger than fetch.max.bytes is returned whole (the consumer makes
    progress), and nothing after it."""
    script = Script(tmp_path)
    script.step(*topic(replicas=(NODE,)))
    _append(script, 3000, 2)
    answer, _ = await _fetch(script, 1024)
    assert _batches(bytes(answer.records)) == 1 and len(answer.records) > 3000
    script.close()


async def test_min_bytes_is_capped_to_fetch_max_bytes(
        tmp_path: Path, autojump_clock: trio.testing.MockClock) -> None:
    """A fetch whose min_bytes exceeds fetch.max.bytes is answered as soon as
    fetch.max.bytes are there, not at max_wait (Kafka caps min_bytes too)."""
    script = Script(tmp_path)
    script.step(*topic(replicas=(NODE,)))
    _append(script, 600, 3)
    answer, took = await _fetch(script, 1024, min_bytes=1 << 20)
    assert (answer.error_code, took) == (ErrorCode.none, 0)
    assert _batches(bytes(answer.records)) == 1
    waited, took = await _fetch(script, None, min_bytes=1 << 20)
    assert (_batches(bytes(waited.records)), took) == (3, 5)  # uncapped: waits max_wait
    script.close()
