"""Config commands (kraft.controller.configs): IncrementalAlterConfigs and AlterConfigs."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kio.schema.errors import ErrorCode

from kraft.controller.configs import (
    APPEND,
    DELETE,
    SET,
    SUBTRACT,
    alter_configs,
    incremental_alter_configs,
)
from kraft.controller.result import ControllerResult, apply_records
from kraft.metadata.image import ConfigResource, MetadataImage
from kraft.metadata.records import BROKER_RESOURCE, TOPIC_RESOURCE, ConfigRecord
from kraft.net.codec import request_type
from kraft.net.messages import nested
from tests.controller.test_topics import cluster, context, roundtrip, wire, with_topic

Op = tuple[str, int, str | None]


def incremental_request(version: int, *resources: tuple[int, str, list[Op]],
                        validate_only: bool = False) -> Any:
    cls = request_type(44, version)
    resource_cls = nested(cls, "AlterConfigsResource")
    config_cls = nested(cls, "AlterableConfig")
    return wire(cls(
        resources=tuple(
            resource_cls(resource_type=rtype, resource_name=name, configs=tuple(
                config_cls(name=k, config_operation=op, value=v) for k, op, v in ops))
            for rtype, name, ops in resources
        ),
        validate_only=validate_only,
    ))


def legacy_request(version: int, *resources: tuple[int, str, dict[str, str | None]],
                   validate_only: bool = False) -> Any:
    cls = request_type(33, version)
    resource_cls = nested(cls, "AlterConfigsResource")
    config_cls = nested(cls, "AlterableConfig")
    return wire(cls(
        resources=tuple(
            resource_cls(resource_type=rtype, resource_name=name, configs=tuple(
                config_cls(name=k, value=v) for k, v in configs.items()))
            for rtype, name, configs in resources
        ),
        validate_only=validate_only,
    ))


def incremental(image: MetadataImage, *resources: tuple[int, str, list[Op]],
                version: int = 1, validate_only: bool = False) -> ControllerResult:
    request = incremental_request(version, *resources, validate_only=validate_only)
    return incremental_alter_configs(image, request, version, context(**{"node.id": "1"}))


def legacy(image: MetadataImage, *resources: tuple[int, str, dict[str, str | None]],
           version: int = 2) -> ControllerResult:
    return alter_configs(image, legacy_request(version, *resources), version,
                         context(**{"node.id": "1"}))


def errors(result: ControllerResult) -> list[tuple[ErrorCode, str | None]]:
    return [(r.error_code, r.error_message) for r in result.response.responses]


def topic_configs(image: MetadataImage, name: str = "t") -> dict[str, str]:
    return dict(image.configs.get(ConfigResource(TOPIC_RESOURCE, name)))


def topic_image(configs: dict[str, str] | None = None) -> MetadataImage:
    return with_topic(cluster(2), "t", 1, 1, configs)


OK = (ErrorCode.none, None)


@pytest.mark.parametrize("version", [0, 1])
def test_incremental_set_and_delete_topic_configs(version: int) -> None:
    """SET writes the value, DELETE writes None; applied, the image has the new set;
    the response encodes in every version."""
    image = topic_image({"retention.ms": "1000"})
    result = incremental(image, (TOPIC_RESOURCE, "t", [("segment.bytes", SET, "1048576"),
                                                        ("retention.ms", DELETE, None)]),
                         version=version)
    assert errors(result) == [OK]
    assert set(result.records) == {
        ConfigRecord(resource_type=TOPIC_RESOURCE, resource_name="t", name="segment.bytes",
                     value="1048576"),
        ConfigRecord(resource_type=TOPIC_RESOURCE, resource_name="t", name="retention.ms",
                     value=None),
    }
    assert topic_configs(apply_records(image, result.records)) == {"segment.bytes": "1048576"}
    roundtrip(result.response)


def test_incremental_topic_writes_only_changes() -> None:
    """Setting a topic config to its current value or deleting an absent one writes nothing."""
    image = topic_image({"retention.ms": "1000"})
    result = incremental(image, (TOPIC_RESOURCE, "t", [("retention.ms", SET, "1000"),
                                                        ("segment.ms", DELETE, None)]))
    assert errors(result) == [OK] and result.records == ()


def test_incremental_append_and_subtract_list_config() -> None:
    """APPEND adds missing items to the current value or the default; SUBTRACT removes
    them; both refuse non-list configs with INVALID_CONFIG."""
    image = topic_image()
    result = incremental(image, (TOPIC_RESOURCE, "t", [("cleanup.policy", APPEND, "compact")]))
    assert [r.value for r in result.records] == ["delete,compact"]
    image = apply_records(image, result.records)
    result = incremental(image, (TOPIC_RESOURCE, "t", [("cleanup.policy", SUBTRACT, "delete")]))
    assert [r.value for r in result.records] == ["compact"]
    result = incremental(image, (TOPIC_RESOURCE, "t", [("retention.ms", APPEND, "5")]),
                         (TOPIC_RESOURCE, "t2", [("retention.ms", SUBTRACT, "5")]))
    assert errors(result) == [
        (ErrorCode.invalid_config,
         "Can't APPEND to key retention.ms because its type is not LIST."),
        (ErrorCode.invalid_config,
         "Can't SUBTRACT to key retention.ms because its type is not LIST."),
    ]


TOPIC_ERRORS = [
    ("missing", [("retention.ms", SET, "1")], ErrorCode.unknown_topic_or_partition,
     "The topic 'missing' does not exist."),
    ("t", [("retention.ms", SET, "x")], ErrorCode.invalid_config,
     "Invalid value x for configuration retention.ms: Not a number of type LONG"),
    ("t", [("segment.bytes", SET, "1")], ErrorCode.invalid_config,
     "Invalid value 1 for configuration segment.bytes: Value must be at least 14"),
    ("t", [("bogus", SET, "1")], ErrorCode.invalid_config, "Unknown topic config name: bogus"),
    ("t", [("min.compaction.lag.ms", SET, "10"), ("max.compaction.lag.ms", SET, "5")],
     ErrorCode.invalid_config,
     "conflict topic config setting min.compaction.lag.ms (10) > max.compaction.lag.ms (5)"),
    ("", [("retention.ms", SET, "1")], ErrorCode.invalid_request,
     "Default topic resources are not allowed."),
    ("a b", [("retention.ms", SET, "1")], ErrorCode.invalid_topic_exception,
     "Topic name is invalid: 'a b' contains one or more characters other than ASCII "
     "alphanumerics, '.', '_' and '-'"),
    ("t", [("retention.ms", SET, None)], ErrorCode.invalid_request,
     "Null value not supported for : retention.ms"),
    ("t", [("retention.ms", SET, "1"), ("retention.ms", DELETE, None)], ErrorCode.invalid_request,
     "Error due to duplicate config keys"),
    ("t", [("retention.ms", 7, "1")], ErrorCode.invalid_request, "Unknown operations type 7"),
]


@pytest.mark.parametrize(("name", "ops", "code", "message"), TOPIC_ERRORS)
def test_incremental_topic_errors(name: str, ops: list[Op], code: ErrorCode,
                                  message: str) -> None:
    """A failing topic resource gets Kafka's code and message and writes nothing, while a
    valid resource in the same request is applied."""
    image = with_topic(topic_image(), "other", 1, 1)
    result = incremental(image, (TOPIC_RESOURCE, name, ops),
                         (TOPIC_RESOURCE, "other", [("retention.ms", SET, "7")]))
    assert errors(result) == [(code, message), OK]
    assert [(r.resource_name, r.name, r.value) for r in result.records] == [
        ("other", "retention.ms", "7")]


BROKER_ERRORS = [
    ("abc", [("log.retention.ms", SET, "1")], ErrorCode.invalid_request,
     "Unable to parse broker name as a base 10 number."),
    ("-1", [("log.retention.ms", SET, "1")], ErrorCode.invalid_request,
     "Invalid negative broker ID."),
    ("9", [("log.retention.ms", SET, "1")], ErrorCode.broker_id_not_registered,
     "No node with id 9 found."),
    ("1", [("num.partitions", SET, "3")], ErrorCode.invalid_request,
     "Cannot update these configs dynamically: [num.partitions]"),
    ("", [("listeners", SET, "PLAINTEXT://:9092")], ErrorCode.invalid_request,
     "Cannot update these configs at default cluster level, broker id must be specified: "
     "[listeners]"),
    ("1", [("log.segment.bytes", SET, "ten")], ErrorCode.invalid_request,
     "Invalid value ten for configuration log.segment.bytes: Not a number of type INT"),
    ("1", [("log.retention.ms", APPEND, "1")], ErrorCode.invalid_config,
     "Config value append is not allowed for config key: log.retention.ms"),
]


@pytest.mark.parametrize(("name", "ops", "code", "message"), BROKER_ERRORS)
def test_incremental_broker_errors(name: str, ops: list[Op], code: ErrorCode,
                                   message: str) -> None:
    """Broker resources: bad names, unknown ids, non-dynamic keys, per-broker keys at the
    cluster default and bad values fail as in Kafka and write nothing."""
    result = incremental(cluster(2), (BROKER_RESOURCE, name, ops))
    assert errors(result) == [(code, message)]
    assert result.records == ()


def test_incremental_broker_configs() -> None:
    """Dynamic broker configs are written for the cluster default and for a broker id,
    even when unchanged (so brokers reload)."""
    image = cluster(2)
    result = incremental(image, (BROKER_RESOURCE, "", [("log.retention.ms", SET, "1000")]),
                         (BROKER_RESOURCE, "2", [("min.insync.replicas", SET, "2")]))
    assert errors(result) == [OK, OK]
    image = apply_records(image, result.records)
    assert image.configs.get(ConfigResource(BROKER_RESOURCE, "")) == {"log.retention.ms": "1000"}
    assert image.configs.get(ConfigResource(BROKER_RESOURCE, "2")) == {"min.insync.replicas": "2"}
    again = incremental(image, (BROKER_RESOURCE, "", [("log.retention.ms", SET, "1000")]))
    assert [r.value for r in again.records] == ["1000"]


def test_incremental_other_resource_types_and_duplicates() -> None:
    """Resource types other than TOPIC, BROKER and GROUP, and a resource named twice, fail
    with INVALID_REQUEST."""
    result = incremental(topic_image(), (8, "1", []), (1, "x", []),
                         (TOPIC_RESOURCE, "t", []), (TOPIC_RESOURCE, "t", []))
    assert errors(result) == [
        (ErrorCode.invalid_request, "Unsupported resource type BROKER_LOGGER."),
        (ErrorCode.invalid_request, "Unknown resource type 1"),
        (ErrorCode.invalid_request, "Each resource must appear at most once."),
        (ErrorCode.invalid_request, "Each resource must appear at most once."),
    ]


def test_incremental_validate_only() -> None:
    """validate_only answers as a real change would and writes nothing."""
    result = incremental(topic_image(), (TOPIC_RESOURCE, "t", [("retention.ms", SET, "9")]),
                         validate_only=True)
    assert errors(result) == [OK] and result.records == ()


configs_strategy = st.sampled_from([
    ("retention.ms", ["1000", "-1", "604800000"]),
    ("segment.bytes", ["1048576", "16384"]),
    ("cleanup.policy", ["delete", "compact", "compact,delete"]),
    ("min.insync.replicas", ["1", "2"]),
]).flatmap(lambda kv: st.tuples(
    st.just(kv[0]), st.sampled_from([SET, DELETE]), st.sampled_from(kv[1])))


@given(steps=st.lists(st.lists(configs_strategy, max_size=4, unique_by=lambda op: op[0]),
                      max_size=5))
def test_incremental_matches_model(steps: list[list[Op]]) -> None:
    """Any sequence of valid SET/DELETE requests leaves the topic's configs equal to a
    plain dict model of the same operations."""
    image, model = topic_image(), dict[str, str | None]()
    for ops in steps:
        result = incremental(image, (TOPIC_RESOURCE, "t", ops))
        assert errors(result) == [OK]
        image = apply_records(image, result.records)
        for key, op, value in ops:
            if op == SET:
                model[key] = value
            else:
                model.pop(key, None)
        assert topic_configs(image) == model


@pytest.mark.parametrize("version", [0, 1, 2])
def test_legacy_alter_replaces_whole_set(version: int) -> None:
    """Legacy AlterConfigs sets the given configs and deletes every other one; every
    version's response encodes."""
    image = topic_image({"retention.ms": "1000", "segment.bytes": "1048576"})
    result = legacy(image, (TOPIC_RESOURCE, "t", {"segment.bytes": "1048576",
                                                  "cleanup.policy": "compact"}),
                    version=version)
    assert errors(result) == [OK]
    assert topic_configs(apply_records(image, result.records)) == {
        "segment.bytes": "1048576", "cleanup.policy": "compact"}
    assert {r.name for r in result.records} == {"retention.ms", "cleanup.policy"}
    roundtrip(result.response)


def test_legacy_alter_errors() -> None:
    """Legacy AlterConfigs validates like the incremental API and rejects null values."""
    image = topic_image({"retention.ms": "1000"})
    result = legacy(image, (TOPIC_RESOURCE, "t", {"retention.ms": None}),
                    (TOPIC_RESOURCE, "missing", {"retention.ms": "1"}),
                    (BROKER_RESOURCE, "1", {"log.dirs": "/x"}),
                    (BROKER_RESOURCE, "2", {"log.retention.ms": "5"}))
    assert errors(result) == [
        (ErrorCode.invalid_request, "Null value not supported for : retention.ms"),
        (ErrorCode.unknown_topic_or_partition, "The topic 'missing' does not exist."),
        (ErrorCode.invalid_request, "Cannot update these configs dynamically: [log.dirs]"),
        OK,
    ]
    assert [(r.resource_name, r.name, r.value) for r in result.records] == [
        ("2", "log.retention.ms", "5")]


GROUP = 32


def group_configs(image: MetadataImage, name: str) -> dict[str, str]:
    return dict(image.configs.get(ConfigResource(GROUP, name)))


def test_incremental_group_configs_are_stored_on_the_group() -> None:
    """SET and DELETE of group configs write ConfigRecords on the GROUP resource of that
    group id (which need not exist); unchanged values write nothing."""
    image = cluster(1)
    result = incremental(image, (GROUP, "orders", [("consumer.session.timeout.ms", SET, "50000"),
                                                   ("share.auto.offset.reset", SET, "earliest")]))
    assert errors(result) == [OK]
    assert set(result.records) == {
        ConfigRecord(resource_type=GROUP, resource_name="orders",
                     name="consumer.session.timeout.ms", value="50000"),
        ConfigRecord(resource_type=GROUP, resource_name="orders",
                     name="share.auto.offset.reset", value="earliest"),
    }
    image = apply_records(image, result.records)
    assert group_configs(image, "orders") == {"consumer.session.timeout.ms": "50000",
                                              "share.auto.offset.reset": "earliest"}
    again = incremental(image, (GROUP, "orders", [("consumer.session.timeout.ms", SET, "50000"),
                                                  ("share.auto.offset.reset", DELETE, None)]))
    assert [(r.name, r.value) for r in again.records] == [("share.auto.offset.reset", None)]
    roundtrip(result.response)


GROUP_ERRORS = [
    ([("consumer.session.timeout.ms", SET, "three")], ErrorCode.invalid_config,
     "Invalid value three for configuration consumer.session.timeout.ms: "
     "Not a number of type INT"),
    ([("consumer.session.timeout.ms", SET, "0")], ErrorCode.invalid_config,
     "Invalid value 0 for configuration consumer.session.timeout.ms: Value must be at least 1"),
    ([("consumer.session.timeout.ms", SET, "40000")], ErrorCode.invalid_config,
     "consumer.session.timeout.ms must be greater than or equal to "
     "group.consumer.min.session.timeout.ms"),
    ([("consumer.heartbeat.interval.ms", SET, "16000")], ErrorCode.invalid_config,
     "consumer.heartbeat.interval.ms must be less than or equal to "
     "group.consumer.max.heartbeat.interval.ms"),
    ([("share.record.lock.duration.ms", SET, "999")], ErrorCode.invalid_config,
     "Invalid value 999 for configuration share.record.lock.duration.ms: "
     "Value must be at least 1000"),
    ([("share.auto.offset.reset", SET, "middle")], ErrorCode.invalid_config,
     "Invalid value middle for configuration share.auto.offset.reset: "
     "String must be one of: latest, earliest"),
    ([("session.timeout.ms", SET, "1")], ErrorCode.invalid_config,
     "Unknown group config name: session.timeout.ms"),
    ([("consumer.session.timeout.ms", APPEND, "1")], ErrorCode.invalid_config,
     "Can't APPEND to key consumer.session.timeout.ms because its type is not LIST."),
]


@pytest.mark.parametrize(("ops", "code", "message"), GROUP_ERRORS)
def test_incremental_group_configs_are_checked_like_kafka(ops: list[Op], code: ErrorCode,
                                                          message: str) -> None:
    """Bad group configs fail with Kafka's GroupConfig checks and wording, and write
    nothing."""
    result = incremental(cluster(1), (GROUP, "g", ops))
    assert errors(result) == [(code, message)]
    assert result.records == ()


def test_group_config_bounds_come_from_the_controllers_config() -> None:
    """The bounds are the controller's group.consumer.* keys: a value outside Kafka's
    default bounds passes when server.properties widens them."""
    request = incremental_request(1, (GROUP, "g", [("consumer.heartbeat.interval.ms", SET,
                                                     "20000"),
                                                    ("consumer.session.timeout.ms", SET,
                                                     "50000")]))
    narrow = incremental_alter_configs(cluster(1), request, 1, context(**{"node.id": "1"}))
    assert errors(narrow)[0][0] == ErrorCode.invalid_config
    wide = incremental_alter_configs(cluster(1), request, 1, context(**{
        "node.id": "1", "group.consumer.max.heartbeat.interval.ms": "30000"}))
    assert errors(wide) == [OK] and len(wide.records) == 2
    tight = incremental_request(1, (GROUP, "g", [("consumer.heartbeat.interval.ms", SET,
                                                   "10000"),
                                                  ("consumer.session.timeout.ms", SET,
                                                   "10000")]))
    low = incremental_alter_configs(cluster(1), tight, 1, context(**{
        "node.id": "1", "group.consumer.min.session.timeout.ms": "1000"}))
    assert errors(low) == [(ErrorCode.invalid_config, "consumer.session.timeout.ms must be "
                            "greater than consumer.heartbeat.interval.ms")]


def test_default_group_resource_and_legacy_alter() -> None:
    """The empty group name is INVALID_REQUEST; legacy AlterConfigs replaces a group's
    whole set."""
    result = incremental(cluster(1), (GROUP, "", [("consumer.session.timeout.ms", SET,
                                                   "50000")]))
    assert errors(result) == [(ErrorCode.invalid_request,
                               "Default group resources are not allowed.")]
    image = apply_records(cluster(1), incremental(
        cluster(1), (GROUP, "g", [("consumer.session.timeout.ms", SET, "50000")])).records)
    replaced = legacy(image, (GROUP, "g", {"share.auto.offset.reset": "earliest"}))
    assert errors(replaced) == [OK]
    assert group_configs(apply_records(image, replaced.records), "g") == {
        "share.auto.offset.reset": "earliest"}
