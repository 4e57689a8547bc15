"""The per-API ACL rules, without a node: kraft.security.access, kraft.broker.acl_checks,
kraft.controller.authorization and the handlers whose rule is their own."""

from __future__ import annotations

import struct
import uuid
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import trio
from kio.schema.create_acls.v3.request import AclCreation, CreateAclsRequest
from kio.schema.create_topics.v7.request import CreatableTopic, CreateTopicsRequest
from kio.schema.delete_topics.v6.request import DeleteTopicsRequest, DeleteTopicState
from kio.schema.describe_acls.v3.request import DescribeAclsRequest
from kio.schema.errors import ErrorCode
from kio.schema.incremental_alter_configs.v1.request import (
    AlterableConfig,
    AlterConfigsResource,
    IncrementalAlterConfigsRequest,
)
from kio.schema.metadata.v12.request import MetadataRequest, MetadataRequestTopic
from kio.schema.types import TopicName
from kio.static.primitive import i8, i16, i32

from kraft.broker import acl_checks
from kraft.broker.handlers import describe_acls, metadata
from kraft.controller import apis, authorization
from kraft.metadata.image import (
    AclEntry,
    AclsImage,
    MetadataImage,
    PartitionRegistration,
    TopicImage,
    TopicsImage,
)
from kraft.net.api_keys import ApiKey
from kraft.net.codec import RequestHeader
from kraft.net.registry import RequestContext
from kraft.security.access import Access
from kraft.security.acl import AclOperation as Op
from kraft.security.acl import PatternType, PermissionType, ResourceType
from kraft.security.authorizer import Authorizer

TOPIC, GROUP, CLUSTER, TXN = (ResourceType.TOPIC, ResourceType.GROUP, ResourceType.CLUSTER,
                              ResourceType.TRANSACTIONAL_ID)
LITERAL, PREFIXED = PatternType.LITERAL, PatternType.PREFIXED
ALLOW, DENY = PermissionType.ALLOW, PermissionType.DENY
ALICE = RequestContext("10.0.0.1:5000", "CLIENT", principal="User:alice")
BROKER = RequestContext("10.0.0.2:5000", "CONTROLLER", principal="User:broker")
IDS = {name: uuid.UUID(int=i + 1) for i, name in enumerate(("orders", "secret", "logs"))}


def _image(*acls: tuple) -> MetadataImage:
    topics = {name: TopicImage(name, topic_id, {0: PartitionRegistration(
        replicas=(1,), isr=(1,), leader=1)}) for name, topic_id in IDS.items()}
    return MetadataImage(
        topics=TopicsImage(by_id={t.topic_id: t for t in topics.values()}, by_name=topics),
        acls=AclsImage({uuid.UUID(int=i): AclEntry(*acl) for i, acl in enumerate(acls)}))


def _access(image: MetadataImage, super_users: frozenset[str] = frozenset({"User:broker"})
            ) -> Access:
    return Access(Authorizer(super_users, False), lambda: image.acls)


def test_no_authorizer_allows_everything() -> None:
    """Without authorizer.class.name every check passes and every operation is authorized."""
    access = Access(None)
    assert access.allowed(ALICE, Op.DELETE, TOPIC, "x") and access.cluster(ALICE, Op.ALTER)
    assert access.operations(ALICE, GROUP, "g") == sum(
        1 << op for op in (Op.READ, Op.DESCRIBE, Op.DELETE, Op.DESCRIBE_CONFIGS,
                           Op.ALTER_CONFIGS))


def test_operations_are_those_the_acls_allow() -> None:
    """The KIP-430 field holds READ and the DESCRIBE it implies, nothing else."""
    access = _access(_image((TOPIC, "orders", LITERAL, "User:alice", "*", Op.READ, ALLOW)))
    assert access.operations(ALICE, TOPIC, "orders") == (1 << Op.READ) | (1 << Op.DESCRIBE)
    assert access.operations(ALICE, TOPIC, "secret") == 0


def test_host_is_the_peer_address() -> None:
    """An ACL for another host does not apply; one for the peer's address does."""
    image = _image((TOPIC, "orders", LITERAL, "User:alice", "10.0.0.9", Op.READ, ALLOW),
                   (TOPIC, "logs", LITERAL, "User:alice", "10.0.0.1", Op.READ, ALLOW))
    access = _access(image)
    assert not access.allowed(ALICE, Op.READ, TOPIC, "orders")
    assert access.allowed(ALICE, Op.READ, TOPIC, "logs")


def test_allowed_any_is_kafkas_authorize_by_resource_type() -> None:
    """WRITE on some topic allows an idempotent producer unless a DENY covers it."""
    allow = (TOPIC, "orders-", PREFIXED, "User:alice", "*", Op.WRITE, ALLOW)
    assert _access(_image(allow)).allowed_any(ALICE, Op.WRITE, TOPIC)
    covered = (TOPIC, "ord", PREFIXED, "User:alice", "*", Op.WRITE, DENY)
    assert not _access(_image(allow, covered)).allowed_any(ALICE, Op.WRITE, TOPIC)
    wildcard = (TOPIC, "*", LITERAL, "User:*", "*", Op.ALL, DENY)
    assert not _access(_image(allow, wildcard)).allowed_any(ALICE, Op.WRITE, TOPIC)
    assert not _access(_image()).allowed_any(ALICE, Op.WRITE, TOPIC)


def _batch(transactional: bool) -> bytes:
    """A record batch header with only the fields the check reads."""
    attributes = 0x10 if transactional else 0
    return struct.pack(">qiibIh", 0, 49, 0, 2, 0, attributes) + bytes(40)


def _produce(txn_id: str | None, transactional: bool) -> Any:
    return SimpleNamespace(transactional_id=txn_id, topic_data=[SimpleNamespace(
        name="orders", partition_data=[SimpleNamespace(records=_batch(transactional))])])


def test_produce_needs_topic_write_and_transactional_id_write() -> None:
    """Produce: topic WRITE per topic; transactional records also WRITE on the txn id."""
    write = (TOPIC, "orders", LITERAL, "User:alice", "*", Op.WRITE, ALLOW)
    image = _image(write)
    denial = acl_checks.produce(_access(image), ALICE, _produce(None, False), image, False)
    assert denial("orders") is None
    assert denial("secret") == ErrorCode.topic_authorization_failed
    txn = acl_checks.produce(_access(image), ALICE, _produce("t1", True), image, False)
    assert txn("orders") == ErrorCode.transactional_id_authorization_failed
    image = _image(write, (TXN, "t1", LITERAL, "User:alice", "*", Op.WRITE, ALLOW))
    assert acl_checks.produce(_access(image), ALICE, _produce("t1", True), image,
                              False)("orders") is None


def test_transaction_apis() -> None:
    """InitProducerId, EndTxn/AddOffsetsToTxn/TxnOffsetCommit and AddPartitionsToTxn
    answer Kafka's codes in Kafka's order."""
    image = _image((TXN, "t1", LITERAL, "User:alice", "*", Op.WRITE, ALLOW),
                   (TOPIC, "orders", LITERAL, "User:alice", "*", Op.WRITE, ALLOW))
    access = _access(image)
    assert acl_checks.init_producer_id(access, ALICE, "t1") is None
    assert acl_checks.init_producer_id(access, ALICE, "t2") == \
        ErrorCode.transactional_id_authorization_failed
    assert acl_checks.init_producer_id(access, ALICE, None) is None  # WRITE on a topic
    assert acl_checks.init_producer_id(_access(_image()), ALICE, None) == \
        ErrorCode.cluster_authorization_failed
    assert acl_checks.transaction(access, ALICE, "t1", "g") == \
        ErrorCode.group_authorization_failed
    both = [("orders", 0), ("secret", 0)]
    assert acl_checks.add_partitions_to_txn(access, ALICE, 3, "t1", both) == {
        ("orders", 0): ErrorCode.operation_not_attempted,
        ("secret", 0): ErrorCode.topic_authorization_failed}
    assert acl_checks.add_partitions_to_txn(access, ALICE, 4, "t1", both) == dict.fromkeys(
        both, ErrorCode.cluster_authorization_failed)  # v4+: brokers only


def _header(key: ApiKey, version: int) -> RequestHeader:
    return RequestHeader(int(key), version, 1, "test")


def test_metadata_filters_and_refuses_undescribable_topics() -> None:
    """Metadata: all topics lists only describable ones; named ones denied are
    TOPIC_AUTHORIZATION_FAILED without a topic id, whether they exist or not."""
    image = _image((TOPIC, "orders", LITERAL, "User:alice", "*", Op.READ, ALLOW))
    broker = SimpleNamespace(image=image, access=_access(image), cluster_id="c", node_id=1,
                             config=SimpleNamespace(auto_create_topics_enable=False))

    def ask(topics: Any) -> Any:
        request = MetadataRequest(topics=topics, allow_auto_topic_creation=False,
                                  include_topic_authorized_operations=True)
        return trio.run(metadata.handle, broker, ALICE, _header(ApiKey.METADATA, 12), request)

    assert [t.name for t in ask(None).topics] == ["orders"]
    named = ask(tuple(MetadataRequestTopic(topic_id=uuid.UUID(int=0), name=TopicName(n))
                      for n in ("orders", "secret", "nope"))).topics
    assert [(t.name, t.error_code) for t in named] == [
        ("orders", ErrorCode.none), ("secret", ErrorCode.topic_authorization_failed),
        ("nope", ErrorCode.topic_authorization_failed)]
    assert named[1].topic_id == uuid.UUID(int=0)
    assert named[0].topic_authorized_operations == (1 << Op.READ) | (1 << Op.DESCRIBE)


def test_describe_acls_needs_cluster_describe() -> None:
    """DescribeAcls: CLUSTER_AUTHORIZATION_FAILED without DESCRIBE on the cluster; the
    matching ACLs with it; SECURITY_DISABLED without an authorizer."""
    image = _image((TOPIC, "orders", LITERAL, "User:alice", "*", Op.READ, ALLOW))
    request = DescribeAclsRequest(
        resource_type_filter=i8(TOPIC), resource_name_filter=None, pattern_type_filter=i8(1),
        principal_filter=None, host_filter=None, operation=i8(Op.ANY),
        permission_type=i8(PermissionType.ANY))
    header = _header(ApiKey.DESCRIBE_ACLS, 3)
    denied = trio.run(describe_acls.handle, SimpleNamespace(image=image, access=_access(image)),
                      ALICE, header, request)
    assert denied.error_code == ErrorCode.cluster_authorization_failed
    listed = trio.run(describe_acls.handle, SimpleNamespace(image=image, access=_access(image)),
                      BROKER, header, request)
    assert [(r.resource_name, len(r.acls)) for r in listed.resources] == [("orders", 1)]
    off = trio.run(describe_acls.handle, SimpleNamespace(image=image, access=Access(None)),
                   ALICE, header, request)
    assert off.error_code == ErrorCode.security_disabled


def _api(key: ApiKey) -> apis.ControllerApi:
    return next(api for api in apis.declarations() if api.spec.key == key)


def _run(access: Access, ctx: RequestContext, key: ApiKey, version: int, request: Any,
         image: MetadataImage) -> tuple[Any, list[Any]]:
    """(answer, the requests that reached `call`)."""
    seen: list[Any] = []

    async def call(kept: Any) -> Any:
        seen.append(kept)
        return _api(key).error_response(version, kept, ErrorCode.none, None)

    response = trio.run(authorization.authorized, access, ctx, int(key), version, request,
                        _api(key).error_response, image, call)
    return response, seen


def test_create_topics_runs_the_allowed_and_refuses_the_rest() -> None:
    """CreateTopics: only topics with CREATE reach the controller; the others are
    TOPIC_AUTHORIZATION_FAILED; CREATE on the cluster allows every topic."""
    image = _image((TOPIC, "new-", PREFIXED, "User:alice", "*", Op.CREATE, ALLOW))
    request = CreateTopicsRequest(topics=tuple(
        CreatableTopic(name=TopicName(n), num_partitions=i32(1), replication_factor=i16(1),
                       assignments=(), configs=()) for n in ("new-a", "other")),
        timeout=timedelta(seconds=5), validate_only=False)
    response, seen = _run(_access(image), ALICE, ApiKey.CREATE_TOPICS, 7, request, image)
    assert [t.name for t in seen[0].topics] == ["new-a"]
    assert {t.name: t.error_code for t in response.topics} == {
        "new-a": ErrorCode.none, "other": ErrorCode.topic_authorization_failed}
    image = _image((CLUSTER, "kafka-cluster", LITERAL, "User:alice", "*", Op.CREATE, ALLOW))
    _, seen = _run(_access(image), ALICE, ApiKey.CREATE_TOPICS, 7, request, image)
    assert len(seen[0].topics) == 2


def test_delete_topics_by_id_names_only_describable_topics() -> None:
    """DeleteTopics by id: denied and describable answers the name; denied and not
    describable answers no name (the id reveals nothing more); unknown ids go on."""
    image = _image((TOPIC, "orders", LITERAL, "User:alice", "*", Op.READ, ALLOW))
    request = DeleteTopicsRequest(topics=tuple(
        DeleteTopicState(name=None, topic_id=topic_id)
        for topic_id in (IDS["orders"], IDS["secret"], uuid.UUID(int=99))),
        timeout=timedelta(seconds=5))
    response, seen = _run(_access(image), ALICE, ApiKey.DELETE_TOPICS, 6, request, image)
    assert [t.topic_id for t in seen[0].topics] == [uuid.UUID(int=99)]
    denied = {r.topic_id: r.name for r in response.responses
              if r.error_code == ErrorCode.topic_authorization_failed}
    assert denied == {IDS["orders"]: "orders", IDS["secret"]: None}


def test_alter_configs_codes_by_resource_type() -> None:
    """IncrementalAlterConfigs: a broker resource needs ALTER_CONFIGS on the cluster
    (CLUSTER_AUTHORIZATION_FAILED), a topic on the topic (TOPIC_AUTHORIZATION_FAILED)."""
    image = _image((TOPIC, "orders", LITERAL, "User:alice", "*", Op.ALTER_CONFIGS, ALLOW))
    config = (AlterableConfig(name="retention.ms", config_operation=i8(0), value="1"),)
    request = IncrementalAlterConfigsRequest(resources=tuple(
        AlterConfigsResource(resource_type=i8(kind), resource_name=name, configs=config)
        for kind, name in ((2, "orders"), (2, "secret"), (4, "1"))), validate_only=False)
    response, seen = _run(_access(image), ALICE, ApiKey.INCREMENTAL_ALTER_CONFIGS, 1, request,
                          image)
    assert [r.resource_name for r in seen[0].resources] == ["orders"]
    assert {r.resource_name: r.error_code for r in response.responses} == {
        "orders": ErrorCode.none, "secret": ErrorCode.topic_authorization_failed,
        "1": ErrorCode.cluster_authorization_failed}


def test_cluster_rules_answer_the_apis_error_shape() -> None:
    """CreateAcls without ALTER on the cluster: every creation CLUSTER_AUTHORIZATION_FAILED
    and nothing runs; a super user's request runs."""
    image = _image()
    request = CreateAclsRequest(creations=(AclCreation(
        resource_type=i8(TOPIC), resource_name="t", resource_pattern_type=i8(LITERAL),
        principal="User:x", host="*", operation=i8(Op.READ), permission_type=i8(ALLOW)),))
    response, seen = _run(_access(image), ALICE, ApiKey.CREATE_ACLS, 3, request, image)
    assert seen == []
    assert [r.error_code for r in response.results] == [ErrorCode.cluster_authorization_failed]
    _, seen = _run(_access(image), BROKER, ApiKey.CREATE_ACLS, 3, request, image)
    assert len(seen) == 1


def test_controller_listener_guard() -> None:
    """On the controller listener: a raft Vote without CLUSTER_ACTION is answered
    CLUSTER_AUTHORIZATION_FAILED unhandled; a forwarded CreateTopics from a principal
    with CLUSTER_ACTION (a broker relaying) runs whole; from anyone else it is checked."""
    from kio.schema.vote.v0.request import VoteRequest

    from kraft.net.registry import ApiRegistry

    image = _image((CLUSTER, "kafka-cluster", LITERAL, "User:relay", "*", Op.CLUSTER_ACTION,
                    ALLOW))
    handled: list[Any] = []

    async def handler(ctx: RequestContext, header: RequestHeader, request: Any) -> Any:
        handled.append(request)
        return "handled"

    registry = ApiRegistry()
    registry.register(int(ApiKey.VOTE), 0, 0, handler)
    registry.add(_api(ApiKey.CREATE_TOPICS).spec, handler)
    guarded = authorization.guard(registry, _access(image), lambda: image)
    vote = guarded.get(int(ApiKey.VOTE))
    create = guarded.get(int(ApiKey.CREATE_TOPICS))
    assert vote is not None and create is not None
    answer = trio.run(vote.handler, ALICE, _header(ApiKey.VOTE, 0),
                      VoteRequest(cluster_id=None, topics=()))
    assert answer.error_code == ErrorCode.cluster_authorization_failed and handled == []
    request = CreateTopicsRequest(topics=(CreatableTopic(
        name=TopicName("t"), num_partitions=i32(1), replication_factor=i16(1), assignments=(),
        configs=()),), timeout=timedelta(seconds=5), validate_only=False)
    relay = RequestContext("10.0.0.3:1", "CONTROLLER", principal="User:relay")
    assert trio.run(create.handler, relay, _header(ApiKey.CREATE_TOPICS, 7), request) == \
        "handled"
    denied = trio.run(create.handler, ALICE, _header(ApiKey.CREATE_TOPICS, 7), request)
    assert [t.error_code for t in denied.topics] == [ErrorCode.topic_authorization_failed]
    assert len(handled) == 1


def test_transactional_records_without_transactional_id_are_refused() -> None:
    """A transactional batch without a transactional id is
    TRANSACTIONAL_ID_AUTHORIZATION_FAILED even without an authorizer, as Kafka."""
    image = _image()
    denial = acl_checks.produce(Access(None), ALICE, _produce(None, True), image, False)
    assert denial("orders") == ErrorCode.transactional_id_authorization_failed
    assert acl_checks.produce(Access(None), ALICE, _produce(None, False), image,
                              False)("orders") is None


def test_every_api_has_an_acl_rule() -> None:
    """Every controller-bound API and raft RPC has a rule (or is open, as Kafka's), and
    every broker handler module makes a check: a new API cannot be served unchecked."""
    from kraft.broker import handlers
    from kraft.raft import rpc

    for api in apis.declarations():
        authorization.require_rule(api.spec.key)
    for raft_rpc in rpc.RPCS:
        assert raft_rpc.api_key in authorization.CLUSTER_RULES
    for module in handlers.modules():
        source = Path(module.__file__ or "").read_text()
        assert "access" in source or "acl_checks" in source, module.__name__
    try:
        authorization.require_rule(int(ApiKey.CREATE_DELEGATION_TOKEN))
    except TypeError:
        pass
    else:
        raise AssertionError("an API without a rule was accepted")


def test_authorized_operations_of_the_cluster() -> None:
    """DescribeCluster's cluster field (broker and controller listener): 0 without
    DESCRIBE on the cluster, else the cluster operations the ACLs allow."""
    from kio.schema.describe_cluster.v1.request import DescribeClusterRequest

    from kraft.broker import authorized_operations
    from kraft.config import KafkaConfig
    from kraft.controller.apis import describe_cluster

    image = _image((CLUSTER, "kafka-cluster", LITERAL, "User:alice", "*", Op.ALTER, ALLOW))
    access = _access(image)
    assert authorized_operations.cluster(access, ALICE, True) == \
        (1 << Op.ALTER) | (1 << Op.DESCRIBE)
    assert authorized_operations.cluster(access, BROKER, False) == \
        authorized_operations.NOT_REQUESTED
    bob = RequestContext("10.0.0.5:1", "CLIENT", principal="User:bob")
    assert authorized_operations.cluster(access, bob, True) == 0
    controller = SimpleNamespace(
        cluster_id="c", committed_image=image,
        config=KafkaConfig({"authorizer.class.name":
                            "org.apache.kafka.metadata.authorizer.StandardAuthorizer"}),
        raft=SimpleNamespace(voter_addresses={}, leader=SimpleNamespace(leader_id=1)))
    request = DescribeClusterRequest(include_cluster_authorized_operations=True,
                                     endpoint_type=i8(2))
    answer = describe_cluster.describe_controllers(
        controller, ALICE, _header(ApiKey.DESCRIBE_CLUSTER, 1), request)  # type: ignore[arg-type]
    assert answer.cluster_authorized_operations == (1 << Op.ALTER) | (1 << Op.DESCRIBE)


def test_a_denied_node_request_is_logged_once(caplog: Any) -> None:
    """A node's request denied for lack of CLUSTER_ACTION is logged with the fix, once
    per principal, listener and API however often the node retries."""
    access = _access(_image())
    for _ in range(5):
        access.log_denied_node(ALICE, "VOTE")
    access.log_denied_node(ALICE, "BROKER_HEARTBEAT")
    warnings = [r.getMessage() for r in caplog.records if r.name == "kraft.security.access"]
    assert len(warnings) == 2 and "super.users" in warnings[0]
