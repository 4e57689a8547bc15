#!/usr/bin/env python3
"""Benchmark: consumer groups on `kraft dev` -- rebalance time and group consume throughput.

Every figure is measured, never asserted. Dev mode runs with its defaults
(group.initial.rebalance.delay.ms=3000 only delays a group's first
rebalance, which no figure below times) on free ports and a temporary
--data-dir, and is stopped by pid (SIGTERM, then SIGKILL) in a finally.

1. Rebalance after a join, group of 3 (p50/p99 over --rounds). Two members
   hold a Stable group; a third joins; the figure is the time from the
   newcomer's first JoinGroup until all three have their SyncGroup answer
   (its MEMBER_ID_REQUIRED round trip, the rebalance, the leader's assignment
   written with acks=all, everyone's assignment delivered). Measured two ways:
   - protocol-level members (the project's trio client, one connection each)
     that learn of the rebalance at once, through a Heartbeat answered
     REBALANCE_IN_PROGRESS right after the newcomer's JoinGroup parks: the
     coordinator's own cost;
   - librdkafka consumers (confluent-kafka) with --heartbeat-ms (librdkafka's
     default 3000): what an application sees, dominated by how soon the old
     members' heartbeats notice the rebalance. The newcomer subscribes; the
     round ends when the three hold disjoint 2/2/2 assignments of a 6-partition
     topic. The newcomer then leaves and the two go back to 3/3 (not timed).
2. Consume throughput, group of 2 on 6 partitions: --records records of
   --value-bytes are produced first; two librdkafka consumers (threads of this
   process, consume() in batches of 10,000, auto commit on as by default)
   join a fresh group; the figures are records (and value MB) per second until
   the group has consumed every record, counted from the first subscribe
   (joining, the initial rebalance delay and the first OffsetFetch included)
   and from the first record consumed.

Usage:
    .venv/bin/python scripts/bench_groups.py [--quick] [--rounds N]
        [--client-rounds N] [--records N] [--heartbeat-ms MS] [--dir /tmp]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import confluent_kafka  # noqa: E402
import trio  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402
from kio.schema.errors import ErrorCode  # noqa: E402
from kio.schema.find_coordinator.v2.request import FindCoordinatorRequest  # noqa: E402
from kio.schema.heartbeat.v3.request import HeartbeatRequest  # noqa: E402
from kio.schema.join_group.v5 import request as join_v5  # noqa: E402
from kio.schema.leave_group.v3 import request as leave_v3  # noqa: E402
from kio.schema.sync_group.v3 import request as sync_v3  # noqa: E402

from kraft.net.client import Connection  # noqa: E402
from kraft.tools.local_cluster import free_loopback_ports  # noqa: E402

READY = re.compile(r"ready: bootstrap\.servers=(\S+)")
TIMEOUT_S = 30.0
TOPIC_PARTITIONS = 6


# --- dev mode ------------------------------------------------------------------------------


class Dev:
    """`kraft dev` as a child process on free ports and a temporary data dir."""

    def __init__(self, work: Path) -> None:
        self.data = work / "data"
        self.out = work / "dev.log"
        port, controller_port = free_loopback_ports(2)
        cmd = [sys.executable, "-m", "kraft.cli", "dev", "--port", str(port),
               "--controller-port", str(controller_port), "--data-dir", str(self.data)]
        with open(self.out, "wb") as out:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            match = READY.search(self.out.read_text(errors="replace"))
            if match:
                self.bootstrap = match.group(1)
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"kraft dev exited:\n{self.out.read_text()[-3000:]}")
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("kraft dev not ready in time")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def create_topic(bootstrap: str, name: str, partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(name, partitions, 1)]).values():
        future.result(TIMEOUT_S)


# --- 1a. rebalance, protocol-level members -----------------------------------------------------


def subscription(topic: str) -> bytes:
    """ConsumerProtocolSubscription v0: version, [topic], null user data."""
    name = topic.encode()
    return b"\x00\x00" + b"\x00\x00\x00\x01" + len(name).to_bytes(2, "big") + name + (
        b"\xff\xff\xff\xff")


class ProtocolMember:
    """One member on its own connection (JoinGroup parks the connection)."""

    def __init__(self, conn: Connection, group: str, topic: str) -> None:
        self.conn, self.group, self.topic = conn, group, topic
        self.member_id = ""
        self.generation = -1
        self.leader = False
        self.members: list[str] = []

    async def join(self) -> None:
        """JoinGroup until it succeeds (the first one of a new member is answered
        MEMBER_ID_REQUIRED with the id to use, KIP-394)."""
        while True:
            response = await self.conn.request(join_v5.JoinGroupRequest(
                group_id=self.group, session_timeout=timedelta(seconds=10),
                rebalance_timeout=timedelta(seconds=10), member_id=self.member_id,
                group_instance_id=None, protocol_type="consumer",
                protocols=(join_v5.JoinGroupRequestProtocol(
                    name="range", metadata=subscription(self.topic)),)), TIMEOUT_S)
            self.member_id = response.member_id
            if response.error_code == ErrorCode.member_id_required:
                continue
            if response.error_code != ErrorCode.none:
                raise RuntimeError(f"JoinGroup: {response.error_code.name}")
            self.generation = response.generation_id
            self.leader = response.leader == self.member_id
            self.members = [m.member_id for m in response.members]
            return

    async def sync(self) -> None:
        assignments = tuple(sync_v3.SyncGroupRequestAssignment(member_id=m, assignment=b"")
                            for m in self.members) if self.leader else ()
        response = await self.conn.request(sync_v3.SyncGroupRequest(
            group_id=self.group, generation_id=self.generation, member_id=self.member_id,
            group_instance_id=None, assignments=assignments), TIMEOUT_S)
        if response.error_code != ErrorCode.none:
            raise RuntimeError(f"SyncGroup: {response.error_code.name}")

    async def heartbeat(self) -> ErrorCode:
        response = await self.conn.request(HeartbeatRequest(
            group_id=self.group, generation_id=self.generation, member_id=self.member_id,
            group_instance_id=None), TIMEOUT_S)
        return response.error_code

    async def leave(self) -> None:
        await self.conn.request(leave_v3.LeaveGroupRequest(group_id=self.group, members=(
            leave_v3.MemberIdentity(member_id=self.member_id, group_instance_id=None),)),
            TIMEOUT_S)
        self.member_id, self.generation = "", -1


async def rebalance_round(members: list[ProtocolMember], old: list[ProtocolMember]) -> None:
    """All of `members` join (the old ones once told of the rebalance), then sync."""
    async with trio.open_nursery() as nursery:
        for m in members:
            nursery.start_soon(m.join)
        if old:
            # Wait until the newcomer's JoinGroup has started the rebalance.
            while await old[0].heartbeat() != ErrorCode.rebalance_in_progress:
                await trio.sleep(0)
    async with trio.open_nursery() as nursery:
        for m in members:
            nursery.start_soon(m.sync)


async def protocol_rebalances(bootstrap: str, rounds: int) -> list[float]:
    host, port = bootstrap.rsplit(":", 1)
    group, topic = "bench-rebalance", "bench-protocol"
    timings = []
    async with trio.open_nursery() as nursery:
        conns = [await Connection.open(nursery, (host, int(port)), f"bench-{i}", TIMEOUT_S)
                 for i in range(3)]
        with trio.fail_after(TIMEOUT_S):  # the first lookup creates __consumer_offsets
            while (await conns[0].request(FindCoordinatorRequest(key=group, key_type=0),
                                          TIMEOUT_S)).error_code != ErrorCode.none:
                await trio.sleep(0.1)
        a, b, c = (ProtocolMember(conn, group, topic) for conn in conns)
        while True:  # the first load may still be in progress
            try:
                await rebalance_round([a, b], [])
                break
            except RuntimeError as e:
                if "LOAD_IN_PROGRESS" not in str(e) and "REBALANCE" not in str(e):
                    raise
                await trio.sleep(0.1)
        for _ in range(rounds):
            started = trio.current_time()
            await rebalance_round_with_newcomer(a, b, c)
            timings.append(trio.current_time() - started)
            await c.leave()
            await rebalance_round([a, b], [])
        for conn in conns:
            await conn.aclose()
        nursery.cancel_scope.cancel()
    return timings


async def rebalance_round_with_newcomer(a: ProtocolMember, b: ProtocolMember,
                                        c: ProtocolMember) -> None:
    """c joins a Stable group of a and b, who rejoin as soon as a heartbeat tells them."""
    async with trio.open_nursery() as nursery:
        nursery.start_soon(c.join)
        while await a.heartbeat() != ErrorCode.rebalance_in_progress:
            await trio.sleep(0)
        nursery.start_soon(a.join)
        nursery.start_soon(b.join)
    async with trio.open_nursery() as nursery:
        for m in (a, b, c):
            nursery.start_soon(m.sync)


# --- 1b. rebalance, librdkafka consumers ----------------------------------------------------------


class ClientMember(threading.Thread):
    """A librdkafka consumer polling in its own thread, publishing its assignment."""

    def __init__(self, bootstrap: str, group: str, topic: str, heartbeat_ms: int) -> None:
        super().__init__(daemon=True)
        self.config = {"bootstrap.servers": bootstrap, "group.id": group,
                       "heartbeat.interval.ms": heartbeat_ms, "session.timeout.ms": 45_000,
                       "auto.offset.reset": "latest"}
        self.topic = topic
        self.assignment: frozenset[int] = frozenset()
        self.stopping = threading.Event()

    def run(self) -> None:
        consumer = confluent_kafka.Consumer(self.config)
        consumer.subscribe([self.topic])
        try:
            while not self.stopping.is_set():
                consumer.poll(0.01)
                self.assignment = frozenset(tp.partition for tp in consumer.assignment())
        finally:
            consumer.close()

    def stop(self) -> None:
        self.stopping.set()
        self.join(60)


def wait_split(members: list[ClientMember], sizes: list[int]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        held = [m.assignment for m in members]
        if [len(h) for h in held] == sizes and len(frozenset().union(*held)) == sum(sizes):
            return
        time.sleep(0.001)
    raise RuntimeError(f"no {sizes} split within 120 s")


def client_rebalances(bootstrap: str, rounds: int, heartbeat_ms: int) -> list[float]:
    topic, group = "bench-clients", "bench-client-rebalance"
    create_topic(bootstrap, topic, TOPIC_PARTITIONS)
    old = [ClientMember(bootstrap, group, topic, heartbeat_ms) for _ in range(2)]
    for m in old:
        m.start()
    wait_split(old, [3, 3])
    timings = []
    try:
        for _ in range(rounds):
            # Join at a random phase of the old members' heartbeats: right after a
            # rebalance they all heartbeat in step, and a fixed phase would bias the figure.
            time.sleep(random.uniform(0, heartbeat_ms / 1000))
            newcomer = ClientMember(bootstrap, group, topic, heartbeat_ms)
            started = time.monotonic()
            newcomer.start()
            wait_split([*old, newcomer], [2, 2, 2])
            timings.append(time.monotonic() - started)
            newcomer.stop()
            wait_split(old, [3, 3])
    finally:
        for m in old:
            m.stop()
    return timings


# --- 2. group consume throughput ------------------------------------------------------------------


def produce(bootstrap: str, topic: str, records: int, value_bytes: int) -> None:
    producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap, "linger.ms": 20,
                                         "batch.size": 1 << 20})
    value = b"x" * value_bytes
    for i in range(records):
        while True:
            try:
                producer.produce(topic, value, partition=i % TOPIC_PARTITIONS)
                break
            except BufferError:
                producer.poll(0.05)
    if producer.flush(120) != 0:
        raise RuntimeError("produce did not finish")


def group_throughput(
    bootstrap: str, records: int, value_bytes: int
) -> tuple[float, float, list[int]]:
    """(seconds from the first subscribe to the last record, seconds from the first
    record to the last, records per member)."""
    topic = "bench-throughput"
    create_topic(bootstrap, topic, TOPIC_PARTITIONS)
    produce(bootstrap, topic, records, value_bytes)
    counts = [0, 0]
    first_record: list[float] = []
    done = threading.Event()
    lock = threading.Lock()

    def member(i: int) -> None:
        consumer = confluent_kafka.Consumer({"bootstrap.servers": bootstrap,
                                             "group.id": "bench-throughput",
                                             "auto.offset.reset": "earliest"})
        consumer.subscribe([topic])
        try:
            while not done.is_set():
                got = sum(1 for m in consumer.consume(10_000, 0.1) if m.error() is None)
                with lock:
                    if got and not first_record:
                        first_record.append(time.monotonic())
                    counts[i] += got
                    if sum(counts) >= records:
                        done.set()
        finally:
            consumer.close()

    threads = [threading.Thread(target=member, args=(i,), daemon=True) for i in range(2)]
    started = time.monotonic()
    for t in threads:
        t.start()
    if not done.wait(600):
        raise RuntimeError(f"consumed {sum(counts)} of {records} in 600 s")
    finished = time.monotonic()
    for t in threads:
        t.join(60)
    return finished - started, finished - first_record[0], counts


# --- report ---------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def ms(values: list[float]) -> str:
    return (f"{percentile(values, 0.5) * 1000:.1f} ms / {percentile(values, 0.99) * 1000:.1f} ms"
            f" (n={len(values)})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run (small counts)")
    parser.add_argument("--rounds", type=int, help="protocol-level rebalances (200, quick 30)")
    parser.add_argument("--client-rounds", type=int, help="librdkafka rebalances (10, quick 3)")
    parser.add_argument("--heartbeat-ms", type=int, default=3000,
                        help="librdkafka heartbeat.interval.ms (its default: 3000)")
    parser.add_argument("--records", type=int, help="records for throughput (1000000, quick "
                        "100000)")
    parser.add_argument("--value-bytes", type=int, default=100)
    parser.add_argument("--dir", help="where data goes (default: the system temp dir)")
    args = parser.parse_args()
    rounds = args.rounds or (30 if args.quick else 200)
    client_rounds = args.client_rounds or (3 if args.quick else 10)
    records = args.records or (100_000 if args.quick else 1_000_000)
    work = Path(tempfile.mkdtemp(prefix="bench-groups-", dir=args.dir))
    dev = None
    try:
        dev = Dev(work)
        protocol = trio.run(protocol_rebalances, dev.bootstrap, rounds)
        clients = client_rebalances(dev.bootstrap, client_rounds, args.heartbeat_ms)
        elapsed, streaming, counts = group_throughput(dev.bootstrap, records, args.value_bytes)
    finally:
        if dev is not None:
            dev.stop()
        shutil.rmtree(work, ignore_errors=True)
    rate, steady = records / elapsed, records / streaming
    print("### Consumer groups (`scripts/bench_groups.py`)\n")
    print("| figure | result |")
    print("| --- | --- |")
    print(f"| rebalance after a join, group of 3, protocol-level members told at once "
          f"(p50 / p99) | {ms(protocol)} |")
    print(f"| rebalance after a join, group of 3 librdkafka consumers, "
          f"heartbeat.interval.ms={args.heartbeat_ms} (p50 / p99) | {ms(clients)} |")
    print(f"| consume, group of 2 librdkafka consumers, {TOPIC_PARTITIONS} partitions, "
          f"{records:,} x {args.value_bytes} B, from subscribe (first rebalance waits "
          f"group.initial.rebalance.delay.ms) | {rate:,.0f} records/s "
          f"({rate * args.value_bytes / 1e6:.1f} MB/s of values) in {elapsed:.2f} s |")
    print(f"| the same, from the first record consumed | {steady:,.0f} records/s "
          f"({steady * args.value_bytes / 1e6:.1f} MB/s) in {streaming:.2f} s; "
          f"split {counts[0]:,} / {counts[1]:,} |")
    print()
    print(f"Host: {platform.machine()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}, librdkafka {confluent_kafka.libversion()[0]}; "
          f"kraft dev with default group settings; run `{' '.join(sys.argv[1:]) or '(defaults)'}`.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
