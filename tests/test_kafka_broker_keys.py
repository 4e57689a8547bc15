"""kraft knows every broker key of Apache Kafka 4.4, and treats each Kafka's way.

tests/kafka44_broker_keys.tsv lists the keys a DescribeConfigs of a Kafka 4.4
broker answers (its header says how it was made). Each is declared in
kraft.config_keys (or is a password key kraft.security reads), with Kafka's
type, default and dynamic flag, so a key a future Kafka adds, or one that
goes missing here, fails this test. Then one key of each class: a key kraft
does not need is accepted quietly with the reason at DEBUG; a value turning
on a feature kraft does not build is refused in one line; keys kraft honours
take effect.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import NamedTuple

import pytest

from kraft import config as config_module
from kraft.broker.internal_topics import offsets_topic_configs
from kraft.config import ConfigError, KafkaConfig
from kraft.config_keys import KEYS, LIST_TYPED_CSV, PASSWORD_KEYS
from kraft.topic_configs import (
    DEFAULT_CONFIG,
    DYNAMIC_BROKER_CONFIG,
    STATIC_BROKER_CONFIG,
    describe_broker_configs,
    validate_broker_config,
)

LIST_FILE = Path(__file__).with_name("kafka44_broker_keys.tsv")



class KafkaKey(NamedTuple):
    name: str
    type: str
    dynamic: bool
    default: str | None  # as Kafka describes it; None for null; "<set>": not known


def kafka_keys() -> list[KafkaKey]:
    keys = []
    for line in LIST_FILE.read_text().splitlines():
        if line.startswith("#"):
            continue
        name, type_, dynamic, default = line.split("\t")
        keys.append(KafkaKey(name, type_, dynamic == "dynamic",
                             None if default == "<null>" else default))
    return keys


def test_the_list_is_kafkas_broker_keys() -> None:
    """The committed list holds Kafka 4.4's 350 broker keys, each once."""
    names = [k.name for k in kafka_keys()]
    assert len(names) == len(set(names)) == 350
    assert {"num.network.threads", "remote.log.storage.system.enable", "node.id"} <= set(names)


def test_every_kafka_broker_key_is_declared() -> None:
    """Every key of Kafka 4.4's broker is declared by kraft, or is a password key
    kraft.security reads from the raw properties."""
    missing = [k.name for k in kafka_keys() if k.name not in KEYS and k.name not in
               PASSWORD_KEYS]
    assert not missing, f"Kafka 4.4 broker keys kraft does not declare: {missing}"


def test_declared_keys_carry_kafkas_type_default_and_flag() -> None:
    """Each declared Kafka key has Kafka's type (a LIST may be a comma-separated
    STRING, then described as a LIST), Kafka's default as DescribeConfigs shows it, and
    Kafka's dynamic flag."""
    wrong = []
    for k in kafka_keys():
        key = KEYS.get(k.name) or PASSWORD_KEYS.get(k.name)
        if key is None:
            continue
        if key.type.name != k.type and not (k.type == "LIST" and key.csv):
            wrong.append(f"{k.name}: type {key.type.name}, Kafka's {k.type}")
        if key.csv and (k.type == "LIST") != (k.name in LIST_TYPED_CSV):
            wrong.append(f"{k.name}: described as {k.type} by Kafka (LIST_TYPED_CSV)")
        if k.default != "<set>" and key.default_text != k.default:
            wrong.append(f"{k.name}: default {key.default_text!r}, Kafka's {k.default!r}")
        if key.dynamic != k.dynamic:
            wrong.append(f"{k.name}: dynamic {key.dynamic}, Kafka's {k.dynamic}")
    assert not wrong, "\n".join(wrong)


def test_a_key_kraft_does_not_need_is_accepted_quietly(caplog: pytest.LogCaptureFixture
                                                       ) -> None:
    """A Kafka tuning key (quota.window.num) and a key of a feature kraft does not build,
    at a value that does not turn it on, parse and are kept without a warning; the
    reason is logged at DEBUG."""
    config_module._reported.discard("quota.window.num")
    config_module._reported.discard("remote.log.reader.threads")
    with caplog.at_level(logging.DEBUG, logger="kraft.config"):
        cfg = KafkaConfig({"quota.window.num": "20", "remote.log.reader.threads": "4",
                           "remote.log.storage.system.enable": "false"})
    assert (cfg["quota.window.num"], cfg["remote.log.reader.threads"]) == (20, 4)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert ("<config>: quota.window.num is accepted and has no effect: kraft has no client "
            "quotas") in debug
    with pytest.raises(ConfigError, match="Not a number of type INT"):
        KafkaConfig({"quota.window.num": "eleven"})


@pytest.mark.parametrize(("key", "value", "shown", "why"), [
    ("remote.log.storage.system.enable", "true", "true",
     "kraft does not build remote log storage (tiered storage, KIP-405)"),
    ("delegation.token.secret.key", "s3cret", "[hidden]",
     "kraft does not build delegation tokens (KIP-48)"),
    ("create.topic.policy.class.name", "com.example.Policy", "com.example.Policy",
     "kraft loads no Java plugin classes"),
])
def test_a_value_turning_on_an_unbuilt_feature_is_refused_in_one_line(
        tmp_path: Path, key: str, value: str, shown: str, why: str) -> None:
    """Setting a key to a value that turns on a feature kraft does not build stops
    start-up with one line naming the file, the key and the feature (a secret is not
    shown)."""
    path = tmp_path / "server.properties"
    path.write_text(f"node.id=1\n{key}={value}\n")
    with pytest.raises(ConfigError) as e:
        KafkaConfig.load(path)
    assert str(e.value) == f"{path}: Invalid value {shown} for configuration {key}: {why}"
    assert "\n" not in str(e.value)


def test_a_dynamic_update_turning_on_an_unbuilt_feature_is_refused() -> None:
    """A dynamic update of cordoned.log.dirs is refused with the same words; its
    default (empty) is accepted."""
    assert validate_broker_config("cordoned.log.dirs", "/data/a", per_broker=False) == (
        "Invalid value /data/a for configuration cordoned.log.dirs: kraft does not build "
        "cordoned log directories (KIP-1066)")
    assert validate_broker_config("cordoned.log.dirs", "", per_broker=False) is None


def test_broker_id_is_node_ids_synonym() -> None:
    """broker.id sets node.id and node.id sets broker.id (Kafka's populateSynonyms);
    both set to different ids is refused in Kafka's words."""
    assert KafkaConfig({"broker.id": "4"}).node_id == 4
    assert KafkaConfig({"node.id": "5"})["broker.id"] == 5
    assert KafkaConfig({"node.id": "5"}).raw["broker.id"] == "5"  # described as static
    with pytest.raises(ConfigError, match=r"^<config>: You must set `node.id` to the same "
                                          r"value as `broker.id`\.$"):
        KafkaConfig({"node.id": "1", "broker.id": "2"})


def test_offsets_topic_segment_bytes_is_honoured() -> None:
    """__consumer_offsets is created with segment.bytes = offsets.topic.segment.bytes
    (Kafka's default 100 MiB when not set)."""
    assert offsets_topic_configs(KafkaConfig({}))["segment.bytes"] == "104857600"
    configs = offsets_topic_configs(KafkaConfig({"offsets.topic.segment.bytes": "1048576"}))
    assert configs == {"cleanup.policy": "compact", "compression.type": "producer",
                       "segment.bytes": "1048576"}


def test_password_keys_are_described_as_kafka_does() -> None:
    """The 7 password keys kraft.security reads are listed, set or not, as Kafka 4.4
    lists them: sensitive, value null, type PASSWORD, dynamic, the source of the value
    (none shown in any synonym); a listener's override too, read-only, the JAAS config
    under a mechanism prefix a synonym of sasl.jaas.config (measured on Kafka 4.4)."""
    config = KafkaConfig({"ssl.truststore.password": "s3cr3t-1",
                          "listener.name.sasl.ssl.keystore.password": "s3cr3t-2",
                          "listener.name.sasl.plain.sasl.jaas.config": "s3cr3t-3 required;"})
    entries = {e.name: e for e in describe_broker_configs(config, {}, {})}
    for name in PASSWORD_KEYS:
        e = entries[name]
        assert (e.value, e.is_sensitive, e.read_only, e.type) == (None, True, False, 9), name
    assert (entries["ssl.key.password"].source, entries["ssl.key.password"].synonyms) == (
        DEFAULT_CONFIG, ())
    assert entries["ssl.truststore.password"].source == STATIC_BROKER_CONFIG
    assert entries["ssl.truststore.password"].synonyms == (
        ("ssl.truststore.password", None, STATIC_BROKER_CONFIG),)
    for name in ("listener.name.sasl.ssl.keystore.password",
                 "listener.name.sasl.plain.sasl.jaas.config"):
        e = entries[name]
        assert (e.value, e.source, e.is_sensitive, e.read_only, e.type) == (
            None, STATIC_BROKER_CONFIG, True, True, 9), name
        assert e.synonyms == ((name, None, STATIC_BROKER_CONFIG),)
    assert not [e for e in entries.values() if "s3cr3t" in repr(e)]


def test_listener_overrides_and_unknown_keys_are_described_as_kafka_does() -> None:
    """A listener's override set in server.properties or dynamically is listed read-only
    with the chain of its own values then the key's (no default of its own); a key
    Kafka does not know is listed read-only and sensitive, of type UNKNOWN."""
    config = KafkaConfig({"listener.name.plaintext.max.connections": "1000",
                          "foo.unknown.key": "v"})
    entries = {e.name: e for e in describe_broker_configs(
        config, {}, {"listener.name.plaintext.max.connections": "500",
                     "listener.name.plaintext.connections.max.reauth.ms": "1000"})}
    e = entries["listener.name.plaintext.max.connections"]
    assert (e.value, e.source, e.read_only, e.is_sensitive, e.type) == (
        "500", DYNAMIC_BROKER_CONFIG, True, False, 3)
    assert e.synonyms == (("listener.name.plaintext.max.connections", "500", 2),
                          ("listener.name.plaintext.max.connections", "1000", 4),
                          ("max.connections", "2147483647", 5))
    e = entries["listener.name.plaintext.connections.max.reauth.ms"]
    assert e.synonyms == (("listener.name.plaintext.connections.max.reauth.ms", "1000", 2),
                          ("connections.max.reauth.ms", "0", 5))
    e = entries["foo.unknown.key"]
    assert (e.value, e.source, e.read_only, e.is_sensitive, e.type, e.synonyms) == (
        None, STATIC_BROKER_CONFIG, True, True, 0, (("foo.unknown.key", None, 4),))


@pytest.mark.parametrize("key", ["connection.failed.authentication.delay.ms",
                                 "connections.max.reauth.ms", "sasl.server.max.receive.size",
                                 "ssl.principal.mapping.rules"])
def test_security_keys_read_only_in_kafka_change_only_per_listener(key: str) -> None:
    """Four security keys Kafka 4.4 describes read-only are refused bare in a dynamic
    update, in Kafka's words, and accepted under a listener prefix (as Kafka 4.4 does)."""
    value = KEYS[key].default_text
    assert value is not None
    assert validate_broker_config(key, value) == (
        f"Cannot update these configs dynamically: [{key}]")
    assert validate_broker_config(f"listener.name.plaintext.{key}", value) is None
    assert validate_broker_config(f"listener.name.plaintext.{key}", value,
                                  per_broker=False) is not None


def test_advertised_listeners_is_read_only() -> None:
    """advertised.listeners cannot be changed at runtime (Kafka 4.4: "Cannot update these
    configs dynamically")."""
    assert validate_broker_config("advertised.listeners", "PLAINTEXT://h:1") == (
        "Cannot update these configs dynamically: [advertised.listeners]")


def test_comma_separated_keys_are_described_with_kafkas_type() -> None:
    """listeners and advertised.listeners (read as lists) are described as LIST, as
    Kafka describes them; listener.security.protocol.map stays a STRING."""
    config = KafkaConfig({"listeners": "PLAINTEXT://:9092"})
    entries = {e.name: e for e in describe_broker_configs(config, {}, {})}
    assert (entries["listeners"].type, entries["advertised.listeners"].type) == (7, 7)
    assert entries["listener.security.protocol.map"].type == 2
