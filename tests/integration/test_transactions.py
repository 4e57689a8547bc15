"""Transactions against a real `kraft dev` process (KIP-98, KIP-447).

The first test plays the transaction coordinator's part by hand (Produce with
a transactional id, then WriteTxnMarkers) to check the partition side: the
last stable offset in ListOffsets and Fetch, the aborted transactions a
read_committed Fetch lists, and librdkafka consumers of both isolation levels
reading exactly what Kafka's would. The others go through our coordinator
with real clients: confluent-kafka's and kafka-python's transactional
producers (commit, abort), send_offsets_to_transaction, zombie fencing by a
second instance, a timed-out transaction aborted by the coordinator, an open
transaction surviving kill -9, DescribeTransactions / ListTransactions,
Kafka's error codes for bad transactional requests, KIP-890 verification of
TxnOffsetCommit, and compaction of a
topic holding committed and aborted transactions.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import confluent_kafka
import pytest
from kio.schema.errors import ErrorCode
from kio.schema.fetch.v12 import request as fetch_v12
from kio.schema.list_offsets.v7 import request as list_offsets_v7
from kio.schema.produce.v10 import request as produce_v10
from kio.schema.produce.v11 import request as produce_v11
from kio.schema.produce.v12 import request as produce_v12
from kio.schema.write_txn_markers.v1 import request as markers_v1
from trio import sleep as trio_sleep

from kraft.log.records import Record, build_batch
from tests.integration import protocol as p
from tests.integration.dev import DevNode

TOPIC = "txn"
T = p.TIMEOUT_S


def _batch(values: list[bytes], producer_id: int = -1, sequence: int = -1,
           transactional: bool = False, epoch: int = 0) -> bytes:
    return build_batch([Record(None, v, (), 1_700_000_000_000) for v in values],
                       producer_id=producer_id, producer_epoch=epoch if producer_id >= 0 else -1,
                       base_sequence=sequence, is_transactional=transactional)


def _produce(records: bytes, transactional_id: str | None = None, version: int = 12) -> Any:
    schema = {10: produce_v10, 11: produce_v11, 12: produce_v12}[version]
    return schema.ProduceRequest(
        transactional_id=transactional_id, acks=-1, timeout=timedelta(seconds=30),
        topic_data=(schema.TopicProduceData(name=TOPIC, partition_data=(
            schema.PartitionProduceData(index=0, records=records),)),))


def _list_latest(isolation_level: int) -> list_offsets_v7.ListOffsetsRequest:
    return list_offsets_v7.ListOffsetsRequest(
        replica_id=-1, isolation_level=isolation_level,
        topics=(list_offsets_v7.ListOffsetsTopic(name=TOPIC, partitions=(
            list_offsets_v7.ListOffsetsPartition(partition_index=0, current_leader_epoch=-1,
                                                 timestamp=-1),)),))


def _fetch(isolation_level: int) -> fetch_v12.FetchRequest:
    request = p.fetch_v12(TOPIC, 0, 0)
    return fetch_v12.FetchRequest(
        max_wait=request.max_wait, min_bytes=0, max_bytes=request.max_bytes,
        isolation_level=isolation_level, topics=request.topics, forgotten_topics_data=())


def _markers(*ends: tuple[int, bool]) -> markers_v1.WriteTxnMarkersRequest:
    return markers_v1.WriteTxnMarkersRequest(markers=tuple(
        markers_v1.WritableTxnMarker(
            producer_id=pid, producer_epoch=0, transaction_result=commit, coordinator_epoch=0,
            topics=(markers_v1.WritableTxnMarkerTopic(name=TOPIC, partition_indexes=(0,)),))
        for pid, commit in ends))


def _read(bootstrap: str, topic: str, isolation: str,
          at_least: int = 0) -> list[confluent_kafka.Message]:
    """Every record a consumer of `isolation` reads of partition 0 from its start,
    once it reaches the end of the partition holding at least `at_least` records
    (they may still be on their way); AssertionError if it does not within T s."""
    consumer = confluent_kafka.Consumer({
        "bootstrap.servers": bootstrap, "group.id": f"txn-{isolation}",
        "enable.auto.commit": False, "isolation.level": isolation,
        "enable.partition.eof": True, "fetch.wait.max.ms": 50,
    })
    consumer.assign([confluent_kafka.TopicPartition(topic, 0, confluent_kafka.OFFSET_BEGINNING)])
    got: list[confluent_kafka.Message] = []
    deadline = time.monotonic() + T
    try:
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error():
                if message.error().code() == confluent_kafka.KafkaError._PARTITION_EOF:
                    if len(got) >= at_least:
                        return got
                    continue
                raise AssertionError(message.error())
            got.append(message)
    finally:
        consumer.close()
    raise AssertionError(f"no end of {topic}-0 after {at_least} records within {T} s; "
                         f"read {[(m.offset(), m.value()) for m in got]}")


def _consume(bootstrap: str, isolation: str, expected: int) -> list[bytes]:
    """The values `_read` returns from TOPIC."""
    return [m.value() for m in _read(bootstrap, TOPIC, isolation, expected)]


async def test_read_committed_sees_committed_transactions_only(dev_node: DevNode) -> None:
    """While a transaction is open, read_committed offsets stop at its start; after
    an abort and a commit, read_committed consumers see committed and plain records
    only, with the aborted transaction listed; read_uncommitted sees every record."""
    from kio.schema.find_coordinator.v4 import request as find_v4
    from kio.schema.init_producer_id.v4 import request as init_v4

    bootstrap = dev_node.bootstrap
    async with p.connect(bootstrap) as conn:
        await p.create_topic(conn, TOPIC)
        await _coordinator_call(conn, find_v4.FindCoordinatorRequest(
            key_type=1, coordinator_keys=("a",)), lambda r: r.coordinators[0].error_code)
        pids = []
        for txn_id in ("a", "c"):
            # Produce v12 (transaction version 2) adds the partition to the transaction.
            answer = await _coordinator_call(conn, init_v4.InitProducerIdRequest(
                transactional_id=txn_id, transaction_timeout=timedelta(minutes=1),
                producer_id=-1, producer_epoch=-1), lambda r: r.error_code)
            assert answer.producer_epoch == 0
            pids.append(answer.producer_id)
        aborted, committed = pids

        async def send(records: bytes, transactional_id: str | None = None) -> int:
            answer = p.only_partition(await conn.request(_produce(records, transactional_id), T))
            assert answer.error_code == ErrorCode.none, answer
            return answer.base_offset

        assert await send(_batch([b"plain-0"])) == 0
        assert await send(_batch([b"abort-0", b"abort-1"], aborted, 0, True), "a") == 1
        assert await send(_batch([b"commit-0", b"commit-1"], committed, 0, True), "c") == 3
        lso = p.only_partition(await conn.request(_list_latest(1), T))
        hwm = p.only_partition(await conn.request(_list_latest(0), T))
        assert (lso.offset, hwm.offset) == (1, 5)
        refused = p.only_partition(await conn.request(
            _produce(_batch([b"x"], aborted, 2, False)), T))
        assert refused.error_code == ErrorCode.invalid_txn_state

        response = await conn.request(_markers((aborted, False), (committed, True)), T)
        errors = [part.error_code for m in response.markers for t in m.topics
                  for part in t.partitions]
        assert errors == [ErrorCode.none, ErrorCode.none]
        assert await send(_batch([b"plain-1"])) == 7

        fetched = p.only_partition(await conn.request(_fetch(1), T))
        assert fetched.last_stable_offset == fetched.high_watermark == 8
        assert [(a.producer_id, a.first_offset) for a in fetched.aborted_transactions] == [
            (aborted, 1)]
        assert p.only_partition(await conn.request(_fetch(0), T)).aborted_transactions is None

    assert _consume(bootstrap, "read_committed", 4) == [
        b"plain-0", b"commit-0", b"commit-1", b"plain-1"]
    assert _consume(bootstrap, "read_uncommitted", 6) == [
        b"plain-0", b"abort-0", b"abort-1", b"commit-0", b"commit-1", b"plain-1"]


def _transactional_producer(bootstrap: str, transactional_id: str) -> confluent_kafka.Producer:
    producer = confluent_kafka.Producer({
        "bootstrap.servers": bootstrap, "transactional.id": transactional_id,
        "transaction.timeout.ms": 60_000,
    })
    producer.init_transactions(T)
    return producer


async def test_confluent_transactional_producer_commit_and_abort(dev_node: DevNode) -> None:
    """librdkafka's transactional producer commits and aborts through our coordinator;
    read_committed consumers see exactly the committed records, read_uncommitted all."""
    bootstrap = dev_node.bootstrap
    async with p.connect(bootstrap) as conn:
        await p.create_topic(conn, TOPIC)
    producer = _transactional_producer(bootstrap, "tx-commit-abort")
    for outcome, values in (("commit", [b"c-0", b"c-1"]), ("abort", [b"a-0"]),
                            ("commit", [b"c-2"])):
        producer.begin_transaction()
        for value in values:
            producer.produce(TOPIC, value, partition=0)
        if outcome == "commit":
            producer.commit_transaction(T)
        else:
            producer.flush(T)  # an abort purges what is not sent yet; send it first
            producer.abort_transaction(T)
    assert _consume(bootstrap, "read_committed", 3) == [b"c-0", b"c-1", b"c-2"]
    assert _consume(bootstrap, "read_uncommitted", 4) == [b"c-0", b"c-1", b"a-0", b"c-2"]
    from kio.schema.describe_transactions.v0 import request as describe_v0
    from kio.schema.list_transactions.v1 import request as list_v1

    async with p.connect(bootstrap) as conn:
        # (An unknown id is answered TRANSACTIONAL_ID_NOT_FOUND with start time -1,
        # as Kafka does, which kio's decoder cannot read back: not asked here.)
        described = await conn.request(describe_v0.DescribeTransactionsRequest(
            transactional_ids=("tx-commit-abort",)), T)
        (state,) = described.transaction_states
        assert (state.error_code, state.transaction_state, state.topics) == (
            ErrorCode.none, "CompleteCommit", ())
        listed = await conn.request(list_v1.ListTransactionsRequest(
            state_filters=("CompleteCommit", "Bogus"), producer_id_filters=(),
            duration_filter=-1), T)
        assert listed.unknown_state_filters == ("Bogus",)
        assert [(t.transactional_id, t.producer_id) for t in listed.transaction_states] == [
            ("tx-commit-abort", state.producer_id)]


def _committed(bootstrap: str, group: str, topic: str) -> int:
    consumer = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                                         "enable.auto.commit": False})
    try:
        (tp,) = consumer.committed([confluent_kafka.TopicPartition(topic, 0)], timeout=T)
        return tp.offset
    finally:
        consumer.close()


async def test_send_offsets_to_transaction(dev_node: DevNode) -> None:
    """Consume-transform-produce: offsets sent in a committed transaction become the
    group's committed offsets together with the output; an aborted transaction
    changes neither."""
    bootstrap = dev_node.bootstrap
    async with p.connect(bootstrap) as conn:
        await p.create_topic(conn, "in")
        await p.create_topic(conn, TOPIC)
    source = confluent_kafka.Producer({"bootstrap.servers": bootstrap})
    for i in range(4):
        source.produce("in", b"in-%d" % i, partition=0)
    source.flush(T)
    consumer = confluent_kafka.Consumer({
        "bootstrap.servers": bootstrap, "group.id": "ctp", "enable.auto.commit": False,
        "isolation.level": "read_committed"})
    consumer.assign([confluent_kafka.TopicPartition("in", 0, 0)])
    producer = _transactional_producer(bootstrap, "ctp-processor")
    try:
        for outcome in ("commit", "abort", "commit"):
            records = []
            while len(records) < 2:
                message = consumer.poll(1.0)
                if message is not None and not message.error():
                    records.append(message)
            producer.begin_transaction()
            for record in records:
                producer.produce(TOPIC, b"out-" + record.value(), partition=0)
            offsets = [confluent_kafka.TopicPartition("in", 0, records[-1].offset() + 1)]
            producer.send_offsets_to_transaction(offsets, consumer.consumer_group_metadata(), T)
            if outcome == "commit":
                producer.commit_transaction(T)
            else:
                producer.flush(T)
                producer.abort_transaction(T)
                assert _committed(bootstrap, "ctp", "in") == 2
                consumer.seek(confluent_kafka.TopicPartition("in", 0, 2))
    finally:
        consumer.close()
    assert _committed(bootstrap, "ctp", "in") == 4
    assert _consume(bootstrap, "read_committed", 4) == [
        b"out-in-0", b"out-in-1", b"out-in-2", b"out-in-3"]


async def test_a_second_instance_fences_the_zombie(dev_node: DevNode) -> None:
    """A new instance with the same transactional id aborts the old one's open
    transaction and fences it: the old one cannot commit, and read_committed
    consumers see only the new instance's records."""
    bootstrap = dev_node.bootstrap
    async with p.connect(bootstrap) as conn:
        await p.create_topic(conn, TOPIC)
    zombie = _transactional_producer(bootstrap, "fenced-id")
    zombie.begin_transaction()
    zombie.produce(TOPIC, b"zombie", partition=0)
    zombie.flush(T)
    successor = _transactional_producer(bootstrap, "fenced-id")
    successor.begin_transaction()
    successor.produce(TOPIC, b"successor", partition=0)
    successor.commit_transaction(T)
    try:
        zombie.commit_transaction(T)
        raise AssertionError("the fenced producer committed")
    except confluent_kafka.KafkaException as e:
        assert e.args[0].fatal(), e
    assert _consume(bootstrap, "read_committed", 1) == [b"successor"]


async def test_a_timed_out_transaction_is_aborted(dev_factory: type) -> None:
    """An open transaction older than its timeout is aborted by the coordinator: the
    last stable offset moves past it and read_committed consumers never see it."""
    node = dev_factory("transaction.abort.timed.out.transaction.cleanup.interval.ms=100")
    bootstrap = node.bootstrap
    async with p.connect(bootstrap) as conn:
        await p.create_topic(conn, TOPIC)
        producer = confluent_kafka.Producer({
            "bootstrap.servers": bootstrap, "transactional.id": "slow",
            "transaction.timeout.ms": 1000})
        producer.init_transactions(T)
        producer.begin_transaction()
        producer.produce(TOPIC, b"never", partition=0)
        producer.flush(T)
        deadline = time.monotonic() + T
        while True:
            lso = p.only_partition(await conn.request(_list_latest(1), T)).offset
            if lso == 2:  # the record and the abort marker
                break
            assert time.monotonic() < deadline, f"the transaction was not aborted (LSO {lso})"
            await trio_sleep(0.1)
    try:
        producer.commit_transaction(T)
        raise AssertionError("a timed-out transaction committed")
    except confluent_kafka.KafkaException:
        pass
    assert _consume(bootstrap, "read_committed", 0) == []


async def _coordinator_call(conn: Any, request: Any, error_of: Any) -> Any:
    """Send `request`, retrying while the coordinator is not ready yet."""
    deadline = time.monotonic() + T
    while True:
        response = await conn.request(request, T)
        if error_of(response) not in (ErrorCode.coordinator_load_in_progress,
                                      ErrorCode.coordinator_not_available,
                                      ErrorCode.not_coordinator,
                                      ErrorCode.concurrent_transactions):
            return response
        assert time.monotonic() < deadline, response
        await trio_sleep(0.1)


async def test_bad_transactional_requests_get_kafkas_errors(dev_node: DevNode) -> None:
    """Unknown producers, past epochs, a timeout above the maximum, unknown topics,
    EndTxn without a transaction, a stale generation and a fenced marker each get
    Kafka's error code, and nothing is written."""
    from kio.schema.add_offsets_to_txn.v3 import request as add_offsets_v3
    from kio.schema.add_partitions_to_txn.v3 import request as add_v3
    from kio.schema.end_txn.v3 import request as end_v3
    from kio.schema.find_coordinator.v4 import request as find_v4
    from kio.schema.init_producer_id.v4 import request as init_v4
    from kio.schema.txn_offset_commit.v3 import request as toc_v3

    def init(txn_id: str, timeout_ms: int = 60_000) -> Any:
        return init_v4.InitProducerIdRequest(
            transactional_id=txn_id, transaction_timeout=timedelta(milliseconds=timeout_ms),
            producer_id=-1, producer_epoch=-1)

    def end(txn_id: str, pid: int, epoch: int, commit: bool = True) -> Any:
        return end_v3.EndTxnRequest(transactional_id=txn_id, producer_id=pid,
                                    producer_epoch=epoch, committed=commit)

    bootstrap = dev_node.bootstrap
    async with p.connect(bootstrap) as conn:
        await p.create_topic(conn, TOPIC)
        found = await _coordinator_call(conn, find_v4.FindCoordinatorRequest(
            key_type=1, coordinator_keys=("bad",)), lambda r: r.coordinators[0].error_code)
        assert found.coordinators[0].error_code == ErrorCode.none
        too_long = await conn.request(init("bad", 900_001), T)
        assert too_long.error_code == ErrorCode.invalid_transaction_timeout
        unknown = await _coordinator_call(conn, end("bad", 1, 0), lambda r: r.error_code)
        assert unknown.error_code == ErrorCode.invalid_producer_id_mapping
        first = await _coordinator_call(conn, init("bad"), lambda r: r.error_code)
        second = await _coordinator_call(conn, init("bad"), lambda r: r.error_code)
        pid = first.producer_id
        assert (second.producer_id, second.producer_epoch) == (pid, first.producer_epoch + 1)
        stale = await conn.request(end("bad", pid, first.producer_epoch), T)
        assert stale.error_code == ErrorCode.producer_fenced
        no_txn = await conn.request(end("bad", pid, second.producer_epoch), T)
        assert no_txn.error_code == ErrorCode.invalid_txn_state
        added = await conn.request(add_v3.AddPartitionsToTxnRequest(
            v3_and_below_transactional_id="bad", v3_and_below_producer_id=pid,
            v3_and_below_producer_epoch=second.producer_epoch, v3_and_below_topics=(
                add_v3.AddPartitionsToTxnTopic(name=TOPIC, partitions=(0,)),
                add_v3.AddPartitionsToTxnTopic(name="no-such-topic", partitions=(0,)))), T)
        errors = {(t.name, r.partition_index): r.partition_error_code
                  for t in added.results_by_topic_v3_and_below for r in t.results_by_partition}
        assert errors == {(TOPIC, 0): ErrorCode.operation_not_attempted,
                          ("no-such-topic", 0): ErrorCode.unknown_topic_or_partition}
        await _coordinator_call(conn, find_v4.FindCoordinatorRequest(
            key_type=0, coordinator_keys=("no-such-group",)),
            lambda r: r.coordinators[0].error_code)
        # (KIP-890 part 1: the group's offsets partition must be in the transaction
        # before the group's own checks are reached; another transactional id, so
        # that "bad" stays without a transaction.)
        other = await _coordinator_call(conn, init("bad-offsets"), lambda r: r.error_code)
        offsets_added = await _coordinator_call(conn, add_offsets_v3.AddOffsetsToTxnRequest(
            transactional_id="bad-offsets", producer_id=other.producer_id,
            producer_epoch=other.producer_epoch, group_id="no-such-group"),
            lambda r: r.error_code)
        assert offsets_added.error_code == ErrorCode.none
        commit = await _coordinator_call(conn, toc_v3.TxnOffsetCommitRequest(
            transactional_id="bad-offsets", group_id="no-such-group",
            producer_id=other.producer_id,
            producer_epoch=other.producer_epoch, generation_id=5, member_id="m",
            group_instance_id=None, topics=(toc_v3.TxnOffsetCommitRequestTopic(
                name=TOPIC, partitions=(toc_v3.TxnOffsetCommitRequestPartition(
                    partition_index=0, committed_offset=1, committed_leader_epoch=-1,
                    committed_metadata=""),)),)),
            lambda r: r.topics[0].partitions[0].error_code)
        assert commit.topics[0].partitions[0].error_code == ErrorCode.illegal_generation
        # KIP-890: a transactional produce (transaction version 1) to a partition not
        # in the transaction is refused and writes nothing: INVALID_TXN_STATE before
        # Produce v11, TRANSACTION_ABORTABLE from v11.
        answers = [p.only_partition(await conn.request(_produce(
            _batch([b"t"], pid, 0, True, second.producer_epoch), "bad", version), T))
            for version in (10, 11)]
        assert [(a.error_code, a.error_message) for a in answers] == [
            (ErrorCode.invalid_txn_state, "Partition was not added to the transaction"),
            (ErrorCode.transaction_abortable, None)]
        # A marker with an epoch older than the partition has seen writes nothing.
        written = await conn.request(
            _produce(_batch([b"t"], pid, 0, True, second.producer_epoch), "bad"), T)
        assert p.only_partition(written).error_code == ErrorCode.none
        fenced = await conn.request(markers_v1.WriteTxnMarkersRequest(markers=(
            markers_v1.WritableTxnMarker(
                producer_id=pid, producer_epoch=first.producer_epoch, transaction_result=True,
                coordinator_epoch=0, topics=(markers_v1.WritableTxnMarkerTopic(
                    name=TOPIC, partition_indexes=(0,)),)),)), T)
        assert fenced.markers[0].topics[0].partitions[0].error_code == (
            ErrorCode.invalid_producer_epoch)
        hwm = p.only_partition(await conn.request(_list_latest(0), T))
        assert hwm.offset == 1


async def test_txn_offset_commit_is_verified(dev_node: DevNode) -> None:
    """KIP-890 part 1 for TxnOffsetCommit v0-v4: a commit for a group whose offsets
    partition AddOffsetsToTxn did not add to the transaction is refused
    (INVALID_TXN_STATE, TRANSACTION_ABORTABLE from v4) and writes nothing; after
    AddOffsetsToTxn the same commit is accepted and commits with the transaction."""
    from kio.schema.add_offsets_to_txn.v3 import request as add_offsets_v3
    from kio.schema.end_txn.v3 import request as end_v3
    from kio.schema.find_coordinator.v4 import request as find_v4
    from kio.schema.init_producer_id.v4 import request as init_v4
    from kio.schema.offset_fetch.v8 import request as fetch_v8
    from kio.schema.txn_offset_commit.v3 import request as toc_v3
    from kio.schema.txn_offset_commit.v4 import request as toc_v4

    txn_id, group = "kip890-offsets", "kip890-group"

    def commit(version: int, offset: int) -> Any:
        schema = {3: toc_v3, 4: toc_v4}[version]
        return schema.TxnOffsetCommitRequest(
            transactional_id=txn_id, group_id=group, producer_id=pid, producer_epoch=epoch,
            generation_id=-1, member_id="", group_instance_id=None,
            topics=(schema.TxnOffsetCommitRequestTopic(name=TOPIC, partitions=(
                schema.TxnOffsetCommitRequestPartition(
                    partition_index=0, committed_offset=offset, committed_leader_epoch=-1,
                    committed_metadata=""),)),))

    def error_of(response: Any) -> ErrorCode:
        return response.topics[0].partitions[0].error_code

    stable = fetch_v8.OffsetFetchRequest(require_stable=True, groups=(
        fetch_v8.OffsetFetchRequestGroup(group_id=group, topics=(
            fetch_v8.OffsetFetchRequestTopics(name=TOPIC, partition_indexes=(0,)),)),))

    async with p.connect(dev_node.bootstrap) as conn:
        await p.create_topic(conn, TOPIC)
        await _coordinator_call(conn, find_v4.FindCoordinatorRequest(
            key_type=1, coordinator_keys=(txn_id,)), lambda r: r.coordinators[0].error_code)
        init = await _coordinator_call(conn, init_v4.InitProducerIdRequest(
            transactional_id=txn_id, transaction_timeout=timedelta(minutes=1),
            producer_id=-1, producer_epoch=-1), lambda r: r.error_code)
        pid, epoch = init.producer_id, init.producer_epoch
        await _coordinator_call(conn, find_v4.FindCoordinatorRequest(
            key_type=0, coordinator_keys=(group,)), lambda r: r.coordinators[0].error_code)
        refused = [error_of(await _coordinator_call(conn, commit(v, 5), error_of))
                   for v in (3, 4)]
        assert refused == [ErrorCode.invalid_txn_state, ErrorCode.transaction_abortable]
        nothing = (await conn.request(stable, T)).groups[0].topics[0].partitions[0]
        assert (nothing.error_code, nothing.committed_offset) == (ErrorCode.none, -1)
        added = await _coordinator_call(conn, add_offsets_v3.AddOffsetsToTxnRequest(
            transactional_id=txn_id, producer_id=pid, producer_epoch=epoch, group_id=group),
            lambda r: r.error_code)
        assert added.error_code == ErrorCode.none
        assert error_of(await _coordinator_call(conn, commit(3, 7), error_of)) == (
            ErrorCode.none)
        ended = await _coordinator_call(conn, end_v3.EndTxnRequest(
            transactional_id=txn_id, producer_id=pid, producer_epoch=epoch, committed=True),
            lambda r: r.error_code)
        assert ended.error_code == ErrorCode.none
        deadline = time.monotonic() + T
        while True:  # stable once the commit marker is on __consumer_offsets
            fetched = (await conn.request(stable, T)).groups[0].topics[0].partitions[0]
            if fetched.error_code != ErrorCode.unstable_offset_commit:
                break
            assert time.monotonic() < deadline
            await trio_sleep(0.05)
        assert (fetched.error_code, fetched.committed_offset) == (ErrorCode.none, 7)


async def test_transaction_version_2(dev_node: DevNode) -> None:
    """Transaction version 2 (KIP-890 part 2), as Kafka 4.x: the node finalizes
    transaction.version 2; Produce v12 adds the partition itself; EndTxn v5 bumps the
    epoch and answers the new one, and its retry with the old epoch is answered the
    same; the marker carries the new epoch, which fences a delayed produce of the old
    one; an epoch that is neither is PRODUCER_FENCED; TxnOffsetCommit v5 adds the
    group's offsets partition, so its offsets commit with the transaction."""
    from kio.schema.api_versions.v4 import request as versions_v4
    from kio.schema.end_txn.v5 import request as end_v5
    from kio.schema.find_coordinator.v4 import request as find_v4
    from kio.schema.init_producer_id.v4 import request as init_v4
    from kio.schema.offset_fetch.v8 import request as fetch_v8
    from kio.schema.txn_offset_commit.v5 import request as toc_v5

    async with p.connect(dev_node.bootstrap) as conn:
        versions = await conn.request(versions_v4.ApiVersionsRequest(
            client_software_name="kraft-tests", client_software_version="1"), T)
        assert {(f.name, f.min_version_level, f.max_version_level)
                for f in versions.finalized_features} >= {("transaction.version", 2, 2)}
        assert ("transaction.version", 0, 2) in {
            (f.name, f.min_version, f.max_version) for f in versions.supported_features}
        await p.create_topic(conn, TOPIC)
        await _coordinator_call(conn, find_v4.FindCoordinatorRequest(
            key_type=1, coordinator_keys=("tv2",)), lambda r: r.coordinators[0].error_code)
        init = await _coordinator_call(conn, init_v4.InitProducerIdRequest(
            transactional_id="tv2", transaction_timeout=timedelta(minutes=1),
            producer_id=-1, producer_epoch=-1), lambda r: r.error_code)
        pid, epoch = init.producer_id, init.producer_epoch

        def end(commit: bool, at: int) -> Any:
            return end_v5.EndTxnRequest(transactional_id="tv2", producer_id=pid,
                                        producer_epoch=at, committed=commit)

        sent = p.only_partition(await conn.request(
            _produce(_batch([b"a", b"b"], pid, 0, True, epoch), "tv2"), T))
        assert (sent.error_code, sent.base_offset) == (ErrorCode.none, 0)
        ended = await conn.request(end(True, epoch), T)
        assert (ended.error_code, ended.producer_id, ended.producer_epoch) == (
            ErrorCode.none, pid, epoch + 1)
        retried = await _coordinator_call(conn, end(True, epoch), lambda r: r.error_code)
        assert (retried.error_code, retried.producer_id, retried.producer_epoch) == (
            ErrorCode.none, pid, epoch + 1)
        fenced = await conn.request(end(True, epoch + 5), T)
        assert (fenced.error_code, fenced.producer_id) == (ErrorCode.producer_fenced, -1)
        # The marker (offset 2) carries epoch + 1: a delayed produce of the old epoch
        # cannot join the next transaction.
        delayed = p.only_partition(await conn.request(
            _produce(_batch([b"late"], pid, 2, True, epoch), "tv2"), T))
        assert delayed.error_code == ErrorCode.invalid_producer_epoch
        nxt = p.only_partition(await conn.request(
            _produce(_batch([b"c"], pid, 0, True, epoch + 1), "tv2"), T))
        assert (nxt.error_code, nxt.base_offset) == (ErrorCode.none, 3)
        await _coordinator_call(conn, find_v4.FindCoordinatorRequest(
            key_type=0, coordinator_keys=("tv2-group",)), lambda r: r.coordinators[0].error_code)
        committed = await _coordinator_call(conn, toc_v5.TxnOffsetCommitRequest(
            transactional_id="tv2", group_id="tv2-group", producer_id=pid,
            producer_epoch=epoch + 1, generation_id=-1, member_id="",
            group_instance_id=None, topics=(toc_v5.TxnOffsetCommitRequestTopic(
                name=TOPIC, partitions=(toc_v5.TxnOffsetCommitRequestPartition(
                    partition_index=0, committed_offset=3, committed_leader_epoch=-1,
                    committed_metadata=""),)),)),
            lambda r: r.topics[0].partitions[0].error_code)
        assert committed.topics[0].partitions[0].error_code == ErrorCode.none
        ended = await _coordinator_call(conn, end(True, epoch + 1), lambda r: r.error_code)
        assert (ended.error_code, ended.producer_epoch) == (ErrorCode.none, epoch + 2)
        request = fetch_v8.OffsetFetchRequest(require_stable=True, groups=(
            fetch_v8.OffsetFetchRequestGroup(group_id="tv2-group", topics=(
                fetch_v8.OffsetFetchRequestTopics(name=TOPIC, partition_indexes=(0,)),)),))
        deadline = time.monotonic() + T
        while True:  # stable once the commit marker is on __consumer_offsets
            fetched = (await conn.request(request, T)).groups[0].topics[0].partitions[0]
            if fetched.error_code != ErrorCode.unstable_offset_commit:
                break
            assert time.monotonic() < deadline
            await trio_sleep(0.05)
        assert (fetched.error_code, fetched.committed_offset) == (ErrorCode.none, 3)


@pytest.mark.slow
async def test_an_open_transaction_survives_kill_9(dev_factory: type, tmp_path: Any) -> None:
    """After kill -9 and a restart, the partition still holds the last stable offset
    at the open transaction (producer state rebuilt from the log) and the new
    coordinator knows it (state rebuilt from __transaction_state): the producer can
    still abort it, and read_committed consumers never see it."""
    from kio.schema.add_partitions_to_txn.v3 import request as add_v3
    from kio.schema.describe_transactions.v0 import request as describe_v0
    from kio.schema.end_txn.v3 import request as end_v3
    from kio.schema.init_producer_id.v4 import request as init_v4

    node: DevNode = dev_factory("broker.session.timeout.ms=2000",
                                "broker.heartbeat.interval.ms=500", data_dir=tmp_path / "kept")
    bootstrap = node.bootstrap
    async with p.connect(bootstrap) as conn:
        await p.create_topic(conn, TOPIC)
    committer = _transactional_producer(bootstrap, "before-crash")
    committer.begin_transaction()
    committer.produce(TOPIC, b"committed", partition=0)
    committer.commit_transaction(T)
    async with p.connect(bootstrap) as conn:
        init = await _coordinator_call(conn, init_v4.InitProducerIdRequest(
            transactional_id="open", transaction_timeout=timedelta(minutes=5),
            producer_id=-1, producer_epoch=-1), lambda r: r.error_code)
        pid, epoch = init.producer_id, init.producer_epoch
        added = await _coordinator_call(conn, add_v3.AddPartitionsToTxnRequest(
            v3_and_below_transactional_id="open", v3_and_below_producer_id=pid,
            v3_and_below_producer_epoch=epoch, v3_and_below_topics=(
                add_v3.AddPartitionsToTxnTopic(name=TOPIC, partitions=(0,)),)),
            lambda r: r.results_by_topic_v3_and_below[0].results_by_partition[0]
            .partition_error_code)
        assert added.results_by_topic_v3_and_below[0].results_by_partition[0] \
            .partition_error_code == ErrorCode.none
        sent = await conn.request(_produce(_batch([b"open"], pid, 0, True, epoch), "open"), T)
        first_open = p.only_partition(sent).base_offset
    node.kill()
    node.start()
    async with p.connect(bootstrap) as conn:
        deadline = time.monotonic() + T
        while True:  # the partition is led again once the broker is unfenced
            answer = p.only_partition(await conn.request(_list_latest(1), T))
            if answer.error_code == ErrorCode.none:
                break
            assert time.monotonic() < deadline, answer
            await trio_sleep(0.1)
        assert answer.offset == first_open
        described = await _coordinator_call(conn, describe_v0.DescribeTransactionsRequest(
            transactional_ids=("open",)), lambda r: r.transaction_states[0].error_code)
        (state,) = described.transaction_states
        assert (state.transaction_state, state.producer_id, state.producer_epoch) == (
            "Ongoing", pid, epoch)
        ended = await _coordinator_call(conn, end_v3.EndTxnRequest(
            transactional_id="open", producer_id=pid, producer_epoch=epoch, committed=False),
            lambda r: r.error_code)
        assert ended.error_code == ErrorCode.none
        while p.only_partition(await conn.request(_list_latest(1), T)).offset == first_open:
            assert time.monotonic() < deadline, "the abort marker was not written"
            await trio_sleep(0.1)
    assert _consume(bootstrap, "read_committed", 1) == [b"committed"]


@pytest.mark.slow
async def test_kafka_python_transactional_producer(dev_node: DevNode) -> None:
    """kafka-python's transactional producer commits and aborts through our
    coordinator; a read_committed consumer sees only the committed records."""
    import kafka

    bootstrap = dev_node.bootstrap
    async with p.connect(bootstrap) as conn:
        await p.create_topic(conn, TOPIC)
    producer = kafka.KafkaProducer(bootstrap_servers=bootstrap,
                                   transactional_id="kafka-python-tx")
    try:
        producer.init_transactions()
        for commit in (True, False, True):
            producer.begin_transaction()
            producer.send(TOPIC, b"kp-commit" if commit else b"kp-abort", partition=0)
            producer.flush()
            if commit:
                producer.commit_transaction()
            else:
                producer.abort_transaction()
    finally:
        producer.close()
    assert _consume(bootstrap, "read_committed", 2) == [b"kp-commit", b"kp-commit"]
    assert _consume(bootstrap, "read_uncommitted", 3) == [
        b"kp-commit", b"kp-abort", b"kp-commit"]


def _read_keyed(bootstrap: str, topic: str, isolation: str) -> list[tuple[bytes, bytes]]:
    """(key, value) of every record `_read` returns from `topic`."""
    return [(m.key(), m.value()) for m in _read(bootstrap, topic, isolation)]


def test_compaction_keeps_committed_and_removes_aborted(dev_factory: Any) -> None:
    """On a compacted topic, K=v1 committed then K=v2 aborted: once the cleaner has
    run (v2 gone even for read_uncommitted readers; before, the cleaner kept v2 and
    removed v1), read_committed still reads K=v1."""
    from confluent_kafka.admin import AdminClient, NewTopic

    node = dev_factory("log.cleaner.backoff.ms=200", "transaction.state.log.num.partitions=1",
                       "offsets.topic.num.partitions=1")
    topic = "txn-compacted"
    admin = AdminClient({"bootstrap.servers": node.bootstrap})
    admin.create_topics([NewTopic(
        topic, 1, 1, config={"cleanup.policy": "compact", "segment.bytes": "4096",
                             "min.cleanable.dirty.ratio": "0.01"},
    )])[topic].result(T)
    producer = _transactional_producer(node.bootstrap, "tx-compacted")
    for value, commit in ((b"v1", True), (b"v2", False)):
        producer.begin_transaction()
        producer.produce(topic, value, key=b"K", partition=0)
        producer.flush(T)
        if commit:
            producer.commit_transaction(T)
        else:
            producer.abort_transaction(T)
    filler = confluent_kafka.Producer({"bootstrap.servers": node.bootstrap,
                                       "batch.num.messages": 5})  # batches < segment.bytes
    errors: list[Any] = []
    for i in range(60):  # fills and rolls segments, so the transactions' one is cleanable
        filler.produce(topic, b"f" * 100, key=b"filler%d" % i, partition=0,
                       on_delivery=lambda err, _: err and errors.append(err))
    assert filler.flush(T) == 0 and errors == []
    deadline = time.monotonic() + 60
    while (b"K", b"v2") in _read_keyed(node.bootstrap, topic, "read_uncommitted"):
        assert time.monotonic() < deadline, "the cleaner did not remove the aborted record"
        time.sleep(0.3)
    assert [v for k, v in _read_keyed(node.bootstrap, topic, "read_uncommitted")
            if k == b"K"] == [b"v1"]
    assert [v for k, v in _read_keyed(node.bootstrap, topic, "read_committed")
            if k == b"K"] == [b"v1"]
