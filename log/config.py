"""Per-topic log configuration, with Kafka's topic-level names and defaults.

`LogConfig.from_properties({"segment.bytes": "1048576", ...})` takes Kafka's
topic config keys (the broker maps `log.segment.bytes` etc. to these); the
attributes are the same names in snake_case. Immutable; share freely.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

LONG_MAX = (1 << 63) - 1
CREATE_TIME = "CreateTime"
LOG_APPEND_TIME = "LogAppendTime"


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

    @classmethod
    def from_properties(cls, props: Mapping[str, str | int]) -> LogConfig:
        """Build from Kafka topic config keys. Unknown keys raise KeyError."""
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs: dict[str, str | int] = {}
        for key, value in props.items():
            name = key.replace(".", "_")
            if name not in names:
                raise KeyError(f"unknown log config {key!r}")
            kwargs[name] = value if name == "message_timestamp_type" else int(value)
        return cls(**kwargs)  # type: ignore[arg-type]

    @property
    def log_append_time(self) -> bool:
        return self.message_timestamp_type == LOG_APPEND_TIME
