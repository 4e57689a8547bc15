"""Request identities of forwarded requests, and the answers the controller gave them.

A broker forwards a client's admin request to the active controller and waits
for the answer on the same connection (kraft.broker.controller_channel). If
that connection dies after the request was sent, the broker cannot know
whether the controller ran it; it sends the request again, to the same
controller in the same epoch only, with the same *request identity*, and the
controller answers the copy with the first execution's answer instead of
running it twice (a CreateTopics run twice answers TOPIC_ALREADY_EXISTS for
the very topics it created).

The identity travels in the request header's client id, which for requests
between kraft nodes is otherwise only a name: `kraft-forward-<node id>-
<incarnation>-<sequence>`, unique per forwarded client request across the
broker's restarts (the incarnation is random per process).

`RecentResults` keeps the answers of the current activation (an identity
names an execution on one active controller; the broker never sends a copy to
another controller or epoch), at most CAPACITY of them, oldest dropped first:
a copy follows its original within the broker's request timeout. An answer
saying the command did not run (NOT_CONTROLLER) is not kept, so a later copy
runs it. A copy arriving while the original still runs waits for its answer.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Final, Protocol

import trio

__all__ = ["CAPACITY", "RecentResults", "forward_client_id", "request_identity"]

CAPACITY: Final = 4096
_PREFIX: Final = "kraft-forward-"
_IDENTITY = re.compile(rf"{_PREFIX}(\d+-[0-9a-f]+-\d+)")


def forward_client_id(node_id: int, incarnation: str, sequence: int) -> str:
    """The client id carrying the identity of one forwarded request."""
    return f"{_PREFIX}{node_id}-{incarnation}-{sequence}"


def request_identity(client_id: str | None) -> str | None:
    """The request identity in a forwarded request's client id, or None."""
    match = _IDENTITY.fullmatch(client_id or "")
    return match.group(1) if match else None


class _Activation(Protocol):
    @property
    def active_epoch(self) -> int | None: ...


class _Entry:
    __slots__ = ("done", "response")

    def __init__(self) -> None:
        self.done = trio.Event()
        self.response: Any = None


class RecentResults:
    """Answers of the current activation by request identity (module docstring)."""

    def __init__(self, controller: _Activation, capacity: int = CAPACITY) -> None:
        self._controller = controller
        self._capacity = capacity
        self._epoch: int | None = None
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    async def once(
        self, identity: str, execute: Callable[[], Awaitable[tuple[Any, bool]]]
    ) -> Any:
        """The answer to the request `identity`: `execute()`'s, run at most once per
        activation. `execute` returns (answer, ran) where `ran` is False when the
        command certainly did not run (NOT_CONTROLLER): that answer is not kept."""
        epoch = self._controller.active_epoch
        if epoch != self._epoch:
            self._entries.clear()
            self._epoch = epoch
        entry = self._entries.get(identity)
        if entry is not None:
            self._entries.move_to_end(identity)
            await entry.done.wait()
            if entry.response is None:
                raise RuntimeError(f"the first execution of request {identity} failed")
            return entry.response
        entry = self._entries[identity] = _Entry()
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)
        try:
            response, ran = await execute()
        except BaseException:
            self._forget(identity, entry)
            entry.done.set()
            raise
        entry.response = response
        entry.done.set()
        if not ran:
            self._forget(identity, entry)
        return response

    def _forget(self, identity: str, entry: _Entry) -> None:
        if self._entries.get(identity) is entry:
            del self._entries[identity]
