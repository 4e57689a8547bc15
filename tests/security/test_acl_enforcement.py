"""ACLs enforced on a real node: StandardAuthorizer, SASL_PLAINTEXT + PLAIN, confluent-kafka.

One node (broker + controller) with `authorizer.class.name` set; users admin (in
super.users, with ANONYMOUS: the node's own principal on its PLAINTEXT inter-broker
and controller listeners), alice and bob. Each test checks one property of Kafka's authorizer
against that node, with ACLs created through the admin API as a user would.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import confluent_kafka
import kafka
import kafka.admin
import kafka.errors
import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)

from tests.security.acl_node import USERS, client_settings, consume, group, start_kraft

ORDERS = ("orders-1", "orders-2")
SECRET = "secret"


class Node:
    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap

    def settings(self, user: str) -> dict[str, Any]:
        return client_settings(self.bootstrap, user)

    def admin(self, user: str) -> AdminClient:
        return AdminClient(self.settings(user))


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """The node (tests/security/acl_node.py), with topics orders-1, orders-2 and secret
    holding 5 records each, and alice allowed READ on topics and groups prefixed
    `orders-` and `g-alice`."""
    with start_kraft(tmp_path_factory.mktemp("acl-node")) as bootstrap:
        node = Node(bootstrap)
        _setup(node)
        yield node


def _setup(node: Node) -> None:
    admin = node.admin("admin")
    for future in admin.create_topics([NewTopic(t, 1, 1) for t in (*ORDERS, SECRET)]).values():
        future.result(30)
    producer = confluent_kafka.Producer({**node.settings("admin"),
                                         "message.timeout.ms": 30000})
    for topic in (*ORDERS, SECRET):
        for i in range(5):
            producer.produce(topic, f"{topic}-{i}".encode())
    assert producer.flush(30) == 0
    _create_acls(admin, [
        AclBinding(ResourceType.TOPIC, "orders-", ResourcePatternType.PREFIXED, "User:alice",
                   "*", AclOperation.READ, AclPermissionType.ALLOW),
        AclBinding(ResourceType.GROUP, "g-alice", ResourcePatternType.PREFIXED, "User:alice",
                   "*", AclOperation.READ, AclPermissionType.ALLOW),
    ])


def _create_acls(admin: AdminClient, bindings: list[AclBinding]) -> None:
    for future in admin.create_acls(bindings, request_timeout=30).values():
        future.result()


def test_prefixed_read_consumes_matching_topic_with_its_group(node: Node) -> None:
    """alice, with READ on `orders-*` and groups `g-alice*`, consumes orders-1 and commits."""
    got, error = consume(node.bootstrap, "alice", "orders-1", group("g-alice"))
    assert error is None
    assert got == [f"orders-1-{i}".encode() for i in range(5)]


def test_user_cannot_consume_other_topic_or_with_other_group(node: Node) -> None:
    """alice cannot read `secret`, nor read orders-1 in a group she has no ACL for."""
    _, error = consume(node.bootstrap, "alice", SECRET, group("g-alice"))
    assert error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    _, error = consume(node.bootstrap, "alice", "orders-1", group("g-other"))
    assert error is not None and error.code() == KafkaError.GROUP_AUTHORIZATION_FAILED


def test_metadata_hides_undescribable_topics(node: Node) -> None:
    """Metadata lists only the topics alice may describe; asked by name, `secret` is
    TOPIC_AUTHORIZATION_FAILED; bob, without ACLs, sees no topic at all."""
    listed = node.admin("alice").list_topics(timeout=30)
    assert set(listed.topics) == set(ORDERS)
    named = node.admin("alice").list_topics(topic=SECRET, timeout=30)
    assert named.topics[SECRET].error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert node.admin("bob").list_topics(timeout=30).topics == {}


def test_produce_without_write_is_topic_authorization_failed(node: Node) -> None:
    """alice (READ only) producing to orders-1 gets TOPIC_AUTHORIZATION_FAILED."""
    errors: list[KafkaError] = []
    producer = confluent_kafka.Producer({**node.settings("alice"),
                                         "message.timeout.ms": 20000})
    producer.produce("orders-1", b"x", on_delivery=lambda err, msg: errors.append(err))
    producer.flush(30)
    assert [e.code() for e in errors] == [KafkaError.TOPIC_AUTHORIZATION_FAILED]


def test_deny_beats_allow(node: Node) -> None:
    """A DENY READ on orders-2 for alice wins over her prefixed ALLOW; orders-1 stays
    readable."""
    _create_acls(node.admin("admin"), [
        AclBinding(ResourceType.TOPIC, "orders-2", ResourcePatternType.LITERAL, "User:alice",
                   "*", AclOperation.READ, AclPermissionType.DENY)])
    _, error = consume(node.bootstrap, "alice", "orders-2", group("g-alice"))
    assert error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    got, error = consume(node.bootstrap, "alice", "orders-1", group("g-alice"))
    assert error is None and len(got) == 5


def test_super_user_does_everything(node: Node) -> None:
    """admin (super.users) reads `secret`, creates and deletes a topic, describes ACLs
    and commits a transaction."""
    got, error = consume(node.bootstrap, "admin", SECRET, group("g-admin"))
    assert error is None and len(got) == 5
    admin = node.admin("admin")
    topic = f"t-{uuid.uuid4().hex[:6]}"
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
    admin.delete_topics([topic])[topic].result(30)
    described = admin.describe_acls(AclBindingFilter(
        ResourceType.ANY, None, ResourcePatternType.ANY, None, None, AclOperation.ANY,
        AclPermissionType.ANY), request_timeout=30).result()
    assert any(b.name == "orders-" and b.principal == "User:alice" for b in described)
    # A transaction: InitProducerId, AddPartitionsToTxn, Produce (verified), EndTxn, and
    # the markers the coordinator writes over the inter-broker listener (CLUSTER_ACTION).
    producer = confluent_kafka.Producer({**node.settings("admin"),
                                         "transactional.id": f"txn-{topic}"})
    producer.init_transactions(30)
    producer.begin_transaction()
    producer.produce(SECRET, b"in-txn")
    producer.commit_transaction(30)
    got, error = consume(node.bootstrap, "admin", SECRET, group("g-admin"), want=6)
    assert error is None and got[-1] == b"in-txn"


def test_admin_apis_need_cluster_or_topic_rights(node: Node) -> None:
    """bob may not create a topic (forwarded CreateTopics: TOPIC_AUTHORIZATION_FAILED),
    create ACLs or describe them (CLUSTER_AUTHORIZATION_FAILED)."""
    bob = node.admin("bob")
    with pytest.raises(KafkaException) as created:
        bob.create_topics([NewTopic("bobs-topic", 1, 1)])["bobs-topic"].result(30)
    assert created.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    with pytest.raises(KafkaException) as acl:
        _create_acls(bob, [AclBinding(ResourceType.TOPIC, SECRET, ResourcePatternType.LITERAL,
                                      "User:bob", "*", AclOperation.ALL,
                                      AclPermissionType.ALLOW)])
    assert acl.value.args[0].code() == KafkaError.CLUSTER_AUTHORIZATION_FAILED
    # librdkafka drops DescribeAcls' top-level error (it answers an empty list), so
    # kafka-python asks.
    kp = kafka.admin.KafkaAdminClient(
        bootstrap_servers=node.bootstrap, security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="PLAIN", sasl_plain_username="bob",
        sasl_plain_password=USERS["bob"])
    try:
        with pytest.raises(kafka.errors.ClusterAuthorizationFailedError):
            kp.describe_acls(kafka.admin.ACLFilter(
                principal=None, host="*", operation=kafka.admin.ACLOperation.ANY,
                permission_type=kafka.admin.ACLPermissionType.ANY,
                resource_pattern=kafka.admin.ResourcePatternFilter(
                    kafka.admin.ResourceType.ANY, None,
                    kafka.admin.ACLResourcePatternType.ANY)))
    finally:
        kp.close()
    assert "bobs-topic" not in node.admin("admin").list_topics(timeout=30).topics
