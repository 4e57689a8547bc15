"""Core raft messages survive the trip through Kafka's wire format."""

import dataclasses
import uuid
from typing import get_args

import pytest
from kio.schema.errors import ErrorCode

from kraft.net.codec import decode_request, decode_response, encode_request, encode_response
from kraft.raft import messages as m
from kraft.raft import rpc
from kraft.raft.types import Entry, LeaderChangeMessage
from tests.raft.schedule import directory_id

LEADER = m.LeaderIdAndEpoch(leader_id=2, leader_epoch=7)

REQUESTS = [
    m.FetchRequest(
        cluster_id="c",
        replica_id=3,
        replica_epoch=-1,
        max_wait_ms=500,
        current_leader_epoch=7,
        fetch_offset=42,
        last_fetched_epoch=6,
        partition_max_bytes=8 << 20,
        high_watermark=40,
    ),
    m.VoteRequest(
        cluster_id="c",
        voter_id=1,
        replica_epoch=8,
        replica_id=2,
        last_offset_epoch=7,
        last_offset=99,
        pre_vote=True,
    ),
    m.BeginQuorumEpochRequest(cluster_id="c", voter_id=3, leader_id=2, leader_epoch=8),
    m.EndQuorumEpochRequest(
        cluster_id="c", leader_id=2, leader_epoch=8, preferred_candidates=(3, 1)
    ),
    m.FetchSnapshotRequest(
        cluster_id="c",
        replica_id=3,
        max_bytes=1 << 20,
        current_leader_epoch=7,
        snapshot_id=m.SnapshotId(end_offset=100, epoch=6),
        position=4096,
    ),
    m.DescribeQuorumRequest(),
    m.AddRaftVoterRequest(cluster_id="c", timeout_ms=30_000, voter_id=4,
                          voter_directory_id=directory_id(4),
                          listeners=(("CONTROLLER", "localhost", 9093),),
                          ack_when_committed=False),
]

RESPONSES = [
    (
        rpc.FETCH,
        m.FetchResponse(
            error_code=ErrorCode.none,
            high_watermark=10,
            log_start_offset=0,
            current_leader=LEADER,
            records=(
                Entry(10, 7, b"", LeaderChangeMessage(2, (1, 2, 3), (2, 3))),
                Entry(11, 7, b"x"),
                Entry(12, 7, b"yz"),
            ),
        ),
    ),
    (
        rpc.FETCH,
        m.FetchResponse(
            error_code=ErrorCode.none,
            high_watermark=10,
            log_start_offset=0,
            current_leader=LEADER,
            diverging_epoch=m.EpochEndOffset(epoch=5, end_offset=30),
        ),
    ),
    (
        rpc.FETCH,
        m.FetchResponse(
            error_code=ErrorCode.fenced_leader_epoch,
            high_watermark=-1,
            log_start_offset=0,
            current_leader=LEADER,
            snapshot_id=m.SnapshotId(end_offset=100, epoch=6),
        ),
    ),
    (
        rpc.VOTE,
        m.VoteResponse(error_code=ErrorCode.none, leader_id=-1, leader_epoch=8, vote_granted=True),
    ),
    (
        rpc.BEGIN_QUORUM_EPOCH,
        m.BeginQuorumEpochResponse(error_code=ErrorCode.none, leader_id=2, leader_epoch=8),
    ),
    (
        rpc.END_QUORUM_EPOCH,
        m.EndQuorumEpochResponse(error_code=ErrorCode.none, leader_id=2, leader_epoch=8),
    ),
    (
        rpc.FETCH_SNAPSHOT,
        m.FetchSnapshotResponse(
            error_code=ErrorCode.none,
            snapshot_id=m.SnapshotId(end_offset=100, epoch=6),
            current_leader=LEADER,
            size=9000,
            position=4096,
            unaligned_records=b"abc",
        ),
    ),
    (
        rpc.DESCRIBE_QUORUM,
        m.DescribeQuorumResponse(
            error_code=ErrorCode.none,
            error_message=None,
            leader_id=2,
            leader_epoch=8,
            high_watermark=77,
            current_voters=(
                m.ReplicaState(
                    replica_id=1,
                    log_end_offset=77,
                    last_fetch_timestamp=5,
                    last_caught_up_timestamp=4,
                ),
            ),
            observers=(m.ReplicaState(replica_id=9, log_end_offset=70),),
        ),
    ),
]


@pytest.mark.parametrize("msg", REQUESTS, ids=lambda r: type(r).__name__)
def test_request_round_trip(msg):
    """core request -> kio -> bytes -> kio -> core gives the same request."""
    wire = encode_request(1, "n1", rpc.for_request(msg).request_to_kio(msg))
    header, decoded = decode_request(wire[4:])
    assert rpc.BY_KEY[header.api_key].request_from_kio(decoded) == msg


@pytest.mark.parametrize(("spec", "msg"), RESPONSES, ids=lambda r: getattr(r, "name", ""))
def test_response_round_trip(spec, msg):
    """core response -> kio -> bytes -> kio -> core gives the same response."""
    kio_msg = spec.response_to_kio(spec.max_version, msg, now_ms=0)
    _, decoded = decode_response(encode_response(1, kio_msg)[4:], type(kio_msg))
    assert spec.response_from_kio(decoded) == msg


def test_fetch_for_another_topic_is_a_peer_error():
    """A Fetch naming another topic id on the controller listener is refused."""
    req = rpc.FETCH.request_to_kio(REQUESTS[0])
    other = dataclasses.replace(req.topics[0], topic_id=uuid.UUID(int=5))
    bad = dataclasses.replace(req, topics=(other,))
    with pytest.raises(rpc.PeerError):
        rpc.FETCH.request_from_kio(bad)


def test_every_core_rpc_is_declared_once():
    """Each core request and response type belongs to exactly one declaration, keys are
    unique, and every request in this module's cases maps back to its own declaration."""
    assert len(rpc.BY_KEY) == len(rpc.RPCS)
    requests = [spec.request for spec in rpc.RPCS]
    responses = [spec.response for spec in rpc.RPCS]
    assert sorted(t.__name__ for t in requests) == sorted(t.__name__ for t in get_args(m.Request))
    assert sorted(t.__name__ for t in responses) == sorted(
        t.__name__ for t in get_args(m.Response))
    for msg in REQUESTS:
        assert rpc.for_request(msg).request is type(msg)


@pytest.mark.parametrize("spec", rpc.RPCS, ids=lambda s: s.name)
def test_error_response_encodes_at_every_version(spec):
    """Each RPC's top-level error response encodes at every version it serves and
    carries the error, which `response_from_kio` reports as a PeerError."""
    for version in range(spec.min_version, spec.max_version + 1):
        kio_msg = spec.error_response(version, ErrorCode.broker_not_available, "stopped")
        _, decoded = decode_response(encode_response(1, kio_msg)[4:], type(kio_msg))
        assert decoded.error_code == ErrorCode.broker_not_available
        with pytest.raises(rpc.PeerError):
            spec.response_from_kio(decoded)


def test_describe_quorum_of_another_partition_is_kafkas_partition_error():
    """DescribeQuorum naming another topic or partition answers each partition asked
    UNKNOWN_TOPIC_OR_PARTITION with Kafka's message; the metadata partition is left
    to the core."""
    from kio.schema.describe_quorum.v2 import request as dq

    def ask(topic: str, partition: int):
        req = dq.DescribeQuorumRequest(topics=(dq.TopicData(
            topic_name=topic, partitions=(dq.PartitionData(partition_index=partition),)),))
        return rpc.describe_quorum_elsewhere(2, req)

    assert ask("__cluster_metadata", 0) is None
    for topic, partition in (("other", 0), ("__cluster_metadata", 1)):
        answer = ask(topic, partition)
        (t,) = answer.topics
        (p,) = t.partitions
        assert (t.topic_name, p.partition_index, p.error_code, p.error_message) == (
            topic, partition, ErrorCode.unknown_topic_or_partition,
            "This server does not host this topic-partition.")
        assert answer.error_code == ErrorCode.none and answer.nodes == ()
