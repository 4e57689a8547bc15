"""Protocol-level helpers for integration tests: raw kio requests to a real broker.

Tests that check exact error codes talk to a `kraft dev` (or `kraft start`)
process with the project's own client (`net.client.Connection`), one kio
request at a time, so nothing between the test and the broker retries,
batches or hides an error the way a full client library would.

- `connect(bootstrap)` opens one negotiated connection (an async context
  manager); `call(bootstrap, request)` sends one request on a fresh
  connection and returns the kio response (`call_sync` from synchronous
  code); `send_and_drop` writes a request and hangs up without reading.
- Request builders pin the version they build (the names say which) and
  take plain Python values; `only_partition(response)` digs out the single
  partition answer of a one-partition request.
- `batch(...)` builds one uncompressed v2 record batch with values
  `b"<prefix>-<i>"`; `read_all` fetches a partition from offset 0 to its
  high watermark and returns every record, so a test can count what the log
  really holds; `latest_offset` is ListOffsets LATEST (the high watermark,
  equal to the log end offset on a single broker).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import trio
from kio.schema.create_topics.v7 import request as _create_topics_v7
from kio.schema.delete_topics.v6 import request as _delete_topics_v6
from kio.schema.errors import ErrorCode
from kio.schema.fetch.v12 import request as _fetch_v12
from kio.schema.fetch.v16 import request as _fetch_v16
from kio.schema.init_producer_id.v4.request import InitProducerIdRequest
from kio.schema.list_offsets.v7 import request as _list_offsets_v7
from kio.schema.metadata.v12.request import MetadataRequest as MetadataRequestV12
from kio.schema.metadata.v12.request import MetadataRequestTopic as MetadataTopicV12
from kio.schema.metadata.v13.request import MetadataRequest as MetadataRequestV13
from kio.schema.metadata.v13.request import MetadataRequestTopic as MetadataTopicV13
from kio.schema.offset_for_leader_epoch.v4 import request as _ofle_v4
from kio.schema.produce.v12 import request as _produce_v12
from kio.schema.produce.v13 import request as _produce_v13

from kraft.log.batch import iter_batches
from kraft.log.records import Record, build_batch, iter_records
from kraft.net.client import Connection
from kraft.net.codec import encode_request

TIMEOUT_S = 30.0
LATEST = -1


def address(bootstrap: str) -> tuple[str, int]:
    host, _, port = bootstrap.rpartition(":")
    return host, int(port)


@asynccontextmanager
async def connect(bootstrap: str, client_id: str = "kraft-tests") -> AsyncIterator[Connection]:
    """One negotiated connection to `bootstrap`, closed on exit."""
    try:
        async with trio.open_nursery() as nursery:
            conn = await Connection.open(nursery, address(bootstrap), client_id, TIMEOUT_S)
            try:
                yield conn
            finally:
                await conn.aclose()
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        # The nursery wraps the test's own failure; show it as raised.
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from None
        raise


async def call(bootstrap: str, request: Any, timeout: float = TIMEOUT_S) -> Any:
    """Send `request` on a fresh connection; return the kio response."""
    async with connect(bootstrap) as conn:
        return await conn.request(request, timeout)


def call_sync(bootstrap: str, request: Any, timeout: float = TIMEOUT_S) -> Any:
    """`call` for synchronous tests (hypothesis examples): one trio.run per request."""
    return trio.run(call, bootstrap, request, timeout)


async def send_and_drop(bootstrap: str, request: Any) -> None:
    """Write `request` on a new connection and close it without reading the answer,
    as a client whose connection breaks after sending does."""
    stream = await trio.open_tcp_stream(*address(bootstrap))
    try:
        await stream.send_all(encode_request(1, "kraft-tests", request))
    finally:
        await stream.aclose()


# --- records ------------------------------------------------------------------------


def values(count: int, prefix: str = "v", start: int = 0) -> list[bytes]:
    return [f"{prefix}-{i}".encode() for i in range(start, start + count)]


def batch(
    count: int = 1,
    *,
    prefix: str = "v",
    start: int = 0,
    value_size: int | None = None,
    producer_id: int = -1,
    producer_epoch: int = -1,
    base_sequence: int = -1,
) -> bytes:
    """One v2 batch of `count` records; values are `prefix-i` (padded to `value_size`)."""
    records = []
    for value in values(count, prefix, start):
        if value_size is not None:
            value = value.ljust(value_size, b".")
        records.append(Record(None, value, (), 1_700_000_000_000))
    return build_batch(records, producer_id=producer_id, producer_epoch=producer_epoch,
                       base_sequence=base_sequence)


# --- request builders -----------------------------------------------------------------


def produce_v12(
    topic: str,
    partition: int,
    records: bytes | None,
    *,
    acks: int = -1,
    timeout_ms: int = 30_000,
) -> _produce_v12.ProduceRequest:
    """Produce v12 (topics by name) of one partition."""
    return _produce_v12.ProduceRequest(
        acks=acks,
        timeout=timedelta(milliseconds=timeout_ms),
        topic_data=(_produce_v12.TopicProduceData(
            name=topic,
            partition_data=(_produce_v12.PartitionProduceData(index=partition, records=records),),
        ),),
    )


def produce_v13(
    topic_id: uuid.UUID, partition: int, records: bytes, *, acks: int = -1
) -> _produce_v13.ProduceRequest:
    """Produce v13 (topics by id, KIP-516) of one partition."""
    return _produce_v13.ProduceRequest(
        acks=acks,
        timeout=timedelta(seconds=30),
        topic_data=(_produce_v13.TopicProduceData(
            topic_id=topic_id,
            partition_data=(_produce_v13.PartitionProduceData(index=partition, records=records),),
        ),),
    )


def fetch_v12(
    topic: str,
    partition: int,
    offset: int,
    *,
    current_leader_epoch: int = -1,
    max_bytes: int = 1 << 20,
) -> _fetch_v12.FetchRequest:
    """Fetch v12 of one partition, no long poll (max_wait 0)."""
    return _fetch_v12.FetchRequest(
        max_wait=timedelta(0),
        min_bytes=0,
        max_bytes=max_bytes,
        topics=(_fetch_v12.FetchTopic(topic=topic, partitions=(_fetch_v12.FetchPartition(
            partition=partition,
            current_leader_epoch=current_leader_epoch,
            fetch_offset=offset,
            partition_max_bytes=max_bytes,
        ),)),),
        forgotten_topics_data=(),
    )


def fetch_v16(
    topic_id: uuid.UUID,
    partition: int,
    offset: int,
    *,
    last_fetched_epoch: int = -1,
    max_bytes: int = 1 << 20,
) -> _fetch_v16.FetchRequest:
    """Fetch v16 (topics by id; KIP-951 leader hints in the answer) of one
    partition, no long poll (max_wait 0)."""
    return _fetch_v16.FetchRequest(
        max_wait=timedelta(0),
        min_bytes=0,
        max_bytes=max_bytes,
        topics=(_fetch_v16.FetchTopic(topic_id=topic_id, partitions=(_fetch_v16.FetchPartition(
            partition=partition,
            fetch_offset=offset,
            last_fetched_epoch=last_fetched_epoch,
            partition_max_bytes=max_bytes,
        ),)),),
        forgotten_topics_data=(),
    )


def list_offsets_v7(
    topic: str, partition: int, timestamp: int = LATEST, *, current_leader_epoch: int = -1
) -> _list_offsets_v7.ListOffsetsRequest:
    """ListOffsets v7 of one partition (a consumer's: replica id -1, read_uncommitted)."""
    return _list_offsets_v7.ListOffsetsRequest(
        replica_id=-1,
        isolation_level=0,
        topics=(_list_offsets_v7.ListOffsetsTopic(name=topic, partitions=(
            _list_offsets_v7.ListOffsetsPartition(
                partition_index=partition,
                current_leader_epoch=current_leader_epoch,
                timestamp=timestamp,
            ),
        )),),
    )


def offset_for_leader_epoch_v4(
    topic: str, partition: int, leader_epoch: int, *, current_leader_epoch: int = -1
) -> _ofle_v4.OffsetForLeaderEpochRequest:
    """OffsetForLeaderEpoch v4 of one partition, as a consumer sends it (replica id -2)."""
    return _ofle_v4.OffsetForLeaderEpochRequest(
        topics=(_ofle_v4.OffsetForLeaderTopic(topic=topic, partitions=(
            _ofle_v4.OffsetForLeaderPartition(
                partition=partition,
                current_leader_epoch=current_leader_epoch,
                leader_epoch=leader_epoch,
            ),
        )),),
    )


def metadata_v12(
    names: Iterable[str] | None, *, allow_auto_topic_creation: bool = True
) -> MetadataRequestV12:
    """Metadata v12 for these topic names (None: every topic)."""
    topics = None if names is None else tuple(
        MetadataTopicV12(topic_id=None, name=n) for n in names
    )
    return MetadataRequestV12(
        topics=topics,
        allow_auto_topic_creation=allow_auto_topic_creation,
        include_topic_authorized_operations=False,
    )


def metadata_v13_by_id(topic_ids: Iterable[uuid.UUID]) -> MetadataRequestV13:
    """Metadata v13 for these topic ids (names null)."""
    return MetadataRequestV13(
        topics=tuple(MetadataTopicV13(topic_id=t, name=None) for t in topic_ids),
        allow_auto_topic_creation=False,
        include_topic_authorized_operations=False,
    )


def create_topics_v7(
    name: str,
    *,
    partitions: int = 1,
    replication_factor: int = 1,
    configs: Mapping[str, str] | None = None,
    assignments: Mapping[int, Iterable[int]] | None = None,
) -> _create_topics_v7.CreateTopicsRequest:
    """CreateTopics v7 of one topic (manual `assignments` need partitions = rf = -1)."""
    return _create_topics_v7.CreateTopicsRequest(
        topics=(_create_topics_v7.CreatableTopic(
            name=name,
            num_partitions=partitions,
            replication_factor=replication_factor,
            assignments=tuple(
                _create_topics_v7.CreatableReplicaAssignment(
                    partition_index=index, broker_ids=tuple(brokers))
                for index, brokers in (assignments or {}).items()
            ),
            configs=tuple(
                _create_topics_v7.CreatableTopicConfig(name=k, value=v)
                for k, v in (configs or {}).items()
            ),
        ),),
        timeout=timedelta(seconds=30),
    )


def delete_topics_v6(names: Iterable[str]) -> _delete_topics_v6.DeleteTopicsRequest:
    """DeleteTopics v6 by name."""
    return _delete_topics_v6.DeleteTopicsRequest(
        topics=tuple(_delete_topics_v6.DeleteTopicState(name=n, topic_id=uuid.UUID(int=0))
                     for n in names),
        timeout=timedelta(seconds=30),
    )


def init_producer_id_v4() -> InitProducerIdRequest:
    """InitProducerId v4 for an idempotent (non-transactional) producer."""
    return InitProducerIdRequest(transactional_id=None, transaction_timeout=timedelta(minutes=1))


# --- answers ----------------------------------------------------------------------------


def only_partition(response: Any) -> Any:
    """The one partition answer of a one-topic, one-partition request."""
    topics = getattr(response, "responses", None)
    if topics is None:
        topics = response.topics
    assert len(topics) == 1, topics
    topic = topics[0]
    for name in ("partition_responses", "partitions"):
        parts = getattr(topic, name, None)
        if parts is not None:
            assert len(parts) == 1, parts
            return parts[0]
    raise AssertionError(f"no partitions in {topic!r}")


async def create_topic(conn: Connection, name: str, **kwargs: Any) -> uuid.UUID:
    """Create a topic (kwargs as for `create_topics_v7`); assert success, return its id."""
    response = await conn.request(create_topics_v7(name, **kwargs), TIMEOUT_S)
    (result,) = response.topics
    assert result.error_code == ErrorCode.none, (result.error_code, result.error_message)
    assert result.topic_id is not None
    return result.topic_id


async def topic_names(conn: Connection) -> set[str]:
    """Every topic the broker's Metadata lists."""
    response = await conn.request(metadata_v12(None), TIMEOUT_S)
    return {t.name for t in response.topics}


async def leader_epoch(conn: Connection, topic: str, partition: int = 0) -> int:
    """The partition's leader epoch as Metadata reports it."""
    response = await conn.request(metadata_v12([topic], allow_auto_topic_creation=False),
                                  TIMEOUT_S)
    (t,) = response.topics
    assert t.error_code == ErrorCode.none, t.error_code
    return next(p.leader_epoch for p in t.partitions if p.partition_index == partition)


async def latest_offset(conn: Connection, topic: str, partition: int = 0) -> int:
    """ListOffsets LATEST: the high watermark (the log end offset on one broker)."""
    answer = only_partition(await conn.request(list_offsets_v7(topic, partition), TIMEOUT_S))
    assert answer.error_code == ErrorCode.none, answer.error_code
    return answer.offset


async def read_all(conn: Connection, topic: str, partition: int = 0) -> list[Record]:
    """Every record from offset 0 up to the high watermark, in offset order."""
    out: list[Record] = []
    offset = 0
    while True:
        answer = only_partition(await conn.request(fetch_v12(topic, partition, offset),
                                                   TIMEOUT_S))
        assert answer.error_code == ErrorCode.none, answer.error_code
        data = memoryview(answer.records or b"")
        for pos, header in iter_batches(data, allow_partial_tail=True):
            out.extend(iter_records(data[pos:pos + header.batch_length + 12]))
            offset = header.base_offset + header.last_offset_delta + 1
        if offset >= answer.high_watermark:
            return out
        assert data.nbytes > 0, f"no progress at offset {offset} below {answer.high_watermark}"
