"""GROUP configs and Kafka's dynamic broker configs through each real client's admin API.

Against a real `kraft dev` process, with confluent-kafka's AdminClient
(librdkafka) and kafka-python's KafkaAdminClient: IncrementalAlterConfigs
on ConfigResource type GROUP (32) stores a group's configs, DescribeConfigs
describes them (GROUP_CONFIG for the group's own values, DEFAULT_CONFIG for
the broker's defaults), bad values fail with INVALID_CONFIG and Kafka's
message, and the values survive a restart (they are ConfigRecords in the
metadata log). A broker config Kafka accepts dynamically
(sasl.kerberos.min.time.before.relogin) is accepted per broker and described
as DYNAMIC_BROKER_CONFIG, and refused at the cluster level with Kafka's
message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import confluent_kafka
import pytest
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    ResourceType,
)
from kafka import KafkaAdminClient
from kafka.admin import AlterConfigOp, ConfigResourceType
from kafka.admin import ConfigResource as KafkaPythonConfigResource
from kio.schema.errors import ErrorCode

from kraft.net.codec import request_type
from kraft.net.messages import nested
from tests.integration.dev import DevNode
from tests.integration.helpers import AdminError, wait_until
from tests.integration.protocol import call_sync

BROKER_ID = "1"
Described = dict[str, tuple[str | None, str]]


class ConfigAdmin(Protocol):
    def alter(self, kind: str, name: str, set_: dict[str, str]) -> None: ...
    def describe(self, kind: str, name: str) -> Described: ...
    def close(self) -> None: ...


class Confluent:
    def __init__(self, bootstrap: str) -> None:
        self._client = AdminClient({"bootstrap.servers": bootstrap})

    def alter(self, kind: str, name: str, set_: dict[str, str]) -> None:
        ops = [ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET)
               for k, v in set_.items()]
        resource = ConfigResource(ResourceType[kind], name, incremental_configs=ops)
        try:
            self._client.incremental_alter_configs([resource])[resource].result(30)
        except confluent_kafka.KafkaException as e:
            error = e.args[0]
            raise AdminError(error.code(), error.str()) from e

    def describe(self, kind: str, name: str) -> Described:
        resource = ConfigResource(ResourceType[kind], name)
        entries = self._client.describe_configs([resource])[resource].result(30)
        return {n: (e.value, ConfigSource(e.source).name) for n, e in entries.items()}

    def close(self) -> None:
        pass


class KafkaPython:
    def __init__(self, bootstrap: str) -> None:
        self._client = KafkaAdminClient(bootstrap_servers=bootstrap)

    def alter(self, kind: str, name: str, set_: dict[str, str]) -> None:
        configs = {k: (AlterConfigOp.SET, v) for k, v in set_.items()}
        resource = KafkaPythonConfigResource(ConfigResourceType[kind], name, configs=configs)
        result = self._client.alter_configs([resource], incremental=True)
        outcome = result[kind.lower()][name]
        if outcome != "OK":
            # kafka-python reports a failed resource as "[Error <code>] <name>: <message>".
            code = int(outcome.split("]")[0].removeprefix("[Error "))
            raise AdminError(code, outcome)

    def describe(self, kind: str, name: str) -> Described:
        resource = KafkaPythonConfigResource(ConfigResourceType[kind], name)
        result = self._client.describe_configs([resource], config_filter="all")
        entries = result[kind.lower()][name]
        # kafka-python names ConfigSource 8 DYNAMIC_GROUP_CONFIG; Kafka calls it GROUP_CONFIG.
        return {n: (e["value"], e["config_source"].replace("DYNAMIC_GROUP", "GROUP"))
                for n, e in entries.items()}

    def close(self) -> None:
        self._client.close()


CLIENTS: dict[str, Callable[[str], ConfigAdmin]] = {"confluent": Confluent,
                                                    "kafka-python": KafkaPython}


@pytest.fixture(params=sorted(CLIENTS))
def client_name(request: pytest.FixtureRequest) -> Any:
    return request.param


def test_group_configs(client_name: str, dev_factory: Callable[..., DevNode]) -> None:
    """A group's configs are set with IncrementalAlterConfigs on resource type GROUP,
    described with their sources, checked with Kafka's bounds and wording, and kept in
    the metadata log across a restart."""
    node = dev_factory("group.consumer.heartbeat.interval.ms=6000")
    admin = CLIENTS[client_name](node.bootstrap)
    group = f"orders-{client_name}"
    try:
        admin.alter("GROUP", group, {"consumer.session.timeout.ms": "50000",
                                     "share.auto.offset.reset": "earliest"})
        expected = {
            "consumer.session.timeout.ms": ("50000", "GROUP_CONFIG"),
            "consumer.heartbeat.interval.ms": ("6000", "DEFAULT_CONFIG"),
            "share.auto.offset.reset": ("earliest", "GROUP_CONFIG"),
            "share.heartbeat.interval.ms": ("5000", "DEFAULT_CONFIG"),
            "share.record.lock.duration.ms": ("30000", "DEFAULT_CONFIG"),
            "share.session.timeout.ms": ("45000", "DEFAULT_CONFIG"),
        }
        wait_until(lambda: admin.describe("GROUP", group) == expected,
                   f"group {group} described with its two configs")
        with pytest.raises(AdminError) as invalid:
            admin.alter("GROUP", group, {"consumer.heartbeat.interval.ms": "20000"})
        assert invalid.value.code == ErrorCode.invalid_config
        assert ("consumer.heartbeat.interval.ms must be less than or equal to "
                "group.consumer.max.heartbeat.interval.ms") in str(invalid.value)
        with pytest.raises(AdminError) as typed:
            admin.alter("GROUP", group, {"consumer.session.timeout.ms": "fifty"})
        assert typed.value.code == ErrorCode.invalid_config
        assert ("Invalid value fifty for configuration consumer.session.timeout.ms: Not a "
                "number of type INT") in str(typed.value)
        assert admin.describe("GROUP", group) == expected
    finally:
        admin.close()
    node.stop()
    node.start()
    admin = CLIENTS[client_name](node.bootstrap)
    try:
        assert admin.describe("GROUP", group) == expected
    finally:
        admin.close()


def test_kafkas_dynamic_broker_configs(client_name: str, dev_node: DevNode) -> None:
    """sasl.kerberos.min.time.before.relogin, dynamic in Kafka, is set for a broker and
    described as DYNAMIC_BROKER_CONFIG; a Kafka tuning key (num.io.threads) too. A static
    key is refused: by kraft with Kafka's message, or already by kafka-python, which
    first asks DescribeConfigs whether the key is read-only."""
    admin = CLIENTS[client_name](dev_node.bootstrap)
    try:
        admin.alter("BROKER", BROKER_ID, {"sasl.kerberos.min.time.before.relogin": "120000",
                                          "num.io.threads": "16"})
        wait_until(lambda: admin.describe("BROKER", BROKER_ID).get(
            "sasl.kerberos.min.time.before.relogin") == ("120000", "DYNAMIC_BROKER_CONFIG"),
            "the dynamic value described")
        assert admin.describe("BROKER", BROKER_ID)["num.io.threads"] == (
            "16", "DYNAMIC_BROKER_CONFIG")
        if client_name == "kafka-python":
            with pytest.raises(ValueError, match=r"Unrecognized configs: \{'num\.partitions'\}"):
                admin.alter("BROKER", BROKER_ID, {"num.partitions": "3"})
        else:
            with pytest.raises(AdminError) as static:
                admin.alter("BROKER", BROKER_ID, {"num.partitions": "3"})
            assert static.value.code == ErrorCode.invalid_request
            assert "Cannot update these configs dynamically: [num.partitions]" in str(
                static.value)
    finally:
        admin.close()


def test_per_broker_configs_refused_at_cluster_level(dev_node: DevNode) -> None:
    """The cluster-wide default (BROKER "") may not hold a per-broker listener config:
    INVALID_REQUEST with Kafka's message. Neither client library can name that resource,
    so the request is sent raw."""
    cls = request_type(44, 1)
    request = cls(resources=(nested(cls, "AlterConfigsResource")(
        resource_type=4, resource_name="", configs=(nested(cls, "AlterableConfig")(
            name="sasl.kerberos.min.time.before.relogin", config_operation=0,
            value="120000"),)),), validate_only=False)
    (answer,) = call_sync(dev_node.bootstrap, request).responses
    assert (answer.error_code, answer.error_message) == (
        ErrorCode.invalid_request, "Cannot update these configs at default cluster level, "
        "broker id must be specified: [sasl.kerberos.min.time.before.relogin]")
