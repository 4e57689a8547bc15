"""DelayedOperationPurgatory: requests waiting for partitions to change.

Theory of operation (Kafka's DelayedOperationPurgatory, on trio). A request
that cannot be answered yet -- an acks=all produce waiting for its ISR, a
fetch long poll waiting for min_bytes, a DeleteRecords waiting for the
followers' log start offsets, a group coordinator write waiting to be
replicated -- is a *delayed operation*: a `try_complete` check over the
partitions it watches (its keys) and a deadline. The caller's task does

    completed = await purgatory.wait(keys, try_complete, deadline)

`wait` calls `try_complete()` once at once (Kafka's tryCompleteElseWatch);
if that returns False the operation watches every key until one of these:

- completion: whoever changes a watched partition calls
  `check_and_complete(key)` (kraft.broker.partition does, after every change
  of log end offset, high watermark, log start offset, leadership, ISR or
  min.insync.replicas), which calls `try_complete()` of each operation
  watching `key`, oldest first; the first True completes the operation and
  `wait` returns True;
- expiry: the deadline (trio clock) passes first; `wait` returns False and
  the caller answers with what it has (REQUEST_TIMED_OUT, say);
- cancellation of the waiting task.

In every case the operation stops watching all its keys before `wait`
returns or raises: nothing is left behind (`watched`, `__len__` count what
is watched, for tests and metrics).

Contract of `try_complete`: it runs synchronously on the broker's trio loop,
inside `check_and_complete`, i.e. inside whatever changed the partition; so
it only reads state (it may record per-partition results in the caller's own
objects, as Kafka's DelayedProduce does) and never changes a partition or
awaits. Once it has returned True it is not called again. An exception it
raises is not the changer's fault: the operation completes and `wait`
re-raises it in the waiting task.

Leadership changes need no separate path: a partition that becomes follower
or leaves the broker calls `check_and_complete` too, and the operations'
checks see `is_leader` false (Kafka's completeDelayedFetchOrProduceRequests).

Single owner: the broker's trio loop; not thread-safe.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable
from typing import Generic, TypeVar

import trio

K = TypeVar("K", bound=Hashable)


class _Operation:
    """One waiting call: its check, and how it ended."""

    __slots__ = ("done", "error", "try_complete")

    def __init__(self, try_complete: Callable[[], bool]) -> None:
        self.try_complete = try_complete
        self.done = trio.Event()
        self.error: BaseException | None = None

    def check(self) -> bool:
        """Run the check once; True (and `done` set) if the operation completed."""
        try:
            completed = self.try_complete()
        except Exception as e:  # the waiter's bug: re-raised in the waiting task
            self.error = e
            completed = True
        if completed:
            self.done.set()
        return completed


class DelayedOperationPurgatory(Generic[K]):
    """Delayed operations by the keys (partitions) they watch."""

    def __init__(self, name: str) -> None:
        self.name = name
        # key -> its watching operations, oldest first (a dict as an ordered set)
        self._watchers: dict[K, dict[_Operation, None]] = {}

    async def wait(
        self, keys: Iterable[K], try_complete: Callable[[], bool], deadline: float = math.inf
    ) -> bool:
        """Wait until `try_complete()` returns True (True) or trio's clock reaches
        `deadline` first (False); see the module doc for when it is called."""
        operation = _Operation(try_complete)
        if operation.check():
            return _result(operation)
        watched = list(dict.fromkeys(keys))
        for key in watched:
            self._watchers.setdefault(key, {})[operation] = None
        try:
            with trio.move_on_at(deadline):
                await operation.done.wait()
        finally:
            for key in watched:
                operations = self._watchers.get(key)
                if operations is not None:
                    operations.pop(operation, None)
                    if not operations:
                        del self._watchers[key]
        if not operation.done.is_set():
            return False
        return _result(operation)

    def check_and_complete(self, key: K) -> int:
        """Something about `key` changed: complete the operations watching it whose
        check now passes; returns how many completed."""
        operations = self._watchers.get(key)
        if not operations:
            return 0
        completed = 0
        for operation in list(operations):
            if operation.done.is_set():
                continue  # completed through another key, not yet unwatched
            if operation.check():
                completed += 1
        return completed

    def watched(self, key: K) -> int:
        """Operations watching `key` now."""
        return len(self._watchers.get(key, ()))

    def __len__(self) -> int:
        """Operations watching at least one key now."""
        return len({op for operations in self._watchers.values() for op in operations})


def _result(operation: _Operation) -> bool:
    if operation.error is not None:
        raise operation.error
    return True
