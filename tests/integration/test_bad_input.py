"""Wrong requests against a real `kraft dev` process: Kafka's error codes, nothing written.

Each test sends raw kio requests through the project's own client
(tests/integration/protocol.py), so no client library retries or hides an
error, checks the exact error code Kafka gives for that mistake, and then
checks that the broker's state did not change: the partition's log end
offset (ListOffsets LATEST; on one broker the high watermark equals it) is
where it was, or Metadata lists no new topic. Where it helps, the test also
shows the right request succeeding, so a broker that rejects everything
cannot pass.

Most tests share one module-scoped node with auto.create.topics.enable=false.
Its topic `epochs` is created before the node is restarted once: a restart
moves leadership away and back, so the partition's leader epoch is above 0
and a *lower* current leader epoch can be sent (FENCED_LEADER_EPOCH).
Invalid topic names in Metadata are tried on a second node with
auto-creation on (Kafka's INVALID_TOPIC_EXCEPTION comes from the
auto-creation path). NOT_LEADER_OR_FOLLOWER needs a partition led by another
broker: a broker-only process (node 2, `kraft format` + `kraft start`) joins a
fresh dev node's cluster and a topic is assigned to node 2 alone.

Garbage on the wire (random bytes in a well-sized frame, a frame claiming
2 GB, a negative size) must close only that connection: a client connected
before keeps producing and reading, and the process stays up.
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
import re
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st
from kio.schema.errors import ErrorCode

from kraft import meta_properties
from kraft.net.client import Connection
from kraft.net.framing import frame
from tests.integration import protocol as p
from tests.integration.dev import DevNode
from tests.ports import free_port

T = p.TIMEOUT_S
EPOCHS_TOPIC = "epochs"
CRC_TOPIC = "crc"
GARBAGE_TOPIC = "garbage"
LEGAL_NAME = re.compile(r"[a-zA-Z0-9._-]+")
LEGAL_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"
INVALID_NAMES = ["", ".", "..", "a" * 250, "has space", "slash/name", "ünïcode", "star*",
                 "colon:name"]


async def _prepare(bootstrap: str) -> None:
    async with p.connect(bootstrap) as conn:
        for name in (EPOCHS_TOPIC, CRC_TOPIC, GARBAGE_TOPIC):
            await p.create_topic(conn, name)
        response = await conn.request(p.produce_v12(EPOCHS_TOPIC, 0, p.batch(3)), T)
        assert p.only_partition(response).error_code == ErrorCode.none


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevNode]:
    """One dev node without auto-creation, restarted once after creating its topics."""
    root = tmp_path_factory.mktemp("bad-input")
    node = DevNode(root / "data", root / "logs", "auto.create.topics.enable=false")
    try:
        node.start()
        trio.run(_prepare, node.bootstrap)
        node.stop()
        node.start()
        yield node
    finally:
        node.close()


@pytest.fixture(scope="module")
def auto_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevNode]:
    """One dev node with Kafka's default auto.create.topics.enable=true."""
    root = tmp_path_factory.mktemp("bad-input-auto")
    node = DevNode(root / "data", root / "logs")
    try:
        yield node.start()
    finally:
        node.close()


def _alive(node: DevNode) -> None:
    assert node.proc is not None and node.proc.poll() is None, node.stderr()


async def _produce(conn: Connection, topic: str, records: bytes | None, **kwargs: Any) -> Any:
    return p.only_partition(await conn.request(p.produce_v12(topic, 0, records, **kwargs), T))


# --- unknown topics -------------------------------------------------------------------


async def test_metadata_unknown_topic_without_auto_create(broker: DevNode) -> None:
    """With auto.create.topics.enable=false, Metadata for a missing topic is
    UNKNOWN_TOPIC_OR_PARTITION even when the request allows auto-creation, and
    no topic appears."""
    async with p.connect(broker.bootstrap) as conn:
        for allow in (True, False):
            response = await conn.request(
                p.metadata_v12(["no-such-topic"], allow_auto_topic_creation=allow), T)
            (topic,) = response.topics
            assert topic.error_code == ErrorCode.unknown_topic_or_partition
            assert topic.partitions == ()
        assert "no-such-topic" not in await p.topic_names(conn)


async def test_produce_to_unknown_topic_or_partition(broker: DevNode) -> None:
    """Produce to a missing topic, or to a partition beyond a topic's count, is
    UNKNOWN_TOPIC_OR_PARTITION; no topic is created and the existing partition is
    unchanged."""
    async with p.connect(broker.bootstrap) as conn:
        await p.create_topic(conn, "one-partition")
        answer = await _produce(conn, "no-such-topic", p.batch(1))
        assert answer.error_code == ErrorCode.unknown_topic_or_partition
        assert answer.base_offset == -1
        response = await conn.request(p.produce_v12("one-partition", 1, p.batch(1)), T)
        assert p.only_partition(response).error_code == ErrorCode.unknown_topic_or_partition
        assert "no-such-topic" not in await p.topic_names(conn)
        assert await p.latest_offset(conn, "one-partition") == 0


async def test_unknown_topic_id(broker: DevNode) -> None:
    """Metadata v13 and Produce v13 naming a topic id no topic has answer
    UNKNOWN_TOPIC_ID and create or write nothing, while a real topic's id works."""
    missing = uuid.uuid4()
    async with p.connect(broker.bootstrap) as conn:
        topic_id = await p.create_topic(conn, "by-id")
        before = await p.topic_names(conn)
        response = await conn.request(p.metadata_v13_by_id([missing]), T)
        (topic,) = response.topics
        assert topic.error_code == ErrorCode.unknown_topic_id
        answer = p.only_partition(await conn.request(p.produce_v13(missing, 0, p.batch(1)), T))
        assert answer.error_code == ErrorCode.unknown_topic_id
        assert await p.topic_names(conn) == before
        assert await p.latest_offset(conn, "by-id") == 0
        answer = p.only_partition(await conn.request(p.produce_v13(topic_id, 0, p.batch(2)), T))
        assert (answer.error_code, answer.base_offset) == (ErrorCode.none, 0)
        assert await p.latest_offset(conn, "by-id") == 2


async def test_delete_unknown_topic(broker: DevNode) -> None:
    """DeleteTopics of a missing topic is UNKNOWN_TOPIC_OR_PARTITION and deletes nothing."""
    async with p.connect(broker.bootstrap) as conn:
        before = await p.topic_names(conn)
        response = await conn.request(p.delete_topics_v6(["no-such-topic"]), T)
        (result,) = response.responses
        assert result.error_code == ErrorCode.unknown_topic_or_partition
        assert await p.topic_names(conn) == before


# --- topic creation -----------------------------------------------------------------------


async def test_metadata_by_topic_id_before_v12(broker: DevNode) -> None:
    """Metadata v10-11 naming a topic by id alone (names are not nullable there) is
    answered as Kafka 4.4 answers it (INVALID_REQUEST for the topic, no brokers,
    no cluster id), on a connection that keeps serving; before, the answer could
    not be encoded and the connection was closed."""
    from kio.schema.metadata.v10.request import MetadataRequest, MetadataRequestTopic

    async with p.connect(broker.bootstrap) as conn:
        topic_id = uuid.uuid4()
        response = await conn.request(MetadataRequest(
            topics=(MetadataRequestTopic(topic_id=topic_id, name=None),),
            allow_auto_topic_creation=False, include_cluster_authorized_operations=False,
            include_topic_authorized_operations=False), T)
        (topic,) = response.topics
        assert (topic.error_code, topic.name, topic.topic_id) == (
            ErrorCode.invalid_request, "", topic_id)
        assert (response.brokers, response.cluster_id, response.controller_id) == ((), None, -1)
        assert await p.topic_names(conn) is not None  # the connection still serves


@pytest.mark.parametrize(("endpoint_type", "code", "message"), [
    (2, ErrorCode.mismatched_endpoint_type, "The request was sent to an endpoint of type "
     "BROKER, but we wanted an endpoint of type CONTROLLER"),
    (9, ErrorCode.unsupported_endpoint_type, "Unsupported endpoint type 9"),
])
async def test_describe_cluster_other_endpoint_type(broker: DevNode, endpoint_type: int,
                                                    code: ErrorCode, message: str) -> None:
    """DescribeCluster on the broker listener for controller endpoints, or an unknown
    type, gets Kafka 4.4's error and message, with the broker's own endpoint type."""
    from kio.schema.describe_cluster.v1.request import DescribeClusterRequest

    async with p.connect(broker.bootstrap) as conn:
        response = await conn.request(DescribeClusterRequest(
            include_cluster_authorized_operations=False, endpoint_type=endpoint_type), T)
        assert (response.error_code, response.error_message) == (code, message)
        assert (response.endpoint_type, response.brokers) == (1, ())


@pytest.mark.parametrize("name", INVALID_NAMES)
async def test_metadata_invalid_topic_name(auto_broker: DevNode, name: str) -> None:
    """Metadata for an illegal topic name, with auto-creation on, is
    INVALID_TOPIC_EXCEPTION and creates nothing."""
    async with p.connect(auto_broker.bootstrap) as conn:
        response = await conn.request(p.metadata_v12([name]), T)
        (topic,) = response.topics
        assert topic.error_code == ErrorCode.invalid_topic_exception
        assert name not in await p.topic_names(conn)


async def test_metadata_auto_creates_a_legal_name(auto_broker: DevNode) -> None:
    """On the auto-creation node a legal unknown name is created by Metadata (so the
    invalid-name answers above are not just 'unknown')."""
    async with p.connect(auto_broker.bootstrap) as conn:
        response = await conn.request(p.metadata_v12(["legal.auto-name"]), T)
        (topic,) = response.topics
        assert topic.error_code in (ErrorCode.none, ErrorCode.leader_not_available)
        assert "legal.auto-name" in await p.topic_names(conn)


@pytest.mark.parametrize("name", INVALID_NAMES)
async def test_create_topics_invalid_name(broker: DevNode, name: str) -> None:
    """CreateTopics of an illegal name is INVALID_TOPIC_EXCEPTION and creates nothing."""
    async with p.connect(broker.bootstrap) as conn:
        before = await p.topic_names(conn)
        response = await conn.request(p.create_topics_v7(name), T)
        (result,) = response.topics
        assert result.error_code == ErrorCode.invalid_topic_exception
        assert await p.topic_names(conn) == before


def _invalid_names() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(["", ".", ".."]),
        st.text(alphabet=LEGAL_CHARS, min_size=250, max_size=300),
        st.text(min_size=1, max_size=30).filter(lambda s: not LEGAL_NAME.fullmatch(s)),
    )


async def _create_invalid(bootstrap: str, name: str) -> None:
    async with p.connect(bootstrap) as conn:
        response = await conn.request(p.create_topics_v7(name), T)
        (result,) = response.topics
        assert result.error_code == ErrorCode.invalid_topic_exception, result
        assert name not in await p.topic_names(conn)


@given(name=_invalid_names())
def test_create_topics_rejects_every_illegal_name(broker: DevNode, name: str) -> None:
    """Any name that is empty, '.', '..', longer than 249 characters or has a
    character outside [a-zA-Z0-9._-] is refused with INVALID_TOPIC_EXCEPTION."""
    trio.run(_create_invalid, broker.bootstrap, name)


async def test_create_topics_name_collision(broker: DevNode) -> None:
    """A name differing from an existing topic's only in '.' versus '_' collides:
    INVALID_TOPIC_EXCEPTION, nothing created."""
    async with p.connect(broker.bootstrap) as conn:
        await p.create_topic(conn, "col.lide")
        response = await conn.request(p.create_topics_v7("col_lide"), T)
        (result,) = response.topics
        assert result.error_code == ErrorCode.invalid_topic_exception
        assert "col_lide" not in await p.topic_names(conn)


async def test_replication_factor_above_broker_count(broker: DevNode) -> None:
    """CreateTopics with replication factor 3 on a one-broker cluster is
    INVALID_REPLICATION_FACTOR and creates nothing."""
    async with p.connect(broker.bootstrap) as conn:
        response = await conn.request(p.create_topics_v7("rf3", replication_factor=3), T)
        (result,) = response.topics
        assert result.error_code == ErrorCode.invalid_replication_factor
        assert "rf3" not in await p.topic_names(conn)


# --- produce: records and acks ------------------------------------------------------------


async def test_batch_above_max_message_bytes(broker: DevNode) -> None:
    """A batch larger than the topic's max.message.bytes is MESSAGE_TOO_LARGE (log
    start offset -1, as Kafka answers a refused batch) and not written; a batch
    within the limit is."""
    async with p.connect(broker.bootstrap) as conn:
        await p.create_topic(conn, "small-messages", configs={"max.message.bytes": "1024"})
        big = p.batch(1, value_size=2000)
        assert len(big) > 1024
        answer = await _produce(conn, "small-messages", big)
        assert (answer.error_code, answer.log_start_offset) == (ErrorCode.message_too_large, -1)
        assert await p.latest_offset(conn, "small-messages") == 0
        answer = await _produce(conn, "small-messages", p.batch(1, value_size=500))
        assert (answer.error_code, answer.base_offset, answer.log_start_offset) == (
            ErrorCode.none, 0, 0)


async def test_records_above_segment_bytes(broker: DevNode) -> None:
    """A produce whose records exceed the topic's segment.bytes (but not
    max.message.bytes) is RECORD_LIST_TOO_LARGE and not written."""
    segment = 1 << 20
    configs = {"segment.bytes": str(segment), "max.message.bytes": str(4 << 20)}
    async with p.connect(broker.bootstrap) as conn:
        await p.create_topic(conn, "small-segments", configs=configs)
        answer = await _produce(conn, "small-segments", p.batch(3, value_size=400_000))
        assert answer.error_code == ErrorCode.record_list_too_large
        assert await p.latest_offset(conn, "small-segments") == 0
        answer = await _produce(conn, "small-segments", p.batch(2, value_size=400_000))
        assert (answer.error_code, answer.base_offset) == (ErrorCode.none, 0)


async def test_corrupt_crc(broker: DevNode) -> None:
    """A batch whose last byte was changed after its CRC was computed is
    CORRUPT_MESSAGE and not written; the intact batch then lands at offset 0."""
    async with p.connect(broker.bootstrap) as conn:
        await p.create_topic(conn, "corrupt")
        good = p.batch(2)
        bad = good[:-1] + bytes([good[-1] ^ 0x01])
        answer = await _produce(conn, "corrupt", bad)
        assert answer.error_code == ErrorCode.corrupt_message
        assert await p.latest_offset(conn, "corrupt") == 0
        answer = await _produce(conn, "corrupt", good)
        assert (answer.error_code, answer.base_offset) == (ErrorCode.none, 0)


CRC_BATCH = p.batch(3, prefix="crc")


ATTRIBUTES_LOW_BYTE = 22  # of the batch's int16 attributes (bit 4: transactional)
TRANSACTIONAL = 0x10


async def _produce_flipped(bootstrap: str, position: int, xor: int) -> None:
    data = bytearray(CRC_BATCH)
    data[position] ^= xor
    # Kafka reads the transactional flag before it checks the CRC: a batch that
    # now claims to be transactional, sent without a transactional id, is
    # refused for that first.
    expected = (ErrorCode.transactional_id_authorization_failed
                if position == ATTRIBUTES_LOW_BYTE and xor & TRANSACTIONAL
                else ErrorCode.corrupt_message)
    async with p.connect(bootstrap) as conn:
        answer = await _produce(conn, CRC_TOPIC, bytes(data))
        assert answer.error_code == expected, answer
        assert await p.latest_offset(conn, CRC_TOPIC) == 0


@given(position=st.integers(17, len(CRC_BATCH) - 1), xor=st.integers(1, 255))
def test_any_change_under_the_crc_is_corrupt_message(
    broker: DevNode, position: int, xor: int
) -> None:
    """Changing any byte from the CRC field to the batch's end gives
    CORRUPT_MESSAGE (TRANSACTIONAL_ID_AUTHORIZATION_FAILED if it sets the
    transactional flag, as Kafka) and writes nothing."""
    trio.run(_produce_flipped, broker.bootstrap, position, xor)


@pytest.mark.parametrize("records", [p.batch(1) + p.batch(1, start=1), b""],
                         ids=["two batches", "no batch"])
async def test_not_exactly_one_batch(broker: DevNode, records: bytes) -> None:
    """Produce v3+ carries exactly one batch per partition: two batches, or none,
    is INVALID_RECORD and nothing is written."""
    async with p.connect(broker.bootstrap) as conn:
        topic = f"one-batch-{len(records)}"
        await p.create_topic(conn, topic)
        answer = await _produce(conn, topic, records)
        assert answer.error_code == ErrorCode.invalid_record
        assert await p.latest_offset(conn, topic) == 0


@pytest.mark.parametrize("acks", [2, -2, 5])
async def test_invalid_required_acks(broker: DevNode, acks: int) -> None:
    """acks other than 0, 1 and -1 is INVALID_REQUIRED_ACKS and nothing is written."""
    async with p.connect(broker.bootstrap) as conn:
        topic = f"acks{acks}"
        await p.create_topic(conn, topic)
        answer = await _produce(conn, topic, p.batch(1), acks=acks)
        assert answer.error_code == ErrorCode.invalid_required_acks
        assert await p.latest_offset(conn, topic) == 0


async def test_acks_all_below_min_insync_replicas(broker: DevNode) -> None:
    """acks=all with min.insync.replicas=2 on one broker is NOT_ENOUGH_REPLICAS and
    writes nothing; acks=1 ignores min.insync.replicas and is written."""
    async with p.connect(broker.bootstrap) as conn:
        await p.create_topic(conn, "isr2", configs={"min.insync.replicas": "2"})
        answer = await _produce(conn, "isr2", p.batch(2), acks=-1)
        assert answer.error_code == ErrorCode.not_enough_replicas
        assert await p.latest_offset(conn, "isr2") == 0
        answer = await _produce(conn, "isr2", p.batch(2), acks=1)
        assert (answer.error_code, answer.base_offset) == (ErrorCode.none, 0)
        assert [r.value for r in await p.read_all(conn, "isr2")] == p.values(2)


# --- leader epochs and offsets ---------------------------------------------------------------


def _epoch_request(api: str, current_leader_epoch: int) -> Any:
    if api == "Fetch":
        return p.fetch_v12(EPOCHS_TOPIC, 0, 0, current_leader_epoch=current_leader_epoch)
    if api == "ListOffsets":
        return p.list_offsets_v7(EPOCHS_TOPIC, 0, current_leader_epoch=current_leader_epoch)
    return p.offset_for_leader_epoch_v4(EPOCHS_TOPIC, 0, 0,
                                        current_leader_epoch=current_leader_epoch)


@pytest.mark.parametrize("api", ["Fetch", "ListOffsets", "OffsetForLeaderEpoch"])
async def test_current_leader_epoch_checked(broker: DevNode, api: str) -> None:
    """A current leader epoch below the partition's is FENCED_LEADER_EPOCH, above it
    UNKNOWN_LEADER_EPOCH; the partition's own epoch is answered normally."""
    async with p.connect(broker.bootstrap) as conn:
        epoch = await p.leader_epoch(conn, EPOCHS_TOPIC)
        assert epoch >= 1, "the restart in the fixture should have moved the epoch"
        expected = {
            epoch - 1: ErrorCode.fenced_leader_epoch,
            0: ErrorCode.fenced_leader_epoch,
            epoch + 1: ErrorCode.unknown_leader_epoch,
            epoch + 100: ErrorCode.unknown_leader_epoch,
            epoch: ErrorCode.none,
        }
        got = {}
        for current in expected:
            answer = p.only_partition(await conn.request(_epoch_request(api, current), T))
            got[current] = answer.error_code
        assert got == expected
        assert await p.latest_offset(conn, EPOCHS_TOPIC) == 3


async def test_list_offsets_special_timestamps_by_version(broker: DevNode) -> None:
    """ListOffsets v1 answers latest; v7 answers the special timestamps it knows (-1 latest, -2
    earliest, -3 max timestamp) and, as Kafka, UNSUPPORTED_VERSION for those
    introduced later (-4 earliest-local v8, -5 latest-tiered v9, -6 v11) and for
    any other negative timestamp."""
    async with p.connect(broker.bootstrap) as conn:
        await p.create_topic(conn, "specials")
        await _produce(conn, "specials", p.batch(2))
        got = {}
        for timestamp in (-1, -2, -3, -4, -5, -6, -7, -100):
            request = p.list_offsets_v7("specials", 0, timestamp)
            answer = p.only_partition(await conn.request(request, T))
            got[timestamp] = (answer.error_code, answer.offset)
        # v1 (no isolation level in the request) answers the plain timestamps.
        from kio.schema.list_offsets.v1 import request as v1

        request = v1.ListOffsetsRequest(replica_id=-1, topics=(v1.ListOffsetsTopic(
            name="specials", partitions=(v1.ListOffsetsPartition(partition_index=0,
                                                                 timestamp=-1),)),))
        assert p.only_partition(await conn.request(request, T)).offset == 2
        unsupported = (ErrorCode.unsupported_version, -1)
        assert got == {-1: (ErrorCode.none, 2), -2: (ErrorCode.none, 0),
                       -3: (ErrorCode.none, 0),  # one timestamp: the first record
                       -4: unsupported, -5: unsupported,
                       -6: unsupported, -7: unsupported, -100: unsupported}


async def test_fetch_offset_out_of_range(broker: DevNode) -> None:
    """A fetch offset past the log end offset or below the log start offset is
    OFFSET_OUT_OF_RANGE with no records and, as Kafka, -1 for the high watermark,
    last stable and log start offsets and null aborted transactions; the
    log end offset itself is an empty read; a last fetched epoch newer than any
    in the log is OFFSET_OUT_OF_RANGE too (no end offset to diverge from)."""
    async with p.connect(broker.bootstrap) as conn:
        topic_id = await p.create_topic(conn, "range")
        await _produce(conn, "range", p.batch(3))
        got = {}
        for offset in (4, 1000, -1, 3):
            answer = p.only_partition(await conn.request(p.fetch_v12("range", 0, offset), T))
            got[offset] = (answer.error_code, answer.records, answer.high_watermark,
                           answer.last_stable_offset, answer.log_start_offset,
                           answer.aborted_transactions)
        # An empty record set, never null: librdkafka fails to parse a null one and
        # then never sees the error (so it would never reset its offset).
        out_of_range = (ErrorCode.offset_out_of_range, b"", -1, -1, -1, None)
        assert got == {
            4: out_of_range,
            1000: out_of_range,
            -1: out_of_range,
            3: (ErrorCode.none, b"", 3, 3, 0, None),
        }
        epoch = await p.leader_epoch(conn, "range")
        answers = {}
        for last_fetched in (epoch, epoch + 3):
            request = p.fetch_v16(topic_id, 0, 3, last_fetched_epoch=last_fetched)
            answers[last_fetched] = p.only_partition(await conn.request(request, T)).error_code
        assert answers == {epoch: ErrorCode.none, epoch + 3: ErrorCode.offset_out_of_range}


# --- garbage on the wire --------------------------------------------------------------------


def _random_frame(size: int, seed: int) -> bytes:
    body = bytearray(random.Random(seed).randbytes(size))
    body[0:2] = b"\x7f\x00"  # api key 32512: no such API, so no answer is possible
    return frame(body)


GARBAGE: dict[str, Callable[[], bytes]] = {
    "random frame": lambda: _random_frame(64, 1),
    "random large frame": lambda: _random_frame(200_000, 2),
    "random header of a real api": lambda: frame(b"\x00\x00\x00\x09" + bytes(range(60))),
    "frame claiming 2 GB": lambda: struct.pack(">i", 2**31 - 1) + b"x" * 1000,
    "frame above socket.request.max.bytes": lambda: struct.pack(">i", 104857601) + b"x" * 10,
    "negative frame size": lambda: struct.pack(">i", -7) + b"x" * 10,
}


async def _closed_by_peer(stream: trio.SocketStream) -> bool:
    """Wait for the broker to close the connection; False if it sent bytes instead."""
    try:
        data = await stream.receive_some(65536)
    except trio.BrokenResourceError:
        return True  # reset: the broker closed with our bytes unread
    return not data


@pytest.mark.parametrize("kind", list(GARBAGE))
async def test_garbage_closes_only_that_connection(broker: DevNode, kind: str) -> None:
    """Garbage bytes close only the connection that sent them: a client connected
    before keeps producing and reading, new clients connect, the process stays up."""
    async with p.connect(broker.bootstrap) as healthy:
        before = await p.latest_offset(healthy, GARBAGE_TOPIC)
        stream = await trio.open_tcp_stream(*p.address(broker.bootstrap))
        try:
            # The broker may close while we are still sending: what we want.
            with contextlib.suppress(trio.BrokenResourceError):
                await stream.send_all(GARBAGE[kind]())
            with trio.fail_after(T):
                assert await _closed_by_peer(stream), "the broker answered garbage"
        finally:
            await stream.aclose()
        answer = await _produce(healthy, GARBAGE_TOPIC, p.batch(1, prefix=kind))
        assert (answer.error_code, answer.base_offset) == (ErrorCode.none, before)
        records = await p.read_all(healthy, GARBAGE_TOPIC)
        assert records[-1].value == f"{kind}-0".encode()
    async with p.connect(broker.bootstrap) as fresh:
        assert await p.latest_offset(fresh, GARBAGE_TOPIC) == before + 1
    _alive(broker)


async def _send_fuzz(bootstrap: str, payload: bytes) -> None:
    stream = await trio.open_tcp_stream(*p.address(bootstrap))
    try:
        await stream.send_all(frame(payload))
        # The broker either answers (the bytes happened to be a request) or closes.
        with trio.move_on_after(2):
            await stream.receive_some(65536)
    except trio.BrokenResourceError:
        pass
    finally:
        await stream.aclose()
    async with p.connect(bootstrap) as conn:
        assert GARBAGE_TOPIC in await p.topic_names(conn)


@given(payload=st.binary(max_size=300))
def test_any_frame_leaves_the_broker_serving(broker: DevNode, payload: bytes) -> None:
    """Whatever bytes a well-sized frame holds, the broker keeps serving new
    connections and the process stays up."""
    trio.run(_send_fuzz, broker.bootstrap, payload)
    _alive(broker)


# --- a partition led by another broker ---------------------------------------------------------


class BrokerOnlyNode:
    """`kraft format` + `kraft start` of a broker-only node joining a dev node's quorum."""

    def __init__(self, dev: DevNode, root: Path, node_id: int = 2) -> None:
        self.dev = dev
        self.root = root
        self.node_id = node_id
        self.port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> BrokerOnlyNode:
        root = self.root
        root.mkdir(parents=True, exist_ok=True)
        meta = meta_properties.read(self.dev.data_dir)
        assert meta is not None
        props = root / "server.properties"
        props.write_text("\n".join([
            f"node.id={self.node_id}",
            "process.roles=broker",
            f"controller.quorum.voters=1@127.0.0.1:{self.dev.controller_port}",
            f"listeners=PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names=CONTROLLER",
            f"log.dirs={root / 'data'}",
        ]) + "\n")
        cli = [sys.executable, "-m", "kraft.cli"]
        subprocess.run([*cli, "format", "-c", str(props), "-t", meta.cluster_id],
                       check=True, capture_output=True)
        with open(root / "stdout.log", "wb") as out, open(root / "stderr.log", "wb") as err:
            self.proc = subprocess.Popen([*cli, "start", str(props)], stdout=out, stderr=err)
        deadline = time.monotonic() + 30
        while "ready" not in (root / "stdout.log").read_text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"node {self.node_id} did not start:\n"
                                   f"{(root / 'stderr.log').read_text()[-3000:]}")
            time.sleep(0.05)
        return self

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


@pytest.fixture
def two_brokers(dev_factory: Any, tmp_path: Path) -> Iterator[tuple[DevNode, BrokerOnlyNode]]:
    """A dev node (broker + controller, node 1) and a broker-only node 2 in its cluster."""
    dev = dev_factory("auto.create.topics.enable=false")
    other = BrokerOnlyNode(dev, tmp_path / "node2")
    try:
        yield dev, other.start()
    finally:
        other.close()


async def test_not_leader_or_follower(two_brokers: tuple[DevNode, BrokerOnlyNode]) -> None:
    """Produce, Fetch, ListOffsets and OffsetForLeaderEpoch sent to a broker that
    does not lead the partition are NOT_LEADER_OR_FOLLOWER (Produce v10+ and Fetch
    v16+ naming the real leader and its endpoint, KIP-951); nothing is written, and
    the leader itself accepts the produce."""
    dev, other = two_brokers
    topic = "led-by-2"
    async with p.connect(dev.bootstrap) as conn:
        topic_id = await p.create_topic(conn, topic, partitions=-1, replication_factor=-1,
                                        assignments={0: [2]})
        produced = await conn.request(p.produce_v12(topic, 0, p.batch(1)), T)
        answer = p.only_partition(produced)
        assert answer.error_code == ErrorCode.not_leader_or_follower
        # KIP-951: the real leader, and its endpoint on this listener.
        assert answer.current_leader.leader_id == 2
        assert [(n.node_id, n.port) for n in produced.node_endpoints] == [(2, other.port)]
        got = {}
        for name, request in {
            "Fetch": p.fetch_v12(topic, 0, 0),
            "ListOffsets": p.list_offsets_v7(topic, 0),
            "OffsetForLeaderEpoch": p.offset_for_leader_epoch_v4(topic, 0, 0),
        }.items():
            got[name] = p.only_partition(await conn.request(request, T)).error_code
        assert got == dict.fromkeys(got, ErrorCode.not_leader_or_follower)
        fetched = await conn.request(p.fetch_v16(topic_id, 0, 0), T)
        hint = p.only_partition(fetched).current_leader
        assert (hint.leader_id, hint.leader_epoch) == (2, await p.leader_epoch(conn, topic))
        assert [(n.node_id, n.port) for n in fetched.node_endpoints] == [(2, other.port)]
    async with p.connect(other.bootstrap) as leader:
        assert await p.latest_offset(leader, topic) == 0
        answer = await _produce(leader, topic, p.batch(2))
        assert (answer.error_code, answer.base_offset) == (ErrorCode.none, 0)
        assert [r.value for r in await p.read_all(leader, topic)] == p.values(2)


async def test_fetch_session_over_the_wire(broker: DevNode) -> None:
    """KIP-227 with Fetch v12: an INITIAL request opens a session and is answered in
    full; an incremental one naming nothing answers only partitions with news; a
    wrong epoch or unknown session id is refused as a whole."""
    async with p.connect(broker.bootstrap) as conn:
        await p.create_topic(conn, "sessions", partitions=2)
        await _produce(conn, "sessions", p.batch(2))  # partition 0
        full = p.fetch_v12("sessions", 0, 0)
        at_zero = full.topics[0].partitions[0]
        two = (at_zero, dataclasses.replace(at_zero, partition=1))
        opening = dataclasses.replace(
            full, session_id=0, session_epoch=0,
            topics=(dataclasses.replace(full.topics[0], partitions=two),))
        answer = await conn.request(opening, T)
        assert answer.error_code == ErrorCode.none and answer.session_id != 0
        assert sorted(q.partition_index for q in answer.responses[0].partitions) == [0, 1]
        sid = answer.session_id

        def next_request(epoch: int, session_id: int = sid, topics: Any = ()) -> Any:
            return dataclasses.replace(full, session_id=session_id, session_epoch=epoch,
                                       topics=topics)

        # The client read partition 0's two records: it sends only that new offset.
        moved = (dataclasses.replace(full.topics[0], partitions=(
            dataclasses.replace(at_zero, fetch_offset=2),)),)
        quiet = await conn.request(next_request(1, topics=moved), T)
        assert (quiet.error_code, quiet.session_id, quiet.responses) == (ErrorCode.none, sid, ())
        produced = await conn.request(p.produce_v12("sessions", 1, p.batch(1)), T)
        assert p.only_partition(produced).error_code == ErrorCode.none
        news = await conn.request(next_request(2), T)
        assert [(t.topic, [q.partition_index for q in t.partitions]) for t in news.responses] \
            == [("sessions", [1])]
        wrong = await conn.request(next_request(5), T)
        assert (wrong.error_code, wrong.responses) == (
            ErrorCode.invalid_fetch_session_epoch, ())
        unknown = await conn.request(next_request(1, sid + 1), T)
        assert unknown.error_code == ErrorCode.fetch_session_id_not_found


# --- broker loggers and other brokers' ids (answered by the broker itself) -----------------


def _alter(*resources: tuple[int, str, list[tuple[str, int, str | None]]]) -> Any:
    from kio.schema.incremental_alter_configs.v1 import request as iac

    return iac.IncrementalAlterConfigsRequest(validate_only=False, resources=tuple(
        iac.AlterConfigsResource(resource_type=kind, resource_name=name, configs=tuple(
            iac.AlterableConfig(name=key, config_operation=op, value=value)
            for key, op, value in configs))
        for kind, name, configs in resources))


async def _logger_levels(conn: Connection, *names: str) -> dict[str, str]:
    from kio.schema.describe_configs.v4 import request as dc

    answer = await conn.request(dc.DescribeConfigsRequest(resources=(dc.DescribeConfigsResource(
        resource_type=BROKER_LOGGER, resource_name="1", configuration_keys=names),),
        include_synonyms=False, include_documentation=False), T)
    (result,) = answer.results
    assert result.error_code == ErrorCode.none, result
    assert all(c.config_source == 6 for c in result.configs)
    # Kafka's: "" (the field's default) even when documentation was not asked for
    assert all(c.documentation == "" for c in result.configs)
    return {c.name: c.value for c in result.configs}


BROKER_LOGGER, SET, DELETE, APPEND = 8, 0, 1, 2


async def test_broker_loggers(broker: DevNode) -> None:
    """`kafka-configs --entity-type broker-loggers` as Kafka: DescribeConfigs lists root
    and kraft's loggers with Kafka's level names; IncrementalAlterConfigs sets a level
    (answered by this broker, even beside a resource it forwards, in request order),
    DELETE gives it back to its parent; an unknown logger or level, DELETE of root,
    APPEND and another broker's id are refused with Kafka's codes and messages."""
    async with p.connect(broker.bootstrap) as conn:
        await p.create_topic(conn, "loggers-beside")
        before = await _logger_levels(conn, "root", "kraft.broker")
        assert before == {"root": "INFO", "kraft.broker": "INFO"}
        mixed = await conn.request(_alter(
            (BROKER_LOGGER, "1", [("kraft.broker", SET, "DEBUG")]),
            (2, "loggers-beside", [("retention.ms", SET, "86400000")])), T)
        assert [(r.resource_type, r.error_code) for r in mixed.responses] == [
            (BROKER_LOGGER, ErrorCode.none), (2, ErrorCode.none)]
        assert await _logger_levels(conn, "kraft.broker") == {"kraft.broker": "DEBUG"}
        reset = await conn.request(
            _alter((BROKER_LOGGER, "1", [("kraft.broker", DELETE, None)])), T)
        assert reset.responses[0].error_code == ErrorCode.none
        assert await _logger_levels(conn, "kraft.broker") == {"kraft.broker": "INFO"}
        refusals = {}
        for label, resource in {
            "unknown logger": (BROKER_LOGGER, "1", [("kafka.server", SET, "DEBUG")]),
            "bad level": (BROKER_LOGGER, "1", [("root", SET, "LOUD")]),
            "delete root": (BROKER_LOGGER, "1", [("root", DELETE, None)]),
            "append": (BROKER_LOGGER, "1", [("root", APPEND, "DEBUG")]),
            "other broker": (4, "2", [("log.cleaner.threads", SET, "2")]),
        }.items():
            (answer,) = (await conn.request(_alter(resource), T)).responses
            refusals[label] = (answer.error_code, answer.error_message)
        assert refusals == {
            "unknown logger": (ErrorCode.invalid_config, "Logger kafka.server does not exist!"),
            "bad level": (ErrorCode.invalid_config,
                          "Cannot set the log level of root to LOUD as it is not a supported "
                          "log level. Valid log levels are DEBUG, ERROR, FATAL, INFO, TRACE, "
                          "WARN"),
            "delete root": (ErrorCode.invalid_request,
                            "Removing the log level of the root logger is not allowed"),
            "append": (ErrorCode.invalid_request,
                       "APPEND operation is not allowed for the BROKER_LOGGER resource"),
            "other broker": (ErrorCode.invalid_request,
                             "Unexpected broker id, expected 1, but received 2"),
        }
        assert await _logger_levels(conn, "root") == {"root": "INFO"}
