"""Compacted topics on a real dev node: the log shrinks to the latest value per key."""

from __future__ import annotations

import time

import confluent_kafka
from confluent_kafka.admin import AdminClient, NewTopic
from kio.schema.errors import ErrorCode

from tests.integration import protocol as p
from tests.integration.dev import DevNode

KEYS = 50
ROUNDS = 40


def read_all(bootstrap: str, topic: str) -> list[tuple[bytes, bytes | None, int]]:
    """(key, value, offset) of every record from the start to the high watermark."""
    consumer = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": "reader",
                                         "enable.auto.commit": False})
    try:
        _, high = consumer.get_watermark_offsets(confluent_kafka.TopicPartition(topic, 0), 10)
        consumer.assign([confluent_kafka.TopicPartition(topic, 0,
                                                        confluent_kafka.OFFSET_BEGINNING)])
        out: list[tuple[bytes, bytes | None, int]] = []
        while not out or out[-1][2] < high - 1:
            message = consumer.poll(5)
            assert message is not None, f"stuck at {out[-1][2] if out else None} of {high}"
            assert message.error() is None, message.error()
            out.append((message.key(), message.value(), message.offset()))
        return out
    finally:
        consumer.close()


def test_compaction_keeps_the_latest_value_of_every_key(dev_factory) -> None:  # type: ignore[no-untyped-def]
    """Many updates per key shrink, after the cleaner runs, to about one record per
    key; a reader from the start sees the latest value of every key, offsets keep
    increasing, and a deleted key (tombstone) does not come back."""
    node: DevNode = dev_factory("log.cleaner.backoff.ms=300")
    admin = AdminClient({"bootstrap.servers": node.bootstrap})
    admin.create_topics([NewTopic(
        "compacted", 1, 1,
        config={"cleanup.policy": "compact", "segment.bytes": "4096",
                "min.cleanable.dirty.ratio": "0.01", "delete.retention.ms": "86400000"},
    )])["compacted"].result(30)
    producer = confluent_kafka.Producer({"bootstrap.servers": node.bootstrap, "linger.ms": 0})
    latest: dict[bytes, bytes | None] = {}
    for round_ in range(ROUNDS):
        for k in range(KEYS):
            key, value = f"k{k}".encode(), f"v{round_}-{k}".encode()
            producer.produce("compacted", value, key=key)
            latest[key] = value
        producer.flush(30)
    producer.produce("compacted", None, key=b"k0")  # a tombstone
    latest[b"k0"] = None
    producer.flush(30)
    total = ROUNDS * KEYS + 1
    deadline = time.monotonic() + 60
    while True:
        records = read_all(node.bootstrap, "compacted")
        if len(records) < total // 4 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert len(records) < total // 4, f"{len(records)} of {total} records left after cleaning"
    offsets = [offset for _, _, offset in records]
    assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets)
    seen: dict[bytes, bytes | None] = {}
    for key, value, _ in records:
        seen[key] = value
    assert seen == latest


def test_a_record_without_a_key_is_refused_by_a_compacted_topic(dev_node: DevNode) -> None:
    """confluent-kafka and kafka-python get INVALID_RECORD for a keyless record on a
    compacted topic (Kafka's message names the partition); nothing of it is stored."""
    import kafka
    import kafka.errors

    admin = AdminClient({"bootstrap.servers": dev_node.bootstrap})
    admin.create_topics([NewTopic("keys-only", 1, 1, config={"cleanup.policy": "compact"})])[
        "keys-only"].result(30)
    errors: list[confluent_kafka.KafkaError] = []
    producer = confluent_kafka.Producer({"bootstrap.servers": dev_node.bootstrap,
                                         "linger.ms": 0, "retries": 0})
    producer.produce("keys-only", b"keyed", key=b"k")
    assert producer.flush(30) == 0
    producer.produce("keys-only", b"no key",
                     on_delivery=lambda error, _m: errors.append(error) if error else None)
    assert producer.flush(30) == 0
    assert [e.code() for e in errors] == [confluent_kafka.KafkaError.INVALID_RECORD]
    answer = p.only_partition(p.call_sync(dev_node.bootstrap,
                                          p.produce_v12("keys-only", 0, p.batch(2))))
    message = "Compacted topic cannot accept message without key in topic partition keys-only-0"
    assert answer.error_code == ErrorCode.invalid_record
    assert [(e.batch_index, e.batch_index_error_message) for e in answer.record_errors] == [
        (0, message), (1, message)]
    assert answer.error_message.startswith("One or more records have been rejected due to 2 ")

    legacy = kafka.KafkaProducer(bootstrap_servers=dev_node.bootstrap, retries=0)
    try:
        future = legacy.send("keys-only", b"no key either")
        try:
            future.get(timeout=30)
            raise AssertionError("a keyless record was accepted by a compacted topic")
        except kafka.errors.KafkaError as e:
            assert type(e).__name__ in ("InvalidRecordError", "InvalidRecordException"), repr(e)
    finally:
        legacy.close(10)
    assert [(k, v) for k, v, _ in read_all(dev_node.bootstrap, "keys-only")] == [
        (b"k", b"keyed")]
