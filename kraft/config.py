"""server.properties: Kafka's keys, Kafka's defaults, Kafka's file syntax.

The keys are declared once, in kraft.config_keys (`KEYS`: type, default,
check, doc, dynamic or not). `KafkaConfig` parses a properties mapping with
them: a value that does not parse or fails its check is a `ConfigError` in
Kafka's words, naming where it came from ("server.properties: Invalid value
three for configuration num.partitions: Not a number of type INT"). Keys
that are not declared are never fatal, because people copy real Kafka
configs: one warning each per process, in Kafka's words ("The configuration
'x' was supplied but isn't a known config"), with "did you mean" when a
declared key is close. Declared keys kraft does not act on (thread pools,
buffers, TLS/SASL settings) are accepted quietly, with the reason at DEBUG.

File syntax is java.util.Properties': `key=value`, `key: value` or
`key value`; `#` and `!` start comment lines; a trailing backslash continues
a line; `\\t \\n \\r \\f \\\\` and `\\u` + four hex digits escapes.

Values: `config["key"]` is the parsed value (int, bool, float, str, list of
str; None for Kafka's null; a list for comma-separated STRING keys such as
listeners). Keys read on hot paths also have typed attributes
(`config.node_id`, `config.replica_lag_time_max_ms`, ...). Derived settings
follow Kafka's precedence (log.retention.ms beats .minutes beats .hours;
log.dirs beats log.dir) and are properties too.

`check_config` holds what a node needs to start (roles, node.id, voters,
controller listener, every listener's security: kraft.security.listener);
`kraft start` and `kraft format` both run it.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Generic, TypeVar, overload

from kraft.config_keys import KEYS, LISTENER_CONFIGS, PASSWORD_CONFIGS, ConfigError
from kraft.log.configdef import ConfigException, ConfigKey

__all__ = [
    "KEYS",
    "ROLES",
    "ConfigError",
    "KafkaConfig",
    "Listener",
    "check_config",
    "client_listeners",
    "is_password_config",
    "listener_base",
    "listener_key_name",
    "parse_properties",
]

log = logging.getLogger("kraft.config")

ROLES = frozenset({"broker", "controller"})
_LISTENER_PREFIX = re.compile(r"listener\.name\.[^.]*\.(.*)")


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


def listener_key_name(name: str) -> str | None:
    """The key name under a `listener.name.<listener>.` prefix (Kafka's per-listener
    configs), or None when `name` has no such prefix."""
    m = _LISTENER_PREFIX.fullmatch(name)
    return m.group(1) if m else None


def listener_base(name: str) -> ConfigKey | None:
    """The declared key under a `listener.name.<listener>.` prefix, or None when `name`
    has no such prefix or the rest is not declared."""
    base = listener_key_name(name)
    return None if base is None else KEYS.get(base)


def is_password_config(name: str) -> bool:
    """A Kafka password key (which kraft does not declare), bare or under a listener (and
    SASL mechanism) prefix."""
    base = listener_key_name(name) or name
    return any(base == p or base.endswith("." + p) for p in PASSWORD_CONFIGS)


_reported: set[str] = set()


def _report_undeclared(props: Mapping[str, str], where: Mapping[str, str]) -> None:
    """Log each key that kraft will not act on, once per process (Kafka warns too)."""
    for name in props:
        if name in _reported:
            continue
        key = KEYS.get(name) or listener_base(name)
        origin = _prefix(where.get(name, ""))
        if key is not None:
            per_listener = key.name != name
            if key.unused is not None or (per_listener and key.name not in LISTENER_CONFIGS):
                _reported.add(name)
                log.debug("%s%s is accepted and has no effect: %s", origin, name,
                          key.unused or f"{key.name} is not a per-listener config")
            continue
        _reported.add(name)
        if is_password_config(name):
            continue  # read by kraft.security from the raw properties; never logged
        import difflib  # only for a key kraft does not know

        close = difflib.get_close_matches(name, KEYS, n=1, cutoff=0.85)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        log.warning("%sThe configuration '%s' was supplied but isn't a known config%s",
                    origin, name, hint)


def _prefix(origin: str) -> str:
    return f"{origin}: " if origin else ""


def _with_id_synonym(props: Mapping[str, str]) -> Mapping[str, str]:
    """`props` with node.id set from broker.id or broker.id from node.id when only one
    is given (Kafka's KafkaConfig.populateSynonyms), so both read, and describe, alike."""
    if "broker.id" in props and "node.id" not in props:
        return {**props, "node.id": props["broker.id"]}
    if "node.id" in props and "broker.id" not in props:
        return {**props, "broker.id": props["node.id"]}
    return props


def _python_value(key: ConfigKey, value: Any) -> Any:
    """The value kraft reads: a comma-separated STRING key as a list ([] for null)."""
    if key.csv:
        return [item.strip() for item in (value or "").split(",") if item.strip()]
    return value


T = TypeVar("T")


class _Key(Generic[T]):
    """A typed attribute for one key (`config.node_id` is `config["node.id"]`)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type) -> _Key[T]: ...
    @overload
    def __get__(self, obj: KafkaConfig, owner: type) -> T: ...
    def __get__(self, obj: KafkaConfig | None, owner: type) -> T | _Key[T]:
        if obj is None:
            return self
        value: T = obj._values[self.name]
        return value


class KafkaConfig:
    """Typed view of a server.properties mapping, with Kafka's defaults.

    `source` names where the properties came from (a file path; "" for none)
    and `origins` overrides it per key (for example "--override"), so that an
    error names the place to fix. `raw` keeps the text values as given.
    """

    def __init__(self, props: Mapping[str, str], source: str = "<config>",
                 origins: Mapping[str, str] | None = None) -> None:
        self.source = source
        props = _with_id_synonym(props)
        self.raw = dict(props)
        where = {name: (origins or {}).get(name, source) for name in props}
        self._values: dict[str, Any] = {}
        for name, key in KEYS.items():
            if name in props:
                try:
                    value = key.parse(props[name])
                except ConfigException as e:
                    raise ConfigError(f"{_prefix(where[name])}{e}") from None
            else:
                value = key.default
            self._values[name] = _python_value(key, value)
        self._origin = where
        if self._values["broker.id"] != self._values["node.id"]:
            raise ConfigError(f"{_prefix(where['broker.id'])}You must set `node.id` to the "
                              "same value as `broker.id`.")
        _report_undeclared(props, where)
        # Malformed voters or listeners are reported now, not when first used.
        self._voters = self._parse_voters()
        self.quorum_bootstrap_servers  # noqa: B018 (checks the entries)
        self.listeners()
        self.listeners("advertised.listeners")

    @classmethod
    def load(cls, path: str | Path, overrides: Mapping[str, str] | None = None) -> KafkaConfig:
        """Read a properties file (UTF-8); `overrides` (--override) win over its keys."""
        data = Path(path).read_bytes()
        try:
            text = data.decode()
        except UnicodeDecodeError as e:
            raise ConfigError(f"{path}: not UTF-8 text (byte 0x{data[e.start]:02x} at offset "
                              f"{e.start})") from None
        props = parse_properties(text)
        props.update(overrides or {})
        return cls(props, source=str(path), origins={k: "--override" for k in overrides or {}})

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    # Typed attributes: code reads keys through these (`config["key"]` is for keys
    # chosen at run time, such as dynamic broker configs).
    node_id: _Key[int] = _Key("node.id")
    process_roles: _Key[list[str]] = _Key("process.roles")
    controller_listener_names: _Key[list[str]] = _Key("controller.listener.names")
    inter_broker_listener_name: _Key[str | None] = _Key("inter.broker.listener.name")
    socket_request_max_bytes: _Key[int] = _Key("socket.request.max.bytes")
    max_connections: _Key[int] = _Key("max.connections")
    connections_max_idle_ms: _Key[int] = _Key("connections.max.idle.ms")
    max_incremental_fetch_session_cache_slots: _Key[int] = _Key(
        "max.incremental.fetch.session.cache.slots")
    num_partitions: _Key[int] = _Key("num.partitions")
    default_replication_factor: _Key[int] = _Key("default.replication.factor")
    min_insync_replicas: _Key[int] = _Key("min.insync.replicas")
    auto_create_topics_enable: _Key[bool] = _Key("auto.create.topics.enable")
    delete_topic_enable: _Key[bool] = _Key("delete.topic.enable")
    unclean_leader_election_enable: _Key[bool] = _Key("unclean.leader.election.enable")
    auto_leader_rebalance_enable: _Key[bool] = _Key("auto.leader.rebalance.enable")
    leader_imbalance_check_interval_seconds: _Key[int] = _Key(
        "leader.imbalance.check.interval.seconds")
    replica_lag_time_max_ms: _Key[int] = _Key("replica.lag.time.max.ms")
    replica_fetch_max_bytes: _Key[int] = _Key("replica.fetch.max.bytes")
    fetch_max_bytes: _Key[int] = _Key("fetch.max.bytes")
    replica_fetch_wait_max_ms: _Key[int] = _Key("replica.fetch.wait.max.ms")
    replica_fetch_min_bytes: _Key[int] = _Key("replica.fetch.min.bytes")
    replica_fetch_backoff_ms: _Key[int] = _Key("replica.fetch.backoff.ms")
    broker_heartbeat_interval_ms: _Key[int] = _Key("broker.heartbeat.interval.ms")
    broker_session_timeout_ms: _Key[int] = _Key("broker.session.timeout.ms")
    controller_quorum_request_timeout_ms: _Key[int] = _Key(
        "controller.quorum.request.timeout.ms")
    metadata_log_segment_bytes: _Key[int] = _Key("metadata.log.segment.bytes")
    metadata_max_idle_interval_ms: _Key[int] = _Key("metadata.max.idle.interval.ms")
    offsets_topic_num_partitions: _Key[int] = _Key("offsets.topic.num.partitions")
    offsets_topic_replication_factor: _Key[int] = _Key("offsets.topic.replication.factor")
    offsets_topic_segment_bytes: _Key[int] = _Key("offsets.topic.segment.bytes")
    broker_rack: _Key[str | None] = _Key("broker.rack")
    offsets_retention_minutes: _Key[int] = _Key("offsets.retention.minutes")
    offsets_retention_check_interval_ms: _Key[int] = _Key("offsets.retention.check.interval.ms")
    offsets_commit_timeout_ms: _Key[int] = _Key("offsets.commit.timeout.ms")
    offset_metadata_max_bytes: _Key[int] = _Key("offset.metadata.max.bytes")
    group_initial_rebalance_delay_ms: _Key[int] = _Key("group.initial.rebalance.delay.ms")
    group_min_session_timeout_ms: _Key[int] = _Key("group.min.session.timeout.ms")
    group_max_session_timeout_ms: _Key[int] = _Key("group.max.session.timeout.ms")
    group_max_size: _Key[int] = _Key("group.max.size")
    producer_id_expiration_ms: _Key[int] = _Key("producer.id.expiration.ms")
    producer_id_expiration_check_interval_ms: _Key[int] = _Key(
        "producer.id.expiration.check.interval.ms")
    log_retention_check_interval_ms: _Key[int] = _Key("log.retention.check.interval.ms")
    log_cleaner_enable: _Key[bool] = _Key("log.cleaner.enable")
    log_cleaner_backoff_ms: _Key[int] = _Key("log.cleaner.backoff.ms")
    log_cleaner_dedupe_buffer_size: _Key[int] = _Key("log.cleaner.dedupe.buffer.size")
    transaction_max_timeout_ms: _Key[int] = _Key("transaction.max.timeout.ms")
    transactional_id_expiration_ms: _Key[int] = _Key("transactional.id.expiration.ms")
    transaction_partition_verification_enable: _Key[bool] = _Key(
        "transaction.partition.verification.enable")
    transaction_state_log_num_partitions: _Key[int] = _Key("transaction.state.log.num.partitions")
    transaction_state_log_replication_factor: _Key[int] = _Key(
        "transaction.state.log.replication.factor")
    transaction_state_log_min_isr: _Key[int] = _Key("transaction.state.log.min.isr")
    transaction_state_log_segment_bytes: _Key[int] = _Key("transaction.state.log.segment.bytes")
    # kraft's own failover keys (docs/design.md "Failover").
    kraft_broker_session_self_fence_enable: _Key[bool] = _Key(
        "kraft.broker.session.self.fence.enable")
    kraft_broker_session_disconnect_grace_ms: _Key[int] = _Key(
        "kraft.broker.session.disconnect.grace.ms")
    kraft_replica_fetch_response_timeout_ms: _Key[int] = _Key(
        "kraft.replica.fetch.response.timeout.ms")
    kraft_replica_fetch_silence_max_ms: _Key[int] = _Key("kraft.replica.fetch.silence.max.ms")
    kraft_balancer_enable: _Key[bool] = _Key("kraft.balancer.enable")
    kraft_balancer_interval_ms: _Key[int] = _Key("kraft.balancer.interval.ms")
    kraft_balancer_max_moves: _Key[int] = _Key("kraft.balancer.max.moves")

    # Derived values with Kafka's precedence rules.

    @property
    def log_dirs(self) -> list[str]:
        dirs: list[str] = self["log.dirs"]
        return dirs or list(self["log.dir"])

    @property
    def metadata_log_dir(self) -> str:
        return self["metadata.log.dir"] or self.log_dirs[0]

    @property
    def retention_ms(self) -> int:
        """log.retention.ms, else .minutes, else .hours (Kafka's logRetentionTimeMillis)."""
        if self["log.retention.ms"] is not None:
            return int(self["log.retention.ms"])
        if self["log.retention.minutes"] is not None:
            return int(self["log.retention.minutes"]) * 60_000
        return int(self["log.retention.hours"]) * 3_600_000

    @property
    def segment_ms(self) -> int:
        """log.roll.ms, else log.roll.hours."""
        if self["log.roll.ms"] is not None:
            return int(self["log.roll.ms"])
        return int(self["log.roll.hours"]) * 3_600_000

    @property
    def quorum_voters(self) -> dict[int, tuple[str, int]]:
        """controller.quorum.voters as {node id: (host, port)}."""
        return dict(self._voters)

    @property
    def quorum_bootstrap_servers(self) -> list[tuple[str, int]]:
        """controller.quorum.bootstrap.servers as [(host, port)] (KIP-853)."""
        out = []
        for entry in self["controller.quorum.bootstrap.servers"]:
            m = re.fullmatch(r"(\[[^\]]+\]|[^:]+):(\d+)", entry)
            if not m:
                raise ConfigError(
                    f"{_prefix(self._where('controller.quorum.bootstrap.servers'))}"
                    f"controller.quorum.bootstrap.servers entry {entry!r} is not host:port")
            out.append((m.group(1).strip("[]"), int(m.group(2))))
        return out

    def _parse_voters(self) -> dict[int, tuple[str, int]]:
        voters: dict[int, tuple[str, int]] = {}
        for entry in self["controller.quorum.voters"]:
            m = re.fullmatch(r"(\d+)@(\[[^\]]+\]|[^:]+):(\d+)", entry)
            if not m:
                raise ConfigError(
                    f"{_prefix(self._where('controller.quorum.voters'))}controller.quorum.voters "
                    f"entry {entry!r} is not id@host:port"
                )
            voters[int(m.group(1))] = (m.group(2).strip("[]"), int(m.group(3)))
        return voters

    def _where(self, name: str) -> str:
        return self._origin.get(name, self.source)

    def listeners(self, key: str = "listeners") -> dict[str, tuple[str, int]]:
        """A listener list (NAME://host:port,...) as {name: (host, port)}."""
        out: dict[str, tuple[str, int]] = {}
        for entry in self[key]:
            m = re.fullmatch(r"([A-Za-z0-9_]+)://(\[[^\]]*\]|[^:]*):(\d+)", entry)
            if not m:
                raise ConfigError(f"{_prefix(self._where(key))}{key} entry {entry!r} is not "
                                  "NAME://host:port")
            out[m.group(1).upper()] = (m.group(2).strip("[]"), int(m.group(3)))
        return out


@dataclasses.dataclass(frozen=True, slots=True)
class Listener:
    name: str
    host: str
    port: int


def check_config(config: KafkaConfig) -> None:
    """Raise ConfigError for settings a node cannot start with (used by `kraft start`
    and, so that it refuses the same configs, by `kraft format`)."""
    at = _prefix(config.source)
    roles = set(config.process_roles)
    if not roles or not roles <= ROLES:
        raise ConfigError(f"{at}process.roles must be broker, controller or both")
    if config.node_id < 0:
        raise ConfigError(f"{at}node.id must be set")
    if not config.quorum_voters and not config.quorum_bootstrap_servers:
        raise ConfigError(f"{at}controller.quorum.voters (id@host:port) or "
                          "controller.quorum.bootstrap.servers (host:port) must be set")
    if not config.controller_listener_names:
        raise ConfigError(f"{at}controller.listener.names must be set")
    listeners = config.listeners()
    controller_name = config.controller_listener_names[0]
    if "controller" in roles:
        if controller_name not in listeners:
            raise ConfigError(f"{at}listeners has no {controller_name} listener")
        # With controller.quorum.bootstrap.servers the voter set is the one format
        # recorded (kraft.raft.bootstrap_checkpoint), checked when the node starts.
        if config.quorum_voters and config.node_id not in config.quorum_voters:
            raise ConfigError(f"{at}a controller's node.id must be in controller.quorum.voters")
    if "broker" in roles and not client_listeners(config):
        raise ConfigError(f"{at}a broker needs a listener other than "
                          f"{', '.join(config.controller_listener_names)}")
    from kraft.security import listener as security

    served = [name for name in listeners
              if name not in config.controller_listener_names or "controller" in roles]
    security.check(config, served,
                   security.inter_broker_listener(config) if "broker" in roles else None)
    # Loaded here, not at the top: only a node (or its format) needs the raft package.
    from kraft.raft.config import QuorumConfig

    try:
        # The voter set only matters for the timing checks here; a dynamic quorum's
        # is read from the bootstrap checkpoint at start-up.
        QuorumConfig.from_properties(config.node_id,
                                     tuple(config.quorum_voters) or (config.node_id,),
                                     config.raw)
    except ConfigError as e:
        raise ConfigError(f"{at}{e}") from None


def client_listeners(config: KafkaConfig) -> list[Listener]:
    controller_names = set(config.controller_listener_names)
    return [
        Listener(name, host, port)
        for name, (host, port) in config.listeners().items()
        if name not in controller_names
    ]
