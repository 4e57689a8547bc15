"""Quorum configuration: Kafka's `controller.quorum.*` keys and defaults.

Each field is the Kafka key with the `controller.quorum.` (or `metadata.`)
prefix dropped and dots turned into underscores; `KAFKA_KEYS` maps them back.
Types, defaults and checks of those keys are declared once, in
kraft.config_keys; the field defaults here are read from there.
`from_properties` parses server.properties text with the same declarations,
so a bad value is a ConfigError in Kafka's words.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from kraft.config_keys import KEYS, ConfigError
from kraft.raft.types import VoterNode

MAX_FETCH_WAIT_MS = 500
"""Long-poll wait a follower asks for (Kafka `KafkaRaftClient.MAX_FETCH_WAIT_MS`)."""

MAX_BATCH_SIZE_BYTES = 8 * 1024 * 1024
"""Largest batch the leader appends and the most a Fetch returns (Kafka's 8 MiB)."""

RETRY_BACKOFF_BASE_MS = 100
"""Unit of the binary exponential election backoff (Kafka `RETRY_BACKOFF_BASE_MS`)."""

KAFKA_KEYS: dict[str, str] = {
    "election_timeout_ms": "controller.quorum.election.timeout.ms",
    "fetch_timeout_ms": "controller.quorum.fetch.timeout.ms",
    "election_backoff_max_ms": "controller.quorum.election.backoff.max.ms",
    "request_timeout_ms": "controller.quorum.request.timeout.ms",
    "retry_backoff_ms": "controller.quorum.retry.backoff.ms",
    "append_linger_ms": "controller.quorum.append.linger.ms",
    "log_max_record_bytes_between_snapshots": "metadata.log.max.record.bytes.between.snapshots",
    "election_on_leader_connection_loss": "kraft.quorum.election.on.leader.connection.loss.enable",
}


def _default(field: str) -> Any:
    return KEYS[KAFKA_KEYS[field]].default


@dataclass(frozen=True, slots=True, kw_only=True)
class QuorumConfig:
    """Static configuration of one node of the metadata quorum.

    `voters` is the static voter set (`controller.quorum.voters` ids) with
    `kraft_version` 0. With `kraft_version` 1 (KIP-853) it is only where the
    log starts from, the bootstrap checkpoint's set (`voter_nodes` gives
    their directory ids and endpoints; both are empty for a node formatted
    `--no-initial-controllers`): the set in force is the latest VotersRecord
    in the log (`kraft.raft.voter_set`). A node whose `node_id` is not in the
    set in force is an observer. `directory_id` is this node's metadata log
    directory id (KIP-1035), sent in Fetch so a leader can add it as a voter.
    `bootstrap_servers` are the ids (the driver's, negative for addresses
    known only from controller.quorum.bootstrap.servers) an observer that
    knows no voter asks for the leader. `local_listeners` are this node's own
    controller endpoints, (listener, host, port) as it advertises them (empty:
    unknown); with kraft.version 1 a voter whose entry in the voter set differs
    gets it updated (UpdateRaftVoter as a follower, at the start of its epoch as
    leader; KIP-853).
    """

    node_id: int
    voters: tuple[int, ...]
    cluster_id: str | None = None
    kraft_version: int = 0
    voter_nodes: tuple[VoterNode, ...] = ()
    directory_id: str | None = None
    bootstrap_servers: tuple[int, ...] = ()
    local_listeners: tuple[tuple[str, str, int], ...] = ()
    election_timeout_ms: int = _default("election_timeout_ms")
    fetch_timeout_ms: int = _default("fetch_timeout_ms")
    election_backoff_max_ms: int = _default("election_backoff_max_ms")
    request_timeout_ms: int = _default("request_timeout_ms")
    retry_backoff_ms: int = _default("retry_backoff_ms")
    append_linger_ms: int = _default("append_linger_ms")
    fetch_max_wait_ms: int = MAX_FETCH_WAIT_MS
    max_batch_size_bytes: int = MAX_BATCH_SIZE_BYTES
    fetch_max_bytes: int = MAX_BATCH_SIZE_BYTES
    fetch_snapshot_max_bytes: int = MAX_BATCH_SIZE_BYTES
    log_max_record_bytes_between_snapshots: int = _default(
        "log_max_record_bytes_between_snapshots")
    max_committed_bytes_per_ready: int = MAX_BATCH_SIZE_BYTES
    election_on_leader_connection_loss: bool = _default("election_on_leader_connection_loss")

    def __post_init__(self) -> None:
        if self.kraft_version not in (0, 1):
            raise ValueError(f"unsupported kraft.version {self.kraft_version}")
        if not self.voters and self.kraft_version == 0:
            raise ValueError("controller.quorum.voters must name at least one voter")
        if self.voter_nodes and tuple(sorted(v.voter_id for v in self.voter_nodes)) != tuple(
                sorted(self.voters)):
            raise ValueError(f"voter_nodes {self.voter_nodes} do not match voters {self.voters}")
        if len(set(self.voters)) != len(self.voters):
            raise ValueError(f"duplicate voter ids in {self.voters}")
        if self.fetch_max_wait_ms >= self.request_timeout_ms:
            raise ValueError(
                f"controller.quorum.request.timeout.ms ({self.request_timeout_ms}) must exceed "
                f"the fetch long-poll wait ({self.fetch_max_wait_ms} ms)")

    @property
    def is_voter(self) -> bool:
        return self.node_id in self.voters

    @classmethod
    def from_properties(
        cls, node_id: int, voters: tuple[int, ...], properties: Mapping[str, str]
    ) -> QuorumConfig:
        """Build from server.properties entries (other keys are left alone here).

        Raises ConfigError, in Kafka's words, for a value that does not parse or
        check, or for a combination a quorum cannot run with."""
        values: dict[str, Any] = {}
        try:
            for name, key in KAFKA_KEYS.items():
                if key in properties:
                    values[name] = KEYS[key].parse(properties[key])
            return cls(node_id=node_id, voters=voters, **values)
        except ValueError as e:  # ConfigException (a bad value) or __post_init__
            raise ConfigError(str(e)) from None


assert set(KAFKA_KEYS) <= {f.name for f in fields(QuorumConfig)}
