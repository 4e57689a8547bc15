"""ControllerChannel: requests from this broker to the active controller.

Kafka's NodeToControllerChannelManager. The active controller is the leader
of the metadata quorum; this node learns who that is from its own raft node
(voter or observer) and reaches it on the address the voter set in force
gives (a dynamic quorum's VotersRecord), else the one it started with. Two
ways to send, after what a repeated request would do:

- `send`, for the broker's own requests, which are safe to repeat
  (BrokerRegistration, BrokerHeartbeat, AlterPartition, AllocateProducerIds,
  and the CreateTopics of auto-creation, which takes TOPIC_ALREADY_EXISTS as
  success). It retries until its deadline: while no leader is known, when
  the connection fails, and when the answer says NOT_CONTROLLER. Each attempt
  is bounded by `attempt_timeout_s` (controller.quorum.request.timeout.ms)
  and abandoned as soon as raft reports another leader, so a request stuck
  on a paused old controller moves to the new one in time (a heartbeat must
  arrive within broker.session.timeout.ms).
- `forward`, for the clients' admin requests (kraft.broker.forwarding), which
  must take effect at most once and be answered with their own outcome: a
  CreateTopics run twice answers TOPIC_ALREADY_EXISTS for the very topics it
  created. As Kafka's forwarding does, one attempt waits for its answer up to
  the request's deadline, also when raft reports another leader meanwhile
  (the old controller answers once it learns what became of the request's
  records: its own answer if they commit, NOT_CONTROLLER if another leader's
  entries replace them; kraft.controller.quorum_controller). It is sent again
  only when it certainly did not run: no leader known, not sent at all
  (kraft.net.client.RequestNotSent), or answered NOT_CONTROLLER. When the
  connection dies after the request was sent, the copy goes to the same
  controller in the same epoch only, carrying the same request identity, so
  that controller answers it with the first execution's answer
  (kraft.controller.recent_results); if leadership has moved instead, the
  outcome cannot be learnt and the client gets REQUEST_TIMED_OUT, as after
  any timeout, rather than a second execution's answer.

Forwarded requests use a client of their own (`forward_client`, Kafka's
separate "forwarding" channel), so a broker request timing out on a shared
connection cannot close it under them. The request is sent at the version its
kio class has: both ends run the same code, so the controller accepts every
version the broker builds.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import trio
from kio.schema.errors import ErrorCode

from kraft.controller.recent_results import forward_client_id
from kraft.net.client import ConnectionFailed, KafkaClient, RequestNotSent
from kraft.raft.types import LeaderAndEpoch

log = logging.getLogger("kraft.broker")

Address = tuple[str, int]
RETRY_BACKOFF_S = 0.05


class ControllerUnavailable(Exception):
    """No active controller answered before the deadline (for `forward`: or the
    request may have run on a controller that can no longer tell)."""


class UnansweredLog:
    """Why requests of one kind to the controller go unanswered, while they do:
    logged at INFO when it starts or the reason changes, repeats at DEBUG, and
    once more at INFO when one is answered again (a node whose controller is
    unreachable would otherwise log every retry)."""

    def __init__(self, node_id: int, failed: str, answered: str) -> None:
        """`failed`: the text after "node N: ", with one %s for the reason;
        `answered`: the text for the first answer after a failure."""
        self.node_id = node_id
        self._failed = failed
        self._answered = answered
        self._reason: str | None = None

    def failed(self, reason: str) -> None:
        log.log(logging.DEBUG if reason == self._reason else logging.INFO,
                "node %d: " + self._failed, self.node_id, reason)
        self._reason = reason

    def answered(self) -> None:
        if self._reason is not None:
            log.info("node %d: %s", self.node_id, self._answered)
            self._reason = None


class ControllerChannel:
    def __init__(
        self,
        client: KafkaClient,
        voters: dict[int, Address],
        leader: Callable[[], LeaderAndEpoch],
        wait_leader_change: Callable[[], Awaitable[Any]],
        *,
        node_id: int = -1,
        attempt_timeout_s: float = 2.0,
        forward_client: KafkaClient | None = None,
        heartbeat_client: KafkaClient | None = None,
        current_voters: Callable[[], dict[int, Address]] | None = None,
    ) -> None:
        self.client = client
        self.forward_client = forward_client or client
        self.heartbeat_client = heartbeat_client or client
        self.voters = voters
        # The voter set in force (raft's, with a dynamic quorum's endpoints): a
        # controller added later (AddRaftVoter) is never in the start-up `voters`.
        self._current_voters = current_voters
        self._leader = leader
        self._wait_leader_change = wait_leader_change
        self.attempt_timeout_s = attempt_timeout_s
        self.node_id = node_id
        self._incarnation = uuid.uuid4().hex[:16]
        self._sequence = itertools.count()

    async def send(self, request: Any, timeout_s: float, *, heartbeat: bool = False) -> Any:
        """The active controller's response to `request`, a request safe to repeat.

        `heartbeat`: over the heartbeat client's connection, which carries
        nothing else (BrokerRegistration and BrokerHeartbeat), so that it
        closes only when this process dies or one of its own requests times
        out; the controller fences a broker soon after that connection closes
        (kraft.controller.heartbeats).

        Raises ControllerUnavailable if none answered within `timeout_s`.
        """
        client = self.heartbeat_client if heartbeat else self.client
        last_problem = "no quorum leader known"
        with trio.move_on_after(timeout_s):
            while True:
                leader = self._leader()
                if leader.leader_id is None:
                    await self._wait_for_leader()
                    continue
                address = self._known_address(leader)
                if address is None:  # not sent: wait for the voter set or a new leader
                    last_problem = f"no address for controller {leader.leader_id}"
                    await self._wait_for_leader()
                    continue
                try:
                    response = await self._attempt(address, request, client)
                except ConnectionFailed as e:
                    last_problem = f"controller {leader.leader_id}: {e}"
                    await trio.sleep(RETRY_BACKOFF_S)
                    continue
                if response is None:
                    last_problem = f"controller {leader.leader_id} did not answer"
                    continue
                if not _says_not_controller(response):
                    return response
                last_problem = f"node {leader.leader_id} is not the active controller yet"
                await trio.sleep(RETRY_BACKOFF_S)
        raise ControllerUnavailable(last_problem)

    async def forward(self, request: Any, timeout_s: float) -> Any:
        """The active controller's response to a client's `request`, which takes
        effect at most once (module docstring).

        Raises ControllerUnavailable if no answer came within `timeout_s`, or if
        the request may have run on a controller that can no longer say.
        """
        client_id = forward_client_id(self.node_id, self._incarnation, next(self._sequence))
        deadline = trio.current_time() + timeout_s
        maybe_ran_at: LeaderAndEpoch | None = None  # a copy may have reached it
        last_problem = "no quorum leader known"
        with trio.move_on_at(deadline):
            while True:
                leader = self._leader()
                if leader.leader_id is None:
                    await self._wait_for_leader()
                    continue
                if maybe_ran_at is not None and leader != maybe_ran_at:
                    raise ControllerUnavailable(
                        f"lost the connection to controller {maybe_ran_at.leader_id} after "
                        f"sending the request, and leadership has moved since: it may or may "
                        f"not have taken effect")
                address = self._known_address(leader)
                if address is None:  # certainly not sent
                    last_problem = f"no address for controller {leader.leader_id}"
                    await self._wait_for_leader()
                    continue
                last_problem = f"controller {leader.leader_id} did not answer"
                try:
                    response = await self.forward_client.request(
                        address, request, deadline - trio.current_time(), client_id=client_id)
                except RequestNotSent as e:
                    last_problem = f"controller {leader.leader_id}: {e}"
                    await trio.sleep(RETRY_BACKOFF_S)
                    continue
                except ConnectionFailed as e:  # also RequestTimedOut: it may have run
                    log.info("node %d: lost the connection to controller %d with a %s in "
                             "flight (%s); sending it again with the same identity",
                             self.node_id, leader.leader_id, type(request).__name__, e)
                    maybe_ran_at = leader
                    last_problem = f"controller {leader.leader_id}: {e}"
                    await trio.sleep(RETRY_BACKOFF_S)
                    continue
                if not _says_not_controller(response):
                    return response
                maybe_ran_at = None  # NOT_CONTROLLER: it did not run there
                last_problem = f"node {leader.leader_id} is not the active controller"
                await trio.sleep(RETRY_BACKOFF_S)
        if maybe_ran_at is not None:
            raise ControllerUnavailable(f"{last_problem}; the request may or may not have "
                                        f"taken effect")
        raise ControllerUnavailable(
            f"no answer from the active controller within {timeout_s:.1f} s ({last_problem})")

    def _known_address(self, leader: LeaderAndEpoch) -> Address | None:
        """The leader's controller endpoint, None while it is unknown (the waits
        for it end within the retry backoff, so a send never spins)."""
        if leader.leader_id is None:
            return None
        current = self._current_voters() if self._current_voters is not None else {}
        return current.get(leader.leader_id) or self.voters.get(leader.leader_id)

    async def _wait_for_leader(self) -> None:
        with trio.move_on_after(RETRY_BACKOFF_S * 10):
            await self._wait_leader_change()

    async def _attempt(self, address: Address, request: Any, client: KafkaClient) -> Any | None:
        """One try: the response, or None if the leader changed or the attempt
        timed out first. Raises ConnectionFailed."""
        outcome: list[Any] = []
        failure: list[ConnectionFailed] = []
        with trio.move_on_after(self.attempt_timeout_s):
            async with trio.open_nursery() as nursery:

                async def ask() -> None:
                    try:
                        outcome.append(await client.request(
                            address, request, timeout=self.attempt_timeout_s))
                    except ConnectionFailed as e:
                        failure.append(e)
                    nursery.cancel_scope.cancel()

                async def watch() -> None:
                    await self._wait_leader_change()
                    nursery.cancel_scope.cancel()

                nursery.start_soon(ask)
                nursery.start_soon(watch)
        if failure:
            raise failure[0]
        return outcome[0] if outcome else None


def _says_not_controller(response: Any, depth: int = 0) -> bool:
    """True if the response, or any of its entries, carries NOT_CONTROLLER."""
    if getattr(response, "error_code", None) == ErrorCode.not_controller:
        return True
    if depth >= 2 or not dataclasses.is_dataclass(response):
        return False
    for field in dataclasses.fields(response):
        value = getattr(response, field.name)
        if isinstance(value, tuple):
            for item in value:
                if dataclasses.is_dataclass(item) and _says_not_controller(item, depth + 1):
                    return True
    return False
