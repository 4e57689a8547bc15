"""Kafka 4.4's own tools with `--bootstrap-controller` against a kraft node: kafka-acls
(DescribeAcls, CreateAcls, DeleteAcls), kafka-configs (DescribeConfigs of a broker)
and kafka-features (UpdateFeatures), as Kafka's ControllerApis serves them.

The node (tests/security/acl_node.py) runs StandardAuthorizer with SASL_PLAINTEXT +
PLAIN on the client and the controller listener: admin is a super user, bob is not.
The outputs checked are the lines Kafka 4.4 prints against its own controller (run
side by side on this machine when this test was written).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.compat.conftest import run_tool, unique, write
from tests.compat.kafka_dist import KafkaDist
from tests.security.acl_node import (
    PLAIN,
    USERS,
    KraftNode,
    sasl_controller_settings,
    start_kraft_node,
)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KraftNode]:
    with start_kraft_node(tmp_path_factory.mktemp("controller-tools"),
                          sasl_controller_settings()) as started:
        yield started


def _command_config(tmp: Path, user: str) -> str:
    return str(write(tmp / f"{user}.properties",
                     "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n"
                     f'sasl.jaas.config={PLAIN} required username="{user}" '
                     f'password="{USERS[user]}";\n'))


def test_kafka_acls_bootstrap_controller(kafka: KafkaDist, node: KraftNode,
                                         tmp_path: Path) -> None:
    """kafka-acls --bootstrap-controller adds an ACL, lists it as Kafka prints it, is
    refused to bob (ClusterAuthorizationException) and removes it."""
    admin, bob = _command_config(tmp_path, "admin"), _command_config(tmp_path, "bob")
    topic = unique("ctl-acl")
    common = ["--bootstrap-controller", node.controller, "--topic", topic]
    run_tool(kafka, "kafka-acls", *common, "--command-config", admin, "--add",
             "--allow-principal", "User:alice", "--operation", "Read")
    listed = run_tool(kafka, "kafka-acls", *common, "--command-config", admin, "--list").stdout
    assert f"ResourcePattern(resourceType=TOPIC, name={topic}, patternType=LITERAL)" in listed
    assert "(principal=User:alice, host=*, operation=READ, permissionType=ALLOW)" in listed
    refused = run_tool(kafka, "kafka-acls", *common, "--command-config", bob, "--list",
                       expect_exit=None)
    assert "ClusterAuthorizationException" in refused.stdout + refused.stderr
    run_tool(kafka, "kafka-acls", *common, "--command-config", admin, "--remove", "--force",
             "--allow-principal", "User:alice", "--operation", "Read")
    after = run_tool(kafka, "kafka-acls", *common, "--command-config", admin, "--list").stdout
    assert "User:alice" not in after


def test_kafka_configs_bootstrap_controller(kafka: KafkaDist, node: KraftNode,
                                            tmp_path: Path) -> None:
    """kafka-configs --bootstrap-controller describes broker 1 (this node; --all lists
    its static configs) and says broker 2 does not exist, as against Kafka."""
    admin = _command_config(tmp_path, "admin")
    common = ["--bootstrap-controller", node.controller, "--command-config", admin,
              "--describe", "--entity-type", "brokers"]
    dynamic = run_tool(kafka, "kafka-configs", *common, "--entity-name", "1").stdout
    assert dynamic.splitlines() == ["Dynamic configs for broker 1 are:"]
    every = run_tool(kafka, "kafka-configs", *common, "--all", "--entity-name", "1").stdout
    assert "All configs for broker 1 are:" in every
    assert ("  super.users=User:admin;User:ANONYMOUS sensitive=false "
            "synonyms={STATIC_BROKER_CONFIG:super.users=User:admin;User:ANONYMOUS}") in every
    other = run_tool(kafka, "kafka-configs", *common, "--entity-name", "2").stdout
    assert other.strip() == "The broker '2' doesn't exist and doesn't have dynamic config."


def test_kafka_features_bootstrap_controller(kafka: KafkaDist, node: KraftNode,
                                             tmp_path: Path) -> None:
    """kafka-features --bootstrap-controller refuses an upgrade of transaction.version
    (at 2) to a lower level with Kafka's message, downgrades it (dry run, then for
    real) and upgrades it again; describe shows each level."""
    admin = _command_config(tmp_path, "admin")
    common = ["--bootstrap-controller", node.controller, "--command-config", admin]

    def level() -> str:
        text = run_tool(kafka, "kafka-features", *common, "describe").stdout
        line = next(x for x in text.splitlines() if x.startswith("Feature: transaction.version"))
        return line.split("FinalizedVersionLevel:")[1].split()[0]

    wrong = run_tool(kafka, "kafka-features", *common, "upgrade", "--feature",
                     "transaction.version=1", expect_exit=1).stdout
    assert wrong.splitlines()[0] == (
        "Could not upgrade transaction.version to 1. The update failed for all features "
        "since the following feature had an error: Invalid update version 1 for feature "
        "transaction.version. Can't downgrade the version of this feature without setting "
        "the upgrade type to either safe or unsafe downgrade.")
    dry = run_tool(kafka, "kafka-features", *common, "downgrade", "--feature",
                   "transaction.version=1", "--dry-run").stdout
    assert dry.strip() == "transaction.version can be downgraded to 1."
    down = run_tool(kafka, "kafka-features", *common, "downgrade", "--feature",
                    "transaction.version=1").stdout
    assert down.strip() == "transaction.version was downgraded to 1." and level() == "1"
    up = run_tool(kafka, "kafka-features", *common, "upgrade", "--feature",
                  "transaction.version=2").stdout
    assert up.strip() == "transaction.version was upgraded to 2." and level() == "2"
