"""ControllerChannel.forward (kraft.broker.controller_channel): a client's admin
request reaches the active controller at most once, and the client gets the
answer of its own request. The network is scripted: each attempt asks the
script what to do."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import trio
import trio.testing
from kio.schema.create_topics.v7.request import CreatableTopic, CreateTopicsRequest
from kio.schema.create_topics.v7.response import CreatableTopicResult, CreateTopicsResponse
from kio.schema.errors import ErrorCode

from kraft.broker.controller_channel import ControllerChannel, ControllerUnavailable
from kraft.controller.recent_results import request_identity
from kraft.net.client import ConnectionFailed, RequestNotSent, RequestTimedOut
from kraft.raft.types import LeaderAndEpoch

VOTERS = {1: ("c1", 1), 2: ("c2", 2), 3: ("c3", 3)}
REQUEST = CreateTopicsRequest(
    topics=(CreatableTopic(name="t", num_partitions=1, replication_factor=1, assignments=(),
                           configs=()),),
    timeout=timedelta(seconds=30), validate_only=False)


def answer(code: ErrorCode) -> CreateTopicsResponse:
    return CreateTopicsResponse(
        throttle_time=timedelta(0),
        topics=(CreatableTopicResult(name="t", topic_id=uuid.UUID(int=0), error_code=code,
                                     error_message=None, topic_config_error_code=ErrorCode.none,
                                     num_partitions=1, replication_factor=1, configs=()),))


@dataclass
class Sent:
    address: tuple[str, int]
    client_id: str | None


Step = Callable[[], Awaitable[Any]]


class ScriptedClient:
    """Plays `steps` in order, one per request; records where each went."""

    def __init__(self, steps: list[Step]) -> None:
        self.steps = steps
        self.sent: list[Sent] = []

    async def request(self, address: tuple[str, int], request: Any, timeout: float, *,
                      client_id: str | None = None) -> Any:
        self.sent.append(Sent(address, client_id))
        return await self.steps.pop(0)()


class Leadership:
    def __init__(self, leader: LeaderAndEpoch) -> None:
        self.leader = leader
        self.changed = trio.Event()

    def move(self, leader: LeaderAndEpoch) -> None:
        self.leader = leader
        self.changed.set()
        self.changed = trio.Event()

    async def wait(self) -> LeaderAndEpoch:
        await self.changed.wait()
        return self.leader


def channel(client: ScriptedClient, leadership: Leadership) -> ControllerChannel:
    return ControllerChannel(client, VOTERS, lambda: leadership.leader,  # type: ignore[arg-type]
                             leadership.wait, node_id=7)


def returns(code: ErrorCode) -> Step:
    async def step() -> Any:
        return answer(code)
    return step


def raises(error: Exception) -> Step:
    async def step() -> Any:
        raise error
    return step


async def test_not_sent_and_not_controller_are_sent_again() -> None:
    """A request that never left, or that a node answered NOT_CONTROLLER (it did not
    run there), is sent again, to whoever leads then."""
    leadership = Leadership(LeaderAndEpoch(1, 5))

    async def not_controller_then_move() -> Any:
        leadership.move(LeaderAndEpoch(2, 6))
        return answer(ErrorCode.not_controller)

    client = ScriptedClient([raises(RequestNotSent("refused")), not_controller_then_move,
                             returns(ErrorCode.none)])
    response = await channel(client, leadership).forward(REQUEST, 10)
    assert response.topics[0].error_code == ErrorCode.none
    assert [s.address for s in client.sent] == [VOTERS[1], VOTERS[1], VOTERS[2]]
    assert len({s.client_id for s in client.sent}) == 1
    assert request_identity(client.sent[0].client_id) is not None


async def test_waits_for_the_answer_when_leadership_moves() -> None:
    """A new leader while the request is at the old controller is not a reason to send
    it again: the old controller answers once it knows what became of it."""
    leadership = Leadership(LeaderAndEpoch(1, 5))
    release = trio.Event()

    async def slow() -> Any:
        await release.wait()
        return answer(ErrorCode.none)

    client = ScriptedClient([slow])
    async with trio.open_nursery() as nursery:
        result: list[Any] = []

        async def forward() -> None:
            result.append(await channel(client, leadership).forward(REQUEST, 10))

        nursery.start_soon(forward)
        await trio.testing.wait_all_tasks_blocked()
        leadership.move(LeaderAndEpoch(2, 6))
        await trio.testing.wait_all_tasks_blocked()
        release.set()
    assert result[0].topics[0].error_code == ErrorCode.none
    assert len(client.sent) == 1


async def test_a_lost_connection_is_retried_at_the_same_controller_with_the_same_identity(
) -> None:
    """After a connection lost with the request in flight, the copy goes to the same
    controller in the same epoch, with the same request identity."""
    leadership = Leadership(LeaderAndEpoch(1, 5))
    client = ScriptedClient([raises(ConnectionFailed("reset")), returns(ErrorCode.none)])
    response = await channel(client, leadership).forward(REQUEST, 10)
    assert response.topics[0].error_code == ErrorCode.none
    assert [s.address for s in client.sent] == [VOTERS[1], VOTERS[1]]
    assert client.sent[0].client_id == client.sent[1].client_id


async def test_a_lost_connection_then_a_new_leader_is_not_sent_again() -> None:
    """If leadership moved after the request may have run, no other controller can
    tell: REQUEST_TIMED_OUT (ControllerUnavailable) rather than a second execution."""
    leadership = Leadership(LeaderAndEpoch(1, 5))

    async def reset_and_move() -> Any:
        leadership.move(LeaderAndEpoch(2, 6))
        raise ConnectionFailed("reset")

    client = ScriptedClient([reset_and_move])
    with pytest.raises(ControllerUnavailable, match="may or may not"):
        await channel(client, leadership).forward(REQUEST, 10)
    assert len(client.sent) == 1


async def test_no_answer_in_time_is_not_sent_again(autojump_clock: Any) -> None:
    """A request that got no answer within its timeout was sent once."""
    leadership = Leadership(LeaderAndEpoch(1, 5))

    async def silent() -> Any:
        await trio.sleep_forever()

    client = ScriptedClient([silent])
    with pytest.raises(ControllerUnavailable, match="no answer"):
        await channel(client, leadership).forward(REQUEST, 10)
    assert len(client.sent) == 1


async def test_a_timed_out_connection_is_ambiguous(autojump_clock: Any) -> None:
    """A connection closed by another request's timeout leaves this one's fate open:
    its copy goes to the same controller with the same identity."""
    leadership = Leadership(LeaderAndEpoch(1, 5))
    client = ScriptedClient([raises(RequestTimedOut("another request timed out")),
                             returns(ErrorCode.none)])
    response = await channel(client, leadership).forward(REQUEST, 10)
    assert response.topics[0].error_code == ErrorCode.none
    assert client.sent[0] == client.sent[1]


async def test_each_forward_has_its_own_identity() -> None:
    """Two client requests carry two identities."""
    leadership = Leadership(LeaderAndEpoch(1, 5))
    client = ScriptedClient([returns(ErrorCode.none), returns(ErrorCode.none)])
    forwarding = channel(client, leadership)
    await forwarding.forward(REQUEST, 10)
    await forwarding.forward(REQUEST, 10)
    assert client.sent[0].client_id != client.sent[1].client_id


async def test_send_moves_to_the_new_leader() -> None:
    """`send` (the broker's own, repeatable requests) abandons an attempt when
    leadership moves and asks the new leader."""
    leadership = Leadership(LeaderAndEpoch(1, 5))
    stuck = trio.Event()

    async def paused() -> Any:
        await stuck.wait()

    client = ScriptedClient([paused, returns(ErrorCode.none)])
    async with trio.open_nursery() as nursery:
        result: list[Any] = []

        async def send() -> None:
            result.append(await channel(client, leadership).send(REQUEST, 10))

        nursery.start_soon(send)
        await trio.testing.wait_all_tasks_blocked()
        leadership.move(LeaderAndEpoch(2, 6))
    assert result[0].topics[0].error_code == ErrorCode.none
    assert [s.address for s in client.sent] == [VOTERS[1], VOTERS[2]]


async def test_a_leader_added_to_the_voters_later_is_reached_there(autojump_clock: Any) -> None:
    """A leader missing from the start-up voters (added by AddRaftVoter) is reached
    at the address raft's voter set in force gives; while no address is known,
    send waits (no spinning) and times out with ControllerUnavailable."""
    leadership = Leadership(LeaderAndEpoch(9, 5))
    current: dict[int, tuple[str, int]] = {}
    client = ScriptedClient([returns(ErrorCode.none)])
    chan = ControllerChannel(client, VOTERS, lambda: leadership.leader,  # type: ignore[arg-type]
                             leadership.wait, node_id=7, current_voters=lambda: current)
    started = trio.current_time()
    with pytest.raises(ControllerUnavailable, match="no address for controller 9"):
        await chan.send(REQUEST, 2)
    assert trio.current_time() - started >= 2  # it waited (virtual clock) for an address
    with pytest.raises(ControllerUnavailable, match="no address for controller 9"):
        await chan.forward(REQUEST, 2)
    assert client.sent == []
    current[9] = ("c9", 9)
    result = await chan.send(REQUEST, 2)
    assert result.topics[0].error_code == ErrorCode.none
    assert [s.address for s in client.sent] == [("c9", 9)]
