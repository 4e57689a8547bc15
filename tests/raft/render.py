"""Compact one-line renderings of raft RPCs for traces and transcripts."""

from __future__ import annotations

from kraft.raft.messages import (
    BeginQuorumEpochRequest,
    BeginQuorumEpochResponse,
    EndQuorumEpochRequest,
    EndQuorumEpochResponse,
    ErrorCode,
    FetchRequest,
    FetchResponse,
    FetchSnapshotRequest,
    FetchSnapshotResponse,
    Message,
    VoteRequest,
    VoteResponse,
)


def describe(message: Message) -> str:
    """A compact one-line rendering of an RPC for traces and transcripts."""
    m = message
    if isinstance(m, VoteRequest):
        kind = "PreVote" if m.pre_vote else "Vote"
        return f"{kind}(e={m.replica_epoch} last=({m.last_offset},{m.last_offset_epoch}))"
    if isinstance(m, VoteResponse):
        verdict = "granted" if m.vote_granted else "rejected"
        return f"VoteResp({verdict} {_error(m.error_code)}{_leader(m.leader_id, m.leader_epoch)})"
    if isinstance(m, BeginQuorumEpochRequest | EndQuorumEpochRequest):
        name = type(m).__name__.removesuffix("Request")
        extra = ""
        if isinstance(m, EndQuorumEpochRequest):
            extra = f" preferred={list(m.preferred_candidates)}"
        return f"{name}(leader={m.leader_id} e={m.leader_epoch}{extra})"
    if isinstance(m, BeginQuorumEpochResponse | EndQuorumEpochResponse):
        name = type(m).__name__.removesuffix("Response")
        return f"{name}Resp({_error(m.error_code)}{_leader(m.leader_id, m.leader_epoch)})"
    if isinstance(m, FetchRequest):
        position = f"({m.fetch_offset},{m.last_fetched_epoch})"
        return f"Fetch(e={m.current_leader_epoch} at={position} hw={m.high_watermark})"
    if isinstance(m, FetchResponse):
        leader = _leader(m.current_leader.leader_id, m.current_leader.leader_epoch)
        if m.error_code:
            body = _error(m.error_code).strip()
        elif m.diverging_epoch is not None:
            body = f"diverging=({m.diverging_epoch.end_offset},{m.diverging_epoch.epoch})"
        elif m.snapshot_id is not None:
            body = f"snapshot=({m.snapshot_id.end_offset},{m.snapshot_id.epoch})"
        elif m.records:
            body = f"records=[{m.records[0].offset}..{m.records[-1].offset}] hw={m.high_watermark}"
        else:
            body = f"empty hw={m.high_watermark}"
        return f"FetchResp({body} {leader})"
    if isinstance(m, FetchSnapshotRequest):
        sid = m.snapshot_id
        return f"FetchSnapshot(({sid.end_offset},{sid.epoch}) pos={m.position})"
    if isinstance(m, FetchSnapshotResponse):
        body = _error(m.error_code).strip() or f"{len(m.unaligned_records)}B@{m.position}/{m.size}"
        return f"FetchSnapshotResp({body})"
    return repr(m)


def _error(code: ErrorCode) -> str:
    return "" if code == ErrorCode.none else f"{code.name} "


def _leader(leader_id: int, epoch: int) -> str:
    return f"leader={leader_id if leader_id >= 0 else '?'}@{epoch}"
