"""ProducerIdManager (kraft.broker.producer_ids) with fake controllers, on trio's
autojump clock so backoffs and RPC delays cost no real time."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
import trio
import trio.testing

from kraft.broker.producer_ids import (
    ProducerIdAllocationError,
    ProducerIdBlock,
    ProducerIdManager,
)


class FakeController:
    """Allocates consecutive blocks; scripted failures, delays and bad answers come first."""

    def __init__(self, size: int = 10, script: Iterator[object] | None = None) -> None:
        self.size = size
        self.next_id = 0
        self.script = script or iter(())
        self.calls: list[float] = []  # trio time of each call
        self.blocks: list[ProducerIdBlock] = []
        self.delay = 0.0

    async def allocate(self) -> tuple[int, int]:
        self.calls.append(trio.current_time())
        if self.delay:
            await trio.sleep(self.delay)
        step = next(self.script, None)
        if isinstance(step, BaseException):
            raise step
        if isinstance(step, tuple):
            return step  # a scripted (possibly bad) block
        block = ProducerIdBlock(self.next_id, self.size)
        self.next_id += self.size
        self.blocks.append(block)
        return block


async def started(
    nursery: trio.Nursery, controller: FakeController, **kw: int
) -> ProducerIdManager:
    manager = ProducerIdManager(controller.allocate, **kw)
    await nursery.start(manager.run)
    return manager


async def test_ids_come_from_consecutive_blocks(autojump_clock: trio.testing.MockClock) -> None:
    """Ids are handed out in order through each block and then the next one."""
    controller = FakeController(size=10)
    async with trio.open_nursery() as nursery:
        manager = await started(nursery, controller)
        ids = [await manager.generate() for _ in range(25)]
        nursery.cancel_scope.cancel()
    assert ids == list(range(25))
    assert len(controller.calls) == 3


async def test_prefetches_at_ninety_percent(autojump_clock: trio.testing.MockClock) -> None:
    """The next block is requested once 90 % of the current one is used, before it runs out."""
    controller = FakeController(size=10)
    async with trio.open_nursery() as nursery:
        manager = await started(nursery, controller)
        for _ in range(8):
            await manager.generate()
        await trio.testing.wait_all_tasks_blocked()
        assert len(controller.calls) == 1 and manager.next_block is None
        await manager.generate()  # the 9th id: 90 % used
        await trio.testing.wait_all_tasks_blocked()
        assert len(controller.calls) == 2
        assert manager.next_block == ProducerIdBlock(10, 10)
        controller.delay = 5.0  # from now on the controller is slow
        before = trio.current_time()
        assert [await manager.generate() for _ in range(2)] == [9, 10]
        assert trio.current_time() == before  # no wait: the block was already there
        nursery.cancel_scope.cancel()


async def test_failures_are_retried_with_doubling_backoff(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Failed allocations are retried after a backoff doubling up to its maximum."""
    errors = [ProducerIdAllocationError("NOT_CONTROLLER"), OSError("refused")] * 3
    controller = FakeController(script=iter(errors))
    async with trio.open_nursery() as nursery:
        manager = await started(nursery, controller, retry_backoff_ms=100, retry_backoff_max_ms=500)
        assert await manager.generate() == 0
        nursery.cancel_scope.cancel()
    gaps = [round(b - a, 6) for a, b in zip(controller.calls, controller.calls[1:], strict=False)]
    assert gaps == [0.1, 0.2, 0.4, 0.5, 0.5, 0.5]


async def test_bad_blocks_are_refused(autojump_clock: trio.testing.MockClock) -> None:
    """An empty block or one overlapping ids already received is never used."""
    script = iter([None, (5, 10), (30, 0), (-3, 5)])
    controller = FakeController(size=10, script=script)
    async with trio.open_nursery() as nursery:
        manager = await started(nursery, controller)
        ids = [await manager.generate() for _ in range(20)]
        nursery.cancel_scope.cancel()
    assert ids == list(range(20))
    assert controller.blocks[:2] == [ProducerIdBlock(0, 10), ProducerIdBlock(10, 10)]
    assert manager.current_block == ProducerIdBlock(10, 10)


async def test_generate_can_be_cancelled(autojump_clock: trio.testing.MockClock) -> None:
    """A cancelled wait takes no id; later callers still get every id once."""
    controller = FakeController(size=3)
    controller.delay = 10.0
    async with trio.open_nursery() as nursery:
        manager = await started(nursery, controller)
        with trio.move_on_after(1.0) as scope:
            await manager.generate()
        assert scope.cancelled_caught
        assert [await manager.generate() for _ in range(4)] == [0, 1, 2, 3]
        nursery.cancel_scope.cancel()


async def test_unexpected_exception_ends_run() -> None:
    """An exception that is not a known allocation failure is a bug and escapes `run`."""
    controller = FakeController(script=iter([ValueError("bug")]))
    with pytest.RaisesGroup(ValueError):
        async with trio.open_nursery() as nursery:
            manager = await started(nursery, controller)
            await manager.generate()


@pytest.mark.parametrize("seed", range(8))
async def test_concurrent_callers_never_share_an_id(
    seed: int, autojump_clock: trio.testing.MockClock
) -> None:
    """Many tasks generating at once, with a slow and failing controller, get distinct ids,
    all from blocks the controller allocated."""
    rng = random.Random(seed)
    failures = iter(
        ProducerIdAllocationError("retry") if rng.random() < 0.3 else None for _ in range(10**6)
    )
    controller = FakeController(size=rng.choice([1, 3, 10]), script=failures)
    controller.delay = 0.05
    results: list[int] = []

    async def caller() -> None:
        for _ in range(15):
            await trio.sleep(rng.random() / 10)
            results.append(await manager.generate())

    async with trio.open_nursery() as nursery:
        manager = await started(nursery, controller, retry_backoff_ms=10)
        async with trio.open_nursery() as callers:
            for _ in range(20):
                callers.start_soon(caller)
        nursery.cancel_scope.cancel()
    assert len(results) == 300 == len(set(results))
    allocated = {
        i for b in controller.blocks for i in range(b.first_producer_id, b.last_producer_id + 1)
    }
    assert set(results) <= allocated
