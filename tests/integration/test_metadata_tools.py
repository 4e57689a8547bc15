"""`kraft metadata dump` / `kraft metadata show` against a node real clients changed.

The clients' admin APIs (both confluent-kafka and kafka-python, through
tests/integration/helpers.py) create, alter, grow and delete topics on a
`kraft dev` node; the tools then run as separate processes on the node's
data directory while it runs. `dump` must name every topic ever created
(TopicRecord) and every deletion (RemoveTopicRecord) with the ids the
clients saw; `show` must agree with what the Metadata, DescribeCluster and
DescribeConfigs APIs report. A last test checks the tools are read-only.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import kafka
import pytest

from tests.integration.dev import DevNode
from tests.integration.helpers import (
    METADATA_DIR,
    Admin,
    ConfluentAdmin,
    KafkaPythonAdmin,
    kraft,
    parse_show,
)


@pytest.fixture
def admins(dev_node: DevNode) -> Iterator[tuple[Admin, Admin]]:
    """(confluent-kafka, kafka-python) admin clients of the test's dev node."""
    confluent, kafka_python = ConfluentAdmin(dev_node.bootstrap), KafkaPythonAdmin(
        dev_node.bootstrap)
    yield confluent, kafka_python
    confluent.close()
    kafka_python.close()


def _auto_create(bootstrap: str, topic: str) -> None:
    """Produce to a topic that does not exist: Metadata creates it (auto-create)."""
    producer = kafka.KafkaProducer(bootstrap_servers=bootstrap)
    try:
        producer.send(topic, b"made by producing").get(timeout=30)
    finally:
        producer.close(timeout=10)


def _change_topics(confluent: Admin, kafka_python: Admin, bootstrap: str) -> dict[str, str]:
    """Create, alter, grow and delete topics with both clients; name -> topic id
    of every topic created (deleted ones included)."""
    confluent.create_topic("c-kept", 2, {"retention.ms": "60000"})
    confluent.create_topic("c-gone", 3, {"cleanup.policy": "compact"})
    kafka_python.create_topic("k-kept", 1, {})
    kafka_python.create_topic("k-gone", 2, {})
    _auto_create(bootstrap, "auto-made")
    names = ["c-kept", "c-gone", "k-kept", "k-gone", "auto-made"]
    ids = {name: view.topic_id for name, view in confluent.describe_topics(names).items()}
    kafka_python.incremental_alter_configs("k-kept", {"segment.bytes": "2097152"}, [])
    confluent.incremental_alter_configs("c-kept", {"max.message.bytes": "65536"},
                                        ["retention.ms"])
    kafka_python.create_partitions("k-kept", 4)
    confluent.delete_topics(["c-gone"])
    kafka_python.delete_topics(["k-gone"])
    return ids


def test_dump_names_every_topic_created_and_deleted(
    admins: tuple[Admin, Admin], dev_node: DevNode
) -> None:
    """`metadata dump --json` holds one TopicRecord per topic created (by either
    client's admin API or by auto-creation) with the id the clients saw, a
    PartitionRecord per partition, and a RemoveTopicRecord after the TopicRecord
    of each deleted topic; the text dump names the same records."""
    ids = _change_topics(*admins, dev_node.bootstrap)
    records = [json.loads(line) for line in
               kraft("metadata", "dump", str(dev_node.data_dir), "--json").stdout.splitlines()]
    created = {r["record"]["name"]: r for r in records if r["type"] == "TopicRecord"}
    assert {name: r["record"]["topic_id"] for name, r in created.items()} == ids
    partitions = Counter(r["record"]["topic_id"] for r in records
                         if r["type"] == "PartitionRecord")
    expected_partitions = {"c-kept": 2, "c-gone": 3, "k-kept": 4, "k-gone": 2, "auto-made": 1}
    assert {name: partitions[ids[name]] for name in ids} == expected_partitions
    removed = {r["record"]["topic_id"]: r["offset"] for r in records
               if r["type"] == "RemoveTopicRecord"}
    assert set(removed) == {ids["c-gone"], ids["k-gone"]}
    for name in ("c-gone", "k-gone"):
        assert removed[ids[name]] > created[name]["offset"], name

    text = kraft("metadata", "dump", str(dev_node.data_dir)).stdout.splitlines()
    for name, topic_id in ids.items():
        assert any(" TopicRecord " in line and f'"name":"{name}"' in line
                   and topic_id in line for line in text), name
    for topic_id in removed:
        assert any(" RemoveTopicRecord " in line and topic_id in line for line in text)


def _show_partitions(tables: dict[str, list[dict[str, str]]]) -> set[tuple]:
    return {(r["topic"], r["id"], int(r["partition"]), int(r["leader"]),
             tuple(json.loads(r["replicas"])), tuple(json.loads(r["isr"])))
            for r in tables["Topics and partitions"]}


def _api_partitions(admin: Admin) -> set[tuple]:
    described = admin.describe_topics(sorted(admin.list_topics()))
    return {(name, view.topic_id, p.partition, p.leader, p.replicas, p.isr)
            for name, view in described.items() for p in view.partitions}


def test_show_agrees_with_the_metadata_api(
    admins: tuple[Admin, Admin], dev_node: DevNode
) -> None:
    """`metadata show` on the running node's directory lists exactly the topics,
    topic ids, partition leaders, replicas and ISRs that each client's Metadata
    reports, the brokers and endpoints DescribeCluster/Metadata report, and the
    topic configs DescribeConfigs reports as DYNAMIC_TOPIC_CONFIG."""
    _change_topics(*admins, dev_node.bootstrap)
    tables = parse_show(kraft("metadata", "show", str(dev_node.data_dir)).stdout)
    show_partitions = _show_partitions(tables)
    show_brokers = {int(r["id"]): (r["endpoints"], r["fenced"]) for r in tables["Brokers"]}
    show_configs = {(r["name"], r["key"], r["value"]) for r in tables["Configs"]
                    if r["resource"] == "topic"}
    assert {row[0] for row in show_partitions} == {"c-kept", "k-kept", "auto-made"}
    assert show_configs == {("c-kept", "max.message.bytes", "65536"),
                            ("k-kept", "segment.bytes", "2097152")}
    for admin in admins:
        assert _api_partitions(admin) == show_partitions, admin.name
        assert show_brokers == {
            broker_id: (f"PLAINTEXT://{host}:{port}", "False")
            for broker_id, (host, port) in admin.brokers().items()
        }, admin.name
        api_configs = {(topic, key, value) for topic in admin.list_topics()
                       for key, (value, source) in admin.describe_configs(topic).items()
                       if source == "DYNAMIC_TOPIC_CONFIG"}
        assert api_configs == show_configs, admin.name


def _digest(directory: Path) -> dict[str, str]:
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def test_tools_leave_the_directory_untouched(
    admins: tuple[Admin, Admin], dev_node: DevNode
) -> None:
    """On a stopped node the tools change no file of the metadata log directory,
    and `show` still lists every surviving topic with its partitions."""
    ids = _change_topics(*admins, dev_node.bootstrap)
    before_stop = _show_partitions(
        parse_show(kraft("metadata", "show", str(dev_node.data_dir)).stdout))
    assert dev_node.stop() == 0, dev_node.stderr()
    metadata_dir = dev_node.data_dir / METADATA_DIR
    digest = _digest(metadata_dir)
    kraft("metadata", "dump", str(dev_node.data_dir))
    kraft("metadata", "dump", str(metadata_dir), "--json")
    stopped = parse_show(kraft("metadata", "show", str(dev_node.data_dir)).stdout)
    assert _digest(metadata_dir) == digest
    # Leaders may change as the broker shuts down; topics, ids and replicas may not.
    assert {(r[0], r[1], r[2], r[4]) for r in _show_partitions(stopped)} == {
        (r[0], r[1], r[2], r[4]) for r in before_stop}
    assert {r[1] for r in before_stop} == {ids[n] for n in ("c-kept", "k-kept", "auto-made")}
