"""Mapping between the core's messages and Kafka's wire messages (kio).

The core's messages (`kraft.raft.messages`) are Kafka's RPCs flattened to the
one partition `__cluster_metadata-0`; this module nests them back into
topics/partitions and fills in what the wire needs. Versions, fixed because
both ends of these RPCs are kraft nodes (DescribeQuorum also answers tools):

| API                 | key | versions | notes                                   |
| ------------------- | --- | -------- | --------------------------------------- |
| Fetch               | 1   | 18       | topic id of __cluster_metadata = 0...01 |
| Vote                | 52  | 2        | v2 carries PreVote (KIP-996)            |
| BeginQuorumEpoch    | 53  | 1        |                                         |
| EndQuorumEpoch      | 54  | 1        |                                         |
| DescribeQuorum      | 55  | 0-2      | v1+ timestamps, v2 nodes                |
| FetchSnapshot       | 59  | 1        |                                         |

Records travel as Kafka v2 record batches (`kraft.raft.batches`). Optional
structs Kafka encodes with -1 sentinels (DivergingEpoch, SnapshotId) map to
None. Directory ids are not used (static voters; KIP-853 is not built), and
endpoint lists are empty: every node knows the voters from its config.

Malformed peer messages (wrong partition, bad records) raise `PeerError`;
the caller drops that message and logs it, as Kafka does.
"""

from __future__ import annotations

import sys
import uuid
from datetime import timedelta
from types import ModuleType
from typing import Any

from kio.schema.errors import ErrorCode

from kraft.net.codec import request_type, response_type
from kraft.raft import messages as m
from kraft.raft.batches import MalformedBatch, decode_entries, encode_entries

METADATA_TOPIC = "__cluster_metadata"
METADATA_TOPIC_ID = uuid.UUID(int=1)  # Kafka's Topic.CLUSTER_METADATA_TOPIC_ID
METADATA_PARTITION = 0

FETCH, VOTE, BEGIN, END, DESCRIBE, FETCH_SNAPSHOT = 1, 52, 53, 54, 55, 59
VERSIONS: dict[int, tuple[int, int]] = {
    FETCH: (18, 18),
    VOTE: (2, 2),
    BEGIN: (1, 1),
    END: (1, 1),
    DESCRIBE: (0, 2),
    FETCH_SNAPSHOT: (1, 1),
}


class PeerError(Exception):
    """A peer's message does not fit the metadata partition or is malformed."""


def _req(key: int, version: int) -> ModuleType:
    cls = request_type(key, version)
    assert cls is not None
    return sys.modules[cls.__module__]


def _resp(key: int, version: int) -> ModuleType:
    cls = response_type(key, version)
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


# --- requests: core -> kio -------------------------------------------------


def request_to_kio(msg: m.Request, now_ms: int) -> Any:
    """The kio request for a core request (highest version in VERSIONS)."""
    if isinstance(msg, m.FetchRequest):
        mod = _req(FETCH, 18)
        return mod.FetchRequest(
            cluster_id=msg.cluster_id,
            replica_state=mod.ReplicaState(
                replica_id=msg.replica_id, replica_epoch=msg.replica_epoch
            ),
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
                            replica_directory_id=None,
                            high_watermark=msg.high_watermark,
                        ),
                    ),
                ),
            ),
            forgotten_topics_data=(),
            rack_id="",
        )
    if isinstance(msg, m.VoteRequest):
        mod = _req(VOTE, 2)
        return mod.VoteRequest(
            cluster_id=msg.cluster_id,
            voter_id=msg.voter_id,
            topics=(
                mod.TopicData(
                    topic_name=METADATA_TOPIC,
                    partitions=(
                        mod.PartitionData(
                            partition_index=METADATA_PARTITION,
                            replica_epoch=msg.replica_epoch,
                            replica_id=msg.replica_id,
                            replica_directory_id=None,
                            voter_directory_id=None,
                            last_offset_epoch=msg.last_offset_epoch,
                            last_offset=msg.last_offset,
                            pre_vote=msg.pre_vote,
                        ),
                    ),
                ),
            ),
        )
    if isinstance(msg, m.BeginQuorumEpochRequest):
        mod = _req(BEGIN, 1)
        return mod.BeginQuorumEpochRequest(
            cluster_id=msg.cluster_id,
            voter_id=msg.voter_id,
            topics=(
                mod.TopicData(
                    topic_name=METADATA_TOPIC,
                    partitions=(
                        mod.PartitionData(
                            partition_index=METADATA_PARTITION,
                            voter_directory_id=None,
                            leader_id=msg.leader_id,
                            leader_epoch=msg.leader_epoch,
                        ),
                    ),
                ),
            ),
            leader_endpoints=(),
        )
    if isinstance(msg, m.EndQuorumEpochRequest):
        mod = _req(END, 1)
        return mod.EndQuorumEpochRequest(
            cluster_id=msg.cluster_id,
            topics=(
                mod.TopicData(
                    topic_name=METADATA_TOPIC,
                    partitions=(
                        mod.PartitionData(
                            partition_index=METADATA_PARTITION,
                            leader_id=msg.leader_id,
                            leader_epoch=msg.leader_epoch,
                            preferred_candidates=tuple(
                                mod.ReplicaInfo(candidate_id=c, candidate_directory_id=None)
                                for c in msg.preferred_candidates
                            ),
                        ),
                    ),
                ),
            ),
            leader_endpoints=(),
        )
    if isinstance(msg, m.FetchSnapshotRequest):
        mod = _req(FETCH_SNAPSHOT, 1)
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
    if isinstance(msg, m.DescribeQuorumRequest):
        mod = _req(DESCRIBE, 2)
        return mod.DescribeQuorumRequest(
            topics=(
                mod.TopicData(
                    topic_name=METADATA_TOPIC,
                    partitions=(mod.PartitionData(partition_index=METADATA_PARTITION),),
                ),
            ),
        )
    raise AssertionError(f"not a request: {msg!r}")


# --- requests: kio -> core -------------------------------------------------


def request_from_kio(api_key: int, req: Any) -> m.Request:
    """The core request for a decoded kio request. Raises PeerError."""
    if api_key == FETCH:
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
        )
    if api_key == VOTE:
        p = _only(_only(req.topics, "Vote topics").partitions, "Vote partitions")
        return m.VoteRequest(
            cluster_id=req.cluster_id,
            voter_id=req.voter_id,
            replica_epoch=p.replica_epoch,
            replica_id=p.replica_id,
            last_offset_epoch=p.last_offset_epoch,
            last_offset=p.last_offset,
            pre_vote=p.pre_vote,
        )
    if api_key == BEGIN:
        p = _only(_only(req.topics, "BeginQuorumEpoch topics").partitions, "partitions")
        return m.BeginQuorumEpochRequest(
            cluster_id=req.cluster_id,
            voter_id=req.voter_id,
            leader_id=p.leader_id,
            leader_epoch=p.leader_epoch,
        )
    if api_key == END:
        p = _only(_only(req.topics, "EndQuorumEpoch topics").partitions, "partitions")
        return m.EndQuorumEpochRequest(
            cluster_id=req.cluster_id,
            leader_id=p.leader_id,
            leader_epoch=p.leader_epoch,
            preferred_candidates=tuple(c.candidate_id for c in p.preferred_candidates),
        )
    if api_key == FETCH_SNAPSHOT:
        p = _only(_only(req.topics, "FetchSnapshot topics").partitions, "partitions")
        return m.FetchSnapshotRequest(
            cluster_id=req.cluster_id,
            replica_id=req.replica_id,
            max_bytes=req.max_bytes,
            current_leader_epoch=p.current_leader_epoch,
            snapshot_id=m.SnapshotId(
                end_offset=p.snapshot_id.end_offset, epoch=p.snapshot_id.epoch
            ),
            position=p.position,
        )
    if api_key == DESCRIBE:
        return m.DescribeQuorumRequest()
    raise AssertionError(f"api key {api_key} is not a raft RPC")


# --- responses: core -> kio ------------------------------------------------


def error_response(api_key: int, version: int, error: ErrorCode, message: str | None = None) -> Any:
    """A top-level error response, e.g. when no partition can be answered."""
    mod = _resp(api_key, version)
    if api_key == FETCH:
        return mod.FetchResponse(throttle_time=timedelta(0), error_code=error, session_id=0,
                                 responses=())
    if api_key == VOTE:
        return mod.VoteResponse(error_code=error, topics=())
    if api_key == BEGIN:
        return mod.BeginQuorumEpochResponse(error_code=error, topics=())
    if api_key == END:
        return mod.EndQuorumEpochResponse(error_code=error, topics=())
    if api_key == FETCH_SNAPSHOT:
        return mod.FetchSnapshotResponse(throttle_time=timedelta(0), error_code=error, topics=())
    if api_key == DESCRIBE:
        kwargs: dict[str, Any] = {"error_code": error, "topics": ()}
        if version >= 2:
            kwargs.update(error_message=message, nodes=())
        return mod.DescribeQuorumResponse(**kwargs)
    raise AssertionError(f"api key {api_key} is not a raft RPC")


def response_to_kio(
    api_key: int,
    version: int,
    msg: m.Response,
    now_ms: int,
    voter_endpoints: dict[int, tuple[str, int]] | None = None,
) -> Any:
    """The kio response (of the request's version) for a core response.

    `voter_endpoints` fills DescribeQuorum v2's Nodes (listener CONTROLLER),
    so a tool that asked a non-leader can find the leader."""
    mod = _resp(api_key, version)
    if isinstance(msg, m.FetchResponse):
        part = mod.PartitionData(
            partition_index=METADATA_PARTITION,
            error_code=msg.error_code,
            high_watermark=msg.high_watermark,
            last_stable_offset=msg.high_watermark,
            log_start_offset=msg.log_start_offset,
            diverging_epoch=mod.EpochEndOffset(
                epoch=msg.diverging_epoch.epoch, end_offset=msg.diverging_epoch.end_offset
            ) if msg.diverging_epoch else mod.EpochEndOffset(epoch=-1, end_offset=-1),
            current_leader=mod.LeaderIdAndEpoch(
                leader_id=msg.current_leader.leader_id,
                leader_epoch=msg.current_leader.leader_epoch,
            ),
            snapshot_id=mod.SnapshotId(
                end_offset=msg.snapshot_id.end_offset, epoch=msg.snapshot_id.epoch
            ) if msg.snapshot_id else mod.SnapshotId(end_offset=-1, epoch=-1),
            aborted_transactions=None,
            preferred_read_replica=-1,
            records=encode_entries(msg.records, now_ms) if msg.records else None,
        )
        return mod.FetchResponse(
            throttle_time=timedelta(0),
            error_code=ErrorCode.none,
            session_id=0,
            responses=(mod.FetchableTopicResponse(topic_id=METADATA_TOPIC_ID, partitions=(part,)),),
        )
    if isinstance(msg, m.VoteResponse):
        part = mod.PartitionData(
            partition_index=METADATA_PARTITION, error_code=msg.error_code,
            leader_id=msg.leader_id, leader_epoch=msg.leader_epoch, vote_granted=msg.vote_granted,
        )
        return mod.VoteResponse(
            error_code=ErrorCode.none,
            topics=(mod.TopicData(topic_name=METADATA_TOPIC, partitions=(part,)),),
        )
    if isinstance(msg, m.BeginQuorumEpochResponse | m.EndQuorumEpochResponse):
        part = mod.PartitionData(
            partition_index=METADATA_PARTITION, error_code=msg.error_code,
            leader_id=msg.leader_id, leader_epoch=msg.leader_epoch,
        )
        cls = (mod.BeginQuorumEpochResponse if isinstance(msg, m.BeginQuorumEpochResponse)
               else mod.EndQuorumEpochResponse)
        return cls(
            error_code=ErrorCode.none,
            topics=(mod.TopicData(topic_name=METADATA_TOPIC, partitions=(part,)),),
        )
    if isinstance(msg, m.FetchSnapshotResponse):
        part = mod.PartitionSnapshot(
            index=METADATA_PARTITION,
            error_code=msg.error_code,
            snapshot_id=mod.SnapshotId(end_offset=msg.snapshot_id.end_offset,
                                       epoch=msg.snapshot_id.epoch),
            current_leader=mod.LeaderIdAndEpoch(
                leader_id=msg.current_leader.leader_id,
                leader_epoch=msg.current_leader.leader_epoch,
            ),
            size=msg.size,
            position=msg.position,
            unaligned_records=msg.unaligned_records,
        )
        return mod.FetchSnapshotResponse(
            throttle_time=timedelta(0),
            error_code=ErrorCode.none,
            topics=(mod.TopicSnapshot(name=METADATA_TOPIC, partitions=(part,)),),
        )
    if isinstance(msg, m.DescribeQuorumResponse):
        def state(r: m.ReplicaState) -> Any:
            kwargs: dict[str, Any] = {"replica_id": r.replica_id,
                                      "log_end_offset": r.log_end_offset}
            if version >= 1:
                kwargs.update(last_fetch_timestamp=r.last_fetch_timestamp,
                              last_caught_up_timestamp=r.last_caught_up_timestamp)
            if version >= 2:
                kwargs.update(replica_directory_id=None)
            return mod.ReplicaState(**kwargs)

        pkw: dict[str, Any] = dict(
            partition_index=METADATA_PARTITION, error_code=msg.error_code,
            leader_id=msg.leader_id, leader_epoch=msg.leader_epoch,
            high_watermark=msg.high_watermark,
            current_voters=tuple(state(r) for r in msg.current_voters),
            observers=tuple(state(r) for r in msg.observers),
        )
        top: dict[str, Any] = {"error_code": ErrorCode.none}
        if version >= 2:
            pkw["error_message"] = msg.error_message
            top.update(error_message=None, nodes=tuple(
                mod.Node(node_id=node_id,
                         listeners=(mod.Listener(name="CONTROLLER", host=host, port=port),))
                for node_id, (host, port) in sorted((voter_endpoints or {}).items())
            ))
        return mod.DescribeQuorumResponse(
            topics=(mod.TopicData(topic_name=METADATA_TOPIC,
                                  partitions=(mod.PartitionData(**pkw),)),),
            **top,
        )
    raise AssertionError(f"not a response: {msg!r}")


# --- responses: kio -> core ------------------------------------------------


def response_from_kio(api_key: int, resp: Any) -> m.Response:
    """The core response for a decoded kio response. Raises PeerError."""
    if resp.error_code != ErrorCode.none:
        raise PeerError(f"api {api_key}: top-level error {resp.error_code!r}")
    if api_key == FETCH:
        p = _only(_only(resp.responses, "Fetch responses").partitions, "partitions")
        try:
            records = tuple(decode_entries(p.records)) if p.records else ()
        except MalformedBatch as e:
            raise PeerError(f"Fetch response records: {e}") from e
        return m.FetchResponse(
            error_code=p.error_code,
            high_watermark=p.high_watermark,
            log_start_offset=p.log_start_offset,
            current_leader=m.LeaderIdAndEpoch(leader_id=p.current_leader.leader_id,
                                              leader_epoch=p.current_leader.leader_epoch),
            diverging_epoch=m.EpochEndOffset(epoch=p.diverging_epoch.epoch,
                                             end_offset=p.diverging_epoch.end_offset)
            if p.diverging_epoch.epoch >= 0 and p.diverging_epoch.end_offset >= 0 else None,
            snapshot_id=m.SnapshotId(end_offset=p.snapshot_id.end_offset,
                                     epoch=p.snapshot_id.epoch)
            if p.snapshot_id.end_offset >= 0 and p.snapshot_id.epoch >= 0 else None,
            records=records,
        )
    if api_key == VOTE:
        p = _only(_only(resp.topics, "Vote topics").partitions, "partitions")
        return m.VoteResponse(error_code=p.error_code, leader_id=p.leader_id,
                              leader_epoch=p.leader_epoch, vote_granted=p.vote_granted)
    if api_key in (BEGIN, END):
        p = _only(_only(resp.topics, "topics").partitions, "partitions")
        cls = m.BeginQuorumEpochResponse if api_key == BEGIN else m.EndQuorumEpochResponse
        return cls(error_code=p.error_code, leader_id=p.leader_id, leader_epoch=p.leader_epoch)
    if api_key == FETCH_SNAPSHOT:
        p = _only(_only(resp.topics, "FetchSnapshot topics").partitions, "partitions")
        return m.FetchSnapshotResponse(
            error_code=p.error_code,
            snapshot_id=m.SnapshotId(
                end_offset=p.snapshot_id.end_offset, epoch=p.snapshot_id.epoch
            ),
            current_leader=m.LeaderIdAndEpoch(leader_id=p.current_leader.leader_id,
                                              leader_epoch=p.current_leader.leader_epoch),
            size=p.size,
            position=p.position,
            unaligned_records=bytes(p.unaligned_records or b""),
        )
    if api_key == DESCRIBE:
        p = _only(_only(resp.topics, "DescribeQuorum topics").partitions, "partitions")

        def state(r: Any) -> m.ReplicaState:
            return m.ReplicaState(
                replica_id=r.replica_id, log_end_offset=r.log_end_offset,
                last_fetch_timestamp=getattr(r, "last_fetch_timestamp", -1),
                last_caught_up_timestamp=getattr(r, "last_caught_up_timestamp", -1),
            )

        return m.DescribeQuorumResponse(
            error_code=p.error_code,
            error_message=getattr(p, "error_message", None),
            leader_id=p.leader_id,
            leader_epoch=p.leader_epoch,
            high_watermark=p.high_watermark,
            current_voters=tuple(state(r) for r in p.current_voters),
            observers=tuple(state(r) for r in p.observers),
        )
    raise AssertionError(f"api key {api_key} is not a raft RPC")
