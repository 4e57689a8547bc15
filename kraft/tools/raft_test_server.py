"""`kraft raft-test-server`: one quorum member with a trivial state machine.

The equivalent of Kafka's TestRaftServer: it runs the raft driver over the
on-disk metadata log on the node's controller listener, and while it leads it
proposes records of its own at a steady rate (`--rate` records/s in batches of
`--batch`), so a quorum of these processes exercises elections, replication,
failover and snapshots without any metadata layer on top.

State machine: the ordered list of committed record payloads. Every node
appends each committed payload as one line (`offset epoch payload`) to
`<metadata dir>/committed.txt`, written through (not fsynced: it is for
observing, not for durability), and rewrites the file when it loads a
snapshot. A snapshot holds the whole list. Records are `<node>-<epoch>-<seq>`,
unique across leaders, so lost or duplicated commits show up in a diff.

Commit latency (propose to committed, on the leader) is printed once a second
as `latency p50=.. p99=.. committed/s=..` for the benchmark script.

Why it lives in kraft/tools, not in the raft package or under tests: it is a
subcommand of the installed `kraft` command, started as a separate process
(tests/raft/local_quorum.py runs three for the real-process raft tests and
scripts/bench_raft.py), as Kafka ships its TestRaftServer with
bin/test-kraft-server-start.sh; nothing in the node imports it.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import random
import signal
import sys
import time
from pathlib import Path

import trio

from kraft import meta_properties
from kraft.config import ConfigError, KafkaConfig
from kraft.net import api_versions
from kraft.net.registry import ApiRegistry
from kraft.net.server import KafkaServer
from kraft.raft.batches import decode_snapshot, encode_snapshot
from kraft.raft.config import QuorumConfig
from kraft.raft.disk_log import DiskLog
from kraft.raft.driver import RaftNode
from kraft.raft.state import Leader
from kraft.raft.types import Entry, LeaderAndEpoch, NotLeaderError, OffsetAndEpoch

log = logging.getLogger("kraft.tools.raft_test_server")


class CommittedRecords:
    """The state machine: committed payloads, mirrored to committed.txt."""

    def __init__(self, directory: Path, raft_log: DiskLog) -> None:
        self.path = directory / "committed.txt"
        self.raft_log = raft_log
        self.payloads: list[bytes] = []
        self.last: Entry | None = None
        self.node: RaftNode | None = None
        self.proposed_at: dict[bytes, float] = {}
        self.latencies: list[float] = []
        self.committed_count = 0
        self._file = open(self.path, "w", buffering=1)  # noqa: SIM115 -- lives as long as the node

    def snapshot_loaded(self, snapshot_id: OffsetAndEpoch) -> None:
        size = self.raft_log.snapshot_size(snapshot_id) or 0
        data = self.raft_log.read_snapshot(snapshot_id, 0, size)
        self.payloads = decode_snapshot(data)
        self._file.close()
        self._file = open(self.path, "w", buffering=1)  # noqa: SIM115
        for i, payload in enumerate(self.payloads):
            self._file.write(f"snapshot {i} {payload.decode()}\n")
        log.info("loaded snapshot %s with %d records", snapshot_id, len(self.payloads))

    def committed(self, entries: tuple[Entry, ...]) -> None:
        now = time.monotonic()
        lines = []
        for entry in entries:
            self.last = entry
            if entry.control is not None:
                continue
            self.payloads.append(entry.payload)
            lines.append(f"{entry.offset} {entry.epoch} {entry.payload.decode()}\n")
            started = self.proposed_at.pop(entry.payload, None)
            if started is not None:
                self.latencies.append(now - started)
            self.committed_count += 1
        self._file.write("".join(lines))

    def snapshot_requested(self, snapshot_id: OffsetAndEpoch) -> None:
        assert self.node is not None
        self.raft_log.write_snapshot(snapshot_id, encode_snapshot(self.payloads, 0))
        self.node.snapshot_created_nowait(snapshot_id)
        log.info("wrote snapshot %s with %d records", snapshot_id, len(self.payloads))

    def leader_changed(self, leader: LeaderAndEpoch) -> None:
        pass


async def propose_while_leading(node: RaftNode, state: CommittedRecords,
                                rate: float, batch: int) -> None:
    """Propose `batch` records every batch/rate seconds while this node leads."""
    seq = 0
    interval = batch / rate
    while True:
        await trio.sleep(interval)
        leader = node.leader
        if not isinstance(node.role, Leader) or leader.leader_id != node.config.node_id:
            continue
        # Keep the backlog bounded: do not run more than a few batches ahead.
        if len(state.proposed_at) > 20 * batch:
            continue
        payloads = []
        for _ in range(batch):
            seq += 1
            payloads.append(f"{node.config.node_id}-{leader.epoch}-{seq}".encode())
        now = time.monotonic()
        try:
            await node.propose(payloads, epoch=leader.epoch)
        except NotLeaderError:
            continue
        for p in payloads:
            state.proposed_at[p] = now


async def report(state: CommittedRecords) -> None:
    """Once a second: commit latency percentiles and committed records/s."""
    last_count = 0
    while True:
        await trio.sleep(1)
        lat = sorted(state.latencies)
        state.latencies.clear()
        rate = state.committed_count - last_count
        last_count = state.committed_count
        if lat:
            p50 = lat[len(lat) // 2] * 1000
            p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
            print(f"latency p50={p50:.1f}ms p99={p99:.1f}ms committed/s={rate}", flush=True)


async def serve(config: KafkaConfig, rate: float, batch: int) -> None:
    node_id = config.node_id
    voters = config.quorum_voters
    controller_names = config.controller_listener_names or ["CONTROLLER"]
    listeners = config.listeners()
    if controller_names[0] not in listeners:
        raise ConfigError(f"listeners has no {controller_names[0]} listener")
    host, port = listeners[controller_names[0]]
    metadata_dir = Path(config.metadata_log_dir)
    meta = meta_properties.read(metadata_dir)
    meta_properties.check(metadata_dir, meta, None, node_id)
    assert meta is not None
    quorum = QuorumConfig.from_properties(node_id, tuple(sorted(voters)), config.raw)
    quorum = dataclasses.replace(quorum, cluster_id=meta.cluster_id)
    raft_log = DiskLog(metadata_dir)
    state = CommittedRecords(metadata_dir, raft_log)
    node = RaftNode(quorum, raft_log, raft_log.dir, voters, state,
                    rng=random.Random())
    state.node = node
    registry = ApiRegistry()
    api_versions.register(registry)
    node.register(registry)
    server = KafkaServer(registry, listener_name=controller_names[0])
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve, host or "127.0.0.1", port)
        await nursery.start(node.run)
        print(f"raft-test-server node {node_id} ready on {host}:{port}", flush=True)
        nursery.start_soon(report, state)
        if rate > 0:
            nursery.start_soon(propose_while_leading, node, state, rate, batch)
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for _ in signals:
                break
        await node.shutdown()
        raft_log.close()
        nursery.cancel_scope.cancel()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="kraft raft-test-server", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--config", "-c", required=True)
    parser.add_argument("--rate", type=float, default=0, help="records/s to propose when leader")
    parser.add_argument("--batch", type=int, default=10, help="records per proposal")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(name)s %(message)s",
                        stream=sys.stderr)
    try:
        config = KafkaConfig.load(args.config)
        trio.run(serve, config, args.rate, args.batch)
    except (ConfigError, meta_properties.MetaPropertiesError) as e:
        print(f"kraft raft-test-server: {e}", file=sys.stderr)
        return 1
    return 0
