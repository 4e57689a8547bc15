"""Group configs (kraft.group_configs): Kafka 4.0's GROUP resource configs."""

from __future__ import annotations

from kraft.config import KafkaConfig
from kraft.group_configs import (
    GROUP_CONFIG,
    GROUP_CONFIGS,
    describe_group_configs,
    validate_group_configs,
)
from kraft.topic_configs import DEFAULT_CONFIG


def test_group_configs_are_kafkas() -> None:
    """The names, types and defaults are Kafka 4.0's GroupConfig; every default is valid."""
    assert {name: (key.type.name, key.default) for name, key in GROUP_CONFIGS.items()} == {
        "consumer.session.timeout.ms": ("INT", 45000),
        "consumer.heartbeat.interval.ms": ("INT", 5000),
        "share.session.timeout.ms": ("INT", 45000),
        "share.heartbeat.interval.ms": ("INT", 5000),
        "share.record.lock.duration.ms": ("INT", 30000),
        "share.auto.offset.reset": ("STRING", "latest"),
    }
    defaults = {name: key.default_text for name, key in GROUP_CONFIGS.items()}
    assert validate_group_configs(defaults, KafkaConfig({})) is None


def test_null_values_are_refused() -> None:
    """A null value is refused with Kafka's message listing the names."""
    assert validate_group_configs({"consumer.session.timeout.ms": None},
                                  KafkaConfig({})) == (
        "Null value not supported for group configs: consumer.session.timeout.ms")


def test_describe_group_configs() -> None:
    """A group's own value is GROUP_CONFIG; the others are the broker's defaults for them
    (its group.* keys), described as DEFAULT_CONFIG as Kafka does."""
    broker = KafkaConfig({"group.consumer.heartbeat.interval.ms": "6000"})
    entries = {e.name: e for e in describe_group_configs(
        broker, {"consumer.session.timeout.ms": "50000"})}
    assert list(entries) == sorted(GROUP_CONFIGS)
    assert (entries["consumer.session.timeout.ms"].value,
            entries["consumer.session.timeout.ms"].source) == ("50000", GROUP_CONFIG)
    assert (entries["consumer.heartbeat.interval.ms"].value,
            entries["consumer.heartbeat.interval.ms"].source) == ("6000", DEFAULT_CONFIG)
    assert entries["share.auto.offset.reset"].value == "latest"
    assert not any(e.read_only or e.is_sensitive for e in entries.values())
