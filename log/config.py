"""Topic configs: Kafka's topic-level keys (its `LogConfig` schema), and the log's view of them.

`TOPIC_CONFIGS` declares every topic config Kafka 4.x has: its type, default,
validator, a one-line doc, the broker keys whose value is its default (Kafka's
ServerTopicConfigSynonyms, in precedence order, with the unit multiplier), and
for the configs kraft does not act on the reason why. This table is the single
source: `LogConfig`'s defaults and checks, kraft.topic_configs' validation and
DescribeConfigs, and the broker keys that are synonyms (kraft.config_keys) are
built from it.

`LogConfig` holds the topic configs the log implements, as typed attributes
named like the config in snake_case (segment.bytes -> segment_bytes).
Immutable; share freely. `LogConfig.from_properties({"segment.bytes": ...})`
parses Kafka's text values. cleanup.policy is kept as Kafka's list text
("delete", "compact", "compact,delete"); `compact` / `delete` say which
policies it names. The compaction fields are read by log.cleaner; with a
policy lacking "delete", `PartitionLog.delete_old_segments` applies neither
retention.ms nor retention.bytes (Kafka's `UnifiedLog.deleteOldSegments`).

One deliberate difference from Kafka: segment.index.bytes must be at least
12 (Kafka: 4), because our log cannot use an index that holds no time-index
entry.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from kraft.log.configdef import (
    LONG_MAX,
    ConfigException,
    ConfigKey,
    Type,
    at_least,
    between,
    invalid,
    one_of,
    parse,
)

__all__ = [
    "COMPACT",
    "CREATE_TIME",
    "DELETE",
    "LOG_APPEND_TIME",
    "LONG_MAX",
    "TOPIC_CONFIGS",
    "LogConfig",
    "compaction_lag_conflict",
]

CREATE_TIME = "CreateTime"
LOG_APPEND_TIME = "LogAppendTime"
COMPACT = "compact"
DELETE = "delete"
_MINUTE = 60_000
_HOUR = 3_600_000
_DAY = 24 * _HOUR


def _gzip_level(name: str, value: Any) -> None:
    if value > 9 or (value < 1 and value != -1):
        raise invalid(name, value, "Value must be between 1 and 9 or equal to -1")


def _throttled_replicas(name: str, value: Any) -> None:
    items = [item.strip() for item in value]
    if "".join(items) == "*" or all(re.fullmatch(r"([0-9]+:[0-9]+)?", i) for i in items):
        return
    raise invalid(name, value, f"{name} must be the literal '*' or a list of replicas in the "
                  "following format: [partitionId]:[brokerId],[partitionId]:[brokerId],...")


_NOT_IN_LOG = "stored, validated and described, but kraft's log does not act on it"
_NO_TIERING = "stored, validated and described; kraft has no tiered storage"


def _topic(name: str, type_: Type, default: Any, validator: Any, doc: str,
           *synonyms: str | tuple[str, int], unused: str | None = None) -> ConfigKey:
    syns = tuple(s if isinstance(s, tuple) else (s, 1) for s in synonyms)
    return ConfigKey(name, type_, default, doc, validator, synonyms=syns, unused=unused)


_COMPRESSION_TYPES = ("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer")

# Kafka's LogConfig topic configs (defaults from LogConfig / ServerLogConfigs) with the
# broker synonyms of ServerTopicConfigSynonyms.
TOPIC_CONFIGS: Final[dict[str, ConfigKey]] = {k.name: k for k in [
    _topic("cleanup.policy", Type.LIST, [DELETE], one_of(COMPACT, DELETE),
           "Retention policy for old log segments: delete, compact, or both.",
           "log.cleanup.policy"),
    _topic("compression.gzip.level", Type.INT, -1, _gzip_level,
           "Compression level used when compression.type is gzip.", "compression.gzip.level",
           unused=_NOT_IN_LOG),
    _topic("compression.lz4.level", Type.INT, 9, between(1, 17),
           "Compression level used when compression.type is lz4.", "compression.lz4.level",
           unused=_NOT_IN_LOG),
    _topic("compression.type", Type.STRING, "producer", one_of(*_COMPRESSION_TYPES),
           "Final compression of the topic's batches; 'producer' keeps the producer's codec.",
           "compression.type", unused="stored, validated and described; kraft stores batches "
           "as the producer compressed them"),
    _topic("compression.zstd.level", Type.INT, 3, between(-131072, 22),
           "Compression level used when compression.type is zstd.", "compression.zstd.level",
           unused=_NOT_IN_LOG),
    _topic("delete.retention.ms", Type.LONG, _DAY, at_least(0),
           "How long delete tombstones are kept on compacted topics.",
           "log.cleaner.delete.retention.ms"),
    _topic("file.delete.delay.ms", Type.LONG, 60000, at_least(0),
           "Delay before a deleted segment file is removed from disk.",
           "log.segment.delete.delay.ms", unused=_NOT_IN_LOG),
    _topic("flush.messages", Type.LONG, LONG_MAX, at_least(1),
           "Force an fsync of the log after this many messages.",
           "log.flush.interval.messages"),
    _topic("flush.ms", Type.LONG, LONG_MAX, at_least(0),
           "Force an fsync of the log when a message has waited this long.",
           "log.flush.interval.ms", "log.flush.scheduler.interval.ms"),
    _topic("follower.replication.throttled.replicas", Type.LIST, [], _throttled_replicas,
           "Replicas whose follower-side replication is throttled ([partition]:[broker] or *).",
           "follower.replication.throttled.replicas"),
    _topic("index.interval.bytes", Type.INT, 4096, at_least(0),
           "Bytes of log between two offset index entries.", "log.index.interval.bytes"),
    _topic("leader.replication.throttled.replicas", Type.LIST, [], _throttled_replicas,
           "Replicas whose leader-side replication is throttled ([partition]:[broker] or *).",
           "leader.replication.throttled.replicas"),
    _topic("max.compaction.lag.ms", Type.LONG, LONG_MAX, at_least(1),
           "Longest a message may stay uncompacted in the log.",
           "log.cleaner.max.compaction.lag.ms"),
    _topic("max.message.bytes", Type.INT, 1048588, at_least(0),
           "Largest record batch the topic accepts.", "message.max.bytes"),
    # Kafka 4.0 lowered this default from Long.MAX_VALUE to one hour (KIP-1030).
    _topic("message.timestamp.after.max.ms", Type.LONG, _HOUR, at_least(0),
           "How far in the future of the broker's clock a CreateTime timestamp may be.",
           "log.message.timestamp.after.max.ms"),
    _topic("message.timestamp.before.max.ms", Type.LONG, LONG_MAX, at_least(0),
           "How far in the past of the broker's clock a CreateTime timestamp may be.",
           "log.message.timestamp.before.max.ms"),
    _topic("message.timestamp.type", Type.STRING, CREATE_TIME, one_of(CREATE_TIME, LOG_APPEND_TIME),
           "Whether record timestamps are the producer's (CreateTime) or the broker's.",
           "log.message.timestamp.type"),
    _topic("min.cleanable.dirty.ratio", Type.DOUBLE, 0.5, between(0, 1),
           "Share of the log that must be uncompacted before the cleaner runs.",
           "log.cleaner.min.cleanable.ratio"),
    _topic("min.compaction.lag.ms", Type.LONG, 0, at_least(0),
           "Shortest time a message stays uncompacted in the log.",
           "log.cleaner.min.compaction.lag.ms"),
    _topic("min.insync.replicas", Type.INT, 1, at_least(1),
           "Fewest in-sync replicas an acks=all produce needs to succeed.", "min.insync.replicas"),
    _topic("preallocate", Type.BOOLEAN, False, None,
           "Preallocate segment files on disk when they are created.", "log.preallocate",
           unused=_NOT_IN_LOG),
    _topic("retention.bytes", Type.LONG, -1, None,
           "Largest size a partition's log may reach before old segments are deleted.",
           "log.retention.bytes"),
    _topic("retention.ms", Type.LONG, 7 * _DAY, at_least(-1),
           "Longest time a segment is kept before deletion; -1 keeps data forever.",
           "log.retention.ms", ("log.retention.minutes", _MINUTE), ("log.retention.hours", _HOUR)),
    _topic("segment.bytes", Type.INT, 1 << 30, at_least(14),
           "Size at which the log rolls a new segment.", "log.segment.bytes"),
    _topic("segment.index.bytes", Type.INT, 10 * 1024 * 1024, at_least(12),
           "Size of the offset and time index files of a segment.", "log.index.size.max.bytes"),
    _topic("segment.jitter.ms", Type.LONG, 0, at_least(0),
           "Largest random jitter subtracted from segment.ms.",
           "log.roll.jitter.ms", ("log.roll.jitter.hours", _HOUR), unused=_NOT_IN_LOG),
    _topic("segment.ms", Type.LONG, 7 * _DAY, at_least(1),
           "Age at which the log rolls a new segment even if it is not full.",
           "log.roll.ms", ("log.roll.hours", _HOUR)),
    _topic("unclean.leader.election.enable", Type.BOOLEAN, False, None,
           "Allow a replica outside the ISR to become leader when no ISR member is left.",
           "unclean.leader.election.enable"),
    # Kafka 4.x keys for features kraft does not have: tiered storage (KIP-405),
    # share-group dead-letter queues (KIP-1191), a decompressed-size bound.
    # Described with Kafka's defaults; remote.storage.enable=true is refused as a
    # Kafka broker without tiered storage refuses it (kraft.topic_configs).
    _topic("errors.deadletterqueue.group.enable", Type.BOOLEAN, False, None,
           "Allow share groups to use this topic as a dead-letter queue.",
           unused="stored, validated and described; kraft has no share groups"),
    _topic("local.retention.bytes", Type.LONG, -2, at_least(-2),
           "Largest size of the local log before deletion; -2 uses retention.bytes.",
           "log.local.retention.bytes", unused=_NO_TIERING),
    _topic("local.retention.ms", Type.LONG, -2, at_least(-2),
           "Longest time a local segment is kept; -2 uses retention.ms.",
           "log.local.retention.ms", unused=_NO_TIERING),
    _topic("max.decompressed.message.bytes", Type.INT, 2147483639, at_least(0),
           "Largest decompressed size of a single record the broker accepts.",
           "max.decompressed.message.bytes", unused=_NOT_IN_LOG),
    _topic("remote.copy.lag.bytes", Type.LONG, -1, at_least(-1),
           "Size lag after which a segment may be copied to remote storage.",
           "log.remote.copy.lag.bytes", unused=_NO_TIERING),
    _topic("remote.copy.lag.ms", Type.LONG, 0, at_least(0),
           "Time lag after which a segment may be copied to remote storage.",
           "log.remote.copy.lag.ms", unused=_NO_TIERING),
    _topic("remote.log.copy.disable", Type.BOOLEAN, False, None,
           "Make the topic's tiered data read only: no more uploads.", unused=_NO_TIERING),
    _topic("remote.log.delete.on.disable", Type.BOOLEAN, False, None,
           "Delete the tiered data when tiered storage is disabled on the topic.",
           unused=_NO_TIERING),
    _topic("remote.storage.enable", Type.BOOLEAN, False, None,
           "Enable tiered storage for the topic.", unused=_NO_TIERING),
]}


def compaction_lag_conflict(min_lag_ms: int, max_lag_ms: int) -> str | None:
    """Kafka's LogConfig.validateValues rule relating the two lags, or None if they fit."""
    if min_lag_ms > max_lag_ms:
        return (f"conflict topic config setting min.compaction.lag.ms ({min_lag_ms}) > "
                f"max.compaction.lag.ms ({max_lag_ms})")
    return None


def _default(name: str) -> Any:
    """A LogConfig field's default: the topic config's, in the field's Python form."""
    key = TOPIC_CONFIGS[name]
    return ",".join(key.default) if key.type == Type.LIST else key.default


@dataclass(frozen=True, slots=True)
class LogConfig:
    """The topic configs the log implements; defaults and checks are TOPIC_CONFIGS'."""

    segment_bytes: int = _default("segment.bytes")
    segment_ms: int = _default("segment.ms")
    retention_ms: int = _default("retention.ms")  # -1 = unlimited
    retention_bytes: int = _default("retention.bytes")  # -1 = unlimited
    max_message_bytes: int = _default("max.message.bytes")  # one batch
    index_interval_bytes: int = _default("index.interval.bytes")
    segment_index_bytes: int = _default("segment.index.bytes")
    flush_messages: int = _default("flush.messages")
    flush_ms: int = _default("flush.ms")
    message_timestamp_type: str = _default("message.timestamp.type")
    message_timestamp_before_max_ms: int = _default("message.timestamp.before.max.ms")
    message_timestamp_after_max_ms: int = _default("message.timestamp.after.max.ms")
    cleanup_policy: str = _default("cleanup.policy")  # comma-separated "delete", "compact"
    delete_retention_ms: int = _default("delete.retention.ms")  # tombstones
    min_compaction_lag_ms: int = _default("min.compaction.lag.ms")
    max_compaction_lag_ms: int = _default("max.compaction.lag.ms")
    min_cleanable_dirty_ratio: float = _default("min.cleanable.dirty.ratio")

    def __post_init__(self) -> None:
        """Each value passes its topic config's check (ValueError in Kafka's words)."""
        for field in dataclasses.fields(self):
            key = TOPIC_CONFIGS[_config_name(field.name)]
            value = getattr(self, field.name)
            key.check(parse(key.name, value, Type.LIST) if key.type == Type.LIST else value)
        conflict = compaction_lag_conflict(self.min_compaction_lag_ms, self.max_compaction_lag_ms)
        if conflict is not None:
            raise ConfigException(conflict)

    @classmethod
    def from_properties(cls, props: Mapping[str, str | int]) -> LogConfig:
        """Build from Kafka topic config keys and their text (or int) values.

        A key that is not one of LogConfig's raises KeyError; a value that does
        not parse or fit raises ConfigException (a ValueError) in Kafka's words."""
        kwargs: dict[str, Any] = {}
        for name, value in props.items():
            attribute = name.replace(".", "_")
            if attribute not in _FIELDS:
                raise KeyError(f"unknown log config {name!r}")
            key = TOPIC_CONFIGS[name]
            parsed = key.parse(str(value))
            kwargs[attribute] = str(value).strip() if key.type == Type.LIST else parsed
        return cls(**kwargs)

    @property
    def log_append_time(self) -> bool:
        return self.message_timestamp_type == LOG_APPEND_TIME

    @property
    def cleanup_policies(self) -> tuple[str, ...]:
        """The items of cleanup.policy, stripped (Kafka's LIST type)."""
        return tuple(p.strip() for p in self.cleanup_policy.split(",") if p.strip())

    @property
    def compact(self) -> bool:
        """True when cleanup.policy includes "compact": log.cleaner may clean the log."""
        return COMPACT in self.cleanup_policies

    @property
    def delete(self) -> bool:
        """True when cleanup.policy includes "delete": retention.ms/bytes apply."""
        return DELETE in self.cleanup_policies

    @property
    def max_segment_ms(self) -> int:
        """Age at which the active segment rolls: segment.ms, or for compacted logs
        at most max.compaction.lag.ms so that its records become cleanable in time
        (Kafka's `LogConfig.maxSegmentMs`, KIP-354)."""
        if self.compact and self.max_compaction_lag_ms > 0:
            return min(self.max_compaction_lag_ms, self.segment_ms)
        return self.segment_ms


def _config_name(attribute: str) -> str:
    return attribute.replace("_", ".")


_FIELDS: Final = frozenset(f.name for f in dataclasses.fields(LogConfig))
assert all(_config_name(f) in TOPIC_CONFIGS for f in _FIELDS)
