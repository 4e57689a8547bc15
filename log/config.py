"""Per-topic log configuration, with Kafka's topic-level names and defaults.

`LogConfig.from_properties({"segment.bytes": "1048576", ...})` takes Kafka's
topic config keys (the broker maps `log.segment.bytes` etc. to these); the
attributes are the same names in snake_case. Immutable; share freely.

cleanup.policy is kept as Kafka's list text ("delete", "compact",
"compact,delete"); `compact` / `delete` say which policies it names. The
compaction fields are read by log.cleaner; with a policy lacking "delete",
`PartitionLog.delete_old_segments` applies neither retention.ms nor
retention.bytes (Kafka's `UnifiedLog.deleteOldSegments`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

LONG_MAX = (1 << 63) - 1
CREATE_TIME = "CreateTime"
LOG_APPEND_TIME = "LogAppendTime"
COMPACT = "compact"
DELETE = "delete"
_TEXT_FIELDS = frozenset({"message_timestamp_type", "cleanup_policy"})
_FLOAT_FIELDS = frozenset({"min_cleanable_dirty_ratio"})


@dataclass(frozen=True, slots=True)
class LogConfig:
    """Kafka topic configs the log implements; defaults are Kafka's."""

    segment_bytes: int = 1 << 30  # segment.bytes
    segment_ms: int = 7 * 24 * 3600 * 1000  # segment.ms
    retention_ms: int = 7 * 24 * 3600 * 1000  # retention.ms; -1 = unlimited
    retention_bytes: int = -1  # retention.bytes; -1 = unlimited
    max_message_bytes: int = 1048588  # max.message.bytes (one batch)
    index_interval_bytes: int = 4096  # index.interval.bytes
    segment_index_bytes: int = 10 * 1024 * 1024  # segment.index.bytes
    flush_messages: int = LONG_MAX  # flush.messages
    flush_ms: int = LONG_MAX  # flush.ms
    message_timestamp_type: str = CREATE_TIME  # message.timestamp.type
    cleanup_policy: str = DELETE  # cleanup.policy: comma-separated "delete", "compact"
    delete_retention_ms: int = 24 * 3600 * 1000  # delete.retention.ms (tombstones)
    min_compaction_lag_ms: int = 0  # min.compaction.lag.ms
    max_compaction_lag_ms: int = LONG_MAX  # max.compaction.lag.ms
    min_cleanable_dirty_ratio: float = 0.5  # min.cleanable.dirty.ratio

    def __post_init__(self) -> None:
        if not 14 <= self.segment_bytes <= (1 << 31) - 1:
            raise ValueError("segment.bytes must be in [14, 2**31 - 1]")
        if self.segment_ms < 1:
            raise ValueError("segment.ms must be >= 1")
        if self.max_message_bytes < 0:
            raise ValueError("max.message.bytes must be >= 0")
        if self.index_interval_bytes < 0:
            raise ValueError("index.interval.bytes must be >= 0")
        if self.segment_index_bytes < 12:
            raise ValueError("segment.index.bytes must be >= 12")
        if self.flush_messages < 1 or self.flush_ms < 0:
            raise ValueError("flush.messages must be >= 1 and flush.ms >= 0")
        if self.message_timestamp_type not in (CREATE_TIME, LOG_APPEND_TIME):
            raise ValueError(f"message.timestamp.type {self.message_timestamp_type!r}")
        if not set(self.cleanup_policies) <= {COMPACT, DELETE}:
            raise ValueError(f"cleanup.policy {self.cleanup_policy!r}")
        if self.delete_retention_ms < 0 or self.min_compaction_lag_ms < 0:
            raise ValueError("delete.retention.ms and min.compaction.lag.ms must be >= 0")
        if self.max_compaction_lag_ms < 1:
            raise ValueError("max.compaction.lag.ms must be >= 1")
        if self.min_compaction_lag_ms > self.max_compaction_lag_ms:
            raise ValueError("min.compaction.lag.ms must not exceed max.compaction.lag.ms")
        if not 0 <= self.min_cleanable_dirty_ratio <= 1:
            raise ValueError("min.cleanable.dirty.ratio must be in [0, 1]")

    @classmethod
    def from_properties(cls, props: Mapping[str, str | int]) -> LogConfig:
        """Build from Kafka topic config keys. Unknown keys raise KeyError."""
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs: dict[str, str | int | float] = {}
        for key, value in props.items():
            name = key.replace(".", "_")
            if name not in names:
                raise KeyError(f"unknown log config {key!r}")
            if name in _TEXT_FIELDS:
                kwargs[name] = str(value)
            elif name in _FLOAT_FIELDS:
                kwargs[name] = float(value)
            else:
                kwargs[name] = int(value)
        return cls(**kwargs)  # type: ignore[arg-type]

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
