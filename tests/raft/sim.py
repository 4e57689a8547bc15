"""Deterministic simulation of a KRaft quorum built from `RaftCore`s.

Everything runs on one simulated clock from one event queue; all randomness
comes from `random.Random` instances seeded from `Schedule.seed`, so a
schedule always replays the same way (`scripts/raft_replay.py`).

The cluster: `voters` voters (ids 1..n) and `observers` observers (ids
101..), each with a `MemoryLog` (its unflushed tail is lost on crash, or
partly kept to model page-cache write-back), a durable `quorum-state`, a
listener that applies committed entries and writes snapshots, and a driver
loop that acts on `Ready` as `kraft.raft.ready` prescribes.

A paused node (a stopped process: SIGSTOP, a long GC) handles nothing until
it resumes; messages, timers and flush completions for it wait.

The network delays every message by 1..max_delay_ms (so it reorders), drops
and duplicates with the schedule's rates, and honours partitions (a set of
blocked directed links) both when a message is sent and when it arrives.
Responses to a node's previous incarnation are dropped (its connections died
with it); requests to a crashed node fail fast with `request_failed`.

A `Schedule` (see `schedule.py`) has a fault phase (faults at drawn times,
proposals throughout) and a stable phase: at `fault_phase_ms` every link
heals, crashed nodes restart, drops and duplicates stop. The stable phase
must elect a leader and commit a new proposal on every node within
`LIVENESS_MS`.

Invariants checked after every event (`Simulation.check_invariants`):

- SingleLeader: at most one node ever leads a given epoch.
- MonotonicEpoch: a node's epoch never decreases, across restarts too (it
  restarts from its durable quorum-state, or the log's epoch if higher).
- MonotonicHighWatermark: within one incarnation a node's high watermark
  never decreases. A restarted node's high watermark starts at its log start
  offset (the end of its latest durable snapshot, or 0), which is at most
  the high watermark it had before.
- CommittedData: every entry below a node's high watermark, and every entry
  delivered to (or loaded from a snapshot into) its listener, equals the
  first entry ever committed at that offset by any node.
- NoTruncationBelowHighWatermark: a node never truncates its log below the
  part of it already checked as committed (crashes aside).
- MajorityHoldsHighWatermark: for every leader, a majority of the voter set
  in force at its high watermark (the one that decided the commit, or the
  one before it: consecutive sets share a majority) hold the entry just below
  the high watermark durably (in their log below the flushed offset, or
  covered by their snapshot).
- VoterSetsAgree (kraft.version 1): every node's voter set at its high
  watermark is the latest committed VotersRecord below it.

Membership changes (kraft.version 1 schedules, KIP-853): spares (ids 201..)
start as observers with no voter set and learn it from the log; an admin
(node id 0, outside the quorum) sends AddRaftVoter / RemoveRaftVoter to the
leader of the moment, as faults, and records the answers.
"""

from __future__ import annotations

import bisect
import hashlib
import heapq
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec

from kraft.raft import (
    ElectionState,
    Entry,
    Leader,
    MemoryLog,
    NotLeaderError,
    OffsetAndEpoch,
    QuorumConfig,
    RaftCore,
    Ready,
    Resigned,
)
from kraft.raft.messages import (
    AddRaftVoterRequest,
    Inbound,
    Outbound,
    RemoveRaftVoterRequest,
)
from kraft.raft.quorum import majority
from kraft.raft.types import VotersRecord
from tests.raft.render import describe
from tests.raft.schedule import LIVENESS_MS, SPARE_BASE_ID, Fault, Schedule, directory_id

OBSERVER_BASE_ID = 101
ADMIN_ID = 0
"""The admin client's id: sends voter changes, is no quorum member."""


class InvariantViolation(AssertionError):
    """An invariant failed; `trace` holds the event log when tracing was on."""


class CheckedLog(MemoryLog):
    """MemoryLog that remembers the lowest truncation since the last check."""

    def __init__(self) -> None:
        super().__init__()
        self.lowest_truncation: int | None = None

    def truncate_to(self, end_offset: int) -> None:
        if end_offset < self.end_offset:
            low = self.lowest_truncation
            self.lowest_truncation = end_offset if low is None else min(low, end_offset)
        super().truncate_to(end_offset)

    def crash(self, keep_unflushed: int = 0) -> None:
        super().crash(keep_unflushed)
        self.lowest_truncation = None


def entry_digest(previous: bytes, entry: Entry) -> bytes:
    """Running digest of a log prefix: each entry chained onto the previous digest."""
    control = b"" if entry.control is None else repr(entry.control).encode()
    head = f"{entry.offset}:{entry.epoch}:".encode()
    return hashlib.blake2b(previous + head + entry.payload + control, digest_size=16).digest()


@dataclass
class Listener:
    """The state machine fed by `Ready`: a digest of every applied entry plus
    the last few entries, so snapshots stay small but prove the whole prefix."""

    applied_end: int = 0
    digest: bytes = b""
    recent: list[Entry] = field(default_factory=list)

    def apply(self, entry: Entry) -> None:
        self.digest = entry_digest(self.digest, entry)
        self.recent = [*self.recent[-7:], entry]
        self.applied_end = entry.offset + 1

    def encode(self) -> bytes:
        rows = [[e.offset, e.epoch, e.payload, repr(e.control)] for e in self.recent]
        return msgspec.msgpack.encode([self.applied_end, self.digest, rows])

    @staticmethod
    def decode(data: bytes) -> tuple[int, bytes, list[tuple[int, int, bytes, str]]]:
        end, digest, rows = msgspec.msgpack.decode(data)
        return end, digest, [tuple(r) for r in rows]


@dataclass
class SimNode:
    node_id: int
    config: QuorumConfig
    log: CheckedLog = field(default_factory=CheckedLog)
    stored: ElectionState | None = None
    core: RaftCore | None = None
    incarnation: int = 0
    timer_token: int = 0
    listener: Listener = field(default_factory=Listener)
    # invariant bookkeeping
    max_epoch: int = 0
    last_hwm: int = 0
    checked_upto: int = 0


class Simulation:
    """Runs one `Schedule`; `run()` raises InvariantViolation on failure."""

    def __init__(self, schedule: Schedule, *, trace: bool = False) -> None:
        self.schedule = schedule
        self.rng = random.Random(schedule.seed)
        self.now = 0
        self.tracing = trace
        self.trace: list[str] = []
        self._queue: list[tuple[int, int, str, tuple]] = []
        self._seq = 0
        self.voter_ids = tuple(range(1, schedule.voters + 1))
        observer_ids = tuple(range(OBSERVER_BASE_ID, OBSERVER_BASE_ID + schedule.observers))
        spare_ids = tuple(range(SPARE_BASE_ID, SPARE_BASE_ID + schedule.spares))
        self.nodes = {
            i: SimNode(i, schedule.config(i)) for i in self.voter_ids + observer_ids + spare_ids
        }
        self.committed_voters: list[tuple[int, VotersRecord]] = []
        self.admin_results: list[tuple[int, str]] = []
        self.blocked: Counter[tuple[int, int]] = Counter()
        self.paused: dict[int, int] = {}
        self.drop_rate = schedule.drop_rate
        self.duplicate_rate = schedule.duplicate_rate
        self._tokens: dict[int, tuple[int, int, int]] = {}
        self._next_token = 0
        self._dirty: set[int] = set()
        self.committed: dict[int, Entry] = {}
        self.digests: list[bytes] = [b""]
        self.leaders: dict[int, int] = {}
        self.proposals = 0
        self.stable_since: int | None = None
        self.liveness_proposals: list[tuple[int, bytes]] = []
        self._last_stable_proposal_ms = 0
        self.events = 0

    # --- running -----------------------------------------------------------------

    def run(self) -> None:
        try:
            self._run()
        except InvariantViolation:
            raise
        except Exception as exc:
            raise InvariantViolation(f"t={self.now}: {type(exc).__name__}: {exc}") from exc

    def _run(self) -> None:
        for node in self.nodes.values():
            self._start(node)
        end_of_faults = self.schedule.fault_phase_ms
        for fault in self.schedule.faults:
            self._schedule(min(fault.at_ms, end_of_faults - 1), "fault", (fault,))
        self._schedule(0, "propose", ())
        self._schedule(end_of_faults, "stabilize", ())
        deadline = end_of_faults + LIVENESS_MS
        while self._queue:
            at, _, kind, args = heapq.heappop(self._queue)
            if at > deadline:
                break
            self.now = at
            self.events += 1
            getattr(self, f"_on_{kind}")(*args)
            self.check_invariants()
            if self.stable_since is not None and self._live():
                return
        raise InvariantViolation(
            f"liveness: no proposal committed on every node within {LIVENESS_MS}"
            f" ms of t={end_of_faults}; roles: {self._roles()}"
        )

    def _schedule(self, at: int, kind: str, args: tuple) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (at, self._seq, kind, args))

    def _note(self, text: str | Callable[[], str]) -> None:
        if self.tracing:
            self.trace.append(f"{self.now:>7} {text() if callable(text) else text}")

    def _roles(self) -> str:
        return ", ".join(
            f"{n.node_id}:{'down' if n.core is None else n.core.role}" for n in self.nodes.values()
        )

    # --- nodes ---------------------------------------------------------------------

    def _start(self, node: SimNode) -> None:
        rng = random.Random(self.schedule.seed * 7919 + node.node_id * 104729 + node.incarnation)
        node.core = RaftCore(node.config, node.log, node.stored, rng, self.now)
        node.listener = Listener()
        if node.core.epoch < node.max_epoch:
            raise InvariantViolation(
                f"node {node.node_id} restarted in epoch {node.core.epoch} < {node.max_epoch}"
            )
        if node.core.high_watermark > max(node.last_hwm, node.log.log_start_offset):
            raise InvariantViolation(f"node {node.node_id} restarted with a high watermark")
        node.last_hwm = node.core.high_watermark
        node.checked_upto = node.log.log_start_offset
        self._note(lambda: f"start {node.node_id} as {node.core.role}")
        self._drive(node)

    def _drive(self, node: SimNode) -> None:
        """The driver loop: act on every Ready, then arm the timer."""
        core = node.core
        assert core is not None
        self._dirty.add(node.node_id)
        while True:
            while core.has_ready():
                self._act(node, core.take_ready())
            deadline = core.poll(self.now)
            if not core.has_ready():
                break
        if deadline <= self.now:
            raise InvariantViolation(f"node {node.node_id}: deadline {deadline} is not after now")
        node.timer_token += 1
        self._schedule(deadline, "timer", (node.node_id, node.incarnation, node.timer_token))

    def _act(self, node: SimNode, ready: Ready) -> None:
        if ready.quorum_state is not None:
            node.stored = ready.quorum_state
        if ready.role is not None:
            self._note(lambda: f"node {node.node_id} -> {ready.role}")
        for out in ready.messages:
            self._send(node, out)
        if ready.flush_to is not None:
            delay = self.rng.randint(0, self.schedule.max_disk_delay_ms)
            flush = (node.node_id, node.incarnation, ready.flush_to)
            self._schedule(self.now + delay, "flush", flush)
        if ready.snapshot_loaded is not None:
            self._load_snapshot(node, ready.snapshot_loaded)
        for entry in ready.committed:
            if entry.offset != node.listener.applied_end:
                raise InvariantViolation(
                    f"node {node.node_id} delivered {entry.offset}, "
                    f"expected {node.listener.applied_end}"
                )
            self._check_committed(node, entry, "delivered")
            node.listener.apply(entry)
        if ready.snapshot_request is not None:
            self._take_snapshot(node, ready.snapshot_request)

    def _load_snapshot(self, node: SimNode, snapshot_id: OffsetAndEpoch) -> None:
        end, digest, recent = Listener.decode(node.log.snapshot_data(snapshot_id))
        if end != snapshot_id.offset or digest != self._committed_digest(end):
            raise InvariantViolation(
                f"CommittedData: node {node.node_id} loaded snapshot {snapshot_id} whose "
                f"content differs from the committed prefix"
            )
        node.listener = Listener(end, digest, [self.committed[r[0]] for r in recent])
        self._note(lambda: f"node {node.node_id} loaded snapshot {snapshot_id}")

    def _committed_digest(self, end: int) -> bytes:
        digests = self.digests
        while len(digests) <= end:
            entry = self.committed.get(len(digests) - 1)
            if entry is None:
                raise InvariantViolation(f"snapshot covers uncommitted offset {len(digests) - 1}")
            digests.append(entry_digest(digests[-1], entry))
        return digests[end]

    def _take_snapshot(self, node: SimNode, snapshot_id: OffsetAndEpoch) -> None:
        assert node.core is not None and snapshot_id.offset == node.listener.applied_end
        node.log.create_snapshot(
            snapshot_id, node.listener.encode(), node.core.quorum_records_at(snapshot_id.offset)
        )
        node.core.snapshot_created(snapshot_id.offset, snapshot_id.epoch, self.now)
        self._note(lambda: f"node {node.node_id} snapshot {snapshot_id}")

    def _check_committed(self, node: SimNode, entry: Entry, what: str) -> None:
        known = self.committed.setdefault(entry.offset, entry)
        if known is entry and isinstance(entry.control, VotersRecord):
            bisect.insort(self.committed_voters, (entry.offset, entry.control),
                          key=lambda r: r[0])
        if known != entry:
            raise InvariantViolation(
                f"CommittedData: node {node.node_id} {what} {entry}, but {known} was committed"
            )

    # --- network -------------------------------------------------------------------

    def _send(self, node: SimNode, out: Outbound) -> None:
        src = node.node_id
        dst = out.destination
        if out.is_request:
            if self.nodes[dst].core is None:
                failed = (src, node.incarnation, dst, out.correlation_id)
                self._schedule(self.now + 1, "failed", failed)
                return
            for delay in self._copies(src, dst):
                token = self._next_token
                self._next_token += 1
                self._tokens[token] = (src, node.incarnation, out.correlation_id)
                inbound = Inbound(src, token, out.message)
                self._schedule(self.now + delay, "deliver", (dst, None, inbound))
        else:
            origin = self._tokens.pop(out.correlation_id, None)
            if origin is None:
                return
            requester, incarnation, correlation_id = origin
            if requester == ADMIN_ID:
                self.admin_results.append((self.now, repr(out.message)))
                self._note(lambda: f"admin <- {src}: {out.message}")
                return
            for delay in self._copies(src, requester):
                inbound = Inbound(src, correlation_id, out.message)
                self._schedule(self.now + delay, "deliver", (requester, incarnation, inbound))

    def _copies(self, src: int, dst: int) -> list[int]:
        if self.blocked[src, dst] or self.rng.random() < self.drop_rate:
            return []
        delays = [self.rng.randint(1, self.schedule.max_delay_ms)]
        if self.rng.random() < self.duplicate_rate:
            delays.append(self.rng.randint(1, self.schedule.max_delay_ms))
        return delays

    def _deferred(self, node_id: int, kind: str, args: tuple) -> bool:
        """A paused node handles nothing: its events wait until it resumes."""
        resume = self.paused.get(node_id)
        if resume is None or self.now >= resume:
            return False
        self._schedule(resume, kind, args)
        return True

    def _on_deliver(self, dst: int, incarnation: int | None, inbound: Inbound) -> None:
        if self._deferred(dst, "deliver", (dst, incarnation, inbound)):
            return
        node = self.nodes[dst]
        if node.core is None or self.blocked[inbound.source, dst]:
            return
        if incarnation is not None and incarnation != node.incarnation:
            return
        self._note(lambda: f"{inbound.source} -> {dst} {describe(inbound.message)}")
        node.core.handle(inbound, self.now)
        self._drive(node)

    def _on_failed(self, src: int, incarnation: int, dst: int, correlation_id: int) -> None:
        if self._deferred(src, "failed", (src, incarnation, dst, correlation_id)):
            return
        node = self.nodes[src]
        if node.core is None or node.incarnation != incarnation:
            return
        # A crashed process's kernel refuses connections: a definite loss.
        node.core.request_failed(dst, correlation_id, self.now, connection_lost=True)
        self._drive(node)

    def _on_timer(self, node_id: int, incarnation: int, token: int) -> None:
        if self._deferred(node_id, "timer", (node_id, incarnation, token)):
            return
        node = self.nodes[node_id]
        if node.core is None or node.incarnation != incarnation or node.timer_token != token:
            return
        self._drive(node)

    def _on_flush(self, node_id: int, incarnation: int, offset: int) -> None:
        if self._deferred(node_id, "flush", (node_id, incarnation, offset)):
            return
        node = self.nodes[node_id]
        if node.core is None or node.incarnation != incarnation:
            return
        node.log.flush()
        node.core.flushed(offset, self.now)
        self._drive(node)

    # --- workload and faults -----------------------------------------------------------

    def _leader(self) -> SimNode | None:
        leaders = [
            n for n in self.nodes.values() if n.core is not None and isinstance(n.core.role, Leader)
        ]
        return max(leaders, key=lambda n: n.max_epoch, default=None)

    def _on_propose(self) -> None:
        """Open-loop proposals in the fault phase; in the stable phase a client
        that waits for each proposal to commit (or 1 s) before the next, so that
        a schedule whose replication is slower than its proposal rate still
        settles."""
        self._schedule(self.now + self.schedule.proposal_interval_ms, "propose", ())
        live = [n for n in self.nodes.values() if n.core is not None]
        if not live or self._awaiting_commit():
            return
        node = self._leader() or self.rng.choice(live)
        core = node.core
        assert core is not None
        if self.paused.get(node.node_id, 0) > self.now:
            return  # clients cannot reach a paused node
        payload = f"p{self.proposals}".encode()
        self.proposals += 1
        try:
            offset = core.propose([payload], self.now)
        except NotLeaderError:
            if isinstance(core.role, Leader):
                raise
            return
        self._note(lambda: f"propose {payload!r} at {offset} on {node.node_id}")
        if self.stable_since is not None:
            self.liveness_proposals.append((offset, payload))
            self._last_stable_proposal_ms = self.now
        self._drive(node)

    def _awaiting_commit(self) -> bool:
        if self.stable_since is None or not self.liveness_proposals:
            return False
        offset, payload = self.liveness_proposals[-1]
        entry = self.committed.get(offset)
        committed = entry is not None and entry.payload == payload
        return not committed and self.now - self._last_stable_proposal_ms < 1000

    def _on_fault(self, fault: Fault) -> None:
        ids = list(self.nodes)
        picked = [self.nodes[ids[i % len(ids)]] for i in fault.nodes]
        kind = fault.kind
        if kind.endswith("_leader") or kind == "resign":
            leader = self._leader()
            if leader is None:
                return
            picked = [leader]
        self._note(lambda: f"fault {fault} on {[n.node_id for n in picked]}")
        if kind in ("crash", "crash_leader"):
            for node in picked:
                if node.core is not None:
                    self._crash(node, fault.keep)
                    if fault.duration_ms:
                        self._schedule(self.now + fault.duration_ms, "restart", (node.node_id,))
        elif kind in ("isolate", "isolate_leader", "partition", "one_way"):
            links = self._links(kind, [n.node_id for n in picked], ids)
            self.blocked.update(links)
            if fault.duration_ms:
                self._schedule(self.now + fault.duration_ms, "heal", (tuple(links),))
        elif kind == "resign":
            # A graceful restart: resign, shut down cleanly, come back.
            node = picked[0]
            assert node.core is not None
            node.core.resign(self.now)
            self._drive(node)
            stop_at = min(self.now + max(fault.duration_ms, 100), self.schedule.fault_phase_ms - 1)
            self._schedule(stop_at, "graceful_stop", (node.node_id, node.incarnation))
        elif kind in ("pause", "pause_leader"):
            for node in picked:
                resume = self.now + (fault.duration_ms or 1000)
                self.paused[node.node_id] = max(self.paused.get(node.node_id, 0), resume)
        elif kind in ("add_voter", "remove_voter", "remove_leader"):
            self._admin_change(kind, fault)
        elif kind == "snapshot":
            for node in picked:
                listener = node.listener
                if node.core is not None and listener.applied_end > node.log.log_start_offset:
                    last = listener.recent[-1]
                    self._take_snapshot(node, OffsetAndEpoch(last.offset + 1, last.epoch))
                    self._drive(node)
        else:
            raise ValueError(f"unknown fault {kind}")

    def _admin_change(self, kind: str, fault: Fault) -> None:
        """Ask the leader of the moment for a voter change, as an admin tool would."""
        leader = self._leader()
        if leader is None or leader.core is None:
            return
        voters = leader.core.voter_set
        request: AddRaftVoterRequest | RemoveRaftVoterRequest
        if kind == "add_voter":
            others = sorted(i for i in self.nodes if i not in voters.ids)
            if not others:
                return
            new = others[fault.nodes[0] % len(others)]
            request = AddRaftVoterRequest(
                cluster_id=None, timeout_ms=0, voter_id=new, voter_directory_id=directory_id(new),
                listeners=(("CONTROLLER", f"n{new}", 9093),),
                ack_when_committed=fault.at_ms % 2 == 0)  # both KIP-1186 modes
        else:
            ids = voters.ids
            gone = leader.node_id if kind == "remove_leader" else ids[fault.nodes[0] % len(ids)]
            node = voters.voter(gone)
            request = RemoveRaftVoterRequest(
                cluster_id=None, voter_id=gone,
                voter_directory_id=None if node is None else node.directory_id)
        token = self._next_token
        self._next_token += 1
        self._tokens[token] = (ADMIN_ID, 0, 0)
        self._note(lambda: f"admin -> {leader.node_id}: {request}")
        self._schedule(self.now + 1, "deliver", (leader.node_id, None,
                                                 Inbound(ADMIN_ID, token, request)))

    @staticmethod
    def _links(kind: str, picked: list[int], ids: list[int]) -> set[tuple[int, int]]:
        """Directed links a network fault blocks."""
        if kind == "one_way":
            a = picked[0]
            b = picked[-1] if picked[-1] != a else ids[(ids.index(a) + 1) % len(ids)]
            return {(a, b)}
        group = set(picked)
        return {(a, b) for a in group for b in ids if b not in group} | {
            (b, a) for a in group for b in ids if b not in group
        }

    def _crash(self, node: SimNode, keep: int) -> None:
        node.core = None
        node.incarnation += 1
        node.log.crash(node.log.end_offset if keep < 0 else keep)
        self._dirty.add(node.node_id)

    def _on_graceful_stop(self, node_id: int, incarnation: int) -> None:
        node = self.nodes[node_id]
        if node.core is None or node.incarnation != incarnation:
            return
        self._note(
            lambda: (
                f"stop {node_id}, resignation acknowledged: {node.core.resignation_acknowledged}"
            )
        )  # type: ignore[union-attr]
        self._crash(node, keep=-1)
        self._schedule(self.now + 100, "restart", (node_id,))

    def _on_restart(self, node_id: int) -> None:
        node = self.nodes[node_id]
        if node.core is None and self.stable_since is None:
            self._start(node)

    def _on_heal(self, links: tuple[tuple[int, int], ...]) -> None:
        if self.stable_since is None:
            self.blocked.subtract(links)
            self._note(lambda: f"heal {sorted(links)}")

    def _on_stabilize(self) -> None:
        self._note("stabilize: heal, restart, no more drops")
        self.blocked.clear()
        self.paused.clear()
        self.drop_rate = 0.0
        self.duplicate_rate = 0.0
        self.stable_since = self.now
        for node in self.nodes.values():
            if node.core is None:
                self._start(node)

    def _live(self) -> bool:
        """Some proposal made in the stable phase is committed on every node."""
        if not self.liveness_proposals:
            return False
        lowest = min(-1 if n.core is None else n.core.high_watermark for n in self.nodes.values())
        for offset, payload in self.liveness_proposals:
            if offset < lowest:
                entry = self.committed.get(offset)
                if entry is not None and entry.payload == payload:
                    return True
        return False

    # --- invariants -------------------------------------------------------------------

    def check_invariants(self) -> None:
        """Check the nodes the last event touched, and every leader's majority."""
        for node_id in self._dirty:
            node = self.nodes[node_id]
            if node.core is not None:
                self._check_node(node)
        self._dirty.clear()
        for node in self.nodes.values():
            core = node.core
            if core is not None and isinstance(core.role, Leader):
                self._check_majority(node, core.high_watermark)

    def _check_node(self, node: SimNode) -> None:
        core = node.core
        assert core is not None
        log = node.log
        role = core.role
        if isinstance(role, Leader | Resigned):
            holder = self.leaders.setdefault(role.epoch, node.node_id)
            if holder != node.node_id:
                raise InvariantViolation(
                    f"SingleLeader: {holder} and {node.node_id} both led epoch {role.epoch}"
                )
        if core.epoch < node.max_epoch:
            raise InvariantViolation(
                f"MonotonicEpoch: node {node.node_id} {node.max_epoch} -> {core.epoch}"
            )
        node.max_epoch = core.epoch
        hwm = core.high_watermark
        if hwm < node.last_hwm:
            raise InvariantViolation(
                f"MonotonicHighWatermark: node {node.node_id} {node.last_hwm} -> {hwm}"
            )
        node.last_hwm = hwm
        if hwm > log.end_offset:
            raise InvariantViolation(f"node {node.node_id}: hwm {hwm} > LEO {log.end_offset}")
        low = log.lowest_truncation
        log.lowest_truncation = None
        if low is not None and low < node.checked_upto:
            raise InvariantViolation(
                f"NoTruncationBelowHighWatermark: node {node.node_id} truncated to {low}, "
                f"checked committed up to {node.checked_upto}"
            )
        start = max(node.checked_upto, log.log_start_offset)
        for offset in range(start, hwm):
            self._check_committed(node, log.entry_at(offset), "holds")
        node.checked_upto = max(start, hwm)
        self._check_voters(node, hwm)

    def _check_voters(self, node: SimNode, hwm: int) -> None:
        """VoterSetsAgree: the set at the node's high watermark is the committed one."""
        i = bisect.bisect_left(self.committed_voters, hwm, key=lambda r: r[0])
        if i == 0:
            return
        assert node.core is not None
        expected = self.committed_voters[i - 1][1]
        held = node.core.voter_history.voters_at(hwm)
        if held != expected:
            raise InvariantViolation(
                f"VoterSetsAgree: node {node.node_id} has voters {held.ids} at {hwm}, "
                f"committed {expected.ids}")

    def _check_majority(self, leader: SimNode, hwm: int) -> None:
        expected = self.committed.get(hwm - 1)
        if expected is None:
            return
        assert leader.core is not None
        # The set that decided the commit: the one in force at the high watermark
        # or a later one the leader appended since (a set takes effect when
        # appended, and at most one change is ever uncommitted).
        history = leader.core.voter_history
        sets = {history.voters_at(hwm).ids, history.latest.ids}
        best = ()
        for voter_ids in sets:
            holders = 0
            for voter_id in voter_ids:
                log = self.nodes[voter_id].log
                if log.log_start_offset >= hwm:
                    holders += 1
                elif log.log_start_offset < hwm <= log.durable_end_offset:
                    holders += log.entry_at(hwm - 1) == expected
            if holders >= majority(len(voter_ids)):
                return
            best = (holders, voter_ids)
        raise InvariantViolation(
            f"MajorityHoldsHighWatermark: leader {leader.node_id} hwm {hwm} durable on "
            f"{best[0]} voters of {best[1]}"
        )
