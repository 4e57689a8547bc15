"""Dev mode end to end with real clients: the basic produce/consume round trip."""

from __future__ import annotations

import confluent_kafka
import kafka
from confluent_kafka.admin import AdminClient, NewTopic

from tests.integration.dev import DevNode


def test_confluent_kafka_produces_and_consumes(dev_node: DevNode) -> None:
    """librdkafka creates a topic, produces keyed records with headers and reads
    every one back in order with its key, value and headers."""
    admin = AdminClient({"bootstrap.servers": dev_node.bootstrap})
    futures = admin.create_topics([NewTopic("smoke", num_partitions=3, replication_factor=1)])
    futures["smoke"].result(timeout=30)
    producer = confluent_kafka.Producer(
        {"bootstrap.servers": dev_node.bootstrap, "linger.ms": 5, "acks": "all"}
    )
    sent = [(f"k{i % 3}".encode(), f"value-{i}".encode()) for i in range(1000)]
    for key, value in sent:
        producer.produce("smoke", value=value, key=key, headers=[("h", key)])
    assert producer.flush(30) == 0
    got: dict[bytes, list[tuple[bytes, list]]] = {}
    consumer = confluent_kafka.Consumer({
        "bootstrap.servers": dev_node.bootstrap,
        "group.id": "smoke",
        "enable.auto.commit": False,
    })
    consumer.assign([confluent_kafka.TopicPartition("smoke", p, confluent_kafka.OFFSET_BEGINNING)
                     for p in range(3)])
    count = 0
    try:
        while count < len(sent):
            message = consumer.poll(10)
            assert message is not None, f"only {count} of {len(sent)} records consumed"
            assert message.error() is None, message.error()
            got.setdefault(message.key(), []).append((message.value(), message.headers()))
            count += 1
    finally:
        consumer.close()
    for key in {k for k, _ in sent}:
        expected = [(v, [("h", key)]) for k, v in sent if k == key]
        assert got[key] == expected


def test_kafka_python_produces_and_consumes(dev_node: DevNode) -> None:
    """kafka-python (idempotent by default) auto-creates a topic by producing to it
    and reads every record back in order."""
    producer = kafka.KafkaProducer(bootstrap_servers=dev_node.bootstrap)
    values = [f"v{i}".encode() for i in range(500)]
    for value in values:
        producer.send("kp-smoke", value)
    producer.flush(30)
    producer.close()
    consumer = kafka.KafkaConsumer(
        bootstrap_servers=dev_node.bootstrap, auto_offset_reset="earliest",
        enable_auto_commit=False, consumer_timeout_ms=10_000,
    )
    consumer.assign([kafka.TopicPartition("kp-smoke", 0)])
    consumer.seek_to_beginning()
    got = []
    for message in consumer:
        got.append(message.value)
        if len(got) == len(values):
            break
    consumer.close()
    assert got == values
