"""DeleteRecords with real clients: the log start offset moves up, reads below it
are out of range, it survives a restart, bad requests get Kafka's error codes,
and on three nodes the followers follow it before the answer comes back."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import confluent_kafka
import kafka
import pytest
from confluent_kafka import KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kio.schema.delete_records.v2.request import (
    DeleteRecordsPartition,
    DeleteRecordsRequest,
    DeleteRecordsTopic,
)
from kio.schema.errors import ErrorCode
from kio.static.primitive import i32Timedelta

from kraft.tools.local_cluster import LocalCluster
from tests.integration import protocol
from tests.integration.dev import DevNode

COUNT = 100


def setup_topic(bootstrap: str, topic: str, partitions: int, replication: int = 1,
                config: dict[str, str] | None = None) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, partitions, replication, config=config or {})]
                        )[topic].result(30)
    producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap, "acks": "all",
                                         "linger.ms": 5})
    failures: list[object] = []

    def delivered(err: object, _msg: object) -> None:
        if err is not None:
            failures.append(err)

    # Keyed, because a compacted topic refuses records without a key.
    for p in range(partitions):
        for i in range(COUNT):
            producer.produce(topic, key=b"k%d" % i, value=b"%d-%d" % (p, i), partition=p,
                             on_delivery=delivered)
    assert producer.flush(30) == 0
    assert failures == []


def watermarks(bootstrap: str, topic: str, partition: int) -> tuple[int, int]:
    consumer = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": "wm"})
    try:
        return consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
    finally:
        consumer.close()


def read_from_earliest(bootstrap: str, topic: str, partition: int, end: int) -> list[int]:
    """Offsets a consumer starting below the log start reads (auto.offset.reset earliest)."""
    consumer = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": "rd",
                                         "auto.offset.reset": "earliest",
                                         "enable.auto.commit": False})
    offsets: list[int] = []
    try:
        consumer.assign([TopicPartition(topic, partition, 0)])  # below the log start
        for _ in range(100):
            for m in consumer.consume(100, 0.2):
                assert m.error() is None, m.error()
                offsets.append(m.offset())
            if offsets and offsets[-1] == end - 1:
                break
    finally:
        consumer.close()
    return offsets


def kafka_python_read_from_zero(bootstrap: str, topic: str, partition: int, end: int
                                ) -> list[int]:
    """As read_from_earliest, with kafka-python: offset 0 is below the log start, so
    its fetch is OFFSET_OUT_OF_RANGE and auto_offset_reset moves it to the log start."""
    consumer = kafka.KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                   auto_offset_reset="earliest")
    tp = kafka.TopicPartition(topic, partition)
    offsets: list[int] = []
    try:
        consumer.assign([tp])
        consumer.seek(tp, 0)
        for _ in range(50):
            for records in consumer.poll(timeout_ms=200).values():
                offsets += [r.offset for r in records]
            if offsets and offsets[-1] == end - 1:
                break
    finally:
        consumer.close()
    return offsets


def delete(bootstrap: str, topic: str, partition: int, offset: int) -> int | KafkaError:
    """confluent-kafka's delete_records: the low watermark, or the error."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    (future,) = admin.delete_records([TopicPartition(topic, partition, offset)]).values()
    try:
        return future.result(30).low_watermark
    except confluent_kafka.KafkaException as e:
        return e.args[0]


def test_delete_records_moves_the_log_start(dev_factory: Callable[..., DevNode]) -> None:
    """confluent-kafka deletes below offset 40 of p0 and everything of p1 (OFFSET_END);
    kafka-python then below 60 of p0. Reads start at the new log start, and it
    survives a restart on the same data directory."""
    node = dev_factory()
    setup_topic(node.bootstrap, "purge", 2)
    assert delete(node.bootstrap, "purge", 0, 40) == 40
    assert delete(node.bootstrap, "purge", 1, confluent_kafka.OFFSET_END) == COUNT
    assert watermarks(node.bootstrap, "purge", 0) == (40, COUNT)
    assert watermarks(node.bootstrap, "purge", 1) == (COUNT, COUNT)
    assert read_from_earliest(node.bootstrap, "purge", 0, COUNT) == list(range(40, COUNT))
    assert delete(node.bootstrap, "purge", 0, 10) == 40  # below the log start: no change

    client = kafka.KafkaAdminClient(bootstrap_servers=node.bootstrap)
    try:
        result = client.delete_records({kafka.TopicPartition("purge", 0): 60})
    finally:
        client.close()
    (entry,) = result.values()
    assert entry["low_watermark"] == 60, result
    assert read_from_earliest(node.bootstrap, "purge", 0, COUNT) == list(range(60, COUNT))
    assert kafka_python_read_from_zero(node.bootstrap, "purge", 0, COUNT) == list(range(60, COUNT))

    assert node.stop() == 0, node.stderr()
    restarted = dev_factory(data_dir=node.data_dir)
    assert watermarks(restarted.bootstrap, "purge", 0) == (60, COUNT)
    assert watermarks(restarted.bootstrap, "purge", 1) == (COUNT, COUNT)


def test_delete_records_errors(dev_node: DevNode) -> None:
    """Kafka's error codes, and nothing deleted: beyond the high watermark, a compacted
    topic, an unknown partition, the internal offsets topic."""
    bootstrap = dev_node.bootstrap
    setup_topic(bootstrap, "keep", 1)
    setup_topic(bootstrap, "compacted", 1, config={"cleanup.policy": "compact"})
    # Commit an offset so that __consumer_offsets exists.
    consumer = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": "g"})
    consumer.commit(offsets=[TopicPartition("keep", 0, 1)], asynchronous=False)
    consumer.close()

    def code(topic: str, partition: int, offset: int) -> int:
        outcome = delete(bootstrap, topic, partition, offset)
        assert isinstance(outcome, KafkaError), outcome
        return outcome.code()

    assert code("keep", 0, COUNT + 1) == KafkaError.OFFSET_OUT_OF_RANGE
    assert code("compacted", 0, 5) == KafkaError.POLICY_VIOLATION
    assert code("__consumer_offsets", 0, 0) == KafkaError.TOPIC_EXCEPTION
    # librdkafka refuses unknown partitions itself: ask the broker directly.
    request = DeleteRecordsRequest(
        topics=(DeleteRecordsTopic(name="keep", partitions=(
            DeleteRecordsPartition(partition_index=7, offset=5),)),),
        timeout=i32Timedelta.parse(timedelta(seconds=10)))
    answer = protocol.only_partition(protocol.call_sync(bootstrap, request))
    assert answer.error_code == ErrorCode.unknown_topic_or_partition
    assert watermarks(bootstrap, "keep", 0) == (0, COUNT)
    assert watermarks(bootstrap, "compacted", 0) == (0, COUNT)


@pytest.mark.slow
def test_followers_follow_the_log_start(tmp_path: Path) -> None:
    """Three nodes, replication factor 3: once DeleteRecords answers, every in-sync
    follower has the new log start, so after the leader stops the new leader
    serves from it."""
    with LocalCluster(tmp_path / "cluster", ports=LocalCluster.free_ports()) as cluster:
        cluster.start()
        setup_topic(cluster.bootstrap, "purge3", 1, replication=3)
        assert delete(cluster.bootstrap, "purge3", 0, 70) == 70
        admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
        leader = admin.list_topics("purge3", timeout=10).topics["purge3"].partitions[0].leader
        cluster.stop_node(leader)
        new_leader = leader
        for _ in range(100):
            meta = admin.list_topics("purge3", timeout=10).topics["purge3"].partitions[0]
            new_leader = meta.leader
            if new_leader not in (leader, -1):
                break
        assert new_leader not in (leader, -1)
        assert watermarks(cluster.bootstrap, "purge3", 0) == (70, COUNT)
        assert read_from_earliest(cluster.bootstrap, "purge3", 0, COUNT) == list(range(70, COUNT))
