"""Transcript tests: scripted scenarios whose full event log must match a golden file.

Each scenario drives a `Harness` deterministically and compares its transcript
(deliveries, role changes, commits, snapshots, with times) with
`transcripts/<name>.txt`. A behaviour change shows up as a diff to review;
regenerate the files with `KRAFT_UPDATE_TRANSCRIPTS=1 pytest tests/raft`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from kraft.raft import OffsetAndEpoch
from kraft.raft.messages import DescribeQuorumRequest, DescribeQuorumResponse
from tests.raft.harness import Harness, Pending

TRANSCRIPTS = Path(__file__).parent / "transcripts"


def committed_everywhere(h: Harness, offset: int) -> Callable[[], bool]:
    return lambda: all(n.core is None or n.core.high_watermark > offset for n in h.nodes.values())


def election_three_voters() -> Harness:
    h = Harness(seed=1)
    h.note("> elect")
    leader = h.elect()
    h.note(f"> propose on {leader}")
    offset = h[leader].propose([b"hello"], h.now)
    h.run_until(committed_everywhere(h, offset))
    return h


def leader_failover() -> Harness:
    h = Harness(seed=2)
    old = h.elect()
    offset = h[old].propose([b"before"], h.now)
    h.run_until(committed_everywhere(h, offset))
    h.note(f"> crash leader {old}")
    h.crash(old)
    new = h.elect()
    offset = h[new].propose([b"after"], h.now)
    h.run_until(committed_everywhere(h, offset))
    h.note(f"> restart {old}")
    h.start(old)
    h.run_until(lambda: h[old].high_watermark > offset)
    return h


def divergent_tail() -> Harness:
    h = Harness(seed=3)
    old = h.elect()
    offset = h[old].propose([b"kept"], h.now)
    h.run_until(committed_everywhere(h, offset))
    h.note(f"> isolate {old}; it appends entries nobody else gets")
    cut = {old}

    def isolated(p: Pending) -> bool:
        return (p.source in cut) != (p.out.destination in cut)

    h[old].propose([b"lost"], h.now)
    while h.leader() in (None, old):
        h.deliver(isolated, drop=True)
        if h.deliver() == 0:
            h.tick(max(1, h.next_deadline() - h.now))
    new = h.leader()
    assert new is not None
    offset = h[new].propose([b"new"], h.now)
    while h[new].high_watermark <= offset:
        h.deliver(isolated, drop=True)
        if h.deliver() == 0:
            h.tick(max(1, h.next_deadline() - h.now))
    h.note("> heal")
    cut.clear()
    h.run_until(lambda: h[old].high_watermark > offset)
    return h


def snapshot_catch_up() -> Harness:
    h = Harness(seed=4, fetch_snapshot_max_bytes=8)
    leader = h.elect()
    lagging = next(i for i in (1, 2, 3) if i != leader)
    h.note(f"> crash {lagging}")
    h.crash(lagging)
    offset = h[leader].propose([b"a", b"b", b"c"], h.now)
    h.run_until(committed_everywhere(h, offset))
    end = offset + 1
    epoch = h.nodes[leader].log.read(offset, 0)[0].epoch
    h.note(f"> snapshot on {leader} at ({end},{epoch})")
    h.nodes[leader].log.create_snapshot(OffsetAndEpoch(end, epoch), b"snapshot-bytes")
    h[leader].snapshot_created(end, epoch, h.now)
    h.pump(leader)
    h.note(f"> restart {lagging}")
    h.start(lagging)
    h.run_until(lambda: h[lagging].high_watermark >= end)
    return h


def figure_8() -> Harness:
    """Raft's "figure 8": an entry from an old epoch that reaches a majority is not
    committed by counting replicas; only a record of the leader's own epoch
    commits it. Otherwise the next leader could erase it."""
    h = Harness(seed=5, fetch_max_bytes=40)  # one record per fetch response
    a = h.elect()
    h.run_until(committed_everywhere(h, 0))
    h.note(f"> {a} appends x, then crashes before anyone fetches it")
    h[a].propose([b"x"], h.now)
    h.tick(25)
    h.crash(a)
    b = h.elect()
    c = next(i for i in (1, 2, 3) if i not in (a, b))
    h.note(f"> {b} leads with its LeaderChange unreplicated, then crashes")
    h.crash(b)
    h.note(f"> {a} restarts, wins with {c}'s vote, and replicates x to {c}")
    h.start(a)
    h.run_until(lambda: h.leader() == a and h.nodes[c].log.end_offset == 2)

    def c_reported_offset() -> int:
        described = h.ask(a, -1, DescribeQuorumRequest())
        assert isinstance(described, DescribeQuorumResponse)
        return next(r.log_end_offset for r in described.current_voters if r.replica_id == c)

    h.run_until(lambda: c_reported_offset() == 2)
    assert h[a].high_watermark <= 1, "x (old epoch) must not commit on replica count"
    h.note(f"> {a} crashes before {c} has its LeaderChange; {b} restarts and wins")
    h.crash(a)
    h.start(b)
    h.run_until(lambda: h.leader() == b and h[c].high_watermark >= 3)
    assert all(b"x" not in [p for _, _, p in n.committed] for n in h.nodes.values())
    assert b"x" not in [e.payload for e in h.nodes[c].log.read(0, 10**6)]
    return h


SCENARIOS = {
    "figure_8": figure_8,
    "election_three_voters": election_three_voters,
    "leader_failover": leader_failover,
    "divergent_tail": divergent_tail,
    "snapshot_catch_up": snapshot_catch_up,
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_transcript(name: str) -> None:
    """The scenario's event log is exactly the reviewed golden transcript."""
    text = "\n".join(SCENARIOS[name]().transcript) + "\n"
    path = TRANSCRIPTS / f"{name}.txt"
    if os.environ.get("KRAFT_UPDATE_TRANSCRIPTS") == "1":
        TRANSCRIPTS.mkdir(exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"no transcript yet: run with KRAFT_UPDATE_TRANSCRIPTS=1 ({path})"
    assert text == path.read_text(), f"transcript {name} changed: review the diff, then update"
