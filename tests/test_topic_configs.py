"""Topic-config schema (kraft.topic_configs): validation, effective values, broker configs."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kraft.config import KEYS, KafkaConfig
from kraft.config_keys import PASSWORD_KEYS
from kraft.log.config import LogConfig
from kraft.topic_configs import (
    BROKER_DYNAMIC_CONFIGS,
    DEFAULT_CONFIG,
    DYNAMIC_BROKER_CONFIG,
    DYNAMIC_DEFAULT_BROKER_CONFIG,
    DYNAMIC_TOPIC_CONFIG,
    STATIC_BROKER_CONFIG,
    TOPIC_CONFIGS,
    config_default,
    describe_broker_configs,
    describe_topic_configs,
    is_list_config,
    log_config,
    topic_config_value,
    validate_broker_config,
    validate_topic_config,
    validate_topic_configs,
)


def test_defaults_match_the_log_and_kafka_config() -> None:
    """With an empty server.properties, the effective LogConfig is the log's own default
    and every topic config's default is a valid value of it."""
    assert log_config(KafkaConfig({}), {}) == LogConfig()
    for name, d in TOPIC_CONFIGS.items():
        assert validate_topic_config(name, d.default_text) is None, name


VALIDATION = [
    ("segment.bytes", "13", "Invalid value 13 for configuration segment.bytes: "
     "Value must be at least 14"),
    ("segment.bytes", "2147483648", "Invalid value 2147483648 for configuration segment.bytes: "
     "Not a number of type INT"),
    ("retention.ms", " 12 ", None),
    ("retention.ms", "-2", "Invalid value -2 for configuration retention.ms: "
     "Value must be at least -1"),
    ("retention.ms", "1_000", "Invalid value 1_000 for configuration retention.ms: "
     "Not a number of type LONG"),
    ("retention.bytes", "-12345", None),
    ("cleanup.policy", "compact,delete", None),
    ("cleanup.policy", "", None),
    ("cleanup.policy", "compact,", "Invalid value  for configuration cleanup.policy: "
     "String must be one of: compact, delete"),
    ("compression.type", "brotli", "Invalid value brotli for configuration compression.type: "
     "String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer"),
    ("compression.gzip.level", "-1", None),
    ("compression.gzip.level", "10", "Invalid value 10 for configuration "
     "compression.gzip.level: Value must be between 1 and 9 or equal to -1"),
    ("compression.zstd.level", "23", "Invalid value 23 for configuration "
     "compression.zstd.level: Value must be no more than 22"),
    ("min.cleanable.dirty.ratio", "0.25", None),
    ("min.cleanable.dirty.ratio", "1.5", "Invalid value 1.5 for configuration "
     "min.cleanable.dirty.ratio: Value must be no more than 1"),
    ("min.cleanable.dirty.ratio", "1e10", "Invalid value 1.0E10 for configuration "
     "min.cleanable.dirty.ratio: Value must be no more than 1"),
    ("min.cleanable.dirty.ratio", "half", "Invalid value half for configuration "
     "min.cleanable.dirty.ratio: Not a number of type DOUBLE"),
    ("unclean.leader.election.enable", "TRUE", None),
    ("preallocate", "yes", "Invalid value yes for configuration preallocate: "
     "Expected value to be either true or false"),
    ("message.timestamp.type", "LogAppendTime", None),
    ("message.timestamp.type", "Now", "Invalid value Now for configuration "
     "message.timestamp.type: String must be one of: CreateTime, LogAppendTime"),
    ("leader.replication.throttled.replicas", "0:1, 1:2", None),
    ("leader.replication.throttled.replicas", "*", None),
    ("follower.replication.throttled.replicas", "0:x", "Invalid value [0:x] for configuration "
     "follower.replication.throttled.replicas: follower.replication.throttled.replicas must be "
     "the literal '*' or a list of replicas in the following format: "
     "[partitionId]:[brokerId],[partitionId]:[brokerId],..."),
    ("segment.index.bytes", "11", "Invalid value 11 for configuration segment.index.bytes: "
     "Value must be at least 12"),
    ("remote.storage.enable", "maybe", "Invalid value maybe for configuration "
     "remote.storage.enable: Expected value to be either true or false"),
    ("local.retention.ms", "-3", "Invalid value -3 for configuration local.retention.ms: "
     "Value must be at least -2"),
    ("no.such.config", "1", "Unknown topic config name: no.such.config"),
    ("retention.ms", None, "Null value not supported for topic configs: retention.ms"),
]


@pytest.mark.parametrize(("name", "value", "message"), VALIDATION)
def test_validate_topic_config(name: str, value: str | None, message: str | None) -> None:
    """Values are accepted or rejected with ConfigDef's wording."""
    assert validate_topic_config(name, value) == message


def test_tiered_storage_is_refused_as_by_a_kafka_broker_without_it() -> None:
    """remote.storage.enable=true is refused with the message of a Kafka broker whose
    remote.log.storage.system.enable is false; false and the other tiered keys pass."""
    assert validate_topic_configs({"remote.storage.enable": "true"}) == (
        "Tiered Storage functionality is disabled in the broker. Topic cannot be "
        "configured with remote log storage.")
    assert validate_topic_configs({"remote.storage.enable": "false",
                                   "local.retention.ms": "1000"}) is None


def test_validate_topic_configs_relates_compaction_lags() -> None:
    """min.compaction.lag.ms may not exceed max.compaction.lag.ms (given or default)."""
    assert validate_topic_configs({"min.compaction.lag.ms": "5",
                                   "max.compaction.lag.ms": "5"}) is None
    assert validate_topic_configs({"min.compaction.lag.ms": "6",
                                   "max.compaction.lag.ms": "5"}) == (
        "conflict topic config setting min.compaction.lag.ms (6) > max.compaction.lag.ms (5)")
    assert validate_topic_configs({"a": None, "b": None}) == (
        "Null value not supported for topic configs: a,b")


@given(st.sampled_from(sorted(TOPIC_CONFIGS)), st.text(max_size=30))
def test_validate_never_raises(name: str, value: str) -> None:
    """Any string is either accepted or rejected with a message naming the config."""
    message = validate_topic_config(name, value)
    assert message is None or name in message


LOG_CONFIG_VALUES = st.fixed_dictionaries({}, optional={
    "segment.bytes": st.integers(14, 2**31 - 1).map(str),
    "segment.ms": st.integers(1, 2**63 - 1).map(str),
    "retention.ms": st.integers(-1, 2**40).map(str),
    "retention.bytes": st.integers(-(2**63), 2**63 - 1).map(str),
    "max.message.bytes": st.integers(0, 2**31 - 1).map(str),
    "index.interval.bytes": st.integers(0, 2**31 - 1).map(str),
    "segment.index.bytes": st.integers(12, 2**31 - 1).map(str),
    "flush.messages": st.integers(1, 2**63 - 1).map(str),
    "flush.ms": st.integers(0, 2**63 - 1).map(str),
    "message.timestamp.type": st.sampled_from(["CreateTime", "LogAppendTime"]),
})


@given(LOG_CONFIG_VALUES)
def test_valid_overrides_always_make_a_log_config(overrides: dict[str, str]) -> None:
    """Every override set that validates yields a LogConfig holding exactly those values."""
    assert validate_topic_configs(overrides) is None
    config = log_config(KafkaConfig({}), overrides)
    for name, value in overrides.items():
        got = getattr(config, name.replace(".", "_"))
        assert str(got) == value


@given(
    ms=st.none() | st.integers(-1, 10**12),
    minutes=st.none() | st.integers(0, 10**6),
    hours=st.none() | st.integers(0, 10**5),
    roll_ms=st.none() | st.integers(1, 10**12),
    roll_hours=st.none() | st.integers(1, 10**5),
)
def test_broker_synonyms_follow_kafka_config_precedence(
    ms: int | None, minutes: int | None, hours: int | None,
    roll_ms: int | None, roll_hours: int | None,
) -> None:
    """retention.ms and segment.ms from server.properties equal KafkaConfig's derived
    retention_ms / segment_ms (ms beats minutes beats hours), with the static source."""
    props = {k: str(v) for k, v in [("log.retention.ms", ms), ("log.retention.minutes", minutes),
                                    ("log.retention.hours", hours), ("log.roll.ms", roll_ms),
                                    ("log.roll.hours", roll_hours)] if v is not None}
    broker = KafkaConfig(props)
    config = log_config(broker, {})
    assert config.retention_ms == broker.retention_ms
    assert config.segment_ms == broker.segment_ms
    entries = {e.name: e for e in describe_topic_configs(broker, {})}
    retention_set = ms is not None or minutes is not None or hours is not None
    assert entries["retention.ms"].source == (
        STATIC_BROKER_CONFIG if retention_set else DEFAULT_CONFIG)


def test_effective_value_precedence() -> None:
    """Topic override beats this broker's dynamic config, which beats the dynamic cluster
    default, which beats server.properties, which beats Kafka's default."""
    broker = KafkaConfig({"log.segment.bytes": "100000", "min.insync.replicas": "2",
                          "message.max.bytes": "5000"})
    entries = {e.name: e for e in describe_topic_configs(
        broker,
        overrides={"segment.bytes": "200000"},
        broker_dynamic={"log.segment.bytes": "300000", "min.insync.replicas": "3"},
        broker_dynamic_default={"min.insync.replicas": "4", "message.max.bytes": "6000",
                                "log.retention.ms": "77"},
    )}
    got = {n: (entries[n].value, entries[n].source) for n in
           ("segment.bytes", "min.insync.replicas", "max.message.bytes", "retention.ms",
            "index.interval.bytes")}
    assert got == {
        "segment.bytes": ("200000", DYNAMIC_TOPIC_CONFIG),
        "min.insync.replicas": ("3", DYNAMIC_BROKER_CONFIG),
        "max.message.bytes": ("6000", DYNAMIC_DEFAULT_BROKER_CONFIG),
        "retention.ms": ("77", DYNAMIC_DEFAULT_BROKER_CONFIG),
        "index.interval.bytes": ("4096", DEFAULT_CONFIG),
    }
    assert entries["index.interval.bytes"].is_default
    assert not entries["segment.bytes"].is_default
    assert [e.name for e in entries.values()] == sorted(TOPIC_CONFIGS)
    assert topic_config_value(broker, {}, "min.insync.replicas") == "2"


def test_log_config_trims_values_as_kafka_does() -> None:
    """Valid values with surrounding blanks reach the LogConfig trimmed."""
    overrides = {"message.timestamp.type": " LogAppendTime ", "segment.bytes": " 16384"}
    assert validate_topic_configs(overrides) is None
    config = log_config(KafkaConfig({}), overrides)
    assert (config.message_timestamp_type, config.segment_bytes) == ("LogAppendTime", 16384)


def test_keys_outside_kraft_config_fall_back_to_kafka_defaults() -> None:
    """A broker synonym kraft does not act on (log.segment.delete.delay.ms, declared only
    so that it can be set dynamically as in Kafka) is never read; one it acts on
    (log.cleanup.policy) is."""
    broker = KafkaConfig({"log.segment.delete.delay.ms": "5", "log.cleanup.policy": "compact"})
    assert topic_config_value(broker, {}, "file.delete.delay.ms") == "60000"
    assert topic_config_value(broker, {}, "cleanup.policy") == "compact"


def test_list_configs_and_defaults() -> None:
    """Only LIST-typed configs take APPEND/SUBTRACT; defaults are Kafka's strings."""
    assert is_list_config("cleanup.policy") and not is_list_config("retention.ms")
    assert is_list_config("process.roles", broker=True)
    assert not is_list_config("listeners", broker=True)
    assert config_default("cleanup.policy") == "delete"
    assert config_default("log.retention.hours", broker=True) == "168"
    assert config_default("log.retention.ms", broker=True) is None
    assert config_default("nope") is None


def test_broker_dynamic_configs() -> None:
    """The dynamic broker keys are Kafka's, restricted to kraft.config's keys."""
    assert set(KEYS) >= BROKER_DYNAMIC_CONFIGS
    for name in ("log.retention.ms", "log.segment.bytes", "message.max.bytes",
                 "min.insync.replicas", "unclean.leader.election.enable", "log.roll.ms",
                 "log.flush.interval.messages", "max.connections", "listeners"):
        assert name in BROKER_DYNAMIC_CONFIGS
    for name in ("num.partitions", "log.retention.hours", "log.dirs", "node.id",
                 "default.replication.factor", "delete.topic.enable"):
        assert name not in BROKER_DYNAMIC_CONFIGS


BROKER_VALIDATION = [
    ("log.retention.ms", "1000", True, None),
    ("log.retention.ms", None, False, None),
    ("log.retention.ms", "-3", True,
     "Invalid value -3 for configuration log.retention.ms: Value must be at least -1"),
    ("log.roll.ms", "0", True,
     "Invalid value 0 for configuration log.roll.ms: Value must be at least 1"),
    ("max.connections", "-1", True,
     "Invalid value -1 for configuration max.connections: Value must be at least 0"),
    ("unclean.leader.election.enable", "maybe", True,
     "Invalid value maybe for configuration unclean.leader.election.enable: "
     "Expected value to be either true or false"),
    ("listeners", "PLAINTEXT://:9092,SSL://host:9093", True, None),
    ("listeners", "nonsense", True,
     "Invalid value nonsense for configuration listeners: cannot parse 'nonsense'"),
    ("listener.security.protocol.map", "A:PLAINTEXT,B:SSL", True, None),
    ("listeners", "PLAINTEXT://:9092", False,
     "Cannot update these configs at default cluster level, broker id must be specified: "
     "[listeners]"),
    ("num.partitions", "2", True, "Cannot update these configs dynamically: [num.partitions]"),
    ("no.such.key", "2", True, "Cannot update these configs dynamically: [no.such.key]"),
]


@pytest.mark.parametrize(("name", "value", "per_broker", "message"), BROKER_VALIDATION)
def test_validate_broker_config(name: str, value: str | None, per_broker: bool,
                                message: str | None) -> None:
    """Dynamic broker values are checked with Kafka's rules and wording."""
    assert validate_broker_config(name, value, per_broker=per_broker) == message


def test_describe_broker_configs() -> None:
    """Every kraft.config key is described with its source; only dynamic keys are
    writable; values not set anywhere have Kafka's default (null where Kafka has none)."""
    broker = KafkaConfig({"num.partitions": "3", "log.segment.bytes": "1000"})
    entries = {e.name: e for e in describe_broker_configs(
        broker, dynamic_default={"log.segment.bytes": "2000", "min.insync.replicas": "2"},
        dynamic_broker={"min.insync.replicas": "3"})}
    assert set(entries) == set(KEYS) | set(PASSWORD_KEYS)
    assert (entries["num.partitions"].value, entries["num.partitions"].source) == (
        "3", STATIC_BROKER_CONFIG)
    assert (entries["log.segment.bytes"].value, entries["log.segment.bytes"].source) == (
        "2000", DYNAMIC_DEFAULT_BROKER_CONFIG)
    assert (entries["min.insync.replicas"].value, entries["min.insync.replicas"].source) == (
        "3", DYNAMIC_BROKER_CONFIG)
    assert entries["log.retention.hours"].value == "168"
    assert entries["log.retention.hours"].is_default
    assert entries["log.retention.ms"].value is None
    assert entries["num.partitions"].read_only
    assert not entries["min.insync.replicas"].read_only
    # Kafka's password keys (those kraft.security reads, and those of features kraft
    # does not build) are described as Kafka describes them: sensitive, without a value.
    sensitive = {n: e.value for n, e in entries.items() if e.is_sensitive}
    assert sensitive == dict.fromkeys({"delegation.token.secret.key",
                                       "sasl.oauthbearer.assertion.private.key.passphrase",
                                       "sasl.oauthbearer.client.credentials.client.secret",
                                       *PASSWORD_KEYS})


def test_docstring_says_exactly_which_topic_configs_act() -> None:
    """The module docstring's "not acted on" list is the set of topic configs declared
    unused, and the configs that act are LogConfig's plus the two the broker and
    controller read and the two the replication throttles read."""
    import dataclasses

    import kraft.topic_configs as module

    doc = " ".join((module.__doc__ or "").split())
    acting, _, rest = doc.partition("Stored, validated and described like Kafka's, but not "
                                    "acted on:")
    not_acting = rest.partition("Tiered-storage")[0]
    unused = {name for name, key in TOPIC_CONFIGS.items() if key.unused is not None}
    log_fields = {f.name.replace("_", ".") for f in dataclasses.fields(LogConfig)}
    assert set(TOPIC_CONFIGS) - unused == log_fields | {
        "min.insync.replicas", "unclean.leader.election.enable",
        "leader.replication.throttled.replicas", "follower.replication.throttled.replicas"}
    def named(name: str, text: str) -> bool:
        return re.search(rf"(?<![\w.]){re.escape(name)}(?!\w|\.\w)", text) is not None

    levels = {"compression.gzip.level", "compression.lz4.level", "compression.zstd.level"}
    assert levels <= unused and "compression.*.level" in not_acting
    for name in unused - levels:
        assert named(name, not_acting), name
    for name in set(TOPIC_CONFIGS) - unused:
        assert named(name, acting) and not named(name, not_acting), name


# Kafka 4.0's DynamicBrokerConfig.AllDynamicConfigs without password keys (kraft stores
# no secrets), the SSL keys allowed only under a listener prefix, tiered storage
# (remote.*), the synonyms of topic configs Kafka 4.0 removed, and advertised.listeners
# (read-only in Kafka 4.4).
_KAFKA_DYNAMIC_TEXT = """
log.segment.bytes log.roll.ms log.roll.jitter.ms log.index.size.max.bytes
log.flush.interval.messages log.flush.interval.ms log.retention.bytes log.retention.ms
message.max.bytes log.index.interval.bytes log.cleaner.delete.retention.ms
log.cleaner.min.compaction.lag.ms log.cleaner.max.compaction.lag.ms log.segment.delete.delay.ms
log.cleaner.min.cleanable.ratio log.cleanup.policy unclean.leader.election.enable
min.insync.replicas compression.type compression.gzip.level compression.lz4.level
compression.zstd.level log.preallocate log.message.timestamp.type
log.message.timestamp.before.max.ms log.message.timestamp.after.max.ms
log.cleaner.threads log.cleaner.dedupe.buffer.size log.cleaner.io.buffer.load.factor
log.cleaner.io.buffer.size log.cleaner.io.max.bytes.per.second log.cleaner.backoff.ms
num.io.threads num.replica.fetchers num.recovery.threads.per.data.dir background.threads
metric.reporters listeners listener.security.protocol.map
principal.builder.class ssl.protocol ssl.provider ssl.cipher.suites ssl.enabled.protocols
ssl.keymanager.algorithm ssl.trustmanager.algorithm ssl.endpoint.identification.algorithm
ssl.secure.random.implementation ssl.client.auth ssl.engine.factory.class
sasl.mechanism.inter.broker.protocol sasl.enabled.mechanisms sasl.kerberos.service.name
sasl.kerberos.kinit.cmd sasl.kerberos.ticket.renew.window.factor
sasl.kerberos.ticket.renew.jitter sasl.kerberos.min.time.before.relogin
sasl.kerberos.principal.to.local.rules sasl.login.refresh.window.factor
sasl.login.refresh.window.jitter sasl.login.refresh.min.period.seconds
sasl.login.refresh.buffer.seconds max.connections max.connection.creation.rate
num.network.threads max.connections.per.ip max.connections.per.ip.overrides
producer.id.expiration.ms transaction.partition.verification.enable
"""
KAFKA_DYNAMIC = _KAFKA_DYNAMIC_TEXT.split()


def test_kafkas_dynamic_broker_configs_are_dynamic() -> None:
    """Every broker config Kafka 4.0 lets an admin change at runtime (see KAFKA_DYNAMIC)
    can be set per broker with a valid value, whether or not kraft acts on it."""
    assert set(KAFKA_DYNAMIC) <= BROKER_DYNAMIC_CONFIGS
    for name in KAFKA_DYNAMIC:
        default = config_default(name, broker=True)
        value = default if default else {"ssl.provider": "SUN",
                                         "sasl.kerberos.service.name": "kafka",
                                         "ssl.secure.random.implementation": "SHA1PRNG",
                                         "ssl.engine.factory.class": "a.B",
                                         "metric.reporters": "a.B",
                                         "ssl.cipher.suites": "TLS_AES_128_GCM_SHA256",
                                         "log.retention.ms": "1", "log.roll.ms": "1",
                                         "log.flush.interval.ms": "1",
                                         "log.roll.jitter.ms": "1",
                                         "max.connections.per.ip.overrides": "h:1"}[name]
        assert validate_broker_config(name, value) is None, name


SECURITY_VALIDATION = [
    ("sasl.kerberos.min.time.before.relogin", "120000", True, None),
    ("sasl.kerberos.min.time.before.relogin", "120000", False,
     "Cannot update these configs at default cluster level, broker id must be specified: "
     "[sasl.kerberos.min.time.before.relogin]"),
    ("sasl.kerberos.min.time.before.relogin", "soon", True,
     "Invalid value soon for configuration sasl.kerberos.min.time.before.relogin: "
     "Not a number of type LONG"),
    ("ssl.client.auth", "always", True, "Invalid value always for configuration "
     "ssl.client.auth: String must be one of: required, requested, none"),
    ("ssl.keystore.location", "/k.jks", True,
     "These security configs can be dynamically updated only per-listener using the "
     "listener prefix: [ssl.keystore.location]"),
    ("listener.name.external.ssl.keystore.location", "/k.jks", True, None),
    ("listener.name.external.ssl.keystore.location", "/k.jks", False,
     "Cannot update these configs at default cluster level, broker id must be specified: "
     "[listener.name.external.ssl.keystore.location]"),
    ("listener.name.external.max.connections", "10", False, None),
    ("listener.name.external.max.connections", "-1", True, "Invalid value -1 for "
     "configuration listener.name.external.max.connections: Value must be at least 0"),
    ("listener.name.external.num.partitions", "1", True,
     "Cannot update these configs dynamically: [listener.name.external.num.partitions]"),
    ("ssl.keystore.password", "secret", True, "kraft serves PLAINTEXT listeners only and "
     "does not store password configs: [ssl.keystore.password]"),
    ("listener.name.sasl.plain.sasl.jaas.config", "x", True, "kraft serves PLAINTEXT "
     "listeners only and does not store password configs: "
     "[listener.name.sasl.plain.sasl.jaas.config]"),
    ("num.io.threads", "16", False, None),
    ("num.io.threads", "0", False,
     "Invalid value 0 for configuration num.io.threads: Value must be at least 1"),
]


@pytest.mark.parametrize(("name", "value", "per_broker", "message"), SECURITY_VALIDATION)
def test_validate_listener_and_security_configs(name: str, value: str, per_broker: bool,
                                                message: str | None) -> None:
    """Security and listener configs follow Kafka's rules: per broker only, SSL stores
    only under a listener prefix, values checked by type; password keys are refused."""
    assert validate_broker_config(name, value, per_broker=per_broker) == message


def test_unused_synonyms_are_stored_but_never_read() -> None:
    """A dynamic broker key kraft does not act on (log.segment.delete.delay.ms) may be set,
    but the topic config it would default keeps Kafka's default."""
    assert validate_broker_config("log.segment.delete.delay.ms", "5") is None
    assert topic_config_value(KafkaConfig({}), {}, "file.delete.delay.ms",
                              {"log.segment.delete.delay.ms": "5"}) == "60000"


def test_describe_broker_configs_lists_listener_configs_set() -> None:
    """A per-listener config set dynamically is described with its value, its source and
    the type of the key it prefixes; a key kraft does not act on is described too."""
    entries = {e.name: e for e in describe_broker_configs(
        KafkaConfig({}), dynamic_default={},
        dynamic_broker={"listener.name.external.ssl.keystore.location": "/k.jks",
                        "sasl.kerberos.min.time.before.relogin": "120000"})}
    prefixed = entries["listener.name.external.ssl.keystore.location"]
    assert (prefixed.value, prefixed.source, prefixed.type) == ("/k.jks", DYNAMIC_BROKER_CONFIG, 2)
    assert prefixed.read_only  # as Kafka describes every listener override
    relogin = entries["sasl.kerberos.min.time.before.relogin"]
    assert (relogin.value, relogin.source, relogin.read_only) == (
        "120000", DYNAMIC_BROKER_CONFIG, False)


def test_synonyms_follow_kafkas_chain() -> None:
    """include_synonyms as Kafka's ConfigHelper: a topic config lists its own override,
    then its primary broker key at every source that sets it (dynamic, dynamic default,
    server.properties, default); a key whose primary broker key has no value of its own
    (retention.ms: log.retention.ms is null, hours set) lists none after the override;
    a broker key lists its group from its own first entry."""
    broker = KafkaConfig({"log.retention.bytes": "500", "log.retention.hours": "48"})
    topics = {e.name: e for e in describe_topic_configs(
        broker, {"retention.bytes": "100"}, {}, {"log.retention.bytes": "300"})}
    assert topics["retention.bytes"].synonyms == (
        ("retention.bytes", "100", 1), ("log.retention.bytes", "300", 3),
        ("log.retention.bytes", "500", 4), ("log.retention.bytes", "-1", 5))
    assert topics["cleanup.policy"].synonyms == (("log.cleanup.policy", "delete", 5),)
    assert topics["retention.ms"].synonyms == ()
    assert topics["remote.storage.enable"].synonyms == ()
    brokers = {e.name: e for e in describe_broker_configs(broker, {}, {})}
    assert brokers["log.retention.hours"].synonyms == (
        ("log.retention.hours", "48", 4), ("log.retention.hours", "168", 5))
    assert brokers["log.retention.ms"].synonyms == ()
    assert brokers["num.partitions"].synonyms == (("num.partitions", "1", 5),)
