"""The broker's coordinators (group, transaction), built and started when first needed.

A coordinator is a broker service (BrokerServer: `publish` + `run`) that
matters only once its internal topic exists (`__consumer_offsets`,
`__transaction_state`): before, it answers every request with the same
retriable error. Most nodes of a test or a dev session never use one, so
each is wrapped in an `OnDemand`, itself a broker service, which imports,
builds and starts the coordinator the first time:

- the metadata image holds the coordinator's topic (its partitions may be
  led here, and their groups or transactions must be loaded and looked
  after: expiry, timed-out transactions, prepared ones to complete), or
- a request of an API whose handler uses it arrives
  (kraft.broker.handlers.COORDINATED): the handler runs once the coordinator
  runs, so it answers exactly as a coordinator started with the broker would.

Starting is idempotent and concurrent first uses start it once. Before the
wrapper itself runs (a broker built but not started, as in unit tests),
`start` only builds the coordinator, which answers as a coordinator that is
not running does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

import trio

from kraft.metadata.loader import MetadataUpdate


class Service(Protocol):
    def publish(self, update: MetadataUpdate) -> None: ...

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None: ...


S = TypeVar("S", bound=Service)


class OnDemand(Generic[S]):
    """A coordinator built on first use (`get`) and running from the first `start`
    or the first image holding `topic` (module docstring)."""

    def __init__(self, topic: str, build: Callable[[], S]) -> None:
        self.topic = topic
        self._build = build
        self._service: S | None = None
        self._nursery: trio.Nursery | None = None
        self._started: trio.Event | None = None  # set once the service runs
        self._wanted = False  # asked to start before this wrapper runs

    @property
    def built(self) -> bool:
        return self._service is not None

    def get(self) -> S:
        """The coordinator, built (imported) now if it was not yet."""
        if self._service is None:
            self._service = self._build()
        return self._service

    async def start(self) -> S:
        """The coordinator, running once this returns (if this wrapper runs)."""
        service = self.get()
        if self._nursery is None:
            self._wanted = True
            return service
        started = self._started
        if started is None:
            started = self._started = trio.Event()
            try:
                with trio.CancelScope(shield=True):  # whoever asked first may be cancelled
                    await self._nursery.start(service.run)
            except BaseException:
                self._started = None  # it did not start: the next use tries again
                raise
            finally:
                started.set()  # waiters go on (a coordinator that failed answers so)
        else:
            await started.wait()
        return service

    # --- as a broker service ------------------------------------------------------------------

    def publish(self, update: MetadataUpdate) -> None:
        if self._started is None and self.topic in update.image.topics.by_name:
            self._wanted = True
            if self._nursery is not None:
                self._nursery.start_soon(self.start)
        if self._service is not None:
            self._service.publish(update)

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            if self._wanted:
                await self.start()
            task_status.started()
            await trio.sleep_forever()  # the coordinator may start any time
