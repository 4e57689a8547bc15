"""server.properties parsing, Kafka's defaults and precedence."""

import logging
import re

import pytest

from kraft.config import KEYS, ConfigError, KafkaConfig, parse_properties


def test_properties_syntax():
    """Separators, comments, continuations and escapes follow java.util.Properties."""
    text = (
        "# comment\n! also comment\n"
        "a=1\nb : 2\nc 3\n"
        "d = one,\\\n    two\n"
        "e=tab\\there\n"
        "f\\=g=h\n"
        "uni=\\u0041\n"
        "empty=\n"
    )
    assert parse_properties(text) == {
        "a": "1", "b": "2", "c": "3", "d": "one,two", "e": "tab\there",
        "f=g": "h", "uni": "A", "empty": "",
    }


def test_defaults_are_kafkas():
    """Unset keys take Kafka's defaults."""
    cfg = KafkaConfig({})
    assert cfg["num.partitions"] == 1
    assert cfg["auto.create.topics.enable"] is True
    assert cfg["controller.quorum.election.timeout.ms"] == 1000
    assert cfg["broker.session.timeout.ms"] == 9000
    assert cfg.retention_ms == 168 * 3_600_000
    assert cfg.log_dirs == ["/tmp/kafka-logs"]


def test_precedence():
    """log.retention.ms beats minutes beats hours; log.dirs beats log.dir."""
    assert KafkaConfig({"log.retention.hours": "1", "log.retention.minutes": "2"}).retention_ms \
        == 120_000
    assert KafkaConfig({"log.retention.ms": "5", "log.retention.minutes": "2"}).retention_ms == 5
    assert KafkaConfig({"log.dir": "/a", "log.dirs": "/b,/c"}).log_dirs == ["/b", "/c"]


def test_voters_and_listeners():
    """Quorum voters and listener lists parse into ids, names, hosts and ports."""
    cfg = KafkaConfig({
        "controller.quorum.voters": "1@localhost:9093,2@[::1]:9096",
        "listeners": "PLAINTEXT://127.0.0.1:9092,controller://:9093",
    })
    assert cfg.quorum_voters == {1: ("localhost", 9093), 2: ("::1", 9096)}
    assert cfg.listeners() == {"PLAINTEXT": ("127.0.0.1", 9092), "CONTROLLER": ("", 9093)}
    with pytest.raises(ConfigError):
        _ = KafkaConfig({"controller.quorum.voters": "localhost:9093"}).quorum_voters


def test_bad_value_names_the_key():
    """A value that does not parse raises ConfigError naming the key."""
    with pytest.raises(ConfigError, match=r"num\.partitions"):
        KafkaConfig({"num.partitions": "many"})
    with pytest.raises(ConfigError, match=r"auto\.create\.topics\.enable"):
        KafkaConfig({"auto.create.topics.enable": "yes"})


def test_unknown_keys_warned_once(caplog):
    """An unknown key is warned about once, however often configs load."""
    with caplog.at_level(logging.WARNING, logger="kraft.config"):
        KafkaConfig({"zookeeper.connect.test.only": "x"})
        KafkaConfig({"zookeeper.connect.test.only": "x"})
    assert sum("zookeeper.connect.test.only" in r.getMessage() for r in caplog.records) == 1


def test_bad_values_in_kafkas_words_naming_their_origin():
    """A value that does not parse or check is Kafka's ConfigDef message, prefixed with
    the file or --override it came from."""
    with pytest.raises(ConfigError) as error:
        KafkaConfig({"num.partitions": "three"}, source="server.properties")
    assert str(error.value) == ("server.properties: Invalid value three for configuration "
                                "num.partitions: Not a number of type INT")
    with pytest.raises(ConfigError) as error:
        KafkaConfig({"log.segment.bytes": "13", "num.partitions": "2"}, source="a.properties",
                    origins={"log.segment.bytes": "--override"})
    assert str(error.value) == ("--override: Invalid value 13 for configuration "
                                "log.segment.bytes: Value must be at least 14")
    with pytest.raises(ConfigError, match=r"^Invalid value broker,x for configuration "
                       r"process.roles|^Invalid value x for configuration process.roles"):
        KafkaConfig({"process.roles": "broker,x"}, source="")


def test_close_key_gets_did_you_mean(caplog):
    """A key close to a declared one is warned about with Kafka's sentence and a guess."""
    with caplog.at_level(logging.DEBUG, logger="kraft.config"):
        KafkaConfig({"num.partition.count.test": "3", "log.retention.hourz": "1"}, source="f")
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert ("f: The configuration 'log.retention.hourz' was supplied but isn't a known config;"
            " did you mean 'log.retention.hours'?") in messages
    assert ("f: The configuration 'num.partition.count.test' was supplied but isn't a known "
            "config") in messages


def test_per_listener_keys_are_not_said_to_have_no_effect(caplog):
    """A security key under `listener.name.<l>.` (read per listener) is not logged as
    having no effect; another key under that prefix is, with the reason, at DEBUG."""
    from kraft import config as config_module

    config_module._reported.clear()
    keys = {"listener.name.sasl_plaintext.sasl.enabled.mechanisms": "PLAIN",
            "listener.name.sasl_plaintext.num.partitions": "3"}
    with caplog.at_level(logging.DEBUG, logger="kraft.config"):
        KafkaConfig(keys)
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert not any("sasl.enabled.mechanisms" in m for m in debug)
    assert ("<config>: listener.name.sasl_plaintext.num.partitions is accepted and has no effect: "
            "num.partitions is not a per-listener config") in debug


def test_kafka_tuning_keys_are_quiet_with_the_reason_at_debug(caplog):
    """Thread-pool and buffer keys Kafka has are accepted without a warning; the reason
    they have no effect is logged at DEBUG; their values are still checked."""
    keys = {"num.network.threads": "8", "num.io.threads": "16",
            "socket.send.buffer.bytes": "1048576", "socket.receive.buffer.bytes": "1048576",
            "num.recovery.threads.per.data.dir": "4", "num.replica.fetchers": "2",
            "queued.max.requests": "100", "background.threads": "4"}
    with caplog.at_level(logging.DEBUG, logger="kraft.config"):
        cfg = KafkaConfig(keys)
    warned = {r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING}
    assert not any(name in message for name in keys for message in warned)
    debug = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG)
    assert "num.io.threads is accepted and has no effect: kraft runs every listener" in debug
    assert cfg["num.io.threads"] == 16
    with pytest.raises(ConfigError, match=re.escape(
            "Invalid value 0 for configuration num.io.threads: Value must be at least 1")):
        KafkaConfig({"num.io.threads": "0"})


def test_typed_attributes_are_the_declared_keys():
    """Each typed attribute reads the key of the same name, with its declared type."""
    from kraft.config import _Key
    from kraft.log.configdef import Type

    python_type = {Type.INT: int, Type.LONG: int, Type.SHORT: int, Type.BOOLEAN: bool,
                   Type.LIST: list, Type.STRING: str}
    cfg = KafkaConfig({"inter.broker.listener.name": "PLAINTEXT", "broker.rack": "r1"})
    attributes = {n: a for n, a in vars(KafkaConfig).items() if isinstance(a, _Key)}
    assert len(attributes) >= 40
    for attribute, accessor in attributes.items():
        key = KEYS[accessor.name]
        assert accessor.name.replace(".", "_") == attribute
        expected = list if key.csv else python_type[key.type]
        assert isinstance(getattr(cfg, attribute), expected), attribute
        assert getattr(cfg, attribute) == cfg[accessor.name]


def test_one_declaration_per_key():
    """QuorumConfig, LogConfig and the broker synonyms of topic configs take their defaults
    and checks from the one declaration of each key."""
    from kraft.log.config import TOPIC_CONFIGS, LogConfig
    from kraft.raft.config import KAFKA_KEYS, QuorumConfig

    quorum = QuorumConfig(node_id=1, voters=(1,))
    for field, name in KAFKA_KEYS.items():
        assert getattr(quorum, field) == KEYS[name].default
    log_config = LogConfig()
    for field in LogConfig.__dataclass_fields__:
        key = TOPIC_CONFIGS[field.replace("_", ".")]
        value = getattr(log_config, field)
        assert (value.split(",") if key.name == "cleanup.policy" else value) == key.default
    for topic in TOPIC_CONFIGS.values():
        if not topic.synonyms or topic.synonyms[0][0] not in KEYS:
            continue
        broker = KEYS[topic.synonyms[0][0]]
        assert (broker.type, broker.validator, broker.unused) == (
            topic.type, topic.validator, topic.unused)
        assert broker.default in (topic.default, None)


def test_quorum_config_parses_with_the_declarations():
    """QuorumConfig.from_properties reports a bad value in Kafka's words, and a request
    timeout within the fetch long poll, as ConfigError (not int()'s ValueError)."""
    from kraft.raft.config import QuorumConfig

    with pytest.raises(ConfigError, match=r"^Invalid value 1s for configuration "
                                          r"controller\.quorum\.election\.timeout\.ms: Not a"):
        QuorumConfig.from_properties(1, (1,), {"controller.quorum.election.timeout.ms": "1s"})
    with pytest.raises(ConfigError, match=r"controller\.quorum\.request\.timeout\.ms"):
        QuorumConfig.from_properties(1, (1,), {"controller.quorum.request.timeout.ms": "400"})


def test_load_refuses_a_file_that_is_not_utf8(tmp_path):
    """A server.properties that is not UTF-8 is a one-line ConfigError naming the file."""
    path = tmp_path / "server.properties"
    path.write_bytes(b"node.id=1\nlog.dirs=/tmp/\xff\xfe\n")
    with pytest.raises(ConfigError, match=r"server\.properties: not UTF-8 text \(byte 0xff"):
        KafkaConfig.load(path)


def test_null_defaults_are_none_and_lists_are_lists():
    """Keys whose Kafka default is null read as None (or [] for comma-separated keys)."""
    cfg = KafkaConfig({})
    assert cfg["log.retention.ms"] is None and cfg["metadata.log.dir"] is None
    assert cfg["controller.listener.names"] == [] and cfg["log.dirs"] == []
    assert KafkaConfig({"listeners": "A://:1, B://h:2"})["listeners"] == ["A://:1", "B://h:2"]
