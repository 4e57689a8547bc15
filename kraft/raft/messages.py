"""The RPCs the raft core speaks, as plain frozen dataclasses.

Each class mirrors one Kafka message for the single partition
`__cluster_metadata-0`, flattened (no topics/partitions nesting) and with
Kafka's field names in snake_case as `kio` spells them, so the driver can map
them to `kio.schema.<api>.vN` one field to one field:

| class                    | API key | kio module (newest version)          |
| ------------------------ | ------- | ------------------------------------ |
| Vote{Request,Response}   | 52      | kio.schema.vote.v2                   |
| BeginQuorumEpoch*        | 53      | kio.schema.begin_quorum_epoch.v1     |
| EndQuorumEpoch*          | 54      | kio.schema.end_quorum_epoch.v1       |
| DescribeQuorum*          | 55      | kio.schema.describe_quorum.v2        |
| Fetch*                   | 1       | kio.schema.fetch.v18                 |
| FetchSnapshot*           | 59      | kio.schema.fetch_snapshot.v1         |
| AddRaftVoter*            | 80      | kio.schema.add_raft_voter.v1         |
| RemoveRaftVoter*         | 81      | kio.schema.remove_raft_voter.v0      |
| UpdateRaftVoter*         | 82      | kio.schema.update_raft_voter.v0      |

Deliberate differences from the wire: optional nested structs that Kafka
encodes with -1 sentinels (`diverging_epoch`, `snapshot_id`) are `None` here;
`records` is a tuple of `Entry` that the driver encodes as v2 record batches
(control batches for LeaderChange, KRaftVersion and Voters). Directory ids
(KIP-853) are Kafka Uuid strings, None where the wire has the zero Uuid;
listener endpoints are (name, host, port) tuples.

Error codes are kio's `ErrorCode`, Kafka's single table of them.

`Inbound`/`Outbound` wrap a message with its peer and a correlation id, which
is how responses are matched to requests (see `RaftCore`).
"""

from __future__ import annotations

from dataclasses import dataclass

from kio.schema.errors import ErrorCode

from kraft.raft.types import Entry

HIGH_WATERMARK_NOT_SUPPORTED = 2**63 - 1
"""Fetch v18's `HighWatermark` default: the fetcher does not report one."""

__all__ = [
    "HIGH_WATERMARK_NOT_SUPPORTED",
    "AddRaftVoterRequest",
    "AddRaftVoterResponse",
    "BeginQuorumEpochRequest",
    "BeginQuorumEpochResponse",
    "DescribeQuorumRequest",
    "DescribeQuorumResponse",
    "EndQuorumEpochRequest",
    "EndQuorumEpochResponse",
    "EpochEndOffset",
    "ErrorCode",
    "FetchRequest",
    "FetchResponse",
    "FetchSnapshotRequest",
    "FetchSnapshotResponse",
    "Inbound",
    "LeaderIdAndEpoch",
    "Message",
    "Outbound",
    "RemoveRaftVoterRequest",
    "RemoveRaftVoterResponse",
    "ReplicaState",
    "Request",
    "Response",
    "SnapshotId",
    "UpdateRaftVoterRequest",
    "UpdateRaftVoterResponse",
    "VoteRequest",
    "VoteResponse",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class LeaderIdAndEpoch:
    """`CurrentLeader` in Fetch/FetchSnapshot responses."""

    leader_id: int
    leader_epoch: int


@dataclass(frozen=True, slots=True, kw_only=True)
class EpochEndOffset:
    """`DivergingEpoch` in a Fetch response: truncate to at most this end offset."""

    epoch: int
    end_offset: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SnapshotId:
    """A snapshot's name: exclusive end offset and epoch of its last record."""

    end_offset: int
    epoch: int


# --- Vote (52) --------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class VoteRequest:
    """Ask `voter_id` for a vote (or a pre-vote when `pre_vote`) in `replica_epoch`.

    A pre-vote carries the sender's current epoch (no bump) and changes no
    state on the receiver.
    """

    cluster_id: str | None
    voter_id: int
    replica_epoch: int
    replica_id: int
    last_offset_epoch: int
    last_offset: int
    pre_vote: bool
    voter_directory_id: str | None = None
    candidate_directory_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class VoteResponse:
    error_code: ErrorCode
    leader_id: int
    leader_epoch: int
    vote_granted: bool


# --- BeginQuorumEpoch (53) --------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class BeginQuorumEpochRequest:
    """The new leader announces itself to each voter."""

    cluster_id: str | None
    voter_id: int
    leader_id: int
    leader_epoch: int
    voter_directory_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class BeginQuorumEpochResponse:
    error_code: ErrorCode
    leader_id: int
    leader_epoch: int


# --- EndQuorumEpoch (54) ----------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class EndQuorumEpochRequest:
    """A resigning leader asks voters to elect a successor, best candidates first."""

    cluster_id: str | None
    leader_id: int
    leader_epoch: int
    preferred_candidates: tuple[int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class EndQuorumEpochResponse:
    error_code: ErrorCode
    leader_id: int
    leader_epoch: int


# --- Fetch (1) --------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchRequest:
    """Pull records from `fetch_offset`; the last record held has `last_fetched_epoch`.

    `replica_id`/`replica_epoch` are Fetch v15+'s ReplicaState; `max_wait_ms`
    is how long the leader may park the request when it has nothing new.
    `high_watermark` (v18, KIP-1166) is the fetcher's own: a leader that knows
    a higher one answers at once instead of parking, so followers learn of
    commits without waiting out `max_wait_ms`.
    """

    cluster_id: str | None
    replica_id: int
    replica_epoch: int
    max_wait_ms: int
    current_leader_epoch: int
    fetch_offset: int
    last_fetched_epoch: int
    partition_max_bytes: int
    high_watermark: int = HIGH_WATERMARK_NOT_SUPPORTED
    replica_directory_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchResponse:
    """At most one of `diverging_epoch`, `snapshot_id`, non-empty `records` is set."""

    error_code: ErrorCode
    high_watermark: int
    log_start_offset: int
    current_leader: LeaderIdAndEpoch
    diverging_epoch: EpochEndOffset | None = None
    snapshot_id: SnapshotId | None = None
    records: tuple[Entry, ...] = ()


# --- FetchSnapshot (59) -----------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchSnapshotRequest:
    cluster_id: str | None
    replica_id: int
    max_bytes: int
    current_leader_epoch: int
    snapshot_id: SnapshotId
    position: int


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchSnapshotResponse:
    """`unaligned_records[0]` is byte `position` of a snapshot of `size` bytes."""

    error_code: ErrorCode
    snapshot_id: SnapshotId
    current_leader: LeaderIdAndEpoch
    size: int = 0
    position: int = 0
    unaligned_records: bytes = b""


# --- DescribeQuorum (55) ----------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class DescribeQuorumRequest:
    """No fields beyond the partition, which is implied."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplicaState:
    """One voter or observer as the leader sees it; timestamps are -1 when unknown."""

    replica_id: int
    log_end_offset: int
    replica_directory_id: str | None = None
    last_fetch_timestamp: int = -1
    last_caught_up_timestamp: int = -1


@dataclass(frozen=True, slots=True, kw_only=True)
class DescribeQuorumResponse:
    error_code: ErrorCode
    error_message: str | None
    leader_id: int
    leader_epoch: int
    high_watermark: int
    current_voters: tuple[ReplicaState, ...] = ()
    observers: tuple[ReplicaState, ...] = ()


# --- AddRaftVoter (80), RemoveRaftVoter (81), UpdateRaftVoter (82): KIP-853 ----


@dataclass(frozen=True, slots=True, kw_only=True)
class AddRaftVoterRequest:
    """Add `voter_id` (with its directory id and controller `listeners`) to the
    voter set, once it is a caught-up observer. Answered when the VotersRecord
    commits (or fails); with `ack_when_committed` false (AddRaftVoter v1,
    KIP-1186) as soon as the leader has appended it."""

    cluster_id: str | None
    timeout_ms: int
    voter_id: int
    voter_directory_id: str | None
    listeners: tuple[tuple[str, str, int], ...]
    ack_when_committed: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class AddRaftVoterResponse:
    error_code: ErrorCode
    error_message: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoveRaftVoterRequest:
    """Remove the voter `voter_id` whose directory id is `voter_directory_id`."""

    cluster_id: str | None
    voter_id: int
    voter_directory_id: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class RemoveRaftVoterResponse:
    error_code: ErrorCode
    error_message: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateRaftVoterRequest:
    """A voter reports its current endpoints and supported kraft.version range."""

    cluster_id: str | None
    current_leader_epoch: int
    voter_id: int
    voter_directory_id: str | None
    listeners: tuple[tuple[str, str, int], ...]
    min_supported_version: int
    max_supported_version: int


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateRaftVoterResponse:
    error_code: ErrorCode
    current_leader: LeaderIdAndEpoch


Request = (
    VoteRequest
    | BeginQuorumEpochRequest
    | EndQuorumEpochRequest
    | FetchRequest
    | FetchSnapshotRequest
    | DescribeQuorumRequest
    | AddRaftVoterRequest
    | RemoveRaftVoterRequest
    | UpdateRaftVoterRequest
)
Response = (
    VoteResponse
    | BeginQuorumEpochResponse
    | EndQuorumEpochResponse
    | FetchResponse
    | FetchSnapshotResponse
    | DescribeQuorumResponse
    | AddRaftVoterResponse
    | RemoveRaftVoterResponse
    | UpdateRaftVoterResponse
)
Message = Request | Response


@dataclass(frozen=True, slots=True)
class Inbound:
    """A message that arrived from node `source` (-1 for a non-node client).

    For a request, `correlation_id` is the driver's opaque token for the
    connection and request; the core echoes it on its `Outbound` response, so
    the driver must keep tokens unique among requests awaiting an answer. For
    a response, it is the id the core put on the matching `Outbound` request.
    """

    source: int
    correlation_id: int
    message: Message


@dataclass(frozen=True, slots=True)
class Outbound:
    """A message for node `destination`.

    Requests carry a correlation id chosen by the core; deliver the answer as
    `Inbound(destination, correlation_id, response)`, or report failure with
    `RaftCore.request_failed`. Responses carry the token of the request they
    answer and go back on the connection that request came from.
    """

    destination: int
    correlation_id: int
    message: Message

    @property
    def is_request(self) -> bool:
        return isinstance(self.message, Request)
