"""ControllerChannel: requests from this broker to the active controller.

Kafka's NodeToControllerChannelManager. The active controller is the leader
of the metadata quorum; this node learns who that is from its own raft node
(voter or observer) and reaches it on the address `controller.quorum.voters`
gives. `send` retries until its deadline: while no leader is known, when the
connection fails, and when the answer says NOT_CONTROLLER (the leader has not
finished becoming the active controller, or leadership just moved). Each
attempt is bounded by `attempt_timeout_s` (controller.quorum.request.timeout.ms)
and abandoned as soon as raft reports another leader, so a request stuck on a
paused old controller moves to the new one in time (a heartbeat must arrive
within broker.session.timeout.ms). A response other than NOT_CONTROLLER ends
`send`; a request abandoned without a response may have been executed and
is sent again (controller commands are safe to repeat: a repeated
registration is a retry, a repeated CreateTopics answers
TOPIC_ALREADY_EXISTS).

The request is sent at the version its kio class has: both ends run the same
code, so the controller accepts every version the broker builds.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

import trio
from kio.schema.errors import ErrorCode

from kraft.net.client import ConnectionFailed, KafkaClient
from kraft.raft.types import LeaderAndEpoch

log = logging.getLogger("kraft.broker")

Address = tuple[str, int]
RETRY_BACKOFF_S = 0.05


class ControllerUnavailable(Exception):
    """No active controller answered before the deadline."""


class ControllerChannel:
    def __init__(
        self,
        client: KafkaClient,
        voters: dict[int, Address],
        leader: Callable[[], LeaderAndEpoch],
        wait_leader_change: Callable[[], Any],
        *,
        attempt_timeout_s: float = 2.0,
    ) -> None:
        self.client = client
        self.voters = voters
        self._leader = leader
        self._wait_leader_change = wait_leader_change
        self.attempt_timeout_s = attempt_timeout_s

    async def send(self, request: Any, timeout_s: float) -> Any:
        """The active controller's response to `request`.

        Raises ControllerUnavailable if none answered within `timeout_s`.
        """
        last_problem = "no quorum leader known"
        with trio.move_on_after(timeout_s):
            while True:
                leader = self._leader()
                if leader.leader_id is None:
                    with trio.move_on_after(RETRY_BACKOFF_S * 10):
                        await self._wait_leader_change()
                    continue
                address = self.voters.get(leader.leader_id)
                if address is None:
                    raise ControllerUnavailable(f"no address for controller {leader.leader_id}")
                try:
                    response = await self._attempt(address, request)
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


    async def _attempt(self, address: Address, request: Any) -> Any | None:
        """One try: the response, or None if the leader changed or the attempt
        timed out first. Raises ConnectionFailed."""
        outcome: list[Any] = []
        failure: list[ConnectionFailed] = []
        with trio.move_on_after(self.attempt_timeout_s):
            async with trio.open_nursery() as nursery:

                async def ask() -> None:
                    try:
                        outcome.append(await self.client.request(
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
