"""OnDemand (kraft.broker.coordinators): a coordinator is built on first use and runs
from the first image holding its topic or the first `start`, once."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import trio
import trio.testing

from kraft.broker.coordinators import OnDemand


class FakeCoordinator:
    """Counts its runs; `active` as the real coordinators have it."""

    def __init__(self) -> None:
        self.runs = 0
        self.published: list[Any] = []
        self.active = False

    def publish(self, update: Any) -> None:
        self.published.append(update)

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        self.runs += 1
        await trio.sleep(0.01)  # a start that takes a moment: concurrent starts overlap
        self.active = True
        task_status.started()
        await trio.sleep_forever()


def _update(*topics: str) -> Any:
    return SimpleNamespace(image=SimpleNamespace(topics=SimpleNamespace(
        by_name={t: object() for t in topics})))


def _on_demand() -> tuple[OnDemand[FakeCoordinator], list[FakeCoordinator]]:
    built: list[FakeCoordinator] = []

    def build() -> FakeCoordinator:
        built.append(FakeCoordinator())
        return built[-1]

    return OnDemand("__consumer_offsets", build), built


async def test_nothing_is_built_until_needed() -> None:
    """Images without the topic build nothing; neither does running the wrapper."""
    wrapper, built = _on_demand()
    async with trio.open_nursery() as nursery:
        await nursery.start(wrapper.run)
        wrapper.publish(_update("orders"))
        await trio.testing.wait_all_tasks_blocked()
        assert built == [] and not wrapper.built
        nursery.cancel_scope.cancel()


async def test_concurrent_first_starts_run_the_coordinator_once() -> None:
    """Two first uses at once: both get the one coordinator, running, started once."""
    wrapper, built = _on_demand()
    got: list[FakeCoordinator] = []

    async def use() -> None:
        coordinator = await wrapper.start()
        assert coordinator.active
        got.append(coordinator)

    async with trio.open_nursery() as nursery:
        await nursery.start(wrapper.run)
        async with trio.open_nursery() as users:
            users.start_soon(use)
            users.start_soon(use)
        assert len(built) == 1 and got == built * 2 and built[0].runs == 1
        nursery.cancel_scope.cancel()


async def test_its_topic_in_an_image_starts_it_even_before_the_broker_runs() -> None:
    """An image holding the topic, published before the wrapper runs, starts the
    coordinator as the wrapper starts (its run reconciles with the state then);
    later images reach it."""
    wrapper, built = _on_demand()
    first = _update("__consumer_offsets")
    wrapper.publish(first)
    async with trio.open_nursery() as nursery:
        await nursery.start(wrapper.run)
        assert len(built) == 1 and built[0].runs == 1 and built[0].active
        second = _update("__consumer_offsets", "orders")
        wrapper.publish(second)
        assert built[0].published == [second]
        nursery.cancel_scope.cancel()


async def test_a_start_before_the_broker_runs_only_builds() -> None:
    """Without a running wrapper (a broker built, not started), `start` returns the
    coordinator not running, as a coordinator of a broker not started is."""
    wrapper, built = _on_demand()
    coordinator = await wrapper.start()
    assert built == [coordinator] and coordinator.runs == 0 and not coordinator.active


async def test_a_coordinator_that_fails_to_start_is_tried_again() -> None:
    """A run that fails before it started raises to the first user; the next use
    starts it again."""
    wrapper, _ = _on_demand()
    async with trio.open_nursery() as nursery:
        await nursery.start(wrapper.run)
        coordinator = wrapper.get()
        real_run, coordinator.run = coordinator.run, _failing_run  # type: ignore[method-assign]
        try:
            await wrapper.start()
        except OSError:
            pass
        else:
            raise AssertionError("the failed start was not reported")
        coordinator.run = real_run  # type: ignore[method-assign]
        assert (await wrapper.start()).active and coordinator.runs == 1
        nursery.cancel_scope.cancel()


async def _failing_run(*, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    raise OSError("disk gone")
