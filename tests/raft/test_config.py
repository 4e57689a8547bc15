"""Quorum configuration: Kafka's keys and defaults."""

from __future__ import annotations

import pytest

from kraft.raft.config import KAFKA_KEYS, QuorumConfig


def test_defaults_are_kafkas() -> None:
    """Defaults match controller.quorum.* and metadata.log.* in Kafka."""
    config = QuorumConfig(node_id=1, voters=(1, 2, 3))
    assert (
        config.election_timeout_ms,
        config.fetch_timeout_ms,
        config.election_backoff_max_ms,
        config.request_timeout_ms,
        config.retry_backoff_ms,
        config.append_linger_ms,
        config.fetch_max_wait_ms,
        config.log_max_record_bytes_between_snapshots,
    ) == (1000, 2000, 1000, 2000, 20, 25, 500, 20 * 1024 * 1024)
    assert config.is_voter
    assert not QuorumConfig(node_id=9, voters=(1, 2, 3)).is_voter


def test_from_properties_reads_kafka_keys() -> None:
    """server.properties keys map onto the fields; other keys are left alone."""
    properties = {key: "7" for key in KAFKA_KEYS.values()} | {"log.dirs": "/tmp/x"}
    properties["controller.quorum.request.timeout.ms"] = "9000"
    properties["kraft.quorum.election.on.leader.connection.loss.enable"] = "false"
    config = QuorumConfig.from_properties(2, (1, 2), properties)
    assert config.election_timeout_ms == 7
    assert config.election_on_leader_connection_loss is False
    assert config.request_timeout_ms == 9000
    assert config.log_max_record_bytes_between_snapshots == 7


@pytest.mark.parametrize(
    "kwargs",
    [
        {"voters": ()},
        {"voters": (1, 1)},
        {"voters": (1,), "request_timeout_ms": 500},
    ],
)
def test_invalid_configs_are_refused(kwargs: dict) -> None:
    """No voters, duplicate voters, or a request timeout within the long poll are errors."""
    with pytest.raises(ValueError):
        QuorumConfig(node_id=1, **kwargs)
