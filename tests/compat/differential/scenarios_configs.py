"""Scenarios of configs: DescribeConfigs, AlterConfigs, IncrementalAlterConfigs."""

from __future__ import annotations

from typing import Any

from tests.compat.differential.engine import Ctx, scenario
from tests.compat.differential.scenarios_data import topic_with

DESCRIBE_CONFIGS, ALTER_CONFIGS, INCREMENTAL_ALTER_CONFIGS = 32, 33, 44
TOPIC, BROKER, BROKER_LOGGER, GROUP = 2, 4, 8, 32
SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3
BY_NAME = ("map:results/configs=name", "map:results/configs/synonyms=name")
# Broker keys whose values are this run's paths, ports, ids or host facts.
BROKER_RULES = (*BY_NAME, "any:results/configs/value", "any:results/configs/synonyms/value")
BROKER_KEYS = ("num.partitions", "log.retention.hours", "message.max.bytes",
               "auto.create.topics.enable", "default.replication.factor", "min.insync.replicas",
               "log.segment.bytes", "offsets.topic.replication.factor",
               "group.initial.rebalance.delay.ms", "unclean.leader.election.enable",
               "log.cleanup.policy", "compression.type", "no.such.key")


def describe_body(resource_type: int, name: str = "{name}", keys: tuple[str, ...] | None = None,
                  synonyms: bool = False, documentation: bool = False) -> Any:
    def body(ctx: Ctx) -> dict[str, Any]:
        return {"resources": [{"resource_type": resource_type,
                               "resource_name": name.replace("{name}", ctx.name),
                               "configuration_keys": None if keys is None else list(keys)}],
                "include_synonyms": synonyms, "include_documentation": documentation}
    return body


with_override = topic_with(0, retention_ms="3600000", cleanup_policy="compact")
scenario("describe-configs/topic-all", DESCRIBE_CONFIGS, describe_body(TOPIC),
         setup=with_override, rules=BY_NAME)
scenario("describe-configs/topic-synonyms", DESCRIBE_CONFIGS,
         describe_body(TOPIC, synonyms=True), setup=with_override, rules=BY_NAME,
         versions=range(1, 5))
scenario("describe-configs/topic-documentation", DESCRIBE_CONFIGS,
         describe_body(TOPIC, keys=("retention.ms", "cleanup.policy"), documentation=True),
         setup=with_override, rules=BY_NAME, versions=range(3, 5))
scenario("describe-configs/topic-keys", DESCRIBE_CONFIGS,
         describe_body(TOPIC, keys=("retention.ms", "segment.bytes", "no.such.key")),
         setup=with_override, rules=BY_NAME)
scenario("describe-configs/unknown-topic", DESCRIBE_CONFIGS,
         describe_body(TOPIC, "vs-no-such-topic"))
scenario("describe-configs/illegal-topic-name", DESCRIBE_CONFIGS, describe_body(TOPIC, "a b"))
scenario("describe-configs/broker-keys", DESCRIBE_CONFIGS,
         describe_body(BROKER, "1", BROKER_KEYS), rules=BY_NAME,
         note="keys whose values are the same on both (Kafka's defaults, the quickstart's)")
scenario("describe-configs/broker-all", DESCRIBE_CONFIGS, describe_body(BROKER, "1"),
         rules=BROKER_RULES,
         note="values are not compared (paths, ports, host facts); names, sources, "
         "read-only and sensitive flags are")
scenario("describe-configs/broker-default", DESCRIBE_CONFIGS, describe_body(BROKER, ""),
         rules=BY_NAME, note="the cluster-wide dynamic defaults (none set)")
scenario("describe-configs/other-broker", DESCRIBE_CONFIGS, describe_body(BROKER, "2"))
scenario("describe-configs/broker-not-a-number", DESCRIBE_CONFIGS, describe_body(BROKER, "one"))
scenario("describe-configs/broker-logger", DESCRIBE_CONFIGS,
         describe_body(BROKER_LOGGER, "1", ("root",)), rules=BY_NAME)
scenario("describe-configs/group", DESCRIBE_CONFIGS, describe_body(GROUP, "vs-config-group"),
         rules=BY_NAME)
scenario("describe-configs/unknown-resource-type", DESCRIBE_CONFIGS, describe_body(99, "x"))


def alter_body(resource_type: int, configs: dict[str, str | None], name: str = "{name}",
               validate_only: bool = False) -> Any:
    def body(ctx: Ctx) -> dict[str, Any]:
        return {"resources": [{"resource_type": resource_type,
                               "resource_name": name.replace("{name}", ctx.name),
                               "configs": [{"name": k, "value": v} for k, v in configs.items()]}],
                "validate_only": validate_only}
    return body


scenario("alter-configs/topic", ALTER_CONFIGS, alter_body(TOPIC, {"retention.ms": "7200000"}),
         setup=topic_with(0))
scenario("alter-configs/topic-validate-only", ALTER_CONFIGS,
         alter_body(TOPIC, {"retention.ms": "7200000"}, validate_only=True), setup=topic_with(0))
scenario("alter-configs/unknown-key", ALTER_CONFIGS, alter_body(TOPIC, {"no.such.key": "1"}),
         setup=topic_with(0))
scenario("alter-configs/invalid-value", ALTER_CONFIGS, alter_body(TOPIC, {"retention.ms": "x"}),
         setup=topic_with(0))
scenario("alter-configs/null-value", ALTER_CONFIGS, alter_body(TOPIC, {"retention.ms": None}),
         setup=topic_with(0))
scenario("alter-configs/unknown-topic", ALTER_CONFIGS,
         alter_body(TOPIC, {"retention.ms": "1"}, "vs-no-such-topic"))
scenario("alter-configs/broker-dynamic", ALTER_CONFIGS,
         alter_body(BROKER, {"log.cleaner.threads": "2"}, "1"))
scenario("alter-configs/broker-read-only", ALTER_CONFIGS,
         alter_body(BROKER, {"log.dirs": "/tmp/elsewhere"}, "1"))
scenario("alter-configs/broker-unknown-key", ALTER_CONFIGS,
         alter_body(BROKER, {"no.such.key": "1"}, "1"))


def incremental_body(resource_type: int, ops: list[tuple[str, int, str | None]],
                     name: str = "{name}", validate_only: bool = False) -> Any:
    def body(ctx: Ctx) -> dict[str, Any]:
        return {"resources": [{"resource_type": resource_type,
                               "resource_name": name.replace("{name}", ctx.name),
                               "configs": [{"name": k, "config_operation": op, "value": v}
                                           for k, op, v in ops]}],
                "validate_only": validate_only}
    return body


def ialter(label: str, resource_type: int, ops: list[tuple[str, int, str | None]],
           name: str = "{name}", setup: Any = None, **kwargs: Any) -> None:
    scenario(f"incremental-alter-configs/{label}", INCREMENTAL_ALTER_CONFIGS,
             incremental_body(resource_type, ops, name, kwargs.pop("validate_only", False)),
             setup=setup, **kwargs)


ialter("set", TOPIC, [("retention.ms", SET, "7200000")], setup=topic_with(0))
ialter("delete", TOPIC, [("retention.ms", DELETE, None)],
       setup=topic_with(0, retention_ms="3600000"))
ialter("append-list", TOPIC, [("cleanup.policy", APPEND, "compact")], setup=topic_with(0))
ialter("subtract-list", TOPIC, [("cleanup.policy", SUBTRACT, "compact")],
       setup=topic_with(0, cleanup_policy="compact,delete"))
ialter("append-non-list", TOPIC, [("retention.ms", APPEND, "5")], setup=topic_with(0))
ialter("unknown-operation", TOPIC, [("retention.ms", 7, "5")], setup=topic_with(0))
ialter("unknown-key", TOPIC, [("no.such.key", SET, "1")], setup=topic_with(0))
ialter("invalid-value", TOPIC, [("min.insync.replicas", SET, "zero")], setup=topic_with(0))
ialter("duplicate-key", TOPIC, [("retention.ms", SET, "1"), ("retention.ms", SET, "2")],
       setup=topic_with(0))
ialter("set-null-value", TOPIC, [("retention.ms", SET, None)], setup=topic_with(0))
ialter("validate-only", TOPIC, [("retention.ms", SET, "1")], setup=topic_with(0),
       validate_only=True)
ialter("unknown-topic", TOPIC, [("retention.ms", SET, "1")], name="vs-no-such-topic")
ialter("broker-dynamic", BROKER, [("log.cleaner.threads", SET, "2")], name="1")
ialter("broker-default-dynamic", BROKER, [("log.retention.ms", SET, "604800000")], name="")
ialter("broker-read-only", BROKER, [("log.dirs", SET, "/tmp/x")], name="1")
ialter("broker-other-id", BROKER, [("log.cleaner.threads", SET, "2")], name="2")
ialter("broker-logger", BROKER_LOGGER, [("kafka.server", SET, "DEBUG")], name="1")
ialter("broker-logger-bad-level", BROKER_LOGGER, [("root", SET, "LOUD")], name="1")
ialter("group", GROUP, [("consumer.session.timeout.ms", SET, "50000")],
       name="vs-config-group-ialter")
ialter("group-unknown-key", GROUP, [("no.such.key", SET, "1")], name="vs-config-group-ialter")
