"""ACLs against kraft and against Apache Kafka 4.x with the same settings and checks.

Both systems run StandardAuthorizer with the SASL_PLAINTEXT + PLAIN users of
tests/security/acl_node.py. Kafka's own `kafka-acls.sh --bootstrap-server`
adds, lists and removes ACLs, and clients as alice and bob get the error codes
Kafka gives (the Kafka run, marked slow, is the judge of those codes).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import confluent_kafka
import kafka.admin
import kafka.errors
import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)

from tests.compat.conftest import run_tool, unique, write
from tests.compat.kafka_dist import KafkaDist
from tests.compat.kafka_node import HOST, KafkaCluster
from tests.ports import free_port
from tests.security.acl_node import (
    PLAIN,
    USERS,
    acl_settings,
    client_settings,
    consume,
    group,
    start_kraft,
)


@pytest.fixture(scope="module", params=["kraft", pytest.param("kafka", marks=pytest.mark.slow)])
def system(request: pytest.FixtureRequest, kafka: KafkaDist,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The SASL_PLAINTEXT bootstrap address of a kraft node or of an Apache Kafka node."""
    root = tmp_path_factory.mktemp(f"acls-{request.param}")
    if request.param == "kraft":
        with start_kraft(root) as bootstrap:
            yield bootstrap
        return
    client, controller, sasl = free_port(), free_port(), free_port()
    listeners = (f"PLAINTEXT://{HOST}:{client},CONTROLLER://{HOST}:{controller},"
                 f"SASL_PLAINTEXT://{HOST}:{sasl}")
    with KafkaCluster(kafka, root, nodes=1, ports={1: (client, controller)},
                      overrides={"listeners": listeners, "advertised.listeners": listeners,
                                 **acl_settings()}) as cluster:
        cluster.start()
        yield f"{HOST}:{sasl}"


def _command_config(tmp: Path, user: str) -> str:
    return str(write(tmp / f"{user}.properties",
                     "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n"
                     f'sasl.jaas.config={PLAIN} required username="{user}" '
                     f'password="{USERS[user]}";\n'))


def _await_describable(bootstrap: str, user: str, topic: str) -> None:
    """Wait until `user` may describe `topic`: Kafka answers CreateAcls once the
    controller has the ACLs, its broker's authorizer may apply them a little later
    (kraft answers once the broker has them)."""
    admin = AdminClient(client_settings(bootstrap, user))
    deadline = time.monotonic() + 30
    while admin.list_topics(topic=topic, timeout=10).topics[topic].error is not None:
        assert time.monotonic() < deadline, f"{user} still may not describe {topic}"
        time.sleep(0.1)


def test_kafka_acls_tool(kafka: KafkaDist, system: str, tmp_path: Path) -> None:
    """kafka-acls.sh adds READ on a prefixed topic and group for alice, lists it as
    Kafka prints it, refuses bob (not authorized to describe ACLs), and removes it."""
    admin, bob = _command_config(tmp_path, "admin"), _command_config(tmp_path, "bob")
    prefix = unique("tool-")
    common = ["--bootstrap-server", system, "--resource-pattern-type", "prefixed",
              "--topic", prefix]
    run_tool(kafka, "kafka-acls", *common, "--command-config", admin, "--add",
             "--allow-principal", "User:alice", "--operation", "Read", "--group", prefix)
    listed = run_tool(kafka, "kafka-acls", *common, "--command-config", admin, "--list").stdout
    assert f"ResourcePattern(resourceType=TOPIC, name={prefix}, patternType=PREFIXED)" in listed
    assert "(principal=User:alice, host=*, operation=READ, permissionType=ALLOW)" in listed
    refused = run_tool(kafka, "kafka-acls", *common, "--command-config", bob, "--list",
                       expect_exit=None)
    assert "ClusterAuthorizationException" in refused.stdout + refused.stderr
    run_tool(kafka, "kafka-acls", *common, "--command-config", admin, "--remove", "--force",
             "--allow-principal", "User:alice", "--operation", "Read")
    after = run_tool(kafka, "kafka-acls", *common, "--command-config", admin, "--list").stdout
    assert "User:alice" not in after


def test_error_codes(system: str) -> None:
    """alice (READ on `acl-orders-*` and groups `acl-g-*`): consumes her topic; producing
    is TOPIC_AUTHORIZATION_FAILED, another topic TOPIC_AUTHORIZATION_FAILED, another
    group GROUP_AUTHORIZATION_FAILED, undescribable topics are not listed; bob's
    CreateTopics is TOPIC_AUTHORIZATION_FAILED, his CreateAcls and DescribeAcls
    CLUSTER_AUTHORIZATION_FAILED."""
    mine, secret = unique("acl-orders"), unique("acl-secret")
    admin = AdminClient(client_settings(system, "admin"))
    for future in admin.create_topics([NewTopic(t, 1, 1) for t in (mine, secret)]).values():
        future.result(30)
    producer = confluent_kafka.Producer({**client_settings(system, "admin"),
                                         "message.timeout.ms": 30000})
    for topic in (mine, secret):
        producer.produce(topic, b"v")
    assert producer.flush(30) == 0
    for future in admin.create_acls([
        AclBinding(ResourceType.TOPIC, "acl-orders-", ResourcePatternType.PREFIXED,
                   "User:alice", "*", AclOperation.READ, AclPermissionType.ALLOW),
        AclBinding(ResourceType.GROUP, "acl-g-", ResourcePatternType.PREFIXED,
                   "User:alice", "*", AclOperation.READ, AclPermissionType.ALLOW),
    ], request_timeout=30).values():
        future.result()

    _await_describable(system, "alice", mine)
    got, error = consume(system, "alice", mine, group("acl-g"), want=1)
    assert error is None and got == [b"v"]
    _, error = consume(system, "alice", secret, group("acl-g"), want=1)
    assert error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    _, error = consume(system, "alice", mine, group("other"), want=1)
    assert error is not None and error.code() == KafkaError.GROUP_AUTHORIZATION_FAILED
    errors: list[KafkaError] = []
    alice_producer = confluent_kafka.Producer({**client_settings(system, "alice"),
                                               "message.timeout.ms": 20000})
    alice_producer.produce(mine, b"x", on_delivery=lambda err, msg: errors.append(err))
    alice_producer.flush(30)
    assert [e.code() for e in errors] == [KafkaError.TOPIC_AUTHORIZATION_FAILED]
    listed = AdminClient(client_settings(system, "alice")).list_topics(timeout=30).topics
    assert mine in listed and secret not in listed
    named = AdminClient(client_settings(system, "alice")).list_topics(topic=secret, timeout=30)
    assert named.topics[secret].error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED

    bob = AdminClient(client_settings(system, "bob"))
    with pytest.raises(KafkaException) as created:
        bob.create_topics([NewTopic("bobs", 1, 1)])["bobs"].result(30)
    assert created.value.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    with pytest.raises(KafkaException) as acl:
        for future in bob.create_acls([AclBinding(
                ResourceType.TOPIC, secret, ResourcePatternType.LITERAL, "User:bob", "*",
                AclOperation.ALL, AclPermissionType.ALLOW)], request_timeout=30).values():
            future.result()
    assert acl.value.args[0].code() == KafkaError.CLUSTER_AUTHORIZATION_FAILED
    kp = kafka.admin.KafkaAdminClient(
        bootstrap_servers=system, security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN",
        sasl_plain_username="bob", sasl_plain_password=USERS["bob"])
    try:
        with pytest.raises(kafka.errors.ClusterAuthorizationFailedError):
            kp.describe_acls(kafka.admin.ACLFilter(
                principal=None, host="*", operation=kafka.admin.ACLOperation.ANY,
                permission_type=kafka.admin.ACLPermissionType.ANY,
                resource_pattern=kafka.admin.ResourcePatternFilter(
                    kafka.admin.ResourceType.ANY, None, kafka.admin.ACLResourcePatternType.ANY)))
    finally:
        kp.close()


def test_producer_ids_and_groups(system: str) -> None:
    """An idempotent producer needs only WRITE on its topic (KIP-679); a transactional
    one without WRITE on its transactional id gets TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
    ListGroups lists only the groups the user may describe."""
    topic, txn_user = unique("acl-idem"), "alice"
    admin = AdminClient(client_settings(system, "admin"))
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
    for future in admin.create_acls([
        AclBinding(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, "User:alice", "*",
                   AclOperation.WRITE, AclPermissionType.ALLOW),
        AclBinding(ResourceType.TOPIC, topic, ResourcePatternType.LITERAL, "User:alice", "*",
                   AclOperation.READ, AclPermissionType.ALLOW),
        AclBinding(ResourceType.GROUP, "acl-g-", ResourcePatternType.PREFIXED, "User:alice",
                   "*", AclOperation.READ, AclPermissionType.ALLOW),
    ], request_timeout=30).values():
        future.result()
    _await_describable(system, "alice", topic)  # the three ACLs came in one record batch
    errors: list[KafkaError | None] = []
    idempotent = confluent_kafka.Producer({**client_settings(system, txn_user),
                                           "enable.idempotence": True,
                                           "message.timeout.ms": 20000})
    idempotent.produce(topic, b"x", on_delivery=lambda err, msg: errors.append(err))
    idempotent.flush(30)
    assert errors == [None]
    transactional = confluent_kafka.Producer({**client_settings(system, txn_user),
                                              "transactional.id": unique("acl-txn")})
    with pytest.raises(KafkaException) as denied:
        transactional.init_transactions(30)
    assert denied.value.args[0].code() == KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED

    mine = group("acl-g")
    got, error = consume(system, "alice", topic, mine, want=1)
    assert error is None and got == [b"x"]
    got, error = consume(system, "admin", topic, group("admins-only"), want=1)
    assert error is None
    alice = AdminClient(client_settings(system, "alice"))  # kept: the result needs it
    listed = alice.list_consumer_groups(request_timeout=30).result()
    ids = {g.group_id for g in listed.valid}
    assert mine in ids and not any(i.startswith("admins-only") for i in ids)
