"""`kraft quorum status --bootstrap-controller HOST:PORT`.

What `kafka-metadata-quorum describe --status --replication` shows: asks one
controller with DescribeQuorum; a non-leader answers NOT_LEADER_OR_FOLLOWER
with the leader it knows and every voter's endpoint (v2 Nodes), and we ask
the leader,
then prints the leader, epoch and high watermark, and per voter and observer
its log end offset, lag behind the high watermark and last fetch time.
`--json` prints one JSON object instead (msgspec).
"""

from __future__ import annotations

import sys
import time

import msgspec
import trio
from kio.schema.errors import ErrorCode

from kraft.net.client import ConnectionFailed, KafkaClient
from kraft.net.security import ClientSecurity
from kraft.raft import messages as m
from kraft.raft import rpc


class ReplicaStatus(msgspec.Struct):
    node_id: int
    role: str
    log_end_offset: int
    lag: int
    last_fetch_ms_ago: int | None


class QuorumStatus(msgspec.Struct):
    leader_id: int
    leader_epoch: int
    high_watermark: int
    replicas: list[ReplicaStatus]


async def describe(address: tuple[str, int], timeout: float = 5.0,
                   security: ClientSecurity | None = None) -> m.DescribeQuorumResponse:
    """DescribeQuorum from the controller at `address` (over `security`, default
    PLAINTEXT); if that one is not the leader, from the leader it names (found in
    the response's Nodes). Raises ConnectionFailed."""
    request = rpc.DESCRIBE_QUORUM.request_to_kio(m.DescribeQuorumRequest())
    failure: Exception | None = None
    # Failures are caught inside the client's nursery and raised after it, so
    # callers see ConnectionFailed rather than an ExceptionGroup.
    async with KafkaClient("kraft-quorum-status", connect_timeout=timeout,
                           security=security) as client:
        try:
            with trio.fail_after(timeout):
                response = await client.request(address, request, timeout=timeout)
            d = rpc.DESCRIBE_QUORUM.response_from_kio(response)
            assert isinstance(d, m.DescribeQuorumResponse)
            if d.error_code == ErrorCode.not_leader_or_follower and d.leader_id >= 0:
                leader = next(
                    (n for n in getattr(response, "nodes", ()) if n.node_id == d.leader_id), None
                )
                if leader is not None and leader.listeners:
                    listener = leader.listeners[0]
                    with trio.fail_after(timeout):
                        response = await client.request((listener.host, listener.port),
                                                        request, timeout=timeout)
                    d = rpc.DESCRIBE_QUORUM.response_from_kio(response)
                    assert isinstance(d, m.DescribeQuorumResponse)
        except (ConnectionFailed, rpc.PeerError, trio.TooSlowError) as e:
            failure = e
    if failure is not None:
        if isinstance(failure, trio.TooSlowError):
            raise ConnectionFailed(f"no answer from {address[0]}:{address[1]} in {timeout} s")
        raise failure
    return d


def status(d: m.DescribeQuorumResponse, now_ms: int) -> QuorumStatus:
    def row(r: m.ReplicaState, role: str) -> ReplicaStatus:
        ago = None if r.last_fetch_timestamp < 0 else max(0, now_ms - r.last_fetch_timestamp)
        if role == "Leader":
            ago = 0
        return ReplicaStatus(r.replica_id, role, r.log_end_offset,
                             max(0, d.high_watermark - r.log_end_offset), ago)

    replicas = [row(r, "Leader" if r.replica_id == d.leader_id else "Follower")
                for r in d.current_voters]
    replicas += [row(r, "Observer") for r in d.observers]
    return QuorumStatus(d.leader_id, d.leader_epoch, d.high_watermark, replicas)


def render(s: QuorumStatus) -> str:
    lines = [
        f"LeaderId:       {s.leader_id}",
        f"LeaderEpoch:    {s.leader_epoch}",
        f"HighWatermark:  {s.high_watermark}",
        "",
        f"{'NodeId':>6}  {'LogEndOffset':>12}  {'Lag':>6}  {'LastFetch':>10}  Status",
    ]
    for r in s.replicas:
        ago = "-" if r.last_fetch_ms_ago is None else f"{r.last_fetch_ms_ago} ms"
        lines.append(f"{r.node_id:>6}  {r.log_end_offset:>12}  {r.lag:>6}  {ago:>10}  {r.role}")
    return "\n".join(lines)


def parse_address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"{text!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


def main(bootstrap: str, as_json: bool) -> int:
    try:
        address = parse_address(bootstrap)
        d = trio.run(describe, address)
    except (ValueError, ConnectionFailed, rpc.PeerError) as e:
        print(f"kraft quorum status: {e}", file=sys.stderr)
        return 1
    if d.error_code != ErrorCode.none:
        print(f"kraft quorum status: {bootstrap} answered {d.error_code.name}"
              f"{f' ({d.error_message})' if d.error_message else ''}; "
              f"the leader is node {d.leader_id} in epoch {d.leader_epoch}", file=sys.stderr)
        return 1
    s = status(d, int(time.time() * 1000))
    print(msgspec.json.encode(s).decode() if as_json else render(s))
    return 0
