"""The trio driver: three in-process voters over real loopback sockets."""

import random

import pytest
import trio
from kraft.net import api_versions
from kraft.net.registry import ApiRegistry
from kraft.net.server import KafkaServer

from kraft.raft.config import QuorumConfig
from kraft.raft.disk_log import DiskLog
from kraft.raft.driver import RaftNode
from kraft.raft.memory_log import MemoryLog


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
