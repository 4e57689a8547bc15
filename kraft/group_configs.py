"""Group configs: Kafka 4.0's GROUP config resource (ConfigResource type 32, KIP-848/932).

A group config overrides, for one group id, a group coordinator setting of
the broker: `GROUP_CONFIGS` declares the six of Kafka 4.0's GroupConfig with
their types, checks and the broker key that gives each its default
(consumer.session.timeout.ms <- group.consumer.session.timeout.ms, ...).
IncrementalAlterConfigs and AlterConfigs store them as ConfigRecords on the
GROUP resource in the metadata log (kraft.controller.configs, validated with
`validate_group_configs`); DescribeConfigs describes them
(`describe_group_configs`).

kraft serves the classic group protocol only, so these configs are stored,
validated and described like Kafka's, and not acted on: they belong to the
consumer group protocol of KIP-848 and the share groups of KIP-932.

Checks are Kafka's GroupConfig.validate, in its order and words: an unknown
name ("Unknown group config name: x"), a value that does not parse or
check ("Invalid value x for configuration consumer.session.timeout.ms: Not a
number of type INT"), then the bounds the broker's group coordinator keys
set ("consumer.heartbeat.interval.ms must be less than or equal to
group.consumer.max.heartbeat.interval.ms") and session > heartbeat. Configs
a request leaves unset count with Kafka's default, as GroupConfig's
ConfigDef gives it, not the broker's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from kraft.config import KafkaConfig
from kraft.log.configdef import ConfigException, ConfigKey, Type, Validator, at_least, one_of
from kraft.topic_configs import DEFAULT_CONFIG, ConfigEntry

__all__ = [
    "GROUP_CONFIG",
    "GROUP_CONFIGS",
    "GROUP_RESOURCE",
    "describe_group_configs",
    "validate_group_configs",
]

GROUP_RESOURCE: Final = 32
"""Kafka's ConfigResource.Type GROUP."""

GROUP_CONFIG: Final = 8
"""Kafka's DescribeConfigsResponse.ConfigSource GROUP_CONFIG: set on the group."""

_UNUSED = "stored and described; kraft serves the classic group protocol only"


def _group(name: str, default: int | str, doc: str, validator: Validator, synonym: str | None,
           type_: Type = Type.INT) -> ConfigKey:
    return ConfigKey(name, type_, default, doc, validator,
                     synonyms=((synonym, 1),) if synonym else (), unused=_UNUSED)


GROUP_CONFIGS: Final[dict[str, ConfigKey]] = {k.name: k for k in [
    _group("consumer.session.timeout.ms", 45000,
           "Timeout to detect a dead member of a consumer group.", at_least(1),
           "group.consumer.session.timeout.ms"),
    _group("consumer.heartbeat.interval.ms", 5000,
           "Heartbeat interval given to the members of a consumer group.", at_least(1),
           "group.consumer.heartbeat.interval.ms"),
    _group("share.session.timeout.ms", 45000,
           "Timeout to detect a dead member of a share group.", at_least(1),
           "group.share.session.timeout.ms"),
    _group("share.heartbeat.interval.ms", 5000,
           "Heartbeat interval given to the members of a share group.", at_least(1),
           "group.share.heartbeat.interval.ms"),
    _group("share.record.lock.duration.ms", 30000,
           "How long a share group member holds a record's acquisition lock.", at_least(1000),
           "group.share.record.lock.duration.ms"),
    _group("share.auto.offset.reset", "latest",
           "Where a share group starts reading a partition: latest or earliest.",
           one_of("latest", "earliest"), None, Type.STRING),
]}

# (group config, its lower and upper bound keys of the broker), in GroupConfig's order.
_BOUNDS: Final = (
    ("consumer.heartbeat.interval.ms", "group.consumer.min.heartbeat.interval.ms",
     "group.consumer.max.heartbeat.interval.ms"),
    ("consumer.session.timeout.ms", "group.consumer.min.session.timeout.ms",
     "group.consumer.max.session.timeout.ms"),
    ("share.heartbeat.interval.ms", "group.share.min.heartbeat.interval.ms",
     "group.share.max.heartbeat.interval.ms"),
    ("share.session.timeout.ms", "group.share.min.session.timeout.ms",
     "group.share.max.session.timeout.ms"),
    ("share.record.lock.duration.ms", "group.share.min.record.lock.duration.ms",
     "group.share.max.record.lock.duration.ms"),
)


def validate_group_configs(configs: Mapping[str, str | None], broker: KafkaConfig) -> str | None:
    """None if `configs` is a valid whole set of a group's configs, else Kafka's message.

    `broker` gives the bounds (the controller's server.properties, as Kafka's
    controller uses its own GroupCoordinatorConfig)."""
    nulls = [name for name, value in configs.items() if value is None]
    if nulls:
        return "Null value not supported for group configs: " + ",".join(nulls)
    for name in configs:
        if name not in GROUP_CONFIGS:
            return f"Unknown group config name: {name}"
    values = {}
    try:
        for name, key in GROUP_CONFIGS.items():
            text = configs.get(name)
            values[name] = key.default if text is None else key.parse(text)
    except ConfigException as e:
        return str(e)
    for name, low, high in _BOUNDS:
        if values[name] < broker[low]:
            return f"{name} must be greater than or equal to {low}"
        if values[name] > broker[high]:
            return f"{name} must be less than or equal to {high}"
    for kind in ("consumer", "share"):
        if values[f"{kind}.session.timeout.ms"] <= values[f"{kind}.heartbeat.interval.ms"]:
            return f"{kind}.session.timeout.ms must be greater than {kind}.heartbeat.interval.ms"
    return None


def describe_group_configs(broker: KafkaConfig, overrides: Mapping[str, str]) -> list[ConfigEntry]:
    """Every group config of one group, sorted by name: the group's own value
    (GROUP_CONFIG), else the broker's default for it (DEFAULT_CONFIG, as Kafka
    reports it even when server.properties sets that default)."""
    entries = []
    for name in sorted(GROUP_CONFIGS):
        key = GROUP_CONFIGS[name]
        if name in overrides:
            value: str | None = overrides[name]
            source = GROUP_CONFIG
        else:
            value = str(broker[key.synonyms[0][0]]) if key.synonyms else key.default_text
            source = DEFAULT_CONFIG
        entries.append(ConfigEntry(
            name=name, value=value, source=source, read_only=False, is_sensitive=False,
            is_default=source == DEFAULT_CONFIG, type=key.type, documentation=key.doc,
        ))
    return entries
