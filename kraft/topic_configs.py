"""Topic configs and dynamic broker configs as DescribeConfigs and the config commands see them.

The keys themselves are declared once: topic configs in kraft.log.config
(`TOPIC_CONFIGS`), server.properties keys in kraft.config_keys (`KEYS`).
This module resolves, validates and describes them.

Effective topic configs
-----------------------
A topic config (`retention.ms`, ...) has an *effective value* resolved the way
Kafka's `KafkaConfigSchema.resolveEffectiveTopicConfig` does, first match wins:

1. the topic's own override (a ConfigRecord on the TOPIC resource),
2. a dynamic config of this broker for one of its broker synonyms,
3. a dynamic cluster-wide default (BROKER resource "") for a synonym,
4. a synonym written in server.properties,
5. Kafka's default for the topic config.

Synonyms are Kafka's `ServerTopicConfigSynonyms` in precedence order
(`retention.ms` <- `log.retention.ms`, `log.retention.minutes` x 60000,
`log.retention.hours` x 3600000). Only broker keys that kraft declares and
acts on are read: a topic config kraft does not act on (below) shows the
topic's override or Kafka's default, never a broker-wide value that would
suggest an effect; a synonym kraft does not declare
(`log.flush.scheduler.interval.ms`) is never read.

Which topic configs act
-----------------------
- The log (kraft.log.config.LogConfig, built by `log_config`):
  segment.bytes, segment.ms, retention.ms, retention.bytes,
  max.message.bytes, index.interval.bytes, segment.index.bytes,
  flush.messages, flush.ms, message.timestamp.type,
  message.timestamp.before.max.ms, message.timestamp.after.max.ms (CreateTime
  bounds: INVALID_TIMESTAMP outside them); and for compaction
  cleanup.policy ("compact" lets log.cleaner clean the log; without
  "delete" neither retention applies and DeleteRecords is refused),
  delete.retention.ms (how long tombstones survive cleaning),
  min.compaction.lag.ms, max.compaction.lag.ms (which also caps the age of
  the active segment) and min.cleanable.dirty.ratio.
- The broker and the controller, through `topic_config_value`:
  min.insync.replicas (acks=all produce) and unclean.leader.election.enable
  (leader election); leader.replication.throttled.replicas and
  follower.replication.throttled.replicas, read by the replication throttles
  (kraft.broker.replication_quota).
- Stored, validated and described like Kafka's, but not acted on:
  compression.type and the three compression.*.level (batches are kept as
  the producer compressed them), file.delete.delay.ms, preallocate,
  segment.jitter.ms, max.decompressed.message.bytes,
  errors.deadletterqueue.group.enable (no share groups) and the tiered-storage
  keys local.retention.ms, local.retention.bytes, remote.copy.lag.ms,
  remote.copy.lag.bytes, remote.log.copy.disable, remote.log.delete.on.disable
  and remote.storage.enable, which may not be set to true: kraft refuses it as
  a Kafka broker without tiered storage does. (`TOPIC_CONFIGS[name].unused`
  says why; tests/test_topic_configs.py keeps this list and that field
  equal.)
Not declared: the configs Kafka 4.0 removed (message.format.version,
message.downconversion.enable, message.timestamp.difference.max.ms).

Validation follows Kafka's ConfigDef: the same types, ranges and wording
("Invalid value x for configuration y: Value must be at least 14").

Dynamic broker configs are the keys of KEYS that Kafka's
`DynamicBrokerConfig` lets an admin change at runtime (BROKER_DYNAMIC_CONFIGS),
stored and described whether or not kraft acts on them; listener and
security configs may only be set per broker, and Kafka's per-listener
`listener.name.<listener>.<key>` form is accepted for them. Kafka's password
keys are refused: kraft serves no TLS or SASL and stores no secrets.

Described values of sensitive (password-like) configs are None, so that no
caller can leak them into a response.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from kraft.config import KEYS, KafkaConfig, is_password_config, listener_base, listener_key_name
from kraft.config_keys import (
    CLUSTER_LEVEL_LISTENER_CONFIGS,
    LIST_TYPED_CSV,
    LISTENER_CONFIGS,
    PASSWORD_KEYS,
)
from kraft.log.config import TOPIC_CONFIGS, LogConfig, compaction_lag_conflict
from kraft.log.configdef import ConfigException, ConfigKey, Type, invalid, parse
from kraft.metadata.image import ConfigResource, MetadataImage
from kraft.metadata.records import BROKER_RESOURCE

__all__ = [
    "BROKER_DYNAMIC_CONFIGS",
    "BROKER_PER_BROKER_CONFIGS",
    "DEFAULT_CONFIG",
    "DYNAMIC_BROKER_CONFIG",
    "DYNAMIC_DEFAULT_BROKER_CONFIG",
    "DYNAMIC_TOPIC_CONFIG",
    "STATIC_BROKER_CONFIG",
    "TOPIC_CONFIGS",
    "ConfigEntry",
    "config_default",
    "describe_broker_configs",
    "describe_topic_configs",
    "dynamic_broker_configs",
    "is_list_config",
    "log_config",
    "topic_config_value",
    "validate_broker_config",
    "validate_topic_config",
    "validate_topic_configs",
]

# Kafka's DescribeConfigsResponse.ConfigSource ids.
DYNAMIC_TOPIC_CONFIG: Final = 1
DYNAMIC_BROKER_CONFIG: Final = 2
DYNAMIC_DEFAULT_BROKER_CONFIG: Final = 3
STATIC_BROKER_CONFIG: Final = 4
DEFAULT_CONFIG: Final = 5

_EMPTY: Final[Mapping[str, str]] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class ConfigEntry:
    """One described config: Kafka's DescribeConfigs entry.

    `source` is a ConfigSource id (DYNAMIC_TOPIC_CONFIG ... DEFAULT_CONFIG, or
    GROUP_CONFIG), `type` a Kafka ConfigType id; `value` is None for sensitive
    configs and for configs that have no value (Kafka's null default).
    """

    name: str
    value: str | None
    source: int
    read_only: bool
    is_sensitive: bool
    is_default: bool
    type: int
    documentation: str | None
    # (name, value, source) in Kafka's order, for include_synonyms; None: the
    # entry itself is its only synonym.
    synonyms: tuple[tuple[str, str | None, int], ...] | None = None


# --- topic configs ---------------------------------------------------------------------

def validate_topic_config(name: str, value: str | None) -> str | None:
    """None if `value` is a valid value of topic config `name`, else Kafka's message."""
    key = TOPIC_CONFIGS.get(name)
    if key is None:
        return f"Unknown topic config name: {name}"
    if value is None:
        return f"Null value not supported for topic configs: {name}"
    try:
        key.parse(value)
    except ConfigException as e:
        return str(e)
    return None


def validate_topic_configs(configs: Mapping[str, str | None]) -> str | None:
    """Validate a topic's whole set of overrides: each value, then the rules that
    relate two configs (Kafka's LogConfig.validateValues). None if valid."""
    nulls = [name for name, value in configs.items() if value is None]
    if nulls:
        return "Null value not supported for topic configs: " + ",".join(nulls)
    for name, value in configs.items():
        error = validate_topic_config(name, value)
        if error is not None:
            return error
    if TOPIC_CONFIGS["remote.storage.enable"].parse(configs.get("remote.storage.enable")
                                                    or "false"):
        # Kafka's LogConfig.validateRemoteStorageOnlyIfSystemEnabled, on a broker
        # with remote.log.storage.system.enable=false: kraft has no tiered storage.
        return ("Tiered Storage functionality is disabled in the broker. Topic cannot be "
                "configured with remote log storage.")
    lags = []
    for name in ("min.compaction.lag.ms", "max.compaction.lag.ms"):
        text = configs.get(name)
        key = TOPIC_CONFIGS[name]
        lags.append(key.default if text is None else key.parse(text))
    return compaction_lag_conflict(*lags)


def _read_synonyms(key: ConfigKey) -> list[tuple[str, int]]:
    """The broker synonyms of topic config `key` that are read (see the module docstring)."""
    return [(name, mult) for name, mult in key.synonyms
            if name in KEYS and KEYS[name].unused is None]


_SYNONYMS_READ: Final = {name: _read_synonyms(key) for name, key in TOPIC_CONFIGS.items()}


def _resolve(
    key: ConfigKey,
    broker_config: KafkaConfig,
    overrides: Mapping[str, str],
    broker_dynamic: Mapping[str, str],
    broker_dynamic_default: Mapping[str, str],
) -> tuple[str | None, int]:
    """(effective value, ConfigSource id) of topic config `key`."""
    if key.name in overrides:
        return overrides[key.name], DYNAMIC_TOPIC_CONFIG
    synonyms = _SYNONYMS_READ[key.name]
    for source, values in (
        (DYNAMIC_BROKER_CONFIG, broker_dynamic),
        (DYNAMIC_DEFAULT_BROKER_CONFIG, broker_dynamic_default),
        (STATIC_BROKER_CONFIG, broker_config.raw),
    ):
        for name, mult in synonyms:
            raw = values.get(name)
            if raw is not None:
                text = raw.strip()
                return (text if mult == 1 else str(int(text) * mult)), source
    return key.default_text, DEFAULT_CONFIG


Synonym = tuple[str, str | None, int]

# Keys Kafka 4.x defines without a default (required), so no DEFAULT_CONFIG
# synonym; kraft's KEYS give them placeholders. Measured: DescribeConfigs with
# synonyms of every broker key on Kafka 4.4 against kraft's KEYS.
_NO_KAFKA_DEFAULT: Final = frozenset({"node.id", "process.roles"})

# Broker keys that stand for one another (Kafka's DynamicBrokerConfig.
# brokerConfigSynonyms): the names of each topic config's broker synonyms.
_BROKER_KEY_GROUPS: Final = {
    name: tuple(n for n, _ in key.synonyms)
    for key in TOPIC_CONFIGS.values() if len(key.synonyms) > 1
    for name, _ in key.synonyms
}


def _synonym_chain(
    names: tuple[str, ...],
    broker_config: KafkaConfig,
    broker_dynamic: Mapping[str, str],
    broker_dynamic_default: Mapping[str, str],
    sensitive: bool,
    start: str | None = None,
) -> list[Synonym]:
    """Kafka's ConfigHelper.configSynonyms: every value the broker keys `names`
    have, by source (this broker's dynamic config, the dynamic default,
    server.properties, the key's default), from the first entry of `start`
    (default names[0]) on."""
    chain: list[Synonym] = []
    for source, values in ((DYNAMIC_BROKER_CONFIG, broker_dynamic),
                           (DYNAMIC_DEFAULT_BROKER_CONFIG, broker_dynamic_default),
                           (STATIC_BROKER_CONFIG, broker_config.raw)):
        chain += [(n, None if sensitive else values[n].strip(), source)
                  for n in names if n in values]
    for n in names:
        key = KEYS.get(n)  # a listener's override has no default of its own
        if key is not None and key.default_text is not None and n not in _NO_KAFKA_DEFAULT:
            chain.append((n, None if sensitive else key.default_text, DEFAULT_CONFIG))
    # Kafka keeps the chain from the first entry of the key itself, so a key
    # without a value of its own (log.retention.ms) lists no synonyms.
    start = names[0] if start is None else start
    first = next((i for i, (n, _, _) in enumerate(chain) if n == start), len(chain))
    return chain[first:]


def describe_topic_configs(
    broker_config: KafkaConfig,
    overrides: Mapping[str, str],
    broker_dynamic: Mapping[str, str] = _EMPTY,
    broker_dynamic_default: Mapping[str, str] = _EMPTY,
) -> list[ConfigEntry]:
    """Every topic config with its effective value and source, sorted by name.

    `overrides` are the topic's dynamic configs, `broker_dynamic` this broker's
    dynamic configs (BROKER resource "<id>"), `broker_dynamic_default` the
    cluster-wide dynamic broker defaults (BROKER resource ""). Topic configs are
    never read-only nor sensitive (as in Kafka).
    """
    entries = []
    for name in sorted(TOPIC_CONFIGS):
        key = TOPIC_CONFIGS[name]
        value, source = _resolve(key, broker_config, overrides, broker_dynamic,
                                 broker_dynamic_default)
        # Synonyms as Kafka's ConfigHelper: the topic's own value, then the
        # chain of its primary broker synonym.
        synonyms: list[Synonym] = []
        if name in overrides:
            synonyms.append((name, overrides[name], DYNAMIC_TOPIC_CONFIG))
        if key.synonyms:
            primary = key.synonyms[0][0]
            names = _BROKER_KEY_GROUPS.get(primary, (primary,))
            synonyms += _synonym_chain(names, broker_config, broker_dynamic,
                                       broker_dynamic_default, sensitive=False)
        entries.append(ConfigEntry(
            name=name, value=value, source=source, read_only=False, is_sensitive=False,
            is_default=source == DEFAULT_CONFIG, type=key.type, documentation=key.doc,
            synonyms=tuple(synonyms),
        ))
    return entries


def topic_config_value(
    broker_config: KafkaConfig,
    overrides: Mapping[str, str],
    name: str,
    broker_dynamic: Mapping[str, str] = _EMPTY,
    broker_dynamic_default: Mapping[str, str] = _EMPTY,
) -> str:
    """The effective value of topic config `name` as text (KeyError if it is not one;
    "" for a config whose default is null, which no topic config has)."""
    value = _resolve(TOPIC_CONFIGS[name], broker_config, overrides, broker_dynamic,
                     broker_dynamic_default)[0]
    return "" if value is None else value


def dynamic_broker_configs(
    image: MetadataImage, node_id: int
) -> tuple[Mapping[str, str], Mapping[str, str]]:
    """(node `node_id`'s dynamic broker configs, the cluster-wide dynamic broker
    defaults) as `image` holds them: the last two arguments of topic_config_value,
    log_config and describe_topic_configs."""
    return (image.configs.get(ConfigResource(BROKER_RESOURCE, str(node_id))),
            image.configs.get(ConfigResource(BROKER_RESOURCE, "")))


_LOG_CONFIG_NAMES: Final = tuple(f.name.replace("_", ".") for f in dataclasses.fields(LogConfig))


def log_config(
    broker_config: KafkaConfig,
    overrides: Mapping[str, str],
    broker_dynamic: Mapping[str, str] = _EMPTY,
    broker_dynamic_default: Mapping[str, str] = _EMPTY,
) -> LogConfig:
    """The LogConfig of a topic with these overrides on this broker.

    Every value was validated when it was written (server.properties when the
    node started, dynamic configs by the controller), with the checks
    LogConfig applies again.
    """
    props: dict[str, str | int] = {
        name: topic_config_value(broker_config, overrides, name, broker_dynamic,
                                 broker_dynamic_default)
        for name in _LOG_CONFIG_NAMES
    }
    return LogConfig.from_properties(props)


# --- dynamic broker configs ------------------------------------------------------------

BROKER_DYNAMIC_CONFIGS: Final = frozenset(name for name, key in KEYS.items() if key.dynamic)
BROKER_PER_BROKER_CONFIGS: Final = frozenset(
    name for name, key in KEYS.items() if key.per_broker)
_LISTENER_KEYS: Final = frozenset(
    {"listeners", "advertised.listeners", "listener.security.protocol.map"})
_SECURITY_PROTOCOLS: Final = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")


def _check_listeners(name: str, value: str) -> None:
    entry = (r"[A-Za-z0-9_]+:(" + "|".join(_SECURITY_PROTOCOLS) + ")"
             if name == "listener.security.protocol.map"
             else r"[A-Za-z0-9_]+://(\[[^\]]*\]|[^:,\s]*):[0-9]+")
    for item in parse(name, value, Type.LIST):
        if not re.fullmatch(entry, item):
            raise invalid(name, value, f"cannot parse {item!r}")


def validate_broker_config(name: str, value: str | None, *, per_broker: bool = True) -> str | None:
    """None if broker config `name` may be set to `value` dynamically, else the reason.

    `value` None deletes the dynamic value (always allowed for a dynamic key).
    `per_broker` False means the cluster-wide default (BROKER resource ""),
    where listener and security configs may not be set. Checks and wording are
    Kafka's, in its order (DynamicBrokerConfig.validateConfigs and ConfigDef).
    """
    base = listener_base(name)
    key = base if base is not None else KEYS.get(name)
    if key is None and is_password_config(name):
        return ("kraft serves PLAINTEXT listeners only and does not store password configs: "
                f"[{name}]")
    # A listener's override of its security keys may be set at runtime even where the
    # bare key may not (Kafka checks only bare names against its static keys).
    if key is None or not (key.dynamic or (base is not None and key.name in LISTENER_CONFIGS)):
        return f"Cannot update these configs dynamically: [{name}]"
    if key.listener_only and base is None:
        return ("These security configs can be dynamically updated only per-listener using "
                f"the listener prefix: [{name}]")
    if value is not None:
        try:
            if key.name in _LISTENER_KEYS:
                _check_listeners(name, value)
            else:
                key.parse(value, shown_name=name)
        except ConfigException as e:
            return str(e)
    cluster_level = base.name in CLUSTER_LEVEL_LISTENER_CONFIGS if base else not key.per_broker
    if not per_broker and not cluster_level:
        return ("Cannot update these configs at default cluster level, broker id must be "
                f"specified: [{name}]")
    return None


def is_list_config(name: str, *, broker: bool = False) -> bool:
    """True if topic config (or, with `broker`, broker config) `name` is LIST-typed:
    the only kind IncrementalAlterConfigs' APPEND and SUBTRACT apply to."""
    key = (listener_base(name) or KEYS.get(name)) if broker else TOPIC_CONFIGS.get(name)
    return key is not None and key.type == Type.LIST


def config_default(name: str, *, broker: bool = False) -> str | None:
    """Kafka's default of topic config (or, with `broker`, broker config) `name`, as a
    string; None if it has none or is unknown."""
    key = (listener_base(name) or KEYS.get(name)) if broker else TOPIC_CONFIGS.get(name)
    return None if key is None else key.default_text


def describe_broker_configs(
    broker_config: KafkaConfig,
    dynamic_default: Mapping[str, str],
    dynamic_broker: Mapping[str, str],
) -> list[ConfigEntry]:
    """Every key of KEYS and PASSWORD_KEYS, and every other key set in
    server.properties or dynamically (a listener's override, a key kraft does not
    know), with its value and source, sorted by name: Kafka's ConfigHelper lists
    its config's originals beside its keys.

    Precedence as Kafka's: this broker's dynamic config, the cluster-wide
    dynamic default, server.properties, Kafka's default. Keys that cannot be
    changed at runtime are read-only, and so is every `listener.name.<l>.<key>`
    (Kafka's AllDynamicConfigs holds bare names only). Password keys, and keys
    of unknown type, are sensitive and described without a value.
    """
    names = {*KEYS, *PASSWORD_KEYS, *broker_config.raw, *dynamic_broker, *dynamic_default}
    entries = []
    for name in sorted(names):
        base = _listener_base_name(name)
        key = _broker_key(name if base is None else base)
        value: str | None
        if name in dynamic_broker:
            value, source = dynamic_broker[name], DYNAMIC_BROKER_CONFIG
        elif name in dynamic_default:
            value, source = dynamic_default[name], DYNAMIC_DEFAULT_BROKER_CONFIG
        elif name in broker_config.raw:
            value, source = broker_config.raw[name].strip(), STATIC_BROKER_CONFIG
        else:
            assert key is not None
            value, source = key.default_text, DEFAULT_CONFIG
        if base is not None:
            group: tuple[str, ...] = (name, base)  # the listener's key, then the key
        else:
            group = _BROKER_KEY_GROUPS.get(name, (name,))
        # Kafka treats a key whose type it cannot tell as sensitive.
        sensitive = key is None or key.sensitive
        entries.append(ConfigEntry(
            name=name, value=None if sensitive else value, source=source,
            read_only=key is None or base is not None or not key.dynamic,
            is_sensitive=sensitive, is_default=source == DEFAULT_CONFIG,
            type=_described_type(key),
            documentation=None if key is None else key.doc,
            synonyms=tuple(_synonym_chain(group, broker_config, dynamic_broker,
                                          dynamic_default, sensitive, start=name)),
        ))
    return entries


# Kafka's DynamicBrokerConfig.ListenerMechanismConfigs: set per listener and SASL
# mechanism (listener.name.<l>.<mechanism>.<key>).
_MECHANISM_KEYS: Final = ("sasl.jaas.config", "sasl.login.callback.handler.class",
                          "sasl.login.class", "sasl.server.callback.handler.class",
                          "connections.max.reauth.ms")


def _listener_base_name(name: str) -> str | None:
    """The key a `listener.name.<l>.[<mechanism>.]<key>` name overrides (Kafka's
    brokerConfigSynonyms), or None when `name` has no listener prefix."""
    base = listener_key_name(name)
    if base is None:
        return None
    return next((m for m in _MECHANISM_KEYS if base.endswith(m)), base)


def _described_type(key: ConfigKey | None) -> int:
    """Kafka's ConfigType id of `key`: 0 (UNKNOWN) for a key Kafka does not know, LIST
    for a comma-separated STRING key Kafka types LIST."""
    if key is None:
        return 0
    return Type.LIST if key.name in LIST_TYPED_CSV else key.type


def _broker_key(name: str) -> ConfigKey | None:
    return KEYS.get(name) or PASSWORD_KEYS.get(name)
