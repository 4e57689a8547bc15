"""The trio driver: three in-process voters over real loopback sockets."""

import math
import random
import threading

import pytest
import trio
import trio.testing

from kraft.net import api_versions
from kraft.net.registry import ApiRegistry
from kraft.net.server import KafkaServer
from kraft.raft import quorum_state_file
from kraft.raft.config import QuorumConfig
from kraft.raft.disk_log import DiskLog
from kraft.raft.driver import INBOX_SIZE, RaftNode, _unheard_leader
from kraft.raft.memory_log import MemoryLog
from kraft.raft.state import Candidate, Follower, Leader, Prospective
from kraft.raft.types import NotLeaderError


class Collector:
    def __init__(self):
        self.entries = []

    def snapshot_loaded(self, snapshot_id):
        pass

    def committed(self, entries):
        self.entries.extend(e for e in entries if e.control is None)

    def snapshot_requested(self, snapshot_id):
        pass

    def leader_changed(self, leader):
        pass


async def _cluster(nursery, tmp_path, n=3, disk=True):
    registries, addresses = {}, {}
    for node_id in range(1, n + 1):
        registry = ApiRegistry()
        api_versions.register(registry)
        bound = await nursery.start(KafkaServer(registry).serve, "127.0.0.1", 0)
        registries[node_id], addresses[node_id] = registry, bound[0]
    nodes = {}
    for node_id in range(1, n + 1):
        d = tmp_path / f"n{node_id}"
        d.mkdir()
        config = QuorumConfig(
            node_id=node_id,
            voters=tuple(range(1, n + 1)),
            election_timeout_ms=300,
            fetch_timeout_ms=600,
        )
        raft_log = DiskLog(d) if disk else MemoryLog()
        node = RaftNode(config, raft_log, d, addresses, Collector(), rng=random.Random(node_id))
        node.register(registries[node_id])
        await nursery.start(node.run)
        nodes[node_id] = node
    return nodes


async def _leader(nodes):
    with trio.fail_after(20):
        while True:
            for node in nodes.values():
                lid = node.leader.leader_id
                if lid is not None and nodes[lid].leader.leader_id == lid:
                    return nodes[lid]
            await trio.sleep(0.05)


@pytest.mark.parametrize("disk", [False, True], ids=["memory", "disk"])
async def test_three_voters_elect_and_commit(nursery, tmp_path, disk):
    """Three voters over loopback elect one leader and commit proposals on all nodes."""
    nodes = await _cluster(nursery, tmp_path, disk=disk)
    leader = await _leader(nodes)
    offset = 0
    for i in range(50):
        offset = await leader.propose([f"r{i}".encode()])
    with trio.fail_after(20):
        for node in nodes.values():
            while len(node.listener.entries) < 50:
                await trio.sleep(0.02)
    payloads = [[e.payload for e in node.listener.entries] for node in nodes.values()]
    assert payloads[0] == [f"r{i}".encode() for i in range(50)]
    assert payloads[0] == payloads[1] == payloads[2]
    assert leader.high_watermark > offset
    assert (tmp_path / f"n{leader.config.node_id}" / "quorum-state").exists()


# The tests below run on the real clock: quorum-state writes run in a worker thread,
# and an autojump clock would race ahead of them.

SINGLE = {"node_id": 1, "voters": (1,), "election_timeout_ms": 300, "fetch_timeout_ms": 600}


async def _leading(node):
    """Wait until the one-voter `node` leads (a generous hang guard, not a timing check)."""
    with trio.fail_after(20):
        while not isinstance(node.role, Leader):
            await trio.sleep(0.01)


async def _single_voter(nursery, tmp_path):
    """A one-voter quorum on a MemoryLog, once it leads."""
    node = RaftNode(QuorumConfig(**SINGLE), MemoryLog(), tmp_path, {}, Collector(),
                    rng=random.Random(1))
    await nursery.start(node.run)
    await _leading(node)
    return node


async def test_more_proposals_than_the_inbox_holds_all_commit(nursery, tmp_path):
    """Three inboxes' worth of concurrent proposals: senders wait for room, and every
    proposal gets its own offset and is committed, none lost or answered twice."""
    node = await _single_voter(nursery, tmp_path)
    offsets = []

    async def propose(i):
        offsets.append(await node.propose([f"p{i}".encode()]))

    async with trio.open_nursery() as proposers:
        for i in range(3 * INBOX_SIZE):
            proposers.start_soon(propose, i)
    assert len(set(offsets)) == 3 * INBOX_SIZE
    await node.wait_high_watermark(max(offsets))
    committed = sorted(e.payload for e in node.listener.entries)
    assert committed == sorted(f"p{i}".encode() for i in range(3 * INBOX_SIZE))


async def test_stopping_answers_proposals_waiting_for_room(tmp_path, monkeypatch):
    """While the driver is stuck in a quorum-state fsync, twice an inbox of proposals
    arrive; when it then stops, every one of them (queued or still waiting for room in
    the inbox) is answered NotLeaderError, none is left hanging."""
    release, writing = threading.Event(), threading.Event()

    def stuck_write(*args):
        writing.set()
        release.wait()

    monkeypatch.setattr(quorum_state_file, "write", stuck_write)
    node = RaftNode(QuorumConfig(**SINGLE), MemoryLog(), tmp_path, {}, Collector(),
                    rng=random.Random(1))
    outcomes = []

    async def propose():
        try:
            outcomes.append(await node.propose([b"x"]))
        except NotLeaderError as e:
            outcomes.append(e)

    with trio.fail_after(20):  # a hang guard: a proposer left waiting would hang here
        async with trio.open_nursery() as nursery:
            run_scope = trio.CancelScope()

            async def run():
                with run_scope:
                    await node.run()

            nursery.start_soon(run)
            while not writing.is_set():
                await trio.sleep(0.01)
            for _ in range(2 * INBOX_SIZE):
                nursery.start_soon(propose)
            await trio.testing.wait_all_tasks_blocked()
            run_scope.cancel()
            release.set()
    assert len(outcomes) == 2 * INBOX_SIZE
    assert all(isinstance(o, NotLeaderError) for o in outcomes)


class Snapshotter(Collector):
    """Stores a snapshot whenever asked, from the callback, as the metadata loader does."""

    def __init__(self, raft_log):
        super().__init__()
        self.raft_log = raft_log
        self.node = None
        self.snapshots = []

    def snapshot_requested(self, snapshot_id):
        self.raft_log.create_snapshot(snapshot_id, b"state")
        self.snapshots.append(snapshot_id)
        self.node.snapshot_created_nowait(snapshot_id)


async def test_snapshot_created_from_the_listener_reaches_the_core(nursery, tmp_path):
    """A snapshot the listener stores from inside its callback reaches the core: the
    log start moves up to it and later snapshots are requested again."""
    raft_log = MemoryLog()
    listener = Snapshotter(raft_log)
    config = QuorumConfig(**SINGLE, log_max_record_bytes_between_snapshots=200)
    node = RaftNode(config, raft_log, tmp_path, {}, listener, rng=random.Random(1))
    listener.node = node
    await nursery.start(node.run)
    await _leading(node)
    with trio.fail_after(20):
        for _ in range(20):
            await node.wait_high_watermark(await node.propose([b"x" * 100]))
        while raft_log.log_start_offset != listener.snapshots[-1].offset:
            await trio.sleep(0.01)
    assert len(listener.snapshots) >= 2


async def test_shutdown_after_the_driver_stopped_returns(tmp_path):
    """`shutdown` on a driver that has already stopped returns at once instead of
    waiting for a resignation nobody will process (even with no timeout)."""
    node = RaftNode(QuorumConfig(**SINGLE), MemoryLog(), tmp_path, {}, Collector(),
                    rng=random.Random(1))
    async with trio.open_nursery() as nursery:
        await nursery.start(node.run)
        nursery.cancel_scope.cancel()
    with trio.fail_after(20):  # a hang guard
        await node.shutdown(timeout_s=math.inf)


def test_is_connection_loss_tells_a_closed_connection_from_a_timeout() -> None:
    """Refused, reset or closed connections are losses; every kind of timeout is not."""
    from kraft.net.client import ConnectionFailed, RequestNotSent, RequestTimedOut
    from kraft.raft.driver import is_connection_loss

    refused = RequestNotSent("connect to 127.0.0.1:1: refused")
    refused.__cause__ = ConnectionRefusedError(111, "Connection refused")
    connect_timeout = RequestNotSent("connect to 10.0.0.1:1: timed out")
    connect_timeout.__cause__ = trio.TooSlowError()
    assert is_connection_loss(refused)
    assert is_connection_loss(ConnectionFailed("connection to x closed"))
    assert not is_connection_loss(connect_timeout)
    assert not is_connection_loss(RequestTimedOut("no answer in 2 s"))
    assert not is_connection_loss(trio.TooSlowError())


def test_a_lost_leader_is_announced_once_per_leader_and_epoch() -> None:
    """The first pre-vote against a known leader names it (logged at INFO once); the
    rounds that follow while the quorum stays lost name nothing (issue 12: no flip
    every election timeout at INFO); a new leader or epoch is announced again."""
    assert _unheard_leader(Follower(5, 3), None) is None
    first = _unheard_leader(Prospective(5, None, 3, 1), None)
    assert first == (3, 5)
    assert _unheard_leader(Follower(5, 3), first) is None
    assert _unheard_leader(Prospective(5, None, 3, 1), first) is None
    assert _unheard_leader(Prospective(5, None, None, 1), first) is None
    assert _unheard_leader(Candidate(6, 1, 1), first) is None
    assert _unheard_leader(Prospective(7, None, 2, 1), first) == (2, 7)
