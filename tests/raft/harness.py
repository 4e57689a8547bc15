"""A hand-driven cluster of `RaftCore`s for scenario and transcript tests.

Unlike `sim.Simulation`, nothing happens unless the test says so: messages
wait in `pending` until `deliver()` (in send order, optionally filtered or
dropped), time moves only with `tick()`/`run_until()`, and flushes complete
at once unless `auto_flush` is off for a node. Every delivery, role change,
commit and snapshot is written to `transcript` in a compact form, which
`test_transcripts.py` compares with golden files.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from kraft.raft import (
    ElectionState,
    Leader,
    MemoryLog,
    OffsetAndEpoch,
    QuorumConfig,
    RaftCore,
    Ready,
)
from kraft.raft.messages import Inbound, Message, Outbound
from tests.raft.render import describe


@dataclass
class Node:
    node_id: int
    config: QuorumConfig
    log: MemoryLog = field(default_factory=MemoryLog)
    stored: ElectionState | None = None
    core: RaftCore | None = None
    auto_flush: bool = True
    unflushed: list[int] = field(default_factory=list)
    committed: list[tuple[int, int, bytes]] = field(default_factory=list)
    readies: list[Ready] = field(default_factory=list)
    snapshot_requests: list[OffsetAndEpoch] = field(default_factory=list)

    @property
    def raft(self) -> RaftCore:
        assert self.core is not None, f"node {self.node_id} is down"
        return self.core


@dataclass
class Pending:
    source: int
    out: Outbound


class Harness:
    def __init__(
        self, voters: int = 3, observers: int = 0, seed: int = 0, **overrides: int
    ) -> None:
        self.now = 0
        self.seed = seed
        self.transcript: list[str] = []
        self.pending: list[Pending] = []
        self._tokens: dict[int, tuple[int, int]] = {}
        self._next_token = 0
        voter_ids = tuple(range(1, voters + 1))
        ids = voter_ids + tuple(range(101, 101 + observers))
        self.nodes = {
            i: Node(i, QuorumConfig(node_id=i, voters=voter_ids, **overrides)) for i in ids
        }
        for node_id in ids:
            self.start(node_id)

    # --- nodes -------------------------------------------------------------

    def __getitem__(self, node_id: int) -> RaftCore:
        return self.nodes[node_id].raft

    def start(self, node_id: int) -> None:
        node = self.nodes[node_id]
        rng = random.Random(self.seed * 1000 + node_id)
        node.core = RaftCore(node.config, node.log, node.stored, rng, self.now)
        self.pump(node_id)

    def crash(self, node_id: int, keep_unflushed: int = 0) -> None:
        node = self.nodes[node_id]
        node.core = None
        node.unflushed.clear()
        node.log.crash(keep_unflushed)
        self.pending = [p for p in self.pending if node_id not in (p.source, p.out.destination)]
        self.note(f"{node_id}: crash")

    def pump(self, node_id: int) -> None:
        """Act on every Ready of a node the way a driver must."""
        node = self.nodes[node_id]
        core = node.raft
        while core.has_ready():
            ready = core.take_ready()
            node.readies.append(ready)
            if ready.quorum_state is not None:
                node.stored = ready.quorum_state
            if ready.role is not None:
                self.note(f"{node_id}: {ready.role}")
            for out in ready.messages:
                self.pending.append(Pending(node_id, out))
            if ready.snapshot_loaded is not None:
                self.note(f"{node_id}: load snapshot {_oe(ready.snapshot_loaded)}")
                node.committed = []  # the listener's state is now the snapshot's
            if ready.committed:
                first, last = ready.committed[0].offset, ready.committed[-1].offset
                self.note(f"{node_id}: commit [{first}..{last}] hw={ready.high_watermark}")
                node.committed += [(e.offset, e.epoch, e.payload) for e in ready.committed]
            if ready.snapshot_request is not None:
                node.snapshot_requests.append(ready.snapshot_request)
            if ready.flush_to is not None:
                node.unflushed.append(ready.flush_to)
            if node.auto_flush:
                self.flush(node_id)

    def flush(self, node_id: int) -> None:
        """Complete the node's outstanding flushes."""
        node = self.nodes[node_id]
        if node.unflushed:
            offset = node.unflushed[-1]
            node.unflushed.clear()
            node.log.flush()
            node.raft.flushed(offset, self.now)
            self.pump(node_id)

    # --- network -----------------------------------------------------------

    def deliver(
        self, where: Callable[[Pending], bool] = lambda p: True, *, drop: bool = False
    ) -> int:
        """Deliver (or drop) the pending messages `where` selects, in send order.
        Messages sent while delivering wait for the next call."""
        chosen = [p for p in self.pending if where(p)]
        self.pending = [p for p in self.pending if not where(p)]
        for p in chosen:
            if drop:
                self.note(f"{p.source}->{p.out.destination} dropped {describe(p.out.message)}")
            else:
                self._deliver_one(p)
        return len(chosen)

    def deliver_between(self, *ids: int) -> int:
        return self.deliver(lambda p: p.source in ids and p.out.destination in ids)

    def _deliver_one(self, p: Pending) -> None:
        dst = p.out.destination
        node = self.nodes[dst]
        if node.core is None:
            return
        if p.out.is_request:
            token = self._next_token
            self._next_token += 1
            self._tokens[token] = (p.source, p.out.correlation_id)
            inbound = Inbound(p.source, token, p.out.message)
        else:
            origin = self._tokens.pop(p.out.correlation_id, None)
            if origin is None:
                return
            inbound = Inbound(p.source, origin[1], p.out.message)
        self.note(f"{p.source}->{dst} {describe(p.out.message)}")
        node.raft.handle(inbound, self.now)
        self.pump(dst)

    def ask(self, dst: int, source: int, request: Message) -> Message | None:
        """Hand `request` from `source` straight to `dst`; return its immediate answer
        (None if it was parked)."""
        token = self._next_token
        self._next_token += 1
        self.nodes[dst].raft.handle(Inbound(source, token, request), self.now)
        self.pump(dst)
        for p in self.pending:
            if p.source == dst and not p.out.is_request and p.out.correlation_id == token:
                self.pending.remove(p)
                return p.out.message
        return None

    def messages(self, kind: type | None = None) -> list[Message]:
        return [
            p.out.message for p in self.pending if kind is None or isinstance(p.out.message, kind)
        ]

    # --- time ----------------------------------------------------------------

    def tick(self, ms: int) -> None:
        self.now += ms
        for node_id, node in self.nodes.items():
            if node.core is not None:
                node.core.poll(self.now)
                self.pump(node_id)

    def next_deadline(self) -> int:
        return min(n.raft.poll(self.now) for n in self.nodes.values() if n.core is not None)

    def run_until(self, done: Callable[[], bool], *, max_ms: int = 30_000) -> None:
        """Deliver everything, jumping to the next deadline when idle, until `done()`."""
        limit = self.now + max_ms
        while not done():
            if self.deliver() == 0:
                if self.now >= limit:
                    raise AssertionError(f"not done after {max_ms} ms")
                self.tick(max(1, self.next_deadline() - self.now))

    def leader(self) -> int | None:
        leaders = [
            n.node_id
            for n in self.nodes.values()
            if n.core is not None and isinstance(n.core.role, Leader)
        ]
        return max(leaders, key=lambda i: self[i].epoch, default=None)

    def elect(self) -> int:
        self.run_until(lambda: self.leader() is not None)
        leader = self.leader()
        assert leader is not None
        return leader

    def note(self, line: str) -> None:
        self.transcript.append(f"{self.now:>6} {line}")


def _oe(position: OffsetAndEpoch) -> str:
    return f"({position.offset},{position.epoch})"
