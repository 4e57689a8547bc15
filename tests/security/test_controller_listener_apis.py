"""The controller listener answers the admin APIs Kafka's ControllerApis answers for
`--bootstrap-controller` (DescribeAcls, DescribeConfigs, UpdateFeatures), with
Kafka's authorization, on a real node.

One node (broker + controller) with StandardAuthorizer and SASL_PLAINTEXT + PLAIN
on the client and the controller listener (tests/security/acl_node.py: admin is a
super user, alice and bob are not); every request below is sent as one of them to
the controller port with kraft's own client.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import trio
from kio.schema.api_versions.v4.request import ApiVersionsRequest
from kio.schema.create_acls.v3.request import AclCreation, CreateAclsRequest
from kio.schema.describe_acls.v3.request import DescribeAclsRequest
from kio.schema.describe_configs.v4 import request as dc
from kio.schema.errors import ErrorCode
from kio.schema.update_features.v1.request import FeatureUpdateKey, UpdateFeaturesRequest
from kio.static.primitive import i8, i16

from kraft.net.api_keys import ApiKey
from kraft.net.client import KafkaClient
from kraft.security.client_properties import client_security
from tests.integration.protocol import create_topics_v7
from tests.security.acl_node import (
    PLAIN,
    USERS,
    KraftNode,
    sasl_controller_settings,
    start_kraft_node,
)

TIMEOUT_S = 10.0
TOPIC, CLUSTER, BROKER_CONFIG = 2, 4, 4  # resource types (ACL CLUSTER 4, config BROKER 4)
LITERAL, PREFIXED, ANY_PATTERN = 3, 4, 1
ANY, ALLOW = 1, 3
DESCRIBE, READ = 8, 3
SAFE_DOWNGRADE, UPGRADE = 2, 1


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KraftNode]:
    """One node whose controller listener speaks SASL_PLAINTEXT with the PLAIN users."""
    with start_kraft_node(tmp_path_factory.mktemp("controller-apis"),
                          sasl_controller_settings()) as started:
        yield started


def ask(address: str, user: str, request: Any) -> Any:
    """`request` sent as `user` (PLAIN over SASL_PLAINTEXT) to `address`; its response."""
    security = client_security({
        "security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
        "sasl.jaas.config": f'{PLAIN} required username="{user}" '
                            f'password="{USERS[user]}";'}, "test")
    host, port = address.rsplit(":", 1)

    async def run() -> Any:
        async with KafkaClient("test", security=security) as client:
            return await client.request((host, int(port)), request, TIMEOUT_S)

    return trio.run(run)


def describe_acls(address: str, user: str, resource_type: int = ANY) -> Any:
    return ask(address, user, DescribeAclsRequest(
        resource_type_filter=i8(resource_type), resource_name_filter=None,
        pattern_type_filter=i8(ANY_PATTERN), principal_filter=None, host_filter=None,
        operation=i8(ANY), permission_type=i8(ANY)))


def describe_configs(address: str, user: str, resource_type: int, name: str,
                     *keys: str) -> Any:
    (result,) = ask(address, user, dc.DescribeConfigsRequest(resources=(
        dc.DescribeConfigsResource(resource_type=i8(resource_type), resource_name=name,
                                   configuration_keys=keys or None),),
        include_synonyms=False, include_documentation=False)).results
    return result


def update_features(address: str, user: str, level: int, kind: int,
                    validate_only: bool = False) -> Any:
    return ask(address, user, UpdateFeaturesRequest(
        feature_updates=(FeatureUpdateKey(feature="transaction.version",
                                          max_version_level=i16(level),
                                          upgrade_type=i8(kind)),),
        validate_only=validate_only))


def api_versions(address: str) -> Any:
    return ask(address, "bob", ApiVersionsRequest(client_software_name="test",
                                                  client_software_version="1"))


def test_api_versions_advertise_the_admin_apis(node: KraftNode) -> None:
    """The controller listener advertises DescribeAcls 1-3, DescribeConfigs 1-4 and
    UpdateFeatures 0-2 (it answers them); a broker forwards UpdateFeatures 0-2."""
    listed = {k.api_key: (k.min_version, k.max_version)
              for k in api_versions(node.controller).api_keys}
    assert listed[ApiKey.DESCRIBE_ACLS] == (1, 3)
    assert listed[ApiKey.DESCRIBE_CONFIGS] == (1, 4)
    assert listed[ApiKey.UPDATE_FEATURES] == (0, 2)
    broker = {k.api_key: (k.min_version, k.max_version)
              for k in api_versions(node.sasl).api_keys}
    assert broker[ApiKey.UPDATE_FEATURES] == (0, 2)


def test_describe_acls_needs_describe_on_the_cluster(node: KraftNode) -> None:
    """DescribeAcls on the controller: bob without DESCRIBE on the cluster gets
    CLUSTER_AUTHORIZATION_FAILED; once admin grants it (CreateAcls on the controller
    listener) bob lists every ACL, and a topic filter lists only topic ACLs."""
    denied = describe_acls(node.controller, "bob")
    assert denied.error_code == ErrorCode.cluster_authorization_failed
    created = ask(node.controller, "admin", CreateAclsRequest(creations=(
        AclCreation(resource_type=i8(CLUSTER), resource_name="kafka-cluster",
                    resource_pattern_type=i8(LITERAL), principal="User:bob", host="*",
                    operation=i8(DESCRIBE), permission_type=i8(ALLOW)),
        AclCreation(resource_type=i8(TOPIC), resource_name="t-",
                    resource_pattern_type=i8(PREFIXED), principal="User:alice", host="*",
                    operation=i8(READ), permission_type=i8(ALLOW)))))
    assert [r.error_code for r in created.results] == [ErrorCode.none] * 2
    listed = describe_acls(node.controller, "bob")
    assert listed.error_code == ErrorCode.none
    assert {(r.resource_type, r.resource_name, a.principal, a.operation)
            for r in listed.resources for a in r.acls} >= {
        (CLUSTER, "kafka-cluster", "User:bob", DESCRIBE), (TOPIC, "t-", "User:alice", READ)}
    topics = describe_acls(node.controller, "bob", TOPIC)
    assert {r.resource_type for r in topics.resources} == {TOPIC}


def test_describe_configs_answers_for_this_node_and_its_topics(node: KraftNode) -> None:
    """DescribeConfigs on the controller: broker 1 (this node) and a topic's override
    from the controller's image; another broker id is INVALID_REQUEST; alice, without
    DESCRIBE_CONFIGS, gets CLUSTER_ / TOPIC_AUTHORIZATION_FAILED with Kafka's message,
    from the controller and from the broker."""
    broker = describe_configs(node.controller, "admin", BROKER_CONFIG, "1", "num.partitions",
                              "authorizer.class.name")
    assert broker.error_code == ErrorCode.none
    assert {c.name: c.value for c in broker.configs}["authorizer.class.name"] == \
        "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    other = describe_configs(node.controller, "admin", BROKER_CONFIG, "2")
    assert (other.error_code, other.error_message) == (
        ErrorCode.invalid_request,
        "Unexpected broker id, expected 1 or empty string, but received 2")
    created = ask(node.controller, "admin", create_topics_v7(
        "t-configs", configs={"retention.ms": "1234"}))
    assert created.topics[0].error_code == ErrorCode.none
    topic = describe_configs(node.controller, "admin", TOPIC, "t-configs", "retention.ms")
    assert [(c.name, c.value, c.config_source) for c in topic.configs] == [
        ("retention.ms", "1234", 1)]  # TOPIC_CONFIG
    for address in (node.controller, node.sasl):  # the same on both listeners, as Kafka's
        denied = describe_configs(address, "alice", BROKER_CONFIG, "1")
        assert (denied.error_code, denied.error_message) == (
            ErrorCode.cluster_authorization_failed, "Cluster authorization failed.")
        denied = describe_configs(address, "alice", TOPIC, "t-configs")
        assert (denied.error_code, denied.error_message) == (
            ErrorCode.topic_authorization_failed, "Topic authorization failed.")


def test_update_features_needs_alter_and_takes_effect(node: KraftNode) -> None:
    """UpdateFeatures needs ALTER on the cluster (bob: CLUSTER_AUTHORIZATION_FAILED);
    admin's downgrade of transaction.version on the controller listener and upgrade
    through the broker (forwarded) each show in ApiVersions' finalized features;
    an upgrade typed as a downgrade is INVALID_UPDATE_VERSION with Kafka's message."""
    assert update_features(node.controller, "bob", 1, SAFE_DOWNGRADE).error_code == \
        ErrorCode.cluster_authorization_failed

    def finalized(address: str) -> int:
        return {f.name: f.max_version_level for f in
                api_versions(address).finalized_features}.get("transaction.version", 0)

    assert finalized(node.controller) == 2
    dry = update_features(node.controller, "admin", 1, SAFE_DOWNGRADE, validate_only=True)
    assert dry.error_code == ErrorCode.none and finalized(node.controller) == 2
    down = update_features(node.controller, "admin", 1, SAFE_DOWNGRADE)
    assert down.error_code == ErrorCode.none
    assert [(r.feature, r.error_code) for r in down.results] == [
        ("transaction.version", ErrorCode.none)]
    assert finalized(node.controller) == 1  # answered once committed: the image has it
    wrong = update_features(node.sasl, "admin", 2, SAFE_DOWNGRADE)
    assert (wrong.error_code, wrong.error_message) == (
        ErrorCode.invalid_update_version,
        "The update failed for all features since the following feature had an error: "
        "Invalid update version 2 for feature transaction.version. Can't downgrade to a "
        "newer version.")
    up = update_features(node.sasl, "admin", 2, UPGRADE)
    assert up.error_code == ErrorCode.none
    assert finalized(node.sasl) == 2  # the broker answered once its image had it


