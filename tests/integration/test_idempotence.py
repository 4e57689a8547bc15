"""Idempotent produce against a real `kraft dev` process: a retried batch is written once.

An idempotent producer stamps each batch with its producer id, producer
epoch and base sequence; the partition leader remembers the last five
batches of every producer id, so a retry of one of them (the response was
lost, the connection broke) is answered with the original batch's offsets
and not written again, a gap in the sequence is OUT_OF_ORDER_SEQUENCE_NUMBER,
and a batch from an epoch older than the producer id's newest is
INVALID_PRODUCER_EPOCH. That state is rebuilt from the log (or its snapshot)
when the broker restarts, so a retry that crosses a restart is still a
duplicate.

The protocol-level tests build the batches themselves (tests/integration/
protocol.py) and retry on a new connection, as a client does after a broken
connection; each then reads the whole partition back and checks that every
value is there exactly once. The client tests run kafka-python and
librdkafka (confluent-kafka) with idempotence on through a broker restart
(SIGTERM, and SIGKILL which leaves no producer-state snapshot) and check
that the partition holds every value once, in order, with consecutive
offsets.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import confluent_kafka
import kafka
import pytest
import trio
from kio.schema.errors import ErrorCode

from kraft.net.client import Connection
from tests.integration import protocol as p
from tests.integration.dev import DevNode

T = p.TIMEOUT_S
TOPIC = "idem"
# After SIGKILL the restarted node's registration is refused (DUPLICATE_BROKER_
# REGISTRATION, as in Kafka) until the old broker session times out; a short
# session keeps the restart tests quick.
SHORT_SESSION = ("broker.session.timeout.ms=2000", "broker.heartbeat.interval.ms=500")


async def _init_producer(conn: Connection) -> tuple[int, int]:
    response = await conn.request(p.init_producer_id_v4(), T)
    assert response.error_code == ErrorCode.none, response
    assert response.producer_id >= 0
    return response.producer_id, response.producer_epoch


def _idempotent(pid: int, epoch: int, seq: int, count: int) -> bytes:
    """A batch of `count` records with values v-seq .. v-(seq+count-1)."""
    return p.batch(count, start=seq, producer_id=pid, producer_epoch=epoch, base_sequence=seq)


async def _send(bootstrap: str, records: bytes) -> tuple[ErrorCode, int]:
    """Produce (acks=all) on a new connection, as a client retrying after a broken one."""
    answer = p.only_partition(await p.call(bootstrap, p.produce_v12(TOPIC, 0, records)))
    return answer.error_code, answer.base_offset


async def _values(bootstrap: str, topic: str = TOPIC) -> list[bytes | None]:
    async with p.connect(bootstrap) as conn:
        records = await p.read_all(conn, topic)
    assert [r.offset for r in records] == list(range(len(records))), "offsets not consecutive"
    return [r.value for r in records]


async def test_retry_after_dropped_response_is_written_once(dev_node: DevNode) -> None:
    """A produce whose connection broke before the answer, sent again on a new
    connection, is answered with the same base offset and written once."""
    bootstrap = dev_node.bootstrap
    async with p.connect(bootstrap) as conn:
        await p.create_topic(conn, TOPIC)
        pid, epoch = await _init_producer(conn)
        request = p.produce_v12(TOPIC, 0, _idempotent(pid, epoch, 0, 3))
        await p.send_and_drop(bootstrap, request)
        # Kafka handles a request whose client has gone; wait until it is in the log
        # so that the retry below meets it as a duplicate.
        with trio.fail_after(T):
            while await p.latest_offset(conn, TOPIC) < 3:
                await trio.sleep(0.01)
    answer = p.only_partition(await p.call(bootstrap, request))
    assert (answer.error_code, answer.base_offset) == (ErrorCode.none, 0)
    assert await _send(bootstrap, _idempotent(pid, epoch, 3, 2)) == (ErrorCode.none, 3)
    assert await _values(bootstrap) == p.values(5)


async def test_retries_of_the_last_five_batches(dev_node: DevNode) -> None:
    """A retry of any of a producer's last five batches answers that batch's original
    base offset and writes nothing; a retry of an older batch is
    OUT_OF_ORDER_SEQUENCE_NUMBER."""
    bootstrap = dev_node.bootstrap
    async with p.connect(bootstrap) as conn:
        await p.create_topic(conn, TOPIC)
        pid, epoch = await _init_producer(conn)
    # One plain record first, so offsets differ from sequences.
    assert await _send(bootstrap, p.batch(1, prefix="plain")) == (ErrorCode.none, 0)
    sequences = list(range(0, 14, 2))  # seven batches of two records
    originals = {}
    for seq in sequences:
        error, offset = await _send(bootstrap, _idempotent(pid, epoch, seq, 2))
        assert error == ErrorCode.none
        originals[seq] = offset
    assert originals == {seq: seq + 1 for seq in sequences}
    got = {seq: await _send(bootstrap, _idempotent(pid, epoch, seq, 2)) for seq in sequences}
    expected = {seq: (ErrorCode.none, originals[seq]) for seq in sequences[-5:]}
    expected |= {seq: (ErrorCode.out_of_order_sequence_number, -1) for seq in sequences[:-5]}
    assert got == expected
    assert await _values(bootstrap) == [b"plain-0", *p.values(14)]


async def test_sequence_gap_is_out_of_order(dev_node: DevNode) -> None:
    """A batch whose base sequence is not the producer's next one (ahead, or inside a
    written batch) is OUT_OF_ORDER_SEQUENCE_NUMBER and not written; the next
    sequence is accepted afterwards."""
    bootstrap = dev_node.bootstrap
    async with p.connect(bootstrap) as conn:
        await p.create_topic(conn, TOPIC)
        pid, epoch = await _init_producer(conn)
    assert await _send(bootstrap, _idempotent(pid, epoch, 0, 3)) == (ErrorCode.none, 0)
    for seq in (4, 100, 1):
        error, _ = await _send(bootstrap, _idempotent(pid, epoch, seq, 2))
        assert error == ErrorCode.out_of_order_sequence_number, seq
    assert await _values(bootstrap) == p.values(3)
    assert await _send(bootstrap, _idempotent(pid, epoch, 3, 2)) == (ErrorCode.none, 3)
    assert await _values(bootstrap) == p.values(5)


async def test_older_producer_epoch_is_fenced(dev_node: DevNode) -> None:
    """Once a producer id has written with epoch 1, batches with epoch 0 (new or a
    retry) are INVALID_PRODUCER_EPOCH and not written; a newer epoch must start
    at sequence 0 (else OUT_OF_ORDER_SEQUENCE_NUMBER)."""
    bootstrap = dev_node.bootstrap
    async with p.connect(bootstrap) as conn:
        await p.create_topic(conn, TOPIC)
        pid, _ = await _init_producer(conn)
    first = p.batch(2, prefix="e0", producer_id=pid, producer_epoch=0, base_sequence=0)
    assert await _send(bootstrap, first) == (ErrorCode.none, 0)
    bumped = p.batch(2, prefix="e1", producer_id=pid, producer_epoch=1, base_sequence=0)
    assert await _send(bootstrap, bumped) == (ErrorCode.none, 2)
    stale_next = p.batch(2, prefix="e0", start=2, producer_id=pid, producer_epoch=0,
                         base_sequence=2)
    assert (await _send(bootstrap, stale_next))[0] == ErrorCode.invalid_producer_epoch
    assert (await _send(bootstrap, first))[0] == ErrorCode.invalid_producer_epoch
    late_bump = p.batch(2, prefix="e2", producer_id=pid, producer_epoch=2, base_sequence=5)
    assert (await _send(bootstrap, late_bump))[0] == ErrorCode.out_of_order_sequence_number
    assert await _values(bootstrap) == [*p.values(2, "e0"), *p.values(2, "e1")]


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
async def test_producer_state_survives_restart(
    dev_factory: Any, tmp_path: Path, how: str
) -> None:
    """After a restart on the same data directory (clean, or killed without a
    producer-state snapshot) retries of a producer's batches are still duplicates
    answered with their original offsets, and its sequence still continues."""
    node: DevNode = dev_factory(*SHORT_SESSION, data_dir=tmp_path / "kept")
    bootstrap = node.bootstrap
    async with p.connect(bootstrap) as conn:
        await p.create_topic(conn, TOPIC)
        pid, epoch = await _init_producer(conn)
    assert await _send(bootstrap, _idempotent(pid, epoch, 0, 3)) == (ErrorCode.none, 0)
    assert await _send(bootstrap, _idempotent(pid, epoch, 3, 2)) == (ErrorCode.none, 3)
    if how == "SIGTERM":
        node.stop()
    else:
        node.kill()
    node.start()
    assert await _send(bootstrap, _idempotent(pid, epoch, 3, 2)) == (ErrorCode.none, 3)
    assert await _send(bootstrap, _idempotent(pid, epoch, 0, 3)) == (ErrorCode.none, 0)
    error, _ = await _send(bootstrap, _idempotent(pid, epoch, 9, 1))
    assert error == ErrorCode.out_of_order_sequence_number
    assert await _send(bootstrap, _idempotent(pid, epoch, 5, 1)) == (ErrorCode.none, 5)
    assert await _values(bootstrap) == p.values(6)


# --- real clients through a restart ------------------------------------------------------

# Many small batches keep several produce requests in flight (max 5 per
# connection) when the broker goes down, so some are written but unanswered and
# come back as retries; without idempotence this reorders or duplicates records.
CLIENT_RECORDS = 20_000
BATCH_BYTES = 256
PACE_S = 0.0001  # between sends, so the stream still runs when the broker restarts


async def _create(bootstrap: str, topic: str) -> None:
    async with p.connect(bootstrap) as conn:
        await p.create_topic(conn, topic)


async def _wait_for_offset(bootstrap: str, topic: str, offset: int) -> None:
    with trio.fail_after(60):
        while True:
            async with p.connect(bootstrap) as conn:
                if await p.latest_offset(conn, topic) >= offset:
                    return
            await trio.sleep(0.01)


def _produce_through_restart(
    node: DevNode, how: str, topic: str, send: Callable[[int], None]
) -> None:
    """Call `send(i)` for every value from a thread; once a third of them is in the
    log, restart the broker (SIGTERM or SIGKILL) while the stream goes on."""
    failures: list[BaseException] = []

    def stream() -> None:
        try:
            for i in range(CLIENT_RECORDS):
                send(i)
                time.sleep(PACE_S)
        except BaseException as e:  # reported by the test thread
            failures.append(e)

    sender = threading.Thread(target=stream, daemon=True)
    sender.start()
    trio.run(_wait_for_offset, node.bootstrap, topic, CLIENT_RECORDS // 3)
    if how == "SIGTERM":
        node.stop()
    else:
        node.kill()
    node.start()
    sender.join(120)
    assert not sender.is_alive()
    assert failures == []


def _check_exactly_once(node: DevNode, topic: str) -> None:
    values = trio.run(_values, node.bootstrap, topic)
    expected = [str(i).encode() for i in range(CLIENT_RECORDS)]
    duplicates = len(values) - len(set(values))
    missing = sorted(set(expected) - set(values), key=int)[:10]
    assert (duplicates, missing) == (0, []), f"{duplicates} duplicates, missing {missing}"
    assert values == expected


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_kafka_python_idempotent_across_restart(
    dev_factory: Any, tmp_path: Path, how: str
) -> None:
    """kafka-python with enable_idempotence produces through a broker restart in
    mid-stream; the partition holds every value exactly once, in order."""
    node: DevNode = dev_factory(*SHORT_SESSION, data_dir=tmp_path / "kept")
    topic = "restart-kafka-python"
    trio.run(_create, node.bootstrap, topic)
    producer = kafka.KafkaProducer(
        bootstrap_servers=node.bootstrap, enable_idempotence=True, acks="all", linger_ms=2,
        batch_size=BATCH_BYTES, reconnect_backoff_max_ms=500,
    )
    futures: list[Any] = []
    try:
        _produce_through_restart(
            node, how, topic, lambda i: futures.append(producer.send(topic, str(i).encode()))
        )
        producer.flush(60)
        for future in futures:
            future.get(timeout=60)
    finally:
        producer.close(10)
    _check_exactly_once(node, topic)


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_confluent_kafka_idempotent_across_restart(
    dev_factory: Any, tmp_path: Path, how: str
) -> None:
    """librdkafka with enable.idempotence produces through a broker restart in
    mid-stream; the partition holds every value exactly once, in order."""
    node: DevNode = dev_factory(*SHORT_SESSION, data_dir=tmp_path / "kept")
    topic = "restart-confluent"
    trio.run(_create, node.bootstrap, topic)
    producer = confluent_kafka.Producer({
        "bootstrap.servers": node.bootstrap, "enable.idempotence": True, "linger.ms": 2,
        "batch.size": BATCH_BYTES, "reconnect.backoff.max.ms": 500,
    })
    errors: list[Any] = []

    def on_delivery(error: Any, _message: Any) -> None:
        if error is not None:
            errors.append(error)

    def send(i: int) -> None:
        producer.produce(topic, str(i).encode(), on_delivery=on_delivery)
        producer.poll(0)

    _produce_through_restart(node, how, topic, send)
    assert producer.flush(60) == 0
    assert errors == []
    _check_exactly_once(node, topic)


def test_describe_producers_lists_the_idempotent_producer(dev_node: DevNode) -> None:
    """DescribeProducers (kafka-python's describe_producers) reports the producer id,
    epoch and last sequence the partition leader tracks for an idempotent producer."""
    topic = "described"
    trio.run(_create, dev_node.bootstrap, topic)
    producer = kafka.KafkaProducer(bootstrap_servers=dev_node.bootstrap,
                                   enable_idempotence=True, acks="all")
    try:
        for i in range(25):
            producer.send(topic, str(i).encode(), partition=0)
        producer.flush(30)
    finally:
        producer.close(10)
    admin = kafka.KafkaAdminClient(bootstrap_servers=dev_node.bootstrap)
    try:
        tp = kafka.TopicPartition(topic, 0)
        (state,) = admin.describe_producers([tp]).values()
    finally:
        admin.close()
    (entry,) = state.active_producers
    assert entry.producer_id >= 0  # the one producer that wrote: its 25 records end at 24
    assert (entry.producer_epoch, entry.last_sequence) == (0, 24)
    assert entry.current_transaction_start_offset == -1 and entry.last_timestamp > 0
