"""DelayedOperationPurgatory (kraft.broker.purgatory): completion, expiry,
cancellation, errors and many keys, on trio's autojump clock; no watcher is
ever left behind."""

from __future__ import annotations

import math

import pytest
import trio
import trio.testing

from kraft.broker.purgatory import DelayedOperationPurgatory


class Counter:
    """A value the checks read, standing in for a partition's state."""

    def __init__(self) -> None:
        self.value = 0
        self.checks = 0

    def at_least(self, target: int) -> bool:
        self.checks += 1
        return self.value >= target


async def test_an_operation_that_can_complete_at_once_watches_nothing() -> None:
    """try_complete is tried before watching: True returns at once, no watcher."""
    purgatory: DelayedOperationPurgatory[str] = DelayedOperationPurgatory("test")
    state = Counter()
    assert await purgatory.wait(["a"], lambda: state.at_least(0), trio.current_time() + 1)
    assert state.checks == 1
    assert len(purgatory) == 0 and purgatory.watched("a") == 0


async def test_completes_when_a_watched_key_changes(autojump_clock: trio.testing.MockClock
                                                  ) -> None:
    """check_and_complete(key) completes a waiting operation whose check now passes,
    and only then; the waiter returns True and stops watching."""
    purgatory: DelayedOperationPurgatory[str] = DelayedOperationPurgatory("test")
    state = Counter()
    results: list[bool] = []

    async def waiter() -> None:
        results.append(await purgatory.wait(["a"], lambda: state.at_least(2), math.inf))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(waiter)
        await trio.testing.wait_all_tasks_blocked()
        assert purgatory.watched("a") == 1
        state.value = 1
        assert purgatory.check_and_complete("a") == 0
        assert purgatory.check_and_complete("b") == 0  # not watched: no check
        state.value = 2
        assert purgatory.check_and_complete("a") == 1
        assert purgatory.check_and_complete("a") == 0  # completed: never checked again
    assert results == [True]
    assert state.checks == 3
    assert len(purgatory) == 0 and purgatory.watched("a") == 0


async def test_expires_at_its_deadline(autojump_clock: trio.testing.MockClock) -> None:
    """An operation whose check never passes returns False at its deadline, not
    before, and leaves no watcher."""
    purgatory: DelayedOperationPurgatory[str] = DelayedOperationPurgatory("test")
    start = trio.current_time()
    assert not await purgatory.wait(["a", "b"], lambda: False, start + 5)
    assert trio.current_time() == pytest.approx(start + 5)
    assert len(purgatory) == 0
    assert not await purgatory.wait(["a"], lambda: False, start)  # already past
    assert len(purgatory) == 0


async def test_cancellation_removes_the_watchers(autojump_clock: trio.testing.MockClock
                                                 ) -> None:
    """A waiting task that is cancelled stops watching every key."""
    purgatory: DelayedOperationPurgatory[str] = DelayedOperationPurgatory("test")
    with trio.move_on_after(1):
        await purgatory.wait(["a", "b", "c"], lambda: False)
    assert len(purgatory) == 0
    assert [purgatory.watched(k) for k in "abc"] == [0, 0, 0]


async def test_many_keys_and_operations(autojump_clock: trio.testing.MockClock) -> None:
    """Operations watching overlapping keys complete through any of their keys,
    oldest first, each once; duplicate keys count once; none is left behind."""
    purgatory: DelayedOperationPurgatory[int] = DelayedOperationPurgatory("test")
    ready: set[int] = set()
    order: list[int] = []

    def check(op: int) -> bool:
        if op in ready:
            order.append(op)
            return True
        return False

    async def waiter(op: int, keys: list[int]) -> None:
        assert await purgatory.wait(keys, lambda: check(op), math.inf)

    async with trio.open_nursery() as nursery:
        for op in range(10):
            nursery.start_soon(waiter, op, [op % 3, (op + 1) % 3, op % 3])
            await trio.testing.wait_all_tasks_blocked()
        assert len(purgatory) == 10
        assert [purgatory.watched(k) for k in range(3)] == [7, 7, 6]
        ready.update({0, 3, 5, 9})
        assert purgatory.check_and_complete(1) == 3  # 0, 3, 9 (5 does not watch key 1)
        assert order == [0, 3, 9]
        assert purgatory.check_and_complete(0) == 1  # 5; 0, 3, 9 are done: not checked
        assert order == [0, 3, 9, 5]
        ready.update(range(10))
        assert purgatory.check_and_complete(2) == 5  # 1, 2, 4, 7, 8; 5 is done
        assert purgatory.check_and_complete(0) == 1  # 6
        assert purgatory.check_and_complete(1) == 0
    assert sorted(order) == list(range(10))
    assert len(purgatory) == 0 and [purgatory.watched(k) for k in range(3)] == [0, 0, 0]


async def test_an_error_in_the_check_reaches_the_waiter(autojump_clock: trio.testing.MockClock
                                                        ) -> None:
    """A check that raises completes its operation; the error is raised in the
    waiting task, not in whoever called check_and_complete."""
    purgatory: DelayedOperationPurgatory[str] = DelayedOperationPurgatory("test")
    armed = False

    def check() -> bool:
        if armed:
            raise ValueError("broken check")
        return False

    async def waiter() -> None:
        with pytest.raises(ValueError, match="broken check"):
            await purgatory.wait(["a"], check, math.inf)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(waiter)
        await trio.testing.wait_all_tasks_blocked()
        armed = True
        assert purgatory.check_and_complete("a") == 1
    assert len(purgatory) == 0
