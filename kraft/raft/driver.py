"""The trio driver: the only async code around the pure raft core.

Theory of operation. One task (`RaftNode.run`) owns the `RaftCore`. Every
input reaches it through one bounded memory channel (the inbox) as one of a
few small frozen event types, handled by one `match` in `_loop`, so the core
sees a single ordered stream of events:

- `m.Inbound`: a request from a peer or a tool (the controller-listener
  handlers registered by `register` decode the kio request, put it in the
  inbox with a fresh token, and wait for the core's response carrying that
  token; a parked Fetch waits until data arrives or its max wait ends), or the
  response to one of our own requests (each is sent by a short task through
  the pooled `KafkaClient`);
- `RequestFailed`: one of our requests got no usable response; `connection_lost`
  when the peer's kernel refused or closed the connection (the process is
  gone), not when it timed out (`is_connection_loss`);
- `Flushed`, `Propose`, `Resign`, `Stop`: a flush's fsyncs returned, the layer
  above appends records, graceful shutdown begins, the driver stops.

After each input the driver drains `take_ready()` and acts on each Ready in
the order `kraft.raft.ready` prescribes: persist quorum-state (fsync, in a
worker thread) before sending anything; send; start a flush (one at a time,
fsync in a worker thread, then `Flushed`); tell the listener about loaded
snapshots, committed entries and snapshot requests; publish leader changes.
Then it sleeps until the next input or the core's deadline.

Backpressure. A full inbox makes its senders wait (in order), never the
driver: the driver awaits nothing but its inbox and the quorum-state write,
and its own callbacks into the listener are synchronous. The one input raised
from inside the driver task, `snapshot_created_nowait` (called by the
listener while the driver acts on a snapshot request), therefore bypasses the
inbox: the driver could not wait for room in its own inbox. When the driver
stops, everything still queued or waiting for room is answered (a proposal
with NotLeaderError, a request with BROKER_NOT_AVAILABLE): no reply is lost.

A storage error (OSError from the log or the quorum-state file) is not
handled: it propagates, the nursery cancels everything and the node stops
loudly, as docs/design.md requires. Time is `trio.current_time()` in ms, so
tests can use trio's MockClock.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Protocol, assert_never, runtime_checkable

import trio
from kio.schema.errors import ErrorCode

from kraft import shutdown_log
from kraft.net.client import ConnectionFailed, KafkaClient, RequestTimedOut, UnsupportedVersion
from kraft.net.codec import InvalidRequest, RequestHeader
from kraft.net.registry import ApiRegistry
from kraft.net.security import ClientSecurity
from kraft.net.server import RequestContext
from kraft.raft import messages as m
from kraft.raft import quorum_state_file, rpc
from kraft.raft.config import QuorumConfig
from kraft.raft.core import RaftCore
from kraft.raft.disk_log import DiskLog
from kraft.raft.log import ReplicatedLog
from kraft.raft.ready import Ready
from kraft.raft.state import Leader, Prospective, Resigned, Role
from kraft.raft.types import Entry, LeaderAndEpoch, NotLeaderError, OffsetAndEpoch

log = logging.getLogger("kraft.raft")

Address = tuple[str, int]


class RaftListener(Protocol):
    """What the layer above learns from the quorum. Called from the driver task;
    must not block (hand work to other tasks)."""

    def snapshot_loaded(self, snapshot_id: OffsetAndEpoch) -> None:
        """State must be reloaded from this snapshot, before the next commits."""

    def committed(self, entries: tuple[Entry, ...]) -> None:
        """Entries below the high watermark, in order, each exactly once."""

    def snapshot_requested(self, snapshot_id: OffsetAndEpoch) -> None:
        """Write a snapshot of the state after `snapshot_id.offset` and call
        `RaftNode.snapshot_created`."""

    def leader_changed(self, leader: LeaderAndEpoch) -> None:
        """The known leader or epoch changed."""


@runtime_checkable
class Flushable(Protocol):
    """A log whose fsyncs may run in a worker thread (DiskLog)."""

    def begin_flush(self) -> tuple[int, Any]:
        """(end offset covered, a thread-safe callable doing the fsyncs)."""

    def complete_flush(self, end_offset: int) -> None:
        """Back on the owner after the callable returned."""


@dataclass(slots=True)
class _Waiter:
    event: trio.Event
    response: m.Response | None = None


# --- the inbox -------------------------------------------------------------------------

INBOX_SIZE = 64
"""Events buffered before senders wait. Each sender is a task that waits for its
answer anyway (a peer's request handler, a proposer, one of our request or
flush tasks), so the inbox never holds more than those tasks; the bound keeps a
burst (one Fetch per observer broker, responses from each voter, tool requests)
from queueing unboundedly behind a slow quorum-state fsync. 64 covers a quorum
with tens of observers without anyone waiting in steady state; past it,
senders wait in order, which slows peers' requests, never the driver."""


@dataclass(frozen=True, slots=True)
class RequestFailed:
    """Our request to `destination` got no usable response (connection lost,
    timeout, unsupported version, malformed answer); `connection_lost` if the
    peer refused or closed the connection (`is_connection_loss`)."""

    destination: int
    correlation_id: int
    connection_lost: bool = False


@dataclass(frozen=True, slots=True)
class Flushed:
    """The fsyncs of the flush begun at `end_offset` returned (in a worker thread)."""

    end_offset: int


@dataclass(frozen=True, slots=True)
class Propose:
    """Append `payloads` (as leader of `epoch`, if given). `reply` (buffer 1) gets
    exactly one answer: the offset of the last record, or the exception."""

    payloads: tuple[bytes, ...]
    epoch: int | None
    reply: trio.MemorySendChannel[int | Exception]
    base_offset: int | None = None


@dataclass(frozen=True, slots=True)
class Resign:
    """Graceful shutdown begins; `done` is set once the resignation is acknowledged
    (or the driver stopped)."""

    done: trio.Event


@dataclass(frozen=True, slots=True)
class Stop:
    """Stop the driver now."""


InboxEvent = m.Inbound | RequestFailed | Flushed | Propose | Resign | Stop


class RaftNode:
    """One member of the metadata quorum, driven by trio."""

    def __init__(
        self,
        config: QuorumConfig,
        raft_log: ReplicatedLog,
        metadata_dir: str | Path,
        voter_addresses: dict[int, Address],
        listener: RaftListener,
        *,
        rng: random.Random | None = None,
        client_security: ClientSecurity | None = None,
    ) -> None:
        self.config = config
        self.client_security = client_security  # how to reach the other voters (TLS, SASL)
        self.log = raft_log
        self.metadata_dir = Path(metadata_dir)
        self._addresses = voter_addresses
        self.listener = listener
        self._rng = rng or random.Random()
        self._inbox_send, self._inbox = trio.open_memory_channel[InboxEvent](INBOX_SIZE)
        self._snapshots_created: list[OffsetAndEpoch] = []
        self._tokens = itertools.count(1)
        self._waiters: dict[int, _Waiter] = {}
        self._flushing = False
        self._flush_wanted = False
        self._core: RaftCore | None = None
        self._nursery: trio.Nursery | None = None
        self._client: KafkaClient | None = None
        self._leader = LeaderAndEpoch(None, 0)
        # (leader, epoch) whose silence was logged at INFO: once per leader and epoch,
        # however many pre-vote rounds follow (_log_unheard_leader).
        self._unheard: tuple[int, int] | None = None
        self._leader_changed = trio.Event()
        self._high_watermark = 0
        self._hw_changed = trio.Event()
        self._stopped = trio.Event()
        self._closed = False
        self.role: Role | None = None

    # --- what the layer above uses -----------------------------------------------

    @property
    def leader(self) -> LeaderAndEpoch:
        return self._leader

    @property
    def high_watermark(self) -> int:
        return self._high_watermark

    @property
    def kraft_version(self) -> int:
        """The kraft.version in force (KIP-853; 0 before the member starts)."""
        return 0 if self._core is None else self._core.kraft_version

    @property
    def lost_leader(self) -> tuple[int, int] | None:
        """RaftCore.lost_leader: the leader whose process this voter saw die."""
        return None if self._core is None else self._core.lost_leader

    async def wait_leader_change(self) -> LeaderAndEpoch:
        await self._leader_changed.wait()
        return self._leader

    async def wait_high_watermark(self, offset: int) -> None:
        """Return once the high watermark is above `offset`."""
        while self._high_watermark <= offset:
            await self._hw_changed.wait()

    async def propose(self, payloads: Sequence[bytes], epoch: int | None = None,
                      base_offset: int | None = None) -> int:
        """Append records on the leader; returns the offset of the last one.

        Raises NotLeaderError (with the known leader) on any other node. The
        records are committed once `high_watermark` passes the offset, unless
        leadership is lost first. With `base_offset`, raises
        UnexpectedBaseOffsetError (nothing appended) unless the first record
        gets exactly that offset.
        """
        if self._closed:
            raise NotLeaderError(None, self._leader.epoch)
        reply, result = trio.open_memory_channel[int | Exception](1)
        # No checkpoint since the `_closed` check: the inbox is still open. If the
        # driver stops while we wait for room, it answers us when it drains the inbox.
        await self._inbox_send.send(Propose(tuple(payloads), epoch, reply, base_offset))
        outcome = await result.receive()
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def next_write_offset(self, epoch: int) -> int:
        """The offset the next `propose(..., epoch=epoch)` will give its first
        payload. Proposals move it, and so do the raft layer's own records (a
        VotersRecord of AddRaftVoter/RemoveRaftVoter) and a new epoch: pass it as
        `propose(base_offset=...)` to have the append refused if it moved.
        Raises NotLeaderError unless this node leads `epoch`."""
        if self._core is None or self._closed:
            raise NotLeaderError(None, self._leader.epoch)
        return self._core.next_write_offset(epoch)

    def snapshot_created_nowait(self, snapshot_id: OffsetAndEpoch) -> None:
        """The listener stored a snapshot in the log (after `snapshot_requested`).

        Called from the listener's synchronous callbacks, which run in the
        driver task: the driver hands it to the core before it next waits for
        input. (Not an inbox event: the driver cannot wait for room in its own
        inbox.)"""
        self._snapshots_created.append(snapshot_id)

    def register(self, registry: ApiRegistry) -> None:
        """Serve the raft RPCs (every declaration in `rpc.RPCS`) on the controller
        listener's registry."""
        for spec in rpc.RPCS:
            registry.register(spec.api_key, spec.min_version, spec.max_version,
                              partial(self._handle_request, spec))

    # --- the driver task -------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run until cancelled or `shutdown`. Storage errors propagate (node stops)."""
        stored = quorum_state_file.read(self.metadata_dir)
        core = RaftCore(self.config, self.log, stored, self._rng, self._now())
        self._core = core
        if isinstance(self.log, DiskLog):  # its snapshots carry the voter set (KIP-853)
            self.log.quorum_records_provider = core.quorum_records_at
        try:
            async with (KafkaClient(f"raft-{self.config.node_id}",
                                    security=self.client_security) as client,
                        trio.open_nursery() as n):
                self._client = client
                self._nursery = n
                task_status.started()
                try:
                    await self._loop(core)
                finally:
                    n.cancel_scope.cancel()  # a flush in a thread is waited for, not abandoned
                    self._stop_waiters()
        finally:
            self._stopped.set()

    async def shutdown(self, timeout_s: float = 5.0) -> None:
        """Resign gracefully (EndQuorumEpoch to the other voters), stop `run` and
        return once it has stopped (no flush still running): then the log may
        be closed."""
        done = trio.Event()
        try:
            await self._inbox_send.send(Resign(done))
            with trio.move_on_after(timeout_s):
                await done.wait()
            await self._inbox_send.send(Stop())
        except trio.BrokenResourceError:
            pass  # the driver has stopped already
        await self._stopped.wait()

    def _stop_waiters(self) -> None:
        """Answer everyone still waiting on the core: it will not answer now.

        Request handlers are released through their waiters (they answer
        BROKER_NOT_AVAILABLE). Draining the inbox also takes in, one by one,
        the senders still waiting for room, so every proposal queued or
        waiting gets NotLeaderError and a pending resignation is released.
        The inbox is then closed: `propose` and the handlers see `_closed`
        first, and a later `shutdown` fails its send at once instead of
        waiting for a reader that is gone."""
        self._closed = True
        for waiter in self._waiters.values():
            waiter.event.set()
        self._waiters.clear()
        while True:
            try:
                event = self._inbox.receive_nowait()
            except trio.WouldBlock:
                break
            match event:
                case Propose(reply=reply):
                    reply.send_nowait(NotLeaderError(None, self._leader.epoch))
                case Resign(done):
                    done.set()  # nothing left to wait for
                case _:
                    pass  # requests were answered through their waiters above
        self._inbox.close()

    @property
    def voter_addresses(self) -> dict[int, Address]:
        """The voters in force and their controller endpoints: the voter set in the
        log where it names endpoints (kraft.version 1, KIP-853), else the
        addresses this node was started with (controller.quorum.voters, the
        bootstrap checkpoint, or what controller.quorum.bootstrap.servers
        answered)."""
        core = self._core
        if core is None:
            return dict(self._addresses)
        found: dict[int, Address] = {}
        for voter in core.voter_set.voters:
            if voter.endpoints:
                _name, host, port = voter.endpoints[0]
                found[voter.voter_id] = (host, port)
            elif voter.voter_id in self._addresses:
                found[voter.voter_id] = self._addresses[voter.voter_id]
        return found

    def _address(self, node_id: int) -> Address | None:
        """Where to send a request for `node_id`: a voter's endpoint, else any
        address this node was started with (bootstrap servers, former voters)."""
        return self.voter_addresses.get(node_id) or self._addresses.get(node_id)

    @staticmethod
    def _now() -> int:
        return int(trio.current_time() * 1000)

    async def _loop(self, core: RaftCore) -> None:
        resigned: trio.Event | None = None
        while True:
            now = self._now()
            for snapshot_id in self._snapshots_created:
                core.snapshot_created(snapshot_id.offset, snapshot_id.epoch, now)
            self._snapshots_created.clear()
            deadline = core.poll(now)
            await self._drain(core)
            if self._snapshots_created:
                continue  # the listener wrote a snapshot while we acted: feed it first
            if resigned is not None and core.resignation_acknowledged:
                resigned.set()
            event: InboxEvent | None = None
            with trio.move_on_at(deadline / 1000):
                event = await self._inbox.receive()
            if event is None:
                continue
            now = self._now()
            match event:
                case m.Inbound():
                    core.handle(event, now)
                case RequestFailed(destination, correlation_id, connection_lost):
                    core.request_failed(destination, correlation_id, now,
                                        connection_lost=connection_lost)
                case Flushed(end_offset):
                    self._flushing = False
                    assert isinstance(self.log, Flushable)
                    self.log.complete_flush(end_offset)
                    core.flushed(end_offset, now)
                    if self._flush_wanted:
                        self._flush_wanted = False
                        self._start_flush(core)
                case Propose(payloads, epoch, reply, base_offset):
                    try:
                        reply.send_nowait(core.propose(payloads, now, epoch=epoch,
                                                       base_offset=base_offset))
                    except (NotLeaderError, ValueError) as e:
                        reply.send_nowait(e)
                case Resign(done):
                    resigned = done
                    core.resign(now)
                case Stop():
                    return
                case _:
                    assert_never(event)

    async def _drain(self, core: RaftCore) -> None:
        while core.has_ready():
            await self._act(core, core.take_ready())

    async def _act(self, core: RaftCore, ready: Ready) -> None:
        if ready.quorum_state is not None:
            await trio.to_thread.run_sync(
                quorum_state_file.write, self.metadata_dir, ready.quorum_state,
                self.config.cluster_id or "",
            )
        for out in ready.messages:
            self._send(out)
        if ready.flush_to is not None:
            if self._flushing:
                self._flush_wanted = True
            else:
                self._start_flush(core)
        # The high watermark first, so a listener can tell from it whether the
        # committed entries it is handed have caught up.
        hw_moved = ready.high_watermark != self._high_watermark
        self._high_watermark = ready.high_watermark
        if ready.snapshot_loaded is not None:
            self.listener.snapshot_loaded(ready.snapshot_loaded)
        if ready.committed:
            self.listener.committed(ready.committed)
        if ready.snapshot_request is not None:
            self.listener.snapshot_requested(ready.snapshot_request)
        if hw_moved:
            self._hw_changed.set()
            self._hw_changed = trio.Event()
        leader_change = ready.leader_change
        if ready.role is not None:
            self.role = ready.role
            _log_role(self.config.node_id, ready.role)
            self._log_unheard_leader(ready.role)
            if (
                isinstance(ready.role, Resigned)
                and leader_change is None
                and self._leader.leader_id == self.config.node_id
            ):
                # A resigned leader still names itself for its epoch inside
                # raft, but it no longer leads: the layer above (the active
                # controller) must stop acting as leader now, not when the
                # next leader is known.
                leader_change = LeaderAndEpoch(None, ready.role.epoch)
        if leader_change is not None:
            _log_leader_change(self.config.node_id, self._leader, leader_change)
            self._leader = leader_change
            self.listener.leader_changed(leader_change)
            self._leader_changed.set()
            self._leader_changed = trio.Event()

    def _log_unheard_leader(self, role: Role) -> None:
        """A follower that stops hearing from its leader says so once at INFO; the
        pre-vote rounds that follow, every election timeout while the quorum is
        lost, are at DEBUG (_log_role)."""
        unheard = _unheard_leader(role, self._unheard)
        if unheard is not None:
            self._unheard = unheard
            # Either the fetch timeout passed or the leader's connection was refused
            # or reset (docs/design.md, failing over, 1): the words fit both.
            log.info("node %d: lost touch with the metadata quorum leader (node %d, epoch %d); "
                     "asking the voters whether to elect another",
                     self.config.node_id, *unheard)

    def _start_flush(self, core: RaftCore) -> None:
        if not isinstance(self.log, Flushable):
            self.log.flush()  # in-memory logs: nothing slow to do
            core.flushed(self.log.end_offset, self._now())
            return
        end_offset, fsyncs = self.log.begin_flush()
        self._flushing = True
        assert self._nursery is not None
        self._nursery.start_soon(self._flush_in_thread, end_offset, fsyncs)

    async def _flush_in_thread(self, end_offset: int, fsyncs: Any) -> None:
        started = time.monotonic()
        await trio.to_thread.run_sync(fsyncs)
        took = time.monotonic() - started
        if took * 1000 >= self.config.fetch_timeout_ms / 2:
            # A voter fetches again only once its log is flushed: a flush this
            # slow eats into controller.quorum.fetch.timeout.ms.
            log.warning("node %d: flushing the metadata log to offset %d took %.2f s",
                        self.config.node_id, end_offset, took)
        await self._inbox_send.send(Flushed(end_offset))

    # --- outbound messages -------------------------------------------------------------

    def _send(self, out: m.Outbound) -> None:
        message = out.message
        if isinstance(message, m.Request):
            assert self._nursery is not None
            self._nursery.start_soon(self._request, out)
            return
        waiter = self._waiters.pop(out.correlation_id, None)
        if waiter is not None:  # else the requester went away (connection closed)
            waiter.response = message
            waiter.event.set()

    async def _request(self, out: m.Outbound) -> None:
        address = self._address(out.destination)
        message = out.message
        assert isinstance(message, m.Request)
        spec = rpc.for_request(message)
        timeout = self.config.request_timeout_ms / 1000
        deadline = trio.current_time() + timeout
        try:
            if address is None:
                raise ConnectionFailed(f"no address for node {out.destination}")
            assert self._client is not None
            request = spec.request_to_kio(message)
            # Connecting and negotiating count against the request timeout too,
            # so requests to a paused peer do not pile up behind its connect.
            with trio.fail_after(timeout):
                conn = await self._client.connection(address)
            # The rest of the timeout is the request's own: when it expires the
            # connection is closed (as Kafka's NetworkClient disconnects on a
            # request timeout). Left open, a request sent into a network
            # partition holds every later one behind it in the socket until TCP
            # retransmits after the heal (backed off to tens of seconds).
            response = await conn.request(request, max(deadline - trio.current_time(), 1e-3))
            event: InboxEvent = m.Inbound(out.destination, out.correlation_id,
                                          spec.response_from_kio(response))
        except (ConnectionFailed, UnsupportedVersion, InvalidRequest, rpc.PeerError,
                trio.TooSlowError) as e:
            log.debug("node %d: %s to node %d failed: %s", self.config.node_id,
                      spec.name, out.destination, e)
            # A failure at the deadline is a timeout whatever it says (a request
            # still waiting for its turn to be written gives up as "not sent").
            event = RequestFailed(out.destination, out.correlation_id,
                                  connection_lost=is_connection_loss(e)
                                  and trio.current_time() < deadline)
        # Cancelled (not BrokenResourceError) if the driver stops meanwhile: this
        # task is in the driver's nursery, which is cancelled before the inbox closes.
        await self._inbox_send.send(event)

    # --- inbound requests (controller listener) ------------------------------------

    async def _handle_request(
        self, spec: rpc.RaftRpc[Any, Any], ctx: RequestContext, header: RequestHeader, req: Any
    ) -> Any:
        version = header.api_version
        if spec is rpc.DESCRIBE_QUORUM and (
                elsewhere := rpc.describe_quorum_elsewhere(version, req)) is not None:
            return elsewhere  # another topic or partition: Kafka's per-partition error
        try:
            message = spec.request_from_kio(req)
        except rpc.PeerError as e:
            log.info("node %d: bad %s from %s: %s", self.config.node_id,
                     type(req).__name__, ctx.peer, e)
            return spec.error_response(version, ErrorCode.invalid_request, str(e))
        if self._closed:
            return spec.error_response(version, ErrorCode.broker_not_available)
        token = next(self._tokens)
        waiter = _Waiter(trio.Event())
        self._waiters[token] = waiter
        try:
            # As in `propose`: the inbox is open, and a driver that stops answers us
            # through the waiter even if we are still waiting for room.
            await self._inbox_send.send(m.Inbound(spec.source(message), token, message))
            await waiter.event.wait()
        finally:
            self._waiters.pop(token, None)
        if waiter.response is None:  # the node stopped
            return spec.error_response(version, ErrorCode.broker_not_available)
        response = waiter.response
        if isinstance(response, m.DescribeQuorumResponse):
            response = _to_wall_clock(response, int(time.time() * 1000) - self._now())
        return spec.response_to_kio(version, response, self._now(), self.voter_addresses)


def is_connection_loss(error: BaseException) -> bool:
    """Whether a failed request means the peer's kernel refused, reset or closed
    the connection (the peer process is gone or restarting), as opposed to no
    answer in time, which a slow or partitioned peer also gives.

    Timeouts are `trio.TooSlowError`, `RequestTimedOut`, or a connect that
    timed out (its cause is TooSlowError); version and decoding errors come
    from a live peer."""
    if not isinstance(error, ConnectionFailed) or isinstance(error, RequestTimedOut):
        return False
    cause = error.__cause__
    while cause is not None:
        if isinstance(cause, trio.TooSlowError | RequestTimedOut | TimeoutError):
            return False
        cause = cause.__cause__
    return True


def _to_wall_clock(d: m.DescribeQuorumResponse, shift_ms: int) -> m.DescribeQuorumResponse:
    """The core's clock is trio's (monotonic); DescribeQuorum reports wall-clock ms."""

    def shift(r: m.ReplicaState) -> m.ReplicaState:
        return dataclasses.replace(
            r,
            last_fetch_timestamp=r.last_fetch_timestamp + shift_ms
            if r.last_fetch_timestamp >= 0 else -1,
            last_caught_up_timestamp=r.last_caught_up_timestamp + shift_ms
            if r.last_caught_up_timestamp >= 0 else -1,
        )

    return dataclasses.replace(
        d,
        current_voters=tuple(shift(r) for r in d.current_voters),
        observers=tuple(shift(r) for r in d.observers),
    )


def _unheard_leader(role: Role, logged: tuple[int, int] | None) -> tuple[int, int] | None:
    """The (leader, epoch) a node stopped hearing from, when `role` is the first
    pre-vote (KIP-996) against that leader in that epoch; None otherwise."""
    if isinstance(role, Prospective) and role.leader_id is not None:
        unheard = (role.leader_id, role.epoch)
        if unheard != logged:
            return unheard
    return None


def _log_role(node_id: int, role: Role) -> None:
    """Becoming leader or resigning at INFO, in words; the steps of an election
    (prospective, candidate, unattached, follower) at DEBUG, so a node that lost
    its quorum does not fill the log with a flip every election timeout."""
    if isinstance(role, Leader):
        log.info("node %d: elected leader of the metadata quorum in epoch %d", node_id,
                 role.epoch)
    elif isinstance(role, Resigned):
        log.log(shutdown_log.level(node_id),
                "node %d: resigned as leader of the metadata quorum in epoch %d", node_id,
                role.epoch)
    else:
        log.debug("node %d: %s", node_id, role)


def _log_leader_change(node_id: int, old: LeaderAndEpoch, new: LeaderAndEpoch) -> None:
    """A new known leader at INFO; losing the known leader once at INFO; each
    further epoch of an election without a leader at DEBUG."""
    if new.leader_id is not None:
        log.info("node %d: the metadata quorum leader is node %d in epoch %d", node_id,
                 new.leader_id, new.epoch)
    elif old.leader_id is not None:
        log.log(shutdown_log.level(node_id),
                "node %d: the metadata quorum has no leader (was node %d in epoch %d)",
                node_id, old.leader_id, old.epoch)
    else:
        log.debug("node %d: no metadata quorum leader in epoch %d", node_id, new.epoch)
