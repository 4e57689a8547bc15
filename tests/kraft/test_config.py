"""server.properties parsing, Kafka's defaults and precedence."""

import logging

import pytest

from kraft.config import ConfigError, KafkaConfig, parse_properties


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
