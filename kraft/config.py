"""server.properties: Kafka's keys, Kafka's defaults, Kafka's file syntax.

Only keys that kraft implements are defined here, each with Kafka's default
and type. A key in the file that is not defined is warned about once (with
the file it came from), never silently ignored and never fatal, because
people copy real Kafka configs. A defined key whose value does not parse is
a `ConfigError` naming the key.

File syntax is java.util.Properties': `key=value`, `key: value` or
`key value`; `#` and `!` start comment lines; a trailing backslash continues
a line; `\\t \\n \\r \\f \\\\` and `\\u` + four hex digits escapes.

Derived settings follow Kafka's precedence (e.g. log.retention.ms beats
.minutes beats .hours; log.dirs beats log.dir) and are exposed as properties
on `KafkaConfig`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("kraft.config")


class ConfigError(Exception):
    """A configuration value is missing, malformed or inconsistent."""


def _bool(raw: str) -> bool:
    low = raw.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    raise ValueError(f"expected true or false, got {raw!r}")


def _list(raw: str) -> list[str]:
    return [item.strip() for item in raw.split(",") if item.strip()]


def _int(raw: str) -> int:
    return int(raw.strip())


def _positive_int(raw: str) -> int:
    value = _int(raw)
    if value < 1:
        raise ValueError(f"must be at least 1, got {value}")
    return value


def _str(raw: str) -> str:
    return raw.strip()


def _float(raw: str) -> float:
    return float(raw.strip())


@dataclass(frozen=True, slots=True)
class Key:
    name: str
    parse: Callable[[str], Any]
    default: Any


_LONG_MAX = 2**63 - 1

# Kafka's defaults (server/.../KRaftConfigs, ServerLogConfigs, ReplicationConfigs,
# SocketServerConfigs, GroupCoordinatorConfig, QuorumConfig).
KEYS: dict[str, Key] = {
    k.name: k
    for k in [
        # identity and roles
        Key("node.id", _int, -1),
        Key("process.roles", _list, []),
        Key("controller.quorum.voters", _list, []),
        Key("controller.quorum.bootstrap.servers", _list, []),
        Key("controller.listener.names", _list, []),
        # listeners
        Key("listeners", _list, ["PLAINTEXT://:9092"]),
        Key("advertised.listeners", _list, []),
        Key("listener.security.protocol.map", _list, [
            "CONTROLLER:PLAINTEXT", "PLAINTEXT:PLAINTEXT", "SSL:SSL",
            "SASL_PLAINTEXT:SASL_PLAINTEXT", "SASL_SSL:SASL_SSL",
        ]),
        Key("inter.broker.listener.name", _str, ""),
        Key("socket.request.max.bytes", _int, 104857600),
        Key("max.connections", _int, 2147483647),
        Key("max.incremental.fetch.session.cache.slots", _int, 1000),
        # storage
        Key("log.dirs", _list, []),
        Key("log.dir", _str, "/tmp/kafka-logs"),
        Key("metadata.log.dir", _str, ""),
        Key("log.segment.bytes", _int, 1073741824),
        Key("log.roll.ms", _int, -1),
        Key("log.roll.hours", _int, 168),
        Key("log.retention.ms", _int, -2),  # -2: not set, fall back to minutes/hours
        Key("log.retention.minutes", _int, -2),
        Key("log.retention.hours", _int, 168),
        Key("log.retention.bytes", _int, -1),
        Key("log.retention.check.interval.ms", _int, 300000),
        Key("log.index.interval.bytes", _int, 4096),
        Key("log.index.size.max.bytes", _int, 10485760),
        Key("log.flush.interval.messages", _int, _LONG_MAX),
        Key("log.flush.interval.ms", _int, -1),  # -1: not set (Kafka: null)
        Key("message.max.bytes", _int, 1048588),
        # compaction (the log cleaner)
        Key("log.cleanup.policy", _str, "delete"),
        Key("log.cleaner.enable", _bool, True),
        Key("log.cleaner.backoff.ms", _int, 15000),
        Key("log.cleaner.dedupe.buffer.size", _int, 134217728),
        Key("log.cleaner.delete.retention.ms", _int, 86400000),
        Key("log.cleaner.min.compaction.lag.ms", _int, 0),
        Key("log.cleaner.max.compaction.lag.ms", _int, _LONG_MAX),
        Key("log.cleaner.min.cleanable.ratio", _float, 0.5),
        # topics
        Key("num.partitions", _int, 1),
        Key("default.replication.factor", _int, 1),
        Key("min.insync.replicas", _int, 1),
        Key("auto.create.topics.enable", _bool, True),
        Key("delete.topic.enable", _bool, True),
        Key("unclean.leader.election.enable", _bool, False),
        Key("auto.leader.rebalance.enable", _bool, True),
        Key("leader.imbalance.check.interval.seconds", _positive_int, 300),
        # replication
        Key("replica.lag.time.max.ms", _int, 30000),
        Key("replica.fetch.max.bytes", _int, 1048576),
        Key("replica.fetch.wait.max.ms", _int, 500),
        Key("replica.fetch.min.bytes", _int, 1),
        Key("replica.fetch.backoff.ms", _int, 1000),
        # broker lifecycle
        Key("broker.heartbeat.interval.ms", _int, 2000),
        Key("broker.session.timeout.ms", _int, 9000),
        # quorum (KIP-595)
        Key("controller.quorum.election.timeout.ms", _int, 1000),
        Key("controller.quorum.fetch.timeout.ms", _int, 2000),
        Key("controller.quorum.election.backoff.max.ms", _int, 1000),
        Key("controller.quorum.request.timeout.ms", _int, 2000),
        Key("controller.quorum.retry.backoff.ms", _int, 20),
        Key("controller.quorum.append.linger.ms", _int, 25),
        # metadata log and snapshots (KIP-630, KIP-835)
        Key("metadata.log.max.record.bytes.between.snapshots", _int, 20971520),
        Key("metadata.log.max.snapshot.interval.ms", _int, 3600000),
        Key("metadata.log.segment.bytes", _int, 1073741824),
        Key("metadata.log.segment.ms", _int, 604800000),
        Key("metadata.max.retention.bytes", _int, 104857600),
        Key("metadata.max.retention.ms", _int, 604800000),
        Key("metadata.max.idle.interval.ms", _int, 500),
        # group coordinator
        Key("offsets.topic.num.partitions", _int, 50),
        Key("offsets.topic.replication.factor", _int, 3),
        Key("offsets.retention.minutes", _int, 10080),
        Key("group.initial.rebalance.delay.ms", _int, 3000),
        Key("group.min.session.timeout.ms", _int, 6000),
        Key("offsets.commit.timeout.ms", _int, 5000),
        # idempotent producers
        Key("producer.id.expiration.ms", _int, 86400000),
        Key("producer.id.expiration.check.interval.ms", _int, 600000),
        Key("offsets.retention.check.interval.ms", _int, 600000),
        Key("offset.metadata.max.bytes", _int, 4096),
        Key("group.max.session.timeout.ms", _int, 1800000),
    ]
}

_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


def parse_properties(text: str) -> dict[str, str]:
    """Parse java.util.Properties text into a dict (later keys win)."""
    out: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].lstrip()
        i += 1
        if not line or line[0] in "#!":
            continue
        while _continues(line) and i < len(lines):
            line = line[:-1] + lines[i].lstrip()
            i += 1
        if _continues(line):
            line = line[:-1]
        key, value = _split(line)
        out[_unescape(key)] = _unescape(value)
    return out


def _continues(line: str) -> bool:
    trailing = len(line) - len(line.rstrip("\\"))
    return trailing % 2 == 1


def _split(line: str) -> tuple[str, str]:
    i = 0
    while i < len(line):
        c = line[i]
        if c == "\\":
            i += 2
            continue
        if c in "=: \t\f":
            break
        i += 1
    key = line[:i]
    rest = line[i:].lstrip(" \t\f")
    if rest[:1] in ("=", ":") and (i >= len(line) or line[i] in " \t\f=:"):
        rest = rest[1:].lstrip(" \t\f")
    return key, rest


def _unescape(s: str) -> str:
    return re.sub(
        r"\\(u[0-9a-fA-F]{4}|.)",
        lambda m: chr(int(m.group(1)[1:], 16))
        if m.group(1)[0] == "u" and len(m.group(1)) == 5
        else _ESCAPES.get(m.group(1), m.group(1)),
        s,
    )


_warned: set[str] = set()


class KafkaConfig:
    """Typed view of a server.properties mapping, with Kafka's defaults."""

    def __init__(self, props: Mapping[str, str], source: str = "<config>") -> None:
        self.source = source
        self.raw = dict(props)
        self._values: dict[str, Any] = {}
        for name, key in KEYS.items():
            if name in props:
                try:
                    self._values[name] = key.parse(props[name])
                except ValueError as e:
                    raise ConfigError(f"{source}: {name}={props[name]!r}: {e}") from None
            else:
                self._values[name] = key.default
        for name in props:
            if name not in KEYS and name not in _warned:
                _warned.add(name)
                log.warning("%s: unknown or unsupported config key %r is ignored", source, name)

    @classmethod
    def load(cls, path: str | Path, overrides: Mapping[str, str] | None = None) -> KafkaConfig:
        text = Path(path).read_text()
        props = parse_properties(text)
        props.update(overrides or {})
        return cls(props, source=str(path))

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    # Derived values with Kafka's precedence rules.

    @property
    def log_dirs(self) -> list[str]:
        return self["log.dirs"] or [self["log.dir"]]

    @property
    def metadata_log_dir(self) -> str:
        return self["metadata.log.dir"] or self.log_dirs[0]

    @property
    def retention_ms(self) -> int:
        if self["log.retention.ms"] != -2:
            return self["log.retention.ms"]
        if self["log.retention.minutes"] != -2:
            return self["log.retention.minutes"] * 60_000
        return self["log.retention.hours"] * 3_600_000

    @property
    def segment_ms(self) -> int:
        if self["log.roll.ms"] != -1:
            return self["log.roll.ms"]
        return self["log.roll.hours"] * 3_600_000

    @property
    def quorum_voters(self) -> dict[int, tuple[str, int]]:
        """controller.quorum.voters as {node id: (host, port)}."""
        voters: dict[int, tuple[str, int]] = {}
        for entry in self["controller.quorum.voters"]:
            m = re.fullmatch(r"(\d+)@(\[[^\]]+\]|[^:]+):(\d+)", entry)
            if not m:
                raise ConfigError(
                    f"{self.source}: controller.quorum.voters entry {entry!r} "
                    "is not id@host:port"
                )
            voters[int(m.group(1))] = (m.group(2).strip("[]"), int(m.group(3)))
        return voters

    def listeners(self, key: str = "listeners") -> dict[str, tuple[str, int]]:
        """A listener list (NAME://host:port,...) as {name: (host, port)}."""
        out: dict[str, tuple[str, int]] = {}
        for entry in self[key]:
            m = re.fullmatch(r"([A-Za-z0-9_]+)://(\[[^\]]*\]|[^:]*):(\d+)", entry)
            if not m:
                raise ConfigError(f"{self.source}: {key} entry {entry!r} is not NAME://host:port")
            out[m.group(1).upper()] = (m.group(2).strip("[]"), int(m.group(3)))
        return out
