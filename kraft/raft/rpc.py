"""The raft RPCs on the wire: one declaration per RPC, mapping the core's messages to kio's.

The core's messages (`kraft.raft.messages`) are Kafka's RPCs flattened to the
one partition `__cluster_metadata-0`; this module nests them back into
topics/partitions and fills in what the wire needs. Each RPC is declared once,
as a `RaftRpc` holding everything about it: its API key, the versions served
(fixed, because both ends of these RPCs are kraft nodes; DescribeQuorum also
answers tools), its core request and response types, the node a request comes
from, and its codecs (request and response, each way, plus the whole-request
error response). `RPCS` lists the declarations; the lookups the driver and
the controller use (`BY_KEY`, `for_request`, `error_response`) are derived
from it, so nothing else in the code switches over the RPCs.

Adding a raft RPC: its message classes in `kraft.raft.messages` (and their
handling in the core), one section here with its codec functions and its
`RaftRpc`, and the declaration in `RPCS`. `RaftNode.register` then serves it
on the controller listener and the driver sends it; tests/raft/test_rpc.py
checks the round trip once a case is added there.

Records travel as Kafka v2 record batches (`kraft.raft.batches`). Optional
structs Kafka encodes with -1 sentinels (DivergingEpoch, SnapshotId) map to
None. Directory ids (KIP-853) are Kafka Uuid strings in the core, None for
the zero Uuid; leader endpoint lists in Begin/EndQuorumEpoch stay empty.

Malformed peer messages (wrong partition, bad records, a top-level error in
a response) raise `PeerError`; the caller drops that message and logs it, as
Kafka does.
"""

from __future__ import annotations

import base64
import sys
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from types import ModuleType
from typing import Any, Generic, TypeVar

from kio.schema.errors import ErrorCode

from kraft import kafka_uuid
from kraft.net.api_keys import ApiKey
from kraft.net.codec import request_type, response_type
from kraft.raft import messages as m
from kraft.raft.batches import MalformedBatch, decode_entries, encode_entries

METADATA_TOPIC = "__cluster_metadata"
METADATA_TOPIC_ID = uuid.UUID(int=1)  # Kafka's Topic.CLUSTER_METADATA_TOPIC_ID
METADATA_PARTITION = 0

Address = tuple[str, int]
Req = TypeVar("Req", bound=m.Request)
Resp = TypeVar("Resp", bound=m.Response)


class PeerError(Exception):
    """A peer's message does not fit the metadata partition or is malformed."""


@dataclass(frozen=True, slots=True)
class ResponseContext:
    """What a response codec may need besides the message: the version asked for,
    the time (record batch timestamps) and the voters' controller endpoints
    (DescribeQuorum v2's Nodes, so a tool that asked a non-leader finds the leader)."""

    version: int
    now_ms: int
    voter_endpoints: Mapping[int, Address]


@dataclass(frozen=True, slots=True)
class RaftRpc(Generic[Req, Resp]):
    """One raft RPC: key, versions, core message types and the codecs, together.

    The codec fields take the kio module of the version at hand (`build_*`:
    core -> kio; `read_*`: kio -> core, raising PeerError). Callers use the
    methods, which pick the module: requests we send use `max_version`;
    responses use the version of the request they answer.
    """

    name: str
    api_key: int
    min_version: int
    max_version: int
    request: type[Req]
    response: type[Resp]
    source: Callable[[Req], int]
    """The node a request comes from, as far as its fields tell (-1: a tool)."""
    build_request: Callable[[Req, ModuleType], Any]
    read_request: Callable[[Any], Req]
    build_response: Callable[[Resp, ModuleType, ResponseContext], Any]
    read_response: Callable[[Any], Resp]
    build_error: Callable[[ModuleType, int, ErrorCode, str | None], Any]
    """A top-level error response of a version, e.g. when no partition can be answered."""

    def request_to_kio(self, msg: Req) -> Any:
        """The kio request (newest version) for a core request."""
        return self.build_request(msg, _module(request_type(self.api_key, self.max_version)))

    def request_from_kio(self, req: Any) -> Req:
        """The core request for a decoded kio request. Raises PeerError."""
        return self.read_request(req)

    def response_to_kio(
        self, version: int, msg: Resp, now_ms: int,
        voter_endpoints: Mapping[int, Address] | None = None,
    ) -> Any:
        """The kio response of `version` for a core response."""
        ctx = ResponseContext(version, now_ms, voter_endpoints or {})
        return self.build_response(msg, _module(response_type(self.api_key, version)), ctx)

    def response_from_kio(self, resp: Any) -> Resp:
        """The core response for a decoded kio response. Raises PeerError."""
        if resp.error_code != ErrorCode.none:
            raise PeerError(f"{self.name}: top-level error {resp.error_code!r}")
        return self.read_response(resp)

    def error_response(self, version: int, error: ErrorCode, message: str | None = None) -> Any:
        """A top-level error response of `version`."""
        return self.build_error(_module(response_type(self.api_key, version)), version, error,
                                message)


def _module(cls: type | None) -> ModuleType:
    """The kio module of a (key, version), which holds its nested structs too."""
    assert cls is not None
    return sys.modules[cls.__module__]


def _only(items: Any, what: str) -> Any:
    """The single topic/partition entry of a metadata-partition message, checked
    to name `__cluster_metadata` (by name or topic id) and partition 0."""
    if len(items) != 1:
        raise PeerError(f"{what}: expected one entry for {METADATA_TOPIC}-0, got {len(items)}")
    item = items[0]
    for attr in ("topic_name", "name"):
        name = getattr(item, attr, METADATA_TOPIC)
        if isinstance(name, str) and name != METADATA_TOPIC:
            raise PeerError(f"{what}: topic {name!r} is not {METADATA_TOPIC}")
    for attr in ("partition_index", "partition", "index"):
        index = getattr(item, attr, METADATA_PARTITION)
        if isinstance(index, int) and index != METADATA_PARTITION:
            raise PeerError(f"{what}: partition {index} of {METADATA_TOPIC}")
    return item


def _partition(topics: Any, api: str) -> Any:
    """The one partition of a Vote/Begin/End/DescribeQuorum/FetchSnapshot message."""
    return _only(_only(topics, f"{api} topics").partitions, f"{api} partitions")


def _topics(mod: ModuleType, **partition: Any) -> tuple[Any, ...]:
    """`topics` naming __cluster_metadata-0 with these partition fields, for the RPCs
    whose structs are TopicData/PartitionData."""
    return (mod.TopicData(topic_name=METADATA_TOPIC, partitions=(
        mod.PartitionData(partition_index=METADATA_PARTITION, **partition),)),)


def _leader(p: Any) -> m.LeaderIdAndEpoch:
    return m.LeaderIdAndEpoch(leader_id=p.current_leader.leader_id,
                              leader_epoch=p.current_leader.leader_epoch)


def _kio_leader(mod: ModuleType, leader: m.LeaderIdAndEpoch) -> Any:
    return mod.LeaderIdAndEpoch(leader_id=leader.leader_id, leader_epoch=leader.leader_epoch)


# --- Fetch (1): v18, the topic by id (__cluster_metadata is 0...01) ---------------------------


def _fetch_request(msg: m.FetchRequest, mod: ModuleType) -> Any:
    return mod.FetchRequest(
        cluster_id=msg.cluster_id,
        replica_state=mod.ReplicaState(replica_id=msg.replica_id, replica_epoch=msg.replica_epoch),
        max_wait=timedelta(milliseconds=msg.max_wait_ms),
        min_bytes=0,
        max_bytes=msg.partition_max_bytes,
        isolation_level=0,
        session_id=0,
        session_epoch=-1,
        topics=(
            mod.FetchTopic(
                topic_id=METADATA_TOPIC_ID,
                partitions=(
                    mod.FetchPartition(
                        partition=METADATA_PARTITION,
                        current_leader_epoch=msg.current_leader_epoch,
                        fetch_offset=msg.fetch_offset,
                        last_fetched_epoch=msg.last_fetched_epoch,
                        log_start_offset=-1,
                        partition_max_bytes=msg.partition_max_bytes,
                        replica_directory_id=_uuid(msg.replica_directory_id),
                        high_watermark=msg.high_watermark,
                    ),
                ),
            ),
        ),
        forgotten_topics_data=(),
        rack_id="",
    )


def _read_fetch_request(req: Any) -> m.FetchRequest:
    topic = _only(req.topics, "Fetch topics")
    if topic.topic_id != METADATA_TOPIC_ID:
        raise PeerError(f"Fetch for topic id {topic.topic_id} on the controller listener")
    p = _only(topic.partitions, "Fetch partitions")
    return m.FetchRequest(
        cluster_id=req.cluster_id,
        replica_id=req.replica_state.replica_id,
        replica_epoch=req.replica_state.replica_epoch,
        max_wait_ms=int(req.max_wait.total_seconds() * 1000),
        current_leader_epoch=p.current_leader_epoch,
        fetch_offset=p.fetch_offset,
        last_fetched_epoch=p.last_fetched_epoch,
        partition_max_bytes=p.partition_max_bytes,
        high_watermark=p.high_watermark,
        replica_directory_id=_uuid_text(p.replica_directory_id),
    )


def _fetch_response(msg: m.FetchResponse, mod: ModuleType, ctx: ResponseContext) -> Any:
    part = mod.PartitionData(
        partition_index=METADATA_PARTITION,
        error_code=msg.error_code,
        high_watermark=msg.high_watermark,
        last_stable_offset=msg.high_watermark,
        log_start_offset=msg.log_start_offset,
        diverging_epoch=mod.EpochEndOffset(
            epoch=msg.diverging_epoch.epoch, end_offset=msg.diverging_epoch.end_offset
        ) if msg.diverging_epoch else mod.EpochEndOffset(epoch=-1, end_offset=-1),
        current_leader=_kio_leader(mod, msg.current_leader),
        snapshot_id=mod.SnapshotId(
            end_offset=msg.snapshot_id.end_offset, epoch=msg.snapshot_id.epoch
        ) if msg.snapshot_id else mod.SnapshotId(end_offset=-1, epoch=-1),
        aborted_transactions=None,
        preferred_read_replica=-1,
        records=encode_entries(msg.records, ctx.now_ms) if msg.records else None,
    )
    return mod.FetchResponse(
        throttle_time=timedelta(0),
        error_code=ErrorCode.none,
        session_id=0,
        responses=(mod.FetchableTopicResponse(topic_id=METADATA_TOPIC_ID, partitions=(part,)),),
    )


def _read_fetch_response(resp: Any) -> m.FetchResponse:
    p = _only(_only(resp.responses, "Fetch responses").partitions, "partitions")
    try:
        records = tuple(decode_entries(p.records)) if p.records else ()
    except MalformedBatch as e:
        raise PeerError(f"Fetch response records: {e}") from e
    return m.FetchResponse(
        error_code=p.error_code,
        high_watermark=p.high_watermark,
        log_start_offset=p.log_start_offset,
        current_leader=_leader(p),
        diverging_epoch=m.EpochEndOffset(epoch=p.diverging_epoch.epoch,
                                         end_offset=p.diverging_epoch.end_offset)
        if p.diverging_epoch.epoch >= 0 and p.diverging_epoch.end_offset >= 0 else None,
        snapshot_id=m.SnapshotId(end_offset=p.snapshot_id.end_offset, epoch=p.snapshot_id.epoch)
        if p.snapshot_id.end_offset >= 0 and p.snapshot_id.epoch >= 0 else None,
        records=records,
    )


FETCH: RaftRpc[m.FetchRequest, m.FetchResponse] = RaftRpc(
    name="Fetch", api_key=1, min_version=18, max_version=18,
    request=m.FetchRequest, response=m.FetchResponse,
    source=lambda r: r.replica_id,
    build_request=_fetch_request, read_request=_read_fetch_request,
    build_response=_fetch_response, read_response=_read_fetch_response,
    build_error=lambda mod, version, error, message: mod.FetchResponse(
        throttle_time=timedelta(0), error_code=error, session_id=0, responses=()),
)


# --- Vote (52): v2 carries PreVote (KIP-996) ---------------------------------------------------


def _vote_request(msg: m.VoteRequest, mod: ModuleType) -> Any:
    return mod.VoteRequest(
        cluster_id=msg.cluster_id,
        voter_id=msg.voter_id,
        topics=_topics(
            mod,
            replica_epoch=msg.replica_epoch,
            replica_id=msg.replica_id,
            replica_directory_id=_uuid(msg.candidate_directory_id),
            voter_directory_id=_uuid(msg.voter_directory_id),
            last_offset_epoch=msg.last_offset_epoch,
            last_offset=msg.last_offset,
            pre_vote=msg.pre_vote,
        ),
    )


def _read_vote_request(req: Any) -> m.VoteRequest:
    p = _partition(req.topics, "Vote")
    return m.VoteRequest(
        cluster_id=req.cluster_id,
        voter_id=req.voter_id,
        replica_epoch=p.replica_epoch,
        replica_id=p.replica_id,
        last_offset_epoch=p.last_offset_epoch,
        last_offset=p.last_offset,
        pre_vote=p.pre_vote,
        voter_directory_id=_uuid_text(p.voter_directory_id),
        candidate_directory_id=_uuid_text(p.replica_directory_id),
    )


def _vote_response(msg: m.VoteResponse, mod: ModuleType, ctx: ResponseContext) -> Any:
    return mod.VoteResponse(error_code=ErrorCode.none, topics=_topics(
        mod, error_code=msg.error_code, leader_id=msg.leader_id, leader_epoch=msg.leader_epoch,
        vote_granted=msg.vote_granted,
    ))


def _read_vote_response(resp: Any) -> m.VoteResponse:
    p = _partition(resp.topics, "Vote")
    return m.VoteResponse(error_code=p.error_code, leader_id=p.leader_id,
                          leader_epoch=p.leader_epoch, vote_granted=p.vote_granted)


VOTE: RaftRpc[m.VoteRequest, m.VoteResponse] = RaftRpc(
    name="Vote", api_key=52, min_version=2, max_version=2,
    request=m.VoteRequest, response=m.VoteResponse,
    source=lambda r: r.replica_id,
    build_request=_vote_request, read_request=_read_vote_request,
    build_response=_vote_response, read_response=_read_vote_response,
    build_error=lambda mod, version, error, message: mod.VoteResponse(error_code=error, topics=()),
)


# --- BeginQuorumEpoch (53): v1 ------------------------------------------------------------------


def _begin_request(msg: m.BeginQuorumEpochRequest, mod: ModuleType) -> Any:
    return mod.BeginQuorumEpochRequest(
        cluster_id=msg.cluster_id,
        voter_id=msg.voter_id,
        topics=_topics(mod, voter_directory_id=_uuid(msg.voter_directory_id),
                       leader_id=msg.leader_id,
                       leader_epoch=msg.leader_epoch),
        leader_endpoints=(),
    )


def _read_begin_request(req: Any) -> m.BeginQuorumEpochRequest:
    p = _partition(req.topics, "BeginQuorumEpoch")
    return m.BeginQuorumEpochRequest(cluster_id=req.cluster_id, voter_id=req.voter_id,
                                     leader_id=p.leader_id, leader_epoch=p.leader_epoch,
                                     voter_directory_id=_uuid_text(p.voter_directory_id))


def _begin_response(msg: m.BeginQuorumEpochResponse, mod: ModuleType,
                    ctx: ResponseContext) -> Any:
    return mod.BeginQuorumEpochResponse(error_code=ErrorCode.none, topics=_topics(
        mod, error_code=msg.error_code, leader_id=msg.leader_id, leader_epoch=msg.leader_epoch,
    ))


def _read_begin_response(resp: Any) -> m.BeginQuorumEpochResponse:
    p = _partition(resp.topics, "BeginQuorumEpoch")
    return m.BeginQuorumEpochResponse(error_code=p.error_code, leader_id=p.leader_id,
                                      leader_epoch=p.leader_epoch)


BEGIN_QUORUM_EPOCH: RaftRpc[m.BeginQuorumEpochRequest, m.BeginQuorumEpochResponse] = RaftRpc(
    name="BeginQuorumEpoch", api_key=53, min_version=1, max_version=1,
    request=m.BeginQuorumEpochRequest, response=m.BeginQuorumEpochResponse,
    source=lambda r: r.leader_id,
    build_request=_begin_request, read_request=_read_begin_request,
    build_response=_begin_response, read_response=_read_begin_response,
    build_error=lambda mod, version, error, message: mod.BeginQuorumEpochResponse(
        error_code=error, topics=()),
)


# --- EndQuorumEpoch (54): v1 --------------------------------------------------------------------


def _end_request(msg: m.EndQuorumEpochRequest, mod: ModuleType) -> Any:
    return mod.EndQuorumEpochRequest(
        cluster_id=msg.cluster_id,
        topics=_topics(
            mod,
            leader_id=msg.leader_id,
            leader_epoch=msg.leader_epoch,
            preferred_candidates=tuple(
                mod.ReplicaInfo(candidate_id=c, candidate_directory_id=None)
                for c in msg.preferred_candidates
            ),
        ),
        leader_endpoints=(),
    )


def _read_end_request(req: Any) -> m.EndQuorumEpochRequest:
    p = _partition(req.topics, "EndQuorumEpoch")
    return m.EndQuorumEpochRequest(
        cluster_id=req.cluster_id,
        leader_id=p.leader_id,
        leader_epoch=p.leader_epoch,
        preferred_candidates=tuple(c.candidate_id for c in p.preferred_candidates),
    )


def _end_response(msg: m.EndQuorumEpochResponse, mod: ModuleType, ctx: ResponseContext) -> Any:
    return mod.EndQuorumEpochResponse(error_code=ErrorCode.none, topics=_topics(
        mod, error_code=msg.error_code, leader_id=msg.leader_id, leader_epoch=msg.leader_epoch,
    ))


def _read_end_response(resp: Any) -> m.EndQuorumEpochResponse:
    p = _partition(resp.topics, "EndQuorumEpoch")
    return m.EndQuorumEpochResponse(error_code=p.error_code, leader_id=p.leader_id,
                                    leader_epoch=p.leader_epoch)


END_QUORUM_EPOCH: RaftRpc[m.EndQuorumEpochRequest, m.EndQuorumEpochResponse] = RaftRpc(
    name="EndQuorumEpoch", api_key=54, min_version=1, max_version=1,
    request=m.EndQuorumEpochRequest, response=m.EndQuorumEpochResponse,
    source=lambda r: r.leader_id,
    build_request=_end_request, read_request=_read_end_request,
    build_response=_end_response, read_response=_read_end_response,
    build_error=lambda mod, version, error, message: mod.EndQuorumEpochResponse(
        error_code=error, topics=()),
)


# --- DescribeQuorum (55): v0-2 (v1+ timestamps, v2 nodes); tools ask it too ---------------------


def _describe_request(msg: m.DescribeQuorumRequest, mod: ModuleType) -> Any:
    return mod.DescribeQuorumRequest(topics=_topics(mod))


def _describe_response(msg: m.DescribeQuorumResponse, mod: ModuleType,
                       ctx: ResponseContext) -> Any:
    version = ctx.version

    def state(r: m.ReplicaState) -> Any:
        kwargs: dict[str, Any] = {"replica_id": r.replica_id, "log_end_offset": r.log_end_offset}
        if version >= 1:
            kwargs.update(last_fetch_timestamp=r.last_fetch_timestamp,
                          last_caught_up_timestamp=r.last_caught_up_timestamp)
        if version >= 2:
            kwargs.update(replica_directory_id=_uuid(r.replica_directory_id))
        return mod.ReplicaState(**kwargs)

    pkw: dict[str, Any] = dict(
        error_code=msg.error_code, leader_id=msg.leader_id, leader_epoch=msg.leader_epoch,
        high_watermark=msg.high_watermark,
        current_voters=tuple(state(r) for r in msg.current_voters),
        observers=tuple(state(r) for r in msg.observers),
    )
    top: dict[str, Any] = {"error_code": ErrorCode.none}
    if version >= 2:
        # Kafka answers "" where there is no message, at both levels.
        pkw["error_message"] = msg.error_message or ""
        top.update(error_message="", nodes=tuple(
            mod.Node(node_id=node_id,
                     listeners=(mod.Listener(name="CONTROLLER", host=host, port=port),))
            for node_id, (host, port) in sorted(ctx.voter_endpoints.items())
        ))
    return mod.DescribeQuorumResponse(topics=_topics(mod, **pkw), **top)


def _read_describe_response(resp: Any) -> m.DescribeQuorumResponse:
    p = _partition(resp.topics, "DescribeQuorum")

    def state(r: Any) -> m.ReplicaState:
        return m.ReplicaState(
            replica_id=r.replica_id, log_end_offset=r.log_end_offset,
            replica_directory_id=_uuid_text(getattr(r, "replica_directory_id", None)),
            last_fetch_timestamp=getattr(r, "last_fetch_timestamp", -1),
            last_caught_up_timestamp=getattr(r, "last_caught_up_timestamp", -1),
        )

    return m.DescribeQuorumResponse(
        error_code=p.error_code,
        error_message=getattr(p, "error_message", None) or None,  # "" is no message
        leader_id=p.leader_id,
        leader_epoch=p.leader_epoch,
        high_watermark=p.high_watermark,
        current_voters=tuple(state(r) for r in p.current_voters),
        observers=tuple(state(r) for r in p.observers),
    )


def _describe_error(mod: ModuleType, version: int, error: ErrorCode, message: str | None) -> Any:
    kwargs: dict[str, Any] = {"error_code": error, "topics": ()}
    if version >= 2:
        kwargs.update(error_message=message, nodes=())
    return mod.DescribeQuorumResponse(**kwargs)


def describe_quorum_elsewhere(version: int, req: Any) -> Any | None:
    """Kafka's answer to a DescribeQuorum naming anything but __cluster_metadata-0
    (KafkaRaftClient: every partition asked, UNKNOWN_TOPIC_OR_PARTITION, with the
    error's message); None when the request asks for the metadata partition."""
    asked = [(t.topic_name, p.partition_index) for t in req.topics for p in t.partitions]
    if asked == [(METADATA_TOPIC, METADATA_PARTITION)]:
        return None
    mod = sys.modules[response_type(ApiKey.DESCRIBE_QUORUM, version).__module__]
    partition: dict[str, Any] = {"error_code": ErrorCode.unknown_topic_or_partition,
                                 "leader_id": 0, "leader_epoch": 0, "high_watermark": 0,
                                 "current_voters": (), "observers": ()}
    top: dict[str, Any] = {"error_code": ErrorCode.none}
    if version >= 2:
        partition["error_message"] = "This server does not host this topic-partition."
        top.update(error_message="", nodes=())
    return mod.DescribeQuorumResponse(topics=tuple(
        mod.TopicData(topic_name=t.topic_name, partitions=tuple(
            mod.PartitionData(partition_index=p.partition_index, **partition)
            for p in t.partitions))
        for t in req.topics), **top)


DESCRIBE_QUORUM: RaftRpc[m.DescribeQuorumRequest, m.DescribeQuorumResponse] = RaftRpc(
    name="DescribeQuorum", api_key=55, min_version=0, max_version=2,
    request=m.DescribeQuorumRequest, response=m.DescribeQuorumResponse,
    source=lambda r: -1,
    build_request=_describe_request, read_request=lambda req: m.DescribeQuorumRequest(),
    build_response=_describe_response, read_response=_read_describe_response,
    build_error=_describe_error,
)


# --- FetchSnapshot (59): v1 ---------------------------------------------------------------------


def _fetch_snapshot_request(msg: m.FetchSnapshotRequest, mod: ModuleType) -> Any:
    return mod.FetchSnapshotRequest(
        cluster_id=msg.cluster_id,
        replica_id=msg.replica_id,
        max_bytes=msg.max_bytes,
        topics=(
            mod.TopicSnapshot(
                name=METADATA_TOPIC,
                partitions=(
                    mod.PartitionSnapshot(
                        partition=METADATA_PARTITION,
                        current_leader_epoch=msg.current_leader_epoch,
                        snapshot_id=mod.SnapshotId(
                            end_offset=msg.snapshot_id.end_offset,
                            epoch=msg.snapshot_id.epoch,
                        ),
                        position=msg.position,
                        replica_directory_id=None,
                    ),
                ),
            ),
        ),
    )


def _read_fetch_snapshot_request(req: Any) -> m.FetchSnapshotRequest:
    p = _partition(req.topics, "FetchSnapshot")
    return m.FetchSnapshotRequest(
        cluster_id=req.cluster_id,
        replica_id=req.replica_id,
        max_bytes=req.max_bytes,
        current_leader_epoch=p.current_leader_epoch,
        snapshot_id=m.SnapshotId(end_offset=p.snapshot_id.end_offset, epoch=p.snapshot_id.epoch),
        position=p.position,
    )


def _fetch_snapshot_response(msg: m.FetchSnapshotResponse, mod: ModuleType,
                             ctx: ResponseContext) -> Any:
    part = mod.PartitionSnapshot(
        index=METADATA_PARTITION,
        error_code=msg.error_code,
        snapshot_id=mod.SnapshotId(end_offset=msg.snapshot_id.end_offset,
                                   epoch=msg.snapshot_id.epoch),
        current_leader=_kio_leader(mod, msg.current_leader),
        size=msg.size,
        position=msg.position,
        unaligned_records=msg.unaligned_records,
    )
    return mod.FetchSnapshotResponse(
        throttle_time=timedelta(0),
        error_code=ErrorCode.none,
        topics=(mod.TopicSnapshot(name=METADATA_TOPIC, partitions=(part,)),),
    )


def _read_fetch_snapshot_response(resp: Any) -> m.FetchSnapshotResponse:
    p = _partition(resp.topics, "FetchSnapshot")
    return m.FetchSnapshotResponse(
        error_code=p.error_code,
        snapshot_id=m.SnapshotId(end_offset=p.snapshot_id.end_offset, epoch=p.snapshot_id.epoch),
        current_leader=_leader(p),
        size=p.size,
        position=p.position,
        unaligned_records=bytes(p.unaligned_records or b""),
    )


FETCH_SNAPSHOT: RaftRpc[m.FetchSnapshotRequest, m.FetchSnapshotResponse] = RaftRpc(
    name="FetchSnapshot", api_key=59, min_version=1, max_version=1,
    request=m.FetchSnapshotRequest, response=m.FetchSnapshotResponse,
    source=lambda r: r.replica_id,
    build_request=_fetch_snapshot_request, read_request=_read_fetch_snapshot_request,
    build_response=_fetch_snapshot_response, read_response=_read_fetch_snapshot_response,
    build_error=lambda mod, version, error, message: mod.FetchSnapshotResponse(
        throttle_time=timedelta(0), error_code=error, topics=()),
)


# --- AddRaftVoter (80) v1, RemoveRaftVoter (81) v0, UpdateRaftVoter (82) v0: KIP-853 ------------


def _uuid(text: str | None) -> uuid.UUID | None:
    return None if text is None else uuid.UUID(bytes=base64.urlsafe_b64decode(text + "=="))


def _uuid_text(value: uuid.UUID | None) -> str | None:
    return None if value is None or value.int == 0 else kafka_uuid.encode(value)


def _listeners(mod: ModuleType, listeners: tuple[tuple[str, str, int], ...]) -> tuple[Any, ...]:
    return tuple(mod.Listener(name=n, host=h, port=p) for n, h, p in listeners)


def _read_listeners(listeners: Any) -> tuple[tuple[str, str, int], ...]:
    return tuple((lst.name, lst.host, int(lst.port)) for lst in listeners)


def _change_response(mod: ModuleType, cls_name: str, error: ErrorCode,
                     message: str | None) -> Any:
    return getattr(mod, cls_name)(throttle_time=timedelta(0), error_code=error,
                                  error_message=message)


ADD_RAFT_VOTER: RaftRpc[m.AddRaftVoterRequest, m.AddRaftVoterResponse] = RaftRpc(
    name="AddRaftVoter", api_key=80, min_version=0, max_version=1,
    request=m.AddRaftVoterRequest, response=m.AddRaftVoterResponse,
    source=lambda r: -1,
    build_request=lambda msg, mod: mod.AddRaftVoterRequest(
        cluster_id=msg.cluster_id, timeout=timedelta(milliseconds=msg.timeout_ms),
        voter_id=msg.voter_id, voter_directory_id=_uuid(msg.voter_directory_id),
        listeners=_listeners(mod, msg.listeners), ack_when_committed=msg.ack_when_committed),
    read_request=lambda req: m.AddRaftVoterRequest(
        cluster_id=req.cluster_id, timeout_ms=int(req.timeout.total_seconds() * 1000),
        voter_id=req.voter_id, voter_directory_id=_uuid_text(req.voter_directory_id),
        listeners=_read_listeners(req.listeners),
        ack_when_committed=getattr(req, "ack_when_committed", True)),  # v0: always
    build_response=lambda msg, mod, ctx: _change_response(
        mod, "AddRaftVoterResponse", msg.error_code, msg.error_message),
    read_response=lambda resp: m.AddRaftVoterResponse(
        error_code=resp.error_code, error_message=resp.error_message),
    build_error=lambda mod, version, error, message: _change_response(
        mod, "AddRaftVoterResponse", error, message),
)

REMOVE_RAFT_VOTER: RaftRpc[m.RemoveRaftVoterRequest, m.RemoveRaftVoterResponse] = RaftRpc(
    name="RemoveRaftVoter", api_key=81, min_version=0, max_version=0,
    request=m.RemoveRaftVoterRequest, response=m.RemoveRaftVoterResponse,
    source=lambda r: -1,
    build_request=lambda msg, mod: mod.RemoveRaftVoterRequest(
        cluster_id=msg.cluster_id, voter_id=msg.voter_id,
        voter_directory_id=_uuid(msg.voter_directory_id)),
    read_request=lambda req: m.RemoveRaftVoterRequest(
        cluster_id=req.cluster_id, voter_id=req.voter_id,
        voter_directory_id=_uuid_text(req.voter_directory_id)),
    build_response=lambda msg, mod, ctx: _change_response(
        mod, "RemoveRaftVoterResponse", msg.error_code, msg.error_message),
    read_response=lambda resp: m.RemoveRaftVoterResponse(
        error_code=resp.error_code, error_message=resp.error_message),
    build_error=lambda mod, version, error, message: _change_response(
        mod, "RemoveRaftVoterResponse", error, message),
)


def _update_response(msg: m.UpdateRaftVoterResponse, mod: ModuleType,
                     ctx: ResponseContext) -> Any:
    leader = msg.current_leader
    host, port = ctx.voter_endpoints.get(leader.leader_id, ("", 0))
    return mod.UpdateRaftVoterResponse(
        throttle_time=timedelta(0), error_code=msg.error_code,
        current_leader=mod.CurrentLeader(leader_id=leader.leader_id,
                                         leader_epoch=leader.leader_epoch, host=host, port=port))


UPDATE_RAFT_VOTER: RaftRpc[m.UpdateRaftVoterRequest, m.UpdateRaftVoterResponse] = RaftRpc(
    name="UpdateRaftVoter", api_key=82, min_version=0, max_version=0,
    request=m.UpdateRaftVoterRequest, response=m.UpdateRaftVoterResponse,
    source=lambda r: r.voter_id,
    build_request=lambda msg, mod: mod.UpdateRaftVoterRequest(
        cluster_id=msg.cluster_id, current_leader_epoch=msg.current_leader_epoch,
        voter_id=msg.voter_id, voter_directory_id=_uuid(msg.voter_directory_id),
        listeners=_listeners(mod, msg.listeners),
        k_raft_version_feature=mod.KRaftVersionFeature(
            min_supported_version=msg.min_supported_version,
            max_supported_version=msg.max_supported_version)),
    read_request=lambda req: m.UpdateRaftVoterRequest(
        cluster_id=req.cluster_id, current_leader_epoch=req.current_leader_epoch,
        voter_id=req.voter_id, voter_directory_id=_uuid_text(req.voter_directory_id),
        listeners=_read_listeners(req.listeners),
        min_supported_version=req.k_raft_version_feature.min_supported_version,
        max_supported_version=req.k_raft_version_feature.max_supported_version),
    build_response=_update_response,
    read_response=lambda resp: m.UpdateRaftVoterResponse(
        error_code=resp.error_code, current_leader=m.LeaderIdAndEpoch(
            leader_id=resp.current_leader.leader_id,
            leader_epoch=resp.current_leader.leader_epoch)),
    build_error=lambda mod, version, error, message: mod.UpdateRaftVoterResponse(
        throttle_time=timedelta(0), error_code=error,
        current_leader=mod.CurrentLeader(leader_id=-1, leader_epoch=-1, host="", port=0)),
)


# --- the table ------------------------------------------------------------------------------------

RPCS: tuple[RaftRpc[Any, Any], ...] = (
    FETCH, VOTE, BEGIN_QUORUM_EPOCH, END_QUORUM_EPOCH, DESCRIBE_QUORUM, FETCH_SNAPSHOT,
    ADD_RAFT_VOTER, REMOVE_RAFT_VOTER, UPDATE_RAFT_VOTER,
)
BY_KEY: Mapping[int, RaftRpc[Any, Any]] = {rpc.api_key: rpc for rpc in RPCS}
_BY_REQUEST: Mapping[type, RaftRpc[Any, Any]] = {rpc.request: rpc for rpc in RPCS}


def for_request(msg: m.Request) -> RaftRpc[Any, Any]:
    """The declaration of the RPC a core request belongs to."""
    return _BY_REQUEST[type(msg)]


def error_response(api_key: int, version: int, error: ErrorCode, message: str | None = None) -> Any:
    """A top-level error response of a raft RPC by key (the controller's forwarding
    answers DescribeQuorum with it)."""
    return BY_KEY[api_key].error_response(version, error, message)
