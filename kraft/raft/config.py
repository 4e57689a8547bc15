"""Quorum configuration: Kafka's `controller.quorum.*` keys and defaults.

Each field is the Kafka key with the `controller.quorum.` (or `metadata.`)
prefix dropped and dots turned into underscores; `KAFKA_KEYS` maps them back
so `kraft/config.py` can build a `QuorumConfig` from server.properties.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

MAX_FETCH_WAIT_MS = 500
"""Long-poll wait a follower asks for (Kafka `KafkaRaftClient.MAX_FETCH_WAIT_MS`)."""

MAX_BATCH_SIZE_BYTES = 8 * 1024 * 1024
"""Largest batch the leader appends and the most a Fetch returns (Kafka's 8 MiB)."""

RETRY_BACKOFF_BASE_MS = 100
"""Unit of the binary exponential election backoff (Kafka `RETRY_BACKOFF_BASE_MS`)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class QuorumConfig:
    """Static configuration of one node of the metadata quorum.

    `voters` is the static voter set (`controller.quorum.voters` ids); a node
    whose `node_id` is not in it is an observer.
    """

    node_id: int
    voters: tuple[int, ...]
    cluster_id: str | None = None
    election_timeout_ms: int = 1000
    fetch_timeout_ms: int = 2000
    election_backoff_max_ms: int = 1000
    request_timeout_ms: int = 2000
    retry_backoff_ms: int = 20
    append_linger_ms: int = 25
    fetch_max_wait_ms: int = MAX_FETCH_WAIT_MS
    max_batch_size_bytes: int = MAX_BATCH_SIZE_BYTES
    fetch_max_bytes: int = MAX_BATCH_SIZE_BYTES
    fetch_snapshot_max_bytes: int = MAX_BATCH_SIZE_BYTES
    log_max_record_bytes_between_snapshots: int = 20 * 1024 * 1024
    max_committed_bytes_per_ready: int = MAX_BATCH_SIZE_BYTES

    def __post_init__(self) -> None:
        if not self.voters:
            raise ValueError("controller.quorum.voters must name at least one voter")
        if len(set(self.voters)) != len(self.voters):
            raise ValueError(f"duplicate voter ids in {self.voters}")
        if self.fetch_max_wait_ms >= self.request_timeout_ms:
            raise ValueError("request timeout must exceed the fetch long-poll wait")

    @property
    def is_voter(self) -> bool:
        return self.node_id in self.voters

    @classmethod
    def from_properties(
        cls, node_id: int, voters: tuple[int, ...], properties: Mapping[str, str]
    ) -> QuorumConfig:
        """Build from server.properties entries; keys not in `KAFKA_KEYS` are ignored here."""
        values: dict[str, int] = {}
        for name, key in KAFKA_KEYS.items():
            if key in properties:
                values[name] = int(properties[key])
        return cls(node_id=node_id, voters=voters, **values)


KAFKA_KEYS: dict[str, str] = {
    "election_timeout_ms": "controller.quorum.election.timeout.ms",
    "fetch_timeout_ms": "controller.quorum.fetch.timeout.ms",
    "election_backoff_max_ms": "controller.quorum.election.backoff.max.ms",
    "request_timeout_ms": "controller.quorum.request.timeout.ms",
    "retry_backoff_ms": "controller.quorum.retry.backoff.ms",
    "append_linger_ms": "controller.quorum.append.linger.ms",
    "log_max_record_bytes_between_snapshots": "metadata.log.max.record.bytes.between.snapshots",
}

assert set(KAFKA_KEYS) <= {f.name for f in fields(QuorumConfig)}
