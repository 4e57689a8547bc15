"""Request identities of forwarded requests (kraft.controller.recent_results): a
copy of a request is answered with its first execution's answer, within one
activation of the controller."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import trio
import trio.testing

from kraft.controller.recent_results import (
    RecentResults,
    forward_client_id,
    request_identity,
)


@dataclass
class Activation:
    active_epoch: int | None = 1


class Executions:
    """Counts executions; each answers `answer-<n>`, `ran` as configured."""

    def __init__(self, ran: bool = True) -> None:
        self.count = 0
        self.ran = ran
        self.release = trio.Event()
        self.release.set()

    async def __call__(self) -> tuple[Any, bool]:
        self.count += 1
        answer = f"answer-{self.count}"
        await self.release.wait()
        return answer, self.ran


def test_identity_round_trips_through_the_client_id() -> None:
    """The identity a broker puts in the client id is the one the controller reads;
    ordinary client ids carry none."""
    client_id = forward_client_id(3, "00ff", 17)
    assert request_identity(client_id) == "3-00ff-17"
    assert request_identity("kraft-node-3") is None
    assert request_identity(None) is None
    assert request_identity(client_id + "x") is None


async def test_a_copy_gets_the_first_answer() -> None:
    """The same identity runs once; a copy, sequential or concurrent, gets its answer."""
    results = RecentResults(Activation())
    execute = Executions()
    execute.release = trio.Event()
    answers: list[Any] = []
    async with trio.open_nursery() as nursery:
        for _ in range(2):
            nursery.start_soon(lambda: _append(answers, results.once("a", execute)))
        await trio.testing.wait_all_tasks_blocked()
        execute.release.set()
    answers.append(await results.once("a", execute))
    assert answers == ["answer-1"] * 3
    assert execute.count == 1
    assert await results.once("b", execute) == "answer-2"


async def test_not_controller_is_not_kept() -> None:
    """An answer saying the command did not run leaves nothing behind: a later copy runs."""
    results = RecentResults(Activation())
    execute = Executions(ran=False)
    assert await results.once("a", execute) == "answer-1"
    assert await results.once("a", execute) == "answer-2"
    assert len(results) == 0


async def test_a_new_activation_forgets() -> None:
    """Identities name executions of one activation; a new epoch starts empty."""
    activation = Activation(1)
    results = RecentResults(activation)
    execute = Executions()
    await results.once("a", execute)
    activation.active_epoch = 2
    assert await results.once("a", execute) == "answer-2"


async def test_capacity_drops_the_oldest() -> None:
    """At most `capacity` answers are kept, the least recently used dropped first."""
    results = RecentResults(Activation(), capacity=2)
    execute = Executions()
    await results.once("a", execute)
    await results.once("b", execute)
    await results.once("a", execute)  # a is now the most recent
    await results.once("c", execute)
    assert len(results) == 2
    assert await results.once("a", execute) == "answer-1"
    assert await results.once("b", execute) == "answer-4"


async def test_a_failed_first_execution_fails_its_copies() -> None:
    """If the first execution raises, a copy waiting for it raises too and the
    identity is forgotten."""
    results = RecentResults(Activation())
    release = trio.Event()

    async def failing() -> tuple[Any, bool]:
        await release.wait()
        raise ValueError("boom")

    errors: list[BaseException] = []

    async def copy() -> None:
        try:
            await results.once("a", failing)
        except (ValueError, RuntimeError) as e:
            errors.append(e)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(copy)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(copy)
        await trio.testing.wait_all_tasks_blocked()
        release.set()
    assert sorted(type(e).__name__ for e in errors) == ["RuntimeError", "ValueError"]
    assert len(results) == 0
    with pytest.raises(ValueError):
        release = trio.Event()
        release.set()
        await results.once("a", failing)


async def _append(answers: list[Any], answer: Any) -> None:
    answers.append(await answer)
