"""Voter changes under kill -9 (issue 14): the queue workload survives a quorum
that grows and shrinks while its leader dies.

On a three-node dynamic-quorum LocalCluster (KIP-853: voters in the log), with
the idempotent acks=all workload on a topic with replication factor 3 and
min.insync.replicas 2 (run_schedule, tests/faults/schedules.py), the schedule
`add_and_remove_voter`:

1. adds node 4 (broker and controller) with `cluster.add` (it follows as an
   observer, then AddRaftVoter makes it a voter) and, as soon as the quorum
   leader lists it (observer or voter), kill -9 the quorum leader; once
   another leader is elected the victim is started again;
2. removes a voter that does not lead the quorum with `cluster.remove` (its
   replicas move to the other brokers, then RemoveRaftVoter) and, as soon as
   its replicas are gone (the RemoveRaftVoter is next), kill -9 the quorum
   leader; again the victim is started once a new leader is elected.

A tool call that a kill makes fail is written to the history ("finding: ...")
and asked again once the victim is back, as an operator would; the checker is
never relaxed. The test then requires: no anomaly in the checker's report,
every partition back to full ISR, the voter set the cluster's controllers
(with their directory ids) per `kraft metadata-quorum describe`, and every
controller naming the same leader and epoch, each voter holding the log up to
the high watermark that followed the last change.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
import trio
from kio.schema.errors import ErrorCode

from kraft.net.client import ConnectionFailed, KafkaClient, RequestNotSent, RequestTimedOut
from kraft.raft import messages as m
from kraft.raft import rpc
from kraft.tools import metadata_quorum as mq
from kraft.tools.local_cluster import LocalCluster
from kraft.tools.local_cluster_base import ClusterError
from tests.faults.schedules import (
    FAST_FAILOVER,
    LIVENESS_TIMEOUT_S,
    REQUEST_TIMEOUT_S,
    Faults,
    Schedule,
    run_schedule,
    wait_for,
)

CLUSTER_START_TIMEOUT_S = 60.0
T = TypeVar("T")


# --- the quorum as the tools see it -----------------------------------------------------------


def describe(cluster: LocalCluster) -> mq.QuorumInfo | None:
    """`kraft metadata-quorum --bootstrap-controller ... describe` over every running
    controller; None if none answers."""
    servers = [cluster.controller_address(n) for n in cluster.controllers if cluster.is_up(n)]
    try:
        return _run(mq.describe_quorum, servers, True, cluster.tool_security("CONTROLLER"))
    except mq.QuorumToolError:
        return None


def _run(fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    """trio.run, with a QuorumToolError raised inside a client's nursery (a group
    of one) raised bare."""
    try:
        return trio.run(fn, *args)
    except BaseExceptionGroup as group:
        if len(group.exceptions) == 1 and isinstance(group.exceptions[0], mq.QuorumToolError):
            raise group.exceptions[0] from None
        raise


async def _own_view(cluster: LocalCluster, node: int) -> tuple[int, int] | None:
    """(leader id, epoch) as controller `node` itself knows them: DescribeQuorum
    asked of it directly (a follower answers NOT_LEADER_OR_FOLLOWER naming both)."""
    request = rpc.DESCRIBE_QUORUM.request_to_kio(m.DescribeQuorumRequest())
    async with KafkaClient("kraft-faults", connect_timeout=REQUEST_TIMEOUT_S,
                           security=cluster.tool_security("CONTROLLER")) as client:
        try:
            response = await client.request(cluster.controller_address(node), request,
                                            REQUEST_TIMEOUT_S)
        except (ConnectionFailed, RequestNotSent, RequestTimedOut):
            return None
    answer = rpc.DESCRIBE_QUORUM.response_from_kio(response)
    assert isinstance(answer, m.DescribeQuorumResponse)
    if answer.error_code not in (ErrorCode.none, ErrorCode.not_leader_or_follower):
        return None
    return answer.leader_id, answer.leader_epoch


def views(cluster: LocalCluster) -> dict[int, tuple[int, int] | None]:
    """Every controller's own (leader, epoch)."""
    return {n: trio.run(_own_view, cluster, n) for n in cluster.controllers}


# --- the schedule -----------------------------------------------------------------------------


def _finish(f: Faults, what: str, pending: Future[object]) -> Exception | None:
    """Wait for the tool call `pending`; a ClusterError it raised is written to the
    history as a finding and returned (the caller asks again)."""
    try:
        pending.result(timeout=LIVENESS_TIMEOUT_S * 2)
        f.history.note(f"{what}: done")
        return None
    except ClusterError as e:
        first_line = str(e).splitlines()[0]
        f.history.note(f"finding: {what} failed under the kill: {first_line}")
        return e


def _add_controller(cluster: LocalCluster, node: int) -> bool | None:
    """One AddRaftVoter of `node` as `kraft metadata-quorum add-controller` sends it:
    True once taken (or DUPLICATE_VOTER: it already is one), None to ask again (no
    leader reachable, or REQUEST_TIMED_OUT: catching up, another change committing);
    any other refusal is raised."""
    voter_id, directory_id, listeners = mq.controller_to_add(str(cluster.config_path(node)))
    request = m.AddRaftVoterRequest(cluster_id=None, timeout_ms=int(mq.TIMEOUT_S * 1000),
                                    voter_id=voter_id, voter_directory_id=directory_id,
                                    listeners=listeners)
    servers = [cluster.controller_address(n) for n in cluster.controllers if cluster.is_up(n)]
    try:
        _run(mq.change_voters, servers, True, request, cluster.tool_security("CONTROLLER"))
    except mq.QuorumToolError as e:
        text = str(e)
        if text.startswith("DUPLICATE_VOTER"):
            return True
        if any(s in text for s in ("REQUEST_TIMED_OUT", "did not answer", "no controller")):
            return None
        raise
    return True


def _kill_quorum_leader(f: Faults) -> None:
    """kill -9 the active controller, wait for another, let the workload run, restart it."""
    victim = f.controller()
    f.kill(victim)
    f.wait_controller_not(victim)
    f.hold()
    f.start(victim)


def add_and_remove_voter(f: Faults) -> None:
    """Add a fourth controller and kill -9 the quorum leader while it joins; then
    remove a voter that does not lead and kill -9 the quorum leader while the
    removal reaches the quorum; each victim restarts once a new leader is elected."""
    cluster = f.cluster
    new = max(cluster.ids) + 1
    ports = LocalCluster.free_ports(1)[1]
    with ThreadPoolExecutor(1, thread_name_prefix="voter-change") as pool:
        f.history.note(f"add node {new} (broker,controller) with cluster.add")
        adding = pool.submit(cluster.add, ports=ports, timeout=LIVENESS_TIMEOUT_S)

        def listed() -> str | None:
            info = describe(cluster)
            if info is None:
                return None
            if new in {r.node_id for r in info.voters}:
                return "a voter"
            return "an observer" if new in {r.node_id for r in info.observers} else None
        joined = wait_for(f"node {new} listed by the quorum leader", listed,
                          detail=f.describe)
        f.history.note(f"node {new} is {joined} now")
        _kill_quorum_leader(f)
        if _finish(f, f"cluster.add (node {new})", adding) is not None:
            # What `kraft metadata-quorum add-controller` does, asked again.
            f.history.note(f"add node {new} to the voters again")
            wait_for(f"node {new} added to the voters", lambda: _add_controller(cluster, new),
                     detail=f.describe)
            f.history.note(f"node {new} is a voter")
            cluster.wait_unfenced([new], LIVENESS_TIMEOUT_S)
        f.wait_full_isr()

        leader = f.controller()
        gone = min(n for n in cluster.controllers if n not in (leader, new))
        f.history.note(f"remove node {gone} (not the quorum leader {leader}) with cluster.remove")
        removing = pool.submit(cluster.remove, gone, LIVENESS_TIMEOUT_S)

        def moved() -> bool:
            state = f.state()
            return removing.done() or (state is not None and all(
                gone not in s.replicas for s in state.values()))
        wait_for(f"node {gone}'s replicas moved away", moved, detail=f.describe)
        f.history.note(f"node {gone} holds no replica now")
        _kill_quorum_leader(f)
        if _finish(f, f"cluster.remove({gone})", removing) is not None:
            f.history.note(f"remove node {gone} again")
            cluster.remove(gone, LIVENESS_TIMEOUT_S)
            f.history.note(f"cluster.remove({gone}) asked again: done")


ADD_AND_REMOVE_VOTER = Schedule(add_and_remove_voter.__name__, add_and_remove_voter)


@pytest.mark.slow
def test_voters_change_while_the_leader_is_killed(tmp_path: Path) -> None:
    """Adding and removing a voter, each with kill -9 of the quorum leader mid-change,
    loses, duplicates and reorders nothing; every partition ends with full ISR and
    every controller agrees on the expected voters and their leader."""
    with LocalCluster(tmp_path / "cluster", ports=LocalCluster.free_ports(),
                      overrides=FAST_FAILOVER) as cluster:
        cluster.start(CLUSTER_START_TIMEOUT_S)
        result = run_schedule(cluster, ADD_AND_REMOVE_VOTER, tmp_path)
        report = result.report
        history = result.history_path.read_text()
        findings = re.findall(r"finding: [^\"]*", history)
        assert report.valid, f"{report.summary()}\nhistory: {result.history_path}"
        assert report.counts.ok > 0
        not_full = {p: (s.leader, s.replicas, s.isr) for p, s in result.partitions.items()
                    if not s.full_isr or len(s.replicas) != 3 or s.leader < 0}
        assert result.partitions and not not_full, f"not back to full ISR: {not_full}"

        # One node was added and one removed: three controllers, node 4 among them.
        expected = sorted(cluster.controllers)
        assert len(expected) == 3 and 4 in expected, expected
        info = wait_for("a DescribeQuorum answer", lambda: describe(cluster))
        voters = {r.node_id: r.directory_id for r in info.voters}
        assert voters == {n: cluster.directory_ids[n] for n in expected}, \
            f"voters {voters}, expected {expected}; findings: {findings}"
        assert info.leader_id in expected

        # Every controller names that leader and epoch, and every voter holds the log
        # up to the high watermark seen after the last change (so its latest voter set
        # is this one).
        def agreed() -> bool:
            seen = set(views(cluster).values())
            return seen == {(info.leader_id, info.leader_epoch)}
        wait_for("every controller naming the same leader and epoch", agreed,
                 detail=lambda: f"views {views(cluster)}, leader {info.leader_id} "
                                f"epoch {info.leader_epoch}")

        def caught_up() -> bool:
            now = describe(cluster)
            return now is not None and all(r.log_end_offset >= info.high_watermark
                                           for r in now.voters)
        wait_for(f"every voter at or past offset {info.high_watermark}", caught_up,
                 detail=lambda: str(describe(cluster)))
    print(f"{result.duration_s:.1f} s; findings: {findings or 'none'}")
