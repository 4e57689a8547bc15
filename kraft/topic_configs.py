"""Topic-level configs (Kafka's `LogConfig` schema) and dynamic broker configs.

Theory of operation
-------------------
A topic config (`retention.ms`, ...) has an *effective value* resolved the way
Kafka's `KafkaConfigSchema.resolveEffectiveTopicConfig` does, first match wins:

1. the topic's own override (a ConfigRecord on the TOPIC resource),
2. a dynamic config of this broker for one of its broker synonyms,
3. a dynamic cluster-wide default (BROKER resource "") for a synonym,
4. a synonym written in server.properties,
5. Kafka's default for the topic config.

Synonyms are Kafka's `ServerTopicConfigSynonyms` in precedence order
(`retention.ms` <- `log.retention.ms`, `log.retention.minutes` x 60000,
`log.retention.hours` x 3600000), restricted to keys kraft.config defines:
a broker key kraft does not define (e.g. `log.cleanup.policy`) is never read,
so `cleanup.policy` falls back to Kafka's default "delete". "Not set"
sentinels of kraft.config (`log.retention.ms=-2`, `log.roll.ms=-1`, ...) are
skipped as if absent, as KafkaConfig's derived properties do.

Which configs act
-----------------
The log honours the configs mapped into `log.config.LogConfig`: segment.bytes,
segment.ms, retention.ms, retention.bytes, max.message.bytes,
index.interval.bytes, segment.index.bytes, flush.messages, flush.ms and
message.timestamp.type (see `log_config`). The broker and controller read
min.insync.replicas and unclean.leader.election.enable through
`topic_config_value`. Every other topic config here (cleanup.policy,
compression.*, *compaction*, delete.retention.ms, file.delete.delay.ms,
preallocate, segment.jitter.ms, message.timestamp.before/after.max.ms, the
replication throttles) is stored, validated and described like Kafka's but
not acted on yet. Tiered-storage configs are not defined (they are unknown
names, so they are rejected), nor are those Kafka 4.0 removed
(message.format.version, message.downconversion.enable,
message.timestamp.difference.max.ms).

Validation follows Kafka's ConfigDef: the same types, ranges and wording
("Invalid value x for configuration y: Value must be at least 14"). One
deliberate difference: segment.index.bytes must be at least 12 (Kafka: 4),
because our log cannot use an index that holds no time-index entry.

Dynamic broker configs are the keys of kraft.config.KEYS that Kafka's
`DynamicBrokerConfig` lets an admin change at runtime (BROKER_DYNAMIC_CONFIGS);
listeners and their security map may only be set per broker.

Described values of sensitive (password-like) configs are None, so that no
caller can leak them into a response.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Final

from kraft.config import KEYS, KafkaConfig
from kraft.log.config import LogConfig
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
    "TopicConfigDef",
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

# Kafka's DescribeConfigsResponse.ConfigType ids.
BOOLEAN, STRING, INT, SHORT, LONG, DOUBLE, LIST, CLASS, PASSWORD = range(1, 10)
_TYPE_NAMES: Final = {BOOLEAN: "BOOLEAN", STRING: "STRING", INT: "INT", SHORT: "SHORT",
                      LONG: "LONG", DOUBLE: "DOUBLE", LIST: "LIST", PASSWORD: "PASSWORD"}

_EMPTY: Final[Mapping[str, str]] = MappingProxyType({})
_LONG_MAX = 2**63 - 1
_MINUTE = 60_000
_HOUR = 3_600_000


@dataclass(frozen=True, slots=True)
class ConfigEntry:
    """One described config: Kafka's DescribeConfigs entry without synonyms.

    `source` is a ConfigSource id (DYNAMIC_TOPIC_CONFIG ... DEFAULT_CONFIG),
    `type` a Kafka ConfigType id; `value` is None for sensitive configs and for
    configs that have no value (Kafka's null default).
    """

    name: str
    value: str | None
    source: int
    read_only: bool
    is_sensitive: bool
    is_default: bool
    type: int
    documentation: str | None


# --- parsing and checks, with ConfigDef's wording -------------------------------------

class _Invalid(Exception):
    """A value that does not parse or fails its check; str() is Kafka's message."""


def _invalid(name: str, value: object, why: str) -> _Invalid:
    return _Invalid(f"Invalid value {_java_str(value)} for configuration {name}: {why}")


def _java_str(value: object) -> str:
    """`value` as Java's String.valueOf prints it (for error messages)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _java_double(value)
    if isinstance(value, list):
        return "[" + ", ".join(value) + "]"
    return str(value)


def _java_double(d: float) -> str:
    if math.isnan(d):
        return "NaN"
    if math.isinf(d):
        return "Infinity" if d > 0 else "-Infinity"
    if d == 0 or 1e-3 <= abs(d) < 1e7:
        return repr(d)  # Python and Java agree in this range: plain digits, at least one decimal
    sign, digits, exponent = Decimal(repr(d)).as_tuple()
    text = "".join(map(str, digits)).rstrip("0") or "0"
    exp = int(exponent) + len(digits) - 1
    return f"{'-' if sign else ''}{text[0]}.{text[1:] or '0'}E{exp}"


_INTEGER = re.compile(r"[+-]?[0-9]+")
_DOUBLE = re.compile(r"[+-]?(NaN|Infinity|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)[fFdD]?")
_LIST_SEPARATOR = re.compile(r"\s*,\s*")


def _parse(name: str, raw: str, type_id: int) -> Any:
    """`raw` parsed as ConfigDef.parseType does for `type_id`; raises _Invalid."""
    text = raw.strip()
    if type_id == BOOLEAN:
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
        raise _invalid(name, raw, "Expected value to be either true or false")
    if type_id in (INT, LONG, SHORT):
        bound = {INT: 2**31, LONG: 2**63, SHORT: 2**15}[type_id]
        if _INTEGER.fullmatch(text) and -bound <= int(text) < bound:
            return int(text)
        raise _invalid(name, raw, f"Not a number of type {_TYPE_NAMES[type_id]}")
    if type_id == DOUBLE:
        m = _DOUBLE.fullmatch(text)
        if m is None:
            raise _invalid(name, raw, "Not a number of type DOUBLE")
        core = text.rstrip("fFdD") if m.group(1) not in ("NaN", "Infinity") else text
        return float(core)
    if type_id == LIST:
        return [] if not text else _LIST_SEPARATOR.split(text)
    return text


Check = Callable[[str, Any], None]


def _at_least(low: int) -> Check:
    def check(name: str, value: Any) -> None:
        if value < low:
            raise _invalid(name, value, f"Value must be at least {low}")
    return check


def _between(low: int, high: int) -> Check:
    def check(name: str, value: Any) -> None:
        _at_least(low)(name, value)
        if value > high:
            raise _invalid(name, value, f"Value must be no more than {high}")
    return check


def _one_of(*allowed: str) -> Check:
    def check(name: str, value: Any) -> None:
        for item in value if isinstance(value, list) else [value]:
            if item not in allowed:
                raise _invalid(name, item, "String must be one of: " + ", ".join(allowed))
    return check


def _gzip_level(name: str, value: Any) -> None:
    if value > 9 or (value < 1 and value != -1):
        raise _invalid(name, value, "Value must be between 1 and 9 or equal to -1")


def _throttled_replicas(name: str, value: Any) -> None:
    items = [item.strip() for item in value]
    if "".join(items) == "*" or all(re.fullmatch(r"([0-9]+:[0-9]+)?", i) for i in items):
        return
    raise _invalid(name, value, f"{name} must be the literal '*' or a list of replicas in the "
                   "following format: [partitionId]:[brokerId],[partitionId]:[brokerId],...")


def _no_check(name: str, value: Any) -> None:
    return None


# --- the topic config schema -----------------------------------------------------------

@dataclass(frozen=True, slots=True)
class TopicConfigDef:
    """One topic config: Kafka's type, default (as Kafka prints it), check, broker
    synonyms ((broker key, multiplier) in precedence order) and a one-line doc."""

    name: str
    type: int
    default: str
    check: Check
    synonyms: tuple[tuple[str, int], ...]
    doc: str


def _def(name: str, type_id: int, default: str, check: Check, doc: str,
         *synonyms: str | tuple[str, int]) -> TopicConfigDef:
    syns = tuple(s if isinstance(s, tuple) else (s, 1) for s in synonyms)
    return TopicConfigDef(name, type_id, default, check, syns, doc)


_COMPRESSION_TYPES = ("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer")

# Kafka's LogConfig topic configs (defaults from LogConfig / ServerLogConfigs) with the
# broker synonyms of ServerTopicConfigSynonyms.
TOPIC_CONFIGS: Final[dict[str, TopicConfigDef]] = {d.name: d for d in [
    _def("cleanup.policy", LIST, "delete", _one_of("compact", "delete"),
         "Retention policy for old log segments: delete, compact, or both.",
         "log.cleanup.policy"),
    _def("compression.gzip.level", INT, "-1", _gzip_level,
         "Compression level used when compression.type is gzip.", "compression.gzip.level"),
    _def("compression.lz4.level", INT, "9", _between(1, 17),
         "Compression level used when compression.type is lz4.", "compression.lz4.level"),
    _def("compression.type", STRING, "producer", _one_of(*_COMPRESSION_TYPES),
         "Final compression of the topic's batches; 'producer' keeps the producer's codec.",
         "compression.type"),
    _def("compression.zstd.level", INT, "3", _between(-131072, 22),
         "Compression level used when compression.type is zstd.", "compression.zstd.level"),
    _def("delete.retention.ms", LONG, "86400000", _at_least(0),
         "How long delete tombstones are kept on compacted topics.",
         "log.cleaner.delete.retention.ms"),
    _def("file.delete.delay.ms", LONG, "60000", _at_least(0),
         "Delay before a deleted segment file is removed from disk.",
         "log.segment.delete.delay.ms"),
    _def("flush.messages", LONG, str(_LONG_MAX), _at_least(1),
         "Force an fsync of the log after this many messages.",
         "log.flush.interval.messages"),
    _def("flush.ms", LONG, str(_LONG_MAX), _at_least(0),
         "Force an fsync of the log when a message has waited this long.",
         "log.flush.interval.ms", "log.flush.scheduler.interval.ms"),
    _def("follower.replication.throttled.replicas", LIST, "", _throttled_replicas,
         "Replicas whose follower-side replication is throttled ([partition]:[broker] or *).",
         "follower.replication.throttled.replicas"),
    _def("index.interval.bytes", INT, "4096", _at_least(0),
         "Bytes of log between two offset index entries.", "log.index.interval.bytes"),
    _def("leader.replication.throttled.replicas", LIST, "", _throttled_replicas,
         "Replicas whose leader-side replication is throttled ([partition]:[broker] or *).",
         "leader.replication.throttled.replicas"),
    _def("max.compaction.lag.ms", LONG, str(_LONG_MAX), _at_least(1),
         "Longest a message may stay uncompacted in the log.",
         "log.cleaner.max.compaction.lag.ms"),
    _def("max.message.bytes", INT, "1048588", _at_least(0),
         "Largest record batch the topic accepts.", "message.max.bytes"),
    _def("message.timestamp.after.max.ms", LONG, str(_LONG_MAX), _at_least(0),
         "How far in the future of the broker's clock a CreateTime timestamp may be.",
         "log.message.timestamp.after.max.ms"),
    _def("message.timestamp.before.max.ms", LONG, str(_LONG_MAX), _at_least(0),
         "How far in the past of the broker's clock a CreateTime timestamp may be.",
         "log.message.timestamp.before.max.ms"),
    _def("message.timestamp.type", STRING, "CreateTime", _one_of("CreateTime", "LogAppendTime"),
         "Whether record timestamps are the producer's (CreateTime) or the broker's.",
         "log.message.timestamp.type"),
    _def("min.cleanable.dirty.ratio", DOUBLE, "0.5", _between(0, 1),
         "Share of the log that must be uncompacted before the cleaner runs.",
         "log.cleaner.min.cleanable.ratio"),
    _def("min.compaction.lag.ms", LONG, "0", _at_least(0),
         "Shortest time a message stays uncompacted in the log.",
         "log.cleaner.min.compaction.lag.ms"),
    _def("min.insync.replicas", INT, "1", _at_least(1),
         "Fewest in-sync replicas an acks=all produce needs to succeed.", "min.insync.replicas"),
    _def("preallocate", BOOLEAN, "false", _no_check,
         "Preallocate segment files on disk when they are created.", "log.preallocate"),
    _def("retention.bytes", LONG, "-1", _no_check,
         "Largest size a partition's log may reach before old segments are deleted.",
         "log.retention.bytes"),
    _def("retention.ms", LONG, "604800000", _at_least(-1),
         "Longest time a segment is kept before deletion; -1 keeps data forever.",
         "log.retention.ms", ("log.retention.minutes", _MINUTE), ("log.retention.hours", _HOUR)),
    _def("segment.bytes", INT, "1073741824", _at_least(14),
         "Size at which the log rolls a new segment.", "log.segment.bytes"),
    _def("segment.index.bytes", INT, "10485760", _at_least(12),
         "Size of the offset and time index files of a segment.", "log.index.size.max.bytes"),
    _def("segment.jitter.ms", LONG, "0", _at_least(0),
         "Largest random jitter subtracted from segment.ms.",
         "log.roll.jitter.ms", ("log.roll.jitter.hours", _HOUR)),
    _def("segment.ms", LONG, "604800000", _at_least(1),
         "Age at which the log rolls a new segment even if it is not full.",
         "log.roll.ms", ("log.roll.hours", _HOUR)),
    _def("unclean.leader.election.enable", BOOLEAN, "false", _no_check,
         "Allow a replica outside the ISR to become leader when no ISR member is left.",
         "unclean.leader.election.enable"),
]}

# kraft.config's "not set" sentinels: such a value counts as absent.
_NOT_SET: Final = {"log.retention.ms": "-2", "log.retention.minutes": "-2",
                   "log.roll.ms": "-1", "log.flush.interval.ms": "-1"}




def _check_topic_value(d: TopicConfigDef, shown_name: str, raw: str) -> Any:
    value = _parse(shown_name, raw, d.type)
    d.check(shown_name, value)
    return value


def validate_topic_config(name: str, value: str | None) -> str | None:
    """None if `value` is a valid value of topic config `name`, else Kafka's message."""
    d = TOPIC_CONFIGS.get(name)
    if d is None:
        return f"Unknown topic config name: {name}"
    if value is None:
        return f"Null value not supported for topic configs: {name}"
    try:
        _check_topic_value(d, name, value)
    except _Invalid as e:
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
    lag = {
        n: int(configs.get(n) or TOPIC_CONFIGS[n].default)  # type: ignore[arg-type]
        for n in ("min.compaction.lag.ms", "max.compaction.lag.ms")
    }
    if lag["min.compaction.lag.ms"] > lag["max.compaction.lag.ms"]:
        return ("conflict topic config setting min.compaction.lag.ms "
                f"({lag['min.compaction.lag.ms']}) > max.compaction.lag.ms "
                f"({lag['max.compaction.lag.ms']})")
    return None


# --- effective topic configs -----------------------------------------------------------

def _synonym_value(raw: str, multiplier: int) -> str:
    text = raw.strip()
    return text if multiplier == 1 else str(int(text) * multiplier)


def _resolve(
    d: TopicConfigDef,
    broker_config: KafkaConfig,
    overrides: Mapping[str, str],
    broker_dynamic: Mapping[str, str],
    broker_dynamic_default: Mapping[str, str],
) -> tuple[str, int]:
    """(effective value, ConfigSource id) of topic config `d`."""
    if d.name in overrides:
        return overrides[d.name], DYNAMIC_TOPIC_CONFIG
    synonyms = [(key, mult) for key, mult in d.synonyms if key in KEYS]
    for source, values in (
        (DYNAMIC_BROKER_CONFIG, broker_dynamic),
        (DYNAMIC_DEFAULT_BROKER_CONFIG, broker_dynamic_default),
        (STATIC_BROKER_CONFIG, broker_config.raw),
    ):
        for key, mult in synonyms:
            raw = values.get(key)
            if raw is not None and raw.strip() != _NOT_SET.get(key):
                return _synonym_value(raw, mult), source
    return d.default, DEFAULT_CONFIG


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
        d = TOPIC_CONFIGS[name]
        value, source = _resolve(d, broker_config, overrides, broker_dynamic,
                                 broker_dynamic_default)
        entries.append(ConfigEntry(
            name=name, value=value, source=source, read_only=False, is_sensitive=False,
            is_default=source == DEFAULT_CONFIG, type=d.type, documentation=d.doc,
        ))
    return entries


def topic_config_value(
    broker_config: KafkaConfig,
    overrides: Mapping[str, str],
    name: str,
    broker_dynamic: Mapping[str, str] = _EMPTY,
    broker_dynamic_default: Mapping[str, str] = _EMPTY,
) -> str:
    """The effective value of topic config `name` (KeyError if it is not one)."""
    return _resolve(TOPIC_CONFIGS[name], broker_config, overrides, broker_dynamic,
                    broker_dynamic_default)[0]


def dynamic_broker_configs(
    image: MetadataImage, node_id: int
) -> tuple[Mapping[str, str], Mapping[str, str]]:
    """(node `node_id`'s dynamic broker configs, the cluster-wide dynamic broker
    defaults) as `image` holds them: the last two arguments of topic_config_value,
    log_config and describe_topic_configs."""
    return (image.configs.get(ConfigResource(BROKER_RESOURCE, str(node_id))),
            image.configs.get(ConfigResource(BROKER_RESOURCE, "")))


_LOG_CONFIG_NAMES: Final = (
    "segment.bytes", "segment.ms", "retention.ms", "retention.bytes", "max.message.bytes",
    "index.interval.bytes", "segment.index.bytes", "flush.messages", "flush.ms",
    "message.timestamp.type", "cleanup.policy", "delete.retention.ms", "min.compaction.lag.ms",
    "max.compaction.lag.ms", "min.cleanable.dirty.ratio",
)


def log_config(
    broker_config: KafkaConfig,
    overrides: Mapping[str, str],
    broker_dynamic: Mapping[str, str] = _EMPTY,
    broker_dynamic_default: Mapping[str, str] = _EMPTY,
) -> LogConfig:
    """The LogConfig of a topic with these overrides on this broker.

    Values were validated when written; a value that still does not fit (a
    server.properties value out of range) raises ValueError from LogConfig.
    """
    props: dict[str, str | int] = {
        # Kafka trims every value before parsing it; so must we.
        name: topic_config_value(broker_config, overrides, name, broker_dynamic,
                                 broker_dynamic_default).strip()
        for name in _LOG_CONFIG_NAMES
    }
    return LogConfig.from_properties(props)


# --- dynamic broker configs ------------------------------------------------------------

# Kafka's DynamicBrokerConfig.AllDynamicConfigs restricted to kraft.config.KEYS: the first
# broker synonym of each topic config (DynamicLogConfig), message.max.bytes (LogCleaner),
# the listener configs (DynamicListenerConfig) and max.connections (SocketServer).
BROKER_PER_BROKER_CONFIGS: Final = frozenset(
    {"listeners", "advertised.listeners", "listener.security.protocol.map"}
)
BROKER_DYNAMIC_CONFIGS: Final = frozenset(
    {d.synonyms[0][0] for d in TOPIC_CONFIGS.values() if d.synonyms[0][0] in KEYS}
    | {"message.max.bytes", "max.connections"}
    | BROKER_PER_BROKER_CONFIGS
)

# Topic config whose first synonym each broker key is: its value is checked as that config.
_TOPIC_OF_BROKER_KEY: Final = {
    d.synonyms[0][0]: d for d in TOPIC_CONFIGS.values() if d.synonyms[0][0] in KEYS
}

# Kafka's ConfigDef types of kraft.config.KEYS where the parser does not tell it.
_LONG_KEYS: Final = frozenset({
    "log.roll.ms", "log.retention.ms", "log.retention.bytes", "log.retention.check.interval.ms",
    "log.flush.interval.messages", "log.flush.interval.ms", "replica.lag.time.max.ms",
    "metadata.log.max.record.bytes.between.snapshots", "metadata.log.max.snapshot.interval.ms",
    "metadata.log.segment.ms", "metadata.max.retention.bytes", "metadata.max.retention.ms",
})
_STRING_KEYS: Final = frozenset({
    "controller.listener.names", "listeners", "advertised.listeners",
    "listener.security.protocol.map", "log.dirs",
})
# Keys whose Kafka default is null (kraft.config uses "" / [] / a sentinel for it).
_NULL_DEFAULT_KEYS: Final = frozenset({
    "log.dirs", "advertised.listeners", "inter.broker.listener.name", "metadata.log.dir",
    "controller.listener.names", *_NOT_SET,
})
_SECURITY_PROTOCOLS: Final = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")


def _broker_type(name: str) -> int:
    if name in _LONG_KEYS:
        return LONG
    if name in _STRING_KEYS:
        return STRING
    if name == "offsets.topic.replication.factor":
        return SHORT
    parse = KEYS[name].parse.__name__
    return {"_bool": BOOLEAN, "_list": LIST, "_int": INT}.get(parse, STRING)


def _is_sensitive(name: str) -> bool:
    return "password" in name or name.endswith("jaas.config")


def _check_listeners(name: str, value: str) -> None:
    entry = (r"[A-Za-z0-9_]+:(" + "|".join(_SECURITY_PROTOCOLS) + ")"
             if name == "listener.security.protocol.map"
             else r"[A-Za-z0-9_]+://(\[[^\]]*\]|[^:,\s]*):[0-9]+")
    for item in _parse(name, value, LIST):
        if not re.fullmatch(entry, item):
            raise _invalid(name, value, f"cannot parse {item!r}")


def validate_broker_config(name: str, value: str | None, *, per_broker: bool = True) -> str | None:
    """None if broker config `name` may be set to `value` dynamically, else the reason.

    `value` None deletes the dynamic value (always allowed for a dynamic key).
    `per_broker` False means the cluster-wide default (BROKER resource ""),
    where listener configs may not be set. Wording is Kafka's
    (DynamicBrokerConfig.validateConfigs and ConfigDef).
    """
    if name not in BROKER_DYNAMIC_CONFIGS:
        return f"Cannot update these configs dynamically: Set({name})"
    if not per_broker and name in BROKER_PER_BROKER_CONFIGS:
        return ("Cannot update these configs at default cluster level, broker id must be "
                f"specified: Set({name})")
    if value is None:
        return None
    try:
        if name in BROKER_PER_BROKER_CONFIGS:
            _check_listeners(name, value)
        elif name in _TOPIC_OF_BROKER_KEY:
            _check_topic_value(_TOPIC_OF_BROKER_KEY[name], name, value)
        else:
            _at_least(0)(name, _parse(name, value, _broker_type(name)))
    except _Invalid as e:
        return str(e)
    return None


def _default_string(name: str) -> str | None:
    if name in _NULL_DEFAULT_KEYS:
        return None
    default = KEYS[name].default
    if isinstance(default, bool):
        return "true" if default else "false"
    if isinstance(default, list):
        return ",".join(default)
    return str(default)


def is_list_config(name: str, *, broker: bool = False) -> bool:
    """True if topic config (or, with `broker`, broker config) `name` is LIST-typed:
    the only kind IncrementalAlterConfigs' APPEND and SUBTRACT apply to."""
    if broker:
        return name in KEYS and _broker_type(name) == LIST
    d = TOPIC_CONFIGS.get(name)
    return d is not None and d.type == LIST


def config_default(name: str, *, broker: bool = False) -> str | None:
    """Kafka's default of topic config (or, with `broker`, broker config) `name`, as a
    string; None if it has none or is unknown."""
    if broker:
        return _default_string(name) if name in KEYS else None
    d = TOPIC_CONFIGS.get(name)
    return None if d is None else d.default


def describe_broker_configs(
    broker_config: KafkaConfig,
    dynamic_default: Mapping[str, str],
    dynamic_broker: Mapping[str, str],
) -> list[ConfigEntry]:
    """Every key of kraft.config.KEYS with its value and source, sorted by name.

    Precedence as Kafka's: this broker's dynamic config, the cluster-wide
    dynamic default, server.properties, Kafka's default. Keys that cannot be
    changed at runtime are read-only; password-like keys are sensitive and
    described without a value.
    """
    entries = []
    for name in sorted(KEYS):
        value: str | None
        if name in dynamic_broker:
            value, source = dynamic_broker[name], DYNAMIC_BROKER_CONFIG
        elif name in dynamic_default:
            value, source = dynamic_default[name], DYNAMIC_DEFAULT_BROKER_CONFIG
        elif name in broker_config.raw:
            value, source = broker_config.raw[name].strip(), STATIC_BROKER_CONFIG
        else:
            value, source = _default_string(name), DEFAULT_CONFIG
        sensitive = _is_sensitive(name)
        entries.append(ConfigEntry(
            name=name, value=None if sensitive else value, source=source,
            read_only=name not in BROKER_DYNAMIC_CONFIGS, is_sensitive=sensitive,
            is_default=source == DEFAULT_CONFIG, type=_broker_type(name), documentation=None,
        ))
    return entries
