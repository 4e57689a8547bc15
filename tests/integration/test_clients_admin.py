"""Admin through each real client's admin API against `kraft dev`.

Every test runs once with confluent-kafka's AdminClient (librdkafka) and
once with kafka-python's KafkaAdminClient, through the `Admin` adapters of
tests/integration/helpers.py: list and describe topics (partitions,
leaders, replicas, ISR), create with configs, describe configs with their
sources, incremental alter configs, create partitions, delete topics. What
a client reports is checked against the node's data directory too: a new
partition has its directory, a deleted topic's directories are gone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import confluent_kafka
import pytest
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)
from kafka import KafkaAdminClient
from kafka.admin import (
    ACLFilter,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    ResourcePatternFilter,
)
from kafka.admin import ResourceType as KResourceType
from kafka.errors import SecurityDisabledError
from kio.schema.errors import ErrorCode

from tests.integration.dev import DevNode
from tests.integration.helpers import (
    ADMINS,
    Admin,
    AdminError,
    PartitionView,
    partition_dirs,
    wait_until,
)

BROKER_ID = 1  # kraft dev runs node 1 with both roles


@pytest.fixture(params=sorted(ADMINS))
def admin(request: pytest.FixtureRequest, dev_node: DevNode) -> Iterator[Admin]:
    """An admin client of each kind connected to the test's dev node."""
    client = ADMINS[request.param](dev_node.bootstrap)
    yield client
    client.close()


def _only_local(partitions: int) -> list[PartitionView]:
    return [PartitionView(p, BROKER_ID, (BROKER_ID,), (BROKER_ID,)) for p in range(partitions)]


def _produce(bootstrap: str, topic: str, partitions: int, per_partition: int) -> None:
    producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for p in range(partitions):
        for i in range(per_partition):
            producer.produce(topic, value=f"{topic}-{p}-{i}".encode(), partition=p)
    assert producer.flush(30) == 0


def _high_watermarks(bootstrap: str, topic: str, partitions: int) -> list[int]:
    consumer = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": "admin-tests",
                                         "enable.auto.commit": False})
    try:
        return [consumer.get_watermark_offsets(confluent_kafka.TopicPartition(topic, p),
                                               timeout=30)[1] for p in range(partitions)]
    finally:
        consumer.close()


def test_list_and_describe_topics(admin: Admin, dev_node: DevNode) -> None:
    """Created topics are listed and described with every partition led by the
    only broker, which is the sole replica and the ISR; Metadata names that broker
    at the address the client bootstrapped from."""
    admin.create_topic("alpha", 3, {})
    admin.create_topic("beta", 1, {})
    assert admin.list_topics() == {"alpha", "beta"}
    described = admin.describe_topics(["alpha", "beta"])
    assert described["alpha"].partitions == _only_local(3)
    assert described["beta"].partitions == _only_local(1)
    assert described["alpha"].topic_id != described["beta"].topic_id
    host, port = dev_node.bootstrap.rsplit(":", 1)
    assert admin.brokers() == {BROKER_ID: (host, int(port))}


def test_create_topic_errors(admin: Admin) -> None:
    """Creating an existing topic is TOPIC_ALREADY_EXISTS, an illegal name is
    INVALID_TOPIC_EXCEPTION, and neither changes the topic list."""
    admin.create_topic("once", 2, {})
    with pytest.raises(AdminError) as exists:
        admin.create_topic("once", 4, {})
    assert exists.value.code == ErrorCode.topic_already_exists
    with pytest.raises(AdminError) as invalid:
        admin.create_topic("no spaces allowed", 1, {})
    assert invalid.value.code == ErrorCode.invalid_topic_exception
    assert admin.list_topics() == {"once"}
    assert admin.describe_topics(["once"])["once"].partitions == _only_local(2)


def test_create_topic_with_configs_and_describe_configs(admin: Admin) -> None:
    """Configs given at creation are described as DYNAMIC_TOPIC_CONFIG with their
    values; every other topic config is described with Kafka's default."""
    configs = {"retention.ms": "3600000", "cleanup.policy": "compact",
               "max.message.bytes": "2097152"}
    admin.create_topic("configured", 2, configs)
    described = admin.describe_configs("configured")
    for name, value in configs.items():
        assert described[name] == (value, "DYNAMIC_TOPIC_CONFIG"), name
    assert described["segment.bytes"] == ("1073741824", "DEFAULT_CONFIG")
    assert described["min.insync.replicas"] == ("1", "DEFAULT_CONFIG")
    dynamic = {k for k, (_, source) in described.items() if source == "DYNAMIC_TOPIC_CONFIG"}
    assert dynamic == set(configs)


def test_describe_configs_reports_broker_overrides(dev_factory: Callable[..., DevNode]) -> None:
    """A topic config not set on the topic but set in the broker's properties
    (log.retention.ms) is described with that value as STATIC_BROKER_CONFIG."""
    node = dev_factory("log.retention.ms=7200000")
    for make in ADMINS.values():
        client = make(node.bootstrap)
        try:
            name = f"inherits-{client.name}"
            client.create_topic(name, 1, {})
            assert client.describe_configs(name)["retention.ms"] == (
                "7200000", "STATIC_BROKER_CONFIG")
        finally:
            client.close()


def test_incremental_alter_configs(admin: Admin) -> None:
    """IncrementalAlterConfigs SETs values (DYNAMIC_TOPIC_CONFIG afterwards) and
    DELETEs a topic config back to its default; an invalid value is INVALID_CONFIG
    and changes nothing."""
    admin.create_topic("altered", 1, {"retention.ms": "3600000", "cleanup.policy": "compact"})
    admin.incremental_alter_configs(
        "altered", {"retention.ms": "1234", "segment.bytes": "1048576"}, ["cleanup.policy"]
    )
    described = admin.describe_configs("altered")
    assert described["retention.ms"] == ("1234", "DYNAMIC_TOPIC_CONFIG")
    assert described["segment.bytes"] == ("1048576", "DYNAMIC_TOPIC_CONFIG")
    assert described["cleanup.policy"] == ("delete", "DEFAULT_CONFIG")
    with pytest.raises(AdminError) as invalid:
        admin.incremental_alter_configs("altered", {"retention.ms": "not-a-number"}, [])
    assert invalid.value.code == ErrorCode.invalid_config
    assert admin.describe_configs("altered")["retention.ms"] == ("1234", "DYNAMIC_TOPIC_CONFIG")


def test_create_partitions(admin: Admin, dev_node: DevNode) -> None:
    """CreatePartitions grows a topic: the new partitions are described with a
    leader, get their directories and take records; shrinking is INVALID_PARTITIONS."""
    admin.create_topic("growing", 2, {})
    admin.create_partitions("growing", 5)
    assert admin.describe_topics(["growing"])["growing"].partitions == _only_local(5)
    expected = {f"growing-{p}" for p in range(5)}
    wait_until(lambda: partition_dirs(dev_node.data_dir) == expected,
               f"partition directories {sorted(expected)}")
    _produce(dev_node.bootstrap, "growing", 5, 3)
    assert _high_watermarks(dev_node.bootstrap, "growing", 5) == [3] * 5
    with pytest.raises(AdminError) as shrink:
        admin.create_partitions("growing", 3)
    assert shrink.value.code == ErrorCode.invalid_partitions
    assert len(admin.describe_topics(["growing"])["growing"].partitions) == 5


def test_delete_topics(admin: Admin, dev_node: DevNode) -> None:
    """A deleted topic is gone from Metadata (listing and describing) and its
    partition directories are removed from the data dir; other topics keep theirs;
    a topic recreated under the same name starts empty with a new id; deleting an
    unknown topic is UNKNOWN_TOPIC_OR_PARTITION."""
    admin.create_topic("doomed", 3, {})
    admin.create_topic("kept", 1, {})
    _produce(dev_node.bootstrap, "doomed", 3, 50)
    _produce(dev_node.bootstrap, "kept", 1, 5)
    old_id = admin.describe_topics(["doomed"])["doomed"].topic_id
    admin.delete_topics(["doomed"])
    assert admin.list_topics() == {"kept"}
    with pytest.raises(AdminError) as unknown:
        admin.describe_topics(["doomed"])
    assert unknown.value.code == ErrorCode.unknown_topic_or_partition
    wait_until(lambda: not any(p.name.startswith("doomed-") for p in dev_node.data_dir.iterdir()),
               "no doomed-* directory (live or -delete) left in the data dir")
    assert partition_dirs(dev_node.data_dir) == {"kept-0"}
    assert _high_watermarks(dev_node.bootstrap, "kept", 1) == [5]

    admin.create_topic("doomed", 2, {})
    recreated = admin.describe_topics(["doomed"])["doomed"]
    assert recreated.topic_id != old_id
    assert recreated.partitions == _only_local(2)
    assert _high_watermarks(dev_node.bootstrap, "doomed", 2) == [0, 0]

    with pytest.raises(AdminError) as missing:
        admin.delete_topics(["never-existed"])
    assert missing.value.code == ErrorCode.unknown_topic_or_partition


def test_delete_of_an_internal_topic_is_refused(admin: Admin, dev_node: DevNode) -> None:
    """Deleting __consumer_offsets is INVALID_TOPIC_EXCEPTION: the topic stays and a
    group's committed offset with it."""
    admin.create_topic("paid", 1, {})
    _produce(dev_node.bootstrap, "paid", 1, 3)
    group = {"bootstrap.servers": dev_node.bootstrap, "group.id": "keeps-offsets",
             "enable.auto.commit": False}
    committer = confluent_kafka.Consumer(group)
    committer.commit(offsets=[confluent_kafka.TopicPartition("paid", 0, 2)],
                     asynchronous=False)
    committer.close()
    with pytest.raises(AdminError) as refused:
        admin.delete_topics(["__consumer_offsets"])
    assert refused.value.code == ErrorCode.invalid_topic_exception
    assert "__consumer_offsets" in admin.describe_topics(["__consumer_offsets"])
    reader = confluent_kafka.Consumer(group)
    try:
        [committed] = reader.committed([confluent_kafka.TopicPartition("paid", 0)], timeout=30)
    finally:
        reader.close()
    assert committed.offset == 2


def test_acl_apis_answer_security_disabled(dev_node: DevNode) -> None:
    """Without an authorizer, as Kafka without one: DescribeAcls and CreateAcls answer
    SECURITY_DISABLED. kafka-python raises it for DescribeAcls; librdkafka drops
    DescribeAcls' error code (its parser returns no error whatever the code, so a
    real Kafka gives the same empty listing) but raises it for CreateAcls."""
    admin = AdminClient({"bootstrap.servers": dev_node.bootstrap})
    any_filter = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None,
                                  AclOperation.ANY, AclPermissionType.ANY)
    assert admin.describe_acls(any_filter).result(10) == []
    binding = AclBinding(ResourceType.TOPIC, "t", ResourcePatternType.LITERAL, "User:alice",
                         "*", AclOperation.READ, AclPermissionType.ALLOW)
    (future,) = admin.create_acls([binding]).values()
    with pytest.raises(confluent_kafka.KafkaException) as created:
        future.result(10)
    assert created.value.args[0].code() == confluent_kafka.KafkaError.SECURITY_DISABLED

    client = KafkaAdminClient(bootstrap_servers=dev_node.bootstrap)
    try:
        kfilter = ACLFilter(principal=None, host="*", operation=ACLOperation.ANY,
                            permission_type=ACLPermissionType.ANY,
                            resource_pattern=ResourcePatternFilter(
                                KResourceType.ANY, None, ACLResourcePatternType.ANY))
        with pytest.raises(SecurityDisabledError):
            client.describe_acls(kfilter)
    finally:
        client.close()


def test_describe_topic_partitions_pages_with_a_cursor(dev_node: DevNode) -> None:
    """kafka-python's describe_topic_partitions (DescribeTopicPartitions): topics in
    name order with their partitions as Metadata reports them, at most the partition
    limit per answer, and a cursor that continues where the answer stopped."""
    setup = AdminClient({"bootstrap.servers": dev_node.bootstrap})
    for name, count in (("dtp-a", 3), ("dtp-b", 2)):
        setup.create_topics([confluent_kafka.admin.NewTopic(name, count, 1)])[name].result(30)
    client = KafkaAdminClient(bootstrap_servers=dev_node.bootstrap)
    try:
        seen: list[tuple[str, int, int]] = []
        cursor = None
        pages = 0
        while True:
            answer = client.describe_topic_partitions(["dtp-b", "dtp-a"],
                                                      response_partition_limit=2,
                                                      cursor=cursor)
            pages += 1
            for topic in answer["topics"]:
                assert topic["error_code"] == 0, topic
                seen += [(topic["name"], p["partition_index"], p["leader_id"])
                         for p in topic["partitions"]]
            cursor = answer["next_cursor"]
            if cursor is None:
                break
        assert seen == [("dtp-a", 0, BROKER_ID), ("dtp-a", 1, BROKER_ID), ("dtp-a", 2, BROKER_ID),
                        ("dtp-b", 0, BROKER_ID), ("dtp-b", 1, BROKER_ID)]
        assert pages == 3
        unknown = client.describe_topic_partitions(["dtp-missing"])["topics"]
        assert [t["error_code"] for t in unknown] == [ErrorCode.unknown_topic_or_partition]
    finally:
        client.close()


def test_describe_metadata_quorum_through_a_broker(dev_node: DevNode) -> None:
    """kafka-python's describe_metadata_quorum sends DescribeQuorum to a broker, which
    forwards it to the active controller (KIP-836): node 1 leads, alone."""
    client = KafkaAdminClient(bootstrap_servers=dev_node.bootstrap)
    try:
        quorum = client.describe_metadata_quorum()
    finally:
        client.close()
    (topic,) = quorum["topics"]
    (partition,) = topic["partitions"]
    assert partition["error"] is None and partition["leader_id"] == BROKER_ID
    assert [v["replica_id"] for v in partition["current_voters"]] == [BROKER_ID]
    assert partition["high_watermark"] > 0
