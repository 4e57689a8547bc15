"""Three `kraft raft-test-server` processes on loopback: election, commit,
kill -9 failover, restart catch-up, and catch-up by snapshot."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import trio

from kraft.net.client import ConnectionFailed, KafkaClient
from kraft.raft import messages as m
from kraft.raft import rpc
from tests.raft.local_quorum import LocalQuorum

pytestmark = pytest.mark.slow


def describe(address: tuple[str, int]) -> m.DescribeQuorumResponse | None:
    """DescribeQuorum over the wire, as `kafka-metadata-quorum` would ask."""

    async def ask() -> m.DescribeQuorumResponse | None:
        async with KafkaClient("test") as client:
            try:
                request = rpc.DESCRIBE_QUORUM.request_to_kio(m.DescribeQuorumRequest())
                resp = await client.request(address, request, timeout=2)
            except ConnectionFailed:
                return None
            return rpc.DESCRIBE_QUORUM.response_from_kio(resp)

    return trio.run(ask)


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def leader_of(q: LocalQuorum, among: list[int]) -> int | None:
    for i in among:
        d = describe(q.address(i))
        if d is not None and d.error_code == 0 and d.leader_id in among:
            return d.leader_id
    return None


def test_elect_commit_failover_restart(tmp_path: Path) -> None:
    """10,000 records commit on all voters; after kill -9 of the leader a new leader
    commits within seconds keeping every committed record; the old leader catches up."""
    with LocalQuorum(tmp_path, rate=5000, batch=50) as q:
        q.start_all()
        leader = wait_for(lambda: leader_of(q, q.ids), 30, "a leader")
        wait_for(lambda: all(len(q.committed(i)) >= 10_000 for i in q.ids), 60,
                 "10,000 committed records on every node")
        d = describe(q.address(leader))
        assert d.leader_id == leader and d.high_watermark > 10_000
        assert sorted(r.replica_id for r in d.current_voters) == q.ids
        assert all(r.log_end_offset > 0 and r.last_fetch_timestamp > 0
                   for r in d.current_voters if r.replica_id != leader)

        follower = next(i for i in q.ids if i != leader)
        out = subprocess.run(
            [sys.executable, "-m", "kraft.cli", "quorum", "status", "--json",
             "--bootstrap-controller", f"127.0.0.1:{q.ports[follower]}"],
            capture_output=True, text=True, timeout=30, check=True,
        ).stdout
        status = json.loads(out)  # asked a follower: it points the tool at the leader
        assert status["leader_id"] == leader and status["high_watermark"] > 10_000
        assert sorted(r["node_id"] for r in status["replicas"]) == q.ids

        before_kill = q.committed(leader)
        killed_at = time.monotonic()
        q.kill(leader)
        rest = [i for i in q.ids if i != leader]
        new_leader = wait_for(lambda: leader_of(q, rest), 30, "a new leader")
        assert new_leader != leader
        # The new leader commits records of its own epoch.
        wait_for(lambda: any(p.startswith(f"{new_leader}-") for p in q.committed(new_leader)),
                 30, "a commit by the new leader")
        failover_s = time.monotonic() - killed_at
        assert failover_s < 30  # figures: scripts/bench_raft.py (2-4 s)
        for i in rest:
            now = q.committed(i)
            assert now[: len(before_kill)] == before_kill, f"node {i} lost committed records"

        q.start(leader)
        target = len(q.committed(new_leader))
        wait_for(lambda: len(q.committed(leader)) >= target, 30, "the old leader to catch up")
        final = [q.committed(i) for i in q.ids]
        shortest = min(len(f) for f in final)
        assert final[0][:shortest] == final[1][:shortest] == final[2][:shortest]
        assert len(set(final[0])) == len(final[0]), "a record was committed twice"


def test_wiped_node_catches_up_by_snapshot(tmp_path: Path) -> None:
    """A voter whose log is wiped (still formatted) catches up from the leader's snapshot."""
    extra = {"metadata.log.max.record.bytes.between.snapshots": "20000"}
    with LocalQuorum(tmp_path, rate=3000, batch=30, extra=extra) as q:
        q.start_all()
        leader = wait_for(lambda: leader_of(q, q.ids), 30, "a leader")
        victim = next(i for i in q.ids if i != leader)
        wait_for(lambda: len(q.committed(leader)) >= 3000, 30, "3,000 commits")
        wait_for(lambda: list((q.data(leader) / "__cluster_metadata-0").glob("*.checkpoint")),
                 30, "a snapshot on the leader")
        q.stop(victim)
        q.wipe_log(victim)
        q.start(victim)
        try:
            wait_for(lambda: (q.committed(victim) and (q.data(victim) / "committed.txt")
                              .read_text().startswith("snapshot")),
                     30, "the wiped node to load a snapshot")
        except AssertionError as e:
            # Once seen under heavy load and never reproduced: keep what the two
            # nodes said for the next time.
            tails = {n: (q.dir(n) / "stderr.log").read_text()[-3000:] for n in (leader, victim)}
            raise AssertionError(f"{e}\nleader {leader}:\n{tails[leader]}\n"
                                 f"victim {victim}:\n{tails[victim]}") from None
        target = len(q.committed(leader))
        wait_for(lambda: len(q.committed(victim)) >= target, 30, "the wiped node to catch up")
        assert q.committed(victim)[:target] == q.committed(leader)[:target]


def test_paused_leader_is_replaced_and_steps_down_on_resume(tmp_path: Path) -> None:
    """SIGSTOP of the leader: the others elect a new leader and keep committing; after
    SIGCONT the old leader learns the new epoch, follows, and no record is lost or
    committed twice."""
    with LocalQuorum(tmp_path, rate=1000, batch=10) as q:
        q.start_all()
        leader = wait_for(lambda: leader_of(q, q.ids), 30, "a leader")
        wait_for(lambda: len(q.committed(leader)) >= 500, 30, "500 commits")
        before = q.committed(leader)
        q.pause(leader)
        rest = [i for i in q.ids if i != leader]
        new_leader = wait_for(lambda: leader_of(q, rest), 30, "a new leader while paused")
        wait_for(lambda: any(p.startswith(f"{new_leader}-") for p in q.committed(new_leader)),
                 20, "commits by the new leader")
        q.resume(leader)
        wait_for(lambda: describe(q.address(leader)) is not None
                 and describe(q.address(leader)).leader_id == new_leader, 20,
                 "the old leader to follow the new one")
        target = len(q.committed(new_leader))
        wait_for(lambda: len(q.committed(leader)) >= target, 30, "the old leader to catch up")
        for i in q.ids:
            got = q.committed(i)
            assert got[: len(before)] == before, f"node {i} lost committed records"
            assert len(set(got)) == len(got), f"node {i} committed a record twice"
        assert q.committed(leader)[:target] == q.committed(new_leader)[:target]
